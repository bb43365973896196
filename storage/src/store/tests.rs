//! Unit tests of store configuration and key handling; the behavioural
//! suite shared by all backends is in `tests/store_suite.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn config_deserialises() {
    let fs: StoreConfig = serde_json::from_str(r#"{"filesystem":{"dir":"/tmp/x"}}"#).unwrap();
    assert_eq!(
        fs,
        StoreConfig::Filesystem {
            dir: "/tmp/x".into()
        }
    );
    let s3: StoreConfig = serde_json::from_str(
        r#"{"s3":{"bucket":"b","endpoint":"http://localhost:9000","allow_http":true}}"#,
    )
    .unwrap();
    match s3 {
        StoreConfig::S3 {
            bucket,
            region,
            allow_http,
            prefix,
            ..
        } => {
            assert_eq!(bucket, "b");
            assert_eq!(region, "us-east-1");
            assert!(allow_http);
            assert_eq!(prefix, None);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        serde_json::from_str::<StoreConfig>(r#"{"filesystem":{"dir":"/x","bogus":1}}"#).is_err()
    );
}

#[test]
fn tenant_ids_are_checked() {
    assert!(check_tenant("fake").is_ok());
    assert!(check_tenant("team-a_1").is_ok());
    for bad in ["", "..", "a/b", "a\\b"] {
        assert!(check_tenant(bad).is_err(), "{bad:?}");
    }
}

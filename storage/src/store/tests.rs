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

#[tokio::test]
async fn raw_objects_under_a_prefix() {
    let os: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let store = Store::from_object_store(os.clone(), "p/".into());
    store
        .put_raw("rules/t/a.yaml", Bytes::from_static(b"a"))
        .await
        .unwrap();
    store
        .put_raw("rules/t/b.yaml", Bytes::from_static(b"b"))
        .await
        .unwrap();
    store
        .put_raw("rulesx/t/c.yaml", Bytes::from_static(b"c"))
        .await
        .unwrap();
    assert!(os.get(&Path::from("p/rules/t/a.yaml")).await.is_ok());
    assert_eq!(
        store.list_prefix("rules").await.unwrap(),
        ["rules/t/a.yaml", "rules/t/b.yaml"]
    );
    assert_eq!(
        store.get_raw("rules/t/b.yaml").await.unwrap().unwrap(),
        Bytes::from_static(b"b")
    );
    store.delete_raw("rules/t/b.yaml").await.unwrap();
    store.delete_raw("rules/t/b.yaml").await.unwrap();
    assert!(store.get_raw("rules/t/b.yaml").await.unwrap().is_none());
    assert_eq!(
        store.list_prefix("rules/").await.unwrap(),
        ["rules/t/a.yaml"]
    );
}

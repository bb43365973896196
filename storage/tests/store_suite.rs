//! The `Store` behaviour suite, shared by every backend: each `suite_*`
//! function takes a fresh store. The filesystem run is always on; the S3 run
//! needs `SLUICE_TEST_S3_BUCKET` (plus `SLUICE_TEST_S3_ENDPOINT`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`) and is skipped otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sluice_logql::labels::{Labels, MatchOp, Matcher};
use sluice_logql::source::Direction;
use sluice_storage::index::DAY_NS;
use sluice_storage::{ChunkConfig, ChunkRef, MemChunk, Store, StoreConfig};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn m(name: &str, op: MatchOp, v: &str) -> Matcher {
    Matcher::new(name, op, v).unwrap()
}

/// A chunk with `n` entries one second apart from `from`.
fn chunk(from: i64, n: i64, tag: &str) -> bytes::Bytes {
    let mut c = MemChunk::new(&ChunkConfig::default());
    for i in 0..n {
        c.append(
            from + i * 1_000_000_000,
            format!("{tag} line {i}").as_bytes(),
            &[],
        );
    }
    c.encode()
}

async fn put(store: &Store, tenant: &str, l: &Labels, from: i64, n: i64) -> (Labels, ChunkRef) {
    let r = store
        .put_chunk(tenant, l.fingerprint(), chunk(from, n, &l.to_string()))
        .await
        .unwrap();
    (l.clone(), r)
}

const T0: i64 = 1_700_000_000 * 1_000_000_000;

pub async fn suite_chunk_roundtrip(store: Store) {
    let l = labels(&[("app", "api")]);
    let (_, r) = put(&store, "t1", &l, T0, 10).await;
    assert_eq!((r.from, r.through, r.entries), (T0, T0 + 9_000_000_000, 10));
    assert_eq!(r.fingerprint, l.fingerprint());
    let data = store.get_chunk("t1", &r).await.unwrap();
    let lines: Vec<_> = data
        .entries(T0, T0 + 3_000_000_000, Direction::Forward)
        .map(|e| e.unwrap().line)
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(&lines[1][..], format!("{l} line 1").as_bytes());
    // another tenant cannot read it
    assert!(store.get_chunk("t2", &r).await.is_err());
    // a ref with the wrong checksum points nowhere
    let bad = ChunkRef {
        checksum: r.checksum ^ 1,
        ..r
    };
    assert!(store.get_chunk("t1", &bad).await.is_err());
    assert!(store
        .put_chunk("t1", 1, bytes::Bytes::from_static(b"garbage"))
        .await
        .is_err());
}

/// `get_chunks` returns every chunk in the order of its refs (the local
/// directory path reads them in runs on blocking tasks) and fails on any
/// bad ref.
pub async fn suite_get_chunks(store: Store) {
    let mut refs = Vec::new();
    for i in 0..37 {
        let l = labels(&[("app", "many"), ("i", &i.to_string())]);
        refs.push(put(&store, "t1", &l, T0 + i, 1 + i % 5).await);
    }
    let only: Vec<ChunkRef> = refs.iter().map(|(_, r)| *r).collect();
    // every third chunk first: the loop below then mixes cached and
    // fetched chunks, which must come back in the order asked
    let some: Vec<ChunkRef> = only.iter().step_by(3).copied().collect();
    assert_eq!(store.get_chunks("t1", &some, 4).await.unwrap().len(), 13);
    for concurrency in [1, 4] {
        let got = store.get_chunks("t1", &only, concurrency).await.unwrap();
        assert_eq!(got.len(), refs.len());
        for ((l, r), c) in refs.iter().zip(&got) {
            assert_eq!(c.entry_count(), r.entries as usize);
            let first = c.entries(T0, i64::MAX, Direction::Forward).next();
            assert_eq!(
                &first.unwrap().unwrap().line[..],
                format!("{l} line 0").as_bytes()
            );
        }
    }
    assert!(store.get_chunks("t1", &[], 4).await.unwrap().is_empty());
    // a fetched chunk is served from the chunk cache, without the store
    store.delete_raw(&only[5].object_key("t1")).await.unwrap();
    assert_eq!(
        store.get_chunk("t1", &only[5]).await.unwrap().entry_count(),
        1
    );
    let mut bad = only.clone();
    bad[20].checksum ^= 1;
    assert!(store.get_chunks("t1", &bad, 4).await.is_err());
    assert!(store.get_chunks("t2", &only, 4).await.is_err());
    assert!(store.get_chunks("../t1", &only, 4).await.is_err());
}

pub async fn suite_index_queries(store: Store) {
    let api = labels(&[("app", "api"), ("env", "prod")]);
    let web = labels(&[("app", "web"), ("env", "prod")]);
    let dev = labels(&[("app", "api"), ("env", "dev")]);
    let refs = vec![
        put(&store, "t1", &api, T0, 5).await,
        put(&store, "t1", &api, T0 + 3600 * 1_000_000_000, 5).await,
        put(&store, "t1", &web, T0, 5).await,
    ];
    store.write_index("t1", &refs).await.unwrap();
    let second = vec![put(&store, "t1", &dev, T0 + 10_000_000_000, 5).await];
    store.write_index("t1", &second).await.unwrap();

    let all = store.series("t1", &[], T0, T0 + DAY_NS / 2).await.unwrap();
    assert_eq!(all.len(), 3, "series from both segments");
    let api_only = store
        .series(
            "t1",
            &[m("app", MatchOp::Eq, "api"), m("env", MatchOp::Eq, "prod")],
            T0,
            T0 + DAY_NS / 2,
        )
        .await
        .unwrap();
    assert_eq!(api_only.len(), 1);
    assert_eq!(api_only[0].0, api);
    assert_eq!(api_only[0].1.len(), 2);
    assert!(
        api_only[0].1[0].from < api_only[0].1[1].from,
        "chunk refs sorted by time"
    );
    // time pruning: only the second api chunk overlaps
    let late = store
        .series(
            "t1",
            &[m("app", MatchOp::Eq, "api")],
            T0 + 3000 * 1_000_000_000,
            T0 + DAY_NS / 2,
        )
        .await
        .unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].1.len(), 1);
    let re = store
        .series(
            "t1",
            &[m("app", MatchOp::Re, "a.*"), m("env", MatchOp::Neq, "prod")],
            T0,
            T0 + DAY_NS / 2,
        )
        .await
        .unwrap();
    assert_eq!(re.len(), 1);
    assert_eq!(re[0].0, dev);
    assert!(store
        .series("t1", &[], T0 - DAY_NS, T0 - 1)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .series("t2", &[], T0, T0 + DAY_NS)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(
        store.label_names("t1", T0, T0 + DAY_NS).await.unwrap(),
        vec!["app", "env"]
    );
    assert_eq!(
        store
            .label_values("t1", "env", &[], T0, T0 + DAY_NS)
            .await
            .unwrap(),
        vec!["dev", "prod"]
    );
    assert_eq!(
        store
            .label_values(
                "t1",
                "app",
                &[m("env", MatchOp::Eq, "prod")],
                T0,
                T0 + DAY_NS
            )
            .await
            .unwrap(),
        vec!["api", "web"]
    );
    // the chunks behind the refs are readable
    for (_, chunks) in &all {
        for r in chunks {
            assert_eq!(store.get_chunk("t1", r).await.unwrap().entry_count(), 5);
        }
    }
}

pub async fn suite_midnight_spanning_chunk(store: Store) {
    let day_start = (T0 / DAY_NS + 1) * DAY_NS;
    let l = labels(&[("app", "night")]);
    // 10 entries from 5 s before midnight to 4 s after
    let r = put(&store, "t3", &l, day_start - 5_000_000_000, 10).await;
    store
        .write_index("t3", std::slice::from_ref(&r))
        .await
        .unwrap();
    let before = store
        .series("t3", &[], day_start - 2_000_000_000, day_start - 1)
        .await
        .unwrap();
    let after = store
        .series(
            "t3",
            &[],
            day_start + 1_000_000_000,
            day_start + 2_000_000_000,
        )
        .await
        .unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(after.len(), 1, "listed under the second day too");
    let both = store
        .series("t3", &[], day_start - DAY_NS, day_start + DAY_NS)
        .await
        .unwrap();
    assert_eq!(both[0].1.len(), 1, "one chunk, de-duplicated across days");
    assert!(store.tenants().await.unwrap().contains(&"t3".to_string()));
}

pub async fn suite_invalid_tenant(store: Store) {
    assert!(store.put_chunk("../x", 1, chunk(T0, 1, "x")).await.is_err());
    assert!(store.series("a/b", &[], 0, 1).await.is_err());
}

async fn run_all(make: impl Fn() -> Store) {
    suite_chunk_roundtrip(make()).await;
    suite_get_chunks(make()).await;
    suite_index_queries(make()).await;
    suite_midnight_spanning_chunk(make()).await;
    suite_invalid_tenant(make()).await;
}

#[tokio::test]
async fn filesystem_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("objects");
    run_all(|| Store::new(&StoreConfig::Filesystem { dir: path.clone() }).unwrap()).await;
    let fresh = Store::new(&StoreConfig::Filesystem { dir: path.clone() }).unwrap();
    let mut tenants = fresh.tenants().await.unwrap();
    tenants.sort();
    assert_eq!(tenants, vec!["t1", "t3"]);
}

#[tokio::test]
async fn in_memory_store() {
    let os = std::sync::Arc::new(object_store::memory::InMemory::new());
    run_all(|| Store::from_object_store(os.clone(), "prefix/".to_string())).await;
}

#[tokio::test]
async fn corrupt_objects_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&StoreConfig::Filesystem {
        dir: dir.path().to_path_buf(),
    })
    .unwrap();
    let l = labels(&[("app", "x")]);
    let (_, r) = put(&store, "t1", &l, T0, 3).await;
    store.write_index("t1", &[(l, r)]).await.unwrap();
    let chunk_path = dir.path().join(r.object_key("t1"));
    let mut bytes = std::fs::read(&chunk_path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&chunk_path, &bytes).unwrap();
    assert!(store.get_chunk("t1", &r).await.is_err());
    let day_dir = dir.path().join(format!("t1/index/v1/{}", T0 / DAY_NS));
    let seg = std::fs::read_dir(&day_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&seg, b"SLIX\x01garbage").unwrap();
    assert!(store.series("t1", &[], T0, T0 + 1).await.is_err());
}

#[tokio::test]
async fn s3_store() {
    let Ok(bucket) = std::env::var("SLUICE_TEST_S3_BUCKET") else {
        eprintln!("SLUICE_TEST_S3_BUCKET not set; skipping the S3 run");
        return;
    };
    let prefix = format!("sluice-test-{}", std::process::id());
    let cfg = StoreConfig::S3 {
        bucket,
        endpoint: std::env::var("SLUICE_TEST_S3_ENDPOINT").ok(),
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        access_key_id: None,
        secret_access_key: None,
        allow_http: true,
        prefix: Some(prefix),
    };
    run_all(|| Store::new(&cfg).unwrap()).await;
}

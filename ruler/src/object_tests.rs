#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Two rulers with their own cache directories sharing one object store
//! (the real `object_store` local-filesystem backend).

use std::path::Path;
use std::sync::Arc;

use sluice_logql::engine::Sample;
use sluice_storage::store::{Store, StoreConfig};

use crate::api::{routes, ApiState};
use crate::{QueryEngine, Ruler, RulerConfig};

struct NoSamples;

#[async_trait::async_trait]
impl QueryEngine for NoSamples {
    async fn instant(&self, _: &str, _: &str, _: i64) -> Result<Vec<Sample>, String> {
        Ok(Vec::new())
    }
}

fn ruler(store: &Store, cache: &Path) -> Ruler {
    let cfg = RulerConfig {
        storage: crate::config::StorageConfig {
            kind: "object".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(cfg.object_storage().unwrap());
    Ruler::with_objects(
        cfg,
        cache.to_path_buf(),
        Arc::new(NoSamples),
        Some(store.clone()),
    )
}

/// Serves the ruler API of `r`; returns its base URL.
async fn serve(r: &Ruler) -> String {
    let app = routes(Arc::new(ApiState {
        ruler: r.clone(),
        auth_enabled: false,
        peers: None,
    }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}/loki/api/v1/rules")
}

fn group_names(r: &Ruler, tenant: &str, ns: &str) -> Vec<String> {
    r.namespaces(tenant)
        .get(ns)
        .map(|gs| gs.iter().map(|g| g.name.clone()).collect())
        .unwrap_or_default()
}

const G1: &str = "name: g1\nrules:\n- record: a:b\n  expr: sum(rate({a=\"b\"}[1m]))\n";
const G2: &str = "name: g2\nrules:\n- alert: A\n  expr: sum(rate({a=\"b\"}[1m])) > 1\n";

#[tokio::test]
async fn api_changes_reach_the_other_ruler_after_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&StoreConfig::Filesystem {
        dir: dir.path().join("objects"),
    })
    .unwrap();
    let (r1, r2) = (
        ruler(&store, &dir.path().join("a")),
        ruler(&store, &dir.path().join("b")),
    );
    let (u1, u2) = (serve(&r1).await, serve(&r2).await);
    let http = reqwest::Client::new();
    r2.pull().await.expect("an empty store is no error");

    let resp = http
        .post(format!("{u1}/ns.yaml"))
        .body(G1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(group_names(&r1, "fake", "ns.yaml"), ["g1"]);
    let stored = store.get_raw("rules/fake/ns.yaml").await.unwrap().unwrap();
    assert!(std::str::from_utf8(&stored).unwrap().contains("g1"));

    assert!(r2.namespaces("fake").is_empty(), "not before a sync");
    r2.refresh().await;
    assert_eq!(group_names(&r2, "fake", "ns.yaml"), ["g1"]);
    assert!(dir.path().join("b/fake/ns.yaml").is_file());

    // an invalid group is rejected and stores nothing
    let resp = http
        .post(format!("{u2}/ns.yaml"))
        .body("name: bad\nrules:\n- alert: X\n  expr: 'nope('\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let msg = resp.text().await.unwrap();
    assert!(msg.contains("bad") && msg.contains("X"), "{msg}");
    // a second group through the other ruler joins the same namespace
    let resp = http
        .post(format!("{u2}/ns.yaml"))
        .body(G2)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    r1.refresh().await;
    assert_eq!(group_names(&r1, "fake", "ns.yaml"), ["g1", "g2"]);

    // DELETE of a group and of a namespace propagate
    let resp = http
        .delete(format!("{u1}/ns.yaml/g1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    r2.refresh().await;
    assert_eq!(group_names(&r2, "fake", "ns.yaml"), ["g2"]);
    let resp = http.delete(format!("{u2}/ns.yaml")).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    assert!(store.get_raw("rules/fake/ns.yaml").await.unwrap().is_none());
    r1.refresh().await;
    assert!(r1.namespaces("fake").is_empty());
    assert!(!dir.path().join("a/fake/ns.yaml").exists());
    let resp = http.delete(format!("{u1}/ns.yaml")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = http
        .delete(format!("{u1}/ns.yaml/g2"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn bad_objects_are_rejected_alone_and_stale_cache_files_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&StoreConfig::Filesystem {
        dir: dir.path().join("objects"),
    })
    .unwrap();
    let good = format!("groups:\n- {}", G1.replace('\n', "\n  "));
    let bad = "groups:\n- name: b\n  rules:\n  - alert: B\n    expr: '{a=\"b\"}'\n";
    store
        .put_raw("rules/t1/good.yaml", good.clone().into())
        .await
        .unwrap();
    store
        .put_raw("rules/t1/bad.yaml", bad.as_bytes().to_vec().into())
        .await
        .unwrap();
    store
        .put_raw("rules/stray", "x".as_bytes().to_vec().into())
        .await
        .unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(cache.join("t9")).unwrap();
    std::fs::write(cache.join("t9/old.yaml"), &good).unwrap();

    let r = ruler(&store, &cache);
    r.refresh().await;
    assert_eq!(group_names(&r, "t1", "good.yaml"), ["g1"]);
    assert!(!r.namespaces("t1").contains_key("bad.yaml"));
    assert!(
        !cache.join("t9/old.yaml").exists(),
        "a cache file without an object is removed"
    );
    let loaded = r.store().load();
    let err = loaded
        .iter()
        .find(|l| l.namespace == "bad.yaml")
        .unwrap()
        .groups
        .as_ref()
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("bad.yaml") && err.contains("group \"b\"") && err.contains("rule \"B\""),
        "{err}"
    );

    // fixing the object in the store fixes the ruler at its next sync
    store
        .put_raw("rules/t1/bad.yaml", good.replace("g1", "b").into())
        .await
        .unwrap();
    r.refresh().await;
    assert_eq!(group_names(&r, "t1", "bad.yaml"), ["b"]);
    assert_eq!(group_names(&r, "t1", "good.yaml"), ["g1"]);
}

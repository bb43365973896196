//! The deployment manifests in `deploy/` hang together: every name, port,
//! volume and config they refer to exists, and every sluice process they
//! start gets a config the real binary accepts (`-print-config` under the
//! environment and mounts the manifest gives it), whose raft members are
//! the manifests' own ingesters at their service names and HTTP ports, and
//! whose query path closes: queriers take work from the query-frontends'
//! gRPC port, the frontend proxies to the queriers', the gateway sends
//! reads to the frontend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod deploy {
    pub mod compose;
    pub mod kubernetes;
    pub mod sluice;
}

use std::path::{Path, PathBuf};

/// `deploy/` in the repository.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Every YAML document of a file (`---`-separated), merge keys applied.
pub fn yaml_docs(path: &Path) -> Vec<serde_yaml::Value> {
    use serde::Deserialize;
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            let mut v = serde_yaml::Value::deserialize(d)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            v.apply_merge()
                .unwrap_or_else(|e| panic!("{}: merge keys: {e}", path.display()));
            v
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// A YAML scalar as a string (numbers and booleans as written).
pub fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The strings of a YAML sequence (empty when absent).
pub fn strings(v: &serde_yaml::Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| s.iter().filter_map(scalar).collect())
        .unwrap_or_default()
}

/// The first occurrence of `host:port` after each `http://` in `text`.
pub fn http_urls(text: &str) -> Vec<(String, u16)> {
    text.split("http://")
        .skip(1)
        .filter_map(|rest| {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || "-.:".contains(c)))
                .unwrap_or(rest.len());
            let (host, port) = rest[..end].rsplit_once(':')?;
            Some((host.to_string(), port.parse().ok()?))
        })
        .collect()
}

#[test]
fn kubernetes_manifests_are_consistent() {
    deploy::kubernetes::check(&deploy_dir().join("kubernetes"));
}

#[test]
fn docker_compose_is_consistent() {
    deploy::compose::check(&deploy_dir().join("docker-compose.yaml"));
}

#[test]
fn microservices_example_config_is_accepted() {
    // the file compose mounts; run here on its own as an ingester (a
    // voter) and as a distributor with the defaults of its ${...}
    let cfg = deploy_dir().join("microservices/sluice.yaml");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("sluice.yaml");
    std::fs::copy(&cfg, &copy).unwrap();
    for (target, node) in [
        ("ingester", Some("2")),
        ("distributor", None),
        ("query-frontend", None),
        ("querier", None),
    ] {
        let mut env = std::collections::BTreeMap::new();
        if let Some(n) = node {
            env.insert("SLUICE_RAFT_NODE_ID".to_string(), n.to_string());
        }
        let printed = deploy::sluice::Launch {
            what: format!("microservices/sluice.yaml as {target}"),
            argv: vec![
                "sluice".into(),
                "-config.file=/etc/sluice/sluice.yaml".into(),
                "-config.expand-env=true".into(),
                format!("-target={target}"),
            ],
            env,
            mounts: vec![("/etc/sluice/sluice.yaml".into(), copy.clone())],
        }
        .run();
        assert_eq!(printed.node_id, node.map(|n| n.parse().unwrap()));
        assert_eq!(printed.members.len(), 3, "three raft voters");
        assert_eq!(printed.replication_factor, 3);
        assert_eq!(printed.s3_bucket.as_deref(), Some("sluice"));
        // the frontend's keys are read, not just accepted
        let qr = &printed.query_range;
        assert_eq!(
            qr.split_queries_by_interval,
            std::time::Duration::from_secs(30 * 60)
        );
        assert!(qr.cache_results);
        assert_eq!(qr.results_cache.max_bytes(), 100 << 20);
        assert_eq!(
            printed.frontend.downstream_url.as_deref(),
            Some("http://querier:3100")
        );
        assert_eq!(
            printed.frontend_worker.frontend_address.as_deref(),
            Some("query-frontend:9095")
        );
    }
}

#[test]
fn print_config_rejects_what_a_deployment_must_not_start_with() {
    // the checks above rely on -print-config failing on these
    use deploy::sluice::try_print_config;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.yaml");
    let base = std::fs::read_to_string(deploy_dir().join("microservices/sluice.yaml")).unwrap();
    std::fs::write(&p, &base).unwrap();
    let env = std::collections::BTreeMap::new();
    let ok = |args: &[&str]| try_print_config(&p, args, &env);
    assert!(ok(&["-target=ingester"]).is_ok());
    let err = ok(&["-target=ingestor"]).unwrap_err();
    assert!(err.contains("ingestor"), "{err}");
    for (key, typo) in [
        ("replication_factor", "replication_factr"),
        ("downstream_url", "downstream_ur"),
        ("split_queries_by_interval", "split_queries_by_intervl"),
        ("frontend_address", "frontend_adress"),
    ] {
        assert!(base.contains(key), "{key} is in the example");
        std::fs::write(&p, base.replace(key, typo)).unwrap();
        let err = ok(&["-target=query-frontend"]).unwrap_err();
        assert!(err.contains(typo), "{err}");
    }
    std::fs::write(
        &p,
        base.replace(
            "split_queries_by_interval: 30m",
            "split_queries_by_interval: soon",
        ),
    )
    .unwrap();
    assert!(
        ok(&["-target=query-frontend"]).is_err(),
        "a bad duration is rejected"
    );
    assert!(ok(&["-target=querier,query-frontend"]).is_err());
}

#[test]
fn http_urls_are_found() {
    assert_eq!(
        http_urls("proxy_pass http://querier:3100; mc alias set x http://minio:9000 a"),
        vec![("querier".into(), 3100), ("minio".into(), 9000)]
    );
    assert!(http_urls("http://nohost/").is_empty());
}

#[test]
fn kubernetes_config_keeps_the_microservices_settings() {
    // configmap.yaml says it holds deploy/microservices/sluice.yaml's
    // settings with the cluster's names: only those may differ
    let dir = tempfile::tempdir().unwrap();
    let k8s = dir.path().join("k8s.yaml");
    let cm = &yaml_docs(&deploy_dir().join("kubernetes/configmap.yaml"))[0];
    std::fs::write(&k8s, cm["data"]["sluice.yaml"].as_str().unwrap()).unwrap();
    let env: std::collections::BTreeMap<String, String> =
        [("SLUICE_RAFT_NODE_ID", "1"), ("SLUICE_S3_BUCKET", "b")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let print = |cfg: &Path| {
        let out = deploy::sluice::try_print_config(cfg, &["-target=ingester"], &env).unwrap();
        let mut v: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
        v["common"]["ring"]["kvstore"]["raft"]["members"] = serde_yaml::Value::Null;
        v["storage_config"]["s3"] = serde_yaml::Value::Null;
        v["ruler"]["external_url"] = serde_yaml::Value::Null;
        v["frontend"]["downstream_url"] = serde_yaml::Value::Null;
        v["frontend_worker"]["frontend_address"] = serde_yaml::Value::Null;
        v
    };
    let example = print(&deploy_dir().join("microservices/sluice.yaml"));
    assert_eq!(print(&k8s), example);
    assert!(!example["ingester"].is_null());
    assert!(!example["query_range"].is_null());
}

//! Runs the real `sluice` binary the way a manifest starts it, with
//! `-print-config` appended, and reads back the effective config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scalar;

/// One process as a manifest starts it.
pub struct Launch {
    /// Names the process in failure messages.
    pub what: String,
    /// Program and arguments after the runtime's own expansion: the program
    /// is `sluice` (the image's entrypoint) or `/bin/sh` (a wrapper that
    /// ends in `exec sluice "$@"`).
    pub argv: Vec<String>,
    /// The whole environment of the process.
    pub env: BTreeMap<String, String>,
    /// Container path (a file or directory) → where its content is here.
    pub mounts: Vec<(String, PathBuf)>,
}

/// What the binary printed, and the parts the manifests are checked against.
#[derive(Debug)]
pub struct Printed {
    pub targets: Vec<String>,
    pub http_listen_address: String,
    pub grpc_listen_address: String,
    pub http_port: u16,
    pub grpc_port: u16,
    pub instance_id: String,
    pub instance_addr: String,
    pub node_id: Option<u64>,
    /// (raft id, `host:port`).
    pub members: Vec<(u64, String)>,
    pub replication_factor: usize,
    pub wal_dir: PathBuf,
    pub raft_dir: PathBuf,
    pub rules_dir: PathBuf,
    pub s3_bucket: Option<String>,
    pub s3_endpoint: Option<String>,
    /// `frontend:` as the binary read it.
    pub frontend: sluice_query_frontend::QueueConfig,
    /// `query_range:` as the binary read it.
    pub query_range: sluice_query_frontend::QueryRangeConfig,
    /// `frontend_worker:` as the binary read it.
    pub frontend_worker: sluice_query_frontend::WorkerConfig,
}

impl Printed {
    pub fn runs(&self, target: &str) -> bool {
        self.targets.iter().any(|t| t == target || t == "all")
    }
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_sluice"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Maps a container path to the local file through the longest mount
/// containing it.
pub fn resolve(mounts: &[(String, PathBuf)], path: &str) -> Option<PathBuf> {
    mounts
        .iter()
        .filter_map(|(at, local)| {
            let rest = path.strip_prefix(at.as_str())?;
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            let rest = rest.trim_start_matches('/');
            let p = if rest.is_empty() {
                local.clone()
            } else {
                local.join(rest)
            };
            Some((at.len(), p))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, p)| p)
}

impl Launch {
    /// Runs the process with `-print-config`; panics unless it exits 0.
    pub fn run(&self) -> Printed {
        let mut argv = self.argv.clone();
        for a in argv.iter_mut().skip(1) {
            if let Some(path) = a.strip_prefix("-config.file=") {
                let local = resolve(&self.mounts, path).unwrap_or_else(|| {
                    panic!("{}: -config.file={path} is on no mounted volume", self.what)
                });
                assert!(
                    local.is_file(),
                    "{}: -config.file={path}: the mount provides no such file",
                    self.what
                );
                *a = format!("-config.file={}", local.display());
            }
        }
        let program = match argv[0].as_str() {
            "sluice" | "/usr/local/bin/sluice" => env!("CARGO_BIN_EXE_sluice").to_string(),
            "/bin/sh" | "sh" => "/bin/sh".to_string(),
            other => panic!("{}: unexpected program {other:?}", self.what),
        };
        let path = format!("{}:/usr/bin:/bin", bin_dir().display());
        let out = Command::new(program)
            .args(&argv[1..])
            .arg("-print-config")
            .env_clear()
            .envs(&self.env)
            .env("PATH", path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{}: sluice {:?} rejected its config: {stderr}",
            self.what,
            &argv[1..]
        );
        let v: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
        printed(&self.what, &v)
    }
}

/// Runs `sluice -config.file=<cfg> ARGS -print-config`; the error is stderr.
pub fn try_print_config(
    cfg: &Path,
    args: &[&str],
    env: &BTreeMap<String, String>,
) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg(format!("-config.file={}", cfg.display()))
        .arg("-config.expand-env=true")
        .args(args)
        .arg("-print-config")
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Query limits the binary splits off `limits_config` (src/config.rs).
const QUERY_LIMIT_KEYS: &[&str] = &[
    "max_entries_limit_per_query",
    "max_query_series",
    "max_query_length",
    "query_timeout",
];

/// Checks what the binary checks only at start-up (the ring, the push
/// limits, the store) and extracts the fields the manifests must agree
/// with.
fn printed(what: &str, v: &serde_yaml::Value) -> Printed {
    let s = |v: &serde_yaml::Value| scalar(v).unwrap_or_default();
    let targets: Vec<String> = s(&v["target"])
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    let ring_v = if v["common"]["ring"].is_null() {
        &v["ingester"]["lifecycler"]["ring"]
    } else {
        &v["common"]["ring"]
    };
    let ring: sluice_ring::RingConfig = serde_yaml::from_value(ring_v.clone())
        .unwrap_or_else(|e| panic!("{what}: common.ring: {e}"));
    ring.validate()
        .unwrap_or_else(|e| panic!("{what}: common.ring: {e}"));
    if targets.iter().all(|t| t != "all") {
        assert_eq!(
            ring.kvstore.store,
            sluice_ring::KvStoreKind::Raft,
            "{what}: -target={targets:?} runs in its own process and needs the raft kvstore"
        );
    }
    let mut push = v["limits_config"].as_mapping().cloned().unwrap_or_default();
    push.retain(|k, _| !k.as_str().is_some_and(|k| QUERY_LIMIT_KEYS.contains(&k)));
    let _: sluice_distributor::Limits = serde_yaml::from_value(serde_yaml::Value::Mapping(push))
        .unwrap_or_else(|e| panic!("{what}: limits_config: {e}"));
    let s3 = &v["storage_config"]["s3"];
    let s3_bucket = scalar(&s3["bucket"]);
    if !s3.is_null() {
        assert!(
            s3_bucket.as_deref().is_some_and(|b| !b.is_empty()),
            "{what}: storage_config.s3.bucket is empty"
        );
        assert!(
            v["storage_config"]["filesystem"].is_null(),
            "{what}: storage_config sets both filesystem and s3"
        );
    }
    let path_prefix = PathBuf::from(s(&v["common"]["path_prefix"]));
    let under_prefix = |p: PathBuf, default: &str| {
        if p.as_os_str().is_empty() {
            path_prefix.join(default)
        } else {
            path_prefix.join(p)
        }
    };
    let rules = &v["ruler"]["storage"]["local"]["directory"];
    let rules_dir = match s(rules) {
        d if !d.is_empty() => PathBuf::from(d),
        _ => match s(&v["ruler"]["rule_path"]) {
            d if !d.is_empty() => PathBuf::from(d),
            _ => path_prefix.join("rules"),
        },
    };
    let port = |k: &str| -> u16 { s(&v["server"][k]).parse().unwrap() };
    fn section<T: serde::de::DeserializeOwned>(what: &str, v: &serde_yaml::Value, key: &str) -> T {
        serde_yaml::from_value(v[key].clone()).unwrap_or_else(|e| panic!("{what}: {key}: {e}"))
    }
    Printed {
        targets,
        http_listen_address: s(&v["server"]["http_listen_address"]),
        grpc_listen_address: s(&v["server"]["grpc_listen_address"]),
        http_port: port("http_listen_port"),
        grpc_port: port("grpc_listen_port"),
        instance_id: s(&v["common"]["instance_id"]),
        instance_addr: s(&v["common"]["instance_addr"]),
        node_id: ring.kvstore.raft.node_id,
        members: (ring.kvstore.raft.members.iter())
            .map(|m| (m.id, m.address.clone()))
            .collect(),
        replication_factor: ring.replication_factor,
        wal_dir: under_prefix(PathBuf::from(s(&v["ingester"]["wal"]["dir"])), "wal"),
        raft_dir: under_prefix(ring.kvstore.raft.dir.clone(), "raft"),
        rules_dir,
        s3_bucket,
        s3_endpoint: scalar(&s3["endpoint"]).filter(|e| !e.is_empty()),
        frontend: section(what, v, "frontend"),
        query_range: section(what, v, "query_range"),
        frontend_worker: section(what, v, "frontend_worker"),
    }
}

/// Checks shared by every deployment: the process listens where its peers
/// reach it, and a voter keeps its raft log and WAL on `persistent`
/// storage (a container path → whether the volume there survives the
/// process).
pub fn check_process(what: &str, p: &Printed, persistent: impl Fn(&Path) -> bool) {
    for (name, addr) in [
        ("http", &p.http_listen_address),
        ("grpc", &p.grpc_listen_address),
    ] {
        assert!(
            ["0.0.0.0", "::", ""].contains(&addr.as_str()),
            "{what}: server.{name}_listen_address {addr} is not reachable from other pods"
        );
    }
    if p.runs("ingester") {
        assert!(
            p.node_id.is_some(),
            "{what}: every ingester is a raft voter here, but node_id is unset"
        );
        assert!(
            !p.instance_id.is_empty() && !p.instance_addr.is_empty(),
            "{what}: an ingester needs common.instance_id and instance_addr set"
        );
        assert!(
            persistent(&p.wal_dir),
            "{what}: WAL dir {} is not on a persistent volume",
            p.wal_dir.display()
        );
    }
    if p.node_id.is_some() {
        assert!(
            persistent(&p.raft_dir),
            "{what}: raft dir {} is not on a persistent volume",
            p.raft_dir.display()
        );
    }
}

/// Checks the rule files under `dir` (`<tenant>/<namespace>`) parse; returns how many.
pub fn check_rules(what: &str, dir: &Path) -> usize {
    let mut n = 0;
    let tenants = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{what}: rules directory {}: {e}", dir.display()));
    for tenant in tenants {
        let tenant = tenant.unwrap().path();
        for file in std::fs::read_dir(&tenant).unwrap() {
            let file = file.unwrap().path();
            let text = std::fs::read_to_string(&file).unwrap();
            let groups = sluice_ruler::rules::parse_file(&file.display().to_string(), &text)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                !groups.is_empty(),
                "{what}: {} has no groups",
                file.display()
            );
            n += 1;
        }
    }
    n
}

/// The raft members are exactly the voters: each voter's id is listed once,
/// at an address that reaches that voter (`addr_of(id)`), and every
/// process lists the same members.
pub fn check_members(what: &str, all: &[(String, Printed)], addr_of: impl Fn(&str) -> String) {
    let first = &all[0].1.members;
    for (name, p) in all {
        assert_eq!(
            &p.members, first,
            "{what}: {name} lists other raft members than {}",
            all[0].0
        );
    }
    let mut voters: Vec<(u64, &str)> = all
        .iter()
        .filter_map(|(name, p)| p.node_id.map(|id| (id, name.as_str())))
        .collect();
    voters.sort();
    let ids: Vec<u64> = voters.iter().map(|v| v.0).collect();
    let mut listed: Vec<u64> = first.iter().map(|m| m.0).collect();
    listed.sort();
    assert_eq!(ids, listed, "{what}: voters' node ids vs. raft members");
    for (id, name) in voters {
        let addr = &first.iter().find(|m| m.0 == id).unwrap().1;
        assert_eq!(
            addr,
            &addr_of(name),
            "{what}: raft member {id} is {name}, but its address is {addr}"
        );
    }
}

/// `host:port` of an address written with or without `http://` (and a path).
pub fn host_port(addr: &str) -> Option<(String, u16)> {
    let rest = addr.strip_prefix("http://").unwrap_or(addr);
    let rest = rest.split('/').next()?;
    let (host, port) = rest.rsplit_once(':')?;
    Some((host.to_string(), port.parse().ok()?))
}

/// Where an address leads: the processes (entries of `all`) it reaches at
/// the port asked for, each with how many replicas it stands for, and
/// whether a client resolving it gets every replica's own address (a
/// headless Service, Docker's DNS) rather than one picked per connection.
pub struct Reach {
    pub processes: Vec<(String, usize)>,
    pub resolves_each: bool,
}

/// The query path hangs together: every querier takes work from the
/// query-frontends (`frontend_worker.frontend_address`, their gRPC port)
/// and every query-frontend proxies to queriers (`frontend.downstream_url`).
/// `reach(host, port)` names the processes an address reaches at their
/// HTTP port, `reach_grpc(host, port)` at their gRPC port.
pub fn check_query_path(
    what: &str,
    all: &[(String, Printed)],
    reach: impl Fn(&str, u16) -> Vec<(String, usize)>,
    reach_grpc: impl Fn(&str, u16) -> Reach,
) {
    let by_name: BTreeMap<&str, &Printed> = all.iter().map(|(n, p)| (n.as_str(), p)).collect();
    let resolve_to = |who: &str, key: &str, addr: &str| -> Vec<(&Printed, usize)> {
        let (host, port) = host_port(addr)
            .unwrap_or_else(|| panic!("{what}: {who}: {key} {addr:?} is not host:port"));
        let reached = reach(&host, port);
        assert!(
            !reached.is_empty(),
            "{what}: {who}: {key} {addr} reaches no sluice process's HTTP port"
        );
        reached
            .into_iter()
            .map(|(n, replicas)| (by_name[n.as_str()], replicas))
            .collect()
    };
    let frontends: Vec<&(String, Printed)> = all
        .iter()
        .filter(|(_, p)| p.runs("query-frontend"))
        .collect();
    assert!(!frontends.is_empty(), "{what}: no query-frontend");
    for (name, p) in frontends {
        let url = p.frontend.downstream_url.as_deref().unwrap_or_else(|| {
            panic!("{what}: {name}: frontend.downstream_url is unset (labels, series, ... fail)")
        });
        assert!(
            url.starts_with("http://"),
            "{what}: {name}: downstream_url {url} is no HTTP URL"
        );
        for (q, _) in resolve_to(name, "frontend.downstream_url", url) {
            assert!(
                q.runs("querier") && !q.runs("query-frontend"),
                "{what}: {name}: downstream_url {url} reaches {:?}, not a querier",
                q.targets
            );
        }
        let qr = &p.query_range;
        assert!(
            !qr.split_queries_by_interval.is_zero(),
            "{what}: {name}: query_range.split_queries_by_interval is 0 (no splitting)"
        );
        assert!(
            !qr.cache_results || qr.results_cache.max_bytes() > 0,
            "{what}: {name}: results cache on with no room"
        );
    }
    for (name, p) in all
        .iter()
        .filter(|(_, p)| p.runs("querier") && !p.runs("all"))
    {
        let addr = p.frontend_worker.frontend_address.as_deref().unwrap_or_else(|| {
            panic!("{what}: {name}: a querier with frontend_worker.frontend_address unset gets no work")
        });
        let (host, port) = host_port(addr).unwrap_or_else(|| {
            panic!("{what}: {name}: frontend_address {addr:?} is not host:port")
        });
        let reached = reach_grpc(&host, port);
        assert!(
            !reached.processes.is_empty(),
            "{what}: {name}: frontend_address {addr} reaches no sluice process's gRPC port"
        );
        for (f, _) in &reached.processes {
            let f = by_name[f.as_str()];
            assert!(
                f.runs("query-frontend"),
                "{what}: {name}: frontend_address {addr} reaches {:?}, not the query-frontend",
                f.targets
            );
        }
        let replicas: usize = reached.processes.iter().map(|r| r.1).sum();
        assert!(
            replicas == 1 || reached.resolves_each,
            "{what}: {name}: frontend_address {addr} balances over {replicas} query-frontends; \
             a querier connects to one and the others get no queriers (use a headless Service)"
        );
    }
}

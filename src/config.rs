//! The YAML configuration file and the Loki-style flags that override it.
//!
//! Sections and keys follow Loki's where Loki has them (`server`,
//! `common.path_prefix`, `ingester`, `limits_config`, `storage_config`),
//! so an existing Loki config needs few changes. Unknown keys are errors
//! naming the key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sluice_ingester::IngesterConfig;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Require `X-Scope-OrgID`; without it every request is tenant `fake`.
    pub auth_enabled: bool,
    /// Which modules to run: `all` (default), or a comma list of
    /// `distributor`, `ingester`, `querier`, `query-frontend`, `ruler`.
    pub target: String,
    pub server: ServerConfig,
    pub common: CommonConfig,
    pub ingester: IngesterConfig,
    pub storage_config: StorageSection,
    /// Per-tenant limits: push validation and rate limits (the
    /// distributor's keys) plus the query limits below.
    pub limits_config: serde_yaml::Value,
    pub querier: QuerierSection,
    /// Alerting and recording rules (Loki's `ruler:` keys).
    pub ruler: sluice_ruler::RulerConfig,
    /// The query-frontend's queues (`-target=query-frontend`).
    pub frontend: sluice_query_frontend::QueueConfig,
    /// How the query-frontend splits, shards and caches.
    pub query_range: sluice_query_frontend::QueryRangeConfig,
    /// Which query-frontend (gRPC address) a querier takes work from.
    pub frontend_worker: sluice_query_frontend::WorkerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            auth_enabled: false,
            target: "all".into(),
            server: ServerConfig::default(),
            common: CommonConfig::default(),
            ingester: IngesterConfig::default(),
            storage_config: StorageSection::default(),
            limits_config: serde_yaml::Value::Mapping(Default::default()),
            querier: QuerierSection::default(),
            ruler: sluice_ruler::RulerConfig::default(),
            frontend: Default::default(),
            query_range: Default::default(),
            frontend_worker: Default::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub http_listen_address: String,
    pub http_listen_port: u16,
    pub grpc_listen_address: String,
    pub grpc_listen_port: u16,
    /// `error`, `warn`, `info` (default), `debug`.
    pub log_level: String,
    /// Largest accepted request body, in bytes (413 past it).
    pub max_request_body_size: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_listen_address: "127.0.0.1".into(),
            http_listen_port: 3100,
            grpc_listen_address: "127.0.0.1".into(),
            grpc_listen_port: 9095,
            log_level: "info".into(),
            max_request_body_size: 100 << 20,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommonConfig {
    /// Root of local state: the WAL and, by default, the chunk store.
    pub path_prefix: PathBuf,
    /// Host other processes reach this one at (default: the listen address,
    /// or the hostname when listening on every interface).
    pub instance_addr: String,
    /// This instance's id in the rings (default: the hostname).
    pub instance_id: String,
    /// The ring every module uses; overrides `ingester.lifecycler.ring`.
    pub ring: Option<sluice_ring::RingConfig>,
}

impl Default for CommonConfig {
    fn default() -> Self {
        CommonConfig {
            path_prefix: PathBuf::from("./data"),
            instance_addr: String::new(),
            instance_id: String::new(),
            ring: None,
        }
    }
}

/// The modules one process runs (`-target`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Targets {
    pub distributor: bool,
    pub ingester: bool,
    pub querier: bool,
    pub query_frontend: bool,
    pub ruler: bool,
    /// `all`: every module in one process, talking in-process.
    pub all: bool,
}

impl Targets {
    pub fn parse(s: &str) -> anyhow::Result<Targets> {
        let mut t = Targets::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" => {
                    t.all = true;
                    t.distributor = true;
                    t.ingester = true;
                    t.querier = true;
                    t.ruler = true;
                }
                "distributor" => t.distributor = true,
                "ingester" => t.ingester = true,
                "querier" => t.querier = true,
                "query-frontend" => t.query_frontend = true,
                "ruler" => t.ruler = true,
                other => bail!(
                    "unknown target {other:?}: use all, distributor, ingester, querier, query-frontend or ruler (comma-separated)"
                ),
            }
        }
        if t.query_frontend && (t.querier || t.all) {
            bail!("-target: run the query-frontend in its own process, not with the querier or all (both serve the query API)");
        }
        if t == Targets::default() {
            bail!("-target is empty: use all, distributor, ingester, querier, query-frontend or ruler");
        }
        Ok(t)
    }
}

/// `storage_config`: where chunks and index segments live.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSection {
    /// Local directory (default `<path_prefix>/chunks`).
    pub filesystem: Option<FilesystemSection>,
    /// Any S3-compatible object store.
    pub s3: Option<S3Section>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesystemSection {
    pub directory: PathBuf,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Section {
    pub bucket: String,
    /// e.g. `http://127.0.0.1:9000` for a local S3-compatible server.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allow plain-HTTP endpoints.
    pub insecure: bool,
    /// Key prefix inside the bucket.
    pub prefix: String,
}

/// `querier`: how queries run.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierSection {
    /// How many chunks are fetched from the store at once.
    pub max_concurrent: usize,
}

impl Default for QuerierSection {
    fn default() -> Self {
        QuerierSection { max_concurrent: 64 }
    }
}

/// Command-line flags (Loki spelling: `-config.file=PATH`, one or two
/// dashes, `=value` or a separate value).
#[derive(Debug, Default)]
pub struct Flags {
    pub config_file: Option<PathBuf>,
    /// `-config.expand-env`: replace `${VAR}` and `${VAR:-default}` in the file.
    pub expand_env: bool,
    pub overrides: Vec<(String, String)>,
    pub print_config: bool,
}

const FLAG_KEYS: &[&str] = &[
    "target",
    "auth.enabled",
    "server.http-listen-address",
    "server.http-listen-port",
    "server.grpc-listen-address",
    "server.grpc-listen-port",
    "log.level",
    "common.path-prefix",
    "common.instance-addr",
    "common.instance-id",
];

pub fn parse_flags(args: impl Iterator<Item = String>) -> anyhow::Result<Flags> {
    let mut f = Flags::default();
    let mut args = args.peekable();
    while let Some(a) = args.next() {
        let Some(stripped) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            bail!("unexpected argument {a:?}; flags look like -config.file=PATH");
        };
        let (name, inline) = match stripped.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (stripped.to_string(), None),
        };
        match name.as_str() {
            "help" | "h" => {
                println!(
                    "usage: sluice [-config.file=PATH] [-{}=VALUE ...] [-print-config]",
                    FLAG_KEYS.join("=VALUE] [-")
                );
                std::process::exit(0);
            }
            "print-config" | "print-config-stderr" => {
                f.print_config = true;
                continue;
            }
            "config.expand-env" => {
                f.expand_env = inline.as_deref().is_none_or(|v| v == "true");
                continue;
            }
            _ => {}
        }
        let value = match inline {
            Some(v) => v,
            None if name == "auth.enabled" && args.peek().is_none_or(|n| n.starts_with('-')) => {
                "true".into()
            }
            None => args
                .next()
                .with_context(|| format!("flag -{name} needs a value"))?,
        };
        if name == "config.file" {
            f.config_file = Some(PathBuf::from(value));
        } else if FLAG_KEYS.contains(&name.as_str()) {
            f.overrides.push((name, value));
        } else {
            bail!(
                "unknown flag -{name} (known: -config.file, -{})",
                FLAG_KEYS.join(", -")
            );
        }
    }
    Ok(f)
}

impl Config {
    pub fn load(flags: &Flags) -> anyhow::Result<Config> {
        let mut cfg = match &flags.config_file {
            Some(p) => Self::from_file(p, flags.expand_env)?,
            None => Config::default(),
        };
        for (k, v) in &flags.overrides {
            cfg.apply_flag(k, v)
                .with_context(|| format!("flag -{k}={v}"))?;
        }
        Ok(cfg)
    }

    fn from_file(p: &Path, expand_env: bool) -> anyhow::Result<Config> {
        let mut text = std::fs::read_to_string(p)
            .with_context(|| format!("reading config file {}", p.display()))?;
        if expand_env {
            text = expand_env_vars(&text, |k| std::env::var(k).ok());
        }
        let de = serde_yaml::Deserializer::from_str(&text);
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            anyhow::anyhow!("config file {}: {}: {}", p.display(), e.path(), e.inner())
        })?;
        Ok(cfg)
    }

    fn apply_flag(&mut self, k: &str, v: &str) -> anyhow::Result<()> {
        match k {
            "target" => self.target = v.into(),
            "auth.enabled" => self.auth_enabled = v.parse().context("expected true or false")?,
            "server.http-listen-address" => self.server.http_listen_address = v.into(),
            "server.http-listen-port" => {
                self.server.http_listen_port = v.parse().context("expected a port")?
            }
            "server.grpc-listen-address" => self.server.grpc_listen_address = v.into(),
            "server.grpc-listen-port" => {
                self.server.grpc_listen_port = v.parse().context("expected a port")?
            }
            "log.level" => self.server.log_level = v.into(),
            "common.path-prefix" => self.common.path_prefix = v.into(),
            "common.instance-addr" => self.common.instance_addr = v.into(),
            "common.instance-id" => self.common.instance_id = v.into(),
            _ => bail!("unknown flag"),
        }
        Ok(())
    }

    pub fn targets(&self) -> anyhow::Result<Targets> {
        Targets::parse(&self.target)
    }

    /// The ring configuration every module shares.
    pub fn ring(&self) -> sluice_ring::RingConfig {
        let mut ring = self
            .common
            .ring
            .clone()
            .unwrap_or_else(|| self.ingester.lifecycler.ring.clone());
        let raft = &mut ring.kvstore.raft;
        if raft.dir.is_relative() {
            raft.dir = self.common.path_prefix.join(&raft.dir);
        }
        ring
    }

    /// Who this process is in the rings, given the ports it listens on.
    pub fn instance(&self, http_port: u16, grpc_port: u16) -> sluice_ring::InstanceSpec {
        let host = if !self.common.instance_addr.is_empty() {
            self.common.instance_addr.clone()
        } else if ["0.0.0.0", "::", ""].contains(&self.server.grpc_listen_address.as_str()) {
            hostname()
        } else {
            self.server.grpc_listen_address.clone()
        };
        let id = if self.common.instance_id.is_empty() {
            hostname()
        } else {
            self.common.instance_id.clone()
        };
        sluice_ring::InstanceSpec {
            id,
            grpc_addr: format!("{host}:{grpc_port}"),
            http_addr: format!("{host}:{http_port}"),
        }
    }

    pub fn wal_dir(&self) -> PathBuf {
        if self.ingester.wal.dir.as_os_str().is_empty() {
            self.common.path_prefix.join("wal")
        } else {
            self.ingester.wal.dir.clone()
        }
    }

    pub fn store_config(&self) -> anyhow::Result<sluice_storage::store::StoreConfig> {
        use sluice_storage::store::StoreConfig;
        match (&self.storage_config.filesystem, &self.storage_config.s3) {
            (Some(_), Some(_)) => bail!("storage_config: set either filesystem or s3, not both"),
            (_, Some(s3)) => {
                if s3.bucket.is_empty() {
                    bail!("storage_config.s3.bucket is required");
                }
                Ok(StoreConfig::S3 {
                    bucket: s3.bucket.clone(),
                    endpoint: s3.endpoint.clone(),
                    region: if s3.region.is_empty() {
                        "us-east-1".into()
                    } else {
                        s3.region.clone()
                    },
                    access_key_id: Some(s3.access_key_id.clone()).filter(|k| !k.is_empty()),
                    secret_access_key: Some(s3.secret_access_key.clone()).filter(|k| !k.is_empty()),
                    allow_http: s3.insecure,
                    prefix: Some(s3.prefix.clone()).filter(|p| !p.is_empty()),
                })
            }
            (Some(fs), None) if !fs.directory.as_os_str().is_empty() => {
                Ok(StoreConfig::Filesystem {
                    dir: fs.directory.clone(),
                })
            }
            _ => Ok(StoreConfig::Filesystem {
                dir: self.common.path_prefix.join("chunks"),
            }),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Replaces `${VAR}` and `${VAR:-default}` (Loki's `-config.expand-env`);
/// an unset variable without a default becomes empty. `$$` is a literal `$`.
fn expand_env_vars(text: &str, get: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(end) = after.strip_prefix('{').and_then(|a| a.find('}')) {
            let body = &after[1..=end];
            let (name, default) = match body.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (body, None),
            };
            match get(name) {
                Some(v) if !v.is_empty() || default.is_none() => out.push_str(&v),
                _ => out.push_str(default.unwrap_or("")),
            }
            rest = &after[end + 2..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn flags_parse_in_loki_spelling() {
        let f = parse_flags(
            [
                "-config.file=x.yaml",
                "--server.http-listen-port",
                "3200",
                "-auth.enabled",
            ]
            .into_iter()
            .map(String::from),
        )
        .unwrap();
        assert_eq!(f.config_file, Some(PathBuf::from("x.yaml")));
        let mut c = Config::default();
        for (k, v) in &f.overrides {
            c.apply_flag(k, v).unwrap();
        }
        assert_eq!(c.server.http_listen_port, 3200);
        assert!(c.auth_enabled);
        assert!(parse_flags(["-nope=1"].into_iter().map(String::from)).is_err());
    }

    #[test]
    fn shipped_configs_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cfg = Config::from_file(&root.join("deploy/conformance.yaml"), false).unwrap();
        let (limits, _) = split_limits(&cfg.limits_config).unwrap();
        assert!(!limits.discover_log_levels);
        assert!(limits.discover_service_name.is_empty());
        assert!(!limits.reject_old_samples);
        let ds: serde_yaml::Value = serde_yaml::from_str(
            &std::fs::read_to_string(root.join("deploy/grafana/datasource.yaml")).unwrap(),
        )
        .unwrap();
        let d = &ds["datasources"][0];
        assert_eq!(d["type"], "loki");
        let port = Config::default().server.http_listen_port;
        assert_eq!(
            d["url"].as_str().unwrap(),
            format!("http://127.0.0.1:{port}")
        );
    }

    #[test]
    fn env_expansion() {
        let get = |k: &str| match k {
            "A" => Some("x".to_string()),
            "E" => Some(String::new()),
            _ => None,
        };
        assert_eq!(expand_env_vars("a: ${A}", get), "a: x");
        assert_eq!(expand_env_vars("${B:-d} ${E:-f} ${E}", get), "d f ");
        assert_eq!(expand_env_vars("$$ $x ${A", get), "$ $x ${A");
    }

    #[test]
    fn targets_parse() {
        let t = Targets::parse("distributor,querier").unwrap();
        assert!(t.distributor && t.querier && !t.ingester && !t.all);
        assert!(Targets::parse("all").unwrap().ingester);
        let err = Targets::parse("distributer").unwrap_err().to_string();
        assert!(err.contains("distributer"), "{err}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(&p, "server:\n  http_listen_prot: 1\n").unwrap();
        let err = Config::from_file(&p, false).unwrap_err().to_string();
        assert!(
            err.contains("server") && err.contains("http_listen_prot"),
            "{err}"
        );
    }
}

/// Query limits read from `limits_config` (Loki's key names).
#[derive(Debug, Deserialize)]
#[serde(default)]
struct QueryLimits {
    max_entries_limit_per_query: u32,
    max_query_series: usize,
    #[serde(with = "sluice_ingester::config::duration")]
    max_query_length: std::time::Duration,
    #[serde(with = "sluice_ingester::config::duration")]
    query_timeout: std::time::Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_entries_limit_per_query: 5000,
            max_query_series: 500,
            max_query_length: std::time::Duration::from_secs(721 * 3600),
            query_timeout: std::time::Duration::from_secs(60),
        }
    }
}

const QUERY_LIMIT_KEYS: &[&str] = &[
    "max_entries_limit_per_query",
    "max_query_series",
    "max_query_length",
    "query_timeout",
];

/// Splits `limits_config` into the distributor's limits and the query
/// limits (engine limits and the query timeout).
pub fn split_limits(
    v: &serde_yaml::Value,
) -> anyhow::Result<(
    sluice_distributor::Limits,
    (sluice_logql::engine::Limits, std::time::Duration),
)> {
    let mut push = serde_yaml::Mapping::new();
    let mut query = serde_yaml::Mapping::new();
    if let Some(m) = v.as_mapping() {
        for (k, val) in m {
            let is_query = k.as_str().is_some_and(|k| QUERY_LIMIT_KEYS.contains(&k));
            if is_query { &mut query } else { &mut push }.insert(k.clone(), val.clone());
        }
    } else if !v.is_null() {
        bail!("limits_config must be a mapping");
    }
    let limits: sluice_distributor::Limits =
        serde_path_to_error::deserialize(serde_yaml::Value::Mapping(push))
            .map_err(|e| anyhow::anyhow!("limits_config.{}: {}", e.path(), e.inner()))?;
    let q: QueryLimits = serde_path_to_error::deserialize(serde_yaml::Value::Mapping(query))
        .map_err(|e| anyhow::anyhow!("limits_config.{}: {}", e.path(), e.inner()))?;
    let engine = sluice_logql::engine::Limits {
        max_entries_limit_per_query: q.max_entries_limit_per_query,
        max_query_series: q.max_query_series,
        max_query_length: q.max_query_length.as_nanos() as i64,
        ..Default::default()
    };
    Ok((limits, (engine, q.query_timeout)))
}

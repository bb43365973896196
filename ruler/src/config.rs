//! The `ruler:` configuration block, with Loki's key names.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `ruler:`: where rule files live, how often groups are evaluated and
/// where alerts and recorded samples go.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulerConfig {
    /// Run the ruler (default true; it idles without rule files).
    pub enabled: bool,
    /// Base URL of this Loki/Sluice as users reach it, for `generatorURL`
    /// and the `externalURL` of templates.
    pub external_url: String,
    /// Labels added to every alert and recorded series.
    pub external_labels: BTreeMap<String, String>,
    /// Loki's scratch directory for rule files: with `storage.type: object`
    /// the local copy of the object store's rules (default
    /// `<path_prefix>/rules-cache`); with `local` a fallback for
    /// `storage.local.directory`.
    pub rule_path: PathBuf,
    /// Where rule groups are stored (`type: local` or `object`).
    pub storage: StorageConfig,
    /// Comma-separated Alertmanager base URLs (`http://host:9093`); alerts
    /// go to `<url>/api/v2/alerts` of each.
    pub alertmanager_url: String,
    /// Accepted for compatibility: Sluice always speaks Alertmanager's v2 API.
    pub enable_alertmanager_v2: bool,
    /// Alerts waiting to be sent, beyond which the oldest are dropped.
    pub notification_queue_capacity: usize,
    /// Timeout of one request to an Alertmanager.
    #[serde(with = "duration")]
    pub notification_timeout: Duration,
    /// Minimum time between two sends of a still-firing alert.
    #[serde(with = "duration")]
    pub resend_delay: Duration,
    /// Default evaluation interval of groups without `interval`.
    #[serde(with = "duration")]
    pub evaluation_interval: Duration,
    /// How often the rules directory is checked for changes.
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    /// Serve the ruler API (`/loki/api/v1/rules`, ...).
    pub enable_api: bool,
    /// Accepted for compatibility; sharding follows the ring when it is set.
    pub enable_sharding: bool,
    /// Recording rules' samples to Prometheus remote_write endpoints.
    pub remote_write: RemoteWriteConfig,
    /// HTTP client settings for Alertmanager (basic auth or a bearer token).
    pub alertmanager_client: AlertmanagerClientConfig,
    /// Comma-separated tenants whose rules are evaluated (empty: all).
    pub enabled_tenants: String,
    /// Comma-separated tenants whose rules are not evaluated.
    pub disabled_tenants: String,
    /// Accepted for compatibility, not used: `for_outage_tolerance` (as in
    /// Loki, whose restored `for` state comes from re-running the rule, not
    /// from stored series), `alertmanager_refresh_interval` (a fixed
    /// Alertmanager list) and `flush_period` (no ruler WAL).
    #[serde(with = "duration")]
    pub for_outage_tolerance: Duration,
    /// Alerting rules with a `for` at least this long restore their state
    /// after a restart, and a restored alert fires no sooner than this
    /// after it.
    #[serde(with = "duration")]
    pub for_grace_period: Duration,
    #[serde(with = "duration")]
    pub alertmanager_refresh_interval: Duration,
    #[serde(with = "duration")]
    pub flush_period: Duration,
    pub datasource_uid: String,
    pub query_stats_enabled: bool,
    pub sharding_strategy: String,
    pub sharding_algo: String,
    /// Loki's ruler ring, WAL and evaluation-mode blocks: accepted as
    /// written, not used.
    #[serde(skip_serializing_if = "serde_yaml::Value::is_null")]
    pub ring: serde_yaml::Value,
    #[serde(skip_serializing_if = "serde_yaml::Value::is_null")]
    pub wal: serde_yaml::Value,
    #[serde(skip_serializing_if = "serde_yaml::Value::is_null")]
    pub wal_cleaner: serde_yaml::Value,
    #[serde(skip_serializing_if = "serde_yaml::Value::is_null")]
    pub evaluation: serde_yaml::Value,
}

/// `ruler.alertmanager_client`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertmanagerClientConfig {
    pub basic_auth_username: String,
    #[serde(serialize_with = "secret")]
    pub basic_auth_password: String,
    /// Authorization scheme for `credentials` (default `Bearer`).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(serialize_with = "secret")]
    pub credentials: String,
}

/// Secrets show as `<secret>` in `/config`, as Loki shows them.
fn secret<S: serde::Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if v.is_empty() { "" } else { "<secret>" })
}

impl Default for RulerConfig {
    fn default() -> Self {
        RulerConfig {
            enabled: true,
            external_url: String::new(),
            external_labels: BTreeMap::new(),
            rule_path: PathBuf::new(),
            storage: StorageConfig::default(),
            alertmanager_url: String::new(),
            enable_alertmanager_v2: true,
            notification_queue_capacity: 10_000,
            notification_timeout: Duration::from_secs(10),
            resend_delay: Duration::from_secs(60),
            evaluation_interval: Duration::from_secs(60),
            poll_interval: Duration::from_secs(60),
            enable_api: true,
            enable_sharding: false,
            remote_write: RemoteWriteConfig::default(),
            alertmanager_client: AlertmanagerClientConfig::default(),
            enabled_tenants: String::new(),
            disabled_tenants: String::new(),
            for_outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
            alertmanager_refresh_interval: Duration::from_secs(60),
            flush_period: Duration::from_secs(60),
            datasource_uid: String::new(),
            query_stats_enabled: false,
            sharding_strategy: "default".into(),
            sharding_algo: "by-group".into(),
            ring: serde_yaml::Value::Null,
            wal: serde_yaml::Value::Null,
            wal_cleaner: serde_yaml::Value::Null,
            evaluation: serde_yaml::Value::Null,
        }
    }
}

impl RulerConfig {
    /// Whether rule groups live in the object store (`storage.type:
    /// object`) rather than a local directory (`local`, the default).
    pub fn object_storage(&self) -> crate::Result<bool> {
        match self.storage.kind.as_str() {
            "" | "local" => Ok(false),
            "object" => Ok(true),
            other => Err(crate::Error::Invalid(format!(
                "ruler.storage.type {other:?} is not supported: use local or object"
            ))),
        }
    }

    /// The rules directory. Local storage: `storage.local.directory`, else
    /// `rule_path`, else `<path_prefix>/rules`. Object storage (a cache
    /// the ruler rewrites, so never a directory of hand-written files):
    /// `rule_path`, else `<path_prefix>/rules-cache`.
    pub fn rules_dir(&self, path_prefix: &std::path::Path) -> PathBuf {
        if self.object_storage().unwrap_or(false) {
            if self.rule_path.as_os_str().is_empty() {
                path_prefix.join("rules-cache")
            } else {
                self.rule_path.clone()
            }
        } else if !self.storage.local.directory.as_os_str().is_empty() {
            self.storage.local.directory.clone()
        } else if !self.rule_path.as_os_str().is_empty() {
            self.rule_path.clone()
        } else {
            path_prefix.join("rules")
        }
    }

    /// Whether `tenant`'s rules are evaluated here
    /// (`enabled_tenants`/`disabled_tenants`).
    pub fn tenant_allowed(&self, tenant: &str) -> bool {
        let list = |s: &str| -> Vec<String> {
            s.split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect()
        };
        let enabled = list(&self.enabled_tenants);
        (enabled.is_empty() || enabled.iter().any(|t| t == tenant))
            && !list(&self.disabled_tenants).iter().any(|t| t == tenant)
    }

    /// The Alertmanager base URLs, without trailing slashes.
    pub fn alertmanager_urls(&self) -> Vec<String> {
        self.alertmanager_url
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect()
    }
}

/// `ruler.storage`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `local` (rule files in `local.directory`) or `object` (under
    /// `rules/<tenant>/<namespace>` in the store of `storage_config`,
    /// synced every `poll_interval` into a local cache directory).
    #[serde(rename = "type")]
    pub kind: String,
    pub local: LocalStorageConfig,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            kind: "local".into(),
            local: LocalStorageConfig::default(),
        }
    }
}

/// `ruler.storage.local`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalStorageConfig {
    /// `<directory>/<tenant>/<namespace file>`; API-written groups land here too.
    pub directory: PathBuf,
}

/// `ruler.remote_write`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteWriteConfig {
    pub enabled: bool,
    /// One endpoint (Loki's older, single-client key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<RemoteWriteClient>,
    /// Endpoints by name.
    pub clients: BTreeMap<String, RemoteWriteClient>,
    /// Send the tenant as `X-Scope-OrgID`.
    pub add_org_id_header: bool,
    /// Accepted for compatibility (clients are fixed at start-up).
    #[serde(with = "duration")]
    pub config_refresh_period: Duration,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig {
            enabled: false,
            client: None,
            clients: BTreeMap::new(),
            add_org_id_header: true,
            config_refresh_period: Duration::from_secs(10),
        }
    }
}

impl RemoteWriteConfig {
    /// Every configured endpoint (empty unless `enabled`).
    pub fn endpoints(&self) -> Vec<RemoteWriteClient> {
        if !self.enabled {
            return Vec::new();
        }
        self.client
            .iter()
            .chain(self.clients.values())
            .filter(|c| !c.url.is_empty())
            .cloned()
            .collect()
    }
}

/// One remote_write endpoint (Prometheus's `remote_write` entry keys).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteWriteClient {
    pub url: String,
    /// Accepted for compatibility; the map key names a client.
    pub name: String,
    #[serde(with = "duration")]
    pub remote_timeout: Duration,
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    pub queue_config: QueueConfig,
}

impl Default for RemoteWriteClient {
    fn default() -> Self {
        RemoteWriteClient {
            url: String::new(),
            name: String::new(),
            remote_timeout: Duration::from_secs(30),
            headers: BTreeMap::new(),
            basic_auth: None,
            queue_config: QueueConfig::default(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(serialize_with = "secret")]
    pub password: String,
}

/// `queue_config`: the bounded queue in front of one endpoint.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Samples buffered; past it the oldest are dropped.
    pub capacity: usize,
    pub max_samples_per_send: usize,
    /// Attempts per batch before it is dropped (retryable failures only).
    pub max_retries: u32,
    #[serde(with = "duration")]
    pub min_backoff: Duration,
    #[serde(with = "duration")]
    pub max_backoff: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_samples_per_send: 2_000,
            max_retries: 10,
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Durations as Prometheus writes them (`30s`, `1m`, `1h30m`).
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid duration {s:?}, expected e.g. 30s or 1m"))
        })
    }

    /// A non-negative Prometheus duration.
    pub fn parse(s: &str) -> Option<Duration> {
        if s == "0" {
            return Some(Duration::ZERO);
        }
        sluice_logql::parser::parse_duration(s)
            .filter(|ns| *ns >= 0)
            .map(|ns| Duration::from_nanos(ns as u64))
    }

    /// Prometheus's spelling: `1h30m`, `30s`, `1.5s` → `1s500ms`, `0s`.
    pub fn format_duration(d: Duration) -> String {
        let mut ms = d.as_millis() as u64;
        if ms == 0 {
            return "0s".into();
        }
        let mut out = String::new();
        for (unit, size) in [
            ("y", 365 * 86_400_000),
            ("w", 7 * 86_400_000),
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ] {
            if ms >= size {
                out.push_str(&format!("{}{unit}", ms / size));
                ms %= size;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn loki_ruler_block_parses() {
        let cfg: RulerConfig = serde_yaml::from_str(
            r#"
storage:
  type: local
  local:
    directory: /loki/rules
rule_path: /tmp/scratch
alertmanager_url: http://am1:9093/, http://am2:9093
enable_api: true
evaluation_interval: 15s
poll_interval: 10s
resend_delay: 30s
external_url: http://grafana
enabled_tenants: a,b
disabled_tenants: b
ring:
  kvstore:
    store: inmemory
wal:
  dir: /loki/ruler-wal
remote_write:
  enabled: true
  client:
    url: http://prom:9090/api/v1/write
  clients:
    other:
      url: http://m:8428/api/v1/write
      remote_timeout: 5s
      headers:
        X-Foo: bar
"#,
        )
        .unwrap();
        assert_eq!(
            cfg.rules_dir(std::path::Path::new("/data")),
            PathBuf::from("/loki/rules")
        );
        assert_eq!(
            cfg.alertmanager_urls(),
            vec!["http://am1:9093", "http://am2:9093"]
        );
        assert_eq!(cfg.evaluation_interval, Duration::from_secs(15));
        assert_eq!(cfg.resend_delay, Duration::from_secs(30));
        let eps = cfg.remote_write.endpoints();
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[1].remote_timeout, Duration::from_secs(5));
        assert!(cfg.tenant_allowed("a") && !cfg.tenant_allowed("b") && !cfg.tenant_allowed("c"));
        assert_eq!(
            RulerConfig::default().rules_dir(std::path::Path::new("/data")),
            PathBuf::from("/data/rules")
        );
        let obj: RulerConfig =
            serde_yaml::from_str("storage: {type: object}\nrule_path: /tmp/r").unwrap();
        assert!(obj.object_storage().unwrap());
        assert_eq!(
            obj.rules_dir(std::path::Path::new("/data")),
            PathBuf::from("/tmp/r")
        );
        let s3: RulerConfig = serde_yaml::from_str("storage: {type: s3}").unwrap();
        assert!(s3
            .object_storage()
            .unwrap_err()
            .to_string()
            .contains("local or object"));
        let bad = serde_yaml::from_str::<RulerConfig>("evaluation_intervall: 1m").unwrap_err();
        assert!(bad.to_string().contains("evaluation_intervall"), "{bad}");
        assert_eq!(
            duration::format_duration(Duration::from_millis(5_400_500)),
            "1h30m500ms"
        );
    }
}

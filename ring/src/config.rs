//! Configuration of the ring, the lifecycler and the membership store, with
//! Loki's key names (`common.ring`, `ingester.lifecycler`, `*.ring.kvstore`).
//!
//! Durations are written as in Loki (`5s`, `1m`, `1h30m`, `500ms`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tokens::DEFAULT_NUM_TOKENS;

/// The ring as seen by its readers and writers (`common.ring`, `ingester.lifecycler.ring`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RingConfig {
    /// Where the ring descriptor is stored.
    pub kvstore: KvStoreConfig,
    /// An instance that has not heartbeated for this long is unhealthy (0 disables).
    #[serde(with = "duration")]
    pub heartbeat_timeout: Duration,
    /// How many instances each stream is written to.
    pub replication_factor: usize,
    /// Place replicas of a stream in distinct availability zones.
    pub zone_awareness_enabled: bool,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            kvstore: KvStoreConfig::default(),
            heartbeat_timeout: Duration::from_secs(60),
            replication_factor: 3,
            zone_awareness_enabled: false,
        }
    }
}

impl RingConfig {
    /// Checks values that would make the ring unusable.
    pub fn validate(&self) -> Result<()> {
        if self.replication_factor == 0 {
            return Err(Error::Config(
                "replication_factor must be at least 1".to_string(),
            ));
        }
        self.kvstore.validate()
    }

    /// The full membership key of a ring name (`ring`, `ruler`, ...), with the kvstore prefix.
    pub fn key(&self, ring_name: &str) -> String {
        format!("{}{}", self.kvstore.prefix, ring_name)
    }
}

/// Which membership store backs the ring (`kvstore`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvStoreKind {
    /// One process, in memory (`-target=all`).
    #[default]
    Inmemory,
    /// Replicated with raft across the configured voting members.
    Raft,
}

/// The membership store (`kvstore`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KvStoreConfig {
    /// `inmemory` or `raft`.
    pub store: KvStoreKind,
    /// Prefix of every key in the store.
    pub prefix: String,
    /// The raft-replicated store; used when `store: raft`.
    pub raft: RaftKvConfig,
}

impl Default for KvStoreConfig {
    fn default() -> Self {
        KvStoreConfig {
            store: KvStoreKind::Inmemory,
            prefix: "collectors/".to_string(),
            raft: RaftKvConfig::default(),
        }
    }
}

impl KvStoreConfig {
    /// Checks the raft section when it is selected.
    pub fn validate(&self) -> Result<()> {
        match self.store {
            KvStoreKind::Inmemory => Ok(()),
            KvStoreKind::Raft => self.raft.validate(),
        }
    }
}

/// One voting member of the raft membership store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftPeer {
    /// Raft node id, unique and stable across restarts (> 0).
    pub id: u64,
    /// HTTP address (`host:port`) serving this member's `/raft/*` routes.
    pub address: String,
}

/// The raft-replicated membership store (`kvstore.raft`).
///
/// Every process lists the same `members`. A process whose `node_id` is one
/// of them is a voter and keeps a log on disk under `dir`; any other process
/// reads and writes through the members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftKvConfig {
    /// This process's member id, if it is a voter.
    pub node_id: Option<u64>,
    /// The voting members (typically 3).
    pub members: Vec<RaftPeer>,
    /// Directory of this voter's raft log, vote and snapshot.
    pub dir: PathBuf,
    /// Leader heartbeat interval.
    #[serde(with = "duration")]
    pub heartbeat_interval: Duration,
    /// Lower bound of the randomized election timeout.
    #[serde(with = "duration")]
    pub election_timeout_min: Duration,
    /// Upper bound of the randomized election timeout.
    #[serde(with = "duration")]
    pub election_timeout_max: Duration,
    /// Build a snapshot (and compact the log) after this many new entries.
    pub snapshot_after_entries: u64,
    /// How long an update keeps retrying while no leader is available.
    #[serde(with = "duration")]
    pub cas_timeout: Duration,
    /// How often a non-voter polls the members for changes to watched keys.
    #[serde(with = "duration")]
    pub poll_interval: Duration,
}

impl Default for RaftKvConfig {
    fn default() -> Self {
        RaftKvConfig {
            node_id: None,
            members: Vec::new(),
            dir: PathBuf::from("raft"),
            heartbeat_interval: Duration::from_millis(250),
            election_timeout_min: Duration::from_millis(1500),
            election_timeout_max: Duration::from_millis(3000),
            snapshot_after_entries: 500,
            cas_timeout: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl RaftKvConfig {
    /// Checks the member list and timeouts.
    pub fn validate(&self) -> Result<()> {
        if self.members.is_empty() {
            return Err(Error::Config(
                "kvstore.raft.members is empty: list the voting members (id and address)"
                    .to_string(),
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for m in &self.members {
            if m.id == 0 || !ids.insert(m.id) {
                return Err(Error::Config(format!(
                    "kvstore.raft.members: id {} is zero or listed twice",
                    m.id
                )));
            }
        }
        if let Some(id) = self.node_id {
            if !ids.contains(&id) {
                return Err(Error::Config(format!(
                    "kvstore.raft.node_id {id} is not one of kvstore.raft.members"
                )));
            }
        }
        if self.election_timeout_min <= self.heartbeat_interval
            || self.election_timeout_max <= self.election_timeout_min
        {
            return Err(Error::Config(
                "kvstore.raft: need heartbeat_interval < election_timeout_min < election_timeout_max"
                    .to_string(),
            ));
        }
        Ok(())
    }
}

/// How an instance joins, heartbeats and leaves (`ingester.lifecycler`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecyclerConfig {
    /// The ring this instance registers in.
    pub ring: RingConfig,
    /// Tokens taken on join.
    pub num_tokens: usize,
    /// How often the instance heartbeats into the membership store.
    #[serde(with = "duration")]
    pub heartbeat_period: Duration,
    /// Wait this long in JOINING before taking tokens and going ACTIVE.
    #[serde(with = "duration")]
    pub join_after: Duration,
    /// Sleep this long after leaving the ring, so others notice before the process exits.
    #[serde(with = "duration")]
    pub final_sleep: Duration,
    /// File keeping this instance's tokens across restarts.
    pub tokens_file_path: Option<PathBuf>,
    /// Availability zone of this instance.
    pub availability_zone: Option<String>,
    /// Remove the instance from the ring on a clean shutdown.
    pub unregister_on_shutdown: bool,
}

impl Default for LifecyclerConfig {
    fn default() -> Self {
        LifecyclerConfig {
            ring: RingConfig::default(),
            num_tokens: DEFAULT_NUM_TOKENS,
            heartbeat_period: Duration::from_secs(5),
            join_after: Duration::ZERO,
            final_sleep: Duration::ZERO,
            tokens_file_path: None,
            availability_zone: None,
            unregister_on_shutdown: true,
        }
    }
}

impl LifecyclerConfig {
    /// Checks values that would make the lifecycler unusable.
    pub fn validate(&self) -> Result<()> {
        if self.num_tokens == 0 {
            return Err(Error::Config("num_tokens must be at least 1".to_string()));
        }
        if self.heartbeat_period.is_zero() {
            return Err(Error::Config(
                "heartbeat_period must be positive".to_string(),
            ));
        }
        self.ring.validate()
    }
}

/// Serde for Loki-style durations (`1h30m`, `5s`, `250ms`); plain numbers are seconds.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Parses `1h30m`, `5s`, `250ms`, `0`.
    pub fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        if let Ok(secs) = s.parse::<f64>() {
            return Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"));
        }
        let mut total = Duration::ZERO;
        let mut rest = s;
        if rest.is_empty() {
            return Err("empty duration".to_string());
        }
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| format!("duration {s:?} lacks a unit (ms, s, m, h, d)"))?;
            let (num, tail) = rest.split_at(num_len);
            let unit_len = tail
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_len);
            let n: f64 = num
                .parse()
                .map_err(|_| format!("bad number in duration {s:?}"))?;
            let secs = match unit {
                "ns" => 1e-9,
                "us" | "µs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                "d" => 86400.0,
                "w" => 604_800.0,
                _ => return Err(format!("unknown unit {unit:?} in duration {s:?}")),
            };
            total += Duration::try_from_secs_f64(n * secs).map_err(|e| format!("{s:?}: {e}"))?;
            rest = tail;
        }
        Ok(total)
    }

    /// Formats like Go's `time.Duration` for whole milliseconds (`1m30s`, `250ms`).
    pub fn format(d: Duration) -> String {
        let ms = d.as_millis();
        if ms == 0 {
            return "0s".to_string();
        }
        if !ms.is_multiple_of(1000) {
            return format!("{ms}ms");
        }
        let mut secs = ms / 1000;
        let mut out = String::new();
        for (unit, len) in [("h", 3600u128), ("m", 60)] {
            if secs >= len {
                out.push_str(&format!("{}{unit}", secs / len));
                secs %= len;
            }
        }
        if secs > 0 || out.is_empty() {
            out.push_str(&format!("{secs}s"));
        }
        out
    }

    /// Serde serialize.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    /// Serde deserialize from a string or a number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Duration::try_from_secs_f64(n).map_err(serde::de::Error::custom),
            Raw::Str(s) => parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn durations_parse_like_loki() {
        for (s, ms) in [
            ("5s", 5000),
            ("1m", 60_000),
            ("1h30m", 5_400_000),
            ("250ms", 250),
            ("1m0s", 60_000),
            ("0", 0),
            ("1.5s", 1500),
        ] {
            assert_eq!(
                duration::parse(s).unwrap(),
                Duration::from_millis(ms),
                "{s}"
            );
        }
        assert!(duration::parse("5").is_ok());
        assert!(duration::parse("5x").is_err());
        assert!(duration::parse("").is_err());
        assert_eq!(duration::format(Duration::from_secs(90)), "1m30s");
        assert_eq!(duration::format(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn lifecycler_yaml_uses_loki_names() {
        let yaml = r#"
ring:
  kvstore:
    store: raft
    raft:
      node_id: 2
      dir: /data/raft
      members:
        - {id: 1, address: "ingester-0:3100"}
        - {id: 2, address: "ingester-1:3100"}
        - {id: 3, address: "ingester-2:3100"}
  replication_factor: 3
  heartbeat_timeout: 1m
num_tokens: 128
heartbeat_period: 5s
tokens_file_path: /data/tokens
"#;
        let cfg: LifecyclerConfig = serde_yaml::from_str(yaml).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.ring.kvstore.store, KvStoreKind::Raft);
        assert_eq!(cfg.ring.kvstore.raft.members.len(), 3);
        assert_eq!(cfg.ring.heartbeat_timeout, Duration::from_secs(60));
        assert_eq!(cfg.ring.key("ring"), "collectors/ring");
        let bad = "num_tokens: 1\nbogus: 2\n";
        let err = serde_yaml::from_str::<LifecyclerConfig>(bad).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn raft_config_is_validated() {
        let mut cfg = RaftKvConfig::default();
        assert!(cfg.validate().is_err());
        cfg.members = vec![RaftPeer {
            id: 1,
            address: "a:1".into(),
        }];
        cfg.validate().unwrap();
        cfg.node_id = Some(9);
        assert!(cfg.validate().is_err());
    }
}

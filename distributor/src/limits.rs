//! Per-tenant limits the push path enforces, with Loki's `limits_config` key
//! names and defaults, and the provider trait the distributor reads them
//! through (a fixed [`Limits`] for everyone, or per-tenant overrides).
//!
//! Sizes accept Loki's `flagext.ByteSize` forms (`262144`, `"256KB"`,
//! `"64KiB"`; `KB` = 1000 bytes, `KiB` = 1024, as Go's `humanize`), durations
//! Prometheus' forms (`"168h"`, `"1w"`, `"10m"`, `"1h30m"`, `"0"`).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Loki's default `discover_service_name` list.
pub const DEFAULT_DISCOVER_SERVICE_NAME: &[&str] = &[
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// The push-path part of Loki's `limits_config`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Per-tenant ingestion rate in MiB/s of line + structured metadata
    /// bytes (Loki's "local" strategy: enforced by each distributor alone).
    pub ingestion_rate_mb: f64,
    /// Bucket size in MiB: the largest single push and the burst allowed.
    pub ingestion_burst_size_mb: f64,
    /// `local`: each distributor enforces `ingestion_rate_mb` on its own;
    /// `global` (Loki's default): the rate is shared by the healthy
    /// distributors. Until distributors form a ring, each one counts as the
    /// only one, so both behave as `local`.
    pub ingestion_rate_strategy: RateStrategy,
    /// Longest accepted label name, in bytes.
    pub max_label_name_length: usize,
    /// Longest accepted label value, in bytes.
    pub max_label_value_length: usize,
    /// Most label names per stream (`service_name` is not counted).
    pub max_label_names_per_series: usize,
    /// Refuse entries older than `reject_old_samples_max_age`.
    pub reject_old_samples: bool,
    /// Oldest accepted entry age when `reject_old_samples` is on.
    #[serde(deserialize_with = "de_duration")]
    pub reject_old_samples_max_age: Duration,
    /// How far in the future an entry may be.
    #[serde(deserialize_with = "de_duration")]
    pub creation_grace_period: Duration,
    /// Longest accepted line in bytes; 0 = unlimited.
    #[serde(deserialize_with = "de_bytes")]
    pub max_line_size: usize,
    /// Cut over-long lines to `max_line_size` instead of refusing them.
    pub max_line_size_truncate: bool,
    /// Accept structured metadata at all.
    pub allow_structured_metadata: bool,
    /// Largest structured metadata per entry (sum of name and value
    /// bytes); 0 = unlimited.
    #[serde(deserialize_with = "de_bytes")]
    pub max_structured_metadata_size: usize,
    /// Most structured metadata pairs per entry; 0 = unlimited.
    pub max_structured_metadata_entries_count: usize,
    /// Give entries of a stream that share a timestamp but differ in line
    /// increasing timestamps (+1ns each), so none is deduplicated away.
    pub increment_duplicate_timestamp: bool,
    /// A stream without a `service_name` label gets one, from the first of
    /// these labels it has, else `unknown_service`; empty = off.
    pub discover_service_name: Vec<String>,
    /// Give every entry a `detected_level` structured metadata pair (from
    /// a level label or metadata field, the OTLP severity, or the line);
    /// needs `allow_structured_metadata`.
    pub discover_log_levels: bool,
    /// Names of the label, metadata or line field holding a level, in
    /// precedence order; empty = Loki's default list.
    pub log_level_fields: Vec<String>,
    /// How deep nested JSON objects are searched for a level field (the
    /// top object is depth 0); 0 or less = no limit.
    pub log_level_from_json_max_depth: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ingestion_rate_mb: 4.0,
            ingestion_burst_size_mb: 6.0,
            ingestion_rate_strategy: RateStrategy::Global,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_label_names_per_series: 15,
            reject_old_samples: true,
            reject_old_samples_max_age: Duration::from_secs(168 * 3600),
            creation_grace_period: Duration::from_secs(600),
            max_line_size: 256_000,
            max_line_size_truncate: false,
            allow_structured_metadata: true,
            max_structured_metadata_size: 64_000,
            max_structured_metadata_entries_count: 128,
            increment_duplicate_timestamp: false,
            discover_service_name: DEFAULT_DISCOVER_SERVICE_NAME
                .iter()
                .map(|s| s.to_string())
                .collect(),
            discover_log_levels: true,
            log_level_fields: crate::discover::DEFAULT_LOG_LEVEL_FIELDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            log_level_from_json_max_depth: 2,
        }
    }
}

impl Limits {
    /// Ingestion rate in bytes per second.
    pub fn ingestion_rate_bytes(&self) -> f64 {
        self.ingestion_rate_mb * BYTES_IN_MB
    }

    /// Burst size in bytes.
    pub fn ingestion_burst_bytes(&self) -> f64 {
        self.ingestion_burst_size_mb * BYTES_IN_MB
    }
}

const BYTES_IN_MB: f64 = 1024.0 * 1024.0;

/// Loki's `ingestion_rate_strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateStrategy {
    Local,
    Global,
}

/// Where the distributor reads a tenant's limits from. Implemented by
/// [`Limits`] itself (same limits for every tenant); a runtime-overrides
/// provider can return per-tenant values.
pub trait TenantLimits: Send + Sync {
    fn limits(&self, tenant: &str) -> Arc<Limits>;
}

/// The same limits for every tenant.
#[derive(Clone, Debug)]
pub struct StaticLimits(pub Arc<Limits>);

impl TenantLimits for StaticLimits {
    fn limits(&self, _tenant: &str) -> Arc<Limits> {
        self.0.clone()
    }
}

/// A YAML scalar that may be written as a string or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Str(String),
    Int(u64),
    Float(f64),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::Str(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
        }
    }
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = Scalar::deserialize(d)?.into_string();
    parse_duration(&s).map_err(serde::de::Error::custom)
}

fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let s = Scalar::deserialize(d)?.into_string();
    let n = parse_byte_size(&s).map_err(serde::de::Error::custom)?;
    usize::try_from(n)
        .map_err(|_| serde::de::Error::custom(format!("size {s:?} does not fit this platform")))
}

/// Parses a Prometheus duration: `[Ny][Nw][Nd][Nh][Nm][Ns][Nms]` in that
/// order, at least one part, or `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("not a valid duration string: {s:?}");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration string".to_string());
    }
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = s;
    let mut next_unit = 0;
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let pos = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(bad)?;
        let (_, ms) = UNITS[next_unit + pos];
        next_unit += pos + 1;
        total_ms = n
            .checked_mul(ms)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Parses a size the way Loki's `flagext.ByteSize` does (Go `humanize`):
/// a number, optional space, optional unit (`B`, `K`/`KB` = 1000,
/// `Ki`/`KiB` = 1024, up to exa), case-insensitive.
pub fn parse_byte_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let num_end = t
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.' || *b == b',')
        .count();
    let number: String = t[..num_end].chars().filter(|c| *c != ',').collect();
    let value: f64 = number.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let unit = t[num_end..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024f64.powi(2),
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return Err(format!("unhandled size name: {unit}")),
    };
    let bytes = value * mult;
    if !(0.0..18_446_744_073_709_551_615.0).contains(&bytes) {
        return Err(format!("too large: {s}"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn defaults_match_loki() {
        let l: Limits = serde_yaml::from_str("{}").unwrap();
        assert_eq!(l, Limits::default());
        assert_eq!(l.max_line_size, 256_000);
        assert_eq!(l.reject_old_samples_max_age, Duration::from_secs(604_800));
        assert_eq!(l.discover_service_name.len(), 13);
        assert_eq!(l.ingestion_rate_bytes(), 4.0 * 1048576.0);
    }

    #[test]
    fn yaml_forms() {
        let l: Limits = serde_yaml::from_str(
            "ingestion_rate_strategy: local\nmax_line_size: 256KiB\nmax_structured_metadata_size: 1000\nreject_old_samples_max_age: 1w\ncreation_grace_period: 1h30m\nmax_line_size_truncate: true\n",
        )
        .unwrap();
        assert_eq!(l.max_line_size, 262_144);
        assert_eq!(l.max_structured_metadata_size, 1000);
        assert_eq!(l.reject_old_samples_max_age, Duration::from_secs(604_800));
        assert_eq!(l.creation_grace_period, Duration::from_secs(5400));
        assert!(l.max_line_size_truncate);
        assert_eq!(l.ingestion_rate_strategy, RateStrategy::Local);
        assert!(serde_yaml::from_str::<Limits>("ingestion_rate_strategy: shared").is_err());
    }

    #[test]
    fn unknown_key_is_an_error() {
        let err = serde_yaml::from_str::<Limits>("max_line_sizes: 1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_line_sizes"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1d2h").unwrap(), Duration::from_secs(93_600));
        assert_eq!(
            parse_duration("1s500ms").unwrap(),
            Duration::from_millis(1500)
        );
        for bad in ["", "1", "h", "2m1h", "1x", "-1h", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("256KB").unwrap(), 256_000);
        assert_eq!(parse_byte_size("64kb").unwrap(), 64_000);
        assert_eq!(parse_byte_size("1 MiB").unwrap(), 1_048_576);
        assert_eq!(parse_byte_size("1,000").unwrap(), 1000);
        assert_eq!(parse_byte_size("1.5K").unwrap(), 1500);
        assert!(parse_byte_size("12 parsecs").is_err());
        assert!(parse_byte_size("KB").is_err());
    }
}

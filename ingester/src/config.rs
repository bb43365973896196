//! Ingester configuration (`ingester:` in the YAML file).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings for chunks, flushing and the WAL, with Loki's defaults.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterConfig {
    /// Block compression: `zstd` (default), `snappy`, `lz4` or `none`.
    pub chunk_encoding: String,
    /// Uncompressed size at which a head block is cut and compressed.
    pub chunk_block_size: usize,
    /// Compressed size at which a chunk is closed and queued for flushing.
    pub chunk_target_size: usize,
    /// A chunk is flushed once its first entry is this old.
    #[serde(with = "duration")]
    pub max_chunk_age: Duration,
    /// A chunk that received nothing for this long is flushed.
    #[serde(with = "duration")]
    pub chunk_idle_period: Duration,
    /// How often the flush loop looks for chunks to flush.
    #[serde(with = "duration")]
    pub flush_check_period: Duration,
    /// Flush all chunks on SIGTERM before exiting.
    pub flush_on_shutdown: bool,
    /// Write-ahead log.
    pub wal: WalSettings,
    /// How this ingester joins the ring (`-target=ingester`).
    pub lifecycler: sluice_ring::LifecyclerConfig,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        IngesterConfig {
            chunk_encoding: "zstd".into(),
            chunk_block_size: 256 * 1024,
            chunk_target_size: 1536 * 1024,
            max_chunk_age: Duration::from_secs(2 * 3600),
            chunk_idle_period: Duration::from_secs(30 * 60),
            flush_check_period: Duration::from_secs(30),
            flush_on_shutdown: true,
            wal: WalSettings::default(),
            lifecycler: sluice_ring::LifecyclerConfig::default(),
        }
    }
}

/// `ingester.wal`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalSettings {
    pub enabled: bool,
    /// Directory of WAL segments and checkpoints; empty means
    /// `<common.path_prefix>/wal`.
    pub dir: PathBuf,
    /// How often the in-memory state is checkpointed so replay stays short.
    #[serde(with = "duration")]
    pub checkpoint_duration: Duration,
    /// `always` (fsync before acknowledging a push), `interval` or `never`.
    pub fsync: String,
    /// With `fsync: interval`, the longest time between fsyncs.
    #[serde(with = "duration")]
    pub fsync_interval: Duration,
    /// Segments rotate past this size in bytes.
    pub segment_size: u64,
}

impl Default for WalSettings {
    fn default() -> Self {
        WalSettings {
            enabled: true,
            dir: PathBuf::new(),
            checkpoint_duration: Duration::from_secs(5 * 60),
            fsync: "always".into(),
            fsync_interval: Duration::from_millis(100),
            segment_size: 128 << 20,
        }
    }
}

/// Serde for Go-style durations (`1h30m`, `500ms`, `10s`, `0`).
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Secs(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) => parse(&t).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid duration {t:?} (use e.g. 30s, 5m, 1h30m)"
                ))
            }),
        }
    }

    /// Parses a Go duration string.
    pub fn parse(s: &str) -> Option<Duration> {
        let s = s.trim();
        if s == "0" {
            return Some(Duration::ZERO);
        }
        let mut total = 0f64;
        let mut rest = s;
        if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
            if num_end == 0 {
                return None;
            }
            let n: f64 = rest[..num_end].parse().ok()?;
            rest = &rest[num_end..];
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let mult = match &rest[..unit_end] {
                "ns" => 1e-9,
                "us" | "µs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                "d" => 86400.0,
                "w" => 7.0 * 86400.0,
                "y" => 365.0 * 86400.0,
                _ => return None,
            };
            total += n * mult;
            rest = &rest[unit_end..];
        }
        Some(Duration::from_secs_f64(total))
    }

    /// Formats like Go's `time.Duration.String` for whole units.
    pub fn format(d: Duration) -> String {
        let ms = d.as_millis();
        if ms == 0 {
            return "0s".into();
        }
        if !ms.is_multiple_of(1000) {
            return format!("{ms}ms");
        }
        let mut s = (ms / 1000) as u64;
        let mut out = String::new();
        if s >= 3600 {
            out.push_str(&format!("{}h", s / 3600));
            s %= 3600;
        }
        if s >= 60 {
            out.push_str(&format!("{}m", s / 60));
            s %= 60;
        }
        if s > 0 {
            out.push_str(&format!("{s}s"));
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_and_formats() {
            assert_eq!(parse("1h30m"), Some(Duration::from_secs(5400)));
            assert_eq!(parse("500ms"), Some(Duration::from_millis(500)));
            assert_eq!(parse("x"), None);
            assert_eq!(parse("5"), None);
            assert_eq!(format(Duration::from_secs(5400)), "1h30m");
            assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        }
    }
}

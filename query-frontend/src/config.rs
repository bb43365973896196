//! The frontend's configuration: Loki's `frontend:` and `query_range:`
//! blocks (same key names and defaults) plus the sharding factor.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_logql::engine::Limits;

/// Everything the frontend needs; `frontend` and `query_range` are Loki's
/// YAML blocks of the same names.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendConfig {
    pub frontend: QueueConfig,
    pub query_range: QueryRangeConfig,
    /// The queriers' engine limits (`limits_config`): queries that trip a
    /// whole-query limit go to a querier unsplit so it answers with its own
    /// error, and merged answers are held to `max_query_series`.
    #[serde(skip)]
    pub limits: Limits,
}

/// Loki's `frontend_worker:` block: how a querier process takes work from
/// query-frontends.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// The frontend's gRPC address (`host:port`, e.g. `frontend:9095`);
    /// the querier keeps `parallelism` workers connected to every address
    /// the host resolves to. Unset, the querier serves only its own HTTP
    /// API.
    pub frontend_address: Option<String>,
    /// Sub-queries this querier runs at once per frontend address (worker
    /// streams).
    pub parallelism: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            frontend_address: None,
            parallelism: 10,
        }
    }
}

/// Loki's `frontend:` block.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Sub-queries one tenant may have queued before its queries fail with
    /// 429 "too many outstanding requests".
    pub max_outstanding_per_tenant: usize,
    /// Where routes other than `query_range`/`query` are proxied (a
    /// querier's HTTP address, e.g. `http://querier:3100`).
    pub downstream_url: Option<String>,
    /// How often a connected querier worker with no work gets a keep-alive
    /// (a querier that went away is noticed by then).
    #[serde(with = "duration")]
    pub pull_timeout: Duration,
    /// How long a sub-query sent to a querier may take before the frontend
    /// gives up on that querier and retries elsewhere.
    #[serde(with = "duration")]
    pub querier_timeout: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_outstanding_per_tenant: 2048,
            downstream_url: None,
            pull_timeout: Duration::from_secs(10),
            querier_timeout: Duration::from_secs(300),
        }
    }
}

/// Loki's `query_range:` block.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryRangeConfig {
    /// Range queries are split at multiples of this interval (0 disables).
    #[serde(with = "duration")]
    pub split_queries_by_interval: Duration,
    /// Tries per sub-query when a querier fails (5xx).
    pub max_retries: usize,
    /// Whether shardable metric aggregations run as `shard_count` sharded
    /// sub-queries.
    pub parallelise_shardable_queries: bool,
    /// Shards per shardable sub-query (Loki takes it from the schema's
    /// `row_shards`, 16 by default).
    pub shard_count: u32,
    /// Sub-queries of one query in flight at once (Loki's
    /// `max_query_parallelism`).
    pub max_query_parallelism: usize,
    /// Whether metric split extents are cached (`results_cache`).
    pub cache_results: bool,
    pub results_cache: ResultsCacheConfig,
    /// Accepted for Loki compatibility; answers are always exactly the
    /// querier's, whose steps are `start + k*step`.
    pub align_queries_with_step: bool,
}

impl Default for QueryRangeConfig {
    fn default() -> Self {
        QueryRangeConfig {
            split_queries_by_interval: Duration::from_secs(30 * 60),
            max_retries: 5,
            parallelise_shardable_queries: true,
            shard_count: 16,
            max_query_parallelism: 32,
            cache_results: false,
            results_cache: ResultsCacheConfig::default(),
            align_queries_with_step: false,
        }
    }
}

/// `query_range.results_cache`: an in-memory LRU of metric split results.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResultsCacheConfig {
    /// Upper bound of the cache's estimated size.
    pub max_size_bytes: usize,
    /// Extents ending less than this long ago are not cached: their data
    /// may still change (Loki's `max_cache_freshness_per_query`).
    #[serde(with = "duration")]
    pub max_freshness: Duration,
    /// Loki's spelling of the bound, `cache: {embedded_cache: {max_size_mb:
    /// 100}}`; when present it overrides `max_size_bytes`.
    pub cache: Option<LokiCache>,
}

impl Default for ResultsCacheConfig {
    fn default() -> Self {
        ResultsCacheConfig {
            max_size_bytes: 100 << 20,
            max_freshness: Duration::from_secs(600),
            cache: None,
        }
    }
}

impl ResultsCacheConfig {
    /// The size bound in bytes.
    pub fn max_bytes(&self) -> usize {
        match &self.cache {
            Some(LokiCache {
                embedded_cache: Some(e),
            }) => e.max_size_mb.saturating_mul(1 << 20),
            _ => self.max_size_bytes,
        }
    }
}

/// `results_cache.cache` as Loki writes it (only the in-memory cache).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LokiCache {
    pub embedded_cache: Option<EmbeddedCache>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedCache {
    /// Accepted for compatibility; `query_range.cache_results` turns the
    /// cache on.
    pub enabled: bool,
    pub max_size_mb: usize,
    /// Accepted for compatibility; extents never go stale (only past
    /// `max_freshness` ones are cached), so eviction is by size only.
    #[serde(with = "duration")]
    pub ttl: Duration,
}

impl Default for EmbeddedCache {
    fn default() -> Self {
        EmbeddedCache {
            enabled: false,
            max_size_mb: 100,
            ttl: Duration::from_secs(3600),
        }
    }
}

/// Durations as Prometheus strings (`30m`, `1h30m`, `0s`).
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", d.as_millis()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        if s == "0" {
            return Ok(Duration::ZERO);
        }
        sluice_logql::parser::parse_duration(&s)
            .filter(|ns| *ns >= 0)
            .map(|ns| Duration::from_nanos(ns as u64))
            .ok_or_else(|| serde::de::Error::custom(format!("invalid duration {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn loki_keys_and_defaults() {
        let c: FrontendConfig = serde_json::from_str(
            r#"{"frontend":{"max_outstanding_per_tenant":10},
                "query_range":{"split_queries_by_interval":"1h","max_retries":2,
                               "results_cache":{"max_size_bytes":1000}}}"#,
        )
        .unwrap();
        assert_eq!(c.frontend.max_outstanding_per_tenant, 10);
        assert_eq!(
            c.query_range.split_queries_by_interval,
            Duration::from_secs(3600)
        );
        assert_eq!(c.query_range.max_retries, 2);
        assert_eq!(c.query_range.shard_count, 16);
        assert_eq!(c.query_range.results_cache.max_size_bytes, 1000);
        let d = FrontendConfig::default();
        assert_eq!(d.frontend.max_outstanding_per_tenant, 2048);
        assert_eq!(
            d.query_range.split_queries_by_interval,
            Duration::from_secs(1800)
        );
        assert!(serde_json::from_str::<FrontendConfig>(r#"{"nope":1}"#).is_err());
        let loki: QueryRangeConfig = serde_json::from_str(
            r#"{"cache_results":true,"align_queries_with_step":true,
                "results_cache":{"cache":{"embedded_cache":{"enabled":true,"max_size_mb":5,"ttl":"1h"}}}}"#,
        )
        .unwrap();
        assert_eq!(loki.results_cache.max_bytes(), 5 << 20);
        assert_eq!(d.query_range.results_cache.max_bytes(), 100 << 20);
    }
}

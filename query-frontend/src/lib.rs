//! The query-frontend: sits in front of queriers and answers LogQL queries
//! exactly as one querier would, only faster.
//!
//! - `split`: range queries are cut at multiples of
//!   `query_range.split_queries_by_interval` (metric queries on step
//!   boundaries, log queries by time, merged in direction up to the limit).
//! - `shard`: shardable metric aggregations run once per shard of the
//!   tenant's streams (by fingerprint) and are combined (`merge`).
//! - `cache`: metric split extents that can no longer change are kept in a
//!   size-bounded LRU.
//! - `queue`: sub-queries wait in per-tenant queues (bounded by
//!   `frontend.max_outstanding_per_tenant`, 429 past it) that workers drain
//!   round-robin; in-process workers wrap a `Querier` (`LocalHandler`),
//!   remote queriers take work over a gRPC stream to the frontend
//!   (`remote`, `wire`).
//! - `handler`: the `QueryHandler` trait every hop implements, and retries.
//! - `http`: `query_range`/`query` through the frontend, other routes
//!   proxied to a downstream querier.

mod cache;
pub mod config;
mod error;
mod frontend;
mod handler;
pub mod http;
mod merge;
mod metrics;
mod queue;
pub mod remote;
pub mod shard;
mod split;
pub mod wire;

pub use cache::{CacheKey, ResultsCache};
pub use config::{FrontendConfig, QueryRangeConfig, QueueConfig, ResultsCacheConfig, WorkerConfig};
pub use error::{Error, Result};
pub use frontend::Frontend;
pub use handler::{LocalHandler, QueryHandler, RetryHandler, SubQuery};
pub use queue::{spawn_workers, Job, QueueHandler, RequestQueue};
pub use split::{split_logs, split_metric};

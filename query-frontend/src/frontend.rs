//! The frontend proper: turns one query into split, sharded sub-queries,
//! runs them through a `QueryHandler` (with retries, at most
//! `max_query_parallelism` at once), consults the results cache, and
//! merges the answers into exactly what the querier would have answered
//! for the whole query. The read statistics of every sub-query run are
//! summed (Loki's `stats.Result.Merge`); an extent served from the results
//! cache read nothing for this query and adds nothing.

use std::sync::Arc;

use futures::future::try_join_all;
use futures::stream::{self, StreamExt, TryStreamExt};
use sluice_logql::ast::{Expr, SampleExpr};
use sluice_logql::engine::{QueryParams, QueryValue};
use sluice_logql::source::Direction;
use sluice_logql::stats::ReadStats;
use sluice_querier::{Answer, Shard};
use tokio::sync::Semaphore;

use crate::cache::{CacheKey, ResultsCache};
use crate::config::FrontendConfig;
use crate::error::{Error, Result};
use crate::handler::{QueryHandler, RetryHandler, SubQuery};
use crate::merge::{self, StreamsMerger};
use crate::queue::{QueueHandler, RequestQueue};
use crate::{shard, split};

/// The engine's own cap on points per series, whatever the limits say.
const MAX_POINTS: i64 = 10_000_000;

pub struct Frontend {
    cfg: FrontendConfig,
    handler: Arc<dyn QueryHandler>,
    cache: Option<ResultsCache>,
}

/// One query's context: who asks, how many sub-queries may run at once
/// and what they read so far.
struct Ctx<'a> {
    tenant: &'a str,
    query: &'a str,
    permits: Semaphore,
    stats: ReadStats,
}

impl Frontend {
    /// A frontend sending its sub-queries to `handler` (typically a
    /// `QueueHandler`), retried per `query_range.max_retries`.
    pub fn new(cfg: FrontendConfig, handler: Arc<dyn QueryHandler>) -> Self {
        let handler = Arc::new(RetryHandler::new(handler, cfg.query_range.max_retries));
        let cache = cfg
            .query_range
            .cache_results
            .then(|| ResultsCache::new(cfg.query_range.results_cache.max_bytes()));
        Frontend {
            cfg,
            handler,
            cache,
        }
    }

    /// A frontend over its own per-tenant queue: sub-queries wait there for
    /// in-process workers (`spawn_workers`) or remote queriers connected
    /// to a `remote::PullServer` over the returned queue.
    pub fn queued(cfg: FrontendConfig) -> (Arc<Frontend>, Arc<RequestQueue>) {
        let queue = RequestQueue::new(cfg.frontend.max_outstanding_per_tenant);
        let fe = Frontend::new(cfg, Arc::new(QueueHandler::new(queue.clone())));
        (Arc::new(fe), queue)
    }

    pub fn config(&self) -> &FrontendConfig {
        &self.cfg
    }

    pub fn cache(&self) -> Option<&ResultsCache> {
        self.cache.as_ref()
    }

    /// Answers `query` as a querier would, splitting and sharding it.
    pub async fn query(
        &self,
        tenant: &str,
        query: &str,
        params: QueryParams,
    ) -> Result<QueryValue> {
        Ok(self.query_stats(tenant, query, params).await?.value)
    }

    /// [`query`](Self::query) with the read statistics of all its
    /// sub-queries summed.
    pub async fn query_stats(
        &self,
        tenant: &str,
        query: &str,
        params: QueryParams,
    ) -> Result<Answer> {
        crate::metrics::QUERIES.inc();
        let expr = sluice_logql::parser::parse_expr(query)?;
        let cx = Ctx {
            tenant,
            query,
            permits: Semaphore::new(self.cfg.query_range.max_query_parallelism.max(1)),
            stats: ReadStats::default(),
        };
        let value = self.answer(&cx, &expr, params).await?;
        Ok(Answer {
            value,
            stats: cx.stats.snapshot(),
        })
    }

    async fn answer(&self, cx: &Ctx<'_>, expr: &Expr, params: QueryParams) -> Result<QueryValue> {
        if self.whole(expr, &params) {
            return self.run(cx, cx.query.to_string(), params, None).await;
        }
        let v = match expr {
            Expr::Log(_) => return self.logs(cx, params).await,
            Expr::Sample(s) if params.is_instant() => self.sharded(cx, s, params).await?,
            Expr::Sample(s) => self.metric_range(cx, s, params).await?,
        };
        let max = self.cfg.limits.max_query_series;
        if max != 0 && merge::series_count(&v) > max {
            return Err(sluice_logql::Error::Limit(format!(
                "maximum of series ({max}) reached for a single query"
            ))
            .into());
        }
        Ok(v)
    }

    fn split_ns(&self) -> i64 {
        self.cfg.query_range.split_queries_by_interval.as_nanos() as i64
    }

    /// Whether a query must go to a querier unsplit: it trips a limit on
    /// the whole query (so the querier answers with its own error), or is
    /// a log query that cannot be split.
    fn whole(&self, expr: &Expr, p: &QueryParams) -> bool {
        let l = &self.cfg.limits;
        if p.end < p.start || (l.max_query_length > 0 && p.end - p.start > l.max_query_length) {
            return true;
        }
        match expr {
            Expr::Log(_) => {
                let max = l.max_entries_limit_per_query;
                p.is_instant()
                    || self.split_ns() <= 0
                    || p.limit == 0
                    || (max != 0 && p.limit > max)
            }
            Expr::Sample(_) if p.is_instant() => false,
            Expr::Sample(_) => {
                let max = match l.max_points_per_series {
                    n if n > 0 => n.min(MAX_POINTS),
                    _ => MAX_POINTS,
                };
                p.step <= 0 || (p.end - p.start) / p.step > max
            }
        }
    }

    async fn run(
        &self,
        cx: &Ctx<'_>,
        query: String,
        params: QueryParams,
        shard: Option<Shard>,
    ) -> Result<QueryValue> {
        let _permit = cx.permits.acquire().await.map_err(|_| Error::Stopping)?;
        crate::metrics::SUBQUERIES.inc();
        let a = self
            .handler
            .run(SubQuery {
                tenant: cx.tenant.to_string(),
                query,
                params,
                shard,
            })
            .await?;
        cx.stats.add(&a.stats);
        Ok(a.value)
    }

    async fn metric_range(
        &self,
        cx: &Ctx<'_>,
        s: &SampleExpr,
        p: QueryParams,
    ) -> Result<QueryValue> {
        let parts = split::split_metric(&p, self.split_ns());
        let par = self.cfg.query_range.max_query_parallelism.max(1);
        // unordered, so the first failure ends the query at once
        let mut answers: Vec<(usize, QueryValue)> = stream::iter(parts.into_iter().enumerate())
            .map(|(i, part)| async move { self.extent(cx, s, part).await.map(|v| (i, v)) })
            .buffer_unordered(par)
            .try_collect()
            .await?;
        answers.sort_by_key(|(i, _)| *i);
        merge::concat_splits(answers.into_iter().map(|(_, v)| v).collect())
    }

    /// One split extent, from the results cache when it holds it.
    async fn extent(&self, cx: &Ctx<'_>, s: &SampleExpr, p: QueryParams) -> Result<QueryValue> {
        let key = self.cache.as_ref().and_then(|_| {
            let fresh = self.cfg.query_range.results_cache.max_freshness.as_nanos() as i64;
            (p.end <= now_ns() - fresh).then(|| CacheKey {
                tenant: cx.tenant.to_string(),
                query: cx.query.to_string(),
                step: p.step,
                start: p.start,
                end: p.end,
            })
        });
        if let (Some(cache), Some(key)) = (&self.cache, &key) {
            if let Some(v) = cache.get(key) {
                crate::metrics::CACHE_HITS.inc();
                return Ok((*v).clone());
            }
            crate::metrics::CACHE_MISSES.inc();
        }
        let v = self.sharded(cx, s, p).await?;
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            cache.put(key, v.clone());
        }
        Ok(v)
    }

    /// Runs a metric (sub-)query sharded when its plan allows.
    async fn sharded(&self, cx: &Ctx<'_>, s: &SampleExpr, p: QueryParams) -> Result<QueryValue> {
        let n = self.cfg.query_range.shard_count;
        let plan = if self.cfg.query_range.parallelise_shardable_queries && n > 1 {
            shard::plan(s)
        } else {
            None
        };
        let Some(plan) = plan else {
            return self.run(cx, cx.query.to_string(), p, None).await;
        };
        crate::metrics::SHARDED.inc();
        let shards = (0..n).map(|index| {
            let plan = &plan;
            async move {
                let shard = Some(Shard { index, of: n });
                try_join_all(
                    plan.legs
                        .iter()
                        .map(|leg| self.run(cx, leg.clone(), p, shard)),
                )
                .await
            }
        });
        let per_shard = try_join_all(shards).await?;
        merge::combine_shards(per_shard, plan.combine)
    }

    /// A log query split by time: splits run a batch at a time in the
    /// query's direction until `limit` entries are in hand. When a split
    /// holds more entries than still fit, it is asked again with the
    /// remaining limit, so the querier picks exactly the entries (and
    /// timestamp tie-breaks) the whole query would have.
    async fn logs(&self, cx: &Ctx<'_>, p: QueryParams) -> Result<QueryValue> {
        let mut parts = split::split_logs(&p, self.split_ns());
        if p.direction == Direction::Backward {
            parts.reverse();
        }
        let limit = p.limit as usize;
        let par = self.cfg.query_range.max_query_parallelism.max(1);
        let mut merged = StreamsMerger::default();
        for batch in parts.chunks(par) {
            let answers = try_join_all(
                batch
                    .iter()
                    .map(|part| self.run(cx, cx.query.to_string(), *part, None)),
            )
            .await?;
            for (part, mut v) in batch.iter().zip(answers) {
                let room = limit.saturating_sub(merged.entries());
                if merge::entry_count(&v) > room {
                    let fewer = QueryParams {
                        limit: room as u32,
                        ..*part
                    };
                    v = self.run(cx, cx.query.to_string(), fewer, None).await?;
                }
                merged.push(v)?;
                if merged.entries() >= limit {
                    return Ok(merged.finish());
                }
            }
        }
        Ok(merged.finish())
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

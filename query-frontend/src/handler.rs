//! Where sub-queries run: the `QueryHandler` trait, its in-process
//! implementation over a `Querier`, and a retrying wrapper.

use std::sync::Arc;

use sluice_logql::engine::QueryParams;
use sluice_querier::{Answer, Querier, Shard};

use crate::error::Result;

/// One unit of work: a query over a time range, optionally restricted to
/// one shard of the tenant's streams.
#[derive(Clone, Debug, PartialEq)]
pub struct SubQuery {
    pub tenant: String,
    pub query: String,
    pub params: QueryParams,
    pub shard: Option<Shard>,
}

/// Runs sub-queries. In-process (`LocalHandler`), through the frontend's
/// queue (`QueueHandler`) or on a remote querier; callers cannot tell.
/// An answer carries the sub-query's value and what the querier read.
#[async_trait::async_trait]
pub trait QueryHandler: Send + Sync {
    async fn run(&self, req: SubQuery) -> Result<Answer>;
}

/// Runs sub-queries on an in-process `Querier`.
#[derive(Clone)]
pub struct LocalHandler {
    querier: Querier,
}

impl LocalHandler {
    pub fn new(querier: Querier) -> Self {
        LocalHandler { querier }
    }
}

#[async_trait::async_trait]
impl QueryHandler for LocalHandler {
    async fn run(&self, req: SubQuery) -> Result<Answer> {
        Ok(self
            .querier
            .query_shard(&req.tenant, &req.query, req.params, req.shard)
            .await?)
    }
}

/// Retries sub-queries that fail with a querier error (5xx), up to
/// `max_tries` tries in all (Loki's `query_range.max_retries`).
pub struct RetryHandler {
    inner: Arc<dyn QueryHandler>,
    max_tries: usize,
}

impl RetryHandler {
    pub fn new(inner: Arc<dyn QueryHandler>, max_tries: usize) -> Self {
        RetryHandler {
            inner,
            max_tries: max_tries.max(1),
        }
    }
}

#[async_trait::async_trait]
impl QueryHandler for RetryHandler {
    async fn run(&self, req: SubQuery) -> Result<Answer> {
        let mut tries = 1;
        loop {
            match self.inner.run(req.clone()).await {
                Err(e) if e.is_retryable() && tries < self.max_tries => {
                    tracing::warn!(tenant = %req.tenant, tries, error = %e, "sub-query failed, retrying");
                    tries += 1;
                    crate::metrics::RETRIES.inc();
                }
                r => return r,
            }
        }
    }
}

//! [`ReplicatedRecentData`]: recent data from every ingester of the ring's
//! read set, replicas merged.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;

use sluice_logql::labels::{Labels, Matcher};
use sluice_proto::grpc::ClientConfig;
use sluice_proto::service::{ClientPool, IngesterRing};
use sluice_storage::chunk::ChunkData;

use super::client::GrpcRecentData;
use super::tail_merge::merge_tails;
use crate::error::{Error, Result};
use crate::querier::{RecentData, RecentSeries, RecentStreamStats, TailFeed};

/// A [`RecentData`] over all ingesters: each call goes to every instance
/// of `read_set()` concurrently and fails only when more than `max_errors`
/// of them fail.
pub struct ReplicatedRecentData {
    ring: Arc<dyn IngesterRing>,
    clients: Arc<ClientPool<dyn RecentData>>,
}

impl ReplicatedRecentData {
    pub fn new(ring: Arc<dyn IngesterRing>, clients: Arc<ClientPool<dyn RecentData>>) -> Self {
        ReplicatedRecentData { ring, clients }
    }

    /// Reads ingesters' `sluice.internal.IngesterQuerier` over gRPC.
    pub fn grpc(ring: Arc<dyn IngesterRing>, cfg: ClientConfig) -> Self {
        let clients = ClientPool::new(move |addr| {
            GrpcRecentData::connect(addr, &cfg).map(|c| Arc::new(c) as Arc<dyn RecentData>)
        });
        ReplicatedRecentData::new(ring, Arc::new(clients))
    }

    /// Runs `call` on every instance of the read set; the answers of those
    /// that succeeded, unless too many failed.
    async fn fan_out<'a, T, F, Fut>(&'a self, call: F) -> Result<Vec<T>>
    where
        F: Fn(Arc<dyn RecentData>) -> Fut,
        Fut: Future<Output = Result<T>> + 'a,
    {
        let set = self.ring.read_set()?;
        self.clients.prune(|| Some(set.addrs.clone()));
        let calls = set.addrs.iter().map(|addr| {
            let client = self.clients.get(addr);
            let call = client.map(&call);
            async move {
                match call {
                    Ok(fut) => fut.await,
                    Err(e) => Err(Error::Service(e)),
                }
            }
        });
        let mut ok = Vec::with_capacity(set.addrs.len());
        let mut errors = Vec::new();
        for r in futures::future::join_all(calls).await {
            match r {
                Ok(v) => ok.push(v),
                Err(e) => errors.push(e),
            }
        }
        if errors.len() > set.max_errors {
            tracing::debug!(
                failed = errors.len(),
                max_errors = set.max_errors,
                "too many ingesters failed a read"
            );
            // at least one error: max_errors >= 0
            if let Some(e) = errors.into_iter().next() {
                return Err(e);
            }
        }
        Ok(ok)
    }
}

/// One series per label set; a chunk equal to one already kept (same time
/// bounds and entry count: the same data held by another replica) is
/// dropped. Entries repeated across replicas' differing chunks are left to
/// the query source's merge.
fn merge_replicas(answers: Vec<Vec<RecentSeries>>) -> Vec<RecentSeries> {
    let mut by_labels: HashMap<Labels, Vec<ChunkData>> = HashMap::new();
    for s in answers.into_iter().flatten() {
        let have = by_labels.entry(s.labels).or_default();
        for c in s.chunks {
            let dup = have
                .iter()
                .any(|h| h.bounds() == c.bounds() && h.entry_count() == c.entry_count());
            if !dup {
                have.push(c);
            }
        }
    }
    by_labels
        .into_iter()
        .map(|(labels, chunks)| RecentSeries { labels, chunks })
        .collect()
}

#[async_trait::async_trait]
impl RecentData for ReplicatedRecentData {
    async fn chunks(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<RecentSeries>> {
        let answers = self
            .fan_out(|c| async move { c.chunks(tenant, matchers, from, through).await })
            .await?;
        Ok(merge_replicas(answers))
    }

    async fn series(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<Labels>> {
        let answers = self
            .fan_out(|c| async move { c.series(tenant, matchers, from, through).await })
            .await?;
        let set: BTreeSet<Labels> = answers.into_iter().flatten().collect();
        Ok(set.into_iter().collect())
    }

    async fn label_names(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<String>> {
        let answers = self
            .fan_out(|c| async move { c.label_names(tenant, matchers, from, through).await })
            .await?;
        let set: BTreeSet<String> = answers.into_iter().flatten().collect();
        Ok(set.into_iter().collect())
    }

    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<String>> {
        let answers = self
            .fan_out(|c| async move { c.label_values(tenant, name, matchers, from, through).await })
            .await?;
        let set: BTreeSet<String> = answers.into_iter().flatten().collect();
        Ok(set.into_iter().collect())
    }

    /// Per-stream totals from every replica; a stream counted once, with
    /// the largest totals any replica has for it (the most complete copy).
    async fn stream_stats(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<RecentStreamStats>> {
        let answers = self
            .fan_out(|c| async move { c.stream_stats(tenant, matchers, from, through).await })
            .await?;
        let mut by_labels: HashMap<Labels, RecentStreamStats> = HashMap::new();
        for s in answers.into_iter().flatten() {
            match by_labels.get_mut(&s.labels) {
                Some(have) => {
                    have.chunks = have.chunks.max(s.chunks);
                    have.entries = have.entries.max(s.entries);
                    have.bytes = have.bytes.max(s.bytes);
                }
                None => {
                    by_labels.insert(s.labels.clone(), s);
                }
            }
        }
        Ok(by_labels.into_values().collect())
    }

    /// Tails every instance of the read set (tolerating `max_errors` that
    /// cannot be reached) and merges them, each entry delivered once.
    async fn tail(&self, tenant: &str, matchers: &[Matcher]) -> Result<TailFeed> {
        let feeds = self
            .fan_out(|c| async move { c.tail(tenant, matchers).await })
            .await?;
        Ok(merge_tails(feeds))
    }
}

//! Module wiring for `-target=all`: the in-process ingester behind the
//! service traits the distributor and querier use.

use std::sync::{Arc, OnceLock};

use sluice_ingester::Ingester;
use sluice_logql::labels::{Labels, Matcher};
use sluice_logql::source::Entry;
use sluice_proto::logproto::PushRequest;
use sluice_proto::service::{Code, Pusher, ServiceError};
use sluice_querier::tail::{PushedStream, TailHub};
use sluice_querier::{RecentData, RecentSeries};

/// The ingester, once its WAL has been replayed. Until then pushes get 503
/// and queries see no recent data. Acknowledged pushes are also handed to
/// the live-tail hub.
#[derive(Default)]
pub struct IngesterSlot {
    ingester: OnceLock<Arc<Ingester>>,
    tail: Arc<TailHub>,
}

impl IngesterSlot {
    pub fn set(&self, ing: Arc<Ingester>) {
        let _ = self.ingester.set(ing);
    }

    pub fn get(&self) -> Option<&Arc<Ingester>> {
        self.ingester.get()
    }

    /// The hub live-tail connections subscribe to.
    pub fn tail(&self) -> Arc<TailHub> {
        self.tail.clone()
    }

    fn ready(&self) -> Result<&Arc<Ingester>, ServiceError> {
        self.get().ok_or_else(|| {
            ServiceError::new(Code::Unavailable, "ingester not ready: replaying the WAL")
        })
    }
}

#[async_trait::async_trait]
impl Pusher for IngesterSlot {
    async fn push(&self, tenant: &str, req: PushRequest) -> Result<(), ServiceError> {
        let ing = self.ready()?;
        let tailed = self.tail.is_active().then(|| tail_batch(&req));
        ing.push(tenant, req).await?;
        if let Some(streams) = tailed {
            self.tail.publish(tenant, &streams);
        }
        Ok(())
    }
}

/// A push as the tail hub takes it: labels parsed, each stream's lines
/// copied into one buffer of their own (a queued batch must not keep the
/// whole request body alive).
fn tail_batch(req: &PushRequest) -> Vec<PushedStream> {
    let mut out = Vec::with_capacity(req.streams.len());
    for s in &req.streams {
        // the distributor already validated and canonicalised the labels
        let Ok(parsed) = sluice_distributor::ParsedLabels::parse(&s.labels) else {
            continue;
        };
        let labels = Arc::new(Labels::new(parsed.pairs));
        let mut buf = bytes::BytesMut::with_capacity(s.entries.iter().map(|e| e.line.len()).sum());
        for e in &s.entries {
            buf.extend_from_slice(&e.line);
        }
        let buf = buf.freeze();
        let mut at = 0;
        let entries = s
            .entries
            .iter()
            .map(|e| {
                let line = buf.slice(at..at + e.line.len());
                at += e.line.len();
                Entry {
                    ts: e.timestamp.map_or(0, |t| t.unix_nanos()),
                    line,
                    metadata: e
                        .structured_metadata
                        .iter()
                        .map(|m| (m.name.to_string(), m.value.to_string()))
                        .collect(),
                    cut: false,
                }
            })
            .collect();
        out.push(PushedStream { labels, entries });
    }
    out
}

#[async_trait::async_trait]
impl RecentData for IngesterSlot {
    async fn chunks(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> sluice_querier::Result<Vec<RecentSeries>> {
        let Some(ing) = self.get() else {
            return Ok(Vec::new());
        };
        Ok(ing
            .snapshot(tenant, matchers, from, through)
            .into_iter()
            .map(|s| RecentSeries {
                labels: s.labels,
                chunks: s.chunks,
            })
            .collect())
    }

    async fn series(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> sluice_querier::Result<Vec<Labels>> {
        let Some(ing) = self.get() else {
            return Ok(Vec::new());
        };
        Ok(ing.series(tenant, matchers, from, through))
    }
}

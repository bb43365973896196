//! Module wiring for `-target=all`: the in-process ingester behind the
//! service traits the distributor and querier use.

use std::sync::{Arc, OnceLock};

use sluice_ingester::Ingester;
use sluice_logql::labels::{Labels, Matcher};
use sluice_proto::logproto::PushRequest;
use sluice_proto::service::{Code, Pusher, ServiceError};
use sluice_querier::{RecentData, RecentSeries};

/// The ingester, once its WAL has been replayed. Until then pushes get 503
/// and queries see no recent data.
#[derive(Default)]
pub struct IngesterSlot(OnceLock<Arc<Ingester>>);

impl IngesterSlot {
    pub fn set(&self, ing: Arc<Ingester>) {
        let _ = self.0.set(ing);
    }

    pub fn get(&self) -> Option<&Arc<Ingester>> {
        self.0.get()
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
        self.ready()?.push(tenant, req).await
    }
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

//! [`GrpcRecentData`]: one remote ingester's recent data over gRPC.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sluice_logql::labels::{Labels, Matcher};
use sluice_proto::grpc::{
    channel, remote_error, request, with_timeout, ClientConfig, IngesterQuerierClient,
    MAX_MESSAGE_BYTES,
};
use sluice_proto::internal::{LabelValuesRequest, SelectRequest, TailRequest};
use sluice_proto::service::{Code, ServiceError};
use sluice_storage::chunk::ChunkData;
use tonic::transport::Channel;

use super::convert::{entry_from_proto, labels_from_proto, matchers_to_proto};
use crate::error::{Error, Result};
use crate::querier::{RecentData, RecentSeries, RecentStreamStats, TailFeed};
use crate::tail::PushedStream;

/// A remote ingester's `sluice.internal.IngesterQuerier`. Cheap to clone;
/// clones share the connection.
#[derive(Clone)]
pub struct GrpcRecentData {
    addr: String,
    client: IngesterQuerierClient<Channel>,
    timeout: Duration,
}

fn select(matchers: &[Matcher], from: i64, through: i64) -> SelectRequest {
    SelectRequest {
        matchers: matchers_to_proto(matchers),
        from,
        through,
    }
}

impl GrpcRecentData {
    /// A client for the instance at `addr`; connects on first call. Must
    /// be called within a Tokio runtime.
    pub fn connect(addr: &str, cfg: &ClientConfig) -> Result<Self, ServiceError> {
        let client = IngesterQuerierClient::new(channel(addr, cfg)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(GrpcRecentData {
            addr: addr.to_string(),
            client,
            timeout: cfg.timeout,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn fetch_chunks(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<(Labels, Vec<Bytes>)>, tonic::Status> {
        let req = request(tenant, select(matchers, from, through))
            .map_err(sluice_proto::grpc::status_from_error)?;
        let mut c = self.client.clone();
        let mut stream = c.chunks(req).await?.into_inner();
        let mut out = Vec::new();
        while let Some(msg) = stream.message().await? {
            for s in msg.series {
                out.push((labels_from_proto(s.labels), s.chunks));
            }
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl RecentData for GrpcRecentData {
    async fn chunks(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<RecentSeries>> {
        let fetch = self.fetch_chunks(tenant, matchers, from, through);
        let raw = with_timeout(&self.addr, self.timeout, fetch).await?;
        // a stream's chunks may span response messages
        let mut by_labels: HashMap<Labels, Vec<ChunkData>> = HashMap::new();
        for (labels, chunks) in raw {
            let have = by_labels.entry(labels).or_default();
            for b in chunks {
                let c = ChunkData::decode(b).map_err(|e| {
                    ServiceError::new(
                        Code::Internal,
                        format!("{}: undecodable chunk from ingester: {e}", self.addr),
                    )
                })?;
                have.push(c);
            }
        }
        Ok(by_labels
            .into_iter()
            .map(|(labels, chunks)| RecentSeries { labels, chunks })
            .collect())
    }

    async fn series(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<Labels>> {
        let req = request(tenant, select(matchers, from, through))?;
        let mut c = self.client.clone();
        let resp = with_timeout(&self.addr, self.timeout, c.series(req)).await?;
        Ok(resp
            .into_inner()
            .series
            .into_iter()
            .map(|l| labels_from_proto(Some(l)))
            .collect())
    }

    /// Names of labels of in-memory streams matching `matchers`.
    async fn label_names(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<String>> {
        let req = request(tenant, select(matchers, from, through))?;
        let mut c = self.client.clone();
        let resp = with_timeout(&self.addr, self.timeout, c.label_names(req)).await?;
        Ok(resp.into_inner().names)
    }

    /// Values of label `name` over in-memory streams matching `matchers`.
    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<String>> {
        let msg = LabelValuesRequest {
            name: name.to_string(),
            select: Some(select(matchers, from, through)),
        };
        let mut c = self.client.clone();
        let resp = with_timeout(
            &self.addr,
            self.timeout,
            c.label_values(request(tenant, msg)?),
        )
        .await?;
        Ok(resp.into_inner().values)
    }

    /// Per-stream totals computed on the ingester: no chunks travel.
    async fn stream_stats(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<RecentStreamStats>> {
        let req = request(tenant, select(matchers, from, through))?;
        let mut c = self.client.clone();
        let resp = with_timeout(&self.addr, self.timeout, c.stats(req)).await?;
        Ok(resp
            .into_inner()
            .per_stream
            .into_iter()
            .map(|s| RecentStreamStats {
                labels: labels_from_proto(s.labels),
                chunks: s.chunks,
                entries: s.entries,
                bytes: s.bytes,
            })
            .collect())
    }

    /// Entries pushed to the ingester from now on, for streams matching
    /// `matchers`, with the total the ingester dropped for this tail so far.
    /// Runs until dropped; the timeout applies to opening the stream only.
    async fn tail(&self, tenant: &str, matchers: &[Matcher]) -> Result<TailFeed> {
        let msg = TailRequest {
            matchers: matchers_to_proto(matchers),
        };
        let mut c = self.client.clone();
        let resp = with_timeout(&self.addr, self.timeout, c.tail(request(tenant, msg)?)).await?;
        let addr = self.addr.clone();
        Ok(resp
            .into_inner()
            .map_err(move |s| Error::Service(remote_error(&addr, &s)))
            .map_ok(|m| {
                let s = PushedStream {
                    labels: Arc::new(labels_from_proto(m.labels)),
                    entries: m.entries.into_iter().map(entry_from_proto).collect(),
                };
                (s, m.dropped_total)
            })
            .boxed())
    }
}

//! `sluice.internal.IngesterQuerier` served from a [`RecentData`] (and a
//! [`TailHub`] for live tail).

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use sluice_logql::labels::Matcher;
use sluice_proto::grpc::{
    status_from_error, tenant_of, IngesterQuerier, IngesterQuerierServer, MAX_MESSAGE_BYTES,
};
use sluice_proto::internal::{
    ChunkSeries, ChunksRequest, ChunksResponse, LabelNamesResponse, LabelValuesRequest,
    LabelValuesResponse, SelectRequest, SeriesResponse, StatsResponse, StreamStats, TailRequest,
    TailResponse,
};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::convert::{entry_to_proto, labels_to_proto, matchers_from_proto};
use crate::querier::{RecentData, RecentSeries};
use crate::tail::TailHub;

/// Chunk bytes per `Chunks` response message (well under
/// [`MAX_MESSAGE_BYTES`]; one chunk larger than this goes alone).
const CHUNK_BATCH_BYTES: usize = 4 << 20;

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Serves a [`RecentData`] to remote queriers.
pub struct IngesterQuerierService {
    recent: Arc<dyn RecentData>,
    tail: Option<Arc<TailHub>>,
}

/// The tonic service to add to an ingester's gRPC server. `tail` is the
/// hub acknowledged pushes are published to; without one, `Tail` answers
/// `Unimplemented`.
pub fn ingester_querier_server(
    recent: Arc<dyn RecentData>,
    tail: Option<Arc<TailHub>>,
) -> IngesterQuerierServer<IngesterQuerierService> {
    IngesterQuerierServer::new(IngesterQuerierService { recent, tail })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Tenant, matchers and time range of a selection request.
#[allow(clippy::result_large_err)] // tonic handlers return `Status`
fn selection<T>(
    req: &Request<T>,
    sel: Option<&SelectRequest>,
) -> Result<(String, Vec<Matcher>, i64, i64), Status> {
    let tenant = tenant_of(req)?;
    let sel = sel.cloned().unwrap_or_default();
    let matchers = matchers_from_proto(&sel.matchers).map_err(status_from_error)?;
    Ok((tenant, matchers, sel.from, sel.through))
}

/// The span of one RPC.
fn span(rpc: &'static str, tenant: &str) -> tracing::Span {
    tracing::debug_span!("ingester_querier", rpc, tenant = %tenant)
}

fn status(e: crate::Error) -> Status {
    status_from_error(e.to_service_error())
}

/// Response messages for `series`: each chunk as its object bytes, a new
/// message once [`CHUNK_BATCH_BYTES`] is reached. A stream whose chunks
/// span messages repeats its labels; clients merge by label set.
fn chunk_batches(
    series: Vec<RecentSeries>,
) -> impl Iterator<Item = Result<ChunksResponse, Status>> + Send {
    let mut chunks = series.into_iter().flat_map(|s| {
        let labels = Arc::new(labels_to_proto(&s.labels));
        s.chunks.into_iter().map(move |c| (labels.clone(), c))
    });
    std::iter::from_fn(move || {
        let mut msg = ChunksResponse::default();
        let mut size = 0usize;
        while size < CHUNK_BATCH_BYTES {
            let Some((labels, chunk)) = chunks.next() else {
                break;
            };
            let bytes = match chunk.encode() {
                Ok(b) => b,
                Err(e) => return Some(Err(Status::internal(format!("encoding a chunk: {e}")))),
            };
            size += bytes.len();
            match msg.series.last_mut() {
                Some(last) if last.labels.as_ref() == Some(&*labels) => last.chunks.push(bytes),
                _ => msg.series.push(ChunkSeries {
                    labels: Some((*labels).clone()),
                    chunks: vec![bytes],
                }),
            }
        }
        (!msg.series.is_empty()).then_some(Ok(msg))
    })
}

#[tonic::async_trait]
impl IngesterQuerier for IngesterQuerierService {
    type ChunksStream = ResponseStream<ChunksResponse>;
    type TailStream = ResponseStream<TailResponse>;

    async fn chunks(
        &self,
        req: Request<ChunksRequest>,
    ) -> Result<Response<Self::ChunksStream>, Status> {
        let (tenant, matchers, from, through) = selection(&req, Some(req.get_ref()))?;
        let series = self
            .recent
            .chunks(&tenant, &matchers, from, through)
            .instrument(span("chunks", &tenant))
            .await
            .map_err(status)?;
        let stream = futures::stream::iter(chunk_batches(series));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn series(
        &self,
        req: Request<SelectRequest>,
    ) -> Result<Response<SeriesResponse>, Status> {
        let (tenant, matchers, from, through) = selection(&req, Some(req.get_ref()))?;
        let series = self
            .recent
            .series(&tenant, &matchers, from, through)
            .instrument(span("series", &tenant))
            .await
            .map_err(status)?;
        Ok(Response::new(SeriesResponse {
            series: series.iter().map(labels_to_proto).collect(),
        }))
    }

    async fn label_names(
        &self,
        req: Request<SelectRequest>,
    ) -> Result<Response<LabelNamesResponse>, Status> {
        let (tenant, matchers, from, through) = selection(&req, Some(req.get_ref()))?;
        let names = self
            .recent
            .label_names(&tenant, &matchers, from, through)
            .instrument(span("label_names", &tenant))
            .await
            .map_err(status)?;
        Ok(Response::new(LabelNamesResponse { names }))
    }

    async fn label_values(
        &self,
        req: Request<LabelValuesRequest>,
    ) -> Result<Response<LabelValuesResponse>, Status> {
        let (tenant, matchers, from, through) = selection(&req, req.get_ref().select.as_ref())?;
        let values = self
            .recent
            .label_values(&tenant, &req.get_ref().name, &matchers, from, through)
            .instrument(span("label_values", &tenant))
            .await
            .map_err(status)?;
        Ok(Response::new(LabelValuesResponse { values }))
    }

    async fn stats(&self, req: Request<SelectRequest>) -> Result<Response<StatsResponse>, Status> {
        let (tenant, matchers, from, through) = selection(&req, Some(req.get_ref()))?;
        let per_stream = self
            .recent
            .stream_stats(&tenant, &matchers, from, through)
            .instrument(span("stats", &tenant))
            .await
            .map_err(status)?;
        let mut st = StatsResponse {
            streams: per_stream.len() as u64,
            ..StatsResponse::default()
        };
        for s in per_stream {
            st.chunks += s.chunks;
            st.entries += s.entries;
            st.bytes += s.bytes;
            st.per_stream.push(StreamStats {
                labels: Some(labels_to_proto(&s.labels)),
                chunks: s.chunks,
                bytes: s.bytes,
                entries: s.entries,
            });
        }
        Ok(Response::new(st))
    }

    async fn tail(&self, req: Request<TailRequest>) -> Result<Response<Self::TailStream>, Status> {
        let tenant = tenant_of(&req)?;
        let matchers = matchers_from_proto(&req.get_ref().matchers).map_err(status_from_error)?;
        let Some(hub) = &self.tail else {
            return Err(Status::unimplemented(
                "live tail is not served by this instance",
            ));
        };
        span("tail", &tenant).in_scope(|| tracing::debug!("tail opened"));
        let sub = hub.subscribe(&tenant, matchers);
        // ends when the client goes away: dropping the stream unsubscribes
        let stream = futures::stream::unfold(sub, |mut sub| async move {
            let batch = sub.recv().await?.stream;
            sub.release(&batch);
            let msg = TailResponse {
                labels: Some(labels_to_proto(&batch.labels)),
                entries: batch.entries.iter().map(entry_to_proto).collect(),
                dropped_total: sub.dropped_total(),
            };
            Some((Ok(msg), sub))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use sluice_logql::labels::Labels;
    use sluice_storage::{ChunkConfig, ChunkData, Encoding, MemChunk};

    use super::*;

    /// A chunk of `n` incompressible 64 KiB lines.
    fn big_chunk(start: i64, n: i64) -> ChunkData {
        let cfg = ChunkConfig {
            encoding: Encoding::None,
            ..ChunkConfig::default()
        };
        let mut c = MemChunk::new(&cfg);
        for i in 0..n {
            let line: Vec<u8> = (0..65_536u32)
                .map(|j| (j.wrapping_mul(2_654_435_761) >> 13) as u8 ^ i as u8)
                .collect();
            c.append(start + i, &line, &[]);
        }
        c.snapshot()
    }

    #[test]
    fn chunks_are_batched_under_the_message_budget() {
        let series: Vec<RecentSeries> = ["a", "b"]
            .iter()
            .map(|app| RecentSeries {
                labels: Labels::new(vec![("app".into(), app.to_string())]),
                // 3 chunks of ~2 MiB each
                chunks: (0..3).map(|k| big_chunk(k * 100, 32)).collect(),
            })
            .collect();
        let msgs: Vec<ChunksResponse> = chunk_batches(series).map(|m| m.unwrap()).collect();
        // 12 MiB in messages of at most one chunk past 4 MiB
        assert!(msgs.len() >= 3, "{} messages", msgs.len());
        for m in &msgs {
            let size: usize = m
                .series
                .iter()
                .flat_map(|s| &s.chunks)
                .map(|b| b.len())
                .sum();
            assert!(size < CHUNK_BATCH_BYTES + (3 << 20), "{size}");
        }
        // every chunk once, decodable, labels kept (repeated across messages)
        let mut per_app: std::collections::BTreeMap<String, usize> = Default::default();
        for s in msgs.iter().flat_map(|m| &m.series) {
            let app = s.labels.as_ref().unwrap().labels[0].value.clone();
            for b in &s.chunks {
                assert_eq!(ChunkData::decode(b.clone()).unwrap().entry_count(), 32);
                *per_app.entry(app.to_string()).or_default() += 1;
            }
        }
        assert_eq!(
            per_app.into_iter().collect::<Vec<_>>(),
            vec![("a".into(), 3), ("b".into(), 3)]
        );
    }
}

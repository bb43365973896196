//! Remote queriers take work from the frontend over gRPC (Loki's frontend
//! v1 scheduling): each querier worker opens a `frontend.Frontend/Process`
//! bidirectional stream to the frontend's gRPC port; the frontend sends
//! one sub-query at a time on it (round-robin across tenants, from the
//! queue) and the querier answers on the same stream. Results therefore
//! come back on the connection, and to the frontend replica, that handed
//! the job out, so a frontend may run as several replicas.
//!
//! - A job leaves the queue only for a connected, idle worker; while idle
//!   the stream gets a keep-alive every `frontend.pull_timeout`.
//! - A querier that disconnects mid-job, or does not answer within
//!   `frontend.querier_timeout`, fails the job with 502, which the frontend
//!   retries on another worker like any querier failure.
//! - When the query waiting for a job gives up, the frontend ends that
//!   stream, which cancels the sub-query on the querier; the worker
//!   reconnects.
//! - A stopping frontend ends its streams with `UNAVAILABLE`.
//!
//! `PullServer` is the frontend side; `spawn_pullers` (in `worker`) the
//! querier side. Payloads are the JSON forms of `wire`; an answer's read
//! statistics travel beside it (`proto::ReadStats`).

pub mod proto;
mod worker;

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use sluice_querier::Answer;

use crate::error::Error;
use crate::queue::{Job, RequestQueue};
use crate::wire::{WireQuery, WireResult};
use proto::{ClientToFrontend, FrontendServer, FrontendToClient};

pub use worker::spawn_pullers;

/// Largest gRPC message sent or received (a sub-query's answer can be
/// large), as Loki's example `grpc_server_max_recv_msg_size` (100 MiB).
pub const MAX_MESSAGE_BYTES: usize = 100 << 20;

/// The frontend side: hands queued jobs to connected querier workers.
#[derive(Clone)]
pub struct PullServer {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Arc<RequestQueue>,
    next_id: AtomicU64,
    pull_timeout: Duration,
    querier_timeout: Duration,
}

type Outbound = mpsc::Sender<Result<FrontendToClient, Status>>;

impl PullServer {
    /// `pull_timeout`: keep-alive period of idle streams; `querier_timeout`:
    /// how long a sent job may take before it is retried elsewhere.
    pub fn new(
        queue: Arc<RequestQueue>,
        pull_timeout: Duration,
        querier_timeout: Duration,
    ) -> Self {
        PullServer {
            inner: Arc::new(Inner {
                queue,
                next_id: AtomicU64::new(1),
                pull_timeout: pull_timeout.max(Duration::from_millis(10)),
                querier_timeout,
            }),
        }
    }

    /// The tonic service, to add to the process's gRPC server.
    pub fn service(self) -> FrontendServer<PullServer> {
        FrontendServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

#[tonic::async_trait]
impl proto::Frontend for PullServer {
    type ProcessStream = Pin<Box<dyn Stream<Item = Result<FrontendToClient, Status>> + Send>>;

    async fn process(
        &self,
        request: Request<Streaming<ClientToFrontend>>,
    ) -> Result<Response<Self::ProcessStream>, Status> {
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(self.inner.clone().serve(inbound, tx));
        let out =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
        Ok(Response::new(Box::pin(out)))
    }
}

/// How waiting for a sent job's answer ended.
enum Waited {
    Answer(Result<Option<ClientToFrontend>, Status>),
    TimedOut,
    Abandoned,
}

impl Inner {
    /// Feeds one querier worker's stream until it or the frontend goes.
    async fn serve(self: Arc<Self>, mut inbound: Streaming<ClientToFrontend>, tx: Outbound) {
        let _connected = Connected::new();
        loop {
            let job = tokio::select! {
                j = self.queue.dequeue() => j,
                () = tx.closed() => return,
                () = tokio::time::sleep(self.pull_timeout) => {
                    if tx.send(Ok(FrontendToClient::default())).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let Some(job) = job else {
                let stopping = Status::unavailable(Error::Stopping.to_string());
                let _ = tx.send(Err(stopping)).await;
                return;
            };
            if !self.run(job, &mut inbound, &tx).await {
                return;
            }
        }
    }

    /// Sends `job` to the worker and replies with its answer; false when the
    /// stream must end (querier gone, too slow, or the job abandoned).
    async fn run(
        &self,
        mut job: Job,
        inbound: &mut Streaming<ClientToFrontend>,
        tx: &Outbound,
    ) -> bool {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let query = match serde_json::to_vec(&WireQuery::from(&job.request)) {
            Ok(q) => q,
            Err(e) => {
                job.reply(Err(Error::Wire(format!("encoding sub-query {id}: {e}"))));
                return true;
            }
        };
        if tx.send(Ok(FrontendToClient { id, query })).await.is_err() {
            job.reply(Err(gone(id)));
            return false;
        }
        let waited = tokio::select! {
            r = tokio::time::timeout(self.querier_timeout, inbound.message()) => match r {
                Ok(answer) => Waited::Answer(answer),
                Err(_) => Waited::TimedOut,
            },
            () = job.abandoned() => Waited::Abandoned,
        };
        match waited {
            Waited::Answer(Ok(Some(m))) if m.id == id => {
                let stats = m.stats.map(Into::into).unwrap_or_default();
                job.reply(match serde_json::from_slice::<WireResult>(&m.result) {
                    Ok(w) => w.into_result().map(|value| Answer { value, stats }),
                    Err(e) => Err(Error::Wire(format!("answer to sub-query {id}: {e}"))),
                });
                true
            }
            Waited::Answer(Ok(Some(m))) => {
                let msg = format!("querier answered job {} while running {id}", m.id);
                job.reply(Err(Error::Wire(msg)));
                false
            }
            Waited::Answer(_) => {
                job.reply(Err(gone(id)));
                false
            }
            Waited::TimedOut => {
                job.reply(Err(Error::Query {
                    status: 502,
                    message: format!(
                        "querier did not answer sub-query {id} within {:?} (frontend.querier_timeout)",
                        self.querier_timeout
                    ),
                }));
                false
            }
            // ending the stream cancels the sub-query on the querier
            Waited::Abandoned => false,
        }
    }
}

/// Counts a connected worker stream in `connected_clients` while alive.
struct Connected;

impl Connected {
    fn new() -> Self {
        crate::metrics::CONNECTED_CLIENTS.inc();
        Connected
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        crate::metrics::CONNECTED_CLIENTS.dec();
    }
}

fn gone(id: u64) -> Error {
    Error::Query {
        status: 502,
        message: format!("querier disconnected while running sub-query {id}"),
    }
}

//! The querier side of frontend scheduling: worker loops that keep
//! `frontend.Frontend/Process` streams open to every address the
//! configured frontend address resolves to, run the sub-queries they are
//! sent and answer on the same stream.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::transport::Endpoint;

use super::proto::{ClientToFrontend, FrontendClient};
use super::MAX_MESSAGE_BYTES;
use crate::handler::QueryHandler;
use crate::wire::{WireQuery, WireResult};

/// How often the frontend address is resolved again (new replicas get
/// workers, lost workers are replaced).
const RESOLVE_EVERY: Duration = Duration::from_secs(2);

/// Aborts its worker when dropped, so aborting the manager stops them all.
struct Worker(JoinHandle<()>);

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects `n` workers to each address `frontend_address` (`host:port` of
/// a frontend's gRPC server, optionally `http://`-prefixed) resolves to,
/// runs the sub-queries they are sent on `handler` and answers them.
/// Abort the returned handle to stop every worker.
pub fn spawn_pullers(
    frontend_address: &str,
    handler: Arc<dyn QueryHandler>,
    n: usize,
) -> JoinHandle<()> {
    let target = frontend_address
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let n = n.max(1);
    tokio::spawn(async move {
        let mut workers: HashMap<SocketAddr, Vec<Worker>> = HashMap::new();
        loop {
            match tokio::net::lookup_host(target.as_str()).await {
                Ok(addrs) => {
                    for addr in addrs {
                        let ws = workers.entry(addr).or_default();
                        ws.retain(|w| !w.0.is_finished());
                        while ws.len() < n {
                            ws.push(Worker(tokio::spawn(work(addr, handler.clone()))));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(frontend = %target, error = %e, "cannot resolve the query-frontend address, retrying");
                }
            }
            workers.retain(|_, ws| {
                ws.retain(|w| !w.0.is_finished());
                !ws.is_empty()
            });
            tokio::time::sleep(RESOLVE_EVERY).await;
        }
    })
}

/// One worker: processes streams to `addr` until it cannot connect (the
/// resolver loop starts a new worker if the address still resolves).
async fn work(addr: SocketAddr, handler: Arc<dyn QueryHandler>) {
    loop {
        if let Err(e) = process(addr, handler.as_ref()).await {
            tracing::warn!(frontend = %addr, error = %e, "taking work from the query-frontend failed, retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return;
        }
    }
}

/// One `Process` stream: answers jobs until the frontend ends it.
async fn process(addr: SocketAddr, handler: &dyn QueryHandler) -> Result<(), String> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true)
        .connect()
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let mut client = FrontendClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let (tx, rx) = mpsc::channel::<ClientToFrontend>(1);
    let outbound =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    let mut inbound = client
        .process(outbound)
        .await
        .map_err(|e| e.message().to_string())?
        .into_inner();
    loop {
        let Some(job) = inbound
            .message()
            .await
            .map_err(|e| e.message().to_string())?
        else {
            return Ok(());
        };
        if job.query.is_empty() {
            continue; // keep-alive
        }
        let (result, stats) = match serde_json::from_slice::<WireQuery>(&job.query) {
            Ok(q) => tokio::select! {
                r = handler.run(q.into()) => match r {
                    Ok(a) => (WireResult::from(Ok(a.value)), Some(a.stats.into())),
                    Err(e) => (WireResult::from(Err(e)), None),
                },
                // the frontend ended the stream: the query gave up
                _ = inbound.message() => return Ok(()),
            },
            Err(e) => (
                WireResult::Error {
                    status: 400,
                    message: format!("bad sub-query from the query-frontend: {e}"),
                },
                None,
            ),
        };
        let result = serde_json::to_vec(&result).map_err(|e| format!("encoding an answer: {e}"))?;
        if tx
            .send(ClientToFrontend {
                id: job.id,
                result,
                stats,
            })
            .await
            .is_err()
        {
            return Ok(());
        }
    }
}

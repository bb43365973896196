//! Remote queriers pull work from the frontend over HTTP long-polling.
//!
//! - `POST /frontend/v1/pull`: waits up to `frontend.pull_timeout` for the
//!   next sub-query (round-robin across tenants); answers 200 with
//!   `{"id":N,"query":{...}}`, 204 when nothing came (poll again), 503
//!   when the frontend is stopping.
//! - `POST /frontend/v1/result/{id}`: the querier's `WireResult` for job
//!   `id`; 204, or 404 for an unknown or expired id.
//!
//! A pulled job whose result does not arrive within
//! `frontend.querier_timeout` fails with 502, which the frontend retries
//! like any querier failure, so a querier dying mid-query costs time, not
//! answers. `spawn_pullers` is the querier side.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::error::Error;
use crate::handler::QueryHandler;
use crate::queue::RequestQueue;
use crate::wire::{WireQuery, WireResult};

pub const PULL_PATH: &str = "/frontend/v1/pull";
pub const RESULT_PATH: &str = "/frontend/v1/result";

/// A job handed to a remote querier.
#[derive(Debug, Serialize, Deserialize)]
pub struct PulledJob {
    pub id: u64,
    pub query: WireQuery,
}

/// The frontend side: hands queued jobs to pulling queriers.
pub struct PullServer {
    queue: Arc<RequestQueue>,
    pending: Mutex<HashMap<u64, oneshot::Sender<WireResult>>>,
    next_id: AtomicU64,
    pull_timeout: Duration,
    querier_timeout: Duration,
}

impl PullServer {
    pub fn new(
        queue: Arc<RequestQueue>,
        pull_timeout: Duration,
        querier_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(PullServer {
            queue,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            pull_timeout,
            querier_timeout,
        })
    }

    /// The pull routes, to be merged into the frontend's router.
    pub fn routes(self: &Arc<Self>) -> Router {
        Router::new()
            .route(PULL_PATH, post(pull))
            .route(&format!("{RESULT_PATH}/{{id}}"), post(result))
            .with_state(self.clone())
    }
}

async fn pull(State(srv): State<Arc<PullServer>>) -> Response {
    let job = match tokio::time::timeout(srv.pull_timeout, srv.queue.dequeue()).await {
        Err(_) => return StatusCode::NO_CONTENT.into_response(),
        Ok(None) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "query-frontend is stopping",
            )
                .into_response()
        }
        Ok(Some(job)) => job,
    };
    let id = srv.next_id.fetch_add(1, Ordering::Relaxed);
    let query = WireQuery::from(&job.request);
    let (tx, rx) = oneshot::channel();
    srv.pending.lock().insert(id, tx);
    let waiter = srv.clone();
    tokio::spawn(async move {
        let r = tokio::time::timeout(waiter.querier_timeout, rx).await;
        waiter.pending.lock().remove(&id);
        job.reply(match r {
            Ok(Ok(w)) => w.into_result(),
            _ => Err(Error::Query {
                status: 502,
                message: format!("querier did not answer sub-query {id} in time"),
            }),
        });
    });
    Json(PulledJob { id, query }).into_response()
}

async fn result(
    State(srv): State<Arc<PullServer>>,
    Path(id): Path<u64>,
    Json(r): Json<WireResult>,
) -> StatusCode {
    match srv.pending.lock().remove(&id) {
        Some(tx) => {
            let _ = tx.send(r);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

/// The querier side: `n` loops that pull sub-queries from the frontend at
/// `frontend_url` (e.g. `http://frontend:3100`), run them on `handler` and
/// post the answers back. Abort the handles to stop.
pub fn spawn_pullers(
    frontend_url: &str,
    handler: Arc<dyn QueryHandler>,
    n: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    let base = frontend_url.trim_end_matches('/').to_string();
    let client = reqwest::Client::new();
    (0..n.max(1))
        .map(|_| {
            let (base, client, handler) = (base.clone(), client.clone(), handler.clone());
            tokio::spawn(async move {
                loop {
                    if let Err(e) = pull_once(&client, &base, handler.as_ref()).await {
                        tracing::warn!(frontend = %base, error = %e, "pulling work from the query-frontend failed, retrying in 1s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            })
        })
        .collect()
}

async fn pull_once(
    client: &reqwest::Client,
    base: &str,
    handler: &dyn QueryHandler,
) -> Result<(), String> {
    let resp = client
        .post(format!("{base}{PULL_PATH}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match resp.status().as_u16() {
        204 => return Ok(()),
        200 => {}
        s => return Err(format!("pull answered {s}")),
    }
    let job: PulledJob = resp.json().await.map_err(|e| e.to_string())?;
    let r = WireResult::from(handler.run(job.query.into()).await);
    client
        .post(format!("{base}{RESULT_PATH}/{}", job.id))
        .json(&r)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

//! HTTP routes of a raft member: raft RPCs from peers (`/raft/append`,
//! `/raft/vote`, `/raft/snapshot`) and the KV API used by non-voters and
//! forwarding followers (`GET /raft/kv/get?key=`, `POST /raft/kv/write`,
//! `GET /raft/status`).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::{KvCommand, RaftMember, TypeConfig, FORWARDED_HEADER};
use crate::error::Error;

/// The member's routes, to merge into the process's HTTP server.
pub fn router(member: RaftMember) -> Router {
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/kv/get", get(kv_get))
        .route("/raft/kv/write", post(kv_write))
        .route("/raft/status", get(status))
        .with_state(member)
}

async fn append(
    State(m): State<RaftMember>,
    Json(req): Json<AppendEntriesRequest<TypeConfig>>,
) -> Json<Result<AppendEntriesResponse<u64>, RaftError<u64>>> {
    Json(m.inner.raft.append_entries(req).await)
}

async fn vote(
    State(m): State<RaftMember>,
    Json(req): Json<VoteRequest<u64>>,
) -> Json<Result<VoteResponse<u64>, RaftError<u64>>> {
    Json(m.inner.raft.vote(req).await)
}

async fn snapshot(
    State(m): State<RaftMember>,
    Json(req): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Json<Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>> {
    Json(m.inner.raft.install_snapshot(req).await)
}

#[derive(Deserialize)]
struct KeyParam {
    key: String,
}

async fn kv_get(State(m): State<RaftMember>, Query(q): Query<KeyParam>) -> Response {
    Json(m.inner.state.get(&q.key)).into_response()
}

async fn kv_write(
    State(m): State<RaftMember>,
    headers: HeaderMap,
    Json(cmd): Json<KvCommand>,
) -> Response {
    let forwarded = headers.contains_key(FORWARDED_HEADER);
    match m.write(cmd, forwarded).await {
        Ok(resp) => Json(resp).into_response(),
        Err(e @ (Error::NoLeader(_) | Error::Remote { .. })) => {
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `GET /raft/status`: this member's view of the raft group.
#[derive(Debug, Serialize, Deserialize)]
pub struct MemberStatus {
    /// This member's id.
    pub id: u64,
    /// Known leader.
    pub leader: Option<u64>,
    /// Leader, Follower, Candidate, ...
    pub state: String,
    /// Current term.
    pub term: u64,
    /// Last applied log index.
    pub last_applied: Option<u64>,
}

async fn status(State(m): State<RaftMember>) -> Json<MemberStatus> {
    let metrics = m.inner.raft.metrics().borrow().clone();
    Json(MemberStatus {
        id: m.inner.id,
        leader: metrics.current_leader,
        state: format!("{:?}", metrics.state),
        term: metrics.current_term,
        last_applied: metrics.last_applied.map(|l| l.index),
    })
}

//! The raft-replicated membership store (`kvstore.store: raft`).
//!
//! A fixed set of voting members (typically 3, listed in
//! `kvstore.raft.members`) each run an openraft node with a log, vote and
//! snapshot on local disk ([`log_store`], [`state_machine`]) and talk to each
//! other over HTTP ([`network`], [`http`]). Each ring update is one raft entry
//! carrying the changed instances; applying it merges them into the stored
//! descriptor (last write wins per instance).
//!
//! Voters ([`RaftMember`]) read their own applied state and send writes to
//! the leader (a follower forwards). Every other process uses a
//! [`RaftKvClient`], which reads from and writes through any member and
//! polls the members to watch keys. Writes retry with backoff while no
//! leader is known (during an election), up to `kvstore.raft.cas_timeout`.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Raft, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{CasFn, MembershipKv};
use crate::config::RaftKvConfig;
use crate::desc::{now_ns, RingDesc};
use crate::error::{Error, Result};

pub mod http;
pub mod log_store;
pub mod network;
pub mod state_machine;

use log_store::FileLogStore;
use network::HttpNetworkFactory;
use state_machine::{KvStateMachine, SharedState};

/// One raft entry: the instances changed under `key`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KvCommand {
    /// Membership key.
    pub key: String,
    /// Changed instances (with versions) and tombstones.
    pub delta: RingDesc,
}

/// What applying a [`KvCommand`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvResponse {
    /// Whether the stored descriptor changed.
    pub changed: bool,
}

openraft::declare_raft_types!(
    /// openraft type configuration of the membership store.
    pub TypeConfig:
        D = KvCommand,
        R = KvResponse,
);

/// Header marking a write a follower forwarded to the leader (never forwarded twice).
const FORWARDED_HEADER: &str = "x-sluice-raft-forwarded";
/// Longest a single raft write may take before it is retried.
const WRITE_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// Reads and writes of one store implementation, for the shared CAS loop.
#[async_trait]
trait Backend: Send + Sync {
    async fn read(&self, key: &str) -> Result<Option<RingDesc>>;
    async fn write(&self, cmd: KvCommand) -> Result<KvResponse>;
}

/// Read, apply `f`, send the delta; retry retryable failures with backoff until `timeout`.
async fn cas_with(
    backend: &dyn Backend,
    key: &str,
    f: &mut CasFn<'_>,
    timeout: Duration,
) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(50);
    loop {
        let attempt = match backend.read(key).await {
            Ok(current) => {
                match f(current.clone()).and_then(|d| d.delta_from(current.as_ref(), now_ns())) {
                    None => return Ok(false),
                    Some(delta) => backend
                        .write(KvCommand {
                            key: key.to_string(),
                            delta,
                        })
                        .await
                        .map(|r| r.changed),
                }
            }
            Err(e) => Err(e),
        };
        match attempt {
            Ok(changed) => return Ok(changed),
            Err(e) if e.is_retryable() && Instant::now() + delay < deadline => {
                tracing::debug!(key, error = %e, "membership update failed, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
            Err(e) if e.is_retryable() => {
                return Err(Error::CasTimeout {
                    key: key.to_string(),
                    timeout,
                    last: e.to_string(),
                })
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends a write to a member's `/raft/kv/write`.
async fn post_write(
    http: &reqwest::Client,
    addr: &str,
    cmd: &KvCommand,
    forwarded: bool,
) -> Result<KvResponse> {
    let url = format!("http://{addr}/raft/kv/write");
    let remote = |reason: String| Error::Remote {
        addr: addr.to_string(),
        reason,
    };
    let mut req = http
        .post(&url)
        .json(cmd)
        .timeout(WRITE_ATTEMPT_TIMEOUT + Duration::from_secs(1));
    if forwarded {
        req = req.header(FORWARDED_HEADER, "1");
    }
    let resp = req.send().await.map_err(|e| remote(e.to_string()))?;
    let status = resp.status();
    if status.is_success() {
        return resp.json().await.map_err(|e| remote(e.to_string()));
    }
    let body = resp.text().await.unwrap_or_default();
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        Err(Error::NoLeader(body))
    } else {
        Err(Error::Raft(format!("{url} answered {status}: {body}")))
    }
}

/// A voting member of the raft membership store. Cloning shares the member.
#[derive(Clone)]
pub struct RaftMember {
    inner: Arc<MemberInner>,
}

struct MemberInner {
    id: u64,
    raft: Raft<TypeConfig>,
    state: SharedState,
    http: reqwest::Client,
    cas_timeout: Duration,
}

impl RaftMember {
    /// Opens this member's log and snapshot under `cfg.dir`, starts raft and,
    /// on a fresh log, initializes the cluster with the configured members
    /// (every member does so with the same list, which raft allows).
    /// Serve [`RaftMember::router`] on the member's address for it to take part.
    pub async fn start(cfg: &RaftKvConfig) -> Result<RaftMember> {
        cfg.validate()?;
        let id = cfg.node_id.ok_or_else(|| {
            Error::Config("kvstore.raft.node_id is required on a voting member".to_string())
        })?;
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let raft_config = openraft::Config {
            cluster_name: "sluice-ring".to_string(),
            heartbeat_interval: millis(cfg.heartbeat_interval),
            election_timeout_min: millis(cfg.election_timeout_min),
            election_timeout_max: millis(cfg.election_timeout_max),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_after_entries.max(1)),
            max_in_snapshot_log_to_keep: cfg.snapshot_after_entries / 2,
            purge_batch_size: (cfg.snapshot_after_entries / 4).max(1),
            ..openraft::Config::default()
        }
        .validate()
        .map_err(|e| Error::Config(format!("kvstore.raft: {e}")))?;
        let log = FileLogStore::open(&cfg.dir).await?;
        let (sm, state) = KvStateMachine::open(&cfg.dir).await?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| Error::Raft(format!("building http client: {e}")))?;
        let network = HttpNetworkFactory::new(http.clone());
        let raft = Raft::new(id, Arc::new(raft_config), network, log, sm)
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        if !initialized {
            let members: BTreeMap<u64, BasicNode> = cfg
                .members
                .iter()
                .map(|m| (m.id, BasicNode::new(&m.address)))
                .collect();
            match raft.initialize(members).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(Error::Raft(e.to_string())),
            }
        }
        tracing::info!(node_id = id, dir = %cfg.dir.display(), "raft membership member started");
        Ok(RaftMember {
            inner: Arc::new(MemberInner {
                id,
                raft,
                state,
                http,
                cas_timeout: cfg.cas_timeout,
            }),
        })
    }

    /// This member's raft node id.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The leader this member knows of.
    pub async fn current_leader(&self) -> Option<u64> {
        self.inner.raft.current_leader().await
    }

    /// Index of the last entry applied on this member.
    pub fn last_applied_index(&self) -> Option<u64> {
        self.inner.state.last_applied_index()
    }

    /// The underlying raft node (metrics, tests).
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.inner.raft
    }

    /// Routes to serve on this member's address: raft RPCs and the KV API.
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// Stops raft on this member (the HTTP routes then answer errors).
    pub async fn shutdown(&self) -> Result<()> {
        self.inner
            .raft
            .shutdown()
            .await
            .map_err(|e| Error::Raft(format!("shutting down: {e}")))
    }

    /// Appends `cmd` through raft: locally if leader, else forwarded to the leader once.
    pub(crate) async fn write(&self, cmd: KvCommand, forwarded: bool) -> Result<KvResponse> {
        let attempt = tokio::time::timeout(
            WRITE_ATTEMPT_TIMEOUT,
            self.inner.raft.client_write(cmd.clone()),
        );
        let result = attempt.await.map_err(|_| {
            Error::NoLeader(format!(
                "write not committed within {WRITE_ATTEMPT_TIMEOUT:?}"
            ))
        })?;
        match result {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => match f.leader_node {
                Some(node) if !forwarded => {
                    post_write(&self.inner.http, &node.addr, &cmd, true).await
                }
                Some(_) => Err(Error::NoLeader(
                    "leadership moved while forwarding".to_string(),
                )),
                None => Err(Error::NoLeader("election in progress".to_string())),
            },
            Err(e) => Err(Error::Raft(e.to_string())),
        }
    }
}

#[async_trait]
impl Backend for RaftMember {
    async fn read(&self, key: &str) -> Result<Option<RingDesc>> {
        Ok(self.inner.state.get(key))
    }

    async fn write(&self, cmd: KvCommand) -> Result<KvResponse> {
        RaftMember::write(self, cmd, false).await
    }
}

#[async_trait]
impl MembershipKv for RaftMember {
    async fn get(&self, key: &str) -> Result<Option<RingDesc>> {
        Ok(self.inner.state.get(key))
    }

    async fn cas(&self, key: &str, f: &mut CasFn<'_>) -> Result<bool> {
        cas_with(self, key, f, self.inner.cas_timeout).await
    }

    async fn watch(&self, key: &str) -> Result<watch::Receiver<Option<RingDesc>>> {
        Ok(self.inner.state.watch(key))
    }
}

/// Reads and writes the raft store through its voting members, for
/// processes that are not members. Cloning shares the client.
#[derive(Clone)]
pub struct RaftKvClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    members: Vec<String>,
    http: reqwest::Client,
    preferred: AtomicUsize,
    cas_timeout: Duration,
    poll_interval: Duration,
}

impl RaftKvClient {
    /// A client of the members listed in `cfg.members`.
    pub fn new(cfg: &RaftKvConfig) -> Result<RaftKvClient> {
        cfg.validate()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(WRITE_ATTEMPT_TIMEOUT + Duration::from_secs(2))
            .build()
            .map_err(|e| Error::Raft(format!("building http client: {e}")))?;
        Ok(RaftKvClient {
            inner: Arc::new(ClientInner {
                members: cfg.members.iter().map(|m| m.address.clone()).collect(),
                http,
                preferred: AtomicUsize::new(0),
                cas_timeout: cfg.cas_timeout,
                poll_interval: cfg.poll_interval,
            }),
        })
    }

    /// Member addresses, starting with the last one that answered.
    fn rotation(&self) -> impl Iterator<Item = (usize, &str)> {
        let n = self.inner.members.len();
        let start = self.inner.preferred.load(Ordering::Relaxed) % n.max(1);
        (0..n).map(move |i| {
            let idx = (start + i) % n;
            (idx, self.inner.members[idx].as_str())
        })
    }

    async fn read_from(&self, addr: &str, key: &str) -> Result<Option<RingDesc>> {
        let remote = |reason: String| Error::Remote {
            addr: addr.to_string(),
            reason,
        };
        let resp = self
            .inner
            .http
            .get(format!("http://{addr}/raft/kv/get"))
            .query(&[("key", key)])
            .send()
            .await
            .map_err(|e| remote(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(remote(format!("answered {}", resp.status())));
        }
        resp.json().await.map_err(|e| remote(e.to_string()))
    }
}

#[async_trait]
impl Backend for RaftKvClient {
    async fn read(&self, key: &str) -> Result<Option<RingDesc>> {
        let mut last = Error::NoLeader("no membership members configured".to_string());
        for (idx, addr) in self.rotation() {
            match self.read_from(addr, key).await {
                Ok(v) => {
                    self.inner.preferred.store(idx, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn write(&self, cmd: KvCommand) -> Result<KvResponse> {
        let mut last = Error::NoLeader("no membership members configured".to_string());
        for (idx, addr) in self.rotation() {
            match post_write(&self.inner.http, addr, &cmd, false).await {
                Ok(v) => {
                    self.inner.preferred.store(idx, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(e) if e.is_retryable() => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

#[async_trait]
impl MembershipKv for RaftKvClient {
    async fn get(&self, key: &str) -> Result<Option<RingDesc>> {
        self.read(key).await
    }

    async fn cas(&self, key: &str, f: &mut CasFn<'_>) -> Result<bool> {
        cas_with(self, key, f, self.inner.cas_timeout).await
    }

    /// Polls the members every `poll_interval` while the receiver is alive.
    async fn watch(&self, key: &str) -> Result<watch::Receiver<Option<RingDesc>>> {
        let initial = self.read(key).await.ok().flatten();
        let (tx, rx) = watch::channel(initial);
        let client = self.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = tokio::time::sleep(client.inner.poll_interval) => {}
                }
                match client.read(&key).await {
                    Ok(value) => {
                        tx.send_if_modified(|v| {
                            let differs = *v != value;
                            if differs {
                                *v = value;
                            }
                            differs
                        });
                    }
                    Err(e) => {
                        tracing::debug!(key = %key, error = %e, "polling the membership store failed")
                    }
                }
            }
        });
        Ok(rx)
    }
}

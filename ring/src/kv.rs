//! The membership store: ring descriptors by key, updated with
//! compare-and-swap functions and merged per instance (last write wins).
//!
//! [`InMemoryKv`] serves one process (`-target=all`); [`RaftMember`] and
//! [`RaftKvClient`] share the state across processes through raft.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::config::{KvStoreConfig, KvStoreKind};
use crate::desc::RingDesc;
use crate::error::Result;

pub mod memory;
pub mod raft;

pub use memory::InMemoryKv;
pub use raft::{RaftKvClient, RaftMember};

/// A CAS function: given the current descriptor (if any), returns the
/// desired one, or `None` to leave it alone. It may run more than once.
pub type CasFn<'a> = dyn FnMut(Option<RingDesc>) -> Option<RingDesc> + Send + 'a;

/// A key → ring descriptor store shared by every process of a cluster.
#[async_trait]
pub trait MembershipKv: Send + Sync + 'static {
    /// The descriptor stored under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<RingDesc>>;

    /// Reads `key`, calls `f`, and stores what changed (changed and added
    /// instances, tombstones for removed ones). Returns whether anything
    /// was written. Concurrent writers of different instances never lose
    /// each other's updates; for the same instance the later write wins.
    async fn cas(&self, key: &str, f: &mut CasFn<'_>) -> Result<bool>;

    /// A receiver that always holds the latest descriptor of `key`.
    async fn watch(&self, key: &str) -> Result<watch::Receiver<Option<RingDesc>>>;
}

/// The store selected by a [`KvStoreConfig`], with the HTTP routes a raft
/// voter must serve.
#[derive(Clone)]
pub enum KvStore {
    /// In-process store.
    Memory(Arc<InMemoryKv>),
    /// This process is a raft voter.
    RaftMember(RaftMember),
    /// This process reads and writes through the raft voters.
    RaftClient(Arc<RaftKvClient>),
}

impl KvStore {
    /// Opens the configured store (starting the raft member if this process is one).
    pub async fn open(cfg: &KvStoreConfig) -> Result<KvStore> {
        cfg.validate()?;
        Ok(match (cfg.store, cfg.raft.node_id) {
            (KvStoreKind::Inmemory, _) => KvStore::Memory(Arc::new(InMemoryKv::new())),
            (KvStoreKind::Raft, Some(_)) => {
                KvStore::RaftMember(RaftMember::start(&cfg.raft).await?)
            }
            (KvStoreKind::Raft, None) => {
                KvStore::RaftClient(Arc::new(RaftKvClient::new(&cfg.raft)?))
            }
        })
    }

    /// The store as a trait object.
    pub fn kv(&self) -> Arc<dyn MembershipKv> {
        match self {
            KvStore::Memory(m) => m.clone(),
            KvStore::RaftMember(m) => Arc::new(m.clone()),
            KvStore::RaftClient(c) => c.clone(),
        }
    }

    /// Routes to mount on the process's HTTP server (`/raft/*`), for voters.
    pub fn router(&self) -> Option<axum::Router> {
        match self {
            KvStore::RaftMember(m) => Some(m.router()),
            _ => None,
        }
    }
}

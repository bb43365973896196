//! Sluice's hash ring: which ingester (or ruler) owns which stream, and how
//! instances join, heartbeat and leave.
//!
//! - [`Ring`] answers "which instances hold key K" for writes and reads
//!   ([`ReplicationSet`] with its quorum), the single owner of a key for
//!   sharded work ([`Ring::owner`]), and ownership per instance.
//! - [`Lifecycler`] registers one instance: JOINING, tokens, ACTIVE,
//!   heartbeats, then LEAVING, a caller hook (ingesters flush there), removal.
//! - [`MembershipKv`] stores ring descriptors ([`RingDesc`], merged per
//!   instance last-write-wins): [`InMemoryKv`] for one process, and a raft-
//!   replicated store ([`RaftMember`] for voters, [`RaftKvClient`] for others).
//! - [`status`] renders `GET /ring` as HTML or JSON.

pub mod client;
pub mod config;
pub mod desc;
pub mod error;
mod fsutil;
pub mod kv;
pub mod lifecycler;
pub mod metrics;
pub mod ring;
pub mod status;
pub mod tokens;

pub use client::RingClient;
pub use config::{
    KvStoreConfig, KvStoreKind, LifecyclerConfig, RaftKvConfig, RaftPeer, RingConfig,
};
pub use desc::{InstanceDesc, InstanceState, RingDesc};
pub use error::{Error, Result};
pub use kv::{CasFn, InMemoryKv, KvStore, MembershipKv, RaftKvClient, RaftMember};
pub use lifecycler::{HookError, InstanceSpec, Lifecycler};
pub use metrics::RingMetrics;
pub use ring::{quorum, Operation, ReplicationSet, Ring};
pub use tokens::{generate_tokens, shard_key, DEFAULT_NUM_TOKENS};

//! The querier → ingester service over gRPC (`sluice.internal.IngesterQuerier`)
//! and reads across replicas:
//!
//! - [`ingester_querier_server`] serves any [`RecentData`] (and optionally a
//!   [`TailHub`](crate::tail::TailHub) for live tail) to remote queriers:
//!   in-memory chunks travel as chunk object bytes (the blocks as the
//!   ingester holds them, never re-encoded), in messages of at most a few
//!   MiB; series, label names and values, and stats are answered from the
//!   ingester without shipping chunks.
//! - [`GrpcRecentData`] is the client: a [`RecentData`] whose calls go to
//!   one remote ingester, with timeouts and status mapping.
//! - [`ReplicatedRecentData`] asks every ingester of the ring's read set,
//!   tolerating the set's `max_errors` failures, and merges what replicas
//!   return: one [`RecentSeries`] per label set, chunks identical across
//!   replicas kept once. Entries duplicated across replicas' differing
//!   chunks are dropped by the query source's k-way merge (same timestamp
//!   and line), so each entry is returned once. Live tails of all
//!   replicas are merged the same way (`tail_merge`).
//!
//! [`RecentData`]: crate::RecentData
//! [`RecentSeries`]: crate::RecentSeries

mod client;
mod convert;
mod replicated;
mod server;
mod tail_merge;

pub use client::GrpcRecentData;
pub use replicated::ReplicatedRecentData;
pub use server::{ingester_querier_server, IngesterQuerierService};

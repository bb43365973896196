//! The ingester: holds each stream's recent entries in memory as compressed
//! chunks, makes every push durable in the write-ahead log before it is
//! acknowledged, flushes full, old or idle chunks to the object store with a
//! label index, and serves its in-memory data to queriers.
//!
//! Write path: `Ingester::push` (the `Pusher` service) → WAL append (group
//! commit) → append to the stream's head chunk → ack. A push holds the
//! checkpoint gate for reading across both steps, so a checkpoint (which
//! takes it for writing) always sees every WAL record before its segment
//! boundary applied to memory, and none after.

mod checkpoint;
pub mod config;
mod error;
mod flush;
mod ingester;
mod metrics;
mod record;
mod stream;
pub mod wal;

pub use config::IngesterConfig;
pub use error::{Error, Result};
pub use ingester::{Ingester, SeriesSnapshot};

//! The ingester's write-ahead log (DESIGN.md §4).
//!
//! Every accepted push is appended here, and acknowledged only once the WAL
//! says it is durable; on start, [`Wal::open`] hands back a [`Replay`] that
//! restores everything acknowledged before a crash.
//!
//! * **Records** are opaque byte payloads the ingester encodes. They go into
//!   numbered **segments** that rotate by size; see [`format`] for the
//!   on-disk layout.
//! * **Group commit**: a dedicated writer thread batches all appends queued
//!   while it was busy into one `write()` and one `fsync`, so throughput
//!   scales with the number of concurrent pushes. A lone append never waits
//!   for a timer.
//! * **Checkpoints** bound replay time: the ingester rotates, snapshots its
//!   memory and hands the snapshot to [`Wal::write_checkpoint`], which
//!   replaces every older segment atomically.
//!
//! Typical use:
//!
//! ```no_run
//! # async fn demo() -> sluice_ingester::wal::Result<()> {
//! use sluice_ingester::wal::{Wal, WalConfig};
//! let (wal, mut replay) = Wal::open(WalConfig { dir: "/var/lib/sluice/wal".into(), ..Default::default() })?;
//! if let Some(mut snapshot) = replay.checkpoint() { /* restore from `snapshot` (io::Read) */ }
//! for record in replay.records() { let _bytes = record?; /* re-apply */ }
//! wal.append(bytes::Bytes::from_static(b"push")).await?; // durable now: ack the push
//! # Ok(()) }
//! ```

mod checkpoint;
mod direct;
mod error;
pub mod format;
mod replay;
mod writer;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;

pub use error::{Result, WalError};
pub use format::MAX_RECORD_LEN;
pub use replay::Replay;

use error::IoContext;
use replay::{open_checkpoint, remove_quietly, DirState};
use writer::{Cmd, Shared, Writer};

/// When appended records are fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// fsync before acknowledging every append (batched by group commit).
    #[default]
    Always,
    /// Acknowledge after `write()`; fsync at most once per interval (and
    /// at least once per interval while there are unsynced writes). A
    /// machine crash can lose up to one interval of acknowledged pushes; a
    /// process crash loses nothing.
    Interval(Duration),
    /// Never fsync appended records (only `close()` does): durability is
    /// left to the kernel. For tests and throwaway setups.
    Never,
}

/// WAL settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalConfig {
    /// Directory holding segments and checkpoints; created if missing.
    pub dir: PathBuf,
    /// A segment is rotated before a record would take it past this size.
    pub segment_size: u64,
    /// When appends are fsynced.
    pub fsync: FsyncPolicy,
    /// With `false`, nothing touches the disk: appends succeed at once and
    /// replay is empty.
    pub enabled: bool,
    /// Write segments with `O_DIRECT` where the file system allows it
    /// (see `direct.rs`); `false` writes through the page cache.
    pub direct_io: bool,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            dir: PathBuf::from("wal"),
            segment_size: 128 << 20,
            fsync: FsyncPolicy::Always,
            enabled: true,
            direct_io: true,
        }
    }
}

/// The write-ahead log. `Send + Sync`: share it through an `Arc`.
pub struct Wal {
    inner: Option<Inner>,
}

struct Inner {
    dir: PathBuf,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Serialises checkpoints; holds the id of the newest one.
    checkpoint: Mutex<u64>,
}

impl Wal {
    /// Opens (creating if needed) the WAL directory and starts a fresh
    /// segment. Returns the WAL plus what to replay: the newest valid
    /// checkpoint and every record written after it, in order. Files left by
    /// an interrupted checkpoint are cleaned up here.
    pub fn open(cfg: WalConfig) -> Result<(Wal, Replay)> {
        if !cfg.enabled {
            return Ok((Wal { inner: None }, Replay::default()));
        }
        let dir = cfg.dir.clone();
        std::fs::create_dir_all(&dir).at(&dir)?;
        let st = DirState::scan(&dir)?;
        for &t in &st.tmps {
            remove_quietly(&format::checkpoint_tmp_path(&dir, t));
        }
        let mut chosen = None;
        for &id in st.checkpoints.iter().rev() {
            match open_checkpoint(&dir, id)? {
                Ok((file, len)) => {
                    chosen = Some((id, file, len));
                    break;
                }
                Err(problem) => tracing::error!(
                    checkpoint = id,
                    %problem,
                    "wal checkpoint is damaged; falling back to an older one"
                ),
            }
        }
        let floor = chosen.as_ref().map_or(0, |(id, _, _)| *id);
        if floor > 0 {
            checkpoint::remove_covered(&dir, floor)?;
        }
        let segments: Vec<u64> = st
            .segments
            .iter()
            .copied()
            .filter(|&s| s >= floor)
            .collect();
        warn_gaps(floor, &segments);
        let next = st.max_id().map_or(1, |m| m + 1);
        let file = writer::create_segment(&dir, next)?;
        let shared = Arc::new(Shared::default());
        let w = Writer::new(
            shared.clone(),
            dir.clone(),
            cfg.segment_size,
            cfg.fsync,
            file,
            next,
            cfg.direct_io,
        );
        let thread = std::thread::Builder::new()
            .name("wal-writer".to_owned())
            .spawn(move || w.run())
            .map_err(WalError::Spawn)?;
        tracing::info!(
            dir = %dir.display(),
            checkpoint = floor,
            segments = segments.len(),
            active = next,
            "wal opened"
        );
        let replay = Replay::new(dir.clone(), chosen, segments);
        let inner = Inner {
            dir,
            shared,
            thread: Mutex::new(Some(thread)),
            checkpoint: Mutex::new(floor),
        };
        Ok((Wal { inner: Some(inner) }, replay))
    }

    /// Appends one record and resolves once it is durable per the fsync
    /// policy. Concurrent appends share one `write()` + `fsync`.
    ///
    /// Dropping the future after it was first polled does not withdraw the
    /// record: it may still be written (and replayed).
    pub async fn append(&self, record: Bytes) -> Result<()> {
        self.submit(record)?.await
    }

    /// Queues one record for the writer and returns at once; the returned
    /// future resolves once the record is durable per the fsync policy.
    /// Errors known up front (too large, closed, failed) are returned here.
    /// The record is written whether or not the future is awaited, so a
    /// caller can do other work (the ingester applies the push to memory)
    /// while the writer writes and fsyncs.
    pub fn submit(&self, record: Bytes) -> Result<Durable> {
        let Some(inner) = &self.inner else {
            return Ok(Durable(None));
        };
        if record.len() > MAX_RECORD_LEN {
            return Err(WalError::RecordTooLarge {
                len: record.len(),
                limit: MAX_RECORD_LEN,
            });
        }
        let (done, wait) = oneshot::channel();
        inner.shared.push(Cmd::Append { record, done })?;
        Ok(Durable(Some(wait)))
    }

    /// Starts a new segment and returns its id; every record whose `append`
    /// was called before this call is in an older segment, fsynced (unless
    /// the policy is `Never`). Blocks for a file creation and an fsync.
    /// Returns 0 when the WAL is disabled.
    pub fn rotate(&self) -> Result<u64> {
        let Some(inner) = &self.inner else {
            return Ok(0);
        };
        let (done, wait) = sync_channel(1);
        inner.shared.push(Cmd::Rotate { done })?;
        wait.recv().unwrap_or(Err(WalError::Closed))
    }

    /// Writes a checkpoint replacing every segment with id `< segment_id`
    /// (normally the id `rotate()` just returned), then deletes those
    /// segments and older checkpoints. `write` streams the payload; replay
    /// hands it back unchanged. Atomic and crash-safe; blocking (run it on
    /// `spawn_blocking`). Does nothing when the WAL is disabled.
    ///
    /// The snapshot must hold exactly the records of segments below
    /// `segment_id`: keep pushes out of the "append .. applied" window
    /// across `rotate()` and taking the snapshot (e.g. a `RwLock` that pushes
    /// hold for reading), otherwise a record can be lost or replayed twice.
    /// `tests/wal_crash.rs` shows the pattern.
    pub fn write_checkpoint(
        &self,
        segment_id: u64,
        write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let mut newest = inner.checkpoint.lock();
        let active = inner.shared.active.load(Ordering::SeqCst);
        if segment_id > active {
            return Err(WalError::CheckpointAhead {
                requested: segment_id,
                active,
            });
        }
        if segment_id < *newest {
            return Err(WalError::CheckpointStale {
                requested: segment_id,
                newest: *newest,
            });
        }
        checkpoint::write(&inner.dir, segment_id, write)?;
        *newest = segment_id;
        Ok(())
    }

    /// Writes and fsyncs everything queued, then stops the writer. Later
    /// appends fail with [`WalError::Closed`]. Idempotent.
    pub fn close(&self) -> Result<()> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let Some(thread) = inner.thread.lock().take() else {
            return Ok(());
        };
        let (done, wait) = sync_channel(1);
        let res = if inner.shared.push_close(done) {
            wait.recv().unwrap_or(Err(WalError::Closed))
        } else {
            Ok(())
        };
        if thread.join().is_err() {
            tracing::error!("wal writer thread panicked");
        }
        res
    }
}

/// A record [`Wal::submit`] queued: resolves once it is durable.
#[must_use = "the record is written anyway; await this to know it is durable"]
pub struct Durable(Option<oneshot::Receiver<Result<()>>>);

impl std::future::Future for Durable {
    type Output = Result<()>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<()>> {
        match &mut self.0 {
            None => std::task::Poll::Ready(Ok(())),
            Some(wait) => std::pin::Pin::new(wait)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(WalError::Closed))),
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing the wal failed");
        }
    }
}

/// Logs segments missing between the checkpoint and the newest segment.
fn warn_gaps(floor: u64, segments: &[u64]) {
    if let Some(&first) = segments.first() {
        if floor > 0 && first > floor {
            tracing::warn!(
                checkpoint = floor,
                first,
                "wal segments right after the checkpoint are missing; records in them are lost"
            );
        }
    }
    for pair in segments.windows(2) {
        if pair[1] != pair[0] + 1 {
            tracing::warn!(
                after = pair[0],
                before = pair[1],
                "wal segments are missing; records in them are lost"
            );
        }
    }
}

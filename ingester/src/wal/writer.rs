//! The WAL writer thread and its command queue (group commit).
//!
//! Callers push commands onto a queue guarded by a mutex and wake the writer
//! with a condition variable. The writer takes *everything* queued at once,
//! frames all appends into one buffer, issues one `write()` and (per the
//! fsync policy) one `fsync`, then resolves every waiter of that batch.
//! While it is inside `fsync`, new appends pile up and form the next batch,
//! so throughput grows with the number of concurrent appenders, and a lone
//! append is written as soon as the writer wakes: there is no batching timer.
//!
//! Commands are processed in queue order, so a `Rotate` queued after an
//! append always finds that append in the older segment.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use super::direct::{self, Direct};
use super::error::{IoContext, Result, WalError};
use super::format::{self, HEADER_LEN, SEGMENT_MAGIC};
use super::FsyncPolicy;

/// Bytes buffered before the writer issues a `write()` inside one batch.
const MAX_WRITE_BUF: usize = 8 << 20;
/// After a failed size-triggered rotation, wait this long before retrying.
const ROTATE_RETRY: Duration = Duration::from_secs(1);
/// At most one batch-failure log line per this period.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(1);

/// A request to the writer thread.
pub(crate) enum Cmd {
    Append {
        record: Bytes,
        done: oneshot::Sender<Result<()>>,
    },
    Rotate {
        done: SyncSender<Result<u64>>,
    },
    Close {
        done: SyncSender<Result<()>>,
    },
}

#[derive(Default)]
struct Queue {
    cmds: VecDeque<Cmd>,
    /// Set by `close()`: no command may be queued any more.
    closed: bool,
    /// Set by the writer after an unrecoverable error.
    failed: Option<String>,
}

/// State shared by the `Wal` handle and the writer thread.
#[derive(Default)]
pub(crate) struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Id of the segment currently being written.
    pub(crate) active: AtomicU64,
}

impl Shared {
    /// Queues a command, or says why it cannot be queued.
    pub(crate) fn push(&self, cmd: Cmd) -> Result<()> {
        let mut q = self.queue.lock();
        if let Some(why) = &q.failed {
            return Err(WalError::Failed(why.clone()));
        }
        if q.closed {
            return Err(WalError::Closed);
        }
        q.cmds.push_back(cmd);
        drop(q);
        self.wake.notify_one();
        Ok(())
    }

    /// Queues `Close` and marks the queue closed in the same critical section,
    /// so nothing can be queued behind it.
    pub(crate) fn push_close(&self, done: SyncSender<Result<()>>) -> bool {
        let mut q = self.queue.lock();
        if q.closed {
            return false;
        }
        q.closed = true;
        q.cmds.push_back(Cmd::Close { done });
        drop(q);
        self.wake.notify_one();
        true
    }
}

/// Creates segment `id` in `dir`: header written, file and directory fsynced.
pub(crate) fn create_segment(dir: &Path, id: u64) -> Result<File> {
    let path = format::segment_path(dir, id);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .at(&path)?;
    file.write_all(&format::encode_header(SEGMENT_MAGIC, id))
        .at(&path)?;
    file.sync_all().at(&path)?;
    sync_dir(dir)?;
    Ok(file)
}

/// Makes directory entries (creations, renames, deletions) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Owns the active segment; runs on the writer thread only.
pub(crate) struct Writer {
    shared: std::sync::Arc<Shared>,
    dir: PathBuf,
    segment_size: u64,
    fsync: FsyncPolicy,
    file: File,
    /// Set while `file` is open for direct writes.
    direct: Option<Direct>,
    id: u64,
    /// Bytes of the active segment known to be written (header included).
    len: u64,
    /// Written but not yet fsynced.
    dirty: bool,
    last_sync: Instant,
    /// Framed records not yet written: each frame's header and its record
    /// (written with `writev`, so records are not copied again).
    frames: Vec<format::Frame>,
    /// Bytes in `frames`.
    pending: usize,
    waiters: Vec<oneshot::Sender<Result<()>>>,
    /// Copy of `Queue::failed`, so appends need not take the queue lock.
    failed: Option<String>,
    /// No size-triggered rotation before this instant (after a failure).
    rotate_after: Instant,
    /// Rate limit of the batch-failure log: next allowed line, lines dropped.
    next_error_log: Instant,
    suppressed_errors: u64,
}

impl Writer {
    pub(crate) fn new(
        shared: std::sync::Arc<Shared>,
        dir: PathBuf,
        segment_size: u64,
        fsync: FsyncPolicy,
        file: File,
        id: u64,
        direct_io: bool,
    ) -> Self {
        shared.active.store(id, Ordering::SeqCst);
        let mut w = Writer {
            shared,
            dir,
            segment_size,
            fsync,
            file,
            direct: None,
            id,
            len: HEADER_LEN as u64,
            dirty: false,
            last_sync: Instant::now(),
            frames: Vec::new(),
            pending: 0,
            waiters: Vec::new(),
            failed: None,
            rotate_after: Instant::now(),
            next_error_log: Instant::now(),
            suppressed_errors: 0,
        };
        if direct_io {
            w.go_direct();
        }
        w
    }

    /// Reopens the active segment (holding only its header) for direct
    /// writes, where the file system allows them.
    fn go_direct(&mut self) {
        let path = format::segment_path(&self.dir, self.id);
        let Some(file) = direct::open(&path) else {
            tracing::debug!(path = %path.display(), "no O_DIRECT here; wal writes are buffered");
            self.direct = None;
            return;
        };
        let header = format::encode_header(SEGMENT_MAGIC, self.id);
        match &mut self.direct {
            Some(d) => d.restart(&header),
            None => self.direct = Some(Direct::new(&header)),
        }
        self.file = file;
    }

    /// Goes back to buffered writes of the active segment (after the
    /// device refused a direct write).
    fn go_buffered(&mut self) -> std::io::Result<()> {
        let path = format::segment_path(&self.dir, self.id);
        let mut file = OpenOptions::new().write(true).open(&path)?;
        file.set_len(self.len)?;
        file.seek(SeekFrom::Start(self.len))?;
        self.file = file;
        self.direct = None;
        tracing::warn!(path = %path.display(), "direct wal writes failed; writing through the page cache");
        Ok(())
    }

    /// Cuts the zero padding of direct writes off the active segment.
    fn trim(&mut self) -> Result<()> {
        if self.direct.is_none() {
            return Ok(());
        }
        let path = format::segment_path(&self.dir, self.id);
        self.file.set_len(self.len).at(&path)?;
        self.dirty = true;
        Ok(())
    }

    /// The writer thread's main loop; returns after `Close`.
    pub(crate) fn run(mut self) {
        let _guard = ExitGuard(self.shared.clone());
        loop {
            let Some(batch) = self.next_batch() else {
                // Interval deadline passed with nothing queued; a failure
                // marks the WAL failed inside `sync`.
                let _ = self.sync();
                continue;
            };
            for cmd in batch {
                match cmd {
                    Cmd::Append { record, done } => self.append(record, done),
                    Cmd::Rotate { done } => {
                        let res = self.commit(true).and_then(|()| self.rotate());
                        let _ = done.send(res);
                    }
                    Cmd::Close { done } => {
                        let res = self
                            .commit(false)
                            .and_then(|()| self.trim())
                            .and_then(|()| self.sync());
                        let _ = done.send(res);
                        return;
                    }
                }
            }
            if let Err(e) = self.commit(false) {
                self.log_batch_error(&e);
            }
        }
    }

    /// Waits for commands; `None` when an interval fsync is due instead.
    fn next_batch(&self) -> Option<VecDeque<Cmd>> {
        let mut q = self.shared.queue.lock();
        loop {
            if !q.cmds.is_empty() {
                return Some(std::mem::take(&mut q.cmds));
            }
            match (self.dirty, &self.fsync) {
                (true, FsyncPolicy::Interval(every)) => {
                    let due = self.last_sync + *every;
                    if Instant::now() >= due {
                        return None;
                    }
                    self.shared.wake.wait_until(&mut q, due);
                }
                _ => self.shared.wake.wait(&mut q),
            }
        }
    }

    fn append(&mut self, record: Bytes, done: oneshot::Sender<Result<()>>) {
        let frame = format::frame_len(record.len());
        let pending = self.len + self.pending as u64;
        if pending > HEADER_LEN as u64
            && pending + frame > self.segment_size
            && Instant::now() >= self.rotate_after
        {
            // Rotation failure is not fatal: keep writing the old segment
            // and retry a little later.
            let res = self.commit(true).and_then(|()| self.rotate());
            if let Err(e) = res {
                self.rotate_after = Instant::now() + ROTATE_RETRY;
                self.log_batch_error(&e);
            }
        }
        if let Some(why) = &self.failed {
            let _ = done.send(Err(WalError::Failed(why.clone())));
            return;
        }
        self.pending += format::frame_len(record.len()) as usize;
        self.frames.push((format::frame_header(&record), record));
        self.waiters.push(done);
        if self.pending >= MAX_WRITE_BUF {
            if let Err(e) = self.write_buf() {
                self.resolve(Err(e));
            }
        }
    }

    /// Writes the buffer, fsyncs per policy (always when `force_sync`, unless
    /// the policy is `Never`) and resolves the waiters.
    fn commit(&mut self, force_sync: bool) -> Result<()> {
        let res = self.write_buf().and_then(|()| {
            let due = match self.fsync {
                FsyncPolicy::Always => true,
                FsyncPolicy::Interval(every) => force_sync || self.last_sync.elapsed() >= every,
                FsyncPolicy::Never => false,
            };
            if due {
                self.sync()
            } else {
                Ok(())
            }
        });
        let for_waiters = match &res {
            Ok(()) => Ok(()),
            Err(e) => Err(clone_err(e)),
        };
        self.resolve(for_waiters);
        res
    }

    fn resolve(&mut self, res: Result<()>) {
        for w in self.waiters.drain(..) {
            let _ = w.send(match &res {
                Ok(()) => Ok(()),
                Err(e) => Err(clone_err(e)),
            });
        }
    }

    /// Writes the buffered frames. On failure the segment is cut back to its
    /// last good length so later records stay readable; if even that fails
    /// the WAL is marked failed.
    fn write_buf(&mut self) -> Result<()> {
        if self.frames.is_empty() {
            return Ok(());
        }
        if let Some(why) = &self.failed {
            self.frames.clear();
            self.pending = 0;
            return Err(WalError::Failed(why.clone()));
        }
        let path = format::segment_path(&self.dir, self.id);
        let mut written = match &mut self.direct {
            Some(d) => d.write(&self.file, self.len, &self.frames),
            None => write_frames(&mut self.file, &self.frames),
        };
        if matches!(&written, Err(e) if e.raw_os_error() == Some(libc::EINVAL))
            && self.direct.is_some()
        {
            // the device wants another alignment: keep going buffered
            written = self
                .go_buffered()
                .and_then(|()| write_frames(&mut self.file, &self.frames));
        }
        let pending = std::mem::take(&mut self.pending);
        self.frames.clear();
        match written {
            Ok(()) => {
                self.len += pending as u64;
                self.dirty = true;
                Ok(())
            }
            Err(e) => {
                let err = WalError::io(&path, e);
                let repair = self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.seek(SeekFrom::Start(self.len)).map(|_| ()));
                if let Err(re) = repair {
                    self.fail(&WalError::io(&path, re));
                }
                Err(err)
            }
        }
    }

    /// fsyncs the active segment if it has unsynced writes. A failed fsync
    /// is unrecoverable (the kernel may have dropped the dirty pages).
    fn sync(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let path = format::segment_path(&self.dir, self.id);
        match self.file.sync_data() {
            Ok(()) => {
                self.dirty = false;
                self.last_sync = Instant::now();
                Ok(())
            }
            Err(e) => {
                let err = WalError::io(&path, e);
                self.fail(&err);
                Err(err)
            }
        }
    }

    /// Starts the next segment. The caller committed the buffer first.
    fn rotate(&mut self) -> Result<u64> {
        self.trim()?;
        if !matches!(self.fsync, FsyncPolicy::Never) {
            self.sync()?;
        }
        let id = self.id + 1;
        let file = create_segment(&self.dir, id)?;
        self.file = file;
        self.id = id;
        self.len = HEADER_LEN as u64;
        self.dirty = false;
        if self.direct.is_some() {
            self.go_direct();
        }
        self.shared.active.store(id, Ordering::SeqCst);
        tracing::debug!(segment = id, "wal segment started");
        Ok(id)
    }

    /// Logs a failed batch or rotation, at most once per `ERROR_LOG_EVERY`.
    fn log_batch_error(&mut self, err: &WalError) {
        let now = Instant::now();
        if now < self.next_error_log {
            self.suppressed_errors += 1;
            return;
        }
        tracing::error!(
            segment = self.id,
            error = %err,
            suppressed = self.suppressed_errors,
            "wal write failed"
        );
        self.suppressed_errors = 0;
        self.next_error_log = now + ERROR_LOG_EVERY;
    }

    fn fail(&mut self, err: &WalError) {
        tracing::error!(segment = self.id, error = %err, "wal failed; refusing further appends");
        self.failed.get_or_insert_with(|| err.to_string());
        let mut q = self.shared.queue.lock();
        if q.failed.is_none() {
            q.failed = Some(err.to_string());
        }
    }
}

/// Writes every frame (header, then record) with as few `writev` calls as
/// the kernel allows.
fn write_frames(file: &mut File, frames: &[format::Frame]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = frames
        .iter()
        .flat_map(|(h, r)| [IoSlice::new(h), IoSlice::new(r)])
        .collect();
    let mut bufs = &mut slices[..];
    while !bufs.is_empty() {
        match file.write_vectored(bufs) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Copies an error for each waiter of a failed batch.
fn clone_err(e: &WalError) -> WalError {
    match e {
        WalError::Io { path, source } => WalError::Io {
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        other => WalError::Failed(other.to_string()),
    }
}

/// Closes the queue when the writer thread ends for any reason, dropping
/// queued commands so their callers see `Closed` instead of waiting forever.
struct ExitGuard(std::sync::Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let mut q = self.0.queue.lock();
        q.closed = true;
        q.cmds.clear();
    }
}

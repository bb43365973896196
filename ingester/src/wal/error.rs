//! Errors of the write-ahead log.

use std::path::PathBuf;

/// Result alias for WAL operations.
pub type Result<T> = std::result::Result<T, WalError>;

/// Everything that can go wrong in the WAL.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O call on a WAL file or directory failed.
    #[error("wal i/o error on {path}: {source}; check disk space and permissions")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An earlier fsync or unrecoverable write failed, so durability of data
    /// already handed to the kernel is unknown; the WAL refuses further writes.
    #[error(
        "wal is failed after an earlier i/o error ({0}); restart the ingester to replay the log"
    )]
    Failed(String),
    /// `close()` was called, or the writer thread is gone.
    #[error("wal is closed; no more records can be appended")]
    Closed,
    /// A record is larger than the framing allows.
    #[error("wal record too large: {len} bytes, limit is {limit}")]
    RecordTooLarge {
        /// Size of the rejected payload.
        len: usize,
        /// `MAX_RECORD_LEN`.
        limit: usize,
    },
    /// `write_checkpoint` was asked to cover a segment that does not exist yet.
    #[error("checkpoint for segment {requested} is ahead of the active segment {active}; call rotate() first and pass its id")]
    CheckpointAhead {
        /// The segment id passed to `write_checkpoint`.
        requested: u64,
        /// The segment currently being written.
        active: u64,
    },
    /// `write_checkpoint` was asked for an id older than the newest checkpoint.
    #[error("checkpoint for segment {requested} is older than the existing checkpoint {newest}; pass the id returned by a fresh rotate()")]
    CheckpointStale {
        /// The segment id passed to `write_checkpoint`.
        requested: u64,
        /// Id of the newest checkpoint on disk.
        newest: u64,
    },
    /// The checkpoint callback returned an error.
    #[error("writing the checkpoint payload failed: {0}")]
    CheckpointWrite(#[source] std::io::Error),
    /// The WAL writer thread could not be started.
    #[error("cannot start the wal writer thread: {0}")]
    Spawn(#[source] std::io::Error),
}

impl WalError {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WalError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Adds a path to `std::io::Result`s.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| WalError::io(path, e))
    }
}

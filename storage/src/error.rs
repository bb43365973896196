//! Errors of the storage crate.

/// Everything that can go wrong reading or writing chunks, index segments
/// and objects.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bytes that do not parse as the expected format, or fail a checksum.
    #[error("corrupt {what}: {reason}")]
    Corrupt { what: &'static str, reason: String },
    /// A format version this build cannot read.
    #[error("unsupported {what} version {version}; upgrade sluice to read it")]
    UnsupportedVersion { what: &'static str, version: u8 },
    /// An unknown compression name in the configuration.
    #[error("unknown chunk encoding {0:?}; use one of none, snappy, lz4, zstd")]
    UnknownEncoding(String),
    /// Compression or decompression failed.
    #[error("{encoding} codec error: {reason}")]
    Codec {
        encoding: &'static str,
        reason: String,
    },
    /// The object store failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Invalid storage configuration.
    #[error("invalid storage config: {0}")]
    Config(String),
    /// Local I/O failed (e.g. creating the filesystem store directory).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A background task died.
    #[error("storage task failed: {0}")]
    Task(String),
}

impl Error {
    pub(crate) fn corrupt(what: &'static str, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            what,
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for sluice_logql::source::SourceError {
    fn from(e: Error) -> Self {
        sluice_logql::source::SourceError(e.to_string())
    }
}

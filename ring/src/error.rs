//! Errors of the ring crate: one enum, lowercase actionable messages.

/// Result alias used throughout the ring crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the ring, its lifecycler or the membership store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ring has no instance owning tokens yet.
    #[error("empty ring: no instance has joined yet; check that ingesters are running and use the same kvstore")]
    EmptyRing,
    /// Not enough healthy instances to reach a quorum.
    #[error("at least {required} live replicas required, could only find {found}{}", unhealthy_suffix(.unhealthy))]
    TooManyUnhealthy {
        /// Instances needed for the operation to succeed.
        required: usize,
        /// Healthy instances found.
        found: usize,
        /// Addresses of the instances that were skipped as unhealthy.
        unhealthy: Vec<String>,
    },
    /// A configuration value is invalid.
    #[error("invalid ring configuration: {0}")]
    Config(String),
    /// No raft leader is known at the moment (election in progress or quorum lost).
    #[error("no raft leader for the membership store: {0}; retry once a majority of the voting members is up")]
    NoLeader(String),
    /// A membership member could not be reached or answered with an error.
    #[error("membership store request to {addr} failed: {reason}")]
    Remote {
        /// Address that was contacted.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// The raft engine failed.
    #[error("raft membership store: {0}")]
    Raft(String),
    /// Local storage (raft log, vote, snapshot, tokens file) failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, including the path.
        context: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A stored record could not be decoded.
    #[error("corrupt {what}: {reason}; remove the file to start over from the other members")]
    Corrupt {
        /// Which file or record.
        what: String,
        /// Why decoding failed.
        reason: String,
    },
    /// The instance is not in the ring (for example when forgetting an unknown id).
    #[error("instance {0:?} is not in the ring")]
    UnknownInstance(String),
    /// A CAS could not be applied before the retry budget ran out.
    #[error("membership store update of key {key:?} did not succeed within {timeout:?}: {last}")]
    CasTimeout {
        /// The key being updated.
        key: String,
        /// The retry budget.
        timeout: std::time::Duration,
        /// The last error seen.
        last: String,
    },
    /// The caller's before-leaving hook failed.
    #[error("before-leaving hook failed: {0}; the instance stays in the ring as LEAVING")]
    Hook(String),
}

fn unhealthy_suffix(unhealthy: &[String]) -> String {
    if unhealthy.is_empty() {
        String::new()
    } else {
        format!(" - unhealthy instances: {}", unhealthy.join(","))
    }
}

impl Error {
    /// An I/O error with a description of what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::NoLeader(_) | Error::Remote { .. })
    }
}

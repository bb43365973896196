//! Errors of the LogQL crate.

/// A LogQL error; `Display` is the text Loki would return.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// `parse error at line 1, col 17: syntax error: unexpected ...`
    #[error("parse error at line {line}, col {col}: {msg}")]
    Parse {
        line: usize,
        col: usize,
        msg: String,
    },
    /// A parse error without a position (e.g. `parse error : queries require at least one regexp or equality matcher ...`).
    #[error("parse error : {0}")]
    ParseNoPos(String),
    /// A query that is valid LogQL but cannot be run as asked (400).
    #[error("{0}")]
    BadQuery(String),
    /// A query limit was hit (400).
    #[error("{0}")]
    Limit(String),
    /// Reading from the source failed (500).
    #[error("{0}")]
    Source(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

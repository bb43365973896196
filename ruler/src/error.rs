//! Errors of the ruler and their HTTP status codes.

/// What can go wrong loading, storing, evaluating or delivering rules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule file or an API request body that is not a valid rule group
    /// (400); the message names the file, group and rule.
    #[error("{0}")]
    Invalid(String),
    /// No such namespace or group (404).
    #[error("{0}")]
    NotFound(String),
    /// Reading or writing the rules directory failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The object store holding the rule groups failed.
    #[error("rule storage: {0}")]
    Storage(String),
    /// The rule's query failed.
    #[error("query: {0}")]
    Query(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn status(&self) -> u16 {
        match self {
            Error::Invalid(_) => 400,
            Error::NotFound(_) => 404,
            Error::Io { .. } | Error::Storage(_) | Error::Query(_) => 500,
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

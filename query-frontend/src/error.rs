//! Query-frontend errors and their HTTP status codes.

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A querier (local or remote) refused or failed the query; `status` is
    /// the HTTP status it answered with (400 bad query, 5xx failure).
    #[error("{message}")]
    Query { status: u16, message: String },
    /// The tenant already has `frontend.max_outstanding_per_tenant` requests
    /// queued (429).
    #[error("too many outstanding requests")]
    TooManyOutstanding,
    /// The frontend is shutting down or its queue is gone (503).
    #[error("query-frontend is stopping, retry on another frontend")]
    Stopping,
    /// A remote querier sent something the frontend cannot read (500).
    #[error("bad response from querier: {0}")]
    Wire(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn status(&self) -> u16 {
        match self {
            Error::Query { status, .. } => *status,
            Error::TooManyOutstanding => 429,
            Error::Stopping => 503,
            Error::Wire(_) => 500,
        }
    }

    /// Whether another try may succeed: querier failures (5xx) are retried,
    /// bad queries (4xx) and queue limits are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Query { status, .. } => *status >= 500,
            Error::Wire(_) => true,
            Error::TooManyOutstanding | Error::Stopping => false,
        }
    }
}

impl From<sluice_querier::Error> for Error {
    fn from(e: sluice_querier::Error) -> Self {
        Error::Query {
            status: e.status(),
            message: e.to_string(),
        }
    }
}

impl From<sluice_logql::Error> for Error {
    fn from(e: sluice_logql::Error) -> Self {
        sluice_querier::Error::from(e).into()
    }
}

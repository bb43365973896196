//! Querier errors and their HTTP status codes.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad request parameters or query (400).
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Query(#[from] sluice_logql::Error),
    #[error("storage: {0}")]
    Storage(#[from] sluice_storage::Error),
    /// The query ran past `query_timeout` (504).
    #[error("request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed")]
    Timeout,
    #[error("internal error: {0}")]
    Internal(String),
    /// A call to another service (an ingester) failed; its status is kept.
    #[error("{0}")]
    Service(#[from] sluice_proto::service::ServiceError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::Query(e) => match e {
                sluice_logql::Error::Source(_) => 500,
                _ => 400,
            },
            Error::Storage(_) | Error::Internal(_) => 500,
            Error::Timeout => 504,
            Error::Service(e) => e.http_status(),
        }
    }

    /// The same error for a service caller (a gRPC status), message kept.
    pub fn to_service_error(&self) -> sluice_proto::service::ServiceError {
        use sluice_proto::service::{Code, ServiceError};
        if let Error::Service(e) = self {
            return e.clone();
        }
        let code = match self.status() {
            400 => Code::InvalidArgument,
            503 | 504 => Code::Unavailable,
            _ => Code::Internal,
        };
        ServiceError::new(code, self.to_string())
    }
}

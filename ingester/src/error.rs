//! Ingester errors.

use sluice_proto::service::{Code, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("wal: {0}")]
    Wal(#[from] crate::wal::WalError),
    #[error("storage: {0}")]
    Storage(#[from] sluice_storage::Error),
    #[error("corrupt wal record: {0}")]
    Record(String),
    #[error("invalid ingester config: {0}")]
    Config(String),
    #[error("ingester is shutting down")]
    Stopping,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for ServiceError {
    fn from(e: Error) -> Self {
        let code = match e {
            Error::Stopping => Code::Unavailable,
            _ => Code::Internal,
        };
        ServiceError::new(code, e.to_string())
    }
}

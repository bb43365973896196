//! Service traits between components. Each has an in-process implementation
//! (the component itself) and, for microservices, a gRPC client/server pair
//! with the same trait, so a caller cannot tell local from remote.

use crate::logproto::PushRequest;

/// Status of a failed service call, mapped to HTTP/gRPC codes in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// 400
    InvalidArgument,
    /// 413
    TooLarge,
    /// 429
    ResourceExhausted,
    /// 503
    Unavailable,
    /// 500
    Internal,
}

/// A failed service call: a code and a message a person can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceError {
    pub code: Code,
    pub message: String,
}

impl ServiceError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ServiceError {
            code,
            message: message.into(),
        }
    }

    pub fn http_status(&self) -> u16 {
        match self.code {
            Code::InvalidArgument => 400,
            Code::TooLarge => 413,
            Code::ResourceExhausted => 429,
            Code::Unavailable => 503,
            Code::Internal => 500,
        }
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServiceError {}

/// Distributor → ingester. Streams arrive validated, with `labels` in
/// canonical form (`{a="b", c="d"}`, sorted) and `hash` set to the label
/// set's fingerprint. Returns once the entries are durable in the WAL.
#[async_trait::async_trait]
pub trait Pusher: Send + Sync {
    async fn push(&self, tenant: &str, req: PushRequest) -> Result<(), ServiceError>;
}

//! Errors of the push path. `Display` is the text Loki sends back to the
//! client (byte-for-byte where Loki's wording is known), `status()` the HTTP
//! status code Loki answers with. Status mapping lives here and nowhere else.

use sluice_proto::service::{Code, ServiceError};

use crate::distributor::PushStats;

/// A failed push: either the whole body was refused, or some entries were
/// refused (see [`PushError::Validation`]), or the request was throttled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PushError {
    /// `Content-Encoding` other than none, `snappy`, `gzip` or `deflate`.
    #[error("Content-Encoding {0:?} not supported")]
    UnsupportedEncoding(String),
    /// `Content-Type` that is not a valid media type.
    #[error("{0}")]
    InvalidContentType(String),
    /// The decompressed body exceeds the configured maximum.
    #[error("request body too large: {size} bytes, limit: {limit} bytes")]
    BodyTooLarge { size: usize, limit: usize },
    /// The body could not be decompressed (gzip, deflate or snappy).
    #[error("{0}")]
    Decompress(String),
    /// The protobuf payload is malformed.
    #[error("{0}")]
    Protobuf(String),
    /// The JSON payload is malformed.
    #[error("{0}")]
    Json(String),
    /// A stream's label string is not valid label-set syntax; like Loki's
    /// HTTP handler, the whole request is refused.
    #[error("couldn't parse labels: {0}")]
    InvalidLabels(String),
    /// Some entries or streams failed validation. Valid entries in the same
    /// request were still accepted (see `stats`); the message groups the
    /// failures as Loki does.
    #[error("{message}")]
    Validation {
        message: String,
        stats: Box<PushStats>,
    },
    /// The tenant's ingestion rate limit was hit; nothing was accepted.
    #[error(
        "Ingestion rate limit exceeded for user {tenant} (limit: {limit} bytes/sec) while attempting to ingest '{lines}' lines totaling '{bytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased"
    )]
    RateLimited {
        tenant: String,
        limit: u64,
        lines: usize,
        bytes: usize,
    },
    /// No `X-Scope-OrgID` header (Loki answers 401).
    #[error("no org id")]
    MissingTenant,
    /// The tenant id has unsupported characters or is too long.
    #[error("{0}")]
    InvalidTenant(String),
    /// The ingesters refused or failed the push.
    #[error("{0}")]
    Ingester(ServiceError),
}

impl PushError {
    /// The HTTP status Loki answers with for this error.
    pub fn status(&self) -> u16 {
        match self {
            PushError::BodyTooLarge { .. } => 413,
            PushError::RateLimited { .. } => 429,
            PushError::MissingTenant => 401,
            PushError::Ingester(e) => e.http_status(),
            // Loki answers every unreadable body with 400, including an
            // unsupported Content-Encoding
            PushError::UnsupportedEncoding(_)
            | PushError::InvalidContentType(_)
            | PushError::Decompress(_)
            | PushError::Protobuf(_)
            | PushError::Json(_)
            | PushError::InvalidLabels(_)
            | PushError::Validation { .. }
            | PushError::InvalidTenant(_) => 400,
        }
    }

    /// The same error as a service error (for gRPC-facing callers).
    pub fn to_service_error(&self) -> ServiceError {
        let code = match self.status() {
            413 => Code::TooLarge,
            429 => Code::ResourceExhausted,
            503 => Code::Unavailable,
            500 => Code::Internal,
            _ => Code::InvalidArgument,
        };
        match self {
            PushError::Ingester(e) => e.clone(),
            _ => ServiceError::new(code, self.to_string()),
        }
    }
}

impl From<ServiceError> for PushError {
    fn from(e: ServiceError) -> Self {
        PushError::Ingester(e)
    }
}

/// Result alias for the push path.
pub type Result<T, E = PushError> = std::result::Result<T, E>;

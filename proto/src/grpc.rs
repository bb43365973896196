//! gRPC plumbing shared by every Sluice service: the generated tonic stubs
//! (see `build.rs`), message size limits, the tenant header, client
//! channels with timeouts, and the one place [`ServiceError`] and
//! `tonic::Status` map onto each other. `pusher` adapts the [`Pusher`]
//! service trait in both directions.
//!
//! [`Pusher`]: crate::service::Pusher

mod pusher;

use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::service::{Code, ServiceError};

pub use pusher::{pusher_server, GrpcPusher, PushCodec, PushService};

/// Generated client and server stubs.
#[allow(clippy::all, missing_docs)]
pub mod generated {
    /// `logproto.Pusher`, Loki's ingester push service.
    pub mod logproto {
        include!(concat!(env!("OUT_DIR"), "/logproto.Pusher.rs"));
    }
    /// `sluice.internal.IngesterQuerier`: what queriers ask ingesters.
    pub mod internal {
        include!(concat!(
            env!("OUT_DIR"),
            "/sluice.internal.IngesterQuerier.rs"
        ));
    }
}

pub use generated::internal::ingester_querier_client::IngesterQuerierClient;
pub use generated::internal::ingester_querier_server::{IngesterQuerier, IngesterQuerierServer};
pub use generated::logproto::pusher_client::PusherClient;
pub use generated::logproto::pusher_server::PusherServer;

/// Largest message sent or received, like Loki's
/// `grpc_server_max_recv_msg_size` / `grpc_client_max_send_msg_size`
/// settings in its example configs (100 MiB).
pub const MAX_MESSAGE_BYTES: usize = 100 << 20;

/// Request metadata carrying the tenant, as Loki's `x-scope-orgid`.
pub const TENANT_HEADER: &str = "x-scope-orgid";

/// How a client reaches an instance.
#[derive(Clone, Copy, Debug)]
pub struct ClientConfig {
    /// Longest wait for a TCP connection.
    pub connect_timeout: Duration,
    /// Longest a unary call (or collecting a streamed answer) may take.
    pub timeout: Duration,
}

/// Loki's `ingester_client` defaults: a slow replica must not hold a push
/// or a read for long when the others can answer.
impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
        }
    }
}

/// A lazily connecting channel to `addr` (`host:port` or a URL). The
/// connection is made on first use and re-made after it breaks; every call
/// through clones of the channel shares it. Must be called within a Tokio
/// runtime.
pub fn channel(addr: &str, cfg: &ClientConfig) -> Result<Channel, ServiceError> {
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let ep = Endpoint::from_shared(uri).map_err(|e| {
        ServiceError::new(
            Code::InvalidArgument,
            format!("invalid instance address {addr:?}: {e}"),
        )
    })?;
    Ok(ep
        .connect_timeout(cfg.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

/// Wraps `msg` in a request for `tenant`.
pub fn request<T>(tenant: &str, msg: T) -> Result<tonic::Request<T>, ServiceError> {
    let v = MetadataValue::try_from(tenant).map_err(|_| {
        ServiceError::new(
            Code::InvalidArgument,
            format!("invalid tenant id {tenant:?}: must be printable ascii"),
        )
    })?;
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(TENANT_HEADER, v);
    Ok(req)
}

/// The tenant a request is for.
#[allow(clippy::result_large_err)] // tonic handlers return `Status`
pub fn tenant_of<T>(req: &tonic::Request<T>) -> Result<String, tonic::Status> {
    req.metadata()
        .get(TENANT_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| tonic::Status::invalid_argument("no org id: missing x-scope-orgid metadata"))
}

/// The status a failed call answers with; the message is kept as is.
pub fn status_from_error(e: ServiceError) -> tonic::Status {
    let code = match e.code {
        Code::InvalidArgument => tonic::Code::InvalidArgument,
        Code::TooLarge => tonic::Code::OutOfRange,
        Code::ResourceExhausted => tonic::Code::ResourceExhausted,
        Code::Unavailable => tonic::Code::Unavailable,
        Code::Internal => tonic::Code::Internal,
    };
    tonic::Status::new(code, e.message)
}

/// The error a failed call returned. Connection failures and deadlines are
/// `Unavailable` (503): another replica may answer.
pub fn error_from_status(s: &tonic::Status) -> ServiceError {
    let code = match s.code() {
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => Code::InvalidArgument,
        tonic::Code::OutOfRange => Code::TooLarge,
        tonic::Code::ResourceExhausted => Code::ResourceExhausted,
        tonic::Code::Unavailable
        | tonic::Code::DeadlineExceeded
        | tonic::Code::Cancelled
        | tonic::Code::Aborted => Code::Unavailable,
        _ => Code::Internal,
    };
    ServiceError::new(code, s.message())
}

/// Runs a call with a deadline; a call past it fails as `Unavailable`.
pub async fn with_timeout<T>(
    addr: &str,
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Result<T, ServiceError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(s)) => Err(remote_error(addr, &s)),
        Err(_) => Err(ServiceError::new(
            Code::Unavailable,
            format!("{addr}: no answer within {timeout:?}"),
        )),
    }
}

/// A failure of a call to `addr`: client errors keep the instance's message
/// exactly (it is returned to the user); server and connection errors name
/// the instance.
pub fn remote_error(addr: &str, s: &tonic::Status) -> ServiceError {
    let mut e = error_from_status(s);
    if matches!(e.code, Code::Unavailable | Code::Internal) {
        e.message = format!("{addr}: {}", e.message);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_survives_a_round_trip() {
        for code in [
            Code::InvalidArgument,
            Code::TooLarge,
            Code::ResourceExhausted,
            Code::Unavailable,
            Code::Internal,
        ] {
            let e = ServiceError::new(code, "entry too far behind: x");
            let back = error_from_status(&status_from_error(e.clone()));
            assert_eq!(back, e);
        }
        let e = remote_error("i1:9095", &tonic::Status::unavailable("connection refused"));
        assert_eq!(e.http_status(), 503);
        assert_eq!(e.message, "i1:9095: connection refused");
        let e = remote_error("i1:9095", &tonic::Status::invalid_argument("bad line"));
        assert_eq!((e.http_status(), e.message.as_str()), (400, "bad line"));
    }

    #[test]
    fn tenant_travels_in_metadata() {
        let req = request("team-a", ()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tenant_of(&req).ok().as_deref(), Some("team-a"));
        assert!(tenant_of(&tonic::Request::new(())).is_err());
        assert!(request("bad\ntenant", ()).is_err());
    }
}

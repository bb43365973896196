//! The [`Pusher`] service over gRPC as Loki's `logproto.Pusher/Push`: a
//! client that implements the trait, and a server around any
//! implementation.

use std::sync::Arc;
use std::time::Duration;

use tonic::transport::Channel;
use tracing::Instrument;

use super::generated::logproto::pusher_server::Pusher as PusherRpc;
use super::{
    channel, request, status_from_error, tenant_of, with_timeout, ClientConfig, PusherClient,
    PusherServer, MAX_MESSAGE_BYTES,
};
use crate::logproto::{PushRequest, PushResponse};
use crate::service::{Pusher, ServiceError};

/// A remote ingester's push service. Cheap to clone; clones share the
/// connection.
#[derive(Clone)]
pub struct GrpcPusher {
    addr: String,
    client: PusherClient<Channel>,
    timeout: Duration,
}

impl GrpcPusher {
    /// A client for the instance at `addr`; connects on first push. Must be
    /// called within a Tokio runtime.
    pub fn connect(addr: &str, cfg: &ClientConfig) -> Result<Self, ServiceError> {
        let client = PusherClient::new(channel(addr, cfg)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(GrpcPusher {
            addr: addr.to_string(),
            client,
            timeout: cfg.timeout,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }
}

#[async_trait::async_trait]
impl Pusher for GrpcPusher {
    async fn push(&self, tenant: &str, req: PushRequest) -> Result<(), ServiceError> {
        let req = request(tenant, req)?;
        let mut client = self.client.clone();
        with_timeout(&self.addr, self.timeout, client.push(req)).await?;
        Ok(())
    }
}

/// Serves `logproto.Pusher/Push` from a [`Pusher`].
pub struct PushService {
    inner: Arc<dyn Pusher>,
}

#[tonic::async_trait]
impl PusherRpc for PushService {
    async fn push(
        &self,
        req: tonic::Request<PushRequest>,
    ) -> Result<tonic::Response<PushResponse>, tonic::Status> {
        let tenant = tenant_of(&req)?;
        let span = tracing::debug_span!("grpc_push", tenant = %tenant);
        self.inner
            .push(&tenant, req.into_inner())
            .instrument(span)
            .await
            .map_err(status_from_error)?;
        Ok(tonic::Response::new(PushResponse {}))
    }
}

/// The tonic service to add to a server: `logproto.Pusher` backed by
/// `inner`, accepting messages up to [`MAX_MESSAGE_BYTES`].
pub fn pusher_server(inner: Arc<dyn Pusher>) -> PusherServer<PushService> {
    PusherServer::new(PushService { inner })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

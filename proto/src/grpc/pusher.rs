//! The [`Pusher`] service over gRPC as Loki's `logproto.Pusher/Push`: a
//! client that implements the trait, and a server around any
//! implementation.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
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

/// The codec of `logproto.Pusher`: prost's, except that a received
/// `PushRequest` is read by [`PushRequest::decode_body`], the push
/// decoder the HTTP API uses (prost's result, faster; its lines are slices
/// of the received message). `T` is what this side sends, `U` what it
/// receives.
#[derive(Debug, Clone)]
pub struct PushCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for PushCodec<T, U> {
    fn default() -> Self {
        PushCodec(PhantomData)
    }
}

/// A message decoded from the whole of a received message's bytes.
pub trait FromBody: Sized {
    fn from_body(body: Bytes) -> Result<Self, prost::DecodeError>;
}

impl FromBody for PushRequest {
    fn from_body(body: Bytes) -> Result<Self, prost::DecodeError> {
        PushRequest::decode_body(body)
    }
}

impl FromBody for PushResponse {
    fn from_body(body: Bytes) -> Result<Self, prost::DecodeError> {
        prost::Message::decode(body)
    }
}

impl<T, U> Codec for PushCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: FromBody + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = MessageEncoder<T>;
    type Decoder = BodyDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        MessageEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        BodyDecoder(PhantomData)
    }
}

/// [`PushCodec`]'s encoder: prost's encoding (tonic does not export its
/// own encoder type).
#[derive(Debug)]
pub struct MessageEncoder<T>(PhantomData<T>);

impl<T: prost::Message> Encoder for MessageEncoder<T> {
    type Item = T;
    type Error = tonic::Status;

    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        // the buffer grows as needed, so this does not fail; were it to,
        // the call fails instead of the process
        item.encode(buf)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// [`PushCodec`]'s decoder.
#[derive(Debug)]
pub struct BodyDecoder<U>(PhantomData<U>);

impl<U: FromBody> Decoder for BodyDecoder<U> {
    type Item = U;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, tonic::Status> {
        // the message's bytes, shared with tonic's buffer, not copied
        let body = buf.copy_to_bytes(buf.remaining());
        // prost's codec reports decode errors the same way
        U::from_body(body)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

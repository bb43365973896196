//! `GrpcPusher` against a real tonic server on an ephemeral port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sluice_proto::grpc::{pusher_server, ClientConfig, GrpcPusher};
use sluice_proto::logproto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
use sluice_proto::service::{Code, Pusher, ServiceError};
use tokio::net::TcpListener;

#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<(String, PushRequest)>>,
}

#[async_trait::async_trait]
impl Pusher for Recorder {
    async fn push(&self, tenant: &str, req: PushRequest) -> Result<(), ServiceError> {
        if req.streams.iter().any(|s| s.labels.contains("reject")) {
            return Err(ServiceError::new(
                Code::InvalidArgument,
                "entry for stream '{app=\"reject\"}' has timestamp too old",
            ));
        }
        self.got.lock().unwrap().push((tenant.to_string(), req));
        Ok(())
    }
}

async fn serve(p: Arc<dyn Pusher>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(pusher_server(p))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(l)),
    );
    addr
}

fn req(app: &str, line: &'static str) -> PushRequest {
    PushRequest {
        streams: vec![StreamAdapter {
            labels: format!("{{app=\"{app}\"}}"),
            entries: vec![EntryAdapter {
                timestamp: Some(Timestamp::from_unix_nanos(1_000)),
                line: Bytes::from_static(line.as_bytes()),
                structured_metadata: vec![],
                parsed: vec![],
            }],
            hash: 42,
        }],
    }
}

fn cfg() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_millis(500),
        timeout: Duration::from_secs(2),
    }
}

#[tokio::test]
async fn push_round_trip_keeps_tenant_request_and_errors() {
    let rec = Arc::new(Recorder::default());
    let addr = serve(rec.clone()).await;
    let client = GrpcPusher::connect(&addr, &cfg()).unwrap();
    client.push("team-a", req("api", "hello")).await.unwrap();
    client.push("team-b", req("web", "bye")).await.unwrap();
    {
        let got = rec.got.lock().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "team-a");
        assert_eq!(got[0].1, req("api", "hello"));
        assert_eq!(got[1].0, "team-b");
    }
    let err = client.push("team-a", req("reject", "x")).await.unwrap_err();
    assert_eq!(err.http_status(), 400);
    assert_eq!(
        err.message,
        "entry for stream '{app=\"reject\"}' has timestamp too old"
    );
}

#[tokio::test]
async fn unreachable_instance_is_unavailable() {
    // a port nobody listens on: bind, read the port, close
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let client = GrpcPusher::connect(&addr, &cfg()).unwrap();
    let err = client.push("t", req("api", "x")).await.unwrap_err();
    assert_eq!(err.http_status(), 503, "{err}");
    assert!(err.message.starts_with(&addr), "{err}");
}

/// The wire contract with Loki: a client that knows nothing of Sluice's
/// stubs, only the path and message, is served.
#[tokio::test]
async fn served_at_lokis_pusher_path() {
    use sluice_proto::logproto::PushResponse;
    use tonic::codec::ProstCodec;
    use tonic::codegen::http::uri::PathAndQuery;

    let rec = Arc::new(Recorder::default());
    let addr = serve(rec.clone()).await;
    let ch = sluice_proto::grpc::channel(&addr, &cfg()).unwrap();
    let mut grpc = tonic::client::Grpc::new(ch);
    grpc.ready().await.unwrap();
    let mut r = tonic::Request::new(req("api", "raw"));
    r.metadata_mut()
        .insert("x-scope-orgid", "loki-tenant".parse().unwrap());
    let codec: ProstCodec<PushRequest, PushResponse> = ProstCodec::default();
    grpc.unary(r, PathAndQuery::from_static("/logproto.Pusher/Push"), codec)
        .await
        .unwrap();
    let got = rec.got.lock().unwrap();
    assert_eq!(got[0].0, "loki-tenant");
    assert_eq!(got[0].1, req("api", "raw"));
}

/// Sends its bytes as they are (to put a malformed message on the wire).
struct RawCodec;

struct RawEncoder;

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(buf, &item);
        Ok(())
    }
}

type ResponseCodec = tonic::codec::ProstCodec<
    sluice_proto::logproto::PushResponse,
    sluice_proto::logproto::PushResponse,
>;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = sluice_proto::logproto::PushResponse;
    type Encoder = RawEncoder;
    type Decoder = <ResponseCodec as tonic::codec::Codec>::Decoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic::codec::Codec::decoder(&mut ResponseCodec::default())
    }
}

/// The server decodes pushes with `PushRequest::decode_body`: a malformed
/// one is refused as prost's codec refuses it (Internal, prost's message),
/// and nothing reaches the pusher.
#[tokio::test]
async fn malformed_push_is_refused_as_prosts_codec_refuses_it() {
    use tonic::codegen::http::uri::PathAndQuery;

    let rec = Arc::new(Recorder::default());
    let addr = serve(rec.clone()).await;
    let ch = sluice_proto::grpc::channel(&addr, &cfg()).unwrap();
    let mut grpc = tonic::client::Grpc::new(ch);
    // a stream whose entry claims more bytes than the stream holds
    let bad = vec![0x0a, 0x04, 0x12, 0x05, 0x12, 0x01];
    let want = <PushRequest as prost::Message>::decode(&bad[..]).unwrap_err();
    grpc.ready().await.unwrap();
    let err = grpc
        .unary(
            tonic::Request::new(bad),
            PathAndQuery::from_static("/logproto.Pusher/Push"),
            RawCodec,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Internal);
    assert_eq!(err.message(), want.to_string());
    assert!(rec.got.lock().unwrap().is_empty());
}

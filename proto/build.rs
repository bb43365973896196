//! Generates the tonic client and server stubs for Sluice's gRPC services
//! from Rust descriptions (no `.proto` files, no system `protoc`): the
//! messages are hand-declared `prost` structs in `src/logproto.rs` and
//! `src/internal.rs`.

use tonic_build::manual::{Builder, Method, Service};

const CODEC: &str = "tonic::codec::ProstCodec";

fn unary(name: &str, route: &str, input: &str, output: &str) -> Method {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(input)
        .output_type(output)
        .codec_path(CODEC)
        .build()
}

fn server_streaming(name: &str, route: &str, input: &str, output: &str) -> Method {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(input)
        .output_type(output)
        .codec_path(CODEC)
        .server_streaming()
        .build()
}

fn main() {
    // Loki's `logproto.Pusher`: same package, service and method names, so
    // the path is `/logproto.Pusher/Push` as on a Loki ingester.
    let pusher = Service::builder()
        .name("Pusher")
        .package("logproto")
        .method(
            Method::builder()
                .name("push")
                .route_name("Push")
                .input_type("crate::logproto::PushRequest")
                .output_type("crate::logproto::PushResponse")
                // prost's codec with the hand-written push decoder
                .codec_path("crate::grpc::PushCodec")
                .build(),
        )
        .build();
    let m = |t: &str| format!("crate::internal::{t}");
    let querier = Service::builder()
        .name("IngesterQuerier")
        .package("sluice.internal")
        .method(server_streaming(
            "chunks",
            "Chunks",
            &m("ChunksRequest"),
            &m("ChunksResponse"),
        ))
        .method(unary(
            "series",
            "Series",
            &m("SelectRequest"),
            &m("SeriesResponse"),
        ))
        .method(unary(
            "label_names",
            "LabelNames",
            &m("SelectRequest"),
            &m("LabelNamesResponse"),
        ))
        .method(unary(
            "label_values",
            "LabelValues",
            &m("LabelValuesRequest"),
            &m("LabelValuesResponse"),
        ))
        .method(unary(
            "stats",
            "Stats",
            &m("SelectRequest"),
            &m("StatsResponse"),
        ))
        .method(server_streaming(
            "tail",
            "Tail",
            &m("TailRequest"),
            &m("TailResponse"),
        ))
        .build();
    Builder::new().compile(&[pusher, querier]);
}

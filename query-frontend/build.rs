//! Generates the tonic stubs of the frontend's scheduling service from a
//! Rust description (no `.proto` file, no system `protoc`), as the proto
//! crate does: the messages are hand-declared `prost` structs in
//! `src/remote/proto.rs`.

use tonic_build::manual::{Builder, Method, Service};

fn main() {
    // Loki's frontend v1 `frontend.Frontend/Process`: a querier worker
    // opens the stream, the frontend sends sub-queries on it and the
    // querier answers each on the same stream.
    let m = |t: &str| format!("crate::remote::proto::{t}");
    let frontend = Service::builder()
        .name("Frontend")
        .package("frontend")
        .method(
            Method::builder()
                .name("process")
                .route_name("Process")
                .input_type(m("ClientToFrontend"))
                .output_type(m("FrontendToClient"))
                .codec_path("tonic::codec::ProstCodec")
                .client_streaming()
                .server_streaming()
                .build(),
        )
        .build();
    Builder::new().compile(&[frontend]);
}

//! Messages of the `frontend.Frontend` gRPC service and its generated
//! stubs (see `build.rs`). Hand-declared `prost` structs; field numbers
//! are part of the wire contract between Sluice versions: never reuse or
//! renumber one.
//!
//! | RPC | querier sends | frontend sends |
//! |---|---|---|
//! | `Process` | stream of [`ClientToFrontend`] (one answer per job) | stream of [`FrontendToClient`] (jobs, and keep-alives while idle) |

/// Frontend to querier: a sub-query to run, or a keep-alive.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct FrontendToClient {
    /// The job's id, echoed in the answer; 0 for a keep-alive.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The sub-query as `wire::WireQuery` JSON; empty for a keep-alive
    /// (the querier ignores it and does not answer).
    #[prost(bytes = "vec", tag = "2")]
    pub query: Vec<u8>,
}

/// Querier to frontend: the answer to the job it was last sent.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct ClientToFrontend {
    /// The id of the job this answers.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The answer as `wire::WireResult` JSON (a value or the querier's
    /// error with its HTTP status).
    #[prost(bytes = "vec", tag = "2")]
    pub result: Vec<u8>,
}

/// Generated client and server stubs of `frontend.Frontend`.
#[allow(clippy::all, missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/frontend.Frontend.rs"));
}

pub use generated::frontend_client::FrontendClient;
pub use generated::frontend_server::{Frontend, FrontendServer};

//! Messages of the `frontend.Frontend` gRPC service and its generated
//! stubs (see `build.rs`). Hand-declared `prost` structs; field numbers
//! are part of the wire contract between Sluice versions: never reuse or
//! renumber one.
//!
//! | RPC | querier sends | frontend sends |
//! |---|---|---|
//! | `Process` | stream of [`ClientToFrontend`] (one answer per job, with its [`ReadStats`]) | stream of [`FrontendToClient`] (jobs, and keep-alives while idle) |

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
    /// What the querier read for this job (absent from queriers that
    /// predate it: counted as nothing read).
    #[prost(message, optional, tag = "3")]
    pub stats: Option<ReadStats>,
}

/// A sub-query's read statistics (`sluice_logql::stats::QueryStats`).
#[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
pub struct ReadStats {
    /// Entries read before any filter.
    #[prost(uint64, tag = "1")]
    pub lines: u64,
    /// Their line bytes.
    #[prost(uint64, tag = "2")]
    pub bytes: u64,
    /// Entries that passed the pipeline.
    #[prost(uint64, tag = "3")]
    pub post_filter_lines: u64,
}

impl From<sluice_logql::stats::QueryStats> for ReadStats {
    fn from(s: sluice_logql::stats::QueryStats) -> Self {
        ReadStats {
            lines: s.lines,
            bytes: s.bytes,
            post_filter_lines: s.post_filter_lines,
        }
    }
}

impl From<ReadStats> for sluice_logql::stats::QueryStats {
    fn from(s: ReadStats) -> Self {
        sluice_logql::stats::QueryStats {
            lines: s.lines,
            bytes: s.bytes,
            post_filter_lines: s.post_filter_lines,
        }
    }
}

/// Generated client and server stubs of `frontend.Frontend`.
#[allow(clippy::all, missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/frontend.Frontend.rs"));
}

pub use generated::frontend_client::FrontendClient;
pub use generated::frontend_server::{Frontend, FrontendServer};

//! Messages of Sluice's own gRPC services (`sluice.internal`): what a
//! querier asks an ingester for. Hand-declared with `prost` derives like
//! `logproto`; field numbers are part of the wire contract between Sluice
//! processes of one version and the next: never reuse or renumber one.
//!
//! The tenant travels in the `x-scope-orgid` request metadata, as in Loki,
//! not in the messages.
//!
//! Service `sluice.internal.IngesterQuerier` (stubs in `crate::grpc`):
//!
//! | RPC | request | response |
//! |---|---|---|
//! | `Chunks` | [`SelectRequest`] | stream of [`ChunksResponse`] (chunk object bytes, ≤ ~4 MiB per message) |
//! | `Series` | [`SelectRequest`] | [`SeriesResponse`] |
//! | `LabelNames` | [`SelectRequest`] | [`LabelNamesResponse`] |
//! | `LabelValues` | [`LabelValuesRequest`] | [`LabelValuesResponse`] |
//! | `Stats` | [`SelectRequest`] | [`StatsResponse`] (totals and per stream) |
//! | `Tail` | [`TailRequest`] | stream of [`TailResponse`] until the client leaves |

use bytes::Bytes;

use crate::logproto::{EntryAdapter, LabelPairAdapter};

/// How a label matcher compares (`=`, `!=`, `=~`, `!~`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum MatchType {
    Equal = 0,
    NotEqual = 1,
    RegexMatch = 2,
    RegexNoMatch = 3,
}

/// One label matcher of a stream selector.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct LabelMatcher {
    #[prost(enumeration = "MatchType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub value: String,
}

/// Streams matching `matchers` with data in `[from, through]` (unix ns).
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct SelectRequest {
    #[prost(message, repeated, tag = "1")]
    pub matchers: Vec<LabelMatcher>,
    #[prost(int64, tag = "2")]
    pub from: i64,
    #[prost(int64, tag = "3")]
    pub through: i64,
}

/// `Chunks`: the in-memory chunks of the selected streams.
pub type ChunksRequest = SelectRequest;

/// A label set, pairs sorted by name.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct LabelSet {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<LabelPairAdapter>,
}

/// One stream's in-memory chunks, each in the storage crate's chunk object
/// encoding (the same bytes a flush would upload).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ChunkSeries {
    #[prost(message, optional, tag = "1")]
    pub labels: Option<LabelSet>,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub chunks: Vec<Bytes>,
}

/// One message of the `Chunks` response stream: a batch of streams. A
/// stream is never split across messages.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ChunksResponse {
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<ChunkSeries>,
}

#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct SeriesResponse {
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<LabelSet>,
}

#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct LabelNamesResponse {
    #[prost(string, repeated, tag = "1")]
    pub names: Vec<String>,
}

/// Values of label `name` over the selected streams.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct LabelValuesRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub select: Option<SelectRequest>,
}

#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct LabelValuesResponse {
    #[prost(string, repeated, tag = "1")]
    pub values: Vec<String>,
}

/// Totals over the selected streams' in-memory chunks (`/index/stats`),
/// and the same per stream so a reader of several replicas can count each
/// stream once.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct StatsResponse {
    #[prost(uint64, tag = "1")]
    pub streams: u64,
    #[prost(uint64, tag = "2")]
    pub chunks: u64,
    #[prost(uint64, tag = "3")]
    pub bytes: u64,
    #[prost(uint64, tag = "4")]
    pub entries: u64,
    #[prost(message, repeated, tag = "5")]
    pub per_stream: Vec<StreamStats>,
}

/// One stream's in-memory chunks, entries and uncompressed bytes.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct StreamStats {
    #[prost(message, optional, tag = "1")]
    pub labels: Option<LabelSet>,
    #[prost(uint64, tag = "2")]
    pub chunks: u64,
    #[prost(uint64, tag = "3")]
    pub bytes: u64,
    #[prost(uint64, tag = "4")]
    pub entries: u64,
}

/// Live tail: entries pushed from now on to streams matching `matchers`.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct TailRequest {
    #[prost(message, repeated, tag = "1")]
    pub matchers: Vec<LabelMatcher>,
}

/// One stream's entries from one push, or (with no entries) a report of
/// entries the ingester dropped because the tail could not keep up.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TailResponse {
    #[prost(message, optional, tag = "1")]
    pub labels: Option<LabelSet>,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Entries dropped for this subscription so far.
    #[prost(uint64, tag = "3")]
    pub dropped_total: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use prost::Message;

    #[test]
    fn chunk_bytes_round_trip_without_copy_semantics_changing() {
        let resp = ChunksResponse {
            series: vec![ChunkSeries {
                labels: Some(LabelSet {
                    labels: vec![LabelPairAdapter::new("app", "api")],
                }),
                chunks: vec![Bytes::from_static(b"SLCK\x01\x00abc"), Bytes::new()],
            }],
        };
        let back = ChunksResponse::decode(resp.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, resp);
        let m = LabelMatcher {
            r#type: MatchType::RegexNoMatch as i32,
            name: "a".into(),
            value: "b.*".into(),
        };
        let back = LabelMatcher::decode(m.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back.r#type(), MatchType::RegexNoMatch);
    }
}

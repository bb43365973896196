//! Loki's push protocol (`logproto.PushRequest` and friends).

use bytes::Bytes;

/// `google.protobuf.Timestamp`
#[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    pub fn from_unix_nanos(ns: i64) -> Self {
        Timestamp {
            seconds: ns.div_euclid(1_000_000_000),
            nanos: ns.rem_euclid(1_000_000_000) as i32,
        }
    }

    pub fn unix_nanos(&self) -> i64 {
        self.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos))
    }
}

/// `logproto.PushRequest`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.PushResponse`: empty, the ack of a push.
#[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
pub struct PushResponse {}

/// `logproto.StreamAdapter`: one stream's labels (Prometheus text form, e.g.
/// `{app="api", env="prod"}`) and its entries.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// A protobuf `string` on the wire; kept as bytes to avoid a copy.
    #[prost(bytes = "bytes", tag = "2")]
    pub line: Bytes,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
    /// Labels added by query-time parsers (only set in query responses).
    #[prost(message, repeated, tag = "4")]
    pub parsed: Vec<LabelPairAdapter>,
}

/// `logproto.LabelPairAdapter`
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use prost::Message;

    #[test]
    fn round_trips() {
        let req = PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{app="api"}"#.into(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp::from_unix_nanos(1_700_000_000_123_456_789)),
                    line: Bytes::from_static(b"hello"),
                    structured_metadata: vec![LabelPairAdapter {
                        name: "trace_id".into(),
                        value: "abc".into(),
                    }],
                    parsed: vec![],
                }],
                hash: 0,
            }],
        };
        let bytes = req.encode_to_vec();
        let back = PushRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(back, req);
        assert_eq!(
            back.streams[0].entries[0].timestamp.unwrap().unix_nanos(),
            1_700_000_000_123_456_789
        );
    }
}

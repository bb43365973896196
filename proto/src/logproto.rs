//! Loki's push protocol (`logproto.PushRequest` and friends).

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{DecodeContext, WireType};
use prost::DecodeError;

pub use crate::pstr::PStr;

#[path = "logproto_decode.rs"]
mod decode;

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

/// `logproto.LabelPairAdapter`: a structured metadata pair (or a parsed
/// label in query responses). Its `string` fields are [`PStr`]s, so the
/// `prost::Message` implementation is written out here (prost's derive
/// knows only `String` for strings); it is the derive's, field for field.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct LabelPairAdapter {
    pub name: PStr,
    pub value: PStr,
}

impl LabelPairAdapter {
    pub fn new(name: impl Into<PStr>, value: impl Into<PStr>) -> Self {
        LabelPairAdapter {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl prost::Message for LabelPairAdapter {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.name.is_empty() {
            self.name.encode(1, buf);
        }
        if !self.value.is_empty() {
            self.value.encode(2, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let field = match tag {
            1 => ("name", &mut self.name),
            2 => ("value", &mut self.value),
            _ => return prost::encoding::skip_field(wire_type, tag, buf, ctx),
        };
        field.1.merge(wire_type, buf, ctx).map_err(|mut e| {
            e.push("LabelPairAdapter", field.0);
            e
        })
    }

    fn encoded_len(&self) -> usize {
        let len = |s: &PStr, tag| if s.is_empty() { 0 } else { s.encoded_len(tag) };
        len(&self.name, 1) + len(&self.value, 2)
    }

    fn clear(&mut self) {
        *self = LabelPairAdapter::default();
    }
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

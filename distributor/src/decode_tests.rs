#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message;
use sluice_proto::logproto::{
    EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};

use super::decode_push;
use crate::error::PushError;

const MAX: usize = 1 << 20;

fn sample() -> PushRequest {
    PushRequest {
        streams: vec![StreamAdapter {
            labels: r#"{app="api", env="prod"}"#.into(),
            entries: vec![
                EntryAdapter {
                    timestamp: Some(Timestamp::from_unix_nanos(1_570_818_238_000_000_001)),
                    line: Bytes::from_static(b"hello"),
                    structured_metadata: vec![LabelPairAdapter::new("trace_id", "abc")],
                    parsed: vec![],
                },
                EntryAdapter {
                    timestamp: Some(Timestamp::from_unix_nanos(1_570_818_238_000_000_002)),
                    line: Bytes::from_static(b"world"),
                    structured_metadata: vec![],
                    parsed: vec![],
                },
            ],
            hash: 0,
        }],
    }
}

fn snappy(req: &PushRequest) -> Bytes {
    Bytes::from(
        snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap(),
    )
}

fn gzip(data: &[u8]) -> Bytes {
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    w.write_all(data).unwrap();
    Bytes::from(w.finish().unwrap())
}

fn deflate(data: &[u8]) -> Bytes {
    let mut w = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    w.write_all(data).unwrap();
    Bytes::from(w.finish().unwrap())
}

fn json(body: &str) -> Result<PushRequest, PushError> {
    decode_push(
        Some("application/json"),
        None,
        Bytes::copy_from_slice(body.as_bytes()),
        MAX,
    )
}

#[test]
fn protobuf_snappy_round_trips() {
    let req = sample();
    for ct in [
        Some("application/x-protobuf"),
        None,
        Some(""),
        Some("application/octet-stream"),
    ] {
        assert_eq!(
            decode_push(ct, None, snappy(&req), MAX).unwrap(),
            req,
            "{ct:?}"
        );
    }
    // clients sometimes announce the snappy block as an encoding
    assert_eq!(
        decode_push(
            Some("application/x-protobuf"),
            Some("snappy"),
            snappy(&req),
            MAX
        )
        .unwrap(),
        req
    );
}

#[test]
fn protobuf_lines_share_the_decompressed_buffer() {
    let req = decode_push(None, None, snappy(&sample()), MAX).unwrap();
    let a = req.streams[0].entries[0].line.as_ptr() as usize;
    let b = req.streams[0].entries[1].line.as_ptr() as usize;
    // both lines point into one small buffer rather than separate allocations
    assert!(b > a && b - a < 64, "{a:#x} {b:#x}");
    // so do structured metadata names and values
    let e = &req.streams[0].entries[0];
    let (line, md) = (e.line.as_ptr() as usize, &e.structured_metadata[0]);
    for s in [md.name.as_ptr() as usize, md.value.as_ptr() as usize] {
        assert!(s.abs_diff(line) < 64, "{s:#x} {line:#x}");
    }
}

#[test]
fn structured_metadata_that_is_not_utf8_is_refused() {
    let mut req = sample();
    req.streams[0].entries[0].structured_metadata[0].value = "\u{1}bc".into();
    let mut wire = req.encode_to_vec();
    // the value's first byte, made a lone continuation byte
    let at = wire.windows(3).position(|w| w == b"\x01bc").unwrap();
    wire[at] = 0x80;
    let body = Bytes::from(snap::raw::Encoder::new().compress_vec(&wire).unwrap());
    let err = decode_push(None, None, body, MAX).unwrap_err().to_string();
    assert!(
        err.contains("LabelPairAdapter.value") && err.contains("not UTF-8"),
        "{err}"
    );
}

#[test]
fn gzip_and_deflate_of_protobuf() {
    let req = sample();
    let raw = snappy(&req);
    assert_eq!(
        decode_push(
            Some("application/x-protobuf"),
            Some("gzip"),
            gzip(&raw),
            MAX
        )
        .unwrap(),
        req
    );
    assert_eq!(
        decode_push(
            Some("application/x-protobuf"),
            Some("deflate"),
            deflate(&raw),
            MAX
        )
        .unwrap(),
        req
    );
}

const JSON_BODY: &str = r#"{"streams": [{ "stream": { "foo": "bar2", "app": "x" }, "values": [ [ "1570818238000000000", "fizzbuzz" ], [ "1570818238000000001", "a\"b\nc", {"trace_id": "t1", "user": "u"} ] ] }]}"#;

#[test]
fn json_with_and_without_structured_metadata() {
    let req = json(JSON_BODY).unwrap();
    assert_eq!(req.streams.len(), 1);
    let s = &req.streams[0];
    assert_eq!(s.labels, r#"{app="x", foo="bar2"}"#);
    assert_eq!(s.entries.len(), 2);
    assert_eq!(
        s.entries[0].timestamp.unwrap().unix_nanos(),
        1_570_818_238_000_000_000
    );
    assert_eq!(&s.entries[0].line[..], b"fizzbuzz");
    assert!(s.entries[0].structured_metadata.is_empty());
    assert_eq!(&s.entries[1].line[..], b"a\"b\nc");
    assert_eq!(
        s.entries[1].structured_metadata,
        vec![
            LabelPairAdapter::new("trace_id", "t1"),
            LabelPairAdapter::new("user", "u"),
        ]
    );
}

#[test]
fn json_gzip_deflate_and_charset() {
    let want = json(JSON_BODY).unwrap();
    let gz = decode_push(
        Some("application/json; charset=utf-8"),
        Some("gzip"),
        gzip(JSON_BODY.as_bytes()),
        MAX,
    );
    assert_eq!(gz.unwrap(), want);
    let df = decode_push(
        Some("Application/JSON"),
        Some("deflate"),
        deflate(JSON_BODY.as_bytes()),
        MAX,
    );
    assert_eq!(df.unwrap(), want);
}

#[test]
fn json_label_values_are_quoted_and_sorted() {
    let req =
        json(r#"{"streams":[{"stream":{"z":"1","a":"q\"uo\\te"},"values":[["1","x"]]}]}"#).unwrap();
    assert_eq!(req.streams[0].labels, r#"{a="q\"uo\\te", z="1"}"#);
}

#[test]
fn json_legacy_form() {
    let req = json(r#"{"streams":[{"labels":"{foo=\"bar\"}","entries":[{"ts":"2019-10-11T18:23:58.5Z","line":"old"}]}]}"#)
        .unwrap();
    assert_eq!(req.streams[0].labels, r#"{foo="bar"}"#);
    assert_eq!(
        req.streams[0].entries[0].timestamp.unwrap().unix_nanos(),
        1_570_818_238_500_000_000
    );
    assert_eq!(&req.streams[0].entries[0].line[..], b"old");
}

#[test]
fn json_empty_and_missing_parts() {
    assert_eq!(json(r#"{"streams":[]}"#).unwrap().streams.len(), 0);
    assert_eq!(json(r#"{}"#).unwrap().streams.len(), 0);
    let req = json(r#"{"streams":[{"stream":{"a":"b"}}], "extra": 1}"#).unwrap();
    assert!(req.streams[0].entries.is_empty());
}

#[test]
fn malformed_json_is_400() {
    let cases = [
        "",
        "{",
        r#"{"streams": [{ "stream": { "foo": "bar2" }, "values": [ [ "1570818238000000000", {"fizz": "buzz"} ] ] }]}"#,
        r#"{"streams":[{"stream":{"a":"b"},"values":[[1570818238000000000,"x"]]}]}"#,
        r#"{"streams":[{"stream":{"a":"b"},"values":[["abc","x"]]}]}"#,
        r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{},"extra"]]}]}"#,
        r#"{"streams":[{"stream":{"a":1},"values":[["1","x"]]}]}"#,
        r#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#,
        r#"{"streams":[{"labels":"{a=\"b\"}","entries":[{"ts":"yesterday","line":"x"}]}]}"#,
    ];
    for body in cases {
        let err = json(body).unwrap_err();
        assert!(matches!(err, PushError::Json(_)), "{body}: {err:?}");
        assert_eq!(err.status(), 400, "{body}");
    }
    let err = json(r#"{"streams":[{"stream":{"a":"b"},"values":[["abc","x"]]}]}"#).unwrap_err();
    assert!(
        err.to_string().contains(
            r#"error reading entry timestamp: strconv.ParseInt: parsing "abc": invalid syntax"#
        ),
        "{err}"
    );
}

#[test]
fn malformed_protobuf_and_compression_are_400() {
    let e = decode_push(None, None, Bytes::from_static(b"\xff\xff\xff\xff\xff"), MAX).unwrap_err();
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (400, "snappy: corrupt input")
    );

    let bad_proto = Bytes::from(
        snap::raw::Encoder::new()
            .compress_vec(b"\x0a\xff\xff\xff")
            .unwrap(),
    );
    let e = decode_push(None, None, bad_proto, MAX).unwrap_err();
    assert!(matches!(e, PushError::Protobuf(_)), "{e:?}");
    assert_eq!(e.status(), 400);

    let e = decode_push(None, Some("gzip"), Bytes::from_static(b"not gzip"), MAX).unwrap_err();
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (400, "gzip: invalid header")
    );

    let mut truncated = gzip(JSON_BODY.as_bytes()).to_vec();
    truncated.truncate(truncated.len() / 2);
    let e = decode_push(
        Some("application/json"),
        Some("gzip"),
        Bytes::from(truncated),
        MAX,
    )
    .unwrap_err();
    assert!(matches!(e, PushError::Decompress(_)), "{e:?}");

    let e = decode_push(None, Some("br"), snappy(&sample()), MAX).unwrap_err();
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (400, r#"Content-Encoding "br" not supported"#)
    );

    let e = decode_push(
        Some("application/json; charsetutf-8"),
        None,
        Bytes::from_static(b"{}"),
        MAX,
    )
    .unwrap_err();
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (400, "mime: invalid media parameter")
    );

    // JSON sent as snappy "encoding" is still JSON bytes: unreadable
    let e = decode_push(
        Some("application/json"),
        Some("snappy"),
        gzip(JSON_BODY.as_bytes()),
        MAX,
    )
    .unwrap_err();
    assert_eq!(e.status(), 400);
}

#[test]
fn oversized_bodies_are_413() {
    let big = PushRequest {
        streams: vec![StreamAdapter {
            labels: r#"{a="b"}"#.into(),
            entries: vec![EntryAdapter {
                timestamp: Some(Timestamp::from_unix_nanos(1)),
                line: Bytes::from(vec![b'x'; 10_000]),
                structured_metadata: vec![],
                parsed: vec![],
            }],
            hash: 0,
        }],
    };
    let e = decode_push(None, None, snappy(&big), 5_000).unwrap_err();
    assert_eq!(e.status(), 413);
    assert!(e.to_string().starts_with("request body too large: "), "{e}");
    assert!(e.to_string().ends_with(" bytes, limit: 5000 bytes"), "{e}");

    let e = decode_push(
        Some("application/json"),
        Some("gzip"),
        gzip(&[b' '; 10_000]),
        5_000,
    )
    .unwrap_err();
    assert_eq!(
        e,
        PushError::BodyTooLarge {
            size: 5_001,
            limit: 5_000
        }
    );

    let e = decode_push(
        Some("application/json"),
        None,
        Bytes::from(vec![b' '; 6_000]),
        5_000,
    )
    .unwrap_err();
    assert_eq!(
        e,
        PushError::BodyTooLarge {
            size: 6_000,
            limit: 5_000
        }
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        ct in prop_oneof![Just(None), Just(Some("application/json")), Just(Some("application/x-protobuf")), Just(Some("x;;=")) ],
        enc in prop_oneof![Just(None), Just(Some("gzip")), Just(Some("deflate")), Just(Some("snappy"))],
    ) {
        let _ = decode_push(ct, enc, Bytes::from(body), 4096);
    }

    #[test]
    fn snappy_framed_garbage_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let wrapped = Bytes::from(snap::raw::Encoder::new().compress_vec(&body).unwrap());
        let _ = decode_push(None, None, wrapped, 4096);
    }

    #[test]
    fn json_values_round_trip(line in "\\PC{0,40}", ts in -1_000_000_000_000_000_000i64..4_000_000_000_000_000_000) {
        let body = serde_json::json!({"streams":[{"stream":{"a":"b"},"values":[[ts.to_string(), line.clone()]]}]});
        let req = json(&body.to_string()).unwrap();
        prop_assert_eq!(req.streams[0].entries[0].timestamp.unwrap().unix_nanos(), ts);
        prop_assert_eq!(&req.streams[0].entries[0].line[..], line.as_bytes());
    }
}

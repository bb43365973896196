#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message;

use crate::logproto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};

/// Decodes `input` with prost's derived decoder and with `decode_body`:
/// both must give the same request, or the same error.
fn check(input: &[u8]) {
    let want = <PushRequest as Message>::decode(Bytes::copy_from_slice(input));
    let got = PushRequest::decode_body(Bytes::copy_from_slice(input));
    match (want, got) {
        (Ok(w), Ok(g)) => assert_eq!(w, g, "{input:02x?}"),
        (Err(w), Err(g)) => assert_eq!(w.to_string(), g.to_string(), "{input:02x?}"),
        (w, g) => panic!("prost {w:?}, decode_body {g:?} on {input:02x?}"),
    }
}

fn pair() -> impl Strategy<Value = LabelPairAdapter> {
    ("[a-z_]{0,5}", "\\PC{0,5}").prop_map(|(n, v)| LabelPairAdapter::new(n, v))
}

fn entry() -> impl Strategy<Value = EntryAdapter> {
    (
        proptest::option::of((any::<i64>(), any::<i32>())),
        vec(any::<u8>(), 0..24),
        vec(pair(), 0..3),
        vec(pair(), 0..2),
    )
        .prop_map(|(ts, line, md, parsed)| EntryAdapter {
            timestamp: ts.map(|(seconds, nanos)| Timestamp { seconds, nanos }),
            line: Bytes::from(line),
            structured_metadata: md,
            parsed,
        })
}

fn request() -> impl Strategy<Value = PushRequest> {
    vec(
        ("\\PC{0,10}", vec(entry(), 0..5), any::<u64>()).prop_map(|(labels, entries, hash)| {
            StreamAdapter {
                labels,
                entries,
                hash,
            }
        }),
        0..4,
    )
    .prop_map(|streams| PushRequest { streams })
}

/// Byte runs that make interesting damage: unknown fields of every wire
/// type, groups and stray group ends, bad wire types, tag 0, long and
/// overlong varints, keys of the known fields, bytes that are not UTF-8.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 1..4),
        prop::sample::select(vec![
            vec![0x28, 0x01],
            vec![0x35, 1, 2, 3, 4],
            vec![0x39, 1, 2, 3, 4, 5, 6, 7, 8],
            vec![0x4a, 0x02, b'a', b'b'],
            vec![0x4b, 0x28, 0x01, 0x4c],
            vec![0x4b, 0x0b, 0x0c, 0x4c],
            vec![0x0b],
            vec![0x0c],
            vec![0x4c],
            vec![0x0e],
            vec![0x0f],
            vec![0x00],
            vec![0xff; 11],
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            vec![0xff, 0xff, 0xff, 0xff, 0x7f],
            vec![0x80, 0x80, 0x80, 0x80, 0x10],
            vec![0x08, 0x96, 0x01],
            vec![0x10, 0xff, 0xff, 0xff, 0xff, 0x0f],
            vec![0x0a, 0x00],
            vec![0x0a, 0x02, 0x08, 0x01],
            vec![0x12, 0x01, 0xff],
            vec![0x12, 0x7f],
            vec![0x1a, 0x04, 0x0a, 0x02, 0xc3, 0x28],
            vec![0x0a, 0x02, 0xc3, 0x28],
            vec![0x18, 0x05],
        ]),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Cut(usize),
    Remove(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, x)| Edit::Flip(at, x)),
        (any::<usize>(), piece()).prop_map(|(at, p)| Edit::Insert(at, p)),
        any::<usize>().prop_map(Edit::Cut),
        (any::<usize>(), 1..4usize).prop_map(|(at, n)| Edit::Remove(at, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    let at = |i: usize, n: usize| if n == 0 { 0 } else { i % n };
    match e {
        Edit::Flip(i, x) => {
            if !bytes.is_empty() {
                let i = at(*i, bytes.len());
                bytes[i] ^= x;
            }
        }
        Edit::Insert(i, p) => {
            let i = at(*i, bytes.len() + 1);
            bytes.splice(i..i, p.iter().copied());
        }
        Edit::Cut(i) => bytes.truncate(at(*i, bytes.len() + 1)),
        Edit::Remove(i, n) => {
            let i = at(*i, bytes.len() + 1);
            let j = (i + n).min(bytes.len());
            bytes.drain(i..j);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decodes_what_prost_decodes(req in request(), edits in vec(edit(), 0..4)) {
        let mut bytes = req.encode_to_vec();
        if edits.is_empty() {
            prop_assert_eq!(PushRequest::decode_body(Bytes::from(bytes.clone())).unwrap(), req);
        }
        for e in &edits {
            apply(&mut bytes, e);
        }
        check(&bytes);
    }

    #[test]
    fn refuses_what_prost_refuses(bytes in vec(prop_oneof![
        4 => prop::sample::select(vec![0x0a, 0x12, 0x08, 0x10, 0x1a, 0x22, 0x18, 0x0b, 0x0c, 0x02, 0x01, 0x80, 0xff]),
        1 => any::<u8>(),
    ], 0..40)) {
        check(&bytes);
    }
}

/// `n` groups nested in one another (field 9), closed in order.
fn nested_groups(n: usize) -> Vec<u8> {
    let mut v = vec![0x4b; n];
    v.extend(std::iter::repeat_n(0x4c, n));
    v
}

/// `inner` as length-delimited field `key`.
fn field(key: u8, inner: &[u8]) -> Vec<u8> {
    let mut v = vec![key];
    prost::encoding::encode_varint(inner.len() as u64, &mut v);
    v.extend_from_slice(inner);
    v
}

#[test]
fn unknown_groups_hit_the_recursion_limit_where_prost_does() {
    for n in [1, 50, 96, 97, 98, 99, 100, 101, 102] {
        let groups = nested_groups(n);
        // at the top, in a stream, in an entry, in a timestamp and in a
        // metadata pair
        let ts = field(0x0a, &groups);
        let pair = field(0x1a, &groups);
        let entry_with = |inner: &[u8]| field(0x12, inner);
        for input in [
            groups.clone(),
            field(0x0a, &groups),
            field(0x0a, &entry_with(&groups)),
            field(0x0a, &entry_with(&ts)),
            field(0x0a, &entry_with(&pair)),
        ] {
            check(&input);
        }
    }
}

#[test]
fn handles_edge_cases_as_prost_does() {
    let line = field(0x12, b"hello");
    let entry = field(0x12, &line);
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        // a stream of nothing but an entry with an empty line
        field(0x0a, &field(0x12, &[])),
        // an entry whose line runs past the entry's end but not the body's
        {
            let mut v = field(0x0a, &field(0x12, &[0x12, 0x05, b'a']));
            v.extend_from_slice(b"bcdef");
            v
        },
        // the same, whose line also runs past the body
        field(0x0a, &field(0x12, &[0x12, 0x09, b'a'])),
        // a key varint that crosses the end of its message
        {
            let mut v = field(0x0a, &[0x12, 0x01, 0x80]);
            v.push(0x01);
            v
        },
        // labels that are not UTF-8, duplicated labels and lines
        field(0x0a, &[0x0a, 0x02, 0xc3, 0x28]),
        field(0x0a, &[0x0a, 0x01, b'a', 0x0a, 0x01, b'b']),
        field(0x0a, &field(0x12, &[0x12, 0x01, b'a', 0x12, 0x01, b'b'])),
        // a timestamp given twice merges its fields
        field(
            0x0a,
            &field(0x12, &[0x0a, 0x02, 0x08, 0x05, 0x0a, 0x02, 0x10, 0x07]),
        ),
        // int32 nanos from a 10-byte varint keep the low bits
        field(
            0x0a,
            &field(
                0x12,
                &field(
                    0x0a,
                    &[
                        0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                    ],
                ),
            ),
        ),
        // wire type mismatches on every known field
        vec![0x08, 0x01],
        field(0x0a, &[0x08, 0x01]),
        field(0x0a, &[0x12, 0x00, 0x1a, 0x00]),
        field(0x0a, &[0x1a, 0x00]),
        field(0x0a, &field(0x12, &[0x08, 0x01])),
        field(0x0a, &field(0x12, &[0x10, 0x01])),
        field(0x0a, &field(0x12, &[0x18, 0x01])),
        field(0x0a, &field(0x12, &[0x20, 0x01])),
        field(0x0a, &field(0x12, &field(0x0a, &[0x0a, 0x00]))),
        field(0x0a, &field(0x12, &field(0x1a, &[0x08, 0x00]))),
        // keys past u32, tag 0, wire types 6 and 7, an end group alone
        vec![0x80, 0x80, 0x80, 0x80, 0x10],
        vec![0x00],
        vec![0x0e],
        vec![0x0f],
        vec![0x0c],
        field(0x0a, &[0x4b, 0x5c]),
        // a valid request, then trailing garbage
        {
            let mut v = field(0x0a, &entry);
            v.push(0xff);
            v
        },
    ];
    for c in &cases {
        check(c);
    }
}

#[test]
fn lines_are_slices_of_the_body() {
    let req = PushRequest {
        streams: vec![StreamAdapter {
            labels: r#"{a="b"}"#.into(),
            entries: vec![EntryAdapter {
                timestamp: Some(Timestamp::from_unix_nanos(5)),
                line: Bytes::from_static(b"a line"),
                structured_metadata: vec![LabelPairAdapter::new("k", "v")],
                parsed: vec![],
            }],
            hash: 0,
        }],
    };
    let body = Bytes::from(req.encode_to_vec());
    let range = body.as_ptr_range();
    let got = PushRequest::decode_body(body.clone()).unwrap();
    assert_eq!(got, req);
    let e = &got.streams[0].entries[0];
    assert!(range.contains(&e.line.as_ptr()));
    assert!(range.contains(&e.structured_metadata[0].value.as_bytes().as_ptr()));
}

//! Property tests of the chunk format: random entries (out of order, with
//! duplicates and structured metadata) through `MemChunk`, its snapshot, its
//! encoded form and its checkpoint must read back exactly as a simple model
//! says, in both directions and for any sub-range; corrupt bytes must give
//! errors, never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use sluice_logql::source::{Direction, Entry, EntrySize};
use sluice_storage::{ChunkConfig, ChunkData, Encoding, MemChunk};

type Md = Vec<(String, String)>;

#[derive(Clone, Debug)]
struct Op {
    ts: i64,
    line: Vec<u8>,
    md: Md,
    cut_after: bool,
}

fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // log-like text with numbers, leading zeros and marker bytes
        proptest::collection::vec(
            prop_oneof![
                Just(b'0'),
                Just(b'7'),
                Just(b'9'),
                Just(b' '),
                Just(b'='),
                Just(b'a'),
                Just(1u8),
                Just(2u8),
                Just(0u8),
                any::<u8>()
            ],
            0..40
        ),
        "[a-z]{1,5}=[0-9]{1,22} [0-9.]{0,8}".prop_map(|s| s.into_bytes()),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let value = prop_oneof!["[0-9a-f]{0,16}", "[0-9a-fA-F é]{0,6}"];
    let md = proptest::collection::vec(("[a-c]{1,2}", value), 0..3);
    (
        prop_oneof![0i64..40, -5i64..5, Just(i64::MIN + 1), Just(i64::MAX - 1)],
        line_strategy(),
        prop_oneof![3 => Just(vec![]), 1 => md],
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(ts, line, md, cut_after)| Op {
            ts,
            line,
            md,
            cut_after,
        })
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        Just(Encoding::None),
        Just(Encoding::Snappy),
        Just(Encoding::Lz4),
        Just(Encoding::Zstd)
    ]
}

/// What the chunk must return, forward: accepted entries (an entry equal to
/// the previous one is dropped) stably sorted by timestamp.
fn model(ops: &[Op]) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut prev: Option<(i64, &[u8])> = None;
    for op in ops {
        if prev == Some((op.ts, &op.line)) {
            continue;
        }
        prev = Some((op.ts, &op.line));
        out.push(Entry {
            ts: op.ts,
            line: op.line.clone().into(),
            metadata: op.md.clone(),
            cut: false,
        });
    }
    out.sort_by_key(|e| e.ts);
    out
}

fn build(ops: &[Op], cfg: &ChunkConfig) -> MemChunk {
    let mut c = MemChunk::new(cfg);
    for op in ops {
        c.append(op.ts, &op.line, &op.md);
        if op.cut_after {
            c.cut_block();
        }
    }
    c
}

fn read(d: &ChunkData, start: i64, end: i64, dir: Direction) -> Vec<Entry> {
    d.entries(start, end, dir)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn read_sizes(d: &ChunkData, start: i64, end: i64, dir: Direction) -> Vec<EntrySize> {
    d.sizes(start, end, dir, true)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn expect(model: &[Entry], start: i64, end: i64, dir: Direction) -> Vec<Entry> {
    let mut v: Vec<Entry> = model
        .iter()
        .filter(|e| e.ts >= start && e.ts < end)
        .cloned()
        .collect();
    if dir == Direction::Backward {
        v.reverse();
    }
    v
}

fn check(d: &ChunkData, model: &[Entry], start: i64, end: i64) -> Result<(), TestCaseError> {
    for dir in [Direction::Forward, Direction::Backward] {
        let want = expect(model, start, end, dir);
        prop_assert_eq!(&read(d, start, end, dir), &want);
        let sizes: Vec<EntrySize> = want
            .iter()
            .map(|e| EntrySize {
                ts: e.ts,
                len: e.line.len() as u32,
            })
            .collect();
        prop_assert_eq!(read_sizes(d, start, end, dir), sizes);
        // without lengths: the same timestamps
        let ts: Vec<i64> = d
            .sizes(start, end, dir, false)
            .map(|s| s.unwrap().ts)
            .collect();
        prop_assert_eq!(ts, want.iter().map(|e| e.ts).collect::<Vec<_>>());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn roundtrip(ops in proptest::collection::vec(op_strategy(), 0..120), enc in encoding(), block_size in 8usize..400, a in -10i64..50, b in -10i64..50) {
        let cfg = ChunkConfig { encoding: enc, block_size, target_size: 1 << 20 };
        let c = build(&ops, &cfg);
        let m = model(&ops);
        prop_assert_eq!(c.entry_count(), m.len());
        prop_assert_eq!(c.uncompressed_bytes(), m.iter().map(|e| e.line.len()).sum::<usize>());
        let bounds = m.iter().map(|e| (e.ts, e.ts)).reduce(|x, y| (x.0.min(y.0), x.1.max(y.1)));
        prop_assert_eq!(c.bounds(), bounds);

        let snap = c.snapshot();
        let decoded = ChunkData::decode(c.encode()).unwrap();
        for d in [&snap, &decoded] {
            prop_assert_eq!(d.entry_count(), m.len());
            check(d, &m, i64::MIN, i64::MAX)?;
            check(d, &m, a.min(b), a.max(b))?;
            let blocks = d.blocks();
            prop_assert_eq!(blocks.iter().map(|b| b.entries as usize).sum::<usize>(), m.len());
            if let Some(bounds) = bounds {
                prop_assert_eq!(d.bounds(), bounds);
            }
        }
    }

    #[test]
    fn checkpoint_restores_exactly(ops in proptest::collection::vec(op_strategy(), 0..80), more in proptest::collection::vec(op_strategy(), 0..20), enc in encoding(), block_size in 8usize..200) {
        let cfg = ChunkConfig { encoding: enc, block_size, target_size: 1 << 20 };
        let mut c = build(&ops, &cfg);
        let mut buf = Vec::new();
        c.to_checkpoint(&mut buf);
        let mut r = MemChunk::from_checkpoint(&buf, &cfg).unwrap();
        prop_assert_eq!(r.encode(), c.encode());
        prop_assert_eq!(r.memory_bytes() > 0 || c.entry_count() == 0, true);
        // both keep behaving identically, duplicate suppression included
        for op in &more {
            c.append(op.ts, &op.line, &op.md);
            r.append(op.ts, &op.line, &op.md);
        }
        prop_assert_eq!(r.encode(), c.encode());
        let all: Vec<Op> = ops.iter().chain(&more).cloned().collect();
        check(&r.snapshot(), &model(&all), i64::MIN, i64::MAX)?;
    }

    #[test]
    fn corrupt_bytes_never_panic(ops in proptest::collection::vec(op_strategy(), 1..60), enc in encoding(), flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4), cut in any::<prop::sample::Index>()) {
        let cfg = ChunkConfig { encoding: enc, block_size: 64, target_size: 1 << 20 };
        let c = build(&ops, &cfg);
        let enc = c.encode();
        let mut bad = enc.to_vec();
        for (i, x) in &flips {
            let i = i.index(bad.len());
            bad[i] ^= x;
        }
        if let Ok(d) = ChunkData::decode(bad.into()) {
            let _ = d.entries(i64::MIN, i64::MAX, Direction::Forward).count();
            let _ = d.sizes(i64::MIN, i64::MAX, Direction::Backward, true).count();
            let _ = d.sizes(i64::MIN, i64::MAX, Direction::Forward, false).count();
        }
        let n = cut.index(enc.len());
        prop_assert!(ChunkData::decode(enc.slice(..n)).is_err());

        let mut cp = Vec::new();
        c.to_checkpoint(&mut cp);
        let n = cut.index(cp.len());
        prop_assert!(MemChunk::from_checkpoint(&cp[..n], &cfg).is_err());
        for (i, x) in &flips {
            let i = i.index(cp.len());
            cp[i] ^= x;
        }
        let _ = MemChunk::from_checkpoint(&cp, &cfg);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), magic in any::<bool>()) {
        let mut b = bytes;
        if magic && b.len() >= 6 {
            b[..4].copy_from_slice(b"SLCK");
            b[4] = 1;
        }
        if let Ok(d) = ChunkData::decode(b.clone().into()) {
            let _ = d.entries(i64::MIN, i64::MAX, Direction::Forward).count();
        }
        let _ = MemChunk::from_checkpoint(&b, &ChunkConfig::default());
        let _ = sluice_storage::IndexSegment::decode(&b);
    }
}

//! Unit tests of the chunk format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use sluice_logql::source::{Direction, Entry};

fn md(trace: &str) -> Vec<(String, String)> {
    vec![("trace_id".to_string(), trace.to_string())]
}

fn collect(c: &ChunkData, start: i64, end: i64, d: Direction) -> Vec<Entry> {
    c.entries(start, end, d)
        .collect::<crate::Result<Vec<_>>>()
        .unwrap()
}

fn small_cfg() -> ChunkConfig {
    ChunkConfig {
        block_size: 64,
        ..ChunkConfig::default()
    }
}

#[test]
fn encoding_names_roundtrip() {
    for e in [
        Encoding::None,
        Encoding::Snappy,
        Encoding::Lz4,
        Encoding::Zstd,
    ] {
        assert_eq!(e.to_string().parse::<Encoding>().unwrap(), e);
    }
    assert!("gzip".parse::<Encoding>().is_err());
    assert_eq!(Encoding::default(), Encoding::Zstd);
}

#[test]
fn append_cut_encode_decode() {
    for enc in [
        Encoding::None,
        Encoding::Snappy,
        Encoding::Lz4,
        Encoding::Zstd,
    ] {
        let cfg = ChunkConfig {
            encoding: enc,
            ..small_cfg()
        };
        let mut c = MemChunk::new(&cfg);
        for i in 0..100i64 {
            let m = if i % 3 == 0 {
                md(&format!("{i:016x}"))
            } else {
                vec![]
            };
            c.append(1000 + i * 10, format!("line number {i}").as_bytes(), &m);
        }
        assert_eq!(c.entry_count(), 100);
        assert_eq!(c.bounds(), Some((1000, 1990)));
        assert!(c.compressed_bytes() > 0, "blocks were cut");
        let d = ChunkData::decode(c.encode()).unwrap();
        assert_eq!(d.entry_count(), 100);
        assert_eq!(d.bounds(), (1000, 1990));
        assert!(d.blocks().len() > 1);
        let fwd = collect(&d, 1100, 1200, Direction::Forward);
        assert_eq!(fwd.len(), 10);
        assert_eq!(fwd[0].ts, 1100);
        assert_eq!(&fwd[0].line[..], b"line number 10");
        assert_eq!(fwd[2].metadata, md(&format!("{:016x}", 12)));
        assert!(fwd[1].metadata.is_empty());
        let bwd = collect(&d, 1100, 1200, Direction::Backward);
        assert_eq!(bwd.iter().rev().cloned().collect::<Vec<_>>(), fwd);
        let sizes: Vec<_> = d
            .sizes(0, i64::MAX, Direction::Forward)
            .map(|s| s.unwrap())
            .collect();
        assert_eq!(sizes.len(), 100);
        assert_eq!(sizes[10].len as usize, "line number 10".len());
    }
}

#[test]
fn out_of_order_and_duplicates() {
    let mut c = MemChunk::new(&small_cfg());
    for ts in [50, 10, 10, 30, 20, 40, 5, 60, 1, 2] {
        c.append(ts, format!("l{ts}").as_bytes(), &[]);
        if ts == 40 {
            c.cut_block();
        }
    }
    c.append(2, b"l2", &[]); // immediate duplicate: dropped
    c.append(2, b"other", &[]); // same ts, other line: kept
    assert_eq!(c.entry_count(), 10);
    let got: Vec<i64> = collect(&c.snapshot(), 0, 100, Direction::Forward)
        .iter()
        .map(|e| e.ts)
        .collect();
    assert_eq!(got, vec![1, 2, 2, 5, 10, 20, 30, 40, 50, 60]);
    let d = ChunkData::decode(c.encode()).unwrap();
    let got: Vec<i64> = collect(&d, 0, 100, Direction::Backward)
        .iter()
        .map(|e| e.ts)
        .collect();
    assert_eq!(got, vec![60, 50, 40, 30, 20, 10, 5, 2, 2, 1]);
}

#[test]
fn checkpoint_roundtrip_is_exact() {
    let mut c = MemChunk::new(&small_cfg());
    for i in 0..30i64 {
        c.append(i * 7 % 13, format!("entry {i}").as_bytes(), &md("x"));
    }
    let mut buf = Vec::new();
    c.to_checkpoint(&mut buf);
    let r = MemChunk::from_checkpoint(&buf, &small_cfg()).unwrap();
    assert_eq!(r.entry_count(), c.entry_count());
    assert_eq!(r.encode(), c.encode());
    buf[10] ^= 0xff;
    assert!(MemChunk::from_checkpoint(&buf, &small_cfg()).is_err());
}

#[test]
fn is_full_and_sizes() {
    let cfg = ChunkConfig {
        encoding: Encoding::None,
        block_size: 100,
        target_size: 1000,
    };
    let mut c = MemChunk::new(&cfg);
    let mut i = 0;
    while !c.is_full() {
        c.append(i, &[b'x'; 50], &[]);
        i += 1;
    }
    assert_eq!(i, 20);
    assert_eq!(c.uncompressed_bytes(), 1000);
    assert!(c.memory_bytes() >= 1000);
}

#[test]
fn corrupt_chunks_are_errors() {
    let mut c = MemChunk::new(&small_cfg());
    for i in 0..50 {
        c.append(i, b"some line", &md("t"));
    }
    let enc = c.encode();
    for cut in [0, 5, 17, enc.len() / 2, enc.len() - 1] {
        assert!(ChunkData::decode(enc.slice(..cut)).is_err());
    }
    for pos in 0..enc.len() {
        let mut b = enc.to_vec();
        b[pos] ^= 0x41;
        if let Ok(d) = ChunkData::decode(bytes::Bytes::from(b)) {
            let _ = d.entries(0, 100, Direction::Forward).count();
        }
    }
}

/// An ingester ships snapshots of open chunks to queriers as chunk bytes:
/// the uncut head must travel too.
#[test]
fn snapshot_with_only_a_head_encodes_every_entry() {
    let mut c = MemChunk::new(&ChunkConfig::default());
    for i in 0..7i64 {
        c.append(i, format!("head entry {i}").as_bytes(), &md("t"));
    }
    let snap = c.snapshot();
    assert_eq!(snap.entry_count(), 7);
    let back = ChunkData::decode(snap.encode().unwrap()).unwrap();
    assert_eq!(back.entry_count(), 7);
    assert_eq!(
        collect(&back, 0, 100, Direction::Forward),
        collect(&snap, 0, 100, Direction::Forward)
    );
}

#[test]
fn snapshot_encodes_to_the_same_entries() {
    let mut c = MemChunk::new(&small_cfg());
    for i in 0..50i64 {
        c.append(i, format!("entry {i}").as_bytes(), &md("t"));
    }
    // cut blocks plus an uncut head
    let snap = c.snapshot();
    let back = ChunkData::decode(snap.encode().unwrap()).unwrap();
    assert_eq!(back.bounds(), snap.bounds());
    assert_eq!(back.entry_count(), 50);
    // the blocks travel as they are; the head goes as one more block
    assert!(back.compressed_bytes() >= snap.compressed_bytes());
    assert_eq!(
        collect(&back, 0, 100, Direction::Forward),
        collect(&snap, 0, 100, Direction::Forward)
    );
}

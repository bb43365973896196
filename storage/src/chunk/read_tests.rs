//! Tests of the read side: head snapshots and literal pre-filtering agree
//! with plain decoding of the encoded chunk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use super::*;
use sluice_logql::source::{Direction, Entry};

fn read(c: &ChunkData, d: Direction, f: Option<LiteralFilter>) -> Vec<Entry> {
    let f = f.map(|l| {
        Arc::new(ReadFilter {
            literals: Some(l),
            metadata: None,
        })
    });
    c.entries_filtered(i64::MIN, i64::MAX, d, f)
        .collect::<crate::Result<Vec<_>>>()
        .unwrap()
}

/// A chunk with cut blocks and an out-of-order head, ~1/4 entries with metadata.
fn chunk(enc: Encoding) -> MemChunk {
    let mut c = MemChunk::new(&ChunkConfig {
        encoding: enc,
        block_size: 2000,
        ..ChunkConfig::default()
    });
    for i in 0..300i64 {
        let ts = 1000 + (i * 7919) % 401;
        let line = format!("level=info n={i} needle-{} msg=\"x\x01y\"", i % 13);
        let md = if i % 4 == 0 {
            vec![("trace_id".to_string(), format!("{i:08x}"))]
        } else {
            Vec::new()
        };
        c.append(ts, line.as_bytes(), &md);
    }
    c
}

#[test]
fn snapshot_reads_like_the_encoded_chunk() {
    for enc in [Encoding::Zstd, Encoding::None, Encoding::Snappy] {
        let c = chunk(enc);
        let snap = c.snapshot();
        let decoded = ChunkData::decode(c.encode()).unwrap();
        assert_eq!(snap.entry_count(), 300);
        assert_eq!(snap.bounds(), decoded.bounds());
        for d in [Direction::Forward, Direction::Backward] {
            let a = read(&snap, d, None);
            assert_eq!(a.len(), 300);
            assert_eq!(a, read(&decoded, d, None), "{enc} {d:?}");
            let want: Vec<(i64, u32)> = a.iter().map(|e| (e.ts, e.line.len() as u32)).collect();
            for c in [&snap, &decoded] {
                let sizes: Vec<(i64, u32)> = c
                    .sizes(i64::MIN, i64::MAX, d, true)
                    .map(|s| s.map(|s| (s.ts, s.len)).unwrap())
                    .collect();
                assert_eq!(sizes, want, "{enc} {d:?}");
            }
        }
    }
}

#[test]
fn snapshot_is_not_changed_by_later_appends() {
    let mut c = chunk(Encoding::Zstd);
    let snap = c.snapshot();
    let before = read(&snap, Direction::Forward, None);
    for i in 0..50 {
        c.append(5000 + i, b"later line", &[]);
    }
    assert_eq!(read(&snap, Direction::Forward, None), before);
    assert_eq!(c.snapshot().entry_count(), 350);
}

#[test]
fn filtered_reads_keep_exactly_the_lines_with_every_literal() {
    for enc in [Encoding::Zstd, Encoding::None, Encoding::Lz4] {
        let c = chunk(enc);
        for data in [c.snapshot(), ChunkData::decode(c.encode()).unwrap()] {
            for lits in [
                vec!["needle-1"],
                vec!["needle-12", "n=1"],
                vec!["\x01y"],
                vec!["absent"],
                vec!["7"],
                // spans tokens; a quoted token holding a space
                vec!["info n=1"],
                vec!["needle-3 msg"],
                vec!["\"x"],
            ] {
                let f = LiteralFilter::new(&lits);
                let got = read(&data, Direction::Backward, f);
                let want: Vec<Entry> = read(&data, Direction::Backward, None)
                    .into_iter()
                    .filter(|e| {
                        lits.iter()
                            .all(|l| memchr::memmem::find(&e.line, l.as_bytes()).is_some())
                    })
                    .collect();
                assert_eq!(got, want, "{enc} {lits:?}");
            }
        }
    }
}

#[test]
fn metadata_the_filter_does_not_keep_is_left_out() {
    let c = chunk(Encoding::Zstd);
    for data in [c.snapshot(), ChunkData::decode(c.encode()).unwrap()] {
        let f = Arc::new(ReadFilter {
            literals: None,
            metadata: Some(Box::new(|n: &str| n != "trace_id")),
        });
        let got = data
            .entries_filtered(i64::MIN, i64::MAX, Direction::Forward, Some(f))
            .collect::<crate::Result<Vec<_>>>()
            .unwrap();
        let all = read(&data, Direction::Forward, None);
        assert!(all.iter().any(|e| !e.metadata.is_empty()));
        assert!(got.iter().all(|e| e.metadata.is_empty()));
        let lines: Vec<_> = all.iter().map(|e| (e.ts, e.line.clone())).collect();
        let got: Vec<_> = got.iter().map(|e| (e.ts, e.line.clone())).collect();
        assert_eq!(got, lines);
    }
}

#[test]
fn metadata_filter_keeps_the_pairs_it_names_from_every_set() {
    let mut c = MemChunk::new(&ChunkConfig {
        block_size: 3000,
        ..ChunkConfig::default()
    });
    for i in 0..200i64 {
        let md: Vec<(String, String)> = match i % 4 {
            0 => vec![],
            1 => vec![("k".into(), format!("v{}", i % 3))],
            2 => vec![("trace_id".into(), format!("{i:08x}"))],
            _ => vec![
                ("trace_id".into(), format!("{i:08x}")),
                ("k".into(), "w".into()),
            ],
        };
        c.append(1000 + i, format!("line {i}").as_bytes(), &md);
    }
    for data in [c.snapshot(), ChunkData::decode(c.encode()).unwrap()] {
        let f = Arc::new(ReadFilter {
            literals: None,
            metadata: Some(Box::new(|n: &str| n == "k")),
        });
        let got = data
            .entries_filtered(i64::MIN, i64::MAX, Direction::Forward, Some(f))
            .collect::<crate::Result<Vec<_>>>()
            .unwrap();
        let want: Vec<Entry> = read(&data, Direction::Forward, None)
            .into_iter()
            .map(|mut e| {
                e.metadata.retain(|(n, _)| n == "k");
                e
            })
            .collect();
        assert_eq!(got.len(), 200);
        assert_eq!(got, want);
    }
}

/// Entries of a field-layout block made in any order (pages rebuilt and
/// their cursors counted from either end) equal those made in order.
#[test]
fn field_pages_read_in_any_order_read_alike() {
    let mut c = MemChunk::new(&ChunkConfig::default());
    for i in 0..1000i64 {
        let line = match i % 3 {
            0 => format!("level=info n={i} took={}ms path=/p/{}", i * 7 % 1000, i % 5),
            1 => format!("GET /api/{} {} {}", i % 11, 200 + i % 3, i * 31),
            _ => format!("odd line {i} of its own"),
        };
        c.append(i, line.as_bytes(), &[]);
    }
    c.cut_block();
    let block = c.blocks[0].clone();
    assert_eq!(block.flags, block::FLAG_FIELDS | block::FLAG_NEWEST_FIRST);
    let n = block.meta.entries as usize;
    assert!(n > 3 * fields_read::PAGE);
    let want: Vec<Entry> = {
        let d = block.entries_filtered(None).unwrap();
        (0..n).map(|i| d.make(i as i64, i).unwrap()).collect()
    };
    let orders: Vec<Vec<usize>> = vec![
        (0..n).rev().collect(),
        (0..n).map(|i| (i * 389) % n).collect(),
        (n / 2..n).chain((0..n / 2).rev()).collect(),
        vec![n - 1, 0, n / 2],
    ];
    for order in orders {
        let d = block.entries_filtered(None).unwrap();
        for i in order {
            assert_eq!(d.make(i as i64, i).unwrap(), want[i], "entry {i}");
        }
    }
}

/// A block of 2000 web-like lines (access logs, numbers in most tokens).
fn web_block() -> block::EncodedBlock {
    let mut c = MemChunk::new(&ChunkConfig::default());
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let paths = ["/api/v1/users", "/healthz", "/login", "/static/app.js"];
    for i in 0..2000i64 {
        let status = [200, 200, 201, 404, 500][rnd(5) as usize];
        let line = format!(
            "10.{}.{}.{} - bob \"GET {} HTTP/1.1\" \x1b[32m{status}\x1b[0m {} 0.{:03}s",
            rnd(4),
            rnd(256),
            rnd(254) + 1,
            paths[rnd(4) as usize],
            rnd(200_000),
            rnd(1000)
        );
        let md = vec![("detected_level".to_string(), "info".to_string())];
        c.append(1_000_000 + i * 1000 + rnd(999) as i64, line.as_bytes(), &md);
    }
    c.cut_block();
    c.blocks[0].clone()
}

/// Time of reading the newest 10 entries of a block (run by hand:
/// `cargo test --release -p sluice-storage newest_entries_timing -- --ignored --nocapture`).
#[test]
#[ignore]
fn newest_entries_timing() {
    let block = web_block();
    let n = block.meta.entries as usize;
    let best = |k: usize| {
        (0..60)
            .map(|_| {
                let t = std::time::Instant::now();
                for _ in 0..20 {
                    let d = block.entries_filtered(None).unwrap();
                    for i in (n - k..n).rev() {
                        std::hint::black_box(d.make(0, i).unwrap());
                    }
                }
                t.elapsed() / 20
            })
            .min()
            .unwrap()
    };
    if std::env::var("NEWEST_ONLY").is_ok() {
        for _ in 0..20 {
            best(10);
        }
        return;
    }
    println!(
        "newest 10: {:?} newest 200: {:?} all: {:?}",
        best(10),
        best(200),
        best(n)
    );
}

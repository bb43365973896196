//! Tests of the read side: head snapshots and literal pre-filtering agree
//! with plain decoding of the encoded chunk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use super::*;
use sluice_logql::source::{Direction, Entry, LineCut};

fn read(c: &ChunkData, d: Direction, f: Option<LiteralFilter>) -> Vec<Entry> {
    let f = f.map(|l| {
        Arc::new(ReadFilter {
            literals: Some(l),
            metadata: None,
            cut: None,
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
            cut: None,
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
            cut: None,
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
    assert_eq!(
        block.flags,
        block::FLAG_FIELDS | block::FLAG_NEWEST_FIRST | block::FLAG_TS_NEWEST_FIRST
    );
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
    let mut rnd = crate::chunk::test_rng(0x2545_f491_4f6c_dd1du64);
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
    let forward = (0..60)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..20 {
                let d = block.entries_filtered(None).unwrap();
                for i in 0..n {
                    std::hint::black_box(d.make(0, i).unwrap());
                }
            }
            t.elapsed() / 20
        })
        .min()
        .unwrap();
    println!(
        "newest 10: {:?} newest 200: {:?} all: {:?} forward: {forward:?}",
        best(10),
        best(200),
        best(n)
    );
}

/// A block with every kind of column: shapes with token columns (a level
/// that predicts `detected_level`, a counter, latencies, status codes in a
/// dictionary, paths), whole lines of rare shapes, metadata with and
/// without predictors.
fn mixed_block(n: i64) -> block::EncodedBlock {
    let mut c = MemChunk::new(&ChunkConfig::default());
    let levels = ["info", "warn", "error"];
    let mut rnd = crate::chunk::test_rng(0x9e37_79b9_7f4a_7c15u64);
    for i in 0..n {
        let lv = levels[rnd(3) as usize];
        let line = match rnd(10) {
            0 => format!("rare line {} with {} words", rnd(1000), i % 7),
            1..=3 => format!(
                "GET /api/{} {} {}",
                rnd(11),
                [200, 404, 500][rnd(3) as usize],
                rnd(u64::MAX)
            ),
            _ => format!(
                "level={lv} seq={} took={}ms at=0.{:03}s path=/p/{}",
                1_000_000 + i,
                rnd(2500),
                rnd(1000),
                rnd(5)
            ),
        };
        let mut md = vec![("detected_level".to_string(), lv.to_string())];
        if rnd(4) == 0 {
            md.push(("trace_id".to_string(), format!("{:016x}", rnd(u64::MAX))));
        }
        c.append(1_000 + i * 10, line.as_bytes(), &md);
    }
    c.cut_block();
    assert_eq!(c.blocks.len(), 1);
    c.blocks[0].clone()
}

/// Every entry of `block`, read forward (the whole block decoded at once).
fn all_entries(block: &block::EncodedBlock) -> Vec<Entry> {
    let d = block.entries_filtered(None).unwrap();
    let ts = d.timestamps().unwrap();
    (0..d.ts_len()).map(|i| d.make(ts[i], i).unwrap()).collect()
}

#[test]
fn newest_entries_decode_only_a_prefix_of_the_block() {
    let block = mixed_block(3000);
    assert_eq!(
        block.flags,
        block::FLAG_FIELDS | block::FLAG_NEWEST_FIRST | block::FLAG_TS_NEWEST_FIRST
    );
    let n = block.meta.entries as usize;
    let before = rans::symbols_decoded();
    let want = all_entries(&block);
    let full = rans::symbols_decoded() - before;
    assert!(want.iter().any(|e| e.metadata.len() == 2));
    // the newest 10, as a backward query with a limit reads them
    let before = rans::symbols_decoded();
    let d = block.entries_filtered(None).unwrap();
    let newest_ts = d.newest_ts(10).unwrap();
    for (j, i) in (n - 10..n).rev().enumerate() {
        assert_eq!(d.make(newest_ts[j], i).unwrap(), want[i], "entry {i}");
    }
    let newest = rans::symbols_decoded() - before;
    // 10 timestamps and 64 of 3000 lines' columns
    println!("newest 10: {newest} of {full} symbols");
    assert!(newest * 4 < full, "{newest} of {full} symbols");
    // reading on past the part decodes the block whole, once
    let ts = d.timestamps().unwrap();
    for i in (0..n - 10).rev() {
        assert_eq!(d.make(ts[i], i).unwrap(), want[i], "entry {i}");
    }
    // parts of 64, 256 and 1024 lines, then the block (and every
    // timestamp)
    let both = rans::symbols_decoded() - before;
    assert!(both < 2 * full, "{both} {full} {newest}");
    assert!(both > full, "{both} {full}");
}

#[test]
fn a_backward_read_past_the_part_returns_every_entry_once_in_order() {
    let block = mixed_block(1500);
    let mut c = MemChunk::new(&ChunkConfig::default());
    c.blocks.push(block.clone());
    let chunk = ChunkData::decode(c.encode()).unwrap();
    let want = all_entries(&block);
    let mut back = read(&chunk, Direction::Backward, None);
    back.reverse();
    assert!(back == want, "{} of {} entries", back.len(), want.len());
    // a time range whose newest entry is in the block's first half (the
    // part covers it), read on to the start
    let end = want[1000].ts;
    let got: Vec<Entry> = chunk
        .entries(i64::MIN, end, Direction::Backward)
        .collect::<crate::Result<_>>()
        .unwrap();
    let mut expect: Vec<Entry> = want[..1000].to_vec();
    expect.reverse();
    assert!(got == expect, "{} of {} entries", got.len(), expect.len());
    // and forward
    assert!(read(&chunk, Direction::Forward, None) == want);
}

#[test]
fn metadata_filters_read_the_part_like_the_whole() {
    let block = mixed_block(2000);
    let n = block.meta.entries as usize;
    for names in [
        vec!["trace_id"],
        vec!["nothing"],
        vec!["detected_level", "trace_id"],
    ] {
        let keep: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let f = Arc::new(ReadFilter {
            literals: None,
            metadata: Some(Box::new(move |n: &str| keep.iter().any(|k| k == n))),
            cut: None,
        });
        let whole = block.entries_filtered(Some(f.clone())).unwrap();
        let want: Vec<Entry> = (0..n).map(|i| whole.make(0, i).unwrap()).collect();
        let d = block.entries_filtered(Some(f)).unwrap();
        for i in (n - 300..n).rev() {
            assert_eq!(d.make(0, i).unwrap(), want[i], "{names:?} entry {i}");
        }
    }
}

/// A newest-first block whose bytes are damaged (checksum recomputed),
/// read backward: the part, then the whole block, are errors or entries,
/// never a panic.
#[test]
fn damaged_newest_first_blocks_read_backward_never_panic() {
    let block = mixed_block(300);
    let n = block.meta.entries as usize;
    let mut errors = 0;
    for pos in 0..block.data.len() {
        for flip in [0x01u8, 0xff] {
            let b = damaged(&block, pos, flip);
            let Ok(d) = b.entries_filtered(None) else {
                errors += 1;
                continue;
            };
            let n = d.ts_len().min(n);
            // the newest few (the part), then on to the oldest (all)
            let failed = (0..n).rev().map(|i| d.make(0, i)).any(|e| e.is_err());
            errors += usize::from(failed);
        }
    }
    assert!(errors > block.data.len() / 2, "{errors}");
}

#[test]
fn reads_count_every_entry_in_range_even_ones_a_pre_filter_skips() {
    use sluice_logql::stats::ReadStats;
    let mut c = MemChunk::new(&ChunkConfig {
        block_size: 1500,
        ..ChunkConfig::default()
    });
    // lines of one length, so bytes prorated over a cut block are exact
    let line = |i: i64| {
        format!(
            "level=info n={i:04} {}",
            if i == 150 { "needle" } else { "hay___" }
        )
    };
    for i in 0..300i64 {
        c.append(1000 + i, line(i).as_bytes(), &[]);
    }
    let len = line(0).len() as u64;
    let needle = Arc::new(ReadFilter {
        literals: LiteralFilter::new(&["needle"]),
        metadata: None,
        cut: None,
    });
    let decoded = ChunkData::decode(c.encode()).unwrap();
    assert!(decoded.blocks().len() > 4, "several blocks");
    for data in [c.snapshot(), decoded] {
        for (start, end) in [(i64::MIN, i64::MAX), (1037, 1263), (1150, 1151), (0, 10)] {
            let want = (0..300)
                .filter(|i| (start..end).contains(&(1000 + i)))
                .count() as u64;
            for f in [None, Some(needle.clone())] {
                for d in [Direction::Forward, Direction::Backward] {
                    let stats = Arc::new(ReadStats::default());
                    let got = data
                        .entries_counted(start, end, d, f.clone(), Some(stats.clone()))
                        .count();
                    let s = stats.snapshot();
                    assert_eq!(
                        (s.lines, s.bytes),
                        (want, want * len),
                        "{start}..{end} {f:?}"
                    );
                    if f.is_some() {
                        assert_eq!(
                            got as u64,
                            u64::from(want > 0 && (start..end).contains(&1150))
                        );
                    }
                }
            }
            for lengths in [false, true] {
                let stats = Arc::new(ReadStats::default());
                let n = data
                    .sizes_counted(start, end, Direction::Forward, lengths, Some(stats.clone()))
                    .count() as u64;
                assert_eq!(n, want);
                assert_eq!(stats.snapshot().lines, want);
                assert_eq!(stats.snapshot().bytes, want * len);
            }
        }
    }
}

/// Reads every entry of `c` with lines cut as `cut` (made of `keys`)
/// allows.
fn read_cut(
    c: &ChunkData,
    d: Direction,
    cut: fn(Vec<String>) -> LineCut,
    keys: &[&str],
) -> Vec<Entry> {
    let f = Arc::new(ReadFilter {
        literals: None,
        metadata: None,
        cut: Some(cut(keys.iter().map(|k| k.to_string()).collect())),
    });
    c.entries_filtered(i64::MIN, i64::MAX, d, Some(f))
        .collect::<crate::Result<Vec<_>>>()
        .unwrap()
}

#[test]
fn lines_are_cut_after_plain_pairs_holding_the_keys() {
    let mut c = MemChunk::new(&ChunkConfig {
        block_size: 8000,
        ..ChunkConfig::default()
    });
    let levels = ["info", "warn", "error"];
    for i in 0..600i64 {
        let level = levels[i as usize % 3];
        let line = match i % 6 {
            0 => format!(
                "level={level} n={i} method=GET path=/x{} msg=\"a b\"",
                i % 4
            ),
            1 => format!("ts={i} level={level} user=bob path=/y"),
            2 => format!("msg=\"hello world\" level={level} x={i}"),
            // (shapes are told apart by their token count)
            3 => format!("level= a={i} b=2 c=3 d=4 e=5"),
            4 => format!("a={i} b=2"),
            _ => format!("level={level}"),
        };
        c.append(1000 + i, line.as_bytes(), &[]);
    }
    // blocks are stored newest first: a backward read decodes them in
    // parts, a forward one whole
    for (what, data) in [
        ("snapshot", c.snapshot()),
        ("decoded", ChunkData::decode(c.encode()).unwrap()),
    ] {
        for d in [Direction::Forward, Direction::Backward] {
            let whole = read(&data, d, None);
            for keys in [&["level"][..], &["level", "path"], &["user"], &["nope"]] {
                let got = read_cut(&data, d, LineCut::Logfmt, keys);
                assert_eq!(got.len(), whole.len());
                let mut cuts = 0;
                for (g, w) in got.iter().zip(&whole) {
                    assert_eq!(g.ts, w.ts);
                    let ctx = format!("{what} {d:?} {keys:?} {:?}", w.line);
                    if !g.cut {
                        assert_eq!(g.line, w.line, "{ctx}");
                        continue;
                    }
                    cuts += 1;
                    assert!(w.line.starts_with(&g.line), "{ctx}");
                    assert_eq!(w.line.get(g.line.len()), Some(&b' '), "{ctx}");
                    let tokens: Vec<&[u8]> = g.line.split(|&b| b == b' ').collect();
                    for k in keys {
                        let pair = format!("{k}=");
                        assert!(
                            tokens.iter().any(|t| t.starts_with(pair.as_bytes())),
                            "{ctx}"
                        );
                    }
                    let want: &[&str] = match (w.line.split(|&b| b == b' ').next(), keys.len()) {
                        (Some(b"level=info" | b"level=warn" | b"level=error"), 1) => &["level"],
                        (Some(_), 1) if keys[0] == "level" => &["ts", "level"],
                        (_, 2) => &["level", "n", "method", "path"],
                        _ => &["ts", "level", "user"],
                    };
                    let got_keys: Vec<&[u8]> = tokens
                        .iter()
                        .map(|t| t.split(|&b| b == b'=').next().unwrap())
                        .collect();
                    let want: Vec<&[u8]> = want.iter().map(|k| k.as_bytes()).collect();
                    assert_eq!(got_keys, want, "{ctx}");
                }
                let expect_cuts = keys != ["nope"];
                assert_eq!(cuts > 0, expect_cuts, "{what} {d:?} {keys:?}");
            }
        }
    }
}

#[test]
fn flat_json_lines_are_projected_to_the_named_members() {
    let mut c = MemChunk::new(&ChunkConfig {
        block_size: 8000,
        ..ChunkConfig::default()
    });
    let levels = ["info", "warn", "error"];
    // (shapes are told apart by their token count); the first two are
    // flat JSON objects, the others are not or not certainly
    let shapes: [fn(&str, i64) -> String; 8] = [
        |l, i| {
            format!(
                r#"{{"level": "{l}", "msg": "job {i} done", "job_id": {i}, "latency_ms": {}, "queue": "q", "ok": {}}}"#,
                i % 97,
                i % 2 == 0
            )
        },
        |l, i| format!(r#"{{"level":"{l}","lat":-{i}.05e+3,"n":null,"s":"a b {i}","f":false}}"#),
        |l, i| format!(r#"{{"level": "{l}", "user": {{"name": "bob"}}, "n": {i}}}"#),
        |l, i| format!(r#"{{"level": "{l}", "id": 0{i}}}"#),
        |l, i| format!(r#"{{"level": "a\"b {l}", "n": {i}, "x": 1, "y": 2}}"#),
        |l, i| format!(r#"{{"level": "{l}", "a-b": {i}, "c": 1, "d": 2, "e": 3}}"#),
        |l, i| format!(r#"{{"level": "{l}"}} tail {i} x y z w v u t"#),
        |l, i| format!(r#"{{"level": "{l}", "k2": 1, "z": {i}, "e": 3, "f": 4, "g": 5, "h": 6}}"#),
    ];
    for i in 0..800i64 {
        let line = shapes[i as usize % shapes.len()](levels[i as usize % 3], i);
        c.append(1000 + i, line.as_bytes(), &[]);
    }
    let object = |line: &[u8]| -> serde_json::Map<String, serde_json::Value> {
        match serde_json::from_slice(line) {
            Ok(serde_json::Value::Object(m)) => m,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(line)),
        }
    };
    for (what, data) in [
        ("snapshot", c.snapshot()),
        ("decoded", ChunkData::decode(c.encode()).unwrap()),
    ] {
        for d in [Direction::Forward, Direction::Backward] {
            let whole = read(&data, d, None);
            for keys in [
                &["level"][..],
                &["latency_ms", "ok"],
                &["lat", "s", "n"],
                &["nope"],
            ] {
                let got = read_cut(&data, d, LineCut::Json, keys);
                assert_eq!(got.len(), whole.len());
                let mut projected = vec![0; shapes.len()];
                for (g, w) in got.iter().zip(&whole) {
                    assert_eq!(g.ts, w.ts);
                    assert!(!g.cut);
                    let ctx = format!("{what} {d:?} {keys:?} {:?}", w.line);
                    let shape = (w.ts - 1000) as usize % shapes.len();
                    if g.line == w.line {
                        continue;
                    }
                    projected[shape] += 1;
                    let mut want = object(&w.line);
                    want.retain(|k, _| keys.contains(&k.as_str()));
                    assert_eq!(object(&g.line), want, "{ctx}");
                    assert!(!g.line.contains(&b' ') || keys.contains(&"s"), "{ctx}");
                }
                // 100 lines of each shape, most of them in cut blocks
                let ctx = format!("{what} {d:?} {keys:?} {projected:?}");
                for (s, &n) in projected.iter().enumerate() {
                    match s {
                        0 | 1 => assert!(n >= 80, "{ctx}"),
                        _ => assert_eq!(n, 0, "{ctx}"),
                    }
                }
            }
        }
    }
}

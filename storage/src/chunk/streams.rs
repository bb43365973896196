//! Stream containers and column coding of field-layout blocks (format
//! version 2): a section is a list of small *streams*, each compressed on
//! its own so that every column gets its own entropy tables (a column of
//! status-code ids and a column of random byte-plane values share nothing),
//! and integer columns are stored as dictionary ids or byte planes.
//!
//! Container (format 3): a 0 byte, uvarint stream count, per stream
//! uvarint `raw length << 2 | code` (code 0 stored, 1 zstd, 2 rANS, see
//! `rans.rs`) and, unless stored, uvarint stored length; then the stored
//! bytes back to back. The writer picks the smallest. Format 2 containers
//! (still read) start with the stream count, which is never 0 in them,
//! and give per stream `codec u8` (0 stored, 3 zstd, 4 rANS), uvarint raw
//! length and uvarint stored length; the packed headers save ~1.5 bytes
//! per stream (~0.03 byte per line).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::{codec, rans, Encoding};
use crate::error::{Error, Result};
use crate::varint::{put_uvarint, zigzag, Reader};

/// Streams shorter than this are stored uncompressed: a zstd frame's header
/// and tables would outweigh the gain.
const MIN_COMPRESS: usize = 24;

const CODEC_STORED: u8 = 0;
const CODEC_ZSTD: u8 = 3;
const CODEC_RANS: u8 = 4;

/// First byte of a format-3 container.
const PACKED: u8 = 0;

/// A codec's 2-bit code in packed headers.
fn code_of(codec: u8) -> u64 {
    match codec {
        CODEC_ZSTD => 1,
        CODEC_RANS => 2,
        _ => 0,
    }
}

/// Streams above this size are refused as corrupt.
const MAX_STREAM: usize = 1 << 28;

/// Collects streams and writes the container.
#[derive(Default)]
pub struct StreamWriter {
    streams: Vec<(u8, usize, Vec<u8>)>,
}

impl StreamWriter {
    /// Adds a text-like stream, compressed with zstd at `level` when that
    /// makes it smaller.
    pub fn add(&mut self, raw: &[u8], level: i32) -> Result<()> {
        self.push(raw, level, false)
    }

    /// Adds a stream of symbols (ids, byte planes): the smaller of zstd at
    /// `level` and order-0 rANS.
    pub fn add_symbols(&mut self, raw: &[u8], level: i32) -> Result<()> {
        self.push(raw, level, true)
    }

    fn push(&mut self, raw: &[u8], level: i32, symbols: bool) -> Result<()> {
        // the smallest coding so far; `None`: stored (copied at the end)
        let mut best: Option<(u8, Vec<u8>)> = None;
        let len = |b: &Option<(u8, Vec<u8>)>| b.as_ref().map_or(raw.len(), |b| b.1.len());
        if raw.len() >= MIN_COMPRESS {
            let plan = symbols.then(|| rans::plan(&rans::histogram(raw)));
            let est = plan.as_ref().map_or(usize::MAX, |p| p.bytes);
            // zstd wins over order-0 coding only on repeats, and seldom by
            // much: try it only when order-0 coding saves under a quarter
            if est > raw.len() / 4 * 3 {
                let mut z = Vec::new();
                codec::compress(Encoding::Zstd, level, raw, &mut z)?;
                if z.len() < len(&best) {
                    best = Some((CODEC_ZSTD, z));
                }
            }
            if let Some(plan) = plan.filter(|_| est < len(&best)) {
                let mut r = Vec::new();
                rans::encode_planned(raw, &plan, &mut r);
                if r.len() < len(&best) {
                    best = Some((CODEC_RANS, r));
                }
            }
        }
        let (codec, stored) = best.unwrap_or_else(|| (CODEC_STORED, raw.to_vec()));
        self.streams.push((codec, raw.len(), stored));
        Ok(())
    }

    pub fn finish(self) -> Vec<u8> {
        let body: usize = self.streams.iter().map(|s| s.2.len()).sum();
        let mut out = Vec::with_capacity(body + 8 * self.streams.len() + 4);
        out.push(PACKED);
        put_uvarint(&mut out, self.streams.len() as u64);
        for (c, raw, stored) in &self.streams {
            put_uvarint(&mut out, (*raw as u64) << 2 | code_of(*c));
            if *c != CODEC_STORED {
                put_uvarint(&mut out, stored.len() as u64);
            }
        }
        for (_, _, stored) in self.streams {
            out.extend_from_slice(&stored);
        }
        out
    }
}

/// Decompresses every stream of a container.
pub fn read_streams(buf: &[u8]) -> Result<Vec<Vec<u8>>> {
    read_streams_where(buf, |_| true)
}

/// The headers of a container's streams: codec, raw length and stored
/// bytes of each (every stored length checked to be in the buffer).
fn stream_heads(buf: &[u8]) -> Result<Vec<(u8, usize, &[u8])>> {
    let mut r = Reader::new(buf, "block streams");
    // a lone 0 is an empty format-2 container
    let packed = buf.len() > 1 && buf[0] == PACKED;
    if packed {
        r.u8()?;
    }
    let n = r.count(if packed { 1 } else { 3 })?;
    let mut heads = Vec::with_capacity(n);
    for _ in 0..n {
        let (c, raw, stored) = if packed {
            let h = r.uvarint()?;
            let raw = h >> 2;
            match h & 3 {
                0 => (CODEC_STORED, raw, raw),
                1 => (CODEC_ZSTD, raw, r.uvarint()?),
                2 => (CODEC_RANS, raw, r.uvarint()?),
                _ => return Err(r.err("bad stream codec")),
            }
        } else {
            (r.u8()?, r.uvarint()?, r.uvarint()?)
        };
        if raw > MAX_STREAM as u64 || stored > MAX_STREAM as u64 {
            return Err(r.err("stream larger than 256 MiB"));
        }
        heads.push((c, raw as usize, stored as usize));
    }
    let mut out = Vec::with_capacity(n);
    for (c, raw, stored) in heads {
        out.push((c, raw, r.take(stored)?));
    }
    if !r.is_empty() {
        return Err(r.err("trailing bytes after streams"));
    }
    Ok(out)
}

fn bad_stream() -> Error {
    Error::corrupt("block streams", "bad stream codec or length")
}

mod container;
mod numbers_read;

pub use container::Container;
pub use numbers_read::{read_numbers, read_numbers_live, read_numbers_prefix};

/// Decompresses the streams whose index `want` accepts (the others are
/// checked for their lengths only, and left out of the result).
pub fn read_streams_where(buf: &[u8], want: impl Fn(usize) -> bool) -> Result<Vec<Vec<u8>>> {
    let heads = stream_heads(buf)?;
    let n = heads.len();
    let mut out = Vec::with_capacity(n);
    // long rANS streams, decoded four (or two) at a time at the end: their
    // slot in `out`, bytes and length
    let mut long: Vec<(usize, &[u8], usize)> = Vec::new();
    for (i, (c, raw, bytes)) in heads.into_iter().enumerate() {
        if !want(i) {
            continue;
        }
        let got = match c {
            CODEC_STORED if raw == bytes.len() => bytes.to_vec(),
            CODEC_ZSTD => codec::decompress(Encoding::Zstd, bytes, raw)?,
            CODEC_RANS if rans::pairs_well(raw) => {
                long.push((out.len(), bytes, raw));
                Vec::new()
            }
            CODEC_RANS => rans::decode(bytes, raw)?,
            _ => return Err(bad_stream()),
        };
        out.push(got);
    }
    let mut quads = long.chunks_exact(4);
    for q in &mut quads {
        let got = rans::decode_many([
            (q[0].1, q[0].2),
            (q[1].1, q[1].2),
            (q[2].1, q[2].2),
            (q[3].1, q[3].2),
        ])?;
        for (s, v) in q.iter().zip(got) {
            out[s.0] = v;
        }
    }
    let mut pairs = quads.remainder().chunks_exact(2);
    for p in &mut pairs {
        let [a, b] = rans::decode_many([(p[0].1, p[0].2), (p[1].1, p[1].2)])?;
        (out[p[0].0], out[p[1].0]) = (a, b);
    }
    for &(at, bytes, raw) in pairs.remainder() {
        out[at] = rans::decode(bytes, raw)?;
    }
    Ok(out)
}

/// Bytes needed to hold `max` (0 for 0).
pub fn width_of(max: u64) -> u8 {
    (8 - max.leading_zeros() / 8) as u8
}

/// Reads `n` values stored as `width` byte planes.
pub fn get_planes(planes: &[u8], n: usize, width: u8) -> Result<Vec<u64>> {
    let w = usize::from(width);
    if w > 8 || planes.len() != n.saturating_mul(w) {
        return Err(Error::corrupt(
            "block streams",
            "byte planes of the wrong size",
        ));
    }
    let mut out = vec![0u64; n];
    for p in 0..w {
        for (v, &b) in out.iter_mut().zip(&planes[p * n..(p + 1) * n]) {
            *v |= u64::from(b) << (8 * p);
        }
    }
    Ok(out)
}

/// A multiplicative hasher for integer keys of our own data.
#[derive(Default)]
pub struct IntHasher(u64);

/// A `HashMap` keyed by integers of our own data.
pub type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

impl Hasher for IntHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// Number-column modes.
const MODE_PLAIN: u8 = 0;
const MODE_DELTA: u8 = 1;
const MODE_DICT: u8 = 2;
/// Zigzag deltas after a first value kept in the header (format 4).
const MODE_FIRST: u8 = 3;

/// Most distinct values a dictionary-coded number column holds.
const MAX_DICT: usize = 256;

/// Distinct values searched linearly before `small_dict` builds a map.
const LINEAR_VALUES: usize = 8;

/// Distinct values of `col` in first-appearance order, or `None` past `MAX_DICT`.
fn small_dict(col: &[u64]) -> Option<Vec<u64>> {
    let mut dict: Vec<u64> = Vec::new();
    let mut rest = col.iter();
    // most columns hold a handful of values: no map for those
    for &v in rest.by_ref() {
        if !dict.contains(&v) {
            if dict.len() == LINEAR_VALUES {
                return small_dict_mapped(dict, v, rest.as_slice());
            }
            dict.push(v);
        }
    }
    Some(dict)
}

/// `small_dict` past `LINEAR_VALUES`: `dict` so far, then `v` (new) and
/// `rest`.
fn small_dict_mapped(mut dict: Vec<u64>, v: u64, rest: &[u64]) -> Option<Vec<u64>> {
    let mut seen: IntMap<u64, usize> = IntMap::default();
    for (i, &d) in dict.iter().enumerate() {
        seen.insert(d, i);
    }
    for &v in std::iter::once(&v).chain(rest) {
        if let std::collections::hash_map::Entry::Vacant(e) = seen.entry(v) {
            if dict.len() == MAX_DICT {
                return None;
            }
            e.insert(dict.len());
            dict.push(v);
        }
    }
    Some(dict)
}

/// The id (index in `dict`, at most 256 values) of every value of `col`.
fn dict_ids(col: &[u64], dict: &[u64]) -> Vec<u8> {
    if dict.len() <= LINEAR_VALUES {
        return col
            .iter()
            .map(|v| dict.iter().position(|d| d == v).unwrap_or(0) as u8)
            .collect();
    }
    let mut ids: IntMap<u64, u8> = IntMap::default();
    for (i, &v) in dict.iter().enumerate() {
        ids.insert(v, i as u8);
    }
    col.iter()
        .map(|v| ids.get(v).copied().unwrap_or(0))
        .collect()
}

/// Writes number columns: a header stream (per column: uvarint count, mode,
/// width, and for dictionary mode the uvarint values), then one stream per
/// byte plane of every column (dictionary ids are one plane).
pub fn write_numbers(cols: &[Vec<u64>], level: i32) -> Result<Vec<u8>> {
    let mut w = StreamWriter::default();
    let mut head = Vec::new();
    put_uvarint(&mut head, cols.len() as u64);
    let mut planes: Vec<Vec<u8>> = Vec::new();
    for col in cols {
        put_uvarint(&mut head, col.len() as u64);
        // the width of the largest value is the width of them all or-ed
        let wp = width_of(col.iter().fold(0, |a, &v| a | v));
        // values that fit a byte are their own ids: a dictionary would only
        // add its value list
        let dict = if wp > 1 {
            small_dict(col).filter(|d| d.len() == 1 || d.len() <= col.len() / 4)
        } else {
            // only a constant column is worth a dictionary here
            col.first()
                .filter(|&&v| col.iter().all(|&x| x == v))
                .map(|&v| vec![v])
        };
        if let Some(dict) = dict {
            head.push(MODE_DICT);
            put_uvarint(&mut head, dict.len() as u64);
            for &v in &dict {
                put_uvarint(&mut head, v);
            }
            if dict.len() > 1 {
                planes.push(dict_ids(col, &dict));
            }
            continue;
        }
        let mut prev = 0u64;
        let deltas: Vec<u64> = col
            .iter()
            .map(|&v| {
                let d = zigzag((v as i64).wrapping_sub(prev as i64));
                prev = v;
                d
            })
            .collect();
        let wd = width_of(deltas.iter().fold(0, |a, &v| a | v));
        // newest first, a counter's first value is its largest: in the
        // header it leaves the planes the width of the steps
        let ws = width_of(deltas.iter().skip(1).fold(0, |a, &v| a | v));
        let (mode, width, vals) = if col.len() > 1 && ws < wd.min(wp) {
            (MODE_FIRST, ws, &deltas[1..])
        } else if wd < wp {
            (MODE_DELTA, wd, &deltas[..])
        } else {
            (MODE_PLAIN, wp, &col[..])
        };
        head.push(mode);
        if mode == MODE_FIRST {
            put_uvarint(&mut head, col[0]);
        }
        head.push(width);
        for p in 0..width {
            planes.push(vals.iter().map(|v| (v >> (8 * p)) as u8).collect());
        }
    }
    w.add(&head, codec::ZSTD_COLUMN_LEVEL)?;
    for p in planes {
        w.add_symbols(&p, level)?;
    }
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn small_dicts_match_the_definition() {
        // first-appearance order, `None` past MAX_DICT distinct values
        let reference = |col: &[u64]| {
            let mut d: Vec<u64> = Vec::new();
            for &v in col {
                if !d.contains(&v) {
                    d.push(v);
                }
            }
            (d.len() <= MAX_DICT).then_some(d)
        };
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for distinct in [1u64, 3, 8, 9, 40, 256, 257, 300] {
            let col: Vec<u64> = (0..2000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % distinct) * 1000
                })
                .collect();
            let want = reference(&col);
            assert_eq!(small_dict(&col), want, "{distinct}");
            if let Some(dict) = want {
                let ids = dict_ids(&col, &dict);
                let back: Vec<u64> = ids.iter().map(|&i| dict[usize::from(i)]).collect();
                assert_eq!(back, col);
            }
        }
    }

    #[test]
    fn number_columns_roundtrip_in_every_mode() {
        let cols = vec![
            vec![200, 404, 200, 500, 200, 200, 301, 200],
            (0..1000).collect::<Vec<u64>>(),
            (0..1000u64)
                .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .collect(),
            vec![7; 50],
            vec![],
            vec![u64::MAX, 0, u64::MAX - 1, 1],
        ];
        let buf = write_numbers(&cols, 1).unwrap();
        assert_eq!(read_numbers(&buf).unwrap(), cols);
        assert!(read_numbers(&buf[..buf.len() - 1]).is_err());
    }

    /// A counter read newest first: its first value in the header, the
    /// steps in one plane.
    #[test]
    fn counters_newest_first_keep_their_first_value_apart() {
        let down: Vec<u64> = (0..2000).rev().collect();
        let up: Vec<u64> = (0..2000).collect();
        let (a, b) = (
            write_numbers(std::slice::from_ref(&down), 1).unwrap(),
            write_numbers(std::slice::from_ref(&up), 1).unwrap(),
        );
        assert!(a.len() <= b.len() + 4, "{} {}", a.len(), b.len());
        let head = &read_streams(&a).unwrap()[0];
        // column count, value count (2 bytes), mode
        assert_eq!(head[3], MODE_FIRST);
        assert_eq!(read_numbers(&a).unwrap(), vec![down.clone()]);
        for take in [0, 1, 2, 700, 2000] {
            let got = read_numbers_prefix(&a, &[take as u32]).unwrap();
            assert_eq!(got, vec![down[..take].to_vec()]);
        }
        assert!(read_numbers_prefix(&a, &[2001]).is_err());
        assert!(read_numbers_prefix(&a, &[1, 1]).is_err());
    }

    #[test]
    fn number_prefixes_are_the_columns_starts() {
        let mut rnd = crate::chunk::test_rng(0x2545_f491_4f6c_dd1du64);
        let cols: Vec<Vec<u64>> = vec![
            (0..3000)
                .map(|_| [200, 404, 500][rnd(3) as usize])
                .collect(),
            (0..3000).map(|_| 1_000_000 + rnd(40) * 1000).collect(),
            (0..3000).map(|i| 5_000_000 + i * 3 + rnd(3)).collect(),
            (0..3000).map(|_| rnd(u64::MAX)).collect(),
            (0..3000).map(|_| rnd(200)).collect(),
            (0..3000).map(|i| i * 100 + rnd(50)).collect(),
            vec![9; 3000],
            vec![],
        ];
        let buf = write_numbers(&cols, 1).unwrap();
        let head = &read_streams(&buf).unwrap()[0];
        let mut r = Reader::new(head, "");
        r.uvarint().unwrap();
        let mut modes = Vec::new();
        for c in &cols {
            assert_eq!(r.uvarint().unwrap(), c.len() as u64);
            let m = r.u8().unwrap();
            modes.push(m);
            match m {
                MODE_DICT => {
                    for _ in 0..r.uvarint().unwrap() {
                        r.uvarint().unwrap();
                    }
                }
                MODE_FIRST => {
                    r.uvarint().unwrap();
                    r.u8().unwrap();
                }
                _ => {
                    r.u8().unwrap();
                }
            }
        }
        for m in [MODE_PLAIN, MODE_DELTA, MODE_DICT, MODE_FIRST] {
            assert!(modes.contains(&m), "{modes:?}");
        }
        for k in [0usize, 1, 127, 128, 1500, 3000] {
            let want: Vec<u32> = cols.iter().map(|c| k.min(c.len()) as u32).collect();
            let got = read_numbers_prefix(&buf, &want).unwrap();
            let expect: Vec<Vec<u64>> = cols.iter().map(|c| c[..k.min(c.len())].to_vec()).collect();
            assert_eq!(got, expect, "{k}");
        }
    }

    #[test]
    fn format_2_containers_still_read() {
        // count 3; stored "ab"; zstd of 40 x's; rANS of 64 y's
        let z = zstd::bulk::compress(&[b'x'; 40], 1).unwrap();
        let mut r = Vec::new();
        rans::encode(&[b'y'; 64], &mut r);
        let mut buf = vec![3, CODEC_STORED, 2, 2, CODEC_ZSTD, 40, z.len() as u8];
        buf.extend([CODEC_RANS, 64, r.len() as u8]);
        buf.extend_from_slice(b"ab");
        buf.extend_from_slice(&z);
        buf.extend_from_slice(&r);
        let s = read_streams(&buf).unwrap();
        assert_eq!(s, vec![b"ab".to_vec(), vec![b'x'; 40], vec![b'y'; 64]]);
        assert_eq!(read_streams(&[0]).unwrap(), Vec::<Vec<u8>>::new());
        assert!(read_streams(&buf[..buf.len() - 1]).is_err());
        // packed: an unknown code, a truncated header
        assert!(read_streams(&[PACKED, 1, 3]).is_err());
        assert!(read_streams(&[PACKED, 1]).is_err());
        let empty = StreamWriter::default().finish();
        assert_eq!(read_streams(&empty).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn streams_roundtrip() {
        let mut w = StreamWriter::default();
        w.add(b"", 1).unwrap();
        w.add(b"short", 1).unwrap();
        w.add(&[7u8; 1000], 1).unwrap();
        w.add_symbols(&[7u8; 1000], 1).unwrap();
        let buf = w.finish();
        assert!(buf.len() < 100);
        let s = read_streams(&buf).unwrap();
        assert_eq!(
            s,
            vec![
                b"".to_vec(),
                b"short".to_vec(),
                vec![7u8; 1000],
                vec![7u8; 1000]
            ]
        );
    }
}

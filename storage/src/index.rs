//! The label index: one immutable [`IndexSegment`] per tenant, day and
//! flush, listing series label sets and the chunk refs written for them.
//! [`SegmentReader`] adds postings (label=value → series) built at load.
//!
//! Segment layout (all integers LEB128 varints unless noted):
//! `"SLIX"`, version u8 (1), encoding u8 (3 = zstd), then the compressed
//! body, then crc32 (u32 LE) of everything before it. Body: series count,
//! per series fingerprint (u64 LE), label count and uvarint-prefixed
//! name/value strings; chunk count, per chunk series ordinal, varint from,
//! through − from, checksum (u32 LE), entries, uncompressed and compressed
//! bytes.

use std::collections::{BTreeMap, HashMap};

use sluice_logql::labels::{Labels, MatchOp, Matcher};

use crate::error::{Error, Result};
use crate::varint::{put_bytes, put_uvarint, put_varint, Reader};

const MAGIC: &[u8; 4] = b"SLIX";
const VERSION: u8 = 1;
const ZSTD: u8 = 3;
const ZSTD_LEVEL: i32 = 3;
/// Index segments above this decompressed size are refused as corrupt.
const MAX_BODY: usize = 1 << 30;

/// Nanoseconds per index period (one day).
pub const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// The day (period number) a timestamp falls in.
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(DAY_NS)
}

/// Where a chunk lives and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkRef {
    pub fingerprint: u64,
    /// Minimum entry timestamp (unix ns).
    pub from: i64,
    /// Maximum entry timestamp (unix ns, inclusive).
    pub through: i64,
    /// crc32 of the whole chunk object.
    pub checksum: u32,
    pub entries: u32,
    /// Sum of line lengths.
    pub uncompressed_bytes: u64,
    /// Size of the chunk object.
    pub compressed_bytes: u64,
}

impl ChunkRef {
    /// `<tenant>/chunks/<fp hex>/<from hex>-<through hex>-<checksum hex>`.
    pub fn object_key(&self, tenant: &str) -> String {
        format!(
            "{tenant}/chunks/{:016x}/{:x}-{:x}-{:08x}",
            self.fingerprint, self.from, self.through, self.checksum
        )
    }

    /// Whether the chunk has entries within `[from, through]`.
    pub fn overlaps(&self, from: i64, through: i64) -> bool {
        self.from <= through && self.through >= from
    }
}

/// One immutable index segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexSegment {
    pub series: Vec<(u64, Labels)>,
    pub chunks: Vec<ChunkRef>,
}

impl IndexSegment {
    /// Serialises the segment. Chunks whose series is missing from `series`
    /// are dropped.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        put_uvarint(&mut body, self.series.len() as u64);
        let mut ordinal = HashMap::with_capacity(self.series.len());
        for (i, (fp, labels)) in self.series.iter().enumerate() {
            ordinal.insert(*fp, i as u64);
            body.extend_from_slice(&fp.to_le_bytes());
            put_uvarint(&mut body, labels.len() as u64);
            for (k, v) in labels.iter() {
                put_bytes(&mut body, k.as_bytes());
                put_bytes(&mut body, v.as_bytes());
            }
        }
        let chunks: Vec<(u64, &ChunkRef)> = self
            .chunks
            .iter()
            .filter_map(|c| ordinal.get(&c.fingerprint).map(|&o| (o, c)))
            .collect();
        put_uvarint(&mut body, chunks.len() as u64);
        for (o, c) in chunks {
            put_uvarint(&mut body, o);
            put_varint(&mut body, c.from);
            put_uvarint(&mut body, c.through.wrapping_sub(c.from) as u64);
            body.extend_from_slice(&c.checksum.to_le_bytes());
            put_uvarint(&mut body, u64::from(c.entries));
            put_uvarint(&mut body, c.uncompressed_bytes);
            put_uvarint(&mut body, c.compressed_bytes);
        }
        let comp = zstd::bulk::compress(&body, ZSTD_LEVEL).map_err(|e| Error::Codec {
            encoding: "zstd",
            reason: e.to_string(),
        })?;
        let mut out = Vec::with_capacity(comp.len() + 10);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(ZSTD);
        put_uvarint(&mut out, body.len() as u64);
        out.extend_from_slice(&comp);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Parses a segment, verifying its checksum.
    pub fn decode(buf: &[u8]) -> Result<IndexSegment> {
        let corrupt = |r: &str| Error::corrupt("index segment", r.to_string());
        if buf.len() < 11 || &buf[..4] != MAGIC {
            return Err(corrupt("bad magic or too short"));
        }
        if buf[4] != VERSION {
            return Err(Error::UnsupportedVersion {
                what: "index segment",
                version: buf[4],
            });
        }
        let (data, crc) = buf.split_at(buf.len() - 4);
        if crc32fast::hash(data).to_le_bytes() != crc {
            return Err(corrupt("checksum mismatch"));
        }
        if data[5] != ZSTD {
            return Err(corrupt("unknown encoding"));
        }
        let mut h = Reader::new(&data[6..], "index segment");
        let body_len = usize::try_from(h.uvarint()?).map_err(|_| corrupt("body too large"))?;
        if body_len > MAX_BODY {
            return Err(corrupt("body too large"));
        }
        let body =
            zstd::bulk::decompress(&data[6 + h.pos()..], body_len).map_err(|e| Error::Codec {
                encoding: "zstd",
                reason: e.to_string(),
            })?;
        let mut r = Reader::new(&body, "index segment body");
        let n = r.count(9)?;
        let mut series = Vec::with_capacity(n);
        for _ in 0..n {
            let fp = r.u64_le()?;
            let k = r.count(2)?;
            let mut pairs = Vec::with_capacity(k);
            for _ in 0..k {
                pairs.push((r.string()?, r.string()?));
            }
            series.push((fp, Labels::new(pairs)));
        }
        let n = r.count(10)?;
        let mut chunks = Vec::with_capacity(n);
        for _ in 0..n {
            let o = r.uvarint()?;
            let fingerprint = series
                .get(o as usize)
                .map(|s| s.0)
                .ok_or_else(|| r.err("series ordinal out of range"))?;
            let from = r.varint()?;
            let through = from.wrapping_add(r.uvarint()? as i64);
            let checksum = r.u32_le()?;
            let entries =
                u32::try_from(r.uvarint()?).map_err(|_| r.err("entry count too large"))?;
            let uncompressed_bytes = r.uvarint()?;
            let compressed_bytes = r.uvarint()?;
            chunks.push(ChunkRef {
                fingerprint,
                from,
                through,
                checksum,
                entries,
                uncompressed_bytes,
                compressed_bytes,
            });
        }
        if !r.is_empty() {
            return Err(r.err("trailing bytes"));
        }
        Ok(IndexSegment { series, chunks })
    }
}

/// A decoded segment with postings, ready for matcher lookups.
#[derive(Debug, Default)]
pub struct SegmentReader {
    segment: IndexSegment,
    /// name → value → series ordinals (ascending).
    postings: BTreeMap<String, BTreeMap<String, Vec<u32>>>,
    /// series ordinal → chunk indices.
    chunks_of: Vec<Vec<u32>>,
}

impl SegmentReader {
    pub fn new(segment: IndexSegment) -> Self {
        let mut postings: BTreeMap<String, BTreeMap<String, Vec<u32>>> = BTreeMap::new();
        let mut ordinal = HashMap::with_capacity(segment.series.len());
        for (i, (fp, labels)) in segment.series.iter().enumerate() {
            ordinal.insert(*fp, i);
            for (k, v) in labels.iter() {
                postings
                    .entry(k.to_string())
                    .or_default()
                    .entry(v.to_string())
                    .or_default()
                    .push(i as u32);
            }
        }
        let mut chunks_of = vec![Vec::new(); segment.series.len()];
        for (ci, c) in segment.chunks.iter().enumerate() {
            if let Some(&si) = ordinal.get(&c.fingerprint) {
                chunks_of[si].push(ci as u32);
            }
        }
        SegmentReader {
            segment,
            postings,
            chunks_of,
        }
    }

    pub fn segment(&self) -> &IndexSegment {
        &self.segment
    }

    /// Approximate heap size, for cache accounting.
    pub fn memory_bytes(&self) -> usize {
        let labels: usize = self
            .segment
            .series
            .iter()
            .map(|(_, l)| 64 + l.iter().map(|(k, v)| 48 + k.len() + v.len()).sum::<usize>())
            .sum();
        labels * 2 + self.segment.chunks.len() * (std::mem::size_of::<ChunkRef>() + 4)
    }

    /// Series ordinals matching all matchers, using postings for `=` matchers.
    fn matching(&self, matchers: &[Matcher]) -> Vec<usize> {
        let mut cand: Option<Vec<u32>> = None;
        for m in matchers
            .iter()
            .filter(|m| m.op == MatchOp::Eq && !m.value.is_empty())
        {
            let list = self
                .postings
                .get(&m.name)
                .and_then(|vs| vs.get(&m.value))
                .cloned()
                .unwrap_or_default();
            cand = Some(match cand {
                None => list,
                Some(c) => c
                    .into_iter()
                    .filter(|x| list.binary_search(x).is_ok())
                    .collect(),
            });
        }
        let all = || (0..self.segment.series.len() as u32).collect::<Vec<_>>();
        cand.unwrap_or_else(all)
            .into_iter()
            .map(|i| i as usize)
            .filter(|&i| self.segment.series[i].1.matches(matchers))
            .collect()
    }

    /// Matching series with their chunks overlapping `[from, through]`;
    /// series without such chunks are left out.
    pub fn series(
        &self,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Vec<(&Labels, Vec<ChunkRef>)> {
        let mut out = Vec::new();
        for i in self.matching(matchers) {
            let chunks: Vec<ChunkRef> = self.chunks_of[i]
                .iter()
                .map(|&c| self.segment.chunks[c as usize])
                .filter(|c| c.overlaps(from, through))
                .collect();
            if !chunks.is_empty() {
                out.push((&self.segment.series[i].1, chunks));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn chunk(fp: u64, from: i64, through: i64) -> ChunkRef {
        ChunkRef {
            fingerprint: fp,
            from,
            through,
            checksum: 7,
            entries: 3,
            uncompressed_bytes: 30,
            compressed_bytes: 20,
        }
    }

    fn sample() -> IndexSegment {
        let a = labels(&[("app", "api"), ("env", "prod")]);
        let b = labels(&[("app", "web"), ("env", "prod")]);
        IndexSegment {
            series: vec![(a.fingerprint(), a.clone()), (b.fingerprint(), b.clone())],
            chunks: vec![
                chunk(a.fingerprint(), 10, 20),
                chunk(b.fingerprint(), 30, 40),
                chunk(a.fingerprint(), -5, 50),
            ],
        }
    }

    #[test]
    fn segment_roundtrip_and_corruption() {
        let s = sample();
        let enc = s.encode().unwrap();
        assert_eq!(IndexSegment::decode(&enc).unwrap(), s);
        for cut in 0..enc.len() {
            assert!(IndexSegment::decode(&enc[..cut]).is_err());
        }
        let mut bad = enc.clone();
        bad[8] ^= 1;
        assert!(IndexSegment::decode(&bad).is_err());
    }

    #[test]
    fn postings_lookup() {
        let r = SegmentReader::new(sample());
        let m = |n: &str, op, v: &str| Matcher::new(n, op, v).unwrap();
        let got = r.series(&[m("app", MatchOp::Eq, "api")], 0, 100);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.len(), 2);
        assert_eq!(
            r.series(&[m("app", MatchOp::Eq, "api")], 21, 100)[0]
                .1
                .len(),
            1
        );
        assert_eq!(r.series(&[m("env", MatchOp::Eq, "prod")], 0, 100).len(), 2);
        assert_eq!(
            r.series(
                &[m("env", MatchOp::Eq, "prod"), m("app", MatchOp::Re, "w.*")],
                0,
                100
            )
            .len(),
            1
        );
        assert!(r
            .series(&[m("app", MatchOp::Eq, "nope")], 0, 100)
            .is_empty());
        assert_eq!(r.series(&[m("app", MatchOp::Neq, "web")], 0, 100).len(), 1);
        assert!(r.series(&[], 60, 100).is_empty());
    }

    #[test]
    fn object_key_shape() {
        let c = chunk(0xab, 0x10, 0x20);
        assert_eq!(
            c.object_key("t1"),
            "t1/chunks/00000000000000ab/10-20-00000007"
        );
    }
}

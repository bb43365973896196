//! One columnar block: timestamps + line lengths, structured metadata, and
//! line bytes, each in its own separately compressed section, so size-only
//! reads never decompress a line.

use bytes::Bytes;
use sluice_logql::source::{Entry, EntrySize};

use std::collections::HashMap;
use std::sync::Arc;

use super::data::Decoded;
use super::prefilter::ReadFilter;
use super::{codec, lines, lines_read, Encoding};
use crate::error::{Error, Result};
use crate::varint::{put_uvarint, put_varint, Reader};

/// Summary of one block, kept in the chunk's block index: queries use it to
/// skip blocks unread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    pub min_ts: i64,
    pub max_ts: i64,
    pub entries: u32,
    /// Sum of the line lengths in the block.
    pub uncompressed_bytes: u64,
}

/// Section order inside a block.
pub const SEC_TS: usize = 0;
pub const SEC_META: usize = 1;
pub const SEC_LINES: usize = 2;
pub const SEC_NUMS: usize = 3;
pub const SECTIONS: usize = 4;

/// Block flag: the lines section holds a template stream and `SEC_NUMS` its
/// numbers (see `lines.rs`).
pub const FLAG_NUMERIC_COLUMNS: u8 = 1;

/// Block flag (with `FLAG_NUMERIC_COLUMNS`): number columns are keyed by
/// the template context before each number instead of its position.
pub const FLAG_CONTEXT_COLUMNS: u8 = 2;

/// A compressed block plus what is needed to read it.
#[derive(Clone, Debug)]
pub struct EncodedBlock {
    pub meta: BlockMeta,
    pub encoding: Encoding,
    pub flags: u8,
    /// (uncompressed, compressed) length of each section.
    pub sections: [(u32, u32); SECTIONS],
    /// The compressed sections, back to back.
    pub data: Bytes,
    /// crc32 (IEEE) of `data`.
    pub crc: u32,
}

/// Builds a block from entries already sorted by timestamp.
pub struct BlockBuilder {
    ts: Vec<i64>,
    lens: Vec<u32>,
    meta_refs: Vec<u8>,
    dict: Vec<String>,
    dict_ids: HashMap<String, u32>,
    has_meta: bool,
    lines: Vec<u8>,
}

impl BlockBuilder {
    pub fn new(entries: usize, line_bytes: usize) -> Self {
        BlockBuilder {
            ts: Vec::with_capacity(entries),
            lens: Vec::with_capacity(entries),
            meta_refs: Vec::with_capacity(entries),
            dict: Vec::new(),
            dict_ids: HashMap::new(),
            has_meta: false,
            lines: Vec::with_capacity(line_bytes),
        }
    }

    fn dict_id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.dict_ids.get(s) {
            return id;
        }
        let id = self.dict.len() as u32;
        self.dict.push(s.to_string());
        self.dict_ids.insert(s.to_string(), id);
        id
    }

    /// Adds the next entry; `ts` must not be below the previous one.
    pub fn push(&mut self, ts: i64, line: &[u8], md: &[(String, String)]) {
        self.ts.push(ts);
        self.lens.push(line.len() as u32);
        self.lines.extend_from_slice(line);
        put_uvarint(&mut self.meta_refs, md.len() as u64);
        for (k, v) in md {
            self.has_meta = true;
            let k = self.dict_id(k);
            let v = self.dict_id(v);
            put_uvarint(&mut self.meta_refs, u64::from(k));
            put_uvarint(&mut self.meta_refs, u64::from(v));
        }
    }

    /// Compresses the sections into a block. With zstd, lines are split
    /// into a template stream and number columns first.
    pub fn finish(self, encoding: Encoding, level: i32) -> Result<EncodedBlock> {
        let meta = BlockMeta {
            min_ts: self.ts.first().copied().unwrap_or(0),
            max_ts: self.ts.last().copied().unwrap_or(0),
            entries: len_u32(self.ts.len())?,
            uncompressed_bytes: self.lines.len() as u64,
        };
        let mut ts = Vec::with_capacity(self.ts.len() * 5);
        write_timestamps(&self.ts, &mut ts);
        for &l in &self.lens {
            put_uvarint(&mut ts, u64::from(l));
        }
        let meta_raw = if self.has_meta {
            let mut m = Vec::new();
            put_uvarint(&mut m, self.dict.len() as u64);
            for s in &self.dict {
                put_dict_string(&mut m, s);
            }
            m.extend_from_slice(&self.meta_refs);
            m
        } else {
            Vec::new()
        };
        let (flags, lines, nums) = if encoding == Encoding::Zstd {
            let (t, n) = lines::split(&self.lines, self.lens.iter().map(|&l| l as usize));
            (FLAG_NUMERIC_COLUMNS | FLAG_CONTEXT_COLUMNS, t, n)
        } else {
            (0, self.lines, Vec::new())
        };
        let raws: [&[u8]; SECTIONS] = [&ts, &meta_raw, &lines, &nums];
        let mut data = Vec::with_capacity(lines.len() / 4);
        let mut sections = [(0u32, 0u32); SECTIONS];
        for (i, raw) in raws.iter().enumerate() {
            let start = data.len();
            // only the template text gains from a slower level; timestamps,
            // metadata and number columns compress as well at level 1
            let lv = if i == SEC_LINES {
                level
            } else {
                level.min(codec::ZSTD_COLUMN_LEVEL)
            };
            codec::compress(encoding, lv, raw, &mut data)?;
            sections[i] = (len_u32(raw.len())?, len_u32(data.len() - start)?);
        }
        let crc = crc32fast::hash(&data);
        Ok(EncodedBlock {
            meta,
            encoding,
            flags,
            sections,
            data: Bytes::from(data),
            crc,
        })
    }
}

/// Timestamps: varint first, then the deltas (sorted input, so >= 0)
/// divided by the largest power of ten (up to 10^9) dividing all of them,
/// stored as `width` little-endian byte planes (all lowest bytes first).
fn write_timestamps(ts: &[i64], out: &mut Vec<u8>) {
    let Some(&first) = ts.first() else { return };
    put_varint(out, first);
    let deltas: Vec<u64> = ts
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]) as u64)
        .collect();
    let mut exp = 9u8;
    while exp > 0 && deltas.iter().any(|d| d % 10u64.pow(u32::from(exp)) != 0) {
        exp -= 1;
    }
    let div = 10u64.pow(u32::from(exp));
    let vals: Vec<u64> = if div == 1 {
        deltas
    } else {
        deltas.iter().map(|d| d / div).collect()
    };
    let max = vals.iter().copied().max().unwrap_or(0);
    let width = (8 - max.leading_zeros() / 8) as u8;
    out.push(exp);
    out.push(width);
    for plane in 0..width {
        out.extend(vals.iter().map(|v| (v >> (8 * plane)) as u8));
    }
}

fn read_timestamps(r: &mut Reader, n: usize) -> Result<Vec<i64>> {
    let mut ts = Vec::with_capacity(n);
    if n == 0 {
        return Ok(ts);
    }
    let first = r.varint()?;
    let exp = r.u8()?;
    let width = usize::from(r.u8()?);
    if exp > 18 || width > 8 {
        return Err(r.err("bad timestamp encoding"));
    }
    let div = 10i64.pow(u32::from(exp));
    let planes = r.take(width * (n - 1))?;
    ts.push(first);
    let mut t = first;
    for i in 0..n - 1 {
        let mut d = 0u64;
        for p in 0..width {
            d |= u64::from(planes[p * (n - 1) + i]) << (8 * p);
        }
        t = t.wrapping_add((d as i64).wrapping_mul(div));
        ts.push(t);
    }
    Ok(ts)
}

fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.len().is_multiple_of(2)
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

fn hex_val(c: u8) -> u8 {
    if c <= b'9' {
        c - b'0'
    } else {
        c - b'a' + 10
    }
}

/// A dictionary string: uvarint `len << 1 | hex`, then the bytes; lowercase
/// hex strings of even length (trace and span ids) are stored as the bytes
/// they spell, half the size.
fn put_dict_string(out: &mut Vec<u8>, s: &str) {
    if is_lower_hex(s) {
        put_uvarint(out, ((s.len() as u64) << 1) | 1);
        out.extend(
            s.as_bytes()
                .chunks_exact(2)
                .map(|p| hex_val(p[0]) << 4 | hex_val(p[1])),
        );
    } else {
        put_uvarint(out, (s.len() as u64) << 1);
        out.extend_from_slice(s.as_bytes());
    }
}

fn read_dict_string(r: &mut Reader) -> Result<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let tag = r.uvarint()?;
    let len = usize::try_from(tag >> 1).map_err(|_| r.err("string too long"))?;
    if tag & 1 == 0 {
        let b = r.take(len)?;
        return String::from_utf8(b.to_vec()).map_err(|_| r.err("invalid utf-8 string"));
    }
    if !len.is_multiple_of(2) {
        return Err(r.err("odd-length hex string"));
    }
    let b = r.take(len / 2)?;
    let mut s = String::with_capacity(len);
    for &x in b {
        s.push(char::from(HEX[usize::from(x >> 4)]));
        s.push(char::from(HEX[usize::from(x & 15)]));
    }
    Ok(s)
}

/// Never called: a unit without entries has no index to build one for.
fn unreachable_entry() -> Entry {
    Entry {
        ts: 0,
        line: Bytes::new(),
        metadata: Vec::new(),
    }
}

/// A block's structured metadata: the dictionary and, per entry, its
/// (name id, value id) pairs `refs[starts[i]..starts[i + 1]]`.
#[derive(Default)]
struct MetaTable {
    dict: Vec<String>,
    refs: Vec<(u32, u32)>,
    starts: Vec<u32>,
    /// Per dictionary id: whether a pair with that name is returned
    /// (empty: all are).
    keep: Vec<bool>,
}

impl MetaTable {
    /// Entry `i`'s pairs (ids were checked against the dictionary).
    fn pairs(&self, i: usize) -> Vec<(String, String)> {
        let (Some(&a), Some(&b)) = (self.starts.get(i), self.starts.get(i + 1)) else {
            return Vec::new();
        };
        self.refs[a as usize..b as usize]
            .iter()
            .filter(|&&(k, _)| self.keep.get(k as usize).is_none_or(|&keep| keep))
            .map(|&(k, v)| (self.dict[k as usize].clone(), self.dict[v as usize].clone()))
            .collect()
    }
}

/// Sections above this size are refused as corrupt (blocks are ~256 KiB).
const MAX_SECTION: usize = 1 << 28;

fn len_u32(n: usize) -> Result<u32> {
    u32::try_from(n)
        .map_err(|_| Error::corrupt("block", format!("section of {n} bytes exceeds 4 GiB")))
}

impl EncodedBlock {
    fn section(&self, i: usize) -> Result<Vec<u8>> {
        let start: usize = self.sections[..i].iter().map(|s| s.1 as usize).sum();
        let (raw, comp) = self.sections[i];
        let bytes = self
            .data
            .get(start..start + comp as usize)
            .ok_or_else(|| Error::corrupt("block", "section past end of block"))?;
        codec::decompress(self.encoding, bytes, raw as usize)
    }

    /// Timestamps and line lengths, decoded from the first section only.
    pub fn sizes(&self) -> Result<Vec<EntrySize>> {
        let raw = self.section(SEC_TS)?;
        let n = self.meta.entries as usize;
        let mut r = Reader::new(&raw, "block timestamps");
        if n > raw.len() {
            return Err(r.err("more entries than timestamp bytes"));
        }
        let ts = read_timestamps(&mut r, n)?;
        let mut out = Vec::with_capacity(n);
        for t in ts {
            let len = u32::try_from(r.uvarint()?).map_err(|_| r.err("line length too large"))?;
            out.push(EntrySize { ts: t, len });
        }
        if !r.is_empty() {
            return Err(r.err("trailing bytes in timestamp section"));
        }
        Ok(out)
    }

    /// Structured metadata of the block, decoded but not yet expanded into
    /// per-entry strings.
    fn metadata(&self) -> Result<MetaTable> {
        let n = self.meta.entries as usize;
        if self.sections[SEC_META].0 == 0 {
            return Ok(MetaTable::default());
        }
        let raw = self.section(SEC_META)?;
        let mut r = Reader::new(&raw, "block metadata");
        let dict_len = r.count(1)?;
        let mut dict = Vec::with_capacity(dict_len);
        for _ in 0..dict_len {
            dict.push(read_dict_string(&mut r)?);
        }
        let mut refs = Vec::new();
        let mut starts = Vec::with_capacity(n + 1);
        for _ in 0..n {
            starts.push(refs.len() as u32);
            let k = r.count(2)?;
            for _ in 0..k {
                let name = r.uvarint()?;
                let value = r.uvarint()?;
                if name >= dict.len() as u64 || value >= dict.len() as u64 {
                    return Err(r.err("metadata id out of dictionary"));
                }
                refs.push((name as u32, value as u32));
            }
        }
        starts.push(refs.len() as u32);
        if !r.is_empty() {
            return Err(r.err("trailing bytes in metadata section"));
        }
        Ok(MetaTable {
            dict,
            refs,
            starts,
            keep: Vec::new(),
        })
    }

    /// The entries of the block in timestamp order; with `filter`, only
    /// those whose line contains all its literals. A block whose line
    /// template cannot hold them is ruled out before its numbers, lengths
    /// or metadata are decoded. Entries are built on demand.
    pub(super) fn entries_filtered(
        &self,
        filter: Option<Arc<ReadFilter>>,
    ) -> Result<Decoded<Entry>> {
        let numeric = self.flags & FLAG_NUMERIC_COLUMNS != 0;
        let lines = self.section(SEC_LINES)?;
        let none = || Decoded::new(Vec::new(), None, Box::new(|_, _| unreachable_entry()));
        let lits = filter.as_ref().and_then(|f| f.literals.as_ref());
        if let Some(f) = lits {
            let may = if numeric {
                f.template_may_contain(&lines)
            } else {
                f.may_contain(&lines)
            };
            if !may {
                return Ok(none());
            }
        }
        let sizes = self.sizes()?;
        let lines = if numeric {
            let lens: Vec<u32> = sizes.iter().map(|s| s.len).collect();
            let total = usize::try_from(self.meta.uncompressed_bytes).unwrap_or(usize::MAX);
            let nums = self.section(SEC_NUMS)?;
            if self.flags & FLAG_CONTEXT_COLUMNS != 0 {
                lines_read::join_context(&lines, &nums, &lens, total.min(MAX_SECTION))?
            } else {
                lines::join(&lines, &nums, &lens, total.min(MAX_SECTION), false)?
            }
        } else {
            lines
        };
        let mut offs = Vec::with_capacity(sizes.len() + 1);
        let mut off = 0usize;
        offs.push(0);
        for s in &sizes {
            off += s.len as usize;
            offs.push(off);
        }
        if off != lines.len() {
            return Err(Error::corrupt(
                "block",
                "line lengths do not match the line section",
            ));
        }
        let keep = lits.map(|f| f.matching_lines(&lines, sizes.iter().map(|s| s.len)));
        if keep.as_ref().is_some_and(|k| !k.contains(&true)) {
            return Ok(none());
        }
        let mut md = self.metadata()?;
        if let Some(f) = &filter {
            if f.metadata.is_some() {
                md.keep = md.dict.iter().map(|n| f.keeps_metadata(n)).collect();
            }
        }
        let lines = Bytes::from(lines);
        let ts = sizes.iter().map(|s| s.ts).collect();
        Ok(Decoded::new(
            ts,
            keep,
            Box::new(move |ts, i| Entry {
                ts,
                line: lines.slice(offs[i]..offs[i + 1]),
                metadata: md.pairs(i),
            }),
        ))
    }

    /// Appends this block's index entry (everything but the data).
    pub fn write_index_entry(&self, offset: u64, out: &mut Vec<u8>) {
        out.push(self.encoding.to_byte());
        out.push(self.flags);
        put_varint(out, self.meta.min_ts);
        put_uvarint(out, self.meta.max_ts.wrapping_sub(self.meta.min_ts) as u64);
        put_uvarint(out, u64::from(self.meta.entries));
        put_uvarint(out, self.meta.uncompressed_bytes);
        put_uvarint(out, offset);
        for (raw, comp) in self.sections {
            put_uvarint(out, u64::from(raw));
            put_uvarint(out, u64::from(comp));
        }
        out.extend_from_slice(&self.crc.to_le_bytes());
    }

    /// Reads an index entry; returns the block (with empty data) and its offset.
    pub fn read_index_entry(r: &mut Reader) -> Result<(EncodedBlock, u64)> {
        let encoding =
            Encoding::from_byte(r.u8()?).ok_or_else(|| r.err("unknown block encoding"))?;
        let flags = r.u8()?;
        if flags & !(FLAG_NUMERIC_COLUMNS | FLAG_CONTEXT_COLUMNS) != 0 {
            return Err(r.err("unknown block flags"));
        }
        let min_ts = r.varint()?;
        let max_ts = min_ts.wrapping_add(r.uvarint()? as i64);
        if max_ts < min_ts {
            return Err(r.err("block max timestamp below min"));
        }
        let entries = u32::try_from(r.uvarint()?).map_err(|_| r.err("entry count too large"))?;
        let uncompressed_bytes = r.uvarint()?;
        let offset = r.uvarint()?;
        let mut sections = [(0u32, 0u32); SECTIONS];
        for s in &mut sections {
            let raw = r.uvarint()?;
            let comp = r.uvarint()?;
            if raw > MAX_SECTION as u64 || comp > MAX_SECTION as u64 {
                return Err(r.err("section larger than 256 MiB"));
            }
            *s = (raw as u32, comp as u32);
        }
        let crc = r.u32_le()?;
        let meta = BlockMeta {
            min_ts,
            max_ts,
            entries,
            uncompressed_bytes,
        };
        Ok((
            EncodedBlock {
                meta,
                encoding,
                flags,
                sections,
                data: Bytes::new(),
                crc,
            },
            offset,
        ))
    }

    /// Total compressed length of the data.
    pub fn data_len(&self) -> u64 {
        self.sections.iter().map(|s| u64::from(s.1)).sum()
    }

    /// Attaches data read from the chunk and verifies its checksum.
    pub fn with_data(mut self, data: Bytes) -> Result<EncodedBlock> {
        if crc32fast::hash(&data) != self.crc {
            return Err(Error::corrupt("block", "checksum mismatch"));
        }
        if self.sections[SEC_TS].0 == 0 && self.meta.entries > 0 {
            return Err(Error::corrupt("block", "missing timestamp section"));
        }
        self.data = data;
        Ok(self)
    }
}

//! One columnar block: timestamps + line lengths, structured metadata, and
//! line bytes, each in its own separately compressed section, so size-only
//! reads never decompress a line.

use bytes::Bytes;
use sluice_logql::source::{Entry, EntrySize};

use std::borrow::Cow;
use std::sync::Arc;

use super::data::Decoded;
use super::fields::LineFields;
use super::meta::{self, MetaBuilder, MetaTable};
use super::prefilter::ReadFilter;
use super::{codec, fields, lines, lines_read, sizes, Encoding};
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

/// Block flag (format version 2, alone): the field layout (`fields.rs`).
/// Section 0 as in version 1, section 1 metadata layout 2, section 2 the
/// token columns and section 3 the number columns; sections 1 to 3 are
/// stream containers that compress each stream themselves.
pub const FLAG_FIELDS: u8 = 4;

/// Block flag (format version 4, with `FLAG_FIELDS`): sections 1 to 3
/// hold the entries newest first (section 0 stays oldest first), so a
/// backward read decodes only the start of each stream.
pub const FLAG_NEWEST_FIRST: u8 = 8;

/// Block flag (format version 5, with `FLAG_FIELDS | FLAG_NEWEST_FIRST`):
/// section 0 holds the timestamps newest first too (`sizes::Order`), so
/// a backward read decodes only the newest of them.
pub const FLAG_TS_NEWEST_FIRST: u8 = 16;

const KNOWN_FLAGS: [u8; 6] = [
    0,
    FLAG_NUMERIC_COLUMNS,
    FLAG_NUMERIC_COLUMNS | FLAG_CONTEXT_COLUMNS,
    FLAG_FIELDS,
    FLAG_FIELDS | FLAG_NEWEST_FIRST,
    FLAG_FIELDS | FLAG_NEWEST_FIRST | FLAG_TS_NEWEST_FIRST,
];

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
    meta: MetaBuilder,
    lines: Vec<u8>,
}

impl BlockBuilder {
    pub fn new(entries: usize, line_bytes: usize) -> Self {
        BlockBuilder {
            ts: Vec::with_capacity(entries),
            lens: Vec::with_capacity(entries),
            meta: MetaBuilder::new(entries),
            lines: Vec::with_capacity(line_bytes),
        }
    }

    /// Adds the next entry; `ts` must not be below the previous one. Its
    /// metadata `md` was interned by the caller as set `set` (equal sets,
    /// equal ids).
    pub fn push_set<'a>(
        &mut self,
        ts: i64,
        line: &[u8],
        set: u32,
        md: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        self.ts.push(ts);
        self.lens.push(line.len() as u32);
        self.lines.extend_from_slice(line);
        self.meta.push_set(set, md);
    }

    fn block_meta(&self) -> Result<BlockMeta> {
        Ok(BlockMeta {
            min_ts: self.ts.first().copied().unwrap_or(0),
            max_ts: self.ts.last().copied().unwrap_or(0),
            entries: len_u32(self.ts.len())?,
            uncompressed_bytes: self.lines.len() as u64,
        })
    }

    /// The lines, back to back, and their lengths, newest first.
    fn newest_first(&self) -> (Vec<u8>, Vec<u32>) {
        let mut lines = Vec::with_capacity(self.lines.len());
        let mut end = self.lines.len();
        for &l in self.lens.iter().rev() {
            // the lengths add up to the lines: `l <= end`
            let start = end.saturating_sub(l as usize);
            lines.extend_from_slice(&self.lines[start..end]);
            end = start;
        }
        let lens = self.lens.iter().rev().copied().collect();
        (lines, lens)
    }

    /// Section 0 of the plain layout: timestamps and line lengths.
    fn sizes_section(&self) -> Vec<u8> {
        let mut ts = Vec::with_capacity(self.ts.len() * 6);
        write_timestamps(&self.ts, &mut ts);
        for &l in &self.lens {
            put_uvarint(&mut ts, u64::from(l));
        }
        ts
    }

    /// Compresses the sections into a block: zstd blocks get the field
    /// layout (`FLAG_FIELDS`), the other encodings the plain layout.
    pub fn finish(self, encoding: Encoding, level: i32) -> Result<EncodedBlock> {
        if encoding == Encoding::Zstd {
            return self.finish_fields(level);
        }
        let meta = self.block_meta()?;
        let ts = self.sizes_section();
        let meta_raw = self.meta.finish(None)?;
        let raws: [&[u8]; SECTIONS] = [&ts, &meta_raw, &self.lines, &[]];
        let mut data = Vec::with_capacity(self.lines.len() / 2);
        let mut sections = [(0u32, 0u32); SECTIONS];
        for (i, raw) in raws.iter().enumerate() {
            let start = data.len();
            codec::compress(encoding, level, raw, &mut data)?;
            sections[i] = (len_u32(raw.len())?, len_u32(data.len() - start)?);
        }
        let crc = crc32fast::hash(&data);
        Ok(EncodedBlock {
            meta,
            encoding,
            flags: 0,
            sections,
            data: Bytes::from(data),
            crc,
        })
    }

    /// The field layout: timestamps, metadata layout 2, token columns and
    /// number columns, all over the entries newest first
    /// (`FLAG_NEWEST_FIRST | FLAG_TS_NEWEST_FIRST`).
    fn finish_fields(self, level: i32) -> Result<EncodedBlock> {
        let meta = self.block_meta()?;
        let col_level = codec::ZSTD_COLUMN_LEVEL.min(level);
        let ts = sizes::write(&self.ts, None, sizes::Order::NewestFirst, col_level)?;
        let (lines, lens) = self.newest_first();
        let enc = fields::encode(&lines, &lens, col_level)?;
        let meta_raw = self.meta.finish_reversed(&enc.lines)?;
        let mut data =
            Vec::with_capacity(enc.fields.len() + enc.numbers.len() + ts.len() + meta_raw.len());
        let mut sections = [(0u32, 0u32); SECTIONS];
        for (i, c) in [
            (SEC_TS, &ts),
            (SEC_META, &meta_raw),
            (SEC_LINES, &enc.fields),
            (SEC_NUMS, &enc.numbers),
        ] {
            data.extend_from_slice(c);
            sections[i] = (len_u32(c.len())?, len_u32(c.len())?);
        }
        let crc = crc32fast::hash(&data);
        Ok(EncodedBlock {
            meta,
            encoding: Encoding::Zstd,
            flags: FLAG_FIELDS | FLAG_NEWEST_FIRST | FLAG_TS_NEWEST_FIRST,
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
    if ts.is_empty() {
        return;
    }
    let (first, exp, vals) = sizes::deltas(ts);
    put_varint(out, first);
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

/// Sections above this size are refused as corrupt (blocks are ~256 KiB).
const MAX_SECTION: usize = 1 << 28;

fn len_u32(n: usize) -> Result<u32> {
    u32::try_from(n)
        .map_err(|_| Error::corrupt("block", format!("section of {n} bytes exceeds 4 GiB")))
}

impl EncodedBlock {
    /// Section `i`, decompressed (stream containers of field-layout
    /// blocks are stored as they are: they compress their streams).
    pub(super) fn section(&self, i: usize) -> Result<Cow<'_, [u8]>> {
        let start: usize = self.sections[..i].iter().map(|s| s.1 as usize).sum();
        let (raw, comp) = self.sections[i];
        let bytes = self
            .data
            .get(start..start + comp as usize)
            .ok_or_else(|| Error::corrupt("block", "section past end of block"))?;
        if self.is_fields() {
            return if raw == comp {
                Ok(Cow::Borrowed(bytes))
            } else {
                Err(Error::corrupt("block", "stored section with two lengths"))
            };
        }
        Ok(Cow::Owned(codec::decompress(
            self.encoding,
            bytes,
            raw as usize,
        )?))
    }

    pub(super) fn is_fields(&self) -> bool {
        self.flags & FLAG_FIELDS != 0
    }

    /// Whether sections 1 to 3 hold the entries newest first.
    pub(super) fn is_newest_first(&self) -> bool {
        self.flags & FLAG_NEWEST_FIRST != 0
    }

    /// The order of section 0's timestamps.
    pub(super) fn ts_order(&self) -> sizes::Order {
        match self.flags & FLAG_TS_NEWEST_FIRST {
            0 => sizes::Order::OldestFirst,
            _ => sizes::Order::NewestFirst,
        }
    }

    /// Timestamps and line lengths, decoded from the first section only,
    /// except for field-layout blocks of format 3, which do not store
    /// lengths: with `lengths` they are computed from the fields (sections
    /// 2 and 3), without they are 0.
    pub fn sizes(&self, lengths: bool) -> Result<Vec<EntrySize>> {
        let raw = self.section(SEC_TS)?;
        let n = self.meta.entries as usize;
        if self.is_fields() {
            let s = sizes::read(&raw, n, self.ts_order())?;
            if s.lens.is_none() && lengths {
                return Ok(s.entries(Some(&self.field_lengths()?)));
            }
            return Ok(s.entries(None));
        }
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
    /// per-entry strings; field-layout blocks need their lines' token ids.
    pub(super) fn metadata(&self, fields: Option<&LineFields>) -> Result<MetaTable> {
        let n = self.meta.entries as usize;
        if self.sections[SEC_META].0 == 0 {
            return Ok(MetaTable::default());
        }
        let raw = self.section(SEC_META)?;
        match (self.is_fields(), fields) {
            (true, None) => Err(Error::corrupt("block", "metadata without line fields")),
            (true, f) => meta::read(&raw, n, f),
            (false, _) => meta::read(&raw, n, None),
        }
    }

    /// The entries of the block in timestamp order; with `filter`, only
    /// those whose line contains all its literals. A block whose line
    /// template cannot hold them is ruled out before its numbers, lengths
    /// or metadata are decoded. Entries are built on demand.
    pub(super) fn entries_filtered(
        &self,
        filter: Option<Arc<ReadFilter>>,
    ) -> Result<Decoded<Entry>> {
        if self.is_fields() {
            return self.entries_fields(filter);
        }
        let numeric = self.flags & FLAG_NUMERIC_COLUMNS != 0;
        let lines = self.section(SEC_LINES)?;
        let none = Decoded::none;
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
        let sizes = self.sizes(true)?;
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
            lines.into_owned()
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
        let mut md = self.metadata(None)?;
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
                cut: false,
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
        if !KNOWN_FLAGS.contains(&flags) {
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

//! [`ChunkData`]: an immutable chunk, its object layout (write and decode)
//! and the iterators that read entries across possibly overlapping blocks.

use std::sync::Arc;

use bytes::Bytes;
use sluice_logql::source::{Direction, Entry, EntrySize};
use sluice_logql::stats::ReadStats;

use super::block::{BlockMeta, EncodedBlock};
use super::headview::HeadView;
use super::prefilter::ReadFilter;
use crate::error::{Error, Result};
use crate::varint::{put_uvarint, Reader};

/// First bytes of every chunk object.
pub const MAGIC: &[u8; 4] = b"SLCK";
/// Chunk format version written by this build (2: field-layout blocks;
/// 3: their line lengths derived from the fields, not stored; 4: their
/// lines and metadata stored newest first; 5: their timestamps too).
pub const VERSION: u8 = 5;
/// Oldest chunk format version this build reads (1: no field layout).
pub const MIN_VERSION: u8 = 1;
/// Trailer: u64 LE block-index offset + u32 LE crc32 of the block index.
const TRAILER: usize = 12;

/// An immutable chunk (decoded from object bytes, or a `MemChunk` snapshot).
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct ChunkData {
    blocks: Arc<Vec<EncodedBlock>>,
    /// A snapshot's head entries, read after the blocks (unit index
    /// `blocks.len()`).
    head: Option<Arc<HeadView>>,
    bounds: (i64, i64),
    entries: usize,
}

/// Writes the chunk object for `blocks`.
pub(super) fn write_chunk(blocks: &[EncodedBlock]) -> Bytes {
    let data_len: usize = blocks.iter().map(|b| b.data.len()).sum();
    let mut out = Vec::with_capacity(data_len + 64 + blocks.len() * 40);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(0); // flags, reserved
    let mut offsets = Vec::with_capacity(blocks.len());
    for b in blocks {
        offsets.push(out.len() as u64);
        out.extend_from_slice(&b.data);
    }
    let index_offset = out.len();
    put_uvarint(&mut out, blocks.len() as u64);
    for (b, off) in blocks.iter().zip(offsets) {
        b.write_index_entry(off, &mut out);
    }
    let crc = crc32fast::hash(&out[index_offset..]);
    out.extend_from_slice(&(index_offset as u64).to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    Bytes::from(out)
}

impl ChunkData {
    pub(super) fn from_blocks(blocks: Vec<EncodedBlock>) -> ChunkData {
        Self::from_parts(blocks, None)
    }

    pub(super) fn from_parts(blocks: Vec<EncodedBlock>, head: Option<Arc<HeadView>>) -> ChunkData {
        let metas = blocks
            .iter()
            .map(|b| b.meta)
            .chain(head.iter().map(|h| h.meta()));
        let bounds = metas
            .clone()
            .map(|m| (m.min_ts, m.max_ts))
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
            .unwrap_or((0, 0));
        let entries = metas.map(|m| m.entries as usize).sum();
        ChunkData {
            blocks: Arc::new(blocks),
            head,
            bounds,
            entries,
        }
    }

    /// Block metadata of unit `i` (a block, or the head after them).
    fn unit_meta(&self, i: usize) -> Option<BlockMeta> {
        match self.blocks.get(i) {
            Some(b) => Some(b.meta),
            None if i == self.blocks.len() => self.head.as_ref().map(|h| h.meta()),
            None => None,
        }
    }

    fn units(&self) -> usize {
        self.blocks.len() + usize::from(self.head.is_some())
    }

    /// Parses chunk object bytes and verifies every checksum. Block data is
    /// shared with `bytes`, not copied.
    pub fn decode(bytes: Bytes) -> Result<ChunkData> {
        let corrupt = |r: &str| Error::corrupt("chunk", r.to_string());
        if bytes.len() < 6 + TRAILER {
            return Err(corrupt("too short"));
        }
        if &bytes[..4] != MAGIC {
            return Err(corrupt("bad magic; not a sluice chunk"));
        }
        if !(MIN_VERSION..=VERSION).contains(&bytes[4]) {
            return Err(Error::UnsupportedVersion {
                what: "chunk",
                version: bytes[4],
            });
        }
        let mut t = Reader::new(&bytes[bytes.len() - TRAILER..], "chunk trailer");
        let index_offset = usize::try_from(t.u64_le()?).map_err(|_| corrupt("bad index offset"))?;
        let index_crc = t.u32_le()?;
        let index_end = bytes.len() - TRAILER;
        if index_offset < 6 || index_offset > index_end {
            return Err(corrupt("block index offset out of range"));
        }
        let index = &bytes[index_offset..index_end];
        if crc32fast::hash(index) != index_crc {
            return Err(corrupt("block index checksum mismatch"));
        }
        let mut r = Reader::new(index, "chunk block index");
        let n = r.count(8)?;
        let mut blocks = Vec::with_capacity(n);
        for _ in 0..n {
            let (b, off) = EncodedBlock::read_index_entry(&mut r)?;
            let start = usize::try_from(off).map_err(|_| corrupt("block offset too large"))?;
            let end = start
                .checked_add(usize::try_from(b.data_len()).map_err(|_| corrupt("block too large"))?)
                .ok_or_else(|| corrupt("block offset overflow"))?;
            if start < 6 || end > index_offset {
                return Err(corrupt("block outside the data area"));
            }
            if b.is_newest_first() && bytes[4] < 4 {
                return Err(corrupt("newest-first block in a chunk before format 4"));
            }
            if b.ts_order() == super::sizes::Order::NewestFirst && bytes[4] < 5 {
                return Err(corrupt(
                    "newest-first timestamps in a chunk before format 5",
                ));
            }
            blocks.push(b.with_data(bytes.slice(start..end))?);
        }
        if !r.is_empty() {
            return Err(corrupt("trailing bytes in block index"));
        }
        Ok(ChunkData::from_blocks(blocks))
    }

    /// The chunk object bytes [`ChunkData::decode`] reads: the blocks as
    /// they are (compressed or not), never re-encoded, and a snapshot's
    /// head as one more (uncompressed) block. Used to ship an ingester's
    /// in-memory chunks to queriers.
    pub fn encode(&self) -> crate::Result<Bytes> {
        match &self.head {
            None => Ok(write_chunk(&self.blocks)),
            Some(h) => {
                let mut blocks = Vec::with_capacity(self.blocks.len() + 1);
                blocks.extend(self.blocks.iter().cloned());
                blocks.push(h.to_block(super::Encoding::None, 0)?);
                Ok(write_chunk(&blocks))
            }
        }
    }

    /// Minimum and maximum timestamp; `(0, 0)` for an empty chunk.
    pub fn bounds(&self) -> (i64, i64) {
        self.bounds
    }

    pub fn entry_count(&self) -> usize {
        self.entries
    }

    /// Per block (a snapshot's head last): min/max timestamp, entry
    /// count, line bytes.
    pub fn blocks(&self) -> Vec<BlockMeta> {
        (0..self.units())
            .filter_map(|i| self.unit_meta(i))
            .collect()
    }

    /// Compressed bytes of all blocks.
    pub fn compressed_bytes(&self) -> usize {
        self.blocks.iter().map(|b| b.data.len()).sum()
    }

    /// Compressed bytes per section over all blocks: timestamps + lengths,
    /// structured metadata, lines (or line templates), line numbers.
    pub fn column_bytes(&self) -> [u64; 4] {
        let mut out = [0u64; 4];
        for b in self.blocks.iter() {
            for (o, s) in out.iter_mut().zip(b.sections) {
                *o += u64::from(s.1);
            }
        }
        out
    }

    /// Groups of time-overlapping blocks touching `[start, end)`, groups in
    /// `direction` order; block indices within a group in append order.
    fn groups(&self, start: i64, end: i64, direction: Direction) -> Vec<Vec<usize>> {
        let mut idx: Vec<(BlockMeta, usize)> = (0..self.units())
            .filter_map(|i| self.unit_meta(i).map(|m| (m, i)))
            .filter(|(m, _)| m.max_ts >= start && m.min_ts < end && m.entries > 0)
            .collect();
        idx.sort_by_key(|(m, i)| (m.min_ts, *i));
        let mut groups: Vec<(i64, Vec<usize>)> = Vec::new();
        for (m, i) in idx {
            match groups.last_mut() {
                Some((max, g)) if m.min_ts <= *max => {
                    *max = (*max).max(m.max_ts);
                    g.push(i);
                }
                _ => groups.push((m.max_ts, vec![i])),
            }
        }
        let mut groups: Vec<Vec<usize>> = groups
            .into_iter()
            .map(|(_, mut g)| {
                g.sort_unstable();
                g
            })
            .collect();
        if direction == Direction::Backward {
            groups.reverse();
        }
        groups
    }

    /// Entries with `start <= ts < end` in `direction` order. Entries with
    /// equal timestamps keep their append order (reversed when backward).
    pub fn entries(
        &self,
        start: i64,
        end: i64,
        direction: Direction,
    ) -> impl Iterator<Item = Result<Entry>> + Send + 'static {
        self.entries_filtered(start, end, direction, None)
    }

    /// [`entries`](Self::entries) whose line contains every literal of
    /// `filter`: blocks that cannot hold one are skipped undecoded, and no
    /// entry is built for a line without them; metadata pairs the filter
    /// does not keep are left out. Entries are built only as the iterator
    /// is pulled.
    pub fn entries_filtered(
        &self,
        start: i64,
        end: i64,
        direction: Direction,
        filter: Option<Arc<ReadFilter>>,
    ) -> impl Iterator<Item = Result<Entry>> + Send + 'static {
        self.entries_counted(start, end, direction, filter, None)
    }

    /// [`entries_filtered`](Self::entries_filtered), adding to `stats`
    /// the entries it reads (see [`ChunkData::read_counts`]).
    pub fn entries_counted(
        &self,
        start: i64,
        end: i64,
        direction: Direction,
        filter: Option<Arc<ReadFilter>>,
        stats: Option<Arc<ReadStats>>,
    ) -> impl Iterator<Item = Result<Entry>> + Send + 'static {
        let groups = self.groups(start, end, direction);
        GroupIter::new(
            self.clone(),
            groups,
            (start, end),
            direction,
            stats,
            move |c: &ChunkData, i: usize| match (c.blocks.get(i), &c.head) {
                (Some(b), _) => b.entries_filtered(filter.clone()),
                (None, Some(h)) => Ok(HeadView::entries(h, filter.clone())),
                (None, None) => Err(Error::corrupt("chunk", "block index out of range")),
            },
        )
    }

    /// Timestamps and line lengths. Without `lengths`, lengths the blocks
    /// do not store are left 0 and no line data is decompressed; with it,
    /// format-3 field-layout blocks compute them from their fields.
    pub fn sizes(
        &self,
        start: i64,
        end: i64,
        direction: Direction,
        lengths: bool,
    ) -> impl Iterator<Item = Result<EntrySize>> + Send + 'static {
        self.sizes_counted(start, end, direction, lengths, None)
    }

    /// [`sizes`](Self::sizes), adding to `stats` the entries it reads
    /// (see [`ChunkData::read_counts`]).
    pub fn sizes_counted(
        &self,
        start: i64,
        end: i64,
        direction: Direction,
        lengths: bool,
        stats: Option<Arc<ReadStats>>,
    ) -> impl Iterator<Item = Result<EntrySize>> + Send + 'static {
        let groups = self.groups(start, end, direction);
        GroupIter::new(
            self.clone(),
            groups,
            (start, end),
            direction,
            stats,
            move |c: &ChunkData, i: usize| {
                let sizes = c.unit_sizes(i, lengths)?;
                let ts = sizes.iter().map(|s| s.ts).collect();
                Ok(Decoded::new(ts, None, Box::new(move |_, i| sizes[i])))
            },
        )
    }

    /// What a read of unit `i` over `[start, end)` counts as processed:
    /// its entries in the range, whether the read decoded them (`decoded`:
    /// the unit's timestamps, `in_range` of them in the range) or a
    /// literal pre-filter ruled the unit out unread (`decoded` empty), and
    /// their line bytes. Bytes come from the block index: exact for a unit
    /// wholly in the range, prorated by entry count for one the range cuts
    /// (the index keeps only the unit's total). A ruled-out unit the range
    /// cuts has its timestamps decoded to count; a damaged one counts 0.
    fn read_counts(
        &self,
        i: usize,
        decoded: &[i64],
        in_range: u64,
        (start, end): (i64, i64),
    ) -> (u64, u64) {
        let Some(m) = self.unit_meta(i) else {
            return (0, 0);
        };
        let total = u64::from(m.entries);
        let lines = if decoded.len() as u64 == total {
            in_range
        } else if m.min_ts >= start && m.max_ts < end {
            total
        } else {
            self.unit_timestamps(i).map_or(0, |ts| {
                ts.iter().filter(|&&t| t >= start && t < end).count() as u64
            })
        };
        let bytes = if lines == total {
            m.uncompressed_bytes
        } else {
            (u128::from(m.uncompressed_bytes) * u128::from(lines) / u128::from(total.max(1))) as u64
        };
        (lines, bytes)
    }

    /// The timestamps and line lengths of unit `i` (a block, or the head
    /// past the last block), as [`sizes`](Self::sizes) reads them.
    fn unit_sizes(&self, i: usize, lengths: bool) -> Result<Vec<EntrySize>> {
        match (self.blocks.get(i), &self.head) {
            (Some(b), _) => b.sizes(lengths),
            (None, Some(h)) => Ok(h.sizes()),
            (None, None) => Err(Error::corrupt("chunk", "block index out of range")),
        }
    }

    /// The timestamps of unit `i`, decoding only its first section.
    fn unit_timestamps(&self, i: usize) -> Result<Vec<i64>> {
        Ok(self
            .unit_sizes(i, false)?
            .into_iter()
            .map(|s| s.ts)
            .collect())
    }
}

/// Makes the item of entry `i` (with timestamp `ts`) of a decoded unit;
/// an error for a part of the block found damaged only then.
pub(super) type MakeItem<T> = Box<dyn Fn(i64, usize) -> Result<T> + Send>;

/// Reads the `k` newest timestamps of a unit, newest first.
pub(super) type ReadNewest = Box<dyn Fn(usize) -> Result<Vec<i64>> + Send>;

/// A unit's timestamps.
enum Stamps {
    /// All of them, in order.
    All(Vec<i64>),
    /// `n` of them, read newest first as far as a backward read goes.
    Newest { n: usize, read: ReadNewest },
}

/// A decoded block (or head): its entries' timestamps in order, which of
/// them a filter kept, and how to build an item on demand.
pub(super) struct Decoded<T> {
    ts: Stamps,
    keep: Option<Vec<bool>>,
    make: MakeItem<T>,
}

impl<T: 'static> Decoded<T> {
    /// A unit whose items cannot fail once it is decoded.
    pub(super) fn new(
        ts: Vec<i64>,
        keep: Option<Vec<bool>>,
        make: Box<dyn Fn(i64, usize) -> T + Send>,
    ) -> Self {
        Decoded {
            ts: Stamps::All(ts),
            keep,
            make: Box::new(move |ts, i| Ok(make(ts, i))),
        }
    }

    /// A unit whose items are checked as they are made.
    pub(super) fn try_new(ts: Vec<i64>, keep: Option<Vec<bool>>, make: MakeItem<T>) -> Self {
        Decoded {
            ts: Stamps::All(ts),
            keep,
            make,
        }
    }

    /// A unit of `n` entries, none filtered out, whose timestamps `read`
    /// gives newest first: a backward read of it alone decodes only the
    /// timestamps it reaches.
    pub(super) fn newest_first(n: usize, read: ReadNewest, make: MakeItem<T>) -> Self {
        Decoded {
            ts: Stamps::Newest { n, read },
            keep: None,
            make,
        }
    }

    /// Reads every timestamp now if they were left to be read newest
    /// first.
    fn read_all_ts(&mut self) -> Result<()> {
        if let Stamps::Newest { n, read } = &self.ts {
            let mut ts = read(*n)?;
            if ts.len() != *n {
                return Err(Error::corrupt("block timestamps", "wrong timestamp count"));
            }
            ts.reverse();
            self.ts = Stamps::All(ts);
        }
        Ok(())
    }

    /// The timestamps read (all, in order, after `read_all_ts`).
    fn ts(&self) -> &[i64] {
        match &self.ts {
            Stamps::All(ts) => ts,
            Stamps::Newest { .. } => &[],
        }
    }

    /// Whether entry `k` passed the filter.
    fn kept(&self, k: usize) -> bool {
        self.keep
            .as_ref()
            .is_none_or(|keep| keep.get(k).copied().unwrap_or(false))
    }
}

#[cfg(test)]
impl<T: 'static> Decoded<T> {
    pub(super) fn ts_len(&self) -> usize {
        match &self.ts {
            Stamps::All(ts) => ts.len(),
            Stamps::Newest { n, .. } => *n,
        }
    }

    /// Every timestamp, in order (all read at once).
    pub(super) fn timestamps(&self) -> Result<Vec<i64>> {
        match &self.ts {
            Stamps::All(ts) => Ok(ts.clone()),
            Stamps::Newest { n, read } => {
                let mut ts = read(*n)?;
                ts.reverse();
                Ok(ts)
            }
        }
    }

    /// The `k` newest timestamps, newest first (only those read when
    /// they are kept newest first).
    pub(super) fn newest_ts(&self, k: usize) -> Result<Vec<i64>> {
        match &self.ts {
            Stamps::All(ts) => Ok(ts.iter().rev().take(k).copied().collect()),
            Stamps::Newest { read, .. } => read(k),
        }
    }

    pub(super) fn make(&self, ts: i64, i: usize) -> Result<T> {
        (self.make)(ts, i)
    }
}

impl Decoded<Entry> {
    /// No entries (a block a filter ruled out).
    pub(super) fn none() -> Self {
        Decoded::new(
            Vec::new(),
            None,
            // never called: there is no entry index to call it with
            Box::new(|ts, _| Entry {
                ts,
                line: Bytes::new(),
                metadata: Vec::new(),
                cut: false,
            }),
        )
    }
}

/// Timestamps a lazily read unit decodes first, and how many times more
/// each further read decodes (from the start again) while under half
/// the unit; then all of it.
const NEWEST_FIRST_READ: usize = 64;
const NEWEST_GROW: usize = 4;

/// What of the current group is still to yield.
enum Order {
    /// (unit, entry) pairs of a merged group, in order.
    Merged(std::vec::IntoIter<(u32, u32)>),
    /// The entries `lo..hi` of a group's only unit, from `lo` up
    /// (forward) or from `hi` down (backward).
    Run { lo: usize, hi: usize },
    /// A group's only unit read newest first: its `n` entries' newest
    /// timestamps read so far, newest first, how many were yielded or
    /// passed over, and whether one older than the range was reached.
    Newest {
        n: usize,
        ts: Vec<i64>,
        at: usize,
        done: bool,
    },
}

/// Decodes one group of blocks at a time, merging and filtering it.
struct GroupIter<T, D> {
    chunk: ChunkData,
    groups: std::vec::IntoIter<Vec<usize>>,
    units: Vec<Decoded<T>>,
    order: Order,
    start: i64,
    end: i64,
    direction: Direction,
    decode: D,
    failed: bool,
    /// Where the entries read are counted, a group at a time.
    stats: Option<Arc<ReadStats>>,
}

impl<T: 'static, D> GroupIter<T, D>
where
    D: Fn(&ChunkData, usize) -> Result<Decoded<T>>,
{
    fn new(
        chunk: ChunkData,
        groups: Vec<Vec<usize>>,
        (start, end): (i64, i64),
        direction: Direction,
        stats: Option<Arc<ReadStats>>,
        decode: D,
    ) -> Self {
        GroupIter {
            chunk,
            groups: groups.into_iter(),
            units: Vec::new(),
            order: Order::Run { lo: 0, hi: 0 },
            start,
            end,
            direction,
            decode,
            failed: false,
            stats,
        }
    }

    fn load(&mut self, group: &[usize]) -> Result<()> {
        self.units.clear();
        if let [i] = group {
            return self.load_one(*i);
        }
        let mut sel: Vec<(i64, u32, u32)> = Vec::new();
        let (mut lines, mut bytes) = (0, 0);
        for (u, &i) in group.iter().enumerate() {
            let mut d = (self.decode)(&self.chunk, i)?;
            d.read_all_ts()?;
            let mut in_range = 0u64;
            for (k, &ts) in d.ts().iter().enumerate() {
                if ts >= self.start && ts < self.end {
                    in_range += 1;
                    if d.kept(k) {
                        sel.push((ts, u as u32, k as u32));
                    }
                }
            }
            if self.stats.is_some() {
                let (l, b) = self
                    .chunk
                    .read_counts(i, d.ts(), in_range, (self.start, self.end));
                lines += l;
                bytes += b;
            }
            self.units.push(d);
        }
        if let Some(s) = &self.stats {
            s.add_read(lines, bytes);
        }
        // stable: equal timestamps keep block (append) order
        sel.sort_by_key(|e| e.0);
        if self.direction == Direction::Backward {
            sel.reverse();
        }
        self.order = Order::Merged(
            sel.into_iter()
                .map(|(_, u, k)| (u, k))
                .collect::<Vec<_>>()
                .into_iter(),
        );
        Ok(())
    }

    /// A group of one unit (`i`): its entries in the range are a run of
    /// its timestamps (sorted), found by search, or, read backward from
    /// timestamps kept newest first, found as they are read.
    fn load_one(&mut self, i: usize) -> Result<()> {
        let mut d = (self.decode)(&self.chunk, i)?;
        if let (Stamps::Newest { n, .. }, Direction::Backward) = (&d.ts, self.direction) {
            self.order = Order::Newest {
                n: *n,
                ts: Vec::new(),
                at: 0,
                done: false,
            };
            if let Some(s) = &self.stats {
                // counted from the block index, or (a block the range
                // cuts) from all its timestamps
                let (l, b) = self.chunk.read_counts(i, &[], 0, (self.start, self.end));
                s.add_read(l, b);
            }
            self.units.push(d);
            return Ok(());
        }
        d.read_all_ts()?;
        let ts = d.ts();
        let lo = ts.partition_point(|&t| t < self.start);
        let hi = ts.partition_point(|&t| t < self.end).max(lo);
        if let Some(s) = &self.stats {
            let (l, b) = self
                .chunk
                .read_counts(i, ts, (hi - lo) as u64, (self.start, self.end));
            s.add_read(l, b);
        }
        self.order = Order::Run { lo, hi };
        self.units.push(d);
        Ok(())
    }

    /// The next (unit, entry, timestamp) of the current group.
    fn next_in_group(&mut self) -> Option<Result<(usize, usize, i64)>> {
        let forward = self.direction == Direction::Forward;
        match &mut self.order {
            Order::Merged(it) => {
                let (u, k) = it.next()?;
                let d = self.units.get(u as usize)?;
                let Stamps::All(ts) = &d.ts else { return None };
                Some(Ok((u as usize, k as usize, *ts.get(k as usize)?)))
            }
            Order::Run { lo, hi } => {
                let d = self.units.first()?;
                let Stamps::All(ts) = &d.ts else { return None };
                while lo < hi {
                    let k = if forward {
                        *lo += 1;
                        *lo - 1
                    } else {
                        *hi -= 1;
                        *hi
                    };
                    if d.kept(k) {
                        return Some(Ok((0, k, *ts.get(k)?)));
                    }
                }
                None
            }
            Order::Newest { n, ts, at, done } => {
                let d = self.units.first()?;
                let Stamps::Newest { read, .. } = &d.ts else {
                    return None;
                };
                loop {
                    if *done {
                        return None;
                    }
                    if *at == ts.len() {
                        if ts.len() >= *n {
                            return None;
                        }
                        let want = (NEWEST_GROW * ts.len()).max(NEWEST_FIRST_READ);
                        let want = if 2 * want > *n { *n } else { want };
                        match read(want) {
                            Ok(got) if got.len() == want && got.len() > ts.len() => *ts = got,
                            Ok(_) => {
                                let e = Error::corrupt("block timestamps", "wrong timestamp count");
                                return Some(Err(e));
                            }
                            Err(e) => return Some(Err(e)),
                        }
                    }
                    let t = ts[*at];
                    *at += 1;
                    if t >= self.end {
                        continue;
                    }
                    if t < self.start {
                        // older ones follow: none is in the range
                        *done = true;
                        return None;
                    }
                    return Some(Ok((0, *n - *at, t)));
                }
            }
        }
    }
}

impl<T: 'static, D> Iterator for GroupIter<T, D>
where
    D: Fn(&ChunkData, usize) -> Result<Decoded<T>>,
{
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if self.failed {
                return None;
            }
            if let Some(got) = self.next_in_group() {
                let item = got.and_then(|(u, k, ts)| match self.units.get(u) {
                    Some(d) => (d.make)(ts, k),
                    None => Err(Error::corrupt("chunk", "unit index out of range")),
                });
                if item.is_err() {
                    self.failed = true;
                }
                return Some(item);
            }
            let group = self.groups.next()?;
            if let Err(e) = self.load(&group) {
                self.failed = true;
                return Some(Err(e));
            }
        }
    }
}

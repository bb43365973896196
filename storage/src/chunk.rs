//! The chunk format: an open [`MemChunk`] in ingester memory (a head of
//! recent entries plus cut, compressed blocks) and the immutable
//! [`ChunkData`] read from object bytes. Layout: `storage/FORMAT.md`.

mod block;
mod checkpoint;
mod codec;
mod data;
mod fields;
mod fields_entries;
mod fields_read;
mod headmeta;
mod headview;
mod lines;
mod lines_read;
mod meta;
mod predict;
mod prefilter;
mod rans;
mod sizes;
mod streams;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;

pub use block::BlockMeta;
pub use data::ChunkData;
pub use prefilter::{LiteralFilter, ReadFilter};

use crate::error::Error;
use block::{BlockBuilder, EncodedBlock};

/// Compression of block sections.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    None,
    Snappy,
    Lz4,
    #[default]
    Zstd,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::None => "none",
            Encoding::Snappy => "snappy",
            Encoding::Lz4 => "lz4",
            Encoding::Zstd => "zstd",
        }
    }

    /// The byte stored in block index entries.
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Encoding::None => 0,
            Encoding::Snappy => 1,
            Encoding::Lz4 => 2,
            Encoding::Zstd => 3,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => Encoding::None,
            1 => Encoding::Snappy,
            2 => Encoding::Lz4,
            3 => Encoding::Zstd,
            _ => return None,
        })
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Encoding {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "none" => Encoding::None,
            "snappy" => Encoding::Snappy,
            "lz4" => Encoding::Lz4,
            "zstd" => Encoding::Zstd,
            _ => return Err(Error::UnknownEncoding(s.to_string())),
        })
    }
}

/// How chunks are cut and compressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkConfig {
    pub encoding: Encoding,
    /// Uncompressed line bytes in the head before it is cut into a block.
    pub block_size: usize,
    /// Compressed size at which a chunk is full and should be flushed.
    pub target_size: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig {
            encoding: Encoding::Zstd,
            block_size: 256 * 1024,
            target_size: 1536 * 1024,
        }
    }
}

/// Size of the pages holding head line bytes.
const PAGE_SIZE: usize = 16 * 1024;

/// A line in the head's pages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Loc {
    page: u32,
    off: u32,
    len: u32,
}

/// Entries not yet cut into a block, in append order.
#[derive(Clone, Debug, Default)]
struct Head {
    ts: Vec<i64>,
    /// Where each line is in `pages`.
    locs: Vec<Loc>,
    /// Line bytes of full pages, frozen: queries share them without a copy.
    full: Vec<Bytes>,
    /// The page receiving appends (fixed capacity, never reallocates;
    /// index `full.len()`).
    cur: Vec<u8>,
    /// Sum of line lengths.
    bytes: usize,
    /// Structured metadata, interned (sets shared with query snapshots).
    md: headmeta::HeadMeta,
    /// Whether `ts` is non-decreasing.
    sorted: bool,
    /// The query view of these entries, made by the first snapshot after
    /// an append and shared by later ones until the next append.
    view: std::sync::OnceLock<Arc<headview::HeadView>>,
}

impl Head {
    /// An empty head expecting about `entries` entries.
    fn with_capacity(entries: usize) -> Head {
        Head {
            ts: Vec::with_capacity(entries),
            locs: Vec::with_capacity(entries),
            ..Head::default()
        }
    }

    fn len(&self) -> usize {
        self.ts.len()
    }

    fn page(&self, p: usize) -> &[u8] {
        self.full.get(p).map_or(&self.cur, |b| b)
    }

    fn line(&self, i: usize) -> &[u8] {
        let l = self.locs[i];
        let start = l.off as usize;
        &self.page(l.page as usize)[start..start + l.len as usize]
    }

    fn push<'a, I>(&mut self, ts: i64, line: &[u8], md: I)
    where
        I: ExactSizeIterator<Item = (&'a str, &'a str)> + Clone,
    {
        self.view.take();
        if self.ts.is_empty() {
            self.sorted = true;
        } else if self.ts.last().is_some_and(|&last| ts < last) {
            self.sorted = false;
        }
        self.md.push(self.ts.len(), md);
        self.ts.push(ts);
        let fits = self.cur.capacity() - self.cur.len() >= line.len();
        if !fits {
            let fresh = Vec::with_capacity(PAGE_SIZE.max(line.len()));
            let done = std::mem::replace(&mut self.cur, fresh);
            if !(done.is_empty() && self.full.is_empty() && self.locs.is_empty()) {
                self.full.push(Bytes::from(done));
            }
        }
        let page = self.full.len();
        let p = &mut self.cur;
        self.locs.push(Loc {
            page: page as u32,
            off: p.len() as u32,
            len: line.len() as u32,
        });
        p.extend_from_slice(line);
        self.bytes += line.len();
    }

    /// Builds a block of the head's entries in timestamp order (stable).
    fn to_block(&self, encoding: Encoding, level: i32) -> crate::Result<EncodedBlock> {
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        if !self.sorted {
            order.sort_by_key(|&i| self.ts[i as usize]);
        }
        let mut b = BlockBuilder::new(self.len(), self.bytes);
        for i in order {
            let i = i as usize;
            b.push_set(self.ts[i], self.line(i), self.md.set_id(i), self.md.get(i));
        }
        b.finish(encoding, level)
    }

    fn memory_bytes(&self) -> usize {
        let md = self.md.memory_bytes();
        let pages: usize = self.full.iter().map(|p| p.len()).sum::<usize>() + self.cur.capacity();
        let view = self.view.get().map_or(0, |v| v.memory_bytes());
        self.ts.capacity() * 8
            + self.locs.capacity() * std::mem::size_of::<Loc>()
            + pages
            + md
            + view
    }
}

/// An open chunk in ingester memory: a head of recent entries plus cut,
/// compressed blocks.
#[derive(Clone, Debug)]
pub struct MemChunk {
    cfg: ChunkConfig,
    blocks: Vec<EncodedBlock>,
    head: Head,
    /// Timestamp and line hash of the last appended entry, to drop an
    /// immediate identical duplicate (as Loki does).
    last: Option<(i64, u64)>,
    block_entries: usize,
    block_line_bytes: usize,
    compressed: usize,
}

/// The hash duplicate detection compares (with the timestamp) instead of
/// the line itself.
pub fn line_hash(line: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(line)
}

impl MemChunk {
    pub fn new(cfg: &ChunkConfig) -> Self {
        MemChunk {
            cfg: cfg.clone(),
            blocks: Vec::new(),
            head: Head::default(),
            last: None,
            block_entries: 0,
            block_line_bytes: 0,
            compressed: 0,
        }
    }

    /// Appends an entry. Entries may arrive out of order; an entry identical
    /// (timestamp and line) to the previous one is dropped. Cuts a block
    /// when the head reaches `block_size`.
    pub fn append(&mut self, ts: i64, line: &[u8], structured_metadata: &[(String, String)]) {
        let md = structured_metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        self.append_pairs(ts, line, md);
    }

    /// [`MemChunk::append`] with the structured metadata as borrowed
    /// `(name, value)` pairs (nothing is copied for a set the head has
    /// already seen).
    pub fn append_pairs<'a, I>(&mut self, ts: i64, line: &[u8], structured_metadata: I)
    where
        I: ExactSizeIterator<Item = (&'a str, &'a str)> + Clone,
    {
        let h = line_hash(line);
        if self.last == Some((ts, h)) {
            return;
        }
        self.last = Some((ts, h));
        self.push(ts, line, structured_metadata);
    }

    /// [`MemChunk::append_pairs`] for a caller that already dropped an
    /// entry identical to the one before it (the ingester checks against
    /// its stream's last entry, across chunks): no duplicate check here,
    /// and no line hash. A later `append` does not know this entry as the
    /// last one.
    pub fn append_distinct<'a, I>(&mut self, ts: i64, line: &[u8], structured_metadata: I)
    where
        I: ExactSizeIterator<Item = (&'a str, &'a str)> + Clone,
    {
        self.last = None;
        self.push(ts, line, structured_metadata);
    }

    fn push<'a, I>(&mut self, ts: i64, line: &[u8], structured_metadata: I)
    where
        I: ExactSizeIterator<Item = (&'a str, &'a str)> + Clone,
    {
        self.head.push(ts, line, structured_metadata);
        // (the limits keep page offsets and the metadata arena's u32s in
        // range: no entry comes near u32::MAX / 2 bytes)
        if self.head.bytes >= self.cfg.block_size
            || self.head.bytes > u32::MAX as usize / 2
            || self.head.md.value_bytes() > u32::MAX as usize / 2
        {
            self.cut_block();
        }
    }

    /// Compresses the head into a block.
    pub fn cut_block(&mut self) {
        if self.head.len() == 0 {
            return;
        }
        let block = match self.head.to_block(self.cfg.encoding, codec::ZSTD_CUT_LEVEL) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "compressing a block failed; storing it uncompressed");
                match self.head.to_block(Encoding::None, 0) {
                    Ok(b) => b,
                    // only a >4 GiB section fails uncompressed; append cuts long before
                    Err(_) => return,
                }
            }
        };
        self.add_block(block);
        // the next head most likely fills up with as many entries
        self.head = Head::with_capacity(self.head.len());
    }

    fn add_block(&mut self, block: EncodedBlock) {
        self.block_entries += block.meta.entries as usize;
        self.block_line_bytes += block.meta.uncompressed_bytes as usize;
        self.compressed += block.data.len();
        self.blocks.push(block);
    }

    /// Whether the compressed blocks reached `target_size`.
    pub fn is_full(&self) -> bool {
        self.compressed >= self.cfg.target_size
    }

    /// Minimum and maximum timestamp, if the chunk has entries.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        let blocks = self.blocks.iter().map(|b| (b.meta.min_ts, b.meta.max_ts));
        let head = self.head.ts.iter().map(|&t| (t, t));
        blocks
            .chain(head)
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
    }

    pub fn entry_count(&self) -> usize {
        self.block_entries + self.head.len()
    }

    /// Sum of line lengths.
    pub fn uncompressed_bytes(&self) -> usize {
        self.block_line_bytes + self.head.bytes
    }

    /// Bytes of the cut blocks.
    pub fn compressed_bytes(&self) -> usize {
        self.compressed
    }

    /// Approximate heap bytes held by this chunk.
    pub fn memory_bytes(&self) -> usize {
        self.compressed + self.blocks.len() * 96 + self.head.memory_bytes()
    }

    pub fn config(&self) -> &ChunkConfig {
        &self.cfg
    }

    /// A cheap immutable view: shared blocks plus the head, whose full
    /// pages are shared and only the page receiving appends is copied (once
    /// per head state: snapshots without appends in between share it).
    pub fn snapshot(&self) -> ChunkData {
        let head = (self.head.len() > 0).then(|| {
            let h = &self.head;
            Arc::clone(h.view.get_or_init(|| Arc::new(headview::HeadView::new(h))))
        });
        ChunkData::from_parts(self.blocks.clone(), head)
    }

    /// Closes the chunk: the immutable object bytes to upload.
    pub fn encode(&self) -> bytes::Bytes {
        let mut blocks = self.blocks.clone();
        if self.head.len() > 0 {
            let b = self
                .head
                .to_block(self.cfg.encoding, codec::ZSTD_CUT_LEVEL)
                .or_else(|_| self.head.to_block(Encoding::None, 0));
            if let Ok(b) = b {
                blocks.push(b);
            }
        }
        data::write_chunk(&blocks)
    }
}

/// A xorshift64 generator for tests: each call `rnd(m)` gives the next
/// value in `0..m`, the same sequence for the same seed.
/// `block` with byte `pos` of its data XORed with `flip` and its checksum
/// recomputed, so readers see the damage rather than a checksum error.
#[cfg(test)]
pub(crate) fn damaged(block: &block::EncodedBlock, pos: usize, flip: u8) -> block::EncodedBlock {
    let mut data = block.data.to_vec();
    data[pos] ^= flip;
    block::EncodedBlock {
        crc: crc32fast::hash(&data),
        data: Bytes::from(data),
        ..block.clone()
    }
}

#[cfg(test)]
pub(crate) fn test_rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed;
    move |m| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod read_tests;

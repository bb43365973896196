//! Entries of field-layout blocks: [`EncodedBlock::entries_fields`] reads
//! a block's columns (`fields_read.rs`) and builds entries on demand, a
//! page of lines at a time; a literal filter is checked against the token
//! dictionaries first.

use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use sluice_logql::source::{Entry, LineCut};

use super::block::{EncodedBlock, SEC_LINES, SEC_META, SEC_NUMS, SEC_TS};
use super::data::Decoded;
use super::fields_read::{FieldLines, PAGE};
use super::meta::{self, MetaTable};
use super::prefilter::ReadFilter;
use super::sizes;
use crate::error::{Error, Result};

/// A newest-first block read from its newest lines decodes a multiple of
/// this many, one more than it needs (a page), so a read that goes on a
/// little past its first lines need not decode again; one that goes on
/// further decodes a part at least `GROW` times as long, while that is at
/// most half the block, then the whole block (a backward read of a whole
/// block decodes about a sixth more than the block).
const PART: usize = PAGE;
const GROW: usize = 4;

/// A rebuilt page: its lines back to back and where each ends.
struct Page {
    bytes: Bytes,
    ends: Vec<u32>,
}

/// Decoded lines (pages built on demand) and metadata of a block's first
/// `lines.len()` stored lines (all of them, or a newest-first block's
/// newest ones).
struct View {
    lines: FieldLines,
    pages: Vec<OnceLock<Page>>,
    md: MetaTable,
}

impl View {
    fn new(lines: FieldLines, md: MetaTable) -> View {
        let pages = (0..lines.len().div_ceil(PAGE))
            .map(|_| OnceLock::new())
            .collect();
        View { lines, pages, md }
    }

    fn page(&self, p: usize) -> Result<&Page> {
        let cell = self
            .pages
            .get(p)
            .ok_or_else(|| Error::corrupt("block fields", "entry past the last page"))?;
        if let Some(page) = cell.get() {
            return Ok(page);
        }
        let (bytes, ends) = self.lines.page(p)?;
        Ok(cell.get_or_init(|| Page {
            bytes: Bytes::from(bytes),
            ends,
        }))
    }

    /// Stored line `j`.
    fn line(&self, j: usize) -> Result<Bytes> {
        let page = self.page(j / PAGE)?;
        let k = j % PAGE;
        let end = *page
            .ends
            .get(k)
            .ok_or_else(|| Error::corrupt("block fields", "entry past the last line"))?;
        let start = k.checked_sub(1).map_or(0, |j| page.ends[j]);
        Ok(page.bytes.slice(start as usize..end as usize))
    }
}

/// Which metadata a read returns.
enum MdMode {
    All,
    /// None: the filter keeps none of the block's names.
    Skip,
    /// The pairs whose name the filter keeps.
    Keep(Arc<ReadFilter>),
}

/// A field-layout block being read. Entry `i` (timestamp order) is stored
/// line `i`, or `n - 1 - i` in a newest-first block, whose newest lines
/// are decoded first and alone (`part`) when a read starts with them.
struct Reading {
    block: EncodedBlock,
    n: usize,
    md: MdMode,
    /// The first stored lines (a newest-first block read backward).
    part: Mutex<Option<Arc<View>>>,
    full: OnceLock<View>,
    /// Why decoding failed, once it has: later entries fail alike without
    /// decoding again.
    failed: OnceLock<(&'static str, String)>,
    /// The filter, when lines may be cut.
    cut: Option<Arc<ReadFilter>>,
}

impl Reading {
    /// Stored index of entry `i`.
    fn stored(&self, i: usize) -> usize {
        if self.block.is_newest_first() {
            self.n.wrapping_sub(1).wrapping_sub(i)
        } else {
            i
        }
    }

    /// The part holding stored line `j` (`None`: read the whole block).
    /// A read that starts in a newest-first block's first half decodes a
    /// part covering `j` and one page more; one that goes past it, a part
    /// at least `GROW` times as long, while that is at most half the block.
    fn part(&self, j: usize) -> Result<Option<Arc<View>>> {
        if !self.block.is_newest_first() || self.full.get().is_some() {
            return Ok(None);
        }
        // a panic elsewhere while holding the lock left a valid view
        let mut part = self.part.lock().unwrap_or_else(|e| e.into_inner());
        let have = match part.as_ref() {
            Some(v) if j < v.lines.len() => return Ok(Some(v.clone())),
            Some(v) => v.lines.len(),
            None => 0,
        };
        let p = (((j + 1).div_ceil(PART) + 1) * PART).max(GROW * have);
        if 2 * j >= self.n || 2 * p > self.n {
            *part = None;
            return Ok(None);
        }
        let v = Arc::new(self.build(p)?);
        *part = Some(v.clone());
        Ok(Some(v))
    }

    fn full(&self) -> Result<&View> {
        if let Some(f) = self.full.get() {
            return Ok(f);
        }
        let view = self.build(self.n)?;
        Ok(self.full.get_or_init(|| view))
    }

    /// The view of the first `p` stored lines, unless decoding failed
    /// before.
    fn build(&self, p: usize) -> Result<View> {
        if let Some((what, reason)) = self.failed.get() {
            return Err(Error::corrupt(what, reason.clone()));
        }
        let cut = self.cut.as_ref().and_then(|f| f.line_cut());
        self.block.view(p, &self.md, cut).inspect_err(|e| {
            let _ = self.failed.set(match e {
                Error::Corrupt { what, reason } => (what, reason.clone()),
                e => ("block fields", e.to_string()),
            });
        })
    }

    fn entry(&self, ts: i64, i: usize) -> Result<Entry> {
        let j = self.stored(i);
        let part = self.part(j)?;
        let v = match &part {
            Some(v) => v,
            None => self.full()?,
        };
        Ok(Entry {
            ts,
            line: v.line(j)?,
            metadata: v.md.pairs(j),
            cut: v.lines.is_cut(j),
        })
    }
}

impl EncodedBlock {
    /// Sections 2 and 3 decoded; stored line lengths (`lens`, format 2)
    /// must add up to the block's line bytes and are checked against the
    /// lines as pages are rebuilt.
    fn field_lines(
        &self,
        fields: &[u8],
        lens: Option<Vec<u32>>,
        piece: Option<&memchr::memmem::Finder<'static>>,
        cut: Option<&LineCut>,
    ) -> Result<FieldLines> {
        let n = self.meta.entries as usize;
        if let Some(l) = &lens {
            self.check_line_bytes(l)?;
        }
        let mut lines = FieldLines::decode(fields, &self.section(SEC_NUMS)?, n, lens, piece, cut)?;
        lines.line_bytes = usize::try_from(self.meta.uncompressed_bytes).unwrap_or(0);
        Ok(lines)
    }

    /// The first `p` stored lines (all when `p` is the entry count) and
    /// their metadata as `md` asks, cut as `cut` says if given.
    fn view(&self, p: usize, md: &MdMode, cut: Option<&LineCut>) -> Result<View> {
        let n = self.meta.entries as usize;
        let part = p < n;
        let lines = if part {
            let mut lines = FieldLines::decode_prefix(
                &self.section(SEC_LINES)?,
                &self.section(SEC_NUMS)?,
                n,
                p,
                cut,
            )?;
            let bytes = usize::try_from(self.meta.uncompressed_bytes).unwrap_or(0);
            lines.line_bytes = bytes / n * p;
            lines
        } else {
            self.field_lines(&self.section(SEC_LINES)?, None, None, cut)?
        };
        let md = self.field_metadata(&lines, md, part)?;
        Ok(View::new(lines, md))
    }

    /// The metadata of `lines` (with `part`, the first stored lines only).
    fn field_metadata(&self, lines: &FieldLines, md: &MdMode, part: bool) -> Result<MetaTable> {
        let mut table = match md {
            MdMode::Skip => return Ok(MetaTable::default()),
            _ if part && self.sections[SEC_META].0 > 0 => {
                meta::read_prefix(&self.section(SEC_META)?, &lines.fields)?
            }
            _ => self.metadata(Some(&lines.fields))?,
        };
        if let MdMode::Keep(f) = md {
            table.keep = table.dict.iter().map(|n| f.keeps_metadata(n)).collect();
        }
        Ok(table)
    }

    /// Every line's length in timestamp order, computed from the fields
    /// (format 3 and 4 blocks do not store them) by rebuilding every page.
    pub(super) fn field_lengths(&self) -> Result<Vec<u32>> {
        let n = self.meta.entries as usize;
        let lines = self.field_lines(&self.section(SEC_LINES)?, None, None, None)?;
        let mut out = Vec::with_capacity(n);
        for p in 0..n.div_ceil(PAGE) {
            let (_, ends) = lines.page(p)?;
            let mut start = 0;
            for end in ends {
                out.push(end.wrapping_sub(start));
                start = end;
            }
        }
        self.check_line_bytes(&out)?;
        if self.is_newest_first() {
            out.reverse();
        }
        Ok(out)
    }

    /// Line lengths `lens` must be one per entry and add up to the block's
    /// line bytes.
    fn check_line_bytes(&self, lens: &[u32]) -> Result<()> {
        let total: u64 = lens.iter().map(|&l| u64::from(l)).sum();
        if lens.len() != self.meta.entries as usize || total != self.meta.uncompressed_bytes {
            return Err(Error::corrupt(
                "block",
                "lines differ from the recorded size",
            ));
        }
        Ok(())
    }

    /// Which metadata a read with `filter` returns: a query that keeps
    /// none of the block's names (most keep only the labels they group
    /// by) skips the pairs.
    fn md_mode(&self, filter: Option<&Arc<ReadFilter>>) -> Result<MdMode> {
        let Some(f) = filter.filter(|f| f.metadata.is_some()) else {
            return Ok(MdMode::All);
        };
        let names = match self.sections[SEC_META].0 {
            0 => Vec::new(),
            _ => meta::names(&self.section(SEC_META)?)?,
        };
        Ok(if names.iter().any(|n| f.keeps_metadata(n)) {
            MdMode::Keep(f.clone())
        } else {
            MdMode::Skip
        })
    }

    /// [`EncodedBlock::entries_filtered`] for field-layout blocks. A
    /// literal filter first searches the token dictionaries and whole
    /// lines; then only lines with a token holding a literal are rebuilt
    /// (by page) and checked. Without one, a newest-first block is decoded
    /// when its first entry is asked for, only as far as that needs.
    pub(super) fn entries_fields(&self, filter: Option<Arc<ReadFilter>>) -> Result<Decoded<Entry>> {
        let fields = self.section(SEC_LINES)?;
        let lits = filter.as_ref().and_then(|f| f.literals.as_ref());
        if let Some(f) = lits {
            let (dict, whole) = FieldLines::text_streams(&fields)?;
            if !f.fields_may_contain(&dict, &whole) {
                return Ok(Decoded::none());
            }
        }
        let n = self.meta.entries as usize;
        let md = self.md_mode(filter.as_ref())?;
        let r = Reading {
            block: self.clone(),
            n,
            md,
            part: Mutex::new(None),
            full: OnceLock::new(),
            failed: OnceLock::new(),
            cut: filter.clone().filter(|f| f.line_cut().is_some()),
        };
        if lits.is_none() && self.ts_order() == sizes::Order::NewestFirst {
            // timestamps too are read from the newest, as far as a
            // backward read goes
            let block = self.clone();
            let read = move |k| sizes::read_newest(&block.section(SEC_TS)?, n, k);
            let r = Arc::new(r);
            return Ok(Decoded::newest_first(
                n,
                Box::new(read),
                Box::new(move |ts, i| r.entry(ts, i)),
            ));
        }
        let sizes = sizes::read(&self.section(SEC_TS)?, n, self.ts_order())?;
        if lits.is_some() || !self.is_newest_first() {
            // decoded at once, as the filter reads every line
            let piece = lits.and_then(|f| f.field_piece());
            let cut = filter.as_ref().and_then(|f| f.line_cut());
            let lines = self.field_lines(&fields, sizes.lens, piece, cut)?;
            let table = self.field_metadata(&lines, &r.md, false)?;
            let _ = r.full.set(View::new(lines, table));
        }
        let r = Arc::new(r);
        let keep = match (lits, r.full.get()) {
            (Some(f), Some(v)) => {
                let cands = v.lines.candidates(|w| f.matches(w));
                let mut keep = vec![false; n];
                for (i, k) in keep.iter_mut().enumerate() {
                    let j = r.stored(i);
                    if cands.get(j).copied().unwrap_or(false) {
                        *k = f.matches(&v.line(j)?);
                    }
                }
                if !keep.contains(&true) {
                    return Ok(Decoded::none());
                }
                Some(keep)
            }
            _ => None,
        };
        Ok(Decoded::try_new(
            sizes.ts,
            keep,
            Box::new(move |ts, i| r.entry(ts, i)),
        ))
    }
}

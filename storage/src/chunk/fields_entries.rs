//! Entries of field-layout blocks: [`EncodedBlock::entries_fields`] reads
//! a block's columns (`fields_read.rs`) and builds entries on demand, a
//! page of lines at a time; a literal filter is checked against the token
//! dictionaries first.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use sluice_logql::source::Entry;

use super::block::{EncodedBlock, SEC_LINES, SEC_META, SEC_NUMS, SEC_TS};
use super::data::Decoded;
use super::fields_read::{FieldLines, PAGE};
use super::meta::{self, MetaTable};
use super::prefilter::ReadFilter;
use super::sizes;
use crate::error::{Error, Result};

/// A rebuilt page: its lines back to back and where each ends.
struct Page {
    bytes: Bytes,
    ends: Vec<u32>,
}

/// A field-layout block being read: its lines (pages built on demand) and
/// metadata.
struct Reading {
    lines: FieldLines,
    pages: Vec<OnceLock<Page>>,
    md: MetaTable,
}

impl Reading {
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

    fn line(&self, i: usize) -> Result<Bytes> {
        let page = self.page(i / PAGE)?;
        let k = i % PAGE;
        let end = *page
            .ends
            .get(k)
            .ok_or_else(|| Error::corrupt("block fields", "entry past the last line"))?;
        let start = k.checked_sub(1).map_or(0, |j| page.ends[j]);
        Ok(page.bytes.slice(start as usize..end as usize))
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
    ) -> Result<FieldLines> {
        let n = self.meta.entries as usize;
        if let Some(l) = &lens {
            self.check_line_bytes(l)?;
        }
        let mut lines = FieldLines::decode(fields, &self.section(SEC_NUMS)?, n, lens, piece)?;
        lines.line_bytes = usize::try_from(self.meta.uncompressed_bytes).unwrap_or(0);
        Ok(lines)
    }

    /// Every line's length, computed from the fields (format 3 blocks do
    /// not store them) by rebuilding every page.
    pub(super) fn field_lengths(&self) -> Result<Vec<u32>> {
        let n = self.meta.entries as usize;
        let lines = self.field_lines(&self.section(SEC_LINES)?, None, None)?;
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

    /// [`EncodedBlock::entries_filtered`] for field-layout blocks. A
    /// literal filter first searches the token dictionaries and whole
    /// lines; then only lines with a token holding a literal are rebuilt
    /// (by page) and checked.
    pub(super) fn entries_fields(&self, filter: Option<Arc<ReadFilter>>) -> Result<Decoded<Entry>> {
        let fields = self.section(SEC_LINES)?;
        let lits = filter.as_ref().and_then(|f| f.literals.as_ref());
        if let Some(f) = lits {
            let (dict, whole) = FieldLines::text_streams(&fields)?;
            if !f.fields_may_contain(&dict, &whole) {
                return Ok(Decoded::none());
            }
        }
        let sizes = sizes::read(&self.section(SEC_TS)?, self.meta.entries as usize)?;
        let piece = lits.and_then(|f| f.field_piece());
        let lines = self.field_lines(&fields, sizes.lens, piece)?;
        let pages = (0..lines.len().div_ceil(PAGE))
            .map(|_| OnceLock::new())
            .collect();
        let md = match filter.as_deref().filter(|f| f.metadata.is_some()) {
            None => self.metadata(Some(&lines.fields))?,
            Some(f) => {
                // a query that keeps none of the block's names (most keep
                // only the labels they group by) skips the pairs
                let names = match self.sections[SEC_META].0 {
                    0 => Vec::new(),
                    _ => meta::names(&self.section(SEC_META)?)?,
                };
                if names.iter().any(|n| f.keeps_metadata(n)) {
                    let mut md = self.metadata(Some(&lines.fields))?;
                    md.keep = md.dict.iter().map(|n| f.keeps_metadata(n)).collect();
                    md
                } else {
                    MetaTable::default()
                }
            }
        };
        let r = Arc::new(Reading { lines, pages, md });
        let keep = match lits {
            None => None,
            Some(f) => {
                let mut keep = r.lines.candidates(|w| f.matches(w));
                for (i, k) in keep.iter_mut().enumerate() {
                    if *k {
                        *k = f.matches(&r.line(i)?);
                    }
                }
                if !keep.contains(&true) {
                    return Ok(Decoded::none());
                }
                Some(keep)
            }
        };
        Ok(Decoded::try_new(
            sizes.ts,
            keep,
            Box::new(move |ts, i| {
                Ok(Entry {
                    ts,
                    line: r.line(i)?,
                    metadata: r.md.pairs(i),
                })
            }),
        ))
    }
}

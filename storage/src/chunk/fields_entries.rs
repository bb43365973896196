//! Entries of field-layout blocks: [`EncodedBlock::entries_fields`] reads
//! a block's columns (`fields_read.rs`) and builds entries on demand, a
//! page of lines at a time; a literal filter is checked against the token
//! dictionaries first.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use sluice_logql::source::Entry;

use super::block::{EncodedBlock, SEC_LINES, SEC_NUMS, SEC_TS};
use super::data::Decoded;
use super::fields_read::{FieldLines, PAGE};
use super::meta::MetaTable;
use super::prefilter::ReadFilter;
use super::sizes;
use crate::error::{Error, Result};

/// A field-layout block being read: its lines (pages built on demand) and
/// metadata.
struct Reading {
    lines: FieldLines,
    pages: Vec<OnceLock<Bytes>>,
    md: MetaTable,
}

impl Reading {
    fn page(&self, p: usize) -> &Bytes {
        // `p` comes from an entry index below `lines.len()`
        self.pages[p].get_or_init(|| Bytes::from(self.lines.page(p)))
    }

    fn line(&self, i: usize) -> Bytes {
        let p = i / PAGE;
        let base = self.lines.offs[p * PAGE];
        self.page(p)
            .slice(self.lines.offs[i] - base..self.lines.offs[i + 1] - base)
    }
}

impl EncodedBlock {
    /// Sections 2 and 3 decoded, their line lengths checked against the
    /// stored ones (`lens`, format 2) and against the block's line bytes.
    fn field_lines(
        &self,
        fields: &[u8],
        lens: Option<&[u32]>,
        piece: Option<&memchr::memmem::Finder<'static>>,
    ) -> Result<FieldLines> {
        let n = self.meta.entries as usize;
        let lines = FieldLines::decode(fields, &self.section(SEC_NUMS)?, n, lens, piece)?;
        if lines.offs.last().map(|&o| o as u64) != Some(self.meta.uncompressed_bytes) {
            return Err(Error::corrupt(
                "block",
                "lines differ from the recorded size",
            ));
        }
        Ok(lines)
    }

    /// Every line's length, computed from the fields (format 3 blocks do
    /// not store them).
    pub(super) fn field_lengths(&self) -> Result<Vec<u32>> {
        let lines = self.field_lines(&self.section(SEC_LINES)?, None, None)?;
        Ok(lines
            .offs
            .windows(2)
            .map(|w| (w[1] - w[0]) as u32)
            .collect())
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
        let lines = self.field_lines(&fields, sizes.lens.as_deref(), piece)?;
        let pages = (0..lines.len().div_ceil(PAGE))
            .map(|_| OnceLock::new())
            .collect();
        let mut md = self.metadata(Some(&lines.fields))?;
        if let Some(f) = &filter {
            if f.metadata.is_some() {
                md.keep = md.dict.iter().map(|n| f.keeps_metadata(n)).collect();
            }
        }
        let r = Arc::new(Reading { lines, pages, md });
        let keep = match lits {
            None => None,
            Some(f) => {
                let mut keep = r.lines.candidates(|w| f.matches(w));
                for (i, k) in keep.iter_mut().enumerate() {
                    if *k {
                        *k = f.matches(&r.line(i));
                    }
                }
                if !keep.contains(&true) {
                    return Ok(Decoded::none());
                }
                Some(keep)
            }
        };
        Ok(Decoded::new(
            sizes.ts,
            keep,
            Box::new(move |ts, i| Entry {
                ts,
                line: r.line(i),
                metadata: r.md.pairs(i),
            }),
        ))
    }
}

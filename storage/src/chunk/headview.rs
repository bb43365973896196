//! [`HeadView`]: a query's read-only view of an open chunk's head. Full
//! pages of line bytes and structured metadata are shared with the head
//! (no copy, no re-encoding); only the page receiving appends, the
//! timestamps and the line locations are copied.

use std::sync::Arc;

use bytes::Bytes;
use sluice_logql::source::{Entry, EntrySize};

use super::block::BlockMeta;
use super::data::Decoded;
use super::headmeta::MetaView;
use super::prefilter::{LiteralFilter, ReadFilter};
use super::{Head, Loc};

/// The head entries at snapshot time, in append order.
#[derive(Debug)]
pub(crate) struct HeadView {
    meta: BlockMeta,
    ts: Vec<i64>,
    locs: Vec<Loc>,
    pages: Vec<Bytes>,
    md: MetaView,
    sorted: bool,
}

impl HeadView {
    pub(crate) fn new(h: &Head) -> HeadView {
        let mut pages = h.full.clone();
        pages.push(Bytes::copy_from_slice(&h.cur));
        let (min_ts, max_ts) =
            h.ts.iter()
                .fold((i64::MAX, i64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
        HeadView {
            meta: BlockMeta {
                min_ts,
                max_ts,
                entries: h.ts.len() as u32,
                uncompressed_bytes: h.bytes as u64,
            },
            ts: h.ts.clone(),
            locs: h.locs.clone(),
            pages,
            md: h.md.view(),
            sorted: h.sorted,
        }
    }

    /// Heap bytes the view holds beyond the pages it shares with the head.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.ts.capacity() * 8
            + self.locs.capacity() * std::mem::size_of::<Loc>()
            + self.pages.last().map_or(0, |p| p.len())
            + self.md.memory_bytes()
    }

    pub(crate) fn meta(&self) -> BlockMeta {
        self.meta
    }

    /// The view's entries as one block in timestamp order (stable), for
    /// shipping a snapshot as chunk bytes.
    pub(crate) fn to_block(
        &self,
        encoding: super::Encoding,
        level: i32,
    ) -> crate::Result<super::block::EncodedBlock> {
        let mut b =
            super::block::BlockBuilder::new(self.ts.len(), self.meta.uncompressed_bytes as usize);
        for i in self.order() {
            let i = i as usize;
            b.push_set(self.ts[i], &self.line(i), self.md.set_id(i), self.md.get(i));
        }
        b.finish(encoding, level)
    }

    /// Entry indices in timestamp order (stable: append order on ties).
    fn order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.ts.len() as u32).collect();
        if !self.sorted {
            order.sort_by_key(|&i| self.ts[i as usize]);
        }
        order
    }

    fn line(&self, i: usize) -> Bytes {
        let l = self.locs[i];
        let off = l.off as usize;
        self.pages[l.page as usize].slice(off..off + l.len as usize)
    }

    /// Which entries (append order) may contain every literal of `f`:
    /// pages without the rarest literal are ruled out in one search.
    fn candidates(&self, f: &LiteralFilter) -> Vec<bool> {
        let mut keep = vec![false; self.ts.len()];
        let mut i = 0;
        while i < self.locs.len() {
            let page = self.locs[i].page;
            let mut j = i;
            while j < self.locs.len() && self.locs[j].page == page {
                j += 1;
            }
            if f.may_contain(&self.pages[page as usize]) {
                for (k, l) in self.locs[i..j].iter().enumerate() {
                    let off = l.off as usize;
                    let line = &self.pages[page as usize][off..off + l.len as usize];
                    keep[i + k] = f.matches(line);
                }
            }
            i = j;
        }
        keep
    }

    /// Every entry in timestamp order; with `filter`, only those whose line
    /// contains all its literals. Entries are built on demand.
    pub(crate) fn entries(view: &Arc<HeadView>, filter: Option<Arc<ReadFilter>>) -> Decoded<Entry> {
        let lits = filter.as_ref().and_then(|f| f.literals.as_ref());
        let keep = lits.map(|f| view.candidates(f));
        let order = view.order();
        let ts = order.iter().map(|&i| view.ts[i as usize]).collect();
        let keep = keep.map(|k| order.iter().map(|&i| k[i as usize]).collect());
        let v = Arc::clone(view);
        // with a metadata filter, each distinct set is filtered once
        let kept = filter
            .as_ref()
            .filter(|f| f.metadata.is_some())
            .map(|f| v.md.filtered_sets(|n| f.keeps_metadata(n)));
        Decoded::new(
            ts,
            keep,
            Box::new(move |ts, k| {
                let i = order[k] as usize;
                let metadata = match &kept {
                    Some(sets) => sets
                        .get(v.md.set_id(i) as usize)
                        .cloned()
                        .unwrap_or_default(),
                    None => v.md.get(i).to_vec(),
                };
                Entry {
                    ts,
                    line: v.line(i),
                    metadata,
                    cut: false,
                }
            }),
        )
    }

    /// Timestamps and line lengths in timestamp order.
    pub(crate) fn sizes(&self) -> Vec<EntrySize> {
        self.order()
            .into_iter()
            .map(|i| EntrySize {
                ts: self.ts[i as usize],
                len: self.locs[i as usize].len,
            })
            .collect()
    }
}

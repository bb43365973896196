//! The streams of section 2 as [`FieldLines`](super::FieldLines) reads
//! them: all decoded at once, or (a newest-first block's first lines)
//! each decoded only as far as those lines need, the id planes four at a
//! time ahead of use.

use std::borrow::Cow;

use super::bad;
use crate::chunk::fields::{MAX_SHAPES, MAX_TOKENS};
use crate::chunk::streams::{width_of, Container};
use crate::error::Result;
use crate::varint::Reader;

/// The streams of section 2: all decoded, or decoded as far as needed.
pub(super) enum Src<'a> {
    All(Vec<Vec<u8>>),
    /// The container, and the id planes decoded ahead (by stream).
    Part(Container<'a>, Vec<Vec<u8>>),
}

impl Src<'_> {
    pub(super) fn len(&self) -> usize {
        match self {
            Src::All(s) => s.len(),
            Src::Part(c, _) => c.len(),
        }
    }

    /// Stream `i`, whole.
    pub(super) fn get(&self, i: usize) -> Result<Cow<'_, [u8]>> {
        match self {
            Src::All(s) => s
                .get(i)
                .map(|v| Cow::Borrowed(&v[..]))
                .ok_or_else(|| bad("missing streams")),
            Src::Part(c, _) => Ok(Cow::Owned(c.get(i)?)),
        }
    }

    /// Decodes ahead, four at a time, the id planes the first lines take
    /// (`lines_of` per shape, as the layout in stream 0 gives them).
    pub(super) fn prefetch(&mut self, lines_of: &[usize]) -> Result<()> {
        let Src::Part(c, pre) = self else {
            return Ok(());
        };
        let layout = c.get(0)?;
        let mut r = Reader::new(&layout, "block field layout");
        let mut reqs = Vec::new();
        let mut next = 4;
        for s in 0..r.count(1)?.min(MAX_SHAPES) {
            let rows = lines_of.get(s + 1).copied().unwrap_or(0);
            for _ in 0..r.count(1)?.min(MAX_TOKENS) {
                let size = r.uvarint()?;
                for _ in 0..width_of(size.saturating_sub(1)) {
                    if c.raw_len(next).is_ok_and(|l| l >= rows) {
                        reqs.push((next, rows));
                    }
                    next += 1;
                }
            }
        }
        let got = c.prefixes(&reqs)?;
        *pre = vec![Vec::new(); c.len()];
        for ((i, _), g) in reqs.into_iter().zip(got) {
            pre[i] = g;
        }
        Ok(())
    }

    /// The first `p` bytes of stream `i`, which must hold `n`.
    pub(super) fn head(&self, i: usize, n: usize, p: usize) -> Result<Cow<'_, [u8]>> {
        let wrong = || bad("shape ids of the wrong length");
        match self {
            Src::All(_) => {
                let got = self.get(i)?;
                if got.len() != n {
                    return Err(wrong());
                }
                Ok(got)
            }
            Src::Part(c, _) => {
                if c.raw_len(i)? != n {
                    return Err(wrong());
                }
                Ok(Cow::Owned(c.prefix(i, p)?))
            }
        }
    }

    /// The first `rows` bytes of stream `i`, a column of ids: all of it
    /// (whose length `get_planes` checks), or a prefix of a stream that
    /// holds at least that many.
    pub(super) fn column(&self, i: usize, rows: usize) -> Result<Cow<'_, [u8]>> {
        match self {
            Src::All(s) => s
                .get(i)
                .map(|v| Cow::Borrowed(&v[..]))
                .ok_or_else(|| bad("missing id plane")),
            Src::Part(c, pre) => {
                if c.raw_len(i).map_err(|_| bad("missing id plane"))? < rows {
                    return Err(bad("id plane too short"));
                }
                match pre.get(i) {
                    Some(p) if p.len() == rows => Ok(Cow::Borrowed(&p[..])),
                    _ => Ok(Cow::Owned(c.prefix(i, rows)?)),
                }
            }
        }
    }
}

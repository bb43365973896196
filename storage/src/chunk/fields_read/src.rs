//! The streams of section 2 as [`FieldLines`](super::FieldLines) reads
//! them: all decoded at once, or (a newest-first block's first lines)
//! each decoded only as far as those lines need, the id planes four at a
//! time ahead of use.

use std::borrow::Cow;

use super::bad;
use crate::chunk::streams::Container;
use crate::error::Result;

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

    /// Decodes ahead, four at a time, the first `rows` bytes of each id
    /// plane `(i, rows)` in `reqs` (those of a stream that holds them).
    pub(super) fn prefetch(&mut self, reqs: &[(usize, usize)]) -> Result<()> {
        let Src::Part(c, pre) = self else {
            return Ok(());
        };
        let reqs: Vec<(usize, usize)> = reqs
            .iter()
            .copied()
            .filter(|&(i, rows)| c.raw_len(i).is_ok_and(|l| l >= rows))
            .collect();
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

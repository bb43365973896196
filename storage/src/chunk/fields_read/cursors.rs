//! Page cursors of [`FieldLines`]: where each shape's rows and each number
//! column stand at a page's first line, found on demand by counting what
//! the pages before it use (or, nearer the end, what the pages from it on
//! use, subtracted from the column lengths). Only token ids are read, no
//! numbers, and only for the pages counted: a backward query that stops
//! in the last page counts that page alone.
//!
//! Every cursor handed out is checked to stay within its column for the
//! whole page, so pages never read past a column; once every page has
//! been counted, the counts must add up to the columns exactly.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use super::{bad, FieldLines, PAGE};
use crate::error::Result;

impl FieldLines {
    /// Rows of each shape (the whole lines first).
    pub(super) fn row_counts(&self) -> impl Iterator<Item = usize> + '_ {
        let whole = self.whole_offs.len().saturating_sub(1);
        std::iter::once(whole).chain(self.rows.iter().map(|&r| r as usize))
    }

    /// The rows and numbers page `q` uses.
    fn uses(&self, q: usize) -> Result<&[u32]> {
        let cell = self.uses.get(q).ok_or_else(|| bad("page out of range"))?;
        if let Some(u) = cell.get() {
            return Ok(u);
        }
        let end = ((q + 1) * PAGE).min(self.len());
        let u = self.count(q * PAGE..end)?;
        Ok(cell.get_or_init(|| u))
    }

    /// The rows of each shape and the numbers of each column that `lines`
    /// use (the order of a cursor).
    pub(super) fn count(&self, lines: std::ops::Range<usize>) -> Result<Vec<u32>> {
        let shapes = self.tok_base.len();
        let mut u = vec![0u32; 1 + shapes + self.num_cols];
        for i in lines {
            let s = usize::from(self.fields.shape[i]);
            u[s] += 1;
            if s == 0 {
                continue;
            }
            let row = self.fields.row[i] as usize;
            let cols = &self.fields.cols[s - 1];
            for &j in &self.var_cols[s - 1] {
                let j = j as usize;
                let id = *cols[j]
                    .1
                    .get(row)
                    .ok_or_else(|| bad("token column too short"))?;
                let tok = self.toks[self.tok_base[s - 1][j] as usize + id as usize];
                let base = 1 + shapes + (self.num_base[s - 1][j] + tok.nbase) as usize;
                let used = u
                    .get_mut(base..base + tok.slots as usize)
                    .ok_or_else(|| bad("number column out of range"))?;
                for c in used {
                    *c += 1;
                }
            }
        }
        // a shape's fixed columns give one number per row
        for (s, fixed) in self.fixed_cols.iter().enumerate() {
            let rows = u[s + 1];
            for &c in fixed {
                *u.get_mut(1 + shapes + c as usize)
                    .ok_or_else(|| bad("number column out of range"))? = rows;
            }
        }
        Ok(u)
    }

    /// The cursor at page `p`'s first line, checked to leave room for
    /// everything the page uses: from a neighbour's cursor when that is
    /// known (pages read in order, either way), else counted from the
    /// nearer end.
    pub(super) fn cursor(&self, p: usize) -> Result<Vec<u32>> {
        let pages = self.uses.len();
        let mine = self.uses(p)?;
        let cell = self
            .cursors
            .get(p)
            .ok_or_else(|| bad("page out of range"))?;
        if let Some(c) = cell.get() {
            return Ok(c.clone());
        }
        let known = |q: usize| self.cursors.get(q).and_then(OnceLock::get);
        let cur = if let Some(prev) = p.checked_sub(1).and_then(known) {
            let used = self.uses(p - 1)?;
            prev.iter()
                .zip(used)
                .map(|(&c, &x)| c.saturating_add(x))
                .collect()
        } else if let Some(next) = known(p + 1) {
            let mut cur = next.clone();
            for (c, &x) in cur.iter_mut().zip(mine) {
                *c = c
                    .checked_sub(x)
                    .ok_or_else(|| bad("number column too short"))?;
            }
            cur
        } else if 2 * p < pages {
            let mut cur = vec![0u32; self.limits.len()];
            for q in 0..p {
                for (c, &x) in cur.iter_mut().zip(self.uses(q)?) {
                    *c = c.saturating_add(x);
                }
            }
            cur
        } else {
            let mut cur = self.limits.clone();
            for q in p..pages {
                for (c, &x) in cur.iter_mut().zip(self.uses(q)?) {
                    *c = c
                        .checked_sub(x)
                        .ok_or_else(|| bad("number column too short"))?;
                }
            }
            cur
        };
        let fits = cur.len() == self.limits.len()
            && cur
                .iter()
                .zip(mine)
                .zip(&self.limits)
                .all(|((&c, &x), &l)| c.saturating_add(x) <= l);
        if !fits {
            return Err(bad("number column too short"));
        }
        self.check_all_used()?;
        Ok(cell.get_or_init(|| cur).clone())
    }

    /// Once every page is counted: the counts must use every row and
    /// number exactly.
    fn check_all_used(&self) -> Result<()> {
        if self.all_used.load(Ordering::Relaxed) {
            return Ok(());
        }
        if self.uses.iter().any(|c| c.get().is_none()) {
            return Ok(());
        }
        let mut total = vec![0u32; self.limits.len()];
        for cell in &self.uses {
            let Some(u) = cell.get() else { return Ok(()) };
            for (t, &x) in total.iter_mut().zip(u) {
                *t = t.saturating_add(x);
            }
        }
        if total != self.limits {
            return Err(bad("unused rows or numbers"));
        }
        self.all_used.store(true, Ordering::Relaxed);
        Ok(())
    }
}

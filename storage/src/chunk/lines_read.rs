//! A faster reader for blocks written with context-keyed number columns
//! (`FLAG_CONTEXT_COLUMNS`): the same output as `lines::join`, with the
//! per-number column lookup memoised. Lines of a block repeat a few
//! templates, so the same (context, occurrence) pairs come back again and
//! again; each is hashed and searched for once, then found in a small
//! direct-mapped table.

use super::lines::{self, ColumnAssign};
use crate::error::Result;

/// Must equal the writer's: see `lines.rs`.
const MAX_COLUMNS: usize = 64;
const CONTEXT: usize = 8;
/// Slots of the memo tables (a power of two).
const SLOTS: usize = 256;

/// The writer's context-keyed column assignment (`lines::Columns` with
/// `by_context`), memoised.
struct Assign {
    keys: Vec<u64>,
    line_keys: Vec<u64>,
    /// (context bytes as a little-endian word, context length) -> FNV key.
    ctx_memo: Vec<(u64, u8, u64)>,
    /// key -> column (keys are unique, and never change once found).
    col_memo: Vec<(u64, u8)>,
}

impl Assign {
    fn new() -> Self {
        Assign {
            keys: Vec::new(),
            line_keys: Vec::new(),
            // length 0xff marks an empty slot (contexts are at most 8 bytes)
            ctx_memo: vec![(0, 0xff, 0); SLOTS],
            col_memo: vec![(0, 0xff); SLOTS],
        }
    }

    fn fnv(ctx: &[u8]) -> u64 {
        let mut k = 0xcbf2_9ce4_8422_2325u64 ^ ctx.len() as u64;
        for &b in ctx {
            k = (k ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        k
    }
}

impl ColumnAssign for Assign {
    fn start_line(&mut self) {
        self.line_keys.clear();
    }

    fn next(&mut self, line_tmpl: &[u8]) -> usize {
        let ctx = &line_tmpl[line_tmpl.len().saturating_sub(CONTEXT)..];
        let mut w = [0u8; 8];
        w[..ctx.len()].copy_from_slice(ctx);
        let word = u64::from_le_bytes(w);
        let len = ctx.len() as u8;
        let slot = (word ^ u64::from(len)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56;
        let m = &mut self.ctx_memo[slot as usize % SLOTS];
        let k = if m.0 == word && m.1 == len {
            m.2
        } else {
            let k = Self::fnv(ctx);
            *m = (word, len, k);
            k
        };
        let occ = self.line_keys.iter().filter(|&&x| x == k).count() as u64;
        self.line_keys.push(k);
        let key = k ^ occ.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let slot = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56;
        let m = &mut self.col_memo[slot as usize % SLOTS];
        if m.1 != 0xff && m.0 == key {
            return usize::from(m.1);
        }
        let col = match self.keys.iter().position(|&x| x == key) {
            Some(i) => i,
            None => {
                if self.keys.len() < MAX_COLUMNS {
                    self.keys.push(key);
                }
                self.keys.len() - 1
            }
        };
        // a key missing from a full table always maps to the last column
        *m = (key, col as u8);
        col
    }
}

/// `lines::join` for context-keyed blocks.
pub fn join_context(tmpl: &[u8], numbers: &[u8], lens: &[u32], total: usize) -> Result<Vec<u8>> {
    lines::join_with(tmpl, numbers, lens, total, Assign::new())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn check(lines_in: &[Vec<u8>]) {
        let cat: Vec<u8> = lines_in.concat();
        let lens: Vec<u32> = lines_in.iter().map(|l| l.len() as u32).collect();
        let (t, n) = lines::split(&cat, lens.iter().map(|&l| l as usize));
        let want = lines::join(&t, &n, &lens, cat.len(), true).unwrap();
        assert_eq!(want, cat);
        assert_eq!(join_context(&t, &n, &lens, cat.len()).unwrap(), want);
        // corrupt input: both readers refuse it alike
        let short = &lens[..lens.len().saturating_sub(1)];
        assert_eq!(
            join_context(&t, &n, short, cat.len()).is_err(),
            lines::join(&t, &n, short, cat.len(), true).is_err()
        );
        let cut = &t[..t.len().saturating_sub(1)];
        assert_eq!(
            join_context(cut, &n, &lens, cat.len()).is_err(),
            lines::join(cut, &n, &lens, cat.len(), true).is_err()
        );
    }

    #[test]
    fn same_output_as_join() {
        let mut rnd = crate::chunk::test_rng(0x1234_5678u64);
        // repeated templates, optional numbers, repeated contexts in a line
        let shapes: Vec<Vec<u8>> = (0..3000)
            .map(|i| {
                let s = match rnd(5) {
                    0 => format!(
                        "10.{}.{}.{} - GET /api/v{} {} \x1b[32m{}\x1b[0m",
                        rnd(4),
                        rnd(255),
                        rnd(255),
                        rnd(3),
                        rnd(600),
                        rnd(1000)
                    ),
                    1 => format!(
                        "x={} x={} x={} y=00{} \x01\x02 {}",
                        rnd(9),
                        rnd(99),
                        i,
                        rnd(7),
                        u64::MAX - rnd(3)
                    ),
                    2 => format!("level=info seq={i} took {}ms", rnd(2000)),
                    3 => String::new(),
                    _ => format!("{}", rnd(100)),
                };
                s.into_bytes()
            })
            .collect();
        check(&shapes);
        // more than 64 distinct contexts: the overflow column
        let many: Vec<Vec<u8>> = (0..500)
            .map(|i| format!("k{:03}z={} q{}w={}", i % 150, i, i % 70, i * 3).into_bytes())
            .collect();
        check(&many);
        check(&[b"".to_vec()]);
    }
}

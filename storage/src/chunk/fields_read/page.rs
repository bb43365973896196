//! Rebuilding one page of field-layout lines from its cursor: literal
//! pieces, whole lines and numbers written into one buffer. Short
//! literals are copied 16 or 32 bytes at a time (the literal arrays end
//! in `SLACK` spare bytes) rather than through a call to `memcpy` per
//! piece, and numbers are spelled in place.

use super::project::Proj;
use super::{bad, FieldLines, Op, Piece, PAGE};
use crate::error::Result;

/// Spare bytes after the literal arrays.
pub(super) const SLACK: usize = 32;

/// The two-digit decimal spellings of 0..100, back to back.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// A page being written into `buf`. Its spare capacity is never zeroed:
/// short copies write a fixed 16 or 32 bytes and cut the vector back to
/// the bytes that count, and numbers are written over 20 `'0'`s.
struct Out {
    buf: Vec<u8>,
}

impl Out {
    fn new(cap: usize) -> Out {
        Out {
            buf: Vec::with_capacity(cap + SLACK),
        }
    }

    /// Bytes written.
    #[inline(always)]
    fn pos(&self) -> usize {
        self.buf.len()
    }

    /// Appends `src[off..off + len]`; a short run takes a fixed 16- or
    /// 32-byte copy when `src` has the bytes after it (the extra bytes are
    /// cut off again, and overwritten next).
    #[inline(always)]
    fn lit(&mut self, src: &[u8], off: usize, len: usize) {
        let fixed = match len {
            0..=16 => self.fixed::<16>(src, off, len),
            17..=32 => self.fixed::<32>(src, off, len),
            _ => false,
        };
        if !fixed {
            self.buf.extend_from_slice(&src[off..off + len]);
        }
    }

    /// Appends `src[off..off + len]` (`len <= N`) by copying a fixed `N`
    /// bytes and cutting the extra off; false when `src` ends too soon.
    #[inline(always)]
    fn fixed<const N: usize>(&mut self, src: &[u8], off: usize, len: usize) -> bool {
        let Some(s) = src
            .get(off..off + N)
            .and_then(|s| <&[u8; N]>::try_from(s).ok())
        else {
            return false;
        };
        let at = self.buf.len();
        self.buf.extend_from_slice(s);
        self.buf.truncate(at + len);
        true
    }

    /// Appends the decimal digits of `v`, left-padded with zeros to
    /// `width` (at most 20 bytes in all), two digits per division.
    #[inline(always)]
    fn digits(&mut self, v: u64, width: usize) {
        let n = (v.checked_ilog10().unwrap_or(0) + 1) as usize;
        // n <= 20 (u64::MAX has 20 digits), so d >= n
        let d = n.max(width.min(20));
        let at = self.buf.len();
        self.buf.extend_from_slice(&[b'0'; 20]);
        let dst = &mut self.buf[at..at + d];
        let mut x = v;
        let mut p = d;
        while x >= 100 {
            let r = (x % 100) as usize * 2;
            x /= 100;
            p -= 2;
            dst[p..p + 2].copy_from_slice(&PAIRS[r..r + 2]);
        }
        if x >= 10 {
            let r = x as usize * 2;
            p -= 2;
            dst[p..p + 2].copy_from_slice(&PAIRS[r..r + 2]);
        } else {
            dst[p - 1] = b'0' + x as u8;
        }
        self.buf.truncate(at + d);
    }
}

impl FieldLines {
    /// Rebuilds the lines of page `p`: their bytes back to back, and where
    /// each line ends in them. With stored lengths, a line of another
    /// length is an error.
    pub fn page(&self, p: usize) -> Result<(Vec<u8>, Vec<u32>)> {
        let start = p * PAGE;
        let end = (start + PAGE).min(self.len());
        if start >= end {
            return Ok((Vec::new(), Vec::new()));
        }
        let shapes = self.tok_base.len();
        let mut cur = self.cursor(p)?;
        let cap = match &self.lens {
            Some(l) => l[start..end].iter().map(|&x| x as usize).sum::<usize>(),
            // the block's mean line length, with room for longer lines
            None if self.line_bytes > 0 => {
                (self.line_bytes / self.len().max(1) + 8).min(1 << 16) * (end - start)
            }
            None => PAGE * 64,
        };
        let mut out = Out::new(cap);
        let mut ends = Vec::with_capacity(end - start);
        let too_short = || bad("number column too short");
        for i in start..end {
            let s = usize::from(self.fields.shape[i]);
            let row = cur[s] as usize;
            cur[s] += 1;
            if s == 0 {
                let (a, b) = (self.whole_offs[row], self.whole_offs[row + 1]);
                out.lit(&self.whole, a as usize, (b - a) as usize);
                self.line_end(i, out.pos(), &mut ends, false)?;
                continue;
            }
            let cols = &self.fields.cols[s - 1];
            let (plan, cut) = match self.cut_plans.get(s - 1) {
                Some(Some(plan)) => (plan, true),
                _ => (&self.plans[s - 1], false),
            };
            for op in plan {
                match *op {
                    Op::Lit { off, len } => out.lit(&self.plan_lit, off as usize, len as usize),
                    Op::Num { col, width } => {
                        let c = 1 + shapes + col as usize;
                        let v = *self.nums[col as usize]
                            .get(cur[c] as usize)
                            .ok_or_else(too_short)?;
                        cur[c] += 1;
                        out.digits(v, usize::from(width));
                    }
                    Op::Var { j } => {
                        let j = j as usize;
                        let tok =
                            self.toks[self.tok_base[s - 1][j] as usize + cols[j].1[row] as usize];
                        if tok.slots == 0 {
                            out.lit(&self.lit, tok.off as usize, tok.lit_len as usize);
                            continue;
                        }
                        let base = 1 + shapes + (self.num_base[s - 1][j] + tok.nbase) as usize;
                        let mut k = 0;
                        let p0 = tok.first as usize;
                        for piece in &self.pieces[p0..p0 + tok.pieces as usize] {
                            match *piece {
                                Piece::Lit { off, len } => {
                                    out.lit(&self.lit, off as usize, len as usize)
                                }
                                Piece::Num { width } => {
                                    let c = base + k;
                                    k += 1;
                                    let v = *self.nums[c - 1 - shapes]
                                        .get(cur[c] as usize)
                                        .ok_or_else(too_short)?;
                                    cur[c] += 1;
                                    out.digits(v, usize::from(width));
                                }
                            }
                        }
                    }
                    Op::Proj { j } => {
                        let j = j as usize;
                        let t = self.tok_base[s - 1][j] as usize + cols[j].1[row] as usize;
                        let tok = self.toks[t];
                        let base = 1 + shapes + (self.num_base[s - 1][j] + tok.nbase) as usize;
                        let (first, count) = self.proj[t];
                        for piece in &self.proj_pieces[first as usize..(first + count) as usize] {
                            match *piece {
                                Proj::Lit { off, len } => {
                                    out.lit(&self.plan_lit, off as usize, len as usize)
                                }
                                Proj::Num { k, width } => {
                                    let c = base + k as usize;
                                    let v = *self.nums[c - 1 - shapes]
                                        .get(cur[c] as usize)
                                        .ok_or_else(too_short)?;
                                    out.digits(v, usize::from(width));
                                }
                            }
                        }
                        // the token's numbers, kept or not, are used
                        for c in &mut cur[base..base + tok.slots as usize] {
                            *c += 1;
                        }
                    }
                }
            }
            self.line_end(i, out.pos(), &mut ends, cut)?;
        }
        Ok((out.buf, ends))
    }

    /// Records that line `i` ends at `end`, checking its length against
    /// the stored one when there is one (the one place lines are checked
    /// against section 0), unless the line was `cut` (only its start was
    /// written: no length to check it against).
    fn line_end(&self, i: usize, end: usize, ends: &mut Vec<u32>, cut: bool) -> Result<()> {
        let end = u32::try_from(end).map_err(|_| bad("page exceeds 4 GiB"))?;
        if let (Some(lens), false) = (&self.lens, cut) {
            let start = ends.last().copied().unwrap_or(0);
            if lens.get(i) != Some(&(end - start)) {
                return Err(bad("line lengths differ from the stored lengths"));
            }
        }
        ends.push(end);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn digits_spell_like_format() {
        let mut vals: Vec<u64> = vec![
            0,
            1,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            u64::MAX,
            u64::MAX / 10,
        ];
        for d in 0..20 {
            let p = 10u64.pow(d);
            vals.extend([p - 1, p, p + 1, p.wrapping_mul(7).wrapping_add(3)]);
        }
        for v in vals {
            for width in [0, 1, 2, 3, 5, 19, 20, 25] {
                let mut out = Out::new(0);
                out.lit(b"x", 0, 1);
                out.digits(v, width);
                let got = &out.buf[..];
                let want = format!("x{v:0w$}", w = width.min(20));
                assert_eq!(
                    String::from_utf8(got.to_vec()).unwrap(),
                    want,
                    "{v} width {width}"
                );
            }
        }
    }

    #[test]
    fn literals_of_any_length_copy_exactly() {
        let src: Vec<u8> = (0..200u8).chain([0; SLACK]).collect();
        let mut out = Out::new(3);
        let mut want = Vec::new();
        for (off, len) in [
            (0, 0),
            (5, 1),
            (7, 16),
            (3, 17),
            (10, 32),
            (10, 33),
            (190, 10),
            (0, 200),
            (199, 1),
        ] {
            out.lit(&src, off, len);
            want.extend_from_slice(&src[off..off + len]);
            assert_eq!(&out.buf[..], &want[..]);
        }
        // a source without slack after the run
        out.lit(&src[..200], 195, 5);
        want.extend_from_slice(&src[195..200]);
        out.lit(&src[..200], 175, 25);
        want.extend_from_slice(&src[175..200]);
        assert_eq!(&out.buf[..], &want[..]);
    }
}

//! Numeric-column line transform of version-1 zstd blocks (read only since
//! format version 2; the writer is kept for tests): splits the line bytes of a block into a
//! *template* stream (the text with every number replaced by a marker) and
//! per-slot *number columns* (the k-th number of every line in column k,
//! delta-coded when that is smaller). Log lines of one stream repeat their
//! template text, so the template stream compresses several times better
//! than the raw lines, and numbers at the same position share a column.
//!
//! A *number* is a maximal run of ASCII digits of at most 19 bytes that
//! does not start with `0` unless it is exactly `0`; other digit runs stay
//! literal, so decoding reproduces the bytes exactly. In the template,
//! `0x01` marks a number and `0x02` escapes a literal `0x01` or `0x02`.
//!
//! Number section: uvarint column count, then per column: uvarint value
//! count, mode byte (0 plain, 1 zigzag delta from the previous value), and
//! uvarint values.

use crate::error::{Error, Result};
#[cfg(test)]
use crate::varint::{put_uvarint, zigzag};
use crate::varint::{unzigzag, Reader};

const NUM: u8 = 0x01;
const ESC: u8 = 0x02;
#[cfg(test)]
const MAX_DIGITS: usize = 19;

/// Most number columns a block keeps apart; numbers whose context is new
/// once this many exist share the last column.
const MAX_COLUMNS: usize = 64;

/// Template bytes before a number that pick its column.
const CONTEXT: usize = 8;

/// Assigns numbers to columns. Plain mode: the k-th number of a line goes
/// to column k. Context mode: the column is keyed by the up to `CONTEXT`
/// template bytes of the same line before the number (and how often that
/// context already occurred in the line), so a field keeps its column when
/// earlier numbers of the line come and go. The decoder replays the same
/// assignment from the template, so the keys are never stored.
pub struct Columns {
    by_context: bool,
    keys: Vec<u64>,
    line_keys: Vec<u64>,
    slot: usize,
}

/// How [`join_with`] finds the column of each number while replaying a
/// template: [`Columns`], or a faster reader's equivalent.
pub(super) trait ColumnAssign {
    /// A new line starts.
    fn start_line(&mut self);
    /// The column of the next number; `line_tmpl` is the template of the
    /// current line so far.
    fn next(&mut self, line_tmpl: &[u8]) -> usize;
}

impl ColumnAssign for Columns {
    fn start_line(&mut self) {
        Columns::start_line(self)
    }

    fn next(&mut self, line_tmpl: &[u8]) -> usize {
        Columns::next(self, line_tmpl)
    }
}

impl Columns {
    pub fn new(by_context: bool) -> Self {
        Columns {
            by_context,
            keys: Vec::new(),
            line_keys: Vec::new(),
            slot: 0,
        }
    }

    fn start_line(&mut self) {
        self.line_keys.clear();
        self.slot = 0;
    }

    /// The column of the next number; `line_tmpl` is the template of the
    /// current line so far.
    fn next(&mut self, line_tmpl: &[u8]) -> usize {
        if !self.by_context {
            self.slot += 1;
            return self.slot - 1;
        }
        let ctx = &line_tmpl[line_tmpl.len().saturating_sub(CONTEXT)..];
        // FNV-1a; a collision only merges two columns, on both sides alike
        let mut k = 0xcbf2_9ce4_8422_2325u64 ^ ctx.len() as u64;
        for &b in ctx {
            k = (k ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let occ = self.line_keys.iter().filter(|&&x| x == k).count() as u64;
        self.line_keys.push(k);
        let key = k ^ occ.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        if let Some(i) = self.keys.iter().position(|&x| x == key) {
            return i;
        }
        if self.keys.len() < MAX_COLUMNS {
            self.keys.push(key);
        }
        self.keys.len() - 1
    }
}

#[cfg(test)] // the writer of version-1 zstd blocks, kept to test the reader
/// Splits `lines` (concatenated; `lens` gives each line's length) into the
/// template stream and the number section, with context-keyed columns.
pub fn split(lines: &[u8], lens: impl Iterator<Item = usize>) -> (Vec<u8>, Vec<u8>) {
    split_with(lines, lens, true)
}

#[cfg(test)] // the writer of version-1 zstd blocks, kept to test the reader
/// [`split`] with the column assignment chosen (positional without
/// `by_context`, as blocks without `FLAG_CONTEXT_COLUMNS` were written).
fn split_with(
    lines: &[u8],
    lens: impl Iterator<Item = usize>,
    by_context: bool,
) -> (Vec<u8>, Vec<u8>) {
    let mut tmpl = Vec::with_capacity(lines.len());
    let mut cols: Vec<Vec<u64>> = Vec::new();
    let mut assign = Columns::new(by_context);
    let mut start = 0;
    for len in lens {
        let line = &lines[start..start + len];
        start += len;
        assign.start_line();
        split_line(line, &mut tmpl, &mut cols, &mut assign);
    }
    (tmpl, write_columns(&cols))
}

#[cfg(test)] // the writer of version-1 zstd blocks, kept to test the reader
fn split_line(b: &[u8], tmpl: &mut Vec<u8>, cols: &mut Vec<Vec<u64>>, assign: &mut Columns) {
    let line_start = tmpl.len();
    let mut i = 0;
    let mut lit = 0; // start of the pending literal span
    while i < b.len() {
        // skip 8 plain bytes at a time
        if let Some(w) = b.get(i..i + 8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            if !has_special(u64::from_le_bytes(a)) {
                i += 8;
                continue;
            }
        }
        let c = b[i];
        if c > b'9' || (c < b'0' && c > ESC) {
            i += 1;
            continue;
        }
        tmpl.extend_from_slice(&b[lit..i]);
        if c <= ESC {
            tmpl.push(ESC);
            tmpl.push(c);
            i += 1;
            lit = i;
            continue;
        }
        let mut j = i;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let run = &b[i..j];
        if run.len() > MAX_DIGITS || (run[0] == b'0' && run.len() > 1) {
            tmpl.extend_from_slice(run);
        } else {
            let v = run.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
            let col = assign.next(&tmpl[line_start..]);
            tmpl.push(NUM);
            if cols.len() <= col {
                cols.push(Vec::new());
            }
            cols[col].push(v);
        }
        i = j;
        lit = j;
    }
    tmpl.extend_from_slice(&b[lit..]);
}

#[cfg(test)] // the writer of version-1 zstd blocks, kept to test the reader
/// Whether any byte of `x` is an ASCII digit or at most `ESC` (SWAR: a byte
/// below `n` exists iff `(x - n·0x01..) & !x & 0x80..` is non-zero).
fn has_special(x: u64) -> bool {
    special_mask(x, ESC) != 0
}

/// High bits flagging the bytes of `x` that may be an ASCII digit or at
/// most `top`; the lowest flagged byte is exactly the first such byte
/// (false positives only follow a true one).
pub(super) fn special_mask(x: u64, top: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let less = |y: u64, n: u64| y.wrapping_sub(ONES * n) & !y & HIGH;
    less(x ^ (ONES * u64::from(b'0')), 10) | less(x, u64::from(top) + 1)
}

#[cfg(test)] // the writer of version-1 zstd blocks, kept to test the reader
fn write_columns(cols: &[Vec<u64>]) -> Vec<u8> {
    let mut out = Vec::new();
    if cols.is_empty() {
        return out;
    }
    put_uvarint(&mut out, cols.len() as u64);
    let mut plain = Vec::new();
    let mut delta = Vec::new();
    for col in cols {
        plain.clear();
        delta.clear();
        let mut prev = 0u64;
        for &v in col {
            put_uvarint(&mut plain, v);
            put_uvarint(&mut delta, zigzag((v as i64).wrapping_sub(prev as i64)));
            prev = v;
        }
        put_uvarint(&mut out, col.len() as u64);
        if delta.len() < plain.len() {
            out.push(1);
            out.extend_from_slice(&delta);
        } else {
            out.push(0);
            out.extend_from_slice(&plain);
        }
    }
    out
}

fn read_columns(buf: &[u8]) -> Result<Vec<Vec<u64>>> {
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = Reader::new(buf, "line numbers");
    let n = r.count(2)?;
    let mut cols = Vec::with_capacity(n);
    for _ in 0..n {
        let k = r.count(1)?;
        let mode = r.u8()?;
        let mut col = Vec::with_capacity(k);
        let mut prev = 0u64;
        for _ in 0..k {
            let v = r.uvarint()?;
            let v = match mode {
                0 => v,
                1 => (prev as i64).wrapping_add(unzigzag(v)) as u64,
                _ => return Err(r.err("unknown number column mode")),
            };
            col.push(v);
            prev = v;
        }
        cols.push(col);
    }
    if !r.is_empty() {
        return Err(r.err("trailing bytes"));
    }
    Ok(cols)
}

/// Rebuilds the concatenated lines from a template stream and number
/// section; `lens` are the original line lengths.
/// `by_context` selects the column assignment the block was written with.
pub fn join(
    tmpl: &[u8],
    numbers: &[u8],
    lens: &[u32],
    total: usize,
    by_context: bool,
) -> Result<Vec<u8>> {
    join_with(tmpl, numbers, lens, total, Columns::new(by_context))
}

/// [`join`] with the column assignment supplied.
pub(super) fn join_with(
    tmpl: &[u8],
    numbers: &[u8],
    lens: &[u32],
    total: usize,
    mut assign: impl ColumnAssign,
) -> Result<Vec<u8>> {
    let bad = |why: &str| Error::corrupt("block lines", why.to_string());
    let cols = read_columns(numbers)?;
    let mut cursor = vec![0usize; cols.len()];
    let mut out = Vec::with_capacity(total);
    let mut t = 0;
    let mut digits = [0u8; 20];
    for &len in lens {
        let end = out.len() + len as usize;
        let line_start = t;
        assign.start_line();
        while out.len() < end {
            // copy the literal span up to the next marker
            let rest = tmpl.get(t..).ok_or_else(|| bad("template too short"))?;
            let span = memchr::memchr3(0, NUM, ESC, rest)
                .unwrap_or(rest.len())
                .min(end - out.len());
            out.extend_from_slice(&rest[..span]);
            t += span;
            if out.len() >= end {
                break;
            }
            match tmpl.get(t) {
                Some(&ESC) => {
                    out.push(*tmpl.get(t + 1).ok_or_else(|| bad("dangling escape"))?);
                    t += 2;
                }
                Some(&NUM) => {
                    let slot = assign.next(&tmpl[line_start..t]);
                    let col = cols
                        .get(slot)
                        .ok_or_else(|| bad("number slot without column"))?;
                    let v = *col
                        .get(cursor[slot])
                        .ok_or_else(|| bad("number column too short"))?;
                    cursor[slot] += 1;
                    let mut p = digits.len();
                    let mut x = v;
                    loop {
                        p -= 1;
                        digits[p] = b'0' + (x % 10) as u8;
                        x /= 10;
                        if x == 0 {
                            break;
                        }
                    }
                    out.extend_from_slice(&digits[p..]);
                    t += 1;
                }
                _ => return Err(bad("template too short")),
            }
        }
        if out.len() != end {
            return Err(bad("line longer than its recorded length"));
        }
    }
    if t != tmpl.len() || cursor.iter().zip(&cols).any(|(c, col)| *c != col.len()) {
        return Err(bad("unused template bytes or numbers"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn roundtrip(lines: &[&[u8]]) -> (usize, usize) {
        let cat: Vec<u8> = lines.concat();
        let lens: Vec<u32> = lines.iter().map(|l| l.len() as u32).collect();
        let (t, n) = split(&cat, lens.iter().map(|&l| l as usize));
        assert_eq!(join(&t, &n, &lens, cat.len(), true).unwrap(), cat);
        (t.len(), n.len())
    }

    #[test]
    fn exact_roundtrip_of_tricky_numbers() {
        roundtrip(&[
            b"level=info ts_seq=12 status=200 duration=0.045s bytes=0 007 x",
            b"\x01\x02 escapes \x02\x01 and 18446744073709551615 99999999999999999999 00 0",
            b"",
            b"12",
            b"a1b22c333",
        ]);
    }

    #[test]
    fn numbers_leave_the_template() {
        let (t, _) = roundtrip(&[b"took 1234ms rows=5678", b"took 99ms rows=1"]);
        assert_eq!(t, b"took \x01ms rows=\x01took \x01ms rows=\x01".len());
    }

    #[test]
    fn optional_numbers_keep_fields_in_their_columns() {
        let lines: [&[u8]; 5] = [
            b"path=/api/v1/users status=200 bytes=5",
            b"path=/healthz status=404 bytes=6",
            b"path=/api/v1/users status=500 bytes=7",
            b"ip=10.1.2.3 ip=10.4.5.6",
            b"xxxxxxxx=1 xxxxxxxx=2",
        ];
        let cat: Vec<u8> = lines.concat();
        let lens: Vec<u32> = lines.iter().map(|l| l.len() as u32).collect();
        let (t, n) = split(&cat, lens.iter().map(|&l| l as usize));
        let cols = read_columns(&n).unwrap();
        assert_eq!(cols[0], vec![1, 1]); // v1
        assert_eq!(cols[1], vec![200, 404, 500]); // status
        assert_eq!(cols[2], vec![5, 6, 7]); // bytes
                                            // each octet of both addresses has its own context
        assert_eq!(cols[3], vec![10]);
        assert_eq!(cols[7], vec![10]);
        // a context repeated within a line is told apart by its occurrence
        assert_eq!(cols[11], vec![1]);
        assert_eq!(cols[12], vec![2]);
        assert_eq!(cols.len(), 13);
        assert_eq!(join(&t, &n, &lens, cat.len(), true).unwrap(), cat);
        // positional blocks (written before context keys) still decode
        let (t, n) = split_with(&cat, lens.iter().map(|&l| l as usize), false);
        assert_eq!(read_columns(&n).unwrap()[1], vec![200, 6, 500, 1, 2]);
        assert_eq!(join(&t, &n, &lens, cat.len(), false).unwrap(), cat);
        assert!(join(&t, &n, &lens, cat.len(), true).is_err());
    }

    #[test]
    fn column_count_is_capped() {
        let lines: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("k{i:03}x={i} unique{i}y={}", i * 2).into_bytes())
            .collect();
        let cat: Vec<u8> = lines.concat();
        let lens: Vec<u32> = lines.iter().map(|l| l.len() as u32).collect();
        let (t, n) = split(&cat, lens.iter().map(|&l| l as usize));
        assert_eq!(read_columns(&n).unwrap().len(), MAX_COLUMNS);
        assert_eq!(join(&t, &n, &lens, cat.len(), true).unwrap(), cat);
    }

    #[test]
    fn special_byte_detection() {
        for b in 0..=255u8 {
            let special = b.is_ascii_digit() || b <= ESC;
            for pos in 0..8 {
                let mut w = [b'x'; 8];
                w[pos] = b;
                assert_eq!(
                    has_special(u64::from_le_bytes(w)),
                    special,
                    "byte {b} at {pos}"
                );
                let mut w = [0xffu8; 8];
                w[pos] = b;
                assert_eq!(
                    has_special(u64::from_le_bytes(w)),
                    special,
                    "byte {b} at {pos} among 0xff"
                );
            }
        }
    }

    #[test]
    fn corrupt_inputs_are_errors() {
        let cat = b"a 12 b 345".to_vec();
        let lens = [10u32];
        let (t, n) = split(&cat, lens.iter().map(|&l| l as usize));
        assert!(join(&t, &n, &[11], 11, true).is_err());
        assert!(join(&t, &n, &[9], 9, true).is_err());
        assert!(join(&t, &[], &lens, 10, true).is_err());
        assert!(join(&t[..t.len() - 1], &n, &lens, 10, true).is_err());
    }
}

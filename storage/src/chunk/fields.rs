//! Field layout of block lines (format version 2): the writer.
//!
//! Lines of one stream mostly share a shape: the same number of tokens
//! (cut at spaces outside double quotes, so `msg="a b c"` is one token),
//! most of them constant (`method=`, `"msg":`), a few taking one of a
//! handful of values (`level=info`, `path=/login`). Lines with the same
//! token count form a *shape*; token `j` of every line of a shape goes to
//! one *token column*, stored as a dictionary of its distinct token
//! templates plus one id per line. In a token template every number is a
//! marker, and the numbers go to *number columns* keyed by (shape, token
//! column, token for small dictionaries, position of the number in the
//! token). A constant token column
//! costs nothing per line, a column of a few values about its entropy.
//! Lines of rare shapes (fewer than `MIN_SHAPE_LINES` in the block, or
//! past `MAX_SHAPES` shapes or `MAX_TOKENS` tokens) are stored whole.
//!
//! Because a line is its tokens, a reader can rebuild any line from the
//! ids of its row and the number cursors at that row (`fields_read.rs`
//! rebuilds pages of lines on demand), and a literal filter can rule a
//! block out by searching the dictionaries only.
//!
//! Section 2 streams (see `streams.rs`): 0 layout (uvarint shape count; per
//! shape uvarint token count and per column uvarint dictionary size), 1
//! shape id per line (u8, 0 = stored whole, `s + 1` = shape `s`), 2
//! dictionaries (every column's token templates in order, each uvarint
//! length + bytes), 3 whole lines (uvarint length + the raw bytes), then
//! per column with more than one token its ids as byte planes, one stream
//! per plane. Section 3 is the number columns (`streams::write_numbers`),
//! in order of shape, token column and position.
//!
//! Token templates: a number (a maximal run of at most 19 ASCII digits) is
//! `NUM`, or, with leading zeros (`045`), `ZNUM` followed by its digit
//! count; bytes `0x00..=0x03` are escaped with `ESC`.

mod matcher;

use super::streams::{width_of, IntMap, StreamWriter};
use super::{codec, lines};
use crate::error::Result;
use crate::varint::put_uvarint;

pub(super) const NUM: u8 = 0x01;
pub(super) const ESC: u8 = 0x02;
pub(super) const ZNUM: u8 = 0x03;
pub(super) const MAX_DIGITS: usize = 19;

/// Lines a shape needs in a block to get columns.
const MIN_SHAPE_LINES: usize = 8;
/// Most shapes with columns per block.
pub(super) const MAX_SHAPES: usize = 64;
/// Most tokens of a shape with columns.
pub(super) const MAX_TOKENS: usize = 256;
/// Most numbers in one token template.
pub(super) const MAX_SLOTS: usize = 255;
/// Token columns with at most this many distinct tokens key their number
/// columns by token too: each token's numbers get columns of their own
/// (a number that always comes with one token, as in `curl/8.5`, then
/// costs nothing). Larger dictionaries key them by position only.
pub(super) const TOKEN_KEYED: usize = 16;

/// zstd level of the dictionaries and whole lines (text).
const TEXT_LEVEL: i32 = 6;

/// Dictionaries up to this size are searched linearly (faster than
/// hashing a token); larger ones through the map.
const LINEAR_DICT: usize = 16;

/// One token column while encoding; `'a` is the lines' buffer.
#[derive(Default)]
struct Column<'a> {
    dict: Vec<Vec<u8>>,
    /// Numbers in each dictionary token.
    slots: Vec<usize>,
    /// Parts of each plain dictionary token with numbers (see
    /// `matcher.rs`).
    parts: Vec<Option<matcher::Parts>>,
    /// The first token of each hash once the dictionary outgrows a
    /// linear search.
    map: IntMap<u64, u32>,
    ids: Vec<u32>,
    /// Per number position: the values, in row order.
    nums: Vec<Vec<u64>>,
    /// The previous raw token, its id and numbers (a repeated raw token
    /// skips the template work).
    last_raw: &'a [u8],
    last: Option<u32>,
    last_nums: Vec<u64>,
    /// Lines of the shape: the most values a number position takes.
    rows: usize,
}

impl<'a> Column<'a> {
    fn with_rows(rows: usize) -> Self {
        Column {
            ids: Vec::with_capacity(rows),
            rows,
            ..Column::default()
        }
    }

    fn push(&mut self, raw: &'a [u8], scratch: &mut Vec<u8>) {
        if let Some(id) = self.last.filter(|_| same(self.last_raw, raw)) {
            self.ids.push(id);
            for (k, &v) in self.last_nums.iter().enumerate() {
                self.nums[k].push(v);
            }
            return;
        }
        // most often only the numbers changed: the previous template,
        // matched without building this token's
        if let Some(id) = self.last {
            if let Some(parts) = &self.parts[id as usize] {
                self.last_nums.clear();
                if matcher::matches(raw, &self.dict[id as usize], parts, &mut self.last_nums) {
                    self.ids.push(id);
                    for (k, &v) in self.last_nums.iter().enumerate() {
                        self.nums[k].push(v);
                    }
                    self.last_raw = raw;
                    return;
                }
            }
        }
        self.last_nums.clear();
        // a token without digits or low control bytes is its own template
        let id = match first_special(raw) {
            None => self.lookup(raw),
            Some(at) => {
                scratch.clear();
                template_from(raw, at, scratch, &mut self.last_nums);
                // most often only the numbers changed: the previous
                // template, without hashing
                match self.last {
                    Some(id) if same(&self.dict[id as usize], scratch) => id,
                    _ => self.lookup(scratch),
                }
            }
        };
        self.ids.push(id);
        while self.nums.len() < self.last_nums.len() {
            self.nums.push(Vec::with_capacity(self.rows));
        }
        for (k, &v) in self.last_nums.iter().enumerate() {
            self.nums[k].push(v);
        }
        self.last_raw = raw;
        self.last = Some(id);
    }

    /// The id of template `tmpl`, added to the dictionary when new.
    /// Few templates are compared one by one; more are found by their hash
    /// through the map (made when the dictionary outgrows the linear
    /// search), then compared.
    fn lookup(&mut self, tmpl: &[u8]) -> u32 {
        let next = self.dict.len() as u32;
        let mut hash = None;
        if self.dict.len() <= LINEAR_DICT {
            if let Some(i) = self.dict.iter().position(|d| same(d, tmpl)) {
                return i as u32;
            }
        } else {
            let h = xxhash_rust::xxh3::xxh3_64(tmpl);
            hash = Some(h);
            if let Some(&id) = self.map.get(&h) {
                if same(&self.dict[id as usize], tmpl) {
                    return id;
                }
                // a hash collision: search the whole dictionary
                if let Some(i) = self.dict.iter().position(|d| d == tmpl) {
                    return i as u32;
                }
            }
        }
        if self.dict.len() >= LINEAR_DICT {
            if self.map.is_empty() {
                for (i, d) in self.dict.iter().enumerate() {
                    self.map
                        .entry(xxhash_rust::xxh3::xxh3_64(d))
                        .or_insert(i as u32);
                }
            }
            let h = hash.unwrap_or_else(|| xxhash_rust::xxh3::xxh3_64(tmpl));
            self.map.entry(h).or_insert(next);
        }
        self.dict.push(tmpl.to_vec());
        self.parts.push(if self.last_nums.is_empty() {
            None
        } else {
            matcher::parts_of(tmpl)
        });
        self.slots.push(self.last_nums.len());
        next
    }

    /// The dictionary size and token ids, and the number columns: per
    /// token then position for small dictionaries, else per position (see
    /// `TOKEN_KEYED`).
    fn finish(self) -> ((u32, Vec<u32>), Vec<Vec<u64>>) {
        let ids = (self.dict.len() as u32, self.ids);
        // one token: its positions are the columns already
        if self.dict.len() > TOKEN_KEYED || self.dict.len() == 1 {
            return (ids, self.nums);
        }
        let mut per: Vec<Vec<Vec<u64>>> = self.slots.iter().map(|&n| vec![Vec::new(); n]).collect();
        let mut cur = vec![0usize; self.nums.len()];
        for &id in &ids.1 {
            for (k, out) in per[id as usize].iter_mut().enumerate() {
                out.push(self.nums[k][cur[k]]);
                cur[k] += 1;
            }
        }
        (ids, per.into_iter().flatten().collect())
    }
}

/// Appends the template of `tok` to `out` and its numbers to `nums`.
/// A token has at most `MAX_SLOTS` numbers; further digit runs stay
/// literal.
#[cfg(test)]
pub(super) fn template(tok: &[u8], out: &mut Vec<u8>, nums: &mut Vec<u64>) {
    template_from(tok, 0, out, nums);
}

/// Whether two short byte strings (tokens, metadata) are equal, compared
/// 8 bytes at a time: a call to `memcmp` costs more than comparing them.
/// The tail is one more (overlapping) word, or two overlapping halves or
/// quarters of one for strings under 8 bytes: no loop over bytes.
#[inline]
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word(a, i) != word(b, i) {
                return false;
            }
            i += 8;
        }
        return word(a, n - 8) == word(b, n - 8);
    }
    let quarter = |s: &[u8], i: usize| {
        s.get(i..i + 2)
            .and_then(|w| <[u8; 2]>::try_from(w).ok())
            .map_or(0, u16::from_le_bytes)
    };
    let half = |s: &[u8], i: usize| {
        s.get(i..i + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map_or(0, u32::from_le_bytes)
    };
    match n {
        4.. => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        2.. => quarter(a, 0) == quarter(b, 0) && quarter(a, n - 2) == quarter(b, n - 2),
        _ => a.first() == b.first(),
    }
}

/// The 8 bytes of `s` at `i` (0 past the end: callers stay inside).
#[inline(always)]
fn word(s: &[u8], i: usize) -> u64 {
    s.get(i..i + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
        .map_or(0, u64::from_le_bytes)
}

/// The offset of the first byte of `tok` that is an ASCII digit or at most
/// `ZNUM` (what `template_from` has to rewrite), if any.
fn first_special(tok: &[u8]) -> Option<usize> {
    let n = tok.len();
    if n < 8 {
        return tok.iter().position(|&c| c.is_ascii_digit() || c <= ZNUM);
    }
    let mut at = 0;
    loop {
        // the last word overlaps bytes already found plain: its lowest
        // flagged byte is still exact
        let at_word = at.min(n - 8);
        let m = lines::special_mask(word(tok, at_word), ZNUM);
        if m != 0 {
            // the lowest flagged byte is exact
            return Some(at_word + (m.trailing_zeros() / 8) as usize);
        }
        at += 8;
        if at >= n {
            return None;
        }
    }
}

/// `template` of `tok` whose bytes before `from` are plain (neither a
/// digit nor at most `ZNUM`).
fn template_from(tok: &[u8], from: usize, out: &mut Vec<u8>, nums: &mut Vec<u64>) {
    let mut i = from;
    let mut lit = 0; // start of the pending literal span
    while i < tok.len() {
        // skip plain bytes 8 at a time, then straight to the first special
        if let Some(w) = tok.get(i..i + 8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            let m = lines::special_mask(u64::from_le_bytes(a), ZNUM);
            if m == 0 {
                i += 8;
                continue;
            }
            // the lowest flagged byte is exact (false positives only
            // follow a true one)
            i += (m.trailing_zeros() / 8) as usize;
        }
        let c = tok[i];
        if c > b'9' || (c < b'0' && c > ZNUM) {
            i += 1;
            continue;
        }
        out.extend_from_slice(&tok[lit..i]);
        if c <= ZNUM {
            out.push(ESC);
            out.push(c);
            i += 1;
            lit = i;
            continue;
        }
        // the run of digits and its value (wrapping past `MAX_DIGITS`
        // digits, which stay literal)
        let mut j = i;
        let mut v = 0u64;
        while let Some(&d) = tok.get(j).filter(|d| d.is_ascii_digit()) {
            v = v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            j += 1;
        }
        let run = &tok[i..j];
        if run.len() > MAX_DIGITS || nums.len() >= MAX_SLOTS {
            out.extend_from_slice(run);
        } else {
            if run[0] == b'0' && run.len() > 1 {
                out.push(ZNUM);
                out.push(run.len() as u8);
            } else {
                out.push(NUM);
            }
            nums.push(v);
        }
        i = j;
        lit = j;
    }
    out.extend_from_slice(&tok[lit..]);
}

/// The spaces that separate tokens in the lines: those outside double
/// quotes (a backslash inside quotes escapes the next byte). Returns per
/// line its token count, and every line's split points (offsets in the
/// line).
fn split_points(buf: &[u8], lens: &[u32]) -> (Vec<usize>, Vec<u32>) {
    let mut counts = Vec::with_capacity(lens.len());
    let mut points = Vec::with_capacity(lens.len() * 8);
    let mut start = 0usize;
    for &len in lens {
        let end = (start + len as usize).min(buf.len());
        let before = points.len();
        line_points(buf, start, end, &mut points);
        counts.push(points.len() - before + 1);
        start = end;
    }
    (counts, points)
}

/// Appends the split points of the line `buf[start..end]` to `points`.
/// The line is read 64 bytes at a time as three bit masks (its spaces,
/// quotes and backslashes, [`masks64`]); a window without a backslash
/// needs no branch per byte: the prefix parity of its quotes says which
/// spaces are inside quotes. A window may read past the line into the
/// next lines of `buf` (their bits are dropped).
fn line_points(buf: &[u8], start: usize, end: usize, points: &mut Vec<u32>) {
    let mut quoted = false;
    // the first byte of the next window is escaped
    let mut skip_first = false;
    let mut at = start;
    while at < end {
        let n = end - at;
        let [mut spaces, mut quotes, mut escapes] = match buf.get(at..at + 64) {
            Some(w) => masks64(w),
            None => {
                let mut pad = [0u8; 64];
                let tail = &buf[at..];
                pad[..tail.len()].copy_from_slice(tail);
                masks64(&pad)
            }
        };
        let mut valid = if n >= 64 { !0u64 } else { (1u64 << n) - 1 };
        if skip_first {
            valid &= !1;
            skip_first = false;
        }
        spaces &= valid;
        quotes &= valid;
        escapes &= valid;
        let base = (at - start) as u32;
        if escapes == 0 {
            // bit i: an odd number of quotes at or before byte i
            let mut inside = quotes;
            inside ^= inside << 1;
            inside ^= inside << 2;
            inside ^= inside << 4;
            inside ^= inside << 8;
            inside ^= inside << 16;
            inside ^= inside << 32;
            if quoted {
                inside = !inside;
            }
            let mut m = spaces & !inside;
            while m != 0 {
                points.push(base + m.trailing_zeros());
                m &= m - 1;
            }
            quoted ^= quotes.count_ones() & 1 == 1;
        } else {
            let mut m = spaces | quotes | escapes;
            while m != 0 {
                let j = m.trailing_zeros();
                let bit = 1u64 << j;
                m &= m - 1;
                if spaces & bit != 0 {
                    if !quoted {
                        points.push(base + j);
                    }
                } else if quotes & bit != 0 {
                    quoted = !quoted;
                } else if quoted {
                    // a backslash inside quotes: the next byte is skipped
                    if j == 63 {
                        skip_first = true;
                    } else {
                        m &= !(bit << 1);
                    }
                }
            }
        }
        at += 64;
    }
}

/// The bit masks of the spaces, double quotes and backslashes among 64
/// bytes (bit `i` for byte `i`).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn masks64(w: &[u8]) -> [u64; 3] {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let w = &w[..64];
    let mut out = [0u64; 3];
    // SAFETY: SSE2 is part of the x86_64 baseline, so every x86_64 CPU
    // runs these instructions; each unaligned load reads 16 bytes of `w`,
    // which holds 64 (checked by the slicing above).
    unsafe {
        let wanted = [
            _mm_set1_epi8(b' ' as i8),
            _mm_set1_epi8(b'"' as i8),
            _mm_set1_epi8(b'\\' as i8),
        ];
        for k in 0..4 {
            let v = _mm_loadu_si128(w.as_ptr().add(16 * k).cast::<__m128i>());
            for (o, c) in out.iter_mut().zip(wanted) {
                let m = _mm_movemask_epi8(_mm_cmpeq_epi8(v, c)) as u16;
                *o |= u64::from(m) << (16 * k);
            }
        }
    }
    out
}

/// [`masks64`] without SIMD: 8 bytes at a time, each byte flag moved
/// from its high bit to bit `i` by a multiply.
#[cfg(not(target_arch = "x86_64"))]
fn masks64(w: &[u8]) -> [u64; 3] {
    let mut out = [0u64; 3];
    for (k, c) in w[..64].chunks_exact(8).enumerate() {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        let x = u64::from_le_bytes(a);
        for (o, b) in out.iter_mut().zip([b' ', b'"', b'\\']) {
            *o |= gather_high_bits(byte_mask(x, b)) << (8 * k);
        }
    }
    out
}

/// The high bits of the 8 bytes of `m` (nothing else set) as 8 low bits.
#[cfg(any(not(target_arch = "x86_64"), test))]
fn gather_high_bits(m: u64) -> u64 {
    ((m >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// High bits flagging exactly the bytes of `x` equal to `c` (SWAR: a byte
/// `y` is zero iff `((y & 0x7f..) + 0x7f..) | y` lacks its high bit; no
/// false positives).
#[cfg(any(not(target_arch = "x86_64"), test))]
#[inline]
fn byte_mask(x: u64, c: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let y = x ^ (ONES * u64::from(c));
    !(((y & LOW) + LOW) | y | LOW)
}

/// Token ids of every line: what metadata prediction (`predict.rs`) and
/// readers key on. Built alike by the writer and the reader.
#[derive(Debug, Default)]
pub struct LineFields {
    /// Per line its shape (0: stored whole, `s + 1`: shape `s`).
    pub shape: Vec<u8>,
    /// Per line its row among the lines of its shape (or among the whole
    /// lines).
    pub row: Vec<u32>,
    /// Per shape, per column: dictionary size and the token id of each row.
    pub cols: Vec<Vec<(u32, Vec<u32>)>>,
}

impl LineFields {
    pub(super) fn new(shape: Vec<u8>, cols: Vec<Vec<(u32, Vec<u32>)>>) -> Self {
        let mut next = vec![0u32; cols.len() + 1];
        let row = shape
            .iter()
            .map(|&s| match next.get_mut(usize::from(s)) {
                Some(n) => {
                    *n += 1;
                    *n - 1
                }
                None => 0,
            })
            .collect();
        LineFields { shape, row, cols }
    }

    /// Token id of `line` in column `col` of its shape.
    pub fn token(&self, line: usize, col: usize) -> Option<u32> {
        let s = usize::from(*self.shape.get(line)?).checked_sub(1)?;
        let row = *self.row.get(line)? as usize;
        self.cols.get(s)?.get(col)?.1.get(row).copied()
    }
}

/// The encoded lines of a block.
pub struct Encoded {
    /// Section 2: the token columns.
    pub fields: Vec<u8>,
    /// Section 3: the number columns (empty without numbers).
    pub numbers: Vec<u8>,
    pub lines: LineFields,
}

/// Encodes the lines concatenated in `buf` (lengths `lens`).
pub fn encode(buf: &[u8], lens: &[u32], level: i32) -> Result<Encoded> {
    let (counts, all_points) = split_points(buf, lens);
    // lines per token count, and the shape of each count (0: none), by
    // count up to `MAX_TOKENS` (more tokens never make a shape)
    let mut per_count = [0usize; MAX_TOKENS + 1];
    for &c in &counts {
        if let Some(n) = per_count.get_mut(c) {
            *n += 1;
        }
    }
    // shapes in order of first appearance
    let mut shape_of = [0u8; MAX_TOKENS + 1];
    let mut shapes: Vec<usize> = Vec::new();
    for &c in &counts {
        if shapes.len() < MAX_SHAPES
            && per_count.get(c).is_some_and(|&n| n >= MIN_SHAPE_LINES)
            && shape_of[c] == 0
        {
            shape_of[c] = shapes.len() as u8 + 1;
            shapes.push(c);
        }
    }
    // every column of a shape gets a token id per line of the shape: room
    // for them up front
    let mut cols: Vec<Vec<Column>> = shapes
        .iter()
        .map(|&t| (0..t).map(|_| Column::with_rows(per_count[t])).collect())
        .collect();
    let mut shape_ids = Vec::with_capacity(lens.len());
    let mut whole = Vec::new();
    // per shape its lines: (start in `buf`, first split point in
    // `all_points`, length)
    let mut rows: Vec<Vec<(usize, usize, usize)>> = shapes
        .iter()
        .map(|&t| Vec::with_capacity(per_count[t]))
        .collect();
    let mut next_point = 0usize;
    let mut start = 0usize;
    for (&len, &c) in lens.iter().zip(&counts) {
        let len = len as usize;
        let s = shape_of.get(c).copied().unwrap_or(0);
        shape_ids.push(s);
        match usize::from(s).checked_sub(1) {
            Some(s) => rows[s].push((start, next_point, len)),
            None => {
                put_uvarint(&mut whole, len as u64);
                whole.extend_from_slice(&buf[start..start + len]);
            }
        }
        next_point += c - 1;
        start += len;
    }
    // a column at a time: its state stays at hand across the lines
    let mut scratch = Vec::new();
    for (shape, rows) in cols.iter_mut().zip(&rows) {
        let last = shape.len() - 1;
        for (j, col) in shape.iter_mut().enumerate() {
            for &(start, pt, len) in rows {
                let from = match j {
                    0 => 0,
                    _ => all_points[pt + j - 1] as usize + 1,
                };
                let end = match j == last {
                    true => len,
                    false => all_points[pt + j] as usize,
                };
                col.push(&buf[start + from..start + end], &mut scratch);
            }
        }
    }
    let mut layout = Vec::new();
    let mut dict = Vec::new();
    put_uvarint(&mut layout, shapes.len() as u64);
    for shape in &cols {
        put_uvarint(&mut layout, shape.len() as u64);
        for col in shape {
            put_uvarint(&mut layout, col.dict.len() as u64);
            for t in &col.dict {
                put_uvarint(&mut dict, t.len() as u64);
                dict.extend_from_slice(t);
            }
        }
    }
    let mut w = StreamWriter::default();
    w.add(&layout, codec::ZSTD_COLUMN_LEVEL)?;
    w.add_symbols(&shape_ids, level)?;
    w.add(&dict, TEXT_LEVEL.max(level))?;
    w.add(&whole, TEXT_LEVEL.max(level))?;
    let mut plane = Vec::new();
    for col in cols.iter().flatten() {
        let width = width_of(col.dict.len().saturating_sub(1) as u64);
        for p in 0..width {
            plane.clear();
            plane.extend(col.ids.iter().map(|&v| (v >> (8 * p)) as u8));
            w.add_symbols(&plane, level)?;
        }
    }
    let mut nums: Vec<Vec<u64>> = Vec::new();
    let mut ids = Vec::with_capacity(cols.len());
    for shape in cols {
        let mut shape_ids = Vec::with_capacity(shape.len());
        for c in shape {
            let (col_ids, col_nums) = c.finish();
            shape_ids.push(col_ids);
            nums.extend(col_nums);
        }
        ids.push(shape_ids);
    }
    let numbers = if nums.is_empty() {
        Vec::new()
    } else {
        super::streams::write_numbers(&nums, level)?
    };
    Ok(Encoded {
        fields: w.finish(),
        numbers,
        lines: LineFields::new(shape_ids, ids),
    })
}

#[cfg(test)]
mod split_tests {
    #![allow(clippy::unwrap_used)]
    use super::{
        byte_mask, first_special, gather_high_bits, masks64, same, split_points, template,
        template_from, ZNUM,
    };

    #[test]
    fn token_fast_paths_match_their_definitions() {
        let alphabet = b"a0\x01\x03z9=\x045";
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut prev: Vec<u8> = Vec::new();
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 30) as usize;
            let tok: Vec<u8> = (0..n)
                .map(|k| alphabet[((x >> ((k * 3) % 61)) % 9) as usize])
                .collect();
            let want = tok.iter().position(|&c| c.is_ascii_digit() || c <= ZNUM);
            assert_eq!(first_special(&tok), want, "{tok:?}");
            let (mut a, mut na) = (Vec::new(), Vec::new());
            template(&tok, &mut a, &mut na);
            let (mut b, mut nb) = (Vec::new(), Vec::new());
            match want {
                None => b.extend_from_slice(&tok),
                Some(at) => template_from(&tok, at, &mut b, &mut nb),
            }
            assert_eq!((a, na), (b, nb), "{tok:?}");
            assert_eq!(same(&tok, &prev), tok == prev);
            assert!(same(&tok, &tok.clone()));
            for k in [0, tok.len() / 2, tok.len().saturating_sub(1)] {
                if let Some(c) = tok.get(k) {
                    let mut other = tok.clone();
                    other[k] = c ^ 0x20;
                    assert!(!same(&tok, &other));
                }
            }
            prev = tok;
        }
    }

    #[test]
    fn same_finds_any_differing_byte() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n).map(|k| (k * 37 + 11) as u8).collect();
            assert!(same(&a, &a.clone()));
            for k in 0..n {
                let mut b = a.clone();
                b[k] ^= 1 << (k % 8);
                assert!(!same(&a, &b), "{n} {k}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!same(&a, &longer));
        }
    }

    #[test]
    fn byte_masks_flag_exactly_their_byte() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut a = [b'a'; 8];
                a[pos] = b;
                a[(pos + 3) % 8] = b' ';
                let x = u64::from_le_bytes(a);
                let m = byte_mask(x, b' ') | byte_mask(x, b'"') | byte_mask(x, b'\\');
                for (k, &c) in a.iter().enumerate() {
                    let want = matches!(c, b' ' | b'"' | b'\\');
                    assert_eq!(
                        m >> (8 * k) & 0xff,
                        if want { 0x80 } else { 0 },
                        "{b} at {pos}"
                    );
                }
            }
        }
    }

    /// The definition, one line at a time.
    fn reference(line: &[u8]) -> Vec<u32> {
        let mut points = Vec::new();
        let (mut quoted, mut escaped) = (false, false);
        for (i, &b) in line.iter().enumerate() {
            if escaped {
                escaped = false;
                continue;
            }
            match b {
                b' ' if !quoted => points.push(i as u32),
                b'"' => quoted = !quoted,
                b'\\' if quoted => escaped = true,
                _ => {}
            }
        }
        points
    }

    #[test]
    fn split_points_follow_quotes_and_escapes() {
        // the second alphabet has few backslashes: most 64-byte windows
        // go the branch-free way
        let alphabets: [&[u8]; 2] = [b" \"\\ab=1x", b" \"ab=1xyz \"abc\\d "];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut lines: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"a b".to_vec(),
            br#"k="a b" c"#.to_vec(),
            br#"k="a \" b" c"#.to_vec(),
            br#"x \ y "\"#.to_vec(),
        ];
        // an escape as the last byte of a window, escaping the next
        // window's first byte (a quote, then a space)
        for escaped in [b'"', b' '] {
            let mut l = b"a \"".to_vec();
            l.resize(63, b'x');
            l.extend_from_slice(&[b'\\', escaped, b' ', b'y', b'"', b' ', b'z']);
            lines.push(l);
        }
        for r in 0..6000 {
            let alphabet = alphabets[r % 2];
            // mostly short lines, some over one or two windows
            let n = (next() % if r % 3 == 0 { 200 } else { 40 }) as usize;
            lines.push(
                (0..n)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect(),
            );
        }
        // the last line runs past the end of the buffer's last window
        lines.push([b"q \"a b\" ".as_slice(); 20].concat());
        let buf: Vec<u8> = lines.concat();
        let lens: Vec<u32> = lines.iter().map(|l| l.len() as u32).collect();
        let (counts, points) = split_points(&buf, &lens);
        let mut at = 0;
        for (line, count) in lines.iter().zip(&counts) {
            let want = reference(line);
            assert_eq!(
                *count,
                want.len() + 1,
                "{:?}",
                String::from_utf8_lossy(line)
            );
            assert_eq!(&points[at..at + want.len()], &want[..]);
            at += want.len();
        }
        assert_eq!(at, points.len());
    }

    #[test]
    fn window_masks_flag_exactly_their_bytes() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for r in 0..2000 {
            let w: Vec<u8> = (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // every byte value, and often the three wanted
                    if r % 2 == 0 {
                        (x >> 24) as u8
                    } else {
                        b" \"\\a"[(x % 4) as usize]
                    }
                })
                .collect();
            let want = [b' ', b'"', b'\\'].map(|c| {
                w.iter()
                    .enumerate()
                    .filter(|(_, &b)| b == c)
                    .fold(0u64, |m, (i, _)| m | 1 << i)
            });
            assert_eq!(masks64(&w), want);
            for (k, c) in w.chunks_exact(8).enumerate() {
                let word = u64::from_le_bytes(c.try_into().unwrap());
                assert_eq!(
                    gather_high_bits(byte_mask(word, b' ')),
                    want[0] >> (8 * k) & 0xff
                );
            }
        }
    }
}

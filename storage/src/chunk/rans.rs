//! A static order-0 rANS entropy coder for the small-alphabet streams of
//! field-layout blocks (token ids, byte planes): it codes each byte in
//! about its entropy, where zstd at low levels spends bits on short
//! matches and Huffman needs at least one bit per symbol.
//!
//! Layout: uvarint `k << 2 | mode`, then the frequency table (they sum to
//! 2^12) in one of three forms: mode 1, dense (the symbols are `0..k`):
//! `k - 1` uvarint frequencies, the last symbol's being what is left of
//! 2^12; mode 0, sparse: `k` × (symbol u8, uvarint frequency); mode 2,
//! quantized (symbols `0..k`): runs of equal *levels* (0 = absent, 1..=15 =
//! weight `WEIGHTS[level - 1]`), each a byte `level << 4 | min(run - 1,
//! 15)`, plus uvarint `run - 16` when that is 15; the weights are scaled
//! to 2^12 as `normalize` does. Quantized tables cost a few bytes where
//! exact ones cost one or two per symbol, for a small loss in coding
//! (the writer keeps the smaller). Then the coder bytes: the final 32-bit
//! state little-endian, followed by the renormalisation words (u16
//! little-endian) in the order the decoder reads them, at most one per
//! symbol (state lower bound 2^16).

use crate::error::{Error, Result};
use crate::varint::{put_uvarint, Reader};

const PROB_BITS: u32 = 12;
const M: u32 = 1 << PROB_BITS;
/// Lower bound of the coder state; renormalisation moves 16-bit words, at
/// most one per symbol, so the decoder needs no loop.
const L: u32 = 1 << 16;
/// Streams shorter than this decode by searching the cumulative
/// frequencies rather than through a table of `M` slots.
const SMALL_STREAM: usize = 1024;

/// How often each byte occurs in `raw`.
pub fn histogram(raw: &[u8]) -> [u64; 256] {
    let mut counts = [0u64; 256];
    for &b in raw {
        counts[usize::from(b)] += 1;
    }
    counts
}

/// Symbol weights of the quantized table levels 1..=15 (ratio ~1.8).
const WEIGHTS: [u64; 15] = [
    1, 2, 3, 6, 10, 19, 34, 61, 110, 198, 357, 643, 1157, 2082, 3748,
];

/// How a stream will be coded: its table bytes and frequencies, and about
/// how many bytes [`encode_planned`] writes.
pub struct Plan {
    table: Vec<u8>,
    freq: [u32; 256],
    pub bytes: usize,
}

/// The symbols present in a histogram, ascending: the loops of [`plan`]
/// visit these only (a column of ids holds a handful of the 256).
struct Present {
    syms: [u8; 256],
    len: usize,
}

impl Present {
    fn of(counts: &[u64; 256]) -> Present {
        let mut syms = [0u8; 256];
        let mut len = 0;
        for (s, &c) in counts.iter().enumerate() {
            // branch-free: always write, advance past present symbols
            syms[len] = s as u8;
            len += usize::from(c > 0);
        }
        Present { syms, len }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.syms[..self.len].iter().map(|&s| usize::from(s))
    }
}

/// The present symbols' counts as floats: made once for the quantized
/// candidates, not once per candidate (a `u64` to `f64` conversion is a
/// dozen instructions here).
fn float_counts(counts: &[u64; 256], present: &Present) -> [f64; 256] {
    let mut out = [0.0; 256];
    for s in present.iter() {
        out[s] = counts[s] as f64;
    }
    out
}

/// Coded bytes of symbols with counts `count(s)` under `freq` (summed in
/// symbol order, as over all 256).
fn coded_bytes(count: impl Fn(usize) -> f64, freq: &[u32; 256], present: &Present) -> usize {
    let table = bits_table();
    let bits: f64 = present
        .iter()
        .map(|s| {
            let f = freq[s];
            count(s)
                * table
                    .get(f as usize)
                    .copied()
                    .unwrap_or_else(|| symbol_bits(f))
        })
        .sum();
    (bits / 8.0) as usize + 4
}

/// `log2(M / f)` for `f` in 0..=`M`, made once.
fn bits_table() -> &'static [f64] {
    static BITS: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    BITS.get_or_init(|| {
        (0..=M)
            .map(|f| (f64::from(M) / f64::from(f)).log2())
            .collect()
    })
}

/// `log2(M / f)`: the bits a symbol of frequency `f` (1..=`M`) costs,
/// from a table made once (the same values as computing it each time).
fn symbol_bits(f: u32) -> f64 {
    match bits_table().get(f as usize) {
        Some(&b) => b,
        None => (f64::from(M) / f64::from(f)).log2(),
    }
}

/// The exact table of `freq`, whose non-zero entries are `present`.
fn exact_table(freq: &[u32; 256], present: &Present) -> Vec<u8> {
    let k = present.len;
    let mut out = Vec::with_capacity(2 + 3 * k);
    if k > 0 && usize::from(present.syms[k - 1]) == k - 1 {
        // dense (ids 0..k): the frequencies of all but the last symbol
        put_uvarint(&mut out, (k as u64) << 2 | 1);
        for &f in &freq[..k - 1] {
            put_uvarint(&mut out, u64::from(f));
        }
    } else {
        put_uvarint(&mut out, (k as u64) << 2);
        for s in present.iter() {
            out.push(s as u8);
            put_uvarint(&mut out, u64::from(freq[s]));
        }
    }
    out
}

/// Frequencies of quantized levels (0 = absent).
fn level_freqs(levels: &[u8]) -> [u32; 256] {
    let w = level_weights(levels);
    normalize(&w, &Present::of(&w))
}

/// The weights of quantized levels (0 = absent).
fn level_weights(levels: &[u8]) -> [u64; 256] {
    let mut w = [0u64; 256];
    for (w, &q) in w.iter_mut().zip(levels) {
        if q > 0 {
            *w = WEIGHTS[usize::from(q) - 1];
        }
    }
    w
}

/// The quantized table of `levels`.
fn level_table(levels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_uvarint(&mut out, (levels.len() as u64) << 2 | 2);
    let mut i = 0;
    while i < levels.len() {
        let q = levels[i];
        let run = levels[i..].iter().take_while(|&&x| x == q).count();
        out.push(q << 4 | (run - 1).min(15) as u8);
        if run > 15 {
            put_uvarint(&mut out, (run - 16) as u64);
        }
        i += run;
    }
    out
}

/// The cheapest of the exact table and two quantized ones (as measured,
/// and with neighbours one level apart merged into runs).
pub fn plan(counts: &[u64; 256]) -> Plan {
    let present = Present::of(counts);
    let freq = normalize(counts, &present);
    let table = exact_table(&freq, &present);
    let bytes = table.len() + coded_bytes(|s| counts[s] as f64, &freq, &present);
    let mut best = Plan { table, freq, bytes };
    if present.len <= 16 {
        return best;
    }
    let counts_f = float_counts(counts, &present);
    let cmax = present.iter().map(|s| counts[s]).max().unwrap_or(1) as f64;
    let alphabet = present.iter().last().map_or(0, |i| i + 1);
    let levels: Vec<u8> = counts[..alphabet]
        .iter()
        .map(|&c| {
            if c == 0 {
                0
            } else {
                let down = ((cmax / c as f64).ln() / 1.8f64.ln()).round();
                (15.0 - down).clamp(1.0, 15.0) as u8
            }
        })
        .collect();
    let mut smooth = levels.clone();
    let mut run_level = 0u8;
    for q in smooth.iter_mut() {
        if *q != 0 && run_level != 0 && q.abs_diff(run_level) <= 1 {
            *q = run_level;
        } else {
            run_level = *q;
        }
    }
    for l in [levels, smooth] {
        // the levels of exactly the present symbols are non-zero
        let freq = normalize(&level_weights(&l), &present);
        let table = level_table(&l);
        let bytes = table.len() + coded_bytes(|s| counts_f[s], &freq, &present);
        if bytes < best.bytes {
            best = Plan { table, freq, bytes };
        }
    }
    best
}

/// Symbol frequencies scaled to sum to `M`, each present symbol at least
/// 1; `present` are the non-zero `counts`.
fn normalize(counts: &[u64; 256], present: &Present) -> [u32; 256] {
    let total: u64 = present.iter().map(|s| counts[s]).sum::<u64>().max(1);
    let mut freq = [0u32; 256];
    let mut sum = 0u32;
    for s in present.iter() {
        freq[s] = ((counts[s] * u64::from(M) / total) as u32).max(1);
        sum += freq[s];
    }
    // hand the rounding difference to (or take it from) the largest (the
    // last of equals; with no symbol, the last slot)
    while sum != M {
        let i = present.iter().max_by_key(|&s| freq[s]).unwrap_or(255);
        if sum < M {
            freq[i] += M - sum;
            sum = M;
        } else {
            // the largest is > 1 here: 256 symbols of 1 sum to at most M
            let take = (sum - M).min(freq[i] - 1);
            freq[i] -= take;
            sum -= take;
        }
    }
    freq
}

/// Encodes `raw` (non-empty).
#[cfg(test)]
pub fn encode(raw: &[u8], out: &mut Vec<u8>) {
    encode_planned(raw, &plan(&histogram(raw)), out);
}

/// Encodes `raw` with the plan made from its histogram.
pub fn encode_planned(raw: &[u8], plan: &Plan, out: &mut Vec<u8>) {
    let freq = plan.freq;
    // x / f as a multiply: with m = ceil(2^48 / f) the error stays below
    // x / 2^48 < 2^-16 < 1 / f, so the quotient is exact for x < 2^32
    let mut recip = [0u64; 256];
    for (r, &f) in recip.iter_mut().zip(&freq) {
        if f > 0 {
            *r = (1u64 << 48).div_ceil(u64::from(f));
        }
    }
    let mut cum = [0u32; 256];
    let mut c = 0;
    for (cu, &f) in cum.iter_mut().zip(&freq) {
        *cu = c;
        c += f;
    }
    out.extend_from_slice(&plan.table);
    let mut words: Vec<u16> = Vec::with_capacity(raw.len() / 4 + 4);
    let mut x = L;
    for &b in raw.iter().rev() {
        let f = freq[usize::from(b)];
        // x < 2^32 and x_max >= 2^20: one shift brings x below x_max
        let x_max = (u64::from(L >> PROB_BITS) << 16) * u64::from(f);
        if u64::from(x) >= x_max {
            words.push(x as u16);
            x >>= 16;
        }
        let q = ((u128::from(x) * u128::from(recip[usize::from(b)])) >> 48) as u32;
        x = (q << PROB_BITS) + (x - q * f) + cum[usize::from(b)];
    }
    out.extend_from_slice(&x.to_le_bytes());
    for w in words.iter().rev() {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

/// After a decode step (the slot's frequency times the state's high part
/// plus the slot's offset in its symbol's range) the state is at least
/// 2^4, so one 16-bit word (`words` holds them little-endian) restores it
/// to `L` or more. Past the last word it reads 0; the caller checks that
/// exactly all words were used.
#[inline(always)]
fn renorm(x: u32, words: &[u8], pos: &mut usize) -> u32 {
    let need = x < L;
    let i = *pos * 2;
    let w = match words.get(i..i + 2) {
        Some(b) => u32::from(u16::from_le_bytes([b[0], b[1]])),
        None => 0,
    };
    *pos += usize::from(need);
    if need {
        x << 16 | w
    } else {
        x
    }
}

/// Slots per bucket of a searched table: `1 << BUCKET_BITS`.
const BUCKET_BITS: u32 = 6;
const BUCKETS: usize = (M >> BUCKET_BITS) as usize;

/// Per slot, packed: symbol (bits 24..32), frequency - 1 (bits 12..24)
/// and the slot's offset in its symbol's range (bits 0..12).
type Slots = [u32; M as usize];

/// How a stream's symbols are found.
enum Table {
    /// One symbol: the state never changes.
    One(u8),
    /// Cumulative start, symbol and frequency of each present symbol,
    /// searched (a short stream does not repay filling `Slots`) from the
    /// symbol that holds the first slot of the slot's bucket.
    Search(Vec<(u32, u32, u32)>, [u8; BUCKETS]),
    Slots(Box<Slots>),
}

/// A stream ready to decode.
struct Coder<'a> {
    x: u32,
    words: &'a [u8],
    pos: usize,
    table: Table,
}

/// The frequency table of a stream (sums to `M`) and the rest of it.
fn read_freqs<'a>(r: &mut Reader<'a>) -> Result<[u32; 256]> {
    let head = r.uvarint()?;
    let (k, mode) = (head >> 2, head & 3);
    if k == 0 || k > 256 || mode == 3 {
        return Err(r.err("bad symbol count"));
    }
    let mut freq = [0u32; 256];
    if mode == 2 {
        let mut levels = Vec::with_capacity(k as usize);
        while levels.len() < k as usize {
            let b = r.u8()?;
            let mut run = usize::from(b & 15) + 1;
            if run == 16 {
                run += usize::try_from(r.uvarint()?).unwrap_or(usize::MAX).min(256);
            }
            levels.extend(std::iter::repeat_n(b >> 4, run.min(256)));
        }
        if levels.len() != k as usize || levels.iter().all(|&q| q == 0) {
            return Err(r.err("bad quantized table"));
        }
        return Ok(level_freqs(&levels));
    }
    let mut c = 0u32;
    for i in 0..k {
        let (s, f) = if mode == 0 {
            (r.u8()?, r.uvarint()?)
        } else if i + 1 < k {
            (i as u8, r.uvarint()?)
        } else {
            (i as u8, u64::from(M.saturating_sub(c)))
        };
        if f == 0 || u64::from(c) + f > u64::from(M) || freq[usize::from(s)] != 0 {
            return Err(r.err("bad symbol frequency"));
        }
        freq[usize::from(s)] = f as u32;
        c += f as u32;
    }
    if c != M {
        return Err(r.err("frequencies do not sum to the total"));
    }
    Ok(freq)
}

impl<'a> Coder<'a> {
    /// Reads the header and tables of a stream of `n` symbols.
    fn new(buf: &'a [u8], n: usize) -> Result<Coder<'a>> {
        let mut r = Reader::new(buf, "rans stream");
        let freq = read_freqs(&mut r)?;
        let x = u32::from_le_bytes(
            r.take(4)?
                .try_into()
                .map_err(|_| Error::corrupt("rans stream", "short state"))?,
        );
        let words = r.take(buf.len() - r.pos())?;
        let table = if let Some(s) = freq.iter().position(|&f| f == M) {
            if !words.is_empty() || x != L {
                return Err(Error::corrupt("rans stream", "trailing or missing bytes"));
            }
            Table::One(s as u8)
        } else if words.len() % 2 != 0 {
            return Err(Error::corrupt("rans stream", "odd renormalisation bytes"));
        } else if n < SMALL_STREAM {
            let mut starts = Vec::with_capacity(256);
            let mut c = 0u32;
            for (s, &f) in freq.iter().enumerate() {
                if f != 0 {
                    starts.push((c, s as u32, f));
                    c += f;
                }
            }
            // per bucket of slots, the symbol its first slot belongs to
            // (at most 256 symbols: the index fits a byte)
            let mut buckets = [0u8; BUCKETS];
            let mut i = 0;
            for (b, first) in buckets.iter_mut().enumerate() {
                let slot = (b as u32) << BUCKET_BITS;
                while starts.get(i + 1).is_some_and(|&(c, _, _)| c <= slot) {
                    i += 1;
                }
                *first = i as u8;
            }
            Table::Search(starts, buckets)
        } else {
            // filled in order, not zeroed first: the frequencies sum to M
            let mut slots = Vec::with_capacity(M as usize);
            for (s, &f) in freq.iter().enumerate() {
                // f - 1 < M = 2^12 and j < f: both fit 12 bits
                let e = (s as u32) << 24 | f.saturating_sub(1) << 12;
                slots.extend((0..f).map(|j| e | j));
            }
            let slots: Box<Slots> = slots.into_boxed_slice().try_into().map_err(|_| {
                Error::corrupt("rans stream", "frequencies do not sum to the total")
            })?;
            Table::Slots(slots)
        };
        Ok(Coder {
            x,
            words,
            pos: 0,
            table,
        })
    }

    /// One symbol through the slot table.
    #[inline(always)]
    fn step(slots: &Slots, x: &mut u32, words: &[u8], pos: &mut usize) -> u8 {
        let e = slots[(*x & (M - 1)) as usize];
        let f = (e >> 12 & (M - 1)) + 1;
        *x = renorm(f * (*x >> PROB_BITS) + (e & (M - 1)), words, pos);
        (e >> 24) as u8
    }

    /// One symbol through a searched table.
    #[inline(always)]
    fn search(
        starts: &[(u32, u32, u32)],
        buckets: &[u8; BUCKETS],
        x: &mut u32,
        words: &[u8],
        pos: &mut usize,
    ) -> u8 {
        let slot = *x & (M - 1);
        // from the symbol of the bucket's first slot, on to the last
        // symbol starting at or before `slot`
        let mut i = usize::from(buckets[(slot >> BUCKET_BITS) as usize]);
        while let Some(&(c, _, _)) = starts.get(i + 1) {
            if c > slot {
                break;
            }
            i += 1;
        }
        // `i` is below `starts.len()`: buckets hold such indices and it
        // grows only onto an existing start
        let (c, s, f) = starts[i];
        *x = renorm(f * (*x >> PROB_BITS) + slot.wrapping_sub(c), words, pos);
        s as u8
    }

    /// One symbol through any table.
    #[inline(always)]
    fn step_any(table: &Table, x: &mut u32, words: &[u8], pos: &mut usize) -> u8 {
        match table {
            Table::One(s) => *s,
            Table::Search(starts, buckets) => Self::search(starts, buckets, x, words, pos),
            Table::Slots(slots) => Self::step(slots, x, words, pos),
        }
    }

    /// Decodes `out.len()` symbols (from where the coder stands).
    fn run(&mut self, out: &mut [u8]) {
        #[cfg(test)]
        SYMBOLS.with(|c| c.set(c.get() + out.len()));
        let (words, mut x, mut pos) = (self.words, self.x, self.pos);
        match &self.table {
            Table::One(s) => out.fill(*s),
            Table::Search(starts, buckets) => {
                for o in out.iter_mut() {
                    *o = Self::search(starts, buckets, &mut x, words, &mut pos);
                }
            }
            Table::Slots(slots) => {
                for o in out.iter_mut() {
                    *o = Self::step(slots, &mut x, words, &mut pos);
                }
            }
        }
        self.x = x;
        self.pos = pos;
    }

    /// Whether the coder ended where the encoder started.
    fn finish(&self) -> Result<()> {
        let used = match self.table {
            Table::One(_) => self.words.is_empty(),
            _ => self.pos * 2 == self.words.len(),
        };
        if !used || self.x != L {
            return Err(Error::corrupt("rans stream", "trailing or missing bytes"));
        }
        Ok(())
    }
}

/// Decodes `n` symbols.
pub fn decode(buf: &[u8], n: usize) -> Result<Vec<u8>> {
    let mut c = Coder::new(buf, n)?;
    let mut out = vec![0u8; n];
    c.run(&mut out);
    c.finish()?;
    Ok(out)
}

mod prefix;
pub use prefix::{decode_prefix, decode_prefixes, Prefix};

#[cfg(test)]
thread_local! {
    /// Symbols decoded by this thread (tests check that a prefix read
    /// decodes only a prefix).
    static SYMBOLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Symbols decoded by this thread so far.
#[cfg(test)]
pub fn symbols_decoded() -> usize {
    SYMBOLS.with(std::cell::Cell::get)
}

/// Decodes `N` streams (bytes and symbol count each), their steps
/// interleaved: each step waits on the one before it in its own stream
/// only, so several streams decode in little more than the time of one.
pub fn decode_many<const N: usize>(streams: [(&[u8], usize); N]) -> Result<[Vec<u8>; N]> {
    let mut coders = Vec::with_capacity(N);
    for (buf, n) in streams {
        coders.push(Coder::new(buf, n)?);
    }
    let mut outs: [Vec<u8>; N] = std::array::from_fn(|k| vec![0u8; streams[k].1]);
    let tables: Option<Vec<&Slots>> = coders
        .iter()
        .map(|c| match &c.table {
            Table::Slots(s) => Some(&**s),
            _ => None,
        })
        .collect();
    let mut done = 0;
    if let Some(tables) = tables {
        let tables: [&Slots; N] = std::array::from_fn(|k| tables[k]);
        let words: [&[u8]; N] = std::array::from_fn(|k| coders[k].words);
        let mut xs: [u32; N] = std::array::from_fn(|k| coders[k].x);
        let mut ps = [0usize; N];
        done = outs.iter().map(Vec::len).min().unwrap_or(0);
        for i in 0..done {
            for k in 0..N {
                let y = Coder::step(tables[k], &mut xs[k], words[k], &mut ps[k]);
                if let Some(o) = outs[k].get_mut(i) {
                    *o = y;
                }
            }
        }
        for (k, c) in coders.iter_mut().enumerate() {
            (c.x, c.pos) = (xs[k], ps[k]);
        }
        #[cfg(test)]
        SYMBOLS.with(|c| c.set(c.get() + done * N));
    }
    for (c, out) in coders.iter_mut().zip(outs.iter_mut()) {
        c.run(&mut out[done..]);
        c.finish()?;
    }
    Ok(outs)
}

/// [`decode_many`] of two streams.
#[cfg(test)]
pub fn decode_two(a: (&[u8], usize), b: (&[u8], usize)) -> Result<(Vec<u8>, Vec<u8>)> {
    let [x, y] = decode_many([a, b])?;
    Ok((x, y))
}

/// Whether a stream of `n` symbols gains from [`decode_two`].
pub fn pairs_well(n: usize) -> bool {
    n >= SMALL_STREAM
}

#[cfg(test)]
mod plan_tests;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn roundtrip(raw: &[u8]) -> usize {
        let mut out = Vec::new();
        encode(raw, &mut out);
        assert_eq!(decode(&out, raw.len()).unwrap(), raw);
        out.len()
    }

    /// The textbook coder: a division per step, a loop moving words out.
    fn reference_encode(raw: &[u8], plan: &Plan) -> Vec<u8> {
        let mut out = plan.table.clone();
        let mut words = Vec::new();
        let mut x = L;
        for &b in raw.iter().rev() {
            let f = plan.freq[usize::from(b)];
            let cum: u32 = plan.freq[..usize::from(b)].iter().sum();
            while u64::from(x) >= (u64::from(L >> PROB_BITS) << 16) * u64::from(f) {
                words.push(x as u16);
                x >>= 16;
            }
            x = ((x / f) << PROB_BITS) + x % f + cum;
        }
        out.extend_from_slice(&x.to_le_bytes());
        for w in words.iter().rev() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    #[test]
    fn the_encoder_writes_what_the_textbook_coder_writes() {
        let mut rng = crate::chunk::test_rng(0x9e37_79b9_7f4a_7c15);
        for r in 0..600 {
            // short and long streams, alphabets from one symbol to all 256,
            // skews from flat to one symbol in 1000
            let n = match r % 4 {
                0 => rng(40) as usize + 1,
                _ => rng(20_000) as usize + 1,
            };
            let alphabet = [1u64, 2, 5, 16, 17, 60, 256][r % 7];
            let skew = r % 3;
            let raw: Vec<u8> = (0..n)
                .map(|_| match skew {
                    0 => rng(alphabet) as u8,
                    1 if rng(1000) != 0 => 0,
                    _ => (rng(alphabet) * rng(16) / 16) as u8,
                })
                .collect();
            let mut want = [0u64; 256];
            for &b in &raw {
                want[usize::from(b)] += 1;
            }
            assert_eq!(histogram(&raw), want, "{n}");
            let plan = plan(&want);
            let mut got = Vec::new();
            encode_planned(&raw, &plan, &mut got);
            assert_eq!(got, reference_encode(&raw, &plan), "{r}: {n} symbols");
            assert_eq!(decode(&got, n).unwrap(), raw);
        }
    }

    #[test]
    fn symbol_bits_table_is_the_log() {
        for f in 1..=M {
            let want = (f64::from(M) / f64::from(f)).log2();
            assert_eq!(symbol_bits(f).to_bits(), want.to_bits(), "{f}");
        }
        assert_eq!(symbol_bits(M + 1), (f64::from(M) / f64::from(M + 1)).log2());
    }

    #[test]
    fn codes_near_the_entropy() {
        // 2 symbols at 30/70: 0.88 bits each
        let raw: Vec<u8> = (0..10_000u32)
            .map(|i| u8::from(i * 7919 % 10 < 3))
            .collect();
        let n = roundtrip(&raw);
        assert!(n < 10_000 * 90 / 800, "{n}");
        assert!(roundtrip(&[5; 1000]) < 12);
        let all: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        roundtrip(&all);
        roundtrip(&[1]);
    }

    #[test]
    fn short_and_long_streams_decode_alike() {
        // both decoders (cumulative search below SMALL_STREAM, slot table
        // from it on) across the boundary, for dense, skewed and sparse
        // alphabets
        for n in [
            2,
            17,
            SMALL_STREAM - 1,
            SMALL_STREAM,
            SMALL_STREAM + 1,
            4000,
        ] {
            for shape in 0..3u32 {
                let raw: Vec<u8> = (0..n as u32)
                    .map(|i| {
                        let h = i.wrapping_mul(2_654_435_761) >> 7;
                        match shape {
                            0 => h as u8,
                            1 => u8::from(h % 10 == 0) * 3,
                            _ => [7, 200, 201, 255][(h % 4) as usize],
                        }
                    })
                    .collect();
                roundtrip(&raw);
            }
        }
    }

    #[test]
    fn two_streams_decode_as_each_alone() {
        let mk = |n: usize, seed: u32, shape: u32| -> Vec<u8> {
            (0..n as u32)
                .map(|i| {
                    let h = (i ^ seed).wrapping_mul(2_654_435_761) >> 9;
                    match shape {
                        0 => h as u8,
                        1 => u8::from(h.is_multiple_of(7)),
                        _ => 9,
                    }
                })
                .collect()
        };
        let lens = [1, 500, SMALL_STREAM, 1500, 4000];
        for (i, &n) in lens.iter().enumerate() {
            for &m in &lens[i..] {
                for shape in 0..3 {
                    let (a, b) = (mk(n, 1, shape), mk(m, 2, (shape + 1) % 3));
                    let (mut ea, mut eb) = (Vec::new(), Vec::new());
                    encode(&a, &mut ea);
                    encode(&b, &mut eb);
                    let got = decode_two((&ea, a.len()), (&eb, b.len())).unwrap();
                    assert_eq!(got, (a.clone(), b.clone()), "{n} {m} {shape}");
                    let got = decode_two((&eb, b.len()), (&ea, a.len())).unwrap();
                    assert_eq!(got, (b.clone(), a.clone()));
                    // either one damaged or cut short is an error (a
                    // constant stream has no length of its own)
                    assert!(decode_two((&ea[..ea.len() - 1], a.len()), (&eb, b.len())).is_err());
                    if (shape + 1) % 3 != 2 && m > 1 {
                        assert!(decode_two((&ea, a.len()), (&eb, b.len() + 1)).is_err());
                    }
                }
            }
        }
    }

    /// Timing of one, two and four streams at a time (run by hand:
    /// `cargo test --release -p sluice-storage interleaved_timing -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn interleaved_timing() {
        let enc: Vec<(Vec<u8>, usize)> = (0..4u32)
            .map(|s| {
                let raw: Vec<u8> = (0..2000u32)
                    .map(|i| ((i ^ s).wrapping_mul(2_654_435_761) >> 13) as u8 % 40)
                    .collect();
                let mut e = Vec::new();
                encode(&raw, &mut e);
                (e, raw.len())
            })
            .collect();
        let best = |f: &dyn Fn()| {
            (0..7)
                .map(|_| {
                    let t = std::time::Instant::now();
                    for _ in 0..500 {
                        f();
                    }
                    t.elapsed()
                })
                .min()
                .unwrap()
        };
        let one = best(&|| {
            for (e, n) in &enc {
                std::hint::black_box(decode(e, *n).unwrap());
            }
        });
        let two = best(&|| {
            for p in enc.chunks(2) {
                std::hint::black_box(
                    decode_many([(&p[0].0[..], p[0].1), (&p[1].0[..], p[1].1)]).unwrap(),
                );
            }
        });
        let four = best(&|| {
            let e = &enc;
            std::hint::black_box(
                decode_many([
                    (&e[0].0[..], e[0].1),
                    (&e[1].0[..], e[1].1),
                    (&e[2].0[..], e[2].1),
                    (&e[3].0[..], e[3].1),
                ])
                .unwrap(),
            );
        });
        println!("one {one:?} two {two:?} four {four:?}");
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let mut out = Vec::new();
        encode(b"abcabcabd", &mut out);
        assert!(decode(&out[..out.len() - 1], 9).is_err());
        assert!(decode(&[], 1).is_err());
        assert!(decode(&[2, 7, 1, 0, 0, 0, 0], 1).is_err());
        let mut sparse = Vec::new();
        encode(b"zzzzay", &mut sparse);
        assert_eq!(decode(&sparse, 6).unwrap(), b"zzzzay");
    }
}

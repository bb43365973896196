//! Decoding the start of rANS streams: a newest-first block's backward
//! reads need only the first symbols of each stream (the coder simply
//! stops; whether it would have ended where the encoder started is known
//! only after all symbols, so a prefix is not checked for that). Several
//! prefixes decode interleaved, four at a time, as [`super::decode_many`]
//! does whole streams.

use super::{decode, Coder, Table};
use crate::error::{Error, Result};

/// Decodes the first `k` of a stream's `n` symbols.
pub fn decode_prefix(buf: &[u8], n: usize, k: usize) -> Result<Vec<u8>> {
    if k >= n {
        return decode(buf, n);
    }
    let mut p = Prefix::new(buf, n, k)?;
    let mut out = Vec::with_capacity(k);
    p.extend(&mut out, k)?;
    Ok(out)
}

/// A stream decoded a piece at a time, from its start: for streams of
/// varints, whose symbol count for a number of values is known only as
/// they are read.
pub struct Prefix<'a> {
    coder: Coder<'a>,
    /// Symbols in the stream, and decoded so far.
    n: usize,
    done: usize,
}

impl<'a> Prefix<'a> {
    /// A stream of `n` symbols of which about `hint` will be decoded (it
    /// picks the symbol lookup that suits that many).
    pub fn new(buf: &'a [u8], n: usize, hint: usize) -> Result<Prefix<'a>> {
        Ok(Prefix {
            coder: Coder::new(buf, hint.min(n))?,
            n,
            done: 0,
        })
    }

    /// Appends the next `k` symbols to `out`; past the stream's end is an
    /// error.
    pub fn extend(&mut self, out: &mut Vec<u8>, k: usize) -> Result<()> {
        if k > self.n - self.done {
            return Err(Error::corrupt("rans stream", "read past the last symbol"));
        }
        let at = out.len();
        out.resize(at + k, 0);
        self.coder.run(&mut out[at..]);
        self.done += k;
        if self.done == self.n {
            self.coder.finish()?;
        }
        Ok(())
    }

    /// Symbols not yet decoded.
    pub fn left(&self) -> usize {
        self.n - self.done
    }
}

/// Streams decoded together.
const LANES: usize = 4;

/// The first `k` of `n` symbols of each stream `(bytes, n, k)` (a whole
/// stream, checked, when `k >= n`), decoded four at a time with their
/// steps interleaved: each step waits only on the one before it in its
/// own stream.
pub fn decode_prefixes(streams: &[(&[u8], usize, usize)]) -> Result<Vec<Vec<u8>>> {
    let mut outs: Vec<Vec<u8>> = Vec::with_capacity(streams.len());
    let mut coders = Vec::with_capacity(streams.len());
    for &(buf, n, k) in streams {
        let k = k.min(n);
        coders.push(Coder::new(buf, k)?);
        outs.push(vec![0u8; k]);
    }
    // lanes of similar lengths together: longest first
    let mut order: Vec<usize> = (0..streams.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(outs[i].len()));
    for lane in order.chunks(LANES) {
        interleave(lane, &mut coders, &mut outs);
    }
    for (c, &(_, n, k)) in coders.iter().zip(streams) {
        if k >= n {
            c.finish()?;
        }
    }
    Ok(outs)
}

/// Decodes streams `lane` (at most `LANES`) into their `outs`, interleaved
/// up to the shortest, then each on its own.
fn interleave(lane: &[usize], coders: &mut [Coder], outs: &mut [Vec<u8>]) {
    let done = lane.iter().map(|&i| outs[i].len()).min().unwrap_or(0);
    if lane.len() < LANES || done == 0 {
        for &i in lane {
            coders[i].run(&mut outs[i]);
        }
        return;
    }
    let mut o: [Vec<u8>; LANES] = std::array::from_fn(|k| std::mem::take(&mut outs[lane[k]]));
    let tables: [&Table; LANES] = std::array::from_fn(|k| &coders[lane[k]].table);
    let words: [&[u8]; LANES] = std::array::from_fn(|k| coders[lane[k]].words);
    let mut xs: [u32; LANES] = std::array::from_fn(|k| coders[lane[k]].x);
    let mut ps: [usize; LANES] = std::array::from_fn(|k| coders[lane[k]].pos);
    for j in 0..done {
        for k in 0..LANES {
            let y = Coder::step_any(tables[k], &mut xs[k], words[k], &mut ps[k]);
            if let Some(b) = o[k].get_mut(j) {
                *b = y;
            }
        }
    }
    #[cfg(test)]
    super::SYMBOLS.with(|c| c.set(c.get() + done * LANES));
    for (k, &i) in lane.iter().enumerate() {
        (coders[i].x, coders[i].pos) = (xs[k], ps[k]);
        outs[i] = std::mem::take(&mut o[k]);
        coders[i].run(&mut outs[i][done..]);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::encode;
    use super::*;

    fn stream(n: u32, alpha: u32, seed: u32) -> (Vec<u8>, Vec<u8>) {
        let raw: Vec<u8> = (0..n)
            .map(|i| (((i ^ seed).wrapping_mul(2_654_435_761) >> 13) % alpha) as u8)
            .collect();
        let mut e = Vec::new();
        encode(&raw, &mut e);
        (raw, e)
    }

    #[test]
    fn prefixes_are_the_streams_starts() {
        let streams: Vec<(Vec<u8>, Vec<u8>)> = [
            (2000, 4),
            (2000, 256),
            (300, 40),
            (1, 3),
            (5000, 1),
            (2000, 17),
            (1500, 2),
        ]
        .iter()
        .enumerate()
        .map(|(s, &(n, a))| stream(n, a, s as u32))
        .collect();
        for k in [0usize, 1, 31, 256, 1024, 1999, 2000, 9000] {
            let reqs: Vec<(&[u8], usize, usize)> =
                streams.iter().map(|(r, e)| (&e[..], r.len(), k)).collect();
            let got = decode_prefixes(&reqs).unwrap();
            for ((raw, enc), g) in streams.iter().zip(&got) {
                let want = &raw[..k.min(raw.len())];
                assert_eq!(g, want, "k {k}");
                assert_eq!(decode_prefix(enc, raw.len(), k).unwrap(), want);
            }
        }
        // mixed lengths in one call
        let reqs: Vec<(&[u8], usize, usize)> = streams
            .iter()
            .enumerate()
            .map(|(i, (r, e))| (&e[..], r.len(), i * 300))
            .collect();
        for (i, ((raw, _), g)) in streams
            .iter()
            .zip(decode_prefixes(&reqs).unwrap())
            .enumerate()
        {
            assert_eq!(g, &raw[..(i * 300).min(raw.len())]);
        }
    }

    #[test]
    fn prefixes_decode_only_their_symbols_and_whole_streams_are_checked() {
        let (raw, enc) = stream(2000, 40, 7);
        let before = super::super::symbols_decoded();
        assert_eq!(decode_prefix(&enc, 2000, 100).unwrap(), &raw[..100]);
        assert_eq!(super::super::symbols_decoded() - before, 100);
        // a prefix of a damaged stream cannot tell; the whole stream can
        let cut = &enc[..enc.len() - 2];
        assert!(decode_prefixes(&[(cut, 2000, 2000)]).is_err());
        assert!(decode_prefix(cut, 2000, 2000).is_err());
        let mut p = Prefix::new(&enc, 2000, 10).unwrap();
        let mut out = Vec::new();
        p.extend(&mut out, 1500).unwrap();
        p.extend(&mut out, 500).unwrap();
        assert_eq!(out, raw);
        assert!(p.extend(&mut out, 1).is_err());
    }

    /// Time of prefix decoding, alone and four at a time (run by hand:
    /// `cargo test --release -p sluice-storage prefix_timing -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn prefix_timing() {
        for alpha in [4u32, 40, 256] {
            let s: Vec<(Vec<u8>, Vec<u8>)> = (0..4).map(|i| stream(2000, alpha, i)).collect();
            for k in [32usize, 256, 2000] {
                let t = std::time::Instant::now();
                for _ in 0..2000 {
                    for (_, e) in &s {
                        std::hint::black_box(decode_prefix(e, 2000, k).unwrap());
                    }
                }
                let one = t.elapsed() / 2000;
                let reqs: Vec<(&[u8], usize, usize)> =
                    s.iter().map(|(_, e)| (&e[..], 2000, k)).collect();
                let t = std::time::Instant::now();
                for _ in 0..2000 {
                    std::hint::black_box(decode_prefixes(&reqs).unwrap());
                }
                println!(
                    "alpha {alpha} k {k}: 4 alone {one:?}, interleaved {:?}",
                    t.elapsed() / 2000
                );
            }
        }
    }
}

//! A stream container read lazily: the headers parsed once, each stream
//! decoded on demand, in full or only its first bytes (newest-first
//! blocks read backward need only the start of each stream).

use super::{bad_stream, stream_heads, CODEC_RANS, CODEC_STORED, CODEC_ZSTD};
use crate::chunk::{codec, rans, Encoding};
use crate::error::{Error, Result};

/// A container whose streams are decoded one at a time, in full or only
/// their first symbols, as a reader finds out how much of each it needs.
pub struct Container<'a> {
    heads: Vec<(u8, usize, &'a [u8])>,
}

impl<'a> Container<'a> {
    /// Reads the stream headers of `buf`.
    pub fn parse(buf: &'a [u8]) -> Result<Container<'a>> {
        Ok(Container {
            heads: stream_heads(buf)?,
        })
    }

    /// Number of streams.
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    /// Raw length of stream `i`.
    pub fn raw_len(&self, i: usize) -> Result<usize> {
        self.heads
            .get(i)
            .map(|h| h.1)
            .ok_or_else(|| Error::corrupt("block streams", "missing stream"))
    }

    /// Stream `i`, decoded in full.
    pub fn get(&self, i: usize) -> Result<Vec<u8>> {
        self.prefix(i, usize::MAX)
    }

    /// The first `k` bytes of stream `i` (all of it when `k` is its
    /// length or more): a stored stream is sliced, a zstd one (small)
    /// decompressed whole, a rANS one decoded only that far.
    pub fn prefix(&self, i: usize, k: usize) -> Result<Vec<u8>> {
        let (c, raw, bytes) = *self
            .heads
            .get(i)
            .ok_or_else(|| Error::corrupt("block streams", "missing stream"))?;
        let k = k.min(raw);
        Ok(match c {
            CODEC_STORED if raw == bytes.len() => bytes[..k].to_vec(),
            CODEC_ZSTD => {
                let mut v = codec::decompress(Encoding::Zstd, bytes, raw)?;
                v.truncate(k);
                v
            }
            CODEC_RANS => rans::decode_prefix(bytes, raw, k)?,
            _ => return Err(bad_stream()),
        })
    }

    /// The first `k` bytes of each stream `(i, k)` ([`Container::prefix`]
    /// of each), rANS streams decoded four at a time.
    pub fn prefixes(&self, reqs: &[(usize, usize)]) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::with_capacity(reqs.len());
        let mut rans_reqs = Vec::new();
        let mut rans_at = Vec::new();
        for &(i, k) in reqs {
            match self.heads.get(i) {
                Some(&(CODEC_RANS, raw, bytes)) => {
                    rans_at.push(out.len());
                    rans_reqs.push((bytes, raw, k));
                    out.push(Vec::new());
                }
                _ => out.push(self.prefix(i, k)?),
            }
        }
        for (at, got) in rans_at.into_iter().zip(rans::decode_prefixes(&rans_reqs)?) {
            out[at] = got;
        }
        Ok(out)
    }

    /// The first bytes of stream `i` that hold `count` uvarints (all of
    /// it when it is not rANS-coded; fewer values when it ends first).
    pub fn uvarints(&self, i: usize, count: usize) -> Result<Vec<u8>> {
        let (c, raw, bytes) = *self
            .heads
            .get(i)
            .ok_or_else(|| Error::corrupt("block streams", "missing stream"))?;
        if count == 0 {
            return Ok(Vec::new());
        }
        if c != CODEC_RANS {
            return self.get(i);
        }
        let mut p = rans::Prefix::new(bytes, raw, count)?;
        let mut out = Vec::with_capacity(count);
        // every uvarint ends in one byte below 0x80: decode as many bytes
        // as values are missing, until none are (or the stream ends)
        let mut ends = 0;
        while ends < count && p.left() > 0 {
            let at = out.len();
            p.extend(&mut out, (count - ends).min(p.left()))?;
            ends += out[at..].iter().filter(|&&b| b < 0x80).count();
        }
        Ok(out)
    }
}

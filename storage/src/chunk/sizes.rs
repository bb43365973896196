//! Section 0 of field-layout blocks: timestamps (and, in format version 2,
//! line lengths) as a stream container (`streams.rs`), so count queries
//! read them without touching the lines.
//!
//! Streams: 0 a header (uvarint entry count, varint first timestamp, u8 `exp`, u8 timestamp
//! width, uvarint shortest line length, u8 length width); then `width`
//! byte planes of the timestamp deltas divided by `10^exp` (as in version
//! 1, see `block.rs`), then the byte planes of every line's length minus
//! the shortest. Each plane is coded on its own (rANS, zstd or stored), so
//! the nearly uniform low bytes of random deltas cost their 8 bits and a
//! stream's few line lengths about their entropy.
//!
//! Since format version 3 the length width is `DERIVED` and no length
//! planes follow: a line's length is fully determined by its tokens and
//! numbers (sections 2 and 3), so storing it cost ~0.5 byte per line for
//! nothing; readers that need lengths compute them from the fields.

use sluice_logql::source::EntrySize;

use super::streams::{read_streams, width_of, Container, StreamWriter};
use crate::error::{Error, Result};
use crate::varint::{put_uvarint, put_varint, Reader};

/// The first timestamp, the power of ten dividing every delta, and the
/// divided deltas (`ts` sorted, so they are >= 0).
pub fn deltas(ts: &[i64]) -> (i64, u8, Vec<u64>) {
    let first = ts.first().copied().unwrap_or(0);
    let deltas = ts
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]) as u64)
        .collect();
    scaled(first, deltas)
}

/// [`deltas`] of `ts` (sorted) read newest first: the last timestamp, and
/// the steps back from it, divided by their common power of ten.
fn deltas_back(ts: &[i64]) -> (i64, u8, Vec<u64>) {
    let first = ts.last().copied().unwrap_or(0);
    let deltas = ts
        .windows(2)
        .rev()
        .map(|w| w[1].wrapping_sub(w[0]) as u64)
        .collect();
    scaled(first, deltas)
}

/// `first`, the largest power of ten (up to 10^9) dividing every delta,
/// and the deltas divided by it.
fn scaled(first: i64, deltas: Vec<u64>) -> (i64, u8, Vec<u64>) {
    let mut exp = 9u8;
    while exp > 0 && deltas.iter().any(|d| d % 10u64.pow(u32::from(exp)) != 0) {
        exp -= 1;
    }
    let div = 10u64.pow(u32::from(exp));
    let vals = if div == 1 {
        deltas
    } else {
        deltas.iter().map(|d| d / div).collect()
    };
    (first, exp, vals)
}

/// The order a section holds its timestamps in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// The first timestamp, then each step forward (formats 2 to 4).
    OldestFirst,
    /// The last timestamp, then each step back (format 5, newest-first
    /// blocks): a backward read decodes only the planes' starts.
    NewestFirst,
}

/// Adds the `width` byte planes of `vals` as symbol streams.
fn add_planes(w: &mut StreamWriter, vals: &[u64], width: u8, level: i32) -> Result<()> {
    let mut plane = Vec::with_capacity(vals.len());
    for p in 0..width {
        plane.clear();
        plane.extend(vals.iter().map(|v| (v >> (8 * p)) as u8));
        w.add_symbols(&plane, level)?;
    }
    Ok(())
}

/// Length width marking a section without length planes (format 3).
const DERIVED: u8 = 0xff;

/// Encodes the section for entries with timestamps `ts` (sorted) in
/// `order` and, when given, line lengths `lens` (format 2, oldest first
/// only; format 3 on writes `None`); empty for no entries.
pub fn write(ts: &[i64], lens: Option<&[u32]>, order: Order, level: i32) -> Result<Vec<u8>> {
    if ts.is_empty() {
        return Ok(Vec::new());
    }
    if lens.is_some() && order == Order::NewestFirst {
        return Err(Error::corrupt(
            "block timestamps",
            "line lengths are stored oldest first only".to_string(),
        ));
    }
    let (first, exp, vals) = match order {
        Order::OldestFirst => deltas(ts),
        Order::NewestFirst => deltas_back(ts),
    };
    let width = width_of(vals.iter().copied().max().unwrap_or(0));
    let min = lens.and_then(|l| l.iter().copied().min()).unwrap_or(0);
    let lens: Option<Vec<u64>> = lens.map(|l| l.iter().map(|&l| u64::from(l - min)).collect());
    let len_width = match &lens {
        Some(l) => width_of(l.iter().copied().max().unwrap_or(0)),
        None => DERIVED,
    };
    let mut head = Vec::with_capacity(20);
    put_uvarint(&mut head, ts.len() as u64);
    put_varint(&mut head, first);
    head.push(exp);
    head.push(width);
    put_uvarint(&mut head, u64::from(min));
    head.push(len_width);
    let mut w = StreamWriter::default();
    w.add(&head, level)?;
    add_planes(&mut w, &vals, width, level)?;
    if let Some(lens) = &lens {
        add_planes(&mut w, lens, len_width, level)?;
    }
    Ok(w.finish())
}

/// The timestamps of a section and, when it stores them, the line lengths.
pub struct Sizes {
    pub ts: Vec<i64>,
    pub lens: Option<Vec<u32>>,
}

impl Sizes {
    /// Entry sizes; without stored lengths, `lens` must be given (computed
    /// from the fields), else lengths are 0.
    pub fn entries(&self, lens: Option<&[u32]>) -> Vec<EntrySize> {
        let lens = lens.or(self.lens.as_deref());
        self.ts
            .iter()
            .enumerate()
            .map(|(i, &ts)| EntrySize {
                ts,
                len: lens.and_then(|l| l.get(i).copied()).unwrap_or(0),
            })
            .collect()
    }
}

/// A section's header (stream 0).
struct Head {
    first: i64,
    /// The deltas' divisor, `10^exp`.
    div: i64,
    /// Planes of the deltas, and of the stored line lengths (0: derived).
    width: usize,
    len_width: usize,
    /// Whether line lengths are stored (format 2), and the shortest.
    stored: bool,
    min: u32,
}

impl Head {
    fn read(head: &[u8], n: usize, order: Order) -> Result<Head> {
        let mut r = Reader::new(head, "block timestamps");
        if r.uvarint()? != n as u64 {
            return Err(r.err("entry count differs from the block index"));
        }
        let first = r.varint()?;
        let exp = r.u8()?;
        let width = usize::from(r.u8()?);
        let min = u32::try_from(r.uvarint()?).map_err(|_| r.err("line length too large"))?;
        let len_byte = r.u8()?;
        let stored = len_byte != DERIVED;
        let len_width = if stored { usize::from(len_byte) } else { 0 };
        if exp > 18
            || width > 8
            || len_width > 4
            || (!stored && min != 0)
            || (stored && order == Order::NewestFirst)
            || !r.is_empty()
        {
            return Err(r.err("bad timestamp encoding"));
        }
        Ok(Head {
            first,
            div: 10i64.pow(u32::from(exp)),
            width,
            len_width,
            stored,
            min,
        })
    }

    /// The first `k + 1` timestamps in stored order, from the first `k`
    /// bytes of each delta plane: the header's, then one per delta,
    /// stepping back from it when `back`.
    fn stamps(&self, planes: &[impl AsRef<[u8]>], k: usize, back: bool) -> Vec<i64> {
        // plane by plane: loops the compiler vectorises
        let mut deltas = vec![0u64; k];
        for (p, plane) in planes.iter().enumerate() {
            for (d, &b) in deltas.iter_mut().zip(plane.as_ref()) {
                *d |= u64::from(b) << (8 * p);
            }
        }
        let mut ts = Vec::with_capacity(k + 1);
        let mut t = self.first;
        ts.push(t);
        for d in deltas {
            let step = (d as i64).wrapping_mul(self.div);
            t = if back {
                t.wrapping_sub(step)
            } else {
                t.wrapping_add(step)
            };
            ts.push(t);
        }
        ts
    }
}

/// Reads `n` entries' timestamps, oldest first whatever the section's
/// `order`, and line lengths (`None` when the section does not store
/// them).
pub fn read(buf: &[u8], n: usize, order: Order) -> Result<Sizes> {
    let bad = |why: &str| Error::corrupt("block timestamps", why.to_string());
    if n == 0 {
        return if buf.is_empty() {
            Ok(Sizes {
                ts: Vec::new(),
                lens: Some(Vec::new()),
            })
        } else {
            Err(bad("timestamps without entries"))
        };
    }
    let streams = read_streams(buf)?;
    let h = Head::read(streams.first().map_or(&[][..], |s| s), n, order)?;
    if streams.len() != 1 + h.width + h.len_width {
        return Err(bad("wrong number of planes"));
    }
    let ts_planes = &streams[1..1 + h.width];
    let len_planes = &streams[1 + h.width..];
    if ts_planes.iter().any(|p| p.len() != n - 1) || len_planes.iter().any(|p| p.len() != n) {
        return Err(bad("planes of the wrong length"));
    }
    let ts = match order {
        Order::OldestFirst => h.stamps(ts_planes, n - 1, false),
        Order::NewestFirst => {
            let mut ts = h.stamps(ts_planes, n - 1, true);
            ts.reverse();
            ts
        }
    };
    if !h.stored {
        return Ok(Sizes { ts, lens: None });
    }
    let mut lens = vec![0u32; n];
    for (p, plane) in len_planes.iter().enumerate() {
        for (l, &b) in lens.iter_mut().zip(plane) {
            *l |= u32::from(b) << (8 * p);
        }
    }
    for l in lens.iter_mut() {
        *l = l
            .checked_add(h.min)
            .ok_or_else(|| bad("line length too large"))?;
    }
    Ok(Sizes {
        ts,
        lens: Some(lens),
    })
}

/// The `k` newest of `n` timestamps (all when `k >= n`), newest first, of
/// a section written newest first: only the start of each plane is
/// decoded.
pub fn read_newest(buf: &[u8], n: usize, k: usize) -> Result<Vec<i64>> {
    let bad = |why: &str| Error::corrupt("block timestamps", why.to_string());
    if n == 0 {
        return match buf.is_empty() {
            true => Ok(Vec::new()),
            false => Err(bad("timestamps without entries")),
        };
    }
    let k = k.clamp(1, n);
    let c = Container::parse(buf)?;
    let h = Head::read(&c.get(0)?, n, Order::NewestFirst)?;
    if c.len() != 1 + h.width {
        return Err(bad("wrong number of planes"));
    }
    let mut reqs = Vec::with_capacity(h.width);
    for i in 1..=h.width {
        if c.raw_len(i)? != n - 1 {
            return Err(bad("planes of the wrong length"));
        }
        reqs.push((i, k - 1));
    }
    let planes = c.prefixes(&reqs)?;
    if planes.iter().any(|p| p.len() != k - 1) {
        return Err(bad("planes of the wrong length"));
    }
    Ok(h.stamps(&planes, k - 1, true))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn sizes_roundtrip() {
        for (ts, lens) in [
            (vec![5i64], vec![0u32]),
            (vec![-3, 7, 7, 1_000_000_007], vec![3, 0, 70_000, 12]),
            (
                (0..3000).map(|i| i * 1_000_000_000).collect(),
                (0..3000).map(|i| 100 + i % 37).collect(),
            ),
            (vec![i64::MIN, i64::MAX], vec![u32::MAX, 1]),
        ] {
            let buf = write(&ts, Some(&lens), Order::OldestFirst, 1).unwrap();
            let got = read(&buf, ts.len(), Order::OldestFirst).unwrap();
            assert_eq!(got.ts, ts);
            assert_eq!(got.lens.as_ref(), Some(&lens));
            assert!(read(&buf, ts.len() + 1, Order::OldestFirst).is_err());
            assert!(read(&buf[..buf.len() - 1], ts.len(), Order::OldestFirst).is_err());
            // format 3: timestamps only, smaller
            let short = write(&ts, None, Order::OldestFirst, 1).unwrap();
            assert!(short.len() <= buf.len());
            let got = read(&short, ts.len(), Order::OldestFirst).unwrap();
            assert_eq!(got.ts, ts);
            assert!(got.lens.is_none());
            assert!(read(&short, ts.len() + 1, Order::OldestFirst).is_err());
            assert!(read(&short[..short.len() - 1], ts.len(), Order::OldestFirst).is_err());
        }
        assert!(write(&[], None, Order::OldestFirst, 1).unwrap().is_empty());
    }

    #[test]
    fn newest_first_sections_read_whole_or_from_the_newest() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut cases: Vec<Vec<i64>> = vec![
            vec![5],
            vec![7, 7, 7],
            vec![-3, 7, 7, 1_000_000_007],
            vec![i64::MIN, 0, i64::MAX],
            (0..3000).map(|i| i * 1_000_000_000).collect(),
        ];
        for n in [2, 33, 700, 4000] {
            let mut t = 1_700_000_000_000_000_000i64;
            cases.push(
                (0..n)
                    .map(|_| {
                        t += (next() % 5_000_000) as i64 * 1000;
                        t
                    })
                    .collect(),
            );
        }
        for ts in cases {
            let n = ts.len();
            let fwd = write(&ts, None, Order::OldestFirst, 1).unwrap();
            let back = write(&ts, None, Order::NewestFirst, 1).unwrap();
            // the same deltas in the other order: about the same bytes
            assert!(
                back.len() <= fwd.len() + 8,
                "{} vs {}",
                back.len(),
                fwd.len()
            );
            assert_eq!(read(&back, n, Order::NewestFirst).unwrap().ts, ts);
            let newest: Vec<i64> = ts.iter().rev().copied().collect();
            for k in [1, 2, 3, 31, 64, n - 1, n, n + 5] {
                let got = read_newest(&back, n, k).unwrap();
                assert_eq!(got, newest[..k.clamp(1, n)], "n {n} k {k}");
            }
            assert!(read_newest(&back, n + 1, 1).is_err());
            assert!(read(&back, n + 1, Order::NewestFirst).is_err());
            assert!(read_newest(&back[..back.len() - 1], n, n).is_err());
        }
        // lengths are never stored newest first
        assert!(write(&[1, 2], Some(&[3, 4]), Order::NewestFirst, 1).is_err());
        let with_lens = write(&[1, 2], Some(&[3, 4]), Order::OldestFirst, 1).unwrap();
        assert!(read(&with_lens, 2, Order::NewestFirst).is_err());
        assert!(read_newest(&with_lens, 2, 1).is_err());
    }
}

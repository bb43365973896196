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

use super::streams::{read_streams, width_of, StreamWriter};
use crate::error::{Error, Result};
use crate::varint::{put_uvarint, put_varint, Reader};

/// The first timestamp, the power of ten dividing every delta, and the
/// divided deltas (`ts` sorted, so they are >= 0).
pub fn deltas(ts: &[i64]) -> (i64, u8, Vec<u64>) {
    let first = ts.first().copied().unwrap_or(0);
    let deltas: Vec<u64> = ts
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]) as u64)
        .collect();
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

/// Encodes the section for entries with timestamps `ts` (sorted) and, when
/// given, line lengths `lens` (format 2; format 3 writes `None`); empty for
/// no entries.
pub fn write(ts: &[i64], lens: Option<&[u32]>, level: i32) -> Result<Vec<u8>> {
    if ts.is_empty() {
        return Ok(Vec::new());
    }
    let (first, exp, vals) = deltas(ts);
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

/// Reads `n` entries' timestamps and line lengths (`None` when the section
/// does not store them).
pub fn read(buf: &[u8], n: usize) -> Result<Sizes> {
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
    let mut r = Reader::new(streams.first().map_or(&[][..], |s| s), "block timestamps");
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
    if exp > 18 || width > 8 || len_width > 4 || (!stored && min != 0) || !r.is_empty() {
        return Err(r.err("bad timestamp encoding"));
    }
    if streams.len() != 1 + width + len_width {
        return Err(bad("wrong number of planes"));
    }
    let ts_planes = &streams[1..1 + width];
    let len_planes = &streams[1 + width..];
    if ts_planes.iter().any(|p| p.len() != n - 1) || len_planes.iter().any(|p| p.len() != n) {
        return Err(bad("planes of the wrong length"));
    }
    let div = 10i64.pow(u32::from(exp));
    // plane by plane: loops the compiler vectorises
    let mut deltas = vec![0u64; n - 1];
    for (p, plane) in ts_planes.iter().enumerate() {
        for (d, &b) in deltas.iter_mut().zip(plane) {
            *d |= u64::from(b) << (8 * p);
        }
    }
    let mut ts = Vec::with_capacity(n);
    let mut t = first;
    ts.push(t);
    for d in deltas {
        t = t.wrapping_add((d as i64).wrapping_mul(div));
        ts.push(t);
    }
    if !stored {
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
            .checked_add(min)
            .ok_or_else(|| bad("line length too large"))?;
    }
    Ok(Sizes {
        ts,
        lens: Some(lens),
    })
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
            let buf = write(&ts, Some(&lens), 1).unwrap();
            let got = read(&buf, ts.len()).unwrap();
            assert_eq!(got.ts, ts);
            assert_eq!(got.lens.as_ref(), Some(&lens));
            assert!(read(&buf, ts.len() + 1).is_err());
            assert!(read(&buf[..buf.len() - 1], ts.len()).is_err());
            // format 3: timestamps only, smaller
            let short = write(&ts, None, 1).unwrap();
            assert!(short.len() <= buf.len());
            let got = read(&short, ts.len()).unwrap();
            assert_eq!(got.ts, ts);
            assert!(got.lens.is_none());
            assert!(read(&short, ts.len() + 1).is_err());
            assert!(read(&short[..short.len() - 1], ts.len()).is_err());
        }
        assert!(write(&[], None, 1).unwrap().is_empty());
    }
}

//! Reading number columns (`write_numbers`): whole, or the first values
//! of each column from the starts of its planes.

use super::{read_streams, Container, MAX_STREAM, MODE_DELTA, MODE_DICT, MODE_FIRST, MODE_PLAIN};
use crate::error::{Error, Result};
use crate::varint::{unzigzag, Reader};

/// A number column's header.
struct NumHead {
    /// Values in the column.
    k: usize,
    mode: u8,
    /// Dictionary mode: the values.
    dict: Vec<u64>,
    /// Mode 3: the first value, kept apart.
    first: Option<u64>,
    width: u8,
}

impl NumHead {
    /// Plane streams the column takes.
    fn planes(&self) -> usize {
        match self.mode {
            MODE_DICT => usize::from(self.dict.len() > 1),
            _ => usize::from(self.width),
        }
    }

    /// Values in each of its planes.
    fn plane_len(&self) -> usize {
        self.k - usize::from(self.first.is_some())
    }

    /// Its first `take` values (at most `k`) from the starts of its
    /// planes (each at least `take` long, less the first value).
    fn values(&self, take: usize, planes: &[&[u8]]) -> Result<Vec<u64>> {
        let short = || Error::corrupt("line numbers", "number plane of the wrong length");
        if self.mode == MODE_DICT {
            return match (self.dict.as_slice(), planes.first()) {
                ([v], _) => Ok(vec![*v; take]),
                ([], _) => Ok(Vec::new()),
                (dict, Some(ids)) => ids
                    .get(..take)
                    .ok_or_else(short)?
                    .iter()
                    .map(|&i| dict.get(usize::from(i)).copied())
                    .collect::<Option<Vec<u64>>>()
                    .ok_or_else(|| Error::corrupt("line numbers", "dictionary id out of range")),
                _ => Err(short()),
            };
        }
        let skip = usize::from(self.first.is_some());
        let tp = take.saturating_sub(skip);
        let mut vals = vec![0u64; tp];
        for (p, plane) in planes.iter().enumerate() {
            for (v, &b) in vals.iter_mut().zip(plane.get(..tp).ok_or_else(short)?) {
                *v |= u64::from(b) << (8 * p);
            }
        }
        if self.mode != MODE_PLAIN {
            let mut prev = self.first.unwrap_or(0);
            for v in &mut vals {
                prev = (prev as i64).wrapping_add(unzigzag(*v)) as u64;
                *v = prev;
            }
        }
        Ok(match self.first {
            Some(f) if take > 0 => std::iter::once(f).chain(vals).collect(),
            _ => vals,
        })
    }
}

/// The column headers of a number section's stream 0.
fn number_heads(head: &[u8]) -> Result<Vec<NumHead>> {
    let mut r = Reader::new(head, "line numbers");
    let n = r.count(2)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let k = usize::try_from(r.uvarint()?).map_err(|_| r.err("column too long"))?;
        if k > MAX_STREAM {
            return Err(r.err("column too long"));
        }
        let mode = r.u8()?;
        let mut h = NumHead {
            k,
            mode,
            dict: Vec::new(),
            first: None,
            width: 0,
        };
        match mode {
            MODE_DICT => {
                let d = r.count(1)?;
                for _ in 0..d {
                    h.dict.push(r.uvarint()?);
                }
                if d == 0 && k > 0 {
                    return Err(r.err("empty dictionary"));
                }
            }
            MODE_PLAIN | MODE_DELTA | MODE_FIRST => {
                if mode == MODE_FIRST {
                    if k == 0 {
                        return Err(r.err("empty column with a first value"));
                    }
                    h.first = Some(r.uvarint()?);
                }
                h.width = r.u8()?;
                if h.width > 8 {
                    return Err(r.err("bad plane width"));
                }
            }
            _ => return Err(r.err("unknown number column mode")),
        }
        out.push(h);
    }
    if !r.is_empty() {
        return Err(r.err("trailing bytes in number header"));
    }
    Ok(out)
}

/// Reads what [`write_numbers`] wrote.
pub fn read_numbers(buf: &[u8]) -> Result<Vec<Vec<u64>>> {
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let streams = read_streams(buf)?;
    let (head, planes) = streams
        .split_first()
        .ok_or_else(|| Error::corrupt("line numbers", "missing header"))?;
    let heads = number_heads(head)?;
    let mut next = 0;
    let mut cols = Vec::with_capacity(heads.len());
    for h in &heads {
        let mine: Vec<&[u8]> = planes
            .get(next..next + h.planes())
            .ok_or_else(|| Error::corrupt("line numbers", "missing number plane"))?
            .iter()
            .map(|p| &p[..])
            .collect();
        next += h.planes();
        if mine.iter().any(|p| p.len() != h.plane_len()) {
            return Err(Error::corrupt(
                "line numbers",
                "number plane of the wrong length",
            ));
        }
        cols.push(h.values(h.k, &mine)?);
    }
    if next != planes.len() {
        return Err(Error::corrupt("line numbers", "unused number planes"));
    }
    Ok(cols)
}

/// Every value of the columns `c` with `live[c]` of what [`write_numbers`]
/// wrote, and none of the others (their planes are not decoded).
pub fn read_numbers_live(buf: &[u8], live: &[bool]) -> Result<Vec<Vec<u64>>> {
    read_numbers_wanted(buf, |heads| {
        heads
            .iter()
            .zip(live.iter().chain(std::iter::repeat(&true)))
            .map(|(h, &l)| match l {
                true => u32::try_from(h.k).unwrap_or(u32::MAX),
                false => 0,
            })
            .collect()
    })
}

/// The first `want[c]` values of every column `c` of what
/// [`write_numbers`] wrote, decoding only the start of each plane (every
/// plane's length is still checked against its column's).
pub fn read_numbers_prefix(buf: &[u8], want: &[u32]) -> Result<Vec<Vec<u64>>> {
    read_numbers_wanted(buf, |_| want.to_vec())
}

/// [`read_numbers_prefix`] with the counts `want` gives for the columns'
/// headers.
fn read_numbers_wanted(
    buf: &[u8],
    want: impl FnOnce(&[NumHead]) -> Vec<u32>,
) -> Result<Vec<Vec<u64>>> {
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let c = Container::parse(buf)?;
    let heads = number_heads(&c.get(0)?)?;
    let want = want(&heads);
    if heads.len() != want.len() {
        return Err(Error::corrupt(
            "line numbers",
            "number column count differs from the tokens",
        ));
    }
    // (stream, bytes) of every plane, in column order
    let mut reqs = Vec::new();
    for (h, &w) in heads.iter().zip(&want) {
        let take = w as usize;
        if take > h.k {
            return Err(Error::corrupt("line numbers", "number column too short"));
        }
        let tp = take.saturating_sub(usize::from(h.first.is_some()));
        for _ in 0..h.planes() {
            let i = reqs.len() + 1;
            if i >= c.len() {
                return Err(Error::corrupt("line numbers", "missing number plane"));
            }
            if c.raw_len(i)? != h.plane_len() {
                return Err(Error::corrupt(
                    "line numbers",
                    "number plane of the wrong length",
                ));
            }
            reqs.push((i, tp));
        }
    }
    if reqs.len() + 1 != c.len() {
        return Err(Error::corrupt("line numbers", "unused number planes"));
    }
    // planes of columns none of whose values are wanted stay undecoded
    let todo: Vec<(usize, usize)> = reqs.iter().copied().filter(|r| r.1 > 0).collect();
    let mut got = c.prefixes(&todo)?.into_iter();
    let planes: Vec<Vec<u8>> = reqs
        .iter()
        .map(|r| match r.1 {
            0 => Vec::new(),
            _ => got.next().unwrap_or_default(),
        })
        .collect();
    let mut next = 0;
    let mut cols = Vec::with_capacity(heads.len());
    for (h, &w) in heads.iter().zip(&want) {
        let mine: Vec<&[u8]> = planes[next..next + h.planes()]
            .iter()
            .map(|p| &p[..])
            .collect();
        next += h.planes();
        cols.push(h.values(w as usize, &mine)?);
    }
    Ok(cols)
}

//! Metadata prediction (field layout): a structured-metadata value that
//! follows from one token of the line is not stored per entry. Loki's
//! distributor adds `detected_level` to every entry from the line's own
//! `level=info` or `"level": "warn"`, so on lines of one shape the value is
//! a function of one token column; the block stores that function as a
//! table (token id → value) instead of a value reference per entry.
//!
//! Layout (a stream of the metadata container): uvarint predictor count;
//! per predictor uvarint name id, u8 shape (`s + 1`, as in the shape ids),
//! uvarint column, uvarint table length (the column's dictionary size) and
//! per token uvarint `value id + 1` (0: no value seen with that token).

use std::collections::HashMap;

use super::fields::LineFields;
use crate::error::{Error, Result};
use crate::varint::{put_uvarint, Reader};

/// Entries a (name, shape) pair needs before a table pays for itself.
const MIN_ENTRIES: usize = 8;

/// The value of metadata name `name` on lines of shape `shape`, from
/// their token in column `col`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Predictor {
    pub name: u32,
    pub shape: u8,
    pub col: u32,
    /// Per token id: value id + 1, or 0.
    pub table: Vec<u32>,
}

impl Predictor {
    /// The predicted value id of `entry`, if its token has one.
    pub fn value(&self, lines: &LineFields, entry: usize) -> Option<u32> {
        let t = lines.token(entry, self.col as usize)?;
        let v = *self.table.get(t as usize)?;
        v.checked_sub(1)
    }
}

/// The predictor of `name` on lines of `shape`, if any.
pub fn lookup(preds: &[Predictor], name: u32, shape: u8) -> Option<&Predictor> {
    preds.iter().find(|p| p.name == name && p.shape == shape)
}

/// (entry, value id) pairs of one name on lines of one shape.
type Occurrences = Vec<(u32, u32)>;

/// Finds predictors for metadata occurrences `(entry, name id, value id)`
/// given in entry order.
pub fn find(occ: &[(u32, u32, u32)], lines: &LineFields) -> Vec<Predictor> {
    // (name, shape) → its (entry, value) pairs; None once a name repeats
    // within an entry (its values no longer follow from one token)
    let mut groups: HashMap<(u32, u8), Option<Occurrences>> = HashMap::new();
    for &(entry, name, value) in occ {
        let shape = lines.shape.get(entry as usize).copied().unwrap_or(0);
        if shape == 0 {
            continue;
        }
        let g = groups
            .entry((name, shape))
            .or_insert_with(|| Some(Vec::new()));
        if let Some(list) = g {
            if list.last().is_some_and(|&(e, _)| e == entry) {
                *g = None;
            } else {
                list.push((entry, value));
            }
        }
    }
    let mut keys: Vec<(u32, u8)> = groups.keys().copied().collect();
    keys.sort_unstable();
    let mut out = Vec::new();
    for (name, shape) in keys {
        let Some(Some(list)) = groups.get(&(name, shape)) else {
            continue;
        };
        if list.len() < MIN_ENTRIES {
            continue;
        }
        let Some(cols) = lines.cols.get(usize::from(shape) - 1) else {
            continue;
        };
        let mut best: Option<(u32, Vec<u32>)> = None;
        for (j, (size, _)) in cols.iter().enumerate() {
            if best.as_ref().is_some_and(|b| b.1.len() <= *size as usize) {
                continue;
            }
            if let Some(table) = table_for(list, lines, j, *size as usize) {
                best = Some((j as u32, table));
            }
        }
        if let Some((col, table)) = best {
            out.push(Predictor {
                name,
                shape,
                col,
                table,
            });
        }
    }
    out
}

/// The token → value table of column `col`, if the values are a function
/// of the tokens.
fn table_for(list: &[(u32, u32)], lines: &LineFields, col: usize, size: usize) -> Option<Vec<u32>> {
    let mut table = vec![0u32; size];
    for &(entry, value) in list {
        let t = lines.token(entry as usize, col)? as usize;
        let slot = table.get_mut(t)?;
        if *slot == 0 {
            *slot = value + 1;
        } else if *slot != value + 1 {
            return None;
        }
    }
    Some(table)
}

pub fn write(preds: &[Predictor]) -> Vec<u8> {
    let mut out = Vec::new();
    put_uvarint(&mut out, preds.len() as u64);
    for p in preds {
        put_uvarint(&mut out, u64::from(p.name));
        out.push(p.shape);
        put_uvarint(&mut out, u64::from(p.col));
        put_uvarint(&mut out, p.table.len() as u64);
        for &v in &p.table {
            put_uvarint(&mut out, u64::from(v));
        }
    }
    out
}

/// Reads predictors and checks them against the block's columns.
pub fn read(buf: &[u8], lines: &LineFields, names: usize) -> Result<Vec<Predictor>> {
    let mut r = Reader::new(buf, "block metadata predictors");
    let n = r.count(4)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let name = u32::try_from(r.uvarint()?).map_err(|_| r.err("name id too large"))?;
        let shape = r.u8()?;
        let col = u32::try_from(r.uvarint()?).map_err(|_| r.err("column too large"))?;
        let size = r.count(1)?;
        let want = usize::from(shape)
            .checked_sub(1)
            .and_then(|s| lines.cols.get(s))
            .and_then(|c| c.get(col as usize))
            .map(|c| c.0 as usize);
        if want != Some(size) || name as usize >= names {
            return Err(Error::corrupt(
                "block metadata predictors",
                "predictor does not match the block's columns",
            ));
        }
        let mut table = Vec::with_capacity(size);
        for _ in 0..size {
            table.push(u32::try_from(r.uvarint()?).map_err(|_| r.err("value id too large"))?);
        }
        out.push(Predictor {
            name,
            shape,
            col,
            table,
        });
    }
    if !r.is_empty() {
        return Err(r.err("trailing bytes"));
    }
    Ok(out)
}

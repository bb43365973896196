//! Reading layout 2 (field-layout blocks): every entry's pairs, or only
//! the first entries' (a newest-first block read backward), decoding the
//! start of the tuple-id and value-reference streams.

use super::{predict, read_strings, MetaTable};
use crate::chunk::fields::LineFields;
use crate::chunk::streams::{read_streams, Container};
use crate::error::{Error, Result};
use crate::varint::Reader;

fn bad(why: &str) -> Error {
    Error::corrupt("block metadata", why.to_string())
}

/// The dictionary, name tuples and predictors of a layout-2 section
/// (streams 0, 1, 2 and 4), which every entry's pairs refer to.
struct Layout2 {
    dict: Vec<String>,
    name_count: usize,
    tuples: Vec<Vec<u32>>,
    preds: Vec<predict::Predictor>,
}

impl Layout2 {
    fn read(streams: [&[u8]; 4], lines: &LineFields) -> Result<Layout2> {
        let [head, strings, table, preds] = streams;
        let (dict, name_count) = read_strings(head, strings, true)?;
        let mut t = Reader::new(table, "block metadata tuples");
        let tuple_count = t.count(1)?;
        let mut tuples = Vec::with_capacity(tuple_count);
        for _ in 0..tuple_count {
            let len = t.count(1)?;
            let mut tuple = Vec::with_capacity(len);
            for _ in 0..len {
                let id = usize::try_from(t.uvarint()?).unwrap_or(usize::MAX);
                if id >= name_count {
                    return Err(t.err("name id out of range"));
                }
                tuple.push(id as u32);
            }
            tuples.push(tuple);
        }
        if !t.is_empty() {
            return Err(t.err("trailing bytes"));
        }
        let preds = predict::read(preds, lines, name_count)?;
        Ok(Layout2 {
            dict,
            name_count,
            tuples,
            preds,
        })
    }

    /// The predicted value of `name` for `entry`, if it has one.
    fn predicted(&self, lines: &LineFields, entry: usize, name: u32) -> Option<u32> {
        let shape = lines.shape.get(entry).copied().unwrap_or(0);
        predict::lookup(&self.preds, name, shape).and_then(|p| p.value(lines, entry))
    }

    /// The name tuple of the next entry, by its id read from `ids`.
    fn next_tuple(&self, ids: &mut Reader) -> Result<&[u32]> {
        let id = usize::try_from(ids.uvarint()?).unwrap_or(usize::MAX);
        self.tuples
            .get(id)
            .map(Vec::as_slice)
            .ok_or_else(|| bad("tuple id out of range"))
    }

    /// Per name, the value references entries `0..n` (tuple ids `ids`)
    /// read: their pairs with that name that are not predicted.
    fn refs_needed(&self, ids: &[u8], n: usize, lines: &LineFields) -> Result<Vec<usize>> {
        let mut need = vec![0usize; self.name_count];
        let mut r = Reader::new(ids, "block metadata tuple ids");
        for entry in 0..n {
            for &name in self.next_tuple(&mut r)? {
                if self.predicted(lines, entry, name).is_none() {
                    need[name as usize] += 1;
                }
            }
        }
        Ok(need)
    }

    /// The table of entries `0..n` from their tuple ids `ids` and per
    /// name its value references `refs`; with `all`, these must be every
    /// entry and use up the streams and the values.
    fn table(
        self,
        ids: &[u8],
        refs: &[&[u8]],
        n: usize,
        lines: &LineFields,
        all: bool,
    ) -> Result<MetaTable> {
        let value_count = self.dict.len() - self.name_count;
        let mut ids = Reader::new(ids, "block metadata tuple ids");
        let mut refs: Vec<Reader> = refs
            .iter()
            .map(|s| Reader::new(s, "block metadata values"))
            .collect();
        let mut fresh = 0usize;
        let mut pairs = Vec::new();
        let mut starts = Vec::with_capacity(n + 1);
        for entry in 0..n {
            starts.push(pairs.len() as u32);
            for &name in self.next_tuple(&mut ids)? {
                let v = match self.predicted(lines, entry, name) {
                    Some(v) => {
                        let v = v as usize;
                        if v > fresh {
                            return Err(bad("predicted value used before its turn"));
                        }
                        if v == fresh {
                            fresh += 1;
                        }
                        v
                    }
                    None => {
                        let x = refs[name as usize].uvarint()?;
                        if x == 0 {
                            fresh += 1;
                            fresh - 1
                        } else {
                            usize::try_from(x - 1).unwrap_or(usize::MAX)
                        }
                    }
                };
                if v >= value_count {
                    return Err(bad("value id out of range"));
                }
                pairs.push((name, (self.name_count + v) as u32));
            }
        }
        starts.push(pairs.len() as u32);
        if all && (!ids.is_empty() || refs.iter().any(|r| !r.is_empty()) || fresh != value_count) {
            return Err(bad("unused metadata"));
        }
        Ok(MetaTable {
            dict: self.dict,
            refs: pairs,
            starts,
            keep: Vec::new(),
        })
    }
}

/// Reads layout 2. The table's dictionary is the names followed by the
/// values.
pub(super) fn read_fields(raw: &[u8], n: usize, lines: &LineFields) -> Result<MetaTable> {
    let streams = read_streams(raw)?;
    if streams.len() < 5 {
        return Err(bad("missing streams"));
    }
    let l = Layout2::read([&streams[0], &streams[1], &streams[2], &streams[4]], lines)?;
    if streams.len() != 5 + l.name_count {
        return Err(bad("one value stream per name expected"));
    }
    let refs: Vec<&[u8]> = streams[5..].iter().map(|s| &s[..]).collect();
    l.table(&streams[3], &refs, n, lines, true)
}

/// The metadata of the first `lines.len()` entries of a layout-2 section,
/// decoding only the start of the tuple ids and of each name's value
/// references (a prefix is not checked for using them up).
pub fn read_prefix(raw: &[u8], lines: &LineFields) -> Result<MetaTable> {
    let n = lines.shape.len();
    let c = Container::parse(raw)?;
    if c.len() < 5 {
        return Err(bad("missing streams"));
    }
    let (head, strings, table, preds) = (c.get(0)?, c.get(1)?, c.get(2)?, c.get(4)?);
    let l = Layout2::read([&head, &strings, &table, &preds], lines)?;
    if c.len() != 5 + l.name_count {
        return Err(bad("one value stream per name expected"));
    }
    let ids = c.uvarints(3, n)?;
    let need = l.refs_needed(&ids, n, lines)?;
    let refs = need
        .iter()
        .enumerate()
        .map(|(k, &m)| c.uvarints(5 + k, m))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&[u8]> = refs.iter().map(|s| &s[..]).collect();
    l.table(&ids, &refs, n, lines, false)
}

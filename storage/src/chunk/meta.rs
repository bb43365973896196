//! Structured metadata of a block: names and values in one dictionary per
//! block (first-appearance order; lowercase hex strings such as trace ids
//! stored as the bytes they spell), and per entry its pairs as ids.
//!
//! Layout 1 (blocks without `FLAG_FIELDS`): uvarint dictionary size, the
//! strings, then per entry uvarint pair count and per pair uvarint name id
//! and value id.
//!
//! Layout 2 (`FLAG_FIELDS`), a stream container (`streams.rs`): (0)
//! uvarint name count, uvarint value count, then the tag (`len << 1 |
//! hex`) of every name and then every value; (1) the bytes of those
//! strings; (2) the name tuples: uvarint count, per tuple uvarint length
//! and the name ids; (3) per entry the uvarint id of its tuple; then per
//! name a stream of value references: 0 for the first use of the next
//! value, else the value id + 1; stream 4 holds the predictors
//! (`predict.rs`): values that follow from a token of the line have no
//! reference. Names and values have their own
//! dictionaries; unique values (trace ids) cost their bytes only, and each
//! name's values are coded on their own (`detected_level` in its few
//! values, trace ids in nothing).

use std::collections::HashMap;

use super::codec;
use super::fields::LineFields;
use super::predict;
use super::streams::{IntMap, StreamWriter};
use crate::error::{Error, Result};
use crate::varint::{put_uvarint, Reader};

/// Collects the metadata of a block's entries: a dictionary of the
/// strings used (first-use order) and per entry its pairs as ids.
#[derive(Default)]
pub struct MetaBuilder {
    /// The dictionary's strings back to back, and where each ends (a
    /// string starts where the previous one ends): one allocation for all
    /// of them, however many unique values (trace ids) a block has.
    text: String,
    ends: Vec<usize>,
    /// Hash of a string → the first id with that hash (the string itself
    /// is kept once, in `text`).
    ids: IntMap<u64, u32>,
    counts: Vec<u32>,
    pairs: Vec<(u32, u32)>,
    /// Per interned set id (`push_set`): where the pairs of its first
    /// entry are in `pairs` (start, count), once seen.
    sets: Vec<Option<(u32, u32)>>,
}

impl MetaBuilder {
    pub fn new(entries: usize) -> Self {
        MetaBuilder {
            counts: Vec::with_capacity(entries),
            ..MetaBuilder::default()
        }
    }

    /// Dictionary string `id` (an id this builder handed out).
    fn dict(&self, id: usize) -> &str {
        let start = id.checked_sub(1).map_or(0, |p| self.ends[p]);
        // spans end where a whole string was appended: char boundaries
        self.text.get(start..self.ends[id]).unwrap_or("")
    }

    fn dict_len(&self) -> usize {
        self.ends.len()
    }

    fn id(&mut self, s: &str) -> u32 {
        let h = xxhash_rust::xxh3::xxh3_64(s.as_bytes());
        if let Some(&id) = self.ids.get(&h) {
            if self.dict(id as usize) == s {
                return id;
            }
            // a hash collision: search the whole dictionary
            if let Some(i) = (0..self.dict_len()).position(|d| self.dict(d) == s) {
                return i as u32;
            }
        }
        let id = self.ends.len() as u32;
        self.text.push_str(s);
        self.ends.push(self.text.len());
        self.ids.entry(h).or_insert(id);
        id
    }

    /// Adds the next entry's pairs, `md`, interned by the caller as set
    /// `set` (equal sets, equal ids): a set seen before copies its ids
    /// instead of looking its strings up again.
    pub fn push_set<'a>(&mut self, set: u32, md: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let s = set as usize;
        if let Some(&Some((start, count))) = self.sets.get(s) {
            let start = start as usize;
            self.counts.push(count);
            self.pairs.extend_from_within(start..start + count as usize);
            return;
        }
        let start = self.pairs.len() as u32;
        self.push(md);
        if self.sets.len() <= s {
            self.sets.resize(s + 1, None);
        }
        self.sets[s] = Some((start, self.pairs.len() as u32 - start));
    }

    /// Adds the next entry's pairs.
    pub fn push<'a>(&mut self, md: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let before = self.pairs.len();
        for (k, v) in md {
            let k = self.id(k);
            let v = self.id(v);
            self.pairs.push((k, v));
        }
        self.counts.push((self.pairs.len() - before) as u32);
    }

    /// The raw section (empty when no entry has metadata): layout 2 (a
    /// stream container that compresses its own streams) when the lines'
    /// token ids are given, else layout 1.
    pub fn finish(&self, fields: Option<&LineFields>) -> Result<Vec<u8>> {
        if self.pairs.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(lines) = fields {
            return self.finish_fields(lines);
        }
        let mut m =
            Vec::with_capacity(self.text.len() + 2 * self.ends.len() + 4 * self.pairs.len());
        put_uvarint(&mut m, self.dict_len() as u64);
        for d in 0..self.dict_len() {
            put_dict_string(&mut m, self.dict(d));
        }
        let mut pairs = self.pairs.iter();
        for &c in &self.counts {
            put_uvarint(&mut m, u64::from(c));
            for (k, v) in pairs.by_ref().take(c as usize) {
                put_uvarint(&mut m, u64::from(*k));
                put_uvarint(&mut m, u64::from(*v));
            }
        }
        Ok(m)
    }

    /// Layout 2 of the entries in reverse order, newest first (format 4),
    /// for `lines` in that order; empty when no entry has metadata.
    pub fn finish_reversed(&self, lines: &LineFields) -> Result<Vec<u8>> {
        if self.pairs.is_empty() {
            return Ok(Vec::new());
        }
        let mut counts = Vec::with_capacity(self.counts.len());
        let mut pairs = Vec::with_capacity(self.pairs.len());
        let mut end = self.pairs.len();
        for &c in self.counts.iter().rev() {
            // the counts add up to the pairs: `c <= end`
            let start = end.saturating_sub(c as usize);
            pairs.extend_from_slice(&self.pairs[start..end]);
            counts.push(c);
            end = start;
        }
        self.fields_section(&counts, &pairs, lines)
    }

    /// Layout 2: separate name and value dictionaries, per entry the id
    /// of its tuple of names, and per name a stream of value references.
    fn finish_fields(&self, lines: &LineFields) -> Result<Vec<u8>> {
        self.fields_section(&self.counts, &self.pairs, lines)
    }

    /// Layout 2 of entries with `counts` pairs each, `pairs` back to back.
    fn fields_section(
        &self,
        counts: &[u32],
        pairs: &[(u32, u32)],
        lines: &LineFields,
    ) -> Result<Vec<u8>> {
        let n = self.dict_len();
        let (mut name_of, mut value_of) = (vec![u32::MAX; n], vec![u32::MAX; n]);
        let (mut names, mut values): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
        let mut per_name: Vec<Vec<u8>> = Vec::new();
        let mut tuples: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut tuple_list: Vec<Vec<u32>> = Vec::new();
        let mut tuple_ids = Vec::with_capacity(counts.len());
        let mut key: Vec<u32> = Vec::new();
        let mut last: Option<(Vec<u32>, u32)> = None;
        // (entry, name id, value id) of every pair, ids in first-use order
        let mut occ: Vec<(u32, u32, u32)> = Vec::with_capacity(pairs.len());
        let mut pairs = pairs.iter();
        for (entry, &c) in counts.iter().enumerate() {
            key.clear();
            for &(k, v) in pairs.by_ref().take(c as usize) {
                let (k, v) = (k as usize, v as usize);
                if name_of[k] == u32::MAX {
                    name_of[k] = names.len() as u32;
                    names.push(self.dict(k));
                    per_name.push(Vec::new());
                }
                let name = name_of[k];
                key.push(name);
                if value_of[v] == u32::MAX {
                    value_of[v] = values.len() as u32;
                    values.push(self.dict(v));
                }
                occ.push((entry as u32, name, value_of[v]));
            }
            let id = match &mut last {
                Some((k, id)) if *k == key => *id,
                _ => {
                    let id = match tuples.get(&key) {
                        Some(&id) => id,
                        None => {
                            let id = tuple_list.len() as u32;
                            tuple_list.push(key.clone());
                            tuples.insert(key.clone(), id);
                            id
                        }
                    };
                    match &mut last {
                        Some((k, last_id)) => {
                            k.clone_from(&key);
                            *last_id = id;
                        }
                        None => last = Some((key.clone(), id)),
                    }
                    id
                }
            };
            put_uvarint(&mut tuple_ids, u64::from(id));
        }
        let preds = predict::find(&occ, lines);
        let mut seen = vec![false; values.len()];
        for &(entry, name, value) in &occ {
            let shape = lines.shape.get(entry as usize).copied().unwrap_or(0);
            let predicted = predict::lookup(&preds, name, shape)
                .and_then(|p| p.value(lines, entry as usize))
                .is_some();
            let v = value as usize;
            if !predicted {
                let refs = &mut per_name[name as usize];
                if seen[v] {
                    put_uvarint(refs, u64::from(value) + 1);
                } else {
                    refs.push(0);
                }
            }
            seen[v] = true;
        }
        let mut head = Vec::new();
        let mut bytes = Vec::new();
        put_uvarint(&mut head, names.len() as u64);
        put_uvarint(&mut head, values.len() as u64);
        let mut one = Vec::new();
        for s in names.iter().chain(&values) {
            one.clear();
            put_dict_string(&mut one, s);
            let mut r = Reader::new(&one, "");
            // reading back the tag just written cannot fail
            let tag = r.uvarint().unwrap_or(0);
            put_uvarint(&mut head, tag);
            bytes.extend_from_slice(&one[r.pos()..]);
        }
        let mut table = Vec::new();
        put_uvarint(&mut table, tuple_list.len() as u64);
        for t in &tuple_list {
            put_uvarint(&mut table, t.len() as u64);
            for &id in t {
                put_uvarint(&mut table, u64::from(id));
            }
        }
        let level = codec::ZSTD_COLUMN_LEVEL;
        let mut w = StreamWriter::default();
        w.add(&head, level)?;
        w.add(&bytes, level)?;
        w.add(&table, level)?;
        w.add_symbols(&tuple_ids, level)?;
        w.add(&predict::write(&preds), level)?;
        for refs in &per_name {
            w.add_symbols(refs, level)?;
        }
        Ok(w.finish())
    }
}

/// A block's structured metadata: the dictionary and, per entry, its
/// (name id, value id) pairs `refs[starts[i]..starts[i + 1]]`.
#[derive(Default)]
pub struct MetaTable {
    pub dict: Vec<String>,
    refs: Vec<(u32, u32)>,
    starts: Vec<u32>,
    /// Per dictionary id: whether a pair with that name is returned
    /// (empty: all are).
    pub keep: Vec<bool>,
}

impl MetaTable {
    /// Entry `i`'s pairs (ids were checked against the dictionary).
    pub fn pairs(&self, i: usize) -> Vec<(String, String)> {
        let (Some(&a), Some(&b)) = (self.starts.get(i), self.starts.get(i + 1)) else {
            return Vec::new();
        };
        self.refs[a as usize..b as usize]
            .iter()
            .filter(|&&(k, _)| self.keep.get(k as usize).is_none_or(|&keep| keep))
            .map(|&(k, v)| (self.dict[k as usize].clone(), self.dict[v as usize].clone()))
            .collect()
    }
}

/// Reads `n` entries' metadata from a raw section of either layout
/// (layout 2 when the lines' token ids are given).
pub fn read(raw: &[u8], n: usize, fields: Option<&LineFields>) -> Result<MetaTable> {
    if let Some(lines) = fields {
        return read_fields(raw, n, lines);
    }
    let mut r = Reader::new(raw, "block metadata");
    let dict_len = r.count(1)?;
    let mut dict = Vec::with_capacity(dict_len);
    for _ in 0..dict_len {
        dict.push(read_dict_string(&mut r)?);
    }
    let mut refs = Vec::new();
    let mut starts = Vec::with_capacity(n + 1);
    for _ in 0..n {
        starts.push(refs.len() as u32);
        let k = r.count(2)?;
        for _ in 0..k {
            let name = r.uvarint()?;
            let value = r.uvarint()?;
            if name >= dict.len() as u64 || value >= dict.len() as u64 {
                return Err(r.err("metadata id out of dictionary"));
            }
            refs.push((name as u32, value as u32));
        }
    }
    starts.push(refs.len() as u32);
    if !r.is_empty() {
        return Err(r.err("trailing bytes in metadata section"));
    }
    Ok(MetaTable {
        dict,
        refs,
        starts,
        keep: Vec::new(),
    })
}

/// The names of a layout-2 section (streams 0 and 1 only; no entry's
/// pairs decoded), so a reader that keeps none of them can skip the rest.
pub fn names(raw: &[u8]) -> Result<Vec<String>> {
    let streams = super::streams::read_streams_where(raw, |i| i < 2)?;
    let (Some(head), Some(strings)) = (streams.first(), streams.get(1)) else {
        return Err(Error::corrupt("block metadata", "missing streams"));
    };
    Ok(read_strings(head, strings, false)?.0)
}

/// The dictionary of a layout-2 section from its streams 0 (`head`) and 1
/// (`strings`): the names, then with `values` the values (both streams
/// then read to their end), and the name count.
fn read_strings(head: &[u8], strings: &[u8], values: bool) -> Result<(Vec<String>, usize)> {
    let mut h = Reader::new(head, "block metadata");
    let name_count = h.count(1)?;
    let value_count = h.count(1)?;
    let count = if values {
        name_count + value_count
    } else {
        name_count
    };
    let mut b = Reader::new(strings, "block metadata strings");
    let mut dict = Vec::with_capacity(count);
    for _ in 0..count {
        let tag = h.uvarint()?;
        dict.push(read_dict_bytes(&mut b, tag)?);
    }
    if values && (!h.is_empty() || !b.is_empty()) {
        return Err(Error::corrupt(
            "block metadata",
            "trailing bytes in metadata strings",
        ));
    }
    Ok((dict, name_count))
}

mod read2;

use read2::read_fields;
pub use read2::read_prefix;

fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.len().is_multiple_of(2)
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

fn hex_val(c: u8) -> u8 {
    if c <= b'9' {
        c - b'0'
    } else {
        c - b'a' + 10
    }
}

/// A dictionary string: uvarint `len << 1 | hex`, then the bytes; lowercase
/// hex strings of even length (trace and span ids) are stored as the bytes
/// they spell, half the size.
fn put_dict_string(out: &mut Vec<u8>, s: &str) {
    if is_lower_hex(s) {
        put_uvarint(out, ((s.len() as u64) << 1) | 1);
        out.extend(
            s.as_bytes()
                .chunks_exact(2)
                .map(|p| hex_val(p[0]) << 4 | hex_val(p[1])),
        );
    } else {
        put_uvarint(out, (s.len() as u64) << 1);
        out.extend_from_slice(s.as_bytes());
    }
}

fn read_dict_string(r: &mut Reader) -> Result<String> {
    let tag = r.uvarint()?;
    read_dict_bytes(r, tag)
}

/// The bytes of a dictionary string whose tag was already read.
fn read_dict_bytes(r: &mut Reader, tag: u64) -> Result<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let len = usize::try_from(tag >> 1).map_err(|_| r.err("string too long"))?;
    if tag & 1 == 0 {
        let b = r.take(len)?;
        return String::from_utf8(b.to_vec()).map_err(|_| r.err("invalid utf-8 string"));
    }
    if !len.is_multiple_of(2) {
        return Err(r.err("odd-length hex string"));
    }
    let b = r.take(len / 2)?;
    let mut s = String::with_capacity(len);
    for &x in b {
        s.push(char::from(HEX[usize::from(x >> 4)]));
        s.push(char::from(HEX[usize::from(x & 15)]));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn strs(pairs: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    #[test]
    fn both_layouts_roundtrip() {
        let entries: Vec<Vec<(String, String)>> = (0..50)
            .map(|i| match i % 4 {
                0 => vec![],
                1 => vec![("trace_id".into(), format!("{i:016x}"))],
                2 => vec![("a".into(), "x".into()), ("b".into(), "Ab".into())],
                _ => vec![("trace_id".into(), "abc".into()), ("a".into(), "".into())],
            })
            .collect();
        let no_lines = LineFields::default();
        for fields in [None, Some(&no_lines)] {
            let mut b = MetaBuilder::new(entries.len());
            for e in &entries {
                b.push(strs(e));
            }
            let raw = b.finish(fields).unwrap();
            let t = read(&raw, entries.len(), fields).unwrap();
            let got: Vec<_> = (0..entries.len()).map(|i| t.pairs(i)).collect();
            assert_eq!(got, entries);
            assert!(read(&raw[..raw.len() - 1], entries.len(), fields).is_err());
        }
    }

    #[test]
    fn interned_sets_write_what_plain_pushes_write() {
        // set ids as a head interns them: equal sets, equal ids
        let sets: Vec<Vec<(String, String)>> = vec![
            vec![],
            vec![("level".into(), "info".into())],
            vec![("a".into(), "x".into()), ("level".into(), "warn".into())],
            vec![("trace_id".into(), "00ff".into()), ("a".into(), "y".into())],
        ];
        let order = [1usize, 1, 2, 0, 3, 1, 2, 2, 0, 3, 1];
        let no_lines = LineFields::default();
        for fields in [None, Some(&no_lines)] {
            let (mut plain, mut interned) = (MetaBuilder::new(0), MetaBuilder::new(0));
            for &s in &order {
                plain.push(strs(&sets[s]));
                interned.push_set(s as u32, strs(&sets[s]));
            }
            let want = plain.finish(fields).unwrap();
            assert!(!want.is_empty());
            assert_eq!(interned.finish(fields).unwrap(), want);
        }
    }
}

//! [`HeadMeta`]: the structured metadata of an open head's entries,
//! interned. Each distinct set of pairs is stored once per head and every
//! entry refers to its set by a `u32` id, so `detected_level` on every
//! entry costs four bytes per entry instead of an allocation per entry.
//!
//! The sets live in one arena ([`Sets`]): every value's bytes back to back
//! in one string, every pair as its name's index and its value's end, and
//! every set as the end of its pairs. A set with a unique value (a trace
//! id) then costs its bytes and a few integers, not an `Arc` and a
//! `String` per name and value. A query snapshot copies the ids and
//! shares the arena ([`MetaView`]); the head copies it only when it adds a
//! set while a snapshot still holds it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::fields::same;

/// One pair of a set in [`Sets`]: its name's index in `names` and the end
/// of its value in `values` (the value starts where the previous pair's
/// ends).
#[derive(Clone, Copy, Debug)]
struct Pair {
    name: u32,
    end: u32,
}

/// Distinct sets of pairs, in one arena. Set 0 is the empty set.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sets {
    /// Per set, the end of its pairs in `pairs` (a set starts where the
    /// previous one ends).
    ends: Vec<u32>,
    pairs: Vec<Pair>,
    /// The values of all pairs, back to back.
    values: String,
    /// The distinct names (a handful: `detected_level`, `trace_id`, ...),
    /// so a read decides on each name once.
    names: Vec<String>,
}

impl Sets {
    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Where the pairs of set `id` are in `pairs` (none past the last
    /// set).
    fn span(&self, id: u32) -> (usize, usize) {
        let id = id as usize;
        match self.ends.get(id) {
            Some(&end) => {
                let at = id.checked_sub(1).map_or(0, |p| self.ends[p]);
                (at as usize, end as usize)
            }
            None => (0, 0),
        }
    }

    /// The pairs of set `id` (none past the last set).
    pub(crate) fn get(&self, id: u32) -> SetPairs<'_> {
        let (at, end) = self.span(id);
        SetPairs {
            sets: self,
            at,
            end,
        }
    }

    /// Pair `q` of `pairs` as its name and value.
    fn pair(&self, q: usize) -> (&str, &str) {
        let Some(p) = self.pairs.get(q) else {
            return ("", "");
        };
        // a value starts where the previous pair's ends
        let start = q
            .checked_sub(1)
            .and_then(|q| self.pairs.get(q))
            .map_or(0, |q| q.end as usize);
        let name = self.names.get(p.name as usize).map_or("", String::as_str);
        // spans end where a whole value was appended: char boundaries
        let value = self.values.get(start..p.end as usize).unwrap_or("");
        (name, value)
    }

    /// Whether set `id` holds exactly `pairs`, in order. Values are
    /// compared first: sets of one shape differ in a value.
    fn equals<'a, I>(&self, id: u32, pairs: I) -> bool
    where
        I: ExactSizeIterator<Item = (&'a str, &'a str)>,
    {
        let set = self.get(id);
        set.len() == pairs.len()
            && set.zip(pairs).all(|((k, v), (k2, v2))| {
                same(v.as_bytes(), v2.as_bytes()) && same(k.as_bytes(), k2.as_bytes())
            })
    }

    /// Adds a set (the caller checked it is new) and returns its id.
    fn add<'a>(&mut self, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u32 {
        if self.ends.is_empty() {
            self.ends.push(0);
        }
        for (k, v) in pairs {
            let name = match self.names.iter().position(|n| n == k) {
                Some(i) => i,
                None => {
                    self.names.push(k.to_string());
                    self.names.len() - 1
                }
            };
            self.values.push_str(v);
            self.pairs.push(Pair {
                name: name as u32,
                // the head is cut before its values reach u32::MAX bytes
                // (`HeadMeta::value_bytes`)
                end: self.values.len() as u32,
            });
        }
        self.ends.push(self.pairs.len() as u32);
        (self.ends.len() - 1) as u32
    }

    fn memory_bytes(&self) -> usize {
        self.ends.capacity() * 4
            + self.pairs.capacity() * std::mem::size_of::<Pair>()
            + self.values.capacity()
            + self.names.iter().map(|n| n.len() + 24).sum::<usize>()
    }
}

/// The `(name, value)` pairs of one set, in order.
#[derive(Clone)]
pub(crate) struct SetPairs<'a> {
    sets: &'a Sets,
    at: usize,
    end: usize,
}

impl<'a> Iterator for SetPairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end {
            return None;
        }
        self.at += 1;
        Some(self.sets.pair(self.at - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end.saturating_sub(self.at);
        (n, Some(n))
    }
}

impl ExactSizeIterator for SetPairs<'_> {}

impl SetPairs<'_> {
    /// The pairs as owned strings.
    pub(crate) fn to_vec(&self) -> Vec<(String, String)> {
        self.clone()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// Interned structured metadata of a head's entries, in append order.
#[derive(Clone, Debug, Default)]
pub(crate) struct HeadMeta {
    /// Per entry, its set's id; empty while no entry has metadata (then
    /// every entry has none).
    ids: Vec<u32>,
    /// The distinct sets, shared with query snapshots (copied on write).
    sets: Arc<Sets>,
    /// Hash of a set's pairs → its id. A different set with a colliding
    /// hash is added to `sets` without an index entry.
    index: HashMap<u64, u32, BuildHasherDefault<KeyIsHash>>,
}

/// The ids and sets of a [`HeadMeta`] at snapshot time.
#[derive(Clone, Debug, Default)]
pub(crate) struct MetaView {
    ids: Vec<u32>,
    sets: Arc<Sets>,
}

impl HeadMeta {
    /// Records the metadata of entry number `entry` (the count of entries
    /// already recorded).
    pub(crate) fn push<'a, I>(&mut self, entry: usize, pairs: I)
    where
        I: ExactSizeIterator<Item = (&'a str, &'a str)> + Clone,
    {
        if pairs.len() == 0 {
            if !self.ids.is_empty() {
                self.ids.push(0);
            }
            return;
        }
        let id = self.intern(pairs);
        if self.ids.is_empty() {
            self.ids.resize(entry, 0);
        }
        self.ids.push(id);
    }

    fn intern<'a, I>(&mut self, pairs: I) -> u32
    where
        I: ExactSizeIterator<Item = (&'a str, &'a str)> + Clone,
    {
        // consecutive entries often share their set: no hashing then; else
        // one hash and a lookup (comparing a few recent sets first cost
        // more than it saved)
        let last = self.ids.last().copied().unwrap_or(0);
        if last != 0 && self.sets.equals(last, pairs.clone()) {
            return last;
        }
        let h = hash_pairs(pairs.clone());
        if let Some(&id) = self.index.get(&h) {
            if self.sets.equals(id, pairs.clone()) {
                return id;
            }
        }
        let id = Arc::make_mut(&mut self.sets).add(pairs);
        self.index.entry(h).or_insert(id);
        id
    }

    /// Entry `i`'s pairs.
    pub(crate) fn get(&self, i: usize) -> SetPairs<'_> {
        self.sets.get(self.set_id(i))
    }

    /// Entry `i`'s set id (equal sets, equal ids; 0 is the empty set).
    pub(crate) fn set_id(&self, i: usize) -> u32 {
        self.ids.get(i).copied().unwrap_or(0)
    }

    /// Bytes of the values of all sets (kept below `u32::MAX`: the arena
    /// addresses them with `u32`s).
    pub(crate) fn value_bytes(&self) -> usize {
        self.sets.values.len()
    }

    /// A copy of the ids sharing the sets.
    pub(crate) fn view(&self) -> MetaView {
        MetaView {
            ids: self.ids.clone(),
            sets: Arc::clone(&self.sets),
        }
    }

    /// Approximate heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.ids.capacity() * 4 + self.sets.memory_bytes() + self.index.capacity() * 16
    }
}

impl MetaView {
    /// Entry `i`'s pairs.
    pub(crate) fn get(&self, i: usize) -> SetPairs<'_> {
        self.sets.get(self.set_id(i))
    }

    /// Entry `i`'s set id (as [`HeadMeta::set_id`]): an index into
    /// [`MetaView::filtered_sets`] when the view has sets.
    pub(crate) fn set_id(&self, i: usize) -> u32 {
        self.ids.get(i).copied().unwrap_or(0)
    }

    /// Every set with only the pairs whose name `keep` accepts, by set id,
    /// so a query filters each distinct set once instead of every entry's
    /// pairs, and asks `keep` once per distinct name. Empty while no entry
    /// has metadata or when `keep` accepts none of the names: every id is
    /// then past its end and reads as the empty set.
    pub(crate) fn filtered_sets(&self, keep: impl Fn(&str) -> bool) -> Vec<Vec<(String, String)>> {
        let kept: Vec<&str> = self
            .sets
            .names
            .iter()
            .map(String::as_str)
            .filter(|n| keep(n))
            .collect();
        if kept.is_empty() {
            return Vec::new();
        }
        (0..self.sets.len() as u32)
            .map(|id| {
                self.sets
                    .get(id)
                    .filter(|(n, _)| kept.contains(n))
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    /// Heap bytes held beyond the sets shared with the head.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.ids.capacity() * 4
    }
}

/// A hash of a set's names and values, in order.
fn hash_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut h = 0u64;
    for (k, v) in pairs {
        let kv = xxhash_rust::xxh3::xxh3_64(k.as_bytes())
            ^ xxhash_rust::xxh3::xxh3_64(v.as_bytes()).rotate_left(29);
        h = (h ^ kv).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(23);
    }
    h
}

/// A hasher for keys that already are hashes.
#[derive(Default)]
pub(crate) struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn push(m: &mut HeadMeta, entry: usize, pairs: &[(&str, &str)]) {
        m.push(entry, pairs.iter().map(|(k, v)| (*k, *v)));
    }

    #[test]
    fn interns_equal_sets_and_keeps_entries_apart() {
        let mut m = HeadMeta::default();
        push(&mut m, 0, &[]);
        push(&mut m, 1, &[("detected_level", "info")]);
        push(&mut m, 2, &[("detected_level", "warn")]);
        push(&mut m, 3, &[("detected_level", "info")]);
        push(&mut m, 4, &[]);
        push(&mut m, 5, &[("a", "b"), ("detected_level", "info")]);
        assert_eq!(m.sets.len(), 4, "empty, info, warn, a+info");
        let want: [&[(&str, &str)]; 6] = [
            &[],
            &[("detected_level", "info")],
            &[("detected_level", "warn")],
            &[("detected_level", "info")],
            &[],
            &[("a", "b"), ("detected_level", "info")],
        ];
        let v = m.view();
        for (i, w) in want.iter().enumerate() {
            let got: Vec<(&str, &str)> = m.get(i).collect();
            assert_eq!(&got, w, "entry {i}");
            assert_eq!(m.get(i).to_vec(), v.get(i).to_vec());
        }
        assert_eq!(m.get(6).len(), 0);
    }

    #[test]
    fn reads_filter_sets_by_name_and_skip_them_when_no_name_is_kept() {
        let mut m = HeadMeta::default();
        push(&mut m, 0, &[("detected_level", "info")]);
        push(&mut m, 1, &[("trace_id", "a1"), ("detected_level", "info")]);
        push(&mut m, 2, &[]);
        push(&mut m, 3, &[("trace_id", "b2")]);
        assert_eq!(m.sets.names, ["detected_level", "trace_id"]);
        let v = m.view();
        let asked = std::cell::Cell::new(0);
        let sets = v.filtered_sets(|n| {
            asked.set(asked.get() + 1);
            n == "trace_id"
        });
        assert_eq!(asked.get(), 2, "once per distinct name");
        let kept = |i: usize| sets.get(v.set_id(i) as usize).cloned().unwrap_or_default();
        let pair = |k: &str, val: &str| vec![(k.to_string(), val.to_string())];
        assert_eq!(kept(0), vec![]);
        assert_eq!(kept(1), pair("trace_id", "a1"));
        assert_eq!(kept(2), vec![]);
        assert_eq!(kept(3), pair("trace_id", "b2"));
        assert!(v.filtered_sets(|n| n == "other").is_empty());
        assert!(HeadMeta::default()
            .view()
            .filtered_sets(|_| true)
            .is_empty());
    }

    #[test]
    fn no_metadata_costs_nothing() {
        let mut m = HeadMeta::default();
        for i in 0..100 {
            push(&mut m, i, &[]);
        }
        assert_eq!(m.memory_bytes(), 0);
        assert_eq!(m.get(50).len(), 0);
    }

    #[test]
    fn equal_sets_share_an_id_below_and_above_the_linear_search() {
        let mut m = HeadMeta::default();
        let values: Vec<String> = (0..20).map(|v| format!("v{v}")).collect();
        let mut want = Vec::new();
        for i in 0..120 {
            // runs of one set, then cycling over more and more sets
            let v = &values[(i / 3 + i * i / 40) % values.len()];
            push(&mut m, i, &[("detected_level", v)]);
            want.push(v.clone());
        }
        assert_eq!(m.sets.len(), values.len() + 1);
        for (i, v) in want.iter().enumerate() {
            assert_eq!(
                m.get(i).to_vec(),
                [("detected_level".to_string(), v.clone())]
            );
            let first = want.iter().position(|w| w == v).unwrap();
            assert_eq!(m.set_id(i), m.set_id(first), "entry {i}");
        }
    }

    #[test]
    fn a_hash_collision_keeps_both_sets() {
        let mut m = HeadMeta::default();
        push(&mut m, 0, &[("k", "1")]);
        // force the second set onto the first one's index entry
        let h = hash_pairs([("k", "2")].into_iter());
        m.index.insert(h, 1);
        push(&mut m, 1, &[("k", "2")]);
        assert_eq!(m.get(0).to_vec(), [("k".to_string(), "1".to_string())]);
        assert_eq!(m.get(1).to_vec(), [("k".to_string(), "2".to_string())]);
    }

    #[test]
    fn a_view_keeps_its_sets_while_the_head_adds_more() {
        let mut m = HeadMeta::default();
        push(&mut m, 0, &[("trace_id", "aa"), ("detected_level", "info")]);
        push(&mut m, 1, &[("trace_id", "bbb")]);
        let v = m.view();
        assert!(Arc::ptr_eq(&m.sets, &v.sets), "a view shares the arena");
        // an existing set: no copy
        push(&mut m, 2, &[("trace_id", "aa"), ("detected_level", "info")]);
        assert!(Arc::ptr_eq(&m.sets, &v.sets));
        // a new set while the view holds the arena: the head copies it
        push(&mut m, 3, &[("detected_level", "warn"), ("trace_id", "")]);
        assert!(!Arc::ptr_eq(&m.sets, &v.sets));
        let all = |get: &dyn Fn(usize) -> Vec<(String, String)>, n: usize| {
            (0..n).map(get).collect::<Vec<_>>()
        };
        let pair = |k: &str, val: &str| (k.to_string(), val.to_string());
        let first = vec![pair("trace_id", "aa"), pair("detected_level", "info")];
        assert_eq!(
            all(&|i| v.get(i).to_vec(), 3),
            [first.clone(), vec![pair("trace_id", "bbb")], vec![]],
            "the view sees the entries at its time only"
        );
        assert_eq!(
            all(&|i| m.get(i).to_vec(), 4),
            [
                first.clone(),
                vec![pair("trace_id", "bbb")],
                first,
                vec![pair("detected_level", "warn"), pair("trace_id", "")],
            ]
        );
        assert_eq!(m.value_bytes(), "aainfobbbwarn".len());
    }
}

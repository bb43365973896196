//! Outcomes of whole short lines, per stream, for a pipeline whose outcome
//! only the line decides: `| json` under parser hints followed only by
//! label filters (`Pipeline::json_hinted`), for entries without structured
//! metadata. Its stages read nothing but the line and the stream's labels,
//! so the same line gives the same sample. Lines a store projects to the
//! hinted JSON members (`LineCut::Json`) are short and repeat often.

use super::hashmap::HashKeyed;
use super::LabelsResult;

/// Longest line the memo keeps.
pub(crate) const MAX_LINE: usize = 64;
/// Lines (and distinct label sets) a memo keeps; it starts over when full.
const ENTRIES: usize = 4096;
/// Entries a memo makes room for at once.
const FIRST: usize = 512;
/// Misses before a memo hitting fewer than one line in four stops being
/// asked.
const TRIAL: u32 = 256;

/// A sample's value and the index of its labels in `LineMemo::labels`;
/// `None` for no sample.
pub(crate) type Kept = Option<(f64, u32)>;

#[derive(Debug, Default)]
pub(crate) struct LineMemo {
    /// Entry of each line by the line's xxh3 hash (a line whose hash
    /// another line's entry took is looked up, found different, and run).
    index: HashKeyed<u32>,
    /// The lines kept, back to back.
    bytes: Vec<u8>,
    /// Per entry: where its line starts in `bytes`, its length, outcome.
    entries: Vec<(u32, u32, Kept)>,
    labels: Vec<LabelsResult>,
    /// Index in `labels` by label-set hash.
    ids: HashKeyed<u32>,
    pub(crate) hits: u32,
    misses: u32,
}

impl LineMemo {
    pub(crate) fn live(&self) -> bool {
        self.misses < TRIAL || self.hits >= self.misses / 4
    }

    /// The outcome kept for `line` (see [`LineMemo::outcome`]), or the
    /// line's hash to [`LineMemo::insert`] it with.
    #[inline]
    pub(crate) fn get(&mut self, line: &[u8]) -> Result<Kept, u64> {
        let h = xxhash_rust::xxh3::xxh3_64(line);
        if let Some(&i) = self.index.get(&h) {
            let (at, len, kept) = self.entries[i as usize];
            if self.bytes.get(at as usize..(at + len) as usize) == Some(line) {
                self.hits = self.hits.saturating_add(1);
                return Ok(kept);
            }
        }
        Err(h)
    }

    /// Keeps the outcome of `line` (whose hash `get` gave), returning it
    /// as kept.
    pub(crate) fn insert(
        &mut self,
        h: u64,
        line: &[u8],
        out: Option<(f64, &LabelsResult)>,
    ) -> Kept {
        self.misses = self.misses.saturating_add(1);
        if self.entries.len() >= ENTRIES || self.labels.len() >= ENTRIES {
            self.index.clear();
            self.bytes.clear();
            self.entries.clear();
            self.labels.clear();
            self.ids.clear();
        }
        let kept = out.map(|(v, l)| {
            let labels = &mut self.labels;
            let id = *self.ids.entry(l.hash).or_insert_with(|| {
                labels.push(l.clone());
                (labels.len() - 1) as u32
            });
            (v, id)
        });
        if self.entries.is_empty() {
            // a memo that is asked at all sees a few hundred lines
            self.index.reserve(FIRST);
            self.entries.reserve(FIRST);
            self.bytes.reserve(FIRST * 32);
        }
        // at most ENTRIES lines of at most MAX_LINE bytes: offsets fit u32
        let at = self.bytes.len() as u32;
        self.bytes.extend_from_slice(line);
        self.index.insert(h, self.entries.len() as u32);
        self.entries.push((at, line.len() as u32, kept));
        kept
    }

    /// The outcome `get` or `insert` returned.
    pub(crate) fn outcome(&self, kept: Kept) -> Option<(f64, &LabelsResult)> {
        kept.map(|(v, i)| (v, &self.labels[i as usize]))
    }
}

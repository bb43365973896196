//! One stream's in-memory state: its labels and its chunks, the last of
//! which is the open head chunk that receives appends.

use std::sync::Arc;
use std::time::Instant;

use sluice_logql::labels::Labels;
use sluice_storage::chunk::{ChunkConfig, MemChunk};

/// A chunk held in memory: open (receiving appends) or closed (immutable,
/// waiting for or in the middle of a flush).
// One per chunk slot, mostly open: boxing the open chunk would only add an
// indirection to every append.
#[allow(clippy::large_enum_variant)]
pub enum ChunkState {
    Open(MemChunk),
    Closed(Arc<MemChunk>),
}

pub struct ChunkSlot {
    pub state: ChunkState,
    /// When the chunk received its first entry (for `max_chunk_age`).
    pub created: Instant,
    /// When the chunk last received an entry (for `chunk_idle_period`).
    pub last_append: Instant,
    /// A flush of this chunk is in flight.
    pub flushing: bool,
}

impl ChunkSlot {
    pub fn chunk(&self) -> &MemChunk {
        match &self.state {
            ChunkState::Open(c) => c,
            ChunkState::Closed(c) => c,
        }
    }

    /// Closes the chunk (no more appends) and returns a shared handle to it.
    pub fn close(&mut self) -> Arc<MemChunk> {
        if let ChunkState::Open(c) = &mut self.state {
            c.cut_block();
            let c = std::mem::replace(c, MemChunk::new(&ChunkConfig::default()));
            self.state = ChunkState::Closed(Arc::new(c));
        }
        match &self.state {
            ChunkState::Closed(c) => c.clone(),
            // just replaced by Closed above
            ChunkState::Open(_) => unreachable!("chunk was closed above"),
        }
    }
}

pub struct Stream {
    pub labels: Labels,
    /// Canonical label string, compared on lookup to rule out fingerprint
    /// collisions.
    pub labels_str: String,
    pub chunks: Vec<ChunkSlot>,
    /// Newest timestamp accepted (for the out-of-order window).
    pub newest_ts: i64,
    /// Timestamp and line of the last entry, to drop an exact repeat of it
    /// (what a retried push resends) as Loki does.
    last_ts: Option<i64>,
    last_line: LastLine,
}

/// Lines up to this long are kept whole by [`LastLine`].
const SHORT_LINE: usize = 256;

/// The last appended line, for the duplicate check: a copy of a short
/// line (comparing it, which happens only on an equal timestamp, costs
/// less than hashing every line), the length and hash of a long one. (A
/// copy, not a slice: a slice would keep its whole request body alive.)
#[derive(Debug, Default)]
struct LastLine {
    short: Vec<u8>,
    long: Option<(usize, u64)>,
}

impl LastLine {
    fn set(&mut self, line: &[u8]) {
        self.short.clear();
        if line.len() <= SHORT_LINE {
            self.short.extend_from_slice(line);
            self.long = None;
        } else {
            self.long = Some((line.len(), sluice_storage::chunk::line_hash(line)));
        }
    }

    fn is(&self, line: &[u8]) -> bool {
        match self.long {
            None => self.short == line,
            Some((len, h)) => line.len() == len && sluice_storage::chunk::line_hash(line) == h,
        }
    }
}

/// Result of appending one entry.
pub enum Appended {
    Ok,
    Duplicate,
    /// Older than the out-of-order window allows: carries the oldest
    /// acceptable timestamp.
    TooFarBehind(i64),
}

impl Stream {
    pub fn new(labels: Labels, labels_str: String) -> Self {
        Stream {
            labels,
            labels_str,
            chunks: Vec::new(),
            newest_ts: i64::MIN,
            last_ts: None,
            last_line: LastLine::default(),
        }
    }

    /// Appends an entry to the head chunk, opening a new one when the head
    /// is closed or full. `window` is how far behind the newest entry an
    /// entry may be (None: no limit, used by WAL replay).
    pub fn append<'a, I>(
        &mut self,
        cfg: &ChunkConfig,
        ts: i64,
        line: &bytes::Bytes,
        metadata: I,
        window: Option<i64>,
        now: Instant,
    ) -> Appended
    where
        I: ExactSizeIterator<Item = (&'a str, &'a str)> + Clone,
    {
        if self.last_ts == Some(ts) && self.last_line.is(line) {
            return Appended::Duplicate;
        }
        if let Some(w) = window {
            if self.newest_ts != i64::MIN && ts < self.newest_ts.saturating_sub(w) {
                return Appended::TooFarBehind(self.newest_ts - w);
            }
        }
        let need_new = match self.chunks.last() {
            Some(ChunkSlot {
                state: ChunkState::Open(c),
                ..
            }) => c.is_full(),
            _ => true,
        };
        if need_new {
            if let Some(slot) = self.chunks.last_mut() {
                slot.close();
            }
            self.chunks.push(ChunkSlot {
                state: ChunkState::Open(MemChunk::new(cfg)),
                created: now,
                last_append: now,
                flushing: false,
            });
        }
        if let Some(slot) = self.chunks.last_mut() {
            if let ChunkState::Open(c) = &mut slot.state {
                c.append_distinct(ts, line, metadata);
            }
            slot.last_append = now;
        }
        self.newest_ts = self.newest_ts.max(ts);
        self.last_ts = Some(ts);
        self.last_line.set(line);
        Appended::Ok
    }

    /// Restores a chunk from a checkpoint (as a closed or open head chunk).
    pub fn restore_chunk(&mut self, chunk: MemChunk, now: Instant) {
        if let Some((_, max)) = chunk.bounds() {
            self.newest_ts = self.newest_ts.max(max);
        }
        if let Some(slot) = self.chunks.last_mut() {
            slot.close();
        }
        self.chunks.push(ChunkSlot {
            state: ChunkState::Open(chunk),
            created: now,
            last_append: now,
            flushing: false,
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sluice_logql::source::Direction;

    fn append(s: &mut Stream, ts: i64, line: &'static str, level: &str) -> Appended {
        let md = [("detected_level", level)];
        let line = bytes::Bytes::from_static(line.as_bytes());
        let cfg = ChunkConfig::default();
        s.append(&cfg, ts, &line, md.into_iter(), Some(100), Instant::now())
    }

    #[test]
    fn drops_only_an_exact_repeat_of_the_last_entry() {
        let mut s = Stream::new(Labels::new(vec![]), "{}".into());
        assert!(matches!(append(&mut s, 10, "a", "info"), Appended::Ok));
        assert!(matches!(
            append(&mut s, 10, "a", "info"),
            Appended::Duplicate
        ));
        assert!(matches!(append(&mut s, 10, "b", "info"), Appended::Ok));
        assert!(matches!(append(&mut s, 11, "b", "info"), Appended::Ok));
        // not the last entry any more: kept
        assert!(matches!(append(&mut s, 10, "a", "warn"), Appended::Ok));
        assert!(matches!(
            append(&mut s, -200, "c", "info"),
            Appended::TooFarBehind(-89)
        ));
        // long lines are compared by length and hash: the same line is a
        // repeat, another one of its length is not
        let long_a: &'static str = Box::leak("a".repeat(SHORT_LINE + 1).into_boxed_str());
        let long_b: &'static str = Box::leak("b".repeat(SHORT_LINE + 1).into_boxed_str());
        let mut l = Stream::new(Labels::new(vec![]), "{}".into());
        assert!(matches!(append(&mut l, 5, long_a, "info"), Appended::Ok));
        assert!(matches!(
            append(&mut l, 5, long_a, "info"),
            Appended::Duplicate
        ));
        assert!(matches!(append(&mut l, 5, long_b, "info"), Appended::Ok));
        assert!(matches!(append(&mut l, 5, "b", "info"), Appended::Ok));
        assert!(matches!(
            append(&mut l, 5, "b", "info"),
            Appended::Duplicate
        ));
        assert_eq!(l.chunks[0].chunk().entry_count(), 3);
        let c = s.chunks[0].chunk();
        assert_eq!(c.entry_count(), 4);
        let got: Vec<(i64, String, String)> = c
            .snapshot()
            .entries(i64::MIN, i64::MAX, Direction::Forward)
            .map(|e| {
                let e = e.unwrap();
                let md = e.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
                (e.ts, String::from_utf8(e.line.to_vec()).unwrap(), md)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (10, "a".into(), "detected_level=info".into()),
                (10, "b".into(), "detected_level=info".into()),
                (10, "a".into(), "detected_level=warn".into()),
                (11, "b".into(), "detected_level=info".into()),
            ]
        );
    }
}

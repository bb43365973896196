//! Bounded LRU caches keyed by object key: decoded index segments and
//! fetched chunks. Objects are immutable (a chunk's key names its checksum,
//! a segment's its content hash), so entries never go stale.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::chunk::ChunkData;
use crate::index::SegmentReader;

/// Decoded index segments.
pub type SegmentCache = Lru<Arc<SegmentReader>>;
/// Fetched, verified chunks (their bytes and parsed block index).
pub type ChunkCache = Lru<ChunkData>;

/// A least-recently-used map bounded by the sum of its values' sizes.
pub struct Lru<V> {
    max_bytes: usize,
    state: Mutex<State<V>>,
}

struct State<V> {
    /// key -> (value, size, last use)
    map: HashMap<String, (V, usize, u64)>,
    /// last use -> key, oldest first: eviction without a scan of `map`
    order: BTreeMap<u64, String>,
    bytes: usize,
    tick: u64,
}

impl<V: Clone> Lru<V> {
    pub fn new(max_bytes: usize) -> Self {
        Lru {
            max_bytes,
            state: Mutex::new(State {
                map: HashMap::new(),
                order: BTreeMap::new(),
                bytes: 0,
                tick: 0,
            }),
        }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        let mut guard = self.state.lock();
        let s = &mut *guard;
        s.tick += 1;
        let tick = s.tick;
        let e = s.map.get_mut(key)?;
        if let Some(k) = s.order.remove(&e.2) {
            s.order.insert(tick, k);
        }
        e.2 = tick;
        Some(e.0.clone())
    }

    /// Adds `value` of `size` bytes (besides its key); a value larger than
    /// the whole bound is not kept.
    pub fn insert(&self, key: String, value: V, size: usize) {
        let size = size + key.len();
        if size > self.max_bytes {
            return;
        }
        let mut guard = self.state.lock();
        let s = &mut *guard;
        s.tick += 1;
        let tick = s.tick;
        s.order.insert(tick, key.clone());
        if let Some(old) = s.map.insert(key, (value, size, tick)) {
            s.bytes -= old.1;
            s.order.remove(&old.2);
        }
        s.bytes += size;
        while s.bytes > self.max_bytes {
            let Some((_, victim)) = s.order.pop_first() else {
                break;
            };
            if let Some(e) = s.map.remove(&victim) {
                s.bytes -= e.1;
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.state.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::index::IndexSegment;

    #[test]
    fn evicts_least_recently_used() {
        let one = Arc::new(SegmentReader::new(IndexSegment::default()));
        let size = one.memory_bytes();
        let c = SegmentCache::new((size + 1) * 2);
        c.insert("a".into(), one.clone(), size);
        c.insert("b".into(), one.clone(), size);
        assert!(c.get("a").is_some());
        c.insert("c".into(), one.clone(), size);
        assert_eq!(c.len(), 2);
        assert!(c.get("b").is_none(), "b was least recently used");
        assert!(c.get("a").is_some() && c.get("c").is_some());
        // replacing a key keeps one entry and its accounting
        c.insert("c".into(), one, size);
        assert_eq!(c.len(), 2);
        assert!(c.get("a").is_some() && c.get("c").is_some());
    }

    #[test]
    fn skips_values_over_the_bound() {
        let c: Lru<u32> = Lru::new(10);
        c.insert("a".into(), 1, 20);
        assert!(c.get("a").is_none());
        c.insert("b".into(), 2, 5);
        assert_eq!(c.get("b"), Some(2));
    }
}

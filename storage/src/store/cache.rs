//! A bounded LRU cache of decoded index segments, keyed by object key.
//! Segments are immutable, so entries never go stale.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::index::SegmentReader;

pub struct SegmentCache {
    max_bytes: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    map: HashMap<String, (Arc<SegmentReader>, usize, u64)>,
    bytes: usize,
    tick: u64,
}

impl SegmentCache {
    pub fn new(max_bytes: usize) -> Self {
        SegmentCache {
            max_bytes,
            state: Mutex::new(State::default()),
        }
    }

    pub fn get(&self, key: &str) -> Option<Arc<SegmentReader>> {
        let mut s = self.state.lock();
        s.tick += 1;
        let tick = s.tick;
        s.map.get_mut(key).map(|e| {
            e.2 = tick;
            e.0.clone()
        })
    }

    pub fn insert(&self, key: String, seg: Arc<SegmentReader>) {
        let size = seg.memory_bytes() + key.len();
        if size > self.max_bytes {
            return;
        }
        let mut s = self.state.lock();
        s.tick += 1;
        let tick = s.tick;
        if let Some(old) = s.map.insert(key, (seg, size, tick)) {
            s.bytes -= old.1;
        }
        s.bytes += size;
        while s.bytes > self.max_bytes {
            let Some(victim) = s
                .map
                .iter()
                .min_by_key(|(_, e)| e.2)
                .map(|(k, _)| k.clone())
            else {
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
        let size = one.memory_bytes() + 1;
        let c = SegmentCache::new(size * 2);
        c.insert("a".into(), one.clone());
        c.insert("b".into(), one.clone());
        assert!(c.get("a").is_some());
        c.insert("c".into(), one);
        assert_eq!(c.len(), 2);
        assert!(c.get("b").is_none(), "b was least recently used");
        assert!(c.get("a").is_some() && c.get("c").is_some());
    }
}

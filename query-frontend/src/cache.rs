//! The results cache: metric range answers per split extent, in memory,
//! bounded by an estimate of their size and evicted least recently used.
//!
//! A key is tenant + query + step + the extent's `[start, end]` (start on
//! the step grid, extents at multiples of the split interval), so a
//! repeated dashboard query whose range moves on re-reads only its newest,
//! not yet cached extents. The frontend only stores extents that ended at
//! least `max_freshness` ago, whose data can no longer change.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use sluice_logql::engine::QueryValue;

/// What identifies one cached extent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub tenant: String,
    pub query: String,
    pub step: i64,
    pub start: i64,
    pub end: i64,
}

struct Entry {
    value: Arc<QueryValue>,
    size: usize,
    tick: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<CacheKey, Entry>,
    /// Last use → key, oldest first.
    lru: BTreeMap<u64, CacheKey>,
    bytes: usize,
    tick: u64,
    hits: u64,
    misses: u64,
}

pub struct ResultsCache {
    inner: Mutex<Inner>,
    max_bytes: usize,
}

impl ResultsCache {
    pub fn new(max_bytes: usize) -> Self {
        ResultsCache {
            inner: Mutex::new(Inner::default()),
            max_bytes,
        }
    }

    pub fn get(&self, key: &CacheKey) -> Option<Arc<QueryValue>> {
        let mut g = self.inner.lock();
        let inner = &mut *g;
        inner.tick += 1;
        let tick = inner.tick;
        match inner.map.get_mut(key) {
            Some(e) => {
                inner.lru.remove(&e.tick);
                e.tick = tick;
                inner.lru.insert(tick, key.clone());
                inner.hits += 1;
                Some(e.value.clone())
            }
            None => {
                inner.misses += 1;
                None
            }
        }
    }

    /// Stores `value`, evicting the least recently used entries to stay
    /// under the size bound; a value larger than the bound is not stored.
    pub fn put(&self, key: CacheKey, value: QueryValue) {
        let size = estimate(&key, &value);
        if size > self.max_bytes {
            return;
        }
        let mut g = self.inner.lock();
        let inner = &mut *g;
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(old) = inner.map.remove(&key) {
            inner.lru.remove(&old.tick);
            inner.bytes -= old.size;
        }
        while inner.bytes + size > self.max_bytes {
            let Some((_, k)) = inner.lru.pop_first() else {
                break;
            };
            if let Some(e) = inner.map.remove(&k) {
                inner.bytes -= e.size;
            }
        }
        inner.bytes += size;
        inner.lru.insert(tick, key.clone());
        inner.map.insert(
            key,
            Entry {
                value: Arc::new(value),
                size,
                tick,
            },
        );
    }

    /// Estimated bytes held.
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (hits, misses) since start.
    pub fn stats(&self) -> (u64, u64) {
        let g = self.inner.lock();
        (g.hits, g.misses)
    }
}

/// Rough memory footprint of a cached answer.
fn estimate(key: &CacheKey, v: &QueryValue) -> usize {
    let labels = |l: &sluice_logql::Labels| -> usize {
        l.iter().map(|(k, v)| k.len() + v.len() + 48).sum::<usize>() + 24
    };
    let body = match v {
        QueryValue::Matrix(s) => s
            .iter()
            .map(|s| labels(&s.metric) + 16 * s.points.len() + 24)
            .sum(),
        QueryValue::Vector(s) => s.iter().map(|s| labels(&s.metric) + 16).sum(),
        QueryValue::Streams(s) => s
            .iter()
            .map(|s| labels(&s.labels) + s.entries.iter().map(|e| e.line.len() + 64).sum::<usize>())
            .sum(),
        QueryValue::Scalar { .. } => 16,
    };
    body + key.tenant.len() + key.query.len() + 128
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sluice_logql::engine::Series;
    use sluice_logql::Labels;

    fn key(q: &str) -> CacheKey {
        CacheKey {
            tenant: "t".into(),
            query: q.into(),
            step: 1,
            start: 0,
            end: 10,
        }
    }

    fn val(points: usize) -> QueryValue {
        QueryValue::Matrix(vec![Series {
            metric: Labels::default(),
            points: (0..points as i64).map(|t| (t, 1.0)).collect(),
        }])
    }

    #[test]
    fn lru_eviction_keeps_under_bound() {
        let one = estimate(&key("a"), &val(10));
        let c = ResultsCache::new(one * 2 + 1);
        c.put(key("a"), val(10));
        c.put(key("b"), val(10));
        assert!(c.get(&key("a")).is_some()); // a is now newer than b
        c.put(key("c"), val(10));
        assert!(c.get(&key("b")).is_none(), "least recently used is evicted");
        assert!(c.get(&key("a")).is_some());
        assert!(c.get(&key("c")).is_some());
        assert!(c.bytes() <= one * 2 + 1);
        c.put(key("huge"), val(100_000));
        assert!(c.get(&key("huge")).is_none());
        assert_eq!(c.len(), 2);
    }
}

//! Stream label strings parsed once: the sorted pairs (empty values
//! dropped), the canonical rendering and the fingerprint, cached by the
//! label string as received (Loki keeps the same kind of cache), so a
//! stream pushed again costs a hash lookup instead of a parse.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use parking_lot::Mutex;
use sluice_logql::labels::Labels;

use crate::stream_labels::parse_stream_labels;

/// A stream label string after parsing and normalisation.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedLabels {
    /// Pairs sorted by name, empty values removed; a duplicate name is kept
    /// (validation refuses it).
    pub pairs: Vec<(String, String)>,
    /// `{a="b", c="d"}`, or empty when `pairs` has a duplicate name.
    pub canonical: String,
    /// Fingerprint of the label set (0 when `pairs` has a duplicate name).
    pub hash: u64,
}

impl ParsedLabels {
    /// Parses and normalises a push label string.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut pairs: Vec<(String, String)> = parse_stream_labels(raw)?;
        pairs.retain(|(_, v)| !v.is_empty());
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
            return Ok(ParsedLabels {
                pairs,
                canonical: String::new(),
                hash: 0,
            });
        }
        let labels = Labels::from_sorted(pairs);
        let canonical = labels.to_string();
        let hash = labels.fingerprint();
        Ok(ParsedLabels {
            pairs: labels.into_pairs(),
            canonical,
            hash,
        })
    }
}

const SHARDS: usize = 16;

/// A bounded, sharded cache of [`ParsedLabels`] by raw label string. A
/// full shard is emptied and starts over (cheap, and hot streams return
/// on their next push).
pub struct LabelCache {
    shards: Vec<Mutex<HashMap<String, Arc<ParsedLabels>>>>,
    per_shard: usize,
}

impl Default for LabelCache {
    fn default() -> Self {
        LabelCache::new(100_000)
    }
}

impl LabelCache {
    /// A cache holding about `capacity` label strings.
    pub fn new(capacity: usize) -> Self {
        LabelCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// The parsed form of `raw`, from the cache or parsed now. Strings that
    /// do not parse are not cached.
    pub fn get(&self, raw: &str) -> Result<Arc<ParsedLabels>, String> {
        let mut h = DefaultHasher::new();
        raw.hash(&mut h);
        let shard = &self.shards[(h.finish() as usize) % SHARDS];
        if let Some(p) = shard.lock().get(raw) {
            return Ok(p.clone());
        }
        let parsed = Arc::new(ParsedLabels::parse(raw)?);
        let mut map = shard.lock();
        if map.len() >= self.per_shard {
            map.clear();
        }
        map.insert(raw.to_string(), parsed.clone());
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn normalises_and_caches() {
        let c = LabelCache::new(32);
        let p = c.get(r#"{b="2", a="1", e=""}"#).unwrap();
        assert_eq!(p.canonical, r#"{a="1", b="2"}"#);
        let want = Labels::new(vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert_eq!(p.hash, want.fingerprint());
        assert!(Arc::ptr_eq(&p, &c.get(r#"{b="2", a="1", e=""}"#).unwrap()));
        assert!(c.get("{a=").is_err());
        let dup = c.get(r#"{a="1", a="2"}"#).unwrap();
        assert_eq!((dup.pairs.len(), dup.canonical.as_str()), (2, ""));
    }

    #[test]
    fn stays_bounded() {
        let c = LabelCache::new(32);
        for i in 0..1000 {
            c.get(&format!(r#"{{a="{i}"}}"#)).unwrap();
        }
        let total: usize = c.shards.iter().map(|s| s.lock().len()).sum();
        assert!(total <= 32, "{total}");
    }
}

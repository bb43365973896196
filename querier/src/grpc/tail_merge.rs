//! One live tail from several replicas' tails: batches interleaved as
//! they arrive, an entry already delivered by another replica (same
//! stream, timestamp and line) dropped.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use futures::StreamExt;

use crate::querier::TailFeed;

/// Entries remembered for de-duplication. Replicas deliver a push within
/// moments of each other, so a window of recent entries is enough.
const SEEN_WINDOW: usize = 100_000;

/// Recently delivered entries, oldest forgotten first.
struct Seen {
    order: VecDeque<u64>,
    set: HashSet<u64>,
}

impl Seen {
    fn new() -> Self {
        Seen {
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// Whether `key` is new; remembers it.
    fn first_time(&mut self, key: u64) -> bool {
        if !self.set.insert(key) {
            return false;
        }
        if self.order.len() == SEEN_WINDOW {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(key);
        true
    }
}

fn entry_key(stream: u64, ts: i64, line: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    (stream, ts, line).hash(&mut h);
    h.finish()
}

/// Merges replicas' tails. The dropped count is the sum of each replica's
/// latest total. Ends when every feed ended; an error of one feed is
/// passed on (the caller decides whether to stop).
pub fn merge_tails(feeds: Vec<TailFeed>) -> TailFeed {
    let n = feeds.len();
    let tagged = feeds
        .into_iter()
        .enumerate()
        .map(|(i, f)| f.map(move |r| (i, r)).boxed());
    let mut seen = Seen::new();
    let mut dropped = vec![0u64; n];
    futures::stream::select_all(tagged)
        .filter_map(move |(i, r)| {
            let out = match r {
                Err(e) => Some(Err(e)),
                Ok((mut batch, total)) => {
                    dropped[i] = total;
                    let fp = batch.labels.fingerprint();
                    batch
                        .entries
                        .retain(|e| seen.first_time(entry_key(fp, e.ts, &e.line)));
                    let total: u64 = dropped.iter().sum();
                    (!batch.entries.is_empty()).then_some(Ok((batch, total)))
                }
            };
            futures::future::ready(out)
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use bytes::Bytes;
    use sluice_logql::labels::Labels;
    use sluice_logql::source::Entry;

    use super::*;
    use crate::tail::PushedStream;

    fn batch(app: &str, lines: &[(i64, &'static str)]) -> PushedStream {
        PushedStream {
            labels: Arc::new(Labels::new(vec![("app".into(), app.into())])),
            entries: lines
                .iter()
                .map(|(ts, l)| Entry {
                    ts: *ts,
                    line: Bytes::from_static(l.as_bytes()),
                    metadata: vec![],
                    cut: false,
                })
                .collect(),
        }
    }

    fn feed(items: Vec<(PushedStream, u64)>) -> TailFeed {
        futures::stream::iter(items.into_iter().map(Ok)).boxed()
    }

    #[tokio::test]
    async fn replicas_entries_arrive_once() {
        let a = feed(vec![
            (batch("a", &[(1, "x"), (2, "y")]), 0),
            (batch("b", &[(1, "x")]), 3),
        ]);
        let b = feed(vec![
            (batch("a", &[(1, "x"), (2, "y"), (2, "z")]), 1),
            (batch("b", &[(1, "x")]), 1),
        ]);
        let got: Vec<(PushedStream, u64)> =
            merge_tails(vec![a, b]).map(|r| r.unwrap()).collect().await;
        let mut entries: Vec<(String, i64, Bytes)> = got
            .iter()
            .flat_map(|(s, _)| {
                let app = s.labels.get("app").unwrap().to_string();
                s.entries
                    .iter()
                    .map(move |e| (app.clone(), e.ts, e.line.clone()))
            })
            .collect();
        entries.sort();
        let want: Vec<(String, i64, Bytes)> = vec![
            ("a".into(), 1, Bytes::from_static(b"x")),
            ("a".into(), 2, Bytes::from_static(b"y")),
            ("a".into(), 2, Bytes::from_static(b"z")),
            ("b".into(), 1, Bytes::from_static(b"x")),
        ];
        assert_eq!(entries, want);
        assert_eq!(got.last().unwrap().1, 4, "latest totals summed");
    }

    #[test]
    fn window_forgets_oldest() {
        let mut s = Seen::new();
        for k in 0..SEEN_WINDOW as u64 + 1 {
            assert!(s.first_time(k));
        }
        assert!(!s.first_time(SEEN_WINDOW as u64));
        assert!(s.first_time(0), "forgotten");
    }
}

//! `delay_for`: live entries held back so late ones can be sorted in.
//!
//! Loki's tailer keeps what the ingesters send in a heap ordered by
//! timestamp and only takes the oldest entry once `now` is past its
//! timestamp plus `delay_for`; entries therefore leave in timestamp order,
//! and one arriving after its slot went by leaves at once. The same holds
//! here, with one bound: an entry stamped in the future is held from its
//! arrival, not from its timestamp, so a client's clock skew cannot park
//! entries (and their memory) for minutes. Held entries keep their bytes
//! in the connection's budget until they are taken.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use sluice_logql::labels::Labels;
use sluice_logql::source::Entry;
use tokio::time::Instant;

use super::{entry_cost, PushedStream};

/// One held entry.
#[derive(Debug)]
pub struct Held {
    pub labels: Arc<Labels>,
    pub entry: Entry,
    /// Bytes it holds in the connection's budget.
    pub cost: usize,
    release: Instant,
    seq: u64,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.entry.ts, self.seq).cmp(&(other.entry.ts, other.seq))
    }
}

/// Entries waiting out `delay_for`, oldest timestamp first.
#[derive(Debug)]
pub struct DelayBuffer {
    delay: Duration,
    heap: BinaryHeap<Reverse<Held>>,
    seq: u64,
}

impl DelayBuffer {
    pub fn new(delay: Duration) -> Self {
        DelayBuffer {
            delay,
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Holds the entries of `s`, which the hub got at `arrived`; `now` and
    /// `now_ns` are the same moment on the monotonic and the wall clock.
    pub fn push(&mut self, s: PushedStream, arrived: Instant, now: Instant, now_ns: i64) {
        for entry in s.entries {
            let age = Duration::from_nanos(now_ns.saturating_sub(entry.ts).max(0) as u64);
            // the entry's timestamp on the monotonic clock, at most its arrival
            let stamped = now.checked_sub(age).unwrap_or(arrived).min(arrived);
            self.seq += 1;
            self.heap.push(Reverse(Held {
                labels: s.labels.clone(),
                cost: entry_cost(&entry),
                entry,
                release: stamped + self.delay,
                seq: self.seq,
            }));
        }
    }

    /// When the oldest held entry is due.
    pub fn next_release(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(h)| h.release)
    }

    /// The oldest held entry if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Held> {
        if self.next_release()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(h)| h)
    }

    /// Bytes of all held entries.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.heap.iter().map(|Reverse(h)| h.cost).sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const S: i64 = 1_000_000_000;

    fn batch(ts: &[i64]) -> PushedStream {
        PushedStream {
            labels: Arc::new(Labels::new(vec![("app".into(), "a".into())])),
            entries: ts
                .iter()
                .map(|&ts| Entry {
                    ts,
                    line: format!("line {ts}").into_bytes().into(),
                    metadata: vec![],
                    cut: false,
                })
                .collect(),
        }
    }

    fn drain(d: &mut DelayBuffer, now: Instant) -> Vec<i64> {
        std::iter::from_fn(|| d.pop_due(now))
            .map(|h| h.entry.ts)
            .collect()
    }

    #[test]
    fn holds_for_the_delay_then_releases_in_timestamp_order() {
        let mut d = DelayBuffer::new(Duration::from_secs(2));
        let t0 = Instant::now();
        let wall = 1_000 * S;
        // pushed out of order within the delay
        d.push(batch(&[wall - S / 2, wall]), t0, t0, wall);
        d.push(batch(&[wall - S]), t0, t0, wall);
        assert!(drain(&mut d, t0).is_empty());
        assert!(drain(&mut d, t0 + Duration::from_millis(900)).is_empty());
        // the oldest is due at its timestamp + 2s, the others later
        assert_eq!(drain(&mut d, t0 + Duration::from_millis(1000)), [wall - S]);
        assert_eq!(
            drain(&mut d, t0 + Duration::from_millis(2000)),
            [wall - S / 2, wall]
        );
        assert!(d.is_empty());
        assert_eq!(d.next_release(), None);
    }

    #[test]
    fn late_entries_leave_at_once_future_ones_wait_from_arrival() {
        let mut d = DelayBuffer::new(Duration::from_secs(2));
        let t0 = Instant::now();
        let wall = 1_000 * S;
        d.push(batch(&[wall + 3600 * S, wall - 60 * S]), t0, t0, wall);
        assert_eq!(drain(&mut d, t0), [wall - 60 * S]);
        assert!(d.bytes() > 0);
        assert!(drain(&mut d, t0 + Duration::from_millis(1900)).is_empty());
        assert_eq!(
            drain(&mut d, t0 + Duration::from_secs(2)),
            [wall + 3600 * S]
        );
        assert_eq!(d.bytes(), 0);
    }
}

//! Live tail: the hub that hands freshly pushed entries to open
//! `/loki/api/v1/tail` connections, and (in `tail/`) the WebSocket
//! handler and its frames.
//!
//! The push path calls [`TailHub::publish`] after the ingester acknowledged
//! a push. With nobody tailing that is one atomic load ([`TailHub::is_active`]
//! lets the caller skip even building the batch). Otherwise each
//! subscriber of the tenant whose selector matches a stream gets that
//! stream's entries queued, up to a byte budget per connection; past the
//! budget the entries are recorded as dropped (labels and timestamp, the
//! first [`MAX_DROPPED_RECORDS`] kept) and ride along with the next frame
//! as `dropped_entries`, as Loki does. The pipeline runs in the connection
//! task, never on the push path, so dropped records may name entries the
//! query's filters would have discarded. Each batch is stamped with its
//! arrival time (for `delay_for`, see [`delay`]). Once a connection has
//! lost more than `max_dropped_entries` entries the hub signals it, so a
//! connection blocked on a client that does not read is closed at once.

mod conn;
mod delay;
mod frame;
mod metrics;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use sluice_logql::labels::{Labels, Matcher};
use sluice_logql::source::Entry;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

pub(crate) use conn::tail_handler;

/// Most dropped-entry records kept per connection (Loki sends at most
/// 1000 with a frame).
pub const MAX_DROPPED_RECORDS: usize = 1000;

/// Entries of one stream from one push, as the tail hub receives them.
/// Lines should not share a buffer with anything long-lived: a queued
/// batch keeps its lines' memory alive.
#[derive(Clone, Debug)]
pub struct PushedStream {
    pub labels: Arc<Labels>,
    pub entries: Vec<Entry>,
}

impl PushedStream {
    /// Bytes this batch accounts for in a connection's budget.
    fn cost(&self) -> usize {
        self.entries.iter().map(entry_cost).sum()
    }
}

/// Bytes one entry accounts for in a connection's budget.
fn entry_cost(e: &Entry) -> usize {
    e.line.len()
        + 48
        + e.metadata
            .iter()
            .map(|(k, v)| k.len() + v.len() + 48)
            .sum::<usize>()
}

/// A batch as queued for a connection, with the time the hub got it.
#[derive(Debug)]
pub struct Queued {
    pub stream: PushedStream,
    pub arrived: Instant,
}

/// An entry a connection could not keep up with.
#[derive(Clone, Debug, PartialEq)]
pub struct DroppedEntry {
    pub labels: Arc<Labels>,
    pub ts: i64,
}

/// Per-connection bounds.
#[derive(Clone, Copy, Debug)]
pub struct TailLimits {
    /// Bytes of entries queued for one connection before new ones are
    /// dropped.
    pub max_buffered_bytes: usize,
    /// Dropped entries after which a connection is closed as too slow.
    pub max_dropped_entries: u64,
    /// Longest a tail stays open (Loki's `tail_max_duration`).
    pub max_duration: std::time::Duration,
}

impl Default for TailLimits {
    fn default() -> Self {
        TailLimits {
            max_buffered_bytes: 8 << 20,
            max_dropped_entries: 10_000,
            max_duration: std::time::Duration::from_secs(3600),
        }
    }
}

#[derive(Default)]
struct DroppedLog {
    recent: VecDeque<DroppedEntry>,
    total: u64,
}

struct Subscriber {
    id: u64,
    tenant: String,
    matchers: Vec<Matcher>,
    tx: mpsc::UnboundedSender<Queued>,
    buffered: AtomicUsize,
    dropped: Mutex<DroppedLog>,
    /// Signalled once more than `max_dropped_entries` were dropped.
    overflow: Arc<Notify>,
}

impl Subscriber {
    fn offer(&self, s: &PushedStream, arrived: Instant, limits: &TailLimits) {
        let cost = s.cost();
        let prev = self.buffered.fetch_add(cost, Ordering::AcqRel);
        if prev + cost <= limits.max_buffered_bytes {
            let q = Queued {
                stream: s.clone(),
                arrived,
            };
            if self.tx.send(q).is_ok() {
                metrics::BUFFERED_BYTES.add(cost as i64);
                return;
            }
        }
        self.buffered.fetch_sub(cost, Ordering::AcqRel);
        metrics::DROPPED_ENTRIES.inc_by(s.entries.len() as u64);
        let mut d = self.dropped.lock().unwrap_or_else(PoisonError::into_inner);
        let before = d.total;
        d.total += s.entries.len() as u64;
        if before <= limits.max_dropped_entries && d.total > limits.max_dropped_entries {
            self.overflow.notify_one();
        }
        // as Loki, keep the first records until they are sent
        for e in &s.entries {
            if d.recent.len() == MAX_DROPPED_RECORDS {
                break;
            }
            d.recent.push_back(DroppedEntry {
                labels: s.labels.clone(),
                ts: e.ts,
            });
        }
    }
}

/// Fan-out of pushed entries to tail connections.
pub struct TailHub {
    subs: RwLock<Vec<Arc<Subscriber>>>,
    active: AtomicUsize,
    next_id: AtomicU64,
    limits: TailLimits,
    /// No ingester in this process: each tail connection is fed by its own
    /// stream from the ingesters (`RecentData::tail`) instead of local pushes.
    remote: bool,
}

impl Default for TailHub {
    fn default() -> Self {
        TailHub::new(TailLimits::default())
    }
}

impl TailHub {
    pub fn new(limits: TailLimits) -> Self {
        TailHub {
            subs: RwLock::new(Vec::new()),
            active: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            limits,
            remote: false,
        }
    }

    /// A hub for a querier without a local ingester: tails read from the
    /// ingesters over `RecentData::tail`.
    pub fn remote(limits: TailLimits) -> Self {
        TailHub {
            remote: true,
            ..TailHub::new(limits)
        }
    }

    pub fn is_remote(&self) -> bool {
        self.remote
    }

    pub fn limits(&self) -> TailLimits {
        self.limits
    }

    /// Whether any connection is tailing; the push path skips building a
    /// batch when not.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire) > 0
    }

    /// Number of open subscriptions.
    pub fn subscribers(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Hands `streams`, just acknowledged for `tenant`, to every matching
    /// subscriber.
    pub fn publish(&self, tenant: &str, streams: &[PushedStream]) {
        if !self.is_active() {
            return;
        }
        let arrived = Instant::now();
        let subs = self.subs.read().unwrap_or_else(PoisonError::into_inner);
        for sub in subs.iter().filter(|s| s.tenant == tenant) {
            for s in streams.iter().filter(|s| s.labels.matches(&sub.matchers)) {
                sub.offer(s, arrived, &self.limits);
            }
        }
    }

    /// Starts receiving entries of `tenant` whose stream matches
    /// `matchers`. Dropping the subscription ends it.
    pub fn subscribe(self: &Arc<Self>, tenant: &str, matchers: Vec<Matcher>) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        let sub = Arc::new(Subscriber {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            tenant: tenant.to_string(),
            matchers,
            tx,
            buffered: AtomicUsize::new(0),
            dropped: Mutex::new(DroppedLog::default()),
            overflow: Arc::new(Notify::new()),
        });
        self.subs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sub.clone());
        self.active.fetch_add(1, Ordering::AcqRel);
        metrics::CONNECTIONS.inc();
        Subscription {
            hub: self.clone(),
            sub,
            rx,
        }
    }

    fn remove(&self, id: u64) {
        let mut subs = self.subs.write().unwrap_or_else(PoisonError::into_inner);
        let before = subs.len();
        subs.retain(|s| s.id != id);
        if subs.len() < before {
            self.active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// One connection's feed of pushed entries.
pub struct Subscription {
    hub: Arc<TailHub>,
    sub: Arc<Subscriber>,
    rx: mpsc::UnboundedReceiver<Queued>,
}

impl Subscription {
    /// The next queued batch; `None` only if the hub is gone.
    pub async fn recv(&mut self) -> Option<Queued> {
        self.rx.recv().await
    }

    /// A queued batch if one is ready.
    pub fn try_recv(&mut self) -> Option<Queued> {
        self.rx.try_recv().ok()
    }

    /// Marks a received batch as processed, releasing its budget.
    pub fn release(&self, s: &PushedStream) {
        self.release_bytes(s.cost());
    }

    /// Releases `cost` bytes of budget (entries taken one by one).
    pub fn release_bytes(&self, cost: usize) {
        self.sub.buffered.fetch_sub(cost, Ordering::AcqRel);
        metrics::BUFFERED_BYTES.sub(cost as i64);
    }

    /// Resolves once the connection lost more than `max_dropped_entries`
    /// entries (at once if that already happened).
    pub fn overflow_signal(&self) -> Arc<Notify> {
        self.sub.overflow.clone()
    }

    /// Bytes currently queued for this connection.
    pub fn buffered_bytes(&self) -> usize {
        self.sub.buffered.load(Ordering::Acquire)
    }

    /// Takes the dropped-entry records kept since the last call, and the
    /// total dropped since the subscription began.
    pub fn take_dropped(&self) -> (Vec<DroppedEntry>, u64) {
        let mut d = self
            .sub
            .dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (d.recent.drain(..).collect(), d.total)
    }

    /// Total entries dropped so far.
    pub fn dropped_total(&self) -> u64 {
        self.sub
            .dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // after `remove` nothing is offered any more: what is still
        // queued leaves the gauge with the queue
        self.hub.remove(self.sub.id);
        metrics::CONNECTIONS.dec();
        metrics::BUFFERED_BYTES.sub(self.sub.buffered.load(Ordering::Acquire) as i64);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sluice_logql::labels::MatchOp;

    fn stream(app: &str, n: usize, line_len: usize) -> PushedStream {
        PushedStream {
            labels: Arc::new(Labels::new(vec![("app".into(), app.into())])),
            entries: (0..n)
                .map(|i| Entry {
                    ts: i as i64,
                    line: vec![b'x'; line_len].into(),
                    metadata: vec![],
                    cut: false,
                })
                .collect(),
        }
    }

    fn eq(name: &str, v: &str) -> Vec<Matcher> {
        vec![Matcher::new(name, MatchOp::Eq, v).unwrap()]
    }

    #[tokio::test]
    async fn routes_by_tenant_and_selector() {
        let hub = Arc::new(TailHub::default());
        assert!(!hub.is_active());
        let mut a = hub.subscribe("t1", eq("app", "a"));
        let mut other_tenant = hub.subscribe("t2", eq("app", "a"));
        assert_eq!(hub.subscribers(), 2);
        hub.publish("t1", &[stream("a", 2, 10), stream("b", 3, 10)]);
        let got = a.recv().await.unwrap().stream;
        assert_eq!(got.labels.get("app"), Some("a"));
        assert_eq!(got.entries.len(), 2);
        assert!(a.buffered_bytes() > 0);
        a.release(&got);
        assert_eq!(a.buffered_bytes(), 0);
        assert!(a.try_recv().is_none());
        assert!(other_tenant.try_recv().is_none());
        drop(a);
        drop(other_tenant);
        assert!(!hub.is_active());
    }

    #[tokio::test]
    async fn over_budget_entries_are_dropped_and_recorded() {
        let hub = Arc::new(TailHub::new(TailLimits {
            max_buffered_bytes: 1000,
            max_dropped_entries: 10,
            ..TailLimits::default()
        }));
        let mut s = hub.subscribe("t", eq("app", "a"));
        hub.publish("t", &[stream("a", 5, 100)]); // 5 * 148 bytes: fits
        hub.publish("t", &[stream("a", 10, 100)]); // over budget, at the limit
        assert_eq!(s.dropped_total(), 10);
        let signal = s.overflow_signal();
        let early = tokio::time::timeout(std::time::Duration::from_millis(50), signal.notified());
        assert!(early.await.is_err(), "signalled at the limit");
        s.take_dropped();
        hub.publish("t", &[stream("a", 2000, 100)]); // over budget
        assert_eq!(s.recv().await.unwrap().stream.entries.len(), 5);
        assert!(s.try_recv().is_none());
        // past max_dropped_entries the connection is signalled
        tokio::time::timeout(
            std::time::Duration::from_secs(1),
            s.overflow_signal().notified(),
        )
        .await
        .unwrap();
        let (recent, total) = s.take_dropped();
        assert_eq!(total, 2010);
        assert_eq!(recent.len(), MAX_DROPPED_RECORDS);
        assert_eq!(recent.last().unwrap().ts, 999);
        assert_eq!(s.take_dropped().0.len(), 0);
        assert_eq!(s.dropped_total(), 2010);
    }
}

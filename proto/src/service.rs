//! Service traits between components. Each has an in-process implementation
//! (the component itself) and, for microservices, a gRPC client/server pair
//! with the same trait, so a caller cannot tell local from remote.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::logproto::PushRequest;

/// Status of a failed service call, mapped to HTTP/gRPC codes in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// 400
    InvalidArgument,
    /// 413
    TooLarge,
    /// 429
    ResourceExhausted,
    /// 503
    Unavailable,
    /// 500
    Internal,
}

/// A failed service call: a code and a message a person can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceError {
    pub code: Code,
    pub message: String,
}

impl ServiceError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ServiceError {
            code,
            message: message.into(),
        }
    }

    pub fn http_status(&self) -> u16 {
        match self.code {
            Code::InvalidArgument => 400,
            Code::TooLarge => 413,
            Code::ResourceExhausted => 429,
            Code::Unavailable => 503,
            Code::Internal => 500,
        }
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServiceError {}

/// Distributor → ingester. Streams arrive validated, with `labels` in
/// canonical form (`{a="b", c="d"}`, sorted) and `hash` set to the label
/// set's fingerprint. Returns once the entries are durable in the WAL.
#[async_trait::async_trait]
pub trait Pusher: Send + Sync {
    async fn push(&self, tenant: &str, req: PushRequest) -> Result<(), ServiceError>;
}

/// The ingesters a stream's entries are written to, or a read asks, and how
/// many of them may fail before the operation does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaSet {
    /// gRPC addresses (`host:port`) of the instances.
    pub addrs: Vec<String>,
    /// Failures tolerated: a write needs `addrs.len() - max_errors`
    /// successes per stream, a read answers from all but `max_errors`.
    pub max_errors: usize,
}

impl ReplicaSet {
    /// Successes a write needs for each stream.
    pub fn min_success(&self) -> usize {
        self.addrs.len().saturating_sub(self.max_errors)
    }
}

/// Which ingesters own a stream (by token) and which a read must ask. The
/// `ring` crate implements it over the replicated hash ring; [`StaticRing`]
/// over a fixed list.
pub trait IngesterRing: Send + Sync {
    /// The replicas stream token `token` is written to.
    fn write_set(&self, token: u32) -> Result<ReplicaSet, ServiceError>;
    /// Every instance that may hold recent data.
    fn read_set(&self) -> Result<ReplicaSet, ServiceError>;
}

/// A ring over a fixed list of addresses: token `t` is owned by the
/// `replication_factor` addresses starting at `t mod n`. For tests and
/// static deployments.
#[derive(Clone, Debug)]
pub struct StaticRing {
    addrs: Vec<String>,
    replication_factor: usize,
}

impl StaticRing {
    pub fn new(addrs: Vec<String>, replication_factor: usize) -> Self {
        StaticRing {
            addrs,
            replication_factor: replication_factor.max(1),
        }
    }

    fn replicas(&self) -> usize {
        self.replication_factor.min(self.addrs.len())
    }
}

impl IngesterRing for StaticRing {
    fn write_set(&self, token: u32) -> Result<ReplicaSet, ServiceError> {
        let n = self.addrs.len();
        if n == 0 {
            return Err(ServiceError::new(
                Code::Unavailable,
                "empty ring: no ingesters configured",
            ));
        }
        let rf = self.replicas();
        let start = token as usize % n;
        Ok(ReplicaSet {
            addrs: (0..rf)
                .map(|i| self.addrs[(start + i) % n].clone())
                .collect(),
            max_errors: rf - (rf / 2 + 1),
        })
    }

    fn read_set(&self) -> Result<ReplicaSet, ServiceError> {
        if self.addrs.is_empty() {
            return Err(ServiceError::new(
                Code::Unavailable,
                "empty ring: no ingesters configured",
            ));
        }
        // every acknowledged write reached a quorum of its replicas, so
        // losing fewer than a quorum of instances still leaves one
        let rf = self.replicas();
        Ok(ReplicaSet {
            addrs: self.addrs.clone(),
            max_errors: rf / 2,
        })
    }
}

/// Connects to an instance by address; called once per address.
type Connect<T> = dyn Fn(&str) -> Result<Arc<T>, ServiceError> + Send + Sync;

/// How often a pool drops the clients of instances that left the ring
/// (Loki's client pool checks every 15 s as well).
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(15);

/// One client per instance address, created on first use and reused (a
/// gRPC client multiplexes every call over one connection). Clients of
/// instances that left the ring are dropped by [`ClientPool::prune`].
pub struct ClientPool<T: ?Sized> {
    connect: Box<Connect<T>>,
    clients: Mutex<HashMap<String, Arc<T>>>,
    /// When the pool was last pruned, and how often it is.
    pruned: Mutex<Instant>,
    prune_interval: Duration,
}

impl<T: ?Sized> ClientPool<T> {
    pub fn new(
        connect: impl Fn(&str) -> Result<Arc<T>, ServiceError> + Send + Sync + 'static,
    ) -> Self {
        ClientPool {
            connect: Box::new(connect),
            clients: Mutex::new(HashMap::new()),
            pruned: Mutex::new(Instant::now()),
            prune_interval: PRUNE_INTERVAL,
        }
    }

    /// The pool pruning at most once per `interval` instead of
    /// [`PRUNE_INTERVAL`].
    pub fn with_prune_interval(mut self, interval: Duration) -> Self {
        self.prune_interval = interval;
        self
    }

    /// Once per prune interval: drops the client of every address not in
    /// `live()` (the instances now in the ring), so a departed instance's
    /// connection closes and its client is not kept forever. `live`
    /// returning `None` (the ring cannot say) keeps everything.
    pub fn prune(&self, live: impl FnOnce() -> Option<Vec<String>>) {
        {
            let mut pruned = self.pruned.lock().unwrap_or_else(PoisonError::into_inner);
            if pruned.elapsed() < self.prune_interval {
                return;
            }
            *pruned = Instant::now();
        }
        let Some(live) = live() else {
            return;
        };
        let gone: Vec<(String, Arc<T>)> = {
            let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
            let keys: Vec<String> = clients
                .keys()
                .filter(|a| !live.contains(a))
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| clients.remove_entry(&k))
                .collect()
        };
        // dropped outside the lock: closing a connection may take a while
        drop(gone);
    }

    /// The client for `addr`, connecting on first use.
    pub fn get(&self, addr: &str) -> Result<Arc<T>, ServiceError> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = clients.get(addr) {
            return Ok(c.clone());
        }
        let c = (self.connect)(addr)?;
        clients.insert(addr.to_string(), c.clone());
        Ok(c)
    }

    /// Forgets the client of an instance that left.
    pub fn remove(&self, addr: &str) {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(addr);
    }

    /// Number of cached clients.
    pub fn len(&self) -> usize {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ring(n: usize, rf: usize) -> StaticRing {
        StaticRing::new((0..n).map(|i| format!("i{i}")).collect(), rf)
    }

    #[test]
    fn static_ring_sets() {
        let r = ring(5, 3);
        let s = r.write_set(7).unwrap();
        assert_eq!(s.addrs, vec!["i2", "i3", "i4"]);
        assert_eq!((s.max_errors, s.min_success()), (1, 2));
        assert_eq!(r.write_set(4).unwrap().addrs, vec!["i4", "i0", "i1"]);
        let rd = r.read_set().unwrap();
        assert_eq!((rd.addrs.len(), rd.max_errors), (5, 1));
        // fewer instances than the replication factor
        let s = ring(1, 3).write_set(9).unwrap();
        assert_eq!((s.addrs.len(), s.max_errors), (1, 0));
        let e = ring(0, 3).write_set(1).unwrap_err();
        assert_eq!(e.http_status(), 503);
    }

    #[test]
    fn pool_reuses_clients() {
        let made = Arc::new(Mutex::new(0));
        let m = made.clone();
        let pool: ClientPool<String> = ClientPool::new(move |a| {
            *m.lock().unwrap() += 1;
            if a == "bad" {
                return Err(ServiceError::new(Code::Internal, "bad address"));
            }
            Ok(Arc::new(a.to_string()))
        });
        let a = pool.get("x").unwrap();
        let b = pool.get("x").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(pool.get("bad").is_err());
        assert_eq!((*made.lock().unwrap(), pool.len()), (2, 1));
        pool.remove("x");
        assert!(pool.is_empty());
    }

    #[test]
    fn prune_drops_departed_instances_once_per_interval() {
        let pool: ClientPool<String> = ClientPool::new(|a| Ok(Arc::new(a.to_string())));
        for a in ["a", "b", "c"] {
            pool.get(a).unwrap();
        }
        // not due yet: the ring is not even asked
        pool.prune(|| panic!("asked before the interval passed"));
        assert_eq!(pool.len(), 3);

        let pool = pool.with_prune_interval(Duration::ZERO);
        pool.prune(|| None);
        assert_eq!(pool.len(), 3, "an unknown ring keeps every client");
        pool.prune(|| Some(vec!["a".to_string(), "c".to_string(), "d".to_string()]));
        assert_eq!(pool.len(), 2);
        let made_again = pool.get("b").unwrap();
        assert_eq!(*made_again, "b");
        assert_eq!(pool.len(), 3);
    }
}

//! The consistent-hash ring: which instances own a key, for writes and reads.
//!
//! Semantics follow Loki's ring (dskit): a key belongs to the first token
//! strictly greater than it, walking clockwise and wrapping around. Walking
//! on collects `replication_factor` distinct instances; for a write, an
//! instance that is not ACTIVE is kept but the set is extended by one more
//! instance, then instances unhealthy for the operation (wrong state or
//! heartbeat older than the timeout) are dropped. A quorum is
//! `max(rf, set size) / 2 + 1`; the set carries how many errors it tolerates.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::config::RingConfig;
use crate::desc::{now_ms, InstanceDesc, InstanceState, RingDesc};
use crate::error::{Error, Result};

/// What a replication set is for; decides which states are healthy and
/// which extend the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Writes go to ACTIVE instances; a non-ACTIVE instance extends the set.
    Write,
    /// Like `Write` without extending the set.
    WriteNoExtend,
    /// Reads may use ACTIVE, PENDING and LEAVING instances; others extend the set.
    Read,
    /// Any live state counts (status pages, health reports).
    Reporting,
}

impl Operation {
    /// Whether an instance in `state` may serve this operation.
    pub fn is_healthy_state(self, state: InstanceState) -> bool {
        use InstanceState::*;
        match self {
            Operation::Write | Operation::WriteNoExtend => state == Active,
            Operation::Read => matches!(state, Active | Pending | Leaving),
            Operation::Reporting => state != Left,
        }
    }

    /// Whether meeting an instance in `state` adds one more instance to the set.
    pub fn extends_on(self, state: InstanceState) -> bool {
        use InstanceState::*;
        match self {
            Operation::Write => state != Active,
            Operation::Read => state != Active && state != Leaving,
            Operation::WriteNoExtend | Operation::Reporting => false,
        }
    }
}

/// The instances to send one request to, and how many of them may fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationSet {
    /// Instances to contact, in ring order (shared with the ring, cheap to clone).
    pub instances: Vec<Arc<InstanceDesc>>,
    /// How many of them may fail while the operation still succeeds.
    pub max_errors: usize,
}

impl ReplicationSet {
    /// How many successes the operation needs (the quorum).
    pub fn min_success(&self) -> usize {
        self.instances.len().saturating_sub(self.max_errors)
    }

    /// Ids of the instances, in ring order.
    pub fn ids(&self) -> Vec<&str> {
        self.instances.iter().map(|i| i.id.as_str()).collect()
    }

    /// Whether the set contains the instance `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.instances.iter().any(|i| i.id == id)
    }
}

/// The quorum of a replication factor: `rf / 2 + 1`.
pub fn quorum(replication_factor: usize) -> usize {
    replication_factor / 2 + 1
}

/// An immutable view of the ring built from a [`RingDesc`].
#[derive(Clone, Debug)]
pub struct Ring {
    desc: RingDesc,
    /// Live instances, ordered by id.
    instances: Vec<Arc<InstanceDesc>>,
    /// Every token with the index of its instance in `instances`, sorted by token.
    tokens: Vec<(u32, usize)>,
    replication_factor: usize,
    heartbeat_timeout: Duration,
    zone_awareness: bool,
}

impl Ring {
    /// Builds the ring from a descriptor (tombstones are ignored).
    pub fn new(desc: RingDesc, cfg: &RingConfig) -> Ring {
        let instances: Vec<Arc<InstanceDesc>> =
            desc.live_instances().cloned().map(Arc::new).collect();
        let mut tokens: Vec<(u32, usize)> = instances
            .iter()
            .enumerate()
            .flat_map(|(idx, inst)| inst.tokens.iter().map(move |t| (*t, idx)))
            .collect();
        tokens.sort_unstable();
        tokens.dedup_by_key(|(t, _)| *t);
        Ring {
            desc,
            instances,
            tokens,
            replication_factor: cfg.replication_factor.max(1),
            heartbeat_timeout: cfg.heartbeat_timeout,
            zone_awareness: cfg.zone_awareness_enabled,
        }
    }

    /// The descriptor this ring was built from.
    pub fn desc(&self) -> &RingDesc {
        &self.desc
    }

    /// Live instances, ordered by id.
    pub fn instances(&self) -> &[Arc<InstanceDesc>] {
        &self.instances
    }

    /// The configured replication factor.
    pub fn replication_factor(&self) -> usize {
        self.replication_factor
    }

    /// The configured heartbeat timeout.
    pub fn heartbeat_timeout(&self) -> Duration {
        self.heartbeat_timeout
    }

    /// Number of tokens on the ring.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// Whether `instance` is healthy for `op` now.
    pub fn is_healthy(&self, instance: &InstanceDesc, op: Operation) -> bool {
        instance.is_healthy(op, self.heartbeat_timeout, now_ms())
    }

    /// Instances healthy for `op` now.
    pub fn healthy_instances(&self, op: Operation) -> Vec<&InstanceDesc> {
        let now = now_ms();
        self.instances
            .iter()
            .filter(|i| i.is_healthy(op, self.heartbeat_timeout, now))
            .map(|i| i.as_ref())
            .collect()
    }

    /// The replication set of `key` for `op`.
    pub fn get(&self, key: u32, op: Operation) -> Result<ReplicationSet> {
        self.get_at(key, op, now_ms())
    }

    /// Like [`Ring::get`] at a given time (unix milliseconds).
    pub fn get_at(&self, key: u32, op: Operation, now_ms: i64) -> Result<ReplicationSet> {
        if self.tokens.is_empty() {
            return Err(Error::EmptyRing);
        }
        let candidates = self.walk(key, op);
        self.filter(candidates, op, now_ms)
    }

    /// Walks clockwise from `key` collecting distinct instances (dskit's `Get`).
    fn walk(&self, key: u32, op: Operation) -> Vec<&Arc<InstanceDesc>> {
        let mut wanted = self.replication_factor.min(self.instances.len());
        let start = self.search(key);
        // A handful of entries at most: linear scans beat hashing here.
        let mut seen: Vec<usize> = Vec::with_capacity(wanted + 2);
        let mut zones: Vec<&str> = Vec::new();
        let mut out = Vec::with_capacity(wanted + 2);
        for i in 0..self.tokens.len() {
            if out.len() >= wanted {
                break;
            }
            let (_, idx) = self.tokens[(start + i) % self.tokens.len()];
            if seen.contains(&idx) {
                continue;
            }
            let inst = &self.instances[idx];
            let zone = inst.zone.as_deref().unwrap_or("");
            if self.zone_awareness && !zone.is_empty() && zones.contains(&zone) {
                continue;
            }
            seen.push(idx);
            if op.extends_on(inst.state) {
                wanted += 1;
            } else if self.zone_awareness && !zone.is_empty() {
                zones.push(zone);
            }
            out.push(inst);
        }
        out
    }

    /// Drops unhealthy instances and computes the tolerated errors (dskit's `Filter`).
    fn filter(
        &self,
        candidates: Vec<&Arc<InstanceDesc>>,
        op: Operation,
        now_ms: i64,
    ) -> Result<ReplicationSet> {
        let rf = self.replication_factor.max(candidates.len());
        let min_success = quorum(rf);
        let (healthy, unhealthy): (Vec<_>, Vec<_>) = candidates
            .into_iter()
            .partition(|i| i.is_healthy(op, self.heartbeat_timeout, now_ms));
        if healthy.len() < min_success {
            return Err(Error::TooManyUnhealthy {
                required: min_success,
                found: healthy.len(),
                unhealthy: unhealthy.iter().map(|i| i.grpc_addr.clone()).collect(),
            });
        }
        Ok(ReplicationSet {
            max_errors: healthy.len() - min_success,
            instances: healthy.into_iter().cloned().collect(),
        })
    }

    /// Index into `tokens` of the first token strictly greater than `key`, wrapping.
    fn search(&self, key: u32) -> usize {
        let i = self.tokens.partition_point(|(t, _)| *t <= key);
        if i >= self.tokens.len() {
            0
        } else {
            i
        }
    }

    /// Every instance healthy for `op`, for queries that must ask the whole
    /// ring (dskit's `GetReplicationSetForOperation`): tolerates `rf / 2`
    /// failures minus the instances already unhealthy.
    pub fn all_healthy(&self, op: Operation) -> Result<ReplicationSet> {
        let now = now_ms();
        let healthy: Vec<Arc<InstanceDesc>> = self
            .instances
            .iter()
            .filter(|i| i.is_healthy(op, self.heartbeat_timeout, now))
            .cloned()
            .collect();
        let required =
            self.instances.len().max(self.replication_factor) - self.replication_factor / 2;
        if healthy.len() < required {
            let unhealthy = self
                .instances
                .iter()
                .filter(|i| !i.is_healthy(op, self.heartbeat_timeout, now))
                .map(|i| i.grpc_addr.clone())
                .collect();
            return Err(Error::TooManyUnhealthy {
                required,
                found: healthy.len(),
                unhealthy,
            });
        }
        Ok(ReplicationSet {
            max_errors: healthy.len() - required,
            instances: healthy,
        })
    }

    /// The single owner of `key` for sharding work such as rule groups: the
    /// first healthy ACTIVE instance clockwise from the key.
    pub fn owner(&self, key: u32) -> Option<InstanceDesc> {
        if self.tokens.is_empty() {
            return None;
        }
        let now = now_ms();
        let start = self.search(key);
        (0..self.tokens.len())
            .map(|i| &self.instances[self.tokens[(start + i) % self.tokens.len()].1])
            .find(|inst| inst.is_healthy(Operation::Write, self.heartbeat_timeout, now))
            .map(|inst| inst.as_ref().clone())
    }

    /// The id of the instance whose token range holds `key` (primary owner,
    /// regardless of health).
    pub fn primary(&self, key: u32) -> Option<&str> {
        if self.tokens.is_empty() {
            return None;
        }
        let (_, idx) = self.tokens[self.search(key)];
        Some(self.instances[idx].id.as_str())
    }

    /// The fraction of the 32-bit key space each instance owns as primary
    /// (sums to 1 over instances holding tokens).
    pub fn ownership(&self) -> BTreeMap<String, f64> {
        let mut owned: HashMap<usize, u64> = HashMap::new();
        let n = self.tokens.len();
        for i in 0..n {
            let (token, idx) = self.tokens[i];
            let (prev, _) = self.tokens[(i + n - 1) % n];
            // Keys in [prev, token) belong to `token`; a lone token owns everything.
            let span = if n == 1 {
                1u64 << 32
            } else {
                u64::from(token.wrapping_sub(prev))
            };
            *owned.entry(idx).or_default() += span;
        }
        self.instances
            .iter()
            .enumerate()
            .map(|(idx, inst)| {
                let share = owned.get(&idx).copied().unwrap_or(0) as f64 / (1u64 << 32) as f64;
                (inst.id.clone(), share)
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;

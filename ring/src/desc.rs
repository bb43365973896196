//! The ring descriptor: the instances registered under one membership key,
//! with a per-instance last-write-wins merge.
//!
//! Every instance entry carries a `version` (unix nanoseconds of the write,
//! strictly increasing per instance). Two descriptors merge instance by
//! instance: the entry with the higher version wins. A removed instance is a
//! tombstone (state `LEFT`, no tokens) so a removal also wins over older
//! writes; tombstones are dropped after [`LEFT_INSTANCE_RETENTION`]. This is
//! what lets every writer send only the entries it changed, and what makes
//! the in-memory and the raft-replicated stores behave the same.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::ring::Operation;

/// How long a tombstone of a removed instance is kept so that late, older
/// writes of that instance cannot resurrect it.
pub const LEFT_INSTANCE_RETENTION: Duration = Duration::from_secs(5 * 60);

/// The lifecycle state of an instance, as Loki names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceState {
    /// Registered but not yet joining (kept for Loki compatibility).
    Pending,
    /// Picking tokens; not yet receiving writes.
    Joining,
    /// Owns its tokens and receives writes.
    Active,
    /// Shutting down: still serves reads, receives no writes.
    Leaving,
    /// Removed (tombstone); never part of the ring.
    Left,
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            InstanceState::Pending => "PENDING",
            InstanceState::Joining => "JOINING",
            InstanceState::Active => "ACTIVE",
            InstanceState::Leaving => "LEAVING",
            InstanceState::Left => "LEFT",
        };
        f.write_str(s)
    }
}

/// One instance (ingester, ruler, ...) registered in the ring.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceDesc {
    /// Unique instance id (Loki's `ingester.lifecycler.id`, the hostname by default).
    pub id: String,
    /// gRPC address other components dial (`host:port`).
    pub grpc_addr: String,
    /// HTTP address (`host:port`).
    pub http_addr: String,
    /// Availability zone, for zone-aware replication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Sorted tokens owned on the ring.
    #[serde(default)]
    pub tokens: Vec<u32>,
    /// Lifecycle state.
    pub state: InstanceState,
    /// When the instance first registered, unix milliseconds.
    pub registered_at_ms: i64,
    /// Last heartbeat, unix milliseconds.
    pub heartbeat_at_ms: i64,
    /// Last-write-wins version: unix nanoseconds of the last write of this
    /// entry. Set by the membership store, not by callers.
    #[serde(default)]
    pub version: u64,
}

impl InstanceDesc {
    /// A new instance entry with the given state, registered and heartbeating now.
    pub fn new(id: &str, grpc_addr: &str, http_addr: &str, state: InstanceState) -> Self {
        let now = now_ms();
        InstanceDesc {
            id: id.to_string(),
            grpc_addr: grpc_addr.to_string(),
            http_addr: http_addr.to_string(),
            zone: None,
            tokens: Vec::new(),
            state,
            registered_at_ms: now,
            heartbeat_at_ms: now,
            version: 0,
        }
    }

    /// Whether the last heartbeat is recent enough. A zero timeout disables the check.
    pub fn is_heartbeat_healthy(&self, heartbeat_timeout: Duration, now_ms: i64) -> bool {
        if heartbeat_timeout.is_zero() {
            return true;
        }
        let age = now_ms.saturating_sub(self.heartbeat_at_ms);
        age <= i64::try_from(heartbeat_timeout.as_millis()).unwrap_or(i64::MAX)
    }

    /// Whether the instance may serve `op`: its state qualifies and its heartbeat is fresh.
    pub fn is_healthy(&self, op: Operation, heartbeat_timeout: Duration, now_ms: i64) -> bool {
        op.is_healthy_state(self.state) && self.is_heartbeat_healthy(heartbeat_timeout, now_ms)
    }

    fn tombstone(&self) -> InstanceDesc {
        InstanceDesc {
            tokens: Vec::new(),
            state: InstanceState::Left,
            ..self.clone()
        }
    }

    /// Equal ignoring the version (what a caller changed).
    fn same_content(&self, other: &InstanceDesc) -> bool {
        InstanceDesc {
            version: 0,
            ..self.clone()
        } == InstanceDesc {
            version: 0,
            ..other.clone()
        }
    }
}

/// The instances registered under one membership key, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingDesc {
    /// Instances by id, including tombstones (state `LEFT`).
    #[serde(default)]
    pub instances: BTreeMap<String, InstanceDesc>,
}

impl RingDesc {
    /// An empty descriptor.
    pub fn new() -> Self {
        RingDesc::default()
    }

    /// A live (not removed) instance by id.
    pub fn instance(&self, id: &str) -> Option<&InstanceDesc> {
        self.instances
            .get(id)
            .filter(|i| i.state != InstanceState::Left)
    }

    /// Live instances, ordered by id.
    pub fn live_instances(&self) -> impl Iterator<Item = &InstanceDesc> {
        self.instances
            .values()
            .filter(|i| i.state != InstanceState::Left)
    }

    /// Adds or replaces an instance (the store assigns its version).
    pub fn upsert(&mut self, instance: InstanceDesc) {
        self.instances.insert(instance.id.clone(), instance);
    }

    /// Removes an instance; returns whether it was present.
    pub fn remove(&mut self, id: &str) -> bool {
        self.instances.remove(id).is_some()
    }

    /// Tokens held by live instances.
    pub fn taken_tokens(&self) -> HashSet<u32> {
        self.live_instances()
            .flat_map(|i| i.tokens.iter().copied())
            .collect()
    }

    /// Merges `other` into `self`, instance by instance, the higher version
    /// winning; then drops tombstones older than [`LEFT_INSTANCE_RETENTION`]
    /// relative to the newest version seen. Returns whether `self` changed.
    ///
    /// Deterministic (no clock read), so raft replicas applying the same
    /// deltas in the same order end up with the same descriptor.
    pub fn merge(&mut self, other: &RingDesc) -> bool {
        let mut changed = false;
        let mut newest = 0u64;
        for (id, incoming) in &other.instances {
            newest = newest.max(incoming.version);
            let wins = match self.instances.get(id) {
                Some(current) => incoming.version > current.version,
                None => true,
            };
            if wins {
                self.instances.insert(id.clone(), incoming.clone());
                changed = true;
            }
        }
        let retention = u64::try_from(LEFT_INSTANCE_RETENTION.as_nanos()).unwrap_or(u64::MAX);
        let horizon = newest.saturating_sub(retention);
        let before = self.instances.len();
        self.instances
            .retain(|_, i| i.state != InstanceState::Left || i.version >= horizon);
        changed || before != self.instances.len()
    }

    /// The entries a writer changed going from `old` to `self`, with fresh
    /// versions: changed or added instances, and tombstones for removed ones.
    /// `None` when nothing changed.
    pub fn delta_from(&self, old: Option<&RingDesc>, now_ns: u64) -> Option<RingDesc> {
        let empty = RingDesc::default();
        let old = old.unwrap_or(&empty);
        let mut delta = RingDesc::default();
        let next_version = |prev: Option<&InstanceDesc>| {
            prev.map_or(now_ns, |p| now_ns.max(p.version.saturating_add(1)))
        };
        for (id, new) in &self.instances {
            let prev = old.instances.get(id);
            if prev.is_some_and(|p| p.same_content(new)) {
                continue;
            }
            let mut entry = new.clone();
            entry.tokens.sort_unstable();
            entry.version = next_version(prev);
            delta.instances.insert(id.clone(), entry);
        }
        for (id, prev) in &old.instances {
            if prev.state != InstanceState::Left && !self.instances.contains_key(id) {
                let mut entry = prev.tombstone();
                entry.version = next_version(Some(prev));
                delta.instances.insert(id.clone(), entry);
            }
        }
        (!delta.instances.is_empty()).then_some(delta)
    }
}

/// Current time as unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Current time as unix nanoseconds.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn inst(id: &str, state: InstanceState) -> InstanceDesc {
        InstanceDesc::new(id, "g:1", "h:1", state)
    }

    #[test]
    fn delta_contains_only_changes_and_tombstones() {
        let mut old = RingDesc::new();
        old.upsert(inst("a", InstanceState::Active));
        old.upsert(inst("b", InstanceState::Active));
        let mut new = old.clone();
        new.instances.get_mut("a").unwrap().state = InstanceState::Leaving;
        new.remove("b");
        new.upsert(inst("c", InstanceState::Joining));
        let delta = new.delta_from(Some(&old), 1_000).unwrap();
        assert_eq!(delta.instances.len(), 3);
        assert_eq!(delta.instances["a"].state, InstanceState::Leaving);
        assert_eq!(delta.instances["b"].state, InstanceState::Left);
        assert!(delta.instances["b"].tokens.is_empty());
        assert_eq!(delta.instances["c"].version, 1_000);
        assert!(old.clone().delta_from(Some(&old), 5).is_none());
    }

    #[test]
    fn merge_is_last_write_wins_per_instance() {
        let mut a = RingDesc::new();
        let mut x = inst("x", InstanceState::Active);
        x.version = 10;
        a.upsert(x.clone());
        let mut older = x.clone();
        older.state = InstanceState::Leaving;
        older.version = 5;
        let mut b = RingDesc::new();
        b.upsert(older);
        assert!(!a.merge(&b));
        assert_eq!(a.instances["x"].state, InstanceState::Active);
        let mut newer = x.clone();
        newer.state = InstanceState::Leaving;
        newer.version = 11;
        b.upsert(newer);
        assert!(a.merge(&b));
        assert_eq!(a.instances["x"].state, InstanceState::Leaving);
    }

    #[test]
    fn version_increases_even_with_a_clock_behind() {
        let mut old = RingDesc::new();
        let mut x = inst("x", InstanceState::Active);
        x.version = 100;
        old.upsert(x);
        let mut new = old.clone();
        new.instances.get_mut("x").unwrap().heartbeat_at_ms += 1;
        let delta = new.delta_from(Some(&old), 50).unwrap();
        assert_eq!(delta.instances["x"].version, 101);
    }

    #[test]
    fn tombstones_are_dropped_after_retention() {
        let mut d = RingDesc::new();
        let mut gone = inst("gone", InstanceState::Left);
        gone.version = 1;
        d.upsert(gone);
        let mut later = RingDesc::new();
        let mut y = inst("y", InstanceState::Active);
        y.version = 1 + LEFT_INSTANCE_RETENTION.as_nanos() as u64 + 1;
        later.upsert(y);
        assert!(d.merge(&later));
        assert!(!d.instances.contains_key("gone"));
        assert!(d.instance("y").is_some());
    }
}

//! Prometheus metrics of a ring, with Loki's names under the `sluice_` prefix:
//! `sluice_ring_members{name,state}` (state includes `Unhealthy`) and
//! `sluice_ring_tokens_total{name}`.

use prometheus::{IntGaugeVec, Opts, Registry};

use crate::error::{Error, Result};
use crate::ring::{Operation, Ring};

/// Gauges describing rings, labelled by ring name (`ingester`, `ruler`, ...).
#[derive(Clone)]
pub struct RingMetrics {
    members: IntGaugeVec,
    tokens: IntGaugeVec,
}

const STATES: [&str; 5] = ["ACTIVE", "JOINING", "LEAVING", "PENDING", "Unhealthy"];

impl RingMetrics {
    /// Creates the gauges and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<RingMetrics> {
        let metric_err =
            |e: prometheus::Error| Error::Config(format!("registering ring metrics: {e}"));
        let members = IntGaugeVec::new(
            Opts::new(
                "sluice_ring_members",
                "Number of members in the ring by state.",
            ),
            &["name", "state"],
        )
        .map_err(metric_err)?;
        let tokens = IntGaugeVec::new(
            Opts::new("sluice_ring_tokens_total", "Number of tokens in the ring."),
            &["name"],
        )
        .map_err(metric_err)?;
        registry
            .register(Box::new(members.clone()))
            .map_err(metric_err)?;
        registry
            .register(Box::new(tokens.clone()))
            .map_err(metric_err)?;
        Ok(RingMetrics { members, tokens })
    }

    /// Sets the gauges of ring `name` from `ring`.
    pub fn observe(&self, name: &str, ring: &Ring) {
        let mut counts = [0i64; STATES.len()];
        for inst in ring.instances() {
            let state = if ring.is_healthy(inst, Operation::Reporting) {
                inst.state.to_string()
            } else {
                "Unhealthy".to_string()
            };
            if let Some(i) = STATES.iter().position(|s| *s == state) {
                counts[i] += 1;
            }
        }
        for (state, count) in STATES.iter().zip(counts) {
            self.members.with_label_values(&[name, state]).set(count);
        }
        self.tokens
            .with_label_values(&[name])
            .set(i64::try_from(ring.token_count()).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::RingConfig;
    use crate::desc::{InstanceDesc, InstanceState, RingDesc};

    #[test]
    fn counts_members_by_state_and_health() {
        let registry = Registry::new();
        let metrics = RingMetrics::new(&registry).unwrap();
        let mut desc = RingDesc::new();
        for (id, state, age_ms) in [
            ("a", InstanceState::Active, 0),
            ("b", InstanceState::Active, 0),
            ("c", InstanceState::Leaving, 0),
            ("d", InstanceState::Active, 120_000),
        ] {
            let mut i = InstanceDesc::new(id, "g", "h", state);
            i.heartbeat_at_ms -= age_ms;
            i.tokens = vec![id.as_bytes()[0].into()];
            desc.upsert(i);
        }
        metrics.observe("ingester", &Ring::new(desc, &RingConfig::default()));
        let get = |state: &str| {
            metrics
                .members
                .with_label_values(&["ingester", state])
                .get()
        };
        assert_eq!(
            (
                get("ACTIVE"),
                get("LEAVING"),
                get("Unhealthy"),
                get("JOINING")
            ),
            (2, 1, 1, 0)
        );
        assert_eq!(metrics.tokens.with_label_values(&["ingester"]).get(), 4);
        assert_eq!(registry.gather().len(), 2);
    }
}

//! The ruler: Loki-format alerting and recording rules (Prometheus
//! rule-group YAML with LogQL expressions), per tenant from a local rules
//! directory or the object store, evaluated on each group's interval with the querier's LogQL
//! engine. Alerts go to Alertmanager's v2 API with Prometheus's
//! pending/firing/resolved semantics; recorded samples go to Prometheus
//! remote_write endpoints. Serves Loki's ruler API and the
//! Prometheus-compatible `/prometheus/api/v1/rules` and `/alerts`.

pub mod alert;
pub mod api;
pub mod config;
mod error;
mod metrics;
pub mod notifier;
pub mod object;
pub mod remote_write;
mod ruler;
pub mod rules;
pub mod store;

pub use config::RulerConfig;
pub use error::{Error, Result};
pub use ruler::{
    GroupKey, GroupOwnership, GroupStatus, Health, OwnAll, QueryEngine, RuleStatus, Ruler,
};

/// Wall-clock time in unix nanoseconds.
pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

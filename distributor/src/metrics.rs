//! Distributor metrics, registered in the default Prometheus registry
//! (Loki's `loki_distributor_ingester_append*` counterparts).

use std::sync::LazyLock;

use prometheus::{IntCounterVec, Opts};

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|_| unreachable!("metric names and labels are static and valid"));
    let _ = prometheus::register(Box::new(c.clone()));
    c
}

/// Pushes sent to each ingester.
pub static INGESTER_APPENDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "sluice_distributor_ingester_appends_total",
        "Batches of streams sent to an ingester.",
        &["ingester"],
    )
});

/// Pushes an ingester failed, by HTTP-class status.
pub static INGESTER_APPEND_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "sluice_distributor_ingester_append_failures_total",
        "Batches of streams an ingester failed or refused.",
        &["ingester", "status"],
    )
});

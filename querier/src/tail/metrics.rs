//! Live-tail metrics, registered in the default Prometheus registry.

use std::sync::LazyLock;

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};

// Metric names, help texts and label names are constants and valid, so
// the constructors cannot fail.
fn unreachable_metric<T>() -> T {
    unreachable!("metric names are static and valid")
}

fn register<T: prometheus::core::Collector + Clone + 'static>(m: T) -> T {
    let _ = prometheus::register(Box::new(m.clone()));
    m
}

pub static CONNECTIONS: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "sluice_querier_tail_connections",
            "Open live-tail connections.",
        )
        .unwrap_or_else(|_| unreachable_metric()),
    )
});

pub static BUFFERED_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "sluice_querier_tail_buffered_bytes",
            "Bytes of pushed entries queued for live-tail connections.",
        )
        .unwrap_or_else(|_| unreachable_metric()),
    )
});

pub static DROPPED_ENTRIES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(
        IntCounter::new(
            "sluice_querier_tail_dropped_entries_total",
            "Entries not sent to a live-tail connection because it read too slowly.",
        )
        .unwrap_or_else(|_| unreachable_metric()),
    )
});

/// Closed tails by reason: `client`, `too_slow` (too many dropped
/// entries), `send_timeout`, `max_duration`, `error`.
pub static CLOSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "sluice_querier_tail_closed_total",
                "Live-tail connections ended, by reason.",
            ),
            &["reason"],
        )
        .unwrap_or_else(|_| unreachable_metric()),
    )
});

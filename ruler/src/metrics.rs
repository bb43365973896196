//! Ruler metrics, registered in the default Prometheus registry.

use std::sync::LazyLock;

use prometheus::IntCounter;

fn counter(name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|_| unreachable_metric());
    let _ = prometheus::register(Box::new(c.clone()));
    c
}

// Metric names and help texts are constants and valid, so `new` cannot fail.
fn unreachable_metric<T>() -> T {
    unreachable!("metric names are static and valid")
}

pub static EVALUATIONS: LazyLock<IntCounter> =
    LazyLock::new(|| counter("sluice_ruler_evaluations_total", "Rule evaluations."));
pub static EVALUATION_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_ruler_evaluation_failures_total",
        "Rule evaluations that failed.",
    )
});
pub static ALERTS_SENT: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_ruler_notifications_sent_total",
        "Alerts posted to Alertmanagers.",
    )
});
pub static ALERTS_FAILED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_ruler_notifications_errors_total",
        "Alerts an Alertmanager did not accept.",
    )
});
pub static ALERTS_DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_ruler_notifications_dropped_total",
        "Alerts dropped because the notification queue was full.",
    )
});
pub static SAMPLES_SENT: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_ruler_remote_write_samples_total",
        "Recorded samples written to remote_write endpoints.",
    )
});
pub static SAMPLES_FAILED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_ruler_remote_write_samples_failed_total",
        "Recorded samples given up after retries.",
    )
});
pub static SAMPLES_DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_ruler_remote_write_samples_dropped_total",
        "Recorded samples dropped because a queue was full.",
    )
});

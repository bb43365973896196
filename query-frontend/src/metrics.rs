//! Query-frontend metrics, registered in the default Prometheus registry.

use std::sync::LazyLock;

use prometheus::{IntCounter, IntGauge};

fn counter(name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|_| unreachable_metric());
    let _ = prometheus::register(Box::new(c.clone()));
    c
}

// Metric names and help texts are constants and valid, so `new` cannot fail.
fn unreachable_metric<T>() -> T {
    unreachable!("metric names are static and valid")
}

pub static QUERIES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_query_frontend_queries_total",
        "Queries answered through the frontend.",
    )
});
pub static SUBQUERIES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_query_frontend_subqueries_total",
        "Split and sharded sub-queries sent to queriers (retries included).",
    )
});
pub static SHARDED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_query_frontend_sharded_queries_total",
        "(Sub-)queries run as sharded sub-queries.",
    )
});
pub static RETRIES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_query_frontend_retries_total",
        "Sub-queries retried after a querier failure.",
    )
});
pub static DISCARDED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_query_frontend_discarded_requests_total",
        "Sub-queries refused because their tenant had max_outstanding_per_tenant queued.",
    )
});
pub static CACHE_HITS: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_query_frontend_results_cache_hits_total",
        "Split extents answered from the results cache.",
    )
});
pub static CACHE_MISSES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_query_frontend_results_cache_misses_total",
        "Cacheable split extents not in the results cache.",
    )
});
pub static QUEUE_LENGTH: LazyLock<IntGauge> = LazyLock::new(|| {
    let g = IntGauge::new(
        "sluice_query_frontend_queue_length",
        "Sub-queries waiting in the frontend's queues, all tenants.",
    )
    .unwrap_or_else(|_| unreachable_metric());
    let _ = prometheus::register(Box::new(g.clone()));
    g
});
pub static CONNECTED_CLIENTS: LazyLock<IntGauge> = LazyLock::new(|| {
    let g = IntGauge::new(
        "sluice_query_frontend_connected_clients",
        "Querier worker streams connected to this frontend (Loki's connected_clients).",
    )
    .unwrap_or_else(|_| unreachable_metric());
    let _ = prometheus::register(Box::new(g.clone()));
    g
});

//! Ingester metrics, registered in the default Prometheus registry.

use std::sync::LazyLock;

use prometheus::{IntCounter, IntGauge};

fn counter(name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|_| unreachable_metric());
    let _ = prometheus::register(Box::new(c.clone()));
    c
}

fn gauge(name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).unwrap_or_else(|_| unreachable_metric());
    let _ = prometheus::register(Box::new(g.clone()));
    g
}

// Metric names and help texts are constants and valid, so `new` cannot fail.
fn unreachable_metric<T>() -> T {
    unreachable!("metric names are static and valid")
}

pub static ENTRIES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_ingester_entries_total",
        "Entries appended to in-memory streams.",
    )
});
pub static STREAMS: LazyLock<IntGauge> =
    LazyLock::new(|| gauge("sluice_ingester_memory_streams", "Streams held in memory."));
pub static CHUNKS_FLUSHED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_ingester_chunks_flushed_total",
        "Chunks written to the object store.",
    )
});
pub static FLUSHED_BYTES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "sluice_ingester_chunk_stored_bytes_total",
        "Compressed chunk bytes written to the object store.",
    )
});

//! Ingest benchmark (issue "Single binary"): pushes 1,000,000 lines over 500
//! streams (line shapes of shared/conformance/dataset.py) with 4 concurrent
//! HTTP clients using protobuf+snappy, to a fresh `sluice` process, then
//! flushes and prints:
//!   - lines per server CPU-second (user+system time of the server process,
//!     read from /proc, so other load on the machine does not skew it),
//!   - the server's peak RSS (VmHWM),
//!   - bytes on disk after flush ÷ raw line bytes.
//!
//! Run: `cargo bench --bench ingest` (SLUICE_BENCH_LINES to change the size).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/dataset.rs"]
mod dataset;
#[path = "common/server.rs"]
mod server;

use std::time::Instant;

use prost::Message;

fn main() {
    let lines: usize = std::env::var("SLUICE_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let streams = 500;
    let per_stream = lines / streams;
    let now = server::now_ns();
    let base = now - 3_600_000_000_000 - 60_000_000_000;
    eprintln!("generating {lines} lines over {streams} streams ...");
    let data = dataset::streams(streams, per_stream, base, 3_600_000_000_000, 42);
    let raw: u64 = data
        .iter()
        .flat_map(|s| s.entries.iter())
        .map(|e| e.1.len() as u64)
        .sum();
    let bodies: Vec<Vec<u8>> = dataset::batches(&data, 100, 50)
        .iter()
        .map(|r| {
            snap::raw::Encoder::new()
                .compress_vec(&r.encode_to_vec())
                .unwrap()
        })
        .collect();
    drop(data);
    let dir = tempfile::tempdir().unwrap();
    let srv = server::Server::start(dir.path());
    let cpu0 = srv.cpu_seconds();
    let t0 = Instant::now();
    srv.push_bodies(bodies, 4);
    let wall = t0.elapsed().as_secs_f64();
    let cpu_push = srv.cpu_seconds() - cpu0;
    let t1 = Instant::now();
    srv.flush();
    let flush_wall = t1.elapsed().as_secs_f64();
    let cpu_all = srv.cpu_seconds() - cpu0;
    let rss = srv.peak_rss_bytes();
    let disk = server::dir_size(&dir.path().join("chunks"));
    let index = server::dir_size(&dir.path().join("chunks").join("fake").join("index"));
    println!("ingest benchmark: {lines} lines, {streams} streams, raw line bytes {raw}");
    println!(
        "  push wall time            {wall:.2} s ({:.0} lines/s)",
        lines as f64 / wall
    );
    println!(
        "  server CPU during push    {cpu_push:.2} s -> {:.0} lines per server CPU-second",
        lines as f64 / cpu_push
    );
    println!(
        "  server CPU incl. flush    {cpu_all:.2} s -> {:.0} lines per server CPU-second (flush wall {flush_wall:.2} s)",
        lines as f64 / cpu_all
    );
    println!("  peak RSS                  {:.1} MB", rss as f64 / 1e6);
    println!(
        "  bytes on disk after flush {disk} -> 1/{:.2} of raw",
        raw as f64 / disk.max(1) as f64
    );
    println!("    of which the label index {index}");
    println!("  targets: >= 1,000,000 lines/CPU-s, peak RSS <= 200 MB, disk <= 1/10 of raw");
}

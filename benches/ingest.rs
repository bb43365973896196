//! Ingest benchmark (issue "Single binary"): pushes 1,000,000 lines over 500
//! streams (line shapes of shared/conformance/dataset.py) with 4 concurrent
//! HTTP clients using protobuf+snappy, to a fresh `sluice` process, then
//! flushes and prints, per run and as the median and range over the runs
//! (each run a fresh process on the same request bodies):
//!   - lines per server CPU-second (user+system time of the server process,
//!     read from /proc, so other load on the machine does not skew it),
//!   - the server's peak RSS (VmHWM),
//!   - bytes on disk after flush ÷ raw line bytes.
//!
//! Run: `cargo bench --bench ingest` (SLUICE_BENCH_LINES to change the size,
//! SLUICE_BENCH_RUNS the number of runs, 5 by default).

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
    // the machines here are noisy: each run starts a fresh server on the
    // same bodies, and the summary gives the median and the range
    let runs: usize = std::env::var("SLUICE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    println!(
        "ingest benchmark: {lines} lines, {streams} streams, raw line bytes {raw}, {runs} runs"
    );
    // the figures depend on the machine: say which one gave them
    println!("  host: {}", host());
    let mut all = Vec::with_capacity(runs);
    for run in 1..=runs {
        let r = run_once(&bodies);
        println!(
            "  run {run}: push wall {:.2} s, server CPU push {:.2} s ({:.0} lines/CPU-s), incl. flush {:.2} s ({:.0} lines/CPU-s, flush wall {:.2} s), peak RSS {:.1} MB, disk {} (1/{:.2}, index {})",
            r.wall,
            r.cpu_push,
            lines as f64 / r.cpu_push,
            r.cpu_all,
            lines as f64 / r.cpu_all,
            r.flush_wall,
            r.rss as f64 / 1e6,
            r.disk,
            raw as f64 / r.disk.max(1) as f64,
            r.index,
        );
        all.push(r);
    }
    let push = Spread::of(all.iter().map(|r| r.cpu_push));
    let with_flush = Spread::of(all.iter().map(|r| r.cpu_all));
    let wall = Spread::of(all.iter().map(|r| r.wall));
    let rss = Spread::of(all.iter().map(|r| r.rss as f64));
    let disk = Spread::of(all.iter().map(|r| r.disk as f64));
    println!("summary over {runs} runs (median, [min .. max]):");
    println!(
        "  push wall time            {:.2} s ({:.0} lines/s)",
        wall.median,
        lines as f64 / wall.median
    );
    for (what, cpu) in [
        ("server CPU during push   ", &push),
        ("server CPU incl. flush   ", &with_flush),
    ] {
        println!(
            "  {what} {} s -> {:.0} lines per server CPU-second [{:.0} .. {:.0}]",
            cpu.secs(),
            lines as f64 / cpu.median,
            lines as f64 / cpu.max,
            lines as f64 / cpu.min,
        );
    }
    println!(
        "  peak RSS                  {:.1} MB [{:.1} .. {:.1}]",
        rss.median / 1e6,
        rss.min / 1e6,
        rss.max / 1e6
    );
    println!(
        "  bytes on disk after flush {:.0} -> 1/{:.2} of raw (worst run 1/{:.2})",
        disk.median,
        raw as f64 / disk.median.max(1.0),
        raw as f64 / disk.max.max(1.0),
    );
    println!("  targets: >= 1,000,000 lines/CPU-s, peak RSS <= 200 MB, disk <= 1/10 of raw");
}

/// The CPU model (with its family, model number and clock, which a
/// virtual machine's model name may leave out) and the number of CPUs, as
/// /proc/cpuinfo gives them.
fn host() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == name)
            .map_or("?", |(_, v)| v.trim())
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{} (family {}, model {}, {} MHz), {cpus} CPUs",
        field("model name"),
        field("cpu family"),
        field("model"),
        field("cpu MHz"),
    )
}

/// One run's figures.
struct Run {
    wall: f64,
    cpu_push: f64,
    cpu_all: f64,
    flush_wall: f64,
    rss: u64,
    disk: u64,
    index: u64,
}

/// Pushes `bodies` to a fresh server with 4 clients, then flushes it.
fn run_once(bodies: &[Vec<u8>]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let srv = server::Server::start(dir.path());
    let cpu0 = srv.cpu_seconds();
    let t0 = Instant::now();
    srv.push_bodies(bodies.to_vec(), 4);
    let wall = t0.elapsed().as_secs_f64();
    let cpu_push = srv.cpu_seconds() - cpu0;
    let t1 = Instant::now();
    srv.flush();
    let flush_wall = t1.elapsed().as_secs_f64();
    let cpu_all = srv.cpu_seconds() - cpu0;
    Run {
        wall,
        cpu_push,
        cpu_all,
        flush_wall,
        rss: srv.peak_rss_bytes(),
        disk: server::dir_size(&dir.path().join("chunks")),
        index: server::dir_size(&dir.path().join("chunks").join("fake").join("index")),
    }
}

/// Median and range of one figure over the runs.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(values: impl Iterator<Item = f64>) -> Spread {
        let mut v: Vec<f64> = values.collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    fn secs(&self) -> String {
        format!("{:.2} [{:.2} .. {:.2}]", self.median, self.min, self.max)
    }
}

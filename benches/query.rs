//! Query benchmark (issue 3, "Must show"): the 1,000,000-line / 500-stream
//! workload of benches/ingest.rs is pushed to a fresh `sluice` process; then
//! five LogQL queries run over the hour of data, first while the data is in
//! ingester memory, then after `POST /flush` (chunks leave memory, queries
//! read the object store). For each query it prints the server's CPU-seconds
//! (user+system time from /proc before/after the HTTP requests, median of 3
//! runs; see `measure`) against the target and Loki's recorded figure.
//!
//! Run: `cargo bench --bench query` (SLUICE_BENCH_LINES to change the size,
//! SLUICE_BENCH_RUNS for the number of runs per query).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/dataset.rs"]
mod dataset;
#[path = "common/server.rs"]
mod server;

use std::time::{Duration, Instant};

use prost::Message;

/// One benchmarked query: LogQL, whether it is a range (metric) query,
/// the target and Loki's figure in CPU-seconds.
struct Case {
    name: &'static str,
    query: &'static str,
    metric: bool,
    target: f64,
    loki: f64,
}

const CASES: [Case; 5] = [
    Case {
        name: "count all",
        query: r#"sum(count_over_time({env=~".+"}[1m]))"#,
        metric: true,
        target: 0.10,
        loki: 2.85,
    },
    Case {
        name: "needle scan",
        query: r#"{env=~".+"} |= "needle-c0ffee""#,
        metric: false,
        target: 0.06,
        loki: 0.29,
    },
    Case {
        name: "logfmt by level",
        query: r#"sum by (level) (count_over_time({app="api"} | logfmt [1m]))"#,
        metric: true,
        target: 0.10,
        loki: 0.52,
    },
    Case {
        name: "json p99 unwrap",
        query: r#"quantile_over_time(0.99, {app="worker"} | json | unwrap latency_ms [5m]) by (env)"#,
        metric: true,
        target: 0.10,
        loki: 0.48,
    },
    Case {
        name: "web limit 1000",
        query: r#"{app="web"}"#,
        metric: false,
        target: 0.02,
        loki: 0.10,
    },
];

fn main() {
    let lines: usize = env_or("SLUICE_BENCH_LINES", 1_000_000);
    let runs: usize = env_or("SLUICE_BENCH_RUNS", 3).max(1);
    let streams = 500;
    let per_stream = lines / streams;
    let now = server::now_ns();
    let span = 3_600_000_000_000;
    let base = now - span - 60_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let srv = server::Server::start(dir.path());
    eprintln!("pushing {lines} lines over {streams} streams ...");
    push(&srv, streams, per_stream, base, span);
    let window = (base, base + span + 1);
    // SLUICE_BENCH_ONLY=<substring of a case name> runs only matching cases
    // (for profiling the server with `perf record -p`)
    let only = std::env::var("SLUICE_BENCH_ONLY").unwrap_or_default();
    let cases: Vec<&Case> = CASES.iter().filter(|c| c.name.contains(&only)).collect();
    eprintln!("querying (memory), server pid {} ...", srv.child.id());

    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let mem: Vec<(f64, usize)> = cases
        .iter()
        .map(|c| measure(&srv, &client, c, window, runs))
        .collect();
    eprintln!("flushing ...");
    srv.flush();
    eprintln!("querying (store) ...");
    let store: Vec<(f64, usize)> = cases
        .iter()
        .map(|c| measure(&srv, &client, c, window, runs))
        .collect();

    println!("query benchmark: {lines} lines, {streams} streams, server CPU-seconds per query (median of {runs})");
    println!(
        "  {:<16} {:>8} {:>10} {:>10} {:>8} {:>12} {:>12}  results",
        "query", "target", "memory", "store", "loki", "loki/memory", "loki/store"
    );
    for ((c, m), s) in cases.iter().zip(&mem).zip(&store) {
        println!(
            "  {:<16} {:>8.3} {:>10.3} {:>10.3} {:>8.2} {:>11.1}x {:>11.1}x  {}/{}{}",
            c.name,
            c.target,
            m.0,
            s.0,
            c.loki,
            c.loki / m.0.max(1e-3),
            c.loki / s.0.max(1e-3),
            m.1,
            s.1,
            if m.0 <= c.target && s.0 <= c.target {
                ""
            } else {
                "  (over target)"
            }
        );
    }
    for c in &cases {
        println!("    {}: {}", c.name, c.query);
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Pushes the workload with 4 concurrent clients, protobuf+snappy.
fn push(srv: &server::Server, streams: usize, per_stream: usize, base: i64, span: i64) {
    let data = dataset::streams(streams, per_stream, base, span, 42);
    let bodies: Vec<Vec<u8>> = dataset::batches(&data, 100, 50)
        .iter()
        .map(|r| {
            snap::raw::Encoder::new()
                .compress_vec(&r.encode_to_vec())
                .unwrap()
        })
        .collect();
    drop(data);
    srv.push_bodies(bodies, 4);
}

/// Median over `runs` runs of the server CPU-seconds one execution of the
/// query costs, and the number of results (entries for log queries, series
/// for metric queries). /proc reports CPU time in clock ticks (10 ms), so a
/// run repeats the request back to back until it has used at least 0.2
/// CPU-seconds (at most 50 times) and divides by the count.
fn measure(
    srv: &server::Server,
    client: &reqwest::blocking::Client,
    c: &Case,
    (start, end): (i64, i64),
    runs: usize,
) -> (f64, usize) {
    let mut q = vec![
        ("query", c.query.to_string()),
        ("start", start.to_string()),
        ("end", end.to_string()),
    ];
    if c.metric {
        q.push(("step", "60s".to_string()));
    } else {
        q.push(("limit", "1000".to_string()));
        q.push(("direction", "backward".to_string()));
    }
    let once = || {
        let r = client
            .get(format!("{}/loki/api/v1/query_range", srv.url))
            .query(&q)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().unwrap();
        assert_eq!(status, 200, "{}: {body}", c.query);
        (count_results(&body), lines_processed(&body))
    };
    let (results, processed) = once(); // warm-up
    let mut cpu = Vec::with_capacity(runs);
    for _ in 0..runs {
        let c0 = srv.cpu_seconds();
        let t0 = Instant::now();
        let mut n = 0;
        while n < 50 && (n == 0 || srv.cpu_seconds() - c0 < 0.2) {
            once();
            n += 1;
        }
        let used = (srv.cpu_seconds() - c0) / n as f64;
        let wall = t0.elapsed().as_secs_f64() / n as f64;
        eprintln!(
            "  {:<16} cpu {used:.4} s wall {wall:.4} s ({n} requests), {results} results, {processed} entries read",
            c.name
        );
        cpu.push(used);
    }
    cpu.sort_by(|a, b| a.total_cmp(b));
    (cpu[cpu.len() / 2], results)
}

/// The entries the query read (its `stats.summary.totalLinesProcessed`).
fn lines_processed(body: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["data"]["stats"]["summary"]["totalLinesProcessed"]
        .as_u64()
        .unwrap_or(0)
}

/// Entries (log queries) or series (metric queries) in a query response.
fn count_results(body: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
    match v["data"]["resultType"].as_str() {
        Some("streams") => result
            .iter()
            .map(|s| s["values"].as_array().map_or(0, |a| a.len()))
            .sum(),
        _ => result.len(),
    }
}

//! Throughput of WAL appends: appends/s and MB/s for 4 and 64 concurrent
//! appenders, small (200 B) and batch-sized (100 KB) records, fsync
//! `Always` and `Interval(100ms)`. Ignored by default; run with
//!
//! ```text
//! cargo test -p sluice-ingester --release --test wal_bench -- --ignored --nocapture
//! ```
//!
//! Set `SLUICE_WAL_BENCH_DIR` to benchmark a particular disk (default: the
//! system temp dir) and `SLUICE_WAL_BENCH_SECS` to change the time per case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_ingester::wal::{FsyncPolicy, Wal, WalConfig};

async fn run_case(appenders: usize, size: usize, fsync: FsyncPolicy, secs: f64) -> (f64, f64) {
    let base = std::env::var_os("SLUICE_WAL_BENCH_DIR").map(std::path::PathBuf::from);
    let tmp = match base {
        Some(b) => tempfile::tempdir_in(b).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let (wal, _) = Wal::open(WalConfig {
        dir: tmp.path().to_path_buf(),
        fsync,
        ..WalConfig::default()
    })
    .unwrap();
    let wal = Arc::new(wal);
    let record = Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..appenders {
        let (wal, record, stop, count) = (wal.clone(), record.clone(), stop.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                wal.append(record.clone()).await.unwrap();
                count.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    wal.close().unwrap();
    let n = count.load(Ordering::Relaxed) as f64;
    (n / elapsed, n * size as f64 / elapsed / 1e6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run explicitly with --ignored --nocapture"]
async fn wal_append_throughput() {
    let secs: f64 = std::env::var("SLUICE_WAL_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.5);
    println!(
        "{:<18} {:>10} {:>9} {:>12} {:>9}",
        "fsync", "appenders", "record", "appends/s", "MB/s"
    );
    for fsync in [
        FsyncPolicy::Always,
        FsyncPolicy::Interval(Duration::from_millis(100)),
    ] {
        for size in [200usize, 100_000] {
            for appenders in [1usize, 4, 64] {
                let (ops, mbs) = run_case(appenders, size, fsync, secs).await;
                let policy = match fsync {
                    FsyncPolicy::Always => "always".to_owned(),
                    FsyncPolicy::Interval(d) => format!("interval({}ms)", d.as_millis()),
                    FsyncPolicy::Never => "never".to_owned(),
                };
                println!("{policy:<18} {appenders:>10} {size:>9} {ops:>12.0} {mbs:>9.1}");
            }
        }
    }
}

//! Starting a `sluice` process for a benchmark and reading its CPU time and
//! memory from /proc.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub url: String,
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

impl Server {
    pub fn start(data: &Path) -> Server {
        let port = free_port();
        let cfg = data.join("bench.yaml");
        std::fs::write(
            &cfg,
            format!(
                "server:\n  http_listen_port: {port}\n  log_level: warn\ncommon:\n  path_prefix: {}\nlimits_config:\n  reject_old_samples: false\n  ingestion_rate_mb: 100000\n  ingestion_burst_size_mb: 100000\n  max_entries_limit_per_query: 100000\n",
                data.display()
            ),
        )
        .unwrap();
        // SLUICE_BENCH_BIN runs another build of the server on the same
        // workload (A/B comparisons of two commits)
        let bin = std::env::var_os("SLUICE_BENCH_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_sluice").into());
        let child = Command::new(bin)
            .arg(format!("-config.file={}", cfg.display()))
            .arg("-server.grpc-listen-port=0")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let s = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let t0 = Instant::now();
        let client = reqwest::blocking::Client::new();
        while client
            .get(format!("{}/ready", s.url))
            .send()
            .map(|r| r.status() != 200)
            .unwrap_or(true)
        {
            assert!(t0.elapsed() < Duration::from_secs(30), "server not ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    /// User + system CPU seconds of the server process so far.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // fields after the parenthesised command name; utime and stime are 14th and 15th
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
        ticks / clock_ticks()
    }

    pub fn peak_rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    }

    /// Pushes snappy-compressed protobuf bodies with `clients` concurrent
    /// HTTP clients, each taking the next body until none is left; every
    /// push must be acknowledged with 204.
    pub fn push_bodies(&self, bodies: Vec<Vec<u8>>, clients: usize) {
        let bodies = std::sync::Arc::new(bodies);
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                let bodies = bodies.clone();
                let next = next.clone();
                let url = format!("{}/loki/api/v1/push", self.url);
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(b) = bodies.get(i) else { break };
                        let r = client
                            .post(&url)
                            .header("Content-Type", "application/x-protobuf")
                            .body(b.clone())
                            .send()
                            .unwrap();
                        assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    }

    pub fn flush(&self) {
        let r = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .unwrap()
            .post(format!("{}/flush", self.url))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().ok();
    out.and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Total size of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                total += dir_size(&p);
            } else if let Ok(m) = e.metadata() {
                total += m.len();
            }
        }
    }
    total
}

//! Starting, stopping and talking to a `sluice` process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use prost::Message;
use sluice_proto::logproto::{
    EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};

pub struct Server {
    pub child: Child,
    pub url: String,
    pub client: reqwest::blocking::Client,
}

/// Extra YAML appended to the test config.
pub fn start(data: &Path, extra_yaml: &str) -> Server {
    // the default limits let tests push old timestamps fast and keep label
    // sets and metadata as pushed (no `service_name`/`detected_level`
    // discovery, which the distributor's own tests cover); a test that sets
    // its own `limits_config` replaces them
    let limits = if extra_yaml.contains("limits_config:") {
        ""
    } else {
        "limits_config:\n  reject_old_samples: false\n  ingestion_rate_mb: 1024\n  ingestion_burst_size_mb: 1024\n  discover_log_levels: false\n  discover_service_name: []\n"
    };
    let yaml = format!(
        "common:\n  path_prefix: {}\n{limits}{extra_yaml}",
        data.display()
    );
    let s = launch(
        data,
        &yaml,
        &["-server.http-listen-port=0", "-server.grpc-listen-port=0"],
    );
    s.wait_ready(Duration::from_secs(30));
    s
}

/// Writes `yaml` as `data/sluice.yaml` and starts sluice with it and
/// `args`; returns once it listens on HTTP (not necessarily ready).
pub fn launch(data: &Path, yaml: &str, args: &[&str]) -> Server {
    let cfg = data.join("sluice.yaml");
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(&cfg, yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg(format!("-config.file={}", cfg.display()))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let name = data
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if std::env::var_os("SLUICE_TEST_LOG").is_some() {
                eprintln!("[sluice {name}] {line}");
            }
            if !sent {
                if let Some(i) = line.find("addr=") {
                    let addr = line[i + 5..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("sluice printed its listen address");
    Server {
        child,
        url: format!("http://{addr}"),
        client: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
    }
}

impl Server {
    pub fn wait_ready(&self, limit: Duration) {
        let t0 = Instant::now();
        loop {
            if let Ok(r) = self.client.get(format!("{}/ready", self.url)).send() {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(t0.elapsed() < limit, "sluice not ready after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) {
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                assert!(st.success(), "sluice exited with {st}");
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "sluice did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn push_proto(&self, req: &PushRequest) -> reqwest::blocking::Response {
        let body = snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap();
        self.client
            .post(format!("{}/loki/api/v1/push", self.url))
            .header("Content-Type", "application/x-protobuf")
            .body(body)
            .send()
            .unwrap()
    }

    pub fn push_json(&self, body: &serde_json::Value) -> reqwest::blocking::Response {
        self.client
            .post(format!("{}/loki/api/v1/push", self.url))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap()
    }

    pub fn get(&self, path: &str, params: &[(&str, String)]) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{}", self.url, path))
            .query(params)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    }

    pub fn get_json(&self, path: &str, params: &[(&str, String)]) -> serde_json::Value {
        let (status, body) = self.get(path, params);
        assert_eq!(status, 200, "{path} {params:?}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub fn flush(&self) {
        let r = self
            .client
            .post(format!("{}/flush", self.url))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
    }

    /// All entries of a log query as (stream labels, ts, line), paging
    /// forward through the range in `limit`-sized pages.
    pub fn all_entries(&self, query: &str, start: i64, end: i64) -> Vec<(String, i64, String)> {
        let mut out = Vec::new();
        let mut from = start;
        loop {
            let v = self.get_json(
                "/loki/api/v1/query_range",
                &[
                    ("query", query.to_string()),
                    ("start", from.to_string()),
                    ("end", end.to_string()),
                    ("limit", "5000".into()),
                    ("direction", "forward".into()),
                ],
            );
            let page = entries_of(&v);
            let n = page.len();
            let last = page.iter().map(|e| e.1).max();
            // the next page starts after the last timestamp of this one;
            // entries sharing it were all returned (timestamps are unique here)
            out.extend(page);
            match last {
                Some(t) if n == 5000 => from = t + 1,
                _ => break,
            }
        }
        out.sort();
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (labels, ts, line) of every entry in a streams response.
pub fn entries_of(v: &serde_json::Value) -> Vec<(String, i64, String)> {
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(v["data"]["resultType"], "streams", "{v}");
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let labels = label_string(&s["stream"]);
        for e in s["values"].as_array().unwrap() {
            let ts: i64 = e[0]
                .as_str()
                .expect("timestamp is a string")
                .parse()
                .unwrap();
            out.push((labels.clone(), ts, e[1].as_str().unwrap().to_string()));
        }
    }
    out
}

pub fn label_string(m: &serde_json::Value) -> String {
    let mut pairs: Vec<(String, String)> = m
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A free loopback port (bound and released; the race with other tests is
/// accepted).
/// A port for a server whose address other processes must know before it
/// starts (raft members, ruler peers). It lies below the kernel's
/// ephemeral range, so that neither a `bind` to port 0 nor an outgoing
/// connection elsewhere in the test run can take it between this check and
/// the server binding it (a port from `bind(0)` could, and did). Test
/// threads take turns by a counter; concurrent test processes start apart
/// by their pid.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768)
        .clamp(12000, 65535);
    let (first, span) = (10000u32, low - 10000);
    let start = std::process::id().wrapping_mul(7919);
    loop {
        let port = first + start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = u16::try_from(port).unwrap();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// The labels a query returns for entry `i` of stream `s`: the stream's
/// labels plus its structured metadata, sorted (Loki's non-categorized form).
pub fn entry_labels(via: &str, s: usize, i: usize) -> String {
    match trace_id(s, i) {
        Some(t) => format!("app=e2e,stream=s{s},trace_id={t},via={via}"),
        None => format!("app=e2e,stream=s{s},via={via}"),
    }
}

/// Every third entry carries a `trace_id` structured-metadata field.
fn trace_id(s: usize, i: usize) -> Option<String> {
    i.is_multiple_of(3).then(|| format!("{s:04x}{i:08x}"))
}

/// A deterministic line for stream `s`, entry `i`.
pub fn line(s: usize, i: usize) -> String {
    format!(
        "level=info stream={s} seq={i} msg=\"request handled\" path=/api/v1/items/{} took={}ms",
        i % 97,
        (i * 7) % 500
    )
}

/// A protobuf push of `entries` entries for each stream in `streams`.
pub fn proto_batch(
    via: &str,
    streams: std::ops::Range<usize>,
    seqs: std::ops::Range<usize>,
    base: i64,
) -> PushRequest {
    PushRequest {
        streams: streams
            .map(|s| StreamAdapter {
                labels: format!(r#"{{app="e2e", stream="s{s}", via="{via}"}}"#),
                entries: seqs
                    .clone()
                    .map(|i| EntryAdapter {
                        timestamp: Some(Timestamp::from_unix_nanos(
                            base + (i as i64) * 1_000_000 + s as i64,
                        )),
                        line: line(s, i).into(),
                        structured_metadata: trace_id(s, i)
                            .map(|value| LabelPairAdapter::new("trace_id", value))
                            .into_iter()
                            .collect(),
                        parsed: vec![],
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    }
}

//! A deterministic workload with the line shapes of
//! shared/conformance/dataset.py (logfmt, access log with ANSI colours,
//! plain text, JSON, nested JSON; ~30% of api/worker entries carry a
//! `trace_id`), scaled to any number of streams and lines. The same seed
//! always gives the same bytes, so runs compare.

#![allow(dead_code)]

use sluice_proto::logproto::{
    EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};

pub const APPS: [(&str, &str); 5] = [
    ("api", "logfmt"),
    ("web", "access"),
    ("db", "plain"),
    ("worker", "json"),
    ("auth", "json_nested"),
];
const ENVS: [&str; 2] = ["prod", "staging"];
const CLUSTERS: [&str; 2] = ["eu-1", "us-1"];
const LEVELS: [&str; 6] = ["debug", "info", "info", "info", "warn", "error"];
const PATHS: [&str; 6] = [
    "/api/v1/users",
    "/api/v1/orders",
    "/healthz",
    "/api/v1/search",
    "/login",
    "/static/app.js",
];
const METHODS: [&str; 6] = ["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
const WORDS: [&str; 10] = [
    "timeout",
    "connection reset",
    "cache miss",
    "retrying",
    "deadline exceeded",
    "completed",
    "started",
    "queued",
    "checkpoint",
    "needle-7f3a",
];
const STATUS: [u32; 10] = [200, 200, 200, 201, 204, 301, 400, 404, 500, 503];

/// splitmix64: small, fast, deterministic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

fn ip(r: &mut Rng) -> String {
    if r.chance(0.5) {
        format!(
            "10.{}.{}.{}",
            r.range(0, 3),
            r.range(0, 255),
            r.range(1, 254)
        )
    } else {
        format!("192.168.{}.{}", r.range(0, 9), r.range(1, 254))
    }
}

/// One line of the given shape.
pub fn line(fmt: &str, r: &mut Rng, i: usize) -> String {
    let level = r.pick(&LEVELS);
    let lat = if r.chance(0.5) {
        r.range(1, 90)
    } else {
        r.range(100, 2500)
    };
    let status = r.pick(&STATUS);
    let size = r.range(0, 200_000);
    let user = r.pick(&USERS);
    let word = r.pick(&WORDS);
    match fmt {
        "logfmt" => format!(
            "level={level} ts_seq={i} method={} path={} status={status} duration={lat}ms bytes={size}B user={user} msg=\"handled request {word}\"",
            r.pick(&METHODS),
            r.pick(&PATHS)
        ),
        "access" => {
            let color = if status < 400 { "\x1b[32m" } else { "\x1b[31m" };
            format!(
                "{} - {user} \"{} {} HTTP/1.1\" {color}{status}\x1b[0m {size} {:.3}s",
                ip(r),
                r.pick(&METHODS),
                r.pick(&PATHS),
                lat as f64 / 1000.0
            )
        }
        "plain" => format!(
            "{} [conn-{}] query on table_{} took {lat}ms rows={} {word}",
            level.to_uppercase(),
            r.range(1, 40),
            r.range(1, 8),
            r.range(0, 5000)
        ),
        "json" => format!(
            r#"{{"level": "{level}", "msg": "job {word}", "job_id": {}, "latency_ms": {lat}, "queue": "{}", "ok": {}}}"#,
            r.range(1, 10_000),
            r.pick(&["default", "mail", "billing"]),
            status < 400
        ),
        _ => format!(
            r#"{{"level": "{level}", "event": "{}", "user": {{"name": "{user}", "id": {}}}, "client": {{"ip": "{}", "agent": "{}"}}, "duration": "{lat}ms", "tags": {}}}"#,
            r.pick(&["login", "logout", "refresh", "denied"]),
            r.range(1, 500),
            ip(r),
            r.pick(&["curl/8.5", "Mozilla/5.0"]),
            ["[]", "[\"a\"]", "[\"a\", \"b\"]"][r.range(0, 2) as usize]
        ),
    }
}

/// A stream of the workload: labels and (ts, line, metadata) entries.
pub struct Stream {
    pub labels: String,
    pub entries: Vec<(i64, String, Option<String>)>,
}

/// `streams` streams (apps × envs × clusters × pods) with `per_stream`
/// entries each, spread evenly over `span_ns` after `base_ns`.
pub fn streams(
    streams: usize,
    per_stream: usize,
    base_ns: i64,
    span_ns: i64,
    seed: u64,
) -> Vec<Stream> {
    let combos = APPS.len() * ENVS.len() * CLUSTERS.len();
    let pods = streams.div_ceil(combos);
    let mut out = Vec::with_capacity(streams);
    'outer: for (app, fmt) in APPS {
        for env in ENVS {
            for cluster in CLUSTERS {
                for pod in 0..pods {
                    if out.len() == streams {
                        break 'outer;
                    }
                    let mut r =
                        Rng::new(seed ^ (out.len() as u64).wrapping_mul(0x1234_5678_9abc_def1));
                    let step = span_ns / per_stream as i64;
                    let mut ts = base_ns;
                    let entries = (0..per_stream)
                        .map(|i| {
                            ts += r.range(1, (2 * step - 1) as u64) as i64;
                            let l = line(fmt, &mut r, i);
                            let meta = (matches!(app, "api" | "worker") && r.chance(0.3))
                                .then(|| format!("{:016x}", r.next()));
                            (ts.min(base_ns + span_ns - 1), l, meta)
                        })
                        .collect();
                    out.push(Stream {
                        labels: format!(
                            r#"{{app="{app}", cluster="{cluster}", env="{env}", pod="{app}-{env}-{cluster}-{pod}", service_name="{app}"}}"#
                        ),
                        entries,
                    });
                }
            }
        }
    }
    out
}

/// Push requests as a shipper batches them: `per_batch` entries of each of
/// `streams_per_request` streams per request, in time order.
pub fn batches(
    streams: &[Stream],
    per_batch: usize,
    streams_per_request: usize,
) -> Vec<PushRequest> {
    let mut out = Vec::new();
    let per_stream = streams.first().map_or(0, |s| s.entries.len());
    for start in (0..per_stream).step_by(per_batch) {
        for group in streams.chunks(streams_per_request) {
            out.push(PushRequest {
                streams: group
                    .iter()
                    .map(|s| {
                        let end = (start + per_batch).min(s.entries.len());
                        StreamAdapter {
                            labels: s.labels.clone(),
                            entries: s.entries[start..end]
                                .iter()
                                .map(|(ts, l, m)| EntryAdapter {
                                    timestamp: Some(Timestamp::from_unix_nanos(*ts)),
                                    line: l.clone().into(),
                                    structured_metadata: m
                                        .iter()
                                        .map(|v| LabelPairAdapter::new("trace_id", v.clone()))
                                        .collect(),
                                    parsed: vec![],
                                })
                                .collect(),
                            hash: 0,
                        }
                    })
                    .collect(),
            });
        }
    }
    out
}

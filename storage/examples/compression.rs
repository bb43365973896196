//! Chunk format benchmark on a dataset.py-like workload.
//!
//! Generates 1M lines over 500 streams with the line shapes of
//! `shared/conformance/dataset.py` (logfmt, access log with ANSI colours,
//! plain text, JSON, nested JSON; ~30% of api/worker entries carry a
//! `trace_id`), pushes them round-robin in batches of 100 per stream into
//! `MemChunk`s, encodes every chunk, then decodes and scans them.
//!
//! Run: `cargo run -p sluice-storage --release --example compression [lines] [streams] [encoding] [block KiB]`

#![allow(clippy::expect_used, clippy::unwrap_used)]

use sluice_logql::source::Direction;
use sluice_storage::{ChunkConfig, ChunkData, Encoding, MemChunk};

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi].
    fn int(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

const LEVELS: &[&str] = &["debug", "info", "info", "info", "warn", "error"];
const PATHS: &[&str] = &[
    "/api/v1/users",
    "/api/v1/orders",
    "/healthz",
    "/api/v1/search",
    "/login",
    "/static/app.js",
];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank"];
const WORDS: &[&str] = &[
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
const APPS: &[&str] = &["api", "web", "db", "worker", "auth"];

fn ip(r: &mut Rng) -> String {
    if r.chance(0.5) {
        format!("10.{}.{}.{}", r.int(0, 3), r.int(0, 255), r.int(1, 254))
    } else {
        format!("192.168.{}.{}", r.int(0, 9), r.int(1, 254))
    }
}

fn line(app: &str, r: &mut Rng, i: u64) -> String {
    let level = *r.pick(LEVELS);
    let lat = if r.chance(0.5) {
        r.int(1, 90)
    } else {
        r.int(100, 2500)
    };
    let status = *r.pick(&[200u64, 200, 200, 201, 204, 301, 400, 404, 500, 503]);
    let size = r.int(0, 200_000);
    let user = *r.pick(USERS);
    let word = *r.pick(WORDS);
    match app {
        "api" => format!(
            "level={level} ts_seq={i} method={} path={} status={status} duration={lat}ms bytes={size}B user={user} msg=\"handled request {word}\"",
            r.pick(METHODS),
            r.pick(PATHS)
        ),
        "web" => {
            let color = if status < 400 { "\x1b[32m" } else { "\x1b[31m" };
            format!(
                "{} - {user} \"{} {} HTTP/1.1\" {color}{status}\x1b[0m {size} {:.3}s",
                ip(r),
                r.pick(METHODS),
                r.pick(PATHS),
                lat as f64 / 1000.0
            )
        }
        "db" => format!(
            "{} [conn-{}] query on table_{} took {lat}ms rows={} {word}",
            level.to_uppercase(),
            r.int(1, 40),
            r.int(1, 8),
            r.int(0, 5000)
        ),
        "worker" => format!(
            "{{\"level\": \"{level}\", \"msg\": \"job {word}\", \"job_id\": {}, \"latency_ms\": {lat}, \"queue\": \"{}\", \"ok\": {}}}",
            r.int(1, 10_000),
            r.pick(&["default", "mail", "billing"]),
            status < 400
        ),
        _ => {
            let event = *r.pick(&["login", "logout", "refresh", "denied"]);
            let id = r.int(1, 500);
            let ip = ip(r);
            let agent = *r.pick(&["curl/8.5", "Mozilla/5.0"]);
            let tags = ["[]", "[\"a\"]", "[\"a\", \"b\"]"][r.int(0, 2) as usize];
            format!(
                "{{\"level\": \"{level}\", \"event\": \"{event}\", \"user\": {{\"name\": \"{user}\", \"id\": {id}}}, \"client\": {{\"ip\": \"{ip}\", \"agent\": \"{agent}\"}}, \"duration\": \"{lat}ms\", \"tags\": {tags}}}"
            )
        }
    }
}

type GenEntry = (i64, String, Vec<(String, String)>);

struct Stream {
    app: &'static str,
    rng: Rng,
    ts: i64,
    seq: u64,
    chunk: MemChunk,
}

/// CPU time of this thread (CLOCK_THREAD_CPUTIME_ID: precise even for
/// short intervals, unlike getrusage's tick-sampled times).
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: clock_gettime only writes the timespec we pass.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return 0.0;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let total: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let nstreams: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(500);
    let encoding: Encoding = args.get(3).and_then(|s| s.parse().ok()).unwrap_or_default();
    let mut cfg = ChunkConfig {
        encoding,
        ..ChunkConfig::default()
    };
    if let Some(kib) = args.get(4).and_then(|s| s.parse::<usize>().ok()) {
        cfg.block_size = kib * 1024;
    }
    let c0 = cpu_seconds();
    for _ in 0..20_000 {
        std::hint::black_box(cpu_seconds());
    }
    eprintln!(
        "timer overhead: {:.0} ns per call",
        (cpu_seconds() - c0) * 1e9 / 20_000.0
    );
    let per_stream = total / nstreams;
    let step = 3600 * 1_000_000_000 / per_stream as i64;
    let mut streams: Vec<Stream> = (0..nstreams)
        .map(|i| Stream {
            app: APPS[(i % 5) as usize],
            rng: Rng(0x5eed ^ i.wrapping_mul(0x1234_5678_9abc)),
            ts: 1_700_000_000_000_000_000,
            seq: 0,
            chunk: MemChunk::new(&cfg),
        })
        .collect();

    // each batch is generated just before it is appended (untimed), so its
    // lines are hot in cache as in an ingester that just decoded a push
    let mut encoded: Vec<bytes::Bytes> = Vec::new();
    let (mut raw, mut lines) = (0u64, 0u64);
    let mut append_cpu = 0.0;
    let mut encode_cpu = 0.0;
    let mut peak_mem = 0usize;
    let mut batch: Vec<GenEntry> = Vec::with_capacity(100);
    for round in 0..per_stream.div_ceil(100) {
        for s in streams.iter_mut() {
            batch.clear();
            for _ in 0..(per_stream - round * 100).min(100) {
                s.ts += s.rng.int(1, 2 * step as u64 - 1) as i64;
                let l = line(s.app, &mut s.rng, s.seq);
                s.seq += 1;
                let md = if (s.app == "api" || s.app == "worker") && s.rng.chance(0.3) {
                    vec![("trace_id".to_string(), format!("{:016x}", s.rng.next()))]
                } else {
                    Vec::new()
                };
                raw += l.len() as u64;
                lines += 1;
                batch.push((s.ts, l, md));
            }
            let c0 = cpu_seconds();
            for (ts, l, md) in &batch {
                s.chunk.append(*ts, l.as_bytes(), md);
            }
            let full = s.chunk.is_full();
            append_cpu += cpu_seconds() - c0;
            if full {
                let c1 = cpu_seconds();
                encoded.push(s.chunk.encode());
                s.chunk = MemChunk::new(&cfg);
                encode_cpu += cpu_seconds() - c1;
            }
        }
        peak_mem = peak_mem.max(streams.iter().map(|s| s.chunk.memory_bytes()).sum());
    }
    peak_mem = peak_mem.max(streams.iter().map(|s| s.chunk.memory_bytes()).sum());
    let c1 = cpu_seconds();
    for s in &mut streams {
        encoded.push(s.chunk.encode());
    }
    encode_cpu += cpu_seconds() - c1;

    let stored: u64 = encoded.iter().map(|b| b.len() as u64).sum();
    println!(
        "encoding            {encoding}, block size {} KiB",
        cfg.block_size / 1024
    );
    println!(
        "lines               {lines} over {nstreams} streams, {} chunks",
        encoded.len()
    );
    println!(
        "raw line bytes      {raw} ({:.1} B/line)",
        raw as f64 / lines as f64
    );
    println!(
        "encoded bytes       {stored} (ratio 1/{:.2}, {:.2} B/line)",
        raw as f64 / stored as f64,
        stored as f64 / lines as f64
    );
    println!(
        "peak chunk memory   {:.1} MiB (MemChunk::memory_bytes)",
        peak_mem as f64 / (1 << 20) as f64
    );
    println!(
        "append+cut          {append_cpu:.3} cpu-s, {:.0} ns/line",
        append_cpu * 1e9 / lines as f64
    );
    println!(
        "encode              {encode_cpu:.3} cpu-s, {:.0} ns/line",
        encode_cpu * 1e9 / lines as f64
    );

    let c0 = cpu_seconds();
    let chunks: Vec<ChunkData> = encoded
        .iter()
        .map(|b| ChunkData::decode(b.clone()).expect("decode"))
        .collect();
    let decode_cpu = cpu_seconds() - c0;
    let mut cols = [0u64; 4];
    for c in &chunks {
        for (a, b) in cols.iter_mut().zip(c.column_bytes()) {
            *a += b;
        }
    }
    println!(
        "columns             ts+len {} B, metadata {} B, lines/templates {} B, numbers {} B",
        cols[0], cols[1], cols[2], cols[3]
    );
    println!("decode (checksums)  {decode_cpu:.3} cpu-s");
    for dir in [Direction::Forward, Direction::Backward] {
        let c0 = cpu_seconds();
        let mut n = 0u64;
        let mut bytes = 0u64;
        for c in &chunks {
            for e in c.entries(i64::MIN, i64::MAX, dir) {
                let e = e.expect("entry");
                n += 1;
                bytes += e.line.len() as u64;
            }
        }
        let cpu = cpu_seconds() - c0;
        assert_eq!((n, bytes), (lines, raw));
        println!(
            "entries() {dir:?}  {:.2} M lines/s ({cpu:.3} cpu-s)",
            n as f64 / cpu / 1e6
        );
    }
    for (lengths, what) in [(false, "timestamps"), (true, "with lengths")] {
        let c0 = cpu_seconds();
        let mut n = 0u64;
        for c in &chunks {
            n += c
                .sizes(i64::MIN, i64::MAX, Direction::Forward, lengths)
                .count() as u64;
        }
        let cpu = cpu_seconds() - c0;
        println!(
            "sizes() {what:12} {:.2} M lines/s ({cpu:.3} cpu-s)",
            n as f64 / cpu / 1e6
        );
    }
}

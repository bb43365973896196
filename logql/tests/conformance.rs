//! In-process LogQL conformance: the suite recorded from Grafana Loki 3
//! (`shared/conformance`), run against the engine over an in-memory source.
//!
//! The dataset comes from `dataset.py` (run with `python3`) at a fixed,
//! hour-aligned base time; every query of `queries.txt` runs the way
//! `conformance.py` runs it over HTTP (log/logf/range/instant/bad with their
//! start, end, limit or step); answers are normalised like its `normalise`
//! and compared with `expected/loki.json` (floats with a relative tolerance
//! of 1e-6; `bad` queries only by HTTP status).
//!
//! The test prints a `FAIL` line per mismatch and `N passed, N failed`. It
//! fails when a query outside [`KNOWN_FAILURES`] fails *or* when a listed one
//! passes, so the list always says exactly what is missing.
//!
//! `CONFORMANCE_ONLY=12,57` runs only those query ids (line numbers of
//! `queries.txt`); `CONFORMANCE_VERBOSE=1` prints what differs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;

use bytes::Bytes;
use serde_json::{json, Value};

use sluice_logql::engine::{evaluate, Limits, QueryParams, QueryValue};
use sluice_logql::source::{Direction, Entry, MemSource};
use sluice_logql::{parser, Error, Labels};

/// Query ids (line numbers in `queries.txt`) that do not pass yet.
const KNOWN_FAILURES: &[&str] = &[];

/// An hour boundary, like the recording's base time.
const BASE_S: i64 = 1_699_999_200;
const NS: i64 = 1_000_000_000;

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
}

/// `[ts, line, metadata or null]` as `dataset.py` emits it.
type RawEntry = (i64, String, Option<HashMap<String, String>>);

/// Runs `dataset.py` and loads its streams.
fn load_dataset() -> MemSource {
    let script = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
import dataset
out = []
for labels, entries in dataset.streams(int(sys.argv[2])):
    out.append([labels, [[ts, line, meta] for ts, line, meta in entries]])
json.dump(out, sys.stdout)
"#;
    let dir = suite_dir();
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&dir)
        .arg((BASE_S * NS).to_string())
        .output()
        .expect("python3 is needed to generate the conformance dataset");
    assert!(
        output.status.success(),
        "dataset.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let raw: Vec<(HashMap<String, String>, Vec<RawEntry>)> =
        serde_json::from_slice(&output.stdout).expect("dataset json");
    let streams = raw
        .into_iter()
        .map(|(labels, entries)| {
            let labels = Labels::new(labels.into_iter().collect());
            let entries = entries
                .into_iter()
                .map(|(ts, line, meta)| {
                    let mut metadata: Vec<(String, String)> =
                        meta.unwrap_or_default().into_iter().collect();
                    metadata.sort();
                    Entry {
                        ts,
                        line: Bytes::from(line),
                        metadata,
                        cut: false,
                    }
                })
                .collect();
            (labels, entries)
        })
        .collect();
    MemSource { streams }
}

struct Query {
    id: String,
    kind: String,
    start: i64,
    end: i64,
    arg: i64,
    query: String,
}

fn load_queries() -> Vec<Query> {
    let text = std::fs::read_to_string(suite_dir().join("queries.txt")).expect("queries.txt");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.splitn(5, '|').collect();
        assert_eq!(f.len(), 5, "bad line {}: {line}", i + 1);
        out.push(Query {
            id: (i + 1).to_string(),
            kind: f[0].to_string(),
            start: f[1].parse().unwrap(),
            end: f[2].parse().unwrap(),
            arg: f[3].parse().unwrap(),
            query: f[4].to_string(),
        });
    }
    out
}

/// The parameters `conformance.py` sends, with Loki's defaults for the rest
/// (limit 100, backward, a step of range/250 rounded up to a second).
fn params(q: &Query) -> QueryParams {
    let (start, end) = ((BASE_S + q.start) * NS, (BASE_S + q.end) * NS);
    let mut p = QueryParams {
        start,
        end,
        step: 0,
        direction: Direction::Backward,
        limit: 100,
    };
    match q.kind.as_str() {
        "instant" => {
            p.start = end;
        }
        "log" | "logf" => {
            p.limit = q.arg as u32;
            if q.kind == "logf" {
                p.direction = Direction::Forward;
            }
        }
        "range" => p.step = q.arg * NS,
        _ => p.step = (((end - start) as f64 / (250.0 * NS as f64)).ceil() as i64).max(1) * NS,
    }
    p
}

fn labels_key(l: &Labels) -> String {
    l.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn num(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else {
        json!(v)
    }
}

fn secs(ts: i64) -> f64 {
    // Loki answers in milliseconds
    (ts / 1_000_000 - BASE_S * 1000) as f64 / 1000.0
}

/// `conformance.py`'s `normalise`.
fn normalise(res: Result<QueryValue, Error>) -> Value {
    let v = match res {
        Ok(v) => v,
        Err(Error::Source(_)) => return json!({"status": 500}),
        Err(_) => return json!({"status": 400}),
    };
    match v {
        QueryValue::Streams(streams) => {
            let mut out: Vec<(String, Vec<Value>)> = streams
                .iter()
                .map(|s| {
                    let vals = s
                        .entries
                        .iter()
                        .map(|e| json!([e.ts - BASE_S * NS, String::from_utf8_lossy(&e.line)]))
                        .collect();
                    (labels_key(&s.labels), vals)
                })
                .collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            json!({"status": 200, "type": "streams", "result": out})
        }
        QueryValue::Matrix(series) => {
            let mut out: Vec<(String, Vec<Value>)> = series
                .iter()
                .map(|s| {
                    (
                        labels_key(&s.metric),
                        s.points
                            .iter()
                            .map(|&(t, v)| json!([secs(t), num(v)]))
                            .collect(),
                    )
                })
                .collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            json!({"status": 200, "type": "matrix", "result": out})
        }
        QueryValue::Vector(samples) => {
            let mut out: Vec<(String, f64, Value)> = samples
                .iter()
                .map(|s| (labels_key(&s.metric), secs(s.ts), num(s.value)))
                .collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            let out: Vec<Value> = out.into_iter().map(|(l, t, v)| json!([l, t, v])).collect();
            json!({"status": 200, "type": "vector", "result": out})
        }
        QueryValue::Scalar { ts, value } => {
            json!({"status": 200, "type": "scalar", "result": [secs(ts), num(value)]})
        }
    }
}

/// `conformance.py`'s `_close`: exact, except floats within 1e-6 relative.
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (fx, fy) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            if fx == fy {
                return true;
            }
            let both_float = x.is_f64() && y.is_f64();
            both_float && (fx - fy).abs() <= f64::max(1e-6 * fx.abs().max(fy.abs()), 1e-9)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b))
        }
        _ => a == b,
    }
}

fn same(exp: &Value, got: &Value) -> bool {
    if exp["kind"] == "bad" || exp["status"] != 200 {
        return exp["status"] == got["status"];
    }
    got["status"] == 200 && exp["type"] == got["type"] && close(&exp["result"], &got["result"])
}

fn describe(exp: &Value, got: &Value) -> String {
    if exp["status"] != got["status"] {
        return format!("status {}, want {}", got["status"], exp["status"]);
    }
    if exp["type"] != got["type"] {
        return format!("resultType {}, want {}", got["type"], exp["type"]);
    }
    match (exp["result"].as_array(), got["result"].as_array()) {
        (Some(e), Some(g)) if e.len() != g.len() => {
            format!("{} series/streams, want {}", g.len(), e.len())
        }
        _ => "values differ".into(),
    }
}

/// The first differing element, for `CONFORMANCE_VERBOSE`.
fn first_difference(exp: &Value, got: &Value) -> String {
    let (Some(e), Some(g)) = (exp["result"].as_array(), got["result"].as_array()) else {
        return format!("got {got}");
    };
    for (i, (a, b)) in e.iter().zip(g).enumerate() {
        if !close(a, b) {
            let cut = |v: &Value| v.to_string().chars().take(600).collect::<String>();
            return format!("element {i}:\n    want {}\n    got  {}", cut(a), cut(b));
        }
    }
    let extra = if e.len() > g.len() {
        &e[g.len()]
    } else {
        &g[e.len()]
    };
    format!(
        "first unmatched: {}",
        extra.to_string().chars().take(600).collect::<String>()
    )
}

#[test]
fn loki_conformance_in_process() {
    let expected: HashMap<String, Value> = serde_json::from_slice(
        &std::fs::read(suite_dir().join("expected/loki.json")).expect("loki.json"),
    )
    .unwrap();
    let only: Option<BTreeSet<String>> = std::env::var("CONFORMANCE_ONLY")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let verbose = std::env::var("CONFORMANCE_VERBOSE").is_ok();
    let source = load_dataset();
    let limits = Limits {
        max_query_series: 100_000,
        max_entries_limit_per_query: 100_000,
        ..Limits::default()
    };

    let (mut passed, mut failed) = (0, 0);
    let mut failures = BTreeSet::new();
    for q in load_queries() {
        if only.as_ref().is_some_and(|o| !o.contains(&q.id)) {
            continue;
        }
        let exp = expected
            .get(&q.id)
            .unwrap_or_else(|| panic!("no expected answer for query {}", q.id));
        assert_eq!(
            exp["query"],
            q.query.as_str(),
            "queries.txt and loki.json disagree on {}",
            q.id
        );
        let result =
            parser::parse_expr(&q.query).and_then(|e| evaluate(&e, &source, &params(&q), &limits));
        let err_text = result.as_ref().err().map(|e| e.to_string());
        let got = normalise(result);
        if same(exp, &got) {
            passed += 1;
            continue;
        }
        failed += 1;
        failures.insert(q.id.clone());
        println!(
            "FAIL {} [{}] {}  -- {}",
            q.id,
            q.kind,
            q.query,
            describe(exp, &got)
        );
        if verbose {
            match err_text {
                Some(e) => println!("    error: {e}"),
                None => println!("    {}", first_difference(exp, &got)),
            }
        }
    }
    println!("{passed} passed, {failed} failed");

    let known: BTreeSet<String> = KNOWN_FAILURES
        .iter()
        .map(|s| s.to_string())
        .filter(|id| only.as_ref().is_none_or(|o| o.contains(id)))
        .collect();
    let regressed: Vec<&String> = failures.difference(&known).collect();
    let fixed: Vec<&String> = known.difference(&failures).collect();
    assert!(
        regressed.is_empty(),
        "queries failing that are not in KNOWN_FAILURES: {regressed:?}"
    );
    assert!(
        fixed.is_empty(),
        "queries in KNOWN_FAILURES now pass, remove them from the list: {fixed:?}"
    );
}

/// Throughput over one million lines (run in release:
/// `cargo test -p sluice-logql --release --test conformance -- --ignored --nocapture`).
#[test]
#[ignore]
fn perf_one_million_lines() {
    use sluice_logql::source::{
        EntrySize, LogSource, SelectParams, SizeReader, SourceError, StreamReader,
    };
    use std::time::Instant;

    /// Streams sorted once; `select` hands out cheap clones.
    struct Prebuilt(Vec<(Labels, std::sync::Arc<Vec<Entry>>)>);
    impl LogSource for Prebuilt {
        fn select(&self, p: &SelectParams) -> Result<Vec<StreamReader>, SourceError> {
            let mut out = Vec::new();
            for (labels, entries) in &self.0 {
                if !labels.matches(&p.matchers) {
                    continue;
                }
                let entries = std::sync::Arc::clone(entries);
                let (start, end) = (p.start, p.end);
                let lo = entries.partition_point(|e| e.ts < start);
                let hi = entries.partition_point(|e| e.ts < end);
                let it: Box<dyn Iterator<Item = Result<Entry, SourceError>> + Send> =
                    if p.direction == Direction::Forward {
                        Box::new((lo..hi).map(move |i| Ok(entries[i].clone())))
                    } else {
                        Box::new((lo..hi).rev().map(move |i| Ok(entries[i].clone())))
                    };
                out.push(StreamReader {
                    labels: labels.clone(),
                    entries: it,
                });
            }
            Ok(out)
        }

        fn select_sizes(
            &self,
            p: &SelectParams,
            _lengths: bool,
        ) -> Result<Vec<SizeReader>, SourceError> {
            let mut out = Vec::new();
            for (labels, entries) in &self.0 {
                if !labels.matches(&p.matchers) {
                    continue;
                }
                let entries = std::sync::Arc::clone(entries);
                let lo = entries.partition_point(|e| e.ts < p.start);
                let hi = entries.partition_point(|e| e.ts < p.end);
                let it = (lo..hi).map(move |i| {
                    Ok(EntrySize {
                        ts: entries[i].ts,
                        len: entries[i].line.len() as u32,
                    })
                });
                out.push(SizeReader {
                    labels: labels.clone(),
                    entries: Box::new(it),
                });
            }
            Ok(out)
        }
    }

    let apps = ["api", "web", "db", "worker", "auth"];
    let levels = ["debug", "info", "info", "warn", "error"];
    let mut streams = Vec::new();
    let per_stream = 10_000i64;
    for s in 0..100i64 {
        let app = apps[(s % 5) as usize];
        let labels = Labels::new(vec![
            ("app".into(), app.into()),
            ("pod".into(), format!("{app}-{s}")),
        ]);
        let mut entries = Vec::with_capacity(per_stream as usize);
        for i in 0..per_stream {
            let ts = BASE_S * NS + i * 3600 * NS / per_stream + s;
            let line = format!(
                "level={} ts_seq={i} method=GET path=/api/v1/users status={} latency={}ms msg=\"handled request{}\"",
                levels[((i * 7 + s) % 5) as usize],
                200 + (i % 4) * 100,
                (i * 13) % 2000,
                if i % 1000 == 7 { " needle" } else { "" }
            );
            entries.push(Entry {
                ts,
                line: Bytes::from(line),
                metadata: Vec::new(),
                cut: false,
            });
        }
        streams.push((labels, std::sync::Arc::new(entries)));
    }
    let source = Prebuilt(streams);
    let range = QueryParams {
        start: BASE_S * NS,
        end: (BASE_S + 3600) * NS,
        step: 60 * NS,
        direction: Direction::Backward,
        limit: 100,
    };
    let queries = [
        "sum by (app) (count_over_time({app=~\".+\"}[5m]))",
        "count_over_time({app=\"api\"}[1m])",
        "sum by (app) (rate({app=~\".+\"} |= \"error\" [5m]))",
        "sum by (level) (count_over_time({app=~\".+\"} | logfmt [5m]))",
        "quantile_over_time(0.99, {app=~\".+\"} | logfmt | unwrap duration(latency) [5m]) by (app)",
        "{app=~\".+\"} |= \"needle\"",
        "{app=~\".+\"}",
    ];
    let only: Option<usize> = std::env::var("PERF_ONLY").ok().and_then(|s| s.parse().ok());
    let rounds: usize = std::env::var("PERF_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    for (i, q) in queries
        .iter()
        .enumerate()
        .cycle()
        .take(queries.len() * rounds)
    {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        let expr = parser::parse_expr(q).unwrap();
        let cpu = cpu_ms();
        let t = Instant::now();
        let v = evaluate(&expr, &source, &range, &Limits::default()).unwrap();
        let n = match &v {
            QueryValue::Matrix(m) => m.len(),
            QueryValue::Streams(s) => s.iter().map(|s| s.entries.len()).sum(),
            _ => 0,
        };
        println!(
            "{:>8.1} ms wall {:>6} ms cpu  {n:>5}  {q}",
            t.elapsed().as_secs_f64() * 1e3,
            cpu_ms() - cpu
        );
    }
}

/// This process' user + system CPU time in milliseconds (10 ms resolution).
fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // after the command name: state is field 0, utime 11, stime 12 (clock ticks, 100 Hz)
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) * 10
}

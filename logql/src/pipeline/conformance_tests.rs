//! Checks the pipeline against answers recorded from Loki for the log
//! queries of the conformance suite. Needs the dataset dumped as JSON lines
//! and the expected log results; run with
//! `SLUICE_PIPE_DATA=/dir cargo test -p sluice-logql conformance -- --ignored`
//! (`dataset.jsonl`: `{"labels","ts","line","meta"}` per entry of
//! `dataset.py` with base 0; `expected_logs.json`: the log queries of
//! `queries.txt` as `{"query","kind","start","end","limit","result"}`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use std::collections::BTreeMap;

use super::*;
use crate::ast::Expr;

struct Entry {
    labels: Labels,
    ts: i64,
    line: String,
    meta: Vec<(String, String)>,
}

fn load(dir: &str) -> (Vec<Entry>, serde_json::Value) {
    let data = std::fs::read_to_string(format!("{dir}/dataset.jsonl")).unwrap();
    let mut out = Vec::new();
    for l in data.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let pairs = |o: &serde_json::Value| -> Vec<(String, String)> {
            o.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        };
        out.push(Entry {
            labels: Labels::new(pairs(&v["labels"])),
            ts: v["ts"].as_i64().unwrap(),
            line: v["line"].as_str().unwrap().to_string(),
            meta: pairs(&v["meta"]),
        });
    }
    let exp = std::fs::read_to_string(format!("{dir}/expected_logs.json")).unwrap();
    (out, serde_json::from_str(&exp).unwrap())
}

#[test]
#[ignore]
fn conformance_log_queries() {
    const S: i64 = 1_000_000_000;
    let Ok(dir) = std::env::var("SLUICE_PIPE_DATA") else {
        return;
    };
    let (entries, expected) = load(&dir);
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in expected.as_array().unwrap() {
        let query = case["query"].as_str().unwrap();
        let forward = case["kind"].as_str() == Some("logf");
        let (start, end) = (
            case["start"].as_i64().unwrap() * S,
            case["end"].as_i64().unwrap() * S,
        );
        let limit = case["limit"].as_u64().unwrap() as usize;
        let Ok(Expr::Log(log)) = crate::parser::parse_expr(query) else {
            failures.push(format!("{query}: does not parse as a log query"));
            continue;
        };
        let p = match Pipeline::new(&log.pipeline) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{query}: {e}"));
                continue;
            }
        };
        let mut per_stream: BTreeMap<String, StreamPipeline> = BTreeMap::new();
        let mut got: Vec<(i64, String, String)> = Vec::new();
        for e in &entries {
            if e.ts < start || e.ts >= end || !e.labels.matches(&log.selector) {
                continue;
            }
            let sp = per_stream
                .entry(e.labels.to_string())
                .or_insert_with(|| p.for_stream(&e.labels));
            if let Some(out) = sp.process(e.ts, e.line.as_bytes(), &e.meta) {
                let l: Vec<String> = out
                    .labels
                    .all
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                got.push((
                    e.ts,
                    l.join(","),
                    String::from_utf8_lossy(out.line).into_owned(),
                ));
            }
        }
        if forward {
            got.sort_by_key(|a| a.0);
        } else {
            got.sort_by_key(|a| std::cmp::Reverse(a.0));
        }
        got.truncate(limit);
        got.sort();
        let mut want: Vec<(i64, String, String)> = Vec::new();
        for stream in case["result"].as_array().unwrap() {
            let labels = stream[0].as_str().unwrap();
            for v in stream[1].as_array().unwrap() {
                want.push((
                    v[0].as_i64().unwrap(),
                    labels.to_string(),
                    v[1].as_str().unwrap().to_string(),
                ));
            }
        }
        want.sort();
        checked += 1;
        if got != want {
            let diff: Vec<String> = got
                .iter()
                .zip(want.iter())
                .filter(|(g, w)| g != w)
                .take(2)
                .map(|(g, w)| format!("  got  {g:?}\n  want {w:?}"))
                .collect();
            failures.push(format!(
                "{query}: got {} want {}\n{}",
                got.len(),
                want.len(),
                diff.join("\n")
            ));
        }
    }
    eprintln!("{checked} log queries checked, {} failed", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

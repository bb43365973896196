//! Checks the pipeline against answers recorded from Loki for the log
//! queries and the plain range aggregations of the conformance suite
//! (`/work/shared/conformance`). Run with
//! `SLUICE_PIPE_DATA=/dir cargo test -p sluice-logql conformance_ -- --ignored`
//! after writing into `/dir`, from `dataset.py` and `expected/loki.json`:
//! - `dataset.jsonl`: one `{"labels","ts","line","meta"}` per entry of
//!   `dataset.streams(0)` (timestamps are then offsets, as in the answers);
//! - `expected_logs.json`: the `log`/`logf` lines of `queries.txt` as
//!   `[{"query","kind","start","end","limit","result"}]`;
//! - `expected_ranges.json`: the `range` lines as
//!   `[{"query","start","end","step","result"}]`.
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

/// Minimal range evaluation (window `(t - range, t]`) to check extracted
/// samples and their labels against Loki's metric answers.
fn range_value(
    op: crate::ast::RangeOp,
    param: Option<f64>,
    range_s: f64,
    pts: &mut [(i64, f64)],
) -> Option<f64> {
    use crate::ast::RangeOp::*;
    if pts.is_empty() {
        return None;
    }
    pts.sort_by_key(|p| p.0);
    let vals: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let n = vals.len() as f64;
    let sum: f64 = vals.iter().sum();
    let mean = sum / n;
    let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    Some(match op {
        CountOverTime => n,
        Rate => sum / range_s,
        BytesOverTime | SumOverTime => sum,
        BytesRate => sum / range_s,
        AvgOverTime => mean,
        MinOverTime => vals.iter().cloned().fold(f64::INFINITY, f64::min),
        MaxOverTime => vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        FirstOverTime => vals[0],
        LastOverTime => vals[vals.len() - 1],
        StdvarOverTime => var,
        StddevOverTime => var.sqrt(),
        QuantileOverTime => {
            let mut s = vals.clone();
            s.sort_by(|a, b| a.total_cmp(b));
            let rank = param? * (n - 1.0);
            let lo = rank.floor().max(0.0) as usize;
            let hi = (lo + 1).min(s.len() - 1);
            let w = rank - rank.floor();
            s[lo] * (1.0 - w) + s[hi] * w
        }
        _ => return None,
    })
}

#[test]
#[ignore]
fn conformance_range_aggregations() {
    use crate::ast::{RangeAgg, SampleExpr, VectorOp};
    const S: i64 = 1_000_000_000;
    let Ok(dir) = std::env::var("SLUICE_PIPE_DATA") else {
        return;
    };
    let (entries, _) = load(&dir);
    let text = std::fs::read_to_string(format!("{dir}/expected_ranges.json")).unwrap();
    let cases: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (mut checked, mut failures) = (0, Vec::new());
    for case in cases.as_array().unwrap() {
        let query = case["query"].as_str().unwrap();
        let Ok(Expr::Sample(expr)) = crate::parser::parse_expr(query) else {
            continue;
        };
        // a bare range aggregation, or sum/min/max by (...) over one
        let (agg, outer): (RangeAgg, Option<(VectorOp, Option<crate::ast::Grouping>)>) = match expr
        {
            SampleExpr::RangeAgg(r) => (r, None),
            SampleExpr::VectorAgg(v) => match (*v.expr, v.op) {
                (SampleExpr::RangeAgg(r), op @ (VectorOp::Sum | VectorOp::Min | VectorOp::Max)) => {
                    (r, Some((op, v.grouping)))
                }
                _ => continue,
            },
            _ => continue,
        };
        if matches!(
            agg.op,
            crate::ast::RangeOp::AbsentOverTime | crate::ast::RangeOp::RateCounter
        ) || agg.range.offset != 0
        {
            continue;
        }
        let ex = SampleExtractor::new(&agg.range, agg.op, agg.grouping.as_ref()).unwrap();
        let mut per_stream: BTreeMap<String, StreamSampleExtractor> = BTreeMap::new();
        let mut samples: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        for e in &entries {
            if !e.labels.matches(&agg.range.log.selector) {
                continue;
            }
            let sx = per_stream
                .entry(e.labels.to_string())
                .or_insert_with(|| ex.for_stream(&e.labels));
            if let Some((v, l)) = sx.process(e.ts, e.line.as_bytes(), &e.meta) {
                samples.entry(l.all.clone()).or_default().push((e.ts, v));
            }
        }
        let (start, end, step) = (
            case["start"].as_i64().unwrap(),
            case["end"].as_i64().unwrap(),
            case["step"].as_i64().unwrap(),
        );
        let range_s = agg.range.range as f64 / 1e9;
        let mut got: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        let mut t = start;
        while t <= end {
            let (lo, hi) = (t * S - agg.range.range, t * S);
            let mut at: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for (labels, pts) in &samples {
                let mut w: Vec<(i64, f64)> = pts
                    .iter()
                    .filter(|p| p.0 > lo && p.0 <= hi)
                    .cloned()
                    .collect();
                let Some(v) = range_value(agg.op, agg.param, range_s, &mut w) else {
                    continue;
                };
                let key_labels = match &outer {
                    None => labels.clone(),
                    Some((_, g)) => {
                        let g = g.clone().unwrap_or(crate::ast::Grouping {
                            without: false,
                            labels: vec![],
                        });
                        Labels::new(
                            labels
                                .iter()
                                .filter(|(k, _)| g.labels.iter().any(|x| x == k) != g.without)
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect(),
                        )
                    }
                };
                let key: Vec<String> = key_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                at.entry(key.join(",")).or_default().push(v);
            }
            for (k, vs) in at {
                let v = match &outer {
                    None | Some((VectorOp::Sum, _)) => vs.iter().sum(),
                    Some((VectorOp::Min, _)) => vs.iter().cloned().fold(f64::INFINITY, f64::min),
                    Some(_) => vs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                };
                got.entry(k).or_default().push((t, v));
            }
            t += step;
        }
        let mut want: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        for s in case["result"].as_array().unwrap() {
            let pts = s[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_f64().unwrap() as i64, p[1].as_f64().unwrap()))
                .collect();
            want.insert(s[0].as_str().unwrap().to_string(), pts);
        }
        checked += 1;
        let same = got.len() == want.len()
            && got.iter().zip(want.iter()).all(|((gk, gv), (wk, wv))| {
                gk == wk
                    && gv.len() == wv.len()
                    && gv
                        .iter()
                        .zip(wv)
                        .all(|(a, b)| a.0 == b.0 && (a.1 - b.1).abs() <= 1e-6 * b.1.abs().max(1.0))
            });
        if !same {
            let gk: Vec<&String> = got.keys().take(2).collect();
            let wk: Vec<&String> = want.keys().take(2).collect();
            let first = got
                .iter()
                .next()
                .map(|(k, v)| (k.clone(), v.iter().take(3).cloned().collect::<Vec<_>>()));
            let wfirst = want
                .iter()
                .next()
                .map(|(k, v)| (k.clone(), v.iter().take(3).cloned().collect::<Vec<_>>()));
            failures.push(format!("{query}: {} vs {} series\n  got {gk:?}\n  want {wk:?}\n  got {first:?}\n  want {wfirst:?}", got.len(), want.len()));
        }
    }
    eprintln!("{checked} range queries checked, {} failed", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

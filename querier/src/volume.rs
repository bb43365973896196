//! `/loki/api/v1/index/volume` and `/index/volume_range`: bytes of log
//! lines per group of matching streams, in Prometheus vector / matrix
//! form, largest first, at most `limit` (default 100) groups; for
//! `volume_range` the limit holds per step, as Loki keeps the top `limit`
//! groups of every bucket (a group can be in one bucket's top and not in
//! another's, so the matrix may hold more than `limit` series).
//!
//! Streams are grouped by `targetLabels` (comma-separated) when given,
//! else by the label names of the selector's matchers, as Loki's default
//! `aggregateBy=series` does: `{service_name=~".+"}` gives one element per
//! service. The answer is computed with LogQL,
//! `sum by (<labels>) (bytes_over_time(<selector>[<range>]))`, evaluated
//! once at `end` over `[start, end]` for `volume` and every `step` for
//! `volume_range`.
//!
//! `aggregateBy=labels` (default `series`) gives one element per label
//! *name* instead, `{"<name>": ""}`, holding the bytes of every matching
//! stream carrying that label (restricted to `targetLabels` when given).
//! Elements are ordered by their first value, largest first, then by
//! name, as Loki orders them.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;

use axum::response::Response;
use sluice_logql::engine::{QueryParams, QueryValue, Sample, Series};
use sluice_logql::labels::{is_valid_label_name, Labels};
use sluice_logql::source::Direction;

use crate::error::{Error, Result};
use crate::http::{lookup_range, respond, HttpState, Req};
use crate::json;
use crate::params::parse_step;

const NS: i64 = 1_000_000_000;

pub async fn volume(State(st): State<Arc<HttpState>>, req: Req) -> Response {
    respond(run(&st, &req, false).await)
}

pub async fn volume_range(State(st): State<Arc<HttpState>>, req: Req) -> Response {
    respond(run(&st, &req, true).await)
}

/// How streams are grouped: Loki's `aggregateBy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AggregateBy {
    Series,
    Labels,
}

fn aggregate_by(v: Option<&str>) -> Result<AggregateBy> {
    match v {
        None | Some("") | Some("series") => Ok(AggregateBy::Series),
        Some("labels") => Ok(AggregateBy::Labels),
        Some(o) => Err(Error::BadRequest(format!(
            "invalid aggregateBy {o:?}: must be series or labels"
        ))),
    }
}

/// `targetLabels` as a list of names.
fn target_list(t: Option<&str>) -> Vec<String> {
    t.map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

/// The per-stream LogQL query behind `aggregateBy=labels`: grouped by
/// every stream label name `names` (so structured metadata, not being
/// stream labels, does not split or add groups).
fn stream_query(query: &str, names: &[String], range_ns: i64) -> Result<String> {
    let matchers = sluice_logql::parser::parse_selector(query)?;
    let sel: Vec<String> = matchers.iter().map(|m| m.to_string()).collect();
    let ms = (range_ns / 1_000_000).max(1);
    Ok(format!(
        "sum by ({}) (bytes_over_time({{{}}}[{ms}ms]))",
        names.join(", "),
        sel.join(", ")
    ))
}

/// Sums per-stream volumes by label name: `{"<name>": ""}` per name
/// (only `targets` when not empty; `__` names skipped).
fn by_label_name(v: QueryValue, targets: &[String]) -> QueryValue {
    let keep =
        |k: &str| !k.starts_with("__") && (targets.is_empty() || targets.iter().any(|t| t == k));
    let metric = |k: &str| Labels::from_sorted(vec![(k.to_string(), String::new())]);
    match v {
        QueryValue::Vector(s) => {
            let mut sums: BTreeMap<String, (i64, f64)> = BTreeMap::new();
            for x in &s {
                for (k, _) in x.metric.iter().filter(|(k, _)| keep(k)) {
                    let e = sums.entry(k.to_string()).or_insert((x.ts, 0.0));
                    e.1 += x.value;
                }
            }
            QueryValue::Vector(
                sums.into_iter()
                    .map(|(k, (ts, value))| Sample {
                        metric: metric(&k),
                        ts,
                        value,
                    })
                    .collect(),
            )
        }
        QueryValue::Matrix(m) => {
            let mut sums: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
            for x in &m {
                for (k, _) in x.metric.iter().filter(|(k, _)| keep(k)) {
                    let e = sums.entry(k.to_string()).or_default();
                    for (t, v) in &x.points {
                        *e.entry(*t).or_insert(0.0) += v;
                    }
                }
            }
            QueryValue::Matrix(
                sums.into_iter()
                    .map(|(k, pts)| Series {
                        metric: metric(&k),
                        points: pts.into_iter().collect(),
                    })
                    .collect(),
            )
        }
        other => other,
    }
}

/// The LogQL query answering a volume request.
fn volume_query(query: &str, target_labels: Option<&str>, range_ns: i64) -> Result<String> {
    let matchers = sluice_logql::parser::parse_selector(query)?;
    let mut by: Vec<String> = match target_labels {
        Some(_) => target_list(target_labels),
        None => matchers
            .iter()
            .map(|m| m.name.clone())
            .filter(|n| !n.starts_with("__"))
            .collect(),
    };
    by.sort();
    by.dedup();
    if let Some(bad) = by.iter().find(|n| !is_valid_label_name(n)) {
        return Err(Error::BadRequest(format!(
            "invalid label name {bad:?} in targetLabels"
        )));
    }
    let sel: Vec<String> = matchers.iter().map(|m| m.to_string()).collect();
    let ms = (range_ns / 1_000_000).max(1);
    Ok(format!(
        "sum by ({}) (bytes_over_time({{{}}}[{ms}ms]))",
        by.join(", "),
        sel.join(", ")
    ))
}

async fn run(st: &HttpState, req: &Req, range: bool) -> Result<String> {
    let p = &req.params;
    let (start, end) = lookup_range(p)?;
    if end < start {
        return Err(Error::BadRequest(
            "end timestamp must not be before or equal to start time".into(),
        ));
    }
    let query = p
        .get("query")
        .ok_or_else(|| Error::BadRequest("query is required: a stream selector".into()))?;
    let limit = match p.get("limit") {
        None => 100,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| Error::BadRequest(format!("invalid limit {v:?}")))?,
    };
    let params = if range {
        let step = match p.get("step") {
            Some(s) => parse_step(s)
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::BadRequest(format!("invalid step {s:?}")))?,
            None => ((end - start) / NS / 250).max(1) * NS,
        };
        QueryParams {
            start,
            end,
            step,
            direction: Direction::Backward,
            limit: 100,
        }
    } else {
        QueryParams::instant(end)
    };
    let window = if range { params.step } else { end - start };
    let agg = aggregate_by(p.get("aggregateBy"))?;
    let targets = target_list(p.get("targetLabels"));
    if let Some(bad) = targets.iter().find(|n| !is_valid_label_name(n)) {
        return Err(Error::BadRequest(format!(
            "invalid label name {bad:?} in targetLabels"
        )));
    }
    let q = match agg {
        AggregateBy::Series => volume_query(query, p.get("targetLabels"), window)?,
        AggregateBy::Labels => {
            let matchers = sluice_logql::parser::parse_selector(query)?;
            let series = st
                .querier
                .series(&req.tenant, &matchers, start, end)
                .await?;
            let names: std::collections::BTreeSet<String> = series
                .iter()
                .flat_map(|l| l.iter().map(|(k, _)| k.to_string()))
                .filter(|k| !k.starts_with("__"))
                .collect();
            let names: Vec<String> = names.into_iter().collect();
            stream_query(query, &names, window)?
        }
    };
    let t0 = Instant::now();
    let v = st.querier.query(&req.tenant, &q, params).await?;
    let v = match agg {
        AggregateBy::Series => v,
        AggregateBy::Labels => by_label_name(v, &targets),
    };
    let v = top(v, limit);
    Ok(json::query_response(
        &v,
        false,
        t0.elapsed().as_secs_f64(),
        // an index lookup in Loki: no entries processed
        &Default::default(),
    ))
}

/// The `limit` largest groups, largest first, ties by labels; a matrix
/// keeps the `limit` largest points of each step, drops series left
/// without points, and is ordered by each series' first point, as Loki
/// sorts it.
fn top(v: QueryValue, limit: usize) -> QueryValue {
    match v {
        QueryValue::Vector(mut s) => {
            s.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.metric.cmp(&b.metric)));
            s.truncate(limit);
            QueryValue::Vector(s)
        }
        QueryValue::Matrix(m) => {
            let mut m = top_per_step(m, limit);
            let first = |s: &Series| s.points.first().map_or(0.0, |p| p.1);
            m.sort_by(|a, b| first(b).total_cmp(&first(a)).then(a.metric.cmp(&b.metric)));
            QueryValue::Matrix(m)
        }
        other => other,
    }
}

/// Keeps, at every timestamp, the points of the `limit` largest series
/// (ties by labels).
fn top_per_step(mut m: Vec<Series>, limit: usize) -> Vec<Series> {
    // timestamp -> (value, series index)
    let mut steps: BTreeMap<i64, Vec<(f64, usize)>> = BTreeMap::new();
    for (i, s) in m.iter().enumerate() {
        for &(ts, v) in &s.points {
            steps.entry(ts).or_default().push((v, i));
        }
    }
    let mut keep: HashSet<(usize, i64)> = HashSet::new();
    for (ts, mut points) in steps {
        points.sort_by(|a, b| b.0.total_cmp(&a.0).then(m[a.1].metric.cmp(&m[b.1].metric)));
        keep.extend(points.into_iter().take(limit).map(|(_, i)| (i, ts)));
    }
    for (i, s) in m.iter_mut().enumerate() {
        s.points.retain(|(ts, _)| keep.contains(&(i, *ts)));
    }
    m.retain(|s| !s.points.is_empty());
    m
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn builds_the_query() {
        assert_eq!(
            volume_query(r#"{service_name=~".+", env="prod"}"#, None, 3600 * NS).unwrap(),
            r#"sum by (env, service_name) (bytes_over_time({service_name=~".+", env="prod"}[3600000ms]))"#
        );
        assert_eq!(
            volume_query(r#"{app="a"}"#, Some("level, app"), NS).unwrap(),
            r#"sum by (app, level) (bytes_over_time({app="a"}[1000ms]))"#
        );
        assert!(volume_query(r#"{app="a"}"#, Some("bad-name"), NS).is_err());
        assert!(volume_query(r#"{app="a"} |= "x""#, None, NS).is_err());
    }

    fn l(p: &[(&str, &str)]) -> Labels {
        Labels::new(
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn aggregates_by_label_name() {
        assert_eq!(aggregate_by(None).unwrap(), AggregateBy::Series);
        assert_eq!(aggregate_by(Some("labels")).unwrap(), AggregateBy::Labels);
        assert!(aggregate_by(Some("streams")).is_err());
        assert_eq!(
            stream_query(r#"{app=~".+"}"#, &["app".into(), "env".into()], NS).unwrap(),
            r#"sum by (app, env) (bytes_over_time({app=~".+"}[1000ms]))"#
        );
        let s = |m, value| Sample {
            metric: m,
            ts: 5,
            value,
        };
        let v = QueryValue::Vector(vec![
            s(l(&[("app", "a"), ("host", "h1")]), 10.0),
            s(l(&[("app", "b"), ("env", "p")]), 30.0),
            s(l(&[("app", "c"), ("__stream_shard__", "1")]), 1.0),
        ]);
        let QueryValue::Vector(out) = top(by_label_name(v.clone(), &[]), 100) else {
            panic!()
        };
        let got: Vec<_> = out.iter().map(|x| (x.metric.clone(), x.value)).collect();
        assert_eq!(
            got,
            vec![
                (l(&[("app", "")]), 41.0),
                (l(&[("env", "")]), 30.0),
                (l(&[("host", "")]), 10.0)
            ]
        );
        let QueryValue::Vector(out) = by_label_name(v, &["host".into()]) else {
            panic!()
        };
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].metric, l(&[("host", "")]));
    }

    #[test]
    fn matrix_ordered_by_first_point_then_limited() {
        let m = QueryValue::Matrix(vec![
            Series {
                metric: l(&[("a", "1")]),
                points: vec![(1, 1.0), (2, 100.0)],
            },
            Series {
                metric: l(&[("a", "2")]),
                points: vec![(1, 5.0)],
            },
            Series {
                metric: l(&[("a", "0")]),
                points: vec![(1, 5.0)],
            },
        ]);
        let QueryValue::Matrix(out) = top(m, 2) else {
            panic!()
        };
        let got: Vec<_> = out
            .iter()
            .map(|s| (s.metric.get("a").unwrap(), s.points.clone()))
            .collect();
        // step 1 keeps "0" and "2" (5 each) over "1" (1); step 2 has
        // only "1", whose first point is now 100
        assert_eq!(
            got,
            vec![
                ("1", vec![(2, 100.0)]),
                ("0", vec![(1, 5.0)]),
                ("2", vec![(1, 5.0)]),
            ]
        );
    }

    #[test]
    fn range_limit_is_per_step() {
        let s = |a: &str, points: Vec<(i64, f64)>| Series {
            metric: l(&[("app", a)]),
            points,
        };
        // three apps over three steps; each step's leader differs
        let m = QueryValue::Matrix(vec![
            s("a", vec![(10, 9.0), (20, 1.0), (30, 1.0)]),
            s("b", vec![(10, 1.0), (20, 9.0), (30, 2.0)]),
            s("c", vec![(10, 2.0), (20, 2.0), (30, 9.0)]),
        ]);
        let QueryValue::Matrix(out) = top(m, 1) else {
            panic!()
        };
        let got: Vec<_> = out
            .iter()
            .map(|s| (s.metric.get("app").unwrap(), s.points.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", vec![(10, 9.0)]),
                ("b", vec![(20, 9.0)]),
                ("c", vec![(30, 9.0)]),
            ]
        );
        let QueryValue::Matrix(out) = top(
            QueryValue::Matrix(vec![s("a", vec![(10, 1.0)]), s("b", vec![(10, 2.0)])]),
            5,
        ) else {
            panic!()
        };
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].metric.get("app"), Some("b"));
    }
}

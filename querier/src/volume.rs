//! `/loki/api/v1/index/volume` and `/index/volume_range`: bytes of log
//! lines per group of matching streams, in Prometheus vector / matrix
//! form, largest first, at most `limit` (default 100) groups.
//!
//! Streams are grouped by `targetLabels` (comma-separated) when given,
//! else by the label names of the selector's matchers, as Loki's default
//! `aggregateBy=series` does: `{service_name=~".+"}` gives one element per
//! service. The answer is computed with LogQL,
//! `sum by (<labels>) (bytes_over_time(<selector>[<range>]))`, evaluated
//! once at `end` over `[start, end]` for `volume` and every `step` for
//! `volume_range`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;

use axum::response::Response;
use sluice_logql::engine::{QueryParams, QueryValue};
use sluice_logql::labels::is_valid_label_name;
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

/// The LogQL query answering a volume request.
fn volume_query(query: &str, target_labels: Option<&str>, range_ns: i64) -> Result<String> {
    let matchers = sluice_logql::parser::parse_selector(query)?;
    let mut by: Vec<String> = match target_labels {
        Some(t) => t
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
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
    let q = volume_query(query, p.get("targetLabels"), window)?;
    let t0 = Instant::now();
    let v = st.querier.query(&req.tenant, &q, params).await?;
    let v = top(v, limit);
    Ok(json::query_response(
        &v,
        false,
        t0.elapsed().as_secs_f64(),
        0,
        0,
    ))
}

/// The `limit` largest groups, largest first.
fn top(v: QueryValue, limit: usize) -> QueryValue {
    match v {
        QueryValue::Vector(mut s) => {
            s.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.metric.cmp(&b.metric)));
            s.truncate(limit);
            QueryValue::Vector(s)
        }
        QueryValue::Matrix(mut m) => {
            let totals: HashMap<_, f64> = m
                .iter()
                .map(|s| (s.metric.clone(), s.points.iter().map(|p| p.1).sum()))
                .collect();
            let total = |s: &sluice_logql::engine::Series| totals.get(&s.metric).copied();
            m.sort_by(|a, b| {
                let (ta, tb) = (total(a).unwrap_or(0.0), total(b).unwrap_or(0.0));
                tb.total_cmp(&ta).then(a.metric.cmp(&b.metric))
            });
            m.truncate(limit);
            QueryValue::Matrix(m)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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
}

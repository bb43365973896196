//! The endpoints Grafana Logs Drilldown calls besides the query API:
//! `drilldown-limits`, `detected_labels`, `detected_fields`,
//! `detected_field/{name}/values` and `patterns`, with the JSON shapes it
//! parses (see shared/reference/grafana-contract.md §2).
//!
//! Fields and patterns are computed at query time from the newest lines
//! the query selects (`line_limit`, default 1000 for fields, 5000 for
//! patterns), not kept by a pattern ingester; they are approximations, as
//! Loki's are.

mod fields;
mod patterns;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, State};

use axum::response::Response;
use serde_json::json;
use sluice_logql::engine::{QueryParams, QueryValue, StreamEntry};
use sluice_logql::labels::Labels;
use sluice_logql::source::Direction;

use crate::error::{Error, Result};
use crate::http::{now_ns, respond, HttpState, Req};
use crate::params::Params;

const NS: i64 = 1_000_000_000;

/// `GET /loki/api/v1/drilldown-limits`: the limits Drilldown gates its
/// features on.
pub async fn drilldown_limits(State(st): State<Arc<HttpState>>, _req: Req) -> Response {
    let cfg = st.querier.config();
    let body = json!({
        "limits": {
            "discover_log_levels": false,
            "discover_service_name": [],
            "log_level_fields": ["level", "LEVEL", "Level", "severity", "SEVERITY", "Severity", "lvl", "LVL", "Lvl"],
            "max_entries_limit_per_query": cfg.engine.max_entries_limit_per_query,
            "max_line_size_truncate": false,
            "max_query_bytes_read": "0B",
            "max_query_length": format!("{}h", cfg.engine.max_query_length / 3600 / NS),
            "max_query_lookback": "0s",
            "max_query_range": "0s",
            "max_query_series": cfg.engine.max_query_series,
            "metric_aggregation_enabled": false,
            "otlp_config": {
                "ResourceAttributes": {"AttributesConfig": [], "IgnoreDefaults": false},
                "ScopeAttributes": null,
                "LogAttributes": null,
                "SeverityTextAsLabel": false,
            },
            "pattern_persistence_enabled": false,
            "query_timeout": format!("{}s", cfg.query_timeout.as_secs()),
            "retention_period": "0s",
            "volume_enabled": true,
            "volume_max_series": 1000,
        },
        "pattern_ingester_enabled": true,
        "version": env!("CARGO_PKG_VERSION"),
    });
    respond(Ok(body.to_string()))
}

/// `start`/`end` as Drilldown sends them (RFC3339 or ns), default the
/// last hour.
fn range(p: &Params) -> Result<(i64, i64)> {
    let end = p.time("end", now_ns())?;
    let start = p.time("start", end - 3600 * NS)?;
    if end < start {
        return Err(Error::BadRequest(
            "end timestamp must not be before or equal to start time".into(),
        ));
    }
    Ok((start, end))
}

fn usize_param(p: &Params, k: &str, default: usize) -> Result<usize> {
    match p.get(k) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            Error::BadRequest(format!("invalid {k} {v:?}: must be a positive integer"))
        }),
    }
}

/// The newest `lines` entries of a log query, with their full labels.
async fn entries(st: &HttpState, req: &Req, lines: usize) -> Result<Vec<(Labels, StreamEntry)>> {
    let (start, end) = range(&req.params)?;
    let query = req.params.get("query").unwrap_or("");
    let params = QueryParams {
        start,
        end,
        step: 0,
        direction: Direction::Backward,
        limit: lines.min(u32::MAX as usize) as u32,
    };
    match st.querier.query(&req.tenant, query, params).await? {
        QueryValue::Streams(streams) => Ok(streams
            .into_iter()
            .flat_map(|s| {
                let labels = s.labels;
                s.entries.into_iter().map(move |e| (labels.clone(), e))
            })
            .collect()),
        _ => Err(Error::BadRequest(
            "only log queries are supported here, not metric queries".into(),
        )),
    }
}

/// `GET /loki/api/v1/detected_labels`: stream labels of the matching
/// streams with their number of distinct values, by name. An empty
/// `query` means every stream. As Loki does, a label whose values are all
/// IDs (numbers or UUIDs) is left out, unless it has at most two values,
/// all `0`/`1` (a flag), or is one of `cluster`, `namespace`, `instance`,
/// `pod`, which are always kept.
pub async fn detected_labels(State(st): State<Arc<HttpState>>, req: Req) -> Response {
    let r = async {
        let (start, end) = range(&req.params)?;
        let matchers = match req.params.get("query").map(str::trim) {
            None | Some("{}") => Vec::new(),
            Some(q) => {
                // a log query is fine: only its selector counts
                match sluice_logql::parser::parse_expr(q)? {
                    sluice_logql::ast::Expr::Log(l) => l.selector,
                    _ => return Err(Error::BadRequest("query must be a log query".into())),
                }
            }
        };
        let series = st
            .querier
            .series(&req.tenant, &matchers, start, end)
            .await?;
        let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for l in &series {
            for (k, v) in l.iter().filter(|(k, _)| !k.starts_with("__")) {
                values
                    .entry(k.to_string())
                    .or_default()
                    .insert(v.to_string());
            }
        }
        let labels: Vec<_> = values
            .iter()
            .filter(|(k, v)| keep_label(k, v))
            .map(|(k, v)| json!({"label": k, "cardinality": v.len()}))
            .collect();
        Ok(json!({ "detectedLabels": labels }).to_string())
    }
    .await;
    respond(r)
}

/// Loki's rule for which stream labels `detected_labels` reports.
fn keep_label(name: &str, values: &BTreeSet<String>) -> bool {
    if values.is_empty() {
        return false;
    }
    if matches!(name, "cluster" | "namespace" | "instance" | "pod") {
        return true;
    }
    if values.len() <= 2 && values.iter().all(|v| v == "0" || v == "1") {
        return true;
    }
    !values
        .iter()
        .all(|v| v.parse::<f64>().is_ok() || is_uuid(v))
}

/// A UUID in one of the forms Go's `uuid.Parse` takes: 36 characters
/// with dashes, optionally in braces or after `urn:uuid:`, or 32 hex
/// digits.
fn is_uuid(v: &str) -> bool {
    let v = v
        .strip_prefix("urn:uuid:")
        .or_else(|| v.strip_prefix('{').and_then(|x| x.strip_suffix('}')))
        .unwrap_or(v);
    let b = v.as_bytes();
    match b.len() {
        32 => b.iter().all(u8::is_ascii_hexdigit),
        36 => b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        }),
        _ => false,
    }
}

/// `GET /loki/api/v1/detected_fields`.
pub async fn detected_fields(State(st): State<Arc<HttpState>>, req: Req) -> Response {
    let r = async {
        let limit = usize_param(&req.params, "limit", 1000)?;
        let lines = usize_param(&req.params, "line_limit", 1000)?;
        let found = fields::detect(&entries(&st, &req, lines).await?, limit);
        Ok(json!({ "fields": fields::to_json(&found), "limit": limit }).to_string())
    }
    .await;
    respond(r)
}

/// `GET /loki/api/v1/detected_field/{name}/values`.
pub async fn detected_field_values(
    State(st): State<Arc<HttpState>>,
    Path(name): Path<String>,
    req: Req,
) -> Response {
    let r = async {
        let limit = usize_param(&req.params, "limit", 1000)?;
        let lines = usize_param(&req.params, "line_limit", 1000)?;
        let found = fields::detect(&entries(&st, &req, lines).await?, usize::MAX);
        let values: Vec<&String> = found
            .get(&name)
            .map(|f| f.values.iter().take(limit).collect())
            .unwrap_or_default();
        Ok(json!({ "values": values, "limit": limit }).to_string())
    }
    .await;
    respond(r)
}

/// `GET /loki/api/v1/patterns`.
pub async fn patterns(State(st): State<Arc<HttpState>>, req: Req) -> Response {
    let r = async {
        let (start, end) = range(&req.params)?;
        let step = match req.params.get("step") {
            Some(s) => crate::params::parse_step(s)
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::BadRequest(format!("invalid step {s:?}")))?,
            None => ((end - start) / 250).max(NS),
        };
        let lines = usize_param(&req.params, "line_limit", 5000)?;
        let found = patterns::mine(&entries(&st, &req, lines).await?, step);
        Ok(json!({ "status": "success", "data": patterns::to_json(&found) }).to_string())
    }
    .await;
    respond(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn detected_label_rules() {
        assert!(keep_label("app", &set(&["api"])));
        assert!(keep_label("app", &set(&["1", "api", "3"])));
        assert!(!keep_label("app", &set(&[])));
        assert!(!keep_label("pid", &set(&["12", "13", "1.5"])));
        assert!(!keep_label("id", &set(&["7"])));
        assert!(!keep_label(
            "trace",
            &set(&[
                "123e4567-e89b-12d3-a456-426614174000",
                "{123e4567-e89b-12d3-a456-426614174001}"
            ])
        ));
        assert!(keep_label("flag", &set(&["0", "1"])));
        assert!(!keep_label("flag", &set(&["0", "1", "2"])));
        assert!(keep_label("pod", &set(&["1", "2", "3"])));
        assert!(keep_label("instance", &set(&["10"])));
        assert!(is_uuid("123e4567e89b12d3a456426614174000"));
        assert!(!is_uuid("123e4567-e89b-12d3-a456-42661417400g"));
    }
}

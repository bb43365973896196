//! `/prometheus/api/v1/rules` and `/alerts` in Prometheus's JSON shape.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use sluice_logql::time::format_rfc3339;

use super::{peers, tenant_of, ApiState};
use crate::alert::{Alert, AlertState};
use crate::rules::RuleKind;
use crate::GroupStatus;

/// Prometheus's zero time, shown for rules never evaluated.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn ok(data: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        json!({"status": "success", "data": data}).to_string(),
    )
        .into_response()
}

/// Filters of `/prometheus/api/v1/rules`: `type`, `rule_name[]`,
/// `rule_group[]`, `file[]`, `exclude_alerts`.
#[derive(Debug, Default)]
struct RulesFilter {
    kind: String,
    names: Vec<String>,
    groups: Vec<String>,
    files: Vec<String>,
    exclude_alerts: bool,
}

impl RulesFilter {
    fn parse(query: Option<&str>) -> Self {
        let mut f = RulesFilter::default();
        let Some(q) = query else { return f };
        let Ok(url) = reqwest::Url::parse(&format!("http://x/?{q}")) else {
            return f;
        };
        for (k, v) in url.query_pairs() {
            let v = v.into_owned();
            match k.trim_end_matches("[]") {
                "type" => f.kind = v,
                "rule_name" => f.names.push(v),
                "rule_group" => f.groups.push(v),
                "file" => f.files.push(v),
                "exclude_alerts" => f.exclude_alerts = v == "true",
                _ => {}
            }
        }
        f
    }

    fn wants_group(&self, g: &GroupStatus) -> bool {
        (self.groups.is_empty() || self.groups.contains(&g.key.group))
            && (self.files.is_empty() || self.files.contains(&g.key.namespace))
    }
}

/// The other rulers' `data.<field>` (none when asked by a ruler, or
/// when not sharded).
async fn from_peers(
    st: &ApiState,
    headers: &HeaderMap,
    uri: &Uri,
    field: &str,
) -> Result<Vec<Value>, Box<Response>> {
    match &st.peers {
        Some(p) if !peers::is_local(headers) => {
            let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            peers::gather(p.as_ref(), headers, pq, field).await
        }
        _ => Ok(Vec::new()),
    }
}

pub(super) async fn rules(
    State(st): State<Arc<ApiState>>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = match tenant_of(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let filter = RulesFilter::parse(query.as_deref());
    let kind = filter.kind.as_str();
    if !["", "alert", "record"].contains(&kind) {
        return sluice_querier::http::error_response(
            400,
            &format!("invalid type {kind:?}: expected alert or record"),
        );
    }
    let mut groups: Vec<Value> = st
        .ruler
        .statuses(&tenant)
        .iter()
        .filter(|g| filter.wants_group(g))
        .map(|g| group_json(g, &filter))
        .filter(|g| filter.names.is_empty() || g["rules"].as_array().is_some_and(|r| !r.is_empty()))
        .collect();
    match from_peers(&st, &headers, &uri, "groups").await {
        Ok(more) => groups.extend(more),
        Err(r) => return *r,
    }
    groups.sort_by(|a, b| {
        let key = |g: &Value| (g["file"].to_string(), g["name"].to_string());
        key(a).cmp(&key(b))
    });
    ok(json!({ "groups": groups }))
}

pub(super) async fn alerts(
    State(st): State<Arc<ApiState>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let tenant = match tenant_of(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let mut alerts: Vec<Value> = st
        .ruler
        .statuses(&tenant)
        .iter()
        .flat_map(|g| g.rules.iter().flat_map(|r| r.alerts.active.values()))
        .filter(|a| a.state != AlertState::Inactive)
        .map(alert_json)
        .collect();
    match from_peers(&st, &headers, &uri, "alerts").await {
        Ok(more) => alerts.extend(more),
        Err(r) => return *r,
    }
    ok(json!({ "alerts": alerts }))
}

fn time(ts: Option<i64>) -> String {
    ts.map(format_rfc3339).unwrap_or_else(|| ZERO_TIME.into())
}

fn pairs(p: &[(String, String)]) -> Value {
    Value::Object(
        p.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// A group in Prometheus's `RuleGroup` shape.
fn group_json(g: &GroupStatus, filter: &RulesFilter) -> Value {
    let kind = filter.kind.as_str();
    let mut rules = Vec::new();
    for (rule, st) in g.group.rules.iter().zip(&g.rules) {
        if !filter.names.is_empty() && !filter.names.contains(&rule.name) {
            continue;
        }
        let raw = pairs(&rule.raw_labels);
        let mut v = match &rule.kind {
            RuleKind::Alerting {
                hold,
                keep_firing_for,
                ..
            } => {
                if kind == "record" {
                    continue;
                }
                let src = g.group.source.rules.iter().find(|r| r.name() == rule.name);
                let annotations: Vec<(String, String)> = src
                    .map(|r| r.annotations.clone().into_iter().collect())
                    .unwrap_or_default();
                let alerts: Vec<Value> = st
                    .alerts
                    .active
                    .values()
                    .filter(|a| a.state != AlertState::Inactive && !filter.exclude_alerts)
                    .map(alert_json)
                    .collect();
                json!({
                    "state": st.alerts.state().as_str(),
                    "name": rule.name,
                    "query": rule.expr,
                    "duration": hold.as_secs_f64(),
                    "keepFiringFor": keep_firing_for.as_secs_f64(),
                    "labels": raw,
                    "annotations": pairs(&annotations),
                    "alerts": alerts,
                    "type": "alerting",
                })
            }
            RuleKind::Recording => {
                if kind == "alert" {
                    continue;
                }
                json!({
                    "name": rule.name,
                    "query": rule.expr,
                    "labels": raw,
                    "type": "recording",
                })
            }
        };
        v["health"] = json!(st.health.as_str());
        if !st.last_error.is_empty() {
            v["lastError"] = json!(st.last_error);
        }
        v["evaluationTime"] = json!(st.eval_seconds);
        v["lastEvaluation"] = json!(time(st.last_eval));
        rules.push(v);
    }
    json!({
        "name": g.key.group,
        "file": g.key.namespace,
        "rules": rules,
        "interval": g.interval.as_secs_f64(),
        "limit": g.group.limit,
        "evaluationTime": g.eval_seconds,
        "lastEvaluation": time(g.last_eval),
    })
}

/// An alert in Prometheus's API shape.
pub fn alert_json(a: &Alert) -> Value {
    let mut v = json!({
        "labels": pairs(&a.labels),
        "annotations": pairs(&a.annotations),
        "state": a.state.as_str(),
        "activeAt": format_rfc3339(a.active_at),
        "value": go_float_e(a.value),
    });
    if let Some(k) = a.keep_firing_since {
        v["keepFiringSince"] = json!(format_rfc3339(k));
    }
    v
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: `6e+00`, `1.5e-03`.
pub fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_filters_parse() {
        let f = RulesFilter::parse(Some(
            "type=alert&rule_name[]=A&rule_name%5B%5D=B&file[]=ns%2F1&rule_group=g&exclude_alerts=true",
        ));
        assert_eq!(f.kind, "alert");
        assert_eq!(f.names, vec!["A", "B"]);
        assert_eq!(f.files, vec!["ns/1"]);
        assert_eq!(f.groups, vec!["g"]);
        assert!(f.exclude_alerts);
        assert!(RulesFilter::parse(None).names.is_empty());
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float_e(6.0), "6e+00");
        assert_eq!(go_float_e(0.0015), "1.5e-03");
        assert_eq!(go_float_e(123456.0), "1.23456e+05");
        assert_eq!(go_float_e(-2.0), "-2e+00");
    }
}

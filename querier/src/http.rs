//! Loki's HTTP query API over a `Querier`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sluice_logql::engine::QueryParams;
use sluice_logql::labels::Matcher;

use crate::error::{Error, Result};
use crate::json;
use crate::params::{parse_step, Params};
use crate::querier::Querier;
use crate::tail::TailHub;

const NS: i64 = 1_000_000_000;
/// Loki's cap on points per series in a range query.
const MAX_POINTS: i64 = 11_000;

/// Shared state of the query handlers.
pub struct HttpState {
    pub querier: Querier,
    /// With `auth_enabled: false` every request is tenant `fake`.
    pub auth_enabled: bool,
    /// Entries pushed to this process, for live tail.
    pub tail: Arc<TailHub>,
}

/// The query routes, to be merged into the server's router.
pub fn routes(state: Arc<HttpState>) -> Router {
    Router::new()
        .route(
            "/loki/api/v1/query_range",
            get(query_range).post(query_range),
        )
        .route("/loki/api/v1/query", get(query).post(query))
        .route("/loki/api/v1/labels", get(labels).post(labels))
        .route("/loki/api/v1/label", get(labels).post(labels))
        .route(
            "/loki/api/v1/label/{name}/values",
            get(label_values).post(label_values),
        )
        .route("/loki/api/v1/series", get(series).post(series))
        .route(
            "/loki/api/v1/index/stats",
            get(index_stats).post(index_stats),
        )
        .route("/loki/api/v1/tail", get(crate::tail::tail_handler))
        .route(
            "/loki/api/v1/format_query",
            get(crate::format::format_query).post(crate::format::format_query),
        )
        .route(
            "/loki/api/v1/index/volume",
            get(crate::volume::volume).post(crate::volume::volume),
        )
        .route(
            "/loki/api/v1/index/volume_range",
            get(crate::volume::volume_range).post(crate::volume::volume_range),
        )
        .route(
            "/loki/api/v1/drilldown-limits",
            get(crate::drilldown::drilldown_limits),
        )
        .route(
            "/loki/api/v1/detected_labels",
            get(crate::drilldown::detected_labels),
        )
        .route(
            "/loki/api/v1/detected_fields",
            get(crate::drilldown::detected_fields),
        )
        .route(
            "/loki/api/v1/detected_field/{name}/values",
            get(crate::drilldown::detected_field_values),
        )
        .route("/loki/api/v1/patterns", get(crate::drilldown::patterns))
        .with_state(state)
}

/// The tenant of a request: `X-Scope-OrgID`, or `fake` without auth.
pub fn tenant(headers: &HeaderMap, auth_enabled: bool) -> Result<String, (StatusCode, String)> {
    if !auth_enabled {
        return Ok("fake".into());
    }
    match headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        Some(t) if !t.is_empty() => Ok(t.to_string()),
        _ => Err((StatusCode::UNAUTHORIZED, "no org id".into())),
    }
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// An error as Loki writes it: plain text with the status code.
pub fn error_response(status: u16, msg: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}\n"),
    )
        .into_response()
}

fn json_response(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

pub(crate) fn respond(r: Result<String>) -> Response {
    match r {
        Ok(body) => json_response(body),
        Err(e) => error_response(e.status(), &e.to_string()),
    }
}

pub(crate) struct Req {
    pub(crate) tenant: String,
    pub(crate) params: Params,
    pub(crate) categorize: bool,
}

/// Every handler's request: tenant, merged query-string and form
/// parameters, and Grafana's encoding flags.
impl axum::extract::FromRequest<Arc<HttpState>> for Req {
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        st: &Arc<HttpState>,
    ) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let tenant = tenant(&parts.headers, st.auth_enabled)
            .map_err(|(c, m)| error_response(c.as_u16(), &m))?;
        let categorize = parts
            .headers
            .get_all("x-loki-response-encoding-flags")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|f| f.trim() == "categorize-labels"));
        let body = axum::body::to_bytes(body, 16 << 20)
            .await
            .map_err(|e| error_response(400, &format!("reading the request body: {e}")))?;
        Ok(Req {
            tenant,
            params: Params::parse(parts.uri.query(), &body),
            categorize,
        })
    }
}

async fn query_range(State(st): State<Arc<HttpState>>, req: Req) -> Response {
    respond(run_range(&st, &req).await)
}

async fn run_range(st: &HttpState, req: &Req) -> Result<String> {
    let params = range_params(&req.params)?;
    run(st, req, params).await
}

/// The `QueryParams` of a `query_range` request, with Loki's defaults and
/// checks (shared with the query-frontend).
pub fn range_params(p: &Params) -> Result<QueryParams> {
    let now = now_ns();
    let end = p.time("end", now)?;
    let start = p.time("start", end - 3600 * NS)?;
    if end < start {
        return Err(Error::BadRequest(
            "end timestamp must not be before or equal to start time".into(),
        ));
    }
    let step = match p.get("step") {
        Some(s) => parse_step(s).ok_or_else(|| {
            Error::BadRequest(format!(
                "invalid parameter \"step\": cannot parse \"{s}\" to a valid duration"
            ))
        })?,
        // Loki's default: one point per 250th of the range, at least 1s
        None => ((end - start) / NS / 250).max(1) * NS,
    };
    if step <= 0 {
        return Err(Error::BadRequest(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if (end - start) / step > MAX_POINTS {
        return Err(Error::BadRequest(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                .into(),
        ));
    }
    Ok(QueryParams {
        start,
        end,
        step,
        direction: p.direction()?,
        limit: p.limit()?,
    })
}

async fn run(st: &HttpState, req: &Req, params: QueryParams) -> Result<String> {
    let q = req.params.get("query").unwrap_or("");
    let t0 = Instant::now();
    let a = st.querier.query_shard(&req.tenant, q, params, None).await?;
    let secs = t0.elapsed().as_secs_f64();
    Ok(json::query_response(
        &a.value,
        req.categorize,
        secs,
        &a.stats,
    ))
}

async fn query(State(st): State<Arc<HttpState>>, req: Req) -> Response {
    respond(run_instant(&st, &req).await)
}

async fn run_instant(st: &HttpState, req: &Req) -> Result<String> {
    let params = instant_params(&req.params)?;
    run(st, req, params).await
}

/// The `QueryParams` of an instant `query` request (shared with the
/// query-frontend).
pub fn instant_params(p: &Params) -> Result<QueryParams> {
    let t = p.time("time", now_ns())?;
    Ok(QueryParams {
        start: t,
        end: t,
        step: 0,
        direction: p.direction()?,
        limit: p.limit()?,
    })
}

/// `start`/`end` for label and series lookups (default: the last 6 hours).
pub(crate) fn lookup_range(p: &Params) -> Result<(i64, i64)> {
    let end = p.time("end", now_ns())?;
    let start = p.time("start", end - 6 * 3600 * NS)?;
    Ok((start, end))
}

pub(crate) fn selector(q: Option<&str>) -> Result<Vec<Matcher>> {
    match q {
        None => Ok(Vec::new()),
        Some(q) => Ok(sluice_logql::parser::parse_selector(q)?),
    }
}

pub(crate) fn string_list(items: &[String]) -> String {
    let mut o = String::from(r#"{"status":"success","data":["#);
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        json::write_str(&mut o, s);
    }
    o.push_str("]}");
    o
}

/// The lookup range and optional `query` selector of a label or stats
/// request.
fn lookup(req: &Req) -> Result<(i64, i64, Vec<Matcher>)> {
    let (start, end) = lookup_range(&req.params)?;
    Ok((start, end, selector(req.params.get("query"))?))
}

async fn labels(State(st): State<Arc<HttpState>>, req: Req) -> Response {
    let r = async {
        let (start, end, m) = lookup(&req)?;
        Ok(string_list(
            &st.querier.label_names(&req.tenant, &m, start, end).await?,
        ))
    };
    respond(r.await)
}

async fn label_values(
    State(st): State<Arc<HttpState>>,
    Path(name): Path<String>,
    req: Req,
) -> Response {
    let r = async {
        let (start, end, m) = lookup(&req)?;
        Ok(string_list(
            &st.querier
                .label_values(&req.tenant, &name, &m, start, end)
                .await?,
        ))
    };
    respond(r.await)
}

async fn series(State(st): State<Arc<HttpState>>, req: Req) -> Response {
    let r = async {
        let (start, end) = lookup_range(&req.params)?;
        let groups: Vec<Vec<Matcher>> = match req.params.all("match[]") {
            [] => vec![Vec::new()],
            ms => ms
                .iter()
                .map(|m| selector(Some(m)))
                .collect::<Result<_>>()?,
        };
        let mut all = std::collections::BTreeSet::new();
        for m in &groups {
            all.extend(st.querier.series(&req.tenant, m, start, end).await?);
        }
        let mut o = String::from(r#"{"status":"success","data":["#);
        for (i, l) in all.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            json::write_labels(&mut o, l);
        }
        o.push_str("]}");
        Ok(o)
    };
    respond(r.await)
}

async fn index_stats(State(st): State<Arc<HttpState>>, req: Req) -> Response {
    let r = async {
        let (start, end, m) = lookup(&req)?;
        let s = st.querier.stats(&req.tenant, &m, start, end).await?;
        serde_json::to_string(&s).map_err(|e| Error::Internal(e.to_string()))
    };
    respond(r.await)
}

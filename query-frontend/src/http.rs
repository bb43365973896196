//! The frontend's HTTP API: `query_range` and `query` answered through the
//! `Frontend` with the querier's own parameter parsing and JSON encoding
//! (so answers read exactly as a querier's), everything else proxied to a
//! downstream querier (`frontend.downstream_url`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sluice_logql::engine::QueryParams;
use sluice_querier::http::{error_response, instant_params, range_params, tenant};
use sluice_querier::params::Params;
use tracing::Instrument;

use crate::frontend::Frontend;

/// Largest request body read (matches the querier).
const MAX_BODY: usize = 16 << 20;

pub struct FrontendHttp {
    pub frontend: Arc<Frontend>,
    /// With `auth_enabled: false` every request is tenant `fake`.
    pub auth_enabled: bool,
    client: reqwest::Client,
}

impl FrontendHttp {
    pub fn new(frontend: Arc<Frontend>, auth_enabled: bool) -> Arc<Self> {
        Arc::new(FrontendHttp {
            frontend,
            auth_enabled,
            client: reqwest::Client::new(),
        })
    }
}

/// The frontend's routes; unknown paths go to the downstream querier.
pub fn routes(state: Arc<FrontendHttp>) -> Router {
    Router::new()
        .route(
            "/loki/api/v1/query_range",
            get(query_range).post(query_range),
        )
        .route("/loki/api/v1/query", get(query).post(query))
        .fallback(proxy)
        .with_state(state)
}

async fn query_range(State(st): State<Arc<FrontendHttp>>, req: Request) -> Response {
    answer(&st, req, range_params).await
}

async fn query(State(st): State<Arc<FrontendHttp>>, req: Request) -> Response {
    answer(&st, req, instant_params).await
}

fn categorize(headers: &HeaderMap) -> bool {
    headers
        .get_all("x-loki-response-encoding-flags")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|f| f.trim() == "categorize-labels"))
}

async fn answer(
    st: &FrontendHttp,
    req: Request,
    params_of: fn(&Params) -> sluice_querier::Result<QueryParams>,
) -> Response {
    let (parts, body) = req.into_parts();
    let tenant = match tenant(&parts.headers, st.auth_enabled) {
        Ok(t) => t,
        Err((c, m)) => return error_response(c.as_u16(), &m),
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return error_response(400, &format!("reading the request body: {e}")),
    };
    let p = Params::parse(parts.uri.query(), &body);
    let params = match params_of(&p) {
        Ok(v) => v,
        Err(e) => return error_response(e.status(), &e.to_string()),
    };
    let q = p.get("query").unwrap_or("");
    let t0 = Instant::now();
    let span = tracing::info_span!("frontend_query", tenant = %tenant);
    match st
        .frontend
        .query_stats(&tenant, q, params)
        .instrument(span)
        .await
    {
        Ok(a) => {
            let secs = t0.elapsed().as_secs_f64();
            let body = sluice_querier::json::query_response(
                &a.value,
                categorize(&parts.headers),
                secs,
                &a.stats,
            );
            (
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body,
            )
                .into_response()
        }
        Err(e) => error_response(e.status(), &e.to_string()),
    }
}

/// Forwards a request to the downstream querier unchanged.
async fn proxy(State(st): State<Arc<FrontendHttp>>, req: Request) -> Response {
    let Some(base) = st.frontend.config().frontend.downstream_url.as_deref() else {
        return error_response(404, "not found (no frontend.downstream_url to proxy to)");
    };
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return error_response(400, &format!("reading the request body: {e}")),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let method = match reqwest::Method::from_bytes(parts.method.as_str().as_bytes()) {
        Ok(m) => m,
        Err(_) => return error_response(405, "method not allowed"),
    };
    let mut out = st.client.request(method, url).body(body);
    for (k, v) in parts.headers.iter() {
        if k != header::HOST && k != header::CONTENT_LENGTH {
            out = out.header(k.as_str(), v.as_bytes());
        }
    }
    let resp = match out.send().await {
        Ok(r) => r,
        Err(e) => return error_response(502, &format!("downstream querier {base}: {e}")),
    };
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match resp.bytes().await {
        Ok(b) => {
            let code = axum::http::StatusCode::from_u16(status)
                .unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
            let mut r = (code, b.to_vec()).into_response();
            if let Some(ct) = ctype.and_then(|c| c.parse().ok()) {
                r.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            r
        }
        Err(e) => error_response(502, &format!("downstream querier {base}: {e}")),
    }
}

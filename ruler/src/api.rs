//! The ruler's HTTP API, as Loki serves it:
//!
//! - `GET /loki/api/v1/rules`: every rule group of the tenant, YAML, by namespace;
//! - `GET /loki/api/v1/rules/{namespace}`: one namespace's groups;
//! - `GET /loki/api/v1/rules/{namespace}/{group}`: one group;
//! - `POST /loki/api/v1/rules/{namespace}`: create or replace the group in
//!   the YAML body (202 Accepted);
//! - `DELETE /loki/api/v1/rules/{namespace}[/{group}]` (202 Accepted);
//! - the same under `/api/prom/rules`;
//! - `GET /prometheus/api/v1/rules` and `/prometheus/api/v1/alerts`:
//!   Prometheus's JSON (rule state, health, alerts), for Grafana; with
//!   several rulers, every ruler's groups (see [`peers`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sluice_querier::http::{error_response, tenant};

use crate::error::Error;
use crate::rules::{self, RuleGroup};
use crate::Ruler;

mod peers;
mod prom;

pub use peers::{RulerPeers, LOCAL_HEADER};

/// What the handlers need.
pub struct ApiState {
    pub ruler: Ruler,
    pub auth_enabled: bool,
    /// The other rulers of a sharded set (none for a single ruler).
    pub peers: Option<Arc<dyn RulerPeers>>,
}

/// The ruler's routes, to merge into the server's router.
pub fn routes(state: Arc<ApiState>) -> Router {
    let mut r = Router::new();
    for base in ["/loki/api/v1/rules", "/api/prom/rules"] {
        r = r
            .route(base, get(list_all))
            .route(
                &format!("{base}/{{namespace}}"),
                get(get_namespace).post(post_group).delete(delete_namespace),
            )
            .route(
                &format!("{base}/{{namespace}}/{{group}}"),
                get(get_group).delete(delete_group),
            );
    }
    for base in ["/prometheus/api/v1", "/api/prom/api/v1"] {
        r = r
            .route(&format!("{base}/rules"), get(prom::rules))
            .route(&format!("{base}/alerts"), get(prom::alerts));
    }
    r.with_state(state)
}

pub(crate) fn tenant_of(st: &ApiState, headers: &HeaderMap) -> Result<String, Box<Response>> {
    tenant(headers, st.auth_enabled)
        .map_err(|(code, msg)| Box::new(error_response(code.as_u16(), &msg)))
}

fn yaml<T: serde::Serialize>(v: &T) -> Response {
    match serde_yaml::to_string(v) {
        Ok(y) => ([(header::CONTENT_TYPE, "application/yaml")], y).into_response(),
        Err(e) => error_response(500, &format!("encoding yaml: {e}")),
    }
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"success","data":null,"errorType":"","error":""}"#,
    )
        .into_response()
}

fn err(e: Error) -> Response {
    error_response(e.status(), &e.to_string())
}

async fn list_all(State(st): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    let tenant = match tenant_of(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let all = st.ruler.namespaces(&tenant);
    if all.is_empty() {
        return error_response(404, "no rule groups found");
    }
    yaml(&all)
}

async fn get_namespace(
    State(st): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(namespace): Path<String>,
) -> Response {
    let tenant = match tenant_of(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let mut all = st.ruler.namespaces(&tenant);
    match all.remove(&namespace) {
        Some(groups) => yaml(&std::collections::BTreeMap::from([(namespace, groups)])),
        None => error_response(404, "no rule groups found"),
    }
}

async fn get_group(
    State(st): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path((namespace, group)): Path<(String, String)>,
) -> Response {
    let tenant = match tenant_of(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let found: Option<RuleGroup> = st
        .ruler
        .namespaces(&tenant)
        .remove(&namespace)
        .and_then(|gs| gs.into_iter().find(|g| g.name == group));
    match found {
        Some(g) => yaml(&g),
        None => error_response(404, "group does not exist"),
    }
}

/// The answer to a store change (the ruler reloads after it).
fn changed(done: crate::Result<()>) -> Response {
    match done {
        Ok(()) => accepted(),
        Err(e) => err(e),
    }
}

async fn post_group(
    State(st): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(namespace): Path<String>,
    body: Bytes,
) -> Response {
    let tenant = match tenant_of(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let text = match std::str::from_utf8(&body) {
        Ok(t) => t,
        Err(_) => return error_response(400, "request body is not UTF-8 YAML"),
    };
    let group = match rules::parse_group(&format!("namespace {namespace:?}"), text) {
        Ok(g) => g,
        Err(e) => return err(e),
    };
    changed(st.ruler.put_group(&tenant, &namespace, group.source).await)
}

async fn delete_group(
    State(st): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path((namespace, group)): Path<(String, String)>,
) -> Response {
    let tenant = match tenant_of(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    changed(st.ruler.delete_group(&tenant, &namespace, &group).await)
}

async fn delete_namespace(
    State(st): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(namespace): Path<String>,
) -> Response {
    let tenant = match tenant_of(&st, &headers) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    changed(st.ruler.delete_namespace(&tenant, &namespace).await)
}

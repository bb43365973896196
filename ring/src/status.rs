//! The ring status page, `GET /ring`: an HTML table for people, JSON (with
//! `Accept: application/json` or `?format=json`) for tools, in the shape
//! Loki's page returns (`{"shards":[...],"now":...}`). `POST /ring` with a
//! form field `forget=<id>` removes an instance, like Loki's "Forget" button.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::config::RingConfig;
use crate::desc::{now_ms, RingDesc};
use crate::error::{Error, Result};
use crate::kv::MembershipKv;
use crate::ring::{Operation, Ring};

/// The whole page as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RingStatus {
    /// One row per instance, ordered by id.
    pub shards: Vec<ShardStatus>,
    /// When the page was rendered (RFC 3339).
    pub now: String,
}

/// One instance row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardStatus {
    /// Instance id.
    pub id: String,
    /// `ACTIVE`, `JOINING`, `LEAVING`, `PENDING`, or `UNHEALTHY` when the heartbeat is too old.
    pub state: String,
    /// gRPC address.
    pub address: String,
    /// HTTP address.
    pub http_address: String,
    /// Last heartbeat (RFC 3339).
    pub timestamp: String,
    /// Registration time (RFC 3339).
    pub registered_timestamp: String,
    /// Availability zone ("" if none).
    pub zone: String,
    /// Tokens owned.
    pub tokens: Vec<u32>,
    /// Number of tokens.
    pub num_tokens: usize,
    /// Percentage of the key space owned as primary.
    pub ownership: f64,
}

fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Builds the status of `desc`, marking instances unhealthy past `heartbeat_timeout`.
pub fn ring_status(desc: &RingDesc, heartbeat_timeout: Duration, now_ms: i64) -> RingStatus {
    let cfg = RingConfig {
        heartbeat_timeout,
        ..RingConfig::default()
    };
    let ring = Ring::new(desc.clone(), &cfg);
    let ownership = ring.ownership();
    let shards = ring
        .instances()
        .iter()
        .map(|i| {
            let state = if i.is_healthy(Operation::Reporting, heartbeat_timeout, now_ms) {
                i.state.to_string()
            } else {
                "UNHEALTHY".to_string()
            };
            ShardStatus {
                id: i.id.clone(),
                state,
                address: i.grpc_addr.clone(),
                http_address: i.http_addr.clone(),
                timestamp: rfc3339(i.heartbeat_at_ms),
                registered_timestamp: rfc3339(i.registered_at_ms),
                zone: i.zone.clone().unwrap_or_default(),
                tokens: i.tokens.clone(),
                num_tokens: i.tokens.len(),
                ownership: ownership.get(&i.id).copied().unwrap_or(0.0) * 100.0,
            }
        })
        .collect();
    RingStatus {
        shards,
        now: rfc3339(now_ms),
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the status as an HTML page with one table row per instance.
pub fn render_html(status: &RingStatus, show_tokens: bool) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Ring status</title>");
    h.push_str("<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;font-family:monospace}tr.unhealthy{background:#fcc}</style>");
    h.push_str("</head><body><h1>Ring status</h1>");
    let _ = write!(h, "<p>Current time: {}</p>", escape(&status.now));
    h.push_str("<form action=\"\" method=\"POST\"><table><thead><tr>");
    for col in [
        "Instance ID",
        "Availability Zone",
        "State",
        "Address",
        "HTTP Address",
        "Registered At",
        "Last Heartbeat",
        "Tokens",
        "Ownership",
        "Actions",
    ] {
        let _ = write!(h, "<th>{col}</th>");
    }
    h.push_str("</tr></thead><tbody>");
    for s in &status.shards {
        let class = if s.state == "UNHEALTHY" {
            " class=\"unhealthy\""
        } else {
            ""
        };
        let _ = write!(
            h,
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}%</td>\
             <td><button name=\"forget\" value=\"{}\" type=\"submit\">Forget</button></td></tr>",
            escape(&s.id),
            escape(&s.zone),
            escape(&s.state),
            escape(&s.address),
            escape(&s.http_address),
            escape(&s.registered_timestamp),
            escape(&s.timestamp),
            s.num_tokens,
            s.ownership,
            escape(&s.id),
        );
    }
    h.push_str("</tbody></table></form>");
    if show_tokens {
        for s in &status.shards {
            let tokens: Vec<String> = s.tokens.iter().map(u32::to_string).collect();
            let _ = write!(h, "<h2>{}</h2><p>{}</p>", escape(&s.id), tokens.join(" "));
        }
    } else {
        h.push_str("<p><a href=\"?tokens=true\">Show tokens</a></p>");
    }
    h.push_str("</body></html>\n");
    h
}

/// Removes instance `id` from the ring under `key`.
pub async fn forget(kv: &dyn MembershipKv, key: &str, id: &str) -> Result<()> {
    let present = kv.get(key).await?.is_some_and(|d| d.instance(id).is_some());
    if !present {
        return Err(Error::UnknownInstance(id.to_string()));
    }
    kv.cas(key, &mut |desc| {
        let mut desc = desc?;
        desc.remove(id).then_some(desc)
    })
    .await?;
    Ok(())
}

#[derive(Clone)]
struct Page {
    kv: Arc<dyn MembershipKv>,
    key: String,
    heartbeat_timeout: Duration,
}

#[derive(Deserialize, Default)]
struct PageQuery {
    #[serde(default)]
    tokens: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

#[derive(Deserialize)]
struct ForgetForm {
    forget: String,
}

/// `GET|POST /ring` for the ring stored under `key` (see [`RingConfig::key`]).
pub fn router(kv: Arc<dyn MembershipKv>, key: &str, heartbeat_timeout: Duration) -> Router {
    let page = Page {
        kv,
        key: key.to_string(),
        heartbeat_timeout,
    };
    Router::new()
        .route("/ring", get(show).post(forget_handler))
        .with_state(page)
}

async fn show(
    State(page): State<Page>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let desc = match page.kv.get(&page.key).await {
        Ok(d) => d.unwrap_or_default(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let status = ring_status(&desc, page.heartbeat_timeout, now_ms());
    let wants_json = q.format.as_deref() == Some("json")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        Json(status).into_response()
    } else {
        Html(render_html(&status, q.tokens.as_deref() == Some("true"))).into_response()
    }
}

async fn forget_handler(State(page): State<Page>, Form(form): Form<ForgetForm>) -> Response {
    match forget(page.kv.as_ref(), &page.key, &form.forget).await {
        Ok(()) => (StatusCode::FOUND, [(header::LOCATION, "#")]).into_response(),
        Err(e @ Error::UnknownInstance(_)) => {
            (StatusCode::NOT_FOUND, e.to_string()).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("error forgetting instance {:?}: {e}", form.forget),
        )
            .into_response(),
    }
}

//! The sharded view of `/prometheus/api/v1/rules` and `/alerts`: like
//! Loki's ruler, each ruler answers with the groups it evaluates plus
//! those of every other healthy ruler in the ruler ring, asked over HTTP
//! with [`LOCAL_HEADER`] set (which makes them answer for themselves only).

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;
use sluice_querier::http::error_response;

/// Set on requests between rulers: answer with this ruler's own groups.
pub const LOCAL_HEADER: &str = "X-Sluice-Ruler-Local";

/// The other rulers sharing the groups.
pub trait RulerPeers: Send + Sync {
    /// HTTP addresses (`host:port`) of the other healthy rulers.
    fn others(&self) -> Vec<String>;
}

/// Whether the request asks for this ruler's own groups only.
pub fn is_local(headers: &HeaderMap) -> bool {
    headers.contains_key(LOCAL_HEADER)
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default()
    })
}

/// `data.<field>` (an array) of `path_and_query` on every peer, concatenated;
/// a peer that cannot answer fails the request, as in Loki.
pub async fn gather(
    peers: &dyn RulerPeers,
    headers: &HeaderMap,
    path_and_query: &str,
    field: &str,
) -> Result<Vec<Value>, Box<Response>> {
    let calls = peers.others().into_iter().map(|addr| async move {
        let mut req = client()
            .get(format!("http://{addr}{path_and_query}"))
            .header(LOCAL_HEADER, "true");
        for name in ["X-Scope-OrgID", "Authorization"] {
            if let Some(v) = headers.get(name) {
                req = req.header(name, v.as_bytes());
            }
        }
        let fail = |e: String| format!("unable to retrieve rules from ruler {addr}: {e}");
        let resp = req.send().await.map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("status {}", resp.status())));
        }
        let v: Value = resp.json().await.map_err(|e| fail(e.to_string()))?;
        match v["data"][field].as_array() {
            Some(items) => Ok(items.clone()),
            None => Err(fail(format!("no data.{field} in the answer"))),
        }
    });
    let mut out = Vec::new();
    for r in futures::future::join_all(calls).await {
        match r {
            Ok(items) => out.extend(items),
            Err(e) => return Err(Box::new(error_response(500, &e))),
        }
    }
    Ok(out)
}

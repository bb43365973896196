//! Sends alerts to every configured Alertmanager through its v2 API
//! (`POST <url>/api/v2/alerts`, a JSON list). Alerts wait in a bounded
//! queue (the oldest are dropped past `notification_queue_capacity`) and
//! go out in batches of up to 64, as Prometheus's notifier does.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use crate::alert::Notification;
use crate::config::{AlertmanagerClientConfig, RulerConfig};
use crate::metrics;

const MAX_BATCH: usize = 64;

/// The alert queue and its sender.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    urls: Vec<String>,
    auth: AlertmanagerClientConfig,
    capacity: usize,
    generator_url: String,
    queue: Mutex<VecDeque<Value>>,
    ready: Notify,
}

impl Notifier {
    /// Starts the sender (inside a tokio runtime); with no URLs alerts are
    /// only kept in the ruler's state.
    pub fn start(cfg: &RulerConfig) -> Self {
        let timeout = cfg.notification_timeout;
        let inner = Arc::new(Inner {
            urls: cfg.alertmanager_urls(),
            auth: cfg.alertmanager_client.clone(),
            capacity: cfg.notification_queue_capacity.max(1),
            generator_url: cfg.external_url.clone(),
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
        });
        if !inner.urls.is_empty() {
            tokio::spawn(send_loop(inner.clone(), timeout));
        }
        Notifier { inner }
    }

    /// Queues alerts for every Alertmanager.
    pub fn send(&self, alerts: &[Notification]) {
        if self.inner.urls.is_empty() || alerts.is_empty() {
            return;
        }
        let mut q = self.inner.queue.lock();
        for a in alerts {
            if q.len() >= self.inner.capacity {
                q.pop_front();
                metrics::ALERTS_DROPPED.inc();
            }
            q.push_back(to_json(a, &self.inner.generator_url));
        }
        drop(q);
        self.inner.ready.notify_one();
    }
}

/// An alert in Alertmanager's v2 `postableAlert` shape.
pub fn to_json(a: &Notification, generator_url: &str) -> Value {
    let map = |pairs: &[(String, String)]| -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect()
    };
    let mut v = json!({
        "labels": map(&a.labels),
        "annotations": map(&a.annotations),
        "startsAt": sluice_logql::time::format_rfc3339(a.starts_at),
        "endsAt": sluice_logql::time::format_rfc3339(a.ends_at),
    });
    if !generator_url.is_empty() {
        v["generatorURL"] = Value::String(generator_url.to_string());
    }
    v
}

async fn send_loop(inner: Arc<Inner>, timeout: Duration) {
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap_or_default();
    loop {
        let batch: Vec<Value> = {
            let mut q = inner.queue.lock();
            let n = q.len().min(MAX_BATCH);
            q.drain(..n).collect()
        };
        if batch.is_empty() {
            inner.ready.notified().await;
            continue;
        }
        let body = Value::Array(batch);
        let n = body.as_array().map_or(0, Vec::len) as u64;
        let sends = inner.urls.iter().map(|url| {
            let http = &http;
            let body = &body;
            let inner = &inner;
            async move {
                let endpoint = format!("{url}/api/v2/alerts");
                let mut req = http.post(&endpoint).json(body);
                let auth = &inner.auth;
                if !auth.basic_auth_username.is_empty() {
                    req = req.basic_auth(&auth.basic_auth_username, Some(&auth.basic_auth_password));
                } else if !auth.credentials.is_empty() {
                    let scheme = if auth.kind.is_empty() { "Bearer" } else { &auth.kind };
                    req = req.header("Authorization", format!("{scheme} {}", auth.credentials));
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => metrics::ALERTS_SENT.inc_by(n),
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let text = r.text().await.unwrap_or_default();
                        tracing::warn!(url = %endpoint, status, body = %text.trim(), "alertmanager refused alerts");
                        metrics::ALERTS_FAILED.inc_by(n);
                    }
                    Err(e) => {
                        tracing::warn!(url = %endpoint, error = %e, "sending alerts failed");
                        metrics::ALERTS_FAILED.inc_by(n);
                    }
                }
            }
        });
        futures::future::join_all(sends).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn posts_to_every_alertmanager_v2_api() {
        use axum::http::HeaderMap;
        type Seen = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;
        let seen: Seen = Arc::default();
        let mut urls = Vec::new();
        for name in ["am1", "am2"] {
            let seen = seen.clone();
            let app = axum::Router::new().route(
                "/prefix/api/v2/alerts",
                axum::routing::post(move |headers: HeaderMap, body: String| {
                    let seen = seen.clone();
                    async move {
                        let auth = headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_string());
                        seen.lock().push((
                            name.to_string(),
                            auth,
                            serde_json::from_str(&body).unwrap(),
                        ));
                        ""
                    }
                }),
            );
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.push(format!("http://{}/prefix/", l.local_addr().unwrap()));
            tokio::spawn(async move { axum::serve(l, app).await });
        }
        let mut cfg = RulerConfig {
            alertmanager_url: urls.join(","),
            ..Default::default()
        };
        cfg.alertmanager_client.credentials = "tok".into();
        let n = Notifier::start(&cfg);
        let a = Notification {
            labels: vec![("alertname".into(), "X".into())],
            annotations: vec![],
            starts_at: 0,
            ends_at: 1,
        };
        n.send(&[a.clone(), a]);
        for _ in 0..500 {
            if seen.lock().len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut seen = seen.lock().clone();
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0].0, "am1");
        assert_eq!(seen[1].0, "am2");
        for (_, auth, body) in &seen {
            assert_eq!(auth.as_deref(), Some("Bearer tok"));
            assert_eq!(body.as_array().unwrap().len(), 2, "one batch");
            assert_eq!(body[0]["labels"]["alertname"], "X");
        }
    }

    #[test]
    fn postable_alert_shape() {
        let a = Notification {
            labels: vec![
                ("alertname".into(), "X".into()),
                ("sev".into(), "page".into()),
            ],
            annotations: vec![("summary".into(), "hi".into())],
            starts_at: 1_700_000_000_000_000_000,
            ends_at: 1_700_000_060_000_000_000,
        };
        let v = to_json(&a, "http://sluice/x");
        assert_eq!(v["labels"]["alertname"], "X");
        assert_eq!(v["annotations"]["summary"], "hi");
        assert_eq!(v["startsAt"], "2023-11-14T22:13:20Z");
        assert_eq!(v["endsAt"], "2023-11-14T22:14:20Z");
        assert_eq!(v["generatorURL"], "http://sluice/x");
    }
}

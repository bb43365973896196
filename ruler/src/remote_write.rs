//! Recording rules' samples to Prometheus remote_write endpoints: the
//! `prometheus.WriteRequest` protobuf (defined here by hand, field numbers
//! as in Prometheus's `prompb/remote.proto` and `types.proto`), snappy block
//! compressed, with Prometheus's headers. Each endpoint has a bounded queue
//! (the oldest samples are dropped past `queue_config.capacity`) and a
//! sender that retries 5xx, 429 and connection errors with exponential
//! backoff.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prost::Message;
use tokio::sync::Notify;

use crate::config::RemoteWriteClient;
use crate::metrics;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels sorted by name, samples by time.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: the timestamp is in milliseconds.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// One recorded sample of a tenant, queued for sending.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub tenant: String,
    /// Sorted by name, `__name__` included.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: i64,
}

/// Queues for every configured endpoint.
#[derive(Clone, Default)]
pub struct RemoteWriter {
    queues: Vec<Arc<Queue>>,
}

struct Queue {
    client: RemoteWriteClient,
    add_org_id: bool,
    items: Mutex<VecDeque<Recorded>>,
    ready: Notify,
}

impl RemoteWriter {
    /// Starts a sender task per endpoint (call inside a tokio runtime).
    pub fn start(endpoints: Vec<RemoteWriteClient>, add_org_id: bool) -> Self {
        let mut queues = Vec::new();
        for client in endpoints {
            let q = Arc::new(Queue {
                client,
                add_org_id,
                items: Mutex::new(VecDeque::new()),
                ready: Notify::new(),
            });
            tokio::spawn(send_loop(q.clone()));
            queues.push(q);
        }
        RemoteWriter { queues }
    }

    pub fn is_enabled(&self) -> bool {
        !self.queues.is_empty()
    }

    /// Enqueues samples for every endpoint, dropping the oldest past the
    /// queue's capacity.
    pub fn push(&self, samples: &[Recorded]) {
        for q in &self.queues {
            let cap = q.client.queue_config.capacity.max(1);
            let mut items = q.items.lock();
            for s in samples {
                if items.len() >= cap {
                    items.pop_front();
                    metrics::SAMPLES_DROPPED.inc();
                }
                items.push_back(s.clone());
            }
            drop(items);
            q.ready.notify_one();
        }
    }
}

/// Encodes samples (all of one tenant) as a snappy-compressed WriteRequest.
pub fn encode(samples: &[Recorded]) -> Vec<u8> {
    let mut series: Vec<TimeSeries> = Vec::new();
    for s in samples {
        let labels: Vec<Label> = s
            .labels
            .iter()
            .map(|(n, v)| Label {
                name: n.clone(),
                value: v.clone(),
            })
            .collect();
        let sample = Sample {
            value: s.value,
            timestamp: s.timestamp_ms,
        };
        match series.iter_mut().find(|ts| ts.labels == labels) {
            Some(ts) => ts.samples.push(sample),
            None => series.push(TimeSeries {
                labels,
                samples: vec![sample],
            }),
        }
    }
    let body = WriteRequest { timeseries: series }.encode_to_vec();
    // snap's raw encoder only fails for inputs over ~4 GiB
    snap::raw::Encoder::new()
        .compress_vec(&body)
        .unwrap_or_default()
}

async fn send_loop(q: Arc<Queue>) {
    let http = reqwest::Client::builder()
        .timeout(q.client.remote_timeout)
        .build()
        .unwrap_or_default();
    loop {
        let batch: Vec<Recorded> = {
            let mut items = q.items.lock();
            let n = items
                .len()
                .min(q.client.queue_config.max_samples_per_send.max(1));
            items.drain(..n).collect()
        };
        if batch.is_empty() {
            q.ready.notified().await;
            continue;
        }
        let mut tenants: Vec<&str> = batch.iter().map(|s| s.tenant.as_str()).collect();
        tenants.sort_unstable();
        tenants.dedup();
        for tenant in tenants {
            let of_tenant: Vec<Recorded> = batch
                .iter()
                .filter(|s| s.tenant == tenant)
                .cloned()
                .collect();
            send_with_retries(&http, &q, tenant, &of_tenant).await;
        }
    }
}

async fn send_with_retries(http: &reqwest::Client, q: &Queue, tenant: &str, samples: &[Recorded]) {
    let body = encode(samples);
    let cfg = &q.client.queue_config;
    let mut backoff = cfg.min_backoff;
    for attempt in 0..=cfg.max_retries {
        let mut req = http
            .post(&q.client.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header(
                "User-Agent",
                concat!("sluice-ruler/", env!("CARGO_PKG_VERSION")),
            )
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body.clone());
        for (k, v) in &q.client.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if q.add_org_id {
            req = req.header("X-Scope-OrgID", tenant);
        }
        if let Some(auth) = &q.client.basic_auth {
            req = req.basic_auth(&auth.username, Some(&auth.password));
        }
        let retry = match req.send().await {
            Ok(r) if r.status().is_success() => {
                metrics::SAMPLES_SENT.inc_by(samples.len() as u64);
                return;
            }
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                tracing::warn!(url = %q.client.url, status, body = %text.trim(), attempt, "remote write failed");
                status >= 500 || status == 429
            }
            Err(e) => {
                tracing::warn!(url = %q.client.url, error = %e, attempt, "remote write failed");
                true
            }
        };
        if !retry {
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(cfg.max_backoff.max(Duration::from_millis(1)));
    }
    metrics::SAMPLES_FAILED.inc_by(samples.len() as u64);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn encodes_series_with_their_samples() {
        let s = |v: f64, t: i64| Recorded {
            tenant: "t".into(),
            labels: vec![("__name__".into(), "x:y".into()), ("a".into(), "b".into())],
            value: v,
            timestamp_ms: t,
        };
        let body = encode(&[s(1.0, 1000), s(2.0, 2000)]);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let req = WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(req.timeseries.len(), 1);
        let ts = &req.timeseries[0];
        assert_eq!(ts.labels[0].name, "__name__");
        assert_eq!(ts.labels[0].value, "x:y");
        assert_eq!(
            ts.samples,
            vec![
                Sample {
                    value: 1.0,
                    timestamp: 1000
                },
                Sample {
                    value: 2.0,
                    timestamp: 2000
                }
            ]
        );
        // field numbers as in prompb: WriteRequest.timeseries = 1 (0x0a)
        assert_eq!(raw[0], 0x0a);
    }

    type Received = Arc<Mutex<Vec<(u16, axum::http::HeaderMap, Vec<u8>)>>>;

    /// A receiver that answers `statuses` in turn (then 204) and keeps
    /// what it was sent.
    async fn receiver(statuses: Vec<u16>) -> (String, Received) {
        use axum::http::{HeaderMap, StatusCode};
        let seen: Received = Arc::default();
        let seen2 = seen.clone();
        let app = axum::Router::new().route(
            "/write",
            axum::routing::post(move |headers: HeaderMap, body: bytes::Bytes| {
                let seen = seen2.clone();
                let statuses = statuses.clone();
                async move {
                    let mut s = seen.lock();
                    let status = statuses.get(s.len()).copied().unwrap_or(204);
                    s.push((status, headers, body.to_vec()));
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/write", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await });
        (url, seen)
    }

    fn recorded(n: usize) -> Vec<Recorded> {
        (0..n)
            .map(|i| Recorded {
                tenant: "team-a".into(),
                labels: vec![("__name__".into(), "r".into()), ("i".into(), i.to_string())],
                value: i as f64,
                timestamp_ms: 1000,
            })
            .collect()
    }

    async fn wait_len<T>(v: &Mutex<Vec<T>>, n: usize) {
        for _ in 0..500 {
            if v.lock().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} requests, got {}", v.lock().len());
    }

    #[tokio::test]
    async fn retries_server_errors_then_delivers() {
        let (url, seen) = receiver(vec![503, 429]).await;
        let mut client = RemoteWriteClient {
            url,
            ..Default::default()
        };
        client.queue_config.min_backoff = Duration::from_millis(5);
        client.headers.insert("X-Extra".into(), "1".into());
        let w = RemoteWriter::start(vec![client], true);
        w.push(&recorded(3));
        wait_len(&seen, 3).await;
        let seen = seen.lock();
        assert_eq!(
            seen.iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![503, 429, 204]
        );
        let (_, headers, body) = &seen[2];
        assert_eq!(headers["content-encoding"], "snappy");
        assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
        assert_eq!(headers["content-type"], "application/x-protobuf");
        assert_eq!(headers["x-scope-orgid"], "team-a");
        assert_eq!(headers["x-extra"], "1");
        let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
        let req = WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(req.timeseries.len(), 3);
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let (url, seen) = receiver(vec![400]).await;
        let mut client = RemoteWriteClient {
            url,
            ..Default::default()
        };
        client.queue_config.min_backoff = Duration::from_millis(5);
        let w = RemoteWriter::start(vec![client], false);
        w.push(&recorded(1));
        wait_len(&seen, 1).await;
        w.push(&recorded(1));
        wait_len(&seen, 2).await;
        let seen = seen.lock();
        assert_eq!(
            seen[1].0, 204,
            "the next batch went out; the refused one was not retried"
        );
        assert!(!seen[0].1.contains_key("x-scope-orgid"));
    }

    #[tokio::test]
    async fn queue_is_bounded() {
        let mut client = RemoteWriteClient {
            url: "http://127.0.0.1:9/never".into(),
            ..Default::default()
        };
        client.queue_config.capacity = 3;
        let q = Arc::new(Queue {
            client,
            add_org_id: false,
            items: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
        });
        let w = RemoteWriter {
            queues: vec![q.clone()],
        };
        let recs: Vec<Recorded> = (0..5)
            .map(|i| Recorded {
                tenant: "t".into(),
                labels: vec![],
                value: i as f64,
                timestamp_ms: i,
            })
            .collect();
        w.push(&recs);
        let kept: Vec<f64> = q.items.lock().iter().map(|r| r.value).collect();
        assert_eq!(kept, vec![2.0, 3.0, 4.0]);
    }
}

//! Recent data over gRPC from three real ingesters holding replicas of the
//! same streams (`sluice.internal.IngesterQuerier` servers on ephemeral
//! ports): every entry comes back exactly once, reads survive one stopped
//! ingester and fail with 503 past that; labels, stats and live tail over
//! one remote ingester.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use sluice_ingester::{Ingester, IngesterConfig};
use sluice_logql::engine::{QueryParams, QueryValue};
use sluice_logql::labels::{Labels, MatchOp, Matcher};
use sluice_logql::source::{Direction, Entry};
use sluice_proto::grpc::ClientConfig;
use sluice_proto::logproto::{
    EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};
use sluice_proto::service::{Pusher, StaticRing};
use sluice_querier::grpc::{ingester_querier_server, GrpcRecentData, ReplicatedRecentData};
use sluice_querier::tail::{PushedStream, TailHub};
use sluice_querier::{Querier, QuerierConfig, RecentData, RecentSeries};
use sluice_storage::store::{Store, StoreConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// An ingester's in-memory data as `RecentData` (what the binary's
/// ingester module does in-process).
struct Local(Arc<Ingester>);

#[async_trait::async_trait]
impl RecentData for Local {
    async fn chunks(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> sluice_querier::Result<Vec<RecentSeries>> {
        Ok(self
            .0
            .snapshot(tenant, matchers, from, through)
            .into_iter()
            .map(|s| RecentSeries {
                labels: s.labels,
                chunks: s.chunks,
            })
            .collect())
    }

    async fn series(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> sluice_querier::Result<Vec<Labels>> {
        Ok(self.0.series(tenant, matchers, from, through))
    }
}

struct Node {
    addr: String,
    ing: Arc<Ingester>,
    hub: Arc<TailHub>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start_node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(&StoreConfig::Filesystem {
        dir: dir.path().join("store"),
    })
    .unwrap();
    let ing = Ingester::open(IngesterConfig::default(), dir.path().join("wal"), store).unwrap();
    let hub = Arc::new(TailHub::default());
    let svc = ingester_querier_server(Arc::new(Local(ing.clone())), Some(hub.clone()));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(l), async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    Node {
        addr,
        ing,
        hub,
        stop: Some(tx),
        server,
        _dir: dir,
    }
}

impl Node {
    async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
            tokio::time::timeout(Duration::from_secs(5), &mut self.server)
                .await
                .expect("server stops")
                .unwrap();
        }
    }
}

fn cfg() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_millis(300),
        timeout: Duration::from_secs(3),
    }
}

const BASE: i64 = 1_700_000_000_000_000_000;

fn labels(app: &str) -> Labels {
    Labels::new(vec![("app".into(), app.into())])
}

/// Entries `lo..hi` of stream `app`: one per millisecond, and every tenth
/// millisecond a second entry with another line at the same timestamp.
fn push(app: &str, lo: i64, hi: i64) -> PushRequest {
    let mut entries = Vec::new();
    for i in lo..hi {
        let ts = Timestamp::from_unix_nanos(BASE + i * 1_000_000);
        let entry = |line: String| EntryAdapter {
            timestamp: Some(ts),
            line: Bytes::from(line),
            structured_metadata: vec![LabelPairAdapter::new("trace_id", format!("t{i}"))],
            parsed: vec![],
        };
        entries.push(entry(format!("{app} entry {i}")));
        if i % 10 == 0 {
            entries.push(entry(format!("{app} twin {i}")));
        }
    }
    let l = labels(app);
    PushRequest {
        streams: vec![StreamAdapter {
            labels: l.to_string(),
            entries,
            hash: l.fingerprint(),
        }],
    }
}

fn expected(app: &str, n: i64) -> Vec<(i64, String)> {
    let mut v = Vec::new();
    for i in 0..n {
        let ts = BASE + i * 1_000_000;
        v.push((ts, format!("{app} entry {i}")));
        if i % 10 == 0 {
            v.push((ts, format!("{app} twin {i}")));
        }
    }
    v.sort();
    v
}

/// Three replicas of streams `a` and `b` (300 entries' timestamps each),
/// pushed in different batches so their chunks differ: replica 1 got it
/// in one push, replica 2 missed the middle third (it was down).
async fn cluster() -> Vec<Node> {
    let nodes = vec![start_node().await, start_node().await, start_node().await];
    for app in ["a", "b"] {
        for (lo, hi) in [(0, 100), (100, 200), (200, 300)] {
            nodes[0].ing.push("fake", push(app, lo, hi)).await.unwrap();
            if lo != 100 {
                nodes[2].ing.push("fake", push(app, lo, hi)).await.unwrap();
            }
        }
        nodes[1].ing.push("fake", push(app, 0, 300)).await.unwrap();
    }
    nodes
}

fn querier(nodes: &[Node], store_dir: &std::path::Path) -> Querier {
    let ring = StaticRing::new(nodes.iter().map(|n| n.addr.clone()).collect(), 3);
    let recent = ReplicatedRecentData::grpc(Arc::new(ring), cfg());
    let store = Store::new(&StoreConfig::Filesystem {
        dir: store_dir.to_path_buf(),
    })
    .unwrap();
    Querier::new(store, Arc::new(recent), QuerierConfig::default())
}

fn range(direction: Direction) -> QueryParams {
    QueryParams {
        start: BASE - 1,
        end: BASE + 1_000_000_000,
        step: 0,
        direction,
        limit: 5_000,
    }
}

async fn entries(q: &Querier, query: &str, direction: Direction) -> Vec<(i64, String)> {
    let QueryValue::Streams(streams) = q.query("fake", query, range(direction)).await.unwrap()
    else {
        panic!("log query answers streams");
    };
    let mut v: Vec<(i64, String)> = streams
        .iter()
        .flat_map(|s| s.entries.iter())
        .map(|e| (e.ts, String::from_utf8(e.line.to_vec()).unwrap()))
        .collect();
    v.sort();
    v
}

async fn count(q: &Querier) -> f64 {
    let at = QueryParams::instant(BASE + 1_000_000_000);
    let v = q
        .query("fake", r#"sum(count_over_time({app=~"a|b"}[1h]))"#, at)
        .await
        .unwrap();
    match v {
        QueryValue::Vector(s) => s.iter().map(|s| s.value).sum(),
        other => panic!("unexpected {}", other.result_type()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_yield_every_entry_exactly_once() {
    let mut nodes = cluster().await;
    let store_dir = tempfile::tempdir().unwrap();
    let q = querier(&nodes, store_dir.path());
    let want_a = expected("a", 300);
    assert_eq!(want_a.len(), 330);
    assert_eq!(
        entries(&q, r#"{app="a"}"#, Direction::Forward).await,
        want_a
    );
    assert_eq!(
        entries(&q, r#"{app="a"}"#, Direction::Backward).await,
        want_a
    );
    let mut want_all = want_a.clone();
    want_all.extend(expected("b", 300));
    want_all.sort();
    assert_eq!(
        entries(&q, r#"{app=~"a|b"}"#, Direction::Forward).await,
        want_all
    );
    assert_eq!(count(&q).await, 660.0);
    let series = q
        .series("fake", &[], BASE - 1, BASE + 1_000_000_000)
        .await
        .unwrap();
    assert_eq!(series, vec![labels("a"), labels("b")]);
    // each stream counted once, from its most complete replica
    let any = [Matcher::new("app", MatchOp::Re, ".+").unwrap()];
    let st = q
        .stats("fake", &any, BASE - 1, BASE + 1_000_000_000)
        .await
        .unwrap();
    assert_eq!((st.streams, st.chunks, st.entries), (2, 2, 660));
    let (from, through) = (BASE - 1, BASE + 1_000_000_000);
    assert_eq!(
        q.label_names("fake", &[], from, through).await.unwrap(),
        vec!["app"]
    );
    assert_eq!(
        q.label_values("fake", "app", &[], from, through)
            .await
            .unwrap(),
        vec!["a", "b"]
    );

    // one ingester down: the other two still hold everything
    nodes[1].stop().await;
    assert_eq!(
        entries(&q, r#"{app="a"}"#, Direction::Forward).await,
        want_a
    );
    assert_eq!(count(&q).await, 660.0);

    // two down: more failures than the read set tolerates
    nodes[0].stop().await;
    let err = q
        .query("fake", r#"{app="a"}"#, range(Direction::Forward))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 503, "{err}");
    nodes[2].stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_remote_ingester_labels_stats_errors_and_tail() {
    let mut node = start_node().await;
    node.ing.push("fake", push("a", 0, 50)).await.unwrap();
    node.ing.push("fake", push("b", 0, 20)).await.unwrap();
    let c = GrpcRecentData::connect(&node.addr, &cfg()).unwrap();
    let any = [Matcher::new("app", MatchOp::Re, ".+").unwrap()];
    let (from, through) = (BASE - 1, BASE + 1_000_000_000);

    // chunks arrive decodable with every entry
    let got = c.chunks("fake", &any, from, through).await.unwrap();
    assert_eq!(got.len(), 2);
    let n: usize = got
        .iter()
        .flat_map(|s| &s.chunks)
        .map(|c| c.entry_count())
        .sum();
    assert_eq!(n, 55 + 22);
    assert!(c
        .chunks("other", &any, from, through)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(
        c.label_names("fake", &[], from, through).await.unwrap(),
        vec!["app"]
    );
    assert_eq!(
        c.label_values("fake", "app", &any, from, through)
            .await
            .unwrap(),
        vec!["a", "b"]
    );
    let mut st = c.stream_stats("fake", &any, from, through).await.unwrap();
    st.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut want = Local(node.ing.clone())
        .stream_stats("fake", &any, from, through)
        .await
        .unwrap();
    want.sort_by(|a, b| a.labels.cmp(&b.labels));
    assert_eq!(st, want);
    let counts: Vec<(u64, u64)> = st.iter().map(|s| (s.chunks, s.entries)).collect();
    assert_eq!(counts, vec![(1, 55), (1, 22)]);
    assert!(st.iter().all(|s| s.bytes > 0));

    // an invalid regex fails as a 400 with the reason
    let bad = sluice_proto::internal::LabelMatcher {
        r#type: 2,
        name: "app".into(),
        value: "(".into(),
    };
    let mut raw = sluice_proto::grpc::IngesterQuerierClient::new(
        sluice_proto::grpc::channel(&node.addr, &cfg()).unwrap(),
    );
    let req = sluice_proto::grpc::request(
        "fake",
        sluice_proto::internal::SelectRequest {
            matchers: vec![bad],
            from,
            through,
        },
    )
    .unwrap();
    let status = raw.series(req).await.unwrap_err();
    let e = sluice_proto::grpc::error_from_status(&status);
    assert_eq!(e.http_status(), 400);
    assert!(e.message.contains("invalid regex in matcher app"), "{e}");

    // live tail: entries published on the ingester reach the remote tail
    let mut tail = c
        .tail("fake", &[Matcher::new("app", MatchOp::Eq, "a").unwrap()])
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while node.hub.subscribers() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "tail never subscribed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let line = |s: &str| Entry {
        ts: BASE + 7,
        line: Bytes::from(s.to_string()),
        metadata: vec![("trace_id".into(), "x".into())],
        cut: false,
    };
    node.hub.publish(
        "fake",
        &[
            PushedStream {
                labels: Arc::new(labels("b")),
                entries: vec![line("not tailed")],
            },
            PushedStream {
                labels: Arc::new(labels("a")),
                entries: vec![line("tailed")],
            },
        ],
    );
    let (got, dropped) = tokio::time::timeout(Duration::from_secs(5), tail.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(*got.labels, labels("a"));
    assert_eq!(got.entries, vec![line("tailed")]);
    assert_eq!(dropped, 0);
    drop(tail);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while node.hub.subscribers() != 0 {
        assert!(tokio::time::Instant::now() < deadline, "tail never ended");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node.stop().await;
}

/// Series and chunk entries of a `RecentData`, in a comparable form.
async fn contents(r: &dyn RecentData) -> (Vec<Labels>, Vec<(Labels, Vec<(i64, String)>)>) {
    let any = [Matcher::new("app", MatchOp::Re, ".+").unwrap()];
    let (from, through) = (BASE - 1, BASE + 1_000_000_000);
    let mut series = r.series("fake", &any, from, through).await.unwrap();
    series.sort();
    let mut chunks: Vec<(Labels, Vec<(i64, String)>)> = r
        .chunks("fake", &any, from, through)
        .await
        .unwrap()
        .into_iter()
        .map(|s| {
            let mut es: Vec<(i64, String)> = s
                .chunks
                .iter()
                .flat_map(|c| c.entries(i64::MIN, i64::MAX, Direction::Forward))
                .map(|e| {
                    let e = e.unwrap();
                    (e.ts, String::from_utf8(e.line.to_vec()).unwrap())
                })
                .collect();
            es.sort();
            (s.labels, es)
        })
        .collect();
    chunks.sort();
    (series, chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_answers_like_the_in_process_ingester() {
    let mut node = start_node().await;
    node.ing.push("fake", push("a", 0, 40)).await.unwrap();
    node.ing.push("fake", push("b", 5, 25)).await.unwrap();
    let local = Local(node.ing.clone());
    let remote = GrpcRecentData::connect(&node.addr, &cfg()).unwrap();
    let want = contents(&local).await;
    assert_eq!(want.0.len(), 2);
    assert_eq!(want.1[0].1, expected("a", 40));
    assert_eq!(contents(&remote).await, want);
    // in-process sources have no tail feed; remote ones do
    assert!(local.tail("fake", &[]).await.is_err());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicated_tail_delivers_each_entry_once() {
    let mut nodes = vec![start_node().await, start_node().await, start_node().await];
    let ring = StaticRing::new(nodes.iter().map(|n| n.addr.clone()).collect(), 3);
    let recent = ReplicatedRecentData::grpc(Arc::new(ring), cfg());
    let mut tail = recent
        .tail("fake", &[Matcher::new("app", MatchOp::Eq, "a").unwrap()])
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while nodes.iter().any(|n| n.hub.subscribers() == 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "tails never subscribed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let entry = |ts: i64, s: &str| Entry {
        ts,
        line: Bytes::from(s.to_string()),
        metadata: vec![],
        cut: false,
    };
    // every replica publishes the same two pushes
    for n in &nodes {
        for (ts, line) in [(1, "one"), (2, "two")] {
            n.hub.publish(
                "fake",
                &[PushedStream {
                    labels: Arc::new(labels("a")),
                    entries: vec![entry(ts, line)],
                }],
            );
        }
    }
    let mut got = Vec::new();
    while got.len() < 2 {
        let (s, _) = tokio::time::timeout(Duration::from_secs(5), tail.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.extend(s.entries);
    }
    got.sort_by_key(|e| e.ts);
    assert_eq!(got, vec![entry(1, "one"), entry(2, "two")]);
    // nothing else arrives
    let more = tokio::time::timeout(Duration::from_millis(200), tail.next()).await;
    assert!(more.is_err(), "duplicate delivered");
    drop(tail);
    for n in &mut nodes {
        n.stop().await;
    }
}

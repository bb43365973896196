//! Replicated pushes over gRPC to real ingesters (`sluice_ingester`
//! behind `logproto.Pusher` servers on ephemeral ports): RF=3 with quorum,
//! one and two ingesters stopped, and an ingester's 400 arriving intact
//! through the distributor.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sluice_distributor::{Distributor, Limits, ReplicatingPusher};
use sluice_ingester::{Ingester, IngesterConfig};
use sluice_proto::grpc::{pusher_server, ClientConfig};
use sluice_proto::logproto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
use sluice_proto::service::{Pusher, StaticRing};
use sluice_storage::store::{Store, StoreConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

struct Node {
    addr: String,
    ing: Arc<Ingester>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

fn open_ingester(dir: &std::path::Path) -> Arc<Ingester> {
    open_ingester_with(dir, IngesterConfig::default())
}

fn open_ingester_with(dir: &std::path::Path, cfg: IngesterConfig) -> Arc<Ingester> {
    let store = Store::new(&StoreConfig::Filesystem {
        dir: dir.join("store"),
    })
    .unwrap();
    Ingester::open(cfg, dir.join("wal"), store).unwrap()
}

async fn start_node() -> Node {
    start_node_with(IngesterConfig::default()).await
}

async fn start_node_with(cfg: IngesterConfig) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let ing = open_ingester_with(dir.path(), cfg);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = oneshot::channel::<()>();
    let svc = pusher_server(ing.clone() as Arc<dyn Pusher>);
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true)),
                async {
                    let _ = rx.await;
                },
            )
            .await
            .unwrap();
    });
    Node {
        addr,
        ing,
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

    fn streams(&self) -> usize {
        self.ing.series("fake", &[], 0, i64::MAX).len()
    }
}

fn client_cfg() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_millis(300),
        timeout: Duration::from_secs(2),
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// `n` streams `{app="a<k>"}` with one entry each at `ts`.
fn push_req(n: usize, ts: i64, tag: &str) -> PushRequest {
    PushRequest {
        streams: (0..n)
            .map(|k| StreamAdapter {
                labels: format!("{{app=\"a{k}\"}}"),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp::from_unix_nanos(ts)),
                    line: Bytes::from(format!("{tag} line {k}")),
                    structured_metadata: vec![],
                    parsed: vec![],
                }],
                hash: 0,
            })
            .collect(),
    }
}

fn distributor(nodes: &[Node]) -> Distributor {
    let ring = StaticRing::new(nodes.iter().map(|n| n.addr.clone()).collect(), 3);
    let pusher = ReplicatingPusher::grpc(Arc::new(ring), client_cfg());
    Distributor::new(Limits::default(), Arc::new(pusher))
}

async fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rf3_reaches_all_replicas_and_tolerates_one_down() {
    let mut nodes = vec![start_node().await, start_node().await, start_node().await];
    let d = distributor(&nodes);
    let now = now_ns();
    d.push("fake", push_req(20, now, "first"), now)
        .await
        .unwrap();
    for n in &nodes {
        eventually("every ingester to have all 20 streams", || {
            n.streams() == 20
        })
        .await;
    }

    nodes[1].stop().await;
    let stats = d
        .push("fake", push_req(30, now + 1, "second"), now)
        .await
        .unwrap();
    assert_eq!(stats.streams, 30);
    // the quorum (2 of 3) holds every stream
    eventually("the two live ingesters to have 30 streams", || {
        nodes[0].streams() == 30 && nodes[2].streams() == 30
    })
    .await;
    assert_eq!(nodes[1].streams(), 20);

    nodes[2].stop().await;
    let err = d
        .push("fake", push_req(5, now + 2, "third"), now)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 503, "{err}");
    for n in &mut nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingester_400_arrives_intact_through_the_distributor() {
    let mut nodes = vec![start_node().await, start_node().await, start_node().await];
    let d = distributor(&nodes);
    let now = now_ns();
    let old = now - 90 * 60 * 1_000_000_000; // 90 min behind: past max_chunk_age / 2
    d.push("fake", push_req(1, now, "new"), now).await.unwrap();
    let err = d
        .push("fake", push_req(1, old, "old"), now)
        .await
        .unwrap_err();

    // the same pushes, as the distributor forwards them (with the
    // discovered service_name), straight into a local ingester give the
    // reference error
    let dir = tempfile::tempdir().unwrap();
    let local = open_ingester(dir.path());
    let canon = |mut r: PushRequest| {
        r.streams[0].labels = r#"{app="a0", service_name="a0"}"#.into();
        r.streams[0].hash = 7;
        r
    };
    local
        .push("fake", canon(push_req(1, now, "new")))
        .await
        .unwrap();
    let old_req = canon(push_req(1, old, "old"));
    let want = local.push("fake", old_req).await.unwrap_err();

    assert_eq!(want.http_status(), 400);
    assert!(want.message.contains("entry too far behind"), "{want}");
    assert_eq!(err.status(), 400, "{err}");
    assert_eq!(err.to_string(), want.message);
    for n in &mut nodes {
        n.stop().await;
    }
}

/// Push throughput of the same load straight into one in-process
/// ingester and through `ReplicatingPusher` to 3 gRPC ingesters (RF=3),
/// WAL fsync off so the figures compare the push paths, not the disk.
/// Ignored by default; run with
/// `cargo test -p sluice-distributor --test replication_grpc -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run explicitly with --ignored --nocapture"]
async fn replicated_push_throughput() {
    let mut cfg = IngesterConfig::default();
    cfg.wal.fsync = "never".into();
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<dyn Pusher> = open_ingester_with(dir.path(), cfg.clone());
    bench_push("in-process, 1 ingester", local).await;
    let mut one = start_node_with(cfg.clone()).await;
    let direct = sluice_proto::grpc::GrpcPusher::connect(&one.addr, &client_cfg()).unwrap();
    bench_push("gRPC, 1 ingester", Arc::new(direct)).await;
    one.stop().await;
    let mut nodes = vec![
        start_node_with(cfg.clone()).await,
        start_node_with(cfg.clone()).await,
        start_node_with(cfg).await,
    ];
    let ring = StaticRing::new(nodes.iter().map(|n| n.addr.clone()).collect(), 3);
    let pusher = Arc::new(ReplicatingPusher::grpc(Arc::new(ring), client_cfg()));
    bench_push("gRPC, RF=3 over 3 ingesters", pusher).await;
    for n in &mut nodes {
        n.stop().await;
    }
}

async fn bench_push(what: &str, pusher: Arc<dyn Pusher>) {
    let (workers, pushes, streams, entries) = (8usize, 125usize, 10usize, 100usize);
    let line = "x".repeat(100);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (pusher, line) = (pusher.clone(), line.clone());
        tasks.push(tokio::spawn(async move {
            for p in 0..pushes {
                let req = PushRequest {
                    streams: (0..streams)
                        .map(|s| StreamAdapter {
                            labels: format!("{{app=\"w{w}\", s=\"{s}\"}}"),
                            entries: (0..entries)
                                .map(|e| EntryAdapter {
                                    timestamp: Some(Timestamp::from_unix_nanos(
                                        ((p * entries + e) as i64) * 1000,
                                    )),
                                    line: Bytes::from(line.clone()),
                                    structured_metadata: vec![],
                                    parsed: vec![],
                                })
                                .collect(),
                            hash: ((w * 1000 + s) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                        })
                        .collect(),
                };
                pusher.push("bench", req).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let lines = (workers * pushes * streams * entries) as f64;
    println!(
        "{what} ({workers} clients, 1000-line pushes): {:.0} pushes/s, {:.0} lines/s, {:.1} MB/s of lines",
        (workers * pushes) as f64 / secs,
        lines / secs,
        lines * 100.0 / secs / 1e6
    );
}

//! Queueing, retries, the results cache and remote queriers over gRPC,
//! against fake queriers whose answers and calls the tests control.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sluice_logql::engine::{QueryParams, QueryValue, Series};
use sluice_logql::labels::Labels;
use sluice_logql::source::Direction;
use sluice_logql::stats::QueryStats;
use sluice_querier::Answer;
use sluice_query_frontend::remote::proto::{ClientToFrontend, FrontendClient, FrontendToClient};
use sluice_query_frontend::remote::{spawn_pullers, PullServer};
use sluice_query_frontend::{
    spawn_workers, Error, Frontend, FrontendConfig, QueryHandler, QueueHandler, RequestQueue,
    SubQuery,
};

const NS: i64 = 1_000_000_000;
const QUERY: &str = r#"count_over_time({app="a"}[5m])"#;

/// Answers a metric query with one series whose value at each step is the
/// step's time in seconds; fails its first `fail_first` calls with
/// `fail_status`; records every call.
#[derive(Default)]
struct Fake {
    calls: AtomicUsize,
    fail_first: usize,
    fail_status: u16,
    seen: Mutex<Vec<SubQuery>>,
}

#[async_trait::async_trait]
impl QueryHandler for Fake {
    async fn run(&self, req: SubQuery) -> sluice_query_frontend::Result<Answer> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().push(req.clone());
        if n < self.fail_first {
            return Err(Error::Query {
                status: self.fail_status,
                message: format!("boom {n}"),
            });
        }
        Ok(Answer {
            value: answer(&req.params),
            stats: read(&req.params),
        })
    }
}

/// What `Fake` reports reading for a sub-query: one line per step.
fn read(p: &QueryParams) -> QueryStats {
    let steps = ((p.end - p.start) / p.step + 1) as u64;
    QueryStats {
        lines: steps,
        bytes: 10 * steps,
        post_filter_lines: steps / 2,
    }
}

fn scalar(value: f64) -> Answer {
    Answer {
        value: QueryValue::Scalar { ts: 0, value },
        stats: QueryStats::default(),
    }
}

fn answer(p: &QueryParams) -> QueryValue {
    let points = (0..=(p.end - p.start) / p.step)
        .map(|k| {
            let t = p.start + k * p.step;
            (t, (t / NS) as f64)
        })
        .collect();
    QueryValue::Matrix(vec![Series {
        metric: Labels::new(vec![("app".into(), "a".into())]),
        points,
    }])
}

fn range(start_s: i64, end_s: i64, step_s: i64) -> QueryParams {
    QueryParams {
        start: start_s * NS,
        end: end_s * NS,
        step: step_s * NS,
        direction: Direction::Backward,
        limit: 100,
    }
}

fn cfg() -> FrontendConfig {
    let mut c = FrontendConfig::default();
    c.query_range.split_queries_by_interval = Duration::from_secs(1800);
    c
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sub(tenant: &str, n: i64) -> SubQuery {
    SubQuery {
        tenant: tenant.into(),
        query: QUERY.into(),
        params: range(n, n, 1),
        shard: None,
    }
}

#[tokio::test]
async fn queue_is_fair_across_tenants_and_bounded_per_tenant() {
    let q = RequestQueue::new(3);
    let mut rx = Vec::new();
    for i in 0..3 {
        rx.push(q.enqueue(sub("a", i)).unwrap());
    }
    let e = q.enqueue(sub("a", 3)).unwrap_err();
    assert_eq!(
        (e.status(), e.to_string().as_str()),
        (429, "too many outstanding requests")
    );
    rx.push(q.enqueue(sub("b", 10)).unwrap());
    rx.push(q.enqueue(sub("c", 20)).unwrap());
    assert_eq!(q.queued("a"), 3);
    let mut order = Vec::new();
    for _ in 0..5 {
        let job = q.dequeue().await.unwrap();
        order.push((job.request.tenant.clone(), job.request.params.start / NS));
        job.reply(Ok(scalar(1.0)));
    }
    let want: Vec<(String, i64)> = [("a", 0), ("b", 10), ("c", 20), ("a", 1), ("a", 2)]
        .iter()
        .map(|(t, n)| (t.to_string(), *n))
        .collect();
    assert_eq!(order, want, "one job per tenant in turn");
    // a's queue drained, so a may queue again
    assert!(q.enqueue(sub("a", 4)).is_ok());
    for r in rx {
        assert!(r.await.unwrap().is_ok());
    }
}

#[tokio::test]
async fn a_query_with_more_sub_queries_than_the_bound_gets_429() {
    let mut c = cfg();
    c.frontend.max_outstanding_per_tenant = 4;
    c.query_range.split_queries_by_interval = Duration::from_secs(300);
    // no workers: sub-queries stay queued
    let (fe, queue) = Frontend::queued(c);
    let err = fe.query("t", QUERY, range(0, 3600, 60)).await.unwrap_err();
    assert_eq!(err.status(), 429);
    assert_eq!(err.to_string(), "too many outstanding requests");
    // another tenant is not affected by t's backlog
    let fake = Arc::new(Fake::default());
    let workers = spawn_workers(queue.clone(), fake.clone(), 2);
    let v = fe.query("u", QUERY, range(0, 600, 60)).await.unwrap();
    assert_eq!(v, answer(&range(0, 600, 60)));
    queue.stop();
    for w in workers {
        w.await.unwrap();
    }
}

#[tokio::test]
async fn querier_failures_are_retried_up_to_max_retries() {
    let q = range(0, 600, 60); // one split
    let flaky = Arc::new(Fake {
        fail_first: 4,
        fail_status: 500,
        ..Fake::default()
    });
    let fe = Frontend::new(cfg(), flaky.clone());
    assert_eq!(fe.query("t", QUERY, q).await.unwrap(), answer(&q));
    assert_eq!(
        flaky.calls.load(Ordering::SeqCst),
        5,
        "4 failures, then success"
    );

    let broken = Arc::new(Fake {
        fail_first: usize::MAX,
        fail_status: 503,
        ..Fake::default()
    });
    let fe = Frontend::new(cfg(), broken.clone());
    let e = fe.query("t", QUERY, q).await.unwrap_err();
    assert_eq!((e.status(), e.to_string().as_str()), (503, "boom 4"));
    assert_eq!(
        broken.calls.load(Ordering::SeqCst),
        5,
        "max_retries tries in all"
    );

    let bad = Arc::new(Fake {
        fail_first: usize::MAX,
        fail_status: 400,
        ..Fake::default()
    });
    let fe = Frontend::new(cfg(), bad.clone());
    assert_eq!(fe.query("t", QUERY, q).await.unwrap_err().status(), 400);
    assert_eq!(
        bad.calls.load(Ordering::SeqCst),
        1,
        "bad queries are not retried"
    );
}

/// A frontend with the results cache over a `Fake`, and the start of a
/// 3h range two days ago (60s steps: six cacheable 30m extents).
fn cached_frontend() -> (Frontend, Arc<Fake>, i64) {
    let mut c = cfg();
    c.query_range.cache_results = true;
    let fake = Arc::new(Fake::default());
    let fe = Frontend::new(c, fake.clone());
    (fe, fake, (now_s() - 2 * 86400) / 1800 * 1800)
}

#[tokio::test]
async fn cached_extents_are_answered_without_the_querier() {
    let (fe, fake, start) = cached_frontend();
    let q = range(start, start + 3 * 3600, 60);
    let first = fe.query("t", QUERY, q).await.unwrap();
    assert_eq!(first, answer(&q));
    let calls = fake.calls.load(Ordering::SeqCst);
    assert_eq!(calls, 7, "six full extents and the lone last step");
    let again = fe.query("t", QUERY, q).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        calls,
        "all from the cache"
    );
    assert_eq!(fe.cache().unwrap().stats().0, 7);
    // another tenant, query or step misses
    fe.query("u", QUERY, q).await.unwrap();
    assert_eq!(fake.calls.load(Ordering::SeqCst), 2 * calls);
    // a range that moved on by one extent reads only the new one
    let later = range(start + 1800, start + 3 * 3600 + 1800, 60);
    assert_eq!(fe.query("t", QUERY, later).await.unwrap(), answer(&later));
    assert_eq!(fake.calls.load(Ordering::SeqCst), 2 * calls + 2);

    // recent extents are never cached
    let recent = range(now_s() - 600, now_s(), 60);
    fe.query("t", QUERY, recent).await.unwrap();
    let n = fake.calls.load(Ordering::SeqCst);
    fe.query("t", QUERY, recent).await.unwrap();
    assert!(fake.calls.load(Ordering::SeqCst) > n);
}

/// What `Fake` reported reading for `subs`, summed.
fn read_by(subs: &[SubQuery]) -> QueryStats {
    let mut sum = QueryStats::default();
    for s in subs {
        sum.merge(&read(&s.params));
    }
    sum
}

#[tokio::test]
async fn read_stats_sum_the_sub_queries_run_and_cached_extents_add_nothing() {
    let (fe, fake, start) = cached_frontend();
    let q = range(start, start + 3 * 3600, 60);
    let first = fe.query_stats("t", QUERY, q).await.unwrap();
    assert_eq!(fake.calls.load(Ordering::SeqCst), 7);
    assert_eq!(first.stats, read_by(&fake.seen.lock()));
    assert_eq!(first.stats.lines, 3 * 60 + 1, "each step read once");
    // all from the cache: nothing read for this request
    let again = fe.query_stats("t", QUERY, q).await.unwrap();
    assert_eq!(again.value, first.value);
    assert_eq!(again.stats, QueryStats::default());
    // a range that moved on by one extent counts only what it read anew
    let later = range(start + 1800, start + 3 * 3600 + 1800, 60);
    let moved = fe.query_stats("t", QUERY, later).await.unwrap();
    assert_eq!(fake.calls.load(Ordering::SeqCst), 9);
    assert_eq!(moved.stats, read_by(&fake.seen.lock()[7..]));
    assert!(moved.stats.lines > 0 && moved.stats.lines < first.stats.lines);
}

#[tokio::test]
async fn a_bounded_cache_evicts_and_recomputes() {
    let mut c = cfg();
    c.query_range.cache_results = true;
    c.query_range.results_cache.max_size_bytes = 4096;
    let fake = Arc::new(Fake::default());
    let fe = Frontend::new(c, fake.clone());
    let start = (now_s() - 2 * 86400) / 1800 * 1800;
    let q = range(start, start + 12 * 3600 - 60, 60);
    let want = answer(&q);
    assert_eq!(fe.query("t", QUERY, q).await.unwrap(), want);
    let cache = fe.cache().unwrap();
    assert!(cache.bytes() <= 4096, "{} bytes", cache.bytes());
    assert!(cache.len() < 24, "{} extents kept", cache.len());
    assert_eq!(fe.query("t", QUERY, q).await.unwrap(), want);
}

/// Serves the frontend's gRPC scheduling service for `queue` on a free
/// port; its `host:port`.
async fn grpc_frontend(
    queue: &Arc<RequestQueue>,
    pull_timeout: Duration,
    querier_timeout: Duration,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let svc = PullServer::new(queue.clone(), pull_timeout, querier_timeout).service();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let srv = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(incoming)
            .await
            .unwrap()
    });
    (addr, srv)
}

/// A hand-driven querier worker: opens a `Process` stream and returns its
/// answer sender and the frontend's messages.
async fn raw_worker(
    addr: &str,
) -> (
    tokio::sync::mpsc::Sender<ClientToFrontend>,
    tonic::Streaming<FrontendToClient>,
) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FrontendClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel::<ClientToFrontend>(1);
    let out = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    let inbound = client.process(out).await.unwrap().into_inner();
    (tx, inbound)
}

/// The next job sent on a raw worker's stream, counting keep-alives.
async fn next_job(inbound: &mut tonic::Streaming<FrontendToClient>) -> (FrontendToClient, usize) {
    let mut keep_alives = 0;
    loop {
        let m = inbound.message().await.unwrap().unwrap();
        if !m.query.is_empty() {
            return (m, keep_alives);
        }
        assert_eq!(m.id, 0, "keep-alives carry no job id");
        keep_alives += 1;
    }
}

#[tokio::test]
async fn remote_queriers_take_work_over_grpc() {
    let queue = RequestQueue::new(2048);
    let (addr, srv) =
        grpc_frontend(&queue, Duration::from_millis(200), Duration::from_secs(5)).await;
    let fake = Arc::new(Fake {
        fail_first: 1,
        fail_status: 500,
        ..Fake::default()
    });
    let pullers = spawn_pullers(&addr, fake.clone(), 3);
    let fe = Frontend::new(cfg(), Arc::new(QueueHandler::new(queue.clone())));
    let q = range(0, 4 * 3600, 60);
    // the first remote answer is a 500: retried through the queue
    let a = fe.query_stats("t", QUERY, q).await.unwrap();
    assert_eq!(a.value, answer(&q));
    assert_eq!(fake.calls.load(Ordering::SeqCst), 9 + 1);
    // the answers' read statistics cross the wire and are summed; the
    // failed try read nothing
    assert_eq!(a.stats, read_by(&fake.seen.lock()[1..]));
    assert_eq!(a.stats.lines, 4 * 60 + 1);
    let tenants: Vec<String> = fake.seen.lock().iter().map(|s| s.tenant.clone()).collect();
    assert!(tenants.iter().all(|t| t == "t"));
    // every worker holds a stream (other tests may add their own)
    let connected = prometheus::gather()
        .into_iter()
        .find(|f| f.name() == "sluice_query_frontend_connected_clients")
        .map(|f| f.get_metric()[0].get_gauge().get_value())
        .unwrap();
    assert!(connected >= 3.0, "{connected} connected workers");
    // errors keep their status and message across the wire
    let e = fe.query("t", "sum(", q).await.unwrap_err();
    assert_eq!(e.status(), 400);
    pullers.abort();
    queue.stop();
    srv.abort();
}

#[tokio::test]
async fn a_silent_remote_querier_times_out_and_is_retried() {
    let queue = RequestQueue::new(2048);
    let (addr, srv) = grpc_frontend(
        &queue,
        Duration::from_millis(100),
        Duration::from_millis(300),
    )
    .await;
    // a "querier" that takes the job and never answers
    let (_tx, mut silent) = raw_worker(&addr).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    let fe = Arc::new(Frontend::new(
        cfg(),
        Arc::new(QueueHandler::new(queue.clone())),
    ));
    let q = range(0, 600, 60);
    let f = fe.clone();
    let running = tokio::spawn(async move { f.query("t", QUERY, q).await });
    let (job, keep_alives) = next_job(&mut silent).await;
    assert!(keep_alives >= 2, "an idle stream gets keep-alives");
    assert!(job.id > 0);
    // then a working one
    let fake = Arc::new(Fake::default());
    let pullers = spawn_pullers(&addr, fake.clone(), 1);
    let v = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.unwrap(), answer(&q));
    assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
    // the frontend gave up on the silent worker's stream
    assert!(!matches!(silent.message().await, Ok(Some(_))));
    pullers.abort();
    srv.abort();
}

#[tokio::test]
async fn a_querier_disconnecting_mid_job_is_retried_at_once() {
    let queue = RequestQueue::new(2048);
    let (addr, srv) =
        grpc_frontend(&queue, Duration::from_secs(10), Duration::from_secs(300)).await;
    let (tx, mut dying) = raw_worker(&addr).await;
    let fe = Arc::new(Frontend::new(
        cfg(),
        Arc::new(QueueHandler::new(queue.clone())),
    ));
    let q = range(0, 600, 60);
    let f = fe.clone();
    let running = tokio::spawn(async move { f.query("t", QUERY, q).await });
    let (job, _) = next_job(&mut dying).await;
    let sent: serde_json::Value = serde_json::from_slice(&job.query).unwrap();
    assert_eq!(sent["tenant"], "t");
    assert_eq!(sent["query"], QUERY);
    drop((tx, dying));
    let fake = Arc::new(Fake::default());
    let pullers = spawn_pullers(&addr, fake.clone(), 1);
    // far sooner than querier_timeout
    let v = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.unwrap(), answer(&q));
    assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
    pullers.abort();
    srv.abort();
}

/// Runs forever; counts starts and cancellations (its future dropped).
#[derive(Default)]
struct Stuck {
    started: AtomicUsize,
    cancelled: Arc<AtomicUsize>,
}

struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl QueryHandler for Stuck {
    async fn run(&self, _: SubQuery) -> sluice_query_frontend::Result<Answer> {
        let _guard = CountDrop(self.cancelled.clone());
        self.started.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_query_giving_up_cancels_its_sub_query_on_the_querier() {
    let queue = RequestQueue::new(2048);
    let (addr, srv) =
        grpc_frontend(&queue, Duration::from_secs(10), Duration::from_secs(300)).await;
    let stuck = Arc::new(Stuck::default());
    let pullers = spawn_pullers(&addr, stuck.clone(), 1);
    let waiting = queue.enqueue(sub("t", 1)).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stuck.started.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stuck.cancelled.load(Ordering::SeqCst), 0);
    drop(waiting);
    while stuck.cancelled.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never cancelled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // the worker reconnects and takes the next job
    let _next = queue.enqueue(sub("t", 2)).unwrap();
    while stuck.started.load(Ordering::SeqCst) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no new job taken");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    pullers.abort();
    srv.abort();
}

#[tokio::test]
async fn jobs_of_abandoned_queries_are_dropped() {
    let q = RequestQueue::new(2);
    let gone = q.enqueue(sub("a", 1)).unwrap();
    let _gone2 = q.enqueue(sub("a", 2)).unwrap();
    drop(gone);
    // the bound counts only live jobs once full
    let live = q.enqueue(sub("a", 3)).unwrap();
    let job = q.dequeue().await.unwrap();
    assert_eq!(job.request.params.start, 2 * NS);
    drop(_gone2);
    job.reply(Ok(scalar(0.0)));
    let job = q.dequeue().await.unwrap();
    assert_eq!(job.request.params.start, 3 * NS);
    job.reply(Ok(scalar(3.0)));
    assert!(live.await.unwrap().is_ok());
}

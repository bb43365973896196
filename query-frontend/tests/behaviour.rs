//! Queueing, retries, the results cache and remote pulling, against fake
//! queriers whose answers and calls the tests control.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sluice_logql::engine::{QueryParams, QueryValue, Series};
use sluice_logql::labels::Labels;
use sluice_logql::source::Direction;
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
    async fn run(&self, req: SubQuery) -> sluice_query_frontend::Result<QueryValue> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().push(req.clone());
        if n < self.fail_first {
            return Err(Error::Query {
                status: self.fail_status,
                message: format!("boom {n}"),
            });
        }
        Ok(answer(&req.params))
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
        job.reply(Ok(QueryValue::Scalar { ts: 0, value: 1.0 }));
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

#[tokio::test]
async fn cached_extents_are_answered_without_the_querier() {
    let mut c = cfg();
    c.query_range.cache_results = true;
    let fake = Arc::new(Fake::default());
    let fe = Frontend::new(c, fake.clone());
    // two days ago, 3h at 60s steps: six 30m extents
    let start = (now_s() - 2 * 86400) / 1800 * 1800;
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

#[tokio::test]
async fn remote_queriers_pull_work_over_http() {
    let queue = RequestQueue::new(2048);
    let server = PullServer::new(
        queue.clone(),
        Duration::from_millis(200),
        Duration::from_secs(5),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = server.routes();
    let srv = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let fake = Arc::new(Fake {
        fail_first: 1,
        fail_status: 500,
        ..Fake::default()
    });
    let pullers = spawn_pullers(&url, fake.clone(), 3);
    let fe = Frontend::new(cfg(), Arc::new(QueueHandler::new(queue.clone())));
    let q = range(0, 4 * 3600, 60);
    // the first remote answer is a 500: retried through the queue
    assert_eq!(fe.query("t", QUERY, q).await.unwrap(), answer(&q));
    assert_eq!(fake.calls.load(Ordering::SeqCst), 9 + 1);
    let tenants: Vec<String> = fake.seen.lock().iter().map(|s| s.tenant.clone()).collect();
    assert!(tenants.iter().all(|t| t == "t"));
    // errors keep their status and message across the wire
    let e = fe.query("t", "sum(", q).await.unwrap_err();
    assert_eq!(e.status(), 400);
    for p in pullers {
        p.abort();
    }
    queue.stop();
    srv.abort();
}

#[tokio::test]
async fn a_vanished_remote_querier_times_out_and_is_retried() {
    let queue = RequestQueue::new(2048);
    let server = PullServer::new(
        queue.clone(),
        Duration::from_secs(2),
        Duration::from_millis(300),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = server.routes();
    let srv = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let fe = Arc::new(Frontend::new(
        cfg(),
        Arc::new(QueueHandler::new(queue.clone())),
    ));
    let q = range(0, 600, 60);
    let f = fe.clone();
    let running = tokio::spawn(async move { f.query("t", QUERY, q).await });
    // a "querier" that pulls the job and never answers
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{url}/frontend/v1/pull"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // then a working one
    let fake = Arc::new(Fake::default());
    let pullers = spawn_pullers(&url, fake.clone(), 1);
    let v = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.unwrap(), answer(&q));
    assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
    for p in pullers {
        p.abort();
    }
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
    job.reply(Ok(QueryValue::Scalar { ts: 0, value: 0.0 }));
    let job = q.dequeue().await.unwrap();
    assert_eq!(job.request.params.start, 3 * NS);
    job.reply(Ok(QueryValue::Scalar { ts: 0, value: 3.0 }));
    assert!(live.await.unwrap().is_ok());
}

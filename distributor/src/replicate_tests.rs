#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use sluice_proto::logproto::{EntryAdapter, Timestamp};
use sluice_proto::service::StaticRing;

use super::*;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    Down,
    Reject,
    Slow,
}

struct Fake {
    mode: Mutex<Mode>,
    got: Mutex<Vec<PushRequest>>,
    /// A `Slow` replica answers once a permit is added.
    gate: tokio::sync::Semaphore,
}

#[async_trait::async_trait]
impl Pusher for Fake {
    async fn push(&self, _tenant: &str, req: PushRequest) -> Result<(), ServiceError> {
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Down => return Err(ServiceError::new(Code::Unavailable, "connection refused")),
            Mode::Slow => drop(self.gate.acquire().await.unwrap()),
            Mode::Reject => {
                self.got.lock().unwrap().push(req);
                return Err(ServiceError::new(
                    Code::InvalidArgument,
                    "entry too far behind",
                ));
            }
            Mode::Ok => {}
        }
        self.got.lock().unwrap().push(req);
        Ok(())
    }
}

struct Cluster {
    fakes: Vec<Arc<Fake>>,
    pusher: ReplicatingPusher,
}

fn cluster(n: usize, rf: usize) -> Cluster {
    let fakes: Vec<Arc<Fake>> = (0..n)
        .map(|_| {
            Arc::new(Fake {
                mode: Mutex::new(Mode::Ok),
                got: Mutex::new(Vec::new()),
                gate: tokio::sync::Semaphore::new(0),
            })
        })
        .collect();
    let addrs: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let by_addr = fakes.clone();
    let pool = ClientPool::new(move |a: &str| {
        let i: usize = a.parse().unwrap();
        Ok(by_addr[i].clone() as Arc<dyn Pusher>)
    });
    Cluster {
        fakes,
        pusher: ReplicatingPusher::new(Arc::new(StaticRing::new(addrs, rf)), Arc::new(pool)),
    }
}

impl Cluster {
    fn set(&self, i: usize, m: Mode) {
        *self.fakes[i].mode.lock().unwrap() = m;
    }
    /// Labels of the streams instance `i` received.
    fn labels(&self, i: usize) -> Vec<String> {
        let mut v: Vec<String> = self.fakes[i]
            .got
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.streams.iter().map(|s| s.labels.clone()))
            .collect();
        v.sort();
        v
    }
    fn requests(&self, i: usize) -> usize {
        self.fakes[i].got.lock().unwrap().len()
    }
}

fn stream(i: u64) -> StreamAdapter {
    StreamAdapter {
        labels: format!("{{app=\"s{i}\"}}"),
        entries: vec![EntryAdapter {
            timestamp: Some(Timestamp::from_unix_nanos(i as i64)),
            line: Bytes::from(format!("line {i}")),
            structured_metadata: vec![],
            parsed: vec![],
        }],
        hash: i,
    }
}

fn req(n: u64) -> PushRequest {
    PushRequest {
        streams: (0..n).map(stream).collect(),
    }
}

#[tokio::test]
async fn each_stream_reaches_its_replica_set_in_one_request_per_instance() {
    let c = cluster(5, 3);
    c.pusher.push("t", req(10)).await.unwrap();
    // replicas past the quorum may still be running
    for _ in 0..200 {
        if (0..5).all(|i| c.requests(i) == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for i in 0..5 {
        assert_eq!(c.requests(i), 1, "instance {i}");
        // stream k lives on t%5, t%5+1, t%5+2 for its token t
        let tenant = tenant_hash("t");
        let mut want: Vec<String> = (0..10u64)
            .filter(|&k| {
                let t = u64::from(stream_token(tenant, &stream(k)));
                (0..3).any(|d| (t + d) % 5 == i as u64)
            })
            .map(|k| stream(k).labels)
            .collect();
        want.sort();
        assert_eq!(c.labels(i), want, "instance {i}");
    }
}

#[tokio::test]
async fn one_replica_down_still_reaches_quorum() {
    let c = cluster(3, 3);
    c.set(1, Mode::Down);
    c.pusher.push("t", req(4)).await.unwrap();
    assert_eq!(c.labels(0).len(), 4);
    assert_eq!(c.labels(1).len(), 0);
    let failures = || {
        crate::metrics::INGESTER_APPEND_FAILURES
            .with_label_values(&["1", "5xx"])
            .get()
    };
    for _ in 0..100 {
        if failures() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(failures() > 0);
}

#[tokio::test]
async fn two_replicas_down_fail_with_unavailable() {
    let c = cluster(3, 3);
    c.set(0, Mode::Down);
    c.set(2, Mode::Down);
    let e = c.pusher.push("t", req(4)).await.unwrap_err();
    assert_eq!(e.http_status(), 503);
    assert_eq!(e.message, "connection refused");
}

#[tokio::test]
async fn client_error_is_returned_as_is_after_quorum() {
    let c = cluster(3, 3);
    // any quorum includes a rejecting replica
    c.set(1, Mode::Reject);
    c.set(2, Mode::Reject);
    let e = c.pusher.push("t", req(2)).await.unwrap_err();
    assert_eq!(
        (e.http_status(), e.message.as_str()),
        (400, "entry too far behind")
    );
    // the rejecting replicas stored what they accepted: with the third
    // down the stream still has its quorum, and the answer is the 400
    c.set(0, Mode::Down);
    let e = c.pusher.push("t", req(2)).await.unwrap_err();
    assert_eq!(e.http_status(), 400);
}

#[tokio::test]
async fn returns_at_quorum_and_a_slow_replica_still_gets_the_data() {
    let c = cluster(3, 3);
    c.set(1, Mode::Slow);
    // returns while replica 1 is still blocked
    tokio::time::timeout(Duration::from_secs(5), c.pusher.push("t", req(3)))
        .await
        .expect("push returns at quorum")
        .unwrap();
    assert_eq!(c.labels(1).len(), 0);
    c.fakes[1].gate.add_permits(1);
    for _ in 0..200 {
        if c.labels(1).len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(c.labels(1).len(), 3);
}

#[tokio::test]
async fn empty_ring_is_unavailable_and_empty_push_is_ok() {
    let c = cluster(0, 3);
    c.pusher.push("t", req(0)).await.unwrap();
    assert_eq!(
        c.pusher.push("t", req(1)).await.unwrap_err().http_status(),
        503
    );
}

#[test]
fn tokens_mix_the_tenant_in() {
    let (a, b) = (tenant_hash("team-a"), tenant_hash("team-b"));
    let s = stream(42);
    assert_eq!(stream_token(a, &s), stream_token(a, &s));
    // the same label set of two tenants: different places on the ring
    let differ = (0..100u64)
        .filter(|&k| stream_token(a, &stream(k)) != stream_token(b, &stream(k)))
        .count();
    assert_eq!(differ, 100);
    // and the tokens of one tenant still spread over a 5-instance ring
    let mut per = [0usize; 5];
    for k in 0..1000u64 {
        per[stream_token(a, &stream(k)) as usize % 5] += 1;
    }
    assert!(per.iter().all(|&n| (150..250).contains(&n)), "{per:?}");
}

//! Lifecycler, ring client and status page over the in-memory store, with
//! real timers and a real loopback HTTP server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_ring::status::RingStatus;
use sluice_ring::{
    shard_key, InMemoryKv, InstanceSpec, InstanceState, Lifecycler, LifecyclerConfig, MembershipKv,
    Operation, RingClient, RingConfig,
};

const KEY: &str = "collectors/ring";

fn cfg() -> LifecyclerConfig {
    LifecyclerConfig {
        ring: RingConfig {
            heartbeat_timeout: Duration::from_millis(400),
            ..RingConfig::default()
        },
        heartbeat_period: Duration::from_millis(50),
        ..LifecyclerConfig::default()
    }
}

fn spec(id: &str) -> InstanceSpec {
    InstanceSpec {
        id: id.to_string(),
        grpc_addr: format!("127.0.0.1:9{}", id.len()),
        http_addr: format!("127.0.0.1:3{}", id.len()),
    }
}

async fn wait_until<F: FnMut() -> bool>(what: &str, timeout: Duration, mut f: F) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn join_goes_active_with_tokens_and_heartbeats() {
    let kv = Arc::new(InMemoryKv::new());
    let lc = Lifecycler::start(cfg(), spec("ing-a"), KEY, kv.clone())
        .await
        .unwrap();
    assert_eq!(lc.state(), InstanceState::Active);
    assert_eq!(lc.tokens().len(), 128);
    let desc = kv.get(KEY).await.unwrap().unwrap();
    let inst = desc.instance("ing-a").unwrap().clone();
    assert_eq!(inst.state, InstanceState::Active);
    assert_eq!(inst.tokens, lc.tokens());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = kv.get(KEY).await.unwrap().unwrap();
    assert!(later.instance("ing-a").unwrap().heartbeat_at_ms > inst.heartbeat_at_ms);
    // A second instance never takes a token of the first.
    let lc2 = Lifecycler::start(cfg(), spec("ing-bb"), KEY, kv.clone())
        .await
        .unwrap();
    let a: HashSet<u32> = lc.tokens().into_iter().collect();
    assert!(lc2.tokens().iter().all(|t| !a.contains(t)));
}

#[tokio::test]
async fn stop_goes_leaving_runs_hook_then_leaves() {
    let kv = Arc::new(InMemoryKv::new());
    let client = RingClient::start(kv.clone(), KEY, cfg().ring)
        .await
        .unwrap();
    let lc = Lifecycler::start(cfg(), spec("ing-a"), KEY, kv.clone())
        .await
        .unwrap();
    let _other = Lifecycler::start(cfg(), spec("ing-bb"), KEY, kv.clone())
        .await
        .unwrap();
    wait_until("ring client sees both", Duration::from_secs(2), || {
        client.ring().instances().len() == 2
    })
    .await;

    let hook_ran = Arc::new(AtomicBool::new(false));
    let (kv2, ran) = (kv.clone(), hook_ran.clone());
    lc.stop(move || async move {
        let desc = kv2.get(KEY).await.unwrap().unwrap();
        assert_eq!(
            desc.instance("ing-a").unwrap().state,
            InstanceState::Leaving
        );
        ran.store(true, Ordering::SeqCst);
        Ok(())
    })
    .await
    .unwrap();
    assert!(hook_ran.load(Ordering::SeqCst));
    let desc = kv.get(KEY).await.unwrap().unwrap();
    assert!(desc.instance("ing-a").is_none(), "removed after the hook");
    assert_eq!(
        desc.instances["ing-a"].state,
        InstanceState::Left,
        "kept as a tombstone"
    );
    wait_until("ring client drops it", Duration::from_secs(2), || {
        client.ring().instances().len() == 1
    })
    .await;
}

#[tokio::test]
async fn failed_hook_keeps_the_instance_leaving() {
    let kv = Arc::new(InMemoryKv::new());
    let lc = Lifecycler::start(cfg(), spec("ing-a"), KEY, kv.clone())
        .await
        .unwrap();
    let err = lc
        .stop(|| async { Err("flush failed: disk full".into()) })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    let desc = kv.get(KEY).await.unwrap().unwrap();
    assert_eq!(
        desc.instance("ing-a").unwrap().state,
        InstanceState::Leaving
    );
}

#[tokio::test]
async fn dead_instance_becomes_unhealthy_after_the_timeout() {
    let kv = Arc::new(InMemoryKv::new());
    let client = RingClient::start(kv.clone(), KEY, cfg().ring)
        .await
        .unwrap();
    let mut lcs = Vec::new();
    for id in ["ing-a", "ing-bb", "ing-ccc"] {
        lcs.push(
            Lifecycler::start(cfg(), spec(id), KEY, kv.clone())
                .await
                .unwrap(),
        );
    }
    wait_until("3 instances", Duration::from_secs(2), || {
        client.ring().instances().len() == 3
    })
    .await;
    let ring = client.ring();
    assert_eq!(ring.healthy_instances(Operation::Write).len(), 3);
    // Crash: stop heartbeating without leaving.
    let dead = lcs.remove(0);
    let killed_at = Instant::now();
    drop(dead);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(client.ring().is_healthy(
        client.ring().desc().instance("ing-a").unwrap(),
        Operation::Write
    ));
    wait_until("ing-a unhealthy", Duration::from_secs(3), || {
        let ring = client.ring();
        !ring.is_healthy(ring.desc().instance("ing-a").unwrap(), Operation::Write)
    })
    .await;
    let noticed = killed_at.elapsed();
    println!("dead instance noticed unhealthy after {noticed:?} (timeout 400ms)");
    assert!(noticed >= Duration::from_millis(300), "{noticed:?}");
    let ring = client.ring();
    for i in 0..500u32 {
        let set = ring
            .get(
                shard_key("fake", &format!("{{s=\"{i}\"}}")),
                Operation::Write,
            )
            .unwrap();
        assert!(!set.contains("ing-a"));
        assert!(set.instances.len() >= 2);
    }
    let status = sluice_ring::status::ring_status(
        ring.desc(),
        Duration::from_millis(400),
        sluice_ring::desc::now_ms(),
    );
    let a = status.shards.iter().find(|s| s.id == "ing-a").unwrap();
    assert_eq!(a.state, "UNHEALTHY");
}

#[tokio::test]
async fn tokens_file_keeps_tokens_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg();
    c.tokens_file_path = Some(dir.path().join("tokens"));
    let kv = Arc::new(InMemoryKv::new());
    let lc = Lifecycler::start(c.clone(), spec("ing-a"), KEY, kv.clone())
        .await
        .unwrap();
    let tokens = lc.tokens();
    lc.stop(|| async { Ok(()) }).await.unwrap();
    let kv = Arc::new(InMemoryKv::new());
    let lc = Lifecycler::start(c, spec("ing-a"), KEY, kv.clone())
        .await
        .unwrap();
    assert_eq!(lc.tokens(), tokens);
}

/// Joining a 4th ingester through real lifecyclers moves about a quarter of the streams.
#[tokio::test]
async fn fourth_ingester_moves_a_quarter_of_streams() {
    let kv = Arc::new(InMemoryKv::new());
    let client = RingClient::start(kv.clone(), KEY, cfg().ring)
        .await
        .unwrap();
    let mut lcs = Vec::new();
    for id in ["ing-0", "ing-1", "ing-2"] {
        lcs.push(
            Lifecycler::start(cfg(), spec(id), KEY, kv.clone())
                .await
                .unwrap(),
        );
    }
    wait_until("3 instances", Duration::from_secs(2), || {
        client.ring().instances().len() == 3
    })
    .await;
    let before = client.ring();
    lcs.push(
        Lifecycler::start(cfg(), spec("ing-3"), KEY, kv.clone())
            .await
            .unwrap(),
    );
    wait_until("4 instances", Duration::from_secs(2), || {
        client.ring().instances().len() == 4
    })
    .await;
    let after = client.ring();
    let keys: Vec<u32> = (0..10_000)
        .map(|i| shard_key("fake", &format!("{{job=\"j{}\", i=\"{i}\"}}", i % 13)))
        .collect();
    let moved = keys
        .iter()
        .filter(|k| before.primary(**k) != after.primary(**k))
        .count();
    let frac = moved as f64 / keys.len() as f64;
    println!("4th ingester joined: {moved}/10000 streams changed primary owner ({frac:.3})");
    assert!((0.15..=0.35).contains(&frac), "{frac}");
}

#[tokio::test]
async fn status_page_serves_html_json_and_forget() {
    let kv = Arc::new(InMemoryKv::new());
    let a = Lifecycler::start(cfg(), spec("ing-a"), KEY, kv.clone())
        .await
        .unwrap();
    let _b = Lifecycler::start(cfg(), spec("ing-<b>"), KEY, kv.clone())
        .await
        .unwrap();
    let app = sluice_ring::status::router(kv.clone(), KEY, Duration::from_secs(60));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let status: RingStatus = http
        .get(format!("{base}/ring"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status.shards.len(), 2);
    assert!(status
        .shards
        .iter()
        .all(|s| s.state == "ACTIVE" && s.tokens.len() == 128));
    let total: f64 = status.shards.iter().map(|s| s.ownership).sum();
    assert!((total - 100.0).abs() < 1e-6, "{total}");

    let html = http
        .get(format!("{base}/ring"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<table"), "{html}");
    assert!(html.contains("<td>ing-a</td>"));
    assert!(html.contains("ing-&lt;b&gt;"), "ids are escaped");
    assert!(!html.contains("<b>"));

    // Forget a crashed instance (a live one would re-register on its next heartbeat).
    drop(a);
    let resp = http
        .post(format!("{base}/ring"))
        .form(&[("forget", "ing-a")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let status: RingStatus = http
        .get(format!("{base}/ring?format=json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        status
            .shards
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        vec!["ing-<b>"]
    );
    let resp = http
        .post(format!("{base}/ring"))
        .form(&[("forget", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    server.abort();
}

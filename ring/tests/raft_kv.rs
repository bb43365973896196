//! The raft-replicated membership store: three voters in one process, each
//! with its own directory and loopback port, talking real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_ring::{
    InstanceDesc, InstanceSpec, InstanceState, Lifecycler, LifecyclerConfig, MembershipKv,
    RaftKvClient, RaftKvConfig, RaftMember, RaftPeer, RingConfig,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const KEY: &str = "collectors/ring";

struct Node {
    member: RaftMember,
    stop_http: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl Node {
    /// Kills the member: closes its HTTP server (and connections) and stops raft.
    async fn kill(mut self) {
        if let Some(tx) = self.stop_http.take() {
            let _ = tx.send(());
        }
        self.member.shutdown().await.unwrap();
        if tokio::time::timeout(Duration::from_secs(2), &mut self.server)
            .await
            .is_err()
        {
            self.server.abort();
        }
    }
}

struct Cluster {
    base: RaftKvConfig,
    dirs: Vec<PathBuf>,
    nodes: Vec<Option<Node>>,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    async fn start(snapshot_after_entries: u64) -> Cluster {
        let tmp = tempfile::tempdir().unwrap();
        let mut listeners = Vec::new();
        let mut members = Vec::new();
        for id in 1..=3u64 {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            members.push(RaftPeer {
                id,
                address: l.local_addr().unwrap().to_string(),
            });
            listeners.push(l);
        }
        let base = RaftKvConfig {
            members,
            heartbeat_interval: Duration::from_millis(150),
            election_timeout_min: Duration::from_millis(800),
            election_timeout_max: Duration::from_millis(1600),
            snapshot_after_entries,
            cas_timeout: Duration::from_secs(20),
            poll_interval: Duration::from_millis(100),
            ..RaftKvConfig::default()
        };
        let dirs: Vec<PathBuf> = (1..=3)
            .map(|i| tmp.path().join(format!("member-{i}")))
            .collect();
        let mut cluster = Cluster {
            base,
            dirs,
            nodes: vec![None, None, None],
            _tmp: tmp,
        };
        for (i, l) in listeners.into_iter().enumerate() {
            cluster.nodes[i] = Some(cluster.start_node(i, l).await);
        }
        cluster
    }

    fn cfg(&self, i: usize) -> RaftKvConfig {
        RaftKvConfig {
            node_id: Some(i as u64 + 1),
            dir: self.dirs[i].clone(),
            ..self.base.clone()
        }
    }

    async fn start_node(&self, i: usize, listener: TcpListener) -> Node {
        let member = RaftMember::start(&self.cfg(i)).await.unwrap();
        let app = member.router();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Node {
            member,
            stop_http: Some(tx),
            server,
        }
    }

    async fn restart(&mut self, i: usize) {
        let addr = self.base.members[i].address.clone();
        let listener = TcpListener::bind(&addr).await.unwrap();
        self.nodes[i] = Some(self.start_node(i, listener).await);
    }

    fn member(&self, i: usize) -> &RaftMember {
        &self.nodes[i].as_ref().unwrap().member
    }

    async fn kill(&mut self, i: usize) {
        self.nodes[i].take().unwrap().kill().await;
    }

    /// The leader all live members agree on.
    async fn leader(&self, timeout: Duration) -> u64 {
        let start = Instant::now();
        loop {
            let mut seen = Vec::new();
            for n in self.nodes.iter().flatten() {
                seen.push(n.member.current_leader().await);
            }
            if let Some(Some(l)) = seen.first() {
                let alive = self.nodes[*l as usize - 1].is_some();
                if alive && seen.iter().all(|s| *s == Some(*l)) {
                    return *l;
                }
            }
            assert!(
                start.elapsed() < timeout,
                "no agreed leader within {timeout:?}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn instance(id: &str, n: u32) -> InstanceDesc {
    let mut i = InstanceDesc::new(
        id,
        &format!("{id}:9095"),
        &format!("{id}:3100"),
        InstanceState::Active,
    );
    i.tokens = vec![n, n + 1000];
    i
}

async fn put(kv: &dyn MembershipKv, id: &str, n: u32) {
    let inst = instance(id, n);
    kv.cas(KEY, &mut |d| {
        let mut d = d.unwrap_or_default();
        d.upsert(inst.clone());
        Some(d)
    })
    .await
    .unwrap();
}

async fn wait_for_instance(kv: &dyn MembershipKv, id: &str, tokens_start: u32, timeout: Duration) {
    let start = Instant::now();
    loop {
        let got = kv.get(KEY).await.ok().flatten();
        if got
            .as_ref()
            .and_then(|d| d.instance(id))
            .is_some_and(|i| i.tokens.first() == Some(&tokens_start))
        {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "{id} not visible within {timeout:?}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_any_member_are_seen_by_all_and_by_clients() {
    let cluster = Cluster::start(500).await;
    let leader = cluster.leader(Duration::from_secs(15)).await;
    println!("leader elected: {leader}");
    // Write through each member in turn (followers forward to the leader).
    for i in 0..3 {
        put(cluster.member(i), &format!("ing-{i}"), i as u32 * 10).await;
    }
    for reader in 0..3 {
        for i in 0..3 {
            wait_for_instance(
                cluster.member(reader),
                &format!("ing-{i}"),
                i as u32 * 10,
                Duration::from_secs(5),
            )
            .await;
        }
    }
    // A non-voter reads, writes and watches through the members.
    let client = RaftKvClient::new(&cluster.base).unwrap();
    let mut watch = client.watch(KEY).await.unwrap();
    assert_eq!(watch.borrow().as_ref().unwrap().live_instances().count(), 3);
    put(&client, "ing-client", 77).await;
    for reader in 0..3 {
        wait_for_instance(
            cluster.member(reader),
            "ing-client",
            77,
            Duration::from_secs(5),
        )
        .await;
    }
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if watch
                .borrow_and_update()
                .as_ref()
                .is_some_and(|d| d.instance("ing-client").is_some())
            {
                break;
            }
            watch.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    // A lifecycler of a non-voting process joins through the client.
    let lc_cfg = LifecyclerConfig {
        ring: RingConfig {
            heartbeat_timeout: Duration::from_secs(5),
            ..RingConfig::default()
        },
        heartbeat_period: Duration::from_millis(200),
        ..LifecyclerConfig::default()
    };
    let spec = InstanceSpec {
        id: "ingester-x".into(),
        grpc_addr: "127.0.0.1:1".into(),
        http_addr: "127.0.0.1:2".into(),
    };
    let lc = Lifecycler::start(lc_cfg, spec, KEY, Arc::new(client.clone()))
        .await
        .unwrap();
    let tokens = lc.tokens();
    wait_for_instance(
        cluster.member(2),
        "ingester-x",
        tokens[0],
        Duration::from_secs(5),
    )
    .await;
    lc.stop(|| async { Ok(()) }).await.unwrap();
    for i in 0..3 {
        let start = Instant::now();
        while cluster
            .member(i)
            .get(KEY)
            .await
            .unwrap()
            .unwrap()
            .instance("ingester-x")
            .is_some()
        {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "member {i} still lists ingester-x"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_recovers_state_from_disk_after_restart() {
    // Snapshot every 5 entries so recovery goes through snapshot + log tail.
    let mut cluster = Cluster::start(5).await;
    cluster.leader(Duration::from_secs(15)).await;
    for n in 0..23u32 {
        put(cluster.member(n as usize % 3), &format!("ing-{}", n % 7), n).await;
    }
    for i in 0..3 {
        // The last write of ing-1 was n = 22.
        wait_for_instance(cluster.member(i), "ing-1", 22, Duration::from_secs(5)).await;
    }
    let expected = cluster.member(0).get(KEY).await.unwrap().unwrap();
    for i in 0..3 {
        cluster.kill(i).await;
    }
    assert!(
        cluster.dirs[2].join("snapshot.json").exists(),
        "a snapshot was written"
    );
    // Member 3 alone (the others are down): its state can only come from its own disk.
    cluster.restart(2).await;
    let start = Instant::now();
    loop {
        let got = cluster.member(2).get(KEY).await.unwrap();
        if got.as_ref() == Some(&expected) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "member 3 did not recover: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    println!(
        "member 3 recovered {} instances from disk alone in {:?}",
        expected.instances.len(),
        start.elapsed()
    );
    // Bring the others back: the cluster elects a leader and takes writes again.
    cluster.restart(0).await;
    cluster.restart(1).await;
    cluster.leader(Duration::from_secs(15)).await;
    put(cluster.member(2), "after-restart", 999).await;
    for i in 0..3 {
        wait_for_instance(
            cluster.member(i),
            "after-restart",
            999,
            Duration::from_secs(5),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_leader_takes_ring_updates_within_10s_after_the_leader_dies() {
    let mut cluster = Cluster::start(500).await;
    let old = cluster.leader(Duration::from_secs(15)).await;
    put(cluster.member(0), "before", 1).await;
    let survivor = (0..3).find(|i| *i as u64 + 1 != old).unwrap();
    let killed_at = Instant::now();
    cluster.kill(old as usize - 1).await;
    // Ring updates through a surviving member retry until a new leader commits them.
    put(cluster.member(survivor), "after-failover", 2).await;
    let elapsed = killed_at.elapsed();
    let new = cluster.leader(Duration::from_secs(10)).await;
    println!(
        "leader {old} killed; new leader {new}; first ring update committed after {elapsed:?}"
    );
    assert_ne!(new, old);
    assert!(
        elapsed < Duration::from_secs(10),
        "failover took {elapsed:?}"
    );
    for i in (0..3).filter(|i| *i as u64 + 1 != old) {
        wait_for_instance(
            cluster.member(i),
            "after-failover",
            2,
            Duration::from_secs(5),
        )
        .await;
        wait_for_instance(cluster.member(i), "before", 1, Duration::from_secs(5)).await;
    }
    // The old leader comes back as a follower and catches up.
    cluster.restart(old as usize - 1).await;
    wait_for_instance(
        cluster.member(old as usize - 1),
        "after-failover",
        2,
        Duration::from_secs(10),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_with_a_lost_disk_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::start(5).await;
    cluster.leader(Duration::from_secs(15)).await;
    put(cluster.member(0), "early", 1).await;
    let lagging = 2;
    cluster.kill(lagging).await;
    // Write until the leader has built snapshots and purged the entries the
    // lost member would need. openraft's leader purges only while no
    // replication stream (including the one retrying the dead member) has
    // entries in flight, so this may take a few rounds.
    let mut purged = None;
    for n in 0..200u32 {
        put(cluster.member(n as usize % 2), &format!("ing-{}", n % 5), n).await;
        let leader = cluster.leader(Duration::from_secs(10)).await;
        purged = cluster
            .member(leader as usize - 1)
            .raft()
            .metrics()
            .borrow()
            .purged;
        if n >= 30 && purged.is_some_and(|p| p.index > 1) {
            break;
        }
    }
    println!("leader purged its log up to {purged:?}");
    std::fs::remove_dir_all(&cluster.dirs[lagging]).unwrap();
    cluster.restart(lagging).await;
    let expected = cluster.member(0).get(KEY).await.unwrap().unwrap();
    let start = Instant::now();
    loop {
        if cluster.member(lagging).get(KEY).await.unwrap().as_ref() == Some(&expected) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "member 3 did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        cluster.dirs[lagging].join("snapshot.json").exists(),
        "caught up through an installed snapshot"
    );
    println!(
        "member with an empty disk caught up in {:?}",
        start.elapsed()
    );
}

/// One suite for every [`MembershipKv`] implementation: writers may be
/// different handles onto the same store; reads through `reader` are
/// eventually consistent.
async fn kv_suite(writers: Vec<Arc<dyn MembershipKv>>, reader: Arc<dyn MembershipKv>) {
    const K: &str = "suite/ring";
    let eventually = |pred: Box<dyn Fn(&sluice_ring::RingDesc) -> bool + Send>| {
        let reader = reader.clone();
        async move {
            let start = Instant::now();
            loop {
                let got = reader.get(K).await.unwrap();
                if got.as_ref().is_some_and(&pred) {
                    return got.unwrap();
                }
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "condition not reached: {got:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // A CAS that declines writes nothing.
    assert!(!writers[0].cas(K, &mut |_| None).await.unwrap());
    assert_eq!(reader.get(K).await.unwrap(), None);
    let mut watch = reader.watch(K).await.unwrap();

    // Concurrent writers of different instances never lose each other's updates.
    let mut tasks = Vec::new();
    for w in 0..8u32 {
        let kv = writers[w as usize % writers.len()].clone();
        tasks.push(tokio::spawn(async move {
            for beat in 0..5u32 {
                let mut inst = instance(&format!("w-{w}"), w * 100);
                inst.heartbeat_at_ms = i64::from(beat);
                kv.cas(K, &mut |d| {
                    let mut d = d.unwrap_or_default();
                    d.upsert(inst.clone());
                    Some(d)
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let desc = eventually(Box::new(|d| {
        d.live_instances().count() == 8 && d.live_instances().all(|i| i.heartbeat_at_ms == 4)
    }))
    .await;
    assert!(desc.instances.values().all(|i| i.version > 0));

    // Watchers see changes.
    tokio::time::timeout(Duration::from_secs(5), async {
        while watch
            .borrow_and_update()
            .as_ref()
            .is_none_or(|d| d.live_instances().count() < 8)
        {
            watch.changed().await.unwrap();
        }
    })
    .await
    .unwrap();

    // Writing the same content again is a no-op.
    let same = reader.get(K).await.unwrap();
    assert!(!writers[0].cas(K, &mut |_| same.clone()).await.unwrap());

    // Removal leaves a tombstone that wins over the older entry.
    writers[writers.len() - 1]
        .cas(K, &mut |d| {
            let mut d = d?;
            d.remove("w-3").then_some(d)
        })
        .await
        .unwrap();
    let desc = eventually(Box::new(|d| d.instance("w-3").is_none())).await;
    assert_eq!(desc.instances["w-3"].state, InstanceState::Left);
    assert_eq!(desc.live_instances().count(), 7);
}

#[tokio::test]
async fn suite_in_memory() {
    let kv: Arc<dyn MembershipKv> = Arc::new(sluice_ring::InMemoryKv::new());
    kv_suite(vec![kv.clone(), kv.clone()], kv).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_raft_members_and_client() {
    let cluster = Cluster::start(20).await;
    cluster.leader(Duration::from_secs(15)).await;
    let client: Arc<dyn MembershipKv> = Arc::new(RaftKvClient::new(&cluster.base).unwrap());
    let mut writers: Vec<Arc<dyn MembershipKv>> = (0..3)
        .map(|i| Arc::new(cluster.member(i).clone()) as Arc<dyn MembershipKv>)
        .collect();
    writers.push(client.clone());
    kv_suite(writers, client).await;
}

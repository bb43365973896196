//! Microservices on loopback: ingesters (the raft voters of the membership
//! store), distributors and queriers as separate `sluice` processes sharing
//! one ring; crash and failover behaviour.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::harness::{self, free_port, now_ns, Server};
use sluice_proto::logproto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};

pub struct Node {
    pub name: String,
    pub target: String,
    pub raft_id: Option<u64>,
    pub http_port: u16,
    pub grpc_port: u16,
    pub server: Option<Server>,
    /// YAML appended to this process's config only.
    pub extra: String,
}

/// Processes sharing one raft-backed ring, each with its own directory.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    /// The raft voters: (id, HTTP address).
    members: Vec<(u64, String)>,
    pub nodes: Vec<Node>,
    /// YAML appended to every process's config.
    pub extra: String,
    /// The `limits_config` section.
    pub limits: String,
    /// Ring heartbeat timeout and period: short to see crashes quickly,
    /// longer where a loaded machine must not make instances look dead.
    pub heartbeat: (&'static str, &'static str),
}

impl Cluster {
    /// A cluster whose first `voters` ingesters will be the raft members.
    pub fn new(voters: usize) -> Cluster {
        let mut c = Cluster {
            dir: tempfile::tempdir().unwrap(),
            members: Vec::new(),
            nodes: Vec::new(),
            extra: String::new(),
            heartbeat: ("3s", "300ms"),
            limits: "limits_config:\n  reject_old_samples: false\n  ingestion_rate_mb: 1024\n  ingestion_burst_size_mb: 1024\n  discover_log_levels: false\n  discover_service_name: []\n".into(),
        };
        for i in 0..voters {
            let port = free_port();
            c.members.push((i as u64 + 1, format!("127.0.0.1:{port}")));
            c.nodes.push(Node {
                name: format!("ingester-{i}"),
                target: "ingester".into(),
                raft_id: Some(i as u64 + 1),
                http_port: port,
                grpc_port: free_port(),
                server: None,
                extra: String::new(),
            });
        }
        c
    }

    /// Adds (not starts) a process; returns its index.
    pub fn add(&mut self, name: &str, target: &str) -> usize {
        self.nodes.push(Node {
            name: name.into(),
            target: target.into(),
            raft_id: None,
            http_port: free_port(),
            grpc_port: free_port(),
            server: None,
            extra: String::new(),
        });
        self.nodes.len() - 1
    }

    fn yaml(&self, n: &Node) -> String {
        let data: PathBuf = self.dir.path().join(&n.name);
        let members: String = self
            .members
            .iter()
            .map(|(id, addr)| format!("          - {{id: {id}, address: \"{addr}\"}}\n"))
            .collect();
        let node_id = n
            .raft_id
            .map(|id| format!("        node_id: {id}\n"))
            .unwrap_or_default();
        format!(
            "target: {target}
common:
  path_prefix: {data}
  instance_addr: 127.0.0.1
  instance_id: {name}
  ring:
    replication_factor: 3
    heartbeat_timeout: {hb_timeout}
    kvstore:
      store: raft
      raft:
{node_id}        heartbeat_interval: 100ms
        election_timeout_min: 600ms
        election_timeout_max: 1200ms
        poll_interval: 200ms
        members:
{members}ingester:
  lifecycler:
    heartbeat_period: {hb_period}
storage_config:
  filesystem:
    directory: {store}
{limits}{extra}{node_extra}",
            target = n.target,
            data = data.display(),
            name = n.name,
            limits = self.limits,
            store = self.dir.path().join("store").display(),
            hb_timeout = self.heartbeat.0,
            hb_period = self.heartbeat.1,
            extra = self.extra,
            node_extra = n.extra,
        )
    }

    /// Starts node `i` (without waiting for it to be ready).
    pub fn start(&mut self, i: usize) {
        let n = &self.nodes[i];
        let yaml = self.yaml(n);
        let data = self.dir.path().join(&n.name);
        let http = format!("-server.http-listen-port={}", n.http_port);
        let grpc = format!("-server.grpc-listen-port={}", n.grpc_port);
        let s = harness::launch(&data, &yaml, &[&http, &grpc]);
        self.nodes[i].server = Some(s);
    }

    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].server.is_none() {
                self.start(i);
            }
        }
        for n in &self.nodes {
            n.server
                .as_ref()
                .unwrap()
                .wait_ready(Duration::from_secs(60));
        }
    }

    pub fn index(&self, name: &str) -> usize {
        self.nodes.iter().position(|n| n.name == name).unwrap()
    }

    pub fn server(&self, name: &str) -> &Server {
        self.nodes[self.index(name)].server.as_ref().unwrap()
    }

    pub fn kill(&mut self, name: &str) {
        let i = self.index(name);
        self.nodes[i].server.take().unwrap().kill();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self, name: &str) {
        let i = self.index(name);
        self.nodes[i].server.take().unwrap().stop();
    }

    /// Instance id → state on `via`'s `/ring` page.
    pub fn ring_states(via: &Server) -> BTreeMap<String, String> {
        let v = via.get_json("/ring", &[("format", "json".into())]);
        v["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap().to_string(),
                    s["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Waits until `via` sees exactly `want` (id → state).
    pub fn wait_ring(via: &Server, want: &[(&str, &str)], limit: Duration) -> Duration {
        let want: BTreeMap<String, String> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let t0 = Instant::now();
        loop {
            let got = Self::ring_states(via);
            if got == want {
                // the page reads the store; the push and query paths read a
                // copy each process polls every 200 ms
                std::thread::sleep(Duration::from_millis(500));
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < limit,
                "ring did not reach {want:?} in {limit:?}: {got:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub const ACTIVE3: [(&str, &str); 3] = [
    ("ingester-0", "ACTIVE"),
    ("ingester-1", "ACTIVE"),
    ("ingester-2", "ACTIVE"),
];

fn batch(client: usize, seqs: std::ops::Range<usize>, base: i64) -> PushRequest {
    PushRequest {
        streams: (0..4)
            .map(|s| StreamAdapter {
                labels: format!(r#"{{app="cluster", client="c{client}", stream="s{s}"}}"#),
                entries: seqs
                    .clone()
                    .map(|i| EntryAdapter {
                        // unique across the whole test, so paging by time is exact
                        timestamp: Some(Timestamp::from_unix_nanos(
                            base + ((i * 4 + s) * 8 + client) as i64 * 1000,
                        )),
                        line: format!("client={client} stream={s} seq={i}").into(),
                        structured_metadata: vec![],
                        parsed: vec![],
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    }
}

/// Clients pushing continuously through the distributors, recording which
/// entries were acknowledged and which pushes failed.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(urls: Vec<String>, clients: usize, base: i64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::<String>::new()));
        let failures = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut threads = Vec::new();
        for client in 0..clients {
            let (stop, acked, failures, urls) =
                (stop.clone(), acked.clone(), failures.clone(), urls.clone());
            threads.push(std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    let req = batch(client, seq..seq + 10, base);
                    let body = snap::raw::Encoder::new()
                        .compress_vec(&prost::Message::encode_to_vec(&req))
                        .unwrap();
                    let url = &urls[(seq / 10) % urls.len()];
                    let r = http
                        .post(format!("{url}/loki/api/v1/push"))
                        .header("Content-Type", "application/x-protobuf")
                        .body(body)
                        .send();
                    match r {
                        Ok(r) if r.status() == 204 => {
                            let mut a = acked.lock().unwrap();
                            for s in &req.streams {
                                for e in &s.entries {
                                    a.push(String::from_utf8(e.line.to_vec()).unwrap());
                                }
                            }
                        }
                        Ok(r) => failures.lock().unwrap().push(format!(
                            "{}: {}",
                            r.status(),
                            r.text().unwrap_or_default()
                        )),
                        Err(e) => failures.lock().unwrap().push(e.to_string()),
                    }
                    seq += 10;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }));
        }
        Load {
            stop,
            acked,
            failures,
            threads,
        }
    }

    /// Stops the clients; returns (acknowledged lines, failures).
    fn finish(self) -> (Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        let failures = self.failures.lock().unwrap().clone();
        (acked, failures)
    }
}

/// Asserts `q` returns every acknowledged line exactly once (and no duplicates at all).
fn assert_exactly_once(s: &Server, acked: &[String], base: i64, what: &str) {
    let got = s.all_entries(r#"{app="cluster"}"#, base - 1, now_ns());
    let (set, n) = line_set(&got);
    assert_eq!(set.len(), n, "{what}: duplicates returned");
    let missing: Vec<_> = acked.iter().filter(|l| !set.contains(*l)).take(5).collect();
    assert!(
        missing.is_empty(),
        "{what}: lost acknowledged entries: {missing:?}"
    );
    println!(
        "{what}: {} acknowledged entries, each returned once",
        acked.len()
    );
}

fn line_set(entries: &[(String, i64, String)]) -> (BTreeSet<String>, usize) {
    let set: BTreeSet<String> = entries.iter().map(|e| e.2.clone()).collect();
    (set, entries.len())
}

#[test]
fn replicated_cluster_survives_an_ingester_crash_and_a_raft_leader_kill() {
    let mut c = Cluster::new(3);
    // a raft leader election (tested on its own below) stalls heartbeats
    // for a moment; the timeout leaves room for one on a loaded machine
    c.heartbeat = ("8s", "300ms");
    let d0 = c.add("distributor-0", "distributor");
    let d1 = c.add("distributor-1", "distributor");
    let q0 = c.add("querier-0", "querier");
    c.add("querier-1", "querier");
    c.start_all();
    for n in ["distributor-0", "distributor-1", "querier-0", "querier-1"] {
        let took = Cluster::wait_ring(c.server(n), &ACTIVE3, Duration::from_secs(30));
        println!("3 ingesters ACTIVE on {n}'s ring after {took:?}");
    }
    let _ = (d0, d1, q0);
    // the ring page reads the store; the push path reads each process's
    // polled copy, which follows within `poll_interval`
    let base = now_ns() - 600_000_000_000;
    for (k, n) in ["distributor-0", "distributor-1"].iter().enumerate() {
        let t0 = Instant::now();
        while c.server(n).push_proto(&batch(5 + k, 0..1, base)).status() != 204 {
            assert!(t0.elapsed() < Duration::from_secs(10), "{n} cannot push");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // live tail through a querier without an ingester: fed by the three
    // replicas, each entry arrives once
    let mut tail = super::tail_client::connect(
        &c.server("querier-1").url,
        r#"{app="cluster", client="c9"}"#,
        &[],
        &[],
    );
    std::thread::sleep(Duration::from_millis(500));
    let live = now_ns();
    let r = c.server("distributor-0").push_proto(&batch(9, 0..5, live));
    assert_eq!(r.status().as_u16(), 204);
    let got = tail.entries(20, Duration::from_secs(15));
    let lines: BTreeSet<&str> = got.iter().map(|e| e.2.as_str()).collect();
    assert_eq!((got.len(), lines.len()), (20, 20), "tail: {got:?}");
    if let Ok(extra) = tail.next_frame(Duration::from_secs(1)) {
        panic!("tail repeated entries: {extra}");
    }
    tail.close();

    // four clients push continuously through both distributors
    let urls: Vec<String> = ["distributor-0", "distributor-1"]
        .iter()
        .map(|n| c.server(n).url.clone())
        .collect();
    let load = Load::start(urls, 4, base);
    std::thread::sleep(Duration::from_secs(2));
    // the crashed ingester is a raft follower here; killing the leader is
    // the last step
    let leader = c.server("ingester-0").get_json("/raft/status", &[])["leader"]
        .as_u64()
        .expect("a raft leader");
    let victim = format!("ingester-{}", if leader == 3 { 1 } else { 2 });
    c.kill(&victim);
    let killed_at = Instant::now();
    let want: Vec<(String, &str)> = (0..3)
        .map(|i| format!("ingester-{i}"))
        .map(|n| {
            let state = if n == victim { "UNHEALTHY" } else { "ACTIVE" };
            (n, state)
        })
        .collect();
    let want: Vec<(&str, &str)> = want.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    let took = Cluster::wait_ring(c.server("distributor-0"), &want, Duration::from_secs(30));
    println!("ring noticed the SIGKILLed ingester after {took:?}");
    std::thread::sleep(Duration::from_secs(2));
    let (acked, failures) = load.finish();
    assert!(
        failures.is_empty(),
        "pushes failed with one of three ingesters down ({:?} after the kill): {failures:?}",
        killed_at.elapsed()
    );
    assert!(acked.len() > 1000, "only {} entries pushed", acked.len());

    // every acknowledged entry exactly once, through either querier
    for q in ["querier-0", "querier-1"] {
        assert_exactly_once(c.server(q), &acked, base, q);
    }

    // the killed ingester replays its WAL and rejoins ACTIVE
    let i2 = c.index(&victim);
    c.start(i2);
    c.server(&victim).wait_ready(Duration::from_secs(60));
    let took = Cluster::wait_ring(c.server("querier-1"), &ACTIVE3, Duration::from_secs(30));
    println!("restarted ingester ACTIVE again after {took:?}");
    assert_exactly_once(c.server("querier-0"), &acked, base, "after the restart");

    // SIGKILL the raft leader: ring updates (a forget) go through within
    // 20 s (an election takes ~2.5 s here; the bound leaves room for a
    // machine loaded by the other end-to-end tests, where 10 s once failed)
    let status = c.server("ingester-0").get_json("/raft/status", &[]);
    let leader = status["leader"].as_u64().expect("a raft leader");
    let leader_name = format!("ingester-{}", leader - 1);
    c.kill(&leader_name);
    let killed_at = Instant::now();
    let survivor = (0..3)
        .map(|i| format!("ingester-{i}"))
        .find(|n| *n != leader_name)
        .unwrap();
    loop {
        let r = c
            .server("distributor-1")
            .client
            .post(format!("{}/ring", c.server("distributor-1").url))
            .form(&[("forget", leader_name.as_str())])
            .send();
        let states = Cluster::ring_states(c.server(&survivor));
        if r.is_ok_and(|r| r.status().is_success() || r.status().is_redirection())
            && !states.contains_key(&leader_name)
        {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(20),
            "ring not updated 20 s after the raft leader was killed: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "ring updated {:?} after SIGKILL of raft leader {leader_name}",
        killed_at.elapsed()
    );
    // and pushes still work with two ingesters
    let r = c.server("distributor-0").push_proto(&batch(7, 0..5, base));
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
}

/// The conformance suite, pushed through both distributors and queried
/// through the query-frontend (splitting at 5m, sharding 4 ways, two
/// queriers taking the pieces over gRPC streams to its gRPC port),
/// answers as `-target=all` does (126/126).
#[test]
fn conformance_suite_through_the_cluster() {
    let mut c = Cluster::new(3);
    let conformance = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/conformance.yaml"),
    )
    .unwrap();
    let limits = &conformance[conformance.find("limits_config:").unwrap()..];
    c.limits = format!("{}\n", limits.trim_end());
    c.heartbeat = ("20s", "1s");
    c.add("distributor-0", "distributor");
    c.add("distributor-1", "distributor");
    let q0 = c.add("querier-0", "querier");
    c.add("querier-1", "querier");
    let f = c.add("query-frontend", "query-frontend");
    c.extra = format!(
        "frontend:\n  downstream_url: http://127.0.0.1:{}\nfrontend_worker:\n  frontend_address: 127.0.0.1:{}\n  parallelism: 4\nquery_range:\n  split_queries_by_interval: 5m\n  shard_count: 4\n",
        c.nodes[q0].http_port, c.nodes[f].grpc_port
    );
    c.start_all();
    for n in ["distributor-0", "distributor-1", "querier-0", "querier-1"] {
        Cluster::wait_ring(c.server(n), &ACTIVE3, Duration::from_secs(30));
    }
    // the push path reads a polled copy of the ring
    std::thread::sleep(Duration::from_millis(500));
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/conformance-cluster");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&c.server("query-frontend").url)
        .arg(&c.server("distributor-0").url)
        .arg(&c.server("distributor-1").url)
        .output()
        .expect("python3 runs scripts/conformance-cluster");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("126 passed, 0 failed"),
        "conformance through the query-frontend: {stdout}"
    );
    // the frontend really split the work across both queriers
    let metrics = c.server("query-frontend").get("/metrics", &[]).1;
    let subqueries: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("sluice_query_frontend_subqueries_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    println!("query-frontend ran {subqueries} sub-queries");
    assert!(subqueries > 126.0, "no splitting: {subqueries} sub-queries");
}

/// A rolling restart (SIGTERM, restart, rejoin) of every ingester under
/// continuous pushes: no push fails and every acknowledged entry is
/// returned exactly once, from the ingesters and the flushed chunks.
#[test]
fn rolling_restart_of_ingesters_loses_nothing() {
    let mut c = Cluster::new(3);
    c.heartbeat = ("10s", "500ms");
    c.add("distributor-0", "distributor");
    c.add("querier-0", "querier");
    c.start_all();
    for n in ["distributor-0", "querier-0"] {
        Cluster::wait_ring(c.server(n), &ACTIVE3, Duration::from_secs(30));
    }
    let base = now_ns() - 600_000_000_000;
    let load = Load::start(vec![c.server("distributor-0").url.clone()], 2, base);
    for i in 0..3 {
        std::thread::sleep(Duration::from_secs(1));
        let name = format!("ingester-{i}");
        let t0 = Instant::now();
        c.stop(&name);
        let stopped = t0.elapsed();
        let idx = c.index(&name);
        c.start(idx);
        c.server(&name).wait_ready(Duration::from_secs(60));
        Cluster::wait_ring(c.server("distributor-0"), &ACTIVE3, Duration::from_secs(30));
        println!(
            "{name}: flushed and left in {stopped:?}, back ACTIVE after {:?}",
            t0.elapsed()
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    let (acked, failures) = load.finish();
    assert!(
        failures.is_empty(),
        "pushes failed during the rolling restart: {failures:?}"
    );
    assert!(acked.len() > 500, "only {} entries pushed", acked.len());
    assert_exactly_once(
        c.server("querier-0"),
        &acked,
        base,
        "after a rolling restart",
    );
    let chunks = walk(&c.dir.path().join("store"));
    assert!(chunks > 0, "leaving ingesters flushed nothing to the store");
}

fn walk(p: &std::path::Path) -> usize {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

//! Two rulers (`-target=ruler`) sharing rule groups through the ruler
//! ring, in a raft-backed cluster of 3 ingesters and a distributor, with a
//! real Alertmanager: each group is evaluated by exactly one ruler, each
//! alert is sent by that ruler only, a SIGKILLed ruler's groups move to the
//! survivor within one evaluation interval plus the ring's heartbeat
//! timeout, and a ruler stopped with SIGTERM leaves the ring so its groups
//! move at once.
//!
//! Each ruler sends to Alertmanager and to its own recorder (a tiny HTTP
//! server counting the alerts it is posted), which tells who sent what.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::cluster::Cluster;
use super::harness::{now_ns, Server};
use super::ruler::start_alertmanager;

const GROUPS: usize = 12;
const INTERVAL: Duration = Duration::from_secs(1);
/// `common.ring.heartbeat_timeout` of [`Cluster`].
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);
/// Polling and ring propagation (the ring client polls every 200ms).
const SLACK: Duration = Duration::from_millis(1500);

/// Group names, sorted. Names as varied as real ones: the ring places a
/// group by the FNV-1a hash of `tenant/namespace/group` (as Loki does),
/// which keeps names differing only in a last digit (`g01`, `g02`) close,
/// so usually on one ruler.
const NAMES: [&str; GROUPS] = [
    "api",
    "billing",
    "checkout",
    "database",
    "email",
    "frontend",
    "gateway",
    "history",
    "inventory",
    "jobs",
    "kafka",
    "ledger",
];

fn group_name(i: usize) -> String {
    NAMES[i].to_string()
}

/// Two namespaces of `GROUPS / 2` groups, each one alert firing while the
/// `app="ha"` stream has lines in the last 10 minutes, `for: 0s`.
fn write_rules(dir: &std::path::Path) {
    let tenant = dir.join("rules").join("fake");
    std::fs::create_dir_all(&tenant).unwrap();
    for (ns, range) in [("ns-a", 0..GROUPS / 2), ("ns-b", GROUPS / 2..GROUPS)] {
        let mut y = String::from("groups:\n");
        for i in range {
            y += &format!(
                "  - name: {g}
    interval: 1s
    rules:
      - alert: HaAlert
        expr: sum by (app) (count_over_time({{app=\"ha\"}}[10m])) > 0
        for: 0s
        labels:
          rule_group: {g}
",
                g = group_name(i)
            );
        }
        std::fs::write(tenant.join(format!("{ns}.yaml")), y).unwrap();
    }
}

/// An HTTP endpoint that answers 200 to everything and keeps, for each
/// alert posted to it, when it arrived and its `rule_group` label.
struct Recorder {
    url: String,
    got: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let g = g.clone();
                std::thread::spawn(move || serve(conn, &g));
            }
        });
        Recorder { url, got }
    }

    /// The groups whose alerts arrived in `[from, to)`.
    fn groups_between(&self, from: Instant, to: Instant) -> BTreeSet<String> {
        let got = self.got.lock().unwrap();
        got.iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, g)| g.clone())
            .collect()
    }

    /// When an alert of `group` first arrived at or after `from`.
    fn first_after(&self, group: &str, from: Instant) -> Option<Instant> {
        let got = self.got.lock().unwrap();
        got.iter()
            .filter(|(t, g)| *t >= from && g == group)
            .map(|(t, _)| *t)
            .min()
    }
}

/// HTTP/1.1 with keep-alive, `Content-Length` bodies (what reqwest sends).
fn serve(conn: TcpStream, got: &Mutex<Vec<(Instant, String)>>) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            let h = h.to_ascii_lowercase();
            if let Some(v) = h.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let now = Instant::now();
        if let Ok(Value::Array(alerts)) = serde_json::from_slice::<Value>(&body) {
            let mut g = got.lock().unwrap();
            for a in alerts {
                if let Some(name) = a["labels"]["rule_group"].as_str() {
                    g.push((now, name.to_string()));
                }
            }
        }
        if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// A ruler's own view (not its peers'): `/prometheus/api/v1/rules` asked
/// as another ruler would, group → (lastEvaluation, alert state).
fn own_groups(s: &Server) -> BTreeMap<String, (String, String)> {
    let v: Value = s
        .client
        .get(format!("{}/prometheus/api/v1/rules", s.url))
        .header("X-Sluice-Ruler-Local", "true")
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_string(),
                (
                    g["lastEvaluation"].as_str().unwrap().to_string(),
                    g["rules"][0]["state"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

/// The `rule_group` labels of a ruler's own active alerts.
fn own_alerts(s: &Server) -> Vec<String> {
    let v: Value = s
        .client
        .get(format!("{}/prometheus/api/v1/alerts", s.url))
        .header("X-Sluice-Ruler-Local", "true")
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "firing")
        .map(|a| a["labels"]["rule_group"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until the two rulers own disjoint, non-empty sets of groups that
/// together are all of them, every group evaluated and firing; returns
/// the two sets.
fn wait_shared(a: &Server, b: &Server, limit: Duration) -> (BTreeSet<String>, BTreeSet<String>) {
    let all: BTreeSet<String> = (0..GROUPS).map(group_name).collect();
    let t0 = Instant::now();
    loop {
        let (ga, gb) = (own_groups(a), own_groups(b));
        let firing =
            |g: &BTreeMap<String, (String, String)>| g.values().all(|(_, state)| state == "firing");
        let (sa, sb) = (names(&ga), names(&gb));
        let union: BTreeSet<String> = sa.union(&sb).cloned().collect();
        let shared = sa.is_disjoint(&sb) && union == all && !sa.is_empty() && !sb.is_empty();
        if shared && firing(&ga) && firing(&gb) {
            return (sa, sb);
        }
        if t0.elapsed() > limit {
            let ring = |s: &Server| s.get("/ruler/ring", &[("format", "json".into())]).1;
            let loaded = |s: &Server| s.get("/loki/api/v1/rules", &[]).0;
            let merged = |s: &Server| s.get("/prometheus/api/v1/rules", &[]).1;
            panic!(
                "rulers never shared the groups: {ga:?} / {gb:?}\nruler ring via a: {}\nvia b: {}\nloaded: {} {}\nmerged a: {}\nmerged b: {}",
                ring(a),
                ring(b),
                loaded(a),
                loaded(b),
                merged(a),
                merged(b),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn names(g: &BTreeMap<String, (String, String)>) -> BTreeSet<String> {
    g.keys().cloned().collect()
}

/// Waits until `s` evaluates every group (each with a lastEvaluation);
/// returns how long that took after `since`.
fn wait_owns_all(s: &Server, since: Instant, limit: Duration) -> Duration {
    loop {
        let g = own_groups(s);
        let evaluated = g
            .values()
            .filter(|(last, state)| !last.starts_with("0001-") && state == "firing")
            .count();
        if g.len() == GROUPS && evaluated == GROUPS {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < limit,
            "survivor did not take the groups over in {limit:?}: {g:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_rulers_share_groups_and_take_over_from_a_dead_one() {
    let started = Instant::now();
    let mut c = Cluster::new(3);
    let am = start_alertmanager(&c.dir.path().join("alertmanager"));
    let recorders = [Recorder::start(), Recorder::start()];
    c.add("distributor-0", "distributor");
    for (i, rec) in recorders.iter().enumerate() {
        let name = format!("ruler-{i}");
        let idx = c.add(&name, "ruler");
        // the same rule files in each ruler's own directory, as a shared
        // object store would give them
        write_rules(&c.dir.path().join(&name));
        c.nodes[idx].extra = format!(
            "ruler:\n  alertmanager_url: {},{}\n  evaluation_interval: 1s\n  poll_interval: 1s\n  resend_delay: 1s\n",
            am.url, rec.url
        );
    }
    c.start_all();
    let ingesters = [
        ("ingester-0", "ACTIVE"),
        ("ingester-1", "ACTIVE"),
        ("ingester-2", "ACTIVE"),
    ];
    Cluster::wait_ring(
        c.server("distributor-0"),
        &ingesters,
        Duration::from_secs(30),
    );
    let body = json!({"streams": [{"stream": {"app": "ha"}, "values": [
        [now_ns().to_string(), "level=error msg=\"something is wrong\""],
    ]}]});
    let t0 = Instant::now();
    while c.server("distributor-0").push_json(&body).status() != 204 {
        assert!(t0.elapsed() < Duration::from_secs(10), "cannot push");
        std::thread::sleep(Duration::from_millis(50));
    }

    // 1. each group is evaluated by exactly one ruler, both rulers own some
    let (r0, r1) = (c.server("ruler-0"), c.server("ruler-1"));
    let (own0, own1) = wait_shared(r0, r1, Duration::from_secs(30));
    println!(
        "groups shared after {:?}: ruler-0 {own0:?}, ruler-1 {own1:?}",
        t0.elapsed()
    );
    // settle: notifications queued before the ring settled are out
    std::thread::sleep(Duration::from_secs(1));
    let before = (own_groups(r0), own_groups(r1));
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let after = (own_groups(r0), own_groups(r1));
    let window_end = Instant::now();
    for (name, b, a) in [
        ("ruler-0", &before.0, &after.0),
        ("ruler-1", &before.1, &after.1),
    ] {
        assert_eq!(names(b), names(a), "{name}'s groups moved");
        for (g, (last, _)) in a {
            assert!(
                *last > b[g].0,
                "{name} stopped evaluating {g}: {} then {last}",
                b[g].0
            );
        }
    }
    // any ruler's API (Loki's sharded view) lists every group exactly once
    for s in [r0, r1] {
        let v = s.get_json("/prometheus/api/v1/rules", &[]);
        let names: Vec<&str> = v["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        let want: Vec<String> = (0..GROUPS).map(group_name).collect();
        assert_eq!(names, want, "merged rules view");
        let alerts = s.get_json("/prometheus/api/v1/alerts", &[]);
        assert_eq!(alerts["data"]["alerts"].as_array().unwrap().len(), GROUPS);
    }

    // 2. no double notifications: each ruler's alerts are its own groups',
    // and only it posts them
    let (a0, a1) = (own_alerts(r0), own_alerts(r1));
    assert_eq!(a0.iter().cloned().collect::<BTreeSet<_>>(), own0);
    assert_eq!(a1.iter().cloned().collect::<BTreeSet<_>>(), own1);
    assert_eq!(a0.len() + a1.len(), GROUPS, "{a0:?} {a1:?}");
    let sent0 = recorders[0].groups_between(window, window_end);
    let sent1 = recorders[1].groups_between(window, window_end);
    assert_eq!(sent0, own0, "ruler-0 sent alerts of groups it does not own");
    assert_eq!(sent1, own1, "ruler-1 sent alerts of groups it does not own");
    let am_alerts: Value = reqwest::blocking::get(format!("{}/api/v2/alerts", am.url))
        .unwrap()
        .json()
        .unwrap();
    let in_am: Vec<&str> = am_alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "HaAlert")
        .map(|a| a["labels"]["rule_group"].as_str().unwrap())
        .collect();
    assert_eq!(in_am.len(), GROUPS, "alertmanager: {in_am:?}");
    assert_eq!(in_am.iter().collect::<BTreeSet<_>>().len(), GROUPS);

    // 3. SIGKILL ruler-1: ruler-0 evaluates and sends its groups within
    // one interval plus the heartbeat timeout
    c.kill("ruler-1");
    let killed = Instant::now();
    let r0 = c.server("ruler-0");
    let budget = INTERVAL + HEARTBEAT_TIMEOUT + SLACK;
    let took = wait_owns_all(r0, killed, budget);
    let sent = own1
        .iter()
        .map(|g| loop {
            if let Some(t) = recorders[0].first_after(g, killed) {
                break t - killed;
            }
            assert!(killed.elapsed() < budget, "ruler-0 never sent {g}'s alert");
            std::thread::sleep(Duration::from_millis(50));
        })
        .max()
        .unwrap();
    println!(
        "SIGKILL: ruler-0 evaluated ruler-1's groups {took:?} after the kill, sent their alerts after {sent:?} (budget {budget:?})"
    );
    assert!(sent <= budget);

    // restart ruler-1: the groups are shared again; SIGTERM ruler-0, which
    // leaves the ring, so ruler-1 takes over without the heartbeat timeout
    let i1 = c.index("ruler-1");
    c.start(i1);
    c.server("ruler-1").wait_ready(Duration::from_secs(30));
    let (r0, r1) = (c.server("ruler-0"), c.server("ruler-1"));
    let (own0, _) = wait_shared(r0, r1, Duration::from_secs(30));
    let i0 = c.index("ruler-0");
    let server0 = c.nodes[i0].server.take().unwrap();
    let stopping = Instant::now();
    let stopper = std::thread::spawn(move || server0.stop());
    let r1 = c.server("ruler-1");
    let took = wait_owns_all(r1, stopping, INTERVAL + SLACK);
    stopper.join().unwrap();
    println!(
        "SIGTERM: ruler-1 evaluated ruler-0's {} groups {took:?} after the signal",
        own0.len()
    );
    println!("test took {:?}", started.elapsed());
}

//! The ruler end to end: alert rules evaluated by a real `sluice` fire
//! into a real Alertmanager (Debian's `prometheus-alertmanager`) and
//! resolve, recording rules' samples arrive in a real Prometheus (Debian's
//! `prometheus`, remote-write receiver on) and come back from PromQL, and
//! the ruler API round-trips a rule group. Alertmanager and Prometheus run
//! on loopback ports with their own temporary storage; scripts/test-all
//! installs them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::harness::{self, free_port, now_ns, Server};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const PROMETHEUS: &str = "/usr/bin/prometheus";

/// A helper process (Alertmanager, Prometheus), killed when dropped.
pub struct Proc {
    child: Child,
    pub url: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require(bin: &str) {
    assert!(
        Path::new(bin).exists(),
        "{bin} is missing: run scripts/test-all, which installs Debian's prometheus and prometheus-alertmanager"
    );
}

fn wait_ready(client: &reqwest::blocking::Client, url: &str, what: &str) {
    let t0 = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{url}/-/ready")).send() {
            if r.status() == 200 {
                return;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{what} not ready at {url}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn start_alertmanager(dir: &Path) -> Proc {
    require(ALERTMANAGER);
    std::fs::create_dir_all(dir.join("am")).unwrap();
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let port = free_port();
    spawn_ready(
        ALERTMANAGER,
        port,
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.path={}", dir.join("am").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".into(),
        ],
    )
}

/// Starts `bin` with `args`, listening on `port`, and waits for `/-/ready`.
fn spawn_ready(bin: &str, port: u16, args: &[String]) -> Proc {
    let child = Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin}: {e}"));
    let p = Proc {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    wait_ready(&reqwest::blocking::Client::new(), &p.url, bin);
    p
}

fn start_prometheus(dir: &Path) -> Proc {
    require(PROMETHEUS);
    std::fs::create_dir_all(dir).unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1m\n").unwrap();
    let port = free_port();
    spawn_ready(
        PROMETHEUS,
        port,
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--web.enable-remote-write-receiver".into(),
        ],
    )
}

fn write_rules(data: &Path, tenant: &str, file: &str, yaml: &str) {
    let dir = data.join("rules").join(tenant);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), yaml).unwrap();
}

fn push_lines(s: &Server, lines: &[(i64, String)]) {
    let values: Vec<Value> = lines
        .iter()
        .map(|(ts, l)| json!([ts.to_string(), l]))
        .collect();
    let r = s.push_json(&json!({"streams": [{"stream": {"app": "api"}, "values": values}]}));
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap_or_default());
}

/// The alerts Alertmanager holds that are still active (not yet ended).
fn am_alerts(client: &reqwest::blocking::Client, am: &Proc) -> Vec<Value> {
    let v: Value = client
        .get(format!("{}/api/v2/alerts", am.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "ApiErrors")
        .filter(|a| {
            let ends = a["endsAt"].as_str().unwrap_or("");
            ends.is_empty() || ends > chrono_now().as_str()
        })
        .cloned()
        .collect()
}

/// Now as RFC3339 in UTC, comparable as a string with Alertmanager's
/// timestamps (both `YYYY-MM-DDTHH:MM:SS...Z`).
fn chrono_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn sluice_alert_state(s: &Server) -> String {
    let v = s.get_json("/prometheus/api/v1/rules", &[]);
    v["data"]["groups"][0]["rules"][0]["state"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// `sum(count_over_time({app="api"} |= "error" [1m])) > 5` with `for: 30s`:
/// pending while the `for` runs (nothing in Alertmanager), firing into
/// Alertmanager with the rule's labels and rendered annotations while
/// errors are pushed, resolved once they stop. The lines carry timestamps
/// 50s in the past, so they leave the 1m window 10s after the pushing
/// stops and the test runs in under a minute.
#[test]
fn alert_fires_into_alertmanager_and_resolves() {
    let tmp = tempfile::tempdir().unwrap();
    let am = start_alertmanager(&tmp.path().join("alertmanager"));
    let data = tmp.path().join("sluice");
    write_rules(
        &data,
        "fake",
        "api.yaml",
        r#"groups:
  - name: api-errors
    interval: 1s
    rules:
      - alert: ApiErrors
        expr: sum(count_over_time({app="api"} |= "error" [1m])) > 5
        for: 30s
        labels:
          severity: page
          team: '{{ if gt $value 5.0 }}core{{ end }}'
        annotations:
          summary: 'api logged {{ $value }} errors in a minute'
          human: 'about {{ humanize $value }} errors'
"#,
    );
    let s = harness::start(
        &data,
        &format!(
            "ruler:\n  alertmanager_url: {}\n  evaluation_interval: 1s\n  poll_interval: 1s\n  resend_delay: 2s\n",
            am.url
        ),
    );
    let client = reqwest::blocking::Client::new();

    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let stop = stop.clone();
        let url = s.url.clone();
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let body = json!({"streams": [{"stream": {"app": "api"}, "values": [
                    [(now_ns() - 50_000_000_000).to_string(), format!("level=error msg=\"boom {n}\"")],
                    [(now_ns() - 50_000_000_000 + 1).to_string(), format!("level=info msg=\"fine {n}\"")],
                ]}]});
                let r = http
                    .post(format!("{url}/loki/api/v1/push"))
                    .json(&body)
                    .send()
                    .unwrap();
                assert_eq!(r.status().as_u16(), 204);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let t0 = Instant::now();

    // pending first: Sluice knows, Alertmanager does not
    let pending_at = loop {
        if sluice_alert_state(&s) == "pending" {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "alert never went pending"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let alerts = s.get_json("/prometheus/api/v1/alerts", &[]);
    assert_eq!(alerts["data"]["alerts"][0]["state"], "pending", "{alerts}");
    assert!(
        am_alerts(&client, &am).is_empty(),
        "a pending alert must not be sent"
    );

    // firing after `for`, in Alertmanager with labels and annotations
    let alert = loop {
        if let Some(a) = am_alerts(&client, &am).into_iter().next() {
            break a;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "alert never reached alertmanager"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let fired_after = t0.elapsed() - pending_at;
    assert!(
        fired_after >= Duration::from_secs(29),
        "fired {fired_after:?} after going pending, before its for: 30s"
    );
    assert_eq!(alert["labels"]["alertname"], "ApiErrors");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["team"], "core");
    let summary = alert["annotations"]["summary"].as_str().unwrap();
    let count: f64 = summary
        .strip_prefix("api logged ")
        .and_then(|r| r.strip_suffix(" errors in a minute"))
        .unwrap_or_else(|| panic!("summary not rendered: {summary}"))
        .parse()
        .unwrap();
    assert!(count > 5.0, "{summary}");
    assert!(alert["annotations"]["human"]
        .as_str()
        .unwrap()
        .starts_with("about "));
    assert_eq!(sluice_alert_state(&s), "firing");

    // errors stop: the alert resolves in Sluice and in Alertmanager
    stop.store(true, Ordering::SeqCst);
    pusher.join().unwrap();
    let stopped = Instant::now();
    loop {
        if am_alerts(&client, &am).is_empty() {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "alert never resolved in alertmanager"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(sluice_alert_state(&s), "inactive");
    let alerts = s.get_json("/prometheus/api/v1/alerts", &[]);
    assert_eq!(alerts["data"]["alerts"], json!([]), "{alerts}");
    s.stop();
}

/// A recording rule's samples go through remote_write into Prometheus and
/// come back from a PromQL query there.
#[test]
fn recording_rule_samples_reach_prometheus() {
    let tmp = tempfile::tempdir().unwrap();
    let prom = start_prometheus(&tmp.path().join("prometheus"));
    let data = tmp.path().join("sluice");
    write_rules(
        &data,
        "fake",
        "recording.yaml",
        r#"groups:
  - name: api-recording
    interval: 1s
    rules:
      - record: api:error_lines:count1m
        expr: sum by (app) (count_over_time({app="api"} |= "error" [1m]))
        labels:
          source: sluice
      - alert: ApiErrorLines
        expr: sum by (app) (count_over_time({app="api"} |= "error" [1m])) > 5
        for: 10m
"#,
    );
    let s = harness::start(
        &data,
        &format!(
            "ruler:\n  evaluation_interval: 1s\n  remote_write:\n    enabled: true\n    clients:\n      prom:\n        url: {}/api/v1/write\n",
            prom.url
        ),
    );
    let now = now_ns();
    let lines: Vec<(i64, String)> = (0..10)
        .map(|i| (now - 5_000_000_000 + i, format!("level=error n={i}")))
        .chain((0..4).map(|i| (now - 4_000_000_000 + i, format!("level=info n={i}"))))
        .collect();
    push_lines(&s, &lines);

    let client = reqwest::blocking::Client::new();
    let t0 = Instant::now();
    let result = loop {
        let v: Value = client
            .get(format!("{}/api/v1/query", prom.url))
            .query(&[("query", "api:error_lines:count1m")])
            .send()
            .unwrap()
            .json()
            .unwrap();
        let r = v["data"]["result"].as_array().cloned().unwrap_or_default();
        if let Some(x) = r.first() {
            if x["value"][1] == "10" {
                break r;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no recorded samples in prometheus: {v}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(result.len(), 1);
    let metric = &result[0]["metric"];
    assert_eq!(metric["__name__"], "api:error_lines:count1m");
    assert_eq!(metric["app"], "api");
    assert_eq!(metric["source"], "sluice");

    // the pending alert's ALERTS and ALERTS_FOR_STATE series are written too
    let series = |q: &str| -> Vec<Value> {
        let t0 = Instant::now();
        loop {
            let v: Value = client
                .get(format!("{}/api/v1/query", prom.url))
                .query(&[("query", q)])
                .send()
                .unwrap()
                .json()
                .unwrap();
            let r = v["data"]["result"].as_array().cloned().unwrap_or_default();
            if !r.is_empty() {
                return r;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "no {q} in prometheus: {v}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let alerts = series(r#"ALERTS{alertname="ApiErrorLines"}"#);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["metric"]["alertstate"], "pending");
    assert_eq!(alerts[0]["metric"]["app"], "api");
    assert_eq!(alerts[0]["value"][1], "1");
    let for_state = series(r#"ALERTS_FOR_STATE{alertname="ApiErrorLines"}"#);
    let active_at: f64 = for_state[0]["value"][1].as_str().unwrap().parse().unwrap();
    let now_s = now_ns() as f64 / 1e9;
    assert!(
        active_at <= now_s && active_at > now_s - 60.0,
        "{for_state:?}"
    );
    assert!(for_state[0]["metric"].get("alertstate").is_none());
    s.stop();
}

const GROUP: &str = r#"name: api
interval: 1s
rules:
  - alert: ApiErrors
    expr: sum(count_over_time({app="api"} |= "error" [1m])) > 5
    for: 30s
    labels:
      severity: page
    annotations:
      summary: '{{ $value }} errors'
  - record: api:lines:count1m
    expr: sum(count_over_time({app="api"}[1m]))
"#;

/// POST a group, read it back (Loki's YAML, Prometheus's JSON), DELETE it.
#[test]
fn ruler_api_round_trips_a_group() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("sluice");
    let s = harness::start(&data, "ruler:\n  evaluation_interval: 1s\n");
    let (status, body) = s.get("/loki/api/v1/rules", &[]);
    assert_eq!((status, body.trim()), (404, "no rule groups found"));

    let post = |ns: &str, body: &str| {
        s.client
            .post(format!("{}/loki/api/v1/rules/{ns}", s.url))
            .header("Content-Type", "application/yaml")
            .body(body.to_string())
            .send()
            .unwrap()
    };
    let r = post("team-a", GROUP);
    assert_eq!(r.status().as_u16(), 202);
    assert_eq!(r.json::<Value>().unwrap()["status"], "success");
    assert!(
        data.join("rules/fake/team-a").exists(),
        "stored in the rules directory"
    );

    let want: serde_yaml::Value = serde_yaml::from_str(GROUP).unwrap();
    let (status, body) = s.get("/loki/api/v1/rules/team-a/api", &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_yaml::from_str::<serde_yaml::Value>(&body).unwrap(),
        want
    );
    for path in [
        "/loki/api/v1/rules",
        "/loki/api/v1/rules/team-a",
        "/api/prom/rules/team-a",
    ] {
        let (status, body) = s.get(path, &[]);
        assert_eq!(status, 200, "{path}: {body}");
        let v: serde_yaml::Value = serde_yaml::from_str(&body).unwrap();
        assert_eq!(v["team-a"][0], want, "{path}");
    }

    // Prometheus's shape once the group has been evaluated
    let t0 = Instant::now();
    let g = loop {
        let v = s.get_json("/prometheus/api/v1/rules", &[]);
        assert_eq!(v["status"], "success");
        let g = v["data"]["groups"][0].clone();
        if g["rules"][0]["health"] == "ok" && g["rules"][1]["health"] == "ok" {
            break g;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "group never evaluated: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(g["name"], "api");
    assert_eq!(g["file"], "team-a");
    assert_eq!(g["interval"], 1.0);
    assert!(g["lastEvaluation"].as_str().unwrap().ends_with('Z'));
    let alerting = &g["rules"][0];
    assert_eq!(alerting["type"], "alerting");
    assert_eq!(alerting["name"], "ApiErrors");
    assert_eq!(alerting["state"], "inactive");
    assert_eq!(alerting["duration"], 30.0);
    assert_eq!(alerting["labels"]["severity"], "page");
    assert_eq!(alerting["annotations"]["summary"], "{{ $value }} errors");
    assert_eq!(alerting["alerts"], json!([]));
    assert!(alerting["evaluationTime"].is_number());
    let recording = &g["rules"][1];
    assert_eq!(recording["type"], "recording");
    assert_eq!(
        recording["query"],
        "sum(count_over_time({app=\"api\"}[1m]))"
    );
    let only_rec = s.get_json("/prometheus/api/v1/rules", &[("type", "record".into())]);
    assert_eq!(
        only_rec["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // a bad group is refused with the rule named, and changes nothing
    let r = post(
        "team-a",
        "name: api\nrules:\n  - alert: Broken\n    expr: 'sum(rate({app=\"api\"}[1m]) >'\n",
    );
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().unwrap();
    assert!(
        text.contains("group \"api\"") && text.contains("rule \"Broken\""),
        "{text}"
    );
    let (_, body) = s.get("/loki/api/v1/rules/team-a/api", &[]);
    assert_eq!(
        serde_yaml::from_str::<serde_yaml::Value>(&body).unwrap(),
        want
    );

    let r = s
        .client
        .delete(format!("{}/loki/api/v1/rules/team-a/api", s.url))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let (status, _) = s.get("/loki/api/v1/rules/team-a/api", &[]);
    assert_eq!(status, 404);
    let (status, _) = s.get("/loki/api/v1/rules", &[]);
    assert_eq!(status, 404);
    let v = s.get_json("/prometheus/api/v1/rules", &[]);
    assert_eq!(v["data"]["groups"], json!([]));
    s.stop();
}

/// With `ruler.storage.type: object`, rule groups live in the chunk store:
/// a group POSTed to one process is stored there and served by another
/// process sharing the store after its next sync.
#[test]
fn rule_groups_in_object_storage_are_shared() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let extra = format!(
        "storage_config:\n  filesystem:\n    directory: {}\nruler:\n  evaluation_interval: 1s\n  poll_interval: 1s\n  storage:\n    type: object\n",
        store.display()
    );
    let a = harness::start(&tmp.path().join("a"), &extra);
    let b = harness::start(&tmp.path().join("b"), &extra);
    let r = a
        .client
        .post(format!("{}/loki/api/v1/rules/team-a", a.url))
        .header("Content-Type", "application/yaml")
        .body(GROUP.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    assert!(
        store.join("rules/fake/team-a").exists(),
        "the group is stored in the object store"
    );
    let want: serde_yaml::Value = serde_yaml::from_str(GROUP).unwrap();
    let t0 = std::time::Instant::now();
    loop {
        let (status, body) = b.get("/loki/api/v1/rules/team-a/api", &[]);
        if status == 200 {
            assert_eq!(
                serde_yaml::from_str::<serde_yaml::Value>(&body).unwrap(),
                want
            );
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(15),
            "the other process never served the group: {status} {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let r = b
        .client
        .delete(format!("{}/loki/api/v1/rules/team-a/api", b.url))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let t0 = std::time::Instant::now();
    while a.get("/loki/api/v1/rules/team-a/api", &[]).0 != 404 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(15),
            "the delete did not reach the other process"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// An alert pending when Sluice restarts does not start its `for` over:
/// the expression already held `for` ago, so after the restart (and the
/// group's second evaluation) the alert fires at once, as with Loki's
/// ruler. A group without that history stays pending.
#[test]
fn alert_for_state_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("sluice");
    write_rules(
        &data,
        "fake",
        "api.yaml",
        r#"groups:
  - name: held
    interval: 1s
    rules:
      - alert: ErrorsForMinutes
        expr: sum(count_over_time({app="api"} |= "boom" [10m])) > 0
        for: 2m
  - name: fresh
    interval: 1s
    rules:
      - alert: ErrorsJustNow
        expr: sum(count_over_time({app="api"} |= "recent" [30s])) > 0
        for: 2m
"#,
    );
    let cfg = "ruler:\n  evaluation_interval: 1s\n  for_grace_period: 1s\n";
    let state = |s: &Server, group: &str| {
        let v = s.get_json("/prometheus/api/v1/rules", &[]);
        v["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == group)
            .map(|g| g["rules"][0]["state"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    let s = harness::start(&data, cfg);
    // `boom` lines from 5 to 4 minutes ago, within `held`'s 10m window now
    // and 2 minutes ago; a `recent` line only now
    let now = now_ns();
    let mut values: Vec<Value> = (0..5)
        .map(|i| {
            json!([
                (now - 300_000_000_000 + i * 15_000_000_000).to_string(),
                "level=error boom"
            ])
        })
        .collect();
    values.push(json!([
        (now - 5_000_000_000).to_string(),
        "level=error recent"
    ]));
    let r = s.push_json(&json!({"streams": [{"stream": {"app": "api"}, "values": values}]}));
    assert_eq!(r.status().as_u16(), 204);
    let t0 = Instant::now();
    while state(&s, "held") != "pending" || state(&s, "fresh") != "pending" {
        assert!(t0.elapsed() < Duration::from_secs(20), "never pending");
        std::thread::sleep(Duration::from_millis(100));
    }
    s.stop();

    let s = harness::start(&data, cfg);
    let t0 = Instant::now();
    while state(&s, "held") != "firing" {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the restored alert did not fire: {}",
            state(&s, "held")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(state(&s, "fresh"), "pending");
    s.stop();
}

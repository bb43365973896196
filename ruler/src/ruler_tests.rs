#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use sluice_logql::labels::Labels;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Returns one sample per query and counts the queries.
struct FakeEngine {
    value: f64,
    queries: AtomicUsize,
}

#[async_trait::async_trait]
impl QueryEngine for FakeEngine {
    async fn instant(&self, _: &str, _: &str, ts: i64) -> Result<Vec<Sample>, String> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        Ok(vec![Sample {
            metric: Labels::new(vec![("app".into(), "api".into())]),
            ts,
            value: self.value,
        }])
    }
}

struct OwnNone;

impl GroupOwnership for OwnNone {
    fn owns(&self, _: &str, _: &str, _: &str) -> bool {
        false
    }
}

const RULES: &str = "groups:\n- name: g\n  interval: 20ms\n  rules:\n  - alert: A\n    expr: 'sum(count_over_time({app=\"api\"}[1m])) > 5'\n";

async fn wait_for(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn evaluates_owned_groups_and_reloads_changes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("fake")).unwrap();
    std::fs::write(dir.path().join("fake/ns.yaml"), RULES).unwrap();
    let engine = Arc::new(FakeEngine {
        value: 7.0,
        queries: AtomicUsize::new(0),
    });
    let cfg = RulerConfig {
        poll_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let ruler = Ruler::new(cfg, dir.path().to_path_buf(), engine.clone());
    ruler.sync(false);
    wait_for(|| {
        ruler
            .statuses("fake")
            .first()
            .is_some_and(|g| g.rules[0].alerts.state() == crate::alert::AlertState::Firing)
    })
    .await;
    let st = &ruler.statuses("fake")[0];
    assert_eq!(st.rules[0].health, Health::Ok);
    assert_eq!(st.interval, Duration::from_millis(20));

    // a bad edit is rejected and the old group keeps running
    std::fs::write(
        dir.path().join("fake/ns.yaml"),
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'nope('\n",
    )
    .unwrap();
    ruler.sync(true);
    assert_eq!(
        ruler.namespaces("fake")["ns.yaml"][0].rules[0].expr,
        "sum(count_over_time({app=\"api\"}[1m])) > 5"
    );
    let before = engine.queries.load(Ordering::SeqCst);
    wait_for(|| engine.queries.load(Ordering::SeqCst) > before + 2).await;

    // another ruler owns it: evaluation stops here
    ruler.set_ownership(Arc::new(OwnNone));
    tokio::time::sleep(Duration::from_millis(30)).await;
    let stopped = engine.queries.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(engine.queries.load(Ordering::SeqCst), stopped);
    // and the group is not listed here: its owner shows it
    assert!(ruler.statuses("fake").is_empty());
    ruler.set_ownership(Arc::new(crate::OwnAll));
    assert_eq!(ruler.statuses("fake").len(), 1);
    ruler.stop();
    assert!(ruler.statuses("fake").is_empty());
    ruler.set_ownership(Arc::new(OwnNone));

    // deleting the file removes the group
    std::fs::remove_file(dir.path().join("fake/ns.yaml")).unwrap();
    ruler.sync(false);
    assert!(ruler.statuses("fake").is_empty());
    assert!(ruler.namespaces("fake").is_empty());
}

#[tokio::test]
async fn query_errors_mark_the_rule_unhealthy() {
    struct Failing;
    #[async_trait::async_trait]
    impl QueryEngine for Failing {
        async fn instant(&self, _: &str, _: &str, _: i64) -> Result<Vec<Sample>, String> {
            Err("boom".into())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("t")).unwrap();
    std::fs::write(dir.path().join("t/ns"), RULES).unwrap();
    let ruler = Ruler::new(
        RulerConfig::default(),
        dir.path().to_path_buf(),
        Arc::new(Failing),
    );
    ruler.sync(false);
    wait_for(|| {
        ruler
            .statuses("t")
            .first()
            .is_some_and(|g| g.rules[0].health == Health::Err)
    })
    .await;
    assert_eq!(ruler.statuses("t")[0].rules[0].last_error, "boom");
}

#[test]
fn series_gone_since_the_last_evaluation_get_staleness_markers() {
    let rec = |name: &str, v: f64| Recorded {
        tenant: "t".into(),
        labels: vec![("__name__".into(), name.into())],
        value: v,
        timestamp_ms: 0,
    };
    let none = |_: &[(String, String)]| false;
    let mut written = BTreeSet::new();
    let out = with_stale_markers(
        &mut written,
        vec![rec("a", 1.0), rec("b", 2.0)],
        none,
        "t",
        0,
    );
    assert_eq!(out.len(), 2, "nothing was written before");
    // b is gone at 5 s: a marker for it, timestamped at this evaluation
    let out = with_stale_markers(&mut written, vec![rec("a", 3.0)], none, "t", 5_000_000_000);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].labels, rec("b", 0.0).labels);
    assert_eq!(out[1].value.to_bits(), STALE_NAN);
    assert_eq!(out[1].timestamp_ms, 5_000);
    // the marker is written once
    let out = with_stale_markers(&mut written, vec![rec("a", 4.0)], none, "t", 6_000_000_000);
    assert_eq!(out.len(), 1);
    // a's rule failed: no marker, and a is still remembered
    let failed_a = |l: &[(String, String)]| l.iter().any(|(_, v)| v == "a");
    let out = with_stale_markers(&mut written, vec![], failed_a, "t", 7_000_000_000);
    assert!(out.is_empty());
    assert_eq!(written.len(), 1);
    let out = with_stale_markers(&mut written, vec![], none, "t", 8_000_000_000);
    assert_eq!(out.len(), 1);
    assert!(written.is_empty());
}

/// Returns one sample per query and records the query times.
struct Recording {
    times: parking_lot::Mutex<Vec<i64>>,
}

#[async_trait::async_trait]
impl QueryEngine for Recording {
    async fn instant(&self, _: &str, _: &str, ts: i64) -> Result<Vec<Sample>, String> {
        self.times.lock().push(ts);
        Ok(vec![Sample {
            metric: Labels::new(vec![("app".into(), "api".into())]),
            ts,
            value: 7.0,
        }])
    }
}

#[tokio::test]
async fn groups_a_tenant_starts_with_restore_their_for_state() {
    const LONG: &str = "groups:\n- name: g\n  interval: 20ms\n  rules:\n  - alert: A\n    expr: 'sum(count_over_time({app=\"api\"}[1m])) > 5'\n    for: 1h\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("fake")).unwrap();
    std::fs::write(dir.path().join("fake/a.yaml"), LONG).unwrap();
    let engine = Arc::new(Recording {
        times: Default::default(),
    });
    let ruler = Ruler::new(
        RulerConfig::default(),
        dir.path().to_path_buf(),
        engine.clone(),
    );
    ruler.sync(false);
    let state = |ns: &str| {
        ruler
            .statuses("fake")
            .into_iter()
            .find(|g| g.key.namespace == ns)
            .map(|g| (g.rules[0].alerts.state(), g.restore_in))
    };
    // the expression held an hour ago as well: firing long before its `for`
    wait_for(|| state("a.yaml").is_some_and(|s| s.0 == crate::alert::AlertState::Firing)).await;
    assert_eq!(state("a.yaml").unwrap().1, None);
    // the restore asked about `for` ago, after two evaluations
    let times = engine.times.lock().clone();
    let hour = 3_600_000_000_000;
    let at = times
        .windows(2)
        .position(|w| w[0] - w[1] > hour / 2)
        .expect("a query an hour back");
    assert_eq!(at, 1, "{times:?}");
    assert_eq!(times[1] - times[2], hour);

    // a group the tenant gains later starts afresh
    std::fs::write(dir.path().join("fake/b.yaml"), LONG).unwrap();
    ruler.sync(true);
    wait_for(|| state("b.yaml").is_some()).await;
    assert_eq!(state("b.yaml").unwrap().1, None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        state("b.yaml").unwrap().0,
        crate::alert::AlertState::Pending
    );
    ruler.stop();
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::rules::parse_file;
use sluice_logql::labels::Labels;

const S: i64 = 1_000_000_000;

fn rule(extra: &str) -> Rule {
    let y = format!(
        "groups:\n- name: g\n  rules:\n  - alert: HighErrors\n    expr: 'sum by (app) (count_over_time({{app=\"api\"}}[1m])) > 5'\n{extra}"
    );
    parse_file("f", &y).unwrap().remove(0).rules.remove(0)
}

fn sample(app: &str, v: f64) -> Sample {
    Sample {
        metric: Labels::new(vec![("app".into(), app.into())]),
        ts: 0,
        value: v,
    }
}

fn state_of(st: &AlertingState) -> Vec<AlertState> {
    st.active.values().map(|a| a.state).collect()
}

#[test]
fn pending_then_firing_after_for_then_resolved() {
    let r = rule("    for: 30s\n");
    let ctx = TemplateContext::default();
    let mut st = AlertingState::default();
    let t0 = 1_000 * S;
    st.eval(&r, t0, vec![sample("api", 7.0)], 0, &ctx).unwrap();
    assert_eq!(state_of(&st), vec![AlertState::Pending]);
    assert!(
        st.due(t0, Duration::from_secs(60), Duration::from_secs(240))
            .is_empty(),
        "pending alerts are not sent"
    );
    st.eval(&r, t0 + 29 * S, vec![sample("api", 8.0)], 0, &ctx)
        .unwrap();
    assert_eq!(st.state(), AlertState::Pending);
    st.eval(&r, t0 + 30 * S, vec![sample("api", 9.0)], 0, &ctx)
        .unwrap();
    assert_eq!(st.state(), AlertState::Firing);
    let a = st.active.values().next().unwrap();
    assert_eq!(a.fired_at, Some(t0 + 30 * S));
    assert_eq!(a.active_at, t0);
    assert_eq!(a.value, 9.0);
    let sent = st.due(
        t0 + 30 * S,
        Duration::from_secs(60),
        Duration::from_secs(240),
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].starts_at, t0 + 30 * S);
    assert_eq!(sent[0].ends_at, t0 + 270 * S);
    assert!(sent[0]
        .labels
        .contains(&("alertname".into(), "HighErrors".into())));
    // not re-sent before the resend delay, re-sent after it
    assert!(st
        .due(
            t0 + 60 * S,
            Duration::from_secs(60),
            Duration::from_secs(240)
        )
        .is_empty());
    assert_eq!(
        st.due(
            t0 + 91 * S,
            Duration::from_secs(60),
            Duration::from_secs(240)
        )
        .len(),
        1
    );
    // the expression stops returning it: resolved and sent with endsAt
    st.eval(&r, t0 + 95 * S, vec![], 0, &ctx).unwrap();
    assert_eq!(state_of(&st), vec![AlertState::Inactive]);
    let sent = st.due(
        t0 + 95 * S,
        Duration::from_secs(60),
        Duration::from_secs(240),
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].ends_at, t0 + 95 * S);
    // kept for the retention (and re-sent), then forgotten
    st.eval(&r, t0 + 95 * S + 15 * 60 * S, vec![], 0, &ctx)
        .unwrap();
    assert_eq!(st.active.len(), 1);
    st.eval(&r, t0 + 96 * S + 15 * 60 * S, vec![], 0, &ctx)
        .unwrap();
    assert!(st.active.is_empty());
}

#[test]
fn pending_alert_that_disappears_is_dropped_and_restarts() {
    let r = rule("    for: 30s\n");
    let ctx = TemplateContext::default();
    let mut st = AlertingState::default();
    st.eval(&r, 10 * S, vec![sample("api", 7.0)], 0, &ctx)
        .unwrap();
    st.eval(&r, 20 * S, vec![], 0, &ctx).unwrap();
    assert!(st.active.is_empty());
    st.eval(&r, 30 * S, vec![sample("api", 7.0)], 0, &ctx)
        .unwrap();
    st.eval(&r, 50 * S, vec![sample("api", 7.0)], 0, &ctx)
        .unwrap();
    assert_eq!(
        st.state(),
        AlertState::Pending,
        "the for clock restarted at 30s"
    );
    st.eval(&r, 60 * S, vec![sample("api", 7.0)], 0, &ctx)
        .unwrap();
    assert_eq!(st.state(), AlertState::Firing);
}

#[test]
fn no_for_fires_at_once() {
    let r = rule("");
    let mut st = AlertingState::default();
    st.eval(
        &r,
        S,
        vec![sample("api", 7.0)],
        0,
        &TemplateContext::default(),
    )
    .unwrap();
    assert_eq!(st.state(), AlertState::Firing);
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let r = rule("    keep_firing_for: 20s\n");
    let ctx = TemplateContext::default();
    let mut st = AlertingState::default();
    st.eval(&r, 100 * S, vec![sample("api", 7.0)], 0, &ctx)
        .unwrap();
    assert_eq!(st.state(), AlertState::Firing);
    st.eval(&r, 110 * S, vec![], 0, &ctx).unwrap();
    assert_eq!(st.state(), AlertState::Firing);
    assert_eq!(
        st.active.values().next().unwrap().keep_firing_since,
        Some(110 * S)
    );
    st.eval(&r, 129 * S, vec![], 0, &ctx).unwrap();
    assert_eq!(st.state(), AlertState::Firing);
    st.eval(&r, 130 * S, vec![], 0, &ctx).unwrap();
    assert_eq!(state_of(&st), vec![AlertState::Inactive]);
    // returning while kept resets the keep clock
    let mut st = AlertingState::default();
    st.eval(&r, 100 * S, vec![sample("api", 7.0)], 0, &ctx)
        .unwrap();
    st.eval(&r, 110 * S, vec![], 0, &ctx).unwrap();
    st.eval(&r, 115 * S, vec![sample("api", 7.0)], 0, &ctx)
        .unwrap();
    assert_eq!(st.active.values().next().unwrap().keep_firing_since, None);
}

#[test]
fn limit_clears_alerts() {
    let r = rule("");
    let mut st = AlertingState::default();
    let e = st
        .eval(
            &r,
            S,
            vec![sample("a", 7.0), sample("b", 7.0)],
            1,
            &TemplateContext::default(),
        )
        .unwrap_err();
    assert_eq!(e, "exceeded limit of 1 with 2 alerts");
    assert!(st.active.is_empty());
}

#[test]
fn labels_and_annotations_are_templated() {
    let r = rule(concat!(
        "    labels:\n      severity: '{{ if gt $value 100.0 }}page{{ else }}ticket{{ end }}'\n      app: 'svc-{{ $labels.app }}'\n",
        "    annotations:\n",
        "      summary: '{{ $labels.app }} logs {{ $value }} errors ({{ humanize $value }})'\n",
        "      pct: '{{ humanizePercentage 0.1234 }} {{ humanizeDuration 3661 }} {{ humanize1024 2048 }}'\n",
        "      ext: '{{ $externalLabels.cluster }} {{ .Labels.app }} {{ .Value }} {{ $labels.missing }}|'\n",
        "      bad: '{{ index $labels 1 }}'\n",
        "      re: '{{ reReplaceAll \"a(p+)i\" \"x$1\" $labels.app }} {{ toUpper \"up\" }} {{ match \"^a\" $labels.app }}'\n",
    ));
    let ctx = TemplateContext {
        external_labels: [("cluster".to_string(), "eu1".to_string())].into(),
        external_url: String::new(),
    };
    let mut st = AlertingState::default();
    st.eval(&r, S, vec![sample("api", 1234.0)], 0, &ctx)
        .unwrap();
    let a = st.active.values().next().unwrap();
    let get = |k: &str| {
        a.annotations
            .iter()
            .find(|(n, _)| n == k)
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(get("summary"), "api logs 1234 errors (1.234k)");
    assert_eq!(get("pct"), "12.34% 1h 1m 1s 2ki");
    assert_eq!(get("ext"), "eu1 api 1234 |");
    assert!(
        get("bad").starts_with("<error expanding template: "),
        "{}",
        get("bad")
    );
    assert_eq!(get("re"), "xp UP true");
    assert_eq!(
        a.labels,
        vec![
            ("alertname".to_string(), "HighErrors".to_string()),
            ("app".to_string(), "svc-api".to_string()),
            ("severity".to_string(), "page".to_string()),
        ]
    );
}

#[test]
fn duplicate_label_sets_after_templating_fail() {
    let r = rule("    labels:\n      app: same\n");
    let mut st = AlertingState::default();
    let e = st
        .eval(
            &r,
            S,
            vec![sample("a", 7.0), sample("b", 7.0)],
            0,
            &TemplateContext::default(),
        )
        .unwrap_err();
    assert!(e.contains("same labelset"), "{e}");
}

#[test]
fn alerts_series_follow_the_state() {
    let r = rule("    for: 30s\n    labels:\n      severity: page\n");
    let ctx = TemplateContext::default();
    let mut st = AlertingState::default();
    let t0 = 1_000 * S + 400_000_000;
    let l = |pairs: &[(&str, &str)]| -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    st.eval(&r, t0, vec![sample("api", 7.0)], 0, &ctx).unwrap();
    let pending = l(&[
        ("__name__", "ALERTS"),
        ("alertname", "HighErrors"),
        ("alertstate", "pending"),
        ("app", "api"),
        ("severity", "page"),
    ]);
    let for_state = l(&[
        ("__name__", "ALERTS_FOR_STATE"),
        ("alertname", "HighErrors"),
        ("app", "api"),
        ("severity", "page"),
    ]);
    assert_eq!(
        st.series(),
        vec![(pending, 1.0), (for_state.clone(), 1_000.0)]
    );
    st.eval(&r, t0 + 30 * S, vec![sample("api", 9.0)], 0, &ctx)
        .unwrap();
    let firing = st.series();
    assert_eq!(firing[0].0[2], ("alertstate".into(), "firing".into()));
    assert_eq!(
        firing[1],
        (for_state, 1_000.0),
        "active since the first eval"
    );
    // resolved: no series any more
    st.eval(&r, t0 + 31 * S, vec![], 0, &ctx).unwrap();
    assert!(st.series().is_empty());
}

#[test]
fn restore_counts_an_alert_active_since_for_ago() {
    let ctx = TemplateContext::default();
    let grace = Duration::from_secs(600);
    let ts = 10_000 * S + 123_456_789;
    let r = rule("    for: 15m\n    labels:\n      team: core\n");
    let mut st = AlertingState::default();
    // restarted: both alerts are new, pending since now
    st.eval(
        &r,
        ts - S,
        vec![sample("api", 7.0), sample("web", 9.0)],
        0,
        &ctx,
    )
    .unwrap();
    // `for` ago the expression returned api only: api restores
    st.restore(&r, ts, &[sample("api", 6.0)], grace, &ctx);
    let at = |app: &str| {
        st.active
            .values()
            .find(|a| a.labels.contains(&("app".to_string(), app.to_string())))
            .unwrap()
            .active_at
    };
    assert_eq!(at("api"), (ts - 900 * S).div_euclid(S) * S);
    assert_eq!(at("web"), ts - S);
    // so api fires at its next evaluation, web waits its `for`
    st.eval(
        &r,
        ts + S,
        vec![sample("api", 7.0), sample("web", 9.0)],
        0,
        &ctx,
    )
    .unwrap();
    let state = |st: &AlertingState, app: &str| {
        st.active
            .values()
            .find(|a| a.labels.contains(&("app".to_string(), app.to_string())))
            .unwrap()
            .state
    };
    assert_eq!(state(&st, "api"), AlertState::Firing);
    assert_eq!(state(&st, "web"), AlertState::Pending);

    // a `for` shorter than the grace period is not restored
    let short = rule("    for: 5m\n");
    let mut st = AlertingState::default();
    st.eval(&short, ts - S, vec![sample("api", 7.0)], 0, &ctx)
        .unwrap();
    st.restore(&short, ts, &[sample("api", 7.0)], grace, &ctx);
    assert_eq!(st.active.values().next().unwrap().active_at, ts - S);

    // Prometheus's grace arithmetic: a `for` whose second boundaries leave
    // it short of done fires `grace` after the restore
    // (at 10000.7 s, `for` ago is 9100.2 s: 900 whole seconds spent)
    let odd = rule("    for: 15m500ms\n");
    let ts = 10_000 * S + 700_000_000;
    let mut st = AlertingState::default();
    st.eval(&odd, ts - S, vec![sample("api", 7.0)], 0, &ctx)
        .unwrap();
    st.restore(&odd, ts, &[sample("api", 7.0)], grace, &ctx);
    let hold = 900 * S + 500_000_000;
    assert_eq!(
        st.active.values().next().unwrap().active_at,
        ts + 600 * S - hold
    );
}

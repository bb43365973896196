#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

fn err_of(yaml: &str) -> String {
    parse_file("rules/fake/ns.yaml", yaml)
        .expect_err("rejected")
        .to_string()
}

#[test]
fn parses_alerting_and_recording_rules() {
    let groups = parse_file(
        "f",
        r#"
groups:
  - name: api
    interval: 30s
    limit: 10
    rules:
      - alert: HighErrors
        expr: sum(count_over_time({app="api"} |= "error" [1m])) > 5
        for: 30s
        keep_firing_for: 1m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.app }} has {{ $value }} errors"
      - record: api:errors:count1m
        expr: sum by (app) (count_over_time({app="api"} |= "error" [1m]))
        labels:
          team: core
"#,
    )
    .unwrap();
    let g = &groups[0];
    assert_eq!(g.interval, Some(Duration::from_secs(30)));
    assert_eq!(g.limit, 10);
    match &g.rules[0].kind {
        RuleKind::Alerting {
            hold,
            keep_firing_for,
            annotations,
        } => {
            assert_eq!(*hold, Duration::from_secs(30));
            assert_eq!(*keep_firing_for, Duration::from_secs(60));
            assert_eq!(annotations[0].0, "summary");
        }
        RuleKind::Recording => panic!("alert expected"),
    }
    assert!(matches!(g.rules[1].kind, RuleKind::Recording));
    assert_eq!(g.rules[1].raw_labels, vec![("team".into(), "core".into())]);
    // the source survives a YAML round trip unchanged
    let y = serde_yaml::to_string(&g.source).unwrap();
    assert_eq!(serde_yaml::from_str::<RuleGroup>(&y).unwrap(), g.source);
    assert!(y.contains("for: 30s"), "{y}");
}

#[test]
fn validation_errors_name_file_group_and_rule() {
    let cases = [
        // (yaml, expected fragments)
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'sum(rate({a=\"b\"}[1m]) >'\n",
            vec!["rules/fake/ns.yaml", "group \"g\"", "rule \"A\"", "expr: "],
        ),
        (
            "groups:\n- name: g\n  rules:\n  - alert: Logs\n    expr: '{a=\"b\"} |= \"x\"'\n",
            vec!["group \"g\"", "rule \"Logs\"", "log query"],
        ),
        (
            "groups:\n- name: g\n  rules:\n  - record: 'bad name'\n    expr: 'sum(rate({a=\"b\"}[1m]))'\n",
            vec!["invalid recording rule name"],
        ),
        (
            "groups:\n- name: g\n  rules:\n  - record: a\n    alert: b\n    expr: 'sum(rate({a=\"b\"}[1m]))'\n",
            vec!["only one of 'record' and 'alert'"],
        ),
        (
            "groups:\n- name: g\n  rules:\n  - expr: 'sum(rate({a=\"b\"}[1m]))'\n",
            vec!["rule 1", "one of 'record' or 'alert' must be set"],
        ),
        (
            "groups:\n- name: g\n  rules:\n  - record: a\n    for: 1m\n    expr: 'sum(rate({a=\"b\"}[1m]))'\n",
            vec!["invalid field 'for'"],
        ),
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    for: soon\n    expr: 'sum(rate({a=\"b\"}[1m]))'\n",
            vec!["invalid for duration \"soon\""],
        ),
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'sum(rate({a=\"b\"}[1m]))'\n    annotations:\n      s: '{{ $labels.x '\n",
            vec!["rule \"A\"", "annotation \"s\""],
        ),
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'sum(rate({a=\"b\"}[1m]))'\n    annotations:\n      s: '{{ nosuchfunc 1 }}'\n",
            vec!["function \"nosuchfunc\" not defined"],
        ),
        (
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'sum(rate({a=\"b\"}[1m]))'\n- name: g\n  rules:\n  - alert: B\n    expr: 'sum(rate({a=\"b\"}[1m]))'\n",
            vec!["group \"g\"", "repeated"],
        ),
        ("groups:\n- name: g\n  rulez: []\n", vec!["rules/fake/ns.yaml", "unknown field `rulez`"]),
        ("groups:\n- name: g\n  interval: 0s\n  rules: []\n", vec!["invalid interval"]),
    ];
    for (yaml, want) in cases {
        let e = err_of(yaml);
        for w in want {
            assert!(e.contains(w), "{yaml}\n=> {e}\nmissing {w:?}");
        }
    }
}

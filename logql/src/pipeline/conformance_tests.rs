//! Checks the pipeline against answers recorded from Loki for the log
//! queries of the conformance suite. Needs the dataset dumped as JSON lines
//! and the expected log results; run with
//! `SLUICE_PIPE_DATA=/dir cargo test -p sluice-logql conformance -- --ignored`
//! (`dataset.jsonl`: `{"labels","ts","line","meta"}` per entry of
//! `dataset.py` with base 0; `expected_logs.json`: query -> Loki result).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use std::collections::BTreeMap;

use super::*;
use crate::ast::{
    CmpOp, LabelExtraction, LabelFilter, LabelFormatOp, LabelSelectItem, LineFilter, LineFilterOp,
    LineFilterValue, Parser, Stage,
};
use crate::labels::{MatchOp, Matcher};

struct Entry {
    labels: Labels,
    ts: i64,
    line: String,
    meta: Vec<(String, String)>,
}

fn load(dir: &str) -> (Vec<Entry>, serde_json::Value) {
    let data = std::fs::read_to_string(format!("{dir}/dataset.jsonl")).unwrap();
    let mut out = Vec::new();
    for l in data.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let pairs = |o: &serde_json::Value| -> Vec<(String, String)> {
            o.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        };
        out.push(Entry {
            labels: Labels::new(pairs(&v["labels"])),
            ts: v["ts"].as_i64().unwrap(),
            line: v["line"].as_str().unwrap().to_string(),
            meta: pairs(&v["meta"]),
        });
    }
    let exp = std::fs::read_to_string(format!("{dir}/expected_logs.json")).unwrap();
    (out, serde_json::from_str(&exp).unwrap())
}

fn lit(op: LineFilterOp, v: &str) -> Stage {
    Stage::LineFilter(LineFilter {
        op,
        values: vec![LineFilterValue::Literal(v.into())],
    })
}
fn logfmt() -> Stage {
    Stage::Parser(Parser::Logfmt {
        strict: false,
        keep_empty: false,
        extractions: vec![],
    })
}
fn json() -> Stage {
    Stage::Parser(Parser::Json(vec![]))
}
fn m(name: &str, op: MatchOp, v: &str) -> Matcher {
    Matcher::new(name, op, v).unwrap()
}
fn s(name: &str, op: MatchOp, v: &str) -> LabelFilter {
    LabelFilter::String(m(name, op, v))
}
fn n(name: &str, op: CmpOp, value: f64) -> LabelFilter {
    LabelFilter::Number {
        name: name.into(),
        op,
        value,
    }
}
fn lf(f: LabelFilter) -> Stage {
    Stage::LabelFilter(f)
}
fn names(v: &[&str]) -> Vec<LabelSelectItem> {
    v.iter()
        .map(|x| LabelSelectItem::Name(x.to_string()))
        .collect()
}

type Case = (
    &'static str,
    &'static [&'static str],
    Vec<Stage>,
    i64,
    i64,
    usize,
    bool,
);

fn cases() -> Vec<Case> {
    use LineFilterOp::*;
    const S: i64 = 1_000_000_000;
    let all = 3700 * S;
    let access = r#"<ip> - <user> "<method> <path> <_>" <_>"#;
    vec![
        (
            r#"{app="db"} |= "timeout""#,
            &["db"],
            vec![lit(Contains, "timeout")],
            600 * S,
            1200 * S,
            1000,
            false,
        ),
        (
            r#"{app="db"} != "timeout" != "cache miss""#,
            &["db"],
            vec![lit(NotContains, "timeout"), lit(NotContains, "cache miss")],
            0,
            all,
            1000,
            false,
        ),
        (
            r#"{app="db"} |~ "took [0-9]{4}ms""#,
            &["db"],
            vec![lit(Regex, "took [0-9]{4}ms")],
            0,
            all,
            1000,
            false,
        ),
        (
            r#"{app="db"} !~ "(?i)info""#,
            &["db"],
            vec![lit(NotRegex, "(?i)info")],
            0,
            all,
            1000,
            false,
        ),
        (
            r#"{app=~".+"} |= "needle-7f3a" or "deadline exceeded""#,
            &["api", "web", "db", "worker", "auth"],
            vec![Stage::LineFilter(LineFilter {
                op: Contains,
                values: vec![
                    LineFilterValue::Literal("needle-7f3a".into()),
                    LineFilterValue::Literal("deadline exceeded".into()),
                ],
            })],
            0,
            all,
            1000,
            false,
        ),
        (
            r#"{app="web"} |= ip("10.0.0.0/8")"#,
            &["web"],
            vec![Stage::LineFilter(LineFilter {
                op: Contains,
                values: vec![LineFilterValue::Ip("10.0.0.0/8".into())],
            })],
            0,
            all,
            200,
            false,
        ),
        (
            r#"{app="web"} != ip("192.168.0.0/16")"#,
            &["web"],
            vec![Stage::LineFilter(LineFilter {
                op: NotContains,
                values: vec![LineFilterValue::Ip("192.168.0.0/16".into())],
            })],
            0,
            all,
            200,
            false,
        ),
        (
            r#"{app="api"} | logfmt"#,
            &["api"],
            vec![logfmt()],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | logfmt | status >= 500"#,
            &["api"],
            vec![logfmt(), lf(n("status", CmpOp::Gte, 500.0))],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | logfmt | duration > 1s"#,
            &["api"],
            vec![
                logfmt(),
                lf(LabelFilter::Duration {
                    name: "duration".into(),
                    op: CmpOp::Gt,
                    value: S,
                }),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | logfmt | bytes > 100KB and user="bob""#,
            &["api"],
            vec![
                logfmt(),
                lf(LabelFilter::And(
                    Box::new(LabelFilter::Bytes {
                        name: "bytes".into(),
                        op: CmpOp::Gt,
                        value: 100_000,
                    }),
                    Box::new(s("user", MatchOp::Eq, "bob")),
                )),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | logfmt | status == 404 or status == 400"#,
            &["api"],
            vec![
                logfmt(),
                lf(LabelFilter::Or(
                    Box::new(n("status", CmpOp::Eq, 404.0)),
                    Box::new(n("status", CmpOp::Eq, 400.0)),
                )),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | logfmt | level=~"warn|error" | line_format "{{.level}} {{.path}} {{.status}}""#,
            &["api"],
            vec![
                logfmt(),
                lf(s("level", MatchOp::Re, "warn|error")),
                Stage::LineFormat("{{.level}} {{.path}} {{.status}}".into()),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | logfmt method, path"#,
            &["api"],
            vec![Stage::Parser(Parser::Logfmt {
                strict: false,
                keep_empty: false,
                extractions: vec![
                    LabelExtraction {
                        label: "method".into(),
                        expression: None,
                    },
                    LabelExtraction {
                        label: "path".into(),
                        expression: None,
                    },
                ],
            })],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | logfmt --strict"#,
            &["api"],
            vec![Stage::Parser(Parser::Logfmt {
                strict: true,
                keep_empty: false,
                extractions: vec![],
            })],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="worker"} | json"#,
            &["worker"],
            vec![json()],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="worker"} | json | latency_ms > 500 | queue="billing""#,
            &["worker"],
            vec![
                json(),
                lf(n("latency_ms", CmpOp::Gt, 500.0)),
                lf(s("queue", MatchOp::Eq, "billing")),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="worker"} | json | ok="false""#,
            &["worker"],
            vec![json(), lf(s("ok", MatchOp::Eq, "false"))],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="auth"} | json"#,
            &["auth"],
            vec![json()],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="auth"} | json user_name="user.name", ip="client.ip""#,
            &["auth"],
            vec![Stage::Parser(Parser::Json(vec![
                LabelExtraction {
                    label: "user_name".into(),
                    expression: Some("user.name".into()),
                },
                LabelExtraction {
                    label: "ip".into(),
                    expression: Some("client.ip".into()),
                },
            ]))],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="auth"} | json | user_name="carol""#,
            &["auth"],
            vec![json(), lf(s("user_name", MatchOp::Eq, "carol"))],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="auth"} | json | event="denied" | line_format "{{.user_name}} from {{.client_ip}}""#,
            &["auth"],
            vec![
                json(),
                lf(s("event", MatchOp::Eq, "denied")),
                Stage::LineFormat("{{.user_name}} from {{.client_ip}}".into()),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="auth"} | json | duration > 1500ms"#,
            &["auth"],
            vec![
                json(),
                lf(LabelFilter::Duration {
                    name: "duration".into(),
                    op: CmpOp::Gt,
                    value: 1_500_000_000,
                }),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="web"} | regexp "^(?P<ip>\\S+) - (?P<user>\\S+) \"(?P<method>\\w+) (?P<path>\\S+)""#,
            &["web"],
            vec![Stage::Parser(Parser::Regexp(
                r#"^(?P<ip>\S+) - (?P<user>\S+) "(?P<method>\w+) (?P<path>\S+)"#.into(),
            ))],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="web"} | pattern "<ip> - <user> \"<method> <path> <_>\" <_>""#,
            &["web"],
            vec![Stage::Parser(Parser::Pattern(access.into()))],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="web"} | pattern "<ip> - <user> \"<method> <path> <_>\" <_>" | method="POST""#,
            &["web"],
            vec![
                Stage::Parser(Parser::Pattern(access.into())),
                lf(s("method", MatchOp::Eq, "POST")),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="web"} | decolorize"#,
            &["web"],
            vec![Stage::Decolorize],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="web"} | decolorize | pattern "<_> - <_> \"<_> <_> <_>\" <status> <size> <latency>" | status >= 500"#,
            &["web"],
            vec![
                Stage::Decolorize,
                Stage::Parser(Parser::Pattern(
                    r#"<_> - <_> "<_> <_> <_>" <status> <size> <latency>"#.into(),
                )),
                lf(n("status", CmpOp::Gte, 500.0)),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="db"} | regexp "took (?P<took>\\d+)ms rows=(?P<rows>\\d+)" | took > 1000"#,
            &["db"],
            vec![
                Stage::Parser(Parser::Regexp(
                    r"took (?P<took>\d+)ms rows=(?P<rows>\d+)".into(),
                )),
                lf(n("took", CmpOp::Gt, 1000.0)),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | logfmt | label_format who=user"#,
            &["api"],
            vec![
                logfmt(),
                Stage::LabelFormat(vec![LabelFormatOp::Rename {
                    dst: "who".into(),
                    src: "user".into(),
                }]),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | logfmt | label_format who="{{.user}}-{{.method}}""#,
            &["api"],
            vec![
                logfmt(),
                Stage::LabelFormat(vec![LabelFormatOp::Template {
                    dst: "who".into(),
                    template: "{{.user}}-{{.method}}".into(),
                }]),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | logfmt | drop ts_seq, bytes, msg"#,
            &["api"],
            vec![logfmt(), Stage::Drop(names(&["ts_seq", "bytes", "msg"]))],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | logfmt | keep level, status"#,
            &["api"],
            vec![logfmt(), Stage::Keep(names(&["level", "status"]))],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | trace_id != """#,
            &["api"],
            vec![lf(s("trace_id", MatchOp::Neq, ""))],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="worker"} | json | __error__ = """#,
            &["worker"],
            vec![json(), lf(s("__error__", MatchOp::Eq, ""))],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="db"} | json | __error__ != """#,
            &["db"],
            vec![json(), lf(s("__error__", MatchOp::Neq, ""))],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="db"} | json | drop __error__, __error_details__"#,
            &["db"],
            vec![
                json(),
                Stage::Drop(names(&["__error__", "__error_details__"])),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} | logfmt | status >= 400 | status < 500 | line_format "{{.status}}""#,
            &["api"],
            vec![
                logfmt(),
                lf(n("status", CmpOp::Gte, 400.0)),
                lf(n("status", CmpOp::Lt, 500.0)),
                Stage::LineFormat("{{.status}}".into()),
            ],
            0,
            all,
            100,
            false,
        ),
        (
            r#"{app="api"} |= "GET" | logfmt | path="/healthz" |= "200""#,
            &["api"],
            vec![
                lit(Contains, "GET"),
                logfmt(),
                lf(s("path", MatchOp::Eq, "/healthz")),
                lit(Contains, "200"),
            ],
            0,
            all,
            100,
            false,
        ),
    ]
}

#[test]
#[ignore]
fn conformance_log_queries() {
    let Ok(dir) = std::env::var("SLUICE_PIPE_DATA") else {
        return;
    };
    let (entries, expected) = load(&dir);
    let mut failures = Vec::new();
    for (query, apps, stages, start, end, limit, forward) in cases() {
        let p = Pipeline::new(&stages).unwrap();
        let mut per_stream: BTreeMap<String, StreamPipeline> = BTreeMap::new();
        let mut got: Vec<(i64, String, String)> = Vec::new();
        for e in &entries {
            if e.ts < start || e.ts >= end || !apps.contains(&e.labels.get("app").unwrap()) {
                continue;
            }
            let sp = per_stream
                .entry(e.labels.to_string())
                .or_insert_with(|| p.for_stream(&e.labels));
            if let Some(out) = sp.process(e.ts, e.line.as_bytes(), &e.meta) {
                let l: Vec<String> = out
                    .labels
                    .all
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                got.push((
                    e.ts,
                    l.join(","),
                    String::from_utf8_lossy(out.line).into_owned(),
                ));
            }
        }
        if forward {
            got.sort_by(|a, b| a.0.cmp(&b.0));
        } else {
            got.sort_by(|a, b| b.0.cmp(&a.0));
        }
        got.truncate(limit);
        got.sort();
        let mut want: Vec<(i64, String, String)> = Vec::new();
        let Some(res) = expected.get(query) else {
            failures.push(format!("no expected result for {query}"));
            continue;
        };
        for stream in res.as_array().unwrap() {
            let labels = stream[0].as_str().unwrap();
            for v in stream[1].as_array().unwrap() {
                want.push((
                    v[0].as_i64().unwrap(),
                    labels.to_string(),
                    v[1].as_str().unwrap().to_string(),
                ));
            }
        }
        want.sort();
        assert!(!want.is_empty(), "{query}");
        eprintln!("{query}: {} entries compared", want.len());
        if got != want {
            let diff: Vec<String> = got
                .iter()
                .zip(want.iter())
                .filter(|(g, w)| g != w)
                .take(2)
                .map(|(g, w)| format!("  got  {g:?}\n  want {w:?}"))
                .collect();
            failures.push(format!(
                "{query}: got {} want {}\n{}",
                got.len(),
                want.len(),
                diff.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

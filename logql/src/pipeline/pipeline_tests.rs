//! End-to-end pipeline tests over the conformance dataset's line shapes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use proptest::prelude::*;

use super::*;
use crate::ast::{
    CmpOp, Grouping, LabelExtraction, LabelFilter, LabelFormatOp, LabelSelectItem, LineFilter,
    LineFilterOp, LineFilterValue, LogExpr, LogRange, Parser, RangeOp, Stage, Unwrap,
    UnwrapConversion,
};
use crate::labels::{MatchOp, Matcher};

const LOGFMT: &str = r#"level=info ts_seq=492 method=PUT path=/api/v1/search status=404 duration=2073ms bytes=101327B user=carol msg="handled request queued""#;
const ACCESS: &str =
    "10.0.104.133 - bob \"GET /login HTTP/1.1\" \u{1b}[32m200\u{1b}[0m 38698 0.083s";
const PLAIN: &str = "INFO [conn-32] query on table_1 took 1459ms rows=2234 deadline exceeded";
const JSON: &str = r#"{"level": "info", "msg": "job queued", "job_id": 1195, "latency_ms": 988, "queue": "billing", "ok": true}"#;
const NESTED: &str = r#"{"level": "error", "event": "login", "user": {"name": "carol", "id": 117}, "client": {"ip": "10.0.110.32", "agent": "Mozilla/5.0"}, "duration": "85ms", "tags": ["a", "b"]}"#;

fn stream(app: &str) -> Labels {
    Labels::new(vec![
        ("app".into(), app.into()),
        ("env".into(), "prod".into()),
        ("service_name".into(), app.into()),
    ])
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
fn sfilter(name: &str, op: MatchOp, v: &str) -> Stage {
    Stage::LabelFilter(LabelFilter::String(m(name, op, v)))
}
fn num(name: &str, op: CmpOp, value: f64) -> Stage {
    Stage::LabelFilter(LabelFilter::Number {
        name: name.into(),
        op,
        value,
    })
}

/// Runs stages over one line: `Some((line, all labels as a=b,...))`.
fn run(app: &str, stages: Vec<Stage>, line: &str, sm: &[(&str, &str)]) -> Option<(String, String)> {
    let p = Pipeline::new(&stages).unwrap();
    let mut sp = p.for_stream(&stream(app));
    let sm: Vec<(String, String)> = sm
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let out = sp.process(1, line.as_bytes(), &sm)?;
    let labels: Vec<String> = out
        .labels
        .all
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(out.labels.hash, out.labels.all.fingerprint());
    Some((
        String::from_utf8(out.line.to_vec()).unwrap(),
        labels.join(","),
    ))
}

fn labels_of(app: &str, stages: Vec<Stage>, line: &str) -> String {
    run(app, stages, line, &[]).unwrap().1
}

#[test]
fn line_filters_over_shapes() {
    use LineFilterOp::*;
    assert!(run("db", vec![lit(Contains, "deadline")], PLAIN, &[]).is_some());
    assert!(run("db", vec![lit(NotContains, "deadline")], PLAIN, &[]).is_none());
    assert!(run("db", vec![lit(Regex, "took [0-9]{4}ms")], PLAIN, &[]).is_some());
    assert!(run("db", vec![lit(NotRegex, "(?i)info")], PLAIN, &[]).is_none());
    let ip = Stage::LineFilter(LineFilter {
        op: Contains,
        values: vec![LineFilterValue::Ip("10.0.0.0/8".into())],
    });
    assert!(run("web", vec![ip], ACCESS, &[]).is_some());
    let or = Stage::LineFilter(LineFilter {
        op: Contains,
        values: vec![
            LineFilterValue::Literal("needle-7f3a".into()),
            LineFilterValue::Literal("deadline exceeded".into()),
        ],
    });
    assert!(run("db", vec![or], PLAIN, &[]).is_some());
}

#[test]
fn logfmt_and_filters() {
    let l = labels_of("api", vec![logfmt()], LOGFMT);
    assert_eq!(
        l,
        "app=api,bytes=101327B,duration=2073ms,env=prod,level=info,method=PUT,msg=handled request queued,path=/api/v1/search,service_name=api,status=404,ts_seq=492,user=carol"
    );
    assert!(run(
        "api",
        vec![logfmt(), num("status", CmpOp::Gte, 500.0)],
        LOGFMT,
        &[]
    )
    .is_none());
    let dur = Stage::LabelFilter(LabelFilter::Duration {
        name: "duration".into(),
        op: CmpOp::Gt,
        value: 1_000_000_000,
    });
    assert!(run("api", vec![logfmt(), dur], LOGFMT, &[]).is_some());
    let bytes_and_user = Stage::LabelFilter(LabelFilter::And(
        Box::new(LabelFilter::Bytes {
            name: "bytes".into(),
            op: CmpOp::Gt,
            value: 100_000,
        }),
        Box::new(LabelFilter::String(m("user", MatchOp::Eq, "bob"))),
    ));
    assert!(run("api", vec![logfmt(), bytes_and_user], LOGFMT, &[]).is_none());
}

#[test]
fn logfmt_strict_and_extraction() {
    let strict = Stage::Parser(Parser::Logfmt {
        strict: true,
        keep_empty: false,
        extractions: vec![],
    });
    let l = labels_of("api", vec![strict], "a=1 b=\"x c=3");
    assert!(l.contains("__error__=LogfmtParserErr"), "{l}");
    assert!(
        l.contains("__error_details__=logfmt syntax error at pos 13 : unterminated quoted value"),
        "{l}"
    );
    let keep = Stage::Parser(Parser::Logfmt {
        strict: false,
        keep_empty: true,
        extractions: vec![],
    });
    assert!(labels_of("api", vec![keep], "a=1 flag").contains("flag="));
    let ex = Stage::Parser(Parser::Logfmt {
        strict: false,
        keep_empty: false,
        extractions: vec![
            LabelExtraction {
                label: "method".into(),
                expression: None,
            },
            LabelExtraction {
                label: "p".into(),
                expression: Some("path".into()),
            },
        ],
    });
    assert_eq!(
        labels_of("api", vec![ex], LOGFMT),
        "app=api,env=prod,method=PUT,p=/api/v1/search,service_name=api"
    );
}

#[test]
fn json_flattening_and_errors() {
    let l = labels_of("auth", vec![json()], NESTED);
    assert_eq!(
        l,
        "app=auth,client_agent=Mozilla/5.0,client_ip=10.0.110.32,duration=85ms,env=prod,event=login,level=error,service_name=auth,user_id=117,user_name=carol"
    );
    let l = labels_of("worker", vec![json()], JSON);
    assert!(
        l.contains("ok=true") && l.contains("job_id=1195") && l.contains("latency_ms=988"),
        "{l}"
    );
    let l = labels_of("db", vec![json()], PLAIN);
    assert_eq!(
        l,
        "__error__=JSONParserErr,__error_details__=Value looks like object, but can't find closing '}' symbol,app=db,env=prod,service_name=db"
    );
    let dropped = labels_of(
        "db",
        vec![
            json(),
            Stage::Drop(vec![
                LabelSelectItem::Name("__error__".into()),
                LabelSelectItem::Name("__error_details__".into()),
            ]),
        ],
        PLAIN,
    );
    assert_eq!(dropped, "app=db,env=prod,service_name=db");
    assert!(run(
        "db",
        vec![json(), sfilter("__error__", MatchOp::Eq, "")],
        PLAIN,
        &[]
    )
    .is_none());
    // a clash with a stream label gets the suffix
    let l = labels_of("x", vec![json()], r#"{"app":"inner","a b":"1","1x":2}"#);
    assert_eq!(
        l,
        "_1x=2,a_b=1,app=x,app_extracted=inner,env=prod,service_name=x"
    );
}

#[test]
fn json_extraction() {
    let ex = Stage::Parser(Parser::Json(vec![
        LabelExtraction {
            label: "user_name".into(),
            expression: Some("user.name".into()),
        },
        LabelExtraction {
            label: "ip".into(),
            expression: Some("client.ip".into()),
        },
        LabelExtraction {
            label: "first".into(),
            expression: Some("tags[0]".into()),
        },
        LabelExtraction {
            label: "missing".into(),
            expression: Some("nope".into()),
        },
    ]));
    assert_eq!(
        labels_of("auth", vec![ex], NESTED),
        "app=auth,env=prod,first=a,ip=10.0.110.32,missing=,service_name=auth,user_name=carol"
    );
}

#[test]
fn regexp_pattern_decolorize() {
    let re = Stage::Parser(Parser::Regexp(
        r#"^(?P<ip>\S+) - (?P<user>\S+) "(?P<method>\w+) (?P<path>\S+)"#.into(),
    ));
    assert_eq!(
        labels_of("web", vec![re], ACCESS),
        "app=web,env=prod,ip=10.0.104.133,method=GET,path=/login,service_name=web,user=bob"
    );
    let pat = Stage::Parser(Parser::Pattern(
        r#"<_> - <_> "<_> <_> <_>" <status> <size> <latency>"#.into(),
    ));
    let (line, l) = run(
        "web",
        vec![Stage::Decolorize, pat, num("status", CmpOp::Gte, 200.0)],
        ACCESS,
        &[],
    )
    .unwrap();
    assert_eq!(
        line,
        "10.0.104.133 - bob \"GET /login HTTP/1.1\" 200 38698 0.083s"
    );
    assert_eq!(
        l,
        "app=web,env=prod,latency=0.083s,service_name=web,size=38698,status=200"
    );
}

#[test]
fn formats_drop_keep() {
    let lf = Stage::LineFormat("{{.level}} {{.path}} {{.status}}".into());
    let (line, _) = run("api", vec![logfmt(), lf], LOGFMT, &[]).unwrap();
    assert_eq!(line, "info /api/v1/search 404");
    let rename = Stage::LabelFormat(vec![LabelFormatOp::Rename {
        dst: "who".into(),
        src: "user".into(),
    }]);
    let l = labels_of("api", vec![logfmt(), rename], LOGFMT);
    assert!(l.contains("who=carol") && !l.contains("user="), "{l}");
    let tmpl = Stage::LabelFormat(vec![LabelFormatOp::Template {
        dst: "who".into(),
        template: "{{.user}}-{{.method}}".into(),
    }]);
    assert!(labels_of("api", vec![logfmt(), tmpl], LOGFMT).contains("who=carol-PUT"));
    let keep = Stage::Keep(vec![
        LabelSelectItem::Name("level".into()),
        LabelSelectItem::Name("status".into()),
    ]);
    assert_eq!(
        labels_of("api", vec![logfmt(), keep], LOGFMT),
        "level=info,status=404"
    );
    let drop = Stage::Drop(vec![
        LabelSelectItem::Name("ts_seq".into()),
        LabelSelectItem::Matcher(m("level", MatchOp::Eq, "info")),
        LabelSelectItem::Matcher(m("user", MatchOp::Eq, "nobody")),
    ]);
    let l = labels_of("api", vec![logfmt(), drop], LOGFMT);
    assert!(
        !l.contains("ts_seq") && !l.contains("level") && l.contains("user=carol"),
        "{l}"
    );
}

#[test]
fn structured_metadata_as_labels() {
    let f = sfilter("trace_id", MatchOp::Neq, "");
    let (_, l) = run("api", vec![f.clone()], LOGFMT, &[("trace_id", "abc")]).unwrap();
    assert_eq!(l, "app=api,env=prod,service_name=api,trace_id=abc");
    assert!(run("api", vec![f], LOGFMT, &[]).is_none());
    let p = Pipeline::new(&[]).unwrap();
    let mut sp = p.for_stream(&stream("api"));
    let out = sp
        .process(1, b"x", &[("trace_id".into(), "t".into())])
        .unwrap();
    assert_eq!(
        out.labels.structured_metadata,
        vec![("trace_id".to_string(), "t".to_string())]
    );
    assert_eq!(out.labels.stream, stream("api"));
}

#[test]
fn categories_and_caching() {
    let p = Pipeline::new(&[logfmt()]).unwrap();
    let mut sp = p.for_stream(&stream("api"));
    let a = sp.process(1, b"level=info", &[]).unwrap().labels.clone();
    assert_eq!(a.parsed, vec![("level".to_string(), "info".to_string())]);
    assert_eq!(a.stream, stream("api"));
    let b = sp.process(2, b"level=info", &[]).unwrap().labels.clone();
    assert_eq!(a, b);
    let c = sp.process(3, b"nothing", &[]).unwrap().labels.clone();
    assert_eq!(c.all, stream("api"));
}

#[test]
fn build_errors_name_the_stage() {
    let e = Pipeline::new(&[lit(LineFilterOp::Regex, "(")]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("parse error : stage '|~ \"(\"' : error parsing regexp"),
        "{e}"
    );
    let bad_ip = Stage::LabelFilter(LabelFilter::Ip {
        name: "a".into(),
        negated: false,
        pattern: "nope".into(),
    });
    let e = Pipeline::new(&[bad_ip]).unwrap_err();
    assert!(
        e.to_string().ends_with(r#"ip: invalid pattern: "nope""#),
        "{e}"
    );
    let e = Pipeline::new(&[Stage::LineFormat("{{ .a ".into())]).unwrap_err();
    assert!(
        e.to_string()
            .contains("invalid line template: template: line:1"),
        "{e}"
    );
    let dup = Stage::LabelFormat(vec![
        LabelFormatOp::Rename {
            dst: "a".into(),
            src: "b".into(),
        },
        LabelFormatOp::Rename {
            dst: "a".into(),
            src: "c".into(),
        },
    ]);
    let e = Pipeline::new(&[dup]).unwrap_err();
    assert!(
        e.to_string()
            .contains("multiple label name 'a' not allowed in a single format operation"),
        "{e}"
    );
}

#[test]
fn required_literals_and_noop() {
    use LineFilterOp::*;
    let p = Pipeline::new(&[
        lit(Contains, "GET"),
        logfmt(),
        lit(Contains, "200"),
        Stage::LineFormat("{{.a}}".into()),
        lit(Contains, "zz"),
    ])
    .unwrap();
    assert_eq!(
        p.required_literals(),
        vec!["GET".to_string(), "200".to_string()]
    );
    assert!(Pipeline::new(&[]).unwrap().is_noop());
}

fn range(stages: Vec<Stage>, unwrap: Option<Unwrap>) -> LogRange {
    LogRange {
        log: LogExpr {
            selector: vec![],
            pipeline: stages,
        },
        unwrap,
        range: 300_000_000_000,
        offset: 0,
    }
}

#[test]
fn sample_extraction() {
    let ex = SampleExtractor::new(&range(vec![], None), RangeOp::BytesOverTime, None).unwrap();
    let mut s = ex.for_stream(&stream("db"));
    assert_eq!(
        s.process(1, PLAIN.as_bytes(), &[]).unwrap().0,
        PLAIN.len() as f64
    );

    let uw = Unwrap {
        label: "latency_ms".into(),
        conversion: None,
        post_filters: vec![],
    };
    let ex = SampleExtractor::new(
        &range(vec![json()], Some(uw.clone())),
        RangeOp::AvgOverTime,
        None,
    )
    .unwrap();
    let mut s = ex.for_stream(&stream("worker"));
    let (v, l) = s.process(1, JSON.as_bytes(), &[]).unwrap();
    assert_eq!(v, 988.0);
    assert!(l.all.get("latency_ms").is_none() && l.all.get("queue") == Some("billing"));

    let by_queue = Grouping {
        without: false,
        labels: vec!["queue".into()],
    };
    let ex = SampleExtractor::new(
        &range(vec![json()], Some(uw)),
        RangeOp::MaxOverTime,
        Some(&by_queue),
    )
    .unwrap();
    let mut s = ex.for_stream(&stream("worker"));
    let (_, l) = s.process(1, JSON.as_bytes(), &[]).unwrap();
    assert_eq!(l.all.to_string(), r#"{queue="billing"}"#);

    let dur = Unwrap {
        label: "duration".into(),
        conversion: Some(UnwrapConversion::Duration),
        post_filters: vec![],
    };
    let ex = SampleExtractor::new(
        &range(vec![logfmt()], Some(dur)),
        RangeOp::QuantileOverTime,
        None,
    )
    .unwrap();
    let mut s = ex.for_stream(&stream("api"));
    assert_eq!(s.process(1, LOGFMT.as_bytes(), &[]).unwrap().0, 2.073);
    let (_, l) = s.process(2, b"duration=fast", &[]).unwrap();
    assert_eq!(l.all.get("__error__"), Some("SampleExtractionErr"));
    assert!(s.process(3, b"other=1", &[]).is_none());

    let post = Unwrap {
        label: "bytes".into(),
        conversion: Some(UnwrapConversion::Bytes),
        post_filters: vec![LabelFilter::String(m("__error__", MatchOp::Eq, ""))],
    };
    let ex = SampleExtractor::new(
        &range(vec![logfmt()], Some(post)),
        RangeOp::SumOverTime,
        None,
    )
    .unwrap();
    let mut s = ex.for_stream(&stream("api"));
    assert_eq!(s.process(1, LOGFMT.as_bytes(), &[]).unwrap().0, 101327.0);
    assert!(s.process(2, b"bytes=lots", &[]).is_none());
}

proptest! {
    #[test]
    fn arbitrary_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..200), sm in "[a-z]{0,5}") {
        let stages = vec![
            Stage::Decolorize,
            json(),
            logfmt(),
            Stage::Parser(Parser::Logfmt { strict: true, keep_empty: true, extractions: vec![] }),
            Stage::Parser(Parser::Pattern("<a> <b>".into())),
            Stage::Parser(Parser::Unpack),
            Stage::Parser(Parser::Json(vec![LabelExtraction { label: "x".into(), expression: Some("a[1].b".into()) }])),
            num("a", CmpOp::Gt, 1.0),
            Stage::LabelFilter(LabelFilter::Bytes { name: "b".into(), op: CmpOp::Gt, value: 1 }),
            Stage::LabelFilter(LabelFilter::Duration { name: "b".into(), op: CmpOp::Gt, value: 1 }),
            Stage::LabelFilter(LabelFilter::Or(
                Box::new(LabelFilter::Ip { name: "a".into(), negated: false, pattern: "10.0.0.0/8".into() }),
                Box::new(LabelFilter::String(m("a", MatchOp::Neq, "zz"))),
            )),
            Stage::LineFormat("{{.a}} {{__line__}}".into()),
            Stage::LabelFormat(vec![LabelFormatOp::Template { dst: "c".into(), template: "{{.a}}".into() }]),
            Stage::Keep(vec![LabelSelectItem::Name("a".into())]),
        ];
        let p = Pipeline::new(&stages).unwrap();
        let mut sp = p.for_stream(&stream("x"));
        let md = vec![("k".to_string(), sm)];
        let _ = sp.process(0, &line, &md);
        let ip = Stage::LineFilter(LineFilter { op: LineFilterOp::Contains, values: vec![LineFilterValue::Ip("::/0".into())] });
        let p = Pipeline::new(&[ip, Stage::Parser(Parser::Regexp("(?P<x>\\d+)".into()))]).unwrap();
        let _ = p.for_stream(&stream("x")).process(0, &line, &[]);
    }
}

/// Throughput probe: `cargo test -p sluice-logql --release throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let n = 200_000;
    let run_case = |name: &str, app: &str, stages: Vec<Stage>, line: &str| {
        let p = Pipeline::new(&stages).unwrap();
        let mut sp = p.for_stream(&stream(app));
        let start = std::time::Instant::now();
        let mut kept = 0usize;
        for i in 0..n {
            if sp.process(i as i64, line.as_bytes(), &[]).is_some() {
                kept += 1;
            }
        }
        let el = start.elapsed();
        eprintln!(
            "{name:40} {:>8.0} klines/s ({kept} kept)",
            n as f64 / el.as_secs_f64() / 1000.0
        );
    };
    run_case("noop", "api", vec![], LOGFMT);
    run_case(
        "|= miss",
        "api",
        vec![lit(LineFilterOp::Contains, "needle-7f3a")],
        LOGFMT,
    );
    run_case(
        "|~ regex",
        "db",
        vec![lit(LineFilterOp::Regex, "took [0-9]{4}ms")],
        PLAIN,
    );
    run_case("logfmt", "api", vec![logfmt()], LOGFMT);
    run_case(
        "logfmt | status >= 500",
        "api",
        vec![logfmt(), num("status", CmpOp::Gte, 500.0)],
        LOGFMT,
    );
    run_case("json", "worker", vec![json()], JSON);
    run_case("json nested", "auth", vec![json()], NESTED);
    run_case(
        "logfmt | line_format",
        "api",
        vec![
            logfmt(),
            Stage::LineFormat("{{.level}} {{.path}} {{.status}}".into()),
        ],
        LOGFMT,
    );
    run_case(
        "decolorize | pattern",
        "web",
        vec![
            Stage::Decolorize,
            Stage::Parser(Parser::Pattern(
                r#"<ip> - <user> "<method> <path> <_>" <_>"#.into(),
            )),
        ],
        ACCESS,
    );
    let lines: Vec<String> = (0..n)
        .map(|i| LOGFMT.replace("ts_seq=492", &format!("ts_seq={i}")))
        .collect();
    let p = Pipeline::new(&[logfmt()]).unwrap();
    let mut sp = p.for_stream(&stream("api"));
    let start = std::time::Instant::now();
    for (i, l) in lines.iter().enumerate() {
        sp.process(i as i64, l.as_bytes(), &[]);
    }
    eprintln!(
        "{:40} {:>8.0} klines/s",
        "logfmt, unique label sets",
        n as f64 / start.elapsed().as_secs_f64() / 1000.0
    );
    let uw = Unwrap {
        label: "latency_ms".into(),
        conversion: None,
        post_filters: vec![],
    };
    let by = Grouping {
        without: false,
        labels: vec!["queue".into()],
    };
    let ex = SampleExtractor::new(
        &range(vec![json()], Some(uw)),
        RangeOp::AvgOverTime,
        Some(&by),
    )
    .unwrap();
    let mut s = ex.for_stream(&stream("worker"));
    let start = std::time::Instant::now();
    for i in 0..n {
        s.process(i as i64, JSON.as_bytes(), &[]);
    }
    eprintln!(
        "{:40} {:>8.0} klines/s",
        "json | unwrap by (queue)",
        n as f64 / start.elapsed().as_secs_f64() / 1000.0
    );
}

/// Runs one parser stage over `line` with stream labels `base` and
/// structured metadata `sm`; returns `all` labels as `k=v,...`.
fn parse_with(stage: Stage, base: &[(&str, &str)], sm: &[(&str, &str)], line: &str) -> String {
    let p = Pipeline::new(&[stage]).unwrap();
    let base = Labels::new(
        base.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let sm: Vec<(String, String)> = sm
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut sp = p.for_stream(&base);
    let out = sp.process(0, line.as_bytes(), &sm).unwrap();
    let v: Vec<String> = out
        .labels
        .all
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    v.join(",")
}

#[test]
fn logfmt_cases_from_loki() {
    let lf = |strict, keep_empty| {
        Stage::Parser(Parser::Logfmt {
            strict,
            keep_empty,
            extractions: vec![],
        })
    };
    let foo = &[("foo", "bar")][..];
    // (line, base, sm, want, want with --strict)
    let cases: &[(&str, &[(&str, &str)], &[(&str, &str)], &str, &str)] = &[
        ("foobar====wqe=sdad1r", foo, &[], "foo=bar", "__error__=LogfmtParserErr,__error_details__=logfmt syntax error at pos 8 : unexpected '=',foo=bar"),
        ("buzz=foo bar=\u{FFFD}f", &[], &[], "bar= f,buzz=foo", ""),
        ("buzz bar=foo", foo, &[], "bar=foo,foo=bar", ""),
        (r#"foobar="foo\nbar\tbaz""#, foo, &[], "foo=bar,foobar=foo\nbar\tbaz", ""),
        (r#"foobar="foo ba\\r baz""#, foo, &[], "foo=bar,foobar=foo ba\\r baz", ""),
        (r#"foobar="foo bar" foobar=10ms"#, foo, &[], "foo=bar,foobar=foo bar", ""),
        (r#"foo="foo bar" foobar=10ms"#, foo, &[], "foo=bar,foo_extracted=foo bar,foobar=10ms", ""),
        (r#"foo="foo bar" foo.bar=10ms test-dash=foo"#, foo, &[], "foo=bar,foo_bar=10ms,foo_extracted=foo bar,test_dash=foo", ""),
        (
            r#"foo="foo bar" =notkey bar=10ms"#,
            foo,
            &[],
            "bar=10ms,foo=bar,foo_extracted=foo bar",
            "__error__=LogfmtParserErr,__error_details__=logfmt syntax error at pos 15 : unexpected '=',foo=bar,foo_extracted=foo bar",
        ),
        (
            "foo=\"foo bar\" b\u{FFFD}r=10ms",
            foo,
            &[],
            "foo=bar,foo_extracted=foo bar",
            "__error__=LogfmtParserErr,__error_details__=logfmt syntax error at pos 20 : invalid key,foo=bar,foo_extracted=foo bar",
        ),
        (
            r#"foo="foo bar" bu"zz=10ms"#,
            foo,
            &[],
            "foo=bar,foo_extracted=foo bar",
            "__error__=LogfmtParserErr,__error_details__=logfmt syntax error at pos 17 : unexpected '\"',foo=bar,foo_extracted=foo bar",
        ),
        (
            r#"bar=bu=zz foo="foo bar""#,
            foo,
            &[],
            "foo=bar,foo_extracted=foo bar",
            "__error__=LogfmtParserErr,__error_details__=logfmt syntax error at pos 7 : unexpected '=',foo=bar",
        ),
        ("app=foo level=error", &[], &[("app", "foo_sm")], "app=foo_sm,app_extracted=foo,level=error", ""),
    ];
    for (line, base, sm, want, want_strict) in cases {
        assert_eq!(
            parse_with(lf(false, false), base, sm, line),
            *want,
            "{line}"
        );
        let ws = if want_strict.is_empty() {
            want
        } else {
            want_strict
        };
        assert_eq!(
            parse_with(lf(true, false), base, sm, line),
            *ws,
            "strict {line}"
        );
    }
    assert_eq!(
        parse_with(lf(false, true), foo, &[], "foo bar=buzz"),
        "bar=buzz,foo=bar,foo_extracted="
    );
    assert_eq!(
        parse_with(lf(false, false), foo, &[], "foo=b\u{FFFD}r bar=buzz"),
        "bar=buzz,foo=bar,foo_extracted=b r"
    );
}

#[test]
fn json_cases_from_loki() {
    let cases: &[(&str, &[(&str, &str)], &[(&str, &str)], &str)] = &[
        (
            r#"{"app":"bar","namespace":"prod","pod":{"uuid":"bar","deployment":{"ref":"foobar"}}}"#,
            &[("app", "foo"), ("pod_uuid", "foo")],
            &[],
            "app=foo,app_extracted=bar,namespace=prod,pod_deployment_ref=foobar,pod_uuid=foo,pod_uuid_extracted=bar",
        ),
        (r#"{"counter":1, "price": {"_net_":5.56909}}"#, &[], &[], "counter=1,price__net_=5.56909"),
        (r#"{" ": {"foo":"bar"}}"#, &[], &[], "foo=bar"),
        (r#"{"counter":1,"foo":"foo\\\"bar", "price": {"_net_":5.56909}}"#, &[], &[], "counter=1,foo=foo\\\"bar,price__net_=5.56909"),
        ("{\"counter\":1,\"foo\":\"\u{FFFD}\", \"price\": {\"_net_\":5.56909}}", &[], &[], "counter=1,foo= ,price__net_=5.56909"),
        (r#"{"counter":1, "price": {"net_":["10","20"]}}"#, &[], &[], "counter=1"),
        (r#"{"cou-nter":1}"#, &[], &[], "cou_nter=1"),
        (r#"{"foo":{"cou-nter":1}}""#, &[], &[], "foo_cou_nter=1"),
        (r#"{n}"#, &[], &[], "__error__=JSONParserErr,__error_details__=Value looks like object, but can't find closing '}' symbol"),
        (r#"{"app":"foo","namespace":"prod","pod":"pod_parsed"}"#, &[], &[("pod", "pod_sm")], "app=foo,namespace=prod,pod=pod_sm,pod_extracted=pod_parsed"),
        (r#"{"app":"foo","app":"duplicate"}"#, &[], &[], "app=foo"),
    ];
    for (line, base, sm, want) in cases {
        assert_eq!(
            parse_with(Stage::Parser(Parser::Json(vec![])), base, sm, line),
            *want,
            "{line}"
        );
    }
}

#[test]
fn json_expression_cases_from_loki() {
    let line = r#"{"app":"foo","field with space":"value","field with ÜFT8👌":"value","null_field":null,"bool_field":false,"namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar", "params": [1,2,3,"string_value"]}}}"#;
    let ex = |label: &str, expr: &str| {
        Stage::Parser(Parser::Json(vec![LabelExtraction {
            label: label.into(),
            expression: Some(expr.into()),
        }]))
    };
    let cases: &[(&str, &str, &[(&str, &str)], &[(&str, &str)], &str)] = &[
        ("test", r#"["field with space"]"#, &[], &[], "test=value"),
        ("utf8", r#"["field with ÜFT8👌"]"#, &[], &[], "utf8=value"),
        ("uuid", r#"pod["uuid"]"#, &[], &[], "uuid=foo"),
        ("uuid", r#"["pod"]["uuid"]"#, &[], &[], "uuid=foo"),
        ("uuid", r#"["pod"].uuid"#, &[], &[], "uuid=foo"),
        ("param", "pod.deployment.params[0]", &[], &[], "param=1"),
        ("undefined", r#"pod[""]"#, &[], &[], "undefined="),
        ("param", r#"pod.deployment.params[""]"#, &[], &[], "param="),
        (
            "param",
            "pod.deployment.params[3]",
            &[],
            &[],
            "param=string_value",
        ),
        (
            "params",
            "pod.deployment.params",
            &[],
            &[],
            r#"params=[1,2,3,"string_value"]"#,
        ),
        (
            "deployment",
            "pod.deployment",
            &[],
            &[],
            r#"deployment={"ref":"foobar", "params": [1,2,3,"string_value"]}"#,
        ),
        ("nf", "null_field", &[], &[], "nf="),
        ("bool", "bool_field", &[], &[], "bool=false"),
        (
            "uuid",
            "pod.uuid",
            &[("uuid", "bar")],
            &[],
            "uuid=bar,uuid_extracted=foo",
        ),
        (
            "app",
            "app",
            &[],
            &[("app", "app_sm")],
            "app=app_sm,app_extracted=foo",
        ),
    ];
    for (label, expr, base, sm, want) in cases {
        assert_eq!(parse_with(ex(label, expr), base, sm, line), *want, "{expr}");
    }
    assert_eq!(parse_with(ex("uuid", "pod.uuid"), &[], &[], "{}"), "uuid=");
    assert_eq!(
        parse_with(
            ex("uuid", "will.not.work"),
            &[("foo", "bar")],
            &[],
            "invalid json"
        ),
        "__error__=JSONParserErr,foo=bar"
    );
    assert_eq!(
        parse_with(ex("uuid", "will.not.work"), &[("foo", "bar")], &[], ""),
        "foo=bar"
    );
    assert_eq!(
        parse_with(
            ex("app", "app"),
            &[],
            &[],
            r#"{"app":"{ \"key\": \"value\", \"key2\":\"value2\"}"}"#
        ),
        r#"app={ "key": "value", "key2":"value2"}"#
    );
    assert_eq!(
        parse_with(
            ex("app", "app"),
            &[],
            &[],
            r#"{"app":{"name":"great \"loki\""}"#
        ),
        r#"app={"name":"great \"loki\""}"#
    );
    let errs = [
        ("field with space", "unexpected FIELD"),
        (r#""pod"]"#, "unexpected STRING, expecting LSB or FIELD"),
        (r#"["pod""#, "unexpected $end, expecting RSB"),
        (r#"["pod""uuid"]"#, "unexpected STRING, expecting RSB"),
        ("pod..uuid", "unexpected DOT, expecting FIELD"),
    ];
    for (expr, msg) in errs {
        let e = Pipeline::new(&[ex("app", expr)]).unwrap_err().to_string();
        assert!(
            e.ends_with(&format!(
                "cannot parse expression [{expr}]: syntax error: {msg}"
            )),
            "{e}"
        );
    }
}

#[test]
fn unpack_and_pattern_cases_from_loki() {
    let run1 = |stage: Stage, base: &[(&str, &str)], sm: &[(&str, &str)], line: &str| {
        let p = Pipeline::new(&[stage]).unwrap();
        let base = Labels::new(
            base.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let sm: Vec<(String, String)> = sm
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut sp = p.for_stream(&base);
        let out = sp.process(0, line.as_bytes(), &sm).unwrap();
        let v: Vec<String> = out
            .labels
            .all
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        (v.join(","), String::from_utf8(out.line.to_vec()).unwrap())
    };
    let unpack = || Stage::Parser(Parser::Unpack);
    let cluster = &[("cluster", "us-central1")][..];
    let packed =
        r#"{"bar":1,"app":"foo","namespace":"prod","_entry":"some message","pod":{"uid":"1"}}"#;
    assert_eq!(
        run1(unpack(), cluster, &[], packed),
        (
            "app=foo,cluster=us-central1,namespace=prod".into(),
            "some message".into()
        )
    );
    let not_obj = r#""app":"foo","_entry":"x""#;
    assert_eq!(
        run1(unpack(), &[], &[], not_obj),
        (
            "__error__=JSONParserErr,__error_details__=expecting json object(6), but it is not"
                .into(),
            not_obj.into()
        )
    );
    assert_eq!(
        run1(unpack(), cluster, &[], ""),
        ("cluster=us-central1".into(), "".into())
    );
    assert_eq!(
        run1(
            unpack(),
            &[("app", "bar"), ("cluster", "us-central1")],
            &[],
            packed
        ),
        (
            "app=bar,app_extracted=foo,cluster=us-central1,namespace=prod".into(),
            "some message".into()
        )
    );
    let unpacked = r#"{"bar":1,"app":"foo","namespace":"prod","pod":{"uid":"1"}}"#;
    assert_eq!(
        run1(unpack(), &[("app", "bar")], &[], unpacked),
        ("app=bar".into(), unpacked.into())
    );
    let escaped = r#"{"_entry":"I0303 kubelet] \"Pod status updated\" pod=\"x\" status=Running"}"#;
    assert_eq!(
        run1(unpack(), &[], &[], escaped).1,
        r#"I0303 kubelet] "Pod status updated" pod="x" status=Running"#
    );
    assert_eq!(
        run1(
            unpack(),
            &[("foo", "bar")],
            &[],
            r#"{"foo.bar":"10ms","test-dash":"foo","_entry":"some message"}"#
        )
        .0,
        "foo=bar,foo_bar=10ms,test_dash=foo"
    );
    assert_eq!(
        run1(
            unpack(),
            &[],
            &[("app", "foo_sm")],
            r#"{"app":"foo","namespace":"prod","_entry":"some message"}"#
        )
        .0,
        "app=foo_sm,app_extracted=foo,namespace=prod"
    );

    let pat = |p: &str| Stage::Parser(Parser::Pattern(p.into()));
    let apache = r#"127.0.0.1 user-identifier frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
    let p1 = r#"<ip> <userid> <user> [<_>] "<method> <path> <_>" <status> <size>"#;
    assert_eq!(
        run1(pat(p1), &[("foo", "bar")], &[], apache).0,
        "foo=bar,ip=127.0.0.1,method=GET,path=/apache_pb.gif,size=2326,status=200,user=frank,userid=user-identifier"
    );
    assert_eq!(
        run1(pat(p1), &[], &[("user", "not_frank")], apache).0,
        "ip=127.0.0.1,method=GET,path=/apache_pb.gif,size=2326,status=200,user=not_frank,user_extracted=frank,userid=user-identifier"
    );
    let logline = r#"level=debug ts=2021-05-19T07:54:26.864644382Z caller=logging.go:66 traceID=7fbb92fd0eb9c65d msg="POST /loki/api/v1/push (204) 1.238734ms""#;
    assert_eq!(
        run1(
            pat(r#"<_> msg="<method> <path> (<status>) <duration>""#),
            &[("method", "bar")],
            &[],
            logline
        )
        .0,
        "duration=1.238734ms,method=bar,method_extracted=POST,path=/loki/api/v1/push,status=204"
    );
    assert_eq!(
        run1(pat(r#"foo <f>""#), &[("method", "bar")], &[], "bar").0,
        "method=bar"
    );
}

#[test]
fn many_distinct_label_sets_stay_correct() {
    let p = Pipeline::new(&[logfmt()]).unwrap();
    let mut sp = p.for_stream(&stream("api"));
    for round in 0..2 {
        for i in 0..300 {
            let line = format!("seq={i} level=info");
            let out = sp.process(i, line.as_bytes(), &[]).unwrap();
            assert_eq!(
                out.labels.all.get("seq"),
                Some(i.to_string().as_str()),
                "round {round}"
            );
            assert_eq!(out.labels.hash, out.labels.all.fingerprint());
            assert_eq!(out.labels.parsed.len(), 2);
            assert_eq!(out.labels.stream, stream("api"));
        }
    }
    let ex = SampleExtractor::new(
        &range(vec![logfmt()], None),
        RangeOp::CountOverTime,
        Some(&Grouping {
            without: true,
            labels: vec!["level".into()],
        }),
    )
    .unwrap();
    let mut s = ex.for_stream(&stream("api"));
    for i in 0..300 {
        let line = format!("seq={i} level=info");
        let (_, l) = s.process(i, line.as_bytes(), &[]).unwrap();
        assert_eq!(l.all.get("seq"), Some(i.to_string().as_str()));
        assert!(l.all.get("level").is_none());
        assert_eq!(l.hash, l.all.fingerprint());
    }
}

#[test]
fn grouped_extraction_with_parser_hints() {
    // by (queue): json extracts only what the grouping, the filter and the
    // unwrap read, and the answer is unchanged
    let uw = Unwrap {
        label: "latency_ms".into(),
        conversion: None,
        post_filters: vec![],
    };
    let by = Grouping {
        without: false,
        labels: vec!["queue".into()],
    };
    let stages = vec![json(), num("job_id", CmpOp::Gt, 1000.0)];
    let ex =
        SampleExtractor::new(&range(stages, Some(uw)), RangeOp::MaxOverTime, Some(&by)).unwrap();
    let mut s = ex.for_stream(&stream("worker"));
    let (v, l) = s.process(1, JSON.as_bytes(), &[]).unwrap();
    assert_eq!(
        (v, l.all.to_string()),
        (988.0, r#"{queue="billing"}"#.to_string())
    );
    assert!(s
        .process(2, JSON.replace("1195", "7").as_bytes(), &[])
        .is_none());
    // nested objects are entered only when a needed label lies below them
    let by_user = Grouping {
        without: false,
        labels: vec!["user_name".into()],
    };
    let ex = SampleExtractor::new(
        &range(vec![json()], None),
        RangeOp::CountOverTime,
        Some(&by_user),
    )
    .unwrap();
    let mut s = ex.for_stream(&stream("auth"));
    let (_, l) = s.process(1, NESTED.as_bytes(), &[]).unwrap();
    assert_eq!(l.all.to_string(), r#"{user_name="carol"}"#);
    // a line_format stage disables hints (templates may read any label)
    let lf = Stage::LineFormat("{{.level}}".into());
    let ex = SampleExtractor::new(
        &range(vec![json(), lf], None),
        RangeOp::BytesOverTime,
        Some(&by_user),
    )
    .unwrap();
    let mut s = ex.for_stream(&stream("auth"));
    assert_eq!(s.process(1, NESTED.as_bytes(), &[]).unwrap().0, 5.0);
}

#[test]
fn parsers_stop_once_every_needed_label_is_found() {
    let by_level = Grouping {
        without: false,
        labels: vec!["level".into()],
    };
    let strict = Stage::Parser(Parser::Logfmt {
        strict: true,
        keep_empty: false,
        extractions: vec![],
    });
    // level found first: the broken pair after it is never read (as Loki)
    for (stages, line) in [
        (vec![strict.clone()], "level=warn a=\"unterminated"),
        (vec![json()], r#"{"level": "warn", "a": tru"#),
    ] {
        let ex = SampleExtractor::new(
            &range(stages, None),
            RangeOp::CountOverTime,
            Some(&by_level),
        )
        .unwrap();
        let mut s = ex.for_stream(&stream("api"));
        let (_, l) = s.process(1, line.as_bytes(), &[]).unwrap();
        assert_eq!(l.all.to_string(), r#"{level="warn"}"#, "{line}");
    }
    // the same error before the needed label is still reported
    let ex = SampleExtractor::new(
        &range(vec![strict], None),
        RangeOp::CountOverTime,
        Some(&by_level),
    )
    .unwrap();
    let mut s = ex.for_stream(&stream("api"));
    let (_, l) = s.process(1, b"a=\"unterminated level=warn", &[]).unwrap();
    assert!(l.all.get("__error__").is_some());
}

#[test]
fn grouping_by_stream_labels_under_hints_keeps_the_stream_values() {
    let by_app = Grouping {
        without: false,
        labels: vec!["app".into()],
    };
    let uw = Unwrap {
        label: "n".into(),
        conversion: None,
        post_filters: vec![],
    };
    let ex = SampleExtractor::new(
        &range(vec![json()], Some(uw)),
        RangeOp::MaxOverTime,
        Some(&by_app),
    )
    .unwrap();
    let mut s = ex.for_stream(&stream("worker"));
    let sm = [("app".to_string(), "meta".to_string())];
    // the line's and the metadata's app become app_extracted, never app
    let (v, l) = s.process(1, br#"{"app": "line", "n": 7}"#, &sm).unwrap();
    assert_eq!(
        (v, l.all.to_string()),
        (7.0, r#"{app="worker"}"#.to_string())
    );
    // an error still reaches the labels
    let (_, l) = s.process(2, br#"{"n": 8, "x": tru"#, &[]).unwrap();
    assert!(l.all.get("__error__").is_some());
}

#[test]
fn unneeded_structured_metadata_is_skipped_under_hints() {
    let by = |name: &str| Grouping {
        without: false,
        labels: vec![name.into()],
    };
    let sm = [
        ("trace_id".to_string(), "abc".to_string()),
        ("level".to_string(), "meta".to_string()),
    ];
    // level is needed: metadata level makes the parsed one level_extracted
    let ex = SampleExtractor::new(
        &range(vec![logfmt()], None),
        RangeOp::CountOverTime,
        Some(&by("level")),
    )
    .unwrap();
    let mut s = ex.for_stream(&stream("api"));
    let (_, l) = s.process(1, b"level=info trace_id=x", &sm).unwrap();
    assert_eq!(l.all.to_string(), r#"{level="meta"}"#);
    // grouped by trace_id: the metadata value wins over the line's
    let ex = SampleExtractor::new(
        &range(vec![logfmt()], None),
        RangeOp::CountOverTime,
        Some(&by("trace_id")),
    )
    .unwrap();
    let mut s = ex.for_stream(&stream("api"));
    let (_, l) = s.process(1, b"level=info trace_id=x", &sm).unwrap();
    assert_eq!(l.all.to_string(), r#"{trace_id="abc"}"#);
}

#[test]
fn first_extraction_wins_across_stages() {
    let drop_level = Stage::Drop(vec![LabelSelectItem::Name("level".into())]);
    let l = labels_of(
        "api",
        vec![logfmt(), drop_level, logfmt()],
        "level=info user=bob",
    );
    assert_eq!(l, "app=api,env=prod,service_name=api,user=bob");
    let set_level = Stage::LabelFormat(vec![LabelFormatOp::Template {
        dst: "level".into(),
        template: "x".into(),
    }]);
    let l = labels_of("api", vec![set_level, logfmt()], "level=info");
    assert_eq!(l, "app=api,env=prod,level=x,service_name=api");
    let l = labels_of("api", vec![json(), logfmt()], r#"{"a":"1"}"#);
    assert!(l.contains("a=1"), "{l}");
}

#[test]
fn label_format_cases_from_loki() {
    let rename = |dst: &str, src: &str| LabelFormatOp::Rename {
        dst: dst.into(),
        src: src.into(),
    };
    let tmpl = |dst: &str, t: &str| LabelFormatOp::Template {
        dst: dst.into(),
        template: t.into(),
    };
    let base = &[("foo", "blip"), ("bar", "blop")][..];
    let cases: Vec<(Vec<LabelFormatOp>, &str)> = vec![
        (vec![rename("baz", "foo")], "bar=blop,baz=blip"),
        (vec![rename("bar", "foo")], "bar=blip"),
        (vec![tmpl("foo", "{{.foo}} and {{.bar}}")], "bar=blop,foo=blip and blop"),
        (vec![tmpl("blip", "{{.foo}} and {{.bar}}"), rename("bar", "foo")], "bar=blip,blip=blip and blop"),
        (vec![tmpl("blip", "{{.foo | ToUpper }} and {{.bar}}"), rename("bar", "foo")], "bar=blip,blip=BLIP and blop"),
        (vec![tmpl("blip", r#"{{.nope | default "-" }} and {{.bar}}"#)], "bar=blop,blip=- and blop,foo=blip"),
        (
            vec![tmpl("bar", r#"{{replace "test" .foo}}"#)],
            "__error__=TemplateFormatErr,__error_details__=template: label:1:2: executing \"label\" at <replace>: wrong number of args for replace: want 3 got 2,bar=blop,foo=blip",
        ),
        (vec![tmpl("line", "{{ __line__ }}")], "bar=blop,foo=blip,line=test line"),
        (vec![tmpl("ts", r#"{{ __timestamp__ | date "2006-01-02" }}"#)], "bar=blop,foo=blip,ts=2022-08-26"),
        (vec![tmpl("ts", "{{ __timestamp__ | unixEpoch }}")], "bar=blop,foo=blip,ts=1661518453"),
    ];
    for (ops, want) in cases {
        let p = Pipeline::new(&[Stage::LabelFormat(ops.clone())]).unwrap();
        let b = Labels::new(
            base.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let mut sp = p.for_stream(&b);
        let out = sp.process(1661518453244672570, b"test line", &[]).unwrap();
        let got: Vec<String> = out
            .labels
            .all
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(got.join(","), want, "{ops:?}");
    }
    let e = Pipeline::new(&[Stage::LabelFormat(vec![rename("__error__", "bar")])]).unwrap_err();
    assert!(
        e.to_string().ends_with("__error__ cannot be formatted"),
        "{e}"
    );
}

#[test]
fn thread_safety() {
    fn shared<T: Send + Sync>() {}
    fn owned<T: Send>() {}
    shared::<Pipeline>();
    shared::<SampleExtractor>();
    shared::<LabelsResult>();
    owned::<StreamPipeline>();
    owned::<StreamSampleExtractor>();
}

#[test]
fn line_format_error_keeps_the_line() {
    let lf = Stage::LineFormat(r#"{{ div 1 0 }}"#.into());
    let (line, labels) = run("api", vec![lf], "original", &[]).unwrap();
    assert_eq!(line, "original");
    assert!(labels.contains("__error__=TemplateFormatErr"), "{labels}");
    assert!(
        labels.contains("__error_details__=template: line:1:3: executing \"line\" at <div 1 0>"),
        "{labels}"
    );
}

#[test]
fn structured_metadata_cases_from_loki() {
    let base = &[("foo", "bar")][..];
    let p = Pipeline::new(&[
        sfilter("foo", MatchOp::Eq, "bar"),
        sfilter("user", MatchOp::Eq, "bob"),
        Stage::LineFormat("lbs {{.foo}} {{.user}}".into()),
    ])
    .unwrap();
    let b = Labels::new(
        base.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let mut sp = p.for_stream(&b);
    let sm = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let out = sp
        .process(0, b"line", &sm(&[("user", "bob"), ("foo", "baz")]))
        .unwrap();
    assert_eq!(out.line, b"lbs bar bob");
    assert_eq!(
        out.labels.all.to_string(),
        r#"{foo="bar", foo_extracted="baz", user="bob"}"#
    );
    assert_eq!(out.labels.stream, b);
    assert_eq!(out.labels.structured_metadata.len(), 2);
    assert!(sp.process(0, b"line", &[]).is_none());
    let out = sp
        .process(0, b"", &sm(&[("user", "bob"), ("zsomething-bad", "foo")]))
        .unwrap();
    assert_eq!(
        out.labels.all.to_string(),
        r#"{foo="bar", user="bob", zsomething_bad="foo"}"#
    );
}

#[test]
fn drop_error_with_matching_value_from_loki() {
    let strict = Stage::Parser(Parser::Logfmt {
        strict: true,
        keep_empty: false,
        extractions: vec![],
    });
    let drop = Stage::Drop(vec![
        LabelSelectItem::Matcher(m("__error__", MatchOp::Eq, "LogfmtParserErr")),
        LabelSelectItem::Matcher(m("status", MatchOp::Eq, "200")),
        LabelSelectItem::Name("app".into()),
    ]);
    let stages = vec![strict, json(), drop];
    let l = parse_with_stages(
        stages.clone(),
        "level=info ts=2020-10-18T18:04:22.147378997Z caller=metrics.go:81 status=200",
    );
    assert_eq!(
        l,
        "__error__=JSONParserErr,__error_details__=Value looks like object, but can't find closing '}' symbol,caller=metrics.go:81,level=info,ts=2020-10-18T18:04:22.147378997Z"
    );
    let l = parse_with_stages(
        stages,
        r#"{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}}}"#,
    );
    assert_eq!(
        l,
        "__error_details__=logfmt syntax error at pos 2 : unexpected '\"',namespace=prod,pod_deployment_ref=foobar,pod_uuid=foo"
    );
}

fn parse_with_stages(stages: Vec<Stage>, line: &str) -> String {
    let p = Pipeline::new(&stages).unwrap();
    let mut sp = p.for_stream(&Labels::default());
    let out = sp.process(0, line.as_bytes(), &[]).unwrap();
    let v: Vec<String> = out
        .labels
        .all
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    v.join(",")
}

proptest! {
    #[test]
    fn structured_looking_lines_never_panic(line in r#"[{}\[\]":,= a-z0-9\\.\x1b\-]{0,80}"#) {
        let stages = vec![
            json(),
            Stage::Parser(Parser::Logfmt { strict: true, keep_empty: true, extractions: vec![] }),
            Stage::Parser(Parser::Unpack),
            Stage::Parser(Parser::Json(vec![LabelExtraction { label: "x".into(), expression: Some(r#"a["b"][0]"#.into()) }])),
            Stage::Decolorize,
            Stage::Drop(vec![LabelSelectItem::Name("a".into())]),
        ];
        let p = Pipeline::new(&stages).unwrap();
        let mut sp = p.for_stream(&stream("x"));
        let out = sp.process(0, line.as_bytes(), &[]).unwrap();
        prop_assert_eq!(out.labels.hash, out.labels.all.fingerprint());
    }
}

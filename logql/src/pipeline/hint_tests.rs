//! The parser-hint fast paths (keys matched on raw bytes, early stop)
//! against the general path: a metric query grouped `by` some labels must
//! see exactly the values a hint-free pipeline extracts for them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::ast::{Grouping, LogExpr, LogRange, Parser, RangeOp};

fn stream() -> Labels {
    Labels::new(vec![
        ("app".into(), "worker".into()),
        ("env".into(), "prod".into()),
    ])
}

fn range(parser: Parser) -> LogRange {
    LogRange {
        log: LogExpr {
            selector: vec![],
            pipeline: vec![Stage::Parser(parser)],
        },
        unwrap: None,
        range: 300_000_000_000,
        offset: 0,
    }
}

fn logfmt(strict: bool, keep_empty: bool) -> Parser {
    Parser::Logfmt {
        strict,
        keep_empty,
        extractions: vec![],
    }
}

const JSON_LINES: [&[u8]; 16] = [
    "{\"Level\": \"cap\", \"lével\": \"accent\", \"l\\u00e9vel\": 1, \"a b\": 2, \"level\": \"ok\"}".as_bytes(),
    br#"{"level": "info", "msg": "job queued", "job_id": 1195, "latency_ms": 988, "queue": "billing", "ok": true}"#,
    br#"{"a": "x\"y", "a": "second", "level": "warn"}"#,
    br#"{"a\"b": 1, "level": "info", "a": "\\"}"#,
    br#"{"user": {"name": "bob", "id": 2}, "level": "debug", "user_name": "flat"}"#,
    br#"{"level": "info", "a": tru"#,
    br#"{"a": bad, "level": "x"}"#,
    b"not json at all",
    br#"{"a-b": "dash", "1x": "digit", " level ": "spaced", "level": "plain"}"#,
    br#"{"app": "line", "env": "line-env", "a": 1}"#,
    br#"{"level": "\u00e9t\u00e9", "a": "\\\\"}"#,
    br#"{"a": "unterminated \" }"#,
    b"{\"level\": \"a\xffb\", \"a\": 2.5e3}",
    br#"{"a": null, "a": [1, 2], "a": {"b": 1}, "level": false}"#,
    br#"{"a": "", "level": "", "latency_ms": -12}"#,
    br#"{"a": 1,}"#,
];

const LOGFMT_LINES: [&[u8]; 13] = [
    "Level=cap lével=accent a.b=2 level=ok".as_bytes(),
    br#"level=info ts_seq=492 method=PUT status=404 duration=2073ms user=carol msg="handled request""#,
    b"level=info level=warn a=1",
    br#"a="x \"q\" y" level=debug"#,
    b"a-b=1 1x=2 level= a=",
    br#"level="unterminated"#,
    b"=bad level=info a=2",
    b"app=line env=e level=l",
    b"level=caf\xc3\xa9 a=\xff",
    br#"msg="\u00e9" level=x a="\q""#,
    b"a level a=3",
    br#"a=b"c level=y"#,
    b"",
];

/// `(labels, error)` of one line through a `count_over_time` extractor.
fn extract(ex: &SampleExtractor, line: &[u8]) -> (Labels, Option<String>) {
    let mut s = ex.for_stream(&stream());
    let (_, l) = s.process(1, line, &[]).unwrap();
    let err = l.all.get("__error__").map(str::to_string);
    (l.all.clone(), err)
}

fn check(parser: Parser, lines: &[&[u8]], groups: &[&str]) {
    let r = range(parser);
    let general = SampleExtractor::new(&r, RangeOp::CountOverTime, None).unwrap();
    let by = Grouping {
        without: false,
        labels: groups.iter().map(|g| g.to_string()).collect(),
    };
    let hinted = SampleExtractor::new(&r, RangeOp::CountOverTime, Some(&by)).unwrap();
    assert!(hinted.metadata_names().is_some(), "hints apply");
    for line in lines {
        let ctx = format!("{groups:?} {}", String::from_utf8_lossy(line));
        let (all, err) = extract(&general, line);
        let (got, got_err) = extract(&hinted, line);
        let found_all = groups.iter().all(|g| got.get(g).is_some());
        match (&err, &got_err) {
            (_, Some(_)) => assert_eq!(got_err, err, "{ctx}"),
            // an error after every needed label goes unnoticed, as in Loki
            (Some(_), None) => assert!(found_all, "{ctx}"),
            (None, None) => {}
        }
        if got_err.is_none() {
            let projected: Vec<(String, String)> = all
                .iter()
                .filter(|(k, _)| groups.contains(k))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(got, Labels::new(projected), "{ctx}");
        }
    }
}

const GROUPS: [&[&str]; 10] = [
    &["l_vel", "a_b"],
    &["Level"],
    &["level"],
    &["a"],
    &["a", "level"],
    &["latency_ms", "env"],
    &["a_b", "_1x"],
    &["user_name"],
    &["app_extracted", "env_extracted"],
    &["a_b"],
];

#[test]
fn hinted_json_matches_the_general_path() {
    for groups in GROUPS {
        check(Parser::Json(vec![]), &JSON_LINES, groups);
    }
}

#[test]
fn hinted_logfmt_matches_the_general_path() {
    for groups in GROUPS {
        for (strict, keep_empty) in [(false, false), (true, false), (false, true), (true, true)] {
            check(logfmt(strict, keep_empty), &LOGFMT_LINES, groups);
        }
    }
}

/// A JSON line of one of a few layouts (spacing variants included) with
/// varied values: strings with escapes, other types than usual, objects,
/// damage, truncation, other endings and trailing bytes, so that a stream's lines mostly
/// repeat a layout and sometimes break it.
fn json_line() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let value = prop_oneof![
        4 => proptest::sample::select(vec![
            r#""info""#, r#""job \"queued\"""#, r#""a\\b""#, r#""\u00e9t\u00e9""#, r#""""#,
            r#""x y""#, r#""\q""#,
        ]),
        3 => proptest::sample::select(vec!["12", "-12", "2.5e3", "0", "12x", "1.5"]),
        1 => proptest::sample::select(vec![
            "true", "false", "null", "[1, \"a\"]", "{\"b\": 1}", "bad", "\"open", "[1",
        ]),
    ];
    let layout = proptest::sample::select(vec![
        &["level", "msg", "job_id", "latency_ms", "ok"][..],
        &["level", "latency_ms"][..],
        &["a", "a", "env", "app", "a b"][..],
    ]);
    let spacing =
        proptest::sample::select(vec![(": ", ", "), (": ", ", "), (":", ","), (" : ", " ,")]);
    (
        layout,
        spacing,
        proptest::collection::vec(value, 5),
        proptest::option::weighted(0.1, 0usize..120),
        proptest::sample::select(vec!["}", "}", "}", "} ", " }", "}} x", ",}", "", " x"]),
    )
        .prop_map(|(keys, (colon, comma), values, cut, close)| {
            let mut l = String::from("{");
            for (i, (k, v)) in keys.iter().zip(&values).enumerate() {
                if i > 0 {
                    l.push_str(comma);
                }
                l.push_str(&format!("\"{k}\"{colon}{v}"));
            }
            l.push_str(close);
            let mut l = l.into_bytes();
            if let Some(n) = cut {
                l.truncate(n);
            }
            l
        })
}

proptest::proptest! {
    /// A stream's `json` stage reads lines of a layout it learnt without
    /// walking them: what it extracts must be what a fresh walk of each
    /// line extracts, with and without parser hints.
    #[test]
    fn learnt_json_layouts_read_as_a_fresh_walk(
        lines in proptest::collection::vec(json_line(), 1..40),
        g in 0..GROUPS.len() + 1,
    ) {
        let r = range(Parser::Json(vec![]));
        let by = GROUPS.get(g).map(|groups| Grouping {
            without: false,
            labels: groups.iter().map(|g| g.to_string()).collect(),
        });
        let ex = SampleExtractor::new(&r, RangeOp::CountOverTime, by.as_ref()).unwrap();
        let mut s = ex.for_stream(&stream());
        let pipeline = Pipeline::new(&r.log.pipeline).unwrap();
        let mut sp = pipeline.for_stream(&stream());
        for line in &lines {
            let ctx = String::from_utf8_lossy(line);
            let (_, got) = s.process(1, line, &[]).unwrap();
            let want = extract(&ex, line).0;
            proptest::prop_assert_eq!(&got.all, &want, "{}", ctx);
            let got = sp.process(1, line, &[]).map(|o| o.labels.all.clone());
            let want = pipeline
                .for_stream(&stream())
                .process(1, line, &[])
                .map(|o| o.labels.all.clone());
            proptest::prop_assert_eq!(got, want, "{}", ctx);
        }
    }
}

/// A logfmt-ish line: tokens that stop a hinted parse early (or not),
/// joined by separators that do or do not end a token, so that lines share
/// prefixes in every way that matters to `extract::PrefixMemo`.
fn logfmt_line() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let token = proptest::sample::select(vec![
        "level=info",
        "level=warn",
        "level=info2",
        "level=",
        "level",
        r#"level="a b""#,
        r#"level="x\"y""#,
        r#"level="open"#,
        "level=a\tb",
        "lével=x",
        "a=1",
        "a=b=c",
        "=x",
        r#"a"b=c"#,
        "status=500",
        "status=abc",
        r#"status="5 0""#,
        "latency_ms=12",
        "latency_ms=2.5s",
        "x",
        "",
    ]);
    let sep = proptest::sample::select(vec![" ", " ", " ", "\t", "  ", ""]);
    proptest::collection::vec((token, sep), 1..6).prop_map(|parts| {
        let mut l = Vec::new();
        for (t, s) in parts {
            l.extend_from_slice(t.as_bytes());
            l.extend_from_slice(s.as_bytes());
        }
        l
    })
}

/// `(query, by)` pairs whose pipelines a line prefix can decide, and some
/// it cannot.
const MEMO_QUERIES: [(&str, &[&str]); 8] = [
    ("count_over_time({a=\"b\"} | logfmt [5m])", &["level"]),
    (
        "count_over_time({a=\"b\"} | logfmt --strict [5m])",
        &["level", "status"],
    ),
    (
        "count_over_time({a=\"b\"} | logfmt --keep-empty [5m])",
        &["level"],
    ),
    (
        "bytes_over_time({a=\"b\"} | logfmt | status > 100 [5m])",
        &["level"],
    ),
    (
        "sum_over_time({a=\"b\"} | logfmt | unwrap latency_ms [5m])",
        &["level"],
    ),
    (
        "sum_over_time({a=\"b\"} | logfmt | unwrap duration(latency_ms) | level != \"warn\" [5m])",
        &["level"],
    ),
    ("count_over_time({a=\"b\"} | logfmt [5m])", &["app", "a"]),
    (
        "count_over_time({a=\"b\"} |= \"level\" | logfmt [5m])",
        &["level"],
    ),
];

fn memo_extractor(q: usize) -> SampleExtractor {
    extractor(MEMO_QUERIES[q])
}

/// The extractor of a range aggregation `query` grouped `by` labels.
fn extractor((query, by): (&str, &[&str])) -> SampleExtractor {
    let Ok(crate::ast::Expr::Sample(crate::ast::SampleExpr::RangeAgg(agg))) =
        crate::parser::parse_expr(query)
    else {
        panic!("{query} is a range aggregation")
    };
    let by = Grouping {
        without: false,
        labels: by.iter().map(|g| g.to_string()).collect(),
    };
    SampleExtractor::new(&agg.range, agg.op, Some(&by)).unwrap()
}

/// Whether one long-lived extractor of `query` gives every line what a
/// fresh one gives it.
fn outcomes_match_a_fresh_run(
    query: (&str, &[&str]),
    lines: &[Vec<u8>],
) -> Result<(), proptest::test_runner::TestCaseError> {
    let ex = extractor(query);
    let mut s = ex.for_stream(&stream());
    for line in lines {
        let ctx = format!("{} {:?}", query.0, String::from_utf8_lossy(line));
        let got = s.process(1, line, &[]).map(|(v, l)| (v, l.all.clone()));
        let want = ex
            .for_stream(&stream())
            .process(1, line, &[])
            .map(|(v, l)| (v, l.all.clone()));
        proptest::prop_assert_eq!(got, want, "{}", ctx);
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    /// A stream's extractor reuses the outcome of a line whose hinted
    /// `logfmt` stopped early for later lines with the same prefix: every
    /// line must still get what a fresh extractor gives it.
    #[test]
    fn logfmt_prefix_outcomes_match_a_fresh_run(
        lines in proptest::collection::vec(logfmt_line(), 1..120),
        q in 0..MEMO_QUERIES.len(),
    ) {
        outcomes_match_a_fresh_run(MEMO_QUERIES[q], &lines)?;
    }
}

#[test]
fn prefix_memo_applies_only_where_a_prefix_decides() {
    let decided: Vec<bool> = (0..MEMO_QUERIES.len())
        .map(|q| memo_extractor(q).memoizes())
        .collect();
    assert_eq!(
        decided,
        [true, true, true, true, true, true, true, false],
        "a line filter reads the whole line"
    );
}

#[test]
fn prefix_memo_answers_repeated_prefixes_and_gives_up_on_unique_ones() {
    let ex = memo_extractor(0);
    let levels = ["debug", "info", "warn", "error"];
    // the memo's state after a stream of 400 lines `line(i, level)`
    let state_after = |line: fn(usize, &str) -> String| {
        let mut s = ex.for_stream(&stream());
        for i in 0..400 {
            let line = line(i, levels[i % 4]);
            let (_, l) = s.process(1, line.as_bytes(), &[]).unwrap();
            assert_eq!(l.all.get("level"), Some(levels[i % 4]));
        }
        s.memo_state()
    };
    let level_first: fn(usize, &str) -> String =
        |i, level| format!("level={level} seq={i} msg=\"done\"");
    assert_eq!(state_after(level_first), Some((396, true)));
    // a varying key ahead of `level`: every prefix is new
    let seq_first: fn(usize, &str) -> String = |i, level| format!("seq={i} level={level}");
    assert_eq!(state_after(seq_first), Some((0, false)));
    // entries with structured metadata take the stages
    let mut s = ex.for_stream(&stream());
    let md = [("trace_id".to_string(), "abc".to_string())];
    for _ in 0..3 {
        let (_, l) = s.process(1, b"level=info", &md).unwrap();
        assert_eq!(l.all.get("level"), Some("info"));
    }
    assert_eq!(s.memo_state(), Some((0, true)));
}

/// Range queries whose pipelines are `| json` under hints then label
/// filters (the line memo applies), and one that is not.
const JSON_MEMO_QUERIES: [(&str, &[&str]); 6] = [
    ("count_over_time({a=\"b\"} | json [5m])", &["level"]),
    (
        "sum_over_time({a=\"b\"} | json | unwrap lat [5m])",
        &["env"],
    ),
    (
        "sum_over_time({a=\"b\"} | json | unwrap duration(lat) | level != \"warn\" [5m])",
        &["level"],
    ),
    (
        "bytes_over_time({a=\"b\"} | json | level=~\"i.*\" [5m])",
        &["level"],
    ),
    (
        "count_over_time({a=\"b\"} | json [5m])",
        &["__error__", "env_extracted"],
    ),
    (
        "count_over_time({a=\"b\"} | json | line_format \"{{.level}}\" [5m])",
        &["level"],
    ),
];

fn json_memo_extractor(q: usize) -> SampleExtractor {
    extractor(JSON_MEMO_QUERIES[q])
}

/// Short JSON-ish lines from few parts, so that lines repeat.
fn short_json_line() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let member = proptest::sample::select(vec![
        r#""level":"info""#,
        r#""level":"warn""#,
        r#""level":null"#,
        r#""lat":5"#,
        r#""lat":"7ms""#,
        r#""lat":-1.5"#,
        r#""env":"x""#,
        r#""n":{"level":"in"}"#,
        r#""lat":"#,
        "junk",
    ]);
    proptest::collection::vec(member, 0..4)
        .prop_map(|m| format!("{{{}}}", m.join(",")).into_bytes())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// A stream's extractor reuses the outcome of a line it saw before
    /// under `| json` and label filters: every line must still get what a
    /// fresh extractor gives it.
    #[test]
    fn json_line_outcomes_match_a_fresh_run(
        lines in proptest::collection::vec(short_json_line(), 1..200),
        q in 0..JSON_MEMO_QUERIES.len(),
    ) {
        outcomes_match_a_fresh_run(JSON_MEMO_QUERIES[q], &lines)?;
    }
}

#[test]
fn line_memo_answers_repeated_lines_and_gives_up_on_unique_ones() {
    let memos: Vec<bool> = (0..JSON_MEMO_QUERIES.len())
        .map(|q| {
            json_memo_extractor(q)
                .for_stream(&stream())
                .line_memo_state()
                .is_some()
        })
        .collect();
    assert_eq!(memos, [true, true, true, true, true, false], "line_format");
    let ex = json_memo_extractor(0);
    let state_after = |line: fn(usize) -> String| {
        let mut s = ex.for_stream(&stream());
        for i in 0..1000 {
            let (_, l) = s.process(1, line(i).as_bytes(), &[]).unwrap();
            assert_eq!(l.all.get("level"), Some(["info", "warn"][i % 2]));
        }
        s.line_memo_state()
    };
    let few: fn(usize) -> String = |i| format!(r#"{{"level":"{}"}}"#, ["info", "warn"][i % 2]);
    assert_eq!(state_after(few), Some((998, true)));
    let unique: fn(usize) -> String =
        |i| format!(r#"{{"level":"{}","n":{i}}}"#, ["info", "warn"][i % 2]);
    assert_eq!(state_after(unique), Some((0, false)));
    // long lines and entries with structured metadata take the stages
    let mut s = ex.for_stream(&stream());
    let long = format!(r#"{{"level":"info","pad":"{}"}}"#, "x".repeat(64));
    for _ in 0..3 {
        s.process(1, long.as_bytes(), &[]).unwrap();
        s.process(1, br#"{"level":"info"}"#, &[("k".into(), "v".into())])
            .unwrap();
    }
    assert_eq!(s.line_memo_state(), Some((0, true)));
}

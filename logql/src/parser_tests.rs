//! Unit tests of the parser: table-driven accepts, rejects and messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn ok(q: &str) -> String {
    match parse_expr(q) {
        Ok(e) => e.to_string(),
        Err(e) => panic!("{q}: {e}"),
    }
}

fn err(q: &str) -> String {
    match parse_expr(q) {
        Ok(e) => panic!("{q} parsed as {e}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn canonical_forms() {
    let cases = [
        (r#"{ foo = "bar" }"#, r#"{foo="bar"}"#),
        (
            r#"count_over_time({foo="bar"}[12h] |= "error")"#,
            r#"count_over_time({foo="bar"} |= "error"[12h])"#,
        ),
        (
            r#"sum(count_over_time({foo="bar"}[5m])) by (foo) + 1 / 2"#,
            r#"(sum by (foo)(count_over_time({foo="bar"}[5m])) + 0.5)"#,
        ),
        ("1 + -2 / 1", "-1"),
        ("2 ^ 3 ^ 2", "512"),
        ("vector(1)", "vector(1.000000)"),
        (r#"{a="b"} != "x" or "y""#, r#"{a="b"} != "x" != "y""#),
        (r#"{a="b"} |= "x" or "y""#, r#"{a="b"} |= "x" or "y""#),
    ];
    for (q, want) in cases {
        assert_eq!(ok(q), want, "{q}");
    }
}

#[test]
fn error_messages() {
    let cases = [
        (r#"{foo="bar"} |~"#, "parse error at line 1, col 15: syntax error: unexpected $end, expecting STRING or ip"),
        (r#"min({ foo = "bar" }[5m])"#, "parse error at line 0, col 20: syntax error: unexpected RANGE"),
        ("{}", "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"),
        (r#"sum_over_time({app="foo"} | json [5m])"#, "parse error : invalid aggregation sum_over_time without unwrap"),
    ];
    for (q, want) in cases {
        assert_eq!(err(q), want, "{q}");
    }
}

#[test]
fn regex_errors_with_multibyte_text_do_not_panic() {
    for q in [
        r#"{a=~"µ*"}"#,
        r#"{a=~"*µ"}"#,
        r#"{a="b"} | pattern "µ<x>""#,
        r#"{a=~"[µ"}"#,
        r#"{a=~"(µ"}"#,
    ] {
        let _ = parse_expr(q);
    }
    assert!(err(r#"{a=~"*µ"}"#).contains("missing argument to repetition operator: `*`"));
}

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

#[test]
fn function_names_and_keywords() {
    let cases = [
        // function names are plain identifiers unless a call follows
        (
            r#"{ip="x", rate="y"} | bytes > 1KB | duration > 1s"#,
            r#"{ip="x", rate="y"} | bytes>1.0kB | duration>1s"#,
        ),
        (
            r#"SUM BY (a) (RATE({a="b"}[1m]))"#,
            r#"sum by (a)(rate({a="b"}[1m]))"#,
        ),
        // comments: `#` to end of line, Go's `//` and `/* */`
        ("{a=\"b\"} # |= \"x\"\n| json", r#"{a="b"} | json"#),
        (r#"{a="b"} /* c */ |= "x""#, r#"{a="b"} |= "x""#),
        // negative durations and Go duration syntax in label filters and offsets
        (
            r#"{a="b"} | x > -1s | y < 1.5m"#,
            r#"{a="b"} | x>-1s | y<1m30s"#,
        ),
        (
            r#"rate({a="b"}[90s] offset 1h30m)"#,
            r#"rate({a="b"}[1m30s] offset 1h30m0s)"#,
        ),
        // grouping after a range aggregation, label_replace, `bool`, `on ()`
        (
            r#"avg_over_time({a="b"} | unwrap x [1m]) by ()"#,
            r#"avg_over_time({a="b"} | unwrap x[1m]) by ()"#,
        ),
        (
            r#"rate({a="b"}[1m]) > bool on () rate({a="b"}[1m])"#,
            r#"(rate({a="b"}[1m]) > bool on ()  rate({a="b"}[1m]))"#,
        ),
        // `ignoring ()` disappears, as in Loki
        (
            r#"rate({a="b"}[1m]) + ignoring () rate({a="b"}[1m])"#,
            r#"(rate({a="b"}[1m]) + rate({a="b"}[1m]))"#,
        ),
        // ip filters, pattern filters, drop/keep matchers
        (
            r#"{a="b"} |> "<_> x" != ip("10.0.0.0/8") | drop c, d=~"e.*""#,
            r#"{a="b"} |> "<_> x" != ip("10.0.0.0/8") | drop c,d=~"e.*""#,
        ),
    ];
    for (q, want) in cases {
        assert_eq!(ok(q), want, "{q}");
    }
}

#[test]
fn error_positions_and_expectations() {
    let cases = [
        // two-character operators are read with look-ahead: Loki reports line 0
        (r#"{a="b"} |= "x" |= |="#, "parse error at line 0, col 19: syntax error: unexpected |=, expecting STRING or ip"),
        ("{a=\"b\"}\n| json\n| x=", "parse error at line 3, col 5: syntax error: unexpected $end"),
        (r#"sum by (a"#, "parse error at line 1, col 10: syntax error: unexpected $end, expecting , or )"),
        (r#"rate({a="b"}[1m]) by"#, "parse error at line 1, col 21: syntax error: unexpected $end, expecting ("),
        (r#"count_over_time({a="b"} | unwrap"#, "parse error at line 1, col 33: syntax error: unexpected $end, expecting IDENTIFIER or BYTES_CONV or DURATION_CONV or DURATION_SECONDS_CONV"),
        (r#"{a="b"} | json x="#, "parse error at line 1, col 18: syntax error: unexpected $end, expecting STRING"),
        (r#"{a="b"} | unwrap x"#, "parse error at line 1, col 11: syntax error: unexpected unwrap"),
        ("", "parse error : syntax error: unexpected $end"),
    ];
    for (q, want) in cases {
        assert_eq!(err(q), want, "{q}");
    }
}

#[test]
fn validation_order_and_messages() {
    let cases = [
        // the outer operation's own error comes before its legs' (Loki's pre-order walk)
        (r#"sum(3, count_over_time({a=~".*"}[1m]))"#, "parse error : unsupported parameter for operation sum(3,"),
        (r#"(rate({a="b"}[1m]) or 1) + {a="b"}"#, "parse error : unexpected type for right leg of binary operation (+): *syntax.MatchersExpr"),
        (r#"{a="b"} |= "x" + 1"#, "parse error : unexpected type for left leg of binary operation (+): *syntax.PipelineExpr"),
        (r#"rate_counter({a="b"}[1m])"#, "parse error : invalid aggregation rate_counter without unwrap"),
        (r#"quantile_over_time(2e, {a="b"} | unwrap x [1m])"#, "parse error at line 1, col 20: exponent has no digits"),
        (r#"approx_topk(2, rate({a="b"}[1m])) by ()"#, "parse error : grouping not allowed for approx_topk aggregation"),
        (r#"{a="b"} | regexp "(\\d+)""#, "parse error : invalid regexp parser: at least one named capture must be supplied"),
        (r#"{a="b"} | pattern "<a><b>""#, "parse error : invalid pattern parser: found consecutive capture '<a><b>': invalid expression"),
        (r#"{a="b"} | x > 1e999"#, "parse error : unable to parse literal as a float: strconv.ParseFloat: parsing \"1e999\": value out of range"),
    ];
    for (q, want) in cases {
        assert_eq!(err(q), want, "{q}");
    }
}

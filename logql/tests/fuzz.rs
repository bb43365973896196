//! Property tests of the parser on hostile input: mutations, truncations and
//! splices of corpus queries plus random token soup. The parser must never
//! panic or hang, positions in errors must point into the input, and
//! whatever parses must print to a form that parses back to the same AST.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use proptest::prelude::*;
use sluice_logql::parser::parse_expr;
use sluice_logql::Error;

fn corpus() -> &'static [String] {
    static C: OnceLock<Vec<String>> = OnceLock::new();
    C.get_or_init(|| {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/conformance/logql-corpus.jsonl");
        std::fs::read_to_string(p)
            .expect("corpus")
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["query"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    })
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[5m]",
    "[",
    "]",
    ",",
    "=",
    "!=",
    "=~",
    "!~",
    "|=",
    "|~",
    "|>",
    "!>",
    "|",
    "==",
    ">",
    ">=",
    "<",
    "<=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "and",
    "or",
    "unless",
    "by",
    "without",
    "bool",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "unwrap",
    "json",
    "logfmt",
    "--strict",
    "--keep-empty",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "drop",
    "keep",
    "decolorize",
    "ip",
    "ip(",
    "sum",
    "rate",
    "count_over_time",
    "quantile_over_time",
    "topk",
    "sort",
    "vector",
    "label_replace",
    "bytes(",
    "duration(",
    "app",
    "\"x\"",
    "\"a|b\"",
    "`raw`",
    "\"\\q\"",
    "\"unterminated",
    "1",
    "0.5",
    "-1",
    "1e6",
    "0x1p3",
    "0B",
    "5m",
    "1h30m",
    "-5m",
    "10KB",
    "2.5KiB",
    "#",
    "//",
    "/*",
    "\n",
    " ",
    "'c'",
    "@",
    "µ",
    "é",
];

fn short(q: &str) -> String {
    q.chars().take(200).collect()
}

fn check(q: &str) {
    let t = Instant::now();
    match parse_expr(q) {
        Ok(e) => {
            let printed = e.to_string();
            if printed.contains("NaN") || printed.contains("Inf") {
                // Loki prints folded NaN/Inf literals as `NaN`/`+Inf`, which no parser reads back
                return;
            }
            let again = parse_expr(&printed)
                .unwrap_or_else(|err| panic!("{q:?} printed {printed:?}: {err}"));
            assert_eq!(
                again.to_string(),
                printed,
                "print is not a fixed point for {q:?}"
            );
        }
        Err(Error::Parse { line, col, .. }) => {
            let lines: Vec<&str> = q.split('\n').collect();
            assert!(line <= lines.len(), "line {line} past the input {q:?}");
            let width = if line == 0 {
                lines.iter().map(|l| l.chars().count()).max().unwrap_or(0)
            } else {
                lines[line - 1].chars().count()
            };
            assert!(
                col >= 1 && col <= width + 1,
                "col {col} outside line {line} of {q:?}"
            );
        }
        Err(_) => {}
    }
    assert!(
        t.elapsed().as_millis() < 1_000,
        "slow parse ({:?}) of {:?}",
        t.elapsed(),
        short(q)
    );
}

fn mutate(q: &str, op: u8, a: usize, b: usize, tok: &str, other: &str) -> String {
    let chars: Vec<char> = q.chars().collect();
    let n = chars.len().max(1);
    let (i, j) = (a % n, b % n);
    let (lo, hi) = (i.min(j), i.max(j));
    let s = |x: &[char]| x.iter().collect::<String>();
    match op % 5 {
        0 => s(&chars[..lo.min(chars.len())]),
        1 => format!(
            "{}{}",
            s(&chars[..lo.min(chars.len())]),
            s(&chars[hi.min(chars.len())..])
        ),
        2 => format!(
            "{}{tok}{}",
            s(&chars[..lo.min(chars.len())]),
            s(&chars[lo.min(chars.len())..])
        ),
        3 => {
            let o: Vec<char> = other.chars().collect();
            let k = b % o.len().max(1);
            format!(
                "{}{}",
                s(&chars[..lo.min(chars.len())]),
                s(&o[k.min(o.len())..])
            )
        }
        _ => format!(
            "{}{tok}{}",
            s(&chars[..lo.min(chars.len())]),
            s(&chars[hi.min(chars.len())..])
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 80_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_corpus_queries(i in 0usize..10_000, j in 0usize..10_000, op in 0u8..5, a in 0usize..4096, b in 0usize..4096, t in 0usize..TOKENS.len()) {
        let c = corpus();
        let q = mutate(&c[i % c.len()], op, a, b, TOKENS[t], &c[j % c.len()]);
        check(&q);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 30_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn token_soup(toks in proptest::collection::vec((0usize..TOKENS.len(), 0u8..3), 0..40)) {
        let mut q = String::new();
        for (t, sp) in toks {
            q.push_str(TOKENS[t]);
            q.push_str(["", " ", "\t"][sp as usize]);
        }
        check(&q);
    }
}

/// Inputs the property tests once found, kept so they never come back.
#[test]
fn regressions() {
    // a bare `group_right` before a parenthesised right-hand side
    check("sum by (app,machine) (count_over_time({app=\"foo\"}[1m])) > bool on () group_right sum by (app) (count_over_time({app=\"foo\"}[1m]))\n\t-1");
    check("sum(rate({a=\"b\"}[1m])) * on (x) group_left (sum(rate({a=\"b\"}[1m])) + 1)");
}

#[test]
fn pathological_inputs_are_fast_and_safe() {
    let deep = format!("{}1{}", "(".repeat(50_000), ")".repeat(50_000));
    let chain = format!("{{a=\"b\"}} | {}", "x=\"1\" ".repeat(20_000));
    let ors = format!("{{a=\"b\"}} |= {}", vec!["\"x\""; 10_000].join(" or "));
    let pows = vec!["2"; 20_000].join(" ^ ");
    let sums = vec!["sum(count_over_time({a=\"b\"}[1m]))"; 3_000].join(" + ");
    let big = "a".repeat(200_000);
    let funcs = "rate ".repeat(25_000);
    let aggs = format!(
        "{}count_over_time({{a=\"b\"}}[1m]){}",
        "sum(label_replace(".repeat(60),
        ",\"a\",\"b\",\"c\",\"d\"))".repeat(60)
    );
    let filters = format!(
        "{{a=\"b\"}} | {}x=\"1\"{}",
        "(".repeat(120),
        ")".repeat(120)
    );
    for q in [deep, chain, ors, pows, sums, big, funcs, aggs, filters] {
        let t = Instant::now();
        check(&q);
        println!(
            "{} bytes: {:?} ({})",
            q.len(),
            t.elapsed(),
            short(&format!("{:?}", parse_expr(&q).err()))
        );
    }
}

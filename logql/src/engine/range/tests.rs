#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;

use super::*;
use crate::ast::{LabelFormatOp, LineFilter, LineFilterOp, LineFilterValue, LogExpr, LogRange};
use crate::source::{Entry, MemSource};

const S: i64 = 1_000_000_000;

fn source() -> MemSource {
    let labels = Labels::new(vec![("app".into(), "api".into())]);
    let entries = ["one", "two", "three"]
        .iter()
        .enumerate()
        .map(|(i, l)| Entry {
            ts: (i as i64 + 1) * S,
            line: Bytes::from(*l),
            metadata: Vec::new(),
            cut: false,
        })
        .collect();
    MemSource {
        streams: vec![(labels, entries)],
    }
}

fn agg(op: RangeOp, pipeline: Vec<Stage>) -> RangeAgg {
    let selector = vec![Matcher::new("app", MatchOp::Eq, "api").unwrap()];
    let log = LogExpr { selector, pipeline };
    RangeAgg {
        op,
        range: LogRange {
            log,
            unwrap: None,
            range: 10 * S,
            offset: 0,
        },
        param: None,
        grouping: None,
    }
}

fn grid() -> Grid {
    Grid {
        start: 10 * S,
        end: 10 * S,
        step: 1,
        len: 1,
        instant: true,
    }
}

/// (labels, value) at the single step, sorted.
fn run(a: &RangeAgg) -> Vec<(String, f64)> {
    let sv = eval(a, None, &source(), &grid()).unwrap();
    let mut out: Vec<(String, f64)> = sv.steps[0]
        .iter()
        .map(|(id, v)| (sv.labels[*id as usize].to_string(), *v))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn line_format(t: &str) -> Stage {
    Stage::LineFormat(t.into())
}

fn label_line() -> Stage {
    Stage::LabelFormat(vec![LabelFormatOp::Template {
        dst: "l".into(),
        template: "{{__line__}}".into(),
    }])
}

#[test]
fn unread_line_format_is_dropped_like_loki() {
    // nothing reads the formatted line: label_format sees the original lines
    let a = agg(RangeOp::CountOverTime, vec![line_format("X"), label_line()]);
    let got = run(&a);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got.iter().all(|(l, v)| !l.contains("l=\"X\"") && *v == 1.0),
        "{got:?}"
    );
    // bytes count the formatted line, so it stays
    let a = agg(RangeOp::BytesOverTime, vec![line_format("X"), label_line()]);
    assert_eq!(run(&a), vec![(r#"{app="api", l="X"}"#.to_string(), 3.0)]);
    // a later line filter reads it, so it stays
    let filter = Stage::LineFilter(LineFilter {
        op: LineFilterOp::Contains,
        values: vec![LineFilterValue::Literal("X".into())],
    });
    let a = agg(
        RangeOp::CountOverTime,
        vec![line_format("X"), filter, label_line()],
    );
    assert_eq!(run(&a), vec![(r#"{app="api", l="X"}"#.to_string(), 3.0)]);
}

#[test]
fn errors_in_series_are_refused() {
    let sv = StepVectors {
        labels: vec![
            Labels::new(vec![
                ("__error__".into(), "JSONParserErr".into()),
                ("app".into(), "x".into()),
            ]),
            Labels::new(vec![
                ("__error__".into(), "JSONParserErr".into()),
                ("__preserve_error__".into(), "true".into()),
            ]),
        ],
        steps: vec![vec![], vec![(1, 1.0)], vec![(0, 1.0)]],
    };
    let err = check_errors(&sv).unwrap_err().to_string();
    assert!(err.starts_with("pipeline error: 'JSONParserErr' for series: '{__error__=\"JSONParserErr\", app=\"x\"}'."), "{err}");
    let ok = StepVectors {
        labels: sv.labels.clone(),
        steps: vec![vec![(1, 1.0)]],
    };
    assert!(check_errors(&ok).is_ok());
}

/// The plain definition of `Samples::sort`: (ts, stream hash), stable.
fn reference_sort(s: &Samples) -> Vec<(i64, f64)> {
    let mut keyed = Vec::new();
    for (r, &(fp, start)) in s.runs.iter().enumerate() {
        let end = s.runs.get(r + 1).map_or(s.points.len(), |n| n.1);
        keyed.extend(s.points[start..end].iter().map(|&(ts, v)| (ts, fp, v)));
    }
    keyed.sort_by_key(|&(ts, fp, _)| (ts, fp));
    keyed.into_iter().map(|(ts, _, v)| (ts, v)).collect()
}

#[test]
fn samples_sort_orders_ties_by_stream_hash() {
    // runs of time-ordered points with many equal timestamps, within and
    // across runs, whose hashes come in no particular order
    let mut seed = 7u64;
    let mut next = move |m: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    for case in 0..50 {
        let mut s = Samples::default();
        let streams = 1 + next(6) as usize;
        let mut v = 0.0;
        for _ in 0..streams {
            let fp = next(5) * 1000 + case;
            s.runs.push((fp, s.points.len()));
            let mut ts = next(4) as i64;
            for _ in 0..next(12) {
                ts += next(3) as i64;
                v += 1.0;
                s.points.push((ts, v));
            }
        }
        let want = reference_sort(&s);
        s.sort();
        assert_eq!(s.points, want, "case {case}");
    }
}

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::ast::SampleExpr;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn input() -> StepVectors {
    StepVectors {
        labels: vec![
            l(&[("app", "api"), ("pod", "a")]),
            l(&[("app", "api"), ("pod", "b")]),
            l(&[("app", "db"), ("pod", "c")]),
        ],
        // step 0: all three; step 1: only pod c
        steps: vec![vec![(0, 2.0), (1, 4.0), (2, 9.0)], vec![(2, 1.0)]],
    }
}

fn agg(op: VectorOp, grouping: Option<Grouping>, param: Option<f64>) -> VectorAgg {
    VectorAgg {
        op,
        expr: Box::new(SampleExpr::Literal(0.0)),
        param,
        grouping,
        grouping_first: true,
    }
}

fn by(names: &[&str]) -> Option<Grouping> {
    Some(Grouping {
        without: false,
        labels: names.iter().map(|s| s.to_string()).collect(),
    })
}

fn step(v: &StepVectors, k: usize) -> Vec<(String, f64)> {
    let mut s: Vec<(String, f64)> = v.steps[k]
        .iter()
        .map(|(id, x)| (v.labels[*id as usize].to_string(), *x))
        .collect();
    s.sort_by(|a, b| a.0.cmp(&b.0));
    s
}

#[test]
fn reductions_by_app() {
    let cases = [
        (VectorOp::Sum, 6.0, 9.0),
        (VectorOp::Avg, 3.0, 9.0),
        (VectorOp::Min, 2.0, 9.0),
        (VectorOp::Max, 4.0, 9.0),
        (VectorOp::Count, 2.0, 1.0),
        (VectorOp::Stdvar, 1.0, 0.0),
        (VectorOp::Stddev, 1.0, 0.0),
    ];
    for (op, api, db) in cases {
        let out = aggregate(input(), &agg(op, by(&["app"]), None)).unwrap();
        assert_eq!(
            step(&out, 0),
            vec![("{app=\"api\"}".into(), api), ("{app=\"db\"}".into(), db)],
            "{op:?}"
        );
        assert_eq!(step(&out, 1).len(), 1, "{op:?}");
    }
}

#[test]
fn without_and_no_grouping() {
    let g = Some(Grouping {
        without: true,
        labels: vec!["pod".into()],
    });
    let out = aggregate(input(), &agg(VectorOp::Sum, g, None)).unwrap();
    assert_eq!(
        step(&out, 0),
        vec![("{app=\"api\"}".into(), 6.0), ("{app=\"db\"}".into(), 9.0)]
    );
    let out = aggregate(input(), &agg(VectorOp::Sum, None, None)).unwrap();
    assert_eq!(step(&out, 0), vec![("{}".into(), 15.0)]);
    assert_eq!(step(&out, 1), vec![("{}".into(), 1.0)]);
}

#[test]
fn topk_bottomk_sort() {
    let out = aggregate(input(), &agg(VectorOp::Topk, None, Some(2.0))).unwrap();
    assert_eq!(out.steps[0], vec![(2, 9.0), (1, 4.0)]);
    let out = aggregate(input(), &agg(VectorOp::Bottomk, by(&["app"]), Some(1.0))).unwrap();
    assert_eq!(
        step(&out, 0),
        vec![
            ("{app=\"api\", pod=\"a\"}".into(), 2.0),
            ("{app=\"db\", pod=\"c\"}".into(), 9.0)
        ]
    );
    let out = aggregate(input(), &agg(VectorOp::Topk, None, Some(0.0))).unwrap();
    assert!(out.steps.iter().all(|s| s.is_empty()));
    let out = aggregate(input(), &agg(VectorOp::Sort, None, None)).unwrap();
    assert_eq!(out.steps[0], vec![(0, 2.0), (1, 4.0), (2, 9.0)]);
    let out = aggregate(input(), &agg(VectorOp::SortDesc, None, None)).unwrap();
    assert_eq!(out.steps[0], vec![(2, 9.0), (1, 4.0), (0, 2.0)]);
}

#[test]
fn label_replace_expands_and_removes() {
    let lr = |dst: &str, repl: &str, src: &str, re: &str| LabelReplace {
        expr: SampleExpr::Literal(0.0),
        dst: dst.into(),
        replacement: repl.into(),
        src: src.into(),
        regex: re.into(),
    };
    let out = label_replace(input(), &lr("svc", "$1-x", "app", "(.*)")).unwrap();
    assert_eq!(
        out.labels[0],
        l(&[("app", "api"), ("pod", "a"), ("svc", "api-x")])
    );
    // the regex is anchored: "ap" does not match "api"
    let out = label_replace(input(), &lr("svc", "$1", "app", "(ap)")).unwrap();
    assert_eq!(out.labels[0], input().labels[0]);
    // an empty result removes the label
    let out = label_replace(input(), &lr("pod", "", "app", ".*")).unwrap();
    assert_eq!(out.labels[2], l(&[("app", "db")]));
    assert!(label_replace(input(), &lr("x", "", "app", "(")).is_err());
}

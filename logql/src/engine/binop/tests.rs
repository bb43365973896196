#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// One step with the given samples.
fn sv(samples: &[(&[(&str, &str)], f64)]) -> StepVectors {
    StepVectors {
        labels: samples.iter().map(|(ls, _)| l(ls)).collect(),
        steps: vec![samples
            .iter()
            .enumerate()
            .map(|(i, (_, v))| (i as u32, *v))
            .collect()],
    }
}

fn expr(op: BinOp, return_bool: bool, matching: Option<VectorMatching>) -> BinaryExpr {
    BinaryExpr {
        op,
        lhs: SampleExpr::Literal(0.0),
        rhs: SampleExpr::Literal(0.0),
        return_bool,
        matching,
    }
}

use crate::ast::SampleExpr;

fn on(labels: &[&str], card: Cardinality) -> Option<VectorMatching> {
    Some(VectorMatching {
        on: true,
        labels: labels.iter().map(|s| s.to_string()).collect(),
        card,
    })
}

fn ignoring(labels: &[&str], card: Cardinality) -> Option<VectorMatching> {
    Some(VectorMatching {
        on: false,
        labels: labels.iter().map(|s| s.to_string()).collect(),
        card,
    })
}

/// The single step's samples as (labels, value), sorted.
fn out(n: Node) -> Vec<(String, f64)> {
    let Node::Vector(v) = n else {
        panic!("want vector")
    };
    let mut s: Vec<(String, f64)> = v.steps[0]
        .iter()
        .map(|(id, x)| (v.labels[*id as usize].to_string(), *x))
        .collect();
    s.sort_by(|a, b| a.0.cmp(&b.0));
    s
}

#[test]
fn scalars_fold() {
    let e = expr(BinOp::Add, false, None);
    assert_eq!(
        eval(&e, Node::Scalar(2.0), Node::Scalar(3.0)).unwrap(),
        Node::Scalar(5.0)
    );
    let e = expr(BinOp::Gt, false, None);
    assert_eq!(
        eval(&e, Node::Scalar(2.0), Node::Scalar(3.0)).unwrap(),
        Node::Scalar(0.0)
    );
    let e = expr(BinOp::Div, false, None);
    let Node::Scalar(x) = eval(&e, Node::Scalar(1.0), Node::Scalar(0.0)).unwrap() else {
        panic!()
    };
    assert!(x.is_nan(), "loki divides by zero into NaN");
    let e = expr(BinOp::And, false, None);
    assert!(eval(&e, Node::Scalar(1.0), Node::Scalar(1.0)).is_err());
}

#[test]
fn literal_with_vector() {
    let v = || sv(&[(&[("a", "1")], 5.0), (&[("a", "2")], 50.0)]);
    let e = expr(BinOp::Sub, false, None);
    assert_eq!(
        out(eval(&e, Node::Scalar(100.0), Node::Vector(v())).unwrap()),
        vec![("{a=\"1\"}".into(), 95.0), ("{a=\"2\"}".into(), 50.0)]
    );
    // filtering keeps the vector's value, whichever side the literal is on
    let e = expr(BinOp::Lt, false, None);
    assert_eq!(
        out(eval(&e, Node::Scalar(10.0), Node::Vector(v())).unwrap()),
        vec![("{a=\"2\"}".into(), 50.0)]
    );
    assert_eq!(
        out(eval(&e, Node::Vector(v()), Node::Scalar(10.0)).unwrap()),
        vec![("{a=\"1\"}".into(), 5.0)]
    );
    let e = expr(BinOp::Lt, true, None);
    assert_eq!(
        out(eval(&e, Node::Vector(v()), Node::Scalar(10.0)).unwrap()),
        vec![("{a=\"1\"}".into(), 1.0), ("{a=\"2\"}".into(), 0.0)]
    );
    let e = expr(BinOp::Mod, false, None);
    assert_eq!(
        out(eval(&e, Node::Vector(v()), Node::Scalar(7.0)).unwrap()),
        vec![("{a=\"1\"}".into(), 5.0), ("{a=\"2\"}".into(), 1.0)]
    );
}

#[test]
fn one_to_one_matching() {
    let lhs = || {
        sv(&[
            (&[("app", "x"), ("env", "p")], 10.0),
            (&[("app", "y"), ("env", "p")], 20.0),
        ])
    };
    let rhs = || {
        sv(&[
            (&[("app", "x"), ("env", "p")], 2.0),
            (&[("app", "z"), ("env", "p")], 4.0),
        ])
    };
    let e = expr(BinOp::Div, false, None);
    assert_eq!(
        out(eval(&e, Node::Vector(lhs()), Node::Vector(rhs())).unwrap()),
        vec![("{app=\"x\", env=\"p\"}".into(), 5.0)]
    );
    // on() keeps only the matching labels
    let e = expr(BinOp::Div, false, on(&["app"], Cardinality::OneToOne));
    assert_eq!(
        out(eval(&e, Node::Vector(lhs()), Node::Vector(rhs())).unwrap()),
        vec![("{app=\"x\"}".into(), 5.0)]
    );
    // ignoring() drops the ignored labels
    let e = expr(BinOp::Div, false, ignoring(&["env"], Cardinality::OneToOne));
    assert_eq!(
        out(eval(&e, Node::Vector(lhs()), Node::Vector(rhs())).unwrap()),
        vec![("{app=\"x\"}".into(), 5.0)]
    );
    // comparison filters, keeping the left value
    let e = expr(BinOp::Gt, false, None);
    assert_eq!(
        out(eval(&e, Node::Vector(lhs()), Node::Vector(rhs())).unwrap()),
        vec![("{app=\"x\", env=\"p\"}".into(), 10.0)]
    );
}

#[test]
fn many_to_one_and_errors() {
    let many = || {
        sv(&[
            (&[("app", "x"), ("env", "p")], 10.0),
            (&[("app", "x"), ("env", "s")], 30.0),
            (&[("app", "y"), ("env", "p")], 1.0),
        ])
    };
    let one = || sv(&[(&[("app", "x"), ("team", "t1")], 40.0)]);
    let e = expr(
        BinOp::Div,
        false,
        on(&["app"], Cardinality::ManyToOne(vec!["team".into()])),
    );
    assert_eq!(
        out(eval(&e, Node::Vector(many()), Node::Vector(one())).unwrap()),
        vec![
            ("{app=\"x\", env=\"p\", team=\"t1\"}".into(), 0.25),
            ("{app=\"x\", env=\"s\", team=\"t1\"}".into(), 0.75)
        ]
    );
    // group_right: the right side is the "many" side, value is still lhs op rhs
    let e = expr(
        BinOp::Div,
        false,
        on(&["app"], Cardinality::OneToMany(vec![])),
    );
    assert_eq!(
        out(eval(&e, Node::Vector(one()), Node::Vector(many())).unwrap()),
        vec![
            ("{app=\"x\", env=\"p\"}".into(), 4.0),
            ("{app=\"x\", env=\"s\"}".into(), 40.0 / 30.0)
        ]
    );
    // one-to-one with several matches on the left
    let e = expr(BinOp::Div, false, on(&["app"], Cardinality::OneToOne));
    let err = eval(&e, Node::Vector(many()), Node::Vector(one())).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("multiple matches for labels: many-to-one"),
        "{err}"
    );
    // duplicates on the "one" side
    let e = expr(
        BinOp::Div,
        false,
        on(&["app"], Cardinality::ManyToOne(vec![])),
    );
    let err = eval(&e, Node::Vector(one()), Node::Vector(many())).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("found duplicate series on the right hand-side"),
        "{err}"
    );
}

#[test]
fn set_operators() {
    let a = || sv(&[(&[("app", "api")], 1.0), (&[("app", "db")], 2.0)]);
    let b = || sv(&[(&[("app", "db")], 20.0), (&[("app", "web")], 30.0)]);
    let e = expr(BinOp::And, false, None);
    assert_eq!(
        out(eval(&e, Node::Vector(a()), Node::Vector(b())).unwrap()),
        vec![("{app=\"db\"}".into(), 2.0)]
    );
    let e = expr(BinOp::Unless, false, None);
    assert_eq!(
        out(eval(&e, Node::Vector(a()), Node::Vector(b())).unwrap()),
        vec![("{app=\"api\"}".into(), 1.0)]
    );
    let e = expr(BinOp::Or, false, None);
    assert_eq!(
        out(eval(&e, Node::Vector(a()), Node::Vector(b())).unwrap()),
        vec![
            ("{app=\"api\"}".into(), 1.0),
            ("{app=\"db\"}".into(), 2.0),
            ("{app=\"web\"}".into(), 30.0)
        ]
    );
    // or with an empty side returns the other
    let e = expr(BinOp::Or, false, None);
    let empty = StepVectors::empty(1);
    assert_eq!(
        out(eval(&e, Node::Vector(empty), Node::Vector(b())).unwrap()).len(),
        2
    );
    // on() narrows what "matching" means
    let e = expr(BinOp::And, false, on(&[], Cardinality::OneToOne));
    assert_eq!(
        out(eval(&e, Node::Vector(a()), Node::Vector(b())).unwrap()).len(),
        2
    );
}

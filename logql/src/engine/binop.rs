//! Binary operators with Loki's semantics: scalar/scalar folding, a literal
//! applied to every sample, and vector matching (`on`/`ignoring`,
//! `group_left`/`group_right`, set operators) step by step. Loki differs from
//! Prometheus in two ways kept here: division or modulo by zero gives NaN,
//! and a filtering comparison keeps the vector side's value.

use std::collections::{HashMap, HashSet};

use super::steps::{Node, StepVectors};
use crate::ast::{BinOp, BinaryExpr, Cardinality, VectorMatching};
use crate::labels::Labels;
use crate::{Error, Result};

pub(crate) fn eval(b: &BinaryExpr, lhs: Node, rhs: Node) -> Result<Node> {
    let set_op = matches!(b.op, BinOp::And | BinOp::Or | BinOp::Unless);
    match (lhs, rhs) {
        (Node::Scalar(l), Node::Scalar(r)) if !set_op => Ok(Node::Scalar(scalar(b.op, l, r))),
        (Node::Vector(l), Node::Vector(r)) => Ok(Node::Vector(vectors(b, l, r)?)),
        (Node::Vector(v), Node::Scalar(s)) if !set_op => {
            Ok(Node::Vector(with_literal(b, v, s, false)))
        }
        (Node::Scalar(s), Node::Vector(v)) if !set_op => {
            Ok(Node::Vector(with_literal(b, v, s, true)))
        }
        _ => Err(Error::BadQuery(format!(
            "set operator {} only works between vectors",
            match b.op {
                BinOp::And => "and",
                BinOp::Or => "or",
                _ => "unless",
            }
        ))),
    }
}

fn is_comparison(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte
    )
}

fn arith(op: BinOp, l: f64, r: f64) -> f64 {
    match op {
        BinOp::Add => l + r,
        BinOp::Sub => l - r,
        BinOp::Mul => l * r,
        BinOp::Div if r == 0.0 => f64::NAN,
        BinOp::Div => l / r,
        BinOp::Mod if r == 0.0 => f64::NAN,
        BinOp::Mod => l % r,
        BinOp::Pow => l.powf(r),
        _ => f64::NAN,
    }
}

fn compare(op: BinOp, l: f64, r: f64) -> bool {
    match op {
        BinOp::Eq => l == r,
        BinOp::Neq => l != r,
        BinOp::Gt => l > r,
        BinOp::Gte => l >= r,
        BinOp::Lt => l < r,
        BinOp::Lte => l <= r,
        _ => false,
    }
}

/// Literal op literal: comparisons give 1 or 0.
fn scalar(op: BinOp, l: f64, r: f64) -> f64 {
    if is_comparison(op) {
        return if compare(op, l, r) { 1.0 } else { 0.0 };
    }
    arith(op, l, r)
}

/// The merged value of `l op r`, or `None` when a filtering comparison fails.
/// `keep` is the value a passing filter returns (the vector side's).
fn merge(b: &BinaryExpr, l: f64, r: f64, keep: f64) -> Option<f64> {
    if !is_comparison(b.op) {
        return Some(arith(b.op, l, r));
    }
    let ok = compare(b.op, l, r);
    match (b.return_bool, ok) {
        (true, _) => Some(if ok { 1.0 } else { 0.0 }),
        (false, true) => Some(keep),
        (false, false) => None,
    }
}

/// Vector op literal (or literal op vector when `scalar_left`): labels are kept.
fn with_literal(b: &BinaryExpr, mut v: StepVectors, s: f64, scalar_left: bool) -> StepVectors {
    for step in &mut v.steps {
        step.retain_mut(|(_, x)| {
            let (l, r) = if scalar_left { (s, *x) } else { (*x, s) };
            match merge(b, l, r, *x) {
                Some(m) => {
                    *x = m;
                    true
                }
                None => false,
            }
        });
    }
    v
}

/// The matching signature of a series' labels.
fn signature(labels: &Labels, m: Option<&VectorMatching>) -> u64 {
    match m {
        None => labels.fingerprint(),
        Some(m) => {
            let kept = labels
                .iter()
                .filter(|(k, _)| m.labels.iter().any(|n| n == k) == m.on);
            Labels::from_sorted(kept.map(|(k, v)| (k.to_string(), v.to_string())).collect())
                .fingerprint()
        }
    }
}

fn vectors(b: &BinaryExpr, l: StepVectors, r: StepVectors) -> Result<StepVectors> {
    let m = b.matching.as_ref();
    let lsig: Vec<u64> = l.labels.iter().map(|x| signature(x, m)).collect();
    let rsig: Vec<u64> = r.labels.iter().map(|x| signature(x, m)).collect();
    match b.op {
        BinOp::And | BinOp::Unless => {
            let keep_matched = b.op == BinOp::And;
            let steps = l
                .steps
                .into_iter()
                .zip(&r.steps)
                .map(|(ls, rs)| {
                    if ls.is_empty() || rs.is_empty() {
                        return if keep_matched { Vec::new() } else { ls };
                    }
                    let sigs: HashSet<u64> = rs.iter().map(|(id, _)| rsig[*id as usize]).collect();
                    ls.into_iter()
                        .filter(|(id, _)| sigs.contains(&lsig[*id as usize]) == keep_matched)
                        .collect()
                })
                .collect();
            Ok(StepVectors {
                labels: l.labels,
                steps,
            })
        }
        BinOp::Or => {
            let shift = l.labels.len() as u32;
            let steps = l
                .steps
                .into_iter()
                .zip(r.steps)
                .map(|(mut ls, rs)| {
                    let sigs: HashSet<u64> = ls.iter().map(|(id, _)| lsig[*id as usize]).collect();
                    ls.extend(
                        rs.into_iter()
                            .filter(|(id, _)| !sigs.contains(&rsig[*id as usize]))
                            .map(|(id, v)| (id + shift, v)),
                    );
                    ls
                })
                .collect();
            let mut labels = l.labels;
            labels.extend(r.labels);
            Ok(StepVectors { labels, steps })
        }
        _ => Matcher::new(b, &l, &r).run(&lsig, &rsig),
    }
}

/// Arithmetic and comparison between two vectors.
struct Matcher<'a> {
    b: &'a BinaryExpr,
    l: &'a StepVectors,
    r: &'a StepVectors,
    /// (lhs id, rhs id) -> output id
    pairs: HashMap<(u32, u32), u32>,
    out_index: HashMap<Labels, u32>,
    out: Vec<(Labels, u64)>,
}

impl<'a> Matcher<'a> {
    fn new(b: &'a BinaryExpr, l: &'a StepVectors, r: &'a StepVectors) -> Self {
        Matcher {
            b,
            l,
            r,
            pairs: HashMap::new(),
            out_index: HashMap::new(),
            out: Vec::new(),
        }
    }

    fn card(&self) -> &'a Cardinality {
        static ONE: Cardinality = Cardinality::OneToOne;
        self.b.matching.as_ref().map_or(&ONE, |m| &m.card)
    }

    fn run(mut self, lsig: &[u64], rsig: &[u64]) -> Result<StepVectors> {
        let mut steps = Vec::with_capacity(self.l.steps.len());
        for k in 0..self.l.steps.len() {
            steps.push(self.step(k, lsig, rsig)?);
        }
        Ok(StepVectors {
            labels: self.out.into_iter().map(|(l, _)| l).collect(),
            steps,
        })
    }

    fn step(&mut self, k: usize, lsig: &[u64], rsig: &[u64]) -> Result<Vec<(u32, f64)>> {
        let one_to_many = matches!(self.card(), Cardinality::OneToMany(_));
        let (l, r) = (self.l, self.r);
        // the "one" side is looked up, the "many" side iterated
        let (many, one, many_sig, one_sig) = if one_to_many {
            (&r.steps[k], &l.steps[k], rsig, lsig)
        } else {
            (&l.steps[k], &r.steps[k], lsig, rsig)
        };
        let mut lookup: HashMap<u64, (u32, f64)> = HashMap::with_capacity(one.len());
        for &(id, v) in one {
            if lookup.insert(one_sig[id as usize], (id, v)).is_some() {
                let side = if one_to_many { "left" } else { "right" };
                return Err(Error::BadQuery(format!(
                    "found duplicate series on the {side} hand-side;many-to-many matching not allowed: \
                     matching labels must be unique on one side"
                )));
            }
        }
        let one_to_one = matches!(self.card(), Cardinality::OneToOne);
        let mut matched: HashMap<u64, HashSet<u64>> = HashMap::new();
        let mut out = Vec::new();
        for &(mid, mv) in many {
            let sig = many_sig[mid as usize];
            let Some(&(oid, ov)) = lookup.get(&sig) else {
                continue;
            };
            let (lid, rid) = if one_to_many { (oid, mid) } else { (mid, oid) };
            let out_id = self.result_id(lid, rid);
            let seen = matched.entry(sig).or_default();
            if one_to_one {
                if !seen.is_empty() {
                    return Err(Error::BadQuery(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                            .into(),
                    ));
                }
                seen.insert(0);
            } else if !seen.insert(self.out[out_id as usize].1) {
                return Err(Error::BadQuery(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
            let (lv, rv) = if one_to_many { (ov, mv) } else { (mv, ov) };
            if let Some(v) = merge(self.b, lv, rv, lv) {
                out.push((out_id, v));
            }
        }
        Ok(out)
    }

    /// The output series for a matched (lhs, rhs) pair, interned.
    fn result_id(&mut self, lid: u32, rid: u32) -> u32 {
        if let Some(&id) = self.pairs.get(&(lid, rid)) {
            return id;
        }
        let labels = self.result_labels(lid, rid);
        let out = &mut self.out;
        let id = *self.out_index.entry(labels).or_insert_with_key(|l| {
            out.push((l.clone(), l.fingerprint()));
            (out.len() - 1) as u32
        });
        self.pairs.insert((lid, rid), id);
        id
    }

    /// Loki's result metric: one-to-one keeps the `on` labels (or drops the
    /// `ignoring` ones) of the left side; group modifiers keep the "many"
    /// side's labels and copy the listed labels from the "one" side.
    fn result_labels(&self, lid: u32, rid: u32) -> Labels {
        let (lhs, rhs) = (&self.l.labels[lid as usize], &self.r.labels[rid as usize]);
        let Some(m) = self.b.matching.as_ref() else {
            return lhs.clone();
        };
        let (base, one, include) = match &m.card {
            Cardinality::OneToOne => {
                let kept = lhs
                    .iter()
                    .filter(|(k, _)| m.labels.iter().any(|n| n == k) == m.on);
                return Labels::from_sorted(
                    kept.map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                );
            }
            Cardinality::ManyToOne(inc) => (lhs, rhs, inc),
            Cardinality::OneToMany(inc) => (rhs, lhs, inc),
        };
        let mut pairs: Vec<(String, String)> = base
            .pairs()
            .iter()
            .filter(|(k, _)| !include.contains(k))
            .cloned()
            .collect();
        for name in include {
            match one.get(name) {
                Some(v) if !v.is_empty() => pairs.push((name.clone(), v.to_string())),
                _ => {}
            }
        }
        Labels::new(pairs)
    }
}

#[cfg(test)]
mod tests;

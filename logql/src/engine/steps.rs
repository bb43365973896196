//! The evaluation grid and the intermediate form of metric results.
//!
//! Every metric node evaluates to a [`Node`]: a scalar (a literal, constant
//! over all steps) or [`StepVectors`], a table of series labels plus, for each
//! evaluation time, the samples present at that time as `(series id, value)`.
//! Labels are stored once per series, not once per point; operators that keep
//! labels (filters, topk, arithmetic with a literal) keep the ids.

use std::collections::HashMap;

use super::{QueryValue, Sample, Series};
use crate::ast::{SampleExpr, VectorOp};
use crate::engine::{Limits, QueryParams};
use crate::labels::Labels;
use crate::{Error, Result};

/// Evaluation times: `start, start + step, ...` up to and including `end`;
/// a single time for an instant query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grid {
    pub start: i64,
    pub end: i64,
    /// Always at least 1.
    pub step: i64,
    pub len: usize,
    pub instant: bool,
}

impl Grid {
    pub fn new(p: &QueryParams) -> Grid {
        if p.is_instant() || p.step <= 0 {
            return Grid {
                start: p.start,
                end: p.start,
                step: 1,
                len: 1,
                instant: p.is_instant(),
            };
        }
        let len = ((p.end - p.start) / p.step) as usize + 1;
        Grid {
            start: p.start,
            end: p.end,
            step: p.step,
            len,
            instant: false,
        }
    }

    pub fn ts(&self, k: usize) -> i64 {
        self.start + k as i64 * self.step
    }

    /// The first step index whose time is at or after `t` (may be `len`).
    pub fn first_at_or_after(&self, t: i64) -> usize {
        if t <= self.start {
            return 0;
        }
        let k = (i128::from(t) - i128::from(self.start) + i128::from(self.step) - 1)
            / i128::from(self.step);
        usize::try_from(k).unwrap_or(usize::MAX).min(self.len)
    }
}

/// Per-step samples over a shared table of series labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct StepVectors {
    pub labels: Vec<Labels>,
    /// One vector per grid step: `(index into labels, value)`.
    pub steps: Vec<Vec<(u32, f64)>>,
}

impl StepVectors {
    pub fn empty(len: usize) -> Self {
        StepVectors {
            labels: Vec::new(),
            steps: vec![Vec::new(); len],
        }
    }

    /// One series with no labels and `value` at every step (`vector(x)`).
    pub fn constant(len: usize, value: f64) -> Self {
        StepVectors {
            labels: vec![Labels::default()],
            steps: vec![vec![(0, value)]; len],
        }
    }
}

/// A metric node's value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Scalar(f64),
    Vector(StepVectors),
}

/// Turns the root node into Loki's result type and applies the series limit.
pub(crate) fn into_value(
    node: Node,
    grid: &Grid,
    expr: &SampleExpr,
    limits: &Limits,
) -> Result<QueryValue> {
    let max = limits.max_query_series;
    let too_many = |n: usize| max != 0 && n > max;
    let limit_err = || {
        Error::Limit(format!(
            "maximum of series ({max}) reached for a single query"
        ))
    };
    match node {
        Node::Scalar(value) if grid.instant => Ok(QueryValue::Scalar {
            ts: grid.start,
            value,
        }),
        Node::Scalar(value) => {
            let points = (0..grid.len).map(|k| (grid.ts(k), value)).collect();
            Ok(QueryValue::Matrix(vec![Series {
                metric: Labels::default(),
                points,
            }]))
        }
        Node::Vector(sv) if grid.instant => {
            let step = sv.steps.into_iter().next().unwrap_or_default();
            if too_many(step.len()) {
                return Err(limit_err());
            }
            let mut out: Vec<Sample> = step
                .into_iter()
                .map(|(id, value)| Sample {
                    metric: sv.labels[id as usize].clone(),
                    ts: grid.start,
                    value,
                })
                .collect();
            if !sortable(expr) {
                out.sort_by(|a, b| a.metric.cmp(&b.metric));
            }
            Ok(QueryValue::Vector(out))
        }
        Node::Vector(sv) => {
            let mut index: HashMap<&Labels, usize> = HashMap::new();
            let mut series: Vec<(&Labels, Vec<(i64, f64)>)> = Vec::new();
            // series id -> output index, resolved lazily
            let mut out_of: Vec<Option<usize>> = vec![None; sv.labels.len()];
            for (k, step) in sv.steps.iter().enumerate() {
                let ts = grid.ts(k);
                for &(id, v) in step {
                    let o = match out_of[id as usize] {
                        Some(o) => o,
                        None => {
                            let l = &sv.labels[id as usize];
                            let o = *index.entry(l).or_insert_with(|| {
                                series.push((l, Vec::new()));
                                series.len() - 1
                            });
                            out_of[id as usize] = Some(o);
                            o
                        }
                    };
                    series[o].1.push((ts, v));
                }
                if too_many(series.len()) {
                    return Err(limit_err());
                }
            }
            let mut out: Vec<Series> = series
                .into_iter()
                .map(|(l, points)| Series {
                    metric: l.clone(),
                    points,
                })
                .collect();
            out.sort_by(|a, b| a.metric.cmp(&b.metric));
            Ok(QueryValue::Matrix(out))
        }
    }
}

/// Whether the query sorts by value (`sort`/`sort_desc` anywhere): Loki then
/// keeps an instant vector's order instead of sorting it by labels.
fn sortable(expr: &SampleExpr) -> bool {
    match expr {
        SampleExpr::VectorAgg(v) => {
            matches!(v.op, VectorOp::Sort | VectorOp::SortDesc) || sortable(&v.expr)
        }
        SampleExpr::Binary(b) => sortable(&b.lhs) || sortable(&b.rhs),
        SampleExpr::LabelReplace(l) => sortable(&l.expr),
        SampleExpr::Paren(e) => sortable(e),
        SampleExpr::RangeAgg(_) | SampleExpr::Literal(_) | SampleExpr::Vector(_) => false,
    }
}

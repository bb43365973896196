//! Evaluates a metric expression tree bottom-up into a [`Node`].

use super::steps::{Grid, Node, StepVectors};
use super::{binop, range, vector};
use crate::ast::{Grouping, SampleExpr, VectorOp};
use crate::engine::{check_selector, format_duration, Limits};
use crate::source::LogSource;
use crate::{Error, Result};

/// Checks what Loki checks before running a metric query: every selector
/// needs a non-empty-compatible matcher, and no `[range]` may exceed
/// `max_query_range`.
pub(crate) fn check(expr: &SampleExpr, limits: &Limits) -> Result<()> {
    match expr {
        SampleExpr::RangeAgg(a) => {
            check_selector(&a.range.log.selector)?;
            let max = limits.max_query_range;
            if max > 0 && a.range.range > max {
                return Err(Error::Limit(format!(
                    "[interval] value exceeds limit: [{}] > [{}]",
                    format_duration(a.range.range),
                    format_duration(max)
                )));
            }
            Ok(())
        }
        SampleExpr::VectorAgg(v) => check(&v.expr, limits),
        SampleExpr::Binary(b) => {
            check(&b.lhs, limits)?;
            check(&b.rhs, limits)
        }
        SampleExpr::LabelReplace(l) => check(&l.expr, limits),
        SampleExpr::Paren(e) => check(e, limits),
        SampleExpr::Literal(_) | SampleExpr::Vector(_) => Ok(()),
    }
}

/// Evaluates `expr` at every step of `grid`.
pub(crate) fn eval(expr: &SampleExpr, source: &dyn LogSource, grid: &Grid) -> Result<Node> {
    match expr {
        SampleExpr::RangeAgg(a) => Ok(Node::Vector(range::eval(a, None, source, grid)?)),
        SampleExpr::VectorAgg(v) => {
            let input = match (v.op, strip(&v.expr)) {
                // Loki hands a sum's grouping down to the range aggregation so
                // fewer series are built; sum distributes, so results agree
                (VectorOp::Sum, SampleExpr::RangeAgg(a)) => {
                    let none = Grouping {
                        without: false,
                        labels: Vec::new(),
                    };
                    let g = v.grouping.as_ref().unwrap_or(&none);
                    range::eval(a, Some(g), source, grid)?
                }
                (_, inner) => vector_of(eval(inner, source, grid)?, "aggregation")?,
            };
            Ok(Node::Vector(vector::aggregate(input, v)?))
        }
        SampleExpr::Binary(b) => {
            let lhs = eval(&b.lhs, source, grid)?;
            let rhs = eval(&b.rhs, source, grid)?;
            binop::eval(b, lhs, rhs)
        }
        SampleExpr::Literal(x) => Ok(Node::Scalar(*x)),
        SampleExpr::Vector(x) => Ok(Node::Vector(StepVectors::constant(grid.len, *x))),
        SampleExpr::LabelReplace(l) => {
            let input = vector_of(eval(&l.expr, source, grid)?, "label_replace")?;
            Ok(Node::Vector(vector::label_replace(input, l)?))
        }
        SampleExpr::Paren(e) => eval(e, source, grid),
    }
}

fn strip(e: &SampleExpr) -> &SampleExpr {
    match e {
        SampleExpr::Paren(inner) => strip(inner),
        other => other,
    }
}

fn vector_of(node: Node, what: &str) -> Result<StepVectors> {
    match node {
        Node::Vector(v) => Ok(v),
        Node::Scalar(_) => Err(Error::BadQuery(format!(
            "{what} expects a vector argument, got a scalar"
        ))),
    }
}

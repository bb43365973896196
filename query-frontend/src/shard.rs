//! Which metric queries can be sharded by stream, and how (Loki's shard
//! mapping, restricted to a query's outermost aggregation).
//!
//! Each shard's sub-query reads only the streams whose fingerprint falls in
//! it (`sluice_querier::Shard`); the frontend then combines the shards'
//! answers per series and timestamp. That is exact when:
//!
//! - `sum` over an *additive* expression: a range aggregation whose value is
//!   a sum over entries (`count_over_time`, `rate`, `bytes_over_time`,
//!   `bytes_rate`, `sum_over_time`), or `sum`/`count` of such: the answer
//!   over all streams is the sum of the answers over disjoint stream sets,
//!   even when several streams end up in one series.
//! - `count`, `max`, `min` and `avg` over a *partitioned* expression: a
//!   range aggregation (any but `absent_over_time`, no `by`/`without`) whose
//!   pipeline never removes or rewrites a stream label (no `label_format`,
//!   `drop`, `keep` or `unpack`; parsers and structured metadata only add
//!   labels, suffixing clashes with `_extracted`), so each series comes from
//!   one stream and so from one shard. `count` becomes a sum of counts,
//!   `max`/`min` the max/min of the shards', `avg` a sum of sums over a sum
//!   of counts.
//!
//! Everything else (binary operators, `label_replace`, `topk`, `stddev`,
//! `quantile_over_time` at the top, ...) runs unsharded.

use sluice_logql::ast::{Parser, RangeOp, SampleExpr, Stage, VectorAgg, VectorOp};

/// How the shards' answers are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    /// Sum per series and timestamp (`sum`, `count`).
    Sum,
    Max,
    Min,
    /// Two legs, a `sum` and a `count` with the same grouping: their sums
    /// divided.
    Avg,
}

/// The sub-query (or two, for `avg`) each shard runs, and how to combine
/// them.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardPlan {
    pub legs: Vec<String>,
    pub combine: Combine,
}

/// The plan for `expr`, or `None` when it is not (safely) shardable.
pub fn plan(expr: &SampleExpr) -> Option<ShardPlan> {
    let SampleExpr::VectorAgg(v) = strip(expr) else {
        return None;
    };
    let one = |combine| {
        Some(ShardPlan {
            legs: vec![expr.to_string()],
            combine,
        })
    };
    match v.op {
        VectorOp::Sum if additive(&v.expr) => one(Combine::Sum),
        VectorOp::Count if partitioned(&v.expr) => one(Combine::Sum),
        VectorOp::Max if nested_same(&v.expr, VectorOp::Max) => one(Combine::Max),
        VectorOp::Min if nested_same(&v.expr, VectorOp::Min) => one(Combine::Min),
        VectorOp::Avg if partitioned(&v.expr) => {
            let leg = |op| {
                SampleExpr::VectorAgg(VectorAgg {
                    op,
                    expr: v.expr.clone(),
                    param: None,
                    grouping: v.grouping.clone(),
                    grouping_first: v.grouping_first,
                })
                .to_string()
            };
            Some(ShardPlan {
                legs: vec![leg(VectorOp::Sum), leg(VectorOp::Count)],
                combine: Combine::Avg,
            })
        }
        _ => None,
    }
}

fn strip(mut e: &SampleExpr) -> &SampleExpr {
    while let SampleExpr::Paren(p) = e {
        e = p;
    }
    e
}

/// Whether the value over a union of disjoint stream sets is the sum of the
/// values over each.
fn additive(e: &SampleExpr) -> bool {
    match strip(e) {
        SampleExpr::RangeAgg(r) => {
            r.grouping.is_none()
                && matches!(
                    r.op,
                    RangeOp::CountOverTime
                        | RangeOp::Rate
                        | RangeOp::BytesOverTime
                        | RangeOp::BytesRate
                        | RangeOp::SumOverTime
                )
        }
        SampleExpr::VectorAgg(v) => match v.op {
            VectorOp::Sum => additive(&v.expr),
            VectorOp::Count => partitioned(&v.expr),
            _ => false,
        },
        _ => false,
    }
}

/// Whether every output series is computed from one stream's entries.
fn partitioned(e: &SampleExpr) -> bool {
    match strip(e) {
        SampleExpr::RangeAgg(r) => {
            r.grouping.is_none()
                && r.op != RangeOp::AbsentOverTime
                && r.range.log.pipeline.iter().all(keeps_stream_labels)
        }
        _ => false,
    }
}

/// `max(max(...(partitioned)))`: the max of maxes is the max.
fn nested_same(e: &SampleExpr, op: VectorOp) -> bool {
    match strip(e) {
        SampleExpr::VectorAgg(v) if v.op == op => nested_same(&v.expr, op),
        other => partitioned(other),
    }
}

fn keeps_stream_labels(s: &Stage) -> bool {
    match s {
        Stage::LineFilter(_) | Stage::LabelFilter(_) | Stage::LineFormat(_) | Stage::Decolorize => {
            true
        }
        Stage::Parser(p) => !matches!(p, Parser::Unpack),
        Stage::LabelFormat(_) | Stage::Drop(_) | Stage::Keep(_) => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sluice_logql::ast::Expr;

    fn p(q: &str) -> Option<ShardPlan> {
        match sluice_logql::parser::parse_expr(q).unwrap() {
            Expr::Sample(s) => plan(&s),
            Expr::Log(_) => None,
        }
    }

    #[test]
    fn shardable_queries() {
        let c = |q: &str| p(q).map(|p| p.combine);
        assert_eq!(
            c(r#"sum by (app) (count_over_time({app="a"}[5m]))"#),
            Some(Combine::Sum)
        );
        assert_eq!(
            c(r#"sum(rate({app="a"} | json | drop x [5m]))"#),
            Some(Combine::Sum)
        );
        assert_eq!(
            c(r#"sum(sum by (env) (bytes_over_time({app="a"}[5m])))"#),
            Some(Combine::Sum)
        );
        assert_eq!(
            c(r#"count(count_over_time({app="a"} | logfmt [5m]))"#),
            Some(Combine::Sum)
        );
        assert_eq!(
            c(r#"max by (app) (max_over_time({app="a"} | logfmt | unwrap x [5m]))"#),
            Some(Combine::Max)
        );
        assert_eq!(
            c(r#"min(quantile_over_time(0.9, {app="a"} | logfmt | unwrap x [5m]))"#),
            Some(Combine::Min)
        );
        let avg = p(r#"avg by (app) (count_over_time({app="a"}[5m]))"#).unwrap();
        assert_eq!(avg.combine, Combine::Avg);
        assert_eq!(avg.legs.len(), 2);
        assert!(avg.legs[0].starts_with("sum by (app)"), "{}", avg.legs[0]);
        assert!(avg.legs[1].starts_with("count by (app)"), "{}", avg.legs[1]);
    }

    #[test]
    fn unshardable_queries() {
        for q in [
            r#"count_over_time({app="a"}[5m])"#,
            r#"count(count_over_time({app="a"} | drop pod [5m]))"#,
            r#"max(sum_over_time({app="a"} | label_format app="x" | unwrap v [5m]))"#,
            r#"sum(max_over_time({app="a"} | logfmt | unwrap x [5m]))"#,
            r#"topk(2, count_over_time({app="a"}[5m]))"#,
            r#"sum(count_over_time({app="a"}[5m])) / 2"#,
            r#"sum(absent_over_time({app="a"}[5m]))"#,
            r#"count(absent_over_time({app="a"}[5m]))"#,
            r#"stddev(count_over_time({app="a"}[5m]))"#,
            r#"sum(label_replace(count_over_time({app="a"}[5m]), "x", "$1", "app", "(.*)"))"#,
            r#"avg(count_over_time({app="a"} | unpack [5m]))"#,
        ] {
            assert_eq!(p(q), None, "{q}");
        }
    }
}

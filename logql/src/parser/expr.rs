//! Metric expressions: binary operators (precedence climbing), range and
//! vector aggregations, `label_replace`, `vector()` and number literals,
//! with the checks Loki makes while building them.

use crate::ast::{
    BinOp, BinaryExpr, Cardinality, Expr, Grouping, LabelReplace, RangeAgg, RangeOp, SampleExpr,
    VectorAgg, VectorMatching, VectorOp,
};
use crate::error::{Error, Result};
use crate::printer::{range_op_name, vector_op_name};

use super::token::{Kw, Tok};
use super::{lit, regexes, P};

/// Binary operator, its precedence and whether it is right-associative.
fn binop(t: &Tok) -> Option<(BinOp, u8, bool)> {
    Some(match t {
        Tok::Kw(Kw::Or) => (BinOp::Or, 1, false),
        Tok::Kw(Kw::And) => (BinOp::And, 2, false),
        Tok::Kw(Kw::Unless) => (BinOp::Unless, 2, false),
        Tok::CmpEq => (BinOp::Eq, 3, false),
        Tok::Neq => (BinOp::Neq, 3, false),
        Tok::Gt => (BinOp::Gt, 3, false),
        Tok::Gte => (BinOp::Gte, 3, false),
        Tok::Lt => (BinOp::Lt, 3, false),
        Tok::Lte => (BinOp::Lte, 3, false),
        Tok::Add => (BinOp::Add, 4, false),
        Tok::Sub => (BinOp::Sub, 4, false),
        Tok::Mul => (BinOp::Mul, 5, false),
        Tok::Div => (BinOp::Div, 5, false),
        Tok::Mod => (BinOp::Mod, 5, false),
        Tok::Pow => (BinOp::Pow, 6, true),
        _ => return None,
    })
}

/// A placeholder for a sub-expression whose (deferred) error fails the query anyway.
fn placeholder() -> Expr {
    Expr::Sample(SampleExpr::Vector(0.0))
}

impl P {
    /// `expr` with operators binding at least as tightly as `min_prec`.
    pub(crate) fn expr(&mut self, min_prec: u8) -> Result<Expr> {
        self.enter()?;
        let start = self.pos();
        let mut lhs = self.operand()?;
        while let Some((op, prec, right)) = binop(self.peek()?) {
            if prec < min_prec {
                break;
            }
            self.bump();
            self.grow()?;
            let (return_bool, matching) = self.bin_modifiers()?;
            let rhs = self.expr(if right { prec } else { prec + 1 })?;
            lhs = self.make_binop(op, return_bool, matching, lhs, rhs, start);
        }
        self.leave();
        Ok(lhs)
    }

    /// A metric expression (log expressions are only legal as binop legs here).
    fn sample_expr(&mut self) -> Result<SampleExpr> {
        match self.expr(0)? {
            Expr::Sample(s) => Ok(s),
            Expr::Log(_) => Err(self.unexpected(&[])),
        }
    }

    fn operand(&mut self) -> Result<Expr> {
        let start = self.pos();
        let expr = match self.peek()?.clone() {
            Tok::LBrace => Expr::Log(self.log_expr()?),
            Tok::LParen => {
                self.bump();
                let inner = self.expr(0)?;
                self.expect(&Tok::RParen, &[])?;
                inner
            }
            Tok::RangeFn(op) => Expr::Sample(self.range_agg(op)?),
            Tok::VecFn(op) => Expr::Sample(self.vector_agg(op)?),
            Tok::LabelReplace => Expr::Sample(self.label_replace()?),
            Tok::Vector => {
                self.bump();
                self.expect(&Tok::LParen, &["("])?;
                let Tok::Number(n) = self.peek()?.clone() else {
                    return Err(self.unexpected(&["NUMBER"]));
                };
                self.bump();
                self.expect(&Tok::RParen, &[")"])?;
                let v = match lit::parse_float(&n) {
                    Ok(v) => v,
                    Err(e) => {
                        let msg = format!("unable to parse vectorExpr as a float: {e}");
                        self.defer(start, self.pos(), 0, msg);
                        0.0
                    }
                };
                Expr::Sample(SampleExpr::Vector(v))
            }
            Tok::Number(_) | Tok::Add | Tok::Sub => {
                Expr::Sample(SampleExpr::Literal(self.literal()?))
            }
            _ => return Err(self.unexpected(&[])),
        };
        Ok(expr)
    }

    /// `NUMBER`, `+NUMBER` or `-NUMBER`; a bad number aborts as in Loki.
    pub(crate) fn literal(&mut self) -> Result<f64> {
        let neg = match self.peek()? {
            Tok::Add => {
                self.bump();
                false
            }
            Tok::Sub => {
                self.bump();
                true
            }
            _ => false,
        };
        let Tok::Number(n) = self.peek()?.clone() else {
            return Err(self.unexpected(&["NUMBER"]));
        };
        self.bump();
        let v = lit::parse_float(&n)
            .map_err(|e| Error::ParseNoPos(format!("unable to parse literal as a float: {e}")))?;
        Ok(if neg { -v } else { v })
    }

    /// `[bool] [on|ignoring (labels) [group_left|group_right [(labels)]]]`
    fn bin_modifiers(&mut self) -> Result<(bool, Option<VectorMatching>)> {
        let return_bool = self.eat(&Tok::Kw(Kw::Bool))?;
        let on = match self.peek()? {
            Tok::Kw(Kw::On) => true,
            Tok::Kw(Kw::Ignoring) => false,
            _ => return Ok((return_bool, None)),
        };
        self.bump();
        self.expect(&Tok::LParen, &["("])?;
        let labels = self.label_list()?;
        let card = match self.peek()? {
            Tok::Kw(Kw::GroupLeft) | Tok::Kw(Kw::GroupRight) => {
                let left = self.bump() == Tok::Kw(Kw::GroupLeft);
                let include = if self.eat(&Tok::LParen)? {
                    self.label_list()?
                } else {
                    Vec::new()
                };
                if left {
                    Cardinality::ManyToOne(include)
                } else {
                    Cardinality::OneToMany(include)
                }
            }
            _ => Cardinality::OneToOne,
        };
        if !on && labels.is_empty() && card == Cardinality::OneToOne {
            // `ignoring ()` changes nothing (Loki drops it too)
            return Ok((return_bool, None));
        }
        Ok((return_bool, Some(VectorMatching { on, labels, card })))
    }

    /// The rest of `( a, b )` after the opening parenthesis.
    pub(crate) fn label_list(&mut self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        if self.eat(&Tok::RParen)? {
            return Ok(out);
        }
        loop {
            let Tok::Ident(name) = self.peek()?.clone() else {
                return Err(self.unexpected(if out.is_empty() {
                    &["IDENTIFIER", ")"]
                } else {
                    &["IDENTIFIER"]
                }));
            };
            self.bump();
            out.push(name);
            if self.eat(&Tok::RParen)? {
                return Ok(out);
            }
            self.expect(&Tok::Comma, &[",", ")"])?;
        }
    }

    /// `by (...)` or `without (...)` if next.
    fn grouping(&mut self) -> Result<Option<Grouping>> {
        let without = match self.peek()? {
            Tok::Kw(Kw::By) => false,
            Tok::Kw(Kw::Without) => true,
            _ => return Ok(None),
        };
        self.bump();
        self.expect(&Tok::LParen, &["("])?;
        Ok(Some(Grouping {
            without,
            labels: self.label_list()?,
        }))
    }

    fn make_binop(
        &mut self,
        op: BinOp,
        return_bool: bool,
        matching: Option<VectorMatching>,
        lhs: Expr,
        rhs: Expr,
        start: usize,
    ) -> Expr {
        let end = self.pos();
        let name = crate::printer::binop_name(op);
        for (leg, side) in [(&lhs, "left"), (&rhs, "right")] {
            if let Expr::Log(l) = leg {
                let ty = if l.pipeline.is_empty() {
                    "*syntax.MatchersExpr"
                } else {
                    "*syntax.PipelineExpr"
                };
                let msg =
                    format!("unexpected type for {side} leg of binary operation ({name}): {ty}");
                self.defer(start, end, 0, msg);
                return placeholder();
            }
        }
        let (Expr::Sample(lhs), Expr::Sample(rhs)) = (lhs, rhs) else {
            return placeholder();
        };
        let set_op = matches!(op, BinOp::Or | BinOp::And | BinOp::Unless);
        match (&lhs, &rhs) {
            (SampleExpr::Literal(l), _) if set_op => {
                let msg = format!("unexpected literal for left leg of logical/set binary operation ({name}): {l:.6}");
                self.defer(start, end, 0, msg);
                placeholder()
            }
            (_, SampleExpr::Literal(r)) if set_op => {
                let msg = format!("unexpected literal for right leg of logical/set binary operation ({name}): {r:.6}");
                self.defer(start, end, 0, msg);
                placeholder()
            }
            (SampleExpr::Literal(l), SampleExpr::Literal(r)) => {
                Expr::Sample(SampleExpr::Literal(fold(op, *l, *r)))
            }
            _ => Expr::Sample(SampleExpr::Binary(Box::new(BinaryExpr {
                op,
                lhs,
                rhs,
                return_bool,
                matching,
            }))),
        }
    }

    fn range_agg(&mut self, op: RangeOp) -> Result<SampleExpr> {
        let start = self.pos();
        self.bump();
        self.expect(&Tok::LParen, &["("])?;
        let mut param_text = None;
        if let Tok::Number(n) = self.peek()?.clone() {
            self.bump();
            self.expect(&Tok::Comma, &[","])?;
            param_text = Some(n);
            if !matches!(self.peek()?, Tok::LBrace | Tok::LParen) {
                return Err(self.unexpected(&["{", "("]));
            }
        } else if !matches!(self.peek()?, Tok::LBrace | Tok::LParen) {
            return Err(self.unexpected(&["NUMBER", "{", "("]));
        }
        let range = self.log_range()?;
        self.expect(&Tok::RParen, &[])?;
        let grouping = self.grouping()?;
        let end = self.pos();
        let name = range_op_name(op);
        let mut param = None;
        let err = match (&param_text, op) {
            (Some(p), RangeOp::QuantileOverTime) => match lit::parse_float(p) {
                Ok(v) => {
                    param = Some(v);
                    None
                }
                Err(e) => Some(format!("invalid parameter for operation {name}: {e}")),
            },
            (Some(p), _) => Some(format!("parameter {p} not supported for operation {name}")),
            (None, RangeOp::QuantileOverTime) => {
                Some(format!("parameter required for operation {name}"))
            }
            (None, _) => None,
        };
        let err = err.or_else(|| range_agg_rule(op, grouping.is_some(), range.unwrap.is_some()));
        if let Some(msg) = err {
            self.defer(start, end, 0, msg);
        }
        self.check_matchers(&range.log.selector, start, end, 1);
        Ok(SampleExpr::RangeAgg(RangeAgg {
            op,
            range,
            param,
            grouping,
        }))
    }

    fn vector_agg(&mut self, op: VectorOp) -> Result<SampleExpr> {
        let start = self.pos();
        self.bump();
        let before = self.grouping()?;
        self.expect(
            &Tok::LParen,
            &["(", "by", "without"][..if before.is_some() { 1 } else { 3 }],
        )?;
        let mut param_text = None;
        if let (Tok::Number(n), Tok::Comma) = (self.peek()?.clone(), self.peek2()) {
            param_text = Some(n);
            self.bump();
            self.bump();
        }
        let inner = self.sample_expr()?;
        self.expect(&Tok::RParen, &[])?;
        let grouping = match before {
            Some(g) => Some(g),
            None => self.grouping()?,
        };
        let end = self.pos();
        let name = vector_op_name(op);
        let mut param = None;
        let err = match op {
            VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk => match &param_text {
                None => Some(format!("parameter required for operation {name}")),
                Some(p) => match lit::atoi(p) {
                    None => Some(format!("invalid parameter {name}({p},")),
                    Some(k) if k <= 0 => Some(format!(
                        "invalid parameter (must be greater than 0) {name}({p}"
                    )),
                    Some(_) if op == VectorOp::ApproxTopk && grouping.is_some() => {
                        Some(format!("grouping not allowed for {name} aggregation"))
                    }
                    Some(k) => {
                        param = Some(k as f64);
                        None
                    }
                },
            },
            _ => param_text.map(|p| format!("unsupported parameter for operation {name}({p},")),
        };
        if let Some(msg) = err {
            self.defer(start, end, 0, msg);
        }
        let sort = matches!(op, VectorOp::Sort | VectorOp::SortDesc);
        if sort && grouping.as_ref().is_some_and(|g| !g.labels.is_empty()) {
            self.defer(
                start,
                end,
                1,
                "sort and sort_desc doesn't allow grouping by ".into(),
            );
        }
        // `by ()` is the same as no grouping; the printer writes grouping first
        let grouping = grouping.filter(|g| g.without || !g.labels.is_empty());
        let grouping_first = grouping.is_some();
        Ok(SampleExpr::VectorAgg(VectorAgg {
            op,
            expr: Box::new(inner),
            param,
            grouping,
            grouping_first,
        }))
    }

    fn label_replace(&mut self) -> Result<SampleExpr> {
        let start = self.pos();
        self.bump();
        self.expect(&Tok::LParen, &["("])?;
        let expr = self.sample_expr()?;
        let mut args = Vec::with_capacity(4);
        for i in 0..4 {
            if i == 0 {
                self.expect(&Tok::Comma, &[])?;
            } else {
                self.expect(&Tok::Comma, &[","])?;
            }
            let Tok::Str(s) = self.peek()?.clone() else {
                return Err(self.unexpected(&["STRING"]));
            };
            self.bump();
            args.push(s);
        }
        self.expect(&Tok::RParen, &[")"])?;
        let mut it = args.into_iter();
        let (dst, replacement, src, regex) = (
            it.next().unwrap_or_default(),
            it.next().unwrap_or_default(),
            it.next().unwrap_or_default(),
            it.next().unwrap_or_default(),
        );
        if let Err(e) = regex::Regex::new(&format!("^(?:{regex})$")) {
            let msg = format!(
                "invalid regex in label_replace: {}",
                regexes::go_regex_error(&regex, &e)
            );
            self.defer(start, self.pos(), 0, msg);
        }
        Ok(SampleExpr::LabelReplace(Box::new(LabelReplace {
            expr,
            dst,
            replacement,
            src,
            regex,
        })))
    }
}

/// Loki's `RangeAggregationExpr.validate`: grouping and unwrap rules.
fn range_agg_rule(op: RangeOp, grouping: bool, unwrap: bool) -> Option<String> {
    use RangeOp as R;
    let name = range_op_name(op);
    let groupable = matches!(
        op,
        R::AvgOverTime
            | R::StddevOverTime
            | R::StdvarOverTime
            | R::QuantileOverTime
            | R::MaxOverTime
            | R::MinOverTime
            | R::FirstOverTime
            | R::LastOverTime
    );
    if grouping && !groupable {
        return Some(format!("grouping not allowed for {name} aggregation"));
    }
    let without_unwrap = matches!(
        op,
        R::BytesOverTime | R::BytesRate | R::CountOverTime | R::Rate | R::AbsentOverTime
    );
    let with_unwrap = !matches!(op, R::BytesOverTime | R::BytesRate | R::CountOverTime);
    match (unwrap, with_unwrap, without_unwrap) {
        (true, false, _) => Some(format!("invalid aggregation {name} with unwrap")),
        (false, _, false) => Some(format!("invalid aggregation {name} without unwrap")),
        _ => None,
    }
}

/// Loki's constant folding of a binary operation on two literals.
pub(crate) fn fold(op: BinOp, l: f64, r: f64) -> f64 {
    let b = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        BinOp::Add => l + r,
        BinOp::Sub => l - r,
        BinOp::Mul => l * r,
        BinOp::Div if r == 0.0 => f64::NAN,
        BinOp::Div => l / r,
        BinOp::Mod if r == 0.0 => f64::NAN,
        BinOp::Mod => l % r,
        BinOp::Pow => l.powf(r),
        BinOp::Eq => b(l == r),
        BinOp::Neq => b(l != r),
        BinOp::Gt => b(l > r),
        BinOp::Gte => b(l >= r),
        BinOp::Lt => b(l < r),
        BinOp::Lte => b(l <= r),
        // set operators never fold (literal legs are rejected first)
        BinOp::Or | BinOp::And | BinOp::Unless => f64::NAN,
    }
}

//! The canonical printer: `Display` for the AST, producing exactly what
//! Loki's `String()` methods produce (what `format_query` returns), e.g.
//! `count_over_time({foo="bar"} |= "error"[12h])` or
//! `sum by (job)((a / b))`. Parsing the printed form gives the same AST
//! (except where Loki's own form is lossy: byte sizes are humanized and
//! `vector()` keeps six decimals).

mod gofmt;
mod simplify;

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::{
    BinOp, BinaryExpr, Cardinality, CmpOp, Expr, Grouping, LabelFilter, LabelFormatOp,
    LabelSelectItem, LineFilter, LineFilterOp, LineFilterValue, LogExpr, LogRange, Parser,
    RangeAgg, RangeOp, SampleExpr, Stage, Unwrap, UnwrapConversion, VectorAgg, VectorOp,
};
use crate::labels::{MatchOp, Matcher};

pub(crate) use gofmt::go_quote;
pub use gofmt::{format_go_duration, format_prom_duration, go_float_g};

pub(crate) fn range_op_name(op: RangeOp) -> &'static str {
    match op {
        RangeOp::CountOverTime => "count_over_time",
        RangeOp::Rate => "rate",
        RangeOp::RateCounter => "rate_counter",
        RangeOp::BytesOverTime => "bytes_over_time",
        RangeOp::BytesRate => "bytes_rate",
        RangeOp::AvgOverTime => "avg_over_time",
        RangeOp::SumOverTime => "sum_over_time",
        RangeOp::MinOverTime => "min_over_time",
        RangeOp::MaxOverTime => "max_over_time",
        RangeOp::StddevOverTime => "stddev_over_time",
        RangeOp::StdvarOverTime => "stdvar_over_time",
        RangeOp::QuantileOverTime => "quantile_over_time",
        RangeOp::FirstOverTime => "first_over_time",
        RangeOp::LastOverTime => "last_over_time",
        RangeOp::AbsentOverTime => "absent_over_time",
    }
}

pub(crate) fn vector_op_name(op: VectorOp) -> &'static str {
    match op {
        VectorOp::Sum => "sum",
        VectorOp::Avg => "avg",
        VectorOp::Min => "min",
        VectorOp::Max => "max",
        VectorOp::Count => "count",
        VectorOp::Stddev => "stddev",
        VectorOp::Stdvar => "stdvar",
        VectorOp::Topk => "topk",
        VectorOp::Bottomk => "bottomk",
        VectorOp::Sort => "sort",
        VectorOp::SortDesc => "sort_desc",
        VectorOp::ApproxTopk => "approx_topk",
    }
}

pub(crate) fn binop_name(op: BinOp) -> &'static str {
    match op {
        BinOp::Or => "or",
        BinOp::And => "and",
        BinOp::Unless => "unless",
        BinOp::Eq => "==",
        BinOp::Neq => "!=",
        BinOp::Gt => ">",
        BinOp::Gte => ">=",
        BinOp::Lt => "<",
        BinOp::Lte => "<=",
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Mod => "%",
        BinOp::Pow => "^",
    }
}

fn cmp_name(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Neq => "!=",
        CmpOp::Gt => ">",
        CmpOp::Gte => ">=",
        CmpOp::Lt => "<",
        CmpOp::Lte => "<=",
    }
}

/// A matcher as Prometheus prints it: `name="value"` with Go quoting.
fn write_matcher(f: &mut Formatter<'_>, m: &Matcher) -> fmt::Result {
    f.write_str(&m.name)?;
    f.write_str(m.op.as_str())?;
    go_quote(f, &m.value)
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => l.fmt(f),
            Expr::Sample(s) => s.fmt(f),
        }
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('{')?;
        for (i, m) in self.selector.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write_matcher(f, m)?;
        }
        f.write_char('}')?;
        for s in &self.pipeline {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(l) => l.fmt(f),
            Stage::Parser(p) => p.fmt(f),
            Stage::LabelFilter(l) => write!(f, "| {l}"),
            Stage::LineFormat(t) => {
                f.write_str("| line_format ")?;
                go_quote(f, t)
            }
            Stage::LabelFormat(ops) => {
                f.write_str("| label_format ")?;
                for (i, op) in ops.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    match op {
                        LabelFormatOp::Rename { dst, src } => write!(f, "{dst}={src}")?,
                        LabelFormatOp::Template { dst, template } => {
                            write!(f, "{dst}=")?;
                            go_quote(f, template)?;
                        }
                    }
                }
                Ok(())
            }
            Stage::Drop(items) => write_select(f, "drop", items),
            Stage::Keep(items) => write_select(f, "keep", items),
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

fn write_select(f: &mut Formatter<'_>, name: &str, items: &[LabelSelectItem]) -> fmt::Result {
    write!(f, "| {name} ")?;
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        match it {
            LabelSelectItem::Name(n) => f.write_str(n)?,
            LabelSelectItem::Matcher(m) => write_matcher(f, m)?,
        }
    }
    Ok(())
}

impl Display for LineFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        };
        for (i, v) in self.values.iter().enumerate() {
            if i == 0 {
                write!(f, "{op} ")?;
            } else {
                // negative filters never share a stage (see the parser), but
                // print them unambiguously if someone builds one by hand
                let negative = matches!(
                    self.op,
                    LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern
                );
                if negative {
                    write!(f, " {op} ")?;
                } else {
                    f.write_str(" or ")?;
                }
            }
            match v {
                LineFilterValue::Literal(s) => go_quote(f, s)?,
                LineFilterValue::Ip(s) => {
                    f.write_str("ip(")?;
                    go_quote(f, s)?;
                    f.write_char(')')?;
                }
            }
        }
        Ok(())
    }
}

fn write_extractions(f: &mut Formatter<'_>, ex: &[crate::ast::LabelExtraction]) -> fmt::Result {
    for (i, e) in ex.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        write!(f, "{}=", e.label)?;
        go_quote(f, e.expression.as_deref().unwrap_or(&e.label))?;
    }
    Ok(())
}

impl Display for Parser {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Parser::Json(ex) if ex.is_empty() => f.write_str("| json"),
            Parser::Json(ex) => {
                f.write_str("| json ")?;
                write_extractions(f, ex)
            }
            Parser::Logfmt {
                strict,
                keep_empty,
                extractions,
            } if extractions.is_empty() => {
                f.write_str("| logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                Ok(())
            }
            Parser::Logfmt {
                strict,
                keep_empty,
                extractions,
            } => {
                f.write_str("| logfmt ")?;
                if *strict {
                    f.write_str("--strict ")?;
                }
                if *keep_empty {
                    f.write_str("--keep-empty ")?;
                }
                write_extractions(f, extractions)
            }
            Parser::Regexp(re) => {
                f.write_str("| regexp ")?;
                go_quote(f, re)
            }
            Parser::Pattern(p) => {
                f.write_str("| pattern ")?;
                go_quote(f, p)
            }
            Parser::Unpack => f.write_str("| unpack"),
        }
    }
}

impl Display for LabelFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelFilter::And(l, r) => write!(f, "( {l} , {r} )"),
            LabelFilter::Or(l, r) => write!(f, "( {l} or {r} )"),
            LabelFilter::Paren(inner) => inner.fmt(f),
            LabelFilter::String(m) => {
                let regex = matches!(m.op, MatchOp::Re | MatchOp::Nre);
                if regex && !simplify::label_regex_simplifies(&m.value) {
                    // Loki prints unsimplifiable label regexes raw
                    write!(f, "{}{}", m.name, m.op.as_str())?;
                    if m.value.contains('`') {
                        return go_quote(f, &m.value);
                    }
                    return write!(f, "`{}`", m.value);
                }
                write_matcher(f, m)
            }
            LabelFilter::Number { name, op, value } => {
                write!(f, "{name}{}{}", cmp_name(*op), gofmt::go_float_f(*value))
            }
            LabelFilter::Duration { name, op, value } => {
                write!(f, "{name}{}{}", cmp_name(*op), format_go_duration(*value))
            }
            LabelFilter::Bytes { name, op, value } => {
                write!(
                    f,
                    "{name}{}{}",
                    cmp_name(*op),
                    gofmt::humanize_bytes(*value)
                )
            }
            LabelFilter::Ip {
                name,
                negated,
                pattern,
            } => {
                write!(f, "{name}{}ip(", if *negated { "!=" } else { "=" })?;
                go_quote(f, pattern)?;
                f.write_char(')')
            }
        }
    }
}

impl Display for Unwrap {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.conversion {
            None => write!(f, " | unwrap {}", self.label)?,
            Some(c) => {
                let conv = match c {
                    UnwrapConversion::Bytes => "bytes",
                    UnwrapConversion::Duration => "duration",
                    UnwrapConversion::DurationSeconds => "duration_seconds",
                };
                write!(f, " | unwrap {conv}({})", self.label)?;
            }
        }
        for p in &self.post_filters {
            write!(f, " | {p}")?;
        }
        Ok(())
    }
}

impl Display for LogRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.log.fmt(f)?;
        if let Some(u) = &self.unwrap {
            u.fmt(f)?;
        }
        write!(f, "[{}]", format_prom_duration(self.range))?;
        if self.offset != 0 {
            write!(f, " offset {}", format_go_duration(self.offset))?;
        }
        Ok(())
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let kw = if self.without { "without" } else { "by" };
        write!(f, " {kw} ({})", self.labels.join(","))
    }
}

impl Display for SampleExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SampleExpr::RangeAgg(r) => r.fmt(f),
            SampleExpr::VectorAgg(v) => v.fmt(f),
            SampleExpr::Binary(b) => b.fmt(f),
            SampleExpr::Literal(v) => f.write_str(&go_float_g(*v)),
            SampleExpr::Vector(v) => write!(f, "vector({})", gofmt::go_float_fixed6(*v)),
            SampleExpr::LabelReplace(l) => {
                write!(f, "label_replace({},", l.expr)?;
                for (i, s) in [&l.dst, &l.replacement, &l.src, &l.regex]
                    .into_iter()
                    .enumerate()
                {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    go_quote(f, s)?;
                }
                f.write_char(')')
            }
            SampleExpr::Paren(inner) => inner.fmt(f),
        }
    }
}

impl Display for RangeAgg {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", range_op_name(self.op))?;
        if let Some(p) = self.param {
            write!(f, "{},", gofmt::go_float_f(p))?;
        }
        write!(f, "{})", self.range)?;
        if let Some(g) = &self.grouping {
            g.fmt(f)?;
        }
        Ok(())
    }
}

impl Display for VectorAgg {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(vector_op_name(self.op))?;
        if let Some(g) = &self.grouping {
            if g.without || !g.labels.is_empty() {
                g.fmt(f)?;
            }
        }
        f.write_char('(')?;
        if let Some(k) = self.param {
            write!(f, "{},", k as i64)?;
        }
        write!(f, "{})", self.expr)
    }
}

impl Display for BinaryExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "({} {}", self.lhs, binop_name(self.op))?;
        if self.return_bool {
            f.write_str(" bool")?;
        }
        let rhs = self.rhs.to_string();
        if let Some(m) = &self.matching {
            // Loki prints a bare `group_left`/`group_right` before the right-hand side; when
            // that side itself starts with `(` the parser would read it as the include list,
            // so an empty list is spelled out there.
            let bare = |kw: &str| {
                if rhs.starts_with('(') {
                    format!("{kw} ()")
                } else {
                    kw.to_string()
                }
            };
            let group = match &m.card {
                Cardinality::OneToOne => String::new(),
                Cardinality::ManyToOne(l) if l.is_empty() => bare("group_left"),
                Cardinality::OneToMany(l) if l.is_empty() => bare("group_right"),
                Cardinality::ManyToOne(l) => format!("group_left ({})", l.join(",")),
                Cardinality::OneToMany(l) => format!("group_right ({})", l.join(",")),
            };
            let kw = if m.on { "on" } else { "ignoring" };
            write!(f, " {kw} ({}) {group}", m.labels.join(","))?;
        }
        write!(f, " {rhs})")
    }
}

//! The LogQL abstract syntax tree.
//!
//! `parse` (parser.rs) builds it, `Display` (printer.rs) prints it back in
//! Loki's canonical form, and the engine evaluates it. Durations are
//! nanoseconds as `i64`.
//!
//! The parser builds a normalized tree, so that printing and parsing again
//! gives an equal tree:
//! - no `Paren` nodes (`SampleExpr::Paren`, `LabelFilter::Paren`): grouping
//!   is in the tree's shape; the variants exist for hand-built trees;
//! - number literals are folded (`1 + 2` is `Literal(3.0)`), as Loki does;
//! - a negative line filter with `or` (`!= "a" or "b"`) becomes one stage
//!   per value (`!= "a" != "b"`), Loki's meaning and printed form;
//! - `json a` / `logfmt a` extractions always carry their expression
//!   (`Some("a")`);
//! - a vector aggregation's `by ()` is `grouping: None`, and
//!   `grouping_first` is true whenever there is a grouping (the printer
//!   always writes it first, as Loki does);
//! - `ignoring ()` without a group modifier is `matching: None`.

use crate::labels::Matcher;

/// A whole query: either a log query or a metric (sample) query.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Log(LogExpr),
    Sample(SampleExpr),
}

/// `{selector} | stage | stage ...`
#[derive(Clone, Debug, PartialEq)]
pub struct LogExpr {
    pub selector: Vec<Matcher>,
    pub pipeline: Vec<Stage>,
}

/// One pipeline stage.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    LineFilter(LineFilter),
    Parser(Parser),
    LabelFilter(LabelFilter),
    /// `line_format "template"`
    LineFormat(String),
    /// `label_format a=b, c="{{tmpl}}"`
    LabelFormat(Vec<LabelFormatOp>),
    /// `drop a, b="v"`
    Drop(Vec<LabelSelectItem>),
    /// `keep a, b="v"`
    Keep(Vec<LabelSelectItem>),
    Decolorize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Regex,
    /// `!~`
    NotRegex,
    /// `|>`
    Pattern,
    /// `!>`
    NotPattern,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LineFilterValue {
    Literal(String),
    /// `ip("cidr or range")`
    Ip(String),
}

/// `op value (or value)*`: the `or` alternatives share the operator.
#[derive(Clone, Debug, PartialEq)]
pub struct LineFilter {
    pub op: LineFilterOp,
    pub values: Vec<LineFilterValue>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Parser {
    /// `json` or `json a="path", b`
    Json(Vec<LabelExtraction>),
    /// `logfmt [--strict] [--keep-empty] [a="key", b]`
    Logfmt {
        strict: bool,
        keep_empty: bool,
        extractions: Vec<LabelExtraction>,
    },
    /// `regexp "re with (?P<name>...)"`
    Regexp(String),
    /// `pattern "<a> - <b>"`
    Pattern(String),
    Unpack,
}

/// `label="expression"`, or a bare `label` (expression is `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct LabelExtraction {
    pub label: String,
    pub expression: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A label filter stage; `and`, `or` and `,` combine filters.
#[derive(Clone, Debug, PartialEq)]
pub enum LabelFilter {
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// Parentheses as written, kept so the printer can reproduce them.
    Paren(Box<LabelFilter>),
    /// `name = "v"`, `!=`, `=~`, `!~`
    String(Matcher),
    /// `name > 1.5`
    Number {
        name: String,
        op: CmpOp,
        value: f64,
    },
    /// `name > 1s` (value in nanoseconds)
    Duration {
        name: String,
        op: CmpOp,
        value: i64,
    },
    /// `name > 10KB` (value in bytes)
    Bytes {
        name: String,
        op: CmpOp,
        value: u64,
    },
    /// `name = ip("...")` or `name != ip("...")`
    Ip {
        name: String,
        negated: bool,
        pattern: String,
    },
}

/// `dst=src` (rename) or `dst="{{template}}"`.
#[derive(Clone, Debug, PartialEq)]
pub enum LabelFormatOp {
    Rename { dst: String, src: String },
    Template { dst: String, template: String },
}

/// An item of `drop`/`keep`: a bare name or a matcher.
#[derive(Clone, Debug, PartialEq)]
pub enum LabelSelectItem {
    Name(String),
    Matcher(Matcher),
}

/// A metric expression.
#[derive(Clone, Debug, PartialEq)]
pub enum SampleExpr {
    /// `op([param,] log-range) [by|without (...)]`
    RangeAgg(RangeAgg),
    /// `op [by|without (...)] ([param,] expr)`
    VectorAgg(VectorAgg),
    Binary(Box<BinaryExpr>),
    /// A number literal, e.g. `2` (a scalar).
    Literal(f64),
    /// `vector(1)`
    Vector(f64),
    /// `label_replace(expr, "dst", "replacement", "src", "regex")`
    LabelReplace(Box<LabelReplace>),
    /// Parentheses as written.
    Paren(Box<SampleExpr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeOp {
    CountOverTime,
    Rate,
    RateCounter,
    BytesOverTime,
    BytesRate,
    AvgOverTime,
    SumOverTime,
    MinOverTime,
    MaxOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
    AbsentOverTime,
}

/// `{selector} | pipeline [| unwrap ...] [range] [offset d]`
#[derive(Clone, Debug, PartialEq)]
pub struct LogRange {
    pub log: LogExpr,
    pub unwrap: Option<Unwrap>,
    /// Range in nanoseconds.
    pub range: i64,
    /// Offset in nanoseconds (0 when absent).
    pub offset: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnwrapConversion {
    Duration,
    DurationSeconds,
    Bytes,
}

/// `| unwrap [conv(]label[)] [| label filters after unwrap]`
#[derive(Clone, Debug, PartialEq)]
pub struct Unwrap {
    pub label: String,
    pub conversion: Option<UnwrapConversion>,
    /// Label filters written after the unwrap (typically `__error__=""`).
    pub post_filters: Vec<LabelFilter>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RangeAgg {
    pub op: RangeOp,
    pub range: LogRange,
    /// The quantile for `quantile_over_time`.
    pub param: Option<f64>,
    pub grouping: Option<Grouping>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
    ApproxTopk,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VectorAgg {
    pub op: VectorOp,
    pub expr: Box<SampleExpr>,
    /// `k` for topk/bottomk/approx_topk.
    pub param: Option<f64>,
    pub grouping: Option<Grouping>,
    /// Whether the grouping was written before the parenthesised argument
    /// (`sum by (a) (x)`) rather than after (`sum(x) by (a)`).
    pub grouping_first: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Unless,
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Cardinality {
    OneToOne,
    /// `group_left(labels)`
    ManyToOne(Vec<String>),
    /// `group_right(labels)`
    OneToMany(Vec<String>),
}

/// `on(...)` / `ignoring(...)` with an optional group modifier.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorMatching {
    /// true for `on`, false for `ignoring`.
    pub on: bool,
    pub labels: Vec<String>,
    pub card: Cardinality,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BinaryExpr {
    pub op: BinOp,
    pub lhs: SampleExpr,
    pub rhs: SampleExpr,
    /// `bool` modifier on comparisons.
    pub return_bool: bool,
    pub matching: Option<VectorMatching>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LabelReplace {
    pub expr: SampleExpr,
    pub dst: String,
    pub replacement: String,
    pub src: String,
    pub regex: String,
}

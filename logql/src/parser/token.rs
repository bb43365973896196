//! LogQL tokens: kinds, the names goyacc prints for them in errors, and
//! the tables that classify words and operators like Loki's lexer does.

use crate::ast::{RangeOp, UnwrapConversion, VectorOp};

/// Keywords that are keywords wherever they appear (case-insensitive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kw {
    By,
    Without,
    Bool,
    Offset,
    On,
    Ignoring,
    GroupLeft,
    GroupRight,
    Or,
    And,
    Unless,
    Json,
    Regexp,
    Logfmt,
    Unpack,
    Pattern,
    LabelFmt,
    LineFmt,
    Decolorize,
    Drop,
    Keep,
    Unwrap,
}

/// A token kind with its value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Eof,
    Ident(String),
    Str(String),
    Number(String),
    /// Nanoseconds.
    Duration(i64),
    /// A `[range]`, nanoseconds.
    Range(i64),
    Bytes(u64),
    Flag(String),
    Kw(Kw),
    RangeFn(RangeOp),
    VecFn(VectorOp),
    Conv(UnwrapConversion),
    LabelReplace,
    Vector,
    Ip,
    Comma,
    Dot,
    LBrace,
    RBrace,
    LParen,
    RParen,
    RBracket,
    Eq,
    Neq,
    Re,
    Nre,
    Npa,
    PipeExact,
    PipeMatch,
    PipePattern,
    Pipe,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    CmpEq,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A token and where it starts.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
    /// A lexer error met while reading this token; reported when the parser reaches it.
    pub err: Option<String>,
}

impl Tok {
    /// The name goyacc uses for this token in "unexpected X" messages.
    pub fn name(&self) -> &'static str {
        match self {
            Tok::Eof => "$end",
            Tok::Ident(_) => "IDENTIFIER",
            Tok::Str(_) => "STRING",
            Tok::Number(_) => "NUMBER",
            Tok::Duration(_) => "DURATION",
            Tok::Range(_) => "RANGE",
            Tok::Bytes(_) => "BYTES",
            Tok::Flag(_) => "FUNCTION_FLAG",
            Tok::Kw(k) => kw_name(*k),
            Tok::RangeFn(op) => range_fn_token(*op),
            Tok::VecFn(op) => vec_fn_token(*op),
            Tok::Conv(UnwrapConversion::Bytes) => "BYTES_CONV",
            Tok::Conv(UnwrapConversion::Duration) => "DURATION_CONV",
            Tok::Conv(UnwrapConversion::DurationSeconds) => "DURATION_SECONDS_CONV",
            Tok::LabelReplace => "label_replace",
            Tok::Vector => "VECTOR",
            Tok::Ip => "ip",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::RBracket => "]",
            Tok::Eq => "=",
            Tok::Neq => "!=",
            Tok::Re => "=~",
            Tok::Nre => "!~",
            Tok::Npa => "!>",
            Tok::PipeExact => "|=",
            Tok::PipeMatch => "|~",
            Tok::PipePattern => "|>",
            Tok::Pipe => "|",
            Tok::Add => "+",
            Tok::Sub => "-",
            Tok::Mul => "*",
            Tok::Div => "/",
            Tok::Mod => "%",
            Tok::Pow => "^",
            Tok::CmpEq => "==",
            Tok::Gt => ">",
            Tok::Gte => ">=",
            Tok::Lt => "<",
            Tok::Lte => "<=",
        }
    }
}

fn kw_name(k: Kw) -> &'static str {
    match k {
        Kw::By => "by",
        Kw::Without => "without",
        Kw::Bool => "bool",
        Kw::Offset => "offset",
        Kw::On => "on",
        Kw::Ignoring => "ignoring",
        Kw::GroupLeft => "group_left",
        Kw::GroupRight => "group_right",
        Kw::Or => "or",
        Kw::And => "and",
        Kw::Unless => "unless",
        Kw::Json => "json",
        Kw::Regexp => "regexp",
        Kw::Logfmt => "logfmt",
        Kw::Unpack => "unpack",
        Kw::Pattern => "pattern",
        Kw::LabelFmt => "label_format",
        Kw::LineFmt => "line_format",
        Kw::Decolorize => "decolorize",
        Kw::Drop => "drop",
        Kw::Keep => "keep",
        Kw::Unwrap => "unwrap",
    }
}

fn range_fn_token(op: RangeOp) -> &'static str {
    match op {
        RangeOp::CountOverTime => "COUNT_OVER_TIME",
        RangeOp::Rate => "RATE",
        RangeOp::RateCounter => "RATE_COUNTER",
        RangeOp::BytesOverTime => "BYTES_OVER_TIME",
        RangeOp::BytesRate => "BYTES_RATE",
        RangeOp::AvgOverTime => "AVG_OVER_TIME",
        RangeOp::SumOverTime => "SUM_OVER_TIME",
        RangeOp::MinOverTime => "MIN_OVER_TIME",
        RangeOp::MaxOverTime => "MAX_OVER_TIME",
        RangeOp::StddevOverTime => "STDDEV_OVER_TIME",
        RangeOp::StdvarOverTime => "STDVAR_OVER_TIME",
        RangeOp::QuantileOverTime => "QUANTILE_OVER_TIME",
        RangeOp::FirstOverTime => "FIRST_OVER_TIME",
        RangeOp::LastOverTime => "LAST_OVER_TIME",
        RangeOp::AbsentOverTime => "ABSENT_OVER_TIME",
    }
}

fn vec_fn_token(op: VectorOp) -> &'static str {
    match op {
        VectorOp::Sum => "SUM",
        VectorOp::Avg => "AVG",
        VectorOp::Min => "MIN",
        VectorOp::Max => "MAX",
        VectorOp::Count => "COUNT",
        VectorOp::Stddev => "STDDEV",
        VectorOp::Stdvar => "STDVAR",
        VectorOp::Topk => "TOPK",
        VectorOp::Bottomk => "BOTTOMK",
        VectorOp::Sort => "SORT",
        VectorOp::SortDesc => "SORT_DESC",
        VectorOp::ApproxTopk => "APPROX_TOPK",
    }
}

/// Function names: tokens only when followed by `(` (or `by`/`without (`).
pub(crate) fn function_token(lower: &str) -> Option<Tok> {
    use RangeOp as R;
    use VectorOp as V;
    Some(match lower {
        "rate" => Tok::RangeFn(R::Rate),
        "rate_counter" => Tok::RangeFn(R::RateCounter),
        "count_over_time" => Tok::RangeFn(R::CountOverTime),
        "bytes_rate" => Tok::RangeFn(R::BytesRate),
        "bytes_over_time" => Tok::RangeFn(R::BytesOverTime),
        "avg_over_time" => Tok::RangeFn(R::AvgOverTime),
        "sum_over_time" => Tok::RangeFn(R::SumOverTime),
        "min_over_time" => Tok::RangeFn(R::MinOverTime),
        "max_over_time" => Tok::RangeFn(R::MaxOverTime),
        "stdvar_over_time" => Tok::RangeFn(R::StdvarOverTime),
        "stddev_over_time" => Tok::RangeFn(R::StddevOverTime),
        "quantile_over_time" => Tok::RangeFn(R::QuantileOverTime),
        "first_over_time" => Tok::RangeFn(R::FirstOverTime),
        "last_over_time" => Tok::RangeFn(R::LastOverTime),
        "absent_over_time" => Tok::RangeFn(R::AbsentOverTime),
        "vector" => Tok::Vector,
        "sum" => Tok::VecFn(V::Sum),
        "avg" => Tok::VecFn(V::Avg),
        "max" => Tok::VecFn(V::Max),
        "min" => Tok::VecFn(V::Min),
        "count" => Tok::VecFn(V::Count),
        "stddev" => Tok::VecFn(V::Stddev),
        "stdvar" => Tok::VecFn(V::Stdvar),
        "bottomk" => Tok::VecFn(V::Bottomk),
        "topk" => Tok::VecFn(V::Topk),
        "sort" => Tok::VecFn(V::Sort),
        "sort_desc" => Tok::VecFn(V::SortDesc),
        "approx_topk" => Tok::VecFn(V::ApproxTopk),
        "label_replace" => Tok::LabelReplace,
        "bytes" => Tok::Conv(UnwrapConversion::Bytes),
        "duration" => Tok::Conv(UnwrapConversion::Duration),
        "duration_seconds" => Tok::Conv(UnwrapConversion::DurationSeconds),
        "ip" => Tok::Ip,
        _ => return None,
    })
}

pub(crate) fn keyword(lower: &str) -> Option<Kw> {
    Some(match lower {
        "by" => Kw::By,
        "without" => Kw::Without,
        "bool" => Kw::Bool,
        "offset" => Kw::Offset,
        "on" => Kw::On,
        "ignoring" => Kw::Ignoring,
        "group_left" => Kw::GroupLeft,
        "group_right" => Kw::GroupRight,
        "or" => Kw::Or,
        "and" => Kw::And,
        "unless" => Kw::Unless,
        "json" => Kw::Json,
        "regexp" => Kw::Regexp,
        "logfmt" => Kw::Logfmt,
        "unpack" => Kw::Unpack,
        "pattern" => Kw::Pattern,
        "label_format" => Kw::LabelFmt,
        "line_format" => Kw::LineFmt,
        "decolorize" => Kw::Decolorize,
        "drop" => Kw::Drop,
        "keep" => Kw::Keep,
        "unwrap" => Kw::Unwrap,
        _ => return None,
    })
}

pub(crate) fn two_char(a: char, b: char) -> Option<Tok> {
    Some(match (a, b) {
        ('!', '=') => Tok::Neq,
        ('=', '~') => Tok::Re,
        ('!', '~') => Tok::Nre,
        ('!', '>') => Tok::Npa,
        ('|', '=') => Tok::PipeExact,
        ('|', '~') => Tok::PipeMatch,
        ('|', '>') => Tok::PipePattern,
        ('=', '=') => Tok::CmpEq,
        ('>', '=') => Tok::Gte,
        ('<', '=') => Tok::Lte,
        _ => return None,
    })
}

pub(crate) fn one_char(c: char) -> Option<Tok> {
    Some(match c {
        ',' => Tok::Comma,
        '.' => Tok::Dot,
        '{' => Tok::LBrace,
        '}' => Tok::RBrace,
        '(' => Tok::LParen,
        ')' => Tok::RParen,
        ']' => Tok::RBracket,
        '=' => Tok::Eq,
        '|' => Tok::Pipe,
        '+' => Tok::Add,
        '-' => Tok::Sub,
        '*' => Tok::Mul,
        '/' => Tok::Div,
        '%' => Tok::Mod,
        '^' => Tok::Pow,
        '>' => Tok::Gt,
        '<' => Tok::Lt,
        _ => return None,
    })
}

pub(crate) fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

pub(crate) fn is_duration_rune(c: char) -> bool {
    matches!(c, 'n' | 'u' | 'µ' | 'm' | 's' | 'h' | 'd' | 'w' | 'y')
}

pub(crate) fn is_bytes_rune(c: char) -> bool {
    matches!(c, 'B' | 'i' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P')
}

//! The LogQL lexer: turns a query into tokens the way Loki's lexer does.
//!
//! Loki scans with Go's `text/scanner` plus a few extra rules; this module
//! reproduces the parts that decide which token a piece of text becomes
//! (function names are only keywords before `(` or `by`/`without (`, a
//! number glued to a unit is a duration or a byte size, `[...]` is a range)
//! and where errors are reported. A token records its 1-based line and
//! column; like Loki, tokens that needed extra look-ahead report line 0.

use crate::ast::{RangeOp, UnwrapConversion, VectorOp};

use super::lit;

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
fn function_token(lower: &str) -> Option<Tok> {
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

fn keyword(lower: &str) -> Option<Kw> {
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

fn two_char(a: char, b: char) -> Option<Tok> {
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

fn one_char(c: char) -> Option<Tok> {
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

fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_duration_rune(c: char) -> bool {
    matches!(c, 'n' | 'u' | 'µ' | 'm' | 's' | 'h' | 'd' | 'w' | 'y')
}

fn is_bytes_rune(c: char) -> bool {
    matches!(c, 'B' | 'i' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P')
}

/// Character cursor tracking Go scanner positions.
struct Cursor<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
    /// Characters read on the current line.
    col: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.src[self.pos..].chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 0;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    /// Advances over `n` bytes that contain no newline.
    fn skip_bytes(&mut self, n: usize) {
        let end = self.pos + n;
        while self.pos < end {
            self.bump();
        }
    }
}

/// Tokenizes the whole input. The last token is always `Eof`; lexing stops at
/// the first token carrying an error.
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let mut c = Cursor {
        src,
        pos: 0,
        line: 1,
        col: 0,
    };
    let mut out = Vec::new();
    loop {
        let t = next_token(&mut c);
        let stop = t.tok == Tok::Eof || t.err.is_some();
        out.push(t);
        if stop {
            if out.last().is_some_and(|t| t.tok != Tok::Eof) {
                out.push(Token {
                    tok: Tok::Eof,
                    line: c.line,
                    col: c.col + 1,
                    err: None,
                });
            }
            return out;
        }
    }
}

/// Skips white space and `//`, `/* */` comments; returns an error for an
/// unterminated block comment.
fn skip_space(c: &mut Cursor) -> Option<String> {
    loop {
        match c.peek() {
            Some(ch) if is_go_space(ch) => {
                c.bump();
            }
            Some('/') if c.peek2() == Some('/') => {
                while let Some(ch) = c.peek() {
                    if ch == '\n' {
                        break;
                    }
                    c.bump();
                }
            }
            Some('/') if c.peek2() == Some('*') => {
                c.bump();
                c.bump();
                loop {
                    match c.bump() {
                        None => return Some("comment not terminated".into()),
                        Some('*') if c.peek() == Some('/') => {
                            c.bump();
                            break;
                        }
                        Some(_) => {}
                    }
                }
            }
            _ => return None,
        }
    }
}

fn next_token(c: &mut Cursor) -> Token {
    loop {
        let (line, col) = (c.line, c.col + 1);
        if let Some(e) = skip_space(c) {
            return Token {
                tok: Tok::Eof,
                line,
                col,
                err: Some(e),
            };
        }
        let (line, col) = (c.line, c.col + 1);
        let mk = |tok, reset: bool, err| Token {
            tok,
            line: if reset { 0 } else { line },
            col,
            err,
        };
        let Some(ch) = c.peek() else {
            let eof_col = if c.src.is_empty() { 0 } else { col };
            let eof_line = if c.src.is_empty() { 0 } else { line };
            return Token {
                tok: Tok::Eof,
                line: eof_line,
                col: eof_col,
                err: None,
            };
        };
        match ch {
            '#' => {
                while let Some(n) = c.peek() {
                    if n == '\n' {
                        break;
                    }
                    c.bump();
                }
                continue;
            }
            '0'..='9' => return number(c, mk),
            '.' if c.peek2().is_some_and(|d| d.is_ascii_digit()) => return number(c, mk),
            '-' => {
                c.bump();
                if c.peek() == Some('-') {
                    if let Some(flag) = try_flag(c) {
                        return mk(Tok::Flag(flag), true, None);
                    }
                }
                if let Some(d) = try_suffix(c, "-", is_duration_rune, lit::lexer_duration) {
                    return mk(Tok::Duration(d), true, None);
                }
                return mk(Tok::Sub, false, None);
            }
            '"' | '`' | '\'' => {
                let (text, err) = lit::scan_quoted(c.rest());
                c.skip_bytes(text.len());
                if let Some(e) = err {
                    return mk(Tok::Eof, false, Some(e));
                }
                if ch == '\'' {
                    return mk(Tok::Ident(text.to_string()), false, None);
                }
                return match lit::unquote(text) {
                    Ok(s) => mk(Tok::Str(s), false, None),
                    Err(e) => mk(Tok::Eof, false, Some(e)),
                };
            }
            '[' => {
                c.bump();
                let start = c.pos;
                loop {
                    match c.bump() {
                        None => {
                            return mk(
                                Tok::Eof,
                                true,
                                Some("missing closing ']' in duration".into()),
                            )
                        }
                        Some(']') => break,
                        Some(_) => {}
                    }
                }
                let body = &c.src[start..c.pos - 1];
                return match lit::prom_duration(body) {
                    Ok(d) => mk(Tok::Range(d), true, None),
                    Err(e) => mk(Tok::Eof, true, Some(e)),
                };
            }
            ch if ch == '_' || ch.is_alphabetic() => {
                let start = c.pos;
                while c.peek().is_some_and(|n| n == '_' || n.is_alphanumeric()) {
                    c.bump();
                }
                let text = &c.src[start..c.pos];
                let lower = text.to_lowercase();
                if let Some(tok) = function_token(&lower) {
                    if is_function(c.rest()) {
                        return mk(tok, false, None);
                    }
                    return mk(Tok::Ident(text.to_string()), false, None);
                }
                if let Some(k) = keyword(&lower) {
                    return mk(Tok::Kw(k), false, None);
                }
                return mk(Tok::Ident(text.to_string()), false, None);
            }
            _ => {
                c.bump();
                if let Some(tok) = c.peek().and_then(|n| two_char(ch, n)) {
                    c.bump();
                    return mk(tok, true, None);
                }
                if let Some(tok) = one_char(ch) {
                    return mk(tok, false, None);
                }
                let err = (ch == '\0').then(|| "invalid character NUL".to_string());
                return mk(Tok::Ident(ch.to_string()), false, err);
            }
        }
    }
}

fn number(c: &mut Cursor, mk: impl Fn(Tok, bool, Option<String>) -> Token) -> Token {
    let (len, err) = lit::scan_number(c.rest());
    let text = c.rest()[..len].to_string();
    c.skip_bytes(len);
    if err.is_some() {
        return mk(Tok::Number(text), false, err);
    }
    if let Some(d) = try_suffix(c, &text, is_duration_rune, lit::lexer_duration) {
        return mk(Tok::Duration(d), true, None);
    }
    if let Some(b) = try_suffix(c, &text, is_bytes_rune, lit::parse_bytes) {
        return mk(Tok::Bytes(b), true, None);
    }
    mk(Tok::Number(text), false, None)
}

/// Loki's `tryScanDuration`/`tryScanBytes`: glue the following unit-like
/// characters to `prefix` and keep them if the whole parses.
fn try_suffix<T>(
    c: &mut Cursor,
    prefix: &str,
    unit_rune: fn(char) -> bool,
    parse: fn(&str) -> Option<T>,
) -> Option<T> {
    let rest = c.rest();
    let mut len = 0;
    for ch in rest.chars() {
        if ch.is_whitespace() || !(ch.is_numeric() || unit_rune(ch) || ch == '.') {
            break;
        }
        len += ch.len_utf8();
    }
    if len == 0 {
        return None;
    }
    let v = parse(&format!("{prefix}{}", &rest[..len]))?;
    c.skip_bytes(len);
    Some(v)
}

fn try_flag(c: &mut Cursor) -> Option<String> {
    let rest = c.rest();
    let len: usize = rest
        .chars()
        .take_while(|ch| ch.is_alphabetic() || *ch == '-')
        .map(char::len_utf8)
        .sum();
    let flag = format!("-{}", &rest[..len]);
    if flag == "--strict" || flag == "--keep-empty" {
        c.skip_bytes(len);
        return Some(flag);
    }
    None
}

/// Whether the text after a function name makes it a function call.
fn is_function(rest: &str) -> bool {
    let rest = rest.trim_start_matches(char::is_whitespace);
    if rest.starts_with('(') {
        return true;
    }
    for kw in ["by", "without"] {
        if rest.len() >= kw.len()
            && rest.is_char_boundary(kw.len())
            && rest[..kw.len()].eq_ignore_ascii_case(kw)
        {
            return rest[kw.len()..]
                .trim_start_matches(char::is_whitespace)
                .starts_with('(');
        }
    }
    false
}

//! The LogQL parser: text to `ast::Expr`, with Loki's validation and Loki's
//! error messages.
//!
//! `lexer` turns the query into tokens the way Loki's lexer does (`units`
//! reads Prometheus durations with `nom`); the grammar is recursive descent
//! over the tokens (precedence climbing for binary operators), so every
//! query is parsed in one pass with bounded look-ahead and no backtracking.
//! Working on tokens rather than characters is what lets errors name the
//! unexpected token and the expected ones exactly as goyacc does. Syntax errors read like goyacc's
//! (`parse error at line 1, col 15: syntax error: unexpected $end, expecting
//! STRING or ip`). Checks that Loki makes while building its AST (wrong
//! aggregation parameters, unwrap rules, binary operation legs, the
//! at-least-one-non-empty-matcher rule) are collected while parsing and the
//! first one in Loki's validation order is reported once the whole query
//! parsed; invalid regexes and number literals abort at once, as in Loki.

mod expr;
mod lexer;
mod lit;
mod pipeline;
mod regexes;
mod token;
mod units;

use std::cmp::Reverse;

use crate::ast::{Expr, LogExpr};
use crate::error::{Error, Result};
use crate::labels::Matcher;

use token::{Tok, Token};

/// Loki rejects queries of this many bytes or more.
const MAX_INPUT_SIZE: usize = 128 * 1024;

/// Deepest nesting of parentheses and aggregations we parse (recursion bound).
const MAX_DEPTH: usize = 128;

/// Most binary operators and label filter combinations in one query (bounds
/// the depth of operator chains in the AST).
const MAX_OPERATORS: usize = 2000;

/// The "at least one non-empty matcher" message.
pub const ERR_EMPTY_MATCHERS: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

/// Parses and validates a LogQL query (log or metric).
pub fn parse_expr(input: &str) -> Result<Expr> {
    if input.len() >= MAX_INPUT_SIZE {
        return Err(Error::ParseNoPos(format!(
            "input size too long ({} > {MAX_INPUT_SIZE})",
            input.len()
        )));
    }
    let mut p = P {
        toks: lexer::tokenize(input),
        i: 0,
        deferred: Vec::new(),
        depth: 0,
        operators: 0,
    };
    let expr = p.expr(0)?;
    if !matches!(p.peek()?, Tok::Eof) {
        return Err(p.unexpected(&[]));
    }
    if let Expr::Log(l) = &expr {
        p.check_matchers(&l.selector, 0, usize::MAX, 0);
    }
    if let Some((_, _, _, e)) = p.deferred.into_iter().min_by_key(|d| (d.0, d.1, d.2)) {
        return Err(e);
    }
    Ok(expr)
}

impl std::str::FromStr for Expr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        parse_expr(s)
    }
}

/// Parses a stream selector such as `{app="api", env=~"prod|dev"}` (the
/// `match[]` of `/series`, the `query` of label values). Anything more than
/// a selector is rejected.
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>> {
    match parse_expr(input)? {
        Expr::Log(LogExpr { selector, pipeline }) if pipeline.is_empty() => Ok(selector),
        _ => Err(Error::BadQuery("only label matchers is supported".into())),
    }
}

/// Parses a Prometheus duration (`5m`, `1h30m`, `1d`, `1w`, `1y`, `100ms`)
/// into nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    lit::prom_duration(s).ok()
}

/// Parser state: tokens, cursor and errors deferred to validation time.
pub(crate) struct P {
    toks: Vec<Token>,
    i: usize,
    /// `(start token, Reverse(end token), order, error)`: sorting gives
    /// Loki's pre-order validation order.
    deferred: Vec<(usize, Reverse<usize>, u8, Error)>,
    depth: usize,
    operators: usize,
}

/// goyacc's token order, used to list "expecting" alternatives.
const YACC_ORDER: &[&str] = &[
    "BYTES",
    "IDENTIFIER",
    "STRING",
    "NUMBER",
    "FUNCTION_FLAG",
    "DURATION",
    "RANGE",
    "=",
    "=~",
    "!~",
    "!>",
    "{",
    "}",
    "[",
    "]",
    ",",
    ".",
    "|~",
    "|=",
    "|>",
    "(",
    ")",
    "by",
    "without",
    "bool",
    "json",
    "regexp",
    "logfmt",
    "|",
    "line_format",
    "label_format",
    "unwrap",
    "BYTES_CONV",
    "DURATION_CONV",
    "DURATION_SECONDS_CONV",
    "VECTOR",
    "label_replace",
    "unpack",
    "offset",
    "pattern",
    "ip",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "decolorize",
    "drop",
    "keep",
    "or",
    "and",
    "unless",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
];

impl P {
    pub(crate) fn tok(&self) -> &Token {
        // `tokenize` always ends with `Eof` and the cursor never passes it
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    /// The current token, or the lexer error met while reading it.
    pub(crate) fn peek(&self) -> Result<&Tok> {
        let t = self.tok();
        if let Some(msg) = &t.err {
            return Err(pos_err(t.line, t.col, msg.clone()));
        }
        Ok(&t.tok)
    }

    /// The token after the current one (no error check).
    pub(crate) fn peek2(&self) -> &Tok {
        &self.toks[(self.i + 1).min(self.toks.len() - 1)].tok
    }

    pub(crate) fn bump(&mut self) -> Tok {
        let t = self.tok().tok.clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }

    pub(crate) fn pos(&self) -> usize {
        self.i
    }

    pub(crate) fn is(&self, t: &Tok) -> Result<bool> {
        Ok(self.peek()? == t)
    }

    /// Consumes `t` if it is next.
    pub(crate) fn eat(&mut self, t: &Tok) -> Result<bool> {
        if self.is(t)? {
            self.bump();
            return Ok(true);
        }
        Ok(false)
    }

    /// Consumes `t` or fails with goyacc's message listing `expected`.
    pub(crate) fn expect(&mut self, t: &Tok, expected: &[&str]) -> Result<()> {
        if self.eat(t)? {
            return Ok(());
        }
        Err(self.unexpected(expected))
    }

    /// A syntax error at the current token.
    pub(crate) fn unexpected(&self, expected: &[&str]) -> Error {
        let t = self.tok();
        if let Some(msg) = &t.err {
            return pos_err(t.line, t.col, msg.clone());
        }
        let mut msg = format!("syntax error: unexpected {}", t.tok.name());
        if !expected.is_empty() && expected.len() <= 4 {
            let mut exp: Vec<&str> = expected.to_vec();
            exp.sort_by_key(|e| YACC_ORDER.iter().position(|o| o == e).unwrap_or(usize::MAX));
            msg.push_str(", expecting ");
            msg.push_str(&exp.join(" or "));
        }
        pos_err(t.line, t.col, msg)
    }

    /// Enters a recursive rule; fails past `MAX_DEPTH`.
    pub(crate) fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::ParseNoPos(format!(
                "query is nested too deeply (more than {MAX_DEPTH} levels)"
            )));
        }
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Counts one more operator; fails past `MAX_OPERATORS`.
    pub(crate) fn grow(&mut self) -> Result<()> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(Error::ParseNoPos(format!(
                "query has too many operators (more than {MAX_OPERATORS})"
            )));
        }
        Ok(())
    }

    /// Records an error Loki finds after parsing, ordered as Loki's validation walks.
    pub(crate) fn defer(&mut self, start: usize, end: usize, order: u8, msg: String) {
        self.deferred
            .push((start, Reverse(end), order, Error::ParseNoPos(msg)));
    }

    /// Loki's rule: some matcher must not match the empty string.
    pub(crate) fn check_matchers(&mut self, m: &[Matcher], start: usize, end: usize, order: u8) {
        let ok = m.iter().any(|m| !m.matches_empty());
        if !ok {
            self.defer(start, end, order, ERR_EMPTY_MATCHERS.to_string());
        }
    }
}

/// Loki's `ParseError` text: no position when both are zero.
fn pos_err(line: usize, col: usize, msg: String) -> Error {
    if line == 0 && col == 0 {
        Error::ParseNoPos(msg)
    } else {
        Error::Parse { line, col, msg }
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;

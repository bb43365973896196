//! Log expressions: stream selectors, pipeline stages, label filters and
//! the log range (with unwrap and offset) inside range aggregations.

use crate::ast::{
    CmpOp, LabelExtraction, LabelFilter, LabelFormatOp, LabelSelectItem, LineFilter, LineFilterOp,
    LineFilterValue, LogExpr, LogRange, Parser, Stage, Unwrap,
};
use crate::error::{Error, Result};
use crate::labels::{MatchOp, Matcher};

use super::token::{Kw, Tok};
use super::{regexes, P};

impl P {
    /// `{...}` followed by pipeline stages (no unwrap).
    pub(crate) fn log_expr(&mut self) -> Result<LogExpr> {
        let selector = self.selector()?;
        let pipeline = self.pipeline(false)?;
        Ok(LogExpr { selector, pipeline })
    }

    pub(crate) fn selector(&mut self) -> Result<Vec<Matcher>> {
        self.expect(&Tok::LBrace, &["{"])?;
        let mut out = Vec::new();
        if self.eat(&Tok::RBrace)? {
            return Ok(out);
        }
        loop {
            let Tok::Ident(name) = self.peek()?.clone() else {
                return Err(self.unexpected(if out.is_empty() {
                    &["IDENTIFIER", "}"]
                } else {
                    &["IDENTIFIER"]
                }));
            };
            self.bump();
            out.push(self.matcher_rest(name)?);
            if self.eat(&Tok::RBrace)? {
                return Ok(out);
            }
            self.expect(&Tok::Comma, &["}", ","])?;
        }
    }

    /// After a label name: `op "value"`.
    fn matcher_rest(&mut self, name: String) -> Result<Matcher> {
        let op = match self.peek()? {
            Tok::Eq => MatchOp::Eq,
            Tok::Neq => MatchOp::Neq,
            Tok::Re => MatchOp::Re,
            Tok::Nre => MatchOp::Nre,
            _ => return Err(self.unexpected(&["=", "=~", "!~", "!="])),
        };
        self.bump();
        let value = self.string()?;
        new_matcher(name, op, value)
    }

    fn string(&mut self) -> Result<String> {
        let Tok::Str(s) = self.peek()?.clone() else {
            return Err(self.unexpected(&["STRING"]));
        };
        self.bump();
        Ok(s)
    }

    fn ident(&mut self) -> Result<String> {
        let Tok::Ident(s) = self.peek()?.clone() else {
            return Err(self.unexpected(&["IDENTIFIER"]));
        };
        self.bump();
        Ok(s)
    }

    /// Pipeline stages; stops before `| unwrap` (an error outside ranges).
    pub(crate) fn pipeline(&mut self, in_range: bool) -> Result<Vec<Stage>> {
        let mut out = Vec::new();
        loop {
            let op = match self.peek()? {
                Tok::PipeExact => LineFilterOp::Contains,
                Tok::Neq => LineFilterOp::NotContains,
                Tok::PipeMatch => LineFilterOp::Regex,
                Tok::Nre => LineFilterOp::NotRegex,
                Tok::PipePattern => LineFilterOp::Pattern,
                Tok::Npa => LineFilterOp::NotPattern,
                Tok::Pipe => {
                    if *self.peek2() == Tok::Kw(Kw::Unwrap) {
                        if in_range {
                            return Ok(out);
                        }
                        self.bump();
                        return Err(self.unexpected(&[]));
                    }
                    self.bump();
                    out.push(self.stage()?);
                    continue;
                }
                _ => return Ok(out),
            };
            self.bump();
            self.line_filter(op, &mut out)?;
        }
    }

    fn line_filter(&mut self, op: LineFilterOp, out: &mut Vec<Stage>) -> Result<()> {
        let mut values = vec![self.line_filter_value()?];
        while self.eat(&Tok::Kw(Kw::Or))? {
            values.push(self.line_filter_value()?);
        }
        let negative = matches!(
            op,
            LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern
        );
        if negative {
            // `!= "a" or "b"` means `!= "a" != "b"` (Loki rewrites it the same way)
            for v in values {
                out.push(Stage::LineFilter(LineFilter {
                    op,
                    values: vec![v],
                }));
            }
        } else {
            out.push(Stage::LineFilter(LineFilter { op, values }));
        }
        Ok(())
    }

    fn line_filter_value(&mut self) -> Result<LineFilterValue> {
        match self.peek()?.clone() {
            Tok::Str(s) => {
                self.bump();
                Ok(LineFilterValue::Literal(s))
            }
            Tok::Ip => Ok(LineFilterValue::Ip(self.ip_call()?)),
            _ => Err(self.unexpected(&["STRING", "ip"])),
        }
    }

    /// `ip("...")`
    fn ip_call(&mut self) -> Result<String> {
        self.bump();
        self.expect(&Tok::LParen, &["("])?;
        let s = self.string()?;
        self.expect(&Tok::RParen, &[")"])?;
        Ok(s)
    }

    /// One stage after `|`.
    fn stage(&mut self) -> Result<Stage> {
        let t = self.peek()?.clone();
        if matches!(t, Tok::Ident(_) | Tok::LParen) {
            return Ok(Stage::LabelFilter(self.label_filter(0)?));
        }
        let stage_kw = matches!(
            t,
            Tok::Kw(
                Kw::Json
                    | Kw::Logfmt
                    | Kw::Regexp
                    | Kw::Pattern
                    | Kw::Unpack
                    | Kw::LineFmt
                    | Kw::LabelFmt
                    | Kw::Decolorize
                    | Kw::Drop
                    | Kw::Keep
            )
        );
        let (Tok::Kw(kw), true) = (t, stage_kw) else {
            return Err(self.unexpected(&[]));
        };
        self.bump();
        Ok(match kw {
            Kw::Json => Stage::Parser(Parser::Json(self.extractions()?)),
            Kw::Logfmt => {
                let (mut strict, mut keep_empty) = (false, false);
                while let Tok::Flag(f) = self.peek()?.clone() {
                    self.bump();
                    strict |= f == "--strict";
                    keep_empty |= f == "--keep-empty";
                }
                let extractions = self.extractions()?;
                Stage::Parser(Parser::Logfmt {
                    strict,
                    keep_empty,
                    extractions,
                })
            }
            Kw::Regexp => {
                let re = self.string()?;
                regexes::check_regexp_parser(&re)
                    .map_err(|e| Error::ParseNoPos(format!("invalid regexp parser: {e}")))?;
                Stage::Parser(Parser::Regexp(re))
            }
            Kw::Pattern => {
                let p = self.string()?;
                regexes::check_pattern(&p)
                    .map_err(|e| Error::ParseNoPos(format!("invalid pattern parser: {e}")))?;
                Stage::Parser(Parser::Pattern(p))
            }
            Kw::Unpack => Stage::Parser(Parser::Unpack),
            Kw::LineFmt => Stage::LineFormat(self.string()?),
            Kw::LabelFmt => Stage::LabelFormat(self.label_formats()?),
            Kw::Decolorize => Stage::Decolorize,
            Kw::Drop => Stage::Drop(self.named_matchers()?),
            Kw::Keep => Stage::Keep(self.named_matchers()?),
            // not a stage keyword: rejected above
            _ => return Err(self.unexpected(&[])),
        })
    }

    /// `a="path", b` after `json`/`logfmt` (possibly none).
    fn extractions(&mut self) -> Result<Vec<LabelExtraction>> {
        let mut out = Vec::new();
        if !matches!(self.peek()?, Tok::Ident(_)) {
            return Ok(out);
        }
        loop {
            let label = self.ident()?;
            let expression = if self.eat(&Tok::Eq)? {
                self.string()?
            } else {
                label.clone()
            };
            out.push(LabelExtraction {
                label,
                expression: Some(expression),
            });
            if !self.eat(&Tok::Comma)? {
                return Ok(out);
            }
        }
    }

    fn label_formats(&mut self) -> Result<Vec<LabelFormatOp>> {
        let mut out = Vec::new();
        loop {
            let dst = self.ident()?;
            self.expect(&Tok::Eq, &["="])?;
            out.push(match self.peek()?.clone() {
                Tok::Ident(src) => {
                    self.bump();
                    LabelFormatOp::Rename { dst, src }
                }
                Tok::Str(template) => {
                    self.bump();
                    LabelFormatOp::Template { dst, template }
                }
                _ => return Err(self.unexpected(&["IDENTIFIER", "STRING"])),
            });
            if !self.eat(&Tok::Comma)? {
                return Ok(out);
            }
        }
    }

    fn named_matchers(&mut self) -> Result<Vec<LabelSelectItem>> {
        let mut out = Vec::new();
        loop {
            let name = self.ident()?;
            out.push(
                if matches!(self.peek()?, Tok::Eq | Tok::Neq | Tok::Re | Tok::Nre) {
                    LabelSelectItem::Matcher(self.matcher_rest(name)?)
                } else {
                    LabelSelectItem::Name(name)
                },
            );
            if !self.eat(&Tok::Comma)? {
                return Ok(out);
            }
        }
    }

    /// Label filter expression; `or` binds loosest, then `and`; `,` and
    /// juxtaposition take everything to their right (goyacc's shift
    /// preference in Loki's grammar). Those right-leaning chains are built
    /// without recursion.
    pub(crate) fn label_filter(&mut self, min_prec: u8) -> Result<LabelFilter> {
        self.enter()?;
        let mut pending: Vec<LabelFilter> = Vec::new();
        let mut min_prec = min_prec;
        let mut lhs = self.label_filter_primary()?;
        loop {
            let (prec, is_or) = match self.peek()? {
                Tok::Kw(Kw::Or) => (1, true),
                Tok::Kw(Kw::And) => (2, false),
                Tok::Comma | Tok::Ident(_) | Tok::LParen => {
                    // `lhs , REST`: REST is a whole label filter expression
                    self.eat(&Tok::Comma)?;
                    self.grow()?;
                    pending.push(lhs);
                    min_prec = 0;
                    lhs = self.label_filter_primary()?;
                    continue;
                }
                _ => break,
            };
            if prec < min_prec {
                break;
            }
            self.bump();
            self.grow()?;
            let rhs = self.label_filter(prec + 1)?;
            lhs = if is_or {
                LabelFilter::Or(Box::new(lhs), Box::new(rhs))
            } else {
                LabelFilter::And(Box::new(lhs), Box::new(rhs))
            };
        }
        while let Some(p) = pending.pop() {
            lhs = LabelFilter::And(Box::new(p), Box::new(lhs));
        }
        self.leave();
        Ok(lhs)
    }

    fn label_filter_primary(&mut self) -> Result<LabelFilter> {
        let name = match self.peek()?.clone() {
            Tok::LParen => {
                self.bump();
                let f = self.label_filter(0)?;
                self.expect(&Tok::RParen, &[])?;
                return Ok(f);
            }
            Tok::Ident(name) => name,
            _ => return Err(self.unexpected(&["IDENTIFIER", "("])),
        };
        self.bump();
        let (op, str_op) = match self.peek()? {
            Tok::Eq => (CmpOp::Eq, Some(MatchOp::Eq)),
            Tok::Neq => (CmpOp::Neq, Some(MatchOp::Neq)),
            Tok::Re | Tok::Nre => {
                return Ok(LabelFilter::String(self.matcher_rest(name)?));
            }
            Tok::CmpEq => (CmpOp::Eq, None),
            Tok::Gt => (CmpOp::Gt, None),
            Tok::Gte => (CmpOp::Gte, None),
            Tok::Lt => (CmpOp::Lt, None),
            Tok::Lte => (CmpOp::Lte, None),
            _ => return Err(self.unexpected(&[])),
        };
        self.bump();
        match (self.peek()?.clone(), str_op) {
            (Tok::Str(v), Some(m)) => {
                self.bump();
                Ok(LabelFilter::String(new_matcher(name, m, v)?))
            }
            (Tok::Ip, Some(m)) => {
                let pattern = self.ip_call()?;
                Ok(LabelFilter::Ip {
                    name,
                    negated: m == MatchOp::Neq,
                    pattern,
                })
            }
            (Tok::Duration(value), _) => {
                self.bump();
                Ok(LabelFilter::Duration { name, op, value })
            }
            (Tok::Bytes(value), _) => {
                self.bump();
                Ok(LabelFilter::Bytes { name, op, value })
            }
            (Tok::Number(_) | Tok::Add | Tok::Sub, _) => {
                let value = self.literal()?;
                Ok(LabelFilter::Number { name, op, value })
            }
            _ => Err(self.unexpected(&[])),
        }
    }

    /// The argument of a range aggregation: a log expression with a range,
    /// optional unwrap and offset, in any of the orders Loki's grammar allows.
    pub(crate) fn log_range(&mut self) -> Result<LogRange> {
        self.enter()?;
        let r = self.log_range_inner();
        self.leave();
        r
    }

    fn log_range_inner(&mut self) -> Result<LogRange> {
        if self.eat(&Tok::LParen)? {
            if self.is(&Tok::LParen)? {
                let r = self.log_range()?;
                self.expect(&Tok::RParen, &[])?;
                return Ok(r);
            }
            let selector = self.selector_in_range()?;
            if matches!(self.peek()?, Tok::Range(_)) {
                let r = self.after_range(selector)?;
                self.expect(&Tok::RParen, &[])?;
                return Ok(r);
            }
            let pipeline = self.pipeline(true)?;
            let unwrap = self.unwrap_opt()?;
            if let Tok::Range(range) = *self.peek()? {
                self.bump();
                let offset = self.offset_opt()?;
                self.expect(&Tok::RParen, &[])?;
                return Ok(LogRange {
                    log: LogExpr { selector, pipeline },
                    unwrap,
                    range,
                    offset,
                });
            }
            self.expect(&Tok::RParen, &[])?;
            let range = self.range()?;
            let offset = self.offset_opt()?;
            return Ok(LogRange {
                log: LogExpr { selector, pipeline },
                unwrap,
                range,
                offset,
            });
        }
        let selector = self.selector_in_range()?;
        if matches!(self.peek()?, Tok::Range(_)) {
            return self.after_range(selector);
        }
        let pipeline = self.pipeline(true)?;
        let unwrap = self.unwrap_opt()?;
        let range = self.range()?;
        let offset = self.offset_opt()?;
        Ok(LogRange {
            log: LogExpr { selector, pipeline },
            unwrap,
            range,
            offset,
        })
    }

    fn selector_in_range(&mut self) -> Result<Vec<Matcher>> {
        if !self.is(&Tok::LBrace)? {
            return Err(self.unexpected(&["{"]));
        }
        self.selector()
    }

    /// `selector [range] [offset] [pipeline] [unwrap]`
    fn after_range(&mut self, selector: Vec<Matcher>) -> Result<LogRange> {
        let range = self.range()?;
        let offset = self.offset_opt()?;
        let pipeline = self.pipeline(true)?;
        let unwrap = self.unwrap_opt()?;
        Ok(LogRange {
            log: LogExpr { selector, pipeline },
            unwrap,
            range,
            offset,
        })
    }

    fn range(&mut self) -> Result<i64> {
        let Tok::Range(r) = *self.peek()? else {
            return Err(self.unexpected(&[]));
        };
        self.bump();
        Ok(r)
    }

    fn offset_opt(&mut self) -> Result<i64> {
        if !self.eat(&Tok::Kw(Kw::Offset))? {
            return Ok(0);
        }
        let Tok::Duration(d) = *self.peek()? else {
            return Err(self.unexpected(&["DURATION"]));
        };
        self.bump();
        Ok(d)
    }

    /// `| unwrap [conv(]label[)] (| label filter)*`
    fn unwrap_opt(&mut self) -> Result<Option<Unwrap>> {
        if !(self.is(&Tok::Pipe)? && *self.peek2() == Tok::Kw(Kw::Unwrap)) {
            return Ok(None);
        }
        self.bump();
        self.bump();
        let (label, conversion) = match self.peek()?.clone() {
            Tok::Ident(l) => {
                self.bump();
                (l, None)
            }
            Tok::Conv(c) => {
                self.bump();
                self.expect(&Tok::LParen, &["("])?;
                let l = self.ident()?;
                self.expect(&Tok::RParen, &[")"])?;
                (l, Some(c))
            }
            _ => {
                return Err(self.unexpected(&[
                    "IDENTIFIER",
                    "BYTES_CONV",
                    "DURATION_CONV",
                    "DURATION_SECONDS_CONV",
                ]))
            }
        };
        let mut post_filters = Vec::new();
        while self.eat(&Tok::Pipe)? {
            if !matches!(self.peek()?, Tok::Ident(_) | Tok::LParen) {
                return Err(self.unexpected(&["IDENTIFIER", "("]));
            }
            post_filters.push(self.label_filter(0)?);
        }
        Ok(Some(Unwrap {
            label,
            conversion,
            post_filters,
        }))
    }
}

/// Builds a matcher; an invalid regex aborts the parse as in Loki.
fn new_matcher(name: String, op: MatchOp, value: String) -> Result<Matcher> {
    Matcher::new(name, op, value.clone())
        .map_err(|e| Error::ParseNoPos(regexes::go_regex_error(&format!("^(?s:{value})$"), &e)))
}

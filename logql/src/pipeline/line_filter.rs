//! Line filters: `|=`, `!=`, `|~`, `!~`, `|>`, `!>`, `or` alternatives and
//! `ip()`. Literals use `memchr::memmem` finders (case-insensitive ASCII
//! literals from `(?i)lit` get their own scan); regexes are RE2 syntax run by
//! the `regex` crate with Go's ASCII-only `\d \w \s \b`.

use memchr::memmem;
use regex::bytes::Regex;

use super::ip::IpMatcher;
use super::pattern::Pattern;
use crate::ast::{LineFilter, LineFilterOp, LineFilterValue};
use crate::{Error, Result};

/// A compiled line filter.
#[derive(Debug, Clone)]
pub(crate) enum LineFilterer {
    True,
    /// `!= ""`: Loki negates the always-true filter, so nothing passes.
    False,
    /// `|~ ".+"`: Loki simplifies it to "the line is not empty".
    NotEmpty,
    Contains(Box<memmem::Finder<'static>>),
    ContainsAsciiCi(Vec<u8>),
    Regex(Regex),
    Pattern(Pattern),
    Ip(IpMatcher),
    Not(Box<LineFilterer>),
    And(Vec<LineFilterer>),
    Or(Vec<LineFilterer>),
}

impl LineFilterer {
    pub(crate) fn matches(&self, line: &[u8]) -> bool {
        match self {
            LineFilterer::True => true,
            LineFilterer::False => false,
            LineFilterer::NotEmpty => !line.is_empty(),
            LineFilterer::Contains(f) => f.find(line).is_some(),
            LineFilterer::ContainsAsciiCi(n) => contains_ascii_ci(line, n),
            LineFilterer::Regex(r) => r.is_match(line),
            LineFilterer::Pattern(p) => p.test(line),
            LineFilterer::Ip(m) => m.matches_line(line),
            LineFilterer::Not(f) => !f.matches(line),
            LineFilterer::And(fs) => fs.iter().all(|f| f.matches(line)),
            LineFilterer::Or(fs) => fs.iter().any(|f| f.matches(line)),
        }
    }

    /// Compiles one AST line filter (with its `or` alternatives).
    pub(crate) fn compile(lf: &LineFilter) -> Result<LineFilterer> {
        let negative = matches!(
            lf.op,
            LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern
        );
        let mut parts = Vec::with_capacity(lf.values.len());
        for v in &lf.values {
            parts.push(compile_positive(lf.op, v)?);
        }
        if negative {
            // not(a or b) = not(a) and not(b)
            let mut nots: Vec<LineFilterer> = parts.into_iter().map(negate).collect();
            if nots.len() == 1 {
                return Ok(nots.remove(0));
            }
            return Ok(LineFilterer::And(nots));
        }
        if parts.iter().any(|p| matches!(p, LineFilterer::True)) {
            return Ok(LineFilterer::True);
        }
        if parts.len() == 1 {
            return Ok(parts.remove(0));
        }
        Ok(LineFilterer::Or(parts))
    }
}

fn negate(f: LineFilterer) -> LineFilterer {
    match f {
        LineFilterer::True => LineFilterer::False,
        other => LineFilterer::Not(Box::new(other)),
    }
}

fn compile_positive(op: LineFilterOp, v: &LineFilterValue) -> Result<LineFilterer> {
    let bad = |e: String| Error::BadQuery(e);
    match v {
        LineFilterValue::Ip(p) => match op {
            LineFilterOp::Contains | LineFilterOp::NotContains => {
                Ok(LineFilterer::Ip(IpMatcher::parse(p).map_err(bad)?))
            }
            _ => Err(bad("ip: invalid operation".into())),
        },
        LineFilterValue::Literal(s) => match op {
            LineFilterOp::Contains | LineFilterOp::NotContains => Ok(contains(s.as_bytes())),
            LineFilterOp::Regex | LineFilterOp::NotRegex => compile_regex_filter(s),
            LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                Ok(LineFilterer::Pattern(Pattern::line_filter(s).map_err(bad)?))
            }
        },
    }
}

fn contains(needle: &[u8]) -> LineFilterer {
    if needle.is_empty() {
        return LineFilterer::True;
    }
    LineFilterer::Contains(Box::new(memmem::Finder::new(needle).into_owned()))
}

const REGEX_META: &[u8] = b"\\.+*?()|[]{}^$";

fn compile_regex_filter(src: &str) -> Result<LineFilterer> {
    if src.is_empty() || src == ".*" {
        return Ok(LineFilterer::True);
    }
    if src == ".+" {
        return Ok(LineFilterer::NotEmpty);
    }
    if !src.bytes().any(|c| REGEX_META.contains(&c)) {
        return Ok(contains(src.as_bytes()));
    }
    if let Some(lit) = src.strip_prefix("(?i)") {
        if !lit.is_empty() && lit.is_ascii() && !lit.bytes().any(|c| REGEX_META.contains(&c)) {
            return Ok(LineFilterer::ContainsAsciiCi(
                lit.to_ascii_lowercase().into_bytes(),
            ));
        }
    }
    Ok(LineFilterer::Regex(compile_go_regex(src)?))
}

/// Compiles an RE2 pattern with Go's ASCII semantics for Perl classes.
pub(crate) fn compile_go_regex(src: &str) -> Result<Regex> {
    Regex::new(&go_regex(src)).map_err(|e| Error::BadQuery(format!("error parsing regexp: {e}")))
}

/// Rewrites Go/RE2 syntax to the `regex` crate's: `\d \w \s \b` (and their
/// negations) are ASCII-only in Go but Unicode-aware in the crate.
pub(crate) fn go_regex(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 8);
    let mut chars = src.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if c == '\\' {
            let Some(n) = chars.next() else {
                out.push('\\');
                break;
            };
            match (in_class, n) {
                (false, 'd' | 'D' | 'w' | 'W' | 'b' | 'B') => {
                    out.push_str("(?-u:\\");
                    out.push(n);
                    out.push(')');
                }
                (false, 's') => out.push_str("[\\t\\n\\f\\r ]"),
                (false, 'S') => out.push_str("[^\\t\\n\\f\\r ]"),
                (true, 'd') => out.push_str("0-9"),
                (true, 'w') => out.push_str("0-9A-Za-z_"),
                (true, 's') => out.push_str("\\t\\n\\f\\r "),
                _ => {
                    out.push('\\');
                    out.push(n);
                }
            }
            continue;
        }
        if in_class {
            if c == '[' && chars.peek() == Some(&':') {
                // [:alpha:] inside a class: copy through the closing ":]"
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
                continue;
            }
            if c == ']' {
                in_class = false;
            }
            out.push(c);
            continue;
        }
        if c == '[' {
            in_class = true;
            out.push(c);
            // a leading ']' (or '^]') is a literal member
            if chars.peek() == Some(&'^') {
                out.push('^');
                chars.next();
            }
            if chars.peek() == Some(&']') {
                out.push_str("\\]");
                chars.next();
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Case-insensitive ASCII substring search; `needle` is lowercase.
fn contains_ascii_ci(hay: &[u8], needle: &[u8]) -> bool {
    if needle.len() > hay.len() {
        return false;
    }
    let first = needle[0];
    let upper = first.to_ascii_uppercase();
    let last_start = hay.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        let Some(p) = memchr::memchr2(first, upper, &hay[i..=last_start]) else {
            return false;
        };
        let at = i + p;
        if hay[at..at + needle.len()].eq_ignore_ascii_case(needle) {
            return true;
        }
        i = at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]
    use super::*;

    fn lf(op: LineFilterOp, vals: &[&str]) -> LineFilterer {
        LineFilterer::compile(&LineFilter {
            op,
            values: vals
                .iter()
                .map(|v| LineFilterValue::Literal(v.to_string()))
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn table() {
        use LineFilterOp::*;
        let cases: &[(LineFilterOp, &[&str], &str, bool)] = &[
            (Contains, &["timeout"], "INFO took 5ms timeout", true),
            (Contains, &["timeout"], "INFO took 5ms", false),
            (Contains, &[""], "anything", true),
            (NotContains, &[""], "anything", false),
            (NotContains, &["a", "b"], "xyz", true),
            (NotContains, &["a", "b"], "xbz", false),
            (Contains, &["needle", "deadline"], "deadline exceeded", true),
            (Regex, &["took [0-9]{4}ms"], "took 1234ms", true),
            (Regex, &["took [0-9]{4}ms"], "took 123ms", false),
            (NotRegex, &["(?i)info"], "INFO x", false),
            (NotRegex, &["(?i)info"], "WARN x", true),
            (Regex, &["(?i)aB"], "xxAAb", true),
            (Regex, &[r"\d+"], "٣", false),
            (Regex, &[r"^\w+$"], "é", false),
            (Regex, &[r"[\d]x"], "5x", true),
            (Pattern, &["<_> took <_>"], "query took 5ms", true),
            (NotPattern, &["<_> took <_>"], "query took 5ms", false),
            (Regex, &["a|b"], "zzb", true),
            (Regex, &[".+"], "\n", true),
            (Regex, &[".+"], "", false),
            (NotRegex, &[".*"], "x", false),
        ];
        for (op, vals, line, want) in cases {
            assert_eq!(
                lf(*op, vals).matches(line.as_bytes()),
                *want,
                "{op:?} {vals:?} {line}"
            );
        }
    }

    #[test]
    fn ip_filters() {
        let f = LineFilterer::compile(&LineFilter {
            op: LineFilterOp::NotContains,
            values: vec![LineFilterValue::Ip("192.168.0.0/16".into())],
        })
        .unwrap();
        assert!(f.matches(b"10.1.2.3 - bob"));
        assert!(!f.matches(b"192.168.4.5 - bob"));
        let bad = LineFilterer::compile(&LineFilter {
            op: LineFilterOp::Regex,
            values: vec![LineFilterValue::Ip("10.0.0.0/8".into())],
        });
        assert!(bad.is_err());
    }

    #[test]
    fn bad_regex_is_error() {
        let r = LineFilterer::compile(&LineFilter {
            op: LineFilterOp::Regex,
            values: vec![LineFilterValue::Literal("(".into())],
        });
        assert!(r.is_err());
    }
}

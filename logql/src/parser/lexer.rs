//! The LogQL lexer: turns a query into tokens the way Loki's lexer does.
//!
//! Loki scans with Go's `text/scanner` plus a few extra rules; this module
//! reproduces the parts that decide which token a piece of text becomes
//! (function names are only keywords before `(` or `by`/`without (`, a
//! number glued to a unit is a duration or a byte size, `[...]` is a range)
//! and where errors are reported. A token records its 1-based line and
//! column; like Loki, tokens that needed extra look-ahead report line 0.

use super::lit;
use super::token::{
    function_token, is_bytes_rune, is_duration_rune, is_go_space, keyword, one_char, two_char, Tok,
    Token,
};

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

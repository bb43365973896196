//! Line tokenizers for pattern mining, after Loki's pattern ingester: the
//! line's format picks one.
//!
//! - **logfmt** (every space-separated word is `key=value`): the tokens
//!   are keys and values alternately; values of time and trace keys
//!   (`ts`, `t`, `time`, `timestamp`, `traceID`) are `<_>` up front.
//!   Templates print back as logfmt, quoting values that need it.
//! - **JSON** (`{…}`): only the first of the string fields `log`,
//!   `message`, `msg`, `msg_`, `_msg`, `content` is mined, with the
//!   punctuation tokenizer, and the template is wrapped in `<_>…<_>` so it
//!   matches the whole line; a JSON line without such a field gives none.
//! - **anything else**: split at spaces, at `=`, and at punctuation other
//!   than `_ - . : /` (which stay inside tokens, so paths, IPs, times and
//!   hyphenated words are one token); each punctuation mark is a token of
//!   its own and the spaces after each token are kept for printing.
//!
//! Lines over [`MAX_LINE_LEN`] bytes are not mined; at most
//! [`MAX_TOKENS`] tokens are split off, the rest is one last token.
//! Printing collapses runs of `<_>` into one.

/// The variable-token placeholder, a capture in Loki's pattern syntax.
pub const PARAM: &str = "<_>";
/// Longest line mined (Loki's `MaxAllowedLineLength`).
pub const MAX_LINE_LEN: usize = 3000;
/// Tokens split off a line before the rest is kept whole.
const MAX_TOKENS: usize = 127;
/// JSON fields holding the message, first found wins.
const JSON_FIELDS: [&str; 6] = ["log", "message", "msg", "msg_", "_msg", "content"];

/// How a line is tokenized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Logfmt,
    Json,
    Other,
}

/// A tokenized line: the tokens and, except for logfmt, the spaces after
/// each token.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokens {
    pub tokens: Vec<String>,
    pub spaces: Vec<u8>,
}

/// The format of `line`, as Loki detects it.
pub fn detect(line: &str) -> Format {
    let b = line.as_bytes();
    if b.len() < 2 {
        Format::Other
    } else if b[0] == b'{' && b[b.len() - 1] == b'}' {
        Format::Json
    } else if is_logfmt(line) {
        Format::Logfmt
    } else {
        Format::Other
    }
}

/// Every single-space-separated word is `key=value`, the key of word
/// characters, the value non-empty and either quoted or unquoted.
fn is_logfmt(line: &str) -> bool {
    let mut rest = line;
    loop {
        let Some(eq) = rest.find('=') else {
            return false;
        };
        let key = &rest[..eq];
        if key.is_empty() || !key.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return false;
        }
        let v = &rest[eq + 1..];
        let end = if let Some(q) = v.strip_prefix('"') {
            match closing_quote(q) {
                Some(i) if i > 0 => i + 2,
                _ => return false,
            }
        } else {
            let end = v.find(' ').unwrap_or(v.len());
            if end == 0 {
                return false;
            }
            end
        };
        match v[end..].strip_prefix(' ') {
            None if end == v.len() => return true,
            Some(next) if !next.is_empty() => rest = next,
            _ => return false,
        }
    }
}

/// Byte offset of the unescaped `"` ending a quoted value in `s`.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Tokenizes `line` as `format`; `None` if it is not mined.
pub fn tokenize(format: Format, line: &str) -> Option<Tokens> {
    if line.len() > MAX_LINE_LEN {
        return None;
    }
    match format {
        Format::Other => Some(punctuation(line)),
        Format::Logfmt => logfmt(line),
        Format::Json => json_message(line).map(|m| punctuation(&m)),
    }
}

/// Go's `unicode.IsPunct` for ASCII, and common non-ASCII marks.
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation() && !"$+<=>^`|~".contains(c);
    }
    matches!(c, '¡' | '§' | '«' | '¶' | '·' | '»' | '¿' | '\u{2010}'..='\u{2027}' | '\u{3001}'..='\u{3003}' | '\u{3008}'..='\u{3011}')
}

fn punctuation(line: &str) -> Tokens {
    let mut t = Tokens {
        tokens: Vec::new(),
        spaces: Vec::new(),
    };
    let mut start = 0;
    for (i, c) in line.char_indices() {
        if t.tokens.len() >= MAX_TOKENS {
            break;
        }
        if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/') {
            continue;
        }
        if c != ' ' && c != '=' && !is_punct(c) {
            continue;
        }
        if i > start {
            t.tokens.push(line[start..i].to_string());
            t.spaces.push(0);
        }
        if c == ' ' {
            // spaces before the first token are not kept
            if let Some(n) = t.spaces.last_mut() {
                *n = n.saturating_add(1);
            }
        } else {
            t.tokens.push(c.to_string());
            t.spaces.push(0);
        }
        start = i + c.len_utf8();
    }
    if start < line.len() {
        t.tokens.push(line[start..].to_string());
        t.spaces.push(0);
    }
    t
}

fn is_variable_key(k: &str) -> bool {
    k == "t"
        || ["ts", "traceID", "time", "timestamp"]
            .iter()
            .any(|v| k.eq_ignore_ascii_case(v))
}

/// Keys and (unquoted) values alternately; `None` on a malformed line.
fn logfmt(line: &str) -> Option<Tokens> {
    let mut tokens = Vec::new();
    let mut rest = line.trim_start_matches(' ');
    while !rest.is_empty() {
        let key_end = rest.find(['=', ' ']).unwrap_or(rest.len());
        let key = &rest[..key_end];
        if key.is_empty() || key.contains('"') {
            return None;
        }
        rest = &rest[key_end..];
        let value = match rest.strip_prefix('=') {
            None => String::new(),
            Some(v) => {
                if let Some(q) = v.strip_prefix('"') {
                    let end = closing_quote(q)?;
                    rest = &q[end + 1..];
                    unescape(&q[..end])
                } else {
                    let end = v.find(' ').unwrap_or(v.len());
                    rest = &v[end..];
                    v[..end].to_string()
                }
            }
        };
        tokens.push(key.to_string());
        tokens.push(if is_variable_key(key) {
            PARAM.to_string()
        } else {
            value
        });
        rest = rest.trim_start_matches(' ');
    }
    Some(Tokens {
        tokens,
        spaces: Vec::new(),
    })
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// The message field of a JSON line, as written in the line (escaped).
fn json_message(line: &str) -> Option<String> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).ok()?;
    let msg = JSON_FIELDS
        .iter()
        .find_map(|k| v.get(*k).and_then(|m| m.as_str()))?;
    let quoted = serde_json::to_string(msg).ok()?;
    Some(quoted[1..quoted.len() - 1].to_string())
}

/// Prints a template of `format`.
pub fn join(format: Format, tokens: &[String], spaces: &[u8]) -> String {
    let s = match format {
        Format::Logfmt => join_logfmt(tokens),
        Format::Json => format!("{PARAM}{}{PARAM}", join_spaced(tokens, spaces)),
        Format::Other => join_spaced(tokens, spaces),
    };
    dedup_params(&s)
}

fn join_spaced(tokens: &[String], spaces: &[u8]) -> String {
    let mut s = String::new();
    for (i, t) in tokens.iter().enumerate() {
        s.push_str(t);
        for _ in 0..spaces.get(i).copied().unwrap_or(0) {
            s.push(' ');
        }
    }
    s
}

fn join_logfmt(tokens: &[String]) -> String {
    let mut s = String::new();
    for pair in tokens.chunks(2) {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&pair[0]);
        s.push('=');
        let v = pair.get(1).map_or("", String::as_str);
        if v.chars().any(|c| c <= ' ' || c == '=' || c == '"') {
            s.push('"');
            for c in v.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    '\n' => s.push_str("\\n"),
                    '\r' => s.push_str("\\r"),
                    '\t' => s.push_str("\\t"),
                    c if c < ' ' => s.push_str(&format!("\\u{:04x}", c as u32)),
                    c => s.push(c),
                }
            }
            s.push('"');
        } else {
            s.push_str(v);
        }
    }
    s
}

/// `<_><_>…` becomes `<_>`.
fn dedup_params(s: &str) -> String {
    let double = format!("{PARAM}{PARAM}");
    let mut s = s.to_string();
    while s.contains(&double) {
        s = s.replace(&double, PARAM);
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn toks(format: Format, line: &str) -> Vec<String> {
        tokenize(format, line).unwrap().tokens
    }

    #[test]
    fn detects_formats() {
        assert_eq!(detect(r#"{"msg":"x"}"#), Format::Json);
        assert_eq!(detect(r#"level=info msg="a b" n=1"#), Format::Logfmt);
        assert_eq!(detect("level=info done"), Format::Other);
        assert_eq!(detect("level=info  n=1"), Format::Other);
        assert_eq!(detect("GET /x 200"), Format::Other);
        assert_eq!(detect(r#"msg="unterminated"#), Format::Other);
    }

    #[test]
    fn punctuation_keeps_paths_ips_and_times_whole() {
        let line =
            r#"10.0.0.1 - - [22/Nov/2026:10:00:01 +0000] "GET /api/items?id=7 HTTP/1.1" 200"#;
        assert_eq!(
            toks(Format::Other, line),
            [
                "10.0.0.1",
                "-",
                "-",
                "[",
                "22/Nov/2026:10:00:01",
                "+0000",
                "]",
                "\"",
                "GET",
                "/api/items",
                "?",
                "id",
                "=",
                "7",
                "HTTP/1.1",
                "\"",
                "200"
            ]
        );
        let t = tokenize(Format::Other, line).unwrap();
        assert_eq!(join(Format::Other, &t.tokens, &t.spaces), line);
        // leading spaces are dropped, runs of spaces kept
        let t = tokenize(Format::Other, "  a  b,c").unwrap();
        assert_eq!(t.tokens, ["a", "b", ",", "c"]);
        assert_eq!(join(Format::Other, &t.tokens, &t.spaces), "a  b,c");
    }

    #[test]
    fn logfmt_pairs_with_time_keys_variable() {
        let t = toks(
            Format::Logfmt,
            r#"ts=2026-11-22T10:00:01Z level=warn msg="slow \"db\" query" traceID=abc"#,
        );
        assert_eq!(
            t,
            [
                "ts",
                "<_>",
                "level",
                "warn",
                "msg",
                "slow \"db\" query",
                "traceID",
                "<_>"
            ]
        );
        assert_eq!(
            join(Format::Logfmt, &t, &[]),
            r#"ts=<_> level=warn msg="slow \"db\" query" traceID=<_>"#
        );
        assert!(tokenize(Format::Logfmt, r#"a="open"#).is_none());
    }

    #[test]
    fn json_mines_the_message_field() {
        let t = tokenize(
            Format::Json,
            r#"{"level":"error","msg":"payment failed: order 12","order":12}"#,
        )
        .unwrap();
        assert_eq!(t.tokens, ["payment", "failed:", "order", "12"]);
        assert_eq!(
            join(Format::Json, &t.tokens, &t.spaces),
            "<_>payment failed: order 12<_>"
        );
        assert!(tokenize(Format::Json, r#"{"level":"error","code":5}"#).is_none());
    }

    #[test]
    fn long_lines_are_not_mined_and_params_collapse() {
        assert!(tokenize(Format::Other, &"a".repeat(MAX_LINE_LEN + 1)).is_none());
        let p = PARAM.to_string();
        assert_eq!(
            join(
                Format::Other,
                &[p.clone(), p.clone(), "x".into(), p],
                &[0, 0, 1, 0]
            ),
            "<_>x <_>"
        );
    }
}

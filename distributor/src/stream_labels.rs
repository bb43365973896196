//! Parser for the label string a push carries per stream (`{a="b", c="d"}`),
//! accepting what Prometheus' `ParseMetric` accepts: an optional metric name
//! (becomes `__name__`), a brace list of `name="value"` pairs with an
//! optional trailing comma, values in `"…"`, `'…'` (Go escapes) or `` `…` ``
//! (raw). Errors read like Prometheus' (`1:5: parse error: …`).
//!
//! Pairs come back in input order, duplicates kept: duplicate names and
//! empty values are the validator's business, as in Loki.

/// Parses a push label string into `(name, value)` pairs in input order.
pub fn parse_stream_labels(input: &str) -> Result<Vec<(String, String)>, String> {
    Parser {
        src: input.as_bytes(),
        input,
        pos: 0,
    }
    .parse()
}

struct Parser<'a> {
    src: &'a [u8],
    input: &'a str,
    pos: usize,
}

/// A token for error messages: where it starts and how Prometheus names it.
struct Tok {
    start: usize,
    desc: String,
}

fn err_at(pos: usize, msg: impl std::fmt::Display) -> String {
    format!("1:{}: parse error: {msg}", pos + 1)
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Parser<'a> {
    fn parse(mut self) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::with_capacity(8);
        self.skip_ws();
        match self.peek() {
            Some(b'{') => {}
            Some(b) if is_name_start(b) || b == b':' => {
                let start = self.pos;
                while matches!(self.peek(), Some(b) if is_name_char(b) || b == b':') {
                    self.pos += 1;
                }
                out.push((
                    "__name__".to_string(),
                    self.input[start..self.pos].to_string(),
                ));
                self.skip_ws();
                if self.peek().is_none() {
                    return Ok(out);
                }
                if self.peek() != Some(b'{') {
                    let t = self.outside_token()?;
                    return Err(err_at(t.start, format_args!("unexpected {}", t.desc)));
                }
            }
            _ => {
                let t = self.outside_token()?;
                return Err(err_at(t.start, format_args!("unexpected {}", t.desc)));
            }
        }
        self.pos += 1; // '{'
        self.parse_pairs(&mut out)?;
        self.skip_ws();
        if self.peek().is_some() {
            let t = self.outside_token()?;
            return Err(err_at(t.start, format_args!("unexpected {}", t.desc)));
        }
        Ok(out)
    }

    /// Parses `name="value", …}` after the opening brace.
    fn parse_pairs(&mut self, out: &mut Vec<(String, String)>) -> Result<(), String> {
        loop {
            self.skip_ws();
            // an item or the closing brace
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b) if is_name_start(b) => {}
                _ => {
                    let t = self.brace_token()?;
                    return Err(err_at(
                        t.start,
                        format_args!(
                            "unexpected {} in label set, expected identifier or \"}}\"",
                            t.desc
                        ),
                    ));
                }
            }
            let start = self.pos;
            while matches!(self.peek(), Some(b) if is_name_char(b)) {
                self.pos += 1;
            }
            let name = &self.input[start..self.pos];
            self.skip_ws();
            if self.peek() != Some(b'=') || matches!(self.src.get(self.pos + 1), Some(b'~')) {
                let t = self.brace_token()?;
                return Err(err_at(
                    t.start,
                    format_args!("unexpected {} in label set, expected \"=\"", t.desc),
                ));
            }
            self.pos += 1;
            self.skip_ws();
            let value = match self.peek() {
                Some(q @ (b'"' | b'\'' | b'`')) => self.string(q)?,
                _ => {
                    let t = self.brace_token()?;
                    return Err(err_at(
                        t.start,
                        format_args!("unexpected {} in label set, expected string", t.desc),
                    ));
                }
            };
            out.push((name.to_string(), value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => {
                    let t = self.brace_token()?;
                    return Err(err_at(
                        t.start,
                        format_args!(
                            "unexpected {} in label set, expected \",\" or \"}}\"",
                            t.desc
                        ),
                    ));
                }
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Describes the token at `pos` inside braces, or reports a lexer error.
    fn brace_token(&self) -> Result<Tok, String> {
        let start = self.pos;
        let rest = &self.input[start..];
        let Some(c) = rest.chars().next() else {
            return Err(err_at(start, "unexpected end of input inside braces"));
        };
        let desc = match c {
            '=' | ',' | '}' | '{' => format!("\"{c}\""),
            // Prometheus prints operators as `<op:…>`
            '!' if rest.starts_with("!=") => "<op:!=>".to_string(),
            '!' if rest.starts_with("!~") => "<op:!~>".to_string(),
            '"' | '\'' | '`' => {
                let mut p = Parser {
                    src: self.src,
                    input: self.input,
                    pos: start,
                };
                p.string(c as u8)?;
                format!("string {}", go_quote_item(&self.input[start..p.pos]))
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let len = rest.bytes().take_while(|b| is_name_char(*b)).count();
                format!("identifier {:?}", &rest[..len])
            }
            c => {
                return Err(err_at(
                    start,
                    format_args!("unexpected character inside braces: {}", go_quote_rune(c)),
                ))
            }
        };
        if rest.starts_with("=~") {
            return Ok(Tok {
                start,
                desc: "<op:=~>".to_string(),
            });
        }
        Ok(Tok { start, desc })
    }

    /// Describes the token at `pos` outside braces.
    fn outside_token(&self) -> Result<Tok, String> {
        let start = self.pos;
        let rest = &self.input[start..];
        let Some(c) = rest.chars().next() else {
            return Ok(Tok {
                start,
                desc: "end of input".to_string(),
            });
        };
        let desc = match c {
            '"' | '\'' | '`' => {
                let mut p = Parser {
                    src: self.src,
                    input: self.input,
                    pos: start,
                };
                p.string(c as u8)?;
                format!("string {:?}", &self.input[start..p.pos])
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let len = rest
                    .bytes()
                    .take_while(|b| is_name_char(*b) || *b == b':')
                    .count();
                format!("identifier {:?}", &rest[..len])
            }
            c if c.is_ascii_digit() => {
                let len = rest
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'.')
                    .count();
                format!("number {:?}", &rest[..len])
            }
            c if c.is_ascii_punctuation() => format!("\"{c}\""),
            c => {
                return Err(err_at(
                    start,
                    format_args!("unexpected character: {}", go_quote_rune(c)),
                ))
            }
        };
        Ok(Tok { start, desc })
    }

    /// Reads a quoted string starting at the quote `q`, returning its value.
    fn string(&mut self, q: u8) -> Result<String, String> {
        let start = self.pos;
        self.pos += 1;
        if q == b'`' {
            let body_start = self.pos;
            while let Some(b) = self.peek() {
                self.pos += 1;
                if b == b'`' {
                    return Ok(self.input[body_start..self.pos - 1].to_string());
                }
            }
            return Err(err_at(start, "unterminated raw string"));
        }
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(err_at(start, "unterminated quoted string"));
            };
            self.pos += 1;
            match b {
                b'\n' => return Err(err_at(start, "unterminated quoted string")),
                b'\\' => self.escape(q, &mut buf)?,
                b if b == q => break,
                b => buf.push(b),
            }
        }
        String::from_utf8(buf).map_err(|_| err_at(start, "invalid UTF-8 in quoted string"))
    }

    /// Decodes one escape sequence (the backslash already consumed).
    fn escape(&mut self, q: u8, buf: &mut Vec<u8>) -> Result<(), String> {
        let at = self.pos - 1;
        let Some(c) = self.peek() else {
            return Err(err_at(at, "escape sequence not terminated"));
        };
        self.pos += 1;
        let simple = match c {
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            b'\\' => Some(b'\\'),
            c if c == q => Some(c),
            _ => None,
        };
        if let Some(v) = simple {
            buf.push(v);
            return Ok(());
        }
        let (digits, radix) = match c {
            b'x' => (2, 16),
            b'u' => (4, 16),
            b'U' => (8, 16),
            b'0'..=b'7' => {
                self.pos -= 1;
                (3, 8)
            }
            _ => {
                let ch = self.input[self.pos - 1..]
                    .chars()
                    .next()
                    .unwrap_or('\u{fffd}');
                self.pos = self.pos - 1 + ch.len_utf8();
                return Err(err_at(
                    at,
                    format_args!(
                        "unknown escape sequence U+{:04X} {}",
                        ch as u32,
                        go_quote_rune(ch)
                    ),
                ));
            }
        };
        let end = self.pos + digits;
        let hex = self
            .input
            .get(self.pos..end)
            .ok_or_else(|| err_at(at, "escape sequence not terminated"))?;
        let v = u32::from_str_radix(hex, radix)
            .map_err(|_| err_at(at, "illegal character in escape sequence"))?;
        self.pos = end;
        match c {
            b'x' => buf.push(v as u8),
            b'0'..=b'7' if v <= 255 => buf.push(v as u8),
            b'0'..=b'7' => return Err(err_at(at, "octal escape value > 255")),
            _ => {
                let ch = char::from_u32(v).ok_or_else(|| {
                    err_at(at, "escape sequence is an invalid Unicode code point")
                })?;
                let mut tmp = [0u8; 4];
                buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            }
        }
        Ok(())
    }
}

/// Prometheus' rendering of a token value: `%q`, or for more than 10
/// characters `%.10q...` (the first 10 characters, quoted, then `...`).
fn go_quote_item(val: &str) -> String {
    match val.char_indices().nth(10) {
        Some((cut, _)) => format!("{:?}...", &val[..cut]),
        None => format!("{val:?}"),
    }
}

/// Go's `%q` of a rune: `'x'`, with escapes for quotes and control chars.
fn go_quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_string(),
        '\\' => "'\\\\'".to_string(),
        '\n' => "'\\n'".to_string(),
        '\t' => "'\\t'".to_string(),
        '\r' => "'\\r'".to_string(),
        c if c.is_control() => format!("'\\x{:02x}'", c as u32),
        c => format!("'{c}'"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ok(s: &str) -> Vec<(String, String)> {
        parse_stream_labels(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn accepts_what_prometheus_accepts() {
        assert_eq!(ok(r#"{a="b", c="d"}"#), pairs(&[("a", "b"), ("c", "d")]));
        assert_eq!(
            ok(r#"  { c = "d" ,a="b", }  "#),
            pairs(&[("c", "d"), ("a", "b")])
        );
        assert_eq!(ok("{}"), pairs(&[]));
        assert_eq!(ok(r#"{a='x"y'}"#), pairs(&[("a", "x\"y")]));
        assert_eq!(ok(r#"{a=`x\ny`}"#), pairs(&[("a", "x\\ny")]));
        assert_eq!(
            ok(r#"{a="\t\"\\\x41\u00e9\101"}"#),
            pairs(&[("a", "\t\"\\Aé\u{41}")])
        );
        assert_eq!(ok(r#"{a="b", a="c"}"#), pairs(&[("a", "b"), ("a", "c")]));
        assert_eq!(
            ok(r#"up{job="x"}"#),
            pairs(&[("__name__", "up"), ("job", "x")])
        );
        assert_eq!(ok("up"), pairs(&[("__name__", "up")]));
        assert_eq!(ok(r#"{_a9="ü"}"#), pairs(&[("_a9", "ü")]));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,40}|[{}=,\"'`a-z\\\\ ]{0,40}") {
            let _ = parse_stream_labels(&s);
        }

        #[test]
        fn canonical_form_parses_back(pairs in proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", "\\PC{0,12}"), 0..6)) {
            let labels = sluice_logql::labels::Labels::new(pairs);
            let back = parse_stream_labels(&labels.to_string()).unwrap();
            proptest::prop_assert_eq!(back, labels.into_pairs());
        }
    }

    #[test]
    fn errors_name_the_position() {
        let cases = [
            (r#"{foo-bar="x"}"#, "1:5: parse error: unexpected character inside braces: '-'"),
            (r#"{a="b""#, "1:7: parse error: unexpected end of input inside braces"),
            (r#"{a="b}"#, "1:4: parse error: unterminated quoted string"),
            (r#"{a}"#, "1:3: parse error: unexpected \"}\" in label set, expected \"=\""),
            (r#"{a!="b"}"#, "1:3: parse error: unexpected <op:!=> in label set, expected \"=\""),
            (r#"{a=~"b"}"#, "1:3: parse error: unexpected <op:=~> in label set, expected \"=\""),
            (
                r#"{"a long name"="b"}"#,
                r#"1:2: parse error: unexpected string "\"a long na"... in label set, expected identifier or "}""#,
            ),
            (r#"{a=b}"#, "1:4: parse error: unexpected identifier \"b\" in label set, expected string"),
            (r#"{a="b" c="d"}"#, "1:8: parse error: unexpected identifier \"c\" in label set, expected \",\" or \"}\""),
            (r#"{,}"#, "1:2: parse error: unexpected \",\" in label set, expected identifier or \"}\""),
            (r#"{a="b"} x"#, "1:9: parse error: unexpected identifier \"x\""),
            ("", "1:1: parse error: unexpected end of input"),
            (r#"{a="\q"}"#, "1:5: parse error: unknown escape sequence U+0071 'q'"),
            (r#"{"a"="b"}"#, "1:2: parse error: unexpected string \"\\\"a\\\"\" in label set, expected identifier or \"}\""),
        ];
        for (input, want) in cases {
            assert_eq!(parse_stream_labels(input).unwrap_err(), want, "{input}");
        }
    }
}

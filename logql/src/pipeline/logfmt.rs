//! The `logfmt` parser: Loki's logfmt decoder (go-logfmt adapted to bytes),
//! `--strict`, `--keep-empty` and the `logfmt a="key", b` extraction form.

use std::borrow::Cow;

use super::builder::{
    append_sanitized, clean_value, is_label_name, sanitize_label_key, Cat, KeyHint, LabelsBuilder,
    DUPLICATE_SUFFIX,
};

pub(crate) const LOGFMT_ERR: &str = "LogfmtParserErr";

/// A scanner over one line's `key=value` pairs.
pub(crate) struct Decoder<'a> {
    line: &'a [u8],
    pos: usize,
    pub(crate) err: Option<String>,
}

/// One scanned pair; `value` is `None` for a bare key or `key=`.
pub(crate) struct KeyVal<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) value: Option<Cow<'a, [u8]>>,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(line: &'a [u8]) -> Self {
        Decoder {
            line,
            pos: 0,
            err: None,
        }
    }

    pub(crate) fn eol(&self) -> bool {
        self.pos >= self.line.len()
    }

    fn syntax_error(&mut self, msg: &str) {
        self.err = Some(format!(
            "logfmt syntax error at pos {} : {msg}",
            self.pos + 1
        ));
    }

    fn unexpected(&mut self, c: u8) {
        let q = go_quote_byte(c);
        self.err = Some(format!(
            "logfmt syntax error at pos {} : unexpected {q}",
            self.pos + 1
        ));
    }

    fn skip_value(&mut self) -> Option<KeyVal<'a>> {
        let rest = &self.line[self.pos..];
        match rest.iter().position(|&c| c <= b' ') {
            Some(p) => self.pos += p,
            None => self.pos = self.line.len(),
        }
        None
    }

    /// Loki's `ScanKeyval`: `None` means "no pair" (end of garbage or an
    /// error, recorded in `err`).
    pub(crate) fn scan(&mut self) -> Option<KeyVal<'a>> {
        let line = self.line;
        match line[self.pos..].iter().position(|&c| c > b' ') {
            Some(p) => self.pos += p,
            None => {
                self.pos = line.len();
                return None;
            }
        }
        let start = self.pos;
        let mut multibyte = false;
        let mut key: Option<&'a [u8]> = None;
        let mut i = self.pos;
        loop {
            if i >= line.len() {
                self.pos = line.len();
                if self.pos > start {
                    let k = &line[start..self.pos];
                    if multibyte && std::str::from_utf8(k).map_or(true, |s| s.contains('\u{FFFD}'))
                    {
                        self.syntax_error("invalid key");
                        return None;
                    }
                    return Some(KeyVal {
                        key: k,
                        value: None,
                    });
                }
                return Some(KeyVal {
                    key: &[],
                    value: None,
                });
            }
            let c = line[i];
            if c == b'=' {
                self.pos = i;
                if self.pos > start {
                    let k = &line[start..self.pos];
                    if multibyte && std::str::from_utf8(k).map_or(true, |s| s.contains('\u{FFFD}'))
                    {
                        self.syntax_error("invalid key");
                        return self.skip_value();
                    }
                    key = Some(k);
                }
                if key.is_none() {
                    self.unexpected(c);
                    return self.skip_value();
                }
                break;
            } else if c == b'"' {
                self.pos = i;
                self.unexpected(c);
                return self.skip_value();
            } else if c <= b' ' {
                self.pos = i;
                let k = &line[start..self.pos];
                if multibyte && std::str::from_utf8(k).map_or(true, |s| s.contains('\u{FFFD}')) {
                    self.syntax_error("invalid key");
                    return None;
                }
                return Some(KeyVal {
                    key: k,
                    value: None,
                });
            } else if c >= 0x80 {
                multibyte = true;
            }
            i += 1;
        }
        let key = key.unwrap_or_default();
        // equal
        self.pos += 1;
        if self.pos >= line.len() {
            return Some(KeyVal { key, value: None });
        }
        let c = line[self.pos];
        if c <= b' ' {
            return Some(KeyVal { key, value: None });
        }
        if c == b'"' {
            return self.quoted_value(key);
        }
        let start = self.pos;
        let mut j = self.pos;
        while j < line.len() {
            let c = line[j];
            if c == b'=' || c == b'"' {
                self.pos = j;
                self.unexpected(c);
                return self.skip_value();
            }
            if c <= b' ' {
                self.pos = j;
                let v = (self.pos > start).then(|| Cow::Borrowed(&line[start..self.pos]));
                return Some(KeyVal { key, value: v });
            }
            j += 1;
        }
        self.pos = line.len();
        let v = (self.pos > start).then(|| Cow::Borrowed(&line[start..self.pos]));
        Some(KeyVal { key, value: v })
    }

    fn quoted_value(&mut self, key: &'a [u8]) -> Option<KeyVal<'a>> {
        let line = self.line;
        let start = self.pos;
        let (mut has_esc, mut esc) = (false, false);
        let mut p = self.pos + 1;
        while p < line.len() {
            let c = line[p];
            if esc {
                esc = false;
            } else if c == b'\\' {
                has_esc = true;
                esc = true;
            } else if c == b'"' {
                self.pos = p + 1;
                if has_esc {
                    return match unquote(&line[start + 1..p]) {
                        Some(v) => Some(KeyVal {
                            key,
                            value: Some(Cow::Owned(v)),
                        }),
                        None => {
                            self.syntax_error("invalid quoted value");
                            None
                        }
                    };
                }
                let v = &line[start + 1..p];
                let v = (!v.is_empty()).then_some(Cow::Borrowed(v));
                return Some(KeyVal { key, value: v });
            }
            p += 1;
        }
        self.pos = line.len();
        self.syntax_error("unterminated quoted value");
        None
    }
}

fn go_quote_byte(c: u8) -> String {
    match c {
        b'"' => "'\"'".to_string(),
        b'=' => "'='".to_string(),
        c if c.is_ascii_graphic() || c == b' ' => format!("'{}'", c as char),
        c => format!("'\\x{c:02x}'"),
    }
}

/// Unquotes a logfmt quoted value body (JSON-style escapes).
fn unquote(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let e = *s.get(i)?;
        i += 1;
        match e {
            b'"' | b'\\' | b'/' | b'\'' => out.push(e),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let hex = std::str::from_utf8(s.get(i..i + 4)?).ok()?;
                let mut cp = u32::from_str_radix(hex, 16).ok()?;
                i += 4;
                if (0xD800..0xDC00).contains(&cp) && s.get(i..i + 2) == Some(b"\\u") {
                    let lo = std::str::from_utf8(s.get(i + 2..i + 6)?).ok()?;
                    let lo = u32::from_str_radix(lo, 16).ok()?;
                    if (0xDC00..0xE000).contains(&lo) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                }
                let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => return None,
        }
    }
    Some(out)
}

/// `| logfmt [--strict] [--keep-empty]`.
#[derive(Debug, Clone)]
pub(crate) struct LogfmtParser {
    pub(crate) strict: bool,
    pub(crate) keep_empty: bool,
}

impl LogfmtParser {
    /// Parses `line` into `lbs`. Returns where it stopped when the parser
    /// hints were all extracted before the end (`Some(p)`): the labels it
    /// set are then a function of `line[..p]` alone, so any line that
    /// starts with those bytes and has no byte above `' '` at `p` (or ends
    /// there) parses the same (see `extract::PrefixMemo`).
    pub(crate) fn process(
        &self,
        line: &[u8],
        lbs: &mut LabelsBuilder,
        name: &mut String,
    ) -> Option<usize> {
        let mut dec = Decoder::new(line);
        while !dec.eol() {
            let Some(kv) = dec.scan() else {
                if self.strict {
                    break;
                }
                continue;
            };
            name.clear();
            match lbs.key_hint(kv.key) {
                KeyHint::Wanted(h) => {
                    name.push_str(h);
                    self.set(kv.value.as_deref(), lbs, name);
                    if lbs.all_hints_extracted() {
                        return Some(dec.pos);
                    }
                    continue;
                }
                KeyHint::Skip => continue,
                KeyHint::Unknown => {}
            }
            let Ok(raw) = std::str::from_utf8(kv.key) else {
                continue;
            };
            if is_label_name(kv.key) {
                // already what sanitising would give: ask before copying
                if !lbs.wants(raw) {
                    continue;
                }
                name.push_str(raw);
            } else {
                append_sanitized(name, raw, true);
                if !lbs.wants(name) {
                    continue;
                }
            }
            self.set(kv.value.as_deref(), lbs, name);
            if lbs.all_hints_extracted() {
                // Loki stops here too: later syntax errors go unnoticed
                // (and in strict mode there were none before: a scan
                // error stops the loop)
                return Some(dec.pos);
            }
        }
        if self.strict {
            if let Some(e) = dec.err {
                lbs.set_err(LOGFMT_ERR, Some(&e));
            }
        }
        None
    }
}

impl LogfmtParser {
    /// Sets the parsed label `name` (empty values only with `--keep-empty`).
    fn set(&self, value: Option<&[u8]>, lbs: &mut LabelsBuilder, name: &mut String) {
        let value = value.map(clean_value).unwrap_or_default();
        if self.keep_empty || !value.is_empty() {
            lbs.set_from_parser(name, &value);
        }
    }
}

/// `| logfmt a="key", b`: only the listed keys, each under its label name.
#[derive(Debug, Clone)]
pub(crate) struct LogfmtExtractor {
    pub(crate) strict: bool,
    /// (label, key)
    pub(crate) exprs: Vec<(String, String)>,
}

impl LogfmtExtractor {
    pub(crate) fn process(&self, line: &[u8], lbs: &mut LabelsBuilder) {
        for (id, _) in &self.exprs {
            if !lbs.base_has(id) {
                lbs.set(Cat::Parsed, id, "");
            }
        }
        let mut dec = Decoder::new(line);
        while !dec.eol() {
            let Some(kv) = dec.scan() else {
                if self.strict {
                    break;
                }
                continue;
            };
            let Ok(raw) = std::str::from_utf8(kv.key) else {
                continue;
            };
            let key = sanitize_label_key(raw, true);
            if key.is_empty() {
                continue;
            }
            let value = kv.value.as_deref().map(clean_value).unwrap_or_default();
            for (id, src) in &self.exprs {
                if *src != key {
                    continue;
                }
                if lbs.base_has(id) || lbs.has_in(Cat::Meta, id) {
                    let dup = format!("{id}{DUPLICATE_SUFFIX}");
                    lbs.set(Cat::Parsed, &dup, &value);
                } else {
                    lbs.set(Cat::Parsed, id, &value);
                }
            }
        }
        if self.strict {
            if let Some(e) = dec.err {
                lbs.set_err(LOGFMT_ERR, Some(&e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]
    use super::*;

    fn pairs(line: &str) -> (Vec<(String, Option<String>)>, Option<String>) {
        let mut d = Decoder::new(line.as_bytes());
        let mut out = vec![];
        while !d.eol() {
            if let Some(kv) = d.scan() {
                out.push((
                    String::from_utf8_lossy(kv.key).into_owned(),
                    kv.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
                ));
            }
        }
        (out, d.err)
    }

    #[test]
    fn decoder() {
        let (p, e) = pairs(r#"level=info msg="handled \"x\"" bare k= q="""#);
        assert_eq!(
            p,
            vec![
                ("level".into(), Some("info".into())),
                ("msg".into(), Some("handled \"x\"".into())),
                ("bare".into(), None),
                ("k".into(), None),
                ("q".into(), None),
            ]
        );
        assert!(e.is_none());
        let (p, e) = pairs("a=1 =x b=2");
        assert_eq!(p.len(), 2);
        assert_eq!(e.unwrap(), "logfmt syntax error at pos 5 : unexpected '='");
        let (_, e) = pairs(r#"a="open"#);
        assert_eq!(
            e.unwrap(),
            "logfmt syntax error at pos 8 : unterminated quoted value"
        );
        let (_, e) = pairs(r#"a=b"c"#);
        assert_eq!(e.unwrap(), "logfmt syntax error at pos 4 : unexpected '\"'");
    }
}

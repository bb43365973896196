//! The `json` and `unpack` parsers and `json a="path"` extraction.
//!
//! The scanner mirrors the lenient, non-validating JSON reader Loki uses
//! (grafana/jsonparser): nested objects are flattened with `_`, arrays and
//! nulls are skipped, and a malformed line yields `__error__=JSONParserErr`
//! with that reader's error text in `__error_details__` (labels found before
//! the error stay).

use std::borrow::Cow;

use super::builder::{
    append_sanitized, clean_value, sanitize_label_key, Cat, LabelsBuilder, DUPLICATE_SUFFIX,
};
use crate::labels::is_valid_label_name;
use crate::{Error, Result};

pub(crate) const JSON_ERR: &str = "JSONParserErr";

const MALFORMED_JSON: &str = "Malformed JSON error";
const MALFORMED_STRING: &str = "Value is string, but can't find closing '\"' symbol";
const MALFORMED_ARRAY: &str = "Value is array, but can't find closing ']' symbol";
const MALFORMED_OBJECT: &str = "Value looks like object, but can't find closing '}' symbol";
const UNKNOWN_VALUE_TYPE: &str = "Unknown value type";
const MALFORMED_ESCAPE: &str = "Encountered an invalid escape sequence in a string";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JType {
    String,
    Number,
    Object,
    Array,
    Boolean,
    Null,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

fn next_token(d: &[u8]) -> Option<usize> {
    d.iter().position(|&c| !is_ws(c))
}

/// Index one past the closing quote of a string body, and whether any
/// backslash was seen.
fn string_end(d: &[u8]) -> (Option<usize>, bool) {
    let mut escaped = false;
    for (i, &c) in d.iter().enumerate() {
        if c == b'"' {
            if !escaped {
                return (Some(i + 1), false);
            }
            let backslashes = d[..i].iter().rev().take_while(|&&b| b == b'\\').count();
            if backslashes % 2 == 0 {
                return (Some(i + 1), true);
            }
        } else if c == b'\\' {
            escaped = true;
        }
    }
    (None, escaped)
}

fn block_end(d: &[u8], open: u8, close: u8) -> Option<usize> {
    let mut level = 0i32;
    let mut i = 0;
    while i < d.len() {
        let c = d[i];
        if c == b'"' {
            let (end, _) = string_end(&d[i + 1..]);
            i += end?;
        } else if c == open {
            level += 1;
        } else if c == close {
            level -= 1;
            if level == 0 {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

fn token_end(d: &[u8]) -> usize {
    d.iter()
        .position(|&c| matches!(c, b' ' | b'\n' | b'\r' | b'\t' | b',' | b'}' | b']'))
        .unwrap_or(d.len())
}

/// jsonparser's `Get(data)` without keys: the closest value, its type and
/// the offset just past it. String values come without quotes.
fn get_value(d: &[u8]) -> std::result::Result<(&[u8], JType, usize), &'static str> {
    let off = next_token(d).ok_or(MALFORMED_JSON)?;
    let c = d[off];
    let (ty, end) = match c {
        b'"' => {
            let (e, _) = string_end(&d[off + 1..]);
            (JType::String, off + 1 + e.ok_or(MALFORMED_STRING)?)
        }
        b'[' => (
            JType::Array,
            off + block_end(&d[off..], b'[', b']').ok_or(MALFORMED_ARRAY)?,
        ),
        b'{' => (
            JType::Object,
            off + block_end(&d[off..], b'{', b'}').ok_or(MALFORMED_OBJECT)?,
        ),
        _ => {
            let end = off + token_end(&d[off..]);
            let v = &d[off..end];
            let ty = match c {
                b't' | b'f' if v == b"true" || v == b"false" => JType::Boolean,
                b'n' | b'u' if v == b"null" => JType::Null,
                b'0'..=b'9' | b'-' => JType::Number,
                _ => return Err(UNKNOWN_VALUE_TYPE),
            };
            (ty, end)
        }
    };
    let v = &d[off..end];
    let v = if ty == JType::String {
        &v[1..v.len() - 1]
    } else {
        v
    };
    Ok((v, ty, end))
}

/// jsonparser's `ObjectEach`: calls `f(key, value, type)` per member.
type MemberFn<'f, 'a> =
    dyn FnMut(&[u8], &'a [u8], JType) -> std::result::Result<(), &'static str> + 'f;

fn object_each<'a>(d: &'a [u8], f: &mut MemberFn<'_, 'a>) -> std::result::Result<(), &'static str> {
    let mut off = next_token(d).ok_or(MALFORMED_OBJECT)?;
    if d[off] != b'{' {
        return Err(MALFORMED_OBJECT);
    }
    off += 1;
    off += next_token(&d[off..]).ok_or(MALFORMED_JSON)?;
    if d[off] == b'}' {
        return Ok(());
    }
    let mut last_comma: Option<usize> = None;
    while off < d.len() {
        match d[off] {
            b'"' => off += 1,
            b'}' => {
                if last_comma.is_some_and(|c| c + 1 == off) {
                    return Err(MALFORMED_OBJECT);
                }
                return Ok(());
            }
            _ => return Err(MALFORMED_OBJECT),
        }
        let (end, escaped) = string_end(&d[off..]);
        let end = end.ok_or(MALFORMED_JSON)?;
        let raw_key = &d[off..off + end - 1];
        off += end;
        let key: Cow<'_, [u8]> = if escaped {
            Cow::Owned(unescape(raw_key).ok_or(MALFORMED_ESCAPE)?)
        } else {
            Cow::Borrowed(raw_key)
        };
        off += next_token(&d[off..]).ok_or(MALFORMED_JSON)?;
        if d[off] != b':' {
            return Err(MALFORMED_JSON);
        }
        off += 1;
        let (value, ty, vend) = get_value(&d[off..])?;
        f(&key, value, ty)?;
        off += vend;
        off += next_token(&d[off..]).ok_or(MALFORMED_ARRAY)?;
        match d[off] {
            b'}' => return Ok(()),
            b',' => {
                last_comma = Some(off);
                off += 1;
            }
            _ => return Err(MALFORMED_OBJECT),
        }
        let skip = next_token(&d[off..]).ok_or(MALFORMED_ARRAY)?;
        if skip > 0 {
            last_comma = last_comma.map(|c| c + skip - 1);
        }
        off += skip;
    }
    Err(MALFORMED_OBJECT)
}

fn hex4(s: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(s.get(..4)?).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// jsonparser's `Unescape`; `None` on an invalid escape.
pub(crate) fn unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *s.get(i + 1)?;
        i += 2;
        match e {
            b'"' | b'\\' | b'/' => out.push(e),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let r = hex4(&s[i..])?;
                i += 4;
                let cp = if (0xD800..0xE000).contains(&r) {
                    if s.get(i..i + 2) != Some(b"\\u") {
                        return None;
                    }
                    let r2 = hex4(&s[i + 2..])?;
                    if !(0xDC00..0xE000).contains(&r2) || r >= 0xDC00 {
                        return None;
                    }
                    i += 6;
                    0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00)
                } else {
                    r
                };
                let ch = char::from_u32(cp)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Loki's `readValue`/`unescapeJSONString` for a scalar.
fn read_value(v: &[u8], ty: JType) -> Cow<'_, str> {
    match ty {
        JType::String => {
            if !v.contains(&b'\\') {
                return clean_value(v);
            }
            match unescape(v) {
                Some(u) => Cow::Owned(clean_value(&u).into_owned()),
                None => Cow::Borrowed(""),
            }
        }
        JType::Boolean => Cow::Borrowed(if v == b"true" { "true" } else { "false" }),
        JType::Number => clean_value(v),
        _ => Cow::Borrowed(""),
    }
}

/// `| json` with no parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct JsonParser;

impl JsonParser {
    pub(crate) fn process(
        &self,
        line: &[u8],
        lbs: &mut LabelsBuilder,
        prefix: &mut String,
        name: &mut String,
    ) {
        prefix.clear();
        if let Err(e) = walk(line, prefix, lbs, name) {
            lbs.set_err(JSON_ERR, Some(e));
        }
    }
}

fn walk(
    obj: &[u8],
    prefix: &mut String,
    lbs: &mut LabelsBuilder,
    name: &mut String,
) -> std::result::Result<(), &'static str> {
    object_each(obj, &mut |key, value, ty| {
        let key = String::from_utf8_lossy(key);
        match ty {
            JType::String | JType::Number | JType::Boolean => {
                name.clear();
                if prefix.is_empty() {
                    append_sanitized(name, &key, true);
                } else {
                    name.push_str(prefix);
                    name.push('_');
                    append_sanitized(name, &key, false);
                }
                let v = read_value(value, ty);
                lbs.set_from_parser(name, &v);
                Ok(())
            }
            JType::Object => {
                let len = prefix.len();
                let lead = prefix.is_empty();
                if !lead {
                    prefix.push('_');
                }
                append_sanitized(prefix, &key, lead);
                let r = walk(value, prefix, lbs, name);
                prefix.truncate(len);
                r
            }
            JType::Array | JType::Null => Ok(()),
        }
    })
}

#[derive(Debug, Clone, PartialEq)]
enum PathElem {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(String),
    Str(String),
    Index(usize),
    Dot,
    Lsb,
    Rsb,
    End,
}

impl Tok {
    fn name(&self) -> &'static str {
        match self {
            Tok::Field(_) => "FIELD",
            Tok::Str(_) => "STRING",
            Tok::Index(_) => "INDEX",
            Tok::Dot => "DOT",
            Tok::Lsb => "LSB",
            Tok::Rsb => "RSB",
            Tok::End => "$end",
        }
    }
}

/// Tokens of a `json` extraction expression (Loki's jsonexpr lexer).
fn lex_path(expr: &str) -> std::result::Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = expr.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '.' => {
                chars.next();
                out.push(Tok::Dot);
            }
            '[' => {
                chars.next();
                out.push(Tok::Lsb);
            }
            ']' => {
                chars.next();
                out.push(Tok::Rsb);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, e)) => s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => other,
                            }),
                            None => break,
                        },
                        c => s.push(c),
                    }
                }
                if !closed {
                    return Err("literal not terminated".into());
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let start = i;
                let mut end = expr.len();
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '.' | '[' | ']' | '"') {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                let word = &expr[start..end];
                let after_lsb = out.last() == Some(&Tok::Lsb);
                match word.parse::<usize>() {
                    Ok(n) if after_lsb => out.push(Tok::Index(n)),
                    _ => out.push(Tok::Field(word.to_string())),
                }
            }
        }
    }
    out.push(Tok::End);
    Ok(out)
}

/// Parses `a.b[0]["c d"]` into path elements, with goyacc-style errors.
fn parse_path(expr: &str) -> std::result::Result<Vec<PathElem>, String> {
    let toks = lex_path(expr)?;
    let err = |t: &Tok, expecting: &str| {
        if expecting.is_empty() {
            format!("syntax error: unexpected {}", t.name())
        } else {
            format!(
                "syntax error: unexpected {}, expecting {expecting}",
                t.name()
            )
        }
    };
    let mut out = Vec::new();
    let mut i = 0;
    // start: FIELD or `[`
    match &toks[0] {
        Tok::Field(f) => {
            out.push(PathElem::Key(f.clone()));
            i = 1;
        }
        Tok::Lsb => {}
        t => return Err(err(t, "LSB or FIELD")),
    }
    loop {
        match &toks[i] {
            Tok::End if !out.is_empty() => return Ok(out),
            Tok::Dot if !out.is_empty() => {
                i += 1;
                match &toks[i] {
                    Tok::Field(f) => out.push(PathElem::Key(f.clone())),
                    t => return Err(err(t, "FIELD")),
                }
                i += 1;
            }
            Tok::Lsb => {
                i += 1;
                match &toks[i] {
                    Tok::Str(s) => out.push(PathElem::Key(s.clone())),
                    Tok::Index(n) => out.push(PathElem::Index(*n)),
                    t => return Err(err(t, "STRING or INDEX")),
                }
                i += 1;
                match &toks[i] {
                    Tok::Rsb => i += 1,
                    t => return Err(err(t, "RSB")),
                }
            }
            t => return Err(err(t, "")),
        }
    }
}

fn array_nth(d: &[u8], n: usize) -> Option<(&[u8], JType)> {
    let mut off = next_token(d)?;
    if d[off] != b'[' {
        return None;
    }
    off += 1;
    let mut idx = 0;
    loop {
        off += next_token(&d[off..])?;
        if d[off] == b']' {
            return None;
        }
        let (v, ty, end) = get_value(&d[off..]).ok()?;
        if idx == n {
            return Some((v, ty));
        }
        idx += 1;
        off += end;
        off += next_token(&d[off..])?;
        match d[off] {
            b',' => off += 1,
            _ => return None,
        }
    }
}

fn lookup<'a>(d: &'a [u8], path: &[PathElem]) -> Option<(&'a [u8], JType)> {
    let mut cur: (&'a [u8], JType) = (d, JType::Object);
    for p in path {
        cur = match p {
            PathElem::Key(k) => {
                if cur.1 != JType::Object {
                    return None;
                }
                let mut found = None;
                let _ = object_each(cur.0, &mut |key, v, ty| {
                    if found.is_none() && key == k.as_bytes() {
                        found = Some((v, ty));
                        return Err("found");
                    }
                    Ok(())
                });
                found?
            }
            PathElem::Index(n) => {
                if cur.1 != JType::Array {
                    return None;
                }
                array_nth(cur.0, *n)?
            }
        };
    }
    Some(cur)
}

/// `| json a="path", b`.
#[derive(Debug, Clone)]
pub(crate) struct JsonExtractor {
    exprs: Vec<(String, Vec<PathElem>)>,
}

impl JsonExtractor {
    pub(crate) fn new(exprs: &[(String, String)]) -> Result<JsonExtractor> {
        let mut out = Vec::with_capacity(exprs.len());
        for (id, expr) in exprs {
            let path = parse_path(expr)
                .map_err(|e| Error::BadQuery(format!("cannot parse expression [{expr}]: {e}")))?;
            if !is_valid_label_name(id) {
                return Err(Error::BadQuery(format!(
                    "invalid extracted label name '{id}'"
                )));
            }
            out.push((id.clone(), path));
        }
        Ok(JsonExtractor { exprs: out })
    }

    pub(crate) fn process(&self, line: &[u8], lbs: &mut LabelsBuilder) {
        if line.is_empty() {
            return;
        }
        if !matches!(line[0], b'"' | b'{' | b'[') {
            lbs.set_err(JSON_ERR, None);
            return;
        }
        for (id, path) in &self.exprs {
            let key: Cow<'_, str> = if lbs.base_has(id) || lbs.has_in(Cat::Meta, id) {
                Cow::Owned(format!("{id}{DUPLICATE_SUFFIX}"))
            } else {
                Cow::Borrowed(id)
            };
            match lookup(line, path) {
                Some((v, ty)) => {
                    let value: Cow<'_, str> = match ty {
                        JType::Null => Cow::Borrowed(""),
                        JType::Object => String::from_utf8_lossy(v),
                        _ => match unescape(v) {
                            Some(u) => Cow::Owned(clean_value(&u).into_owned()),
                            None => Cow::Borrowed(""),
                        },
                    };
                    lbs.set(Cat::Parsed, &key, &value);
                }
                None => {
                    if lbs.get(id).is_none() {
                        lbs.set(Cat::Parsed, id, "");
                    }
                }
            }
        }
    }
}

/// `| unpack`: string members become labels, `_entry` replaces the line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Unpacker;

impl Unpacker {
    /// Returns the new line when an `_entry` member was found.
    pub(crate) fn process(&self, line: &[u8], lbs: &mut LabelsBuilder) -> Option<Vec<u8>> {
        if line.is_empty() {
            return None;
        }
        if line[0] != b'{' {
            lbs.set_err(JSON_ERR, Some("expecting json object(6), but it is not"));
            return None;
        }
        let mut entry: Option<Vec<u8>> = None;
        let mut pairs: Vec<(String, String)> = Vec::new();
        let res = object_each(line, &mut |key, v, ty| {
            if ty != JType::String {
                return Ok(());
            }
            if key == b"_entry" {
                entry = Some(unescape(v).ok_or(MALFORMED_ESCAPE)?);
                return Ok(());
            }
            let mut field = String::from_utf8_lossy(key).into_owned();
            if lbs.base_has(&field) || lbs.has_in(Cat::Meta, &field) {
                field.push_str(DUPLICATE_SUFFIX);
            }
            let value = read_value(v, ty).into_owned();
            pairs.push((sanitize_label_key(&field, true), value));
            Ok(())
        });
        if let Err(e) = res {
            lbs.set_err(JSON_ERR, Some(e));
            return None;
        }
        let entry = entry?;
        for (k, v) in pairs {
            lbs.set(Cat::Parsed, &k, &v);
        }
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]
    use super::*;

    #[test]
    fn scanner_errors() {
        let mut n = 0;
        let mut f = |_: &[u8], _: &[u8], _: JType| {
            n += 1;
            Ok(())
        };
        assert_eq!(
            object_each(b"DEBUG [conn-1] x", &mut f),
            Err(MALFORMED_OBJECT)
        );
        assert_eq!(object_each(b"{\"a\":1,}", &mut f), Err(MALFORMED_OBJECT));
        assert_eq!(object_each(b"{\"a\":1, }", &mut f), Ok(()));
        assert_eq!(object_each(b"{\"a\":\"x", &mut f), Err(MALFORMED_STRING));
        assert_eq!(object_each(b"{\"a\":bad}", &mut f), Err(UNKNOWN_VALUE_TYPE));
        assert_eq!(object_each(b"{} trailing", &mut f), Ok(()));
    }

    #[test]
    fn paths() {
        let d = br#"{"user":{"name":"carol","id":7},"tags":["a","b"],"k y":{"z":null}}"#;
        let p = parse_path("user.name").unwrap();
        assert_eq!(lookup(d, &p).unwrap().0, b"carol");
        let p = parse_path("tags[1]").unwrap();
        assert_eq!(lookup(d, &p).unwrap().0, b"b");
        let p = parse_path(r#"["k y"].z"#).unwrap();
        assert_eq!(lookup(d, &p).unwrap().1, JType::Null);
        let p = parse_path("user").unwrap();
        assert_eq!(lookup(d, &p).unwrap().0, br#"{"name":"carol","id":7}"#);
        assert!(lookup(d, &parse_path("nope").unwrap()).is_none());
        assert!(parse_path("a..b").is_err());
        assert_eq!(
            parse_path("a.b[2]").unwrap(),
            vec![
                PathElem::Key("a".into()),
                PathElem::Key("b".into()),
                PathElem::Index(2)
            ]
        );
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape(br#"a\"b\u00e9\n"#).unwrap(), "a\"bé\n".as_bytes());
        assert_eq!(unescape(br#"\ud83d\ude00"#).unwrap(), "😀".as_bytes());
        assert!(unescape(br#"\ud83d"#).is_none());
        assert!(unescape(br#"\q"#).is_none());
    }
}

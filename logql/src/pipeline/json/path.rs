//! `json a="path"` extraction: Loki's jsonexpr syntax (`a.b`, `a[0]`,
//! `["key"]`) and the lookup of one path in a line.

use std::borrow::Cow;

use super::scan::{get_value, next_token, object_each, unescape, JType};
use super::JSON_ERR;
use crate::labels::is_valid_label_name;
use crate::pipeline::builder::{clean_value, Cat, LabelsBuilder, DUPLICATE_SUFFIX};
use crate::{Error, Result};

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]
    use super::*;

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
}

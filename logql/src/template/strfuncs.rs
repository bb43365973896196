//! String and collection functions of the function map: Go's `strings`
//! functions, sprig's string helpers (with Loki's rune-safe
//! `trunc`/`substr`), sprig's `empty`, and the builtins `index`/`slice`.

use std::borrow::Cow;

use super::encode;
use super::funcs::Func;
use super::value::Value;
use super::TemplateData;

fn s<'a>(v: &'a Value<'_>) -> &'a str {
    match v {
        Value::Str(s) => s,
        _ => "",
    }
}

fn int(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

/// Applies a sub-slicing `f` to a string value, borrowing when possible.
fn sub<'a>(v: &Value<'a>, f: impl for<'x> FnOnce(&'x str) -> &'x str) -> Value<'a> {
    match v {
        Value::Str(Cow::Borrowed(b)) => Value::Str(Cow::Borrowed(f(b))),
        Value::Str(Cow::Owned(o)) => Value::owned(f(o).to_string()),
        _ => Value::str(""),
    }
}

/// Go's `unicode.ToUpper`/`ToLower` of one character: single-character
/// mappings only (Go leaves 'ß' alone where Rust gives "SS").
fn case_char(c: char, upper: bool) -> char {
    fn single(mut it: impl Iterator<Item = char>, c: char) -> char {
        match (it.next(), it.next()) {
            (Some(m), None) => m,
            _ => c,
        }
    }
    if upper {
        single(c.to_uppercase(), c)
    } else {
        single(c.to_lowercase(), c)
    }
}

/// Go's `strings.ToUpper`/`ToLower`.
fn map_case(src: &str, upper: bool) -> String {
    if src.is_ascii() {
        return if upper {
            src.to_ascii_uppercase()
        } else {
            src.to_ascii_lowercase()
        };
    }
    src.chars().map(|c| case_char(c, upper)).collect()
}

/// Go's deprecated `strings.Title`: upper-cases the first letter of words.
fn title(src: &str) -> String {
    fn is_sep(c: char) -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if c.is_alphabetic() || c.is_numeric() {
            return false;
        }
        c.is_whitespace()
    }
    let mut prev = ' ';
    let mut out = String::with_capacity(src.len());
    for c in src.chars() {
        out.push(if is_sep(prev) { case_char(c, true) } else { c });
        prev = c;
    }
    out
}

/// `s[start:end]` on the bytes of a Go string. A cut inside a UTF-8
/// sequence leaves invalid bytes in Go; each becomes U+FFFD here (what
/// Loki's JSON output shows for them).
fn byte_sub<'a>(v: &Value<'a>, start: usize, end: usize) -> Value<'a> {
    let src = s(v);
    if src.is_char_boundary(start) && src.is_char_boundary(end) {
        return sub(v, |x| &x[start..end]);
    }
    let mut out = String::new();
    let mut rest = &src.as_bytes()[start..end];
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                out.push_str(valid);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                out.push('\u{fffd}');
                rest = &bad[1..];
            }
        }
    }
    Value::owned(out)
}

fn rune_slice(src: &str, start: usize, end: usize) -> &str {
    let mut idx = src
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(src.len()));
    let b = idx.clone().nth(start).unwrap_or(src.len());
    let e = idx.nth(end).unwrap_or(src.len());
    &src[b..e.max(b)]
}

/// Calls the string functions of the map.
pub(crate) fn call_string_func<'a>(f: Func, args: &mut [Value<'a>]) -> Result<Value<'a>, String> {
    use Func::*;
    Ok(match f {
        GoToLower | Lower => Value::owned(map_case(s(&args[0]), false)),
        GoToUpper | Upper => Value::owned(map_case(s(&args[0]), true)),
        Title => Value::owned(title(s(&args[0]))),
        GoTrimSpace | Trim => sub(&args[0], str::trim),
        GoTrim | GoTrimLeft | GoTrimRight => {
            let cut: Vec<char> = s(&args[1]).chars().collect();
            let m = |c: char| cut.contains(&c);
            match f {
                GoTrim => sub(&args[0], |x| x.trim_matches(m)),
                GoTrimLeft => sub(&args[0], |x| x.trim_start_matches(m)),
                _ => sub(&args[0], |x| x.trim_end_matches(m)),
            }
        }
        TrimAll => {
            let cut: Vec<char> = s(&args[0]).chars().collect();
            sub(&args[1], |x| x.trim_matches(|c| cut.contains(&c)))
        }
        GoTrimPrefix => {
            let p = s(&args[1]).to_string();
            sub(&args[0], |x| x.strip_prefix(p.as_str()).unwrap_or(x))
        }
        GoTrimSuffix => {
            let p = s(&args[1]).to_string();
            sub(&args[0], |x| x.strip_suffix(p.as_str()).unwrap_or(x))
        }
        TrimPrefix => {
            let p = s(&args[0]).to_string();
            sub(&args[1], |x| x.strip_prefix(p.as_str()).unwrap_or(x))
        }
        TrimSuffix => {
            let p = s(&args[0]).to_string();
            sub(&args[1], |x| x.strip_suffix(p.as_str()).unwrap_or(x))
        }
        GoReplace => {
            let n = int(&args[3]);
            let (src, old, new) = (s(&args[0]), s(&args[1]), s(&args[2]));
            if n < 0 {
                Value::owned(src.replace(old, new))
            } else {
                Value::owned(src.replacen(old, new, n as usize))
            }
        }
        Replace => Value::owned(s(&args[2]).replace(s(&args[0]), s(&args[1]))),
        Contains => Value::Bool(s(&args[1]).contains(s(&args[0]))),
        HasPrefix => Value::Bool(s(&args[1]).starts_with(s(&args[0]))),
        HasSuffix => Value::Bool(s(&args[1]).ends_with(s(&args[0]))),
        // sprig's trunc and substr slice bytes, as Go strings do.
        Trunc => {
            let c = int(&args[0]);
            let l = s(&args[1]).len() as i64;
            if c < 0 && l + c > 0 {
                byte_sub(&args[1], (l + c) as usize, l as usize)
            } else if c >= 0 && l > c {
                byte_sub(&args[1], 0, c as usize)
            } else {
                std::mem::take(&mut args[1])
            }
        }
        Substr => {
            let (start, end) = (int(&args[0]), int(&args[1]));
            let l = s(&args[2]).len() as i64;
            let oob = |m: String| Err(format!("runtime error: slice bounds out of range {m}"));
            if start < 0 {
                // s[:end]
                if end > l {
                    return oob(format!("[:{end}] with length {l}"));
                }
                if end < 0 {
                    return oob(format!("[:{end}]"));
                }
                byte_sub(&args[2], 0, end as usize)
            } else if end < 0 || end > l {
                // s[start:]
                if start > l {
                    return oob(format!("[{start}:{l}]"));
                }
                byte_sub(&args[2], start as usize, l as usize)
            } else {
                if start > end {
                    return oob(format!("[{start}:{end}]"));
                }
                byte_sub(&args[2], start as usize, end as usize)
            }
        }
        AlignLeft | AlignRight => {
            let count = int(&args[0]);
            let l = s(&args[1]).chars().count() as i64;
            if count < 0 || count == l {
                std::mem::take(&mut args[1])
            } else if count > l {
                if count as u64 > MAX_REPEAT {
                    return Err("strings: Repeat output length overflow".into());
                }
                let pad = " ".repeat((count - l) as usize);
                Value::owned(if f == AlignLeft {
                    format!("{}{pad}", s(&args[1]))
                } else {
                    format!("{pad}{}", s(&args[1]))
                })
            } else if f == AlignLeft {
                sub(&args[1], |x| rune_slice(x, 0, count as usize))
            } else {
                sub(&args[1], |x| {
                    rune_slice(x, (l - count) as usize, l as usize)
                })
            }
        }
        Indent | Nindent => {
            let n = int(&args[0]);
            if n < 0 {
                return Err("strings: negative Repeat count".into());
            }
            if n as u64 > MAX_REPEAT {
                return Err("strings: Repeat output length overflow".into());
            }
            let pad = " ".repeat(n as usize);
            let body = format!("{pad}{}", s(&args[1]).replace('\n', &format!("\n{pad}")));
            Value::owned(if f == Nindent {
                format!("\n{body}")
            } else {
                body
            })
        }
        Repeat => {
            let n = int(&args[0]);
            if n < 0 {
                return Err("strings: negative Repeat count".into());
            }
            let src = s(&args[1]);
            match (src.len() as u64).checked_mul(n as u64) {
                Some(total) if total <= MAX_REPEAT => Value::owned(src.repeat(n as usize)),
                _ => return Err("strings: Repeat output length overflow".into()),
            }
        }
        Urlencode => Value::owned(encode::query_escape(s(&args[0]))),
        Urldecode => Value::owned(encode::query_unescape(s(&args[0]))?),
        B64enc => Value::owned(encode::b64_encode(s(&args[0]).as_bytes())),
        B64dec => Value::owned(match encode::b64_decode(s(&args[0])) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => e,
        }),
        _ => return Err(format!("{} is not a string function", f.name())),
    })
}

/// Output size limit for `repeat` (Go would try to allocate and crash).
const MAX_REPEAT: u64 = 64 << 20;

/// sprig's `empty`: the zero value of its type.
pub(crate) fn empty(v: &Value<'_>, data: &dyn TemplateData) -> bool {
    match v {
        Value::Time(_) => false,
        v => !v.truth(data),
    }
}

/// Go's builtin `index`.
pub(crate) fn index<'a>(
    args: &mut [Value<'a>],
    data: &dyn TemplateData,
) -> Result<Value<'a>, String> {
    let mut item = std::mem::take(&mut args[0]);
    if matches!(item, Value::Nil) {
        return Err("index of untyped nil".into());
    }
    for ix in args[1..].iter() {
        item = match &item {
            Value::Str(_) | Value::List(_) => {
                let len = match &item {
                    Value::Str(st) => st.len(),
                    Value::List(l) => l.len(),
                    _ => 0,
                };
                let i = match ix {
                    Value::Int(i) | Value::Int64(i) => *i,
                    Value::Uint8(u) => *u as i64,
                    Value::Nil => return Err("cannot index slice/array with nil".into()),
                    other => {
                        return Err(format!(
                            "cannot index slice/array with type {}",
                            other.type_name()
                        ))
                    }
                };
                if i < 0 || i as usize >= len {
                    return Err(format!("index out of range: {i}"));
                }
                match &item {
                    Value::Str(st) => Value::Uint8(st.as_bytes()[i as usize]),
                    Value::List(l) => l[i as usize].clone(),
                    _ => Value::Nil,
                }
            }
            Value::Map(m) => match ix {
                Value::Str(k) => m.get(k.as_ref()).cloned().unwrap_or_default(),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            Value::Data => match ix {
                Value::Str(k) => Value::owned(data.label(k).unwrap_or("").to_string()),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

/// Go's builtin `slice` for strings and slices.
pub(crate) fn slice<'a>(args: &mut [Value<'a>]) -> Result<Value<'a>, String> {
    let item = std::mem::take(&mut args[0]);
    let len = match &item {
        Value::Str(st) => st.len(),
        Value::List(l) => l.len(),
        Value::Nil => return Err("slice of untyped nil".into()),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    if args.len() > 4 || matches!(item, Value::Str(_)) && args.len() > 3 {
        return Err(format!("too many slice indexes: {}", args.len() - 1));
    }
    let mut idx = [0usize, len];
    for (n, v) in args[1..].iter().take(2).enumerate() {
        let i = match v {
            Value::Int(i) | Value::Int64(i) => *i,
            other => {
                return Err(format!(
                    "cannot index slice/array with type {}",
                    other.type_name()
                ))
            }
        };
        if i < 0 || i as usize > len {
            return Err(format!("index out of range: {i}"));
        }
        idx[n] = i as usize;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    Ok(match item {
        Value::Str(st) => match st {
            Cow::Borrowed(b) => Value::Str(Cow::Borrowed(b.get(idx[0]..idx[1]).unwrap_or(""))),
            Cow::Owned(o) => {
                Value::owned(String::from_utf8_lossy(&o.as_bytes()[idx[0]..idx[1]]).into_owned())
            }
        },
        Value::List(l) => Value::List(std::rc::Rc::new(l[idx[0]..idx[1]].to_vec())),
        _ => Value::Nil,
    })
}

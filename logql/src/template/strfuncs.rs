//! String, encoding and collection functions of the function map: Go's
//! `strings` functions, sprig's string helpers (with Loki's rune-safe
//! `trunc`/`substr`), base64, URL and HTML/JS escaping, `index`/`slice`,
//! humanized byte sizes and `unixToTime`.

use std::borrow::Cow;

use super::funcs::Func;
use super::time::GoTime;
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

/// Go's `unicode.ToUpper`/`ToLower` per character: single-character
/// mappings only (Go leaves 'ß' alone where Rust gives "SS").
fn map_case(src: &str, upper: bool) -> String {
    if src.is_ascii() {
        return if upper {
            src.to_ascii_uppercase()
        } else {
            src.to_ascii_lowercase()
        };
    }
    src.chars()
        .map(|c| {
            let mut it: Box<dyn Iterator<Item = char>> = if upper {
                Box::new(c.to_uppercase())
            } else {
                Box::new(c.to_lowercase())
            };
            match (it.next(), it.next()) {
                (Some(m), None) => m,
                _ => c,
            }
        })
        .collect()
}

/// Go's deprecated `strings.Title`.
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
    src.chars()
        .map(|c| {
            let out = if is_sep(prev) {
                map_case(c.encode_utf8(&mut [0; 4]), true)
            } else {
                c.to_string()
            };
            prev = c;
            out
        })
        .collect()
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
        Trunc => {
            let c = int(&args[0]);
            let l = s(&args[1]).chars().count() as i64;
            if c < 0 && l + c > 0 {
                sub(&args[1], |x| rune_slice(x, (l + c) as usize, l as usize))
            } else if c >= 0 && l > c {
                sub(&args[1], |x| rune_slice(x, 0, c as usize))
            } else {
                std::mem::take(&mut args[1])
            }
        }
        Substr => {
            let (mut start, mut end) = (int(&args[0]), int(&args[1]));
            let l = s(&args[2]).chars().count() as i64;
            end = end.min(l);
            start = start.min(l);
            if start < 0 {
                if end < 0 {
                    Value::str("")
                } else {
                    sub(&args[2], |x| rune_slice(x, 0, end as usize))
                }
            } else if end < 0 {
                sub(&args[2], |x| rune_slice(x, start as usize, l as usize))
            } else if start > end {
                Value::str("")
            } else {
                sub(&args[2], |x| rune_slice(x, start as usize, end as usize))
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
        Urlencode => Value::owned(query_escape(s(&args[0]))),
        Urldecode => Value::owned(query_unescape(s(&args[0]))?),
        B64enc => Value::owned(b64_encode(s(&args[0]).as_bytes())),
        B64dec => Value::owned(match b64_decode(s(&args[0])) {
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

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for b in src.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
                out.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
            }
        }
    }
    out
}

/// Go's `url.QueryUnescape`.
fn query_unescape(src: &str) -> Result<String, String> {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => {
                        let end = (i + 3).min(b.len());
                        let esc = String::from_utf8_lossy(&b[i..end]).into_owned();
                        return Err(format!("invalid URL escape {}", super::gofmt::quote(&esc)));
                    }
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(src: &[u8]) -> String {
    let mut out = String::with_capacity(src.len().div_ceil(3) * 4);
    for chunk in src.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, &b)| a | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's `base64.StdEncoding.DecodeString` (strict padding, CR/LF ignored).
fn b64_decode(src: &str) -> Result<Vec<u8>, String> {
    let err = |i: usize| format!("illegal base64 data at input byte {i}");
    let b: Vec<(usize, u8)> = src
        .bytes()
        .enumerate()
        .filter(|(_, c)| *c != b'\r' && *c != b'\n')
        .collect();
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    let mut i = 0;
    while i < b.len() {
        let mut vals = [0u32; 4];
        let mut n = 0;
        while n < 4 {
            let Some(&(pos, c)) = b.get(i + n) else {
                return Err(err(b[i].0));
            };
            if c == b'=' {
                if n < 2 {
                    return Err(err(pos));
                }
                if n == 2 {
                    match b.get(i + 3) {
                        Some((_, b'=')) => {}
                        Some(&(p, _)) => return Err(err(p)),
                        None => return Err(err(src.len())),
                    }
                }
                if let Some(&(p, _)) = b.get(i + 4) {
                    return Err(err(p));
                }
                break;
            }
            vals[n] = B64.iter().position(|&x| x == c).ok_or_else(|| err(pos))? as u32;
            n += 1;
        }
        let v = vals[0] << 18 | vals[1] << 12 | vals[2] << 6 | vals[3];
        out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8][..n - 1]);
        i += 4;
    }
    Ok(out)
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for c in src.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for c in src.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if !c.is_ascii() && c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
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

/// Loki's `unixToTime`: 5, 10, 13, 16 or 19 digits are days, seconds,
/// milliseconds, microseconds or nanoseconds.
pub(crate) fn unix_to_time(epoch: &str) -> Result<GoTime, String> {
    let i: i64 = epoch.parse().map_err(|_| {
        format!(
            "unable to parse time '{epoch}': strconv.ParseInt: parsing {}: invalid syntax",
            super::gofmt::quote(epoch)
        )
    })?;
    Ok(match epoch.len() {
        5 => GoTime::from_unix(i.wrapping_mul(86_400), 0),
        10 => GoTime::from_unix(i, 0),
        13 => GoTime::from_unix(0, i.wrapping_mul(1_000_000)),
        16 => GoTime::from_unix(0, i.wrapping_mul(1_000)),
        19 => GoTime::from_unix(0, i),
        _ => return Err(format!("unable to parse time '{epoch}': %!w(<nil>)")),
    })
}

/// go-humanize's `ParseBytes`, as a float (Loki's `bytes`).
pub(crate) fn parse_bytes(src: &str) -> Result<f64, String> {
    let last = src
        .bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b'.' || *c == b',')
        .count();
    let num = src[..last].replace(',', "");
    let f: f64 = num.parse().map_err(|_| {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            super::gofmt::quote(&num)
        )
    })?;
    let extra = src[last..].trim().to_lowercase();
    let m: f64 = match extra.as_str() {
        "" | "b" => 1.0,
        "kib" | "ki" => 1024.0,
        "kb" | "k" => 1e3,
        "mib" | "mi" => 1024f64.powi(2),
        "mb" | "m" => 1e6,
        "gib" | "gi" => 1024f64.powi(3),
        "gb" | "g" => 1e9,
        "tib" | "ti" => 1024f64.powi(4),
        "tb" | "t" => 1e12,
        "pib" | "pi" => 1024f64.powi(5),
        "pb" | "p" => 1e15,
        "eib" | "ei" => 1024f64.powi(6),
        "eb" | "e" => 1e18,
        _ => return Err(format!("unhandled size name: {extra}")),
    };
    let v = f * m;
    if v >= u64::MAX as f64 {
        return Err(format!("too large: {src}"));
    }
    Ok((v as u64) as f64)
}

//! Literals as Loki reads them: Go string literals and Go number literals
//! (durations and byte sizes are in `units`).

pub(crate) use super::units::{lexer_duration, parse_bytes, prom_duration};

/// Scans a Go string, raw string or char literal at the start of `s`.
/// Returns the literal's text (quotes included) and the first scanner error.
pub(crate) fn scan_quoted(s: &str) -> (&str, Option<String>) {
    let mut it = s.char_indices();
    let Some((_, quote)) = it.next() else {
        return (s, Some("literal not terminated".into()));
    };
    let mut err: Option<String> = None;
    let mut n = 0usize;
    let set = |e: &str, err: &mut Option<String>| {
        if err.is_none() {
            *err = Some(e.to_string());
        }
    };
    loop {
        let Some((i, c)) = it.next() else {
            set("literal not terminated", &mut err);
            return (s, err);
        };
        if c == quote {
            if quote == '\'' && n != 1 {
                set("invalid char literal", &mut err);
            }
            return (&s[..i + 1], err);
        }
        if quote != '`' && c == '\n' {
            set("literal not terminated", &mut err);
            return (&s[..i], err);
        }
        n += 1;
        if quote != '`' && c == '\\' {
            let Some((_, e)) = it.next() else {
                set("literal not terminated", &mut err);
                return (s, err);
            };
            let digits = match e {
                'a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\' => 0,
                e if e == quote => 0,
                '0'..='7' => {
                    // the first octal digit is `e` itself
                    let mut ok = true;
                    for _ in 0..2 {
                        match it.clone().next() {
                            Some((_, d)) if d.is_digit(8) => {
                                it.next();
                            }
                            _ => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    if !ok {
                        set("invalid char escape", &mut err);
                    }
                    0
                }
                'x' => 2,
                'u' => 4,
                'U' => 8,
                _ => {
                    set("invalid char escape", &mut err);
                    0
                }
            };
            for _ in 0..digits {
                match it.clone().next() {
                    Some((_, d)) if d.is_ascii_hexdigit() => {
                        it.next();
                    }
                    _ => {
                        set("invalid char escape", &mut err);
                        break;
                    }
                }
            }
        }
    }
}

/// Go's `strconv.Unquote` for a scanned `"..."` or `` `...` `` literal.
pub(crate) fn unquote(text: &str) -> Result<String, String> {
    let bad = || "invalid syntax".to_string();
    if let Some(raw) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        return Ok(raw.replace('\r', ""));
    }
    let body = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or_else(bad)?;
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let e = chars.next().ok_or_else(bad)?;
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let (n, radix) = match e {
            '0'..='7' => (2, 8),
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            _ => return Err(bad()),
        };
        let mut v: u32 = if radix == 8 {
            e.to_digit(8).ok_or_else(bad)?
        } else {
            0
        };
        for _ in 0..n {
            let d = chars
                .next()
                .and_then(|d| d.to_digit(radix))
                .ok_or_else(bad)?;
            v = v * radix + d;
        }
        match e {
            '0'..='7' | 'x' => {
                let b = u8::try_from(v).map_err(|_| bad())?;
                out.push(b);
            }
            _ => {
                let ch = char::from_u32(v).ok_or_else(bad)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Scans a Go number literal at the start of `s` (Loki's scanner rules).
/// Returns its byte length and the first scanner error.
pub(crate) fn scan_number(s: &str) -> (usize, Option<String>) {
    let b = s.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let lower = |c: u8| c | 0x20;
    let mut i = 0;
    let mut err: Option<String> = None;
    let set = |e: String, err: &mut Option<String>| {
        if err.is_none() {
            *err = Some(e);
        }
    };
    let mut prefix = 0u8; // 0 decimal, b'0' octal, b'x', b'o', b'b'
    let mut base = 10u32;
    let mut digsep = 0u8;
    let mut invalid: Option<u8> = None;
    let mut is_float = false;
    let digits = |i: &mut usize, base: u32, invalid: &mut Option<u8>| -> u8 {
        let mut ds = 0u8;
        loop {
            let c = at(*i);
            if c == b'_' {
                ds |= 2;
            } else if base <= 10 && c.is_ascii_digit() {
                ds |= 1;
                if u32::from(c - b'0') >= base && invalid.is_none() {
                    *invalid = Some(c);
                }
            } else if base == 16 && c.is_ascii_hexdigit() {
                ds |= 1;
            } else {
                return ds;
            }
            *i += 1;
        }
    };
    if at(0) != b'.' {
        if at(0) == b'0' {
            i = 1;
            match lower(at(1)) {
                b'x' => (i, base, prefix) = (2, 16, b'x'),
                b'o' => (i, base, prefix) = (2, 8, b'o'),
                // Loki reads `0B` (zero bytes) as a broken decimal literal
                b'b' if matches!(at(2), b'0' | b'1' | b'_') => (i, base, prefix) = (2, 2, b'b'),
                b'b' => {}
                _ => {
                    (base, prefix) = (8, b'0');
                    digsep = 1;
                }
            }
        }
        digsep |= digits(&mut i, base, &mut invalid);
        if at(i) == b'.' {
            i += 1;
            is_float = true;
        }
    } else {
        i = 1;
        is_float = true;
    }
    if is_float {
        if prefix == b'o' || prefix == b'b' {
            set(
                format!("invalid radix point in {}", litname(prefix)),
                &mut err,
            );
        }
        digsep |= digits(&mut i, base, &mut invalid);
    }
    if digsep & 1 == 0 {
        set(format!("{} has no digits", litname(prefix)), &mut err);
    }
    let e = lower(at(i));
    if e == b'e' || e == b'p' {
        if e == b'e' && prefix != 0 && prefix != b'0' {
            set(
                format!("'{}' exponent requires decimal mantissa", at(i) as char),
                &mut err,
            );
        } else if e == b'p' && prefix != b'x' {
            set(
                format!("'{}' exponent requires hexadecimal mantissa", at(i) as char),
                &mut err,
            );
        }
        i += 1;
        is_float = true;
        if at(i) == b'+' || at(i) == b'-' {
            i += 1;
        }
        let ds = digits(&mut i, 10, &mut None);
        digsep |= ds;
        if ds & 1 == 0 {
            set("exponent has no digits".into(), &mut err);
        }
    } else if prefix == b'x' && is_float {
        set(
            "hexadecimal mantissa requires a 'p' exponent".into(),
            &mut err,
        );
    }
    if !is_float {
        if let Some(c) = invalid {
            set(
                format!("invalid digit '{}' in {}", c as char, litname(prefix)),
                &mut err,
            );
        }
    }
    if digsep & 2 != 0 && !separators_ok(&s[..i]) {
        set("'_' must separate successive digits".into(), &mut err);
    }
    (i, err)
}

fn litname(prefix: u8) -> &'static str {
    match prefix {
        b'x' => "hexadecimal literal",
        b'o' | b'0' => "octal literal",
        b'b' => "binary literal",
        _ => "decimal literal",
    }
}

/// Go's rule: `_` may only sit between digits (or after a base prefix).
fn separators_ok(x: &str) -> bool {
    let b = x.as_bytes();
    let hex = b.len() >= 2 && b[0] == b'0' && (b[1] | 0x20) == b'x';
    let mut prev = b'.';
    let mut i = 0;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'x' | b'o' | b'b') {
        prev = b'0';
        i = 2;
    }
    while i < b.len() {
        let c = b[i];
        if c == b'_' {
            if prev != b'0' {
                return false;
            }
            prev = b'_';
        } else if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            prev = b'0';
        } else {
            if prev == b'_' {
                return false;
            }
            prev = b'.';
        }
        i += 1;
    }
    prev != b'_'
}

/// Go's `strconv.ParseFloat(s, 64)` for scanner-produced number text.
pub(crate) fn parse_float(s: &str) -> Result<f64, String> {
    let invalid = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote_simple(s)
        )
    };
    let lower = s.to_ascii_lowercase();
    let v = if let Some(hex) = lower.strip_prefix("0x") {
        parse_hex_float(hex).ok_or_else(invalid)?
    } else {
        if lower.starts_with("0b") || lower.starts_with("0o") || lower.contains('_') {
            return Err(invalid());
        }
        s.parse::<f64>().map_err(|_| invalid())?
    };
    if v.is_infinite() {
        return Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote_simple(s)
        ));
    }
    Ok(v)
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let s = s.replace('_', "");
    let (mant, exp) = s.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars().chain(frac.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let shift = exp - 4 * i32::try_from(frac.len()).ok()?;
    Some(v * 2f64.powi(shift))
}

pub(crate) fn go_quote_simple(s: &str) -> String {
    let mut out = String::new();
    // number text is plain ASCII; reuse the printer's quoting for safety
    let _ = crate::printer::go_quote(&mut out, s);
    out
}

/// Go's `strconv.Atoi`.
pub(crate) fn atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_bytes() {
        assert_eq!(
            scan_number("0B"),
            (1, Some("decimal literal has no digits".into()))
        );
        assert_eq!(scan_number("0x1p3 "), (5, None));
        assert_eq!(scan_number("1e6)"), (3, None));
        assert_eq!(parse_float("0x1p3"), Ok(8.0));
        assert!(parse_float("0x1A").is_err());
        assert!(parse_float("0b01").is_err());
        assert_eq!(parse_bytes("2.5KiB"), Some(2560));
        assert_eq!(parse_bytes("250kB"), Some(250_000));
        assert_eq!(atoi("1.2"), None);
    }

    #[test]
    fn strings() {
        assert_eq!(unquote(r#""a\"b\x41\u00e9""#), Ok("a\"bAé".into()));
        assert_eq!(unquote("`a\\w`"), Ok("a\\w".into()));
        assert_eq!(
            scan_quoted(r#""[\S]""#).1,
            Some("invalid char escape".into())
        );
        assert_eq!(
            scan_quoted("\"abc").1,
            Some("literal not terminated".into())
        );
    }
}

//! Literals as Loki reads them: Go string literals, Go number literals,
//! Prometheus and Go durations, and humanized byte sizes.

use nom::bytes::complete::take_till1;
use nom::character::complete::digit1;
use nom::IResult;
use nom::Parser as _;

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

fn go_quote_simple(s: &str) -> String {
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

const MS: u64 = 1_000_000;

fn prom_unit(u: &str) -> Option<(u64, u8)> {
    Some(match u {
        "y" => (365 * 24 * 3600 * 1000 * MS, 1),
        "w" => (7 * 24 * 3600 * 1000 * MS, 2),
        "d" => (24 * 3600 * 1000 * MS, 3),
        "h" => (3600 * 1000 * MS, 4),
        "m" => (60 * 1000 * MS, 5),
        "s" => (1000 * MS, 6),
        "ms" => (MS, 7),
        _ => return None,
    })
}

fn number_unit(s: &str) -> IResult<&str, (&str, &str)> {
    (digit1, take_till1(|c: char| c.is_ascii_digit())).parse(s)
}

/// Prometheus' `model.ParseDuration`, in nanoseconds, with its error texts.
pub(crate) fn prom_duration(s: &str) -> Result<i64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", go_quote_simple(s));
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_pos = 0u8;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(invalid());
        }
        let (next, (num, unit)) = number_unit(rest).map_err(|_| invalid())?;
        let v: u64 = num.parse().map_err(|_| invalid())?;
        let (mult, pos) = prom_unit(unit).ok_or_else(|| {
            format!(
                "unknown unit {} in duration {}",
                go_quote_simple(unit),
                go_quote_simple(s)
            )
        })?;
        if pos <= last_pos {
            return Err(invalid());
        }
        last_pos = pos;
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".into());
        }
        total = total.saturating_add(v * mult);
        if total > i64::MAX as u64 {
            return Err("duration out of range".into());
        }
        rest = next;
    }
    i64::try_from(total).map_err(|_| "duration out of range".into())
}

/// Go's `time.ParseDuration` (value only).
pub(crate) fn go_duration(orig: &str) -> Option<i64> {
    let (neg, mut s) = match orig.as_bytes().first() {
        Some(b'-') => (true, &orig[1..]),
        Some(b'+') => (false, &orig[1..]),
        _ => (false, orig),
    };
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return None;
        }
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut v: u64 = 0;
        for b in s[..int_len].bytes() {
            v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            if v > 1 << 63 {
                return None;
            }
        }
        s = &s[int_len..];
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(r) = s.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for b in r[..n].bytes() {
                if overflow {
                    continue;
                }
                if f > (1u64 << 63) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(b - b'0');
                if y > 1 << 63 {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            post = n > 0;
            s = &r[n..];
        }
        if int_len == 0 && !post {
            return None;
        }
        let ulen = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if ulen == 0 {
            return None;
        }
        let unit: u64 = match &s[..ulen] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => MS,
            "s" => 1000 * MS,
            "m" => 60 * 1000 * MS,
            "h" => 3600 * 1000 * MS,
            _ => return None,
        };
        s = &s[ulen..];
        if v > (1u64 << 63) / unit {
            return None;
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return None;
            }
        }
        d = d.checked_add(v)?;
        if d > 1 << 63 {
            return None;
        }
    }
    if neg {
        return Some((d as i128).wrapping_neg() as i64);
    }
    i64::try_from(d).ok()
}

/// Loki's lexer durations: Prometheus syntax first, then Go's.
pub(crate) fn lexer_duration(s: &str) -> Option<i64> {
    prom_duration(s).ok().or_else(|| go_duration(s))
}

/// go-humanize's `ParseBytes`.
pub(crate) fn parse_bytes(s: &str) -> Option<u64> {
    let num_len: usize = s
        .chars()
        .take_while(|c| c.is_numeric() || *c == '.' || *c == ',')
        .map(char::len_utf8)
        .sum();
    let num = s[..num_len].replace(',', "");
    let f: f64 = parse_float(&num).ok()?;
    let extra = s[num_len..].trim().to_lowercase();
    let mult: f64 = match extra.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return None,
    };
    let v = f * mult;
    if v >= u64::MAX as f64 {
        return None;
    }
    Some(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(prom_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(
            prom_duration("5minutes"),
            Err(r#"unknown unit "minutes" in duration "5minutes""#.into())
        );
        assert_eq!(
            prom_duration("5m:1m"),
            Err(r#"unknown unit "m:" in duration "5m:1m""#.into())
        );
        assert_eq!(
            prom_duration("1.5m"),
            Err(r#"unknown unit "." in duration "1.5m""#.into())
        );
        assert_eq!(
            prom_duration("$__auto"),
            Err(r#"not a valid duration string: "$__auto""#.into())
        );
        assert_eq!(go_duration("1h15m30.918273645s"), Some(4_530_918_273_645));
        assert_eq!(go_duration("-5m"), Some(-300_000_000_000));
        assert_eq!(lexer_duration("5d"), Some(432_000_000_000_000));
        assert_eq!(go_duration("1.5"), None);
    }

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

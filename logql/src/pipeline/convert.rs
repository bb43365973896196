//! Go-compatible value conversions used by label filters and `unwrap`:
//! `strconv.ParseFloat`, `time.ParseDuration` and go-humanize's
//! `ParseBytes`, with the error texts Loki puts in `__error_details__`.

use crate::labels::write_quoted;

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    // writing into a String cannot fail
    let _ = write_quoted(&mut out, s);
    out
}

/// `strconv.ParseFloat(s, 64)`.
pub(crate) fn parse_float(s: &str) -> Result<f64, String> {
    if let Some(v) = small_integer(s) {
        return Ok(v);
    }
    let syntax = || format!("strconv.ParseFloat: parsing {}: invalid syntax", quote(s));
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let special = ["inf", "infinity", "nan"]
        .iter()
        .any(|w| body.eq_ignore_ascii_case(w));
    if !special {
        if body.is_empty()
            || !body
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return Err(syntax());
        }
        if !body.bytes().any(|c| c.is_ascii_digit()) {
            return Err(syntax());
        }
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_infinite() && !special => Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            quote(s)
        )),
        Ok(v) => Ok(v),
        Err(_) => Err(syntax()),
    }
}

/// The common case of `parse_float`: an optionally signed run of at most 15
/// decimal digits is an integer below 2^53, which converts to `f64` exactly,
/// so the answer equals the general parse.
#[inline]
fn small_integer(s: &str) -> Option<f64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s.as_bytes()[1..]),
        b'+' => (false, &s.as_bytes()[1..]),
        _ => (false, s.as_bytes()),
    };
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    let v = n as f64;
    Some(if neg { -v } else { v })
}

fn duration_unit(u: &str) -> Option<u64> {
    Some(match u {
        "ns" => 1,
        "us" | "\u{00b5}s" | "\u{03bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    const LIMIT: u64 = 1 << 63;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // leading integer
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &c in &b[..digits] {
            if v > (LIMIT - 1) / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(c - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
        }
        let pre = digits > 0;
        s = &s[digits..];
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.starts_with('.') {
            s = &s[1..];
            let fb = s.as_bytes();
            let fd = fb.iter().take_while(|c| c.is_ascii_digit()).count();
            let mut overflow = false;
            for &c in &fb[..fd] {
                if overflow {
                    continue;
                }
                if f > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(c - b'0');
                if y > LIMIT {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            post = fd > 0;
            s = &s[fd..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let ulen = s
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        if ulen == 0 {
            return Err(format!("time: missing unit in duration {}", quote(orig)));
        }
        let u = &s[..ulen];
        s = &s[ulen..];
        let Some(unit) = duration_unit(u) else {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                quote(u),
                quote(orig)
            ));
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total += v;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((total as i128).wrapping_neg() as i64);
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(total as i64)
}

fn byte_unit(u: &str) -> Option<u64> {
    const K: u64 = 1000;
    const KI: u64 = 1024;
    Some(match u {
        "" | "b" => 1,
        "k" | "kb" => K,
        "ki" | "kib" => KI,
        "m" | "mb" => K.pow(2),
        "mi" | "mib" => KI.pow(2),
        "g" | "gb" => K.pow(3),
        "gi" | "gib" => KI.pow(3),
        "t" | "tb" => K.pow(4),
        "ti" | "tib" => KI.pow(4),
        "p" | "pb" => K.pow(5),
        "pi" | "pib" => KI.pow(5),
        "e" | "eb" => K.pow(6),
        "ei" | "eib" => KI.pow(6),
        _ => return None,
    })
}

/// go-humanize `ParseBytes` ("100KB", "1.5 MiB", "42").
pub(crate) fn parse_bytes(s: &str) -> Result<u64, String> {
    let last = s
        .bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b'.' || *c == b',')
        .count();
    let num: String = s[..last].chars().filter(|&c| c != ',').collect();
    let f = parse_float(&num)?;
    let extra = s[last..].trim().to_lowercase();
    match byte_unit(&extra) {
        Some(m) => {
            let v = f * m as f64;
            if v >= u64::MAX as f64 {
                return Err(format!("too large: {s}"));
            }
            Ok(v as u64)
        }
        None => Err(format!("unhandled size name: {extra}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]
    use super::*;

    #[test]
    fn floats() {
        assert_eq!(parse_float("1.5").unwrap(), 1.5);
        assert_eq!(parse_float("-2e3").unwrap(), -2000.0);
        assert!(parse_float("+Inf").unwrap().is_infinite());
        assert_eq!(
            parse_float("abc").unwrap_err(),
            r#"strconv.ParseFloat: parsing "abc": invalid syntax"#
        );
        assert!(parse_float("").is_err());
        assert!(parse_float("1_0").is_err());
    }

    #[test]
    fn integer_fast_path_matches_general_parse() {
        for s in [
            "0",
            "-0",
            "+0",
            "7",
            "007",
            "-42",
            "+42",
            "999999999999999",
            "-999999999999999",
            "9999999999999999",
            "12345678901234567890",
        ] {
            let want: f64 = s.parse().unwrap();
            let got = parse_float(s).unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{s}");
        }
        for s in ["-", "+", "1-2", "--1", "+-1", "1 ", " 1", "١"] {
            assert!(parse_float(s).is_err(), "{s}");
        }
        assert_eq!(parse_float("INF").unwrap(), f64::INFINITY);
        assert_eq!(parse_float("-Infinity").unwrap(), f64::NEG_INFINITY);
        assert!(parse_float("nAn").unwrap().is_nan());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1500ms").unwrap(), 1_500_000_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_duration("-1s").unwrap(), -1_000_000_000);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration("2µs").unwrap(), 2_000);
        assert_eq!(
            parse_duration("1").unwrap_err(),
            r#"time: missing unit in duration "1""#
        );
        assert_eq!(
            parse_duration("1x").unwrap_err(),
            r#"time: unknown unit "x" in duration "1x""#
        );
        assert_eq!(
            parse_duration("abc").unwrap_err(),
            r#"time: invalid duration "abc""#
        );
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("100KB").unwrap(), 100_000);
        assert_eq!(parse_bytes("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("42").unwrap(), 42);
        assert_eq!(parse_bytes("1,024 B").unwrap(), 1024);
        assert_eq!(parse_bytes("2.5kib").unwrap(), 2560);
        assert_eq!(parse_bytes("5 xb").unwrap_err(), "unhandled size name: xb");
        assert!(parse_bytes("abc").is_err());
    }
}

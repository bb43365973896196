//! Durations and byte sizes as Loki reads them: Prometheus durations
//! (ranges), Go durations (label filters and offsets, as a fallback) and
//! go-humanize byte sizes.

use nom::bytes::complete::take_till1;
use nom::character::complete::digit1;
use nom::IResult;
use nom::Parser as _;

use super::lit::{go_quote_simple, parse_float};

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
}

//! Go formatting rules the canonical form depends on: `strconv.Quote`,
//! float formats (`%v`, `'f'`, `%f`), `time.Duration.String()`,
//! Prometheus' `model.Duration.String()` and go-humanize's `Bytes`.

use std::fmt::{self, Write};

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(f: &mut impl Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\x07' => f.write_str("\\a")?,
            '\x08' => f.write_str("\\b")?,
            '\x0c' => f.write_str("\\f")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\x0b' => f.write_str("\\v")?,
            c if is_go_print(c) => f.write_char(c)?,
            c if (c as u32) < 0x80 => write!(f, "\\x{:02x}", c as u32)?,
            c if (c as u32) < 0x10000 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "\\U{:08x}", c as u32)?,
        }
    }
    f.write_char('"')
}

/// An approximation of Go's `unicode.IsPrint`.
fn is_go_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    // format characters and private use / unassigned-ish ranges
    !matches!(c as u32, 0xad | 0x600..=0x605 | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff)
}

/// Go's `%v` / `FormatFloat(v, 'g', -1, 64)`: shortest digits, exponent
/// form when the decimal exponent is below -4 or at least 6.
pub fn go_float_g(v: f64) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    if v == 0.0 {
        // Go prints `-0`, which Loki's lexer reads as a duration
        return "0".into();
    }
    let sci = format!("{v:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    format!("{v}")
}

/// Go's `FormatFloat(v, 'f', -1, 64)` (negative zero prints as `0`, see `go_float_g`).
pub(crate) fn go_float_f(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    special(v).unwrap_or_else(|| format!("{v}"))
}

/// Go's `%f`.
pub(crate) fn go_float_fixed6(v: f64) -> String {
    special(v).unwrap_or_else(|| format!("{v:.6}"))
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

/// Go's `time.Duration.String()` for nanoseconds.
pub fn format_go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // sub-second: ns, µs or ms with a fraction
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac(u, div));
        out.push_str(unit);
    } else {
        let secs = u / 1_000_000_000;
        let sub = u % 1_000_000_000;
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        if h > 0 {
            let _ = write!(out, "{h}h");
        }
        if h > 0 || m > 0 {
            let _ = write!(out, "{m}m");
        }
        out.push_str(&frac(s * 1_000_000_000 + sub, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `v / div` with the fraction's trailing zeros removed.
fn frac(v: u64, div: u64) -> String {
    let (int, rem) = (v / div, v % div);
    if rem == 0 {
        return int.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{rem:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// Prometheus' `model.Duration.String()`.
pub fn format_prom_duration(ns: i64) -> String {
    let mut ms = ns / 1_000_000;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let units: [(&str, i64, bool); 7] = [
        ("y", 1000 * 60 * 60 * 24 * 365, true),
        ("w", 1000 * 60 * 60 * 24 * 7, true),
        ("d", 1000 * 60 * 60 * 24, false),
        ("h", 1000 * 60 * 60, false),
        ("m", 1000 * 60, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    for (unit, mult, exact) in units {
        if exact && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            let _ = write!(out, "{v}{unit}");
            ms -= v * mult;
        }
    }
    out
}

/// go-humanize's `Bytes` with the space removed, as Loki prints byte filters.
/// Zero is the exception: Loki prints `0B`, which its own lexer rejects
/// (`0B` reads as a broken binary literal), so we print `0kB`.
pub(crate) fn humanize_bytes(b: u64) -> String {
    if b == 0 {
        return "0kB".into();
    }
    if b < 10 {
        return format!("{b}B");
    }
    let sizes = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let x = b as f64;
    let e = (x.ln() / 1000f64.ln()).floor();
    let idx = (e as usize).min(sizes.len() - 1);
    let val = (x / 1000f64.powf(e) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1}{}", sizes[idx])
    } else {
        format!("{val:.0}{}", sizes[idx])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats() {
        assert_eq!(go_float_g(1e6), "1e+06");
        assert_eq!(go_float_g(123456.0), "123456");
        assert_eq!(go_float_g(0.5), "0.5");
        assert_eq!(go_float_g(-89.0), "-89");
        assert_eq!(go_float_g(1e-5), "1e-05");
        assert_eq!(go_float_fixed6(1.0), "1.000000");
        assert_eq!(go_float_f(0.99998), "0.99998");
    }

    #[test]
    fn durations() {
        assert_eq!(format_go_duration(120 * 3600 * 1_000_000_000), "120h0m0s");
        assert_eq!(format_go_duration(250_000_000), "250ms");
        assert_eq!(format_go_duration(4_530_918_273_645), "1h15m30.918273645s");
        assert_eq!(format_go_duration(-300_000_000_000), "-5m0s");
        assert_eq!(format_prom_duration(5 * 24 * 3600 * 1_000_000_000), "5d");
        assert_eq!(format_prom_duration(90 * 1_000_000_000), "1m30s");
    }

    #[test]
    fn bytes() {
        assert_eq!(humanize_bytes(2560), "2.6kB");
        assert_eq!(humanize_bytes(209_715_200), "210MB");
        assert_eq!(humanize_bytes(1), "1B");
        assert_eq!(humanize_bytes(250_000), "250kB");
    }
}

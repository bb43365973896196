//! Numbers: Go's integer literal parsing, the `cast` conversions sprig's
//! math uses (`toInt64`, `toFloat64`), and the exact decimal arithmetic of
//! `addf`/`subf`/`mulf`/`divf` (sprig uses shopspring/decimal).

use super::value::Value;

/// Go's `strconv.ParseInt(s, 0, 64)`.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = parse_go_uint(rest)?;
    if neg {
        if u > i64::MAX as u64 + 1 {
            return None;
        }
        Some((u as i64).wrapping_neg())
    } else {
        i64::try_from(u).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`: `0x`, `0o`, `0b`, leading-`0` octal,
/// and underscores between digits when a base prefix allows them.
pub(crate) fn parse_go_uint(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(r) = lower.strip_prefix("0x") {
        (16, r, true)
    } else if let Some(r) = lower.strip_prefix("0o") {
        (8, r, true)
    } else if let Some(r) = lower.strip_prefix("0b") {
        (2, r, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    if digits.contains('_') && !underscore_ok(&lower) {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || clean.starts_with(['+', '-']) {
        return None;
    }
    let _ = prefixed;
    u64::from_str_radix(&clean, radix).ok()
}

/// Go's `underscoreOK`: underscores only between digits or after a prefix.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = '^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1], b'x' | b'o' | b'b') {
        hex = b[1] == b'x';
        i = 2;
        saw = '0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = '0';
        } else if c == b'_' {
            if saw != '0' {
                return false;
            }
            saw = '_';
        } else {
            if saw == '_' {
                return false;
            }
            saw = '!';
        }
        i += 1;
    }
    saw != '_'
}

/// cast's `trimZeroDecimal`: "12.00" -> "12".
fn trim_zero_decimal(s: &str) -> &str {
    let mut found_zero = false;
    for (i, c) in s.bytes().enumerate().rev() {
        match c {
            b'.' => {
                if found_zero {
                    return &s[..i];
                }
            }
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// cast's `ToInt64` (also `ToInt`): failures give 0.
pub(crate) fn to_int64(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Uint8(u) => *u as i64,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => *b as i64,
        Value::Str(s) => parse_go_int(trim_zero_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

/// cast's `ToFloat64`: failures give 0.
pub(crate) fn to_float64(v: &Value<'_>) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Uint8(u) => *u as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => *b as i64 as f64,
        Value::Str(s) => parse_go_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal input (and inf/nan).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    if s.contains('_') {
        return None;
    }
    let t = s.strip_prefix(['+', '-']).unwrap_or(s).to_ascii_lowercase();
    if t.starts_with("0x") {
        return None;
    }
    if t.chars().any(|c| c.is_ascii_alphabetic())
        && !matches!(t.as_str(), "inf" | "infinity" | "nan")
        && !t.contains('e')
    {
        return None;
    }
    s.parse::<f64>().ok()
}

/// A decimal number `m * 10^e`, exact for the shortest form of a float.
#[derive(Debug, Clone, Copy)]
struct Dec {
    m: i128,
    e: i32,
}

impl Dec {
    /// shopspring's `NewFromFloat`: the shortest decimal that round-trips.
    fn from_f64(f: f64) -> Option<Dec> {
        if !f.is_finite() {
            return None;
        }
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let (int_part, frac) = mant.split_once('.').unwrap_or((mant, ""));
        let digits = format!("{int_part}{frac}");
        let m: i128 = digits.parse().ok()?;
        Some(Dec {
            m,
            e: exp - frac.len() as i32,
        })
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.m, self.e).parse().unwrap_or(f64::NAN)
    }

    /// Brings both to the same (smaller) exponent.
    fn align(a: Dec, b: Dec) -> Option<(i128, i128, i32)> {
        let e = a.e.min(b.e);
        let sa = 10i128.checked_pow((a.e - e) as u32)?;
        let sb = 10i128.checked_pow((b.e - e) as u32)?;
        Some((a.m.checked_mul(sa)?, b.m.checked_mul(sb)?, e))
    }
}

/// A decimal operation of `addf`/`subf`/`mulf`/`divf`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DecOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// sprig's `execDecimalOp`: folds `rest` into `first` with exact decimal
/// arithmetic (division rounds to 16 decimal places, half away from zero).
/// Falls back to float arithmetic when the numbers get too large.
pub(crate) fn decimal_fold(first: f64, rest: &[f64], op: DecOp) -> Result<f64, String> {
    let mut acc = Dec::from_f64(first);
    let mut facc = first;
    for &x in rest {
        let fx = x;
        facc = match op {
            DecOp::Add => facc + fx,
            DecOp::Sub => facc - fx,
            DecOp::Mul => facc * fx,
            DecOp::Div => {
                if fx == 0.0 {
                    return Err("decimal division by 0".into());
                }
                facc / fx
            }
        };
        acc = match (acc, Dec::from_f64(x)) {
            (Some(a), Some(b)) => dec_op(a, b, op),
            _ => None,
        };
        if let Some(a) = acc {
            facc = a.to_f64();
        }
    }
    Ok(match acc {
        Some(a) => a.to_f64(),
        None => facc,
    })
}

fn dec_op(a: Dec, b: Dec, op: DecOp) -> Option<Dec> {
    match op {
        DecOp::Add => {
            let (x, y, e) = Dec::align(a, b)?;
            Some(Dec {
                m: x.checked_add(y)?,
                e,
            })
        }
        DecOp::Sub => {
            let (x, y, e) = Dec::align(a, b)?;
            Some(Dec {
                m: x.checked_sub(y)?,
                e,
            })
        }
        DecOp::Mul => Some(Dec {
            m: a.m.checked_mul(b.m)?,
            e: a.e.checked_add(b.e)?,
        }),
        DecOp::Div => {
            if b.m == 0 {
                return None;
            }
            // q = a/b rounded to 16 places: a.m * 10^(a.e - b.e + 16) / b.m.
            let shift = a.e - b.e + 16;
            let (num, den) = if shift >= 0 {
                (a.m.checked_mul(10i128.checked_pow(shift as u32)?)?, b.m)
            } else {
                (a.m, b.m.checked_mul(10i128.checked_pow((-shift) as u32)?)?)
            };
            let mut q = num / den;
            let r = num % den;
            if r != 0 && r.unsigned_abs().checked_mul(2)? >= den.unsigned_abs() {
                q += if (num < 0) != (den < 0) { -1 } else { 1 };
            }
            Some(Dec { m: q, e: -16 })
        }
    }
}

/// sprig's `round(a, p, roundOn)`.
pub(crate) fn round(val: f64, places: f64, round_on: f64) -> f64 {
    let pow = 10f64.powf(places);
    let digit = pow * val;
    let div = digit.fract();
    let r = if div >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    r / pow
}

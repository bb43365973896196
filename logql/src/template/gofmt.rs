//! The parts of Go's `fmt` and `strconv` that templates use: `%v` printing
//! of values, `print`/`println`/`printf` with Go's verbs, flags, width and
//! precision, Go quoting and Go's float formatting (`%e`, `%f`, `%g`).

use std::fmt::Write as _;

use super::value::{sorted_labels, Value};
use super::TemplateData;

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    quote_with(s, '"', false)
}

fn quote_with(s: &str, q: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_ascii() => out.push(c),
            c if ascii_only || !is_print(c) => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// Approximates Go's `unicode.IsPrint` for non-ASCII characters.
fn is_print(c: char) -> bool {
    let format_char = matches!(
        c as u32,
        0xad | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb
    );
    let private_use = ('\u{e000}'..='\u{f8ff}').contains(&c);
    !(c.is_control() || (c.is_whitespace() && c != ' ') || private_use || format_char)
}

/// Go's `%#U` for a character, as lexer errors print it.
pub(crate) fn unicode_repr(c: char) -> String {
    if is_print(c) && !c.is_control() {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// Appends `v` as Go's `fmt.Fprint` prints a template action's value.
pub(crate) fn print_value(out: &mut String, v: &Value<'_>, data: &dyn TemplateData) {
    match v {
        Value::Nil => out.push_str("<no value>"),
        v => write_v(out, v, data, false),
    }
}

/// `%v` formatting; `nested` values (inside maps and slices) print nil as `<nil>`.
fn write_v(out: &mut String, v: &Value<'_>, data: &dyn TemplateData, nested: bool) {
    match v {
        Value::Nil => out.push_str(if nested { "<nil>" } else { "<no value>" }),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Uint8(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => format_float(out, *f, 'g', None, false),
        Value::Str(s) => out.push_str(s),
        Value::Time(t) => t.write_string(out),
        Value::Data => {
            out.push_str("map[");
            for (i, (k, val)) in sorted_labels(data).iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{k}:{val}");
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, val, data, true);
            }
            out.push(']');
        }
        Value::List(l) => {
            out.push('[');
            for (i, val) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, val, data, true);
            }
            out.push(']');
        }
    }
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
pub(crate) fn sprint(out: &mut String, args: &[Value<'_>], data: &dyn TemplateData) {
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, Value::Str(_));
        if i > 0 && !is_str && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        write_v(out, a, data, true);
    }
}

/// Go's `fmt.Sprintln`: always spaces, and a final newline.
pub(crate) fn sprintln(out: &mut String, args: &[Value<'_>], data: &dyn TemplateData) {
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(out, a, data, true);
    }
    out.push('\n');
}

/// The decimal digits of a finite non-negative float: digits without
/// leading/trailing zeros and the decimal point position (Go's `decimalSlice`).
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

/// Shortest digits (`prec == None`) or rounded to `prec` significant digits.
fn digits(f: f64, prec: Option<usize>) -> Digits {
    let s = match prec {
        None => format!("{:e}", f.abs()),
        Some(p) => format!("{:.*e}", p.saturating_sub(1), f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.len() > 1 && d.last() == Some(&b'0') {
        d.pop();
    }
    if d == [b'0'] {
        return Digits {
            d: Vec::new(),
            dp: 0,
        };
    }
    Digits { d, dp: exp + 1 }
}

fn fmt_e(out: &mut String, dg: &Digits, prec: usize, upper: bool) {
    let first = dg.d.first().copied().unwrap_or(b'0');
    out.push(first as char);
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(dg.d.get(i).copied().unwrap_or(b'0') as char);
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if dg.d.is_empty() { 0 } else { dg.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.unsigned_abs());
}

fn fmt_f(out: &mut String, dg: &Digits, prec: usize) {
    if dg.dp > 0 {
        for i in 0..dg.dp as usize {
            out.push(dg.d.get(i).copied().unwrap_or(b'0') as char);
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            let j = dg.dp + i;
            let c = if j >= 0 {
                dg.d.get(j as usize).copied().unwrap_or(b'0')
            } else {
                b'0'
            };
            out.push(c as char);
        }
    }
}

/// Go's `strconv.FormatFloat(f, verb, prec, 64)` without sign handling
/// of special values, plus `+` for `plus`.
pub(crate) fn format_float(out: &mut String, f: f64, verb: char, prec: Option<usize>, plus: bool) {
    if f.is_nan() {
        out.push_str(if plus { "+NaN" } else { "NaN" });
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if f.is_sign_negative() {
        out.push('-');
    } else if plus {
        out.push('+');
    }
    match verb {
        'e' | 'E' => {
            let p = prec.unwrap_or(6);
            let dg = digits(f, Some(p + 1));
            fmt_e(out, &dg, p, verb == 'E');
        }
        'f' | 'F' => {
            let p = prec.unwrap_or(6);
            let _ = write!(out, "{:.*}", p, f.abs());
        }
        _ => {
            // 'g' / 'G'
            let shortest = prec.is_none();
            let dg = match prec {
                None => digits(f, None),
                Some(0) => digits(f, Some(1)),
                Some(p) => digits(f, Some(p)),
            };
            let mut p = match prec {
                None => dg.d.len().max(1),
                Some(0) => 1,
                Some(p) => p,
            };
            let mut eprec = p as i32;
            if eprec > dg.d.len() as i32 && dg.d.len() as i32 >= dg.dp {
                eprec = dg.d.len() as i32;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dg.dp - 1;
            if !dg.d.is_empty() && (exp < -4 || exp >= eprec) {
                if p > dg.d.len() {
                    p = dg.d.len();
                }
                fmt_e(out, &dg, p.saturating_sub(1), verb == 'G');
                return;
            }
            if p as i32 > dg.dp {
                p = dg.d.len();
            }
            fmt_f(out, &dg, (p as i32 - dg.dp).max(0) as usize);
        }
    }
}

//! Go's `fmt.Sprintf` for template values: verbs `%v %s %q %d %x %X %o %O
//! %b %c %U %e %E %f %F %g %G %t %T %%`, flags `+ - # 0 space`, width and
//! precision (also `*`), explicit argument indexes `%[n]d`, and Go's
//! error markers (`%!d(string=x)`, `%!d(MISSING)`, `%!(EXTRA ...)`).

use std::fmt::Write as _;

use super::gofmt::{format_float, print_value, quote};
use super::value::Value;
use super::TemplateData;

/// Go's fmt rejects widths and precisions above 1e6 (`tooLarge`).
const MAX_WIDTH: usize = 1_000_000;

#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

/// Appends `format` rendered with `args`.
pub(crate) fn sprintf(out: &mut String, format: &str, args: &[Value<'_>], data: &dyn TemplateData) {
    let b = format.as_bytes();
    let mut i = 0;
    let mut arg_num = 0usize;
    let mut reordered = false;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i] != b'%' {
            i += 1;
        }
        out.push_str(&format[start..i]);
        if i >= b.len() {
            break;
        }
        i += 1;
        let mut f = Flags::default();
        while i < b.len() {
            match b[i] {
                b'#' => f.sharp = true,
                b'0' => f.zero = !f.minus,
                b'+' => f.plus = true,
                b'-' => {
                    f.minus = true;
                    f.zero = false
                }
                b' ' => f.space = true,
                _ => break,
            }
            i += 1;
        }
        let mut bad_index = false;
        let mut arg_index = |i: &mut usize, arg_num: &mut usize, reordered: &mut bool| {
            if *i < b.len() && b[*i] == b'[' {
                *reordered = true;
                if let Some(end) = format[*i..].find(']') {
                    match format[*i + 1..*i + end].parse::<usize>() {
                        Ok(n) if n >= 1 && n <= args.len() => *arg_num = n - 1,
                        _ => bad_index = true,
                    }
                    *i += end + 1;
                } else {
                    bad_index = true;
                    *i = b.len();
                }
            }
        };
        arg_index(&mut i, &mut arg_num, &mut reordered);
        if i < b.len() && b[i] == b'*' {
            i += 1;
            match args.get(arg_num) {
                Some(Value::Int(n) | Value::Int64(n)) if n.unsigned_abs() <= MAX_WIDTH as u64 => {
                    if *n < 0 {
                        f.minus = true;
                        f.zero = false;
                    }
                    f.wid = Some(n.unsigned_abs() as usize);
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            arg_num += 1;
        } else {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i > s {
                f.wid = format[s..i].parse().ok().filter(|w| *w <= MAX_WIDTH);
            }
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            arg_index(&mut i, &mut arg_num, &mut reordered);
            if i < b.len() && b[i] == b'*' {
                i += 1;
                match args.get(arg_num) {
                    Some(Value::Int(n) | Value::Int64(n))
                        if *n >= 0 && *n as u64 <= MAX_WIDTH as u64 =>
                    {
                        f.prec = Some(*n as usize)
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                arg_num += 1;
            } else {
                let s = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                // Go ignores a precision it considers too large.
                f.prec = match format[s..i].parse::<usize>() {
                    Ok(p) if p > MAX_WIDTH => None,
                    Ok(p) => Some(p),
                    Err(_) => Some(0),
                };
            }
        }
        arg_index(&mut i, &mut arg_num, &mut reordered);
        let Some(verb) = format[i..].chars().next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        if bad_index {
            let _ = write!(out, "%!{verb}(BADINDEX)");
            continue;
        }
        match args.get(arg_num) {
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
            Some(v) => {
                fmt_arg(out, v, verb, &f, data);
                arg_num += 1;
            }
        }
    }
    if !reordered && arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (n, a) in args[arg_num..].iter().enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            if matches!(a, Value::Nil) {
                out.push_str("<nil>");
            } else {
                let _ = write!(out, "{}=", a.type_name());
                fmt_arg(out, a, 'v', &Flags::default(), data);
            }
        }
        out.push(')');
    }
}

fn pad(out: &mut String, s: &str, f: &Flags) {
    let n = s.chars().count();
    let w = f.wid.unwrap_or(0);
    if n >= w {
        out.push_str(s);
        return;
    }
    let fill = if f.zero { '0' } else { ' ' };
    if f.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', w - n));
    } else {
        out.extend(std::iter::repeat_n(fill, w - n));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, v: &Value<'_>, verb: char, data: &dyn TemplateData) {
    let _ = write!(out, "%!{verb}(");
    if matches!(v, Value::Nil) {
        out.push_str("<nil>");
    } else {
        let _ = write!(out, "{}=", v.type_name());
        fmt_arg(out, v, 'v', &Flags::default(), data);
    }
    out.push(')');
}

fn fmt_arg(out: &mut String, v: &Value<'_>, verb: char, f: &Flags, data: &dyn TemplateData) {
    if verb == 'T' {
        pad(out, v.type_name(), f);
        return;
    }
    match v {
        Value::Nil => match verb {
            'v' => pad(out, "<nil>", f),
            _ => bad_verb(out, v, verb, data),
        },
        Value::Bool(x) => match verb {
            't' | 'v' => pad(
                out,
                if *x { "true" } else { "false" },
                &Flags { zero: false, ..*f },
            ),
            _ => bad_verb(out, v, verb, data),
        },
        Value::Int(x) | Value::Int64(x) => fmt_int(out, *x as i128, verb, f, v, data),
        Value::Uint8(x) => fmt_int(out, *x as i128, verb, f, v, data),
        Value::Float(x) => match verb {
            'v' | 'g' | 'G' | 'e' | 'E' | 'f' | 'F' => {
                let (verb, prec) = match verb {
                    'v' => ('g', f.prec),
                    'e' | 'E' | 'f' | 'F' => (verb, Some(f.prec.unwrap_or(6))),
                    _ => (verb, f.prec),
                };
                fmt_float(out, *x, verb, prec, f)
            }
            _ => bad_verb(out, v, verb, data),
        },
        Value::Str(s) => fmt_str(out, s, verb, f, v, data),
        Value::Time(t) => match verb {
            'v' | 's' | 'q' | 'x' | 'X' => {
                let mut s = String::new();
                t.write_string(&mut s);
                fmt_str(out, &s, verb, f, v, data)
            }
            _ => bad_verb(out, v, verb, data),
        },
        Value::List(l) => {
            out.push('[');
            for (n, e) in l.iter().enumerate() {
                if n > 0 {
                    out.push(' ');
                }
                fmt_arg(out, e, verb, f, data);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (n, (k, e)) in m.iter().enumerate() {
                if n > 0 {
                    out.push(' ');
                }
                fmt_str(out, k, verb, f, v, data);
                out.push(':');
                fmt_arg(out, e, verb, f, data);
            }
            out.push(']');
        }
        Value::Data => {
            let mut s = String::new();
            print_value(&mut s, v, data);
            pad(out, &s, f);
        }
    }
}

fn fmt_str(
    out: &mut String,
    s: &str,
    verb: char,
    f: &Flags,
    v: &Value<'_>,
    data: &dyn TemplateData,
) {
    let s = match f.prec {
        Some(p) if verb != 'x' && verb != 'X' => match s.char_indices().nth(p) {
            Some((i, _)) => &s[..i],
            None => s,
        },
        _ => s,
    };
    match verb {
        'v' | 's' => pad(out, s, f),
        'q' => {
            let q =
                if f.sharp && !s.contains('`') && !s.chars().any(|c| c.is_control() && c != '\t') {
                    format!("`{s}`")
                } else if f.plus {
                    quote(s)
                        .chars()
                        .flat_map(|c| {
                            if c.is_ascii() {
                                vec![c]
                            } else {
                                format!("\\u{:04x}", c as u32).chars().collect()
                            }
                        })
                        .collect()
                } else {
                    quote(s)
                };
            pad(out, &q, f)
        }
        'x' | 'X' => {
            let bytes = s.as_bytes();
            let bytes = &bytes[..f.prec.unwrap_or(bytes.len()).min(bytes.len())];
            let mut h = String::new();
            for (n, byte) in bytes.iter().enumerate() {
                if f.space && n > 0 {
                    h.push(' ');
                }
                if f.sharp && (f.space || n == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                let _ = if verb == 'x' {
                    write!(h, "{byte:02x}")
                } else {
                    write!(h, "{byte:02X}")
                };
            }
            pad(out, &h, f)
        }
        _ => bad_verb(out, v, verb, data),
    }
}

fn fmt_int(
    out: &mut String,
    x: i128,
    verb: char,
    f: &Flags,
    v: &Value<'_>,
    data: &dyn TemplateData,
) {
    let neg = x < 0;
    let u = x.unsigned_abs();
    let (mut digits, prefix) = match verb {
        'd' | 'v' => (u.to_string(), ""),
        'b' => (format!("{u:b}"), if f.sharp { "0b" } else { "" }),
        'o' => (format!("{u:o}"), if f.sharp { "0" } else { "" }),
        'O' => (format!("{u:o}"), "0o"),
        'x' => (format!("{u:x}"), if f.sharp { "0x" } else { "" }),
        'X' => (format!("{u:X}"), if f.sharp { "0X" } else { "" }),
        'c' => {
            let c = char::from_u32(x as u32).unwrap_or('\u{fffd}');
            return pad(out, c.encode_utf8(&mut [0; 4]), f);
        }
        'q' => {
            let c = char::from_u32(x as u32).unwrap_or('\u{fffd}');
            let q = quote(c.encode_utf8(&mut [0; 4]));
            let inner = &q[1..q.len() - 1];
            let inner = if c == '"' {
                "\""
            } else if c == '\'' {
                "\\'"
            } else {
                inner
            };
            return pad(out, &format!("'{inner}'"), f);
        }
        'U' => {
            let mut s = format!("U+{:04X}", u);
            if f.sharp {
                if let Some(c) = char::from_u32(x as u32) {
                    let _ = write!(s, " '{c}'");
                }
            }
            return pad(out, &s, f);
        }
        _ => return bad_verb(out, v, verb, data),
    };
    // Precision is the minimum number of digits; zero padding fills the width.
    let mut min = f.prec.unwrap_or(0);
    if f.prec.is_none() && f.zero && !f.minus {
        if let Some(w) = f.wid {
            min = w;
            if neg || f.plus || f.space {
                min = min.saturating_sub(1);
            }
        }
    }
    if f.prec == Some(0) && x == 0 {
        digits.clear();
    }
    if digits.len() < min {
        digits = "0".repeat(min - digits.len()) + &digits;
    }
    if verb == 'o' && f.sharp && digits.starts_with('0') {
        // The leading zero is already there.
    } else {
        digits = prefix.to_string() + &digits;
    }
    let sign = if neg {
        "-"
    } else if f.plus {
        "+"
    } else if f.space {
        " "
    } else {
        ""
    };
    pad(
        out,
        &format!("{sign}{digits}"),
        &Flags { zero: false, ..*f },
    );
}

fn fmt_float(out: &mut String, x: f64, verb: char, prec: Option<usize>, f: &Flags) {
    let mut num = String::new();
    format_float(&mut num, x, verb, prec, true);
    if f.space && num.starts_with('+') && !f.plus {
        num.replace_range(..1, " ");
    }
    if num[1..].starts_with(['I', 'N']) {
        if num[1..].starts_with('N') && !f.space && !f.plus {
            num.remove(0);
        }
        return pad(out, &num, &Flags { zero: false, ..*f });
    }
    if f.plus || !num.starts_with('+') {
        let w = f.wid.unwrap_or(0);
        if f.zero && !f.minus && w > num.len() {
            out.push_str(&num[..1]);
            out.extend(std::iter::repeat_n('0', w - num.len()));
            out.push_str(&num[1..]);
            return;
        }
        return pad(out, &num, f);
    }
    pad(out, &num[1..], f)
}

//! Literal constants of templates: Go's `strconv.Unquote` for string and
//! character literals and Go's number-constant rules (`parse.newNumber`).

use super::ast::Number;

/// Go's `strconv.Unquote` for `"..."`, `` `...` `` and `'.'` literals.
pub(crate) fn unquote(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    if bytes.len() < 2 {
        return None;
    }
    let (q, inner) = (bytes[0], &s[1..s.len() - 1]);
    if bytes[bytes.len() - 1] != q {
        return None;
    }
    if q == b'`' {
        return if inner.contains('`') {
            None
        } else {
            Some(inner.replace('\r', ""))
        };
    }
    if q != b'"' && q != b'\'' {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let mut chars = inner.char_indices().peekable();
    let mut count = 0;
    while let Some((_, c)) = chars.next() {
        count += 1;
        if c == q as char || c == '\n' {
            return None;
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let (_, e) = chars.next()?;
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '\'' if q == b'\'' => Some(b'\''),
            '"' if q == b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let (n, radix) = match e {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (2, 8),
            _ => return None,
        };
        let mut v: u32 = if radix == 8 { e.to_digit(8)? } else { 0 };
        for _ in 0..n {
            let (_, d) = chars.next()?;
            v = v * radix + d.to_digit(radix)?;
        }
        match e {
            'x' => out.push(v as u8),
            '0'..='7' => {
                if v > 255 {
                    return None;
                }
                out.push(v as u8)
            }
            _ => {
                let c = char::from_u32(v)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    if q == b'\'' && count != 1 {
        return None;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `parse.newNumber`: which of int and float a constant can be.
pub(crate) fn parse_number(text: &str, is_char: bool) -> Result<Number, String> {
    let mut n = Number {
        text: text.into(),
        int: None,
        float: None,
        is_char,
    };
    if is_char {
        let s = unquote(text).ok_or_else(|| "malformed character constant: ".to_string() + text)?;
        let c = s
            .chars()
            .next()
            .ok_or_else(|| format!("malformed character constant: {text}"))?;
        n.int = Some(c as i64);
        n.float = Some(c as i64 as f64);
        return Ok(n);
    }
    if let Some(i) = super::math::parse_go_int(text) {
        n.int = Some(i);
        n.float = Some(i as f64);
        return Ok(n);
    }
    if let Some(u) = super::math::parse_go_uint(text) {
        // Too big for int64: Go keeps it as uint64 (and errors on use as int).
        n.float = Some(u as f64);
        return Ok(n);
    }
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    if lower.contains("0x") || lower.ends_with("inf") || lower.contains("nan") {
        return Err(format!(
            "illegal number syntax: {}",
            super::gofmt::quote(text)
        ));
    }
    match clean.parse::<f64>() {
        Ok(f) => {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return Err(format!("integer overflow: {}", super::gofmt::quote(text)));
            }
            n.float = Some(f);
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                n.int = Some(f as i64);
            }
            Ok(n)
        }
        Err(_) => Err(format!(
            "illegal number syntax: {}",
            super::gofmt::quote(text)
        )),
    }
}

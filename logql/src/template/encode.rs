//! Encodings and conversions of the function map: URL query escaping,
//! base64, HTML/JS escaping (Go's builtins `html`, `js`, `urlquery`),
//! humanized byte sizes (`bytes`) and `unixToTime`.

use super::time::GoTime;

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
pub(crate) fn query_unescape(src: &str) -> Result<String, String> {
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

pub(crate) fn b64_encode(src: &[u8]) -> String {
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
pub(crate) fn b64_decode(src: &str) -> Result<Vec<u8>, String> {
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

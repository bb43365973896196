//! A lenient, non-validating JSON reader with the behaviour (and error
//! texts) of grafana/jsonparser, which Loki's `json` parser uses.

use std::borrow::Cow;

use crate::pipeline::builder::clean_value;

pub(super) const MALFORMED_JSON: &str = "Malformed JSON error";
pub(super) const MALFORMED_STRING: &str = "Value is string, but can't find closing '\"' symbol";
pub(super) const MALFORMED_ARRAY: &str = "Value is array, but can't find closing ']' symbol";
pub(super) const MALFORMED_OBJECT: &str =
    "Value looks like object, but can't find closing '}' symbol";
pub(super) const UNKNOWN_VALUE_TYPE: &str = "Unknown value type";
pub(super) const MALFORMED_ESCAPE: &str = "Encountered an invalid escape sequence in a string";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JType {
    String,
    Number,
    Object,
    Array,
    Boolean,
    Null,
}

#[inline]
pub(super) fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

#[inline]
pub(super) fn next_token(d: &[u8]) -> Option<usize> {
    match d.first() {
        Some(&c) if !is_ws(c) => Some(0),
        _ => d.iter().position(|&c| !is_ws(c)),
    }
}

/// Index one past the closing quote of a string body, and whether any
/// backslash was seen. A quote closes the string when an even number of
/// backslashes precede it: scanning left to right, each backslash escapes
/// the byte after it, which is the same thing. Runs without a quote or
/// backslash are skipped 8 bytes at a time.
#[inline]
pub(super) fn string_end(d: &[u8]) -> (Option<usize>, bool) {
    let mut escaped = false;
    let mut i = 0;
    while i < d.len() {
        if let Some(w) = d.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
            let x = u64::from_le_bytes(w);
            let m = byte_mask(x, b'"') | byte_mask(x, b'\\');
            if m == 0 {
                i += 8;
                continue;
            }
            // the lowest flagged byte is the first quote or backslash
            i += (m.trailing_zeros() / 8) as usize;
        }
        match d[i] {
            b'"' => return (Some(i + 1), escaped),
            b'\\' => {
                escaped = true;
                i += 2;
            }
            _ => i += 1,
        }
    }
    (None, escaped)
}

/// The high bit of each byte of `x` equal to `b`, and possibly of bytes
/// after the first such byte (a borrow runs on), never before it.
#[inline(always)]
fn byte_mask(x: u64, b: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let y = x ^ (ONES * u64::from(b));
    y.wrapping_sub(ONES) & !y & (ONES << 7)
}

pub(super) fn block_end(d: &[u8], open: u8, close: u8) -> Option<usize> {
    let mut level = 0i32;
    let mut i = 0;
    while i < d.len() {
        let c = d[i];
        if c == b'"' {
            let (end, _) = string_end(&d[i + 1..]);
            i += end?;
        } else if c == open {
            level += 1;
        } else if c == close {
            level -= 1;
            if level == 0 {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

#[inline]
pub(super) fn token_end(d: &[u8]) -> usize {
    d.iter()
        .position(|&c| matches!(c, b' ' | b'\n' | b'\r' | b'\t' | b',' | b'}' | b']'))
        .unwrap_or(d.len())
}

/// jsonparser's `Get(data)` without keys: the closest value, its type and
/// the offset just past it. String values come without quotes.
#[inline]
pub(super) fn get_value(d: &[u8]) -> std::result::Result<(&[u8], JType, usize), &'static str> {
    let off = next_token(d).ok_or(MALFORMED_JSON)?;
    let c = d[off];
    let (ty, end) = match c {
        b'"' => {
            let (e, _) = string_end(&d[off + 1..]);
            (JType::String, off + 1 + e.ok_or(MALFORMED_STRING)?)
        }
        b'[' => (
            JType::Array,
            off + block_end(&d[off..], b'[', b']').ok_or(MALFORMED_ARRAY)?,
        ),
        b'{' => (
            JType::Object,
            off + block_end(&d[off..], b'{', b'}').ok_or(MALFORMED_OBJECT)?,
        ),
        _ => {
            let end = off + token_end(&d[off..]);
            let v = &d[off..end];
            let ty = match c {
                b't' | b'f' if v == b"true" || v == b"false" => JType::Boolean,
                b'n' | b'u' if v == b"null" => JType::Null,
                b'0'..=b'9' | b'-' => JType::Number,
                _ => return Err(UNKNOWN_VALUE_TYPE),
            };
            (ty, end)
        }
    };
    let v = &d[off..end];
    let v = if ty == JType::String {
        &v[1..v.len() - 1]
    } else {
        v
    };
    Ok((v, ty, end))
}

/// jsonparser's `ObjectEach`: calls `f(key, value, type)` per member.
pub(super) fn object_each<'a, F>(d: &'a [u8], f: &mut F) -> std::result::Result<(), &'static str>
where
    F: FnMut(&[u8], &'a [u8], JType) -> std::result::Result<(), &'static str>,
{
    let mut off = next_token(d).ok_or(MALFORMED_OBJECT)?;
    if d[off] != b'{' {
        return Err(MALFORMED_OBJECT);
    }
    off += 1;
    off += next_token(&d[off..]).ok_or(MALFORMED_JSON)?;
    if d[off] == b'}' {
        return Ok(());
    }
    let mut last_comma: Option<usize> = None;
    while off < d.len() {
        match d[off] {
            b'"' => off += 1,
            b'}' => {
                if last_comma.is_some_and(|c| c + 1 == off) {
                    return Err(MALFORMED_OBJECT);
                }
                return Ok(());
            }
            _ => return Err(MALFORMED_OBJECT),
        }
        let (end, escaped) = string_end(&d[off..]);
        let end = end.ok_or(MALFORMED_JSON)?;
        let raw_key = &d[off..off + end - 1];
        off += end;
        let key: Cow<'_, [u8]> = if escaped {
            Cow::Owned(unescape(raw_key).ok_or(MALFORMED_ESCAPE)?)
        } else {
            Cow::Borrowed(raw_key)
        };
        off += next_token(&d[off..]).ok_or(MALFORMED_JSON)?;
        if d[off] != b':' {
            return Err(MALFORMED_JSON);
        }
        off += 1;
        let (value, ty, vend) = get_value(&d[off..])?;
        f(&key, value, ty)?;
        off += vend;
        off += next_token(&d[off..]).ok_or(MALFORMED_ARRAY)?;
        match d[off] {
            b'}' => return Ok(()),
            b',' => {
                last_comma = Some(off);
                off += 1;
            }
            _ => return Err(MALFORMED_OBJECT),
        }
        let skip = next_token(&d[off..]).ok_or(MALFORMED_ARRAY)?;
        if skip > 0 {
            last_comma = last_comma.map(|c| c + skip - 1);
        }
        off += skip;
    }
    Err(MALFORMED_OBJECT)
}

pub(super) fn hex4(s: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(s.get(..4)?).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// jsonparser's `Unescape`; `None` on an invalid escape.
pub(super) fn unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *s.get(i + 1)?;
        i += 2;
        match e {
            b'"' | b'\\' | b'/' => out.push(e),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let r = hex4(&s[i..])?;
                i += 4;
                let cp = if (0xD800..0xE000).contains(&r) {
                    if s.get(i..i + 2) != Some(b"\\u") {
                        return None;
                    }
                    let r2 = hex4(&s[i + 2..])?;
                    if !(0xDC00..0xE000).contains(&r2) || r >= 0xDC00 {
                        return None;
                    }
                    i += 6;
                    0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00)
                } else {
                    r
                };
                let ch = char::from_u32(cp)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Loki's `readValue`/`unescapeJSONString` for a scalar.
#[inline]
pub(super) fn read_value(v: &[u8], ty: JType) -> Cow<'_, str> {
    match ty {
        JType::String => {
            if !v.contains(&b'\\') {
                return clean_value(v);
            }
            match unescape(v) {
                Some(u) => Cow::Owned(clean_value(&u).into_owned()),
                None => Cow::Borrowed(""),
            }
        }
        JType::Boolean => Cow::Borrowed(if v == b"true" { "true" } else { "false" }),
        JType::Number => clean_value(v),
        _ => Cow::Borrowed(""),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]
    use super::*;

    #[test]
    fn scanner_errors() {
        let mut n = 0;
        let mut f = |_: &[u8], _: &[u8], _: JType| {
            n += 1;
            Ok(())
        };
        assert_eq!(
            object_each(b"DEBUG [conn-1] x", &mut f),
            Err(MALFORMED_OBJECT)
        );
        assert_eq!(object_each(b"{\"a\":1,}", &mut f), Err(MALFORMED_OBJECT));
        assert_eq!(object_each(b"{\"a\":1, }", &mut f), Ok(()));
        assert_eq!(object_each(b"{\"a\":\"x", &mut f), Err(MALFORMED_STRING));
        assert_eq!(object_each(b"{\"a\":bad}", &mut f), Err(UNKNOWN_VALUE_TYPE));
        assert_eq!(object_each(b"{} trailing", &mut f), Ok(()));
    }

    /// The definition `string_end` must keep: byte by byte.
    fn string_end_plain(d: &[u8]) -> (Option<usize>, bool) {
        let mut escaped = false;
        let mut i = 0;
        while i < d.len() {
            match d[i] {
                b'"' => return (Some(i + 1), escaped),
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                _ => i += 1,
            }
        }
        (None, escaped)
    }

    proptest::proptest! {
        #[test]
        fn string_end_is_the_byte_loop(d in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'"', b'\\', 0x80, 0xff, b' ', 0x22 ^ 0x80]),
            0..40,
        )) {
            proptest::prop_assert_eq!(string_end(&d), string_end_plain(&d));
        }
    }

    #[test]
    fn string_end_finds_quotes_at_every_offset() {
        for len in 0usize..40 {
            for q in 0..len {
                for esc in [None, Some(0), q.checked_sub(1)] {
                    let mut d = vec![b'x'; len];
                    d[q] = b'"';
                    if let Some(e) = esc.filter(|&e| e != q) {
                        d[e] = b'\\';
                    }
                    assert_eq!(string_end(&d), string_end_plain(&d), "{d:?}");
                }
            }
        }
    }

    /// Walks 200k lines of the benchmark's worker shape (run under
    /// callgrind to compare scanners).
    #[test]
    #[ignore]
    fn walk_cost() {
        let lines: Vec<String> = (0..200_000u64)
            .map(|i| {
                format!(
                    r#"{{"level": "info", "msg": "job {}", "job_id": {i}, "latency_ms": {}, "queue": "default", "ok": true}}"#,
                    ["timeout", "deadline exceeded", "queued"][(i % 3) as usize],
                    i % 2500
                )
            })
            .collect();
        let mut n = 0usize;
        for l in &lines {
            object_each(l.as_bytes(), &mut |k: &[u8], v: &[u8], _| {
                n += k.len() + v.len();
                Ok(())
            })
            .unwrap();
        }
        assert!(n > 0);
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape(br#"a\"b\u00e9\n"#).unwrap(), "a\"bé\n".as_bytes());
        assert_eq!(unescape(br#"\ud83d\ude00"#).unwrap(), "😀".as_bytes());
        assert!(unescape(br#"\ud83d"#).is_none());
        assert!(unescape(br#"\q"#).is_none());
    }
}

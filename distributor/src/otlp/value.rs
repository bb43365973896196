//! OTLP attribute values as Loki renders them: strings as they are,
//! numbers and booleans in their usual text, bytes in base64, maps and
//! arrays as JSON; attribute names normalised to Prometheus label names.

use serde_json::Value as Json;
use sluice_proto::otlp::any_value::Value;
use sluice_proto::otlp::AnyValue;

/// A value as a string (Loki's `AsString`).
pub fn as_string(v: &AnyValue) -> String {
    match &v.value {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => float(*d),
        Some(Value::BytesValue(b)) => base64(b),
        Some(Value::ArrayValue(_) | Value::KvlistValue(_)) => to_json(v).to_string(),
    }
}

fn float(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        d.to_string()
    }
}

fn to_json(v: &AnyValue) -> Json {
    match &v.value {
        None => Json::Null,
        Some(Value::StringValue(s)) => Json::String(s.clone()),
        Some(Value::BoolValue(b)) => Json::Bool(*b),
        Some(Value::IntValue(i)) => Json::from(*i),
        Some(Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(float(*d))),
        Some(Value::BytesValue(b)) => Json::String(base64(b)),
        Some(Value::ArrayValue(a)) => Json::Array(a.values.iter().map(to_json).collect()),
        Some(Value::KvlistValue(kv)) => Json::Object(
            kv.values
                .iter()
                .map(|e| {
                    (
                        e.key.clone(),
                        e.value.as_ref().map(to_json).unwrap_or(Json::Null),
                    )
                })
                .collect(),
        ),
    }
}

/// Adds `key = value` to `out`; a map value adds each of its entries as
/// `key_subkey`, recursively.
pub fn flatten(key: &str, v: &AnyValue, out: &mut Vec<(String, String)>) {
    match &v.value {
        Some(Value::KvlistValue(kv)) => {
            for e in &kv.values {
                if let Some(ev) = &e.value {
                    flatten(&format!("{key}_{}", e.key), ev, out);
                }
            }
        }
        _ => out.push((normalize(key), as_string(v))),
    }
}

/// A Prometheus label name: characters other than `[A-Za-z0-9_]` become
/// `_`, and a leading digit gets a `key_` prefix.
pub fn normalize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "key_");
    }
    s
}

pub fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(DIGITS[(x >> 4) as usize] as char);
        s.push(DIGITS[(x & 15) as usize] as char);
    }
    s
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Decodes standard or URL-safe base64, padded or not.
pub fn unbase64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Decodes lowercase or uppercase hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

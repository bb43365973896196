//! Request parameters as Loki parses them (`pkg/loghttp/params.go`).

use std::collections::HashMap;

use sluice_logql::source::Direction;

use crate::error::{Error, Result};

/// Form and query-string parameters of a request (`match[]` may repeat).
#[derive(Debug, Default)]
pub struct Params(HashMap<String, Vec<String>>);

impl Params {
    /// Merges the URL query string and, for POST, a urlencoded body.
    pub fn parse(query: Option<&str>, body: &[u8]) -> Self {
        let mut p = Params::default();
        for src in [query.unwrap_or("").as_bytes(), body] {
            for (k, v) in form_pairs(src) {
                p.0.entry(k).or_default().push(v);
            }
        }
        p
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .get(k)
            .and_then(|v| v.first())
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }

    pub fn all(&self, k: &str) -> &[String] {
        self.0.get(k).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// A timestamp parameter, or `default` when absent.
    pub fn time(&self, k: &str, default: i64) -> Result<i64> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => parse_time(v).ok_or_else(|| {
                Error::BadRequest(format!(
                    "invalid {k} parameter {v:?}: use unix seconds, nanoseconds or RFC3339"
                ))
            }),
        }
    }

    pub fn direction(&self) -> Result<Direction> {
        match self.get("direction").map(|s| s.to_ascii_lowercase()) {
            None => Ok(Direction::Backward),
            Some(d) if d == "backward" => Ok(Direction::Backward),
            Some(d) if d == "forward" => Ok(Direction::Forward),
            Some(d) => Err(Error::BadRequest(format!("invalid direction '{d}'"))),
        }
    }

    pub fn limit(&self) -> Result<u32> {
        match self.get("limit") {
            None => Ok(100),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n > 0 => Ok(n.min(u32::MAX as i64) as u32),
                Ok(_) => Err(Error::BadRequest("limit must be a positive value".into())),
                Err(_) => Err(Error::BadRequest(format!(
                    "invalid limit {v:?}: must be an integer"
                ))),
            },
        }
    }
}

/// Loki's timestamp rules: a `.` means float seconds, an integer of up to
/// 10 digits is seconds, a longer one nanoseconds; anything else RFC3339.
pub fn parse_time(v: &str) -> Option<i64> {
    if v.contains('.') {
        if let Ok(f) = v.parse::<f64>() {
            return Some((f * 1e9).round() as i64);
        }
    }
    if let Ok(n) = v.parse::<i64>() {
        let digits = v.trim_start_matches('-').len();
        return Some(if digits <= 10 {
            n.saturating_mul(1_000_000_000)
        } else {
            n
        });
    }
    sluice_logql::time::parse_rfc3339(v)
}

/// `step` as a Prometheus duration (`15s`, `15000ms`) or float seconds; ns.
pub fn parse_step(v: &str) -> Option<i64> {
    if let Ok(f) = v.parse::<f64>() {
        return Some((f * 1e9).round() as i64);
    }
    sluice_logql::parser::parse_duration(v)
}

fn form_pairs(src: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    src.split(|&b| b == b'&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let mut it = kv.splitn(2, |&b| b == b'=');
            let k = unescape(it.next().unwrap_or(b""));
            let v = unescape(it.next().unwrap_or(b""));
            (k, v)
        })
}

fn unescape(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_follow_loki_rules() {
        assert_eq!(parse_time("4000000000"), Some(4_000_000_000_000_000_000));
        assert_eq!(
            parse_time("1700000000123456789"),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(parse_time("1.5"), Some(1_500_000_000));
        assert_eq!(
            parse_time("2026-08-20T10:00:00.000Z"),
            Some(1_787_220_000_000_000_000)
        );
        assert_eq!(parse_time("nope"), None);
    }

    #[test]
    fn form_decoding() {
        let p = Params::parse(
            Some("query=%7Bapp%3D%22a%22%7D+x&match[]=a&match[]=b&limit="),
            b"step=15",
        );
        assert_eq!(p.get("query"), Some(r#"{app="a"} x"#));
        assert_eq!(p.all("match[]").len(), 2);
        assert_eq!(p.get("limit"), None);
        assert_eq!(p.get("step"), Some("15"));
        assert_eq!(unescape(b"%zz%4"), "%zz%4");
    }
}

//! Loki's JSON push format:
//! `{"streams":[{"stream":{"a":"b"},"values":[["<ns>","line",{"k":"v"}]]}]}`
//! (timestamps are strings of Unix nanoseconds; the third element, the
//! structured metadata, is optional), and the legacy `/api/prom/push` form
//! `{"streams":[{"labels":"{a=\"b\"}","entries":[{"ts":"<RFC3339>","line":"…"}]}]}`.
//!
//! Stream label maps are rendered into the canonical label string (sorted,
//! Go-quoted) so both formats reach validation the same way as protobuf.
//! Lines without JSON escapes are zero-copy slices of the body.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use sluice_proto::logproto::{
    EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};

use crate::error::PushError;
use crate::time_fmt::parse_rfc3339;

#[derive(Deserialize)]
struct JsonPush<'a> {
    #[serde(borrow, default)]
    streams: Option<Vec<JsonStream<'a>>>,
}

#[derive(Deserialize)]
struct JsonStream<'a> {
    #[serde(borrow, default)]
    stream: Option<LabelMap<'a>>,
    #[serde(borrow, default)]
    values: Option<Vec<JsonEntry<'a>>>,
    #[serde(borrow, default)]
    labels: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    entries: Option<Vec<LegacyEntry<'a>>>,
}

#[derive(Deserialize)]
struct LegacyEntry<'a> {
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow)]
    line: Str<'a>,
}

/// A JSON string that stays borrowed from the body when it has no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON object of string values, in document order (a repeated key keeps
/// its last value, as a Go map does).
struct LabelMap<'a>(Vec<(Cow<'a, str>, String)>);

impl<'de: 'a, 'a> Deserialize<'de> for LabelMap<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LabelMap<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(Cow<'de, str>, String)> = Vec::new();
                while let Some((k, v)) = m.next_entry::<Str<'de>, Str<'de>>()? {
                    let v = v.0.into_owned();
                    match out.iter_mut().find(|(name, _)| *name == k.0) {
                        Some(slot) => slot.1 = v,
                        None => out.push((k.0, v)),
                    }
                }
                Ok(LabelMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `["<ns>", "line"]` or `["<ns>", "line", {"k": "v"}]`.
struct JsonEntry<'a> {
    ts: i64,
    line: Str<'a>,
    metadata: Option<LabelMap<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonEntry<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonEntry<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an entry array [\"<unix ns>\", \"<line>\"] with optional structured metadata object")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let ts: Str<'de> = s
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let ts = parse_go_int(&ts.0).map_err(|e| {
                    de::Error::custom(format!("error reading entry timestamp: {e}"))
                })?;
                let line: Str<'de> = s
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let metadata: Option<LabelMap<'de>> = s.next_element()?;
                if s.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(
                        "error reading entry: array must contains 2 values",
                    ));
                }
                Ok(JsonEntry { ts, line, metadata })
            }
        }
        d.deserialize_seq(V)
    }
}

/// `strconv.ParseInt(s, 10, 64)` with Go's error text.
fn parse_go_int(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseInt: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

/// Decodes a JSON push body.
pub fn decode(body: Bytes) -> Result<PushRequest, PushError> {
    let parsed: JsonPush<'_> =
        serde_json::from_slice(&body).map_err(|e| PushError::Json(e.to_string()))?;
    let line_bytes = |s: Str<'_>| -> Bytes {
        match s.0 {
            Cow::Borrowed(b) => body.slice_ref(b.as_bytes()),
            Cow::Owned(o) => Bytes::from(o),
        }
    };
    let mut streams = Vec::new();
    for s in parsed.streams.unwrap_or_default() {
        let labels = match (s.stream, s.labels) {
            (Some(map), _) => render_labels(map),
            (None, Some(l)) => l.into_owned(),
            (None, None) => "{}".to_string(),
        };
        let mut entries = Vec::new();
        for e in s.values.unwrap_or_default() {
            entries.push(EntryAdapter {
                timestamp: Some(Timestamp::from_unix_nanos(e.ts)),
                line: line_bytes(e.line),
                structured_metadata: e
                    .metadata
                    .map(|m| {
                        m.0.into_iter()
                            .map(|(name, value)| LabelPairAdapter::new(name.into_owned(), value))
                            .collect()
                    })
                    .unwrap_or_default(),
                parsed: Vec::new(),
            });
        }
        for e in s.entries.unwrap_or_default() {
            let ts = parse_rfc3339(&e.ts).ok_or_else(|| {
                PushError::Json(format!(
                    "parsing time {:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse",
                    e.ts
                ))
            })?;
            entries.push(EntryAdapter {
                timestamp: Some(Timestamp::from_unix_nanos(ts)),
                line: line_bytes(e.line),
                structured_metadata: Vec::new(),
                parsed: Vec::new(),
            });
        }
        streams.push(StreamAdapter {
            labels,
            entries,
            hash: 0,
        });
    }
    Ok(PushRequest { streams })
}

/// Renders a JSON label object as Loki's `LabelSet.String()`: sorted by
/// name, `{a="b", c="d"}`, Go-quoted values.
fn render_labels(map: LabelMap<'_>) -> String {
    let mut pairs = map.0;
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::with_capacity(
        2 + pairs
            .iter()
            .map(|(k, v)| k.len() + v.len() + 5)
            .sum::<usize>(),
    );
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push('=');
        // writing to a String cannot fail
        let _ = sluice_logql::labels::write_quoted(&mut out, v);
    }
    out.push('}');
    out
}

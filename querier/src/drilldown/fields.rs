//! Field detection for `detected_fields`: structured metadata of each
//! entry, plus the fields its line yields to `json` (lines starting with
//! `{`) or else `logfmt`, with a type guessed from the values (`int`,
//! `float`, `boolean`, `duration`, `bytes`, else `string`), the number of
//! distinct values and the parsers that produced it (`null` for
//! structured metadata only). Fields the `json` parser yields also carry
//! `jsonPath`, the original keys leading to the value (`user_name` from
//! `{"user":{"name":…}}` has `["user","name"]`), as Loki reports it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use sluice_logql::ast::Expr;
use sluice_logql::engine::StreamEntry;
use sluice_logql::labels::Labels;
use sluice_logql::pipeline::{Pipeline, StreamPipeline};

/// Distinct values kept per field (bounds memory; cardinality saturates).
const MAX_VALUES: usize = 10_000;

#[derive(Debug, Default)]
pub struct Field {
    pub values: BTreeSet<String>,
    pub typ: Option<&'static str>,
    pub parsers: BTreeSet<&'static str>,
    pub json_path: Option<Vec<String>>,
}

impl Field {
    fn add(&mut self, v: &str) {
        let t = value_type(v);
        self.typ = match self.typ {
            None => Some(t),
            Some(old) if old == t => Some(t),
            Some("int") if t == "float" => Some("float"),
            Some("float") if t == "int" => Some("float"),
            Some(_) => Some("string"),
        };
        if self.values.len() < MAX_VALUES {
            self.values.insert(v.to_string());
        }
    }
}

fn parser(stage: &str) -> Option<StreamPipeline> {
    match sluice_logql::parser::parse_expr(&format!("{{a=\"a\"}} | {stage}")) {
        Ok(Expr::Log(l)) => Pipeline::new(&l.pipeline)
            .ok()
            .map(|p| p.for_stream(&Labels::default())),
        _ => None,
    }
}

/// Fields of `entries`, at most `limit` of them, by name.
pub fn detect(entries: &[(Labels, StreamEntry)], limit: usize) -> BTreeMap<String, Field> {
    let mut out: BTreeMap<String, Field> = BTreeMap::new();
    let (mut json_p, mut logfmt_p) = (parser("json"), parser("logfmt"));
    let add = |out: &mut BTreeMap<String, Field>, k: &str, v: &str, p: Option<&'static str>| {
        if k.starts_with("__") || (!out.contains_key(k) && out.len() >= limit) {
            return;
        }
        let f = out.entry(k.to_string()).or_default();
        f.add(v);
        if let Some(p) = p {
            f.parsers.insert(p);
        }
    };
    for (_, e) in entries {
        for (k, v) in &e.structured_metadata {
            add(&mut out, k, v, None);
        }
        let is_json = e.line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        let (name, sp) = if is_json {
            ("json", json_p.as_mut())
        } else {
            ("logfmt", logfmt_p.as_mut())
        };
        let Some(sp) = sp else { continue };
        let Some(p) = sp.process(e.ts, &e.line, &[]) else {
            continue;
        };
        if p.labels.all.get("__error__").is_some() {
            continue;
        }
        for (k, v) in &p.labels.parsed {
            add(&mut out, k, v, Some(name));
        }
        if is_json {
            if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&e.line) {
                let mut paths = Vec::new();
                json_paths(&o, &mut Vec::new(), &mut paths);
                for (k, path) in paths {
                    if let Some(f) = out.get_mut(&k) {
                        f.json_path.get_or_insert(path);
                    }
                }
            }
        }
    }
    out
}

/// The flattened name (keys sanitized and joined by `_`, as the `json`
/// parser names them) and key path of every leaf of `o`.
fn json_paths(
    o: &serde_json::Map<String, Value>,
    prefix: &mut Vec<String>,
    out: &mut Vec<(String, Vec<String>)>,
) {
    for (k, v) in o {
        prefix.push(k.clone());
        match v {
            Value::Object(inner) => json_paths(inner, prefix, out),
            _ => {
                let name: Vec<String> = prefix
                    .iter()
                    .map(|p| {
                        p.chars()
                            .map(|c| {
                                if c.is_ascii_alphanumeric() || c == '_' {
                                    c
                                } else {
                                    '_'
                                }
                            })
                            .collect()
                    })
                    .collect();
                out.push((name.join("_"), prefix.clone()));
            }
        }
        prefix.pop();
    }
}

pub fn to_json(fields: &BTreeMap<String, Field>) -> Vec<Value> {
    fields
        .iter()
        .map(|(k, f)| {
            let parsers: Value = if f.parsers.is_empty() {
                Value::Null
            } else {
                json!(f.parsers)
            };
            let mut o = json!({
                "label": k,
                "type": f.typ.unwrap_or("string"),
                "cardinality": f.values.len(),
                "parsers": parsers,
            });
            if let (Some(p), Some(m)) = (&f.json_path, o.as_object_mut()) {
                m.insert("jsonPath".into(), json!(p));
            }
            o
        })
        .collect()
}

/// Loki's guess of a value's type.
fn value_type(v: &str) -> &'static str {
    if v.parse::<i64>().is_ok() {
        "int"
    } else if v.parse::<f64>().is_ok() {
        "float"
    } else if matches!(v, "true" | "false" | "TRUE" | "FALSE" | "True" | "False") {
        "boolean"
    } else if is_duration(v) {
        "duration"
    } else if is_bytes(v) {
        "bytes"
    } else {
        "string"
    }
}

/// A Go duration: one or more `<number><unit>` with units ns, us, µs,
/// ms, s, m, h.
fn is_duration(v: &str) -> bool {
    let v = v.strip_prefix('-').unwrap_or(v);
    let mut rest = v;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let num = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num == 0 {
            return false;
        }
        rest = &rest[num..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            .filter(|u| rest.starts_with(*u))
            .max_by_key(|u| u.len());
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

/// A humanized byte size such as `10KB`, `1.5 MiB`, `512B`.
fn is_bytes(v: &str) -> bool {
    let num = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    if num == 0 || v[..num].parse::<f64>().is_err() {
        return false;
    }
    let unit = v[num..].trim_start().to_ascii_lowercase();
    matches!(
        unit.as_str(),
        "b" | "kb"
            | "kib"
            | "mb"
            | "mib"
            | "gb"
            | "gib"
            | "tb"
            | "tib"
            | "pb"
            | "pib"
            | "eb"
            | "eib"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(line: &str, sm: &[(&str, &str)]) -> (Labels, StreamEntry) {
        (
            Labels::default(),
            StreamEntry {
                ts: 1,
                line: line.to_string().into(),
                stream_labels: Labels::default(),
                structured_metadata: sm
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                parsed: vec![],
            },
        )
    }

    #[test]
    fn types() {
        for (v, t) in [
            ("12", "int"),
            ("1.5", "float"),
            ("true", "boolean"),
            ("150ms", "duration"),
            ("1h2m3.5s", "duration"),
            ("10KB", "bytes"),
            ("1.5 MiB", "bytes"),
            ("GET", "string"),
            ("m", "string"),
        ] {
            assert_eq!(value_type(v), t, "{v}");
        }
    }

    #[test]
    fn detects_logfmt_json_and_metadata() {
        let es = vec![
            entry("level=info status=200 took=12ms", &[("trace_id", "a")]),
            entry("level=error status=500 took=1.5s", &[("trace_id", "b")]),
            entry(r#"{"user":"bob","n":1.5}"#, &[]),
            entry(r#"{"user":"al","n":2}"#, &[]),
        ];
        let f = detect(&es, 100);
        let v: Vec<Value> = to_json(&f);
        let by: BTreeMap<String, Value> = v
            .into_iter()
            .map(|x| (x["label"].as_str().unwrap().to_string(), x))
            .collect();
        assert_eq!(
            by["status"],
            json!({"label":"status","type":"int","cardinality":2,"parsers":["logfmt"]})
        );
        assert_eq!(by["took"]["type"], "duration");
        assert_eq!(by["trace_id"]["parsers"], Value::Null);
        assert_eq!(by["user"]["parsers"], json!(["json"]));
        assert_eq!(by["n"]["type"], "float");
        assert_eq!(detect(&es, 2).len(), 2);
        assert_eq!(by["user"]["jsonPath"], json!(["user"]));
        assert!(by["status"].get("jsonPath").is_none());
    }

    #[test]
    fn nested_json_has_key_path() {
        let es = vec![entry(
            r#"{"user":{"first-name":"bob","id":3},"ok":true}"#,
            &[],
        )];
        let v = to_json(&detect(&es, 100));
        let by: BTreeMap<String, Value> = v
            .into_iter()
            .map(|x| (x["label"].as_str().unwrap().to_string(), x))
            .collect();
        assert_eq!(
            by["user_first_name"]["jsonPath"],
            json!(["user", "first-name"])
        );
        assert_eq!(by["user_id"]["jsonPath"], json!(["user", "id"]));
        assert_eq!(by["user_id"]["parsers"], json!(["json"]));
        assert_eq!(by["ok"]["type"], "boolean");
    }
}

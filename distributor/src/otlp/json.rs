//! OTLP/JSON (the protobuf JSON mapping): lowerCamelCase field names
//! (the proto names are accepted too), 64-bit integers as strings or
//! numbers, `traceId`/`spanId` in hex, `bytesValue` in base64, enums as
//! numbers or names.

use serde_json::{Map, Value as Json};
use sluice_proto::otlp::any_value::Value;
use sluice_proto::otlp::{
    AnyValue, ArrayValue, ExportLogsServiceRequest, InstrumentationScope, KeyValue, KeyValueList,
    LogRecord, Resource, ResourceLogs, ScopeLogs,
};

use super::value::{unbase64, unhex};
use crate::error::PushError;

type R<T> = Result<T, PushError>;

fn bad(msg: impl Into<String>) -> PushError {
    PushError::Json(format!("failed to parse OTLP logs JSON: {}", msg.into()))
}

pub fn decode(body: &[u8]) -> R<ExportLogsServiceRequest> {
    let v: Json = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let o = obj(&v, "request")?;
    Ok(ExportLogsServiceRequest {
        resource_logs: list(o, "resourceLogs", "resource_logs", resource_logs)?,
    })
}

fn obj<'a>(v: &'a Json, what: &str) -> R<&'a Map<String, Json>> {
    v.as_object()
        .ok_or_else(|| bad(format!("{what} must be an object")))
}

fn field<'a>(o: &'a Map<String, Json>, camel: &str, snake: &str) -> Option<&'a Json> {
    o.get(camel)
        .or_else(|| o.get(snake))
        .filter(|v| !v.is_null())
}

fn list<T>(
    o: &Map<String, Json>,
    camel: &str,
    snake: &str,
    f: impl Fn(&Json) -> R<T>,
) -> R<Vec<T>> {
    match field(o, camel, snake) {
        None => Ok(Vec::new()),
        Some(Json::Array(a)) => a.iter().map(f).collect(),
        Some(_) => Err(bad(format!("{camel} must be an array"))),
    }
}

fn string(o: &Map<String, Json>, camel: &str, snake: &str) -> R<String> {
    match field(o, camel, snake) {
        None => Ok(String::new()),
        Some(Json::String(s)) => Ok(s.clone()),
        Some(_) => Err(bad(format!("{camel} must be a string"))),
    }
}

/// An integer sent as a JSON number or a decimal string.
fn int(o: &Map<String, Json>, camel: &str, snake: &str) -> R<i128> {
    match field(o, camel, snake) {
        None => Ok(0),
        Some(Json::Number(n)) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .ok_or_else(|| bad(format!("{camel} must be an integer"))),
        Some(Json::String(s)) if s.is_empty() => Ok(0),
        Some(Json::String(s)) => s
            .parse::<i128>()
            .map_err(|_| bad(format!("{camel} must be an integer, got {s:?}"))),
        Some(_) => Err(bad(format!("{camel} must be an integer"))),
    }
}

fn resource_logs(v: &Json) -> R<ResourceLogs> {
    let o = obj(v, "resourceLogs element")?;
    let resource = match field(o, "resource", "resource") {
        None => None,
        Some(r) => {
            let r = obj(r, "resource")?;
            Some(Resource {
                attributes: list(r, "attributes", "attributes", key_value)?,
                dropped_attributes_count: int(
                    r,
                    "droppedAttributesCount",
                    "dropped_attributes_count",
                )? as u32,
            })
        }
    };
    Ok(ResourceLogs {
        resource,
        scope_logs: list(o, "scopeLogs", "scope_logs", scope_logs)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn scope_logs(v: &Json) -> R<ScopeLogs> {
    let o = obj(v, "scopeLogs element")?;
    let scope = match field(o, "scope", "scope") {
        None => None,
        Some(s) => {
            let s = obj(s, "scope")?;
            Some(InstrumentationScope {
                name: string(s, "name", "name")?,
                version: string(s, "version", "version")?,
                attributes: list(s, "attributes", "attributes", key_value)?,
                dropped_attributes_count: int(
                    s,
                    "droppedAttributesCount",
                    "dropped_attributes_count",
                )? as u32,
            })
        }
    };
    Ok(ScopeLogs {
        scope,
        log_records: list(o, "logRecords", "log_records", log_record)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn log_record(v: &Json) -> R<LogRecord> {
    let o = obj(v, "logRecords element")?;
    let id = |camel: &str, snake: &str| -> R<Vec<u8>> {
        let s = string(o, camel, snake)?;
        unhex(&s).ok_or_else(|| bad(format!("{camel} must be hex, got {s:?}")))
    };
    Ok(LogRecord {
        time_unix_nano: int(o, "timeUnixNano", "time_unix_nano")? as u64,
        observed_time_unix_nano: int(o, "observedTimeUnixNano", "observed_time_unix_nano")? as u64,
        severity_number: severity(field(o, "severityNumber", "severity_number"))?,
        severity_text: string(o, "severityText", "severity_text")?,
        body: field(o, "body", "body").map(any_value).transpose()?,
        attributes: list(o, "attributes", "attributes", key_value)?,
        dropped_attributes_count: int(o, "droppedAttributesCount", "dropped_attributes_count")?
            as u32,
        flags: int(o, "flags", "flags")? as u32,
        trace_id: id("traceId", "trace_id")?,
        span_id: id("spanId", "span_id")?,
        event_name: string(o, "eventName", "event_name")?,
    })
}

/// `SeverityNumber` as a number or an enum name (`SEVERITY_NUMBER_INFO2`).
fn severity(v: Option<&Json>) -> R<i32> {
    match v {
        None => Ok(0),
        Some(Json::Number(n)) => n
            .as_i64()
            .map(|n| n as i32)
            .ok_or_else(|| bad("severityNumber must be an integer")),
        Some(Json::String(s)) => {
            let name = s.strip_prefix("SEVERITY_NUMBER_").unwrap_or(s);
            let digits = name.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            let base = match &name[..name.len() - digits.len()] {
                "UNSPECIFIED" => return Ok(0),
                "TRACE" => 1,
                "DEBUG" => 5,
                "INFO" => 9,
                "WARN" => 13,
                "ERROR" => 17,
                "FATAL" => 21,
                _ => {
                    return s
                        .parse()
                        .map_err(|_| bad(format!("unknown severityNumber {s:?}")))
                }
            };
            let n: i32 = if digits.is_empty() {
                1
            } else {
                digits.parse().unwrap_or(1)
            };
            Ok(base + n.clamp(1, 4) - 1)
        }
        Some(_) => Err(bad("severityNumber must be a number or a name")),
    }
}

fn key_value(v: &Json) -> R<KeyValue> {
    let o = obj(v, "attribute")?;
    Ok(KeyValue {
        key: string(o, "key", "key")?,
        value: field(o, "value", "value").map(any_value).transpose()?,
    })
}

fn any_value(v: &Json) -> R<AnyValue> {
    let o = obj(v, "value")?;
    let value = if let Some(s) = field(o, "stringValue", "string_value") {
        Some(Value::StringValue(
            s.as_str()
                .ok_or_else(|| bad("stringValue must be a string"))?
                .to_string(),
        ))
    } else if let Some(b) = field(o, "boolValue", "bool_value") {
        Some(Value::BoolValue(
            b.as_bool()
                .ok_or_else(|| bad("boolValue must be a boolean"))?,
        ))
    } else if field(o, "intValue", "int_value").is_some() {
        Some(Value::IntValue(int(o, "intValue", "int_value")? as i64))
    } else if let Some(d) = field(o, "doubleValue", "double_value") {
        let d = match d {
            Json::Number(n) => n.as_f64(),
            Json::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                s => s.parse().ok(),
            },
            _ => None,
        };
        Some(Value::DoubleValue(
            d.ok_or_else(|| bad("doubleValue must be a number"))?,
        ))
    } else if let Some(a) = field(o, "arrayValue", "array_value") {
        Some(Value::ArrayValue(ArrayValue {
            values: list(obj(a, "arrayValue")?, "values", "values", any_value)?,
        }))
    } else if let Some(kv) = field(o, "kvlistValue", "kvlist_value") {
        Some(Value::KvlistValue(KeyValueList {
            values: list(obj(kv, "kvlistValue")?, "values", "values", key_value)?,
        }))
    } else if let Some(b) = field(o, "bytesValue", "bytes_value") {
        let s = b
            .as_str()
            .ok_or_else(|| bad("bytesValue must be a string"))?;
        Some(Value::BytesValue(
            unbase64(s).ok_or_else(|| bad("bytesValue must be base64"))?,
        ))
    } else {
        None
    };
    Ok(AnyValue { value })
}

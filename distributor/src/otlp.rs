//! `POST /otlp/v1/logs`: OTLP/HTTP logs (protobuf or JSON, optionally
//! gzip/deflate) turned into a Loki `PushRequest` the way Loki's default
//! `otlp_config` does:
//!
//! - each resource becomes one stream; the resource attributes Loki
//!   indexes by default ([`INDEXED_RESOURCE_ATTRIBUTES`]) become its
//!   labels, names normalised (`service.name` → `service_name`); a
//!   resource without `service.name` gets no `service_name` here: the
//!   distributor's service-name discovery adds it (from another indexed
//!   label such as `k8s_job_name`, else `unknown_service`), as in Loki;
//! - every other resource attribute, the scope's attributes, name
//!   (`scope_name`) and version (`scope_version`), and the record's
//!   attributes become structured metadata, map values flattened to
//!   `key_subkey`;
//! - the record keeps `severity_text`, `severity_number`, `trace_id` and
//!   `span_id` (lowercase hex), `flags` and `observed_timestamp` (ns) as
//!   structured metadata when set;
//! - the line is the body as a string (maps and arrays as JSON); the
//!   timestamp is `time_unix_nano`, else the observed time, else now.

mod json;
mod value;

use std::collections::BTreeMap;

use bytes::Bytes;
use prost::Message;
use sluice_logql::labels::Labels;
use sluice_proto::logproto::{
    EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};
use sluice_proto::otlp::{ExportLogsServiceRequest, KeyValue, LogRecord};

use crate::error::PushError;
use value::{as_string, flatten, hex, normalize};

/// Resource attributes Loki turns into stream labels by default.
pub const INDEXED_RESOURCE_ATTRIBUTES: &[&str] = &[
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// Decodes an OTLP/HTTP logs body into a push. `max_decompressed` bounds
/// the body after decompression (413 beyond it).
pub fn decode_otlp(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: Bytes,
    max_decompressed: usize,
    now_ns: i64,
) -> Result<PushRequest, PushError> {
    let body = match content_encoding.unwrap_or("").trim() {
        "" | "identity" => body,
        "gzip" | "x-gzip" => crate::decode::inflate(
            flate2::read::GzDecoder::new(&body[..]),
            "gzip",
            max_decompressed,
            &body,
        )?,
        "deflate" => crate::decode::inflate(
            flate2::read::DeflateDecoder::new(&body[..]),
            "flate",
            max_decompressed,
            &body,
        )?,
        other => return Err(PushError::UnsupportedEncoding(other.to_string())),
    };
    if body.len() > max_decompressed {
        return Err(PushError::BodyTooLarge {
            size: body.len(),
            limit: max_decompressed,
        });
    }
    let media = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let req = match media.as_str() {
        "application/json" => json::decode(&body)?,
        "" | "application/x-protobuf" | "application/protobuf" => {
            ExportLogsServiceRequest::decode(body)
                .map_err(|e| PushError::Protobuf(format!("failed to parse OTLP logs: {e}")))?
        }
        other => {
            return Err(PushError::InvalidContentType(format!(
            "unsupported content type {other:?}: send application/x-protobuf or application/json"
        )))
        }
    };
    Ok(to_push(req, now_ns))
}

/// Loki's mapping of an OTLP request onto streams and entries.
pub fn to_push(req: ExportLogsServiceRequest, now_ns: i64) -> PushRequest {
    // resources with equal labels share a stream
    let mut streams: BTreeMap<String, Vec<EntryAdapter>> = BTreeMap::new();
    for rl in req.resource_logs {
        let attrs = rl.resource.map(|r| r.attributes).unwrap_or_default();
        let (labels, resource_md) = split_resource(&attrs);
        let entries = streams.entry(labels).or_default();
        for sl in rl.scope_logs {
            let mut scope_md = resource_md.clone();
            if let Some(scope) = &sl.scope {
                push_attrs(&mut scope_md, &scope.attributes);
                if !scope.name.is_empty() {
                    scope_md.push(("scope_name".into(), scope.name.clone()));
                }
                if !scope.version.is_empty() {
                    scope_md.push(("scope_version".into(), scope.version.clone()));
                }
            }
            for rec in sl.log_records {
                entries.push(entry(rec, &scope_md, now_ns));
            }
        }
    }
    PushRequest {
        streams: streams
            .into_iter()
            .filter(|(_, e)| !e.is_empty())
            .map(|(labels, entries)| StreamAdapter {
                labels,
                entries,
                hash: 0,
            })
            .collect(),
    }
}

/// The stream label string and the structured metadata of a resource.
fn split_resource(attrs: &[KeyValue]) -> (String, Vec<(String, String)>) {
    let mut labels = Vec::new();
    let mut md = Vec::new();
    for kv in attrs {
        if INDEXED_RESOURCE_ATTRIBUTES.contains(&kv.key.as_str()) {
            if let Some(v) = &kv.value {
                labels.push((normalize(&kv.key), as_string(v)));
            }
        } else {
            push_attrs(&mut md, std::slice::from_ref(kv));
        }
    }
    labels.retain(|(_, v)| !v.is_empty());
    (Labels::new(labels).to_string(), md)
}

fn push_attrs(out: &mut Vec<(String, String)>, attrs: &[KeyValue]) {
    for kv in attrs {
        if let Some(v) = &kv.value {
            flatten(&kv.key, v, out);
        }
    }
}

fn entry(rec: LogRecord, shared_md: &[(String, String)], now_ns: i64) -> EntryAdapter {
    let ts = match (rec.time_unix_nano, rec.observed_time_unix_nano) {
        (t, _) if t > 0 => t as i64,
        (_, o) if o > 0 => o as i64,
        _ => now_ns,
    };
    let mut md = shared_md.to_vec();
    push_attrs(&mut md, &rec.attributes);
    if !rec.severity_text.is_empty() {
        md.push(("severity_text".into(), rec.severity_text.clone()));
    }
    if rec.severity_number != 0 {
        md.push(("severity_number".into(), rec.severity_number.to_string()));
    }
    if rec.trace_id.iter().any(|b| *b != 0) {
        md.push(("trace_id".into(), hex(&rec.trace_id)));
    }
    if rec.span_id.iter().any(|b| *b != 0) {
        md.push(("span_id".into(), hex(&rec.span_id)));
    }
    if rec.flags != 0 {
        md.push(("flags".into(), rec.flags.to_string()));
    }
    if rec.observed_time_unix_nano > 0 {
        md.push((
            "observed_timestamp".into(),
            rec.observed_time_unix_nano.to_string(),
        ));
    }
    if rec.dropped_attributes_count != 0 {
        md.push((
            "dropped_attributes_count".into(),
            rec.dropped_attributes_count.to_string(),
        ));
    }
    md.retain(|(_, v)| !v.is_empty());
    EntryAdapter {
        timestamp: Some(Timestamp::from_unix_nanos(ts)),
        line: rec.body.as_ref().map(as_string).unwrap_or_default().into(),
        structured_metadata: md
            .into_iter()
            .map(|(name, value)| LabelPairAdapter::new(name, value))
            .collect(),
        parsed: vec![],
    }
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;

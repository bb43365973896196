//! Wire types shared by every Sluice service. Depends on nothing of ours.
//!
//! `otlp` holds the OpenTelemetry logs messages `POST /otlp/v1/logs` takes.
//!
//! `logproto` mirrors the messages of Loki's `pkg/push/push.proto`
//! field-for-field, so a snappy-compressed `PushRequest` from Promtail,
//! Alloy or any Loki client decodes here unchanged. Field numbers are part
//! of the wire contract: never reuse or renumber one.
//!
//! The messages are declared with `prost` derives rather than generated
//! from `.proto` files: that keeps the build free of `protoc`, and lets
//! `line` be a zero-copy `Bytes` slice of the request body (a protobuf
//! `string` and `bytes` field share one wire encoding).

pub mod logproto;
pub mod otlp;
pub mod service;

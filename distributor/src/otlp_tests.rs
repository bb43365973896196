#![allow(clippy::unwrap_used)]

use prost::Message;
use sluice_proto::otlp::any_value::Value;
use sluice_proto::otlp::*;

use super::*;

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn sample() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s("checkout")),
                    kv("k8s.namespace.name", s("shop")),
                    kv("host.name", s("node-1")),
                    kv("process.pid", Value::IntValue(42)),
                ],
                dropped_attributes_count: 0,
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "app.logger".into(),
                    version: "1.2".into(),
                    attributes: vec![],
                    dropped_attributes_count: 0,
                }),
                log_records: vec![
                    LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_001,
                        observed_time_unix_nano: 1_700_000_000_000_000_009,
                        severity_number: 17,
                        severity_text: "ERROR".into(),
                        body: Some(AnyValue {
                            value: Some(s("payment failed")),
                        }),
                        attributes: vec![
                            kv("http.status_code", Value::IntValue(502)),
                            kv(
                                "user",
                                Value::KvlistValue(KeyValueList {
                                    values: vec![
                                        kv("id", s("u1")),
                                        kv("vip", Value::BoolValue(true)),
                                    ],
                                }),
                            ),
                        ],
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08],
                        flags: 1,
                        ..Default::default()
                    },
                    LogRecord {
                        observed_time_unix_nano: 1_700_000_000_000_000_100,
                        body: Some(AnyValue {
                            value: Some(Value::KvlistValue(KeyValueList {
                                values: vec![kv("b", Value::IntValue(2)), kv("a", s("x"))],
                            })),
                        }),
                        ..Default::default()
                    },
                ],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn md(e: &EntryAdapter) -> Vec<(String, String)> {
    e.structured_metadata
        .iter()
        .map(|m| (m.name.to_string(), m.value.to_string()))
        .collect()
}

#[test]
fn maps_resources_scopes_and_records_like_loki() {
    let push = to_push(sample(), 5);
    assert_eq!(push.streams.len(), 1);
    let st = &push.streams[0];
    assert_eq!(
        st.labels,
        r#"{k8s_namespace_name="shop", service_name="checkout"}"#
    );
    assert_eq!(st.entries.len(), 2);
    let e = &st.entries[0];
    assert_eq!(e.timestamp.unwrap().unix_nanos(), 1_700_000_000_000_000_001);
    assert_eq!(&e.line[..], b"payment failed");
    let want: Vec<(String, String)> = [
        ("host_name", "node-1"),
        ("process_pid", "42"),
        ("scope_name", "app.logger"),
        ("scope_version", "1.2"),
        ("http_status_code", "502"),
        ("user_id", "u1"),
        ("user_vip", "true"),
        ("severity_text", "ERROR"),
        ("severity_number", "17"),
        ("trace_id", "abababababababababababababababab"),
        ("span_id", "0102030405060708"),
        ("flags", "1"),
        ("observed_timestamp", "1700000000000000009"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(md(e), want);
    // no time: the observed time; a map body is JSON
    let e = &st.entries[1];
    assert_eq!(e.timestamp.unwrap().unix_nanos(), 1_700_000_000_000_000_100);
    assert_eq!(&e.line[..], br#"{"a":"x","b":2}"#);
}

#[test]
fn no_service_name_added_when_missing() {
    // discovery (distributor) adds `service_name`, not the OTLP mapping
    let mut req = sample();
    req.resource_logs[0].resource = None;
    let push = to_push(req, 7);
    assert_eq!(push.streams[0].labels, "{}");
}

#[test]
fn protobuf_and_json_decode_the_same() {
    let body = Bytes::from(sample().encode_to_vec());
    let from_proto = decode_otlp(Some("application/x-protobuf"), None, body, 1 << 20, 0).unwrap();
    let json = serde_json::json!({"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "checkout"}},
            {"key": "k8s.namespace.name", "value": {"stringValue": "shop"}},
            {"key": "host.name", "value": {"stringValue": "node-1"}},
            {"key": "process.pid", "value": {"intValue": "42"}},
        ]},
        "scopeLogs": [{
            "scope": {"name": "app.logger", "version": "1.2"},
            "logRecords": [
                {
                    "timeUnixNano": "1700000000000000001",
                    "observedTimeUnixNano": 1700000000000000009u64,
                    "severityNumber": "SEVERITY_NUMBER_ERROR",
                    "severityText": "ERROR",
                    "body": {"stringValue": "payment failed"},
                    "attributes": [
                        {"key": "http.status_code", "value": {"intValue": 502}},
                        {"key": "user", "value": {"kvlistValue": {"values": [
                            {"key": "id", "value": {"stringValue": "u1"}},
                            {"key": "vip", "value": {"boolValue": true}},
                        ]}}},
                    ],
                    "traceId": "ABABABABABABABABABABABABABABABAB",
                    "spanId": "0102030405060708",
                    "flags": 1,
                },
                {
                    "observedTimeUnixNano": "1700000000000000100",
                    "body": {"kvlistValue": {"values": [
                        {"key": "b", "value": {"intValue": "2"}},
                        {"key": "a", "value": {"stringValue": "x"}},
                    ]}},
                },
            ],
        }],
    }]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, json.to_string().as_bytes()).unwrap();
    let from_json = decode_otlp(
        Some("application/json; charset=utf-8"),
        Some("gzip"),
        Bytes::from(gz.finish().unwrap()),
        1 << 20,
        0,
    )
    .unwrap();
    assert_eq!(from_json, from_proto);
}

#[test]
fn refuses_bad_bodies() {
    let e = decode_otlp(
        Some("application/json"),
        None,
        Bytes::from_static(b"{"),
        1 << 20,
        0,
    )
    .unwrap_err();
    assert_eq!(e.status(), 400);
    let e = decode_otlp(None, None, Bytes::from_static(b"\xff\xff"), 1 << 20, 0).unwrap_err();
    assert_eq!(e.status(), 400);
    let e = decode_otlp(Some("text/plain"), None, Bytes::new(), 1 << 20, 0).unwrap_err();
    assert!(e.to_string().contains("unsupported content type"), "{e}");
    let e = decode_otlp(
        Some("application/json"),
        Some("br"),
        Bytes::new(),
        1 << 20,
        0,
    )
    .unwrap_err();
    assert_eq!(e.status(), 400);
}

#[test]
fn values_and_names() {
    use super::value::*;
    assert_eq!(normalize("k8s.pod.name"), "k8s_pod_name");
    assert_eq!(normalize("1abc-x"), "key_1abc_x");
    assert_eq!(base64(b"hello!?"), "aGVsbG8hPw==");
    assert_eq!(unbase64("aGVsbG8hPw==").unwrap(), b"hello!?");
    assert_eq!(unhex("0aFf").unwrap(), vec![0x0a, 0xff]);
    assert_eq!(unhex("abc"), None);
    let d = AnyValue {
        value: Some(Value::DoubleValue(1.5)),
    };
    assert_eq!(as_string(&d), "1.5");
}

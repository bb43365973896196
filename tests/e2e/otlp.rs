//! OTLP/HTTP logs (protobuf and JSON) pushed into the real binary and read
//! back through the query API.

use prost::Message;
use sluice_proto::otlp::any_value::Value;
use sluice_proto::otlp::*;

use super::harness::*;

const NS: i64 = 1_000_000_000;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
    }
}

#[test]
fn otlp_protobuf_and_json_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let base = now_ns() - 60 * NS;
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout"),
                    kv("k8s.namespace.name", "shop"),
                    kv("host.name", "node-1"),
                ],
                dropped_attributes_count: 0,
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "checkout.http".into(),
                    ..Default::default()
                }),
                log_records: (0..10)
                    .map(|i| LogRecord {
                        time_unix_nano: (base + i * NS) as u64,
                        severity_number: 9,
                        severity_text: "INFO".into(),
                        body: Some(AnyValue {
                            value: Some(Value::StringValue(format!("order {i} placed"))),
                        }),
                        attributes: vec![kv("order.id", &format!("o{i}"))],
                        trace_id: vec![i as u8 + 1; 16],
                        span_id: vec![7; 8],
                        ..Default::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let r = s
        .client
        .post(format!("{}/otlp/v1/logs", s.url))
        .header("Content-Type", "application/x-protobuf")
        .body(req.encode_to_vec())
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());

    let json = serde_json::json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
        "scopeLogs": [{"logRecords": [{
            "timeUnixNano": (base + 30 * NS).to_string(),
            "severityText": "WARN",
            "severityNumber": 13,
            "body": {"stringValue": "cart nearly full"},
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
        }]}],
    }]});
    let r = s
        .client
        .post(format!("{}/otlp/v1/logs", s.url))
        .header("Content-Type", "application/json")
        .body(json.to_string())
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());

    let range = vec![
        ("start", (base - NS).to_string()),
        ("end", now_ns().to_string()),
    ];
    let v = s.get_json("/loki/api/v1/labels", &range);
    assert_eq!(
        v["data"],
        serde_json::json!(["k8s_namespace_name", "service_name"])
    );

    let mut p = range.clone();
    p.push((
        "query",
        r#"{service_name="checkout"} | severity_text="INFO""#.into(),
    ));
    p.push(("direction", "forward".into()));
    let r = s
        .client
        .get(format!("{}/loki/api/v1/query_range", s.url))
        .query(&p)
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .send()
        .unwrap();
    let v: serde_json::Value = r.json().unwrap();
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1);
    assert_eq!(
        result[0]["stream"],
        serde_json::json!({"k8s_namespace_name": "shop", "service_name": "checkout"})
    );
    let values = result[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 10);
    for (i, e) in values.iter().enumerate() {
        assert_eq!(e[0], (base + i as i64 * NS).to_string());
        assert_eq!(e[1], format!("order {i} placed"));
        let md = &e[2]["structuredMetadata"];
        assert_eq!(md["host_name"], "node-1");
        assert_eq!(md["scope_name"], "checkout.http");
        assert_eq!(md["order_id"], format!("o{i}"));
        assert_eq!(md["severity_number"], "9");
        assert_eq!(md["trace_id"], format!("{:02x}", i + 1).repeat(16));
        assert_eq!(md["span_id"], "0707070707070707");
    }

    // the JSON push: found by trace id
    let mut p = range;
    p.push((
        "query",
        r#"{service_name=~".+"} | trace_id="5b8efff798038103d269b633813fc60c""#.into(),
    ));
    let v = s.get_json("/loki/api/v1/query_range", &p);
    let got = entries_of(&v);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, "cart nearly full");
    assert!(got[0].0.contains("service_name=cart"));
    assert!(got[0].0.contains("severity_text=WARN"));
    assert!(got[0].0.contains("span_id=eee19b7ec3c1b174"));

    // a malformed body is a 400 with a reason
    let r = s
        .client
        .post(format!("{}/otlp/v1/logs", s.url))
        .header("Content-Type", "application/json")
        .body("{\"resourceLogs\": 3}")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("resourceLogs must be an array"));
}

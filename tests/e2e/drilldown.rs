//! Logs Drilldown's resource calls (RFC3339 times, as it sends them) and
//! `format_query`, against the real binary.

use super::harness::*;

const NS: i64 = 1_000_000_000;

fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(NS);
    let ms = ns.rem_euclid(NS) / 1_000_000;
    // civil-from-days (Howard Hinnant), enough for test timestamps
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

fn seed(s: &Server, base: i64) {
    let mut streams = Vec::new();
    for (svc, n, level) in [
        ("checkout", 40, "info"),
        ("checkout", 10, "error"),
        ("cart", 20, "info"),
    ] {
        let values: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let ts = (base + i as i64 * NS).to_string();
                let line = format!(
                    "level={level} status={} took={}ms user=u{}",
                    200 + i % 2,
                    i,
                    i % 4
                );
                serde_json::json!([ts, line, {"trace_id": format!("t{i}")}])
            })
            .collect();
        streams.push(serde_json::json!({
            "stream": {"service_name": svc, "level": level, "cluster": "eu"},
            "values": values,
        }));
    }
    let r = s.push_json(&serde_json::json!({ "streams": streams }));
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap());
}

#[test]
fn drilldown_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let now = now_ns();
    seed(&s, now - 120 * NS);
    let range = vec![
        ("start", rfc3339(now - 3600 * NS)),
        ("end", rfc3339(now + NS)),
    ];
    let with = |extra: &[(&'static str, &str)]| {
        let mut p = range.clone();
        p.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        p
    };

    let v = s.get_json("/loki/api/v1/drilldown-limits", &[]);
    assert_eq!(v["limits"]["volume_enabled"], true);
    assert!(v["pattern_ingester_enabled"].is_boolean());
    assert!(v["version"].is_string());

    // service selection: top services by volume
    let v = s.get_json(
        "/loki/api/v1/index/volume",
        &with(&[("query", r#"{service_name=~".+"}"#), ("limit", "5000")]),
    );
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    assert_eq!(
        result[0]["metric"],
        serde_json::json!({"service_name": "checkout"})
    );
    assert_eq!(
        result[1]["metric"],
        serde_json::json!({"service_name": "cart"})
    );
    let bytes: u64 = result[1]["value"][1].as_str().unwrap().parse().unwrap();
    let want: usize = (0..20)
        .map(|i| {
            format!(
                "level=info status={} took={}ms user=u{}",
                200 + i % 2,
                i,
                i % 4
            )
            .len()
        })
        .sum();
    assert_eq!(bytes as usize, want);
    assert!(result[0]["value"][0].is_number());

    // by target labels, over time
    let v = s.get_json(
        "/loki/api/v1/index/volume_range",
        &with(&[
            ("query", r#"{service_name="checkout"}"#),
            ("targetLabels", "level"),
            ("step", "60s"),
        ]),
    );
    assert_eq!(v["data"]["resultType"], "matrix");
    let levels: Vec<&str> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"]["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["info", "error"], "largest first");

    // aggregateBy=labels: one element per label name, `{"<name>": ""}`
    let v = s.get_json(
        "/loki/api/v1/index/volume",
        &with(&[
            ("query", r#"{service_name=~".+"}"#),
            ("aggregateBy", "labels"),
        ]),
    );
    let result = v["data"]["result"].as_array().unwrap();
    let names: Vec<&serde_json::Value> = result.iter().map(|r| &r["metric"]).collect();
    assert_eq!(
        names,
        [
            &serde_json::json!({"cluster": ""}),
            &serde_json::json!({"level": ""}),
            &serde_json::json!({"service_name": ""}),
        ],
        "equal volumes, ordered by name"
    );
    assert_eq!(result[0]["value"][1], result[2]["value"][1]);
    let (code, _) = s.get(
        "/loki/api/v1/index/volume",
        &with(&[("query", "{cluster=\"eu\"}"), ("aggregateBy", "streams")]),
    );
    assert_eq!(code, 400);

    // labels tab: an empty query means every stream
    let v = s.get_json("/loki/api/v1/detected_labels", &with(&[("query", "")]));
    assert_eq!(
        v["detectedLabels"],
        serde_json::json!([
            {"label": "cluster", "cardinality": 1},
            {"label": "level", "cardinality": 2},
            {"label": "service_name", "cardinality": 2},
        ])
    );

    // fields tab
    let q = r#"{service_name="checkout"}"#;
    let v = s.get_json("/loki/api/v1/detected_fields", &with(&[("query", q)]));
    assert_eq!(v["limit"], 1000);
    let fields: std::collections::BTreeMap<String, serde_json::Value> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["label"].as_str().unwrap().to_string(), f.clone()))
        .collect();
    assert_eq!(
        fields["status"],
        serde_json::json!({"label": "status", "type": "int", "cardinality": 2, "parsers": ["logfmt"]})
    );
    assert_eq!(fields["took"]["type"], "duration");
    assert_eq!(fields["user"]["cardinality"], 4);
    assert_eq!(fields["trace_id"]["parsers"], serde_json::Value::Null);
    assert_eq!(fields["trace_id"]["cardinality"], 40);

    // the form Drilldown sends once parsers are known
    let v = s.get_json(
        "/loki/api/v1/detected_fields",
        &with(&[(
            "query",
            r#"{service_name="checkout"} | logfmt | drop __error__, __error_details__ | status="201""#,
        )]),
    );
    let status = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "status")
        .unwrap();
    assert_eq!(status["cardinality"], 1);

    let v = s.get_json(
        "/loki/api/v1/detected_field/user/values",
        &with(&[("query", q)]),
    );
    assert_eq!(v["values"], serde_json::json!(["u0", "u1", "u2", "u3"]));

    // patterns tab
    let v = s.get_json(
        "/loki/api/v1/patterns",
        &with(&[("query", q), ("step", "30s")]),
    );
    assert_eq!(v["status"], "success");
    let pats = v["data"].as_array().unwrap();
    assert!(!pats.is_empty());
    let total: u64 = pats
        .iter()
        .flat_map(|p| p["samples"].as_array().unwrap().iter())
        .map(|s| {
            assert!(s[0].is_i64());
            s[1].as_u64().unwrap()
        })
        .sum();
    assert_eq!(total, 50);
    let first = &pats[0];
    assert_eq!(first["pattern"], "level=info status=<_> took=<_> user=<_>");
    assert_eq!(first["level"], "info");
    // the pattern works as a LogQL pattern filter
    let v = s.get_json(
        "/loki/api/v1/query_range",
        &with(&[
            (
                "query",
                r#"{service_name="checkout"} |> "level=info status=<_> took=<_> user=<_>""#,
            ),
            ("limit", "1000"),
        ]),
    );
    assert_eq!(entries_of(&v).len(), 40);
}

#[test]
fn format_query_and_stream_shards() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let v = s.get_json(
        "/loki/api/v1/format_query",
        &[("query", r#"sum(rate({app="a"}|="x"[5m]))by(app)"#.into())],
    );
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"], r#"sum by (app)(rate({app="a"} |= "x"[5m]))"#);
    let (status, body) = s.get("/loki/api/v1/format_query", &[("query", "{app=".into())]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("parse error"));
}

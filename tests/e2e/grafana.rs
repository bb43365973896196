//! Grafana's request sequences (see shared/reference/grafana-contract.md)
//! replayed against the real binary: Save & test, Explore with the logs
//! volume beside it, the label browser, a metric graph, the
//! categorize-labels form, and live tail.

use std::time::Duration;

use super::harness::*;
use super::tail_client::{self, TailEnd};

const CATEGORIZE: (&str, &str) = ("X-Loki-Response-Encoding-Flags", "categorize-labels");
const NS: i64 = 1_000_000_000;

/// Pushes three streams over the last `minutes`, one entry a second.
/// Returns the number of entries per stream.
fn seed(s: &Server, base: i64, n: usize) {
    let mut streams = Vec::new();
    for (app, level) in [("shop", "info"), ("shop", "error"), ("db", "info")] {
        let values: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let ts = (base + i as i64 * NS).to_string();
                let line = format!("level={level} app={app} seq={i} status={}", 200 + i % 3);
                if app == "db" {
                    serde_json::json!([ts, line, {"trace_id": format!("t{i}")}])
                } else {
                    serde_json::json!([ts, line])
                }
            })
            .collect();
        streams.push(serde_json::json!({
            "stream": {"app": app, "level": level, "service_name": app},
            "values": values,
        }));
    }
    let r = s.push_json(&serde_json::json!({ "streams": streams }));
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap());
}

fn get_with(
    s: &Server,
    path: &str,
    params: &[(&str, String)],
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut rb = s.client.get(format!("{}{}", s.url, path)).query(params);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().unwrap())
}

#[test]
fn save_and_test_health_check() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let (status, _, body) = get_with(
        &s,
        "/loki/api/v1/query",
        &[
            ("direction", "backward".into()),
            ("query", "vector(1)+vector(1)".into()),
            ("time", "4000000000".into()),
        ],
        &[CATEGORIZE],
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success");
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "exactly one frame: {v}");
    let value = match v["data"]["resultType"].as_str().unwrap() {
        "vector" => &result[0]["value"],
        "scalar" => &v["data"]["result"],
        other => panic!("unexpected result type {other}"),
    };
    assert_eq!(value[0].as_f64(), Some(4_000_000_000.0));
    assert_eq!(value[1], "2", "the value is the string \"2\"");
}

#[test]
fn explore_log_query_with_logs_volume() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let end = now_ns();
    let base = end - 600 * NS;
    seed(&s, base, 300);
    let range = [
        ("start", (end - 3600 * NS).to_string()),
        ("end", end.to_string()),
    ];

    // the log query, as the backend sends it for Explore
    let mut p = vec![
        ("direction", "backward".to_string()),
        ("limit", "1000".into()),
        ("query", r#"{app="shop"}"#.into()),
        ("step", "2000ms".into()),
    ];
    p.extend(range.iter().cloned());
    let (status, _, body) = get_with(&s, "/loki/api/v1/query_range", &p, &[CATEGORIZE]);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["resultType"], "streams");
    assert_eq!(
        v["data"]["encodingFlags"],
        serde_json::json!(["categorize-labels"])
    );
    let n: usize = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(n, 600);
    assert!(v["data"]["stats"]["summary"]["execTime"].is_number());

    // the logs volume query beside it (X-Query-Tags: Source=logvolhist)
    let mut p = vec![
        (
            "query",
            r#"sum by (level, detected_level) (count_over_time({app="shop"} | drop __error__ [1m]))"#
                .to_string(),
        ),
        ("step", "60000ms".into()),
        ("direction", "backward".into()),
        ("limit", "1000".into()),
    ];
    p.extend(range.iter().cloned());
    let (status, _, body) = get_with(
        &s,
        "/loki/api/v1/query_range",
        &p,
        &[CATEGORIZE, ("X-Query-Tags", "Source=logvolhist")],
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["resultType"], "matrix");
    let mut levels: Vec<(String, f64)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let total: f64 = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    assert!(p[0].is_number());
                    p[1].as_str().unwrap().parse::<f64>().unwrap()
                })
                .sum();
            (s["metric"]["level"].as_str().unwrap().to_string(), total)
        })
        .collect();
    levels.sort_by(|a, b| a.0.cmp(&b.0));
    // each entry is counted in the one-minute windows of the steps it falls in
    assert_eq!(
        levels.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(),
        ["error", "info"]
    );
    for (_, total) in &levels {
        assert!(*total >= 300.0, "{levels:?}");
    }
}

#[test]
fn label_browser_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let end = now_ns();
    seed(&s, end - 60 * NS, 10);
    let range = vec![
        ("start", (end - 3600 * NS).to_string()),
        ("end", (end + NS).to_string()),
    ];
    let v = s.get_json("/loki/api/v1/labels", &range);
    assert_eq!(v["status"], "success");
    assert_eq!(
        v["data"],
        serde_json::json!(["app", "level", "service_name"])
    );

    let v = s.get_json("/loki/api/v1/label/app/values", &range);
    assert_eq!(v["data"], serde_json::json!(["db", "shop"]));
    let mut p = range.clone();
    p.push(("query", r#"{app="shop"}"#.into()));
    let v = s.get_json("/loki/api/v1/label/level/values", &p);
    assert_eq!(v["data"], serde_json::json!(["error", "info"]));

    let mut p = range.clone();
    p.push(("match[]", r#"{app="shop"}"#.into()));
    let v = s.get_json("/loki/api/v1/series", &p);
    let mut series: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(label_string)
        .collect();
    series.sort();
    assert_eq!(
        series,
        [
            "app=shop,level=error,service_name=shop",
            "app=shop,level=info,service_name=shop"
        ]
    );

    // shard splitting asks for __stream_shard__ values first: none here
    let mut p = range.clone();
    p.push(("query", r#"{app="shop"}"#.into()));
    let v = s.get_json("/loki/api/v1/label/__stream_shard__/values", &p);
    assert_eq!(v["data"], serde_json::json!([]));

    // the "will process approximately" hint: unwrapped numbers
    let mut p = range;
    p.push(("query", r#"{app="shop"}"#.into()));
    let v = s.get_json("/loki/api/v1/index/stats", &p);
    assert_eq!(v["streams"], 2);
    assert_eq!(v["entries"], 20);
    assert!(v["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn metric_query_with_millisecond_step() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let end = now_ns() / NS * NS;
    seed(&s, end - 300 * NS, 300);
    let start_t = end - 600 * NS;
    let (status, _, body) = get_with(
        &s,
        "/loki/api/v1/query_range",
        &[
            ("direction", "backward".into()),
            ("limit", "1000".into()),
            (
                "query",
                r#"sum by (level) (count_over_time({app="shop"}[1m]))"#.into(),
            ),
            ("start", start_t.to_string()),
            ("end", end.to_string()),
            ("step", "15000ms".into()),
        ],
        &[CATEGORIZE],
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["resultType"], "matrix");
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    for series in result {
        let pts = series["values"].as_array().unwrap();
        let ts: Vec<f64> = pts.iter().map(|p| p[0].as_f64().unwrap()).collect();
        for w in ts.windows(2) {
            assert_eq!(w[1] - w[0], 15.0, "15s apart");
        }
        assert!(*ts.last().unwrap() <= (end / NS) as f64);
        // a full minute of one-per-second entries counts 60
        let max: f64 = pts
            .iter()
            .map(|p| p[1].as_str().unwrap().parse::<f64>().unwrap())
            .fold(0.0, f64::max);
        assert_eq!(max, 60.0, "{series}");
    }
}

#[test]
fn categorize_labels_shape() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let end = now_ns();
    seed(&s, end - 60 * NS, 5);
    let params = [
        ("query", r#"{app="db"} | logfmt"#.to_string()),
        ("start", (end - 3600 * NS).to_string()),
        ("end", (end + NS).to_string()),
        ("limit", "1000".into()),
        ("direction", "backward".into()),
    ];
    let (_, _, body) = get_with(&s, "/loki/api/v1/query_range", &params, &[CATEGORIZE]);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["data"]["encodingFlags"],
        serde_json::json!(["categorize-labels"])
    );
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "grouped by indexed labels only");
    assert_eq!(
        result[0]["stream"],
        serde_json::json!({"app": "db", "level": "info", "service_name": "db"})
    );
    let values = result[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 5);
    for e in values {
        let e = e.as_array().unwrap();
        assert_eq!(e.len(), 3);
        assert!(e[2]["structuredMetadata"]["trace_id"].is_string());
        // a parsed label clashing with a stream label gets `_extracted`
        assert_eq!(e[2]["parsed"]["app_extracted"], "db");
        assert!(e[2]["parsed"]["seq"].is_string());
    }

    // without the header: 2-element values, every label in `stream`, no flag
    let (_, _, body) = get_with(&s, "/loki/api/v1/query_range", &params, &[]);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["data"].get("encodingFlags").is_none());
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 5);
    for st in result {
        assert!(st["stream"]["trace_id"].is_string());
        assert!(st["stream"]["seq"].is_string());
        assert_eq!(st["values"][0].as_array().unwrap().len(), 2);
    }
}

#[test]
fn live_tail_backfill_then_live_entries() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");

    // a bad query is refused before the upgrade, in plain text
    let (status, ct, body) = get_with(
        &s,
        "/loki/api/v1/tail",
        &[("query", r#"{app="shop""#.into())],
        &[],
    );
    assert_eq!(status, 400);
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert!(body.contains("parse error"), "{body}");

    // also when the request is a real WebSocket upgrade
    let url = format!(
        "{}/loki/api/v1/tail?query={}",
        s.url.replacen("http://", "ws://", 1),
        tail_client::urlencode("count_over_time({app=\"shop\"}[1m])")
    );
    match tungstenite::connect(url) {
        Err(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 400);
            let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or(b"")).to_string();
            assert!(body.contains("only supported for log queries"), "{body}");
        }
        other => panic!(
            "expected a 400 before the upgrade, got {:?}",
            other.map(|r| r.1)
        ),
    }

    let now = now_ns();
    seed(&s, now - 30 * NS, 20);

    // Grafana sends only `query`; back-fill is the last 100 since now-1h
    let query = r#"{app="shop"} |= "level=error""#;
    let mut tail = tail_client::connect(&s.url, query, &[], &[]);
    let backfill = tail.entries(20, Duration::from_secs(20));
    assert!(backfill.iter().all(|e| e.2.contains("level=error")));
    let ts: Vec<i64> = backfill.iter().map(|e| e.1).collect();
    let mut sorted = ts.clone();
    sorted.sort();
    assert_eq!(ts, sorted, "back-fill is sent oldest first");

    // entries pushed after connecting arrive; the pipeline filters them
    let live_base = now_ns();
    let r = s.push_json(&serde_json::json!({"streams": [
        {"stream": {"app": "shop", "level": "error"}, "values": (0..250).map(|i| {
            let line = if i % 2 == 0 { format!("level=error live={i}") } else { format!("level=warn live={i}") };
            serde_json::json!([(live_base + i as i64).to_string(), line])
        }).collect::<Vec<_>>()},
        {"stream": {"app": "other"}, "values": [[live_base.to_string(), "level=error elsewhere"]]},
    ]}));
    assert_eq!(r.status().as_u16(), 204);
    let live = tail.entries(125, Duration::from_secs(20));
    assert_eq!(live.len(), 125);
    for (i, e) in live.iter().enumerate() {
        assert_eq!(e.0, "app=shop,level=error");
        assert_eq!(e.1, live_base + 2 * i as i64);
        assert_eq!(e.2, format!("level=error live={}", 2 * i));
    }
    // nothing else comes: pings only
    match tail.next_frame(Duration::from_millis(1500)) {
        Err(TailEnd::Timeout) => {}
        other => panic!("unexpected {other:?}"),
    }
    tail.close();
}

#[test]
fn live_tail_categorized_with_limit_and_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let now = now_ns();
    seed(&s, now - 30 * NS, 20);
    let mut tail = tail_client::connect(
        &s.url,
        r#"{app="db"} | logfmt | seq > 10"#,
        &[
            ("limit", "3".into()),
            ("start", (now - 3600 * NS).to_string()),
        ],
        &[CATEGORIZE],
    );
    let f = tail.next_frame(Duration::from_secs(10)).unwrap();
    assert_eq!(f["encodingFlags"], serde_json::json!(["categorize-labels"]));
    let streams = f["streams"].as_array().unwrap();
    // the newest three that pass the filter
    assert_eq!(streams.len(), 3);
    let seqs: Vec<&str> = streams
        .iter()
        .map(|s| s["values"][0][2]["parsed"]["seq"].as_str().unwrap())
        .collect();
    assert_eq!(seqs, ["17", "18", "19"]);
    for st in streams {
        assert_eq!(
            st["stream"],
            serde_json::json!({"app": "db", "level": "info", "service_name": "db"})
        );
        assert!(st["values"][0][2]["structuredMetadata"]["trace_id"].is_string());
    }
    tail.close();
}

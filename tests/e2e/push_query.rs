//! Push by protobuf and JSON, read back through the query API.

use std::collections::BTreeSet;

use super::harness::*;

const STREAMS: usize = 100;
const PER_STREAM: usize = 1000;

#[test]
fn push_100k_by_protobuf_and_json_and_query_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let base = now_ns() - 3_600_000_000_000 / 2;

    // 50 streams by protobuf+snappy, 50 by JSON, 1000 entries each, in batches
    for chunk in (0..PER_STREAM).step_by(250) {
        let r = s.push_proto(&proto_batch(
            "proto",
            0..STREAMS / 2,
            chunk..chunk + 250,
            base,
        ));
        assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap());
        let req = proto_batch("json", STREAMS / 2..STREAMS, chunk..chunk + 250, base);
        let body = serde_json::json!({
            "streams": req.streams.iter().map(|st| {
                let labels: serde_json::Map<String, serde_json::Value> = parse_labels(&st.labels);
                serde_json::json!({
                    "stream": labels,
                    "values": st.entries.iter().map(|e| {
                        let ts = e.timestamp.unwrap().unix_nanos().to_string();
                        let line = String::from_utf8(e.line.to_vec()).unwrap();
                        if e.structured_metadata.is_empty() {
                            serde_json::json!([ts, line])
                        } else {
                            let md: serde_json::Map<String, serde_json::Value> = e.structured_metadata.iter()
                                .map(|m| (m.name.to_string(), serde_json::Value::String(m.value.to_string()))).collect();
                            serde_json::json!([ts, line, md])
                        }
                    }).collect::<Vec<_>>(),
                })
            }).collect::<Vec<_>>()
        });
        let r = s.push_json(&body);
        assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap());
    }

    let end = now_ns();
    // every entry comes back exactly once
    let all = s.all_entries(r#"{app="e2e"}"#, base, end);
    assert_eq!(all.len(), STREAMS * PER_STREAM);
    let expected: BTreeSet<(String, i64, String)> = (0..STREAMS)
        .flat_map(|st| {
            let via = if st < STREAMS / 2 { "proto" } else { "json" };
            (0..PER_STREAM).map(move |i| {
                (
                    entry_labels(via, st, i),
                    base + (i as i64) * 1_000_000 + st as i64,
                    line(st, i),
                )
            })
        })
        .collect();
    let got: BTreeSet<(String, i64, String)> = all.into_iter().collect();
    assert_eq!(got, expected);

    // one stream, forward and backward, with a limit: the oldest or newest 10
    for (dir, seqs) in [
        ("forward", 0..10),
        ("backward", PER_STREAM - 10..PER_STREAM),
    ] {
        let v = s.get_json(
            "/loki/api/v1/query_range",
            &[
                ("query", r#"{stream="s7"}"#.into()),
                ("start", base.to_string()),
                ("end", end.to_string()),
                ("limit", "10".into()),
                ("direction", dir.into()),
            ],
        );
        let mut got = entries_of(&v);
        got.sort();
        let mut want: Vec<_> = seqs
            .map(|i| {
                (
                    entry_labels("proto", 7, i),
                    base + (i as i64) * 1_000_000 + 7,
                    line(7, i),
                )
            })
            .collect();
        want.sort();
        assert_eq!(got, want, "{dir}");
        // within each returned stream, entries are ordered by direction
        for st in v["data"]["result"].as_array().unwrap() {
            let ts: Vec<i64> = st["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e[0].as_str().unwrap().parse().unwrap())
                .collect();
            let mut sorted = ts.clone();
            sorted.sort();
            if dir == "backward" {
                sorted.reverse();
            }
            assert_eq!(ts, sorted, "{dir} order");
        }
    }

    // limit across streams picks the newest entries overall
    let v = s.get_json(
        "/loki/api/v1/query_range",
        &[
            ("query", r#"{app="e2e"}"#.into()),
            ("start", base.to_string()),
            ("end", end.to_string()),
            ("limit", "5".into()),
        ],
    );
    let mut newest: Vec<i64> = expected.iter().map(|e| e.1).collect();
    newest.sort();
    let want: Vec<i64> = newest.iter().rev().take(5).copied().collect();
    let mut got: Vec<i64> = entries_of(&v).iter().map(|e| e.1).collect();
    got.sort();
    got.reverse();
    assert_eq!(got, want);

    // line filter and metric query
    let v = s.get_json(
        "/loki/api/v1/query",
        &[
            (
                "query",
                r#"sum by (via) (count_over_time({app="e2e"} |= "seq=99 " [2h]))"#.into(),
            ),
            ("time", end.to_string()),
        ],
    );
    let res = v["data"]["result"].as_array().unwrap();
    assert_eq!(res.len(), 2, "{v}");
    for r in res {
        assert_eq!(r["value"][1], "50", "{v}");
    }

    // labels, label values, series
    let v = s.get_json(
        "/loki/api/v1/labels",
        &[("start", base.to_string()), ("end", end.to_string())],
    );
    assert_eq!(v["data"], serde_json::json!(["app", "stream", "via"]));
    let v = s.get_json(
        "/loki/api/v1/label/via/values",
        &[("start", base.to_string()), ("end", end.to_string())],
    );
    assert_eq!(v["data"], serde_json::json!(["json", "proto"]));
    let v = s.get_json(
        "/loki/api/v1/series",
        &[
            ("match[]", r#"{stream="s3"}"#.into()),
            ("start", base.to_string()),
            ("end", end.to_string()),
        ],
    );
    assert_eq!(
        v["data"],
        serde_json::json!([{"app": "e2e", "stream": "s3", "via": "proto"}])
    );
    let v = s.get_json(
        "/loki/api/v1/index/stats",
        &[
            ("query", r#"{app="e2e"}"#.into()),
            ("start", base.to_string()),
            ("end", end.to_string()),
        ],
    );
    assert_eq!(v["streams"], 100);
    assert_eq!(v["entries"], 100_000);
}

fn parse_labels(s: &str) -> serde_json::Map<String, serde_json::Value> {
    s.trim_matches(|c| c == '{' || c == '}')
        .split(", ")
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (
                k.to_string(),
                serde_json::Value::String(v.trim_matches('"').to_string()),
            )
        })
        .collect()
}

#[test]
fn bad_input_gets_clear_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "server:\n  max_request_body_size: 1048576\n");
    let post = |ct: &str, enc: Option<&str>, body: Vec<u8>| {
        let mut r = s
            .client
            .post(format!("{}/loki/api/v1/push", s.url))
            .header("Content-Type", ct)
            .body(body);
        if let Some(e) = enc {
            r = r.header("Content-Encoding", e);
        }
        let r = r.send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    // not snappy
    let (st, body) = post(
        "application/x-protobuf",
        None,
        b"\x0a\xff\xff\xff\xff".to_vec(),
    );
    assert_eq!(st, 400, "{body}");
    // snappy of garbage protobuf
    let garbage = snap::raw::Encoder::new()
        .compress_vec(b"\x0a\xff\xff\xff\xff\x0f")
        .unwrap();
    let (st, body) = post("application/x-protobuf", None, garbage);
    assert_eq!(st, 400, "{body}");
    // malformed JSON
    let (st, body) = post("application/json", None, b"{\"streams\": [".to_vec());
    assert_eq!(st, 400, "{body}");
    // not gzip
    let (st, body) = post("application/json", Some("gzip"), b"plain".to_vec());
    assert_eq!(st, 400, "{body}");
    // too large, by its Content-Length: refused before the body is read
    {
        use std::io::{Read, Write};
        let addr = s.url.trim_start_matches("http://");
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        write!(
            c,
            "POST /loki/api/v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            2 << 20
        )
        .unwrap();
        let mut head = [0u8; 12];
        c.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 413", "{}", String::from_utf8_lossy(&head));
    }
    // too large once decompressed: a gzip bomb
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut bomb, &vec![b' '; 8 << 20]).unwrap();
    let (st, body) = post("application/json", Some("gzip"), bomb.finish().unwrap());
    assert_eq!(st, 413, "{body}");
    // gzip JSON works
    let json = serde_json::json!({"streams": [{"stream": {"app": "gz"}, "values": [[now_ns().to_string(), "hello gzip"]]}]});
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, json.to_string().as_bytes()).unwrap();
    let (st, body) = post("application/json", Some("gzip"), enc.finish().unwrap());
    assert_eq!(st, 204, "{body}");
    // bad query
    let (st, body) = s.get(
        "/loki/api/v1/query_range",
        &[("query", r#"{app="gz""#.into())],
    );
    assert_eq!(st, 400);
    assert!(body.contains("parse error"), "{body}");
    // the server is still fine
    let v = s.get_json(
        "/loki/api/v1/query_range",
        &[("query", r#"{app="gz"}"#.into())],
    );
    assert_eq!(entries_of(&v).len(), 1);
}

#[test]
fn grafana_health_check_answers_two() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let v = s.get_json(
        "/loki/api/v1/query",
        &[
            ("query", "vector(1)+vector(1)".into()),
            ("time", "4000000000".into()),
            ("direction", "backward".into()),
        ],
    );
    assert_eq!(
        v["data"]["result"][0]["value"],
        serde_json::json!([4000000000u64, "2"]),
        "{v}"
    );
}

#[test]
fn out_of_order_window_tenants_and_rate_limits() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        dir.path(),
        "auth_enabled: true\nlimits_config:\n  reject_old_samples: false\n  ingestion_rate_mb: 0.01\n  ingestion_burst_size_mb: 0.01\n",
    );
    let push = |tenant: Option<&str>, ts: i64, line: &str| {
        let body = serde_json::json!({"streams": [{"stream": {"app": "ooo"}, "values": [[ts.to_string(), line]]}]});
        let mut r = s
            .client
            .post(format!("{}/loki/api/v1/push", s.url))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(t) = tenant {
            r = r.header("X-Scope-OrgID", t);
        }
        let r = r.send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let now = now_ns();
    let min = 60_000_000_000i64;
    assert_eq!(push(None, now, "x").0, 401, "no tenant");
    assert_eq!(push(Some("a"), now, "newest").0, 204);
    // out of order, but within max_chunk_age/2 of the newest entry: accepted
    assert_eq!(push(Some("a"), now - 10 * min, "older").0, 204);
    // more than an hour behind the newest entry of the stream: rejected
    let (st, body) = push(Some("a"), now - 90 * min, "too old");
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("too far behind"), "{body}");
    // tenants are isolated
    let q = |tenant: &str| {
        let r = s
            .client
            .get(format!("{}/loki/api/v1/query_range", s.url))
            .header("X-Scope-OrgID", tenant)
            .query(&[
                ("query", r#"{app="ooo"}"#),
                ("start", &(now - 120 * min).to_string()),
                ("end", &(now + 1).to_string()),
            ])
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let mut lines: Vec<String> = entries_of(&r.json().unwrap())
            .into_iter()
            .map(|e| e.2)
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(q("a"), vec!["newest".to_string(), "older".to_string()]);
    assert!(q("b").is_empty());
    // a 10 kB/s rate limit with a 10 kB burst: a 20 kB push is refused with 429
    let big = "y".repeat(20_000);
    let (st, body) = push(Some("b"), now, &big);
    assert_eq!(st, 429, "{body}");
    assert!(q("b").is_empty(), "a refused push stores nothing");
}

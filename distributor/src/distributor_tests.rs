#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use sluice_logql::labels::Labels;
use sluice_proto::logproto::{
    EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};
use sluice_proto::service::{Code, Pusher, ServiceError};

use super::*;

/// 2024-01-10T00:00:00Z
const NOW: i64 = 1_704_844_800_000_000_000;
const SEC: i64 = 1_000_000_000;
const HOUR: i64 = 3600 * SEC;

#[derive(Default)]
struct Recorder {
    pushes: Mutex<Vec<(String, PushRequest)>>,
    fail: Option<ServiceError>,
}

#[async_trait::async_trait]
impl Pusher for Recorder {
    async fn push(&self, tenant: &str, req: PushRequest) -> Result<(), ServiceError> {
        if let Some(e) = &self.fail {
            return Err(e.clone());
        }
        self.pushes.lock().push((tenant.to_string(), req));
        Ok(())
    }
}

/// These tests are about validation: discovery (tested in
/// `discover_tests.rs`) is turned off so label strings stay as pushed.
fn setup(limits: Limits) -> (Distributor, Arc<Recorder>) {
    let limits = Limits {
        discover_service_name: vec![],
        discover_log_levels: false,
        ..limits
    };
    let rec = Arc::new(Recorder::default());
    (Distributor::new(limits, rec.clone()), rec)
}

fn entry(ts: i64, line: &str) -> EntryAdapter {
    EntryAdapter {
        timestamp: Some(Timestamp::from_unix_nanos(ts)),
        line: Bytes::copy_from_slice(line.as_bytes()),
        structured_metadata: vec![],
        parsed: vec![],
    }
}

fn sm_entry(ts: i64, line: &str, sm: &[(&str, &str)]) -> EntryAdapter {
    let mut e = entry(ts, line);
    e.structured_metadata = sm
        .iter()
        .map(|(n, v)| LabelPairAdapter::new(*n, *v))
        .collect();
    e
}

fn stream(labels: &str, entries: Vec<EntryAdapter>) -> StreamAdapter {
    StreamAdapter {
        labels: labels.to_string(),
        entries,
        hash: 0,
    }
}

fn req(streams: Vec<StreamAdapter>) -> PushRequest {
    PushRequest { streams }
}

async fn push_err(limits: Limits, r: PushRequest) -> (PushError, Arc<Recorder>) {
    let (d, rec) = setup(limits);
    let err = d.push("t", r, NOW).await.unwrap_err();
    (err, rec)
}

/// Pushes one stream with one entry and returns the refusal text.
async fn refusal(limits: Limits, labels: &str, e: EntryAdapter) -> String {
    let (err, rec) = push_err(limits, req(vec![stream(labels, vec![e])])).await;
    assert_eq!(err.status(), 400, "{err}");
    assert!(
        rec.pushes.lock().is_empty(),
        "nothing valid, nothing pushed"
    );
    err.to_string()
}

#[tokio::test]
async fn accepts_and_canonicalises() {
    let (d, rec) = setup(Limits::default());
    let r = req(vec![
        stream(r#"{b="2", a="1", empty=""}"#, vec![entry(NOW, "one")]),
        stream(r#"{ a = "1" , b='2' }"#, vec![entry(NOW + 1, "two")]),
        stream(r#"{a="other"}"#, vec![entry(NOW, "three")]),
    ]);
    let stats = d.push("t", r, NOW).await.unwrap();
    assert_eq!(
        stats,
        PushStats {
            streams: 2,
            lines: 3,
            bytes: 11,
            discarded_lines: 0,
            discarded: Default::default(),
            truncated_lines: 0
        }
    );
    let pushes = rec.pushes.lock();
    let (tenant, sent) = &pushes[0];
    assert_eq!(tenant, "t");
    assert_eq!(sent.streams.len(), 2);
    let s = &sent.streams[0];
    assert_eq!(s.labels, r#"{a="1", b="2"}"#);
    let want = Labels::new(vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
    assert_eq!(s.hash, want.fingerprint());
    let lines: Vec<&[u8]> = s.entries.iter().map(|e| &e.line[..]).collect();
    assert_eq!(lines, vec![&b"one"[..], &b"two"[..]]);
    assert_eq!(sent.streams[1].labels, r#"{a="other"}"#);
}

#[tokio::test]
async fn empty_push_does_nothing() {
    let (d, rec) = setup(Limits::default());
    assert_eq!(
        d.push("t", req(vec![]), NOW).await.unwrap(),
        PushStats::default()
    );
    assert_eq!(
        d.push("t", req(vec![stream(r#"{a="b"}"#, vec![])]), NOW)
            .await
            .unwrap(),
        PushStats::default()
    );
    assert!(rec.pushes.lock().is_empty());
}

#[tokio::test]
async fn label_syntax_error_refuses_whole_request() {
    let r = req(vec![
        stream(r#"{a="fine"}"#, vec![entry(NOW, "x")]),
        stream(r#"{foo-bar="x"}"#, vec![entry(NOW, "y")]),
    ]);
    let (err, rec) = push_err(Limits::default(), r).await;
    assert_eq!(
        err.to_string(),
        "couldn't parse labels: 1:5: parse error: unexpected character inside braces: '-'"
    );
    assert_eq!(err.status(), 400);
    assert!(rec.pushes.lock().is_empty());
}

#[tokio::test]
async fn label_set_rules() {
    let l = Limits::default;
    assert_eq!(
        refusal(l(), "{}", entry(NOW, "x")).await,
        "error at least one label pair is required per stream"
    );
    assert_eq!(
        refusal(l(), r#"{a="", b=""}"#, entry(NOW, "x")).await,
        "error at least one label pair is required per stream"
    );
    assert_eq!(
        refusal(l(), r#"{a="1", a="2"}"#, entry(NOW, "x")).await,
        r#"stream '{a="1", a="2"}' has duplicate label name: 'a'"#
    );

    let many: Vec<String> = (0..16).map(|i| format!("l{i:02}=\"v\"")).collect();
    let many = format!("{{{}}}", many.join(", "));
    assert_eq!(
        refusal(l(), &many, entry(NOW, "x")).await,
        format!("entry for stream '{many}' has 16 label names; limit 15")
    );
    // service_name does not count
    let fifteen_plus_service: Vec<String> = (0..15)
        .map(|i| format!("l{i:02}=\"v\""))
        .chain(["service_name=\"s\"".to_string()])
        .collect();
    let (d, _) = setup(l());
    let s = stream(
        &format!("{{{}}}", fifteen_plus_service.join(",")),
        vec![entry(NOW, "x")],
    );
    assert!(d.push("t", req(vec![s]), NOW).await.is_ok());

    let limits = Limits {
        max_label_name_length: 3,
        max_label_value_length: 4,
        ..l()
    };
    assert_eq!(
        refusal(limits.clone(), r#"{abcd="v"}"#, entry(NOW, "x")).await,
        r#"stream '{abcd="v"}' has label name too long: 'abcd'"#
    );
    assert_eq!(
        refusal(limits, r#"{abc="vwxyz"}"#, entry(NOW, "x")).await,
        r#"stream '{abc="vwxyz"}' has label value too long: 'vwxyz'"#
    );
}

#[tokio::test]
async fn line_length_rules() {
    let limits = Limits {
        max_line_size: 10,
        ..Limits::default()
    };
    assert_eq!(
        refusal(
            limits.clone(),
            r#"{b="2",app="x"}"#,
            entry(NOW, "0123456789a")
        )
        .await,
        r#"Max entry size '10' bytes exceeded for stream '{app="x", b="2"}' while adding an entry with length '11' bytes"#
    );

    let (d, rec) = setup(Limits {
        max_line_size_truncate: true,
        ..limits
    });
    let stats = d
        .push(
            "t",
            req(vec![stream(
                r#"{a="b"}"#,
                vec![entry(NOW, "0123456789abc")],
            )]),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        (stats.lines, stats.truncated_lines, stats.bytes),
        (1, 1, 10)
    );
    assert_eq!(
        &rec.pushes.lock()[0].1.streams[0].entries[0].line[..],
        b"0123456789"
    );

    // 0 = unlimited
    let (d, _) = setup(Limits {
        max_line_size: 0,
        ..Limits::default()
    });
    let long = "x".repeat(300_000);
    assert!(d
        .push(
            "t",
            req(vec![stream(r#"{a="b"}"#, vec![entry(NOW, &long)])]),
            NOW
        )
        .await
        .is_ok());
}

#[tokio::test]
async fn timestamp_rules() {
    let limits = Limits {
        reject_old_samples_max_age: Duration::from_secs(7 * 86_400),
        ..Limits::default()
    };
    assert_eq!(
        refusal(limits.clone(), r#"{a="b"}"#, entry(NOW - 9 * 24 * HOUR, "x")).await,
        "entry for stream '{a=\"b\"}' has timestamp too old: 2024-01-01T00:00:00Z, oldest acceptable timestamp is: 2024-01-03T00:00:00Z"
    );
    assert_eq!(
        refusal(limits.clone(), r#"{a="b"}"#, entry(NOW + HOUR, "x")).await,
        "entry for stream '{a=\"b\"}' has timestamp too new: 2024-01-10T01:00:00Z"
    );
    // within the grace period, and old samples allowed when not rejected
    let (d, _) = setup(Limits {
        reject_old_samples: false,
        ..limits
    });
    let r = req(vec![stream(
        r#"{a="b"}"#,
        vec![entry(NOW + 9 * 60 * SEC, "soon"), entry(0, "ancient")],
    )]);
    assert_eq!(d.push("t", r, NOW).await.unwrap().lines, 2);
}

#[tokio::test]
async fn structured_metadata_rules() {
    let l = Limits::default;
    assert_eq!(
        refusal(Limits { allow_structured_metadata: false, ..l() }, r#"{a="b"}"#, sm_entry(NOW, "x", &[("k", "v")])).await,
        "stream '{a=\"b\"}' includes structured metadata, but this feature is disallowed. Please see `limits_config.allow_structured_metadata` or contact your Loki administrator to enable it."
    );
    assert_eq!(
        refusal(Limits { max_structured_metadata_size: 5, ..l() }, r#"{a="b"}"#, sm_entry(NOW, "x", &[("key", "val")]))
            .await,
        "stream '{a=\"b\"}' has structured metadata too large: '6' bytes, limit: '5' bytes. Please see `limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it."
    );
    assert_eq!(
        refusal(
            Limits { max_structured_metadata_entries_count: 1, ..l() },
            r#"{a="b"}"#,
            sm_entry(NOW, "x", &[("k1", "v"), ("k2", "v")])
        )
        .await,
        "stream '{a=\"b\"}' has too many structured metadata labels: '2', limit: '1'. Please see `limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it."
    );

    // names are normalised into label names, and count (normalised, as in
    // Loki) towards the bytes
    let (d, rec) = setup(l());
    let r = req(vec![stream(
        r#"{a="b"}"#,
        vec![sm_entry(
            NOW,
            "x",
            &[("trace.id", "t"), ("1st", "v"), ("ok", "v")],
        )],
    )]);
    assert_eq!(d.push("t", r, NOW).await.unwrap().bytes, 1 + 9 + 8 + 3);
    let names: Vec<String> = rec.pushes.lock()[0].1.streams[0].entries[0]
        .structured_metadata
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(names, vec!["trace_id", "key_1st", "ok"]);
}

#[tokio::test]
async fn partial_acceptance_pushes_the_valid_part() {
    let limits = Limits {
        max_line_size: 5,
        ..Limits::default()
    };
    let (d, rec) = setup(limits);
    let r = req(vec![
        stream(
            r#"{a="b"}"#,
            vec![
                entry(NOW, "ok1"),
                entry(NOW, "too long"),
                entry(NOW + 1, "ok2"),
            ],
        ),
        stream("{}", vec![entry(NOW, "nolabels")]),
    ]);
    let err = d.push("t", r, NOW).await.unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(
        err.to_string(),
        "1 errors like: Max entry size '5' bytes exceeded for stream '{a=\"b\"}' while adding an entry with length '8' bytes; 1 errors like: error at least one label pair is required per stream"
    );
    let PushError::Validation { stats, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((stats.lines, stats.discarded_lines), (2, 2));
    let reasons: Vec<(&str, u64, u64)> = stats
        .discarded
        .iter()
        .map(|(r, l, b)| (r.as_str(), l, b))
        .collect();
    assert_eq!(
        reasons,
        vec![("missing_labels", 1, 8), ("line_too_long", 1, 8)]
    );
    let pushes = rec.pushes.lock();
    assert_eq!(pushes.len(), 1);
    let lines: Vec<&[u8]> = pushes[0].1.streams[0]
        .entries
        .iter()
        .map(|e| &e.line[..])
        .collect();
    assert_eq!(lines, vec![&b"ok1"[..], &b"ok2"[..]]);
}

#[tokio::test]
async fn repeated_failures_are_counted() {
    let limits = Limits {
        max_line_size: 1,
        ..Limits::default()
    };
    let (err, _) = push_err(
        limits,
        req(vec![stream(
            r#"{a="b"}"#,
            vec![entry(NOW, "xx"), entry(NOW, "yy")],
        )]),
    )
    .await;
    assert_eq!(
        err.to_string(),
        "2 errors like: Max entry size '1' bytes exceeded for stream '{a=\"b\"}' while adding an entry with length '2' bytes"
    );
}

#[tokio::test]
async fn increments_duplicate_timestamps() {
    let (d, rec) = setup(Limits {
        increment_duplicate_timestamp: true,
        ..Limits::default()
    });
    let r = req(vec![
        stream(
            r#"{a="b"}"#,
            vec![
                entry(NOW, "a"),
                entry(NOW, "b"),
                entry(NOW, "c"),
                entry(NOW + 10, "d"),
            ],
        ),
        stream(
            r#"{a="c"}"#,
            vec![
                entry(NOW, "a"),
                entry(NOW, "b"),
                entry(NOW, "b"),
                entry(NOW, "c"),
            ],
        ),
    ]);
    d.push("t", r, NOW).await.unwrap();
    let ts = |i: usize| -> Vec<i64> {
        rec.pushes.lock()[0].1.streams[i]
            .entries
            .iter()
            .map(|e| e.timestamp.unwrap().unix_nanos() - NOW)
            .collect()
    };
    assert_eq!(ts(0), vec![0, 1, 2, 10]);
    // as Loki: an identical line keeps its own timestamp (so it is
    // deduplicated downstream) and the next different line follows the
    // entry before it
    assert_eq!(ts(1), vec![0, 1, 0, 1]);

    let (d, rec) = setup(Limits::default());
    d.push(
        "t",
        req(vec![stream(
            r#"{a="b"}"#,
            vec![entry(NOW, "a"), entry(NOW, "b")],
        )]),
        NOW,
    )
    .await
    .unwrap();
    let ts: Vec<i64> = rec.pushes.lock()[0].1.streams[0]
        .entries
        .iter()
        .map(|e| e.timestamp.unwrap().unix_nanos() - NOW)
        .collect();
    assert_eq!(ts, vec![0, 0]);
}

#[tokio::test]
async fn rate_limit_burst_then_429_then_refill() {
    // 1 KiB/s, burst 2 KiB
    let limits = Limits {
        ingestion_rate_mb: 1.0 / 1024.0,
        ingestion_burst_size_mb: 2.0 / 1024.0,
        ..Limits::default()
    };
    let (d, rec) = setup(limits);
    let line = "x".repeat(1024);
    let one = |ts: i64, l: &str| req(vec![stream(r#"{a="b"}"#, vec![entry(ts, l)])]);
    assert!(d.push("t", one(NOW, &line), NOW).await.is_ok());
    assert!(d.push("t", one(NOW, &line), NOW).await.is_ok());
    let err = d.push("t", one(NOW, "y"), NOW).await.unwrap_err();
    assert_eq!(err.status(), 429);
    assert_eq!(
        err.to_string(),
        "Ingestion rate limit exceeded for user t (limit: 1024 bytes/sec) while attempting to ingest '1' lines totaling '1' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased"
    );
    // another tenant has its own bucket
    assert!(d.push("u", one(NOW, &line), NOW).await.is_ok());
    // one second later 1 KiB is back
    assert!(d.push("t", one(NOW + SEC, &line), NOW + SEC).await.is_ok());
    assert!(d.push("t", one(NOW + SEC, "y"), NOW + SEC).await.is_err());
    // larger than the burst never passes
    let huge = "x".repeat(3 * 1024);
    assert_eq!(
        d.push("t", one(NOW + 60 * SEC, &huge), NOW + 60 * SEC)
            .await
            .unwrap_err()
            .status(),
        429
    );
    assert_eq!(rec.pushes.lock().len(), 4);
}

#[tokio::test]
async fn ingester_failure_is_returned() {
    let rec = Arc::new(Recorder {
        fail: Some(ServiceError::new(Code::Unavailable, "no ingesters")),
        ..Default::default()
    });
    let d = Distributor::new(Limits::default(), rec);
    let err = d
        .push(
            "t",
            req(vec![stream(r#"{a="b"}"#, vec![entry(NOW, "x")])]),
            NOW,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.to_string().as_str()),
        (503, "no ingesters")
    );
}

#[tokio::test]
async fn per_tenant_limits_provider() {
    struct PerTenant;
    impl TenantLimits for PerTenant {
        fn limits(&self, tenant: &str) -> Arc<Limits> {
            let max_line_size = if tenant == "small" { 2 } else { 0 };
            Arc::new(Limits {
                max_line_size,
                ..Limits::default()
            })
        }
    }
    let d = Distributor::with_limits_provider(Arc::new(PerTenant), Arc::new(Recorder::default()));
    let r = || req(vec![stream(r#"{a="b"}"#, vec![entry(NOW, "xyz")])]);
    assert!(d.push("big", r(), NOW).await.is_ok());
    assert_eq!(d.push("small", r(), NOW).await.unwrap_err().status(), 400);
}

/// Whole-path cost of decode + validate for a 1000-line protobuf batch.
/// Run: `cargo test -p sluice-distributor --release -- --ignored --nocapture bench`
#[test]
#[ignore]
fn bench_decode_and_validate_1000_lines() {
    use prost::Message;
    let streams: Vec<StreamAdapter> = (0..10)
        .map(|s| {
            let entries = (0..100)
                .map(|i| {
                    let line = format!("level=info ts=2024-01-10T00:00:00Z caller=main.go:{i} msg=\"request served\" status=200 duration={i}ms path=/api/v1/items/{s}");
                    entry(NOW + i, &line)
                })
                .collect();
            stream(&format!(r#"{{app="api", env="prod", pod="api-{s}", namespace="default"}}"#), entries)
        })
        .collect();
    let body = Bytes::from(
        snap::raw::Encoder::new()
            .compress_vec(&req(streams).encode_to_vec())
            .unwrap(),
    );
    let limits = Limits::default();
    let iters = 2000;
    let start = std::time::Instant::now();
    let mut lines = 0;
    for _ in 0..iters {
        let decoded =
            crate::decode_push(Some("application/x-protobuf"), None, body.clone(), 64 << 20)
                .unwrap();
        let v = validate_push(&limits, decoded, NOW).unwrap();
        lines += v.stats.lines;
    }
    let ns = start.elapsed().as_nanos() as f64 / lines as f64;
    println!(
        "protobuf decode_push + validate_push: {ns:.1} ns/line ({:.2} M lines/s)",
        1e3 / ns
    );

    // the same batch as JSON
    let decoded = crate::decode_push(None, None, body, 64 << 20).unwrap();
    let json_streams: Vec<serde_json::Value> = decoded
        .streams
        .iter()
        .map(|s| {
            let values: Vec<serde_json::Value> = s
                .entries
                .iter()
                .map(|e| {
                    let ts = e.timestamp.unwrap().unix_nanos().to_string();
                    serde_json::json!([ts, String::from_utf8_lossy(&e.line)])
                })
                .collect();
            let labels: serde_json::Map<String, serde_json::Value> =
                crate::stream_labels::parse_stream_labels(&s.labels)
                    .unwrap()
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
            serde_json::json!({"stream": labels, "values": values})
        })
        .collect();
    let json_body = Bytes::from(serde_json::json!({ "streams": json_streams }).to_string());
    let start = std::time::Instant::now();
    let mut lines = 0;
    for _ in 0..iters {
        let decoded =
            crate::decode_push(Some("application/json"), None, json_body.clone(), 64 << 20)
                .unwrap();
        lines += validate_push(&limits, decoded, NOW).unwrap().stats.lines;
    }
    let ns = start.elapsed().as_nanos() as f64 / lines as f64;
    println!(
        "json decode_push + validate_push: {ns:.1} ns/line ({:.2} M lines/s)",
        1e3 / ns
    );

    // worst case for label handling: 1000 streams of one line each
    let streams: Vec<StreamAdapter> = (0..1000)
        .map(|i| {
            let labels =
                format!(r#"{{app="api", env="prod", pod="api-{i}", namespace="default"}}"#);
            stream(
                &labels,
                vec![entry(NOW, "level=info msg=\"request served\" status=200")],
            )
        })
        .collect();
    let body = Bytes::from(
        snap::raw::Encoder::new()
            .compress_vec(&req(streams).encode_to_vec())
            .unwrap(),
    );
    let cache = crate::LabelCache::default();
    for cached in [false, true] {
        let start = std::time::Instant::now();
        let mut lines = 0;
        for _ in 0..iters / 4 {
            let decoded = crate::decode_push(None, None, body.clone(), 64 << 20).unwrap();
            let c = cached.then_some(&cache);
            lines += validate_push_cached(&limits, decoded, NOW, c)
                .unwrap()
                .stats
                .lines;
        }
        let ns = start.elapsed().as_nanos() as f64 / lines as f64;
        println!(
            "1 line per stream, label cache {cached}: {ns:.1} ns/line ({:.2} M lines/s)",
            1e3 / ns
        );
    }
}

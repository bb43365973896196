//! `data.stats.summary` of query answers: what the querier read, from
//! ingesters and (after a flush) from the store; through a query-frontend
//! process, summed over its splits and shards as remote queriers report
//! them, with results-cache hits adding nothing.

use sluice_proto::logproto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};

use std::time::Duration;

use super::cluster::{Cluster, ACTIVE3};
use super::harness::*;

const N: i64 = 600;
const NS: i64 = 1_000_000_000;

/// Every tenth line holds `needle`; all lines are as long.
fn stats_line(i: i64) -> String {
    let word = if i % 10 == 0 { "needle" } else { "hay___" };
    format!("level=info entry={i:04} {word}")
}

/// `N` entries 12s apart (two hours) from `base`.
fn push(s: &Server, base: i64) {
    let req = PushRequest {
        streams: vec![StreamAdapter {
            labels: r#"{app="stats"}"#.into(),
            entries: (0..N)
                .map(|i| EntryAdapter {
                    timestamp: Some(Timestamp::from_unix_nanos(base + i * 12 * NS)),
                    line: stats_line(i).into(),
                    structured_metadata: vec![],
                    parsed: vec![],
                })
                .collect(),
            hash: 0,
        }],
    };
    let r = s.push_proto(&req);
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap());
}

/// (totalLinesProcessed, totalBytesProcessed, totalPostFilterLines,
/// totalEntriesReturned) of a query answer.
fn summary(v: &serde_json::Value) -> (u64, u64, u64, u64) {
    let s = &v["data"]["stats"]["summary"];
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    (
        n("totalLinesProcessed"),
        n("totalBytesProcessed"),
        n("totalPostFilterLines"),
        n("totalEntriesReturned"),
    )
}

fn logs(s: &Server, q: &str, start: i64, end: i64) -> serde_json::Value {
    s.get_json(
        "/loki/api/v1/query_range",
        &[
            ("query", q.into()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("limit", "5000".into()),
        ],
    )
}

fn metric(s: &Server, q: &str, start: i64, end: i64) -> serde_json::Value {
    s.get_json(
        "/loki/api/v1/query_range",
        &[
            ("query", q.into()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", "60".into()),
        ],
    )
}

#[test]
fn summaries_count_the_entries_read_from_ingesters_and_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let base = (now_ns() - 3 * 3600 * NS) / NS * NS;
    push(&s, base);
    let (start, end) = (base, base + N * 12 * NS);
    let n = N as u64;
    let bytes = n * stats_line(0).len() as u64;
    for from in ["ingester", "store"] {
        let v = logs(&s, r#"{app="stats"}"#, start, end);
        assert_eq!(summary(&v), (n, bytes, n, n), "all, {from}");
        // a line filter reads every entry, fewer pass it
        let v = logs(&s, r#"{app="stats"} |= "needle""#, start, end);
        assert_eq!(summary(&v), (n, bytes, n / 10, n / 10), "filter, {from}");
        // a range narrower than the data reads only its entries
        let v = logs(&s, r#"{app="stats"}"#, start, start + 100 * 12 * NS);
        assert_eq!(
            summary(&v),
            (100, 100 * bytes / n, 100, 100),
            "part, {from}"
        );
        let st = &v["data"]["stats"]["summary"];
        assert!(st["execTime"].as_f64().unwrap() > 0.0);
        assert!(st["linesProcessedPerSecond"].as_u64().unwrap() > 0);
        assert!(st["bytesProcessedPerSecond"].as_u64().unwrap() > 0);
        // metric queries: the size-only path and a pipeline
        let v = metric(&s, r#"sum(count_over_time({app="stats"}[1m]))"#, start, end);
        assert_eq!(summary(&v), (n, bytes, n, 1), "metric, {from}");
        let v = metric(
            &s,
            r#"sum(count_over_time({app="stats"} |= "needle" [1m]))"#,
            start,
            end,
        );
        assert_eq!(summary(&v), (n, bytes, n / 10, 1), "metric filter, {from}");
        if from == "ingester" {
            s.flush();
        }
    }
}

#[test]
fn frontend_sums_its_sub_queries_and_cache_hits_read_nothing() {
    // three ingesters (replication factor 3), a distributor, a querier
    // taking work from a query-frontend over gRPC
    let mut c = Cluster::new(3);
    c.heartbeat = ("20s", "1s");
    c.add("distributor", "distributor");
    let q = c.add("querier", "querier");
    let f = c.add("query-frontend", "query-frontend");
    c.extra = format!(
        "frontend:\n  downstream_url: http://127.0.0.1:{}\nfrontend_worker:\n  frontend_address: 127.0.0.1:{}\nquery_range:\n  cache_results: true\n",
        c.nodes[q].http_port, c.nodes[f].grpc_port
    );
    c.start_all();
    for n in ["distributor", "querier"] {
        Cluster::wait_ring(c.server(n), &ACTIVE3, Duration::from_secs(30));
    }
    // the push path reads a polled copy of the ring
    std::thread::sleep(Duration::from_millis(500));
    let (querier, fe) = (c.server("querier"), c.server("query-frontend"));
    let base = (now_ns() - 3 * 3600 * NS) / NS * NS;
    push(c.server("distributor"), base);
    let (start, end) = (base, base + N * 12 * NS);
    let n = N as u64;
    let bytes = n * stats_line(0).len() as u64;
    // a log query over two hours split at 30m: its five splits read the
    // entries once (the querier merges the ingesters' replicas first)
    for q in [r#"{app="stats"}"#, r#"{app="stats"} |= "needle""#] {
        let direct = logs(querier, q, start, end);
        let split = logs(fe, q, start, end);
        assert_eq!(summary(&split), summary(&direct), "{q}");
        assert_eq!(summary(&split).0, n);
        assert_eq!(summary(&split).1, bytes);
    }
    let metrics = fe.get("/metrics", &[]).1;
    let subqueries: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("sluice_query_frontend_subqueries_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(subqueries >= 10.0, "{subqueries} sub-queries");
    // a metric query: split (each split also reads its first window's
    // lookback) and sharded 16 ways (one stream: read by one shard)
    let q = r#"sum by (app) (count_over_time({app="stats"} |= "needle" [1m]))"#;
    let first = metric(fe, q, start, end);
    assert_eq!(
        first["data"]["result"],
        metric(querier, q, start, end)["data"]["result"]
    );
    let (lines, b, passed, _) = summary(&first);
    assert!(lines >= n && lines < n + n / 10, "{lines}");
    assert_eq!(b, lines * bytes / n);
    assert!(passed >= n / 10 && passed < lines, "{passed}");
    // every extent again, from the results cache: nothing read
    let again = metric(fe, q, start, end);
    assert_eq!(again["data"]["result"], first["data"]["result"]);
    assert_eq!(summary(&again), (0, 0, 0, 1));
}

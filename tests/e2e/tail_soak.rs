//! Live-tail soak: three tail connections, one of which never reads,
//! while 50 000 entries (~50 MB) are pushed. The two readers get every
//! entry in order; the server's tail buffers stay within their budget;
//! the stuck client is closed with code 1011 and a reason as soon as it
//! lost more than `max_dropped_entries` entries, while entries are still
//! being pushed (not later, by the send timeout).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::harness::*;
use super::tail_client::{self, frame_entries, TailEnd};

const BATCHES: usize = 100;
const PER_BATCH: usize = 500;
const TOTAL: usize = BATCHES * PER_BATCH;
/// Per-connection queue budget (`TailLimits::default`).
const BUDGET: u64 = 8 << 20;
/// `TailLimits::default().max_dropped_entries`.
const MAX_DROPPED: f64 = 10_000.0;
const TOO_SLOW: &str = "sluice_querier_tail_closed_total{reason=\"too_slow\"}";
const SEND_TIMEOUT: &str = "sluice_querier_tail_closed_total{reason=\"send_timeout\"}";

fn metric(s: &Server, name: &str) -> f64 {
    let (status, body) = s.get("/metrics", &[]);
    assert_eq!(status, 200);
    body.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn line(i: usize) -> String {
    format!("seq={i:06} {}", "abcdefghij".repeat(99))
}

#[test]
fn tail_soak_readers_get_everything_stuck_client_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let query = r#"{app="soak"}"#;
    let mut stuck = tail_client::connect(&s.url, query, &[], &[]);
    let counts: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let mut t = tail_client::connect(&s.url, query, &[], &[]);
            let counts = counts.clone();
            thread::spawn(move || {
                let mut got = Vec::with_capacity(TOTAL);
                let t0 = Instant::now();
                while got.len() < TOTAL + 1 {
                    match t.next_frame(Duration::from_secs(1)) {
                        Ok(f) => {
                            assert!(
                                f.get("dropped_entries").is_none(),
                                "reader {r} lost entries"
                            );
                            got.extend(frame_entries(&f));
                            counts[r].store(got.len(), Ordering::Release);
                        }
                        Err(TailEnd::Timeout) => {}
                        Err(e) => panic!("reader {r} ended: {e:?}"),
                    }
                    assert!(
                        t0.elapsed() < Duration::from_secs(300),
                        "reader {r} timed out"
                    );
                }
                t.close();
                got
            })
        })
        .collect();

    // a first entry every reader sees proves the subscriptions are live
    let base = now_ns();
    let warm = serde_json::json!({"streams": [{"stream": {"app": "soak"},
        "values": [[base.to_string(), "warm-up"]]}]});
    assert_eq!(s.push_json(&warm).status().as_u16(), 204);
    let t0 = Instant::now();
    while counts.iter().any(|c| c.load(Ordering::Acquire) == 0) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "readers got no warm-up entry"
        );
        thread::sleep(Duration::from_millis(10));
    }

    let pid = s.child.id();
    let rss_before = rss_kib(pid, "VmRSS:");
    let mut max_buffered = 0.0f64;
    let mut closed_at_batch = None;
    for b in 0..BATCHES {
        // the readers may lag, but not by more than their budget allows
        let t0 = Instant::now();
        while counts
            .iter()
            .any(|c| c.load(Ordering::Acquire) + 4 * PER_BATCH < 1 + b * PER_BATCH)
        {
            assert!(t0.elapsed() < Duration::from_secs(60), "readers stalled");
            thread::sleep(Duration::from_millis(2));
        }
        let values: Vec<serde_json::Value> = (b * PER_BATCH..(b + 1) * PER_BATCH)
            .map(|i| serde_json::json!([(base + 1 + i as i64).to_string(), line(i)]))
            .collect();
        let body = serde_json::json!({"streams": [{"stream": {"app": "soak"}, "values": values}]});
        let r = s.push_json(&body);
        assert_eq!(r.status().as_u16(), 204, "{}", r.text().unwrap());
        if b % 10 == 9 {
            max_buffered = max_buffered.max(metric(&s, "sluice_querier_tail_buffered_bytes"));
        }
        if closed_at_batch.is_none() && metric(&s, TOO_SLOW) >= 1.0 {
            closed_at_batch = Some(b);
        }
    }

    let want: Vec<(String, i64, String)> =
        std::iter::once(("app=soak".into(), base, "warm-up".into()))
            .chain((0..TOTAL).map(|i| ("app=soak".to_string(), base + 1 + i as i64, line(i))))
            .collect();
    for (r, h) in readers.into_iter().enumerate() {
        let got = h.join().unwrap();
        assert_eq!(got.len(), TOTAL + 1, "reader {r}");
        assert!(
            got == want,
            "reader {r}: entries differ from what was pushed"
        );
        let unique: BTreeSet<i64> = got.iter().map(|e| e.1).collect();
        assert_eq!(unique.len(), TOTAL + 1);
    }

    // the stuck client was closed as too slow while the push went on:
    // by the drop rule, not by the send timeout
    let closed_at_batch = closed_at_batch.expect("stuck client still open after the last push");
    assert!(
        closed_at_batch < BATCHES - 1,
        "stuck client closed only at batch {closed_at_batch}"
    );
    assert_eq!(metric(&s, TOO_SLOW), 1.0);
    assert_eq!(metric(&s, SEND_TIMEOUT), 0.0);
    let rss_after = rss_kib(pid, "VmRSS:");
    let hwm = rss_kib(pid, "VmHWM:");
    let dropped = metric(&s, "sluice_querier_tail_dropped_entries_total");
    eprintln!(
        "tail soak: max buffered {max_buffered} B, dropped {dropped}, stuck client closed by batch {closed_at_batch}/{BATCHES}, rss {rss_before} -> {rss_after} KiB, peak {hwm} KiB"
    );
    assert!(
        max_buffered <= (3 * BUDGET) as f64,
        "buffered {max_buffered}"
    );
    // dropping stops with the subscription: just past the limit, not
    // everything the stuck client missed
    assert!(dropped > MAX_DROPPED, "dropped {dropped}");
    assert!(
        dropped < MAX_DROPPED + 10.0 * PER_BATCH as f64,
        "dropped {dropped}"
    );
    // 50 MB went through; the stuck client may hold at most its budget
    assert!(hwm < 256 * 1024, "peak rss {hwm} KiB");

    // reading now, the stuck client finds what fit in the socket, then the reason
    let mut seen = 0;
    let reason = loop {
        match stuck.next_frame(Duration::from_secs(30)) {
            Ok(f) => seen += frame_entries(&f).len(),
            Err(TailEnd::Closed(Some((code, reason)))) => {
                assert_eq!(code, 1011);
                break reason;
            }
            Err(e) => panic!("stuck client: {e:?} after {seen} entries"),
        }
    };
    assert!(seen < TOTAL, "the stuck client cannot have everything");
    assert!(
        seen as f64 + dropped <= (TOTAL + 1) as f64,
        "seen {seen} + dropped {dropped}"
    );
    assert!(
        reason.starts_with("tail connection too slow: ")
            && reason.contains("entries dropped, more than max_dropped_entries (10000)"),
        "{reason}"
    );

    let t0 = Instant::now();
    while metric(&s, "sluice_querier_tail_connections") > 0.0 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "connections left open"
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(&s, "sluice_querier_tail_buffered_bytes"), 0.0);
}

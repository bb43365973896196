//! Live tail with `delay_for`: entries are held until their timestamp
//! plus the delay has passed, then sent in timestamp order, so entries
//! pushed out of order within the delay arrive sorted.

use std::time::{Duration, Instant};

use super::harness::*;
use super::tail_client::{self, frame_entries, TailEnd};

const NS: i64 = 1_000_000_000;

fn push(s: &Server, values: &[(i64, &str)]) {
    let values: Vec<serde_json::Value> = values
        .iter()
        .map(|(ts, l)| serde_json::json!([ts.to_string(), l]))
        .collect();
    let body = serde_json::json!({"streams": [{"stream": {"app": "late"}, "values": values}]});
    assert_eq!(s.push_json(&body).status().as_u16(), 204);
}

#[test]
fn delay_for_holds_entries_and_sorts_late_ones_in() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let mut t = tail_client::connect(
        &s.url,
        r#"{app="late"}"#,
        &[("delay_for", "2".to_string())],
        &[],
    );

    // an entry a minute old is past its delay: it comes at once, which
    // also proves the subscription is live
    let t0 = Instant::now();
    let mut warm = 0;
    'warm: loop {
        push(&s, &[(now_ns() - 60 * NS, &format!("warm-up {warm}"))]);
        warm += 1;
        let t1 = Instant::now();
        while t1.elapsed() < Duration::from_millis(500) {
            if let Ok(f) = t.next_frame(Duration::from_millis(100)) {
                if !frame_entries(&f).is_empty() {
                    break 'warm;
                }
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no warm-up entry");
    }
    // take any further warm-up entries
    while t.next_frame(Duration::from_millis(300)).is_ok() {}

    let base = now_ns();
    let pushed = Instant::now();
    // three pushes, out of timestamp order, within the delay
    push(&s, &[(base + 5_000_000, "e5"), (base + 3_000_000, "e3")]);
    push(&s, &[(base + 1_000_000, "e1")]);
    push(&s, &[(base + 4_000_000, "e4"), (base + 2_000_000, "e2")]);

    let mut got = Vec::new();
    let mut first_at = None;
    while got.len() < 5 {
        match t.next_frame(Duration::from_secs(10)) {
            Ok(f) => {
                let es = frame_entries(&f);
                if !es.is_empty() && first_at.is_none() {
                    first_at = Some(pushed.elapsed());
                }
                got.extend(es);
            }
            Err(e) => panic!("after {} entries: {e:?}", got.len()),
        }
    }
    let first_at = first_at.unwrap();
    assert!(
        first_at >= Duration::from_millis(1800),
        "first entry after {first_at:?}, before the 2s delay"
    );
    assert!(
        first_at < Duration::from_secs(5),
        "first entry after {first_at:?}"
    );
    let lines: Vec<&str> = got.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(lines, ["e1", "e2", "e3", "e4", "e5"]);
    let ts: Vec<i64> = got.iter().map(|e| e.1).collect();
    assert_eq!(
        ts,
        (1..=5).map(|i| base + i * 1_000_000).collect::<Vec<_>>()
    );
    match t.next_frame(Duration::from_millis(1200)) {
        Err(TailEnd::Timeout) => {}
        other => panic!("unexpected {other:?}"),
    }
    t.close();
}

//! Crash and restart: the WAL keeps every acknowledged entry; after a
//! flush, the object store alone does.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::harness::*;

#[test]
fn sigkill_during_pushes_loses_no_acknowledged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let base = now_ns() - 1_800_000_000_000;
    let acked: Arc<Mutex<BTreeSet<(String, i64, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let url = s.url.clone();
    let mut workers = Vec::new();
    for w in 0..4usize {
        let acked = acked.clone();
        let stop = stop.clone();
        let url = url.clone();
        workers.push(std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let mut seq = 0usize;
            while !stop.load(Ordering::Relaxed) {
                // each worker owns streams w*10 .. w*10+10
                let req = proto_batch("crash", w * 10..w * 10 + 10, seq..seq + 50, base);
                let body = snap::raw::Encoder::new()
                    .compress_vec(&prost::Message::encode_to_vec(&req))
                    .unwrap();
                let r = client
                    .post(format!("{url}/loki/api/v1/push"))
                    .header("Content-Type", "application/x-protobuf")
                    .body(body)
                    .send();
                match r {
                    Ok(r) if r.status().as_u16() == 204 => {
                        let mut a = acked.lock().unwrap();
                        for st in w * 10..w * 10 + 10 {
                            for i in seq..seq + 50 {
                                a.insert((
                                    entry_labels("crash", st, i),
                                    base + (i as i64) * 1_000_000 + st as i64,
                                    line(st, i),
                                ));
                            }
                        }
                    }
                    _ => {}
                }
                seq += 50;
            }
        }));
    }
    // let pushes run, then kill without warning
    while acked.lock().unwrap().len() < 20_000 {
        std::thread::sleep(Duration::from_millis(20));
    }
    s.kill();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 20_000);

    let s = start(dir.path(), "");
    let got: BTreeSet<(String, i64, String)> = s
        .all_entries(r#"{via="crash"}"#, base, now_ns())
        .into_iter()
        .collect();
    let missing: Vec<_> = acked.difference(&got).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged entries lost, e.g. {missing:?}",
        acked.difference(&got).count()
    );
}

#[test]
fn flushed_data_survives_losing_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let base = now_ns() - 1_800_000_000_000;
    for seq in (0..2000).step_by(500) {
        let r = s.push_proto(&proto_batch("flush", 0..20, seq..seq + 500, base));
        assert_eq!(r.status().as_u16(), 204);
    }
    let before = s.all_entries(r#"{via="flush"}"#, base, now_ns());
    assert_eq!(before.len(), 40_000);
    s.flush();
    s.stop();
    std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
    let s = start(dir.path(), "");
    let after = s.all_entries(r#"{via="flush"}"#, base, now_ns());
    assert_eq!(after, before);
    // the restarted process sees the stored labels too
    let v = s.get_json(
        "/loki/api/v1/label/stream/values",
        &[("start", base.to_string())],
    );
    assert_eq!(v["data"].as_array().unwrap().len(), 20);
}

#[test]
fn restart_after_sigterm_keeps_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let base = now_ns() - 1_800_000_000_000;
    let r = s.push_proto(&proto_batch("term", 0..5, 0..300, base));
    assert_eq!(r.status().as_u16(), 204);
    s.stop();
    let s = start(dir.path(), "");
    // pushed again after restart: exact duplicates of flushed entries are not doubled in answers
    let got = s.all_entries(r#"{via="term"}"#, base, now_ns());
    assert_eq!(got.len(), 1500);
}

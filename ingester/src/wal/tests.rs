//! Tests of the WAL against real files in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::format::{self, FRAME_HEADER_LEN, HEADER_LEN};
use super::{FsyncPolicy, Replay, Wal, WalConfig, WalError};

fn cfg(dir: &Path) -> WalConfig {
    WalConfig {
        dir: dir.to_path_buf(),
        ..WalConfig::default()
    }
}

fn collect(replay: Replay) -> Vec<Bytes> {
    replay.records().map(|r| r.unwrap()).collect()
}

fn rec(i: usize) -> Bytes {
    Bytes::from(format!("record-{i:06}-{}", "x".repeat(i % 50)))
}

fn segment_files(dir: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            match format::classify(&name) {
                Some(format::FileKind::Segment(id)) => Some(id),
                _ => None,
            }
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// Counts `tracing` events by level for the current thread.
#[derive(Default)]
struct LogCounter {
    warns: AtomicUsize,
    errors: AtomicUsize,
}

impl tracing::Subscriber for LogCounter {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        match *event.metadata().level() {
            tracing::Level::ERROR => self.errors.fetch_add(1, Ordering::SeqCst),
            tracing::Level::WARN => self.warns.fetch_add(1, Ordering::SeqCst),
            _ => 0,
        };
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Runs `f` with a log counter installed; returns (result, warns, errors).
fn counting_logs<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let counter = Arc::new(LogCounter::default());
    let out = tracing::subscriber::with_default(counter.clone(), f);
    (
        out,
        counter.warns.load(Ordering::SeqCst),
        counter.errors.load(Ordering::SeqCst),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_replay_in_completion_order() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, replay) = Wal::open(cfg(tmp.path())).unwrap();
    assert!(collect(replay).is_empty());
    let wal = Arc::new(wal);
    // `acked` lists records in the order their append resolved; each record
    // notes how many were acked before its own append started.
    let acked = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let started_after = Arc::new(parking_lot::Mutex::new(Vec::<(String, usize)>::new()));
    let mut tasks = Vec::new();
    for t in 0..32 {
        let (wal, acked, started_after) = (wal.clone(), acked.clone(), started_after.clone());
        tasks.push(tokio::spawn(async move {
            for s in 0..40 {
                let id = format!("t{t:02}-s{s:03}");
                let before = acked.lock().len();
                wal.append(Bytes::from(id.clone())).await.unwrap();
                acked.lock().push(id.clone());
                started_after.lock().push((id, before));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    wal.close().unwrap();
    drop(wal);

    let (_wal, replay) = Wal::open(cfg(tmp.path())).unwrap();
    let got: Vec<String> = collect(replay)
        .into_iter()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
        .collect();
    let acked = acked.lock().clone();
    assert_eq!(got.len(), 32 * 40, "every acked record exactly once");
    let pos: std::collections::HashMap<&str, usize> = got
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    assert_eq!(pos.len(), got.len(), "no duplicates");
    // prefix_max[k] = latest replay position among the first k acked records.
    let mut prefix_max = vec![0usize; acked.len() + 1];
    for (k, id) in acked.iter().enumerate() {
        prefix_max[k + 1] = prefix_max[k].max(pos[id.as_str()] + 1);
    }
    for (id, before) in started_after.lock().iter() {
        assert!(
            prefix_max[*before] <= pos[id.as_str()],
            "{id} was appended after {before} acks but replays before one of them"
        );
    }
}

#[tokio::test]
async fn rotates_by_size_and_replays_across_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = cfg(tmp.path());
    c.segment_size = 1024;
    let (wal, _) = Wal::open(c.clone()).unwrap();
    for i in 0..200 {
        wal.append(rec(i)).await.unwrap();
    }
    wal.close().unwrap();
    let segs = segment_files(tmp.path());
    assert!(segs.len() >= 7, "expected many segments, got {segs:?}");
    for id in &segs {
        let len = fs::metadata(format::segment_path(tmp.path(), *id))
            .unwrap()
            .len();
        assert!(len <= 1024, "segment {id} is {len} bytes");
    }
    let (_wal, replay) = Wal::open(c).unwrap();
    assert_eq!(collect(replay), (0..200).map(rec).collect::<Vec<_>>());
}

#[tokio::test]
async fn oversized_record_gets_its_own_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = cfg(tmp.path());
    c.segment_size = 100;
    let (wal, _) = Wal::open(c.clone()).unwrap();
    let big = Bytes::from(vec![7u8; 500]);
    wal.append(rec(1)).await.unwrap();
    wal.append(big.clone()).await.unwrap();
    wal.append(rec(2)).await.unwrap();
    drop(wal);
    let (_wal, replay) = Wal::open(c).unwrap();
    assert_eq!(collect(replay), vec![rec(1), big, rec(2)]);
}

#[tokio::test]
async fn checkpoint_replaces_older_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(cfg(tmp.path())).unwrap();
    for i in 0..10 {
        wal.append(rec(i)).await.unwrap();
    }
    let first = segment_files(tmp.path())[0];
    let id = wal.rotate().unwrap();
    assert_eq!(id, first + 1);
    let snapshot = b"memory snapshot covering records 0..10".repeat(1000);
    wal.write_checkpoint(id, &mut |w| w.write_all(&snapshot))
        .unwrap();
    for i in 10..15 {
        wal.append(rec(i)).await.unwrap();
    }
    drop(wal);
    assert!(
        segment_files(tmp.path()).iter().all(|&s| s >= id),
        "old segments deleted"
    );

    let (wal, mut replay) = Wal::open(cfg(tmp.path())).unwrap();
    assert_eq!(replay.checkpoint_id(), Some(id));
    let mut got = Vec::new();
    replay.checkpoint().unwrap().read_to_end(&mut got).unwrap();
    assert_eq!(got, snapshot);
    assert!(
        replay.checkpoint().is_none(),
        "checkpoint is handed out once"
    );
    assert_eq!(collect(replay), (10..15).map(rec).collect::<Vec<_>>());

    // A second checkpoint deletes the first.
    let id2 = wal.rotate().unwrap();
    wal.write_checkpoint(id2, &mut |w| w.write_all(b"second"))
        .unwrap();
    drop(wal);
    let names: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("checkpoint"))
        .collect();
    assert_eq!(names, vec![format!("checkpoint.{id2:08}")]);
    let (_wal, mut replay) = Wal::open(cfg(tmp.path())).unwrap();
    let mut got = Vec::new();
    replay.checkpoint().unwrap().read_to_end(&mut got).unwrap();
    assert_eq!(got, b"second");
    assert!(collect(replay).is_empty());
}

#[tokio::test]
async fn checkpoint_id_is_validated() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(cfg(tmp.path())).unwrap();
    let id = wal.rotate().unwrap();
    let err = wal.write_checkpoint(id + 1, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, WalError::CheckpointAhead { .. }), "{err}");
    wal.write_checkpoint(id, &mut |_| Ok(())).unwrap();
    let err = wal.write_checkpoint(id - 1, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, WalError::CheckpointStale { .. }), "{err}");
    // A failing callback leaves no file behind and keeps the old checkpoint.
    let id2 = wal.rotate().unwrap();
    let err = wal
        .write_checkpoint(id2, &mut |_| Err(std::io::Error::other("boom")))
        .unwrap_err();
    assert!(matches!(err, WalError::CheckpointWrite(_)), "{err}");
    assert!(!format::checkpoint_tmp_path(tmp.path(), id2).exists());
    assert!(format::checkpoint_path(tmp.path(), id).exists());
}

#[tokio::test]
async fn crash_leftovers_of_a_checkpoint_are_cleaned_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(cfg(tmp.path())).unwrap();
    wal.append(rec(0)).await.unwrap();
    let id = wal.rotate().unwrap();
    wal.append(rec(1)).await.unwrap();
    drop(wal);
    // Crash after rename, before deleting covered segments: write the
    // checkpoint file by hand, leave the old segment, add a stray tmp.
    let (wal2, _) = Wal::open(cfg(tmp.path())).unwrap();
    std::mem::forget(wal2); // no close: like a crash
    super::checkpoint::write(tmp.path(), id, &mut |w| w.write_all(b"cp")).unwrap();
    fs::write(
        format::segment_path(tmp.path(), id - 1),
        b"stale but present",
    )
    .unwrap();
    fs::write(
        format::checkpoint_tmp_path(tmp.path(), id + 5),
        b"half written",
    )
    .unwrap();

    let (_wal, mut replay) = Wal::open(cfg(tmp.path())).unwrap();
    let mut got = Vec::new();
    replay.checkpoint().unwrap().read_to_end(&mut got).unwrap();
    assert_eq!(got, b"cp");
    assert_eq!(collect(replay), vec![rec(1)]);
    assert!(!format::segment_path(tmp.path(), id - 1).exists());
    assert!(!format::checkpoint_tmp_path(tmp.path(), id + 5).exists());
    // The new active segment is past every id seen, tmp included.
    assert!(segment_files(tmp.path()).contains(&(id + 6)));
}

#[tokio::test]
async fn damaged_checkpoint_falls_back_to_older() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(cfg(tmp.path())).unwrap();
    let a = wal.rotate().unwrap();
    wal.write_checkpoint(a, &mut |w| w.write_all(b"old"))
        .unwrap();
    wal.append(rec(0)).await.unwrap();
    drop(wal);
    // A newer checkpoint whose payload got a bit flipped, written elsewhere
    // so that writing it deletes nothing here.
    let b = a + 10;
    let other = tempfile::tempdir().unwrap();
    super::checkpoint::write(other.path(), b, &mut |w| w.write_all(b"newer")).unwrap();
    let mut raw = fs::read(format::checkpoint_path(other.path(), b)).unwrap();
    raw[HEADER_LEN] ^= 0x01;
    fs::write(format::checkpoint_path(tmp.path(), b), raw).unwrap();

    let ((_wal, mut replay), _, errors) = counting_logs(|| Wal::open(cfg(tmp.path())).unwrap());
    assert_eq!(errors, 1);
    assert_eq!(replay.checkpoint_id(), Some(a));
    let mut got = Vec::new();
    replay.checkpoint().unwrap().read_to_end(&mut got).unwrap();
    assert_eq!(got, b"old");
    assert_eq!(collect(replay), vec![rec(0)]);
}

/// Writes records 0..n into one segment and returns its path plus the file
/// offset where each record's frame starts.
async fn one_segment(dir: &Path, n: usize) -> (std::path::PathBuf, Vec<u64>) {
    let (wal, _) = Wal::open(cfg(dir)).unwrap();
    for i in 0..n {
        wal.append(rec(i)).await.unwrap();
    }
    drop(wal);
    let segs = segment_files(dir);
    let path = format::segment_path(dir, segs[0]);
    let mut offsets = vec![HEADER_LEN as u64];
    for i in 0..n {
        let last = *offsets.last().unwrap();
        offsets.push(last + (FRAME_HEADER_LEN + rec(i).len()) as u64);
    }
    assert_eq!(fs::metadata(&path).unwrap().len(), offsets[n]);
    (path, offsets)
}

#[tokio::test]
async fn torn_tail_keeps_earlier_records() {
    for cut_inside in [1u64, 4, 8, 9] {
        let tmp = tempfile::tempdir().unwrap();
        let (path, offsets) = one_segment(tmp.path(), 20).await;
        let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(offsets[15] + cut_inside).unwrap();
        drop(f);
        let ((_wal, replay), _, _) = counting_logs(|| Wal::open(cfg(tmp.path())).unwrap());
        let (got, warns, errors) = counting_logs(|| collect(replay));
        assert_eq!(
            got,
            (0..15).map(rec).collect::<Vec<_>>(),
            "cut at +{cut_inside}"
        );
        assert_eq!((warns, errors), (1, 0), "cut at +{cut_inside}");
    }
}

#[tokio::test]
async fn zero_filled_tail_is_torn_not_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, offsets) = one_segment(tmp.path(), 5).await;
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(offsets[5] + 4096).unwrap();
    drop(f);
    let (_wal, replay) = Wal::open(cfg(tmp.path())).unwrap();
    let (got, warns, errors) = counting_logs(|| collect(replay));
    assert_eq!(got, (0..5).map(rec).collect::<Vec<_>>());
    assert_eq!((warns, errors), (1, 0));
}

/// A segment a crashed direct writer left ends in zero padding up to the
/// next 4 KiB boundary: replay ends there quietly, whatever the padding's
/// length (even shorter than a record header). A zero tail a whole block
/// long is no padding: it is torn, with a warning.
#[tokio::test]
async fn direct_write_padding_ends_a_segment_quietly() {
    for pad in [0usize, 1, 7, 8, 9, 100, 4095, 4096] {
        let tmp = tempfile::tempdir().unwrap();
        let mut seg = format::encode_header(format::SEGMENT_MAGIC, 1).to_vec();
        for i in 0..5 {
            format::encode_record(&mut seg, &rec(i));
        }
        // a last record sized so the padding is `pad` bytes long
        let used = (seg.len() + FRAME_HEADER_LEN + pad) % 4096;
        let last = Bytes::from(vec![b'z'; 4096 - used + 4096]);
        format::encode_record(&mut seg, &last);
        let end = seg.len();
        seg.resize(end + pad, 0);
        assert_eq!(seg.len() % 4096, 0);
        fs::write(format::segment_path(tmp.path(), 1), &seg).unwrap();
        let (_wal, replay) = Wal::open(cfg(tmp.path())).unwrap();
        let (got, warns, errors) = counting_logs(|| collect(replay));
        let mut want: Vec<Bytes> = (0..5).map(rec).collect();
        want.push(last);
        assert_eq!(got, want, "padding {pad}");
        let torn = usize::from(pad == 4096);
        assert_eq!((warns, errors), (torn, 0), "padding {pad}");
    }
}

/// Both ways of writing (direct where the file system allows it, and
/// through the page cache) leave segments that are exactly the header and
/// the frames, and replay every record, across rotations.
#[tokio::test]
async fn direct_and_buffered_segments_hold_exactly_the_frames() {
    for direct_io in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let c = WalConfig {
            segment_size: 20_000,
            direct_io,
            ..cfg(tmp.path())
        };
        let (wal, _) = Wal::open(c.clone()).unwrap();
        let mut sizes = 0u64;
        for i in 0..300 {
            // records of 10..~5000 bytes: frames end anywhere in a block
            let r = Bytes::from(vec![(i % 251) as u8; 10 + i * 4099 % 5000]);
            sizes += format::frame_len(r.len());
            wal.append(r).await.unwrap();
        }
        wal.close().unwrap();
        let segs = segment_files(tmp.path());
        assert!(segs.len() > 10, "{segs:?}");
        let on_disk: u64 = segs
            .iter()
            .map(|id| {
                fs::metadata(format::segment_path(tmp.path(), *id))
                    .unwrap()
                    .len()
            })
            .sum();
        assert_eq!(on_disk, sizes + (segs.len() * HEADER_LEN) as u64);
        let (_wal, replay) = Wal::open(c).unwrap();
        let got = collect(replay);
        assert_eq!(got.len(), 300, "direct {direct_io}");
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.len(), 10 + i * 4099 % 5000, "direct {direct_io}");
            assert!(r.iter().all(|&b| b == (i % 251) as u8));
        }
    }
}

#[tokio::test]
async fn corrupt_byte_stops_that_segment_with_an_error() {
    // Flip a byte in record 7's length, checksum and payload in turn.
    for delta in [0u64, 5, 12] {
        let tmp = tempfile::tempdir().unwrap();
        let (path, offsets) = one_segment(tmp.path(), 12).await;
        let mut raw = fs::read(&path).unwrap();
        raw[(offsets[7] + delta) as usize] ^= 0x40;
        fs::write(&path, raw).unwrap();
        // A later segment written after the damage still replays.
        let (wal, replay) = Wal::open(cfg(tmp.path())).unwrap();
        drop(replay);
        wal.append(rec(100)).await.unwrap();
        drop(wal);
        let (_wal, replay) = Wal::open(cfg(tmp.path())).unwrap();
        let (got, _, errors) = counting_logs(|| collect(replay));
        let mut want: Vec<Bytes> = (0..7).map(rec).collect();
        want.push(rec(100));
        assert_eq!(got, want, "byte +{delta}");
        assert_eq!(errors, 1, "byte +{delta}");
    }
}

#[tokio::test]
async fn bad_segment_header_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, _) = one_segment(tmp.path(), 3).await;
    let mut raw = fs::read(&path).unwrap();
    raw[0] = b'X';
    fs::write(&path, raw).unwrap();
    fs::write(format::segment_path(tmp.path(), 0), b"SLW").unwrap(); // torn header
    let (_wal, replay) = Wal::open(cfg(tmp.path())).unwrap();
    let (got, warns, errors) = counting_logs(|| collect(replay));
    assert!(got.is_empty());
    assert_eq!((warns, errors), (1, 1));
}

#[tokio::test]
async fn records_survive_several_restarts_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    for round in 0..4 {
        let (wal, replay) = Wal::open(cfg(tmp.path())).unwrap();
        assert_eq!(
            collect(replay),
            (0..n).map(rec).collect::<Vec<_>>(),
            "round {round}"
        );
        for _ in 0..7 {
            wal.append(rec(n)).await.unwrap();
            n += 1;
        }
        if round % 2 == 1 {
            std::mem::forget(wal); // no close
        }
    }
}

#[tokio::test]
async fn submitted_records_are_written_whether_or_not_their_future_is_awaited() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(cfg(tmp.path())).unwrap();
    // queued in order, awaited out of order or not at all
    let first = wal.submit(rec(0)).unwrap();
    let second = wal.submit(rec(1)).unwrap();
    drop(wal.submit(rec(2)).unwrap());
    second.await.unwrap();
    first.await.unwrap();
    // errors known up front come from submit itself
    let big = Bytes::from(vec![0u8; super::MAX_RECORD_LEN + 1]);
    assert!(matches!(
        wal.submit(big),
        Err(WalError::RecordTooLarge { .. })
    ));
    wal.close().unwrap();
    assert!(matches!(wal.submit(rec(3)), Err(WalError::Closed)));
    let (_, replay) = Wal::open(cfg(tmp.path())).unwrap();
    assert_eq!(collect(replay), (0..3).map(rec).collect::<Vec<_>>());
}

#[tokio::test]
async fn lone_append_does_not_wait_for_a_timer() {
    for fsync in [
        FsyncPolicy::Always,
        FsyncPolicy::Interval(Duration::from_secs(30)),
        FsyncPolicy::Never,
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = cfg(tmp.path());
        c.fsync = fsync;
        let (wal, _) = Wal::open(c.clone()).unwrap();
        let start = Instant::now();
        for i in 0..5 {
            wal.append(rec(i)).await.unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{fsync:?}");
        drop(wal);
        let (_wal, replay) = Wal::open(c).unwrap();
        assert_eq!(collect(replay).len(), 5, "{fsync:?}");
    }
}

#[tokio::test]
async fn closed_and_disabled_wals() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(cfg(tmp.path())).unwrap();
    wal.append(rec(0)).await.unwrap();
    wal.close().unwrap();
    wal.close().unwrap();
    assert!(matches!(wal.append(rec(1)).await, Err(WalError::Closed)));
    assert!(matches!(wal.rotate(), Err(WalError::Closed)));

    let off = tmp.path().join("off");
    let mut c = cfg(&off);
    c.enabled = false;
    let (wal, replay) = Wal::open(c).unwrap();
    wal.append(rec(0)).await.unwrap();
    assert_eq!(wal.rotate().unwrap(), 0);
    let mut called = false;
    wal.write_checkpoint(0, &mut |_| {
        called = true;
        Ok(())
    })
    .unwrap();
    assert!(!called);
    assert!(collect(replay).is_empty());
    assert!(!off.exists());
}

#[tokio::test]
async fn oversized_record_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(cfg(tmp.path())).unwrap();
    let big = Bytes::from(vec![0u8; super::MAX_RECORD_LEN + 1]);
    assert!(matches!(
        wal.append(big).await,
        Err(WalError::RecordTooLarge { .. })
    ));
}

#[test]
fn wal_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wal>();
    fn assert_send<T: Send>() {}
    assert_send::<Replay>();
}

#[tokio::test]
async fn failed_rotation_is_reported_and_appends_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let mut c = cfg(&dir);
    c.segment_size = 256;
    let (wal, _) = Wal::open(c).unwrap();
    wal.append(rec(0)).await.unwrap();
    fs::remove_dir_all(&dir).unwrap();
    let err = wal.rotate().unwrap_err();
    assert!(matches!(err, WalError::Io { .. }), "{err}");
    // The active (now unlinked) segment still takes writes, also past its
    // size limit when size-triggered rotations fail.
    for i in 1..50 {
        wal.append(rec(i)).await.unwrap();
    }
    wal.close().unwrap();
}

#[tokio::test]
async fn missing_segment_after_checkpoint_is_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(cfg(tmp.path())).unwrap();
    let id = wal.rotate().unwrap();
    wal.write_checkpoint(id, &mut |_| Ok(())).unwrap();
    wal.append(rec(0)).await.unwrap();
    wal.rotate().unwrap();
    wal.append(rec(1)).await.unwrap();
    drop(wal);
    fs::remove_file(format::segment_path(tmp.path(), id)).unwrap();
    let ((_wal, replay), warns, errors) = counting_logs(|| Wal::open(cfg(tmp.path())).unwrap());
    assert_eq!((warns, errors), (1, 0));
    assert_eq!(collect(replay), vec![rec(1)]);
}

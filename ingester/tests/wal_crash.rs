//! Crash test of the WAL with real processes.
//!
//! The test re-runs its own executable as a child (selected by an env var).
//! The child appends records from many tasks, checkpoints now and then the
//! way the ingester does (quiesce, rotate, snapshot, write), and prints every
//! acknowledged id. The parent SIGKILLs it mid-stream, reopens the WAL and
//! checks that every acknowledged id comes back exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_ingester::wal::{FsyncPolicy, Replay, Wal, WalConfig};

const CHILD_ENV: &str = "SLUICE_WAL_CRASH_CHILD_DIR";
const ROUND_ENV: &str = "SLUICE_WAL_CRASH_ROUND";
const TEST_NAME: &str = "sigkill_mid_stream_loses_no_acked_record";

/// Odd rounds use `Interval`: it acks after `write()`, which must also
/// survive a process crash (only a machine crash may lose an interval).
/// Rounds 0 and 1 write with `O_DIRECT` (where the file system allows it),
/// 2 and 3 through the page cache, so each replays the other's segments.
fn config(dir: &Path, round: usize) -> WalConfig {
    let fsync = if round % 2 == 1 {
        FsyncPolicy::Interval(Duration::from_millis(50))
    } else {
        FsyncPolicy::Always
    };
    WalConfig {
        dir: dir.to_path_buf(),
        segment_size: 64 << 10,
        fsync,
        direct_io: round < 2,
        ..WalConfig::default()
    }
}

fn payload(id: &str, seq: usize) -> Bytes {
    let pad = "p".repeat(seq * 37 % 3000);
    Bytes::from(format!("{id}|{pad}"))
}

fn id_of(record: &[u8]) -> String {
    let s = std::str::from_utf8(record).unwrap();
    s.split('|').next().unwrap().to_owned()
}

/// The child: restores the replayed state like the ingester would, then
/// appends forever until killed (or 30 s pass).
fn child(dir: &Path, round: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (wal, replay) = Wal::open(config(dir, round)).unwrap();
        let restored = ids_of(replay);
        let wal = Arc::new(wal);
        // Applied state: every id acked so far. Appenders hold `gate` for
        // reading across "append + apply"; a checkpoint takes it for writing,
        // so no push is between the two while the snapshot is taken.
        let state = Arc::new(parking_lot::Mutex::new(restored));
        let gate = Arc::new(tokio::sync::RwLock::new(()));
        let mut tasks = Vec::new();
        for task in 0..8 {
            let (wal, state, gate) = (wal.clone(), state.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                for seq in 0.. {
                    let id = format!("{round}:{task}:{seq}");
                    let pass = gate.read().await;
                    wal.append(payload(&id, seq)).await.unwrap();
                    state.lock().push(id.clone());
                    drop(pass);
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {id}").unwrap();
                    out.flush().unwrap();
                }
            }));
        }
        let checkpointer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(30)).await;
                let quiet = gate.write().await;
                let seg = wal.rotate().unwrap();
                let snapshot = state.lock().join("\n");
                drop(quiet);
                wal.write_checkpoint(seg, &mut |w| w.write_all(snapshot.as_bytes()))
                    .unwrap();
            }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        checkpointer.abort();
        for t in tasks {
            t.abort();
        }
    });
}

/// Every id in a replay, checkpoint first.
fn ids_of(mut replay: Replay) -> Vec<String> {
    let mut ids = Vec::new();
    if let Some(mut cp) = replay.checkpoint() {
        let mut s = String::new();
        cp.read_to_string(&mut s).unwrap();
        ids.extend(s.lines().filter(|l| !l.is_empty()).map(str::to_owned));
    }
    for r in replay.records() {
        ids.push(id_of(&r.unwrap()));
    }
    ids
}

/// Reopens the WAL and returns every replayed id, checkpoint first.
fn replayed_ids(dir: &Path) -> Vec<String> {
    let (wal, replay) = Wal::open(config(dir, 0)).unwrap();
    let ids = ids_of(replay);
    wal.close().unwrap();
    ids
}

#[test]
fn sigkill_mid_stream_loses_no_acked_record() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let round = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
        child(Path::new(&dir), round);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked = Vec::new();
    for round in 0..4usize {
        let mut proc = Command::new(&exe)
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, tmp.path())
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = proc.stdout.take().unwrap();
        let kill_after = acked.len() + 300 + round * 211;
        let mut killed = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ACK ") {
                acked.push(id.to_owned());
            }
            if !killed && acked.len() >= kill_after {
                proc.kill().unwrap(); // SIGKILL on Unix
                killed = true;
            }
        }
        let status = proc.wait().unwrap();
        assert!(killed, "child ended on its own: {status:?}");
        assert!(!status.success());

        // Every id acked in this or any earlier round must come back once.
        let ids = replayed_ids(tmp.path());
        let unique: HashSet<&String> = ids.iter().collect();
        let segments = std::fs::read_dir(tmp.path()).unwrap().count();
        eprintln!(
            "round {round}: {} acked, {} replayed, {segments} files",
            acked.len(),
            ids.len()
        );
        assert_eq!(
            unique.len(),
            ids.len(),
            "round {round}: duplicate ids replayed"
        );
        let missing: Vec<&String> = acked.iter().filter(|id| !unique.contains(id)).collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} of {} acked ids lost, e.g. {:?}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(5)]
        );
    }
}

//! The raft log on local disk: an append-only file plus vote and commit files.
//!
//! Layout under the member's `dir`:
//!
//! - `log`: records, each `[len: u32 LE][crc32 of payload: u32 LE][payload]`,
//!   the payload being the JSON of a [`Record`]. Every operation appends one
//!   or more records and fsyncs before returning (entries: before raft is
//!   told they are durable): `Entry` (a later entry at the same index
//!   replaces an earlier one), `Truncated(index)` (drop entries from index
//!   on), `Purged(log_id)` (drop entries up to it; they are in a snapshot).
//!   Replaying the records in order rebuilds the log. When the file holds
//!   many more records than live entries it is rewritten atomically
//!   (`Purged` header plus live entries). A torn record at the tail (crash
//!   mid-append) is detected by its length or checksum and cut off on open.
//! - `vote.json`: the last vote, replaced atomically and fsynced.
//! - `committed.json`: the last known committed log id (not fsynced; it only
//!   speeds up recovery).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, LogId, LogState, OptionalSend, RaftLogId, RaftLogReader, StorageError, StorageIOError,
    Vote,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::TypeConfig;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

type StorageResult<T> = std::result::Result<T, StorageError<u64>>;

/// One record of the `log` file.
#[derive(Serialize, Deserialize)]
enum Record {
    Purged(LogId<u64>),
    Truncated(u64),
    Entry(Entry<TypeConfig>),
}

/// Compact the file when it holds more than twice the live entries plus this many records.
const COMPACT_SLACK: usize = 256;

/// File-backed raft log storage; clones share the same log (a clone is the reader).
#[derive(Clone)]
pub struct FileLogStore {
    inner: Arc<Mutex<LogInner>>,
}

struct LogInner {
    dir: PathBuf,
    /// Append handle; `None` only while a blocking write holds it.
    file: Option<std::fs::File>,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<u64>>,
    /// Records in the file (live or not), to decide when to compact.
    records_in_file: usize,
    vote: Option<Vote<u64>>,
    committed: Option<LogId<u64>>,
}

impl FileLogStore {
    /// Opens (or creates) the log in `dir`, recovering entries, vote and commit.
    pub async fn open(dir: &Path) -> Result<FileLogStore> {
        let dir = dir.to_path_buf();
        let inner = tokio::task::spawn_blocking(move || open_blocking(dir))
            .await
            .map_err(|e| Error::Raft(format!("opening raft log: {e}")))??;
        Ok(FileLogStore {
            inner: Arc::new(Mutex::new(inner)),
        })
    }
}

fn open_blocking(dir: PathBuf) -> Result<LogInner> {
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating raft directory {}", dir.display()), e))?;
    let path = dir.join("log");
    let mut bytes = Vec::new();
    match std::fs::File::open(&path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("opening {}", path.display()), e)),
    }
    let (records, good_len) = decode_records(&bytes);
    let records_in_file = records.len();
    let mut entries = BTreeMap::new();
    let mut last_purged = None;
    for record in records {
        match record {
            Record::Purged(id) => {
                entries.retain(|idx, _| *idx > id.index);
                last_purged = Some(id);
            }
            Record::Truncated(index) => entries.retain(|idx, _| *idx < index),
            Record::Entry(e) => {
                entries.insert(e.log_id.index, e);
            }
        }
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    if good_len < bytes.len() {
        tracing::warn!(path = %path.display(), dropped = bytes.len() - good_len, "cutting torn tail of raft log");
        file.set_len(good_len as u64)
            .map_err(|e| Error::io(format!("truncating {}", path.display()), e))?;
    }
    let vote = read_json(&dir.join("vote.json"))?;
    let committed = read_json(&dir.join("committed.json"))?;
    Ok(LogInner {
        dir,
        file: Some(file),
        entries,
        last_purged,
        records_in_file,
        vote,
        committed,
    })
}

/// Decodes complete, checksummed records; returns them and the byte length they span.
fn decode_records(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    while bytes.len() - pos >= 8 {
        let len = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
            as usize;
        let crc = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]);
        let Some(payload) = bytes.get(pos + 8..pos + 8 + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        match serde_json::from_slice::<Record>(payload) {
            Ok(r) => out.push(r),
            Err(_) => break,
        }
        pos += 8 + len;
    }
    (out, pos)
}

fn encode_record(record: &Record, out: &mut Vec<u8>) -> Result<()> {
    let payload = serde_json::to_vec(record).map_err(|e| Error::Corrupt {
        what: "raft log record".to_string(),
        reason: e.to_string(),
    })?;
    let len = u32::try_from(payload.len()).map_err(|_| Error::Corrupt {
        what: "raft log record".to_string(),
        reason: "record larger than 4 GiB".to_string(),
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                what: path.display().to_string(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

fn write_err(e: &Error) -> StorageError<u64> {
    StorageIOError::write_logs(e).into()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Raft(format!("raft storage task failed: {e}")))?
}

impl LogInner {
    /// Appends encoded records to the file and fsyncs it.
    async fn append_records(&mut self, bytes: Vec<u8>, count: usize) -> Result<()> {
        let Some(mut file) = self.file.take() else {
            return Err(Error::Raft(
                "raft log file is not open after a failed write; restart the member".to_string(),
            ));
        };
        let (file, result) = tokio::task::spawn_blocking(move || {
            let r = file.write_all(&bytes).and_then(|()| file.sync_data());
            (file, r)
        })
        .await
        .map_err(|e| Error::Raft(format!("raft log append task failed: {e}")))?;
        self.file = Some(file);
        result.map_err(|e| {
            Error::io(
                format!("appending to {}", self.dir.join("log").display()),
                e,
            )
        })?;
        self.records_in_file += count;
        Ok(())
    }

    /// Rewrites the file with only the live entries once dead records dominate.
    async fn maybe_compact(&mut self) -> Result<()> {
        if self.records_in_file <= 2 * self.entries.len() + COMPACT_SLACK {
            return Ok(());
        }
        let mut bytes = Vec::new();
        if let Some(p) = self.last_purged {
            encode_record(&Record::Purged(p), &mut bytes)?;
        }
        for e in self.entries.values() {
            encode_record(&Record::Entry(e.clone()), &mut bytes)?;
        }
        let count = self.entries.len() + usize::from(self.last_purged.is_some());
        let path = self.dir.join("log");
        self.file = None;
        let file = blocking(move || {
            write_atomic(&path, &bytes, true)?;
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))
        })
        .await?;
        self.file = Some(file);
        self.records_in_file = count;
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for FileLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let inner = self.inner.lock().await;
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for FileLogStore {
    type LogReader = FileLogStore;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let inner = self.inner.lock().await;
        let last = inner.entries.values().next_back().map(|e| *e.get_log_id());
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last.or(inner.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> StorageResult<()> {
        let mut inner = self.inner.lock().await;
        let path = inner.dir.join("vote.json");
        let bytes = serde_json::to_vec(vote).map_err(|e| StorageIOError::write_vote(&e))?;
        blocking(move || write_atomic(&path, &bytes, true))
            .await
            .map_err(|e| StorageIOError::write_vote(&e))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<u64>>> {
        Ok(self.inner.lock().await.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> StorageResult<()> {
        let mut inner = self.inner.lock().await;
        inner.committed = committed;
        let path = inner.dir.join("committed.json");
        let bytes = serde_json::to_vec(&committed).map_err(|e| StorageIOError::write(&e))?;
        blocking(move || write_atomic(&path, &bytes, false))
            .await
            .map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<u64>>> {
        Ok(self.inner.lock().await.committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.inner.lock().await;
        let mut bytes = Vec::new();
        let mut count = 0;
        for e in entries {
            encode_record(&Record::Entry(e.clone()), &mut bytes).map_err(|e| write_err(&e))?;
            inner.entries.insert(e.log_id.index, e);
            count += 1;
        }
        match inner.append_records(bytes, count).await {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(write_err(&e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        let mut inner = self.inner.lock().await;
        inner.entries.retain(|idx, _| *idx < log_id.index);
        let mut bytes = Vec::new();
        encode_record(&Record::Truncated(log_id.index), &mut bytes).map_err(|e| write_err(&e))?;
        inner
            .append_records(bytes, 1)
            .await
            .map_err(|e| write_err(&e))
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        let mut inner = self.inner.lock().await;
        inner.entries.retain(|idx, _| *idx > log_id.index);
        inner.last_purged = Some(log_id);
        let mut bytes = Vec::new();
        encode_record(&Record::Purged(log_id), &mut bytes).map_err(|e| write_err(&e))?;
        inner
            .append_records(bytes, 1)
            .await
            .map_err(|e| write_err(&e))?;
        inner.maybe_compact().await.map_err(|e| write_err(&e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    #[test]
    fn torn_tail_is_ignored() {
        let mut bytes = Vec::new();
        encode_record(&Record::Entry(entry(1)), &mut bytes).unwrap();
        encode_record(&Record::Entry(entry(2)), &mut bytes).unwrap();
        let full = bytes.len();
        encode_record(&Record::Entry(entry(3)), &mut bytes).unwrap();
        let torn = &bytes[..bytes.len() - 3];
        let (records, good) = decode_records(torn);
        assert_eq!(records.len(), 2);
        assert_eq!(good, full);
        let mut corrupt = bytes.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert_eq!(decode_records(&corrupt).0.len(), 2);
    }

    #[test]
    fn replay_applies_truncate_and_purge_records_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for i in 1..=5 {
            encode_record(&Record::Entry(entry(i)), &mut bytes).unwrap();
        }
        encode_record(&Record::Truncated(4), &mut bytes).unwrap();
        let mut replaced = entry(4);
        replaced.log_id = LogId::new(CommittedLeaderId::new(2, 3), 4);
        encode_record(&Record::Entry(replaced), &mut bytes).unwrap();
        encode_record(
            &Record::Purged(LogId::new(CommittedLeaderId::new(1, 1), 1)),
            &mut bytes,
        )
        .unwrap();
        std::fs::write(dir.path().join("log"), &bytes).unwrap();
        let inner = open_blocking(dir.path().to_path_buf()).unwrap();
        let got: Vec<(u64, u64)> = inner
            .entries
            .values()
            .map(|e| (e.log_id.index, e.log_id.leader_id.term))
            .collect();
        assert_eq!(got, vec![(2, 1), (3, 1), (4, 2)]);
        assert_eq!(inner.last_purged.unwrap().index, 1);
        assert_eq!(inner.records_in_file, 8);
    }

    #[tokio::test]
    async fn purge_compacts_a_mostly_dead_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        for i in 1..=400 {
            encode_record(&Record::Entry(entry(i)), &mut bytes).unwrap();
        }
        std::fs::write(dir.path().join("log"), &bytes).unwrap();
        let mut store = FileLogStore::open(dir.path()).await.unwrap();
        store
            .purge(LogId::new(CommittedLeaderId::new(1, 1), 390))
            .await
            .unwrap();
        assert_eq!(store.inner.lock().await.records_in_file, 11);
        let size = std::fs::metadata(dir.path().join("log")).unwrap().len();
        assert!(size < bytes.len() as u64 / 10, "{size}");
        let mut store = FileLogStore::open(dir.path()).await.unwrap();
        let got = store.try_get_log_entries(..).await.unwrap();
        assert_eq!(got.len(), 10);
        assert_eq!(got[0].log_id.index, 391);
        assert_eq!(
            store
                .get_log_state()
                .await
                .unwrap()
                .last_purged_log_id
                .unwrap()
                .index,
            390
        );
    }

    #[tokio::test]
    async fn entries_vote_and_purge_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let inner = open_blocking(dir.path().to_path_buf()).unwrap();
            let mut store = FileLogStore {
                inner: Arc::new(Mutex::new(inner)),
            };
            let mut bytes = Vec::new();
            for i in 1..=5 {
                encode_record(&Record::Entry(entry(i)), &mut bytes).unwrap();
            }
            std::fs::write(dir.path().join("log"), &bytes).unwrap();
            drop(store.inner.lock().await.file.take());
            store = FileLogStore::open(dir.path()).await.unwrap();
            store.save_vote(&Vote::new(3, 2)).await.unwrap();
            store
                .purge(LogId::new(CommittedLeaderId::new(1, 1), 2))
                .await
                .unwrap();
            store
                .truncate(LogId::new(CommittedLeaderId::new(1, 1), 5))
                .await
                .unwrap();
        }
        let mut store = FileLogStore::open(dir.path()).await.unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id.unwrap().index, 2);
        assert_eq!(state.last_log_id.unwrap().index, 4);
        let got = store.try_get_log_entries(0..10).await.unwrap();
        assert_eq!(
            got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(3, 2)));
    }
}

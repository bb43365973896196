//! The replicated state: ring descriptors by key, built by applying raft
//! entries (per-instance last-write-wins merges) and saved as snapshots.
//!
//! `snapshot.json` under the member's `dir` holds the last snapshot: its
//! raft metadata and the full state, written atomically and fsynced. On
//! start the state machine loads it and raft re-applies the log after it.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, Snapshot,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{KvResponse, TypeConfig};
use crate::desc::{now_ns, RingDesc};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

type StorageResult<T> = std::result::Result<T, StorageError<u64>>;

/// Everything the state machine holds; also the snapshot payload.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct SmData {
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    data: BTreeMap<String, RingDesc>,
}

/// The `snapshot.json` file.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, BasicNode>,
    state: SmData,
}

/// Read access to the applied state, shared with the member's KV API.
#[derive(Clone, Default)]
pub(crate) struct SharedState {
    data: Arc<RwLock<SmData>>,
    watchers: Arc<Mutex<HashMap<String, watch::Sender<Option<RingDesc>>>>>,
}

impl SharedState {
    /// The descriptor applied under `key`.
    pub(crate) fn get(&self, key: &str) -> Option<RingDesc> {
        self.data.read().data.get(key).cloned()
    }

    /// Index of the last applied entry.
    pub(crate) fn last_applied_index(&self) -> Option<u64> {
        self.data.read().last_applied.map(|l| l.index)
    }

    /// A receiver updated whenever `key` changes on this member.
    pub(crate) fn watch(&self, key: &str) -> watch::Receiver<Option<RingDesc>> {
        let current = self.get(key);
        let mut watchers = self.watchers.lock();
        let tx = watchers
            .entry(key.to_string())
            .or_insert_with(|| watch::channel(current.clone()).0);
        tx.send_if_modified(|v| {
            let differs = *v != current;
            if differs {
                v.clone_from(&current);
            }
            differs
        });
        tx.subscribe()
    }

    fn notify(&self, keys: &[String]) {
        let watchers = self.watchers.lock();
        for key in keys {
            if let Some(tx) = watchers.get(key) {
                let value = self.get(key);
                tx.send_replace(value);
            }
        }
    }

    fn notify_all(&self) {
        let keys: Vec<String> = self.watchers.lock().keys().cloned().collect();
        self.notify(&keys);
    }
}

/// The raft state machine of the membership store.
#[derive(Clone)]
pub struct KvStateMachine {
    shared: SharedState,
    dir: PathBuf,
}

impl KvStateMachine {
    /// Opens the state machine, loading the last snapshot from `dir`.
    pub(crate) async fn open(dir: &Path) -> Result<(KvStateMachine, SharedState)> {
        let path = dir.join("snapshot.json");
        let stored = tokio::task::spawn_blocking(move || read_snapshot(&path))
            .await
            .map_err(|e| Error::Raft(format!("loading raft snapshot: {e}")))??;
        let shared = SharedState::default();
        if let Some(s) = stored {
            *shared.data.write() = s.state;
        }
        Ok((
            KvStateMachine {
                shared: shared.clone(),
                dir: dir.to_path_buf(),
            },
            shared,
        ))
    }

    async fn save(&self, stored: StoredSnapshot) -> Result<()> {
        let bytes = serde_json::to_vec(&stored).map_err(|e| Error::Corrupt {
            what: "raft snapshot".to_string(),
            reason: e.to_string(),
        })?;
        let path = self.dir.join("snapshot.json");
        tokio::task::spawn_blocking(move || write_atomic(&path, &bytes, true))
            .await
            .map_err(|e| Error::Raft(format!("saving raft snapshot: {e}")))?
    }
}

fn read_snapshot(path: &Path) -> Result<Option<StoredSnapshot>> {
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

impl RaftSnapshotBuilder<TypeConfig> for KvStateMachine {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let state = self.shared.data.read().clone();
        let meta = SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.membership.clone(),
            snapshot_id: format!("{}-{}", state.last_applied.map_or(0, |l| l.index), now_ns()),
        };
        let bytes = serde_json::to_vec(&state)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.save(StoredSnapshot {
            meta: meta.clone(),
            state,
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::debug!(snapshot = %meta.snapshot_id, "built raft snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for KvStateMachine {
    type SnapshotBuilder = KvStateMachine;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>)> {
        let data = self.shared.data.read();
        Ok((data.last_applied, data.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<KvResponse>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        let mut changed_keys = Vec::new();
        {
            let mut data = self.shared.data.write();
            for entry in entries {
                data.last_applied = Some(entry.log_id);
                let mut response = KvResponse::default();
                match entry.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Normal(cmd) => {
                        let desc = data.data.entry(cmd.key.clone()).or_default();
                        response.changed = desc.merge(&cmd.delta);
                        if response.changed {
                            changed_keys.push(cmd.key);
                        }
                    }
                    EntryPayload::Membership(m) => {
                        data.membership = StoredMembership::new(Some(entry.log_id), m);
                    }
                }
                responses.push(response);
            }
        }
        self.shared.notify(&changed_keys);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let mut state: SmData = serde_json::from_slice(snapshot.get_ref())
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        state.last_applied = meta.last_log_id;
        state.membership = meta.last_membership.clone();
        self.save(StoredSnapshot {
            meta: meta.clone(),
            state: state.clone(),
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        *self.shared.data.write() = state;
        self.shared.notify_all();
        tracing::info!(snapshot = %meta.snapshot_id, "installed raft snapshot from the leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let path = self.dir.join("snapshot.json");
        let stored = tokio::task::spawn_blocking(move || read_snapshot(&path))
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, &Error::Raft(e.to_string())))?
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let bytes = serde_json::to_vec(&stored.state)
            .map_err(|e| StorageIOError::read_snapshot(Some(stored.meta.signature()), &e))?;
        Ok(Some(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

//! In-process membership store: one map of watch channels.

use std::collections::HashMap;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::watch;

use super::{CasFn, MembershipKv};
use crate::desc::{now_ns, RingDesc};
use crate::error::Result;

/// Membership store for a single process (`kvstore.store: inmemory`).
#[derive(Default)]
pub struct InMemoryKv {
    keys: Mutex<HashMap<String, watch::Sender<Option<RingDesc>>>>,
}

impl InMemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        InMemoryKv::default()
    }

    fn sender(&self, key: &str) -> watch::Sender<Option<RingDesc>> {
        self.keys
            .lock()
            .entry(key.to_string())
            .or_insert_with(|| watch::channel(None).0)
            .clone()
    }
}

#[async_trait]
impl MembershipKv for InMemoryKv {
    async fn get(&self, key: &str) -> Result<Option<RingDesc>> {
        Ok(self.sender(key).borrow().clone())
    }

    async fn cas(&self, key: &str, f: &mut CasFn<'_>) -> Result<bool> {
        let tx = self.sender(key);
        let mut written = false;
        // `send_if_modified` holds the channel's lock, so the read, the
        // caller's function and the merge are atomic.
        tx.send_if_modified(|current| {
            let Some(desired) = f(current.clone()) else {
                return false;
            };
            let Some(delta) = desired.delta_from(current.as_ref(), now_ns()) else {
                return false;
            };
            let stored = current.get_or_insert_with(RingDesc::default);
            written = stored.merge(&delta);
            written
        });
        Ok(written)
    }

    async fn watch(&self, key: &str) -> Result<watch::Receiver<Option<RingDesc>>> {
        Ok(self.sender(key).subscribe())
    }
}

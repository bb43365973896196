//! A live view of one ring: watches its key in the membership store and
//! rebuilds the [`Ring`] on every change.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::RingConfig;
use crate::desc::RingDesc;
use crate::error::Result;
use crate::kv::MembershipKv;
use crate::ring::Ring;

/// The ring a distributor, querier or ruler reads from.
pub struct RingClient {
    rx: watch::Receiver<Arc<Ring>>,
    task: JoinHandle<()>,
}

impl RingClient {
    /// Starts watching `key` (see [`RingConfig::key`]) in `kv`.
    pub async fn start(kv: Arc<dyn MembershipKv>, key: &str, cfg: RingConfig) -> Result<Self> {
        let mut updates = kv.watch(key).await?;
        let build =
            move |desc: Option<RingDesc>| Arc::new(Ring::new(desc.unwrap_or_default(), &cfg));
        let initial = build(updates.borrow_and_update().clone());
        let (tx, rx) = watch::channel(initial);
        let task = tokio::spawn(async move {
            while updates.changed().await.is_ok() {
                let desc = updates.borrow_and_update().clone();
                if tx.send(build(desc)).is_err() {
                    break;
                }
            }
        });
        Ok(RingClient { rx, task })
    }

    /// The latest ring.
    pub fn ring(&self) -> Arc<Ring> {
        self.rx.borrow().clone()
    }

    /// A receiver notified on every ring change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Ring>> {
        self.rx.clone()
    }
}

impl Drop for RingClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

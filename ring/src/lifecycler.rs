//! The lifecycle of one instance in the ring (Loki's `ingester.lifecycler`):
//! register JOINING, take tokens, go ACTIVE, heartbeat every
//! `heartbeat_period`; on stop go LEAVING, run the caller's hook (ingesters
//! flush there), then leave the ring.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::LifecyclerConfig;
use crate::desc::{now_ms, InstanceDesc, InstanceState, RingDesc};
use crate::error::{Error, Result};
use crate::kv::MembershipKv;
use crate::tokens::generate_tokens;

/// Error type a before-leaving hook may return.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Who this instance is: its id and where others reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    /// Unique, stable instance id (the hostname in Kubernetes StatefulSets).
    pub id: String,
    /// gRPC address (`host:port`).
    pub grpc_addr: String,
    /// HTTP address (`host:port`).
    pub http_addr: String,
}

/// A registered instance; heartbeats until [`Lifecycler::stop`] (or drop,
/// which stops heartbeating without leaving, like a crash).
pub struct Lifecycler {
    shared: Arc<Shared>,
    stop_tx: Option<oneshot::Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

struct Shared {
    cfg: LifecyclerConfig,
    spec: InstanceSpec,
    key: String,
    kv: Arc<dyn MembershipKv>,
    local: Mutex<Local>,
}

#[derive(Clone)]
struct Local {
    state: InstanceState,
    tokens: Vec<u32>,
    registered_at_ms: i64,
}

/// On-disk tokens file, as Loki writes it: `{"tokens":[...]}`.
#[derive(Serialize, Deserialize)]
struct TokensFile {
    tokens: Vec<u32>,
}

impl Lifecycler {
    /// Registers the instance under `key` and brings it to ACTIVE.
    pub async fn start(
        cfg: LifecyclerConfig,
        spec: InstanceSpec,
        key: &str,
        kv: Arc<dyn MembershipKv>,
    ) -> Result<Lifecycler> {
        cfg.validate()?;
        let file_tokens = match &cfg.tokens_file_path {
            Some(path) => read_tokens_file(path).await?,
            None => Vec::new(),
        };
        let shared = Arc::new(Shared {
            cfg,
            spec,
            key: key.to_string(),
            kv,
            local: Mutex::new(Local {
                state: InstanceState::Joining,
                tokens: file_tokens,
                registered_at_ms: now_ms(),
            }),
        });
        shared.register().await?;
        if !shared.cfg.join_after.is_zero() {
            tokio::time::sleep(shared.cfg.join_after).await;
        }
        shared.activate().await?;
        if let Some(path) = &shared.cfg.tokens_file_path {
            let tokens = shared.local.lock().tokens.clone();
            write_tokens_file(path, &tokens).await?;
        }
        let (stop_tx, stop_rx) = oneshot::channel();
        let heartbeat = tokio::spawn(heartbeat_loop(shared.clone(), stop_rx));
        Ok(Lifecycler {
            shared,
            stop_tx: Some(stop_tx),
            heartbeat: Some(heartbeat),
        })
    }

    /// The instance id.
    pub fn id(&self) -> &str {
        &self.shared.spec.id
    }

    /// The state this instance last wrote.
    pub fn state(&self) -> InstanceState {
        self.shared.local.lock().state
    }

    /// The instance's tokens.
    pub fn tokens(&self) -> Vec<u32> {
        self.shared.local.lock().tokens.clone()
    }

    /// Leaves the ring: stops heartbeating, goes LEAVING, awaits
    /// `before_leaving` (e.g. flush every stream), then removes the instance
    /// (if `unregister_on_shutdown`). If the hook fails the instance stays
    /// LEAVING, keeping its tokens for the next start, and the error is returned.
    pub async fn stop<F, Fut>(mut self, before_leaving: F) -> Result<()>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = std::result::Result<(), HookError>> + Send,
    {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.heartbeat.take() {
            let _ = task.await;
        }
        self.shared.set_state(InstanceState::Leaving).await?;
        tracing::info!(instance = %self.shared.spec.id, "instance LEAVING; running before-leaving hook");
        if let Err(e) = before_leaving().await {
            return Err(Error::Hook(e.to_string()));
        }
        if self.shared.cfg.unregister_on_shutdown {
            self.shared.unregister().await?;
            tracing::info!(instance = %self.shared.spec.id, "instance removed from the ring");
        }
        if !self.shared.cfg.final_sleep.is_zero() {
            tokio::time::sleep(self.shared.cfg.final_sleep).await;
        }
        Ok(())
    }
}

impl Drop for Lifecycler {
    fn drop(&mut self) {
        if let Some(task) = self.heartbeat.take() {
            task.abort();
        }
    }
}

impl Shared {
    /// The entry this instance wants in the ring, heartbeating now.
    fn entry(&self, local: &Local) -> InstanceDesc {
        let mut inst = InstanceDesc::new(
            &self.spec.id,
            &self.spec.grpc_addr,
            &self.spec.http_addr,
            local.state,
        );
        inst.zone = self.cfg.availability_zone.clone();
        inst.tokens = local.tokens.clone();
        inst.registered_at_ms = local.registered_at_ms;
        inst
    }

    /// Writes the instance as JOINING, reusing tokens it already had in the ring.
    async fn register(&self) -> Result<()> {
        let mut local = self.local.lock().clone();
        self.kv
            .cas(&self.key, &mut |desc: Option<RingDesc>| {
                let mut desc = desc.unwrap_or_default();
                if let Some(existing) = desc.instance(&self.spec.id) {
                    local.registered_at_ms = existing.registered_at_ms;
                    if local.tokens.is_empty() {
                        local.tokens = existing.tokens.clone();
                    }
                }
                local.state = InstanceState::Joining;
                desc.upsert(self.entry(&local));
                Some(desc)
            })
            .await?;
        *self.local.lock() = local;
        tracing::info!(instance = %self.spec.id, key = %self.key, "instance JOINING");
        Ok(())
    }

    /// Takes the missing tokens (avoiding every token already on the ring) and goes ACTIVE.
    async fn activate(&self) -> Result<()> {
        let mut local = self.local.lock().clone();
        let wanted = self.cfg.num_tokens;
        self.kv
            .cas(&self.key, &mut |desc: Option<RingDesc>| {
                let mut desc = desc.unwrap_or_default();
                if local.tokens.len() < wanted {
                    let mut taken = desc.taken_tokens();
                    taken.extend(local.tokens.iter().copied());
                    let more = generate_tokens(wanted - local.tokens.len(), &taken);
                    local.tokens.extend(more);
                    local.tokens.sort_unstable();
                }
                local.state = InstanceState::Active;
                desc.upsert(self.entry(&local));
                Some(desc)
            })
            .await?;
        tracing::info!(instance = %self.spec.id, tokens = local.tokens.len(), "instance ACTIVE");
        *self.local.lock() = local;
        Ok(())
    }

    /// Records a new state in the ring.
    async fn set_state(&self, state: InstanceState) -> Result<()> {
        self.local.lock().state = state;
        self.heartbeat().await
    }

    /// Refreshes the heartbeat, re-adding the instance if it was forgotten.
    async fn heartbeat(&self) -> Result<()> {
        let local = self.local.lock().clone();
        self.kv
            .cas(&self.key, &mut |desc: Option<RingDesc>| {
                let mut desc = desc.unwrap_or_default();
                desc.upsert(self.entry(&local));
                Some(desc)
            })
            .await?;
        Ok(())
    }

    async fn unregister(&self) -> Result<()> {
        self.kv
            .cas(&self.key, &mut |desc: Option<RingDesc>| {
                let mut desc = desc?;
                desc.remove(&self.spec.id).then_some(desc)
            })
            .await?;
        Ok(())
    }
}

async fn heartbeat_loop(shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(shared.cfg.heartbeat_period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {
                if let Err(e) = shared.heartbeat().await {
                    tracing::warn!(instance = %shared.spec.id, error = %e, "ring heartbeat failed");
                }
            }
        }
    }
}

async fn read_tokens_file(path: &Path) -> Result<Vec<u32>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => {
            let file: TokensFile = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                what: format!("tokens file {}", path.display()),
                reason: e.to_string(),
            })?;
            let mut tokens = file.tokens;
            tokens.sort_unstable();
            tokens.dedup();
            Ok(tokens)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(
            format!("reading tokens file {}", path.display()),
            e,
        )),
    }
}

async fn write_tokens_file(path: &Path, tokens: &[u32]) -> Result<()> {
    let body = serde_json::to_vec(&TokensFile {
        tokens: tokens.to_vec(),
    })
    .map_err(|e| Error::io("encoding tokens", std::io::Error::other(e)))?;
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || crate::fsutil::write_atomic(&path, &body, true))
        .await
        .map_err(|e| Error::io("writing tokens file", std::io::Error::other(e)))?
}

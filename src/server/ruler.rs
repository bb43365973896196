//! The ruler module's wiring: the ruler over the rules directory, its
//! membership in the ruler ring (which decides the groups it evaluates),
//! the rules API fanning out to the other rulers, and leaving the ring on
//! shutdown.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use sluice_querier::Querier;
use sluice_ring::{KvStore, Lifecycler, Operation, RingClient};

use crate::config::Config;

/// The ruler over `ruler.storage.local.directory` (default
/// `<path_prefix>/rules`) or, with `ruler.storage.type: object`, over the
/// `rules/` tree of the chunks' object store (cached in `ruler.rule_path`,
/// default `<path_prefix>/rules-cache`), evaluating with the querier;
/// returns its API routes (none when `ruler.enabled` or `ruler.enable_api`
/// is false) and the handle that leaves the ruler ring on shutdown.
///
/// Rulers register in their own ring (key `ruler`); each rule group is
/// evaluated by the ruler owning the group's hash, so several rulers share
/// the groups and a dead one's groups move once its heartbeat times out
/// (a ruler shut down cleanly leaves the ring, so its groups move at once).
/// Like Loki's, the rules API of any ruler lists every ruler's groups.
pub(super) async fn start_ruler(
    cfg: &Config,
    querier: &Querier,
    store: &sluice_storage::store::Store,
    kv: &KvStore,
    ring_cfg: &sluice_ring::RingConfig,
    spec: sluice_ring::InstanceSpec,
) -> anyhow::Result<(Router, Option<RulerHandle>)> {
    if !cfg.ruler.enabled {
        return Ok((Router::new(), None));
    }
    let dir = cfg.ruler.rules_dir(&cfg.common.path_prefix);
    let objects = cfg
        .ruler
        .object_storage()
        .context("ruler.storage")?
        .then(|| store.clone());
    let ruler = sluice_ruler::Ruler::with_objects(
        cfg.ruler.clone(),
        dir,
        Arc::new(querier.clone()),
        objects,
    );
    let key = ring_cfg.key("ruler");
    let ring = RingClient::start(kv.kv(), &key, ring_cfg.clone())
        .await
        .context("reading the ruler ring")?;
    let mut lc_cfg = cfg.ingester.lifecycler.clone();
    lc_cfg.ring = ring_cfg.clone();
    lc_cfg.tokens_file_path = None;
    let me = spec.id.clone();
    let lifecycler = Lifecycler::start(lc_cfg, spec, &key, kv.kv())
        .await
        .context("joining the ruler ring")?;
    let mut changes = ring.subscribe();
    let ring_view = Arc::new(RulerRing {
        ring: changes.clone(),
        me,
    });
    ruler.set_ownership(ring_view.clone());
    ruler.start();
    let r = ruler.clone();
    let watcher = tokio::spawn(async move {
        let _ring = ring;
        let mut seen = String::new();
        while changes.changed().await.is_ok() {
            let view = ruler_ring_summary(&changes.borrow().clone());
            if view != seen {
                tracing::info!(rulers = %view, "ruler ring changed");
                seen = view;
            }
            r.reconcile();
        }
    });
    let handle = RulerHandle {
        ruler: ruler.clone(),
        lifecycler,
        watcher,
    };
    // the ruler ring's page, as Loki serves it
    let page = Router::new().nest(
        "/ruler",
        sluice_ring::status::router(kv.kv(), &key, ring_cfg.heartbeat_timeout),
    );
    if !cfg.ruler.enable_api {
        return Ok((page, Some(handle)));
    }
    let routes = sluice_ruler::api::routes(Arc::new(sluice_ruler::api::ApiState {
        ruler,
        auth_enabled: cfg.auth_enabled,
        peers: Some(ring_view),
    }));
    Ok((page.merge(routes), Some(handle)))
}

/// A running ruler's membership: heartbeats into the ruler ring until
/// [`RulerHandle::leave`] (or, on a crash, until the process dies).
pub(super) struct RulerHandle {
    ruler: sluice_ruler::Ruler,
    lifecycler: Lifecycler,
    watcher: tokio::task::JoinHandle<()>,
}

impl RulerHandle {
    /// Stops evaluating, then leaves the ruler ring, so the other rulers
    /// take the groups over without waiting for the heartbeat timeout.
    pub(super) async fn leave(self) {
        self.watcher.abort();
        self.ruler.stop();
        let done = self.lifecycler.stop(|| async { Ok(()) }).await;
        match done {
            Ok(()) => tracing::info!("ruler left the ruler ring"),
            Err(e) => tracing::warn!(error = %e, "leaving the ruler ring"),
        }
    }
}

/// Rule groups owned through the ruler ring.
struct RulerRing {
    ring: tokio::sync::watch::Receiver<Arc<sluice_ring::Ring>>,
    me: String,
}

impl sluice_ruler::GroupOwnership for RulerRing {
    fn owns(&self, tenant: &str, namespace: &str, group: &str) -> bool {
        let key = group_token(tenant, namespace, group);
        let ring = self.ring.borrow().clone();
        ring.owner(key).is_some_and(|o| o.id == self.me)
    }
}

/// `id:STATE:tokens` of each healthy ruler, for the log.
fn ruler_ring_summary(ring: &sluice_ring::Ring) -> String {
    let mut v: Vec<String> = ring
        .healthy_instances(Operation::Write)
        .iter()
        .map(|i| format!("{}:{:?}:{}", i.id, i.state, i.tokens.len()))
        .collect();
    v.sort();
    v.join(",")
}

/// A rule group's place on the ruler ring, as Loki computes it: 32-bit
/// FNV-1a of `tenant/namespace/group`. (FNV-1, the streams' hash, would
/// put groups whose names differ only in their last characters, like
/// `g1`, `g2`, next to each other, hence usually on the same ruler.)
fn group_token(tenant: &str, namespace: &str, group: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let parts = [tenant, "/", namespace, "/", group];
    for b in parts.iter().flat_map(|p| p.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

impl sluice_ruler::api::RulerPeers for RulerRing {
    fn others(&self) -> Vec<String> {
        let ring = self.ring.borrow().clone();
        ring.healthy_instances(Operation::Write)
            .into_iter()
            .filter(|i| i.id != self.me)
            .map(|i| i.http_addr.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::group_token;

    #[test]
    fn group_token_is_fnv1a_of_tenant_namespace_group() {
        assert_eq!(group_token("", "", ""), 0xa2d2_66e3);
        assert_eq!(group_token("fake", "ns-a.yaml", "g01"), 0x02d8_dbc0);
        assert_eq!(group_token("fake", "ns-a.yaml", "g02"), 0x05d8_e079);
    }
}

//! Replication of pushes to ingesters: each stream goes to the replica set
//! the ring gives for its token, all replicas concurrently, and a push is
//! acknowledged once a quorum of every stream's replicas has it (Loki's
//! `DoBatch` semantics).
//!
//! - A stream's token mixes its tenant with its label fingerprint (`hash`,
//!   set by the distributor), as Loki's `TokenFor(tenant, labels)` does:
//!   equal label sets of different tenants land on different ingesters.
//! - Each ingester gets one request holding all its streams.
//! - A stream succeeds after `addrs.len() - max_errors` replicas answered
//!   and fails after more than `max_errors` replicas failed; the push
//!   returns as soon as every stream succeeded or one failed. Replicas
//!   still working after that finish in the background, so a slow replica
//!   still receives the data.
//! - A client error (4xx) from a replica means it stored what it accepted
//!   and refused the rest: it counts towards the quorum, and once the push
//!   is settled the first such error is returned as is (400 with the
//!   ingester's message).
//! - When a stream cannot reach its quorum, the failure that made it
//!   impossible is returned (503 for an unreachable ingester).

use std::collections::HashMap;
use std::sync::Arc;

use sluice_proto::grpc::{ClientConfig, GrpcPusher};
use sluice_proto::logproto::{PushRequest, StreamAdapter};
use sluice_proto::service::{ClientPool, Code, IngesterRing, Pusher, ServiceError};
use tokio::sync::mpsc;

use crate::metrics;

/// The token a stream of the tenant hashed to `tenant` (by
/// [`tenant_hash`]) is placed on the ring by.
pub fn stream_token(tenant: u64, s: &StreamAdapter) -> u32 {
    // a multiplicative mix: the high half depends on every input bit
    let x = (s.hash ^ tenant).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 32) as u32
}

/// A tenant's part of its streams' tokens.
pub fn tenant_hash(tenant: &str) -> u64 {
    // FNV-1a, 64 bits: tenant names are short, and this runs once a push
    tenant.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A [`Pusher`] writing each stream to its replicas on the ring.
pub struct ReplicatingPusher {
    ring: Arc<dyn IngesterRing>,
    clients: Arc<ClientPool<dyn Pusher>>,
}

/// Replies still needed for one stream.
#[derive(Clone, Copy)]
struct Tracker {
    min_success: usize,
    max_errors: usize,
    succeeded: usize,
    failed: usize,
}

impl ReplicatingPusher {
    /// Replicates over `ring`, reaching instances through `clients`.
    pub fn new(ring: Arc<dyn IngesterRing>, clients: Arc<ClientPool<dyn Pusher>>) -> Self {
        ReplicatingPusher { ring, clients }
    }

    /// Replicates over `ring` to ingesters' gRPC `logproto.Pusher`.
    pub fn grpc(ring: Arc<dyn IngesterRing>, cfg: ClientConfig) -> Self {
        let clients = ClientPool::new(move |addr| {
            GrpcPusher::connect(addr, &cfg).map(|c| Arc::new(c) as Arc<dyn Pusher>)
        });
        ReplicatingPusher::new(ring, Arc::new(clients))
    }

    /// Each stream's tracker and, per instance, the streams it gets.
    #[allow(clippy::type_complexity)]
    fn plan(
        &self,
        tenant: &str,
        streams: &[StreamAdapter],
    ) -> Result<(Vec<Tracker>, HashMap<String, Vec<usize>>), ServiceError> {
        let tenant = tenant_hash(tenant);
        let mut trackers = Vec::with_capacity(streams.len());
        let mut per_addr: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, s) in streams.iter().enumerate() {
            let set = self.ring.write_set(stream_token(tenant, s))?;
            if set.min_success() == 0 {
                return Err(ServiceError::new(
                    Code::Unavailable,
                    format!("no ingester available for stream {}", s.labels),
                ));
            }
            trackers.push(Tracker {
                min_success: set.min_success(),
                max_errors: set.max_errors,
                succeeded: 0,
                failed: 0,
            });
            for a in set.addrs {
                per_addr.entry(a).or_default().push(i);
            }
        }
        Ok((trackers, per_addr))
    }
}

type Reply = (Vec<usize>, Result<(), ServiceError>);

/// Whether a replica answered (having stored what it accepted) with a
/// client error to pass back.
fn is_client_error(e: &ServiceError) -> bool {
    e.http_status() / 100 == 4
}

#[async_trait::async_trait]
impl Pusher for ReplicatingPusher {
    async fn push(&self, tenant: &str, req: PushRequest) -> Result<(), ServiceError> {
        if req.streams.is_empty() {
            return Ok(());
        }
        self.clients
            .prune(|| self.ring.read_set().ok().map(|set| set.addrs));
        let (mut trackers, per_addr) = self.plan(tenant, &req.streams)?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Reply>();
        for (addr, idx) in per_addr {
            let client = match self.clients.get(&addr) {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send((idx, Err(e)));
                    continue;
                }
            };
            let sub = PushRequest {
                streams: idx.iter().map(|&i| req.streams[i].clone()).collect(),
            };
            let (tx, tenant) = (tx.clone(), tenant.to_string());
            tokio::spawn(async move {
                metrics::INGESTER_APPENDS.with_label_values(&[&addr]).inc();
                let r = client.push(&tenant, sub).await;
                if let Err(e) = &r {
                    let status = if is_client_error(e) { "4xx" } else { "5xx" };
                    metrics::INGESTER_APPEND_FAILURES
                        .with_label_values(&[&addr, status])
                        .inc();
                    tracing::debug!(addr = %addr, tenant = %tenant, error = %e, "replica push failed");
                }
                // the push may have returned already: nobody listens then
                let _ = tx.send((idx, r));
            });
        }
        drop(tx);
        let mut pending = trackers.len();
        let mut client_error = None;
        while let Some((idx, r)) = rx.recv().await {
            match r {
                Err(e) if !is_client_error(&e) => {
                    for i in idx {
                        let t = &mut trackers[i];
                        t.failed += 1;
                        if t.failed > t.max_errors && t.succeeded < t.min_success {
                            return Err(e);
                        }
                    }
                }
                r => {
                    if let Err(e) = r {
                        client_error.get_or_insert(e);
                    }
                    for i in idx {
                        let t = &mut trackers[i];
                        t.succeeded += 1;
                        if t.succeeded == t.min_success {
                            pending -= 1;
                        }
                    }
                }
            }
            if pending == 0 {
                return client_error.map_or(Ok(()), Err);
            }
        }
        // every reply arrived: each stream either reached its quorum or
        // failed above, so this is unreachable; answer safely anyway
        Err(ServiceError::new(
            Code::Unavailable,
            "push incomplete: replicas did not answer",
        ))
    }
}

#[cfg(test)]
#[path = "replicate_tests.rs"]
mod tests;

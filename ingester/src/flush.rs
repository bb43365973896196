//! Flushing: closed, old and idle chunks are encoded, written to the
//! object store, recorded in the tenant's label index, and then dropped
//! from memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use sluice_logql::labels::Labels;
use sluice_storage::chunk::MemChunk;
use sluice_storage::index::ChunkRef;

use crate::error::Result;
use crate::ingester::{Ingester, StreamRef};
use crate::metrics;

/// A chunk picked for flushing.
struct FlushItem {
    tenant: String,
    stream: StreamRef,
    labels: Labels,
    fingerprint: u64,
    chunk: Arc<MemChunk>,
}

/// How many chunk uploads run at once.
const CONCURRENT_UPLOADS: usize = 16;

impl Ingester {
    /// Flushes every chunk that is due (or every chunk, with `force`), then
    /// checkpoints so WAL replay does not bring flushed data back.
    pub async fn flush(&self, force: bool) -> Result<usize> {
        let _one = self.flush_lock.lock().await;
        let items = self.pick(force);
        if items.is_empty() {
            return Ok(0);
        }
        let n = items.len();
        let store = self.store.clone();
        let results: Vec<(FlushItem, Result<ChunkRef>)> = stream::iter(items)
            .map(|item| {
                let store = store.clone();
                async move {
                    let r = upload(&store, &item).await;
                    (item, r)
                }
            })
            .buffer_unordered(CONCURRENT_UPLOADS)
            .collect()
            .await;
        let mut uploaded = Vec::with_capacity(results.len());
        let mut first_err = None;
        for (item, r) in results {
            match r {
                Ok(r) => uploaded.push((item, r)),
                Err(e) => {
                    // leave the chunk in memory for the next cycle to retry
                    unmark(&item);
                    first_err.get_or_insert(e);
                }
            }
        }
        let mut by_tenant: HashMap<&str, Vec<(Labels, ChunkRef)>> = HashMap::new();
        for (item, r) in &uploaded {
            by_tenant
                .entry(&item.tenant)
                .or_default()
                .push((item.labels.clone(), *r));
        }
        let mut failed_tenants = Vec::new();
        for (tenant, chunks) in by_tenant {
            if let Err(e) = self.store.write_index(tenant, &chunks).await {
                failed_tenants.push(tenant.to_string());
                first_err.get_or_insert(e.into());
            }
        }
        let (uploaded, unindexed): (Vec<_>, Vec<_>) = uploaded
            .into_iter()
            .partition(|(item, _)| !failed_tenants.contains(&item.tenant));
        for (item, _) in &unindexed {
            unmark(item);
        }
        for (item, _) in &uploaded {
            let mut s = item.stream.lock();
            s.chunks.retain(|slot| match &slot.state {
                crate::stream::ChunkState::Closed(c) => !Arc::ptr_eq(c, &item.chunk),
                crate::stream::ChunkState::Open(_) => true,
            });
        }
        let flushed = uploaded.len();
        metrics::CHUNKS_FLUSHED.inc_by(flushed as u64);
        self.drop_empty_streams();
        tracing::info!(chunks = flushed, due = n, "flushed chunks");
        if flushed > 0 {
            self.checkpoint().await?;
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(flushed),
        }
    }

    /// Picks the chunks due for flushing and marks them in flight.
    fn pick(&self, force: bool) -> Vec<FlushItem> {
        let now = Instant::now();
        let mut items = Vec::new();
        for (tenant, fp, sref) in self.all_streams() {
            let mut s = sref.lock();
            let labels = s.labels.clone();
            for slot in s.chunks.iter_mut() {
                if slot.flushing || slot.chunk().entry_count() == 0 {
                    continue;
                }
                let closed = matches!(slot.state, crate::stream::ChunkState::Closed(_));
                let due = force
                    || closed
                    || now.duration_since(slot.created) >= self.cfg.max_chunk_age
                    || now.duration_since(slot.last_append) >= self.cfg.chunk_idle_period;
                if due {
                    slot.flushing = true;
                    items.push(FlushItem {
                        tenant: tenant.clone(),
                        stream: sref.clone(),
                        labels: labels.clone(),
                        fingerprint: fp,
                        chunk: slot.close(),
                    });
                }
            }
        }
        items
    }

    /// Removes streams that hold no chunks any more.
    fn drop_empty_streams(&self) {
        let tenants: Vec<Arc<crate::ingester::Tenant>> =
            self.tenants.read().values().cloned().collect();
        for t in tenants {
            let mut w = t.streams.write();
            let before = w.len();
            w.retain(|_, s| !s.lock().chunks.is_empty());
            metrics::STREAMS.sub((before - w.len()) as i64);
        }
    }

    /// Flushes everything and closes the WAL: the SIGTERM path.
    pub async fn shutdown(&self) -> Result<()> {
        self.begin_shutdown();
        // wait for in-flight pushes to finish
        drop(self.gate.write().await);
        if self.cfg.flush_on_shutdown {
            self.flush(true).await?;
        }
        self.wal.close()?;
        Ok(())
    }
}

async fn upload(store: &sluice_storage::store::Store, item: &FlushItem) -> Result<ChunkRef> {
    let chunk = item.chunk.clone();
    let encoded = tokio::task::spawn_blocking(move || chunk.encode())
        .await
        .map_err(|e| crate::Error::Io(std::io::Error::other(e)))?;
    let bytes = encoded.len() as u64;
    let r = store
        .put_chunk(&item.tenant, item.fingerprint, encoded)
        .await?;
    metrics::FLUSHED_BYTES.inc_by(bytes);
    Ok(r)
}

/// Clears the in-flight mark of a chunk whose flush failed.
fn unmark(item: &FlushItem) {
    let mut s = item.stream.lock();
    for slot in s.chunks.iter_mut() {
        if let crate::stream::ChunkState::Closed(c) = &slot.state {
            if Arc::ptr_eq(c, &item.chunk) {
                slot.flushing = false;
            }
        }
    }
}

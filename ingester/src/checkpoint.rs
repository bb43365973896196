//! Checkpoints: a serialised copy of every unflushed in-memory chunk, so
//! WAL replay starts from it instead of from the first segment.
//!
//! ```text
//! checkpoint := magic "SLCKPT01" stream*
//! stream     := tenant:str labels:str hash:u64le nchunks:uvarint (chunk:bytes)*
//! ```
//! A chunk's bytes are `MemChunk::to_checkpoint`.

use std::io::Read;
use std::time::Instant;

use bytes::Bytes;
use sluice_storage::chunk::MemChunk;

use crate::error::{Error, Result};
use crate::ingester::Ingester;
use crate::record::{put_bytes, put_uvarint, Reader};

const MAGIC: &[u8; 8] = b"SLCKPT01";

impl Ingester {
    /// Rotates the WAL and writes a checkpoint of memory that replaces all
    /// older segments.
    pub async fn checkpoint(&self) -> Result<()> {
        let _one = self.checkpoint_lock.lock().await;
        let started = Instant::now();
        let (segment, buf) = {
            // no push is between its WAL append and its memory apply while
            // we hold the gate, so memory matches the WAL up to `segment`
            let _gate = self.gate.write().await;
            let wal = self.wal.clone();
            let segment = tokio::task::spawn_blocking(move || wal.rotate())
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))??;
            (segment, self.serialise())
        };
        let size = buf.len();
        let wal = self.wal.clone();
        tokio::task::spawn_blocking(move || {
            wal.write_checkpoint(segment, &mut |w: &mut dyn std::io::Write| w.write_all(&buf))
        })
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))??;
        tracing::info!(
            segment,
            bytes = size,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "checkpoint written"
        );
        Ok(())
    }

    fn serialise(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 << 20);
        out.extend_from_slice(MAGIC);
        let mut chunk_buf = Vec::new();
        for (tenant, fp, s) in self.all_streams() {
            let s = s.lock();
            let live: Vec<&MemChunk> = s
                .chunks
                .iter()
                .map(|c| c.chunk())
                .filter(|c| c.entry_count() > 0)
                .collect();
            if live.is_empty() {
                continue;
            }
            put_bytes(&mut out, tenant.as_bytes());
            put_bytes(&mut out, s.labels_str.as_bytes());
            out.extend_from_slice(&fp.to_le_bytes());
            put_uvarint(&mut out, live.len() as u64);
            for c in live {
                chunk_buf.clear();
                c.to_checkpoint(&mut chunk_buf);
                put_bytes(&mut out, &chunk_buf);
            }
        }
        out
    }

    /// Loads a checkpoint into memory; returns the number of chunks restored.
    pub(crate) fn restore_checkpoint(&self, mut r: Box<dyn Read + Send>) -> Result<usize> {
        let mut buf = Vec::new();
        r.read_to_end(&mut buf)?;
        let buf = Bytes::from(buf);
        if buf.len() < MAGIC.len() || &buf[..MAGIC.len()] != MAGIC {
            return Err(Error::Record("checkpoint has a bad magic number".into()));
        }
        let mut r = Reader {
            buf: &buf,
            pos: MAGIC.len(),
        };
        let now = Instant::now();
        let mut restored = 0;
        while !r.is_empty() {
            let tenant = r.string()?;
            let labels = r.string()?;
            let fp = r.u64le()?;
            let n = r.count()?;
            let t = {
                let mut w = self.tenants.write();
                w.entry(tenant).or_default().clone()
            };
            let stream = self
                .stream_or_create(&t, fp, &labels)
                .ok_or_else(|| Error::Record(format!("checkpoint has invalid labels {labels}")))?;
            let mut s = stream.lock();
            for _ in 0..n {
                let data = r.bytes()?;
                let chunk = MemChunk::from_checkpoint(&data, &self.chunk_cfg)?;
                s.restore_chunk(chunk, now);
                restored += 1;
            }
        }
        Ok(restored)
    }
}

//! Object store access: chunks and index segments on the local filesystem
//! or S3, with bounded in-memory caches of decoded index segments and of
//! fetched chunks.
//!
//! Keys (under an optional prefix):
//! - chunks: `<tenant>/chunks/<fp hex>/<from hex>-<through hex>-<checksum hex>`
//! - index:  `<tenant>/index/v1/<day>/<written ns hex>-<content hash hex>.idx`
//!   where `v1` is the index schema version and `<day>` the day number since
//!   the unix epoch; a future compactor replaces a day's segments by one.

mod cache;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use serde::Deserialize;
use sluice_logql::labels::{Labels, Matcher};

use crate::chunk::ChunkData;
use crate::error::{Error, Result};
use crate::index::{day_of, ChunkRef, IndexSegment, SegmentReader};
use cache::{ChunkCache, SegmentCache};

/// Index schema version, part of index keys.
pub const INDEX_SCHEMA: &str = "v1";
/// Default bound of the decoded index segment cache.
const SEGMENT_CACHE_BYTES: usize = 256 << 20;
/// Default bound of the fetched chunk cache (compressed chunk bytes; the
/// size of Loki's embedded cache): it spares repeated queries over the same
/// range the read, checksum and block index parse of every chunk.
const CHUNK_CACHE_BYTES: usize = 100 << 20;
/// Concurrent object reads per query.
const READ_CONCURRENCY: usize = 16;

/// Where objects live.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreConfig {
    /// A local directory (created if missing).
    Filesystem { dir: PathBuf },
    /// Any S3-compatible server.
    S3 {
        bucket: String,
        /// e.g. `http://localhost:9000` for MinIO; AWS when unset.
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default = "default_region")]
        region: String,
        #[serde(default)]
        access_key_id: Option<String>,
        #[serde(default)]
        secret_access_key: Option<String>,
        #[serde(default)]
        allow_http: bool,
        /// Key prefix inside the bucket.
        #[serde(default)]
        prefix: Option<String>,
    },
}

fn default_region() -> String {
    "us-east-1".to_string()
}

/// Chunk and index storage. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    os: Arc<dyn ObjectStore>,
    /// The same store when it is a local directory: chunk reads then skip
    /// the object_store API, which hops to the blocking pool for each open
    /// and read; a query reading hundreds of chunks spent a third of its
    /// CPU on those thread wake-ups.
    local: Option<Arc<object_store::local::LocalFileSystem>>,
    prefix: String,
    cache: SegmentCache,
    chunks: ChunkCache,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("store", &self.inner.os.to_string())
            .field("prefix", &self.inner.prefix)
            .finish()
    }
}

fn check_tenant(tenant: &str) -> Result<()> {
    let ok = !tenant.is_empty()
        && tenant != "."
        && tenant != ".."
        && tenant.len() <= 150
        && !tenant.contains(['/', '\\', '\0']);
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "invalid tenant id {tenant:?}: must be 1-150 characters without '/'"
        )))
    }
}

/// Chunks read from a local directory per blocking task, at least.
const LOCAL_READS_PER_TASK: usize = 8;

/// A verified chunk and its object's size in bytes.
type Fetched = (ChunkData, usize);

fn verify_chunk(bytes: Bytes, want: u32) -> Result<Fetched> {
    if crc32fast::hash(&bytes) != want {
        return Err(Error::corrupt(
            "chunk",
            "object checksum does not match its index entry",
        ));
    }
    let size = bytes.len();
    Ok((ChunkData::decode(bytes)?, size))
}

/// Reads and verifies one chunk file (blocking).
fn read_local_chunk(file: &std::path::Path, want: u32) -> Result<Fetched> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        // the same error the object store API gives for a missing object
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::ObjectStore(object_store::Error::NotFound {
                path: file.display().to_string(),
                source: Box::new(e),
            }))
        }
        Err(e) => return Err(e.into()),
    };
    verify_chunk(Bytes::from(bytes), want)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

impl Store {
    pub fn new(cfg: &StoreConfig) -> Result<Store> {
        type Local = Option<Arc<object_store::local::LocalFileSystem>>;
        let (os, local, prefix): (Arc<dyn ObjectStore>, Local, String) = match cfg {
            StoreConfig::Filesystem { dir } => {
                std::fs::create_dir_all(dir)?;
                let local = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?);
                (local.clone(), Some(local), String::new())
            }
            StoreConfig::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                allow_http,
                prefix,
            } => {
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_allow_http(*allow_http);
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
                }
                if let Some(k) = access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(s) = secret_access_key {
                    b = b.with_secret_access_key(s);
                }
                let p = prefix.as_deref().unwrap_or("").trim_matches('/');
                (
                    Arc::new(b.build()?),
                    None,
                    if p.is_empty() {
                        String::new()
                    } else {
                        format!("{p}/")
                    },
                )
            }
        };
        Ok(Store::with_parts(os, local, prefix))
    }

    /// Wraps any object store (e.g. `object_store::memory::InMemory` in tests).
    pub fn from_object_store(os: Arc<dyn ObjectStore>, prefix: String) -> Store {
        Store::with_parts(os, None, prefix)
    }

    fn with_parts(
        os: Arc<dyn ObjectStore>,
        local: Option<Arc<object_store::local::LocalFileSystem>>,
        prefix: String,
    ) -> Store {
        Store {
            inner: Arc::new(Inner {
                os,
                local,
                prefix,
                cache: SegmentCache::new(SEGMENT_CACHE_BYTES),
                chunks: ChunkCache::new(CHUNK_CACHE_BYTES),
            }),
        }
    }

    fn path(&self, key: &str) -> Path {
        Path::from(format!("{}{key}", self.inner.prefix))
    }

    /// Uploads an encoded chunk; returns its ref (read from the chunk itself).
    pub async fn put_chunk(
        &self,
        tenant: &str,
        fingerprint: u64,
        encoded: Bytes,
    ) -> Result<ChunkRef> {
        check_tenant(tenant)?;
        let enc = encoded.clone();
        let (data, checksum) =
            blocking(move || Ok((ChunkData::decode(enc.clone())?, crc32fast::hash(&enc)))).await?;
        let (from, through) = data.bounds();
        let r = ChunkRef {
            fingerprint,
            from,
            through,
            checksum,
            entries: u32::try_from(data.entry_count()).unwrap_or(u32::MAX),
            uncompressed_bytes: data.blocks().iter().map(|b| b.uncompressed_bytes).sum(),
            compressed_bytes: encoded.len() as u64,
        };
        self.inner
            .os
            .put(&self.path(&r.object_key(tenant)), PutPayload::from(encoded))
            .await?;
        Ok(r)
    }

    /// Downloads a chunk and verifies it against the ref's checksum
    /// (or takes it from the chunk cache).
    pub async fn get_chunk(&self, tenant: &str, r: &ChunkRef) -> Result<ChunkData> {
        check_tenant(tenant)?;
        let key = r.object_key(tenant);
        if let Some(c) = self.inner.chunks.get(&key) {
            return Ok(c);
        }
        let want = r.checksum;
        let (c, size) = if let Some(local) = &self.inner.local {
            let file = self.local_chunk_file(local, tenant, r)?;
            blocking(move || read_local_chunk(&file, want)).await?
        } else {
            let bytes = self.inner.os.get(&self.path(&key)).await?.bytes().await?;
            blocking(move || verify_chunk(bytes, want)).await?
        };
        self.inner.chunks.insert(key, c.clone(), size);
        Ok(c)
    }

    /// Where chunk `r` lives in the local directory.
    fn local_chunk_file(
        &self,
        local: &object_store::local::LocalFileSystem,
        tenant: &str,
        r: &ChunkRef,
    ) -> Result<PathBuf> {
        Ok(local.path_to_filesystem(&self.path(&r.object_key(tenant)))?)
    }

    /// Downloads chunks, each verified against its ref's checksum, in the
    /// order of `refs`; chunks in the chunk cache are not read again. From
    /// a local directory the files are read by a few blocking tasks (each
    /// reads and decodes a run of chunks) rather than one task per chunk;
    /// from other stores up to `concurrency` downloads run at once.
    pub async fn get_chunks(
        &self,
        tenant: &str,
        refs: &[ChunkRef],
        concurrency: usize,
    ) -> Result<Vec<ChunkData>> {
        check_tenant(tenant)?;
        let mut out: Vec<Option<ChunkData>> = Vec::with_capacity(refs.len());
        let mut misses = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            let key = r.object_key(tenant);
            let hit = self.inner.chunks.get(&key);
            if hit.is_none() {
                misses.push((i, key, *r));
            }
            out.push(hit);
        }
        let fetched = self.fetch_chunks(tenant, &misses, concurrency).await?;
        for ((i, key, _), (c, size)) in misses.into_iter().zip(fetched) {
            self.inner.chunks.insert(key, c.clone(), size);
            out[i] = Some(c);
        }
        // every slot is a hit or was filled from `fetched` (same length)
        Ok(out.into_iter().flatten().collect())
    }

    /// Reads the chunks `misses` (index into the caller's list, object key,
    /// ref) from the store, in order.
    async fn fetch_chunks(
        &self,
        tenant: &str,
        misses: &[(usize, String, ChunkRef)],
        concurrency: usize,
    ) -> Result<Vec<Fetched>> {
        let Some(local) = &self.inner.local else {
            // owned items: a closure over a borrow would make the future
            // generic over it, which tokio's Send bound rejects
            let store = self.clone();
            let wanted: Vec<(Path, u32)> = misses
                .iter()
                .map(|(_, key, r)| (self.path(key), r.checksum))
                .collect();
            let fetches = wanted.into_iter().map(move |(path, want)| {
                let store = store.clone();
                async move {
                    let bytes = store.inner.os.get(&path).await?.bytes().await?;
                    blocking(move || verify_chunk(bytes, want)).await
                }
            });
            return futures::stream::iter(fetches)
                .buffered(concurrency.max(1))
                .try_collect()
                .await;
        };
        let files = misses
            .iter()
            .map(|(_, _, r)| Ok((self.local_chunk_file(local, tenant, r)?, r.checksum)))
            .collect::<Result<Vec<_>>>()?;
        // a few runs per core keep both cores busy when runs differ in size
        let tasks = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
        let per_task = files.len().div_ceil(tasks).max(LOCAL_READS_PER_TASK);
        let runs: Vec<Vec<(PathBuf, u32)>> = files.chunks(per_task).map(<[_]>::to_vec).collect();
        let read = futures::stream::iter(runs)
            .map(|run| {
                blocking(move || {
                    run.iter()
                        .map(|(file, want)| read_local_chunk(file, *want))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .buffered(tasks);
        let out: Vec<Vec<Fetched>> = read.try_collect().await?;
        Ok(out.into_iter().flatten().collect())
    }

    /// Writes one index segment per day touched by the chunks; a chunk
    /// spanning midnight is listed under every day it covers.
    pub async fn write_index(&self, tenant: &str, chunks: &[(Labels, ChunkRef)]) -> Result<()> {
        check_tenant(tenant)?;
        let mut days: BTreeMap<i64, IndexSegment> = BTreeMap::new();
        for (labels, c) in chunks {
            for day in day_of(c.from)..=day_of(c.through.max(c.from)) {
                let seg = days.entry(day).or_default();
                if !seg.series.iter().any(|(fp, _)| *fp == c.fingerprint) {
                    seg.series.push((c.fingerprint, labels.clone()));
                }
                seg.chunks.push(*c);
            }
        }
        let written = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        for (day, seg) in days {
            let bytes = seg.encode()?;
            let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
            let key = format!("{tenant}/index/{INDEX_SCHEMA}/{day}/{written:016x}-{hash:016x}.idx");
            self.inner
                .os
                .put(&self.path(&key), PutPayload::from(Bytes::from(bytes)))
                .await?;
        }
        Ok(())
    }

    /// Keys of all index segments of the days covering `[from, through]`.
    async fn segment_keys(&self, tenant: &str, from: i64, through: i64) -> Result<Vec<Path>> {
        check_tenant(tenant)?;
        let mut keys = Vec::new();
        if through < from {
            return Ok(keys);
        }
        for day in day_of(from)..=day_of(through) {
            let prefix = self.path(&format!("{tenant}/index/{INDEX_SCHEMA}/{day}/"));
            let mut list = self.inner.os.list(Some(&prefix));
            while let Some(meta) = list.next().await {
                match meta {
                    Ok(m) if m.location.as_ref().ends_with(".idx") => keys.push(m.location),
                    Ok(_) => {}
                    Err(object_store::Error::NotFound { .. }) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(keys)
    }

    async fn segment(&self, key: Path) -> Result<Arc<SegmentReader>> {
        if let Some(s) = self.inner.cache.get(key.as_ref()) {
            return Ok(s);
        }
        let bytes = self.inner.os.get(&key).await?.bytes().await?;
        let seg = blocking(move || Ok(Arc::new(SegmentReader::new(IndexSegment::decode(&bytes)?))))
            .await?;
        let size = seg.memory_bytes();
        self.inner
            .cache
            .insert(key.as_ref().to_string(), seg.clone(), size);
        Ok(seg)
    }

    /// Series matching all matchers with chunks overlapping `[from, through]`,
    /// sorted by labels, each with its chunk refs sorted by time.
    pub async fn series(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<(Labels, Vec<ChunkRef>)>> {
        let keys = self.segment_keys(tenant, from, through).await?;
        let segs: Vec<Arc<SegmentReader>> =
            futures::stream::iter(keys.into_iter().map(|k| self.segment(k)))
                .buffer_unordered(READ_CONCURRENCY)
                .try_collect()
                .await?;
        let mut by_fp: BTreeMap<u64, (Labels, BTreeSet<ChunkRef>)> = BTreeMap::new();
        for seg in &segs {
            for (labels, chunks) in seg.series(matchers, from, through) {
                let fp = chunks[0].fingerprint;
                by_fp
                    .entry(fp)
                    .or_insert_with(|| (labels.clone(), BTreeSet::new()))
                    .1
                    .extend(chunks);
            }
        }
        let mut out: Vec<(Labels, Vec<ChunkRef>)> = by_fp
            .into_values()
            .map(|(l, c)| {
                let mut c: Vec<ChunkRef> = c.into_iter().collect();
                c.sort_by_key(|r| (r.from, r.through, r.checksum));
                (l, c)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Label names of series with data in `[from, through]`, sorted.
    pub async fn label_names(&self, tenant: &str, from: i64, through: i64) -> Result<Vec<String>> {
        let series = self.series(tenant, &[], from, through).await?;
        let names: BTreeSet<String> = series
            .iter()
            .flat_map(|(l, _)| l.iter().map(|(k, _)| k.to_string()))
            .collect();
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` among matching series with data in `[from, through]`, sorted.
    pub async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Result<Vec<String>> {
        let series = self.series(tenant, matchers, from, through).await?;
        let values: BTreeSet<String> = series
            .iter()
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect();
        Ok(values.into_iter().collect())
    }

    /// Writes `bytes` under `key` (relative to the store's prefix), for
    /// data that is not chunks or index, e.g. the ruler's `rules/` tree.
    pub async fn put_raw(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.inner
            .os
            .put(&self.path(key), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// The object under `key`, or `None` if there is none.
    pub async fn get_raw(&self, key: &str) -> Result<Option<Bytes>> {
        match self.inner.os.get(&self.path(key)).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every key under `prefix` (a directory, e.g. `rules`), relative to
    /// the store's prefix, sorted.
    pub async fn list_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let base = self.path(prefix.trim_end_matches('/'));
        let mut keys: Vec<String> = self
            .inner
            .os
            .list(Some(&base))
            .map_ok(|m| {
                let k = m.location.to_string();
                k.strip_prefix(&self.inner.prefix).unwrap_or(&k).to_string()
            })
            .try_collect()
            .await?;
        keys.sort();
        Ok(keys)
    }

    /// Deletes the object under `key`; a missing object is not an error.
    pub async fn delete_raw(&self, key: &str) -> Result<()> {
        match self.inner.os.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Tenants that have any object in the store.
    pub async fn tenants(&self) -> Result<Vec<String>> {
        let prefix = if self.inner.prefix.is_empty() {
            None
        } else {
            Some(self.path(""))
        };
        let list = self.inner.os.list_with_delimiter(prefix.as_ref()).await?;
        let mut out: Vec<String> = list
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests;

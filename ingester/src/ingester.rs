//! The ingester service: push (WAL then memory), snapshots for queries,
//! label and series lookups over in-memory streams.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use sluice_logql::labels::{Labels, Matcher};
use sluice_proto::logproto::PushRequest;
use sluice_proto::service::{Code, Pusher, ServiceError};
use sluice_storage::chunk::{ChunkConfig, ChunkData, Encoding};
use sluice_storage::store::Store;

use crate::config::IngesterConfig;
use crate::error::{Error, Result};
use crate::metrics;
use crate::record;
use crate::stream::{Appended, Stream};
use crate::wal::{FsyncPolicy, Wal, WalConfig};

pub(crate) type StreamRef = Arc<Mutex<Stream>>;

#[derive(Default)]
pub(crate) struct Tenant {
    pub streams: RwLock<HashMap<u64, StreamRef>>,
}

/// One stream's labels and a read-only view of its in-memory chunks.
pub struct SeriesSnapshot {
    pub labels: Labels,
    pub chunks: Vec<ChunkData>,
}

pub struct Ingester {
    pub(crate) cfg: IngesterConfig,
    pub(crate) chunk_cfg: ChunkConfig,
    pub(crate) tenants: RwLock<HashMap<String, Arc<Tenant>>>,
    pub(crate) wal: Arc<Wal>,
    /// Pushes hold it shared from WAL append to memory apply; a checkpoint
    /// holds it exclusively while it rotates the WAL and snapshots memory.
    pub(crate) gate: tokio::sync::RwLock<()>,
    pub(crate) store: Store,
    /// One flush cycle at a time.
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
    /// One checkpoint at a time.
    pub(crate) checkpoint_lock: tokio::sync::Mutex<()>,
    pub(crate) stopping: AtomicBool,
    ready: AtomicBool,
}

impl Ingester {
    /// Opens the WAL, replays it into memory and returns a ready ingester.
    pub fn open(
        cfg: IngesterConfig,
        wal_dir: std::path::PathBuf,
        store: Store,
    ) -> Result<Arc<Ingester>> {
        let encoding: Encoding = cfg.chunk_encoding.parse().map_err(|_| {
            Error::Config(format!(
                "unknown chunk_encoding {:?} (zstd, snappy, lz4, none)",
                cfg.chunk_encoding
            ))
        })?;
        let chunk_cfg = ChunkConfig {
            encoding,
            block_size: cfg.chunk_block_size,
            target_size: cfg.chunk_target_size,
        };
        let fsync = match cfg.wal.fsync.as_str() {
            "always" => FsyncPolicy::Always,
            "interval" => FsyncPolicy::Interval(cfg.wal.fsync_interval),
            "never" => FsyncPolicy::Never,
            other => {
                return Err(Error::Config(format!(
                    "unknown wal.fsync {other:?} (always, interval, never)"
                )))
            }
        };
        let (wal, mut replay) = Wal::open(WalConfig {
            dir: wal_dir,
            segment_size: cfg.wal.segment_size,
            fsync,
            enabled: cfg.wal.enabled,
            ..WalConfig::default()
        })?;
        let ing = Arc::new(Ingester {
            cfg,
            chunk_cfg,
            tenants: RwLock::new(HashMap::new()),
            wal: Arc::new(wal),
            gate: tokio::sync::RwLock::new(()),
            store,
            flush_lock: tokio::sync::Mutex::new(()),
            checkpoint_lock: tokio::sync::Mutex::new(()),
            stopping: AtomicBool::new(false),
            ready: AtomicBool::new(false),
        });
        let started = Instant::now();
        let mut restored = 0usize;
        if let Some(cp) = replay.checkpoint() {
            restored = ing.restore_checkpoint(cp)?;
        }
        let mut records = 0usize;
        for rec in replay.records() {
            let rec = rec?;
            let (tenant, req) = record::decode_push(&rec)?;
            ing.apply(&tenant, &req, true);
            records += 1;
        }
        tracing::info!(
            chunks = restored,
            records,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "wal replayed"
        );
        ing.ready.store(true, Ordering::Release);
        Ok(ing)
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.stopping.load(Ordering::Acquire)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn tenant(&self, tenant: &str) -> Option<Arc<Tenant>> {
        self.tenants.read().get(tenant).cloned()
    }

    fn tenant_or_create(&self, tenant: &str) -> Arc<Tenant> {
        if let Some(t) = self.tenant(tenant) {
            return t;
        }
        self.tenants
            .write()
            .entry(tenant.to_string())
            .or_default()
            .clone()
    }

    /// Finds or creates a stream. Fingerprint collisions between different
    /// label sets are resolved by probing the next fingerprint.
    pub(crate) fn stream_or_create(
        &self,
        t: &Tenant,
        mut fp: u64,
        labels_str: &str,
    ) -> Option<StreamRef> {
        loop {
            if let Some(s) = t.streams.read().get(&fp) {
                if s.lock().labels_str == labels_str {
                    return Some(s.clone());
                }
                fp = fp.wrapping_add(1);
                continue;
            }
            let labels = parse_labels(labels_str)?;
            let mut w = t.streams.write();
            match w.get(&fp) {
                Some(s) if s.lock().labels_str == labels_str => return Some(s.clone()),
                Some(_) => {
                    fp = fp.wrapping_add(1);
                    continue;
                }
                None => {
                    let s = Arc::new(Mutex::new(Stream::new(labels, labels_str.to_string())));
                    w.insert(fp, s.clone());
                    metrics::STREAMS.inc();
                    return Some(s);
                }
            }
        }
    }

    /// Appends a push to memory. Returns a message per rejected entry group.
    fn apply(&self, tenant: &str, req: &PushRequest, replay: bool) -> Vec<String> {
        let t = self.tenant_or_create(tenant);
        let now = Instant::now();
        // Loki accepts entries up to half of max_chunk_age behind the newest
        let window = (!replay).then_some(self.cfg.max_chunk_age.as_nanos() as i64 / 2);
        let mut errors = Vec::new();
        let mut n = 0u64;
        for s in &req.streams {
            let Some(stream) = self.stream_or_create(&t, s.hash, &s.labels) else {
                errors.push(format!("invalid labels {}", s.labels));
                continue;
            };
            let mut stream = stream.lock();
            let mut behind = 0usize;
            let mut first_bad: Option<(i64, i64)> = None;
            for e in &s.entries {
                let ts = e.timestamp.map(|t| t.unix_nanos()).unwrap_or(0);
                let md = e
                    .structured_metadata
                    .iter()
                    .map(|m| (m.name.as_str(), m.value.as_str()));
                match stream.append(&self.chunk_cfg, ts, &e.line, md, window, now) {
                    Appended::Ok => n += 1,
                    Appended::Duplicate => {}
                    Appended::TooFarBehind(oldest) => {
                        behind += 1;
                        first_bad.get_or_insert((ts, oldest));
                    }
                }
            }
            if let Some((ts, oldest)) = first_bad {
                errors.push(format!(
                    "entry with timestamp {ts} ignored, reason: 'entry too far behind, entry timestamp is: {ts}, \
                     oldest acceptable timestamp is: {oldest}',\nuser '{tenant}', total ignored: {behind} out of {total} \
                     for stream: {labels}",
                    ts = sluice_logql::time::format_rfc3339(ts),
                    oldest = sluice_logql::time::format_rfc3339(oldest),
                    total = s.entries.len(),
                    labels = s.labels,
                ));
            }
        }
        metrics::ENTRIES.inc_by(n);
        errors
    }

    /// Every in-memory stream with its tenant and fingerprint, listed under
    /// short read locks so callers can lock streams one at a time.
    pub(crate) fn all_streams(&self) -> Vec<(String, u64, StreamRef)> {
        let tenants: Vec<(String, Arc<Tenant>)> = self
            .tenants
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = Vec::new();
        for (tenant, t) in tenants {
            out.extend(
                t.streams
                    .read()
                    .iter()
                    .map(|(fp, s)| (tenant.clone(), *fp, s.clone())),
            );
        }
        out
    }

    /// Read-only views of the chunks of every stream matching `matchers`
    /// that overlap `[from, through]`.
    pub fn snapshot(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Vec<SeriesSnapshot> {
        let Some(t) = self.tenant(tenant) else {
            return Vec::new();
        };
        let streams: Vec<StreamRef> = t.streams.read().values().cloned().collect();
        let mut out = Vec::new();
        for s in streams {
            let s = s.lock();
            if !s.labels.matches(matchers) {
                continue;
            }
            let chunks: Vec<ChunkData> = s
                .chunks
                .iter()
                .filter(|c| matches!(c.chunk().bounds(), Some((min, max)) if min <= through && max >= from))
                .map(|c| c.chunk().snapshot())
                .collect();
            if !chunks.is_empty() {
                out.push(SeriesSnapshot {
                    labels: s.labels.clone(),
                    chunks,
                });
            }
        }
        out
    }

    /// Label sets of in-memory streams matching `matchers` with data in
    /// `[from, through]`.
    pub fn series(
        &self,
        tenant: &str,
        matchers: &[Matcher],
        from: i64,
        through: i64,
    ) -> Vec<Labels> {
        let Some(t) = self.tenant(tenant) else {
            return Vec::new();
        };
        let streams: Vec<StreamRef> = t.streams.read().values().cloned().collect();
        streams
            .iter()
            .filter_map(|s| {
                let s = s.lock();
                let overlaps = s
                    .chunks
                    .iter()
                    .any(|c| matches!(c.chunk().bounds(), Some((min, max)) if min <= through && max >= from));
                (overlaps && s.labels.matches(matchers)).then(|| s.labels.clone())
            })
            .collect()
    }

    /// Stops accepting pushes.
    pub fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Runs the periodic flush and checkpoint loops until shutdown.
    pub fn spawn_loops(self: &Arc<Self>) {
        let ing = self.clone();
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(ing.cfg.flush_check_period.max(Duration::from_millis(100)));
            tick.tick().await;
            while !ing.stopping.load(Ordering::Acquire) {
                tick.tick().await;
                if let Err(e) = ing.flush(false).await {
                    tracing::error!(error = %e, "periodic flush failed");
                }
            }
        });
        let ing = self.clone();
        tokio::spawn(async move {
            let period = ing.cfg.wal.checkpoint_duration.max(Duration::from_secs(1));
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            while !ing.stopping.load(Ordering::Acquire) {
                tick.tick().await;
                if let Err(e) = ing.checkpoint().await {
                    tracing::error!(error = %e, "checkpoint failed");
                }
            }
        });
    }
}

#[async_trait::async_trait]
impl Pusher for Ingester {
    async fn push(&self, tenant: &str, req: PushRequest) -> Result<(), ServiceError> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(Error::Stopping.into());
        }
        let _gate = self.gate.read().await;
        let rec = record::encode_push(tenant, &req);
        // The writer writes (and fsyncs) the record while the push is
        // applied to memory here, on the thread that decoded it (its lines
        // still in cache); the push is acknowledged only once the record is
        // durable. An entry may be queryable a moment before that, like in
        // Loki; if the write then fails the push gets the error and the
        // client retries (nothing acknowledged is lost).
        let durable = self.wal.submit(rec).map_err(Error::from)?;
        let errors = self.apply(tenant, &req, false);
        drop(req);
        durable.await.map_err(Error::from)?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::new(Code::InvalidArgument, errors.join("\n")))
        }
    }
}

/// Parses a canonical label string (`{a="b", c="d"}`) into labels.
pub(crate) fn parse_labels(s: &str) -> Option<Labels> {
    let matchers = sluice_logql::parser::parse_selector(s).ok()?;
    Some(Labels::new(
        matchers.into_iter().map(|m| (m.name, m.value)).collect(),
    ))
}

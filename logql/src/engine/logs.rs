//! Log queries: run the pipeline over each selected stream (streams in
//! parallel), keep the first `limit` entries in the query direction across
//! all streams, and group them by their final label set.
//!
//! Workers share a cutoff: once `limit` entries are known, a stream stops at
//! its first entry that falls after the current `limit`-th best timestamp,
//! since every later entry of that stream ranks lower still. Ties on the
//! timestamp are broken by the source stream's Prometheus label hash, as
//! Loki's heap iterator breaks them.

use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::pipeline::hashmap::HashKeyed;

use super::par;
use super::{QueryParams, Stream, StreamEntry};
use crate::ast::LogExpr;
use crate::pipeline::{LabelsResult, Pipeline, StreamPipeline};
use crate::source::{Direction, LogSource, SelectParams, StreamReader};
use crate::stats::{Passed, ReadStats};
use crate::{Error, Result};

/// An entry that may make the answer. `key` orders entries best first.
struct Candidate {
    key: i64,
    /// Prometheus hash of the source stream's labels: Loki's tie-break.
    stream: u64,
    ts: i64,
    line: Bytes,
    labels: Arc<Output>,
}

/// The labels of one output stream.
struct Output {
    fp: u64,
    result: LabelsResult,
}

/// The `limit`-th best key seen so far, shared by the workers.
struct Cutoff {
    limit: usize,
    best: Mutex<BinaryHeap<i64>>,
    bound: AtomicI64,
}

impl Cutoff {
    fn new(limit: usize) -> Self {
        Cutoff {
            limit,
            best: Mutex::new(BinaryHeap::with_capacity(limit.min(1 << 16) + 1)),
            bound: AtomicI64::new(i64::MAX),
        }
    }

    /// Whether an entry with `key` can no longer make the answer.
    fn excludes(&self, key: i64) -> bool {
        key > self.bound.load(Ordering::Relaxed)
    }

    fn offer(&self, key: i64) -> Result<()> {
        let mut best = self
            .best
            .lock()
            .map_err(|_| Error::Source("log query worker failed".into()))?;
        if best.len() < self.limit {
            best.push(key);
        } else if best.peek().is_some_and(|&worst| key < worst) {
            best.pop();
            best.push(key);
        } else {
            return Ok(());
        }
        if best.len() == self.limit {
            if let Some(&worst) = best.peek() {
                self.bound.store(worst, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

pub(crate) fn eval(expr: &LogExpr, source: &dyn LogSource, p: &QueryParams) -> Result<Vec<Stream>> {
    let pipeline = Pipeline::new(&expr.pipeline)?;
    let limit = p.limit as usize;
    if limit == 0 {
        return Ok(Vec::new());
    }
    let sel = SelectParams {
        matchers: expr.selector.clone(),
        start: p.start,
        end: p.end,
        direction: p.direction,
        required_literals: pipeline.required_literals(),
        metadata_names: None,
        line_cut: None,
    };
    let readers = source.select(&sel).map_err(|e| Error::Source(e.0))?;
    let forward = p.direction == Direction::Forward;
    let cutoff = Cutoff::new(limit);
    let stats = source.stats();
    // each stream first reads its share of the limit (and one more), so
    // the cutoff is found from all streams rather than from the first few
    let first_quota = limit.div_ceil(readers.len().max(1)) + 1;
    let per_batch = readers.len().div_ceil(par::threads()).clamp(1, BATCH);
    let mut batches = Vec::with_capacity(readers.len().div_ceil(per_batch));
    let mut readers = readers.into_iter().peekable();
    while readers.peek().is_some() {
        batches.push(readers.by_ref().take(per_batch).collect::<Vec<_>>());
    }
    let parts = par::run(batches, Vec::new, |out: &mut Vec<Candidate>, batch| {
        let ctx = Reading {
            pipeline: &pipeline,
            forward,
            cutoff: &cutoff,
            stats,
        };
        read_batch(batch, first_quota, &ctx, out)
    })?;
    let mut all: Vec<Candidate> = parts.into_iter().flatten().collect();
    all.sort_by_key(|c| (c.key, c.stream));
    all.truncate(limit);
    Ok(group(all))
}

/// Streams a worker reads together, at most: their readers (each holding
/// its current block's decoded part) stay open between rounds.
const BATCH: usize = 64;

/// What every stream of a log query is read with.
struct Reading<'a> {
    pipeline: &'a Pipeline,
    forward: bool,
    cutoff: &'a Cutoff,
    stats: Option<&'a ReadStats>,
}

/// A stream being read: its reader, pipeline, output labels and how many
/// entries it has kept.
struct Open {
    stream: u64,
    reader: StreamReader,
    sp: StreamPipeline,
    outputs: HashKeyed<Arc<Output>>,
    kept: usize,
}

/// Reads a batch of streams in rounds: in each, every stream still open
/// keeps up to `quota` more entries (the quota doubling each round), and
/// a stream closes once its next entry falls past the cutoff, it has no
/// more, or it has kept the limit. The first round's quota (each stream's
/// share of the limit) fills the cutoff from every stream of the batch, so
/// later rounds read only what can still make the answer; reading one
/// stream to the cutoff before the next would read the first streams
/// deep while the cutoff is still loose.
fn read_batch(
    batch: Vec<StreamReader>,
    mut quota: usize,
    ctx: &Reading,
    out: &mut Vec<Candidate>,
) -> Result<()> {
    let mut passed = Passed::new(ctx.stats);
    let mut open: Vec<Open> = batch
        .into_iter()
        .map(|r| Open {
            stream: crate::engine::stream_hash(&r.labels),
            sp: ctx.pipeline.for_stream(&r.labels),
            reader: r,
            outputs: HashKeyed::default(),
            kept: 0,
        })
        .collect();
    while !open.is_empty() {
        let mut still = Vec::with_capacity(open.len());
        for mut s in open {
            if read_some(&mut s, quota, ctx, out, &mut passed)? {
                still.push(s);
            }
        }
        open = still;
        quota = quota.saturating_mul(2);
    }
    Ok(())
}

/// Reads stream `s` until it has kept `quota` more entries (true: it may
/// have more to give), or it is done (false).
fn read_some(
    s: &mut Open,
    quota: usize,
    ctx: &Reading,
    out: &mut Vec<Candidate>,
    passed: &mut Passed,
) -> Result<bool> {
    let cutoff = ctx.cutoff;
    let stop = s.kept.saturating_add(quota).min(cutoff.limit);
    for e in s.reader.entries.by_ref() {
        let e = e.map_err(|e| Error::Source(e.0))?;
        let key = if ctx.forward {
            e.ts
        } else {
            e.ts.saturating_neg()
        };
        if cutoff.excludes(key) {
            return Ok(false);
        }
        let Some(processed) = s.sp.process(e.ts, &e.line, &e.metadata) else {
            continue;
        };
        passed.n += 1;
        let lr = processed.labels;
        let labels = s
            .outputs
            .entry(lr.hash)
            .or_insert_with(|| {
                Arc::new(Output {
                    fp: lr.all.fingerprint(),
                    result: lr.clone(),
                })
            })
            .clone();
        let same =
            processed.line.as_ptr() == e.line.as_ptr() && processed.line.len() == e.line.len();
        let line = if same {
            e.line.clone()
        } else {
            Bytes::copy_from_slice(processed.line)
        };
        out.push(Candidate {
            key,
            stream: s.stream,
            ts: e.ts,
            line,
            labels,
        });
        cutoff.offer(key)?;
        s.kept += 1;
        if s.kept >= stop {
            // a stream that kept the limit has nothing better to give
            return Ok(s.kept < cutoff.limit);
        }
    }
    Ok(false)
}

/// Groups the chosen entries by their final labels, streams sorted by labels.
fn group(entries: Vec<Candidate>) -> Vec<Stream> {
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut streams: Vec<Stream> = Vec::new();
    for c in entries {
        let r = &c.labels.result;
        let i = *index.entry(c.labels.fp).or_insert_with(|| {
            streams.push(Stream {
                labels: r.all.clone(),
                entries: Vec::new(),
            });
            streams.len() - 1
        });
        streams[i].entries.push(StreamEntry {
            ts: c.ts,
            line: c.line,
            stream_labels: r.stream.clone(),
            structured_metadata: r.structured_metadata.clone(),
            parsed: r.parsed.clone(),
        });
    }
    streams.sort_by(|a, b| a.labels.cmp(&b.labels));
    streams
}

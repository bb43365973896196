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
use crate::pipeline::{LabelsResult, Pipeline};
use crate::source::{Direction, Entry, LogSource, SelectParams, SourceError, StreamReader};
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
    // First every stream offers its share of the limit, so that the cutoff
    // is near its final value before any stream reads further: then each
    // reads on only while its entries can still make the limit (a stream
    // read alone first would read up to the limit, the next ones less and
    // less).
    let share = limit.div_ceil(readers.len().max(1));
    let parts = par::run(
        readers,
        || (Vec::new(), Vec::new()),
        |(out, more): &mut (Vec<Candidate>, Vec<StreamRead>), r| {
            let mut sr = StreamRead::new(r, &pipeline, forward);
            if sr.read(share, &cutoff, out, stats)? {
                more.push(sr);
            }
            Ok(())
        },
    )?;
    let mut all: Vec<Candidate> = Vec::new();
    let mut more = Vec::new();
    for (out, m) in parts {
        all.extend(out);
        more.extend(m);
    }
    let parts = par::run(
        more,
        Vec::new,
        |out: &mut Vec<Candidate>, mut sr: StreamRead| {
            sr.read(limit, &cutoff, out, stats).map(|_| ())
        },
    )?;
    all.extend(parts.into_iter().flatten());
    all.sort_by_key(|c| (c.key, c.stream));
    all.truncate(limit);
    Ok(group(all))
}

/// One stream being read: its entries, pipeline and labels so far.
struct StreamRead {
    entries: Box<dyn Iterator<Item = std::result::Result<Entry, SourceError>> + Send>,
    stream: u64,
    sp: crate::pipeline::StreamPipeline,
    outputs: HashKeyed<Arc<Output>>,
    forward: bool,
    kept: usize,
}

impl StreamRead {
    fn new(r: StreamReader, pipeline: &Pipeline, forward: bool) -> Self {
        StreamRead {
            stream: crate::engine::stream_hash(&r.labels),
            sp: pipeline.for_stream(&r.labels),
            entries: r.entries,
            outputs: HashKeyed::default(),
            forward,
            kept: 0,
        }
    }

    /// Reads on until the stream has kept `upto` entries in all (or the
    /// query's limit), the cutoff excludes its next entry, or it ends;
    /// true when it stopped at `upto` and may read on.
    fn read(
        &mut self,
        upto: usize,
        cutoff: &Cutoff,
        out: &mut Vec<Candidate>,
        stats: Option<&ReadStats>,
    ) -> Result<bool> {
        let mut passed = Passed::new(stats);
        let upto = upto.min(cutoff.limit);
        while self.kept < upto {
            let Some(e) = self.entries.next() else {
                return Ok(false);
            };
            let e = e.map_err(|e| Error::Source(e.0))?;
            let key = if self.forward {
                e.ts
            } else {
                e.ts.saturating_neg()
            };
            if cutoff.excludes(key) {
                return Ok(false);
            }
            let Some(processed) = self.sp.process(e.ts, &e.line, &e.metadata) else {
                continue;
            };
            passed.n += 1;
            let lr = processed.labels;
            let labels = self
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
                stream: self.stream,
                ts: e.ts,
                line,
                labels,
            });
            cutoff.offer(key)?;
            self.kept += 1;
        }
        Ok(self.kept < cutoff.limit)
    }
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

//! Per-query read statistics: how many entries (and line bytes) a query's
//! readers went through before any filtering, and how many passed its
//! pipeline. Readers add to a shared [`ReadStats`] once per block or
//! stream, never per entry; answers carry the [`QueryStats`] snapshot,
//! summed over splits and shards as Loki's `stats.Result.Merge` does.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Totals of one query (or of several merged).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryStats {
    /// Entries read (decompressed, taken from an ingester's head, or
    /// counted from block metadata), before any filter.
    pub lines: u64,
    /// Line bytes of those entries (structured metadata not included).
    pub bytes: u64,
    /// Entries that passed the query's pipeline.
    pub post_filter_lines: u64,
}

impl QueryStats {
    /// Adds `o` to these totals.
    pub fn merge(&mut self, o: &QueryStats) {
        self.lines += o.lines;
        self.bytes += o.bytes;
        self.post_filter_lines += o.post_filter_lines;
    }
}

/// The counters a query's readers share (cheap to add to from several
/// threads; add once per block or stream).
#[derive(Debug, Default)]
pub struct ReadStats {
    lines: AtomicU64,
    bytes: AtomicU64,
    post_filter_lines: AtomicU64,
}

impl ReadStats {
    /// Counts `lines` entries of `bytes` line bytes as read.
    pub fn add_read(&self, lines: u64, bytes: u64) {
        if lines > 0 {
            self.lines.fetch_add(lines, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Adds another query's (or sub-query's) totals.
    pub fn add(&self, s: &QueryStats) {
        self.add_read(s.lines, s.bytes);
        self.add_post_filter(s.post_filter_lines);
    }

    /// Counts `lines` entries as having passed the pipeline.
    pub fn add_post_filter(&self, lines: u64) {
        if lines > 0 {
            self.post_filter_lines.fetch_add(lines, Ordering::Relaxed);
        }
    }

    /// The totals so far.
    pub fn snapshot(&self) -> QueryStats {
        QueryStats {
            lines: self.lines.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            post_filter_lines: self.post_filter_lines.load(Ordering::Relaxed),
        }
    }
}

/// Entries of one stream that passed the pipeline, added to the query's
/// counters when the stream is done (or failed).
pub(crate) struct Passed<'a> {
    pub(crate) n: u64,
    stats: Option<&'a ReadStats>,
}

impl<'a> Passed<'a> {
    pub(crate) fn new(stats: Option<&'a ReadStats>) -> Self {
        Passed { n: 0, stats }
    }
}

impl Drop for Passed<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.stats {
            s.add_post_filter(self.n);
        }
    }
}

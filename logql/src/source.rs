//! What the engine reads: per-stream entry iterators from a `LogSource`.
//!
//! The querier implements `LogSource` over ingesters and the object store;
//! tests implement it over vectors. Entries of one stream come in the
//! requested direction, already de-duplicated, within `[start, end)`.

use bytes::Bytes;

use crate::labels::{Labels, Matcher};
use crate::stats::ReadStats;

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Unix nanoseconds.
    pub ts: i64,
    pub line: Bytes,
    /// Structured metadata, in the order it was pushed.
    pub metadata: Vec<(String, String)>,
    /// `line` is only the start of the entry's line, as
    /// [`SelectParams::line_cut`] allows.
    pub cut: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    Forward,
    #[default]
    Backward,
}

/// What to read.
#[derive(Clone, Debug)]
pub struct SelectParams {
    pub matchers: Vec<Matcher>,
    /// Inclusive, unix ns.
    pub start: i64,
    /// Exclusive, unix ns.
    pub end: i64,
    pub direction: Direction,
    /// Literal substrings every returned line must contain (a pre-filter the
    /// source may use to skip blocks or entries; the engine still applies
    /// the full pipeline).
    pub required_literals: Vec<String>,
    /// When set, the structured metadata names the query can read; a source
    /// may drop other pairs (see [`SelectParams::needs_metadata`]). `None`:
    /// every pair is needed.
    pub metadata_names: Option<Vec<String>>,
    /// When set, a source may shorten lines as [`LineCut`] describes.
    pub line_cut: Option<LineCut>,
}

/// How a source may shorten the lines of a metric query whose pipeline is
/// a parser under hints followed only by label filters
/// ([`SelectParams::line_cut`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineCut {
    /// A source may return only the start of a line (marking the entry
    /// `cut`): the bytes before a space that follows a token (tokens are
    /// cut at spaces outside double quotes), provided every token before
    /// that space is a plain logfmt pair `key=value` (the key a label
    /// name, the value one or more ASCII graphic characters other than `"`
    /// and `=`) and each of these keys is the key of one of them. A
    /// `logfmt` stage that stops once it has these keys reads such a line
    /// as it reads the whole one; the engine checks that it did.
    Logfmt(Vec<String>),
    /// A source may return, for a line it knows to be a flat JSON object
    /// of scalar members (valid JSON, label-name keys), the object of only
    /// the members these keys name, in order, their values' bytes as they
    /// are: `| json` under these hints sets the same labels from it, and
    /// no error from either. The entry is not marked `cut`.
    Json(Vec<String>),
}

impl LineCut {
    pub fn keys(&self) -> &[String] {
        match self {
            LineCut::Logfmt(k) | LineCut::Json(k) => k,
        }
    }
}

impl SelectParams {
    /// Whether a structured metadata pair named `name` must be returned:
    /// always for `__error__`, `__error_details__` and names that are not
    /// valid label names (the pipeline sanitises those), else when listed
    /// in `metadata_names` (or when there is no list).
    pub fn needs_metadata(&self, name: &str) -> bool {
        match &self.metadata_names {
            None => true,
            // called per pair per entry: the cheap list lookup first
            Some(names) => {
                names.iter().any(|n| n == name)
                    || name == "__error__"
                    || name == "__error_details__"
                    || !crate::labels::is_valid_label_name(name)
            }
        }
    }
}

/// Error from a source (I/O, corrupt data, limits).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// The entries of one stream.
pub struct StreamReader {
    pub labels: Labels,
    pub entries: Box<dyn Iterator<Item = Result<Entry, SourceError>> + Send>,
}

/// Timestamp and line length of one entry: all that `count_over_time`,
/// `bytes_over_time`, `rate` and `bytes_rate` need when there is no pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntrySize {
    pub ts: i64,
    pub len: u32,
}

/// The entry sizes of one stream.
pub struct SizeReader {
    pub labels: Labels,
    pub entries: Box<dyn Iterator<Item = Result<EntrySize, SourceError>> + Send>,
}

/// Anything the engine can read streams from.
pub trait LogSource: Send + Sync {
    fn select(&self, params: &SelectParams) -> Result<Vec<StreamReader>, SourceError>;

    /// Like `select`, but only timestamps and line lengths. Sources that store
    /// timestamps apart from the lines override this so such queries never
    /// decompress a line. Without `lengths` (counting queries), a source may
    /// leave `len` 0 where it would have to compute it; it must still
    /// return each entry once.
    fn select_sizes(
        &self,
        params: &SelectParams,
        lengths: bool,
    ) -> Result<Vec<SizeReader>, SourceError> {
        let _ = lengths;
        Ok(self
            .select(params)?
            .into_iter()
            .map(|s| SizeReader {
                labels: s.labels,
                entries: Box::new(s.entries.map(|e| {
                    e.map(|e| EntrySize {
                        ts: e.ts,
                        len: e.line.len() as u32,
                    })
                })),
            })
            .collect())
    }

    /// The query's read counters, when the source keeps them: the source
    /// counts the entries its readers go through, the engine those that
    /// pass the pipeline.
    fn stats(&self) -> Option<&ReadStats> {
        None
    }
}

/// A `LogSource` over in-memory streams, for tests and benchmarks.
#[derive(Clone, Debug, Default)]
pub struct MemSource {
    pub streams: Vec<(Labels, Vec<Entry>)>,
}

impl LogSource for MemSource {
    fn select(&self, p: &SelectParams) -> Result<Vec<StreamReader>, SourceError> {
        let mut out = Vec::new();
        for (labels, entries) in &self.streams {
            if !labels.matches(&p.matchers) {
                continue;
            }
            let mut sel: Vec<Entry> = entries
                .iter()
                .filter(|e| e.ts >= p.start && e.ts < p.end)
                .cloned()
                .map(|mut e| {
                    e.metadata.retain(|(k, _)| p.needs_metadata(k));
                    e
                })
                .collect();
            sel.sort_by_key(|e| e.ts);
            if p.direction == Direction::Backward {
                sel.reverse();
            }
            out.push(StreamReader {
                labels: labels.clone(),
                entries: Box::new(sel.into_iter().map(Ok)),
            });
        }
        Ok(out)
    }
}

//! Sample extraction for range aggregations: the log pipeline, then either
//! the implicit value (1 per line, or the line length in bytes) or the
//! `unwrap`ped label (with conversion and post-unwrap filters), then the
//! range aggregation's `by`/`without` grouping.
//!
//! As in Loki, an entry without the unwrapped label (or with an empty value)
//! yields no sample; a conversion failure sets
//! `__error__="SampleExtractionErr"` and the sample keeps all its labels
//! (grouping is skipped) so the evaluator can report the error.

use super::builder::Cat;
use super::convert::{parse_bytes, parse_duration, parse_float};
use super::label_filter::LabelFilterer;
use super::line_memo::{self, LineMemo};
use super::{labels_result, recycle, sort_dedup, Pipeline, ResultCache, Run, StreamPipeline};
use crate::ast::{Grouping, LogRange, RangeOp, UnwrapConversion};
use crate::labels::Labels;
use crate::pipeline::LabelsResult;
use crate::source::LineCut;
use crate::{Error, Result};

pub(crate) const SAMPLE_EXTRACTION_ERR: &str = "SampleExtractionErr";

#[derive(Debug, Clone)]
enum Value {
    Count,
    Bytes,
    Unwrap {
        label: String,
        conversion: Option<UnwrapConversion>,
        post: Vec<LabelFilterer>,
    },
}

/// Extracts samples for one range aggregation.
#[derive(Debug, Clone)]
pub struct SampleExtractor {
    pipeline: Pipeline,
    value: Value,
    /// `(without, labels)`; `None` keeps every label.
    grouping: Option<(bool, Vec<String>)>,
}

impl SampleExtractor {
    pub fn new(
        range: &LogRange,
        op: RangeOp,
        grouping: Option<&Grouping>,
    ) -> Result<SampleExtractor> {
        let mut pipeline = Pipeline::new(&range.log.pipeline)?;
        let mut groups = grouping.map(|g| (g.without, g.labels.clone()));
        let value = match &range.unwrap {
            Some(u) => {
                let mut post = Vec::with_capacity(u.post_filters.len());
                for f in &u.post_filters {
                    post.push(LabelFilterer::compile(f)?);
                }
                // Loki drops the unwrapped label from the series labels unless
                // an explicit `by` grouping decides the labels.
                match &mut groups {
                    Some((false, g)) if !g.is_empty() => {}
                    Some((true, g)) => {
                        g.push(u.label.clone());
                        g.sort();
                    }
                    _ => groups = Some((true, vec![u.label.clone()])),
                }
                Value::Unwrap {
                    label: u.label.clone(),
                    conversion: u.conversion,
                    post,
                }
            }
            None => match op {
                RangeOp::CountOverTime | RangeOp::Rate | RangeOp::AbsentOverTime => Value::Count,
                RangeOp::BytesOverTime | RangeOp::BytesRate => Value::Bytes,
                other => {
                    return Err(Error::BadQuery(format!(
                        "invalid aggregation {other:?} without unwrap"
                    )))
                }
            },
        };
        if matches!(&groups, Some((false, g)) if g.is_empty()) && range.unwrap.is_none() {
            groups = None;
        }
        // With a `by` grouping only the grouped labels (and the ones filters
        // and unwrap read) reach the result, so parsers may skip the rest.
        if let Some((false, g)) = &groups {
            if !g.is_empty() {
                let mut needed = g.clone();
                if let Some(u) = &range.unwrap {
                    needed.push(u.label.clone());
                    for f in &u.post_filters {
                        super::label_filter_names(f, &mut needed);
                    }
                }
                pipeline = pipeline.with_hints(&range.log.pipeline, needed);
            }
        }
        Ok(SampleExtractor {
            pipeline,
            value,
            grouping: groups,
        })
    }

    /// How a source may shorten lines (`SelectParams::line_cut`): after
    /// the parser hints when the pipeline stops reading a logfmt line once
    /// it has them, or to the JSON members they name; never when the
    /// sample's value is the line's length.
    pub fn line_cut(&self) -> Option<LineCut> {
        if matches!(self.value, Value::Bytes) {
            return None;
        }
        let keys = self.pipeline.hints()?.to_vec();
        if self.pipeline.prefix_decided() {
            Some(LineCut::Logfmt(keys))
        } else if self.pipeline.json_hinted() {
            Some(LineCut::Json(keys))
        } else {
            None
        }
    }

    /// Structured metadata names that can reach a sample (its labels or
    /// value), when the pipeline's parser hints bound them; `None`: all.
    pub fn metadata_names(&self) -> Option<Vec<String>> {
        self.pipeline.hints().map(|h| h.to_vec())
    }

    /// Whether streams reuse outcomes by line prefix (`PrefixMemo`).
    #[cfg(test)]
    pub(crate) fn memoizes(&self) -> bool {
        self.pipeline.prefix_decided()
    }

    pub fn for_stream(&self, stream: &Labels) -> StreamSampleExtractor {
        let grouped_base = self.grouping.as_ref().map(|(without, g)| {
            let pairs: Vec<(String, String)> = stream
                .iter()
                .filter(|(k, _)| g.iter().any(|x| x == k) != *without)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            LabelsResult::from_stream(Labels::from_sorted(pairs))
        });
        // Under parser hints the stages only filter and parse, and parsers
        // and metadata never overwrite a stream label (they add
        // `_extracted` names): a `by` grouping of stream labels only is
        // then the stream's own grouped labels for every entry.
        let grouped_is_base = self.pipeline.hints().is_some()
            && matches!(&self.grouping, Some((false, g)) if g.iter().all(|n| stream.get(n).is_some()));
        StreamSampleExtractor {
            inner: self.pipeline.for_stream(stream),
            value: self.value.clone(),
            grouping: self.grouping.clone(),
            grouped_base,
            grouped_is_base,
            grouped: ResultCache::default(),
            memo: self.pipeline.prefix_decided().then(PrefixMemo::default),
            line_memo: self.pipeline.json_hinted().then(LineMemo::default),
        }
    }
}

/// A cut line whose stages did not stop within it: only the whole line
/// decides its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undecided;

/// Sample extraction state for one stream.
#[derive(Debug)]
pub struct StreamSampleExtractor {
    inner: StreamPipeline,
    value: Value,
    grouping: Option<(bool, Vec<String>)>,
    grouped_base: Option<LabelsResult>,
    /// The grouped labels are always `grouped_base` (see `for_stream`).
    grouped_is_base: bool,
    grouped: ResultCache,
    /// With a pipeline whose outcome a line prefix can decide.
    memo: Option<PrefixMemo>,
    /// With a pipeline whose outcome only the line decides.
    line_memo: Option<LineMemo>,
}

/// Outcomes of lines whose `logfmt` stage stopped early, keyed by the
/// bytes it read (see `LogfmtParser::process`). A line that starts with
/// those bytes and has a byte up to `' '` right after them (or ends there)
/// parses the same, so its outcome is reused without running the stages:
/// with `level` first in its lines, a stream needs a handful of entries.
#[derive(Debug, Default)]
struct PrefixMemo {
    /// Prefix and outcome.
    entries: Vec<(Vec<u8>, Outcome)>,
    /// The entry to replace next once full.
    next: usize,
    hits: u32,
    misses: u32,
}

/// The value (unless it is the line length) and labels of a sample;
/// `None` for no sample.
type Outcome = Option<(f64, LabelsResult)>;

/// Prefixes a memo keeps per stream.
const MEMO_ENTRIES: usize = 16;

/// Misses before a memo that does not hit at least every other line stops
/// being asked (a key with varying values ahead of the hinted ones, as in
/// `ts=... level=...`, makes every prefix new).
const MEMO_TRIAL: u32 = 64;

impl PrefixMemo {
    fn live(&self) -> bool {
        self.misses < MEMO_TRIAL || self.hits >= self.misses
    }

    fn find(&self, line: &[u8]) -> Option<usize> {
        self.entries
            .iter()
            .position(|(p, _)| line.starts_with(p) && line.get(p.len()).is_none_or(|&c| c <= b' '))
    }

    /// Keeps the outcome of a line whose stages read `prefix` of it.
    fn insert(&mut self, prefix: &[u8], out: Outcome) -> usize {
        self.misses = self.misses.saturating_add(1);
        if self.entries.len() < MEMO_ENTRIES {
            self.entries.push((prefix.to_vec(), out));
            return self.entries.len() - 1;
        }
        let i = self.next;
        self.next = (i + 1) % MEMO_ENTRIES;
        let (p, o) = &mut self.entries[i];
        p.clear();
        p.extend_from_slice(prefix);
        *o = out;
        i
    }

    /// The sample entry `i` gives `line`.
    fn outcome(&self, i: usize, value: &Value, line: &[u8]) -> Option<(f64, &LabelsResult)> {
        let (v, labels) = self.entries[i].1.as_ref()?;
        let v = match value {
            Value::Bytes => line.len() as f64,
            _ => *v,
        };
        Some((v, labels))
    }
}

fn convert(conv: Option<UnwrapConversion>, v: &str) -> std::result::Result<f64, String> {
    match conv {
        None => parse_float(v),
        Some(UnwrapConversion::Duration | UnwrapConversion::DurationSeconds) => {
            parse_duration(v).map(|ns| ns as f64 / 1e9)
        }
        Some(UnwrapConversion::Bytes) => parse_bytes(v).map(|b| b as f64),
    }
}

impl StreamSampleExtractor {
    /// Runs one entry; `None` when it yields no sample.
    pub fn process(
        &mut self,
        ts: i64,
        line: &[u8],
        structured_metadata: &[(String, String)],
    ) -> Option<(f64, &LabelsResult)> {
        self.process_cut(ts, line, structured_metadata, false)
            .ok()
            .flatten()
    }

    /// [`StreamSampleExtractor::process`] of an entry whose line may be
    /// `cut` (see [`SampleExtractor::line_cut`]): `Err` when it is and the
    /// stages did not stop within it, so the whole line could give another
    /// outcome.
    pub fn process_cut(
        &mut self,
        ts: i64,
        line: &[u8],
        structured_metadata: &[(String, String)],
        cut: bool,
    ) -> Result<Option<(f64, &LabelsResult)>, Undecided> {
        // the memos only know entries without metadata (which could add
        // labels)
        if !cut
            && structured_metadata.is_empty()
            && line.len() <= line_memo::MAX_LINE
            && self.line_memo.as_ref().is_some_and(LineMemo::live)
        {
            return Ok(self.line_memo_process(ts, line));
        }
        let memo = structured_metadata.is_empty() && self.memo.as_ref().is_some_and(|m| m.live());
        if memo {
            if let Some(i) = self.memo.as_ref().and_then(|m| m.find(line)) {
                return Ok(self.memo.as_mut().and_then(|m| {
                    m.hits = m.hits.saturating_add(1);
                    m.outcome(i, &self.value, line)
                }));
            }
        }
        let run = self.inner.run(ts, line, structured_metadata);
        // the first stage is the parser when there is a memo
        let stop = match self.memo {
            Some(_) => self.inner.stop().filter(|&p| p > 0),
            None => None,
        };
        if cut && stop.is_none() {
            return Err(Undecided);
        }
        if !memo {
            return Ok(self.finish(run, line));
        }
        Ok(match stop {
            Some(p) => {
                let out = self.finish(run, line).map(|(v, l)| (v, l.clone()));
                self.memo.as_mut().and_then(|m| {
                    let i = m.insert(&line[..p], out);
                    m.outcome(i, &self.value, line)
                })
            }
            None => {
                if let Some(m) = self.memo.as_mut() {
                    m.misses = m.misses.saturating_add(1);
                }
                self.finish(run, line)
            }
        })
    }

    /// [`StreamSampleExtractor::process`] of a line without metadata
    /// through the line memo (there is one).
    fn line_memo_process(&mut self, ts: i64, line: &[u8]) -> Option<(f64, &LabelsResult)> {
        let h = match self.line_memo.as_mut()?.get(line) {
            Ok(kept) => return self.line_memo.as_ref()?.outcome(kept),
            Err(h) => h,
        };
        let mut memo = self.line_memo.take()?;
        let run = self.inner.run(ts, line, &[]);
        let kept = memo.insert(h, line, self.finish(run, line));
        self.line_memo = Some(memo);
        self.line_memo.as_ref()?.outcome(kept)
    }

    /// Lines answered from the prefix memo, and whether it is still asked.
    #[cfg(test)]
    pub(crate) fn memo_state(&self) -> Option<(u32, bool)> {
        self.memo.as_ref().map(|m| (m.hits, m.live()))
    }

    /// Lines answered from the line memo, and whether it is still asked.
    #[cfg(test)]
    pub(crate) fn line_memo_state(&self) -> Option<(u32, bool)> {
        self.line_memo.as_ref().map(|m| (m.hits, m.live()))
    }

    /// The sample of an entry the pipeline ran over, and its labels.
    fn finish(&mut self, run: Run, line: &[u8]) -> Option<(f64, &LabelsResult)> {
        let value = match (&self.value, run) {
            (_, Run::Dropped) => return None,
            (Value::Count, _) => 1.0,
            (Value::Bytes, Run::Input) => line.len() as f64,
            (Value::Bytes, _) => self.inner.line_buf().len() as f64,
            (
                Value::Unwrap {
                    label,
                    conversion,
                    post,
                },
                _,
            ) => {
                let b = &mut self.inner.builder;
                let raw = b.get(label).unwrap_or("");
                if raw.is_empty() {
                    return None;
                }
                let v = match convert(*conversion, raw) {
                    Ok(v) => v,
                    Err(e) => {
                        b.set_err(SAMPLE_EXTRACTION_ERR, Some(&e));
                        0.0
                    }
                };
                for f in post {
                    if !f.process(b) {
                        return None;
                    }
                }
                v
            }
        };
        let s = &mut self.inner;
        let labels = match (&self.grouping, &self.grouped_base) {
            (Some((without, groups)), Some(base)) if !s.builder.has_err() => {
                if s.builder.is_unchanged() || self.grouped_is_base {
                    base
                } else {
                    let mut pairs: Vec<(Cat, &str, &str)> =
                        recycle(std::mem::take(&mut s.scratch.pairs));
                    if *without {
                        s.builder.for_each(|c, k, v| {
                            if !groups.iter().any(|g| g == k)
                                && k != super::builder::ERROR_LABEL
                                && k != super::builder::ERROR_DETAILS_LABEL
                            {
                                pairs.push((c, k, v));
                            }
                        });
                    } else {
                        for g in groups {
                            if s.builder.deleted().iter().any(|d| d == g) {
                                continue;
                            }
                            if let Some(v) = s.builder.get(g) {
                                pairs.push((Cat::Stream, g, v));
                            }
                        }
                    }
                    sort_dedup(&mut pairs);
                    let r = self.grouped.get(&pairs, false);
                    s.scratch.pairs = recycle(pairs);
                    r
                }
            }
            _ => labels_result(&s.builder, &s.base_result, &mut s.cache, &mut s.scratch),
        };
        Some((value, labels))
    }
}

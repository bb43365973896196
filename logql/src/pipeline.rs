//! The per-entry LogQL pipeline: everything between reading an entry and
//! feeding the evaluator, with Loki 3's semantics.
//!
//! [`Pipeline::new`] compiles the stages of a log query once (regexes,
//! templates, patterns); [`Pipeline::for_stream`] makes a cheap
//! [`StreamPipeline`] holding the per-stream label builder and reusable
//! buffers; [`StreamPipeline::process`] runs one entry and returns the
//! (possibly rewritten) line with its categorised labels, or `None` when the
//! entry is filtered out. [`SampleExtractor`] does the same for range
//! aggregations and yields sample values.
//!
//! Label results are cached per stream by label-set hash, so an entry whose
//! labels did not change (or changed to a set seen before) costs no label
//! allocation; past the cache size one result is rebuilt in place. Metric
//! queries grouped `by (...)` pass parser hints so `json`/`logfmt` skip keys
//! nothing reads, as Loki does.
//!
//! Known differences from Loki, all deliberate: JSON keys that sanitise to
//! an empty name are skipped (Loki emits an empty label name);
//! `(?i)literal` line filters use a correct case-insensitive search (Loki's
//! fast path misses some overlapping matches); regex error texts come from
//! the `regex` crate; a stream label renamed by `label_format` stays in the
//! stream category.

mod builder;
mod convert;
mod extract;
mod format;
pub(crate) mod hashmap;
mod ip;
mod json;
mod label_filter;
mod line_filter;
mod line_memo;
mod logfmt;
mod pattern;
mod stage;

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod hint_tests;
#[cfg(test)]
mod pipeline_tests;

use std::sync::Arc;

use crate::ast::{LineFilterOp, LineFilterValue, Stage};
use crate::labels::Labels;

use builder::{Cat, LabelsBuilder};
pub use extract::{SampleExtractor, StreamSampleExtractor};
use stage::{CStage, Scratch, StageOutcome};

/// The labels of a processed entry, split as Grafana's categorize-labels needs them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelsResult {
    /// Stream + structured metadata + parsed labels after drop/keep/label_format,
    /// including `__error__`/`__error_details__` when set.
    pub all: Labels,
    /// The indexed stream labels (after drop/keep/label_format where they apply).
    pub stream: Labels,
    pub structured_metadata: Vec<(String, String)>,
    pub parsed: Vec<(String, String)>,
    /// `all.fingerprint()`, for grouping.
    pub hash: u64,
}

impl LabelsResult {
    /// A result holding only stream labels.
    pub fn from_stream(stream: Labels) -> LabelsResult {
        LabelsResult {
            hash: stream.fingerprint(),
            all: stream.clone(),
            stream,
            structured_metadata: Vec::new(),
            parsed: Vec::new(),
        }
    }
}

/// One entry after the pipeline.
#[derive(Debug)]
pub struct Processed<'a> {
    pub line: &'a [u8],
    pub labels: &'a LabelsResult,
}

/// The compiled stages of a log query.
#[derive(Clone, Debug)]
pub struct Pipeline {
    stages: Arc<Vec<CStage>>,
    required: Vec<String>,
    hints: Option<Arc<Vec<String>>>,
}

impl Pipeline {
    /// Compiles regexes, templates and patterns once.
    pub fn new(stages: &[Stage]) -> crate::Result<Pipeline> {
        let mut compiled = Vec::with_capacity(stages.len());
        for s in stages {
            compiled.push(CStage::compile(s).map_err(|e| stage_error(s, e))?);
        }
        Ok(Pipeline {
            stages: Arc::new(compiled),
            required: required_literals(stages),
            hints: None,
        })
    }

    pub fn is_noop(&self) -> bool {
        self.stages.is_empty()
    }

    /// Literal substrings every line that passes must contain (from leading
    /// `|=` filters without `or`); sources use them to skip data.
    pub fn required_literals(&self) -> Vec<String> {
        self.required.clone()
    }

    /// The only labels parsers extract and structured metadata can matter
    /// for, when the query allows such hints (see `with_hints`).
    pub(crate) fn hints(&self) -> Option<&[String]> {
        self.hints.as_deref().map(|h| h.as_slice())
    }

    /// Whether an entry's outcome is decided by a prefix of its line when
    /// the parser stops early: the first stage is `logfmt` under parser
    /// hints and only label filters (which read labels, never the line)
    /// follow. See `extract::PrefixMemo`.
    pub(crate) fn prefix_decided(&self) -> bool {
        self.hinted_parser_first(|s| matches!(s, CStage::Logfmt(_)))
    }

    /// Whether the pipeline reads only the members of a JSON line its
    /// hints name: the first stage is `json` under parser hints and only
    /// label filters follow (see `LineCut::Json`).
    pub(crate) fn json_hinted(&self) -> bool {
        self.hinted_parser_first(|s| matches!(s, CStage::Json(_)))
    }

    /// Whether there are parser hints, the first stage is `parser` and
    /// only label filters follow it.
    fn hinted_parser_first(&self, parser: impl Fn(&CStage) -> bool) -> bool {
        self.hints.as_ref().is_some_and(|h| !h.is_empty())
            && self.stages.first().is_some_and(parser)
            && self.stages[1..]
                .iter()
                .all(|s| matches!(s, CStage::LabelFilter(_)))
    }

    /// Cheap: the per-stream state is created lazily and reused.
    pub fn for_stream(&self, stream: &Labels) -> StreamPipeline {
        let mut builder = LabelsBuilder::new(stream.clone());
        builder.set_hints(self.hints.clone());
        StreamPipeline {
            stages: Arc::clone(&self.stages),
            builder,
            base_result: LabelsResult::from_stream(stream.clone()),
            cache: ResultCache::default(),
            line_buf: Vec::new(),
            scratch: Scratch::new(&self.stages),
        }
    }
}

impl Pipeline {
    /// Restricts `json`/`logfmt` extraction to `needed` labels, when the
    /// stages allow it: only line filters, parsers and label filters (whose
    /// labels are added to `needed`). Used by metric queries grouped `by`.
    pub(crate) fn with_hints(mut self, stages: &[Stage], mut needed: Vec<String>) -> Pipeline {
        for s in stages {
            match s {
                Stage::LineFilter(_) | Stage::Decolorize => {}
                Stage::Parser(_) => {}
                Stage::LabelFilter(f) => label_filter_names(f, &mut needed),
                _ => return self,
            }
        }
        let mut hints = Vec::with_capacity(needed.len() * 2);
        for n in needed {
            if let Some(base) = n.strip_suffix(builder::DUPLICATE_SUFFIX) {
                hints.push(base.to_string());
            }
            hints.push(n);
        }
        hints.sort();
        hints.dedup();
        self.hints = Some(Arc::new(hints));
        self
    }
}

/// Label names a label filter reads.
pub(crate) fn label_filter_names(f: &crate::ast::LabelFilter, out: &mut Vec<String>) {
    use crate::ast::LabelFilter as F;
    match f {
        F::And(a, b) | F::Or(a, b) => {
            label_filter_names(a, out);
            label_filter_names(b, out);
        }
        F::Paren(a) => label_filter_names(a, out),
        F::String(m) => out.push(m.name.clone()),
        F::Number { name, .. }
        | F::Duration { name, .. }
        | F::Bytes { name, .. }
        | F::Ip { name, .. } => out.push(name.clone()),
    }
}

/// Loki reports a stage that cannot be built as `stage '<stage>' : <error>`
/// inside a parse error (HTTP 400).
fn stage_error(stage: &Stage, e: crate::Error) -> crate::Error {
    match e {
        crate::Error::BadQuery(msg) => crate::Error::ParseNoPos(format!("stage '{stage}' : {msg}")),
        other => other,
    }
}

/// `|=` literals that apply to the raw line: stop at the first stage that
/// rewrites the line.
fn required_literals(stages: &[Stage]) -> Vec<String> {
    let mut out = Vec::new();
    for s in stages {
        match s {
            Stage::LineFilter(lf) if lf.op == LineFilterOp::Contains && lf.values.len() == 1 => {
                if let LineFilterValue::Literal(l) = &lf.values[0] {
                    if !l.is_empty() {
                        out.push(l.clone());
                    }
                }
            }
            Stage::LineFormat(_)
            | Stage::Decolorize
            | Stage::Parser(crate::ast::Parser::Unpack) => break,
            _ => {}
        }
    }
    out
}

/// Cache of computed label results keyed by label-set hash. A handful of
/// results is searched by comparing labels, which beats hashing them; past
/// that a hash index finds them. Once full, further label sets are built
/// into one reusable `spare` result whose buffers are recycled, so
/// high-cardinality labels cost no allocation.
#[derive(Default, Debug)]
pub(crate) struct ResultCache {
    results: Vec<LabelsResult>,
    /// Label-set hash to indices into `results`.
    index: hashmap::HashKeyed<Vec<usize>>,
    spare: LabelsResult,
    hash_buf: Vec<u8>,
}

/// Distinct label sets cached per stream before falling back to `spare`.
const MAX_CACHED_RESULTS: usize = 64;

/// Up to this many cached results are searched without hashing.
const LINEAR_RESULTS: usize = 8;

/// Whether `r` holds exactly these labels.
fn same_labels(r: &LabelsResult, pairs: &[(Cat, &str, &str)]) -> bool {
    r.all.len() == pairs.len()
        && r.all
            .iter()
            .zip(pairs)
            .all(|((k, v), (_, pk, pv))| k == *pk && v == *pv)
}

impl ResultCache {
    /// Returns the result for these sorted, de-duplicated labels.
    /// `categorise` false puts every label in `stream`.
    pub(crate) fn get(&mut self, pairs: &[(Cat, &str, &str)], categorise: bool) -> &LabelsResult {
        if self.results.len() <= LINEAR_RESULTS {
            if let Some(i) = self.results.iter().position(|r| same_labels(r, pairs)) {
                return &self.results[i];
            }
            let hash = hash_pairs(pairs, &mut self.hash_buf);
            return self.insert(hash, pairs, categorise);
        }
        let hash = hash_pairs(pairs, &mut self.hash_buf);
        let results = &self.results;
        let found = self.index.get(&hash).and_then(|bucket| {
            bucket
                .iter()
                .copied()
                .find(|&i| same_labels(&results[i], pairs))
        });
        match found {
            Some(i) => &self.results[i],
            None => self.insert(hash, pairs, categorise),
        }
    }

    /// Caches a new result, or builds it into `spare` when full.
    fn insert(
        &mut self,
        hash: u64,
        pairs: &[(Cat, &str, &str)],
        categorise: bool,
    ) -> &LabelsResult {
        if self.results.len() >= MAX_CACHED_RESULTS {
            if !(self.spare.hash == hash && same_labels(&self.spare, pairs)) {
                rebuild(&mut self.spare, pairs, hash, categorise);
            }
            return &self.spare;
        }
        let mut result = LabelsResult::default();
        rebuild(&mut result, pairs, hash, categorise);
        let i = self.results.len();
        self.results.push(result);
        self.index.entry(hash).or_default().push(i);
        &self.results[i]
    }
}

/// `Labels::fingerprint` of these pairs: one-shot xxh3 over the same bytes
/// the streaming fingerprint feeds (`k 0xff v 0xfe` per label).
fn hash_pairs(pairs: &[(Cat, &str, &str)], buf: &mut Vec<u8>) -> u64 {
    buf.clear();
    for (_, k, v) in pairs {
        buf.extend_from_slice(k.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(v.as_bytes());
        buf.push(0xfe);
    }
    xxhash_rust::xxh3::xxh3_64(buf)
}

/// Overwrites `dst` with `src`, reusing its strings.
fn refill<'p>(
    dst: &mut Vec<(String, String)>,
    src: impl Iterator<Item = &'p (Cat, &'p str, &'p str)>,
) {
    let mut n = 0;
    for (_, k, v) in src {
        if n < dst.len() {
            let (dk, dv) = &mut dst[n];
            dk.clear();
            dk.push_str(k);
            dv.clear();
            dv.push_str(v);
        } else {
            dst.push((k.to_string(), v.to_string()));
        }
        n += 1;
    }
    dst.truncate(n);
}

/// Rebuilds `r` in place for the given labels.
fn rebuild(r: &mut LabelsResult, pairs: &[(Cat, &str, &str)], hash: u64, categorise: bool) {
    let mut all = std::mem::take(&mut r.all).into_pairs();
    refill(&mut all, pairs.iter());
    r.all = Labels::from_sorted(all);
    r.hash = hash;
    let mut stream = std::mem::take(&mut r.stream).into_pairs();
    if categorise {
        refill(&mut stream, pairs.iter().filter(|p| p.0 == Cat::Stream));
        refill(
            &mut r.structured_metadata,
            pairs.iter().filter(|p| p.0 == Cat::Meta),
        );
        refill(&mut r.parsed, pairs.iter().filter(|p| p.0 == Cat::Parsed));
    } else {
        refill(&mut stream, pairs.iter());
        r.structured_metadata.clear();
        r.parsed.clear();
    }
    r.stream = Labels::from_sorted(stream);
}

/// Sorts by name and keeps the last of equal names.
pub(crate) fn sort_dedup(pairs: &mut Vec<(Cat, &str, &str)>) {
    pairs.sort_by(|a, b| a.1.cmp(b.1));
    let mut i = 1;
    while i < pairs.len() {
        if pairs[i - 1].1 == pairs[i].1 {
            pairs.remove(i - 1);
        } else {
            i += 1;
        }
    }
}

/// Reuses a vector's allocation for a different element type (no unsafe:
/// the standard library collects in place for same-layout types).
pub(crate) fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// Pipeline state for one stream.
#[derive(Debug)]
pub struct StreamPipeline {
    stages: Arc<Vec<CStage>>,
    builder: LabelsBuilder,
    base_result: LabelsResult,
    cache: ResultCache,
    line_buf: Vec<u8>,
    scratch: Scratch,
}

/// Outcome of running the stages over one entry.
pub(crate) enum Run {
    Dropped,
    /// The line is unchanged.
    Input,
    /// The line was rewritten into `line_buf`.
    Rewritten,
}

impl StreamPipeline {
    /// Runs one entry; `None` = entry filtered out.
    pub fn process<'a>(
        &'a mut self,
        ts: i64,
        line: &'a [u8],
        structured_metadata: &[(String, String)],
    ) -> Option<Processed<'a>> {
        let run = self.run(ts, line, structured_metadata);
        let out_line: &'a [u8] = match run {
            Run::Dropped => return None,
            Run::Input => line,
            Run::Rewritten => &self.line_buf,
        };
        let labels = labels_result(
            &self.builder,
            &self.base_result,
            &mut self.cache,
            &mut self.scratch,
        );
        Some(Processed {
            line: out_line,
            labels,
        })
    }

    /// Runs the stages, leaving the label state in `self.builder`.
    pub(crate) fn run(&mut self, ts: i64, line: &[u8], sm: &[(String, String)]) -> Run {
        self.builder.reset();
        // line filters read no label: structured metadata joins the labels
        // only once an entry gets past the leading ones
        let mut pending_md = !sm.is_empty();
        let mut rewritten = false;
        for (i, stage) in self.stages.iter().enumerate() {
            if pending_md && !matches!(stage, CStage::Line(_)) {
                self.builder.add_metadata(sm);
                pending_md = false;
            }
            let cur: &[u8] = if rewritten { &self.line_buf } else { line };
            match stage.process(i, ts, cur, &mut self.builder, &mut self.scratch) {
                StageOutcome::Pass => {}
                StageOutcome::Drop => return Run::Dropped,
                StageOutcome::NewLine => {
                    std::mem::swap(&mut self.line_buf, &mut self.scratch.new_line);
                    rewritten = true;
                }
            }
        }
        if pending_md {
            self.builder.add_metadata(sm);
        }
        if rewritten {
            Run::Rewritten
        } else {
            Run::Input
        }
    }

    pub(crate) fn line_buf(&self) -> &[u8] {
        &self.line_buf
    }

    /// Where the last run's `logfmt` stage stopped with every hint
    /// extracted, if it did.
    pub(crate) fn stop(&self) -> Option<usize> {
        self.scratch.stop
    }
}

/// The full (ungrouped) label result of the current entry.
fn labels_result<'c>(
    builder: &LabelsBuilder,
    base: &'c LabelsResult,
    cache: &'c mut ResultCache,
    scratch: &mut Scratch,
) -> &'c LabelsResult {
    if builder.is_unchanged() {
        return base;
    }
    let mut pairs: Vec<(Cat, &str, &str)> = recycle(std::mem::take(&mut scratch.pairs));
    builder.for_each(|c, k, v| pairs.push((c, k, v)));
    sort_dedup(&mut pairs);
    let r = cache.get(&pairs, true);
    scratch.pairs = recycle(pairs);
    r
}

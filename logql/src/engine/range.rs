//! Range aggregations: read the selected streams once, in time order, on all
//! cores, and turn their samples into per-step values.
//!
//! Samples are read from `(start - range - offset, end - offset]` (Loki adds
//! one nanosecond to the exclusive store end so lines exactly at `end` count).
//! Two strategies:
//! - *additive* operations (`count_over_time`, `rate`, `bytes_*`,
//!   `sum_over_time`, `absent_over_time`) slide a window over each stream as
//!   it is read and keep only per-step count/sum partials, which add up across
//!   streams feeding the same series: memory is one window per stream plus the
//!   output. Without a pipeline, when the grouping makes structured metadata
//!   irrelevant, they read only timestamps and sizes (`select_sizes`).
//! - the others collect each series' samples, then walk the windows.
//!
//! Series whose labels carry `__error__` are refused as Loki does, with its
//! "pipeline error" message.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::pipeline::hashmap::HashKeyed;

use super::par;
use super::rangefn::RangeFn;
use super::steps::{Grid, StepVectors};
use super::window::{Slider, Slots, Windows};
use crate::ast::{Grouping, RangeAgg, RangeOp, Stage};
use crate::labels::{Labels, MatchOp, Matcher};
use crate::pipeline::{Pipeline, SampleExtractor};
use crate::source::{Direction, LogSource, SelectParams, SizeReader, SourceError, StreamReader};
use crate::stats::{Passed, ReadStats};
use crate::{Error, Result};

/// Series handed to one window-walking task.
const SERIES_CHUNK: usize = 512;

/// Evaluates one range aggregation over the grid. `pushdown` is the grouping
/// of an enclosing `sum`, applied at extraction when the range aggregation has
/// none (sum distributes over the additive operations, so answers are equal).
pub(crate) fn eval(
    agg: &RangeAgg,
    pushdown: Option<&Grouping>,
    source: &dyn LogSource,
    grid: &Grid,
) -> Result<StepVectors> {
    let optimized = without_useless_line_format(agg);
    let agg = optimized.as_ref().unwrap_or(agg);
    let range = agg.range.range;
    let offset = agg.range.offset;
    let rf = RangeFn {
        op: agg.op,
        range,
        unwrap: agg.range.unwrap.is_some(),
        param: agg.param.unwrap_or(0.0),
    };
    let w = Windows {
        grid: *grid,
        range,
        offset,
    };
    let grouping = match agg.grouping.as_ref() {
        Some(g) => Some(g),
        None if additive(agg.op) && agg.op != RangeOp::AbsentOverTime => pushdown,
        None => None,
    };
    let sel = SelectParams {
        matchers: agg.range.log.selector.clone(),
        start: grid.start.saturating_sub(range).saturating_sub(offset),
        end: grid.end.saturating_sub(offset).saturating_add(1),
        direction: Direction::Forward,
        required_literals: Pipeline::new(&agg.range.log.pipeline)?.required_literals(),
        metadata_names: None,
        line_cut: None,
    };
    let stats = source.stats();
    let mut sv = if additive(agg.op) {
        let accs = match sizes_only(agg, grouping, source, &sel)? {
            Some(readers) => par::run(readers, Acc::default, |acc, r| {
                acc.add_sizes(r, agg.op, &w, stats)
            })?,
            None => {
                let ex = SampleExtractor::new(&agg.range, agg.op, grouping)?;
                let sel = SelectParams {
                    metadata_names: ex.metadata_names(),
                    line_cut: ex.line_cut(),
                    ..sel
                };
                with_whole_lines_again(&sel, |sel, undecided| {
                    par::run(select(source, sel)?, Acc::default, |acc, r| {
                        acc.add_stream(r, &ex, &w, stats, undecided)
                    })
                })?
            }
        };
        finish_additive(accs, &rf, grid.len)
    } else {
        let ex = SampleExtractor::new(&agg.range, agg.op, grouping)?;
        let sel = SelectParams {
            metadata_names: ex.metadata_names(),
            line_cut: ex.line_cut(),
            ..sel
        };
        let colls = with_whole_lines_again(&sel, |sel, undecided| {
            par::run(select(source, sel)?, Coll::default, |c, r| {
                c.add_stream(r, &ex, stats, undecided)
            })
        })?;
        finish_collected(colls, &rf, &w)?
    };
    check_errors(&sv)?;
    if agg.op == RangeOp::AbsentOverTime {
        sv = absent(sv, &agg.range.log.selector);
    }
    Ok(sv)
}

/// Loki's `removeLineformat`: in a range aggregation other than
/// `bytes_over_time`/`bytes_rate`, a `line_format` that no later parser or
/// line filter reads is dropped before evaluation. This is visible (template
/// errors vanish, `__line__` in a later `label_format` sees the original
/// line), so it is reproduced, not just used as a speed-up.
fn without_useless_line_format(agg: &RangeAgg) -> Option<RangeAgg> {
    if matches!(agg.op, RangeOp::BytesOverTime | RangeOp::BytesRate) {
        return None;
    }
    let stages = &agg.range.log.pipeline;
    let read_later = |i: usize| {
        stages[i..]
            .iter()
            .any(|s| matches!(s, Stage::Parser(_) | Stage::LineFilter(_)))
    };
    let keep: Vec<Stage> = stages
        .iter()
        .enumerate()
        .filter(|(i, s)| !matches!(s, Stage::LineFormat(_)) || read_later(*i))
        .map(|(_, s)| s.clone())
        .collect();
    if keep.len() == stages.len() {
        return None;
    }
    let mut out = agg.clone();
    out.range.log.pipeline = keep;
    Some(out)
}

/// Operations whose per-window value is a function of sample count and sum.
fn additive(op: RangeOp) -> bool {
    matches!(
        op,
        RangeOp::CountOverTime
            | RangeOp::Rate
            | RangeOp::BytesOverTime
            | RangeOp::BytesRate
            | RangeOp::SumOverTime
            | RangeOp::AbsentOverTime
    )
}

fn source_err(e: SourceError) -> Error {
    Error::Source(e.0)
}

fn select(source: &dyn LogSource, sel: &SelectParams) -> Result<Vec<StreamReader>> {
    source.select(sel).map_err(source_err)
}

/// The size-only readers, when they give the same answer as full entries: a
/// count or bytes aggregation without pipeline whose `by` labels are all
/// stream labels (so structured metadata, which Loki adds to sample labels,
/// cannot change the series).
fn sizes_only(
    agg: &RangeAgg,
    grouping: Option<&Grouping>,
    source: &dyn LogSource,
    sel: &SelectParams,
) -> Result<Option<Vec<(SizeReader, Labels)>>> {
    let op_ok = matches!(
        agg.op,
        RangeOp::CountOverTime | RangeOp::Rate | RangeOp::BytesOverTime | RangeOp::BytesRate
    );
    let Some(g) = grouping else { return Ok(None) };
    if !op_ok || agg.range.unwrap.is_some() || !agg.range.log.pipeline.is_empty() || g.without {
        return Ok(None);
    }
    let bytes = matches!(agg.op, RangeOp::BytesOverTime | RangeOp::BytesRate);
    let readers = source.select_sizes(sel, bytes).map_err(source_err)?;
    let mut out = Vec::with_capacity(readers.len());
    for r in readers {
        if g.labels.iter().any(|n| r.labels.get(n).is_none()) {
            return Ok(None);
        }
        let kept = r
            .labels
            .iter()
            .filter(|(k, _)| g.labels.iter().any(|n| n == k));
        let grouped =
            Labels::from_sorted(kept.map(|(k, v)| (k.to_string(), v.to_string())).collect());
        out.push((r, grouped));
    }
    Ok(Some(out))
}

/// Interns series labels by fingerprint.
#[derive(Default)]
struct Table<T> {
    index: HashKeyed<usize>,
    series: Vec<(Labels, u64, T)>,
}

impl<T: Default> Table<T> {
    fn intern(&mut self, labels: &Labels) -> usize {
        let fp = labels.fingerprint();
        let series = &mut self.series;
        *self.index.entry(fp).or_insert_with(|| {
            series.push((labels.clone(), fp, T::default()));
            series.len() - 1
        })
    }

    /// Merges tables from several workers; `join` combines two series' data.
    /// Series come out ordered by fingerprint, so answers do not depend on
    /// which worker read which stream.
    fn merge(tables: Vec<Table<T>>, mut join: impl FnMut(&mut T, T)) -> Vec<(Labels, T)> {
        let mut out: Table<T> = Table::default();
        for t in tables {
            for (labels, fp, data) in t.series {
                match out.index.get(&fp) {
                    Some(&i) => join(&mut out.series[i].2, data),
                    None => {
                        out.index.insert(fp, out.series.len());
                        out.series.push((labels, fp, data));
                    }
                }
            }
        }
        let mut series = out.series;
        series.sort_by_key(|s| s.1);
        series.into_iter().map(|(l, _, d)| (l, d)).collect()
    }
}

/// Per-step `(step, count, sum)` partials of one series.
type Partials = Vec<(u32, f64, f64)>;

/// Additive partials per series, for one worker.
type Acc = Table<Partials>;

impl Acc {
    fn add_stream(
        &mut self,
        r: StreamReader,
        ex: &SampleExtractor,
        w: &Windows,
        stats: Option<&ReadStats>,
        undecided: &AtomicBool,
    ) -> Result<()> {
        let mut sx = ex.for_stream(&r.labels);
        let mut passed = Passed::new(stats);
        let mut local: HashKeyed<usize> = HashKeyed::default();
        let mut sliders: Vec<(usize, Slider)> = Vec::new();
        let mut last: Option<(u64, usize)> = None;
        for e in r.entries {
            let e = e.map_err(source_err)?;
            let out = sx.process_cut(e.ts, &e.line, &e.metadata, e.cut);
            let Some((v, lr)) = out.map_err(|_| undecided_cut(undecided))? else {
                continue;
            };
            passed.n += 1;
            let slot = match last {
                Some((h, s)) if h == lr.hash => s,
                _ => {
                    let s = *local.entry(lr.hash).or_insert_with(|| {
                        sliders.push((self.intern(&lr.all), Slider::default()));
                        sliders.len() - 1
                    });
                    last = Some((lr.hash, s));
                    s
                }
            };
            let (id, slider) = &mut sliders[slot];
            let points = &mut self.series[*id].2;
            slider.push(w, e.ts, v, &mut |k, n, s| points.push((k as u32, n, s)));
        }
        for (id, mut slider) in sliders {
            let points = &mut self.series[id].2;
            slider.finish(w, &mut |k, n, s| points.push((k as u32, n, s)));
        }
        Ok(())
    }

    fn add_sizes(
        &mut self,
        (r, labels): (SizeReader, Labels),
        op: RangeOp,
        w: &Windows,
        stats: Option<&ReadStats>,
    ) -> Result<()> {
        let id = self.intern(&labels);
        // no pipeline: every entry read passes
        let mut passed = Passed::new(stats);
        let bytes = matches!(op, RangeOp::BytesOverTime | RangeOp::BytesRate);
        let points = &mut self.series[id].2;
        let mut slider = Slider::default();
        let mut emit = |k: usize, n: f64, s: f64| points.push((k as u32, n, s));
        for e in r.entries {
            let e = e.map_err(source_err)?;
            passed.n += 1;
            let v = if bytes { f64::from(e.len) } else { 1.0 };
            slider.push(w, e.ts, v, &mut emit);
        }
        slider.finish(w, &mut emit);
        Ok(())
    }
}

/// Runs `eval` over `sel`. A source may cut lines as `sel.line_cut` lets
/// it; should a cut line's outcome not be decided by its start (`eval`
/// sets `undecided` and fails), `eval` runs again on whole lines. The
/// entries read the first time stay counted in the query's statistics.
fn with_whole_lines_again<T>(
    sel: &SelectParams,
    eval: impl Fn(&SelectParams, &AtomicBool) -> Result<T>,
) -> Result<T> {
    let undecided = AtomicBool::new(false);
    let out = eval(sel, &undecided);
    if sel.line_cut.is_none() || !undecided.load(Ordering::Relaxed) {
        return out;
    }
    let whole = SelectParams {
        line_cut: None,
        ..sel.clone()
    };
    eval(&whole, &AtomicBool::new(false))
}

/// The error that stops a read whose cut line was not decided.
fn undecided_cut(flag: &AtomicBool) -> Error {
    flag.store(true, Ordering::Relaxed);
    Error::Source("a cut line needs its whole text".into())
}

fn finish_additive(accs: Vec<Acc>, rf: &RangeFn, len: usize) -> StepVectors {
    let series = Table::merge(accs, |a, b| a.extend(b));
    let mut sv = StepVectors::empty(len);
    let secs = rf.range as f64 / 1e9;
    for (id, (labels, mut points)) in series.into_iter().enumerate() {
        if !points.windows(2).all(|p| p[0].0 < p[1].0) {
            // a canonical order within a step keeps float sums reproducible
            points.sort_by(|a, b| {
                a.0.cmp(&b.0)
                    .then(a.2.total_cmp(&b.2))
                    .then(a.1.total_cmp(&b.1))
            });
        }
        let mut i = 0;
        while i < points.len() {
            let (k, mut n, mut s) = points[i];
            i += 1;
            while i < points.len() && points[i].0 == k {
                n += points[i].1;
                s += points[i].2;
                i += 1;
            }
            let v = match rf.op {
                RangeOp::CountOverTime => n,
                RangeOp::Rate if !rf.unwrap => n / secs,
                RangeOp::Rate | RangeOp::BytesRate => s / secs,
                RangeOp::AbsentOverTime => 1.0,
                _ => s,
            };
            sv.steps[k as usize].push((id as u32, v));
        }
        sv.labels.push(labels);
    }
    sv
}

/// Samples `(ts, value)` of one series, with the streams they came from.
#[derive(Default)]
struct Samples {
    points: Vec<(i64, f64)>,
    /// `(stream hash, index of its first point)` for each run of
    /// points read from one stream.
    runs: Vec<(u64, usize)>,
}

impl Samples {
    /// Time order across streams; equal timestamps ordered by stream hash,
    /// as Loki's sample heap orders them. Each run is one stream in time
    /// order: laid out by stream hash, a stable sort by time alone gives
    /// that order (ties keep their run order), merging the runs it finds.
    fn sort(&mut self) {
        if self.runs.len() < 2 {
            return;
        }
        let n = self.points.len();
        let mut runs: Vec<(u64, usize, usize)> = (0..self.runs.len())
            .map(|r| {
                let end = self.runs.get(r + 1).map_or(n, |next| next.1);
                (self.runs[r].0, self.runs[r].1, end)
            })
            .collect();
        if !runs.windows(2).all(|w| w[0].0 <= w[1].0) {
            runs.sort_by_key(|r| r.0);
            let mut laid = Vec::with_capacity(n);
            for &(_, start, end) in &runs {
                laid.extend_from_slice(&self.points[start..end]);
            }
            self.points = laid;
        }
        self.points.sort_by_key(|p| p.0);
        self.runs.truncate(1);
    }
}

impl Samples {
    /// Orders the points by `slots` only, in linear time: each window is
    /// then a run of whole slots, which `Windows::over_slice` finds as it
    /// finds them in time order, but holds its points in no set order.
    fn order_by_slot(&mut self, slots: &Slots) {
        if self.runs.len() < 2 {
            return;
        }
        let mut starts = vec![0usize; slots.count + 1];
        let of: Vec<u32> = self.points.iter().map(|p| slots.of(p.0)).collect();
        for &k in &of {
            starts[k as usize + 1] += 1;
        }
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let mut laid = vec![(0i64, 0f64); self.points.len()];
        for (p, &k) in self.points.iter().zip(&of) {
            laid[starts[k as usize]] = *p;
            starts[k as usize] += 1;
        }
        self.points = laid;
        self.runs.truncate(1);
    }
}

type Coll = Table<Samples>;

impl Coll {
    fn add_stream(
        &mut self,
        r: StreamReader,
        ex: &SampleExtractor,
        stats: Option<&ReadStats>,
        undecided: &AtomicBool,
    ) -> Result<()> {
        let stream_fp = crate::engine::stream_hash(&r.labels);
        let mut passed = Passed::new(stats);
        let mut sx = ex.for_stream(&r.labels);
        let mut local: HashKeyed<usize> = HashKeyed::default();
        let mut last: Option<(u64, usize)> = None;
        for e in r.entries {
            let e = e.map_err(source_err)?;
            let out = sx.process_cut(e.ts, &e.line, &e.metadata, e.cut);
            let Some((v, lr)) = out.map_err(|_| undecided_cut(undecided))? else {
                continue;
            };
            passed.n += 1;
            let id = match last {
                Some((h, id)) if h == lr.hash => id,
                _ => {
                    let id = match local.get(&lr.hash) {
                        Some(&id) => id,
                        None => {
                            let id = self.intern(&lr.all);
                            let s = &mut self.series[id].2;
                            s.runs.push((stream_fp, s.points.len()));
                            local.insert(lr.hash, id);
                            id
                        }
                    };
                    last = Some((lr.hash, id));
                    id
                }
            };
            self.series[id].2.points.push((e.ts, v));
        }
        Ok(())
    }
}

/// A window-walking worker's per-step output and its quantile buffer.
type WalkState = (Vec<Vec<(u32, f64)>>, Vec<f64>);

fn finish_collected(colls: Vec<Coll>, rf: &RangeFn, w: &Windows) -> Result<StepVectors> {
    let mut series = Table::merge(colls, |a, b| {
        let shift = a.points.len();
        a.runs
            .extend(b.runs.into_iter().map(|(fp, i)| (fp, i + shift)));
        a.points.extend(b.points);
    });
    // a quantile reads each window's values in any order
    let slots = (rf.op == RangeOp::QuantileOverTime)
        .then(|| w.slots())
        .flatten();
    for (_, s) in &mut series {
        match &slots {
            Some(slots) => s.order_by_slot(slots),
            None => s.sort(),
        }
    }
    let parts = par::run(
        par::chunks(series.len(), SERIES_CHUNK),
        || (vec![Vec::new(); w.grid.len], Vec::new()),
        |(steps, buf): &mut WalkState, ids| {
            for id in ids {
                let points = &series[id].1.points;
                w.over_slice(points, |k, win| {
                    steps[k].push((id as u32, rf.apply_with(win, buf)))
                });
            }
            Ok(())
        },
    )?;
    let parts_len = parts.len();
    let mut sv = StepVectors::empty(w.grid.len);
    for (part, _) in parts {
        for (k, step) in part.into_iter().enumerate() {
            sv.steps[k].extend(step);
        }
    }
    // workers took chunks in any order; series order is part of the answer's
    // reproducibility (float sums, ties in topk)
    if parts_len > 1 {
        for step in &mut sv.steps {
            step.sort_unstable_by_key(|p| p.0);
        }
    }
    sv.labels = series.into_iter().map(|(l, _)| l).collect();
    Ok(sv)
}

/// Loki refuses metric series carrying a pipeline error unless
/// `__preserve_error__="true"`.
fn check_errors(sv: &StepVectors) -> Result<()> {
    let bad: Vec<bool> = sv
        .labels
        .iter()
        .map(|l| l.get("__error__").is_some() && l.get("__preserve_error__") != Some("true"))
        .collect();
    if !bad.contains(&true) {
        return Ok(());
    }
    for step in &sv.steps {
        let first = step
            .iter()
            .filter(|(id, _)| bad[*id as usize])
            .map(|(id, _)| &sv.labels[*id as usize])
            .min();
        if let Some(labels) = first {
            return Err(pipeline_error(labels));
        }
    }
    Ok(())
}

pub(crate) fn pipeline_error(labels: &Labels) -> Error {
    let kind = labels.get("__error__").unwrap_or_default();
    Error::BadQuery(format!(
        "pipeline error: '{kind}' for series: '{labels}'.\n\
         Use a label filter to intentionally skip this error. (e.g | __error__!=\"{kind}\").\n\
         To skip all potential errors you can match empty errors.(e.g __error__=\"\")\n\
         The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n"
    ))
}

/// `absent_over_time`: 1 with the selector's equality labels at each step
/// where nothing was found, nothing elsewhere.
fn absent(sv: StepVectors, selector: &[Matcher]) -> StepVectors {
    let mut out = StepVectors {
        labels: vec![absent_labels(selector)],
        steps: Vec::with_capacity(sv.steps.len()),
    };
    for step in sv.steps {
        out.steps.push(if step.is_empty() {
            vec![(0, 1.0)]
        } else {
            Vec::new()
        });
    }
    out
}

/// Equality matchers become labels; a name also matched otherwise (or twice)
/// is left out, as Loki does.
fn absent_labels(selector: &[Matcher]) -> Labels {
    let mut set: Vec<(String, String)> = Vec::new();
    let mut drop: Vec<&str> = Vec::new();
    for m in selector {
        if m.op == MatchOp::Eq && !set.iter().any(|(k, _)| *k == m.name) {
            set.push((m.name.clone(), m.value.clone()));
        } else {
            drop.push(&m.name);
        }
    }
    set.retain(|(k, _)| !drop.contains(&k.as_str()));
    Labels::new(set)
}

#[cfg(test)]
mod tests;

//! The LogQL evaluator: runs a parsed query over any `LogSource` with Loki 3's
//! semantics.
//!
//! One entry point, [`evaluate`], handles range and instant queries: a query
//! is *instant* when `start == end` and `step == 0` (Loki's rule), otherwise
//! it is a range query.
//!
//! - Log queries (`logs`) read `[start, end)`, run the pipeline per stream on
//!   all cores and keep the first `limit` entries in `direction` across
//!   streams (timestamp ties broken by the source stream's label hash, as
//!   Loki does). They are refused as instant queries, as Loki does. A `limit`
//!   of 0 returns nothing (the HTTP layer applies Loki's default of 100).
//! - Metric queries are evaluated bottom-up into per-step vectors
//!   (`steps::StepVectors`): range aggregations (`range`) read each stream
//!   once, in time order, and slide windows `(t - range - offset, t - offset]`
//!   over each series' samples; vector aggregations (`vector`), binary
//!   operators (`binop`), `label_replace` and `vector()` then work step by
//!   step. A range query answers a matrix (a scalar becomes one series with
//!   no labels), an instant query a vector, or a scalar for a bare literal.
//!   `approx_topk` is answered exactly, as `topk` (Loki needs sharding for
//!   it and refuses it otherwise).
//!
//! Limits (`Limits`) carry Loki's defaults and messages; a limit of 0
//! disables it.

mod binop;
mod logs;
mod par;
mod range;
mod rangefn;
mod sample;
mod steps;
mod vector;
mod window;

use bytes::Bytes;

use crate::ast::{Expr, LogExpr, SampleExpr};
use crate::labels::Labels;
use crate::source::{Direction, LogSource};
use crate::{Error, Result};

/// What to evaluate over. Times are unix nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryParams {
    /// Inclusive start.
    pub start: i64,
    /// End: exclusive for log queries, the last evaluation time (inclusive)
    /// for metric queries.
    pub end: i64,
    /// Metric query resolution in nanoseconds; 0 for an instant query.
    pub step: i64,
    /// Order of entries for log queries.
    pub direction: Direction,
    /// Maximum number of entries a log query returns.
    pub limit: u32,
}

impl QueryParams {
    /// An instant query at `ts`.
    pub fn instant(ts: i64) -> Self {
        QueryParams {
            start: ts,
            end: ts,
            step: 0,
            direction: Direction::Backward,
            limit: 100,
        }
    }

    /// Loki's rule: `start == end` and no step.
    pub fn is_instant(&self) -> bool {
        self.start == self.end && self.step == 0
    }
}

/// Per-query limits, with Loki's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `limits_config.max_entries_limit_per_query` (0 disables).
    pub max_entries_limit_per_query: u32,
    /// `limits_config.max_query_series` (0 disables).
    pub max_query_series: usize,
    /// `limits_config.max_query_length` in nanoseconds (0 disables).
    pub max_query_length: i64,
    /// Maximum points per series of a range query (Loki: 11,000).
    pub max_points_per_series: i64,
    /// `limits_config.max_query_range`: the largest `[range]` allowed, in
    /// nanoseconds (0 disables, Loki's default).
    pub max_query_range: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries_limit_per_query: 5000,
            max_query_series: 500,
            max_query_length: 721 * 3600 * 1_000_000_000,
            max_points_per_series: 11_000,
            max_query_range: 0,
        }
    }
}

/// The answer to a query, in Loki's result types.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryValue {
    Streams(Vec<Stream>),
    Matrix(Vec<Series>),
    Vector(Vec<Sample>),
    Scalar { ts: i64, value: f64 },
}

impl QueryValue {
    /// Loki's `resultType`: `streams`, `matrix`, `vector` or `scalar`.
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryValue::Streams(_) => "streams",
            QueryValue::Matrix(_) => "matrix",
            QueryValue::Vector(_) => "vector",
            QueryValue::Scalar { .. } => "scalar",
        }
    }
}

/// Entries sharing one final label set, in the query's direction.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    /// All labels: stream labels, structured metadata and parsed labels.
    pub labels: Labels,
    pub entries: Vec<StreamEntry>,
}

/// One entry of a log query answer. The last three fields let the HTTP layer
/// answer Grafana's categorize-labels form.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEntry {
    pub ts: i64,
    pub line: Bytes,
    pub stream_labels: Labels,
    pub structured_metadata: Vec<(String, String)>,
    pub parsed: Vec<(String, String)>,
}

/// One series of a matrix; points are `(unix ns, value)` in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub metric: Labels,
    pub points: Vec<(i64, f64)>,
}

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub metric: Labels,
    pub ts: i64,
    pub value: f64,
}

/// Points per series no configuration can raise: bounds the memory of the
/// evaluation grid.
const MAX_POINTS: i64 = 10_000_000;

/// Evaluates `expr` over `source`: a range query when `params.step > 0` or
/// `start != end`, an instant query otherwise (see the module docs).
pub fn evaluate(
    expr: &Expr,
    source: &dyn LogSource,
    params: &QueryParams,
    limits: &Limits,
) -> Result<QueryValue> {
    match expr {
        Expr::Log(log) => evaluate_logs(log, source, params, limits),
        Expr::Sample(sample) => evaluate_metric(sample, source, params, limits),
    }
}

fn evaluate_logs(
    expr: &LogExpr,
    source: &dyn LogSource,
    p: &QueryParams,
    limits: &Limits,
) -> Result<QueryValue> {
    if p.is_instant() {
        return Err(Error::BadQuery(
            "log queries are not supported as an instant query type, please change your query to a range query type"
                .into(),
        ));
    }
    check_selector(&expr.selector)?;
    check_time_range(p, limits)?;
    let max = limits.max_entries_limit_per_query;
    if max != 0 && p.limit > max {
        return Err(Error::Limit(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({} > {max})",
            p.limit
        )));
    }
    Ok(QueryValue::Streams(logs::eval(expr, source, p)?))
}

fn evaluate_metric(
    expr: &SampleExpr,
    source: &dyn LogSource,
    p: &QueryParams,
    limits: &Limits,
) -> Result<QueryValue> {
    if !p.is_instant() {
        check_time_range(p, limits)?;
        if p.step <= 0 {
            return Err(Error::BadQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        let max = match limits.max_points_per_series {
            n if n > 0 => n.min(MAX_POINTS),
            _ => MAX_POINTS,
        };
        if (p.end - p.start) / p.step > max {
            return Err(Error::BadQuery(format!(
                "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                group_thousands(max)
            )));
        }
    }
    sample::check(expr, limits)?;
    let grid = steps::Grid::new(p);
    let node = sample::eval(expr, source, &grid)?;
    steps::into_value(node, &grid, expr, limits)
}

/// Prometheus' `labels.Hash()` (xxHash64 of `name 0xff value 0xff ...`):
/// Loki breaks timestamp ties between streams by it.
pub(crate) fn stream_hash(labels: &Labels) -> u64 {
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    for (k, v) in labels.iter() {
        h.update(k.as_bytes());
        h.update(&[0xff]);
        h.update(v.as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

/// Loki refuses selectors whose matchers all accept the empty string.
fn check_selector(matchers: &[crate::labels::Matcher]) -> Result<()> {
    if matchers.iter().any(|m| !m.matches_empty()) {
        return Ok(());
    }
    Err(Error::ParseNoPos(
        "queries require at least one regexp or equality matcher that does not have an empty-compatible value. \
         For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"
            .into(),
    ))
}

fn check_time_range(p: &QueryParams, limits: &Limits) -> Result<()> {
    if p.end < p.start {
        return Err(Error::BadQuery(
            "end timestamp must not be before start time".into(),
        ));
    }
    let len = p.end - p.start;
    if limits.max_query_length > 0 && len > limits.max_query_length {
        return Err(Error::Limit(format!(
            "the query time range exceeds the limit (query length: {}, limit: {})",
            format_go_duration(len),
            format_duration(limits.max_query_length)
        )));
    }
    Ok(())
}

fn group_thousands(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Formats nanoseconds like Prometheus' `model.Duration` (`30d1h`, `5m`, `1s500ms`).
pub(crate) fn format_duration(ns: i64) -> String {
    let mut ms = ns / 1_000_000;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
        ms = -ms;
    }
    const DAY: i64 = 24 * 3_600_000;
    // (unit, size, only when it divides exactly): "90d" reads better than "12w6d"
    let units: [(&str, i64, bool); 7] = [
        ("y", 365 * DAY, true),
        ("w", 7 * DAY, true),
        ("d", DAY, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    for (name, size, exact) in units {
        if exact && ms % size != 0 {
            continue;
        }
        if ms >= size {
            out.push_str(&format!("{}{name}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Formats nanoseconds like Go's `time.Duration.String` (`722h0m0s`, `1.5s`, `250ms`).
pub(crate) fn format_go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let frac = |v: u64, unit: u64, digits: usize| -> String {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let s = format!("{rest:0digits$}");
        format!("{whole}.{}", s.trim_end_matches('0'))
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", frac(u, 1_000, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", frac(u, 1_000_000, 6));
    }
    let secs = u / 1_000_000_000;
    let sub = u % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let s = frac(s * 1_000_000_000 + sub, 1_000_000_000, 9);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

#[cfg(test)]
mod tests;

//! Putting sub-query answers back together: shards combined per series and
//! timestamp, time splits concatenated, log splits taken in direction order
//! up to the limit. Outputs are ordered as the engine orders them (series
//! and streams by labels, points by time).

use std::collections::BTreeMap;

use sluice_logql::engine::{QueryValue, Sample, Series, Stream, StreamEntry};
use sluice_logql::labels::Labels;

use crate::error::{Error, Result};
use crate::shard::Combine;

type Grid = BTreeMap<Labels, BTreeMap<i64, f64>>;

fn wrong_type(v: &QueryValue) -> Error {
    Error::Wire(format!(
        "expected a matrix or vector from a sharded sub-query, got {}",
        v.result_type()
    ))
}

/// Folds one shard's answer into `acc` with `op`.
fn fold(acc: &mut Grid, v: QueryValue, op: fn(f64, f64) -> f64) -> Result<()> {
    let mut add = |metric: Labels, ts: i64, value: f64| {
        acc.entry(metric)
            .or_default()
            .entry(ts)
            .and_modify(|a| *a = op(*a, value))
            .or_insert(value);
    };
    match v {
        QueryValue::Matrix(series) => {
            for s in series {
                for (ts, value) in s.points {
                    add(s.metric.clone(), ts, value);
                }
            }
        }
        QueryValue::Vector(samples) => {
            for s in samples {
                add(s.metric, s.ts, s.value);
            }
        }
        other => return Err(wrong_type(&other)),
    }
    Ok(())
}

fn sum(a: f64, b: f64) -> f64 {
    a + b
}

/// Prometheus' `max`: a NaN is replaced by any other value.
fn max(a: f64, b: f64) -> f64 {
    if b > a || a.is_nan() {
        b
    } else {
        a
    }
}

fn min(a: f64, b: f64) -> f64 {
    if b < a || a.is_nan() {
        b
    } else {
        a
    }
}

/// Combines the shards' answers: `per_shard[i][leg]` is shard i's answer
/// to the plan's leg.
pub fn combine_shards(per_shard: Vec<Vec<QueryValue>>, how: Combine) -> Result<QueryValue> {
    let vector = per_shard
        .iter()
        .flatten()
        .any(|v| matches!(v, QueryValue::Vector(_)));
    let op: fn(f64, f64) -> f64 = match how {
        Combine::Sum | Combine::Avg => sum,
        Combine::Max => max,
        Combine::Min => min,
    };
    let mut legs: Vec<Grid> = Vec::new();
    for shard in per_shard {
        for (i, v) in shard.into_iter().enumerate() {
            if legs.len() <= i {
                legs.resize_with(i + 1, Grid::new);
            }
            fold(&mut legs[i], v, op)?;
        }
    }
    let mut legs = legs.into_iter();
    let mut grid = legs.next().unwrap_or_default();
    if how == Combine::Avg {
        let counts = legs.next().unwrap_or_default();
        for (metric, points) in grid.iter_mut() {
            let c = counts.get(metric);
            for (ts, v) in points.iter_mut() {
                *v /= c.and_then(|c| c.get(ts)).copied().unwrap_or(f64::NAN);
            }
        }
    }
    Ok(if vector {
        QueryValue::Vector(
            grid.into_iter()
                .flat_map(|(metric, points)| {
                    points.into_iter().map(move |(ts, value)| Sample {
                        metric: metric.clone(),
                        ts,
                        value,
                    })
                })
                .collect(),
        )
    } else {
        QueryValue::Matrix(
            grid.into_iter()
                .map(|(metric, points)| Series {
                    metric,
                    points: points.into_iter().collect(),
                })
                .collect(),
        )
    })
}

/// Concatenates the matrices of time splits given in time order.
pub fn concat_splits(parts: Vec<QueryValue>) -> Result<QueryValue> {
    let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for v in parts {
        match v {
            QueryValue::Matrix(series) => {
                for s in series {
                    out.entry(s.metric).or_default().extend(s.points);
                }
            }
            other => {
                return Err(Error::Wire(format!(
                    "expected a matrix from a split range query, got {}",
                    other.result_type()
                )))
            }
        }
    }
    Ok(QueryValue::Matrix(
        out.into_iter()
            .map(|(metric, points)| Series { metric, points })
            .collect(),
    ))
}

/// Log answers of consecutive splits, appended in the query's direction.
#[derive(Default)]
pub struct StreamsMerger {
    streams: BTreeMap<Labels, Vec<StreamEntry>>,
    entries: usize,
}

impl StreamsMerger {
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Appends one split's answer (splits must come in direction order).
    pub fn push(&mut self, v: QueryValue) -> Result<()> {
        let QueryValue::Streams(streams) = v else {
            return Err(Error::Wire(format!(
                "expected streams from a split log query, got {}",
                v.result_type()
            )));
        };
        for s in streams {
            self.entries += s.entries.len();
            self.streams.entry(s.labels).or_default().extend(s.entries);
        }
        Ok(())
    }

    pub fn finish(self) -> QueryValue {
        QueryValue::Streams(
            self.streams
                .into_iter()
                .map(|(labels, entries)| Stream { labels, entries })
                .collect(),
        )
    }
}

/// Number of entries in a log answer.
pub fn entry_count(v: &QueryValue) -> usize {
    match v {
        QueryValue::Streams(s) => s.iter().map(|s| s.entries.len()).sum(),
        _ => 0,
    }
}

/// Series in a metric answer (for `max_query_series`).
pub fn series_count(v: &QueryValue) -> usize {
    match v {
        QueryValue::Matrix(s) => s.len(),
        QueryValue::Vector(s) => s.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn l(v: &str) -> Labels {
        Labels::new(vec![("app".into(), v.into())])
    }

    fn m(series: &[(&str, &[(i64, f64)])]) -> QueryValue {
        QueryValue::Matrix(
            series
                .iter()
                .map(|(n, p)| Series {
                    metric: l(n),
                    points: p.to_vec(),
                })
                .collect(),
        )
    }

    #[test]
    fn shards_combine_per_series_and_step() {
        let a = m(&[("x", &[(1, 1.0), (2, 5.0)]), ("y", &[(1, 2.0)])]);
        let b = m(&[("x", &[(2, 3.0), (3, 4.0)])]);
        let s = combine_shards(vec![vec![a.clone()], vec![b.clone()]], Combine::Sum).unwrap();
        assert_eq!(
            s,
            m(&[("x", &[(1, 1.0), (2, 8.0), (3, 4.0)]), ("y", &[(1, 2.0)])])
        );
        let mx = combine_shards(vec![vec![a.clone()], vec![b.clone()]], Combine::Max).unwrap();
        assert_eq!(
            mx,
            m(&[("x", &[(1, 1.0), (2, 5.0), (3, 4.0)]), ("y", &[(1, 2.0)])])
        );
        let mn = combine_shards(vec![vec![a], vec![b]], Combine::Min).unwrap();
        assert_eq!(
            mn,
            m(&[("x", &[(1, 1.0), (2, 3.0), (3, 4.0)]), ("y", &[(1, 2.0)])])
        );
        let avg = combine_shards(
            vec![
                vec![m(&[("x", &[(1, 6.0)])]), m(&[("x", &[(1, 2.0)])])],
                vec![m(&[("x", &[(1, 3.0)])]), m(&[("x", &[(1, 1.0)])])],
            ],
            Combine::Avg,
        )
        .unwrap();
        assert_eq!(avg, m(&[("x", &[(1, 3.0)])]));
        assert_eq!(max(f64::NAN, 1.0), 1.0);
    }

    #[test]
    fn splits_concatenate_in_time_order() {
        let v = concat_splits(vec![
            m(&[("y", &[(1, 1.0)])]),
            m(&[("x", &[(2, 2.0)]), ("y", &[(2, 3.0)])]),
        ])
        .unwrap();
        assert_eq!(v, m(&[("x", &[(2, 2.0)]), ("y", &[(1, 1.0), (2, 3.0)])]));
        assert!(concat_splits(vec![QueryValue::Streams(vec![])]).is_err());
    }
}

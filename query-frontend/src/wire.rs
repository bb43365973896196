//! JSON forms of sub-queries and their answers for remote queriers.
//!
//! Sample values travel as their IEEE-754 bits (JSON has no NaN or
//! infinity, and decimal text could round), log lines as byte arrays
//! (they need not be UTF-8), labels as `[name, value]` pairs.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sluice_logql::engine::{QueryParams, QueryValue, Sample, Series, Stream, StreamEntry};
use sluice_logql::labels::Labels;
use sluice_logql::source::Direction;
use sluice_querier::Shard;

use crate::error::{Error, Result};
use crate::handler::SubQuery;

type Pairs = Vec<(String, String)>;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireQuery {
    pub tenant: String,
    pub query: String,
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub forward: bool,
    pub limit: u32,
    pub shard: Option<Shard>,
}

impl From<&SubQuery> for WireQuery {
    fn from(q: &SubQuery) -> Self {
        WireQuery {
            tenant: q.tenant.clone(),
            query: q.query.clone(),
            start: q.params.start,
            end: q.params.end,
            step: q.params.step,
            forward: q.params.direction == Direction::Forward,
            limit: q.params.limit,
            shard: q.shard,
        }
    }
}

impl From<WireQuery> for SubQuery {
    fn from(w: WireQuery) -> Self {
        SubQuery {
            tenant: w.tenant,
            query: w.query,
            params: QueryParams {
                start: w.start,
                end: w.end,
                step: w.step,
                direction: if w.forward {
                    Direction::Forward
                } else {
                    Direction::Backward
                },
                limit: w.limit,
            },
            shard: w.shard,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireEntry {
    ts: i64,
    line: Vec<u8>,
    stream_labels: Pairs,
    structured_metadata: Pairs,
    parsed: Pairs,
}

/// A sub-query's answer, or the querier's error with its HTTP status.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireResult {
    Streams(Vec<(Pairs, Vec<WireEntry>)>),
    Matrix(Vec<(Pairs, Vec<(i64, u64)>)>),
    Vector(Vec<(Pairs, i64, u64)>),
    Scalar(i64, u64),
    Error { status: u16, message: String },
}

fn labels(p: Pairs) -> Result<Labels> {
    let l = Labels::from_sorted(p);
    if !l.pairs().windows(2).all(|w| w[0].0 < w[1].0) {
        return Err(Error::Wire("labels out of order".into()));
    }
    Ok(l)
}

impl From<Result<QueryValue>> for WireResult {
    fn from(r: Result<QueryValue>) -> Self {
        let v = match r {
            Ok(v) => v,
            Err(e) => {
                return WireResult::Error {
                    status: e.status(),
                    message: e.to_string(),
                }
            }
        };
        match v {
            QueryValue::Streams(s) => WireResult::Streams(
                s.into_iter()
                    .map(|s| {
                        let entries = s
                            .entries
                            .into_iter()
                            .map(|e| WireEntry {
                                ts: e.ts,
                                line: e.line.to_vec(),
                                stream_labels: e.stream_labels.into_pairs(),
                                structured_metadata: e.structured_metadata,
                                parsed: e.parsed,
                            })
                            .collect();
                        (s.labels.into_pairs(), entries)
                    })
                    .collect(),
            ),
            QueryValue::Matrix(s) => WireResult::Matrix(
                s.into_iter()
                    .map(|s| {
                        let points = s.points.iter().map(|(t, v)| (*t, v.to_bits())).collect();
                        (s.metric.into_pairs(), points)
                    })
                    .collect(),
            ),
            QueryValue::Vector(s) => WireResult::Vector(
                s.into_iter()
                    .map(|s| (s.metric.into_pairs(), s.ts, s.value.to_bits()))
                    .collect(),
            ),
            QueryValue::Scalar { ts, value } => WireResult::Scalar(ts, value.to_bits()),
        }
    }
}

impl WireResult {
    pub fn into_result(self) -> Result<QueryValue> {
        Ok(match self {
            WireResult::Error { status, message } => return Err(Error::Query { status, message }),
            WireResult::Streams(s) => QueryValue::Streams(
                s.into_iter()
                    .map(|(l, entries)| {
                        let entries = entries
                            .into_iter()
                            .map(|e| {
                                Ok(StreamEntry {
                                    ts: e.ts,
                                    line: Bytes::from(e.line),
                                    stream_labels: labels(e.stream_labels)?,
                                    structured_metadata: e.structured_metadata,
                                    parsed: e.parsed,
                                })
                            })
                            .collect::<Result<_>>()?;
                        Ok(Stream {
                            labels: labels(l)?,
                            entries,
                        })
                    })
                    .collect::<Result<_>>()?,
            ),
            WireResult::Matrix(s) => QueryValue::Matrix(
                s.into_iter()
                    .map(|(l, p)| {
                        Ok(Series {
                            metric: labels(l)?,
                            points: p.into_iter().map(|(t, v)| (t, f64::from_bits(v))).collect(),
                        })
                    })
                    .collect::<Result<_>>()?,
            ),
            WireResult::Vector(s) => QueryValue::Vector(
                s.into_iter()
                    .map(|(l, ts, v)| {
                        Ok(Sample {
                            metric: labels(l)?,
                            ts,
                            value: f64::from_bits(v),
                        })
                    })
                    .collect::<Result<_>>()?,
            ),
            WireResult::Scalar(ts, v) => QueryValue::Scalar {
                ts,
                value: f64::from_bits(v),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn round(v: QueryValue) -> QueryValue {
        let w = WireResult::from(Ok(v));
        let s = serde_json::to_string(&w).unwrap();
        serde_json::from_str::<WireResult>(&s)
            .unwrap()
            .into_result()
            .unwrap()
    }

    #[test]
    fn values_round_trip_exactly() {
        let l = Labels::new(vec![("b".into(), "2".into()), ("a".into(), "1".into())]);
        let m = QueryValue::Matrix(vec![Series {
            metric: l.clone(),
            points: vec![(1, f64::NAN), (2, f64::INFINITY), (3, 0.1 + 0.2)],
        }]);
        let QueryValue::Matrix(back) = round(m) else {
            panic!()
        };
        assert!(back[0].points[0].1.is_nan());
        assert_eq!(back[0].points[2].1, 0.1 + 0.2);
        assert_eq!(back[0].metric, l);
        let s = QueryValue::Streams(vec![Stream {
            labels: l.clone(),
            entries: vec![StreamEntry {
                ts: 5,
                line: Bytes::from_static(b"\xffnot utf8"),
                stream_labels: l.clone(),
                structured_metadata: vec![("t".into(), "x".into())],
                parsed: vec![],
            }],
        }]);
        assert_eq!(round(s.clone()), s);
        let v = QueryValue::Scalar { ts: 1, value: 2.5 };
        assert_eq!(round(v.clone()), v);
        let e = WireResult::from(Err(Error::Query {
            status: 400,
            message: "bad".into(),
        }));
        assert_eq!(e.into_result().unwrap_err().status(), 400);
    }
}

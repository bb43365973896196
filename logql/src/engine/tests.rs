#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use super::*;
use crate::ast::{
    BinOp, BinaryExpr, Grouping, LineFilter, LineFilterOp, LineFilterValue, LogRange, RangeAgg,
    RangeOp, Stage, VectorAgg, VectorOp,
};
use crate::labels::{MatchOp, Matcher};
use crate::source::{Entry, MemSource, SelectParams, SizeReader, SourceError, StreamReader};

const S: i64 = 1_000_000_000;
const BASE: i64 = 1_700_000_000 * S;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn entry(ts: i64, line: &str) -> Entry {
    Entry {
        ts: BASE + ts,
        line: Bytes::from(line.to_string()),
        metadata: Vec::new(),
        cut: false,
    }
}

fn entry_md(ts: i64, line: &str, md: &[(&str, &str)]) -> Entry {
    let metadata = md
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Entry {
        ts: BASE + ts,
        line: Bytes::from(line.to_string()),
        metadata,
        cut: false,
    }
}

/// Two api streams and one db stream.
fn source() -> MemSource {
    MemSource {
        streams: vec![
            (
                labels(&[("app", "api"), ("pod", "a")]),
                vec![
                    entry(10 * S, "a1 error"),
                    entry(30 * S, "a2"),
                    entry(60 * S, "a3 error"),
                    entry(90 * S, "a4"),
                ],
            ),
            (
                labels(&[("app", "api"), ("pod", "b")]),
                vec![
                    entry_md(20 * S, "b1", &[("trace_id", "t1")]),
                    entry(40 * S, "b2 error"),
                    entry(60 * S, "b3"),
                ],
            ),
            (
                labels(&[("app", "db"), ("pod", "c")]),
                vec![entry(5 * S, "c1"), entry(70 * S, "c2 error")],
            ),
        ],
    }
}

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::new(name, MatchOp::Eq, value).unwrap()
}

fn re(name: &str, value: &str) -> Matcher {
    Matcher::new(name, MatchOp::Re, value).unwrap()
}

fn contains(s: &str) -> Stage {
    Stage::LineFilter(LineFilter {
        op: LineFilterOp::Contains,
        values: vec![LineFilterValue::Literal(s.into())],
    })
}

fn log(selector: Vec<Matcher>, pipeline: Vec<Stage>) -> LogExpr {
    LogExpr { selector, pipeline }
}

fn range_agg(op: RangeOp, log: LogExpr, range: i64, grouping: Option<Grouping>) -> SampleExpr {
    SampleExpr::RangeAgg(RangeAgg {
        op,
        range: LogRange {
            log,
            unwrap: None,
            range,
            offset: 0,
        },
        param: None,
        grouping,
    })
}

fn by(names: &[&str]) -> Option<Grouping> {
    Some(Grouping {
        without: false,
        labels: names.iter().map(|s| s.to_string()).collect(),
    })
}

fn vagg(
    op: VectorOp,
    expr: SampleExpr,
    grouping: Option<Grouping>,
    param: Option<f64>,
) -> SampleExpr {
    SampleExpr::VectorAgg(VectorAgg {
        op,
        expr: Box::new(expr),
        param,
        grouping,
        grouping_first: true,
    })
}

fn range_params(start: i64, end: i64, step: i64) -> QueryParams {
    QueryParams {
        start: BASE + start,
        end: BASE + end,
        step,
        direction: Direction::Backward,
        limit: 100,
    }
}

fn log_params(limit: u32, direction: Direction) -> QueryParams {
    QueryParams {
        start: BASE,
        end: BASE + 100 * S,
        step: 0,
        direction,
        limit,
    }
}

fn run(expr: SampleExpr, p: &QueryParams) -> Result<QueryValue> {
    evaluate(&Expr::Sample(expr), &source(), p, &Limits::default())
}

fn matrix(v: QueryValue) -> Vec<(String, Vec<(i64, f64)>)> {
    let QueryValue::Matrix(m) = v else {
        panic!("want matrix, got {v:?}")
    };
    m.into_iter()
        .map(|s| {
            (
                s.metric.to_string(),
                s.points
                    .into_iter()
                    .map(|(t, v)| ((t - BASE) / S, v))
                    .collect(),
            )
        })
        .collect()
}

fn stream_lines(v: QueryValue) -> Vec<(String, Vec<String>)> {
    let QueryValue::Streams(s) = v else {
        panic!("want streams, got {v:?}")
    };
    s.into_iter()
        .map(|s| {
            (
                s.labels.to_string(),
                s.entries
                    .iter()
                    .map(|e| String::from_utf8_lossy(&e.line).into_owned())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn log_query_backward_keeps_newest_across_streams() {
    let expr = Expr::Log(log(vec![eq("app", "api")], vec![]));
    let v = evaluate(
        &expr,
        &source(),
        &log_params(3, Direction::Backward),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        stream_lines(v),
        vec![
            (
                r#"{app="api", pod="a"}"#.to_string(),
                vec!["a4".to_string(), "a3 error".to_string()]
            ),
            (
                r#"{app="api", pod="b"}"#.to_string(),
                vec!["b3".to_string()]
            ),
        ]
    );
}

#[test]
fn log_query_forward_with_filter_and_metadata_labels() {
    let expr = Expr::Log(log(vec![re("app", ".+")], vec![]));
    let v = evaluate(
        &expr,
        &source(),
        &log_params(3, Direction::Forward),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        stream_lines(v),
        vec![
            (
                r#"{app="api", pod="a"}"#.to_string(),
                vec!["a1 error".to_string()]
            ),
            (
                r#"{app="api", pod="b", trace_id="t1"}"#.to_string(),
                vec!["b1".to_string()]
            ),
            (r#"{app="db", pod="c"}"#.to_string(), vec!["c1".to_string()]),
        ]
    );
    let expr = Expr::Log(log(vec![re("app", ".+")], vec![contains("error")]));
    let v = evaluate(
        &expr,
        &source(),
        &log_params(10, Direction::Forward),
        &Limits::default(),
    )
    .unwrap();
    let lines: Vec<String> = stream_lines(v).into_iter().flat_map(|(_, l)| l).collect();
    assert_eq!(lines, vec!["a1 error", "a3 error", "b2 error", "c2 error"]);
}

#[test]
fn log_query_range_is_start_inclusive_end_exclusive() {
    let expr = Expr::Log(log(vec![eq("app", "api")], vec![]));
    let p = QueryParams {
        start: BASE + 30 * S,
        end: BASE + 60 * S,
        step: 0,
        direction: Direction::Forward,
        limit: 100,
    };
    let v = evaluate(&expr, &source(), &p, &Limits::default()).unwrap();
    let lines: Vec<String> = stream_lines(v).into_iter().flat_map(|(_, l)| l).collect();
    assert_eq!(lines, vec!["a2", "b2 error"]);
}

#[test]
fn log_query_errors() {
    let expr = Expr::Log(log(vec![eq("app", "api")], vec![]));
    let err = evaluate(
        &expr,
        &source(),
        &QueryParams::instant(BASE),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(err
        .to_string()
        .starts_with("log queries are not supported as an instant query type"));
    let err = evaluate(
        &expr,
        &source(),
        &log_params(5001, Direction::Forward),
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "max entries limit per query exceeded, limit > max_entries_limit_per_query (5001 > 5000)"
    );
    let expr = Expr::Log(log(vec![re("app", ".*")], vec![]));
    let err = evaluate(
        &expr,
        &source(),
        &log_params(5, Direction::Forward),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::ParseNoPos(_)));
}

#[test]
fn count_over_time_windows_are_left_open_right_closed() {
    // steps 0,30,60,90 with [30s]: a stream's entries at 10,30,60,90
    let e = range_agg(
        RangeOp::CountOverTime,
        log(vec![eq("pod", "a")], vec![]),
        30 * S,
        None,
    );
    let m = matrix(run(e, &range_params(0, 90 * S, 30 * S)).unwrap());
    assert_eq!(
        m,
        vec![(
            r#"{app="api", pod="a"}"#.to_string(),
            vec![(30, 2.0), (60, 1.0), (90, 1.0)]
        )]
    );
}

#[test]
fn structured_metadata_splits_series() {
    let e = range_agg(
        RangeOp::CountOverTime,
        log(vec![eq("pod", "b")], vec![]),
        100 * S,
        None,
    );
    let m = matrix(run(e, &range_params(100 * S, 100 * S, S)).unwrap());
    assert_eq!(
        m,
        vec![
            (r#"{app="api", pod="b"}"#.to_string(), vec![(100, 2.0)]),
            (
                r#"{app="api", pod="b", trace_id="t1"}"#.to_string(),
                vec![(100, 1.0)]
            ),
        ]
    );
}

#[test]
fn sum_by_rate_and_bytes() {
    let inner = range_agg(
        RangeOp::Rate,
        log(vec![re("app", ".+")], vec![]),
        50 * S,
        None,
    );
    let e = vagg(VectorOp::Sum, inner, by(&["app"]), None);
    let m = matrix(run(e, &range_params(50 * S, 100 * S, 50 * S)).unwrap());
    assert_eq!(
        m,
        vec![
            (
                r#"{app="api"}"#.to_string(),
                vec![(50, 4.0 / 50.0), (100, 3.0 / 50.0)]
            ),
            (
                r#"{app="db"}"#.to_string(),
                vec![(50, 1.0 / 50.0), (100, 1.0 / 50.0)]
            ),
        ]
    );
    let e = range_agg(
        RangeOp::BytesOverTime,
        log(vec![eq("app", "db")], vec![]),
        100 * S,
        by(&["app"]),
    );
    let m = matrix(run(e, &range_params(100 * S, 100 * S, S)).unwrap());
    assert_eq!(m, vec![(r#"{app="db"}"#.to_string(), vec![(100, 10.0)])]);
}

/// A source that records which read path the engine took.
struct Spy {
    inner: MemSource,
    sizes: AtomicUsize,
    full: AtomicUsize,
}

impl LogSource for Spy {
    fn select(&self, p: &SelectParams) -> std::result::Result<Vec<StreamReader>, SourceError> {
        self.full.fetch_add(1, Ordering::Relaxed);
        self.inner.select(p)
    }

    fn select_sizes(
        &self,
        p: &SelectParams,
        _lengths: bool,
    ) -> std::result::Result<Vec<SizeReader>, SourceError> {
        self.sizes.fetch_add(1, Ordering::Relaxed);
        let readers = self.inner.select(p)?;
        Ok(readers
            .into_iter()
            .map(|s| SizeReader {
                labels: s.labels,
                entries: Box::new(s.entries.map(|e| {
                    e.map(|e| crate::source::EntrySize {
                        ts: e.ts,
                        len: e.line.len() as u32,
                    })
                })),
            })
            .collect())
    }
}

#[test]
fn sizes_path_only_when_metadata_cannot_matter() {
    let p = range_params(0, 100 * S, 10 * S);
    let cases = [
        (
            vagg(
                VectorOp::Sum,
                range_agg(
                    RangeOp::CountOverTime,
                    log(vec![re("app", ".+")], vec![]),
                    30 * S,
                    None,
                ),
                by(&["app"]),
                None,
            ),
            1,
            0,
        ),
        (
            range_agg(
                RangeOp::BytesRate,
                log(vec![re("app", ".+")], vec![]),
                30 * S,
                by(&["pod"]),
            ),
            1,
            0,
        ),
        // no grouping: metadata are labels, the full path is needed
        (
            range_agg(
                RangeOp::CountOverTime,
                log(vec![re("app", ".+")], vec![]),
                30 * S,
                None,
            ),
            0,
            1,
        ),
        // a grouping label missing from a stream may come from metadata
        (
            range_agg(
                RangeOp::CountOverTime,
                log(vec![re("app", ".+")], vec![]),
                30 * S,
                by(&["trace_id"]),
            ),
            1,
            1,
        ),
        (
            range_agg(
                RangeOp::CountOverTime,
                log(vec![re("app", ".+")], vec![contains("a")]),
                30 * S,
                by(&["app"]),
            ),
            0,
            1,
        ),
    ];
    for (i, (e, sizes, full)) in cases.into_iter().enumerate() {
        let spy = Spy {
            inner: source(),
            sizes: AtomicUsize::new(0),
            full: AtomicUsize::new(0),
        };
        let fast = evaluate(&Expr::Sample(e.clone()), &spy, &p, &Limits::default()).unwrap();
        assert_eq!(
            (
                spy.sizes.load(Ordering::Relaxed),
                spy.full.load(Ordering::Relaxed)
            ),
            (sizes, full),
            "case {i}"
        );
        // same answer as reading full entries
        let slow = evaluate(&Expr::Sample(e), &source(), &p, &Limits::default()).unwrap();
        assert_eq!(fast, slow, "case {i}");
    }
}

#[test]
fn absent_over_time_fills_gaps_with_equality_labels() {
    let sel = vec![eq("app", "api"), eq("pod", "a"), re("pod", "a")];
    let e = range_agg(RangeOp::AbsentOverTime, log(sel, vec![]), 10 * S, None);
    let m = matrix(run(e, &range_params(0, 50 * S, 10 * S)).unwrap());
    assert_eq!(
        m,
        vec![(
            r#"{app="api"}"#.to_string(),
            vec![(0, 1.0), (20, 1.0), (40, 1.0), (50, 1.0)]
        )]
    );
}

#[test]
fn offset_moves_the_window_back() {
    let mut e = range_agg(
        RangeOp::CountOverTime,
        log(vec![eq("pod", "a")], vec![]),
        30 * S,
        None,
    );
    if let SampleExpr::RangeAgg(a) = &mut e {
        a.range.offset = 30 * S;
    }
    let m = matrix(run(e, &range_params(0, 90 * S, 30 * S)).unwrap());
    assert_eq!(
        m,
        vec![(
            r#"{app="api", pod="a"}"#.to_string(),
            vec![(60, 2.0), (90, 1.0)]
        )]
    );
}

#[test]
fn literals_scalars_and_vector() {
    let lit = SampleExpr::Binary(Box::new(BinaryExpr {
        op: BinOp::Add,
        lhs: SampleExpr::Binary(Box::new(BinaryExpr {
            op: BinOp::Mul,
            lhs: SampleExpr::Literal(2.0),
            rhs: SampleExpr::Literal(3.0),
            return_bool: false,
            matching: None,
        })),
        rhs: SampleExpr::Literal(4.0),
        return_bool: false,
        matching: None,
    }));
    assert_eq!(
        run(lit.clone(), &QueryParams::instant(BASE)).unwrap(),
        QueryValue::Scalar {
            ts: BASE,
            value: 10.0
        }
    );
    let m = matrix(run(lit, &range_params(0, 20 * S, 10 * S)).unwrap());
    assert_eq!(
        m,
        vec![("{}".to_string(), vec![(0, 10.0), (10, 10.0), (20, 10.0)])]
    );
    let v = run(SampleExpr::Vector(42.0), &QueryParams::instant(BASE)).unwrap();
    assert_eq!(
        v,
        QueryValue::Vector(vec![Sample {
            metric: Labels::default(),
            ts: BASE,
            value: 42.0
        }])
    );
}

#[test]
fn instant_vectors_sort_by_labels_unless_sorted_by_value() {
    let inner = || {
        let c = range_agg(
            RangeOp::CountOverTime,
            log(vec![re("app", ".+")], vec![]),
            100 * S,
            None,
        );
        vagg(VectorOp::Sum, c, by(&["pod"]), None)
    };
    let p = QueryParams::instant(BASE + 100 * S);
    let values = |v: QueryValue| match v {
        QueryValue::Vector(v) => v
            .into_iter()
            .map(|s| (s.metric.to_string(), s.value))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let plain = values(run(inner(), &p).unwrap());
    assert_eq!(
        plain,
        vec![
            (r#"{pod="a"}"#.into(), 4.0),
            (r#"{pod="b"}"#.into(), 3.0),
            (r#"{pod="c"}"#.into(), 2.0)
        ]
    );
    let sorted = values(run(vagg(VectorOp::Sort, inner(), None, None), &p).unwrap());
    assert_eq!(
        sorted,
        vec![
            (r#"{pod="c"}"#.into(), 2.0),
            (r#"{pod="b"}"#.into(), 3.0),
            (r#"{pod="a"}"#.into(), 4.0)
        ]
    );
    let top = values(run(vagg(VectorOp::Topk, inner(), None, Some(2.0)), &p).unwrap());
    assert_eq!(
        top,
        vec![(r#"{pod="a"}"#.into(), 4.0), (r#"{pod="b"}"#.into(), 3.0)]
    );
}

#[test]
fn series_limit() {
    let e = range_agg(
        RangeOp::CountOverTime,
        log(vec![re("app", ".+")], vec![]),
        100 * S,
        None,
    );
    let limits = Limits {
        max_query_series: 2,
        ..Limits::default()
    };
    let err = evaluate(
        &Expr::Sample(e.clone()),
        &source(),
        &range_params(0, 100 * S, 10 * S),
        &limits,
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::Limit("maximum of series (2) reached for a single query".into())
    );
    let err = evaluate(
        &Expr::Sample(e),
        &source(),
        &QueryParams::instant(BASE + 100 * S),
        &limits,
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::Limit("maximum of series (2) reached for a single query".into())
    );
}

#[test]
fn range_query_validation() {
    let e = Expr::Sample(SampleExpr::Vector(1.0));
    let limits = Limits::default();
    let err = evaluate(&e, &source(), &range_params(0, 100 * S, 0), &limits).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("zero or negative query resolution step"));
    let err = evaluate(&e, &source(), &range_params(0, 11_001 * S, S), &limits).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("exceeded maximum resolution of 11,000 points"));
    let err = evaluate(
        &e,
        &source(),
        &range_params(0, 722 * 3600 * S, 3600 * S),
        &limits,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the query time range exceeds the limit (query length: 722h0m0s, limit: 30d1h)"
    );
}

#[test]
fn durations_print_like_go_and_prometheus() {
    assert_eq!(format_duration(721 * 3600 * S), "30d1h");
    assert_eq!(format_duration(14 * 24 * 3600 * S), "2w");
    assert_eq!(format_duration(90 * S + 500_000_000), "1m30s500ms");
    assert_eq!(format_go_duration(90 * S + 500_000_000), "1m30.5s");
    assert_eq!(format_go_duration(250_000_000), "250ms");
    assert_eq!(format_go_duration(722 * 3600 * S), "722h0m0s");
}

#[test]
fn log_limit_matches_a_full_sort_over_many_streams() {
    // 50 streams with interleaved, colliding timestamps
    let mut seed = 11u64;
    let mut next = |m: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    let mut streams = Vec::new();
    for s in 0..50 {
        let mut ts: Vec<i64> = (0..40).map(|_| next(5000) as i64 * 1_000_000).collect();
        ts.sort_unstable();
        ts.dedup();
        let entries = ts
            .iter()
            .map(|&t| entry(t, &format!("s{s} t{t}")))
            .collect();
        streams.push((labels(&[("app", "x"), ("s", &s.to_string())]), entries));
    }
    let src = MemSource { streams };
    for direction in [Direction::Forward, Direction::Backward] {
        for limit in [1u32, 7, 100, 1000, 5000] {
            let p = QueryParams {
                start: BASE,
                end: BASE + 10 * S,
                step: 0,
                direction,
                limit,
            };
            let v = evaluate(
                &Expr::Log(log(vec![eq("app", "x")], vec![])),
                &src,
                &p,
                &Limits::default(),
            )
            .unwrap();
            let QueryValue::Streams(got) = v else {
                panic!()
            };
            let mut got_ts: Vec<i64> = got
                .iter()
                .flat_map(|s| s.entries.iter().map(|e| e.ts))
                .collect();
            let mut all: Vec<i64> = src
                .streams
                .iter()
                .flat_map(|(_, e)| e.iter().map(|e| e.ts))
                .collect();
            all.sort_unstable();
            if direction == Direction::Backward {
                all.reverse();
                got_ts.sort_unstable_by(|a, b| b.cmp(a));
            } else {
                got_ts.sort_unstable();
            }
            all.truncate(limit as usize);
            assert_eq!(got_ts, all, "{direction:?} limit {limit}");
            for s in &got {
                let ordered = s.entries.windows(2).all(|w| match direction {
                    Direction::Forward => w[0].ts <= w[1].ts,
                    Direction::Backward => w[0].ts >= w[1].ts,
                });
                assert!(ordered, "entries of {} out of order", s.labels);
            }
        }
    }
}

/// A [`MemSource`] that counts the entries its readers hand out.
struct Pulls {
    inner: MemSource,
    pulled: std::sync::Arc<AtomicUsize>,
}

impl LogSource for Pulls {
    fn select(&self, p: &SelectParams) -> Result<Vec<StreamReader>, SourceError> {
        let readers = self.inner.select(p)?;
        Ok(readers
            .into_iter()
            .map(|r| {
                let pulled = self.pulled.clone();
                StreamReader {
                    labels: r.labels,
                    entries: Box::new(r.entries.inspect(move |_| {
                        pulled.fetch_add(1, Ordering::Relaxed);
                    })),
                }
            })
            .collect())
    }
}

#[test]
fn log_limit_reads_about_the_limit_from_many_streams() {
    // 100 streams of 200 interleaved entries (every stream holds a tenth
    // of the newest 1000), then one stream holding all the newest
    let even: Vec<(Labels, Vec<Entry>)> = (0..100)
        .map(|s| {
            let entries = (0..200)
                .map(|i| {
                    entry(
                        i * 100 + s,
                        &format!("s{s} i{i} {}", ["keep", "drop"][(i % 3 == 0) as usize]),
                    )
                })
                .collect();
            (labels(&[("app", "x"), ("s", &s.to_string())]), entries)
        })
        .collect();
    let mut skewed = even.clone();
    for (s, (_, entries)) in skewed.iter_mut().enumerate() {
        for (i, e) in entries.iter_mut().enumerate() {
            e.ts = BASE
                + if s == 0 {
                    1_000_000 + i as i64
                } else {
                    e.ts - BASE
                };
        }
    }
    for (name, streams) in [("even", even), ("skewed", skewed)] {
        for (filtered, direction) in [
            (false, Direction::Backward),
            (false, Direction::Forward),
            (true, Direction::Backward),
        ] {
            let pipeline = if filtered {
                vec![contains("keep")]
            } else {
                vec![]
            };
            let expr = Expr::Log(log(vec![eq("app", "x")], pipeline));
            let src = Pulls {
                inner: MemSource {
                    streams: streams.clone(),
                },
                pulled: Default::default(),
            };
            let p = log_params(1000, direction);
            let v = evaluate(&expr, &src, &p, &Limits::default()).unwrap();
            let QueryValue::Streams(got) = v else {
                panic!()
            };
            let mut got: Vec<(i64, Bytes)> = got
                .iter()
                .flat_map(|s| s.entries.iter().map(|e| (e.ts, e.line.clone())))
                .collect();
            got.sort_unstable();
            let mut want: Vec<(i64, Bytes)> = streams
                .iter()
                .flat_map(|(_, e)| e.iter().map(|e| (e.ts, e.line.clone())))
                .filter(|(_, l)| !filtered || l.ends_with(b"keep"))
                .collect();
            want.sort_unstable();
            if direction == Direction::Backward {
                want.reverse();
            }
            want.truncate(1000);
            want.sort_unstable();
            assert_eq!(got, want, "{name} {direction:?} filtered {filtered}");
            // reading each stream to the cutoff in turn pulls ~4,600 of
            // the even streams' entries (the first streams read deep while
            // the cutoff is loose); reading them in rounds about 1,200
            let pulled = src.pulled.load(Ordering::Relaxed);
            if name == "even" && !filtered {
                assert!(pulled <= 2500, "{direction:?}: {pulled} entries pulled");
            }
        }
    }
}

#[test]
fn stream_hash_is_prometheus_labels_hash() {
    // xxHash64 of "a\xffb\xff" with seed 0, as Go's labels.FromStrings("a", "b").Hash()
    let h = stream_hash(&labels(&[("a", "b")]));
    assert_eq!(h, xxhash_rust::xxh64::xxh64(b"a\xffb\xff", 0));
    assert_ne!(h, stream_hash(&labels(&[("a", "c")])));
}

#[test]
fn timestamp_ties_break_by_stream_hash() {
    let (x, y) = (
        labels(&[("app", "t"), ("s", "x")]),
        labels(&[("app", "t"), ("s", "y")]),
    );
    let src = MemSource {
        streams: vec![
            (x.clone(), vec![entry(S, "from x")]),
            (y.clone(), vec![entry(S, "from y")]),
        ],
    };
    let first = if stream_hash(&x) < stream_hash(&y) {
        "from x"
    } else {
        "from y"
    };
    for direction in [Direction::Forward, Direction::Backward] {
        let p = QueryParams {
            start: BASE,
            end: BASE + 10 * S,
            step: 0,
            direction,
            limit: 1,
        };
        let v = evaluate(
            &Expr::Log(log(vec![eq("app", "t")], vec![])),
            &src,
            &p,
            &Limits::default(),
        )
        .unwrap();
        let lines: Vec<String> = stream_lines(v).into_iter().flat_map(|(_, l)| l).collect();
        assert_eq!(lines, vec![first.to_string()], "{direction:?}");
    }
}

/// The query benchmark's logfmt and json cases over in-memory streams of
/// their line shapes (100 streams of 2000 entries, an hour), for comparing
/// pipeline costs under callgrind:
/// `valgrind --tool=callgrind <test binary> --ignored pipeline_cost`.
#[test]
#[ignore]
fn pipeline_cost() {
    let levels = ["debug", "info", "info", "info", "warn", "error"];
    let mut streams = Vec::new();
    for s in 0..100u64 {
        let (app, env) = (
            if s % 2 == 0 { "api" } else { "worker" },
            ["prod", "staging"][(s / 2 % 2) as usize],
        );
        let entries = (0..2000u64)
            .map(|i| {
                let x = (s * 2000 + i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let level = levels[(x >> 7) as usize % 6];
                let line = if app == "api" {
                    format!("level={level} ts_seq={i} method=GET path=/api/v1/users status=200 duration={}ms bytes={}B user=alice msg=\"handled request completed\"", x % 2500, x % 200_000)
                } else {
                    format!(r#"{{"level": "{level}", "msg": "job queued", "job_id": {}, "latency_ms": {}, "queue": "default", "ok": true}}"#, x % 10_000, x % 2500)
                };
                entry_md(i as i64 * 1800 * S / 1000, &line, &[("detected_level", level)])
            })
            .collect();
        streams.push((
            labels(&[("app", app), ("env", env), ("pod", &format!("{app}-{s}"))]),
            entries,
        ));
    }
    let src = MemSource { streams };
    for q in [
        r#"sum by (level) (count_over_time({app="api"} | logfmt [1m]))"#,
        r#"quantile_over_time(0.99, {app="worker"} | json | unwrap latency_ms [5m]) by (env)"#,
    ] {
        let expr = crate::parser::parse_expr(q).unwrap();
        let v = evaluate(
            &expr,
            &src,
            &range_params(0, 3600 * S, 60 * S),
            &Limits::default(),
        )
        .unwrap();
        assert!(!v.result_type().is_empty());
    }
}

/// A source that cuts lines after their first `tokens` space-separated
/// tokens whenever the engine allows cuts, without checking what it may
/// cut (a careless source): the engine must notice a cut line its stages
/// did not finish with and read whole lines again.
struct Cutter {
    inner: MemSource,
    tokens: usize,
    selects: AtomicUsize,
    cut_selects: AtomicUsize,
}

impl LogSource for Cutter {
    fn select(&self, p: &SelectParams) -> std::result::Result<Vec<StreamReader>, SourceError> {
        self.selects.fetch_add(1, Ordering::Relaxed);
        let readers = self.inner.select(p)?;
        if p.line_cut.is_none() {
            return Ok(readers);
        }
        self.cut_selects.fetch_add(1, Ordering::Relaxed);
        let tokens = self.tokens;
        Ok(readers
            .into_iter()
            .map(|s| StreamReader {
                labels: s.labels,
                entries: Box::new(s.entries.map(move |e| {
                    e.map(|mut e| {
                        let cut = e
                            .line
                            .iter()
                            .enumerate()
                            .filter(|(_, &b)| b == b' ')
                            .nth(tokens - 1)
                            .map(|(i, _)| i);
                        if let Some(at) = cut {
                            e.line = e.line.slice(..at);
                            e.cut = true;
                        }
                        e
                    })
                })),
            })
            .collect())
    }
}

#[test]
fn cut_lines_answer_as_whole_ones_or_are_read_again() {
    let lines = |app: &str, first: bool| -> MemSource {
        let levels = ["info", "warn", "error"];
        let entries = (0..120)
            .map(|i| {
                let level = levels[i % 3];
                let line = if first || i % 40 != 39 {
                    format!(
                        "level={level} latency={}ms user=u{} msg=\"a b\"",
                        i % 7,
                        i % 5
                    )
                } else {
                    // `level` past the first token: a one-token cut misses it
                    format!("user=u{} level={level} latency={}ms", i % 5, i % 7)
                };
                entry(i as i64 * S / 2, &line)
            })
            .collect();
        MemSource {
            streams: vec![(labels(&[("app", app)]), entries)],
        }
    };
    let p = range_params(0, 60 * S, 10 * S);
    let queries = [
        "sum by (level) (count_over_time({app=\"a\"} | logfmt [10s]))",
        "sum by (level) (rate({app=\"a\"} | logfmt | level != \"warn\" [10s]))",
        "max_over_time({app=\"a\"} | logfmt | unwrap duration(latency) [10s]) by (level)",
        "sum by (level) (bytes_over_time({app=\"a\"} | logfmt [10s]))",
        "sum by (user) (count_over_time({app=\"a\"} | logfmt [10s]))",
    ];
    for first in [true, false] {
        for q in queries {
            let Expr::Sample(e) = crate::parser::parse_expr(q).unwrap() else {
                panic!("{q}")
            };
            let want = matrix(evaluate_sample(&e, &lines("a", first), &p));
            let cutter = Cutter {
                inner: lines("a", first),
                tokens: 1,
                selects: AtomicUsize::new(0),
                cut_selects: AtomicUsize::new(0),
            };
            let got = matrix(evaluate_sample(&e, &cutter, &p));
            assert_eq!(got, want, "{q} (level first in every line: {first})");
            let bytes = q.contains("bytes_over_time");
            let by_user = q.contains("by (user)");
            // bytes need the whole line; `user` is never the first token
            let cut = !bytes;
            assert_eq!(cutter.cut_selects.load(Ordering::Relaxed) > 0, cut, "{q}");
            // read again when a cut line was not decided by its start: a
            // key needed past the first token (`user`; `latency` unwrapped)
            let again = cut && (by_user || q.contains("unwrap") || !first);
            let selects = cutter.selects.load(Ordering::Relaxed);
            assert_eq!(selects, if again { 2 } else { 1 }, "{q} {first}");
        }
    }
}

fn evaluate_sample(e: &SampleExpr, source: &dyn LogSource, p: &QueryParams) -> QueryValue {
    evaluate(&Expr::Sample(e.clone()), source, p, &Limits::default()).unwrap()
}

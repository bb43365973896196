//! Splitting a range query's time range at multiples of
//! `split_queries_by_interval` (epoch-aligned, so repeated queries split
//! the same way and their extents hit the results cache).
//!
//! - Metric queries are split at step boundaries: each sub-query keeps the
//!   step and evaluates exactly the steps `start + k*step` that fall in its
//!   interval, so the sub-queries' steps are disjoint and together are the
//!   original steps. A querier widens each sub-query's reads by the range
//!   and offset of its range vectors itself, so a window reaching back
//!   before a split's start still sees its data.
//! - Log queries are split into half-open `[from, to)` ranges.

use sluice_logql::engine::QueryParams;

/// The step-aligned sub-ranges of a metric range query, in time order.
pub fn split_metric(p: &QueryParams, interval: i64) -> Vec<QueryParams> {
    if interval <= 0 || p.step <= 0 || p.end < p.start {
        return vec![*p];
    }
    let last_k = (p.end - p.start) / p.step;
    let mut out = Vec::new();
    let mut k = 0;
    while k <= last_k {
        let t = p.start + k * p.step;
        let bucket_end = (t.div_euclid(interval) + 1).saturating_mul(interval);
        let k_end = ((bucket_end - 1 - p.start) / p.step).min(last_k).max(k);
        out.push(QueryParams {
            start: t,
            end: p.start + k_end * p.step,
            ..*p
        });
        k = k_end + 1;
    }
    out
}

/// The half-open sub-ranges of a log query's `[start, end)`, in time order.
pub fn split_logs(p: &QueryParams, interval: i64) -> Vec<QueryParams> {
    if interval <= 0 || p.end <= p.start {
        return vec![*p];
    }
    let mut out = Vec::new();
    let mut from = p.start;
    while from < p.end {
        let to = (from.div_euclid(interval) + 1)
            .saturating_mul(interval)
            .min(p.end);
        out.push(QueryParams {
            start: from,
            end: to,
            ..*p
        });
        from = to;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_logql::source::Direction;

    fn p(start: i64, end: i64, step: i64) -> QueryParams {
        QueryParams {
            start,
            end,
            step,
            direction: Direction::Backward,
            limit: 100,
        }
    }

    fn steps(ps: &[QueryParams]) -> Vec<i64> {
        ps.iter()
            .flat_map(|q| (0..=(q.end - q.start) / q.step).map(move |k| q.start + k * q.step))
            .collect()
    }

    #[test]
    fn metric_splits_cover_each_step_once() {
        for (start, end, step, interval) in [
            (0, 3600, 300, 1800),
            (7, 3607, 300, 1800),
            (-50, 10_000, 7, 1000),
            (0, 3600, 5000, 1800),
            (100, 100, 10, 30),
            (3, 99, 1, 10),
        ] {
            let q = p(start, end, step);
            let parts = split_metric(&q, interval);
            let want: Vec<i64> = (0..=(end - start) / step)
                .map(|k| start + k * step)
                .collect();
            assert_eq!(steps(&parts), want, "{start} {end} {step} {interval}");
            for s in &parts {
                assert_eq!(s.start.div_euclid(interval), s.end.div_euclid(interval));
                assert_eq!((s.start - start) % step, 0);
            }
        }
        assert_eq!(split_metric(&p(0, 3600, 300), 1800).len(), 3);
    }

    #[test]
    fn log_splits_are_contiguous() {
        let parts = split_logs(&p(10, 95, 0), 30);
        let r: Vec<(i64, i64)> = parts.iter().map(|q| (q.start, q.end)).collect();
        assert_eq!(r, vec![(10, 30), (30, 60), (60, 90), (90, 95)]);
        assert_eq!(split_logs(&p(0, 60, 0), 30).len(), 2);
        assert_eq!(split_logs(&p(0, 60, 0), 0).len(), 1);
    }
}

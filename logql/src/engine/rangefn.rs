//! The maths of range aggregations: one value from the samples of one series
//! inside one window, exactly as Loki computes it (Welford for variance,
//! Prometheus quantile interpolation, Loki's own `rate_counter`
//! extrapolation including its unit quirks).

use crate::ast::RangeOp;

/// How to reduce a window of `(ts ns, value)` samples (sorted by time).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RangeFn {
    pub op: RangeOp,
    /// Range in nanoseconds.
    pub range: i64,
    /// Whether the samples are unwrapped values (changes `rate`).
    pub unwrap: bool,
    /// The quantile of `quantile_over_time`.
    pub param: f64,
}

impl RangeFn {
    fn range_secs(&self) -> f64 {
        self.range as f64 / 1e9
    }

    /// The window's value; `samples` is never empty.
    #[cfg(test)]
    pub fn apply(&self, samples: &[(i64, f64)]) -> f64 {
        self.apply_with(samples, &mut Vec::new())
    }

    /// `apply` with a reusable buffer for the operations that reorder values.
    pub fn apply_with(&self, samples: &[(i64, f64)], buf: &mut Vec<f64>) -> f64 {
        let n = samples.len() as f64;
        match self.op {
            RangeOp::CountOverTime => n,
            RangeOp::Rate if !self.unwrap => n / self.range_secs(),
            RangeOp::Rate | RangeOp::BytesRate => sum(samples) / self.range_secs(),
            RangeOp::BytesOverTime | RangeOp::SumOverTime => sum(samples),
            RangeOp::RateCounter => rate_counter(samples, self.range),
            RangeOp::AvgOverTime => avg(samples),
            RangeOp::MinOverTime => min(samples),
            RangeOp::MaxOverTime => max(samples),
            RangeOp::StdvarOverTime => stdvar(samples),
            RangeOp::StddevOverTime => stdvar(samples).sqrt(),
            RangeOp::QuantileOverTime => {
                buf.clear();
                buf.extend(samples.iter().map(|s| s.1));
                quantile(self.param, buf)
            }
            RangeOp::FirstOverTime => samples.first().map_or(f64::NAN, |s| s.1),
            RangeOp::LastOverTime => samples.last().map_or(f64::NAN, |s| s.1),
            RangeOp::AbsentOverTime => 1.0,
        }
    }
}

fn sum(samples: &[(i64, f64)]) -> f64 {
    samples.iter().map(|s| s.1).sum()
}

/// Incremental mean, keeping an infinite mean as Prometheus does.
fn avg(samples: &[(i64, f64)]) -> f64 {
    let (mut mean, mut count) = (0.0f64, 0.0f64);
    for &(_, v) in samples {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        mean += v / count - mean / count;
    }
    mean
}

fn min(samples: &[(i64, f64)]) -> f64 {
    let mut m = samples.first().map_or(f64::NAN, |s| s.1);
    for &(_, v) in samples {
        if v < m || m.is_nan() {
            m = v;
        }
    }
    m
}

fn max(samples: &[(i64, f64)]) -> f64 {
    let mut m = samples.first().map_or(f64::NAN, |s| s.1);
    for &(_, v) in samples {
        if v > m || m.is_nan() {
            m = v;
        }
    }
    m
}

/// Population variance by Welford's online algorithm.
fn stdvar(samples: &[(i64, f64)]) -> f64 {
    let (mut aux, mut count, mut mean) = (0.0f64, 0.0f64, 0.0f64);
    for &(_, v) in samples {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        aux += delta * (v - mean);
    }
    aux / count
}

/// Prometheus' quantile: reorders `values`, interpolates between the two
/// nearest ranks; NaN for no values, ±Inf for `q` outside [0, 1].
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaN orders first, as in Loki's HeapByMaxValue; only the two ranks
    // around the quantile are needed, so select instead of sorting
    let order = |a: &f64, b: &f64| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    };
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    let (_, lo, above) = values.select_nth_unstable_by(lower as usize, order);
    let lo = *lo;
    let hi = if upper > lower {
        above.iter().copied().min_by(order).unwrap_or(lo)
    } else {
        lo
    };
    lo * (1.0 - weight) + hi * weight
}

/// Loki's `rate_counter`: Prometheus' extrapolated counter rate as Loki
/// implements it. Loki measures the distance to the window start in
/// milliseconds/1000 of the range (so always the full range) but the sampled
/// interval in nanoseconds/1000; both quirks are kept so answers match.
fn rate_counter(samples: &[(i64, f64)], range: i64) -> f64 {
    if samples.len() < 2 {
        return 0.0;
    }
    let (first, last) = (samples[0], samples[samples.len() - 1]);
    let mut result = last.1 - first.1;
    let mut prev = 0.0f64;
    for &(_, v) in samples {
        if v < prev {
            result += prev;
        }
        prev = v;
    }
    let range_ms = range / 1_000_000;
    let mut to_start = range_ms as f64 / 1000.0;
    let to_end = 0.0f64;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg_between = sampled / (samples.len() - 1) as f64;
    if result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg_between * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg_between / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg_between / 2.0
    };
    result *= interval / sampled;
    result / (range as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(op: RangeOp) -> RangeFn {
        RangeFn {
            op,
            range: 60_000_000_000,
            unwrap: false,
            param: 0.5,
        }
    }

    fn s(vals: &[f64]) -> Vec<(i64, f64)> {
        vals.iter()
            .enumerate()
            .map(|(i, &v)| (i as i64 * 1_000_000_000, v))
            .collect()
    }

    #[test]
    fn counts_and_rates() {
        let x = s(&[3.0, 5.0, 10.0]);
        assert_eq!(f(RangeOp::CountOverTime).apply(&x), 3.0);
        assert_eq!(f(RangeOp::Rate).apply(&x), 3.0 / 60.0);
        let mut r = f(RangeOp::Rate);
        r.unwrap = true;
        assert_eq!(r.apply(&x), 18.0 / 60.0);
        assert_eq!(f(RangeOp::BytesRate).apply(&x), 18.0 / 60.0);
        assert_eq!(f(RangeOp::BytesOverTime).apply(&x), 18.0);
        assert_eq!(f(RangeOp::AbsentOverTime).apply(&x), 1.0);
    }

    #[test]
    fn moments() {
        let x = s(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(f(RangeOp::AvgOverTime).apply(&x), 5.0);
        assert!((f(RangeOp::StdvarOverTime).apply(&x) - 4.0).abs() < 1e-12);
        assert!((f(RangeOp::StddevOverTime).apply(&x) - 2.0).abs() < 1e-12);
        assert_eq!(f(RangeOp::MinOverTime).apply(&x), 2.0);
        assert_eq!(f(RangeOp::MaxOverTime).apply(&x), 9.0);
        assert_eq!(f(RangeOp::FirstOverTime).apply(&x), 2.0);
        assert_eq!(f(RangeOp::LastOverTime).apply(&x), 9.0);
    }

    #[test]
    fn min_max_skip_leading_nan() {
        let x = s(&[f64::NAN, 3.0, 1.0]);
        assert_eq!(f(RangeOp::MinOverTime).apply(&x), 1.0);
        assert_eq!(f(RangeOp::MaxOverTime).apply(&x), 3.0);
    }

    #[test]
    fn avg_keeps_infinity() {
        let x = s(&[1.0, f64::INFINITY, 3.0]);
        assert_eq!(f(RangeOp::AvgOverTime).apply(&x), f64::INFINITY);
    }

    #[test]
    fn quantile_interpolates() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.0, &mut v), 4.0);
        assert!((quantile(0.99, &mut v) - 3.97).abs() < 1e-12);
        assert_eq!(quantile(-0.1, &mut v), f64::NEG_INFINITY);
        assert_eq!(quantile(1.1, &mut v), f64::INFINITY);
        assert!(quantile(0.5, &mut []).is_nan());
        let mut q = f(RangeOp::QuantileOverTime);
        q.param = 0.25;
        assert_eq!(q.apply(&s(&[10.0, 20.0, 30.0, 40.0, 50.0])), 20.0);
    }

    #[test]
    fn quantile_by_selection_equals_sorting() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f64 / 1000.0
        };
        for n in 1..40 {
            let v: Vec<f64> = (0..n).map(|_| next().floor()).collect();
            let mut sorted = v.clone();
            sorted.sort_by(|a, b| a.total_cmp(b));
            for q in [0.0, 0.1, 0.25, 0.5, 0.9, 0.99, 1.0] {
                let rank = q * (n as f64 - 1.0);
                let (lo, w) = (rank.floor() as usize, rank - rank.floor());
                let hi = (lo + 1).min(n - 1);
                let want = sorted[lo] * (1.0 - w) + sorted[hi] * w;
                assert_eq!(quantile(q, &mut v.clone()), want, "n={n} q={q}");
            }
        }
    }

    #[test]
    fn rate_counter_matches_loki() {
        let rc = f(RangeOp::RateCounter);
        assert_eq!(rc.apply(&s(&[5.0])), 0.0);
        // two samples 1s apart rising by 10: Loki's units make the window
        // start 60 "units" away and the sampled interval 1e6 units long, so
        // no extrapolation happens at either end except the zero point
        let x = vec![(0, 10.0), (1_000_000_000, 20.0)];
        let sampled = 1e6;
        let to_zero = sampled * (10.0 / 10.0);
        let to_start = f64::min(60.0, to_zero);
        let threshold = sampled * 1.1;
        let interval = sampled
            + if to_start < threshold {
                to_start
            } else {
                sampled / 2.0
            };
        let want = 10.0 * (interval / sampled) / 60.0;
        assert!((rc.apply(&x) - want).abs() < 1e-12);
        // a counter reset adds the value before the reset
        let y = vec![(0, 10.0), (1_000_000_000, 2.0), (2_000_000_000, 4.0)];
        let inc = (4.0 - 10.0) + 10.0;
        let sampled = 2e6;
        let avg = sampled / 2.0;
        let to_zero = sampled * (10.0 / inc);
        let to_start = f64::min(60.0, to_zero);
        let interval = sampled
            + if to_start < avg * 1.1 {
                to_start
            } else {
                avg / 2.0
            };
        let want = inc * (interval / sampled) / 60.0;
        assert!((rc.apply(&y) - want).abs() < 1e-12);
    }
}

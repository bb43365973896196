//! Sliding range windows over time-sorted samples.
//!
//! At grid step `k` a range aggregation sees the samples in
//! `(t_k - offset - range, t_k - offset]` (Loki: start exclusive, end
//! inclusive). Both walkers below visit only the steps whose window holds at
//! least one sample, so a series with a single sample costs `range / step`
//! steps, not the whole grid.

use std::collections::VecDeque;

use super::steps::Grid;

/// The window geometry of one range aggregation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Windows {
    pub grid: Grid,
    pub range: i64,
    pub offset: i64,
}

impl Windows {
    /// Inclusive end of step `k`'s window.
    fn end(&self, k: usize) -> i64 {
        self.grid.ts(k).saturating_sub(self.offset)
    }

    /// The first step whose window end is at or after `ts`.
    fn first_step_seeing(&self, ts: i64) -> usize {
        self.grid.first_at_or_after(ts.saturating_add(self.offset))
    }

    /// The slots between consecutive window bounds, when every window
    /// starts where an earlier one ends (its range is a whole number of
    /// steps) and there are not too many of them.
    pub fn slots(&self) -> Option<Slots> {
        let (step, range) = (self.grid.step, self.range);
        if self.grid.instant || step <= 0 || range <= 0 || range % step != 0 {
            return None;
        }
        let before = usize::try_from(range / step).ok()?;
        let count = before.checked_add(self.grid.len)?.checked_add(1)?;
        (count <= Slots::MAX).then_some(Slots {
            first: self.end(0).checked_sub(range)?,
            step,
            count,
        })
    }

    /// Calls `f(k, window)` for every step with a non-empty window over
    /// `samples` (sorted by time, or by [`Slots`]).
    pub fn over_slice(&self, samples: &[(i64, f64)], mut f: impl FnMut(usize, &[(i64, f64)])) {
        let n = samples.len();
        if n == 0 {
            return;
        }
        let (mut lo, mut hi) = (0usize, 0usize);
        let mut k = self.first_step_seeing(samples[0].0);
        while k < self.grid.len {
            let end = self.end(k);
            let start = end.saturating_sub(self.range);
            while lo < n && samples[lo].0 <= start {
                lo += 1;
            }
            if lo == n {
                break;
            }
            hi = hi.max(lo);
            while hi < n && samples[hi].0 <= end {
                hi += 1;
            }
            if hi > lo {
                f(k, &samples[lo..hi]);
                k += 1;
            } else {
                k = (k + 1).max(self.first_step_seeing(samples[lo].0));
            }
        }
    }
}

/// Times cut at every window bound: slot 0 holds the times at or before
/// the first window's start, slot `i` those in `(first + (i-1) step,
/// first + i step]`, the last slot those after every window. Samples laid
/// out by slot are in time order as far as any window can tell.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slots {
    first: i64,
    step: i64,
    pub count: usize,
}

impl Slots {
    /// The most slots a query orders its samples by.
    const MAX: usize = 1 << 16;

    /// The slot of time `ts`.
    pub fn of(&self, ts: i64) -> u32 {
        if ts <= self.first {
            return 0;
        }
        // ts > first: the difference is positive, and at most u64::MAX
        let d = ts.abs_diff(self.first);
        let k = (d - 1) / self.step.unsigned_abs() + 1;
        // count <= MAX, which fits a u32
        k.min(self.count as u64 - 1) as u32
    }
}

/// A streaming window for additive aggregations: samples are pushed in time
/// order and each step's sample count and value sum are emitted once its
/// window is complete. Memory is bounded by one window.
#[derive(Debug, Default)]
pub(crate) struct Slider {
    k: usize,
    started: bool,
    buf: VecDeque<(i64, f64)>,
    count: f64,
    sum: f64,
}

impl Slider {
    /// Adds a sample no older than the previous one; emits `(k, count, sum)`
    /// for the steps completed before it.
    pub fn push(&mut self, w: &Windows, ts: i64, v: f64, emit: &mut impl FnMut(usize, f64, f64)) {
        if !self.started {
            self.started = true;
            self.k = w.first_step_seeing(ts);
        }
        while self.k < w.grid.len && w.end(self.k) < ts {
            self.emit_step(w, emit);
            if self.buf.is_empty() {
                self.k = self.k.max(w.first_step_seeing(ts));
            }
        }
        self.buf.push_back((ts, v));
        self.count += 1.0;
        self.sum += v;
    }

    /// Emits the remaining steps.
    pub fn finish(&mut self, w: &Windows, emit: &mut impl FnMut(usize, f64, f64)) {
        while self.k < w.grid.len && !self.buf.is_empty() {
            self.emit_step(w, emit);
        }
    }

    fn emit_step(&mut self, w: &Windows, emit: &mut impl FnMut(usize, f64, f64)) {
        let start = w.end(self.k).saturating_sub(w.range);
        while let Some(&(ts, v)) = self.buf.front() {
            if ts > start {
                break;
            }
            self.buf.pop_front();
            self.count -= 1.0;
            self.sum -= v;
        }
        if self.buf.is_empty() {
            // exact reset: no drift carried into later windows
            self.count = 0.0;
            self.sum = 0.0;
        } else {
            emit(self.k, self.count, self.sum);
        }
        self.k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn w(start: i64, end: i64, step: i64, range: i64, offset: i64) -> Windows {
        let len = ((end - start) / step) as usize + 1;
        Windows {
            grid: Grid {
                start,
                end,
                step,
                len,
                instant: false,
            },
            range,
            offset,
        }
    }

    fn slice_counts(w: &Windows, ts: &[i64]) -> Vec<(usize, usize)> {
        let s: Vec<(i64, f64)> = ts.iter().map(|&t| (t, 1.0)).collect();
        let mut out = Vec::new();
        w.over_slice(&s, |k, win| out.push((k, win.len())));
        out
    }

    fn slider_counts(w: &Windows, ts: &[i64]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut sl = Slider::default();
        let mut emit = |k: usize, n: f64, _s: f64| out.push((k, n as usize));
        for &t in ts {
            sl.push(w, t, 1.0, &mut emit);
        }
        sl.finish(w, &mut emit);
        out
    }

    #[test]
    fn windows_are_left_open_right_closed() {
        // steps at 0,10,20,30 with a 10s range: (t-10, t]
        let win = w(0, 30 * S, 10 * S, 10 * S, 0);
        let ts = [0, 10 * S, 15 * S, 20 * S, 31 * S];
        let want = vec![(0, 1), (1, 1), (2, 2)];
        assert_eq!(slice_counts(&win, &ts), want);
        assert_eq!(slider_counts(&win, &ts), want);
    }

    #[test]
    fn overlapping_windows_and_gaps() {
        // 30s range, 10s step, steps 0..=100s
        let win = w(0, 100 * S, 10 * S, 30 * S, 0);
        let ts = [5 * S, 6 * S, 75 * S];
        let want = vec![(1, 2), (2, 2), (3, 2), (8, 1), (9, 1), (10, 1)];
        assert_eq!(slice_counts(&win, &ts), want);
        assert_eq!(slider_counts(&win, &ts), want);
    }

    #[test]
    fn offset_shifts_windows_back() {
        // offset 20s: step t sees (t-30, t-20]
        let win = w(0, 60 * S, 10 * S, 10 * S, 20 * S);
        let ts = [5 * S, 25 * S];
        let want = vec![(3, 1), (5, 1)];
        assert_eq!(slice_counts(&win, &ts), want);
        assert_eq!(slider_counts(&win, &ts), want);
    }

    #[test]
    fn samples_before_the_grid_count_once() {
        let win = w(100 * S, 120 * S, 10 * S, 50 * S, 0);
        let ts = [40 * S, 60 * S, 65 * S, 119 * S];
        let want = vec![(0, 2), (1, 1), (2, 1)];
        assert_eq!(slice_counts(&win, &ts), want);
        assert_eq!(slider_counts(&win, &ts), want);
    }

    proptest::proptest! {
        /// Samples laid out by slot, in any order within a slot, give every
        /// window the very samples time order gives it.
        #[test]
        fn slot_order_gives_windows_their_samples(
            ts in proptest::collection::vec(-50i64..400, 0..200),
            shuffle in proptest::collection::vec(0usize..1000, 200),
            start in 0i64..100,
            steps in 1usize..30,
            step in 1i64..20,
            ranges in 1i64..6,
            offset in 0i64..40,
        ) {
            let win = w(start, start + (steps as i64 - 1) * step, step, ranges * step, offset);
            let slots = win.slots().ok_or_else(|| proptest::test_runner::TestCaseError::fail("no slots"))?;
            let mut sorted: Vec<(i64, f64)> = ts.iter().map(|&t| (t, t as f64)).collect();
            sorted.sort_by_key(|p| p.0);
            // slot order, each slot in an arbitrary order
            let mut laid: Vec<(usize, (i64, f64))> = sorted
                .iter()
                .enumerate()
                .map(|(i, &p)| (shuffle[i], p))
                .collect();
            laid.sort_by_key(|(r, p)| (slots.of(p.0), *r));
            let laid: Vec<(i64, f64)> = laid.into_iter().map(|(_, p)| p).collect();
            let windows = |samples: &[(i64, f64)]| {
                let mut out = Vec::new();
                win.over_slice(samples, |k, s| {
                    let mut v: Vec<i64> = s.iter().map(|p| p.0).collect();
                    v.sort_unstable();
                    out.push((k, v));
                });
                out
            };
            proptest::prop_assert_eq!(windows(&laid), windows(&sorted));
        }
    }
}

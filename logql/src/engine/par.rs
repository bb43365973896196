//! A tiny work queue over scoped threads: streams (or chunks of series) are
//! handed out one at a time so a few large streams do not leave a core idle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::{Error, Result};

/// Worker threads per query: the available cores, at most 8.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
}

/// Runs `work` over `items` on up to [`threads`] threads, each with its own
/// state made by `init`; returns the states. The first error stops all
/// workers and is returned.
pub(crate) fn run<R, S, I, W>(items: Vec<R>, init: I, work: W) -> Result<Vec<S>>
where
    R: Send,
    S: Send,
    I: Fn() -> S + Sync,
    W: Fn(&mut S, R) -> Result<()> + Sync,
{
    let n = threads().min(items.len()).max(1);
    if n == 1 {
        let mut state = init();
        for item in items {
            work(&mut state, item)?;
        }
        return Ok(vec![state]);
    }
    let queue = Mutex::new(items.into_iter());
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let worker = || -> Result<S> {
            let mut state = init();
            while !failed.load(Ordering::Relaxed) {
                let next = match queue.lock() {
                    Ok(mut q) => q.next(),
                    Err(_) => return Err(Error::Source("evaluation worker failed".into())),
                };
                let Some(item) = next else { break };
                if let Err(e) = work(&mut state, item) {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            Ok(state)
        };
        let handles: Vec<_> = (0..n).map(|_| scope.spawn(worker)).collect();
        let mut states = Vec::with_capacity(n);
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(s)) => states.push(s),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(Error::Source("evaluation worker panicked".into()));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(states),
        }
    })
}

/// Splits `0..len` into chunks for [`run`].
pub(crate) fn chunks(len: usize, size: usize) -> Vec<std::ops::Range<usize>> {
    let size = size.max(1);
    (0..len)
        .step_by(size)
        .map(|s| s..(s + size).min(len))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn runs_everything_once() {
        let states = run(
            (0..1000u64).collect(),
            || 0u64,
            |s, x| {
                *s += x;
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(states.iter().sum::<u64>(), 999 * 1000 / 2);
    }

    #[test]
    fn stops_on_error() {
        let r = run(
            (0..100u32).collect(),
            || (),
            |_, x| {
                if x == 50 {
                    Err(Error::Source("boom".into()))
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(r, Err(Error::Source("boom".into())));
    }

    #[test]
    fn chunking() {
        assert_eq!(chunks(5, 2), vec![0..2, 2..4, 4..5]);
        assert!(chunks(0, 2).is_empty());
    }
}

//! A small pool of the large byte buffers a push passes through: the
//! decompressed request body (whose slices become the entries' lines) and
//! the WAL record. Each is a few hundred KB and lives for one request.
//!
//! Without the pool every request took fresh memory from the allocator,
//! which the kernel had to fault in and zero page by page, at several
//! microseconds a page on a virtualised host: in the ingest benchmark these
//! buffers caused ~20k of the push's ~34k page faults. Recycled buffers are
//! already mapped. With the pool the run's faults fell from ~51k to ~37k
//! and push CPU by ~5%.
//!
//! A buffer comes back when the last [`Bytes`] slice of it is dropped
//! ([`into_bytes`]). The pool keeps at most [`KEEP`] buffers of at most
//! [`MAX_KEPT`] bytes each and [`MAX_HELD`] bytes in all.

use std::sync::Mutex;

use bytes::Bytes;

/// Buffers kept for reuse: enough for the requests in flight on a small
/// machine (each holds up to two: its body and its WAL record).
const KEEP: usize = 16;
/// Larger buffers are freed rather than kept.
const MAX_KEPT: usize = 4 << 20;
/// The most bytes the pool holds in all.
const MAX_HELD: usize = 16 << 20;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

fn pool() -> std::sync::MutexGuard<'static, Vec<Vec<u8>>> {
    // a panic while holding the lock leaves a valid Vec: keep using it
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// An empty buffer with room for at least `capacity` bytes: the smallest
/// kept one that fits, else a new one.
pub fn with_capacity(capacity: usize) -> Vec<u8> {
    let mut v = take(capacity).unwrap_or_else(|| Vec::with_capacity(capacity));
    v.clear();
    v
}

/// A buffer of exactly `len` bytes whose contents are unspecified (zeros
/// or bytes of an earlier use), for a decoder that overwrites them: a
/// recycled buffer is not zeroed again.
pub fn filled(len: usize) -> Vec<u8> {
    match take(len) {
        Some(mut v) => {
            if v.len() < len {
                v.resize(len, 0);
            } else {
                v.truncate(len);
            }
            v
        }
        None => vec![0; len],
    }
}

fn take(capacity: usize) -> Option<Vec<u8>> {
    if capacity > MAX_KEPT {
        return None;
    }
    let mut p = pool();
    let best = p
        .iter()
        .enumerate()
        .filter(|(_, v)| v.capacity() >= capacity)
        .min_by_key(|(_, v)| v.capacity())
        .map(|(i, _)| i)?;
    Some(p.swap_remove(best))
}

/// Hands a buffer back; it is kept if it is not too large and the pool
/// has room for it, else freed.
pub fn give_back(v: Vec<u8>) {
    let cap = v.capacity();
    if cap == 0 || cap > MAX_KEPT {
        return;
    }
    let mut p = pool();
    let held: usize = p.iter().map(Vec::capacity).sum();
    let rejected = if p.len() < KEEP && held + cap <= MAX_HELD {
        p.push(v);
        None
    } else {
        Some(v)
    };
    // freed (if at all) after the lock is released
    drop(p);
    drop(rejected);
}

/// `v` as shared bytes that go back to the pool when the last slice of
/// them is dropped.
pub fn into_bytes(v: Vec<u8>) -> Bytes {
    Bytes::from_owner(Recycled(v))
}

struct Recycled(Vec<u8>);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test only: the pool is process-wide, and tests of one binary run
    // in parallel.
    #[test]
    fn buffers_come_back_when_the_last_slice_is_dropped() {
        let mut v = with_capacity(100_000);
        v.extend_from_slice(&[7u8; 100_000]);
        let ptr = v.as_ptr();
        let b = into_bytes(v);
        let slice = b.slice(10..20);
        drop(b);
        assert_eq!(&slice[..], &[7u8; 10]);
        let again = filled(100_000);
        assert_ne!(again.as_ptr(), ptr, "taken back while a slice lived");
        drop(again);
        drop(slice);
        // the smallest kept buffer that fits is the recycled one
        let v = filled(99_000);
        assert_eq!(v.as_ptr(), ptr);
        assert_eq!(v.len(), 99_000);
        let w = with_capacity(50_000);
        assert!(w.is_empty() && w.capacity() >= 50_000);
        assert_ne!(w.as_ptr(), ptr);
        // too large to keep
        give_back(Vec::with_capacity(MAX_KEPT + 1));
        assert!(pool().iter().all(|k| k.capacity() <= MAX_KEPT));
        // never more than KEEP buffers nor MAX_HELD bytes
        for _ in 0..KEEP + 4 {
            give_back(Vec::with_capacity(1000));
        }
        assert!(pool().len() <= KEEP);
        while pool().pop().is_some() {}
        for _ in 0..KEEP {
            give_back(Vec::with_capacity(MAX_KEPT));
        }
        let p = pool();
        assert_eq!(p.len(), MAX_HELD / MAX_KEPT);
        assert!(p.iter().map(Vec::capacity).sum::<usize>() <= MAX_HELD);
    }
}

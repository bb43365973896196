//! Per-tenant ingestion rate limiting with Loki's "local" strategy: one
//! token bucket per tenant and distributor, in bytes, refilled at
//! `ingestion_rate_mb` MiB/s up to `ingestion_burst_size_mb` MiB. Semantics
//! follow Go's `rate.Limiter.AllowN`: a request either takes all its tokens
//! or none, and one larger than the burst never passes.

use std::collections::HashMap;

use parking_lot::Mutex;

struct Bucket {
    limit: f64,
    burst: f64,
    tokens: f64,
    last_ns: i64,
}

/// Token buckets keyed by tenant.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `n` bytes from the tenant's bucket at time `now_ns` if they are
    /// available; `limit` is bytes/s and `burst` bytes (both may change
    /// between calls, e.g. on a limits reload).
    pub fn allow(&self, tenant: &str, now_ns: i64, n: usize, limit: f64, burst: f64) -> bool {
        if limit.is_infinite() {
            return true;
        }
        let mut buckets = self.buckets.lock();
        let b = match buckets.get_mut(tenant) {
            Some(b) => b,
            None => buckets.entry(tenant.to_string()).or_insert(Bucket {
                limit,
                burst,
                tokens: burst,
                last_ns: now_ns,
            }),
        };
        // refill at the old rate up to now, then apply any new settings
        let elapsed = (now_ns.saturating_sub(b.last_ns)).max(0) as f64 / 1e9;
        b.tokens = (b.tokens + elapsed * b.limit).min(b.burst);
        b.last_ns = b.last_ns.max(now_ns);
        if b.limit != limit || b.burst != burst {
            b.limit = limit;
            b.burst = burst;
            b.tokens = b.tokens.min(burst);
        }
        let n = n as f64;
        if n > b.burst || n > b.tokens {
            return false;
        }
        b.tokens -= n;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn burst_then_refill() {
        let r = RateLimiter::new();
        // 100 B/s, burst 300 B
        assert!(r.allow("t", 0, 200, 100.0, 300.0));
        assert!(r.allow("t", 0, 100, 100.0, 300.0));
        assert!(!r.allow("t", 0, 1, 100.0, 300.0));
        // half a second refills 50 bytes
        assert!(!r.allow("t", S / 2, 51, 100.0, 300.0));
        assert!(r.allow("t", S / 2, 50, 100.0, 300.0));
        // never more than the burst, however long we wait
        assert!(!r.allow("t", 100 * S, 301, 100.0, 300.0));
        assert!(r.allow("t", 100 * S, 300, 100.0, 300.0));
    }

    #[test]
    fn tenants_are_independent() {
        let r = RateLimiter::new();
        assert!(r.allow("a", 0, 300, 100.0, 300.0));
        assert!(!r.allow("a", 0, 1, 100.0, 300.0));
        assert!(r.allow("b", 0, 300, 100.0, 300.0));
    }
}

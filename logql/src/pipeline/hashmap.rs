//! Maps keyed by label-set hashes (already well-mixed 64-bit values): the
//! key is its own hash, so a lookup costs no SipHash round.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `Hasher` for `u64` keys that passes the key through.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // only `write_u64` is used by u64 keys; mix anything else in
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A `HashMap` keyed by a label-set hash.
pub(crate) type HashKeyed<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

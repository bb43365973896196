//! Tokens: random positions on the 32-bit hash ring, and the key a stream hashes to.

use std::collections::HashSet;

use rand::Rng;

/// Number of tokens an instance takes by default (`ingester.lifecycler.num_tokens`).
pub const DEFAULT_NUM_TOKENS: usize = 128;

/// `n` random tokens, sorted, distinct from each other and from `taken`.
pub fn generate_tokens(n: usize, taken: &HashSet<u32>) -> Vec<u32> {
    generate_tokens_with(&mut rand::rng(), n, taken)
}

/// Like [`generate_tokens`] with a caller-provided random source (seeded in tests).
pub fn generate_tokens_with<R: Rng + ?Sized>(
    rng: &mut R,
    n: usize,
    taken: &HashSet<u32>,
) -> Vec<u32> {
    let mut chosen = HashSet::with_capacity(n);
    while chosen.len() < n {
        let t: u32 = rng.random();
        if !taken.contains(&t) {
            chosen.insert(t);
        }
    }
    let mut tokens: Vec<u32> = chosen.into_iter().collect();
    tokens.sort_unstable();
    tokens
}

/// The ring key of a stream: 32-bit FNV-1 over the tenant then the stream's
/// label string, as Loki's distributor computes it (`TokenFor`).
pub fn shard_key(tenant: &str, labels: &str) -> u32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    let mut h = OFFSET;
    for b in tenant.bytes().chain(labels.bytes()) {
        h = h.wrapping_mul(PRIME);
        h ^= u32::from(b);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn tokens_are_sorted_distinct_and_avoid_taken() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let first = generate_tokens_with(&mut rng, 128, &HashSet::new());
        assert_eq!(first.len(), 128);
        assert!(first.windows(2).all(|w| w[0] < w[1]));
        let taken: HashSet<u32> = first.iter().copied().collect();
        let second = generate_tokens(128, &taken);
        assert!(second.iter().all(|t| !taken.contains(t)));
    }

    #[test]
    fn shard_key_is_fnv1_of_tenant_and_labels() {
        // FNV-1 32 of the empty input is the offset basis; of "a" is 0x050c5d7e.
        assert_eq!(shard_key("", ""), 0x811c_9dc5);
        assert_eq!(shard_key("a", ""), 0x050c_5d7e);
        assert_eq!(shard_key("a", "b"), shard_key("ab", ""));
    }
}

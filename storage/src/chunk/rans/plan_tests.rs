//! [`plan`] and [`normalize`] visit only the present symbols: checked
//! against their definitions over all 256 symbols.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn normalize_all(counts: &[u64; 256]) -> [u32; 256] {
    let total: u64 = counts.iter().sum::<u64>().max(1);
    let mut freq = [0u32; 256];
    let mut sum = 0u32;
    for (f, &c) in freq.iter_mut().zip(counts) {
        if c > 0 {
            *f = ((c * u64::from(M) / total) as u32).max(1);
            sum += *f;
        }
    }
    while sum != M {
        let (i, _) = freq
            .iter()
            .enumerate()
            .max_by_key(|(_, &f)| f)
            .unwrap_or((0, &0));
        if sum < M {
            freq[i] += M - sum;
            sum = M;
        } else {
            let take = (sum - M).min(freq[i] - 1);
            freq[i] -= take;
            sum -= take;
        }
    }
    freq
}

fn coded_bytes_all(counts: &[u64; 256], freq: &[u32; 256]) -> usize {
    let bits: f64 = counts
        .iter()
        .zip(freq)
        .filter(|(&c, _)| c > 0)
        .map(|(&c, &f)| c as f64 * symbol_bits(f))
        .sum();
    (bits / 8.0) as usize + 4
}

fn exact_table_all(freq: &[u32; 256]) -> Vec<u8> {
    let mut out = Vec::new();
    let present = freq.iter().filter(|&&f| f > 0).count();
    if freq[..present].iter().all(|&f| f > 0) {
        put_uvarint(&mut out, (present as u64) << 2 | 1);
        for &f in &freq[..present - 1] {
            put_uvarint(&mut out, u64::from(f));
        }
    } else {
        put_uvarint(&mut out, (present as u64) << 2);
        for (s, &f) in freq.iter().enumerate() {
            if f > 0 {
                out.push(s as u8);
                put_uvarint(&mut out, u64::from(f));
            }
        }
    }
    out
}

fn level_freqs_all(levels: &[u8]) -> [u32; 256] {
    let mut w = [0u64; 256];
    for (w, &q) in w.iter_mut().zip(levels) {
        if q > 0 {
            *w = WEIGHTS[usize::from(q) - 1];
        }
    }
    normalize_all(&w)
}

/// The definition: every loop over all 256 symbols.
fn plan_all(counts: &[u64; 256]) -> Plan {
    let freq = normalize_all(counts);
    let table = exact_table_all(&freq);
    let bytes = table.len() + coded_bytes_all(counts, &freq);
    let mut best = Plan { table, freq, bytes };
    let present = counts.iter().filter(|&&c| c > 0).count();
    if present <= 16 {
        return best;
    }
    let cmax = counts.iter().copied().max().unwrap_or(1) as f64;
    let alphabet = counts.iter().rposition(|&c| c > 0).map_or(0, |i| i + 1);
    let levels: Vec<u8> = counts[..alphabet]
        .iter()
        .map(|&c| {
            if c == 0 {
                0
            } else {
                let down = ((cmax / c as f64).ln() / 1.8f64.ln()).round();
                (15.0 - down).clamp(1.0, 15.0) as u8
            }
        })
        .collect();
    let mut smooth = levels.clone();
    let mut run_level = 0u8;
    for q in smooth.iter_mut() {
        if *q != 0 && run_level != 0 && q.abs_diff(run_level) <= 1 {
            *q = run_level;
        } else {
            run_level = *q;
        }
    }
    for l in [levels, smooth] {
        let freq = level_freqs_all(&l);
        let table = level_table(&l);
        let bytes = table.len() + coded_bytes_all(counts, &freq);
        if bytes < best.bytes {
            best = Plan { table, freq, bytes };
        }
    }
    best
}

#[test]
fn plans_match_their_definition() {
    let mut x = 0x853c_49e6_748f_ea9bu64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..3000 {
        let mut counts = [0u64; 256];
        // dense ids, sparse bytes, or a few symbols anywhere; counts from
        // 1 to skewed
        let k = 1 + (next() % [4, 20, 256][round % 3]) as usize;
        let scale = [1, 10, 1000, 100_000][(round / 3) % 4];
        for i in 0..k {
            let s = if round % 2 == 0 {
                i
            } else {
                (next() % 256) as usize
            };
            counts[s] += 1 + next() % scale;
        }
        let (got, want) = (plan(&counts), plan_all(&counts));
        assert_eq!(got.freq, want.freq, "{counts:?}");
        assert_eq!(got.table, want.table, "{counts:?}");
        assert_eq!(got.bytes, want.bytes, "{counts:?}");
        assert_eq!(
            normalize(&counts, &Present::of(&counts)),
            normalize_all(&counts)
        );
    }
    let zero = [0u64; 256];
    assert_eq!(normalize(&zero, &Present::of(&zero)), normalize_all(&zero));
    let levels = [3u8, 0, 15, 1, 1, 0, 7];
    assert_eq!(level_freqs(&levels), level_freqs_all(&levels));
}

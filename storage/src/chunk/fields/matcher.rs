//! Matching a raw token against a known token template without building
//! its template: most tokens that change from line to line keep their
//! template and change only their numbers (`duration=12ms`,
//! `"job_id": 4711,`), so the writer tries the column's previous template
//! first, comparing its literal spans word by word and parsing the digit
//! runs in between.
//!
//! Only *plain* templates are matched this way: those whose literal bytes
//! hold no digit and no escape (what `template_from` makes of any token
//! whose digit runs all become numbers). Then a raw token has the template
//! exactly when its bytes between the runs equal the literals and each
//! run is one the marker stands for (`NUM`: 1 to `MAX_DIGITS` digits
//! without a leading zero, or the single digit 0; `ZNUM n`: exactly `n`
//! digits starting with 0).

use super::{same, MAX_DIGITS, NUM, ZNUM};

/// Per number marker of a plain template: the length of the literal
/// before it, and 0 for `NUM` or the digit count of `ZNUM`.
pub(super) type Parts = Box<[(u32, u8)]>;

/// The parts of `tmpl` if it is plain and holds at least one number.
pub(super) fn parts_of(tmpl: &[u8]) -> Option<Parts> {
    let mut parts = Vec::new();
    let mut lit = 0u32;
    let mut i = 0;
    while let Some(&b) = tmpl.get(i) {
        match b {
            NUM => {
                parts.push((lit, 0));
                lit = 0;
                i += 1;
            }
            ZNUM => {
                let n = *tmpl.get(i + 1)?;
                if !(2..=MAX_DIGITS as u8).contains(&n) {
                    return None;
                }
                parts.push((lit, n));
                lit = 0;
                i += 2;
            }
            // escapes and literal digits take the full way
            _ if b <= ZNUM || b.is_ascii_digit() => return None,
            _ => {
                lit += 1;
                i += 1;
            }
        }
    }
    (!parts.is_empty()).then(|| parts.into_boxed_slice())
}

/// Whether `raw`'s template is `tmpl` (plain, with parts `parts`); its
/// numbers are appended to `nums` (some of them on a mismatch too).
#[inline]
pub(super) fn matches(raw: &[u8], tmpl: &[u8], parts: &[(u32, u8)], nums: &mut Vec<u64>) -> bool {
    let (mut r, mut t) = (0usize, 0usize);
    for &(lit, z) in parts {
        let lit = lit as usize;
        match (raw.get(r..r + lit), tmpl.get(t..t + lit)) {
            (Some(a), Some(b)) if same(a, b) => {}
            _ => return false,
        }
        r += lit;
        t += lit + if z == 0 { 1 } else { 2 };
        let start = r;
        let mut v = 0u64;
        while let Some(&d) = raw.get(r).filter(|d| d.is_ascii_digit()) {
            v = v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            r += 1;
        }
        let n = r - start;
        let zero = raw.get(start) == Some(&b'0');
        let ok = if z == 0 {
            (1..=MAX_DIGITS).contains(&n) && !(zero && n > 1)
        } else {
            n == usize::from(z) && zero
        };
        if !ok {
            return false;
        }
        nums.push(v);
    }
    match (raw.get(r..), tmpl.get(t..)) {
        (Some(a), Some(b)) => same(a, b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::template;
    use super::*;

    /// Random tokens over an alphabet of digits, zeros, control bytes and
    /// letters; runs long enough to pass `MAX_DIGITS` now and then.
    fn tokens() -> Vec<Vec<u8>> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut out = Vec::new();
        for r in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let alphabet: &[u8] = match r % 3 {
                0 => b"a=0123456789",
                1 => b"a0\x01\x02\x03x9",
                _ => b"0000000001ab=",
            };
            let n = (x % 28) as usize;
            out.push(
                (0..n)
                    .map(|k| alphabet[((x >> ((k * 5) % 59)) as usize) % alphabet.len()])
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn a_match_is_exactly_an_equal_template() {
        let toks = tokens();
        let mut plain = 0;
        let mut hits = 0;
        for pair in toks.windows(2) {
            let (prev, raw) = (&pair[0], &pair[1]);
            // the previous token's template, and this token's the full way
            let (mut tmpl, mut tn) = (Vec::new(), Vec::new());
            template(prev, &mut tmpl, &mut tn);
            let (mut want, mut want_nums) = (Vec::new(), Vec::new());
            template(raw, &mut want, &mut want_nums);
            let Some(parts) = parts_of(&tmpl) else {
                continue;
            };
            plain += 1;
            // also against the token's own template (always equal)
            for t in [&tmpl, &want] {
                let Some(parts) = (if t == &tmpl {
                    Some(parts.clone())
                } else {
                    parts_of(t)
                }) else {
                    continue;
                };
                let mut nums = Vec::new();
                let got = matches(raw, t, &parts, &mut nums);
                assert_eq!(got, &want == t, "{raw:?} vs {t:?}");
                if got {
                    hits += 1;
                    assert_eq!(nums, want_nums, "{raw:?}");
                }
            }
        }
        assert!(plain > 1000 && hits > 1000, "{plain} {hits}");
    }

    #[test]
    fn templates_with_escapes_or_literal_digits_are_not_plain() {
        assert_eq!(parts_of(b"a=\x01ms").as_deref(), Some(&[(2, 0)][..]));
        assert_eq!(
            parts_of(b"\x03\x05x\x01").as_deref(),
            Some(&[(0, 5), (1, 0)][..])
        );
        assert!(parts_of(b"abc").is_none());
        assert!(parts_of(b"a\x02\x01\x01").is_none());
        assert!(parts_of(b"12345678901234567890\x01").is_none());
        assert!(parts_of(b"\x03").is_none());
    }
}

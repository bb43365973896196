//! Reading a log level out of a line, as Loki's `extractLogLevelFromLogLine`
//! does: a JSON object is searched (document order, nested objects to a
//! depth) for a string field named like a level field; a logfmt line is
//! scanned for the level field earliest in the configured list (names
//! compared case-insensitively); a value that is a level word wins,
//! anything else falls back to scanning the whole line for the earliest
//! word-bounded level word (`error`, `warn`, `info`, …), `unknown` if none.
//!
//! Everything here works on the line's bytes without allocating, except
//! for a logfmt value or JSON key written with escapes (rare).

use std::borrow::Cow;

use super::{LEVEL_CRITICAL, LEVEL_DEBUG, LEVEL_ERROR, LEVEL_FATAL, LEVEL_INFO};
use super::{LEVEL_TRACE, LEVEL_UNKNOWN, LEVEL_WARN};

/// Spellings Loki recognises in a level field's value (ASCII
/// case-insensitive) and the level each stands for.
const VALUE_WORDS: [(&[u8], &str); 14] = [
    (b"trace", LEVEL_TRACE),
    (b"trc", LEVEL_TRACE),
    (b"debug", LEVEL_DEBUG),
    (b"dbg", LEVEL_DEBUG),
    (b"info", LEVEL_INFO),
    (b"inf", LEVEL_INFO),
    (b"information", LEVEL_INFO),
    (b"warn", LEVEL_WARN),
    (b"wrn", LEVEL_WARN),
    (b"warning", LEVEL_WARN),
    (b"error", LEVEL_ERROR),
    (b"err", LEVEL_ERROR),
    (b"critical", LEVEL_CRITICAL),
    (b"fatal", LEVEL_FATAL),
];

/// Words the whole-line scan looks for, in Loki's order (which only breaks
/// ties at one position; the boundary rules make such ties impossible).
const LINE_WORDS: [(&[u8], &str); 9] = [
    (b"trace", LEVEL_TRACE),
    (b"debug", LEVEL_DEBUG),
    (b"fatal", LEVEL_FATAL),
    (b"critical", LEVEL_CRITICAL),
    (b"error", LEVEL_ERROR),
    (b"err", LEVEL_ERROR),
    (b"warning", LEVEL_WARN),
    (b"warn", LEVEL_WARN),
    (b"info", LEVEL_INFO),
];

/// Nested objects deeper than this are not searched even when the
/// configured depth is unlimited (protects the stack from hostile lines).
const JSON_HARD_DEPTH: i64 = 64;

/// The level a field value names (`WARNING` → `warn`), if it is one.
pub(crate) fn level_word(value: &[u8]) -> Option<&'static str> {
    VALUE_WORDS
        .iter()
        .find(|(w, _)| value.eq_ignore_ascii_case(w))
        .map(|(_, level)| *level)
}

/// The level of a line with no level elsewhere: a JSON or logfmt level
/// field, else the whole-line word scan.
pub(crate) fn level_of_line(
    line: &[u8],
    fields: &[&str],
    keys: &KeyFilter,
    json_max_depth: i64,
) -> &'static str {
    let value = if is_json(line) {
        json_field(line, fields, json_max_depth).map(Cow::Borrowed)
    } else if memchr::memchr(b'=', line).is_some() {
        logfmt_field(line, fields, keys)
    } else {
        return scan_words(line);
    };
    value
        .and_then(|v| level_word(&v))
        .unwrap_or_else(|| scan_words(line))
}

/// Loki's `isJSON`: the first non-space character is `{` and the last
/// non-space byte is `}` (each byte read as Latin-1, as Go's loop does).
pub fn is_json(line: &[u8]) -> bool {
    let last = line.iter().rev().find(|&&b| !is_latin1_space(b));
    if last != Some(&b'}') {
        return false;
    }
    let mut rest = line;
    while let Some(&b) = rest.first() {
        if b.is_ascii() {
            if is_latin1_space(b) {
                rest = &rest[1..];
                continue;
            }
            return b == b'{';
        }
        // a non-ASCII character: skip it only if it is white space
        let Some(chunk) = rest.utf8_chunks().next() else {
            return false;
        };
        match chunk.valid().chars().next() {
            Some(c) if c.is_whitespace() => rest = &rest[c.len_utf8()..],
            _ => return false,
        }
    }
    false
}

fn is_latin1_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// The earliest word-bounded level word in the line (case-insensitive),
/// `unknown` if none. Where a word may start (a byte of
/// [`WORD_START_LOWER`], in either case, right after one of
/// [`LEFT_BOUNDARY_BYTES`], or first in the line) is found 16 bytes at a
/// time; only there are the words compared.
pub(crate) fn scan_words(line: &[u8]) -> &'static str {
    // bit 0 of the next window follows a boundary (the line's start is one)
    let mut carry = 1u32;
    let mut at = 0;
    while at < line.len() {
        let (starts, bounds) = match line.get(at..at + 16) {
            Some(w) => classes16(w),
            // zero padding is neither a word start nor a boundary
            None => classes16(&zero_padded16(&line[at..])),
        };
        let mut m = starts & (bounds << 1 | carry);
        carry = bounds >> 15 & 1;
        while m != 0 {
            let i = at + m.trailing_zeros() as usize;
            m &= m - 1;
            if let Some(level) = level_word_at(line, i) {
                return level;
            }
        }
        at += 16;
    }
    LEVEL_UNKNOWN
}

/// The (up to) 16 bytes of a line's last, partial window, then zeros.
fn zero_padded16(rest: &[u8]) -> [u8; 16] {
    let mut pad = [0u8; 16];
    for (d, s) in pad.iter_mut().zip(rest) {
        *d = *s;
    }
    pad
}

/// The level of the [`LINE_WORDS`] word at `i` that a right boundary (or
/// the end of the line) follows, if any.
fn level_word_at(line: &[u8], i: usize) -> Option<&'static str> {
    let rest = &line[i..];
    let first = rest.first()?.to_ascii_lowercase();
    LINE_WORDS
        .iter()
        .find(|(word, _)| {
            word[0] == first
                && rest.len() >= word.len()
                && rest[..word.len()].eq_ignore_ascii_case(word)
                && rest.get(word.len()).is_none_or(|&b| is_right_boundary(b))
        })
        .map(|(_, level)| *level)
}

/// For the 16 bytes of `w`: bit `i` of the first mask set when byte `i`
/// is one of [`WORD_START_LOWER`] in either case, of the second when it
/// is one of [`LEFT_BOUNDARY_BYTES`].
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn classes16(w: &[u8]) -> (u32, u32) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let w = &w[..16];
    // SAFETY: SSE2 is part of the x86_64 baseline, so every x86_64 CPU
    // runs these instructions; the load reads the 16 bytes of `w`
    // (checked by the slicing above).
    unsafe {
        let v = _mm_loadu_si128(w.as_ptr().cast::<__m128i>());
        let any_of = |v: __m128i, set: &[u8]| {
            set.iter().fold(_mm_set1_epi8(0), |acc, &c| {
                _mm_or_si128(acc, _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8)))
            })
        };
        // the starts are letters: folded to lower case (only `T` and `t`
        // fold to `t`, and so on)
        let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
        let starts = _mm_movemask_epi8(any_of(folded, WORD_START_LOWER)) as u16 as u32;
        let bounds = _mm_movemask_epi8(any_of(v, LEFT_BOUNDARY_BYTES)) as u16 as u32;
        (starts, bounds)
    }
}

/// [`classes16`] without SIMD.
#[cfg(any(not(target_arch = "x86_64"), test))]
fn classes16_scalar(w: &[u8]) -> (u32, u32) {
    w[..16].iter().enumerate().fold((0, 0), |(s, b), (i, &c)| {
        (
            s | u32::from(WORD_START[c as usize]) << i,
            b | u32::from(LEFT_BOUNDARY[c as usize]) << i,
        )
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn classes16(w: &[u8]) -> (u32, u32) {
    classes16_scalar(w)
}

/// The first letters of the [`LINE_WORDS`], lower case.
const WORD_START_LOWER: &[u8] = b"tdfcewi";
/// Bytes before a level word: white space, an opening bracket or quote, or
/// `=` (not `:`, so `misc:error` is no level); the start of the line too.
const LEFT_BOUNDARY_BYTES: &[u8] = b" \t\n[({\"=";

/// Bytes a level word of [`LINE_WORDS`] can start with (either case).
#[cfg(any(not(target_arch = "x86_64"), test))]
static WORD_START: [bool; 256] = byte_table(b"tdfcewiTDFCEWI");

/// [`LEFT_BOUNDARY_BYTES`] as a table.
#[cfg(any(not(target_arch = "x86_64"), test))]
static LEFT_BOUNDARY: [bool; 256] = byte_table(LEFT_BOUNDARY_BYTES);

/// After a level word: end of line, white space, brackets, `:` (`debug:`),
/// `,`, `!`, a quote or `=`.
fn is_right_boundary(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\n'
            | b'['
            | b']'
            | b'('
            | b')'
            | b'{'
            | b'}'
            | b':'
            | b','
            | b'!'
            | b'"'
            | b'='
    )
}

#[cfg(any(not(target_arch = "x86_64"), test))]
const fn byte_table(bytes: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
}

/// The value of the logfmt field whose name (case-insensitively) comes
/// earliest in `fields`, scanning the whole line; the scan stops at the
/// first syntax error, as Loki's decoder loop does.
pub(crate) fn logfmt_field<'a>(
    line: &'a [u8],
    fields: &[&str],
    keys: &KeyFilter,
) -> Option<Cow<'a, [u8]>> {
    // (a line that starts like a level field most likely is one: the
    // scan then finds it at once, without looking at the whole line first)
    if !keys.starts_like_a_name(line) && !keys.line_may_match(line) {
        return None;
    }
    logfmt_scan(line, fields, keys)
}

/// [`logfmt_field`] without the pre-check of the whole line.
fn logfmt_scan<'a>(line: &'a [u8], fields: &[&str], keys: &KeyFilter) -> Option<Cow<'a, [u8]>> {
    let mut best: Option<(usize, Option<Cow<'a, [u8]>>)> = None;
    let mut scan = Logfmt { line, pos: 0 };
    while let Some((key, value)) = scan.next_pair() {
        if !keys.may_match(key) {
            continue;
        }
        let limit = best.as_ref().map_or(fields.len(), |b| b.0);
        let hit = fields[..limit]
            .iter()
            .position(|f| key.eq_ignore_ascii_case(f.as_bytes()));
        if let Some(x) = hit {
            if x == 0 {
                return value;
            }
            best = Some((x, value));
        }
    }
    best.and_then(|(_, v)| v)
}

/// Quick tests ruling out most logfmt keys, and most lines, before
/// comparing keys with every level field name (ASCII case-insensitively):
/// a key can only match if some name has its length and first byte, and
/// a line only if it contains some name.
#[derive(Debug, Clone)]
pub(crate) struct KeyFilter {
    /// Bit `n` set: some name is `n` bytes long (bit 63: 63 or longer).
    lens: u64,
    /// Bytes some name starts with, in either case.
    firsts: [bool; 256],
    /// The names in lower case, without those holding another one
    /// (`log.level` holds `level`): a line with a key naming a level field
    /// contains one of these, ASCII case-insensitively.
    cores: Vec<Vec<u8>>,
    /// Per core its first (up to) 8 bytes as a little-endian word, the
    /// bits case folding sets there (0x20 at each letter) and the mask of
    /// its bytes: a line holds the core's prefix at `i` exactly when its 8
    /// bytes there, ORed with the fold bits and masked, equal the word.
    prefixes: Vec<(u64, u64, u64)>,
    /// The distinct first bytes of `cores`, when there are one or two and
    /// both are lower-case letters (what [`first_letters16`] looks for);
    /// else the line pre-check compares at every byte.
    letters: Option<(u8, u8)>,
    /// A letter (lower case) every core contains, the rarest in English
    /// text: a line without it in either case contains no core.
    common: Option<u8>,
}

/// Lower-case letters from the most to the least frequent in English text.
const LETTERS_BY_FREQUENCY: &[u8] = b"etaoinshrdlcumwfgypbvkjxqz";

impl KeyFilter {
    pub(crate) fn new(fields: &[&str]) -> Self {
        let mut f = KeyFilter {
            lens: 0,
            firsts: [false; 256],
            cores: Vec::new(),
            prefixes: Vec::new(),
            letters: None,
            common: None,
        };
        for name in fields {
            f.lens |= 1 << name.len().min(63);
            if let Some(&b) = name.as_bytes().first() {
                f.firsts[b.to_ascii_lowercase() as usize] = true;
                f.firsts[b.to_ascii_uppercase() as usize] = true;
            }
        }
        let mut lower: Vec<Vec<u8>> = fields
            .iter()
            .map(|n| n.as_bytes().to_ascii_lowercase())
            .collect();
        // shortest first: a name is kept unless a kept one is inside it
        lower.sort_by_key(Vec::len);
        lower.dedup();
        for name in lower {
            if !f
                .cores
                .iter()
                .any(|c| memchr::memmem::find(&name, c).is_some())
            {
                f.cores.push(name);
            }
        }
        f.prefixes = f
            .cores
            .iter()
            .map(|c| {
                let (mut word, mut fold, mut mask) = (0u64, 0u64, 0u64);
                for (k, &b) in c.iter().take(8).enumerate() {
                    word |= u64::from(b) << (8 * k);
                    mask |= 0xff << (8 * k);
                    if b.is_ascii_lowercase() {
                        fold |= 0x20 << (8 * k);
                    }
                }
                (word, fold, mask)
            })
            .collect();
        let letters = f
            .cores
            .iter()
            .all(|c| c.first().is_some_and(u8::is_ascii_lowercase));
        let mut firsts: Vec<u8> = f.cores.iter().filter_map(|c| c.first().copied()).collect();
        firsts.sort_unstable();
        firsts.dedup();
        f.letters = match firsts[..] {
            [a] if letters => Some((a, a)),
            [a, b] if letters => Some((a, b)),
            _ => None,
        };
        f.common = LETTERS_BY_FREQUENCY
            .iter()
            .rev()
            .copied()
            .find(|&l| !f.cores.is_empty() && f.cores.iter().all(|c| c.contains(&l)));
        f
    }

    fn may_match(&self, key: &[u8]) -> bool {
        self.lens & (1 << key.len().min(63)) != 0
            && key.first().is_some_and(|&b| self.firsts[b as usize])
    }

    /// Whether `line` starts with the first letter of some name (either
    /// case).
    fn starts_like_a_name(&self, line: &[u8]) -> bool {
        match (self.letters, line.first()) {
            (Some((a, b)), Some(&c)) => c | 0x20 == a || c | 0x20 == b,
            _ => false,
        }
    }

    /// Whether `line` contains some level field name, ASCII
    /// case-insensitively (else none of its keys names one). With the
    /// names' first letters known, only the bytes that are one of them (in
    /// either case) are compared, found 16 at a time.
    fn line_may_match(&self, line: &[u8]) -> bool {
        // (for the default names `v`: most lines without a level field
        // have none, and memchr finds that out fastest)
        if let Some(l) = self.common {
            if memchr::memchr2(l, l.to_ascii_uppercase(), line).is_none() {
                return false;
            }
        }
        let Some((a, b)) = self.letters else {
            return self.cores.iter().any(|c| contains_ignore_case(line, c));
        };
        // whether a core starts at `i`: its first 8 bytes compared in one
        // go, the rest (names over 8 bytes) byte by byte
        let core_at = |i: usize| {
            let rest = &line[i..];
            let w = match rest.get(..8) {
                Some(w) => u64::from_le_bytes(w.try_into().unwrap_or_default()),
                None => rest
                    .iter()
                    .enumerate()
                    .fold(0u64, |w, (k, &b)| w | u64::from(b) << (8 * k)),
            };
            self.cores
                .iter()
                .zip(&self.prefixes)
                .any(|(c, &(word, fold, mask))| {
                    (w | fold) & mask == word
                        && rest.len() >= c.len()
                        && rest[8.min(c.len())..c.len()].eq_ignore_ascii_case(&c[8.min(c.len())..])
                })
        };
        let mut at = 0;
        while at < line.len() {
            let mut m = match line.get(at..at + 16) {
                Some(w) => first_letters16(w, a, b),
                None => first_letters16(&zero_padded16(&line[at..]), a, b),
            };
            while m != 0 {
                let i = at + m.trailing_zeros() as usize;
                m &= m - 1;
                if core_at(i) {
                    return true;
                }
            }
            at += 16;
        }
        false
    }
}

/// Bit `i` set: byte `i` of the 16 in `w` is the ASCII letter `a` or `b`
/// (lower case) in either case. Padding zeros never match.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn first_letters16(w: &[u8], a: u8, b: u8) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let w = &w[..16];
    // SAFETY: SSE2 is part of the x86_64 baseline, so every x86_64 CPU
    // runs these instructions; the load reads the 16 bytes of `w`
    // (checked by the slicing above).
    unsafe {
        let v = _mm_loadu_si128(w.as_ptr().cast::<__m128i>());
        // letters folded to lower case (other bytes may change too, but
        // only upper- and lower-case `a` then equal `a`)
        let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
        let hits = _mm_or_si128(
            _mm_cmpeq_epi8(folded, _mm_set1_epi8(a as i8)),
            _mm_cmpeq_epi8(folded, _mm_set1_epi8(b as i8)),
        );
        _mm_movemask_epi8(hits) as u16 as u32
    }
}

/// [`first_letters16`] without SIMD.
#[cfg(not(target_arch = "x86_64"))]
fn first_letters16(w: &[u8], a: u8, b: u8) -> u32 {
    w[..16].iter().enumerate().fold(0, |m, (i, &c)| {
        let c = c | 0x20;
        m | u32::from(c == a || c == b) << i
    })
}

/// Whether `hay` contains `needle` (lower case), ASCII case-insensitively.
fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// A logfmt scanner with the acceptance rules of Loki's decoder.
struct Logfmt<'a> {
    line: &'a [u8],
    pos: usize,
}

/// A key and its value (`None` for a bare key, `key=` or `key=""`).
type Pair<'a> = (&'a [u8], Option<Cow<'a, [u8]>>);

impl<'a> Logfmt<'a> {
    /// The next pair, `None` at the end of the line or on a syntax error.
    fn next_pair(&mut self) -> Option<Pair<'a>> {
        let line = self.line;
        let skip = line[self.pos..].iter().position(|&c| c > b' ')?;
        let start = self.pos + skip;
        let mut i = start;
        while i < line.len() && line[i] != b'=' {
            match line[i] {
                b'"' => return None,
                c if c <= b' ' => {
                    self.pos = i;
                    return valid_key(&line[start..i]).then_some((&line[start..i], None));
                }
                _ => i += 1,
            }
        }
        let key = &line[start..i];
        self.pos = i;
        if i == line.len() {
            return valid_key(key).then_some((key, None));
        }
        if key.is_empty() || !valid_key(key) {
            return None;
        }
        // after '='
        self.pos += 1;
        match line.get(self.pos) {
            None => Some((key, None)),
            Some(&c) if c <= b' ' => Some((key, None)),
            Some(b'"') => self.quoted(key),
            Some(_) => {
                let vstart = self.pos;
                let end = line[vstart..]
                    .iter()
                    .position(|&c| c <= b' ' || c == b'=' || c == b'"')
                    .map_or(line.len(), |p| vstart + p);
                if end < line.len() && line[end] > b' ' {
                    return None; // '=' or '"' inside an unquoted value
                }
                self.pos = end;
                Some((key, Some(Cow::Borrowed(&line[vstart..end]))))
            }
        }
    }

    fn quoted(&mut self, key: &'a [u8]) -> Option<Pair<'a>> {
        let line = self.line;
        let body = self.pos + 1;
        let (mut escaped, mut has_escape) = (false, false);
        for p in body..line.len() {
            let c = line[p];
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                (escaped, has_escape) = (true, true);
            } else if c == b'"' {
                self.pos = p + 1;
                let raw = &line[body..p];
                if has_escape {
                    return unquote(raw).map(|v| (key, Some(Cow::Owned(v))));
                }
                return Some((key, (!raw.is_empty()).then_some(Cow::Borrowed(raw))));
            }
        }
        None // unterminated
    }
}

/// Loki's decoder refuses a key holding the replacement character.
fn valid_key(key: &[u8]) -> bool {
    key.is_ascii() || std::str::from_utf8(key).is_ok_and(|s| !s.contains('\u{FFFD}'))
}

/// Decodes the JSON-style escapes of a quoted logfmt value.
fn unquote(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let e = *s.get(i + 1)?;
        i += 2;
        let simple = match e {
            b'"' | b'\\' | b'/' | b'\'' => e,
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let (c, used) = unicode_escape(&s[i..])?;
                i += used;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            _ => return None,
        };
        out.push(simple);
    }
    Some(out)
}

/// `XXXX` (after `\u`), with a following `\uXXXX` low surrogate if any.
fn unicode_escape(s: &[u8]) -> Option<(char, usize)> {
    let hex4 = |b: &[u8]| {
        std::str::from_utf8(b.get(..4)?)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let hi = hex4(s)?;
    if (0xD800..0xDC00).contains(&hi) && s.get(4..6) == Some(b"\\u") {
        if let Some(lo) = hex4(&s[6..]).filter(|lo| (0xDC00..0xE000).contains(lo)) {
            let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            return Some((char::from_u32(cp).unwrap_or('\u{FFFD}'), 10));
        }
    }
    Some((char::from_u32(hi).unwrap_or('\u{FFFD}'), 4))
}

/// The raw (still escaped) value of the first string member, in document
/// order, whose key is exactly one of `fields`, searching nested objects
/// while their depth is below `max_depth` (the top object is depth 0;
/// `max_depth <= 0` means no limit). Malformed JSON ends the search with
/// what was found before it.
pub(crate) fn json_field<'a>(line: &'a [u8], fields: &[&str], max_depth: i64) -> Option<&'a [u8]> {
    let mut j = Json { b: line, pos: 0 };
    j.ws();
    j.object(0, fields, max_depth).ok().flatten()
}

/// A JSON cursor over one line.
struct Json<'a> {
    b: &'a [u8],
    pos: usize,
}

/// Malformed JSON.
struct Bad;

impl<'a> Json<'a> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), Bad> {
        self.ws();
        if self.b.get(self.pos) != Some(&c) {
            return Err(Bad);
        }
        self.pos += 1;
        Ok(())
    }

    /// A string at the cursor: its raw body and whether it has escapes.
    fn string(&mut self) -> Result<(&'a [u8], bool), Bad> {
        self.eat(b'"')?;
        let start = self.pos;
        let mut has_escape = false;
        while let Some(&c) = self.b.get(self.pos) {
            match c {
                b'\\' => {
                    has_escape = true;
                    self.pos += 2;
                }
                b'"' => {
                    self.pos += 1;
                    return Ok((&self.b[start..self.pos - 1], has_escape));
                }
                _ => self.pos += 1,
            }
        }
        Err(Bad)
    }

    /// Searches the object at the cursor (at `depth`).
    fn object(
        &mut self,
        depth: i64,
        fields: &[&str],
        max_depth: i64,
    ) -> Result<Option<&'a [u8]>, Bad> {
        self.eat(b'{')?;
        self.ws();
        if self.b.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(None);
        }
        loop {
            let (raw_key, escaped) = self.string()?;
            let key: Cow<[u8]> = if escaped {
                Cow::Owned(unquote(raw_key).ok_or(Bad)?)
            } else {
                Cow::Borrowed(raw_key)
            };
            self.eat(b':')?;
            self.ws();
            match self.b.get(self.pos) {
                Some(b'"') => {
                    let (value, _) = self.string()?;
                    if fields.iter().any(|f| f.as_bytes() == key.as_ref()) {
                        return Ok(Some(value));
                    }
                }
                Some(b'{')
                    if (max_depth <= 0 || depth + 1 < max_depth) && depth + 1 < JSON_HARD_DEPTH =>
                {
                    if let Some(v) = self.object(depth + 1, fields, max_depth)? {
                        return Ok(Some(v));
                    }
                }
                Some(_) => self.skip_value()?,
                None => return Err(Bad),
            }
            self.ws();
            match self.b.get(self.pos) {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(None);
                }
                _ => return Err(Bad),
            }
        }
    }

    /// Skips any value at the cursor (nesting tracked iteratively).
    fn skip_value(&mut self) -> Result<(), Bad> {
        match self.b.get(self.pos) {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                while let Some(&c) = self.b.get(self.pos) {
                    match c {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
                Err(Bad)
            }
            Some(_) => {
                let start = self.pos;
                while let Some(&c) = self.b.get(self.pos) {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(Bad);
                }
                Ok(())
            }
            None => Err(Bad),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{logfmt_field, logfmt_scan, KeyFilter};
    use super::{LEFT_BOUNDARY, LINE_WORDS, WORD_START};

    /// The whole-line scan byte by byte: what `scan_words` must answer.
    fn scan_words_reference(line: &[u8]) -> &'static str {
        let mut prev_bounds = true;
        for (i, &b) in line.iter().enumerate() {
            let starts = prev_bounds && WORD_START[b as usize];
            prev_bounds = LEFT_BOUNDARY[b as usize];
            if !starts {
                continue;
            }
            let rest = &line[i..];
            for (word, level) in LINE_WORDS {
                if word[0] == b.to_ascii_lowercase()
                    && rest.len() >= word.len()
                    && rest[..word.len()].eq_ignore_ascii_case(word)
                    && rest
                        .get(word.len())
                        .is_none_or(|&b| super::is_right_boundary(b))
                {
                    return level;
                }
            }
        }
        super::LEVEL_UNKNOWN
    }

    #[test]
    fn window_classes_flag_exactly_their_bytes() {
        for shift in 0..16 {
            for base in (0..256usize).step_by(16) {
                let w: Vec<u8> = (0..16)
                    .map(|i| ((base + (i + shift) % 16) % 256) as u8)
                    .collect();
                assert_eq!(super::classes16(&w), super::classes16_scalar(&w), "{w:?}");
            }
        }
    }

    #[test]
    fn scan_words_finds_what_the_byte_scan_finds() {
        let pieces: [&[u8]; 18] = [
            b" ",
            b"=",
            b"\"",
            b"[",
            b"(",
            b"{",
            b":",
            b"\t",
            b"x",
            b"Error",
            b"err",
            b"INFO",
            b"warning",
            b"debug!",
            b"traced",
            b"critical",
            b"fatal,",
            b"\xc3\xa9",
        ];
        let mut r = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            r
        };
        for _ in 0..20_000 {
            let mut line = Vec::new();
            // mostly filler, so that words fall at every offset of a window
            let n = next() % 12;
            for _ in 0..n {
                match next() % 4 {
                    0 => line.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]),
                    _ => line.extend(std::iter::repeat_n(
                        b'a' + (next() % 3) as u8,
                        (next() % 9) as usize,
                    )),
                }
            }
            assert_eq!(
                super::scan_words(&line),
                scan_words_reference(&line),
                "{:?}",
                String::from_utf8_lossy(&line)
            );
        }
        // a boundary closing one window, the word opening the next
        let mut line = vec![b'a'; 15];
        line.extend_from_slice(b" warn");
        assert_eq!(super::scan_words(&line), "warn");
        let mut line = vec![b'a'; 16];
        line.extend_from_slice(b"warn");
        assert_eq!(super::scan_words(&line), "unknown");
        assert_eq!(super::scan_words(b"error"), "error");
        assert_eq!(super::scan_words(b""), "unknown");
    }

    #[test]
    fn key_filter_cores_are_the_names_no_other_name_is_inside() {
        let keys = KeyFilter::new(super::super::DEFAULT_LOG_LEVEL_FIELDS);
        let cores: Vec<&[u8]> = keys.cores.iter().map(Vec::as_slice).collect();
        assert_eq!(cores, [&b"lvl"[..], b"level", b"severity"]);
        assert_eq!(keys.letters, Some((b'l', b's')));
        // every core has a `v`: lines without one are ruled out at once
        assert_eq!(keys.common, Some(b'v'));
        assert!(!keys.line_may_match(b"INFO [conn-1] query took 4ms rows=12"));
        assert!(keys.line_may_match(b"msg=x LeVeL=warn"));
        assert_eq!(KeyFilter::new(&["Level", "_x"]).common, None);
        assert_eq!(KeyFilter::new(&["level", ""]).common, None);
        assert_eq!(KeyFilter::new(&["lvl"]).common, Some(b'v'));
        // an empty name matches every line; a name not starting with a
        // letter, or three first letters, take the byte-by-byte way
        for fields in [&["a.b", "", "x"][..], &["_lvl"], &["a", "b", "c"]] {
            let keys = KeyFilter::new(fields);
            assert_eq!(keys.letters, None, "{fields:?}");
        }
        assert!(KeyFilter::new(&["a.b", "", "x"]).line_may_match(b"no such key"));
        let keys = KeyFilter::new(&["log.Level_x", "SEVERITY_TEXT_long", "l_V"]);
        assert_eq!(keys.letters, Some((b'l', b's')));
    }

    /// The line pre-check changes no answer: random lines over fragments
    /// of level field names in mixed case, separators and quotes, longer
    /// and shorter than one 16-byte step, under several field lists.
    #[test]
    fn the_line_pre_check_never_changes_the_answer() {
        let lists: [&[&str]; 5] = [
            &["level", "LEVEL", "log.level", "SeverityText", "lvl", "sev"],
            &["lvl"],
            &["Level", "_x"],
            &["a", "b", "c"],
            // names over 8 bytes, and bytes case folding must leave alone
            // (`_`) among a name's first 8 (the word compare)
            &["log.Level_x", "SEVERITY_TEXT_long", "l_V"],
        ];
        let parts: [&str; 22] = [
            "LeV",
            "el",
            "lvl",
            "LVL",
            "sEVerity",
            "text",
            "log.",
            "=",
            " ",
            "=",
            "\"",
            "info",
            "warn",
            "x",
            "Sev",
            "Level",
            "_X",
            "B",
            "_TEXT",
            "_long",
            "log.level_x=",
            "L_v=",
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for fields in lists {
            let keys = KeyFilter::new(fields);
            let (mut found, mut skipped) = (0, 0);
            for _ in 0..20_000 {
                let mut line = String::new();
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                for _ in 0..(x % 12 + 1) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    line.push_str(parts[(x % parts.len() as u64) as usize]);
                }
                let want = logfmt_scan(line.as_bytes(), fields, &keys);
                assert_eq!(
                    logfmt_field(line.as_bytes(), fields, &keys),
                    want,
                    "{line:?}"
                );
                found += usize::from(want.is_some());
                skipped += usize::from(!keys.line_may_match(line.as_bytes()));
            }
            assert!(found > 20 && skipped > 500, "{fields:?}: {found} {skipped}");
        }
    }
}

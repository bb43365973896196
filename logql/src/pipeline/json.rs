//! The `json` and `unpack` parsers and `json a="path"` extraction.
//!
//! The scanner mirrors the lenient, non-validating JSON reader Loki uses
//! (grafana/jsonparser): nested objects are flattened with `_`, arrays and
//! nulls are skipped, and a malformed line yields `__error__=JSONParserErr`
//! with that reader's error text in `__error_details__` (labels found before
//! the error stay).

use super::builder::{
    append_sanitized, is_label_name, sanitize_label_key, Cat, KeyHint, LabelsBuilder,
    DUPLICATE_SUFFIX,
};

pub(crate) const JSON_ERR: &str = "JSONParserErr";

mod path;
mod scan;

pub(crate) use path::JsonExtractor;
use scan::{object_each, read_value, unescape, JType, MALFORMED_ESCAPE};

/// `| json` with no parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct JsonParser;

impl JsonParser {
    /// Parses `line` into `lbs`. `shape` is the stream's [`JsonShape`]: a
    /// line laid out as the one it learnt is read through it.
    pub(crate) fn process(
        &self,
        line: &[u8],
        lbs: &mut LabelsBuilder,
        prefix: &mut String,
        name: &mut String,
        shape: Option<&mut JsonShape>,
    ) {
        let mut shape = shape;
        if let Some(s) = shape.as_deref_mut() {
            if s.read(line, lbs, name) {
                return;
            }
        }
        prefix.clear();
        match walk(line, prefix, lbs, name) {
            Ok(()) => {
                if let Some(s) = shape.filter(|s| s.worth_learning()) {
                    s.learn(line, lbs, name);
                }
            }
            Err(FOUND_ALL) => {}
            Err(e) => lbs.set_err(JSON_ERR, Some(e)),
        }
    }
}

/// The layout of a line `| json` read in full whose members were all
/// scalars, nulls or arrays: the bytes around its values (braces, keys,
/// colons, commas, whitespace) and the label each value becomes under the
/// query's hints. The walk's every step depends only on the bytes it is
/// looking at, so a later line with the very same bytes around values of
/// the same types gives the same labels in the same order: it is read by
/// comparing those bytes and scanning the values alone, with no key
/// lookups. Kept per stream and stage (lines of a stream mostly share one
/// layout); any other line takes the full walk, which may learn its layout
/// instead.
#[derive(Debug, Default)]
pub(crate) struct JsonShape {
    /// The bytes before each value, then those after the last one through
    /// the closing brace, back to back.
    seps: Vec<u8>,
    members: Vec<Member>,
    /// Where each value of the line being read lies (scratch).
    spans: Vec<(usize, usize)>,
    ready: bool,
    /// Layouts learnt, and lines read through one: a stream whose lines
    /// keep changing layout stops learning.
    learnt: u32,
    hits: u32,
}

#[derive(Debug)]
struct Member {
    /// End of the bytes before this value in `JsonShape::seps`.
    sep_end: usize,
    ty: JType,
    /// The label the value becomes (`None`: not needed).
    label: Option<Box<str>>,
}

impl JsonShape {
    /// Layouts learnt before a stream whose lines rarely repeat one stops.
    const TRIES: u32 = 8;
    /// The most members and bytes around them a layout keeps: a query over
    /// many streams of huge lines holds a small layout per stream, not a
    /// copy of a line (such lines take the walk).
    const MAX_MEMBERS: usize = 64;
    const MAX_SEP_BYTES: usize = 2048;

    fn worth_learning(&self) -> bool {
        self.learnt < Self::TRIES || self.hits >= Self::TRIES * self.learnt
    }

    /// Reads `line` through the learnt layout; false (and nothing set)
    /// when the line is not laid out so.
    #[inline]
    fn read(&mut self, line: &[u8], lbs: &mut LabelsBuilder, name: &mut String) -> bool {
        if !self.ready {
            return false;
        }
        self.spans.clear();
        let (mut pos, mut from) = (0, 0);
        for m in &self.members {
            let sep = &self.seps[from..m.sep_end];
            from = m.sep_end;
            if !line.get(pos..pos + sep.len()).is_some_and(|b| same(b, sep)) {
                return false;
            }
            pos += sep.len();
            let rest = &line[pos..];
            // strings, numbers and booleans as `get_value` finds them, when
            // they start right there
            let span = match (m.ty, rest.first()) {
                (JType::String, Some(b'"')) => match scan::string_end(&rest[1..]).0 {
                    Some(e) => (pos + 1, pos + e, pos + 1 + e),
                    None => return false,
                },
                (JType::Number, Some(b'0'..=b'9' | b'-')) => {
                    let e = pos + scan::token_end(rest);
                    (pos, e, e)
                }
                (JType::Boolean, Some(b't' | b'f')) => {
                    let e = scan::token_end(rest);
                    if !matches!(&rest[..e], b"true" | b"false") {
                        return false;
                    }
                    (pos, pos + e, pos + e)
                }
                _ => {
                    // as the walk does after a colon (whitespace skipped)
                    let Ok((v, ty, end)) = scan::get_value(rest) else {
                        return false;
                    };
                    if ty != m.ty {
                        return false;
                    }
                    let start = v.as_ptr() as usize - line.as_ptr() as usize;
                    (start, start + v.len(), pos + end)
                }
            };
            self.spans.push((span.0, span.1));
            pos = span.2;
        }
        let tail = &self.seps[from..];
        if !line
            .get(pos..pos + tail.len())
            .is_some_and(|b| same(b, tail))
        {
            return false;
        }
        self.hits = self.hits.saturating_add(1);
        for (m, &(a, b)) in self.members.iter().zip(&self.spans) {
            let Some(label) = &m.label else { continue };
            name.clear();
            name.push_str(label);
            let v = read_value(&line[a..b], m.ty);
            lbs.set_from_parser(name, &v);
            if lbs.all_hints_extracted() {
                break;
            }
        }
        true
    }

    /// Learns the layout of `line`, which the full walk just read to its
    /// end; a line with an object member (or none) is not learnt.
    fn learn(&mut self, line: &[u8], lbs: &LabelsBuilder, name: &mut String) {
        self.learnt = self.learnt.saturating_add(1);
        self.seps.clear();
        self.members.clear();
        self.ready = self.lay_out(line, lbs, name);
        if !self.ready {
            self.seps.clear();
            self.members.clear();
        }
    }

    /// Fills `seps` and `members` from `line`; false when it has no layout
    /// to keep (then they hold a part of one).
    fn lay_out(&mut self, line: &[u8], lbs: &LabelsBuilder, name: &mut String) -> bool {
        let base = line.as_ptr() as usize;
        let mut last = 0;
        let (seps, members) = (&mut self.seps, &mut self.members);
        let walked = object_each(line, &mut |key, value, ty| {
            let start = value.as_ptr() as usize - base;
            // a string's span holds its quotes, its value does not
            let (a, b) = match ty {
                JType::Object => return Err(""),
                JType::String => (start - 1, start + value.len() + 1),
                _ => (start, start + value.len()),
            };
            if members.len() == Self::MAX_MEMBERS || seps.len() + (a - last) > Self::MAX_SEP_BYTES {
                return Err("");
            }
            seps.extend_from_slice(&line[last..a]);
            let label = match ty {
                JType::String | JType::Number | JType::Boolean => {
                    top_level_name(key, lbs, name).then(|| name.as_str().into())
                }
                _ => None,
            };
            members.push(Member {
                sep_end: seps.len(),
                ty,
                label,
            });
            last = b;
            Ok(())
        });
        if walked.is_err() || self.members.is_empty() {
            return false;
        }
        let Some(close) = scan::next_token(&line[last..]).map(|i| last + i) else {
            return false;
        };
        if line[close] != b'}' || self.seps.len() + (close + 1 - last) > Self::MAX_SEP_BYTES {
            return false;
        }
        self.seps.extend_from_slice(&line[last..=close]);
        true
    }
}

/// Whether `a` and `b` (as long) hold the same bytes: a few word compares
/// for the short runs between values, without a call to `memcmp`.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        u64::from_le_bytes(w)
    };
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    // the last word, overlapping the one before when `n` is not a multiple
    word(a, n - 8) == word(b, n - 8)
}

/// The label the top-level scalar member `key` becomes, written to `name`;
/// false when the query needs no such label.
#[inline]
fn top_level_name(key: &[u8], lbs: &LabelsBuilder, name: &mut String) -> bool {
    name.clear();
    // under parser hints: decide on the raw bytes, copy only a hint
    match lbs.key_hint(key) {
        KeyHint::Wanted(h) => {
            name.push_str(h);
            return true;
        }
        KeyHint::Skip => return false,
        KeyHint::Unknown => {}
    }
    if is_label_name(key) {
        // a plain key is its own label name: ask before copying
        let key = std::str::from_utf8(key).unwrap_or_default();
        if !lbs.wants(key) {
            return false;
        }
        name.push_str(key);
        return true;
    }
    append_sanitized(name, &String::from_utf8_lossy(key), true);
    lbs.wants(name)
}

/// Not an error: every needed label was found, stop reading the line (as
/// Loki's `errFoundAllLabels` short-circuits its JSON parser).
const FOUND_ALL: &str = "found all needed labels";

#[inline]
fn found_all(lbs: &LabelsBuilder) -> std::result::Result<(), &'static str> {
    if lbs.all_hints_extracted() {
        Err(FOUND_ALL)
    } else {
        Ok(())
    }
}

fn walk(
    obj: &[u8],
    prefix: &mut String,
    lbs: &mut LabelsBuilder,
    name: &mut String,
) -> std::result::Result<(), &'static str> {
    object_each(obj, &mut |key, value, ty| {
        let scalar = matches!(ty, JType::String | JType::Number | JType::Boolean);
        if scalar && prefix.is_empty() {
            if !top_level_name(key, lbs, name) {
                return Ok(());
            }
            let v = read_value(value, ty);
            lbs.set_from_parser(name, &v);
            return found_all(lbs);
        }
        let key = String::from_utf8_lossy(key);
        match ty {
            JType::String | JType::Number | JType::Boolean => {
                name.clear();
                name.push_str(prefix);
                name.push('_');
                append_sanitized(name, &key, false);
                if !lbs.wants(name) {
                    return Ok(());
                }
                let v = read_value(value, ty);
                lbs.set_from_parser(name, &v);
                found_all(lbs)
            }
            JType::Object => {
                let len = prefix.len();
                let lead = prefix.is_empty();
                if !lead {
                    prefix.push('_');
                }
                append_sanitized(prefix, &key, lead);
                let r = if lbs.wants_prefix(prefix) {
                    walk(value, prefix, lbs, name)
                } else {
                    Ok(())
                };
                prefix.truncate(len);
                r
            }
            JType::Array | JType::Null => Ok(()),
        }
    })
}

/// `| unpack`: string members become labels, `_entry` replaces the line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Unpacker;

impl Unpacker {
    /// Returns the new line when an `_entry` member was found.
    pub(crate) fn process(&self, line: &[u8], lbs: &mut LabelsBuilder) -> Option<Vec<u8>> {
        if line.is_empty() {
            return None;
        }
        if line[0] != b'{' {
            lbs.set_err(JSON_ERR, Some("expecting json object(6), but it is not"));
            return None;
        }
        let mut entry: Option<Vec<u8>> = None;
        let mut pairs: Vec<(String, String)> = Vec::new();
        let res = object_each(line, &mut |key, v, ty| {
            if ty != JType::String {
                return Ok(());
            }
            if key == b"_entry" {
                entry = Some(unescape(v).ok_or(MALFORMED_ESCAPE)?);
                return Ok(());
            }
            let mut field = String::from_utf8_lossy(key).into_owned();
            if lbs.base_has(&field) || lbs.has_in(Cat::Meta, &field) {
                field.push_str(DUPLICATE_SUFFIX);
            }
            let value = read_value(v, ty).into_owned();
            pairs.push((sanitize_label_key(&field, true), value));
            Ok(())
        });
        if let Err(e) = res {
            lbs.set_err(JSON_ERR, Some(e));
            return None;
        }
        let entry = entry?;
        for (k, v) in pairs {
            lbs.set(Cat::Parsed, &k, &v);
        }
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::labels::Labels;

    /// Parses `line` through `shape` (as a stream's stage does) and
    /// returns the labels it set.
    fn parse(shape: &mut JsonShape, line: &str) -> Vec<(String, String)> {
        let mut lbs = LabelsBuilder::new(Labels::new(vec![]));
        let (mut prefix, mut name) = (String::new(), String::new());
        JsonParser.process(
            line.as_bytes(),
            &mut lbs,
            &mut prefix,
            &mut name,
            Some(shape),
        );
        let mut out = Vec::new();
        lbs.for_each(|_, k, v| out.push((k.to_string(), v.to_string())));
        out
    }

    #[test]
    fn a_stream_learns_a_layout_and_reads_lines_laid_out_alike() {
        let mut shape = JsonShape::default();
        parse(&mut shape, r#"{"a": "x", "n": 1}"#);
        assert!(shape.ready);
        let got = parse(&mut shape, r#"{"a": "y\"z", "n": -2.5}"#);
        assert_eq!(shape.hits, 1);
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(got, [pair("a", "y\"z"), pair("n", "-2.5")]);
        // another layout: walked, and learnt in its place
        let got = parse(&mut shape, r#"{"n": 3, "a": "w"}"#);
        assert_eq!((shape.hits, shape.learnt), (1, 2));
        assert_eq!(got, [pair("n", "3"), pair("a", "w")]);
    }

    #[test]
    fn layouts_past_the_caps_are_not_learnt() {
        let many: Vec<String> = (0..JsonShape::MAX_MEMBERS + 1)
            .map(|i| format!("\"k{i}\": {i}"))
            .collect();
        let long_key = "k".repeat(JsonShape::MAX_SEP_BYTES);
        for line in [
            format!("{{{}}}", many.join(", ")),
            format!("{{\"{long_key}\": 1}}"),
            format!("{{\"a\": 1{}}}", " ".repeat(JsonShape::MAX_SEP_BYTES)),
        ] {
            let mut shape = JsonShape::default();
            let got = parse(&mut shape, &line);
            assert!(!got.is_empty());
            assert!(!shape.ready);
            assert!(shape.seps.len() <= JsonShape::MAX_SEP_BYTES);
            assert!(shape.members.len() <= JsonShape::MAX_MEMBERS);
            // the walk still reads such lines
            assert_eq!(parse(&mut shape, &line), got);
        }
        // at the caps a layout is learnt
        let fits: Vec<String> = (0..JsonShape::MAX_MEMBERS)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect();
        let mut shape = JsonShape::default();
        parse(&mut shape, &format!("{{{}}}", fits.join(",")));
        assert!(shape.ready);
    }
}

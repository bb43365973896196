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
    pub(crate) fn process(
        &self,
        line: &[u8],
        lbs: &mut LabelsBuilder,
        prefix: &mut String,
        name: &mut String,
    ) {
        prefix.clear();
        match walk(line, prefix, lbs, name) {
            Err(FOUND_ALL) | Ok(()) => {}
            Err(e) => lbs.set_err(JSON_ERR, Some(e)),
        }
    }
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
            // under parser hints: decide on the raw bytes, copy only a hint
            match lbs.key_hint(key) {
                KeyHint::Wanted(h) => {
                    name.clear();
                    name.push_str(h);
                    let v = read_value(value, ty);
                    lbs.set_from_parser(name, &v);
                    return found_all(lbs);
                }
                KeyHint::Skip => return Ok(()),
                KeyHint::Unknown => {}
            }
        }
        if scalar && prefix.is_empty() && is_label_name(key) {
            // a plain top-level key is its own label name: ask before copying
            let key = std::str::from_utf8(key).unwrap_or_default();
            if !lbs.wants(key) {
                return Ok(());
            }
            name.clear();
            name.push_str(key);
            let v = read_value(value, ty);
            lbs.set_from_parser(name, &v);
            return found_all(lbs);
        }
        let key = String::from_utf8_lossy(key);
        match ty {
            JType::String | JType::Number | JType::Boolean => {
                name.clear();
                if prefix.is_empty() {
                    append_sanitized(name, &key, true);
                } else {
                    name.push_str(prefix);
                    name.push('_');
                    append_sanitized(name, &key, false);
                }
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

//! The per-stream label builder: Loki's `LabelsBuilder` with label categories.
//!
//! Each entry starts from the stream labels (`base`); stages add structured
//! metadata, parsed labels, renames and deletions, and set `__error__` /
//! `__error_details__`. Category precedence is parsed > structured metadata >
//! stream, exactly as Loki's `Set` does. Buffers are reused across entries so
//! that a steady-state entry allocates only for new label values.

use crate::labels::Labels;

pub(crate) const ERROR_LABEL: &str = "__error__";
pub(crate) const ERROR_DETAILS_LABEL: &str = "__error_details__";
pub(crate) const DUPLICATE_SUFFIX: &str = "_extracted";

/// Label category, in Loki's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cat {
    Stream = 0,
    Meta = 1,
    Parsed = 2,
}

/// A list of `(name, value)` pairs whose string buffers survive `clear`.
#[derive(Default, Debug)]
pub(crate) struct Slots {
    items: Vec<(String, String)>,
    len: usize,
}

impl Slots {
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    pub(crate) fn live(&self) -> &[(String, String)] {
        &self.items[..self.len]
    }

    #[inline]
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.live().iter().position(|(n, _)| n == name)
    }

    #[inline]
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.position(name).map(|i| self.items[i].1.as_str())
    }

    /// Sets `name` to `value`, reusing a dead slot's buffers when possible.
    pub(crate) fn set(&mut self, name: &str, value: &str) {
        if let Some(i) = self.position(name) {
            let v = &mut self.items[i].1;
            v.clear();
            v.push_str(value);
            return;
        }
        self.push_new(name, value);
    }

    /// Appends a name known not to be present.
    #[inline]
    pub(crate) fn push_new(&mut self, name: &str, value: &str) {
        if self.len < self.items.len() {
            let (n, v) = &mut self.items[self.len];
            n.clear();
            n.push_str(name);
            v.clear();
            v.push_str(value);
        } else {
            self.items.push((name.to_string(), value.to_string()));
        }
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, name: &str) {
        if self.len == 0 {
            return;
        }
        if let Some(i) = self.position(name) {
            self.items[i..self.len].rotate_left(1);
            self.len -= 1;
        }
    }
}

/// A parser's fast decision for one key under parser hints.
#[derive(Debug, PartialEq)]
pub(crate) enum KeyHint<'h> {
    /// The key is a valid label name equal to this hint: extract it.
    Wanted(&'h str),
    /// The key is a valid label name no hint names: skip it.
    Skip,
    /// No hints, or the key needs sanitising: take the general path.
    Unknown,
}

/// The label state of one entry as it moves through the stages.
#[derive(Debug)]
pub(crate) struct LabelsBuilder {
    pub(crate) base: Labels,
    pub(crate) add: [Slots; 3],
    del: Vec<String>,
    del_len: usize,
    pub(crate) err: String,
    pub(crate) err_details: String,
    /// Parsed labels deleted again during this entry. A name set as a parsed
    /// label (still in `add[Parsed]` or listed here) is never overwritten by
    /// a later parser (Loki's `ParserHint.Extracted`).
    extracted_deleted: Slots,
    /// When set, the only labels a metric query needs: `json`/`logfmt`
    /// skip every other key (Loki's parser hints).
    hints: Option<std::sync::Arc<Vec<String>>>,
    /// Bit `c` set when some hint starts with the ASCII letter `c`.
    hint_initials: u128,
}

impl LabelsBuilder {
    pub(crate) fn new(base: Labels) -> Self {
        LabelsBuilder {
            base,
            add: [Slots::default(), Slots::default(), Slots::default()],
            del: Vec::new(),
            del_len: 0,
            err: String::new(),
            err_details: String::new(),
            extracted_deleted: Slots::default(),
            hints: None,
            hint_initials: 0,
        }
    }

    pub(crate) fn set_hints(&mut self, hints: Option<std::sync::Arc<Vec<String>>>) {
        self.hint_initials = 0;
        for h in hints.iter().flat_map(|h| h.iter()) {
            if let Some(&c) = h.as_bytes().first().filter(|c| c.is_ascii_alphabetic()) {
                self.hint_initials |= 1 << c;
            }
        }
        self.hints = hints;
    }

    /// Whether a parser should extract the (sanitised) key `name`.
    #[inline]
    pub(crate) fn wants(&self, name: &str) -> bool {
        match &self.hints {
            None => true,
            Some(h) => h.iter().any(|x| x == name),
        }
    }

    /// What a parser should do with the raw key `key` of a top-level value,
    /// decided on bytes before any copy: see [`KeyHint`].
    #[inline]
    pub(crate) fn key_hint(&self, key: &[u8]) -> KeyHint<'_> {
        let Some(h) = &self.hints else {
            return KeyHint::Unknown;
        };
        // a key starting with an ASCII letter sanitises to a name starting
        // with that letter: no hint starts so, no hint can match
        if let Some(&c) = key.first().filter(|c| c.is_ascii_alphabetic()) {
            if self.hint_initials & (1 << c) == 0 {
                return KeyHint::Skip;
            }
        }
        if !is_label_name(key) {
            return KeyHint::Unknown;
        }
        // a valid label name sanitises to itself
        match h.iter().find(|x| x.as_bytes() == key) {
            Some(x) => KeyHint::Wanted(x),
            None => KeyHint::Skip,
        }
    }

    /// Whether every needed label (parser hint) was extracted by a parser
    /// for this entry: Loki's `AllRequiredExtracted`, after which parsers
    /// stop reading the line. Never true without hints.
    #[inline]
    pub(crate) fn all_hints_extracted(&self) -> bool {
        match &self.hints {
            Some(h) if !h.is_empty() => h.iter().all(|x| self.has_in(Cat::Parsed, x)),
            _ => false,
        }
    }

    /// Whether any needed label starts with the JSON object prefix `p`.
    pub(crate) fn wants_prefix(&self, p: &str) -> bool {
        match &self.hints {
            None => true,
            Some(h) => h.iter().any(|x| x.starts_with(p)),
        }
    }

    /// Clears all per-entry state.
    pub(crate) fn reset(&mut self) {
        for s in &mut self.add {
            s.clear();
        }
        self.del_len = 0;
        self.extracted_deleted.clear();
        self.err.clear();
        self.err_details.clear();
    }

    /// Whether nothing changed since `reset`.
    pub(crate) fn is_unchanged(&self) -> bool {
        self.del_len == 0
            && self.add.iter().all(|s| s.len == 0)
            && self.err.is_empty()
            && self.err_details.is_empty()
    }

    #[inline]
    pub(crate) fn base_has(&self, name: &str) -> bool {
        self.base_get(name).is_some()
    }

    /// A stream label's value. Stream label sets are small: a scan that
    /// compares lengths first beats a binary search of string compares.
    #[inline]
    fn base_get(&self, name: &str) -> Option<&str> {
        if self.base.len() > 16 {
            return self.base.get(name);
        }
        self.base
            .iter()
            .find(|(k, _)| k.len() == name.len() && *k == name)
            .map(|(_, v)| v)
    }

    #[inline]
    pub(crate) fn has_in(&self, cat: Cat, name: &str) -> bool {
        self.add[cat as usize].contains(name)
    }

    pub(crate) fn deleted(&self) -> &[String] {
        &self.del[..self.del_len]
    }

    pub(crate) fn has_err(&self) -> bool {
        !self.err.is_empty()
    }

    pub(crate) fn set_err(&mut self, err: &str, details: Option<&str>) {
        self.err.clear();
        self.err.push_str(err);
        if let Some(d) = details {
            self.err_details.clear();
            self.err_details.push_str(d);
        }
    }

    /// Loki's `Get`: added labels first, then deleted, then the base value
    /// (an empty base value counts as missing).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        for s in &self.add {
            if let Some(v) = s.get(name) {
                return Some(v);
            }
        }
        if self.deleted().iter().any(|d| d == name) {
            return None;
        }
        self.base_get(name).filter(|v| !v.is_empty())
    }

    /// The category `get` would find `name` in.
    pub(crate) fn get_with_cat(&self, name: &str) -> Option<(String, Cat)> {
        for (i, s) in self.add.iter().enumerate() {
            if let Some(v) = s.get(name) {
                let cat = match i {
                    0 => Cat::Stream,
                    1 => Cat::Meta,
                    _ => Cat::Parsed,
                };
                return Some((v.to_string(), cat));
            }
        }
        if self.deleted().iter().any(|d| d == name) {
            return None;
        }
        self.base
            .get(name)
            .filter(|v| !v.is_empty())
            .map(|v| (v.to_string(), Cat::Stream))
    }

    /// A label value as filters and templates see it; the error labels are
    /// answered from the error state.
    pub(crate) fn value(&self, name: &str) -> &str {
        match name {
            ERROR_LABEL => &self.err,
            ERROR_DETAILS_LABEL => &self.err_details,
            _ => self.get(name).unwrap_or(""),
        }
    }

    /// Loki's `Set` with category precedence parsed > metadata > stream.
    pub(crate) fn set(&mut self, cat: Cat, name: &str, value: &str) {
        match cat {
            Cat::Parsed => {
                self.add[Cat::Meta as usize].remove(name);
                self.add[Cat::Stream as usize].remove(name);
            }
            Cat::Meta => {
                self.add[Cat::Stream as usize].remove(name);
                if self.has_in(Cat::Parsed, name) {
                    return;
                }
            }
            Cat::Stream => {
                if self.has_in(Cat::Meta, name) || self.has_in(Cat::Parsed, name) {
                    return;
                }
            }
        }
        self.add[cat as usize].set(name, value);
    }

    /// How parsers add a label: `name` (already sanitised) gets the
    /// `_extracted` suffix when it clashes with a stream label or structured
    /// metadata, and a name an earlier parser already extracted is kept.
    pub(crate) fn set_from_parser(&mut self, name: &mut String, value: &str) {
        if name.is_empty() {
            return;
        }
        if self.base_has(name) || self.has_in(Cat::Meta, name) {
            name.push_str(DUPLICATE_SUFFIX);
        }
        if self.has_in(Cat::Parsed, name) || self.extracted_deleted.contains(name) {
            return;
        }
        // a new parsed label: only other categories may hold the name
        self.add[Cat::Meta as usize].remove(name);
        self.add[Cat::Stream as usize].remove(name);
        self.add[Cat::Parsed as usize].push_new(name, value);
    }

    /// Adds structured metadata; names clashing with stream labels get the
    /// `_extracted` suffix, `__error__`/`__error_details__` set the error.
    /// Invalid names are sanitised first (`a-b` becomes `a_b`).
    pub(crate) fn add_metadata(&mut self, pairs: &[(String, String)]) {
        for (k, v) in pairs {
            if self.unneeded_metadata(k) {
                continue;
            }
            let valid = crate::labels::is_valid_label_name(k);
            if !valid || self.base_has(k) {
                let mut name = if valid {
                    k.clone()
                } else {
                    sanitize_label_key(k, true)
                };
                if self.base_has(&name) {
                    name.push_str(DUPLICATE_SUFFIX);
                }
                self.add_metadata_one(&name, v);
            } else {
                self.add_metadata_one(k, v);
            }
        }
    }

    /// With parser hints (a metric query grouped `by` labels, whose stages
    /// read no label beyond the hints), a structured metadata label that is
    /// not needed cannot reach the result: it is skipped. Error labels and
    /// names that need sanitising are always added.
    fn unneeded_metadata(&self, k: &str) -> bool {
        match &self.hints {
            Some(h) => {
                k != ERROR_LABEL
                    && k != ERROR_DETAILS_LABEL
                    && !h.iter().any(|x| x == k)
                    && crate::labels::is_valid_label_name(k)
            }
            None => false,
        }
    }

    fn add_metadata_one(&mut self, name: &str, value: &str) {
        match name {
            ERROR_LABEL => {
                self.err.clear();
                self.err.push_str(value);
            }
            ERROR_DETAILS_LABEL => {
                self.err_details.clear();
                self.err_details.push_str(value);
            }
            _ => self.set(Cat::Meta, name, value),
        }
    }

    pub(crate) fn del(&mut self, name: &str) {
        if self.has_in(Cat::Parsed, name) && !self.extracted_deleted.contains(name) {
            self.extracted_deleted.push_new(name, "");
        }
        for s in &mut self.add {
            s.remove(name);
        }
        if self.del_len < self.del.len() {
            let d = &mut self.del[self.del_len];
            d.clear();
            d.push_str(name);
        } else {
            self.del.push(name.to_string());
        }
        self.del_len += 1;
    }

    /// Visits every current label (unsorted; error labels last), as Loki's
    /// `UnsortedLabels` lists them. Stream labels renamed into the stream
    /// category (label_format `dst=src` on a stream label) are kept too.
    pub(crate) fn for_each<'s>(&'s self, mut f: impl FnMut(Cat, &'s str, &'s str)) {
        let meta = &self.add[Cat::Meta as usize];
        let parsed = &self.add[Cat::Parsed as usize];
        let stream_add = &self.add[Cat::Stream as usize];
        for (k, v) in self.base.iter() {
            if self.deleted().iter().any(|d| d == k) || meta.contains(k) || parsed.contains(k) {
                continue;
            }
            f(Cat::Stream, k, stream_add.get(k).unwrap_or(v));
        }
        for (k, v) in stream_add.live() {
            if !self.base_has(k) {
                f(Cat::Stream, k, v);
            }
        }
        for (k, v) in meta.live() {
            if !parsed.contains(k) {
                f(Cat::Meta, k, v);
            }
        }
        for (k, v) in parsed.live() {
            f(Cat::Parsed, k, v);
        }
        if !self.err.is_empty() {
            f(Cat::Parsed, ERROR_LABEL, &self.err);
        }
        if !self.err_details.is_empty() {
            f(Cat::Parsed, ERROR_DETAILS_LABEL, &self.err_details);
        }
    }
}

/// Loki's `sanitizeLabelKey`: trims spaces, prefixes a leading digit with
/// `_` (for a first key segment) and maps every other invalid rune to `_`.
pub(crate) fn sanitize_label_key(key: &str, is_prefix: bool) -> String {
    let mut out = String::with_capacity(key.len() + 1);
    append_sanitized(&mut out, key, is_prefix);
    out
}

/// Whether `key` is a valid label name (`[A-Za-z_][A-Za-z0-9_]*`), which
/// `append_sanitized` leaves unchanged.
#[inline]
pub(crate) fn is_label_name(key: &[u8]) -> bool {
    key.first().is_some_and(|c| !c.is_ascii_digit())
        && key.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Appends `key` sanitised; a leading digit gets `_` when `lead` is true.
pub(crate) fn append_sanitized(out: &mut String, key: &str, lead: bool) {
    let key = key.trim();
    if key.is_empty() {
        return;
    }
    if lead && key.as_bytes()[0].is_ascii_digit() {
        out.push('_');
    }
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push('_');
        }
    }
}

/// Replaces U+FFFD and every invalid UTF-8 byte of a parsed value with a
/// space, as Loki does (Prometheus rejects the replacement rune).
#[inline]
pub(crate) fn clean_value(v: &[u8]) -> std::borrow::Cow<'_, str> {
    if v.is_ascii() {
        // ASCII holds no U+FFFD; from_utf8 cannot fail here
        return std::borrow::Cow::Borrowed(std::str::from_utf8(v).unwrap_or_default());
    }
    if let Ok(s) = std::str::from_utf8(v) {
        if !s.contains('\u{FFFD}') {
            return std::borrow::Cow::Borrowed(s);
        }
    }
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let (ok, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(ok).unwrap_or_default());
                out.push(' ');
                // Go decodes an invalid sequence one byte at a time
                rest = &bad[1..];
            }
        }
    }
    std::borrow::Cow::Owned(out.replace('\u{FFFD}', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_exactly_what_sanitising_keeps() {
        for key in [
            "level", "_x", "a1_b", "1a", "a-b", "a b", " a", "", "é", "a.b",
        ] {
            let unchanged = sanitize_label_key(key, true) == key;
            assert_eq!(
                is_label_name(key.as_bytes()),
                unchanged && !key.is_empty(),
                "{key:?}"
            );
        }
    }

    fn base() -> Labels {
        Labels::new(vec![
            ("app".into(), "api".into()),
            ("env".into(), "prod".into()),
        ])
    }

    #[test]
    fn precedence_and_delete() {
        let mut b = LabelsBuilder::new(base());
        b.set(Cat::Meta, "trace", "t1");
        b.set(Cat::Parsed, "trace", "p1");
        b.set(Cat::Meta, "trace", "t2");
        assert_eq!(b.get("trace"), Some("p1"));
        b.del("app");
        assert_eq!(b.get("app"), None);
        let mut seen = vec![];
        b.for_each(|_, k, v| seen.push(format!("{k}={v}")));
        assert_eq!(seen, vec!["env=prod", "trace=p1"]);
        b.reset();
        assert!(b.is_unchanged());
        assert_eq!(b.get("app"), Some("api"));
    }

    #[test]
    fn metadata_clash_gets_suffix() {
        let mut b = LabelsBuilder::new(base());
        b.add_metadata(&[("app".into(), "x".into()), ("__error__".into(), "E".into())]);
        assert_eq!(b.get("app_extracted"), Some("x"));
        assert_eq!(b.err, "E");
    }

    #[test]
    fn invalid_utf8_becomes_spaces() {
        assert_eq!(clean_value("b\u{FFFD}r".as_bytes()), "b r");
        assert_eq!(clean_value(b"a\xe2\x82z"), "a  z");
        assert_eq!(clean_value(b"plain"), "plain");
    }

    #[test]
    fn sanitize() {
        assert_eq!(sanitize_label_key(" 1a-b.c ", true), "_1a_b_c");
        assert_eq!(sanitize_label_key("é", true), "_");
        assert_eq!(sanitize_label_key("1a", false), "1a");
    }
}

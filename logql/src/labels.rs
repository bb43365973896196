//! Label sets and label matchers: the vocabulary shared by every crate.
//!
//! A stream is identified by a tenant plus a sorted, de-duplicated label set.
//! Its fingerprint is a stable 64-bit hash of the canonical form, so it can
//! appear in object keys and WAL records and survive restarts.

use std::fmt;

use regex::Regex;

/// A sorted list of `(name, value)` pairs with unique names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set, sorting by name; a later duplicate name wins.
    pub fn new(mut pairs: Vec<(String, String)>) -> Self {
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        // keep the last of equal names, as Prometheus' builder does
        let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for p in pairs {
            match out.last_mut() {
                Some(last) if last.0 == p.0 => *last = p,
                _ => out.push(p),
            }
        }
        Labels(out)
    }

    /// Wraps pairs that are already sorted by name with unique names.
    pub fn from_sorted(pairs: Vec<(String, String)>) -> Self {
        debug_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        Labels(pairs)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// Stable 64-bit fingerprint of the canonical label set.
    pub fn fingerprint(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for (k, v) in &self.0 {
            h.update(k.as_bytes());
            h.update(&[0xff]);
            h.update(v.as_bytes());
            h.update(&[0xfe]);
        }
        h.digest()
    }

    /// Whether every matcher accepts this label set (a missing label is "").
    pub fn matches(&self, matchers: &[Matcher]) -> bool {
        matchers
            .iter()
            .all(|m| m.matches(self.get(&m.name).unwrap_or("")))
    }
}

impl fmt::Display for Labels {
    /// Loki's canonical form: `{a="b", c="d"}` with Go-style escaping.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}=")?;
            write_quoted(f, v)?;
        }
        f.write_str("}")
    }
}

/// Writes `s` as a double-quoted Go string literal (what Loki prints).
pub fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// How a matcher compares a label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Eq,
    Neq,
    Re,
    Nre,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        }
    }
}

/// `name op "value"`; regex matchers are anchored at both ends as in Prometheus.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl std::hash::Hash for Matcher {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.op.hash(state);
        self.value.hash(state);
    }
}

impl Matcher {
    /// Builds a matcher; fails only when a regex matcher's pattern is invalid.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, regex::Error> {
        let value = value.into();
        let re = match op {
            MatchOp::Re | MatchOp::Nre => Some(Regex::new(&format!("^(?s:{value})$"))?),
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            re,
        })
    }

    pub fn matches(&self, v: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Eq, _) => v == self.value,
            (MatchOp::Neq, _) => v != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(v),
            (MatchOp::Nre, Some(re)) => !re.is_match(v),
            // regex ops always carry a compiled regex (see `new`)
            (_, None) => false,
        }
    }

    /// Whether this matcher accepts the empty string (i.e. a missing label).
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, self.op.as_str())?;
        write_quoted(f, &self.value)
    }
}

/// Whether `name` is a valid Prometheus/Loki label name.
pub fn is_valid_label_name(name: &str) -> bool {
    // bytes, not chars: any byte of a multi-byte character fails both tests
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sorts_and_prints() {
        let l = Labels::new(vec![("b".into(), "x\"y".into()), ("a".into(), "1".into())]);
        assert_eq!(l.to_string(), r#"{a="1", b="x\"y"}"#);
        assert_eq!(l.get("b"), Some("x\"y"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn fingerprint_is_stable_and_distinct() {
        let a = Labels::new(vec![("a".into(), "bc".into())]);
        let b = Labels::new(vec![("ab".into(), "c".into())]);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }

    #[test]
    fn regex_matchers_are_anchored() {
        let m = Matcher::new("app", MatchOp::Re, "ap").unwrap();
        assert!(!m.matches("api"));
        let m = Matcher::new("app", MatchOp::Re, "ap.*").unwrap();
        assert!(m.matches("api"));
        assert!(!Matcher::new("x", MatchOp::Re, ".+")
            .unwrap()
            .matches_empty());
    }
}

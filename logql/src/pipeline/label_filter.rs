//! Label filters: string matchers, numbers, durations, bytes and `ip()`,
//! combined with and/or. A value that does not convert sets
//! `__error__=LabelFilterErr` (with Go's error text as details) and lets the
//! entry through, as Loki does; a missing label fails the comparison.

use super::builder::LabelsBuilder;
use super::convert::{parse_bytes, parse_duration, parse_float};
use super::ip::IpMatcher;
use super::line_filter::compile_go_regex;
use crate::ast::{CmpOp, LabelFilter};
use crate::labels::{MatchOp, Matcher};
use crate::{Error, Result};

pub(crate) const LABEL_FILTER_ERR: &str = "LabelFilterErr";

/// A compiled label filter.
#[derive(Debug, Clone)]
pub(crate) enum LabelFilterer {
    And(Box<LabelFilterer>, Box<LabelFilterer>),
    Or(Box<LabelFilterer>, Box<LabelFilterer>),
    /// `=` / `!=`.
    String(Matcher),
    /// `=~` / `!~` with Loki's label-regex semantics.
    Regex {
        name: String,
        negated: bool,
        m: LabelRegex,
    },
    Number {
        name: String,
        op: CmpOp,
        value: f64,
    },
    Duration {
        name: String,
        op: CmpOp,
        value: i64,
    },
    Bytes {
        name: String,
        op: CmpOp,
        value: u64,
    },
    Ip {
        name: String,
        negated: bool,
        ip: IpMatcher,
    },
}

fn cmp<T: PartialOrd>(op: CmpOp, a: T, b: T) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Neq => a != b,
        CmpOp::Gt => a > b,
        CmpOp::Gte => a >= b,
        CmpOp::Lt => a < b,
        CmpOp::Lte => a <= b,
    }
}

impl LabelFilterer {
    pub(crate) fn compile(f: &LabelFilter) -> Result<LabelFilterer> {
        Ok(match f {
            LabelFilter::And(a, b) => {
                LabelFilterer::And(Box::new(Self::compile(a)?), Box::new(Self::compile(b)?))
            }
            LabelFilter::Or(a, b) => {
                LabelFilterer::Or(Box::new(Self::compile(a)?), Box::new(Self::compile(b)?))
            }
            LabelFilter::Paren(inner) => Self::compile(inner)?,
            LabelFilter::String(m) => match m.op {
                MatchOp::Eq | MatchOp::Neq => LabelFilterer::String(m.clone()),
                MatchOp::Re | MatchOp::Nre => LabelFilterer::Regex {
                    name: m.name.clone(),
                    negated: m.op == MatchOp::Nre,
                    m: LabelRegex::compile(&m.value)?,
                },
            },
            LabelFilter::Number { name, op, value } => LabelFilterer::Number {
                name: name.clone(),
                op: *op,
                value: *value,
            },
            LabelFilter::Duration { name, op, value } => LabelFilterer::Duration {
                name: name.clone(),
                op: *op,
                value: *value,
            },
            LabelFilter::Bytes { name, op, value } => LabelFilterer::Bytes {
                name: name.clone(),
                op: *op,
                value: *value,
            },
            LabelFilter::Ip {
                name,
                negated,
                pattern,
            } => LabelFilterer::Ip {
                name: name.clone(),
                negated: *negated,
                ip: IpMatcher::parse(pattern).map_err(Error::BadQuery)?,
            },
        })
    }

    /// Whether the entry passes; may set `__error__` on a conversion failure.
    pub(crate) fn process(&self, lbs: &mut LabelsBuilder) -> bool {
        match self {
            LabelFilterer::And(a, b) => {
                let l = a.process(lbs);
                let r = b.process(lbs);
                l && r
            }
            LabelFilterer::Or(a, b) => a.process(lbs) || b.process(lbs),
            LabelFilterer::String(m) => m.matches(lbs.value(&m.name)),
            LabelFilterer::Regex { name, negated, m } => m.matches(lbs.value(name)) != *negated,
            LabelFilterer::Number { name, op, value } => {
                let Some(v) = lbs.get(name) else { return false };
                match parse_float(v) {
                    Ok(x) => cmp(*op, x, *value),
                    Err(e) => conversion_error(lbs, &e),
                }
            }
            LabelFilterer::Duration { name, op, value } => {
                let Some(v) = lbs.get(name) else { return false };
                match parse_duration(v) {
                    Ok(x) => cmp(*op, x, *value),
                    Err(e) => conversion_error(lbs, &e),
                }
            }
            LabelFilterer::Bytes { name, op, value } => {
                let Some(v) = lbs.get(name) else { return false };
                match parse_bytes(v) {
                    Ok(x) => cmp(*op, x, *value),
                    Err(e) => conversion_error(lbs, &e),
                }
            }
            LabelFilterer::Ip { name, negated, ip } => {
                if lbs.has_err() {
                    return true;
                }
                let Some(v) = lbs.get(name) else { return false };
                ip.matches_line(v.as_bytes()) != *negated
            }
        }
    }
}

/// A label regex as Loki evaluates it: `""` and `.*` match everything
/// (Loki simplifies them to an always-true filter), `.+` any non-empty
/// value, anything else the whole value (`^(?:re)$`, `.` not matching `\n`).
#[derive(Debug, Clone)]
pub(crate) enum LabelRegex {
    Any,
    NonEmpty,
    Re(regex::bytes::Regex),
}

impl LabelRegex {
    fn compile(src: &str) -> Result<LabelRegex> {
        Ok(match src {
            "" | ".*" => LabelRegex::Any,
            ".+" => LabelRegex::NonEmpty,
            _ => LabelRegex::Re(compile_go_regex(&format!("^(?:{src})$"))?),
        })
    }

    fn matches(&self, v: &str) -> bool {
        match self {
            LabelRegex::Any => true,
            LabelRegex::NonEmpty => !v.is_empty(),
            LabelRegex::Re(re) => re.is_match(v.as_bytes()),
        }
    }
}

fn conversion_error(lbs: &mut LabelsBuilder, details: &str) -> bool {
    if !lbs.has_err() {
        lbs.set_err(LABEL_FILTER_ERR, Some(details));
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]
    use super::*;
    use crate::labels::{Labels, MatchOp};
    use crate::pipeline::builder::Cat;

    fn builder(pairs: &[(&str, &str)]) -> LabelsBuilder {
        let mut b = LabelsBuilder::new(Labels::new(vec![("app".into(), "api".into())]));
        for (k, v) in pairs {
            b.set(Cat::Parsed, k, v);
        }
        b
    }

    fn num(name: &str, op: CmpOp, value: f64) -> LabelFilter {
        LabelFilter::Number {
            name: name.into(),
            op,
            value,
        }
    }

    #[test]
    fn numbers_durations_bytes() {
        let cases: Vec<(LabelFilter, &[(&str, &str)], bool, &str)> = vec![
            (
                num("status", CmpOp::Gte, 500.0),
                &[("status", "503")],
                true,
                "",
            ),
            (
                num("status", CmpOp::Gte, 500.0),
                &[("status", "404")],
                false,
                "",
            ),
            (num("status", CmpOp::Gte, 500.0), &[], false, ""),
            (
                num("status", CmpOp::Gt, 1.0),
                &[("status", "abc")],
                true,
                "LabelFilterErr",
            ),
            (
                LabelFilter::Duration {
                    name: "d".into(),
                    op: CmpOp::Gt,
                    value: 1_000_000_000,
                },
                &[("d", "1500ms")],
                true,
                "",
            ),
            (
                LabelFilter::Duration {
                    name: "d".into(),
                    op: CmpOp::Gt,
                    value: 1_000_000_000,
                },
                &[("d", "900ms")],
                false,
                "",
            ),
            (
                LabelFilter::Bytes {
                    name: "b".into(),
                    op: CmpOp::Gt,
                    value: 100_000,
                },
                &[("b", "101327B")],
                true,
                "",
            ),
            (
                LabelFilter::Bytes {
                    name: "b".into(),
                    op: CmpOp::Gt,
                    value: 100_000,
                },
                &[("b", "10292B")],
                false,
                "",
            ),
        ];
        for (f, pairs, want, err) in cases {
            let mut b = builder(pairs);
            let c = LabelFilterer::compile(&f).unwrap();
            assert_eq!(c.process(&mut b), want, "{f:?} {pairs:?}");
            assert_eq!(b.err, err);
        }
    }

    #[test]
    fn error_details_and_or() {
        let mut b = builder(&[("status", "x")]);
        let f = LabelFilterer::compile(&num("status", CmpOp::Eq, 1.0)).unwrap();
        assert!(f.process(&mut b));
        assert_eq!(
            b.err_details,
            r#"strconv.ParseFloat: parsing "x": invalid syntax"#
        );
        let or = LabelFilter::Or(
            Box::new(num("status", CmpOp::Eq, 404.0)),
            Box::new(num("status", CmpOp::Eq, 400.0)),
        );
        let f = LabelFilterer::compile(&or).unwrap();
        assert!(f.process(&mut builder(&[("status", "400")])));
        assert!(!f.process(&mut builder(&[("status", "200")])));
        let s = LabelFilter::String(Matcher::new("__error__", MatchOp::Eq, "").unwrap());
        let f = LabelFilterer::compile(&s).unwrap();
        assert!(f.process(&mut builder(&[])));
        let mut e = builder(&[]);
        e.set_err("JSONParserErr", None);
        assert!(!f.process(&mut e));
    }

    #[test]
    fn label_regexes() {
        let re = |name: &str, op: MatchOp, v: &str| {
            LabelFilterer::compile(&LabelFilter::String(Matcher::new(name, op, v).unwrap()))
                .unwrap()
        };
        let cases: &[(&str, MatchOp, &str, &str, bool)] = &[
            ("foo", MatchOp::Re, "", "x", true),
            ("foo", MatchOp::Nre, "", "x", false),
            ("foo", MatchOp::Re, ".*", "a\nb", true),
            ("foo", MatchOp::Re, "a.*", "a\nb", false),
            ("foo", MatchOp::Re, ".+", "", false),
            ("foo", MatchOp::Re, "(?i)hello", "HELLO", true),
            ("foo", MatchOp::Re, "hel", "hello", false),
            ("foo", MatchOp::Re, "warn|error", "error", true),
            ("foo", MatchOp::Nre, "warn|error", "info", true),
            ("foo", MatchOp::Re, r"\d+", "٣", false),
        ];
        for (name, op, v, value, want) in cases {
            let mut b = builder(&[(name, value)]);
            assert_eq!(
                re(name, *op, v).process(&mut b),
                *want,
                "{name}{op:?}{v:?} on {value:?}"
            );
        }
    }
}

//! Loki 3's ingest conveniences: `service_name` discovery and
//! `detected_level` detection.
//!
//! **Service name** (`limits_config.discover_service_name`): a stream
//! without a `service_name` label gets one, valued from the first label of
//! the list the stream has, else `unknown_service`. Loki does this while
//! parsing the push, so the label set it validates, caches, hashes and
//! quotes in messages is the one with `service_name`; an empty list turns
//! it off, and once a stream of the push carries `__aggregated_metric__`,
//! that stream and every later one of the push are left alone.
//!
//! **Detected level** (`discover_log_levels`, only while structured
//! metadata is allowed): every accepted entry gets a `detected_level`
//! structured metadata pair, from the first source that has one:
//! 1. the entry already has `detected_level`: its value is normalised in
//!    place and nothing is added;
//! 2. a stream label named like a level field (`log_level_fields`, in list
//!    order: `level`, `LEVEL`, `Level`, …);
//! 3. the entry's structured metadata under such a name;
//! 4. the entry's `severity_number` (OTLP), mapped by the OTLP bands;
//! 5. the line: a JSON or logfmt level field, else the earliest
//!    word-bounded level word, else `unknown` ([`line`]).
//!
//! Values from 1–3 are normalised (`WARNING`, `wrn` → `warn`; `inf`,
//! `information` → `info`; …); a value that is no level word is kept as it
//! is. Field names are exact in labels, metadata and JSON, and
//! case-insensitive in logfmt.
//!
//! Where this differs from Loki:
//! - the added `detected_level` is not counted in the push's accepted
//!   bytes (Loki counts received bytes before detection too, but its rate
//!   limiter sees lines only);
//! - nested JSON is searched at most 64 objects deep even with an
//!   unlimited `log_level_from_json_max_depth`; XML lines are not parsed;
//! - case-insensitive comparisons are ASCII-only (Go folds a few non-ASCII
//!   letters, e.g. `ſ` = `s`, which only matters for logfmt key names).

mod line;

use std::sync::Arc;

use sluice_logql::labels::{write_quoted, Labels};
use sluice_proto::logproto::{EntryAdapter, LabelPairAdapter, PStr};

use crate::label_cache::ParsedLabels;
use crate::limits::Limits;

pub use line::is_json;

/// The label service name discovery adds.
pub const LABEL_SERVICE_NAME: &str = "service_name";
/// Its value when no label of the list is present.
pub const SERVICE_UNKNOWN: &str = "unknown_service";
/// Marks Loki's aggregated-metric streams, which discovery leaves alone.
pub const AGGREGATED_METRIC_LABEL: &str = "__aggregated_metric__";
/// The structured metadata name level detection writes.
pub const DETECTED_LEVEL: &str = "detected_level";
/// Structured metadata an OTLP record's severity number arrives under.
pub const OTLP_SEVERITY_NUMBER: &str = "severity_number";

/// Loki's default `log_level_fields`, in precedence order.
pub const DEFAULT_LOG_LEVEL_FIELDS: &[&str] = &[
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
    "severity_text",
    "Severity_Text",
    "SEVERITY_TEXT",
];

pub const LEVEL_TRACE: &str = "trace";
pub const LEVEL_DEBUG: &str = "debug";
pub const LEVEL_INFO: &str = "info";
pub const LEVEL_WARN: &str = "warn";
pub const LEVEL_ERROR: &str = "error";
pub const LEVEL_CRITICAL: &str = "critical";
pub const LEVEL_FATAL: &str = "fatal";
pub const LEVEL_UNKNOWN: &str = "unknown";

/// `service_name` discovery over the streams of one push, in push order.
pub struct ServiceNames<'a> {
    sources: &'a [String],
    aggregated_seen: bool,
}

impl<'a> ServiceNames<'a> {
    pub fn new(limits: &'a Limits) -> Self {
        ServiceNames {
            sources: &limits.discover_service_name,
            aggregated_seen: false,
        }
    }

    /// The label set to validate and store for a stream: `parsed` itself,
    /// or a copy with `service_name` added, in which case `raw` (the
    /// stream's label string, quoted in validation messages) becomes its
    /// rendering, as in Loki.
    pub fn apply(&mut self, parsed: Arc<ParsedLabels>, raw: &mut String) -> Arc<ParsedLabels> {
        if self.sources.is_empty() {
            return parsed;
        }
        let has = |name: &str| parsed.pairs.iter().any(|(n, _)| n == name);
        self.aggregated_seen = self.aggregated_seen || has(AGGREGATED_METRIC_LABEL);
        if self.aggregated_seen || has(LABEL_SERVICE_NAME) {
            return parsed;
        }
        let value = service_name_for(&parsed.pairs, self.sources);
        let (with, rendered) = add_label(&parsed, LABEL_SERVICE_NAME, value);
        *raw = rendered;
        Arc::new(with)
    }
}

/// The `service_name` a label set (sorted, no empty values) gets: the
/// value of the first label of `sources` it has, else `unknown_service`.
pub fn service_name_for<'p>(pairs: &'p [(String, String)], sources: &[String]) -> &'p str {
    sources
        .iter()
        .find_map(|s| pairs.iter().find(|(n, _)| n == s).map(|(_, v)| v.as_str()))
        .unwrap_or(SERVICE_UNKNOWN)
}

/// `parsed` with `name="value"` inserted in order, and its rendering.
/// A set with a duplicate name keeps it (validation refuses the stream)
/// and gets no canonical form or fingerprint, like [`ParsedLabels::parse`].
fn add_label(parsed: &ParsedLabels, name: &str, value: &str) -> (ParsedLabels, String) {
    let mut pairs = Vec::with_capacity(parsed.pairs.len() + 1);
    let at = parsed.pairs.partition_point(|(n, _)| n.as_str() < name);
    pairs.extend_from_slice(&parsed.pairs[..at]);
    pairs.push((name.to_string(), value.to_string()));
    pairs.extend_from_slice(&parsed.pairs[at..]);
    if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
        let rendered = render(&pairs);
        let with = ParsedLabels {
            pairs,
            canonical: String::new(),
            hash: 0,
        };
        return (with, rendered);
    }
    let labels = Labels::from_sorted(pairs);
    let canonical = labels.to_string();
    let hash = labels.fingerprint();
    let with = ParsedLabels {
        pairs: labels.into_pairs(),
        canonical: canonical.clone(),
        hash,
    };
    (with, canonical)
}

/// `{a="b", c="d"}` for pairs that may repeat a name.
fn render(pairs: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push('=');
        // writing to a String cannot fail
        let _ = write_quoted(&mut out, v);
    }
    out.push('}');
    out
}

/// `detected_level` detection under one tenant's limits.
pub struct Levels<'a> {
    /// Level field names in precedence order; empty = detection off.
    fields: Vec<&'a str>,
    /// Pre-check of logfmt keys against `fields`.
    keys: line::KeyFilter,
    json_max_depth: i64,
}

impl<'a> Levels<'a> {
    pub fn new(limits: &'a Limits) -> Self {
        if !limits.discover_log_levels || !limits.allow_structured_metadata {
            return Levels {
                fields: Vec::new(),
                keys: line::KeyFilter::new(&[]),
                json_max_depth: 0,
            };
        }
        let fields = if limits.log_level_fields.is_empty() {
            DEFAULT_LOG_LEVEL_FIELDS.to_vec()
        } else {
            limits.log_level_fields.iter().map(String::as_str).collect()
        };
        Levels {
            keys: line::KeyFilter::new(&fields),
            fields,
            json_max_depth: limits.log_level_from_json_max_depth,
        }
    }

    /// Whether detection is on.
    pub fn enabled(&self) -> bool {
        !self.fields.is_empty()
    }

    /// Gives each entry of a stream (`stream_labels` sorted, no empty
    /// values) its `detected_level`.
    pub fn apply(&self, stream_labels: &[(String, String)], entries: &mut [EntryAdapter]) {
        if !self.enabled() {
            return;
        }
        let from_stream = self
            .first_field(stream_labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .map(|i| level_pstr(&stream_labels[i].1, || stream_labels[i].1.as_str().into()));
        for e in entries {
            self.apply_entry(from_stream.as_ref(), e);
        }
    }

    fn apply_entry(&self, from_stream: Option<&PStr>, e: &mut EntryAdapter) {
        let sm = &mut e.structured_metadata;
        let mut empty_slot = None;
        for (i, p) in sm.iter_mut().enumerate() {
            if p.name != DETECTED_LEVEL {
                continue;
            }
            if p.value.is_empty() {
                // Loki drops empty metadata before detecting; reuse the pair
                empty_slot.get_or_insert(i);
                continue;
            }
            if let Some(level) = line::level_word(p.value.as_bytes()) {
                if p.value != level {
                    p.value = PStr::from_static(level);
                }
            }
            return;
        }
        let level = match from_stream {
            Some(level) => level.clone(),
            None => self.level_of_entry(sm, &e.line),
        };
        match empty_slot {
            Some(i) => sm[i].value = level,
            None => {
                // most entries have no other metadata: a one-pair vector
                sm.reserve_exact(1);
                sm.push(LabelPairAdapter::new(
                    PStr::from_static(DETECTED_LEVEL),
                    level,
                ));
            }
        }
    }

    /// Steps 3–5 for an entry whose stream has no level label.
    /// Levels are static strings (no allocation), other field values
    /// share the metadata's bytes.
    fn level_of_entry(&self, sm: &[LabelPairAdapter], line: &[u8]) -> PStr {
        let pairs = sm.iter().map(|p| (p.name.as_str(), p.value.as_str()));
        if let Some(i) = self.first_field(pairs) {
            return level_pstr(&sm[i].value, || sm[i].value.clone());
        }
        let severity = sm
            .iter()
            .find(|p| p.name == OTLP_SEVERITY_NUMBER && !p.value.is_empty());
        PStr::from_static(match severity {
            Some(p) => severity_level(&p.value),
            None => line::level_of_line(line, &self.fields, &self.keys, self.json_max_depth),
        })
    }

    /// The level an entry gets (what [`Levels::apply`] would write),
    /// `None` when it already has a `detected_level` or detection is off.
    #[cfg(test)]
    fn detect(
        &self,
        stream_labels: &[(String, String)],
        sm: &[LabelPairAdapter],
        line: &[u8],
    ) -> Option<String> {
        let mut e = EntryAdapter {
            timestamp: None,
            line: bytes::Bytes::copy_from_slice(line),
            structured_metadata: sm.to_vec(),
            parsed: vec![],
        };
        let before = e.structured_metadata.len();
        self.apply(stream_labels, std::slice::from_mut(&mut e));
        (e.structured_metadata.len() > before).then(|| {
            e.structured_metadata
                .pop()
                .map(|p| p.value.into())
                .unwrap_or_default()
        })
    }

    /// The index among `pairs` of the first level field (in list order)
    /// with a non-empty value.
    fn first_field<'p>(&self, pairs: impl Iterator<Item = (&'p str, &'p str)>) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for (i, (name, value)) in pairs.enumerate() {
            if value.is_empty() {
                continue;
            }
            let limit = best.map_or(self.fields.len(), |b| b.0);
            if let Some(x) = self.fields[..limit].iter().position(|f| *f == name) {
                best = Some((x, i));
            }
        }
        best.map(|(_, i)| i)
    }
}

/// A level field's value as `detected_level`: [`normalize`]d, a level word
/// as its static level, anything else as `kept()`.
fn level_pstr(value: &str, kept: impl FnOnce() -> PStr) -> PStr {
    match line::level_word(value.as_bytes()) {
        Some(level) => PStr::from_static(level),
        None => kept(),
    }
}

/// A level field's value normalised: a level word becomes its level
/// (`WaRn` → `warn`); anything else is kept.
pub fn normalize(value: &str) -> &str {
    line::level_word(value.as_bytes()).unwrap_or(value)
}

/// The level of an OTLP severity number (`severity_number` metadata):
/// 1–4 trace, 5–8 debug, 9–12 info, 13–16 warn, 17–20 error, 21–24 fatal,
/// 0 or above 24 unknown; not a number: info (as Loki).
pub fn severity_level(number: &str) -> &'static str {
    let Ok(n) = number.parse::<i64>() else {
        return LEVEL_INFO;
    };
    match n {
        0 => LEVEL_UNKNOWN,
        i64::MIN..=4 => LEVEL_TRACE,
        5..=8 => LEVEL_DEBUG,
        9..=12 => LEVEL_INFO,
        13..=16 => LEVEL_WARN,
        17..=20 => LEVEL_ERROR,
        21..=24 => LEVEL_FATAL,
        _ => LEVEL_UNKNOWN,
    }
}

#[cfg(test)]
#[path = "discover_tests.rs"]
mod tests;

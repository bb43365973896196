//! Loki's per-stream and per-entry validation rules, with its messages:
//! label-set checks (`ValidateLabels`), entry checks (`ValidateEntry`: age,
//! future, line length, structured metadata) and the grouping of many
//! failures into one response text (`util.GroupedErrors`).

use std::collections::HashMap;

use sluice_proto::logproto::{EntryAdapter, LabelPairAdapter};

use crate::limits::Limits;
use crate::time_fmt::format_rfc3339;

/// `service_name` is not counted against `max_label_names_per_series`.
const LABEL_SERVICE_NAME: &str = "service_name";

/// Why a stream or entry was refused; `as_str()` is Loki's `reason` label
/// value for `discarded_samples_total` / `discarded_bytes_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiscardReason {
    MissingLabels,
    MaxLabelNamesPerSeries,
    LabelNameTooLong,
    LabelValueTooLong,
    DuplicateLabelNames,
    GreaterThanMaxSampleAge,
    TooFarInFuture,
    LineTooLong,
    DisallowedStructuredMetadata,
    StructuredMetadataTooLarge,
    StructuredMetadataTooMany,
}

impl DiscardReason {
    pub const ALL: [DiscardReason; 11] = [
        DiscardReason::MissingLabels,
        DiscardReason::MaxLabelNamesPerSeries,
        DiscardReason::LabelNameTooLong,
        DiscardReason::LabelValueTooLong,
        DiscardReason::DuplicateLabelNames,
        DiscardReason::GreaterThanMaxSampleAge,
        DiscardReason::TooFarInFuture,
        DiscardReason::LineTooLong,
        DiscardReason::DisallowedStructuredMetadata,
        DiscardReason::StructuredMetadataTooLarge,
        DiscardReason::StructuredMetadataTooMany,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DiscardReason::MissingLabels => "missing_labels",
            DiscardReason::MaxLabelNamesPerSeries => "max_label_names_per_series",
            DiscardReason::LabelNameTooLong => "label_name_too_long",
            DiscardReason::LabelValueTooLong => "label_value_too_long",
            DiscardReason::DuplicateLabelNames => "duplicate_label_names",
            DiscardReason::GreaterThanMaxSampleAge => "greater_than_max_sample_age",
            DiscardReason::TooFarInFuture => "too_far_in_future",
            DiscardReason::LineTooLong => "line_too_long",
            DiscardReason::DisallowedStructuredMetadata => "disallowed_structured_metadata",
            DiscardReason::StructuredMetadataTooLarge => "structured_metadata_too_large",
            DiscardReason::StructuredMetadataTooMany => "structured_metadata_too_many",
        }
    }

    fn with(self, msg: String) -> Refusal {
        (self, msg)
    }
}

/// A refusal: its reason and Loki's message.
pub type Refusal = (DiscardReason, String);

/// Lines and bytes (line + structured metadata) refused, per reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discarded([(u64, u64); 11]);

impl Discarded {
    pub fn add(&mut self, reason: DiscardReason, lines: u64, bytes: u64) {
        let slot = &mut self.0[reason as usize];
        slot.0 += lines;
        slot.1 += bytes;
    }

    /// `(lines, bytes)` refused for `reason`.
    pub fn get(&self, reason: DiscardReason) -> (u64, u64) {
        self.0[reason as usize]
    }

    /// Total lines refused.
    pub fn lines(&self) -> u64 {
        self.0.iter().map(|s| s.0).sum()
    }

    /// Reasons with something refused, with `(lines, bytes)`.
    pub fn iter(&self) -> impl Iterator<Item = (DiscardReason, u64, u64)> + '_ {
        DiscardReason::ALL
            .iter()
            .map(|r| (*r, self.0[*r as usize].0, self.0[*r as usize].1))
            .filter(|(_, l, _)| *l > 0)
    }
}

/// The limits of one tenant resolved against one push's clock.
pub struct ValidationContext {
    reject_old_samples: bool,
    /// Oldest accepted timestamp (ns).
    oldest_ns: i64,
    /// Newest accepted timestamp (ns).
    newest_ns: i64,
    max_line_size: usize,
    pub(crate) max_line_size_truncate: bool,
    max_label_names_per_series: usize,
    max_label_name_length: usize,
    max_label_value_length: usize,
    allow_structured_metadata: bool,
    max_structured_metadata_size: usize,
    max_structured_metadata_count: usize,
    pub(crate) increment_duplicate_timestamp: bool,
}

fn duration_ns(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl ValidationContext {
    pub fn new(limits: &Limits, now_ns: i64) -> Self {
        ValidationContext {
            reject_old_samples: limits.reject_old_samples,
            oldest_ns: now_ns.saturating_sub(duration_ns(limits.reject_old_samples_max_age)),
            newest_ns: now_ns.saturating_add(duration_ns(limits.creation_grace_period)),
            max_line_size: limits.max_line_size,
            max_line_size_truncate: limits.max_line_size_truncate,
            max_label_names_per_series: limits.max_label_names_per_series,
            max_label_name_length: limits.max_label_name_length,
            max_label_value_length: limits.max_label_value_length,
            allow_structured_metadata: limits.allow_structured_metadata,
            max_structured_metadata_size: limits.max_structured_metadata_size,
            max_structured_metadata_count: limits.max_structured_metadata_entries_count,
            increment_duplicate_timestamp: limits.increment_duplicate_timestamp,
        }
    }

    /// Cuts lines longer than `max_line_size` (when truncation is on).
    /// Returns how many lines were cut.
    pub fn truncate_lines(&self, entries: &mut [EntryAdapter]) -> usize {
        let max = self.max_line_size;
        if !self.max_line_size_truncate || max == 0 {
            return 0;
        }
        let mut cut = 0;
        for e in entries.iter_mut().filter(|e| e.line.len() > max) {
            e.line.truncate(max);
            cut += 1;
        }
        cut
    }

    /// Checks a parsed label set, sorted by name with empty values removed.
    /// `raw` is the stream's label string as received (Loki quotes it).
    pub fn validate_labels(&self, raw: &str, sorted: &[(String, String)]) -> Result<(), Refusal> {
        if sorted.is_empty() {
            return Err(DiscardReason::MissingLabels
                .with("error at least one label pair is required per stream".to_string()));
        }
        let mut names = sorted.len();
        if sorted.iter().any(|(n, _)| n == LABEL_SERVICE_NAME) {
            names -= 1;
        }
        if names > self.max_label_names_per_series {
            return Err(DiscardReason::MaxLabelNamesPerSeries.with(format!(
                "entry for stream '{raw}' has {names} label names; limit {}",
                self.max_label_names_per_series
            )));
        }
        let mut last = "";
        for (name, value) in sorted {
            if name.len() > self.max_label_name_length {
                return Err(DiscardReason::LabelNameTooLong
                    .with(format!("stream '{raw}' has label name too long: '{name}'")));
            }
            if value.len() > self.max_label_value_length {
                return Err(DiscardReason::LabelValueTooLong.with(format!(
                    "stream '{raw}' has label value too long: '{value}'"
                )));
            }
            if name == last {
                return Err(DiscardReason::DuplicateLabelNames
                    .with(format!("stream '{raw}' has duplicate label name: '{name}'")));
            }
            last = name;
        }
        Ok(())
    }

    /// Checks one entry; `labels` is the stream's canonical label string.
    pub fn validate_entry(&self, labels: &str, entry: &EntryAdapter) -> Result<(), Refusal> {
        let ts = entry.timestamp.map(|t| t.unix_nanos()).unwrap_or(0);
        if self.reject_old_samples && ts < self.oldest_ns {
            return Err(DiscardReason::GreaterThanMaxSampleAge.with(format!(
                "entry for stream '{labels}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                format_rfc3339(ts),
                format_rfc3339(self.oldest_ns)
            )));
        }
        if ts > self.newest_ns {
            return Err(DiscardReason::TooFarInFuture.with(format!(
                "entry for stream '{labels}' has timestamp too new: {}",
                format_rfc3339(ts)
            )));
        }
        if self.max_line_size != 0 && entry.line.len() > self.max_line_size {
            return Err(DiscardReason::LineTooLong.with(format!(
                "Max entry size '{}' bytes exceeded for stream '{labels}' while adding an entry with length '{}' bytes",
                self.max_line_size,
                entry.line.len()
            )));
        }
        let count = entry.structured_metadata.len();
        if count > 0 {
            if !self.allow_structured_metadata {
                return Err(DiscardReason::DisallowedStructuredMetadata.with(format!("stream '{labels}' includes structured metadata, but this feature is disallowed. Please see `limits_config.allow_structured_metadata` or contact your Loki administrator to enable it.")));
            }
            let size = structured_metadata_size(&entry.structured_metadata);
            if self.max_structured_metadata_size != 0 && size > self.max_structured_metadata_size {
                return Err(DiscardReason::StructuredMetadataTooLarge.with(format!("stream '{labels}' has structured metadata too large: '{size}' bytes, limit: '{}' bytes. Please see `limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it.", self.max_structured_metadata_size)));
            }
            if self.max_structured_metadata_count != 0 && count > self.max_structured_metadata_count
            {
                return Err(DiscardReason::StructuredMetadataTooMany.with(format!("stream '{labels}' has too many structured metadata labels: '{count}', limit: '{}'. Please see `limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it.", self.max_structured_metadata_count)));
            }
        }
        Ok(())
    }
}

/// Sum of name and value bytes of an entry's structured metadata.
pub fn structured_metadata_size(sm: &[LabelPairAdapter]) -> usize {
    sm.iter().map(|p| p.name.len() + p.value.len()).sum()
}

/// Bytes an entry counts for in rate limits: line plus structured metadata.
pub fn entry_size(e: &EntryAdapter) -> usize {
    e.line.len() + structured_metadata_size(&e.structured_metadata)
}

/// Rewrites structured metadata names into valid label names, as Loki's
/// OTLP-style normalisation: characters outside `[a-zA-Z0-9_]` become `_`,
/// a leading digit gets a `key_` prefix.
pub fn normalize_structured_metadata(sm: &mut [LabelPairAdapter]) {
    for p in sm {
        if sluice_logql::labels::is_valid_label_name(&p.name) || p.name.is_empty() {
            continue;
        }
        let mut name: String = p
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if name.as_bytes()[0].is_ascii_digit() {
            name.insert_str(0, "key_");
        }
        p.name = name.into();
    }
}

/// Validation failures of one push, grouped by message as Loki's
/// `GroupedErrors` (in first-seen order, where Go's map order is random).
#[derive(Default)]
pub struct GroupedErrors {
    order: Vec<(String, usize)>,
    index: HashMap<String, usize>,
}

impl GroupedErrors {
    pub fn add(&mut self, msg: String) {
        match self.index.get(&msg) {
            Some(&i) => self.order[i].1 += 1,
            None => {
                self.index.insert(msg.clone(), self.order.len());
                self.order.push((msg, 1));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// `msg` alone for a single failure; otherwise
    /// `N errors like: msg; M errors like: msg2`.
    pub fn message(&self) -> String {
        let unique = self.order.len();
        let mut out = String::new();
        for (i, (msg, n)) in self.order.iter().enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            if unique > 1 || *n > 1 {
                out.push_str(&format!("{n} errors like: "));
            }
            out.push_str(msg);
        }
        out
    }
}

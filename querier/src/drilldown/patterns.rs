//! `/patterns`: Drain log-template mining ([`drain`]) over the lines a
//! query selects, one Drain per level and line format (logfmt, JSON or
//! other, see [`tokenize`]), as Loki's pattern ingester keeps one per
//! stream and level with the stream's format, so `took=12ms path=/a/1`
//! and `took=9ms path=/a/2` share `took=<_> path=<_>` while distinct
//! templates stay apart. Templates without any literal word are dropped
//! (they are no useful `|>` pattern).
//! Samples count lines per `step` bucket, as `[unix seconds, count]`,
//! most frequent pattern first.

mod drain;
mod tokenize;

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};
use sluice_logql::engine::StreamEntry;
use sluice_logql::labels::Labels;

const NS: i64 = 1_000_000_000;
/// Patterns returned at most.
const MAX_PATTERNS: usize = 200;

#[derive(Debug, Default, PartialEq)]
pub struct Pattern {
    pub pattern: String,
    pub level: String,
    /// Bucket start (unix ns) → lines.
    pub samples: BTreeMap<i64, u64>,
    pub total: u64,
}

/// The level of an entry: a `level`/`detected_level` label, else a
/// `level=` or `"level":"…"` in the line, else `unknown`.
fn level_of(labels: &Labels, line: &str) -> String {
    for k in ["detected_level", "level", "severity"] {
        if let Some(v) = labels.get(k) {
            return v.to_ascii_lowercase();
        }
    }
    let lower = line.to_ascii_lowercase();
    for key in ["level=", "\"level\":\""] {
        if let Some(i) = lower.find(key) {
            let rest = &lower[i + key.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            if end > 0 {
                return rest[..end].to_string();
            }
        }
    }
    "unknown".into()
}

pub fn mine(entries: &[(Labels, StreamEntry)], step: i64) -> Vec<Pattern> {
    let step = step.max(1);
    // per level: the Drain tree and the counts of each of its clusters
    let mut by: HashMap<(String, tokenize::Format), (drain::Drain, Vec<Pattern>)> = HashMap::new();
    for (labels, e) in entries {
        let line = String::from_utf8_lossy(&e.line);
        let level = level_of(labels, &line);
        let format = tokenize::detect(&line);
        let (d, pats) = by
            .entry((level.clone(), format))
            .or_insert_with(|| (drain::Drain::new(format), Vec::new()));
        let Some(id) = d.train(&line) else { continue };
        if id == pats.len() {
            pats.push(Pattern {
                level,
                ..Pattern::default()
            });
        }
        if let Some(p) = pats.get_mut(id) {
            *p.samples.entry(e.ts.div_euclid(step) * step).or_default() += 1;
            p.total += 1;
        }
    }
    let mut out = Vec::new();
    for (d, pats) in by.into_values() {
        for (c, mut p) in d.clusters.iter().zip(pats) {
            p.pattern = d.pattern(c);
            if p.pattern
                .replace(tokenize::PARAM, "")
                .chars()
                .any(char::is_alphanumeric)
            {
                out.push(p);
            }
        }
    }
    out.sort_by(|a, b| b.total.cmp(&a.total).then(a.pattern.cmp(&b.pattern)));
    out.truncate(MAX_PATTERNS);
    out
}

pub fn to_json(ps: &[Pattern]) -> Vec<Value> {
    ps.iter()
        .map(|p| {
            let samples: Vec<Value> = p
                .samples
                .iter()
                .map(|(ts, n)| json!([ts.div_euclid(NS), n]))
                .collect();
            json!({"pattern": p.pattern, "level": p.level, "samples": samples})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn mines_counts_per_step() {
        let e = |ts: i64, line: &str| {
            (
                Labels::default(),
                StreamEntry {
                    ts,
                    line: line.to_string().into(),
                    stream_labels: Labels::default(),
                    structured_metadata: vec![],
                    parsed: vec![],
                },
            )
        };
        let es = vec![
            e(10 * NS, "level=error id=1 failed"),
            e(11 * NS, "level=error id=2 failed"),
            e(75 * NS, "level=error id=3 failed"),
            e(12 * NS, "level=info id=3 ok"),
        ];
        let ps = mine(&es, 60 * NS);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].pattern, "level=error id=<_> failed");
        assert_eq!(ps[0].level, "error");
        let j = to_json(&ps);
        assert_eq!(j[0]["samples"], json!([[0, 2], [60, 1]]));
        assert_eq!(j[1]["level"], "info");
    }
}

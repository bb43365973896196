//! A simple pattern miner for `/patterns`: each line becomes a pattern by
//! replacing every space-separated token that holds a digit with `<_>`
//! (keeping a `key=` prefix), so `took=12ms path=/a/1` and `took=9ms
//! path=/a/2` share `took=<_> path=<_>`. The result is a valid Loki
//! pattern for `|> "…"`: patterns without any literal are dropped.
//! Samples count lines per `step` bucket, as `[unix seconds, count]`.

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

/// The pattern of one line, or `None` if it would have no literal.
pub fn pattern_of(line: &str) -> Option<String> {
    let mut out = String::with_capacity(line.len());
    let mut literal = false;
    let mut prev_capture = false;
    for (i, tok) in line.split(' ').enumerate() {
        if !tok.bytes().any(|b| b.is_ascii_digit()) {
            if i > 0 {
                out.push(' ');
            }
            literal |= !tok.is_empty();
            out.push_str(tok);
            prev_capture = false;
            continue;
        }
        match tok.find('=') {
            Some(eq) if eq > 0 && !tok[..eq].bytes().any(|b| b.is_ascii_digit()) => {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(&tok[..=eq]);
                literal = true;
            }
            // a capture right after a capture: the first one takes both
            _ if prev_capture => continue,
            _ if i > 0 => out.push(' '),
            _ => {}
        }
        out.push_str("<_>");
        prev_capture = true;
    }
    literal.then_some(out)
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
    let mut by: HashMap<(String, String), Pattern> = HashMap::new();
    for (labels, e) in entries {
        let line = String::from_utf8_lossy(&e.line);
        let Some(p) = pattern_of(&line) else { continue };
        let level = level_of(labels, &line);
        let pat = by
            .entry((p.clone(), level.clone()))
            .or_insert_with(|| Pattern {
                pattern: p,
                level,
                ..Pattern::default()
            });
        *pat.samples.entry(e.ts.div_euclid(step) * step).or_default() += 1;
        pat.total += 1;
    }
    let mut out: Vec<Pattern> = by.into_values().collect();
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
    fn patterns_of_lines() {
        assert_eq!(
            pattern_of("level=info took=12ms path=/a/1 msg=ok").unwrap(),
            "level=info took=<_> path=<_> msg=ok"
        );
        assert_eq!(pattern_of("GET /items/12 200 3ms").unwrap(), "GET <_>");
        assert_eq!(pattern_of("12 13"), None);
    }

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

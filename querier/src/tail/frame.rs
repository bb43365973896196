//! Tail frames as Loki writes them:
//! `{"streams":[{"stream":{…},"values":[["<ns>","<line>"]]},…],"dropped_entries":[{"labels":{…},"timestamp":"<ns>"}]}`,
//! one `streams` element per entry, `dropped_entries` omitted when empty.
//! In Grafana's categorize-labels form `stream` holds only indexed labels,
//! each value gains a third element with structured metadata and parsed
//! labels, and the frame carries `"encodingFlags":["categorize-labels"]`.

use std::fmt::Write;

use sluice_logql::labels::Labels;

use super::DroppedEntry;
use crate::json;

/// Most entries in one frame.
pub const MAX_ENTRIES_PER_FRAME: usize = 100;

/// The labels of one entry after the pipeline.
pub struct EntryLabels<'a> {
    /// Stream, structured metadata and parsed labels together.
    pub all: &'a Labels,
    /// The indexed stream labels.
    pub stream: &'a Labels,
    pub structured_metadata: &'a [(String, String)],
    pub parsed: &'a [(String, String)],
}

/// Accumulates entries into one frame's JSON.
pub struct FrameBuilder {
    buf: String,
    entries: usize,
    categorize: bool,
}

impl FrameBuilder {
    pub fn new(categorize: bool) -> Self {
        FrameBuilder {
            buf: String::with_capacity(16 << 10),
            entries: 0,
            categorize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub fn is_full(&self) -> bool {
        self.entries >= MAX_ENTRIES_PER_FRAME
    }

    pub fn push(&mut self, labels: &EntryLabels<'_>, ts: i64, line: &[u8]) {
        let o = &mut self.buf;
        o.push_str(if self.entries == 0 { "[" } else { "," });
        self.entries += 1;
        o.push_str(r#"{"stream":"#);
        json::write_labels(
            o,
            if self.categorize {
                labels.stream
            } else {
                labels.all
            },
        );
        let _ = write!(o, r#","values":[["{ts}","#);
        json::write_str(o, &String::from_utf8_lossy(line));
        if self.categorize {
            o.push_str(",{");
            let mut first = true;
            for (key, pairs) in [
                ("structuredMetadata", labels.structured_metadata),
                ("parsed", labels.parsed),
            ] {
                if pairs.is_empty() {
                    continue;
                }
                if !first {
                    o.push(',');
                }
                first = false;
                let _ = write!(o, r#""{key}":"#);
                json::write_pairs(o, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            }
            o.push('}');
        }
        o.push_str("]]}");
    }

    /// The frame's text (with `dropped`, if any), leaving the builder empty.
    pub fn finish(&mut self, dropped: &[DroppedEntry]) -> String {
        let mut o = String::with_capacity(self.buf.len() + 64 + dropped.len() * 64);
        o.push_str(r#"{"streams":"#);
        if self.entries == 0 {
            o.push_str("[]");
        } else {
            o.push_str(&self.buf);
            o.push(']');
        }
        if !dropped.is_empty() {
            o.push_str(r#","dropped_entries":["#);
            for (i, d) in dropped.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                o.push_str(r#"{"labels":"#);
                json::write_labels(&mut o, &d.labels);
                let _ = write!(o, r#","timestamp":"{}"}}"#, d.ts);
            }
            o.push(']');
        }
        if self.categorize {
            o.push_str(r#","encodingFlags":["categorize-labels"]"#);
        }
        o.push('}');
        self.buf.clear();
        self.entries = 0;
        o
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn classic_form_with_dropped_entries() {
        let all = l(&[("app", "a"), ("trace", "t1")]);
        let stream = l(&[("app", "a")]);
        let sm = vec![("trace".to_string(), "t1".to_string())];
        let labels = EntryLabels {
            all: &all,
            stream: &stream,
            structured_metadata: &sm,
            parsed: &[],
        };
        let mut f = FrameBuilder::new(false);
        assert!(f.is_empty());
        f.push(&labels, 1_700_000_000_000_000_001, b"hello \"x\"");
        f.push(&labels, 1_700_000_000_000_000_002, b"second");
        let dropped = [DroppedEntry {
            labels: Arc::new(stream.clone()),
            ts: 5,
        }];
        let text = f.finish(&dropped);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "streams": [
                    {"stream": {"app": "a", "trace": "t1"}, "values": [["1700000000000000001", "hello \"x\""]]},
                    {"stream": {"app": "a", "trace": "t1"}, "values": [["1700000000000000002", "second"]]},
                ],
                "dropped_entries": [{"labels": {"app": "a"}, "timestamp": "5"}],
            })
        );
        assert!(f.is_empty());
        assert_eq!(f.finish(&[]), r#"{"streams":[]}"#);
    }

    #[test]
    fn categorized_form() {
        let all = l(&[("app", "a"), ("level", "info"), ("trace", "t1")]);
        let stream = l(&[("app", "a")]);
        let sm = vec![("trace".to_string(), "t1".to_string())];
        let parsed = vec![("level".to_string(), "info".to_string())];
        let mut f = FrameBuilder::new(true);
        f.push(
            &EntryLabels {
                all: &all,
                stream: &stream,
                structured_metadata: &sm,
                parsed: &parsed,
            },
            10_000_000,
            b"level=info",
        );
        let v: serde_json::Value = serde_json::from_str(&f.finish(&[])).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "streams": [{"stream": {"app": "a"}, "values": [["10000000", "level=info",
                    {"structuredMetadata": {"trace": "t1"}, "parsed": {"level": "info"}}]]}],
                "encodingFlags": ["categorize-labels"],
            })
        );
    }
}

//! Loki's JSON response shapes, written directly into a buffer.
//!
//! Stream timestamps are nanosecond strings; matrix and vector timestamps
//! are numbers of seconds; sample values are strings formatted like Go's
//! `strconv.FormatFloat(v, 'f', -1, 64)`.

use std::fmt::Write;

use sluice_logql::engine::{QueryValue, Stream};
use sluice_logql::labels::Labels;
use sluice_logql::stats::QueryStats;

/// Writes `{"status":"success","data":{...}}` for a query result, with
/// Loki's `stats.summary` of what the query read (`exec_secs`: wall
/// seconds of the whole request).
pub fn query_response(
    v: &QueryValue,
    categorize: bool,
    exec_secs: f64,
    stats: &QueryStats,
) -> String {
    let mut o = String::with_capacity(4096);
    o.push_str(r#"{"status":"success","data":{"resultType":"#);
    match v {
        QueryValue::Streams(streams) => {
            o.push_str(r#""streams","result":"#);
            if categorize {
                write_categorized(&mut o, streams);
            } else {
                write_streams(&mut o, streams);
            }
            if categorize {
                o.push_str(r#","encodingFlags":["categorize-labels"]"#);
            }
        }
        QueryValue::Matrix(series) => {
            o.push_str(r#""matrix","result":["#);
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                o.push_str(r#"{"metric":"#);
                write_labels(&mut o, &s.metric);
                o.push_str(r#","values":["#);
                for (j, (ts, v)) in s.points.iter().enumerate() {
                    if j > 0 {
                        o.push(',');
                    }
                    write_point(&mut o, *ts, *v);
                }
                o.push_str("]}");
            }
            o.push(']');
        }
        QueryValue::Vector(samples) => {
            o.push_str(r#""vector","result":["#);
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                o.push_str(r#"{"metric":"#);
                write_labels(&mut o, &s.metric);
                o.push_str(r#","value":"#);
                write_point(&mut o, s.ts, s.value);
                o.push('}');
            }
            o.push(']');
        }
        QueryValue::Scalar { ts, value } => {
            o.push_str(r#""scalar","result":"#);
            write_point(&mut o, *ts, *value);
        }
    }
    let per_sec = |n: u64| {
        if exec_secs > 0.0 {
            (n as f64 / exec_secs) as u64
        } else {
            0
        }
    };
    let (lines, bytes) = (stats.lines, stats.bytes);
    let _ = write!(
        o,
        r#","stats":{{"summary":{{"bytesProcessedPerSecond":{},"linesProcessedPerSecond":{},"totalBytesProcessed":{bytes},"totalLinesProcessed":{lines},"execTime":{exec_secs},"queueTime":0,"subqueries":0,"totalEntriesReturned":{},"totalPostFilterLines":{}}}}}}}}}"#,
        per_sec(bytes),
        per_sec(lines),
        returned(v),
        stats.post_filter_lines,
    );
    o
}

fn returned(v: &QueryValue) -> usize {
    match v {
        QueryValue::Streams(s) => s.iter().map(|s| s.entries.len()).sum(),
        QueryValue::Matrix(m) => m.len(),
        QueryValue::Vector(v) => v.len(),
        QueryValue::Scalar { .. } => 1,
    }
}

fn write_streams(o: &mut String, streams: &[Stream]) {
    o.push('[');
    for (i, s) in streams.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push_str(r#"{"stream":"#);
        write_labels(o, &s.labels);
        o.push_str(r#","values":["#);
        for (j, e) in s.entries.iter().enumerate() {
            if j > 0 {
                o.push(',');
            }
            let _ = write!(o, r#"["{}","#, e.ts);
            write_str(o, &String::from_utf8_lossy(&e.line));
            o.push(']');
        }
        o.push_str("]}");
    }
    o.push(']');
}

/// Grafana's `categorize-labels` form: streams keyed by indexed labels
/// only, each value carrying structured metadata and parsed labels.
fn write_categorized(o: &mut String, streams: &[Stream]) {
    use std::collections::BTreeMap;
    let mut by_stream: BTreeMap<&Labels, Vec<&sluice_logql::engine::StreamEntry>> = BTreeMap::new();
    for s in streams {
        for e in &s.entries {
            by_stream.entry(&e.stream_labels).or_default().push(e);
        }
    }
    o.push('[');
    for (i, (labels, entries)) in by_stream.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push_str(r#"{"stream":"#);
        write_labels(o, labels);
        o.push_str(r#","values":["#);
        for (j, e) in entries.iter().enumerate() {
            if j > 0 {
                o.push(',');
            }
            let _ = write!(o, r#"["{}","#, e.ts);
            write_str(o, &String::from_utf8_lossy(&e.line));
            o.push_str(",{");
            let mut first = true;
            for (key, pairs) in [
                ("structuredMetadata", &e.structured_metadata),
                ("parsed", &e.parsed),
            ] {
                if pairs.is_empty() {
                    continue;
                }
                if !first {
                    o.push(',');
                }
                first = false;
                let _ = write!(o, r#""{key}":"#);
                write_pairs(o, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            }
            o.push_str("}]");
        }
        o.push_str("]}");
    }
    o.push(']');
}

pub fn write_labels(o: &mut String, l: &Labels) {
    write_pairs(o, l.iter());
}

pub(crate) fn write_pairs<'a>(o: &mut String, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    o.push('{');
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            o.push(',');
        }
        write_str(o, k);
        o.push(':');
        write_str(o, v);
    }
    o.push('}');
}

fn write_point(o: &mut String, ts_ns: i64, v: f64) {
    o.push('[');
    write_secs(o, ts_ns);
    o.push_str(",\"");
    write_float(o, v);
    o.push_str("\"]");
}

/// Seconds with millisecond precision, as Prometheus prints them.
fn write_secs(o: &mut String, ns: i64) {
    let ms = ns.div_euclid(1_000_000);
    let (s, frac) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if frac == 0 {
        let _ = write!(o, "{s}");
    } else {
        let f = format!("{frac:03}");
        let _ = write!(o, "{s}.{}", f.trim_end_matches('0'));
    }
}

pub fn write_float(o: &mut String, v: f64) {
    if v.is_nan() {
        o.push_str("NaN");
    } else if v.is_infinite() {
        o.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(o, "{v}");
    }
}

/// A JSON string literal.
pub fn write_str(o: &mut String, s: &str) {
    o.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        o.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(o, "\\u{b:04x}");
        } else {
            o.push_str(esc);
        }
        start = i + 1;
    }
    o.push_str(&s[start..]);
    o.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_like_prometheus() {
        let mut o = String::new();
        write_point(&mut o, 4_000_000_000_000_000_000, 2.0);
        assert_eq!(o, r#"[4000000000,"2"]"#);
        let mut o = String::new();
        write_point(&mut o, 1_500_000_000, 0.1);
        assert_eq!(o, r#"[1.5,"0.1"]"#);
        let mut o = String::new();
        write_float(&mut o, f64::NAN);
        write_float(&mut o, f64::NEG_INFINITY);
        write_float(&mut o, 1e21);
        assert_eq!(o, "NaN-Inf1000000000000000000000");
    }

    #[test]
    fn escapes_strings() {
        let mut o = String::new();
        write_str(&mut o, "a\"b\\c\nd\x1b[0m");
        assert_eq!(o, r#""a\"b\\c\nd\u001b[0m""#);
    }
}

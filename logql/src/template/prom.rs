//! Prometheus's template functions for rule annotations and labels
//! (`humanize`, `humanizeDuration`, `match`, `reReplaceAll`, ...), after
//! `prometheus/template/template.go`. Only templates parsed with
//! [`super::Template::parse_prometheus`] can call them; `line_format` and
//! `label_format` keep Loki's function map.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::funcs::Func;
use super::gofmt;
use super::time::GoTime;
use super::value::Value;

/// Calls a Prometheus-only function; `Err` is the function's error text.
pub(crate) fn call<'a>(f: Func, args: &mut [Value<'a>]) -> Result<Value<'a>, String> {
    use Func::*;
    Ok(match f {
        Humanize => Value::owned(humanize(to_float(&args[0])?)),
        Humanize1024 => Value::owned(humanize_1024(to_float(&args[0])?)),
        HumanizeDuration => Value::owned(humanize_duration(to_float(&args[0])?)),
        HumanizePercentage => Value::owned(g4(to_float(&args[0])? * 100.0, "%")),
        HumanizeTimestamp => {
            let v = to_float(&args[0])?;
            if v.is_nan() || v.is_infinite() {
                Value::owned(g4(v, ""))
            } else {
                let mut out = String::new();
                to_time(v).in_utc().write_string(&mut out);
                Value::owned(out)
            }
        }
        ToTime => Value::Time(to_time(to_float(&args[0])?)),
        PromToUpper => Value::owned(s(&args[0]).to_uppercase()),
        PromToLower => Value::owned(s(&args[0]).to_lowercase()),
        Match => Value::Bool(super::goregex::compile(s(&args[0]))?.is_match(s(&args[1]))),
        ReReplaceAll => {
            let re = super::goregex::compile(s(&args[0]))?;
            Value::owned(re.replace_all(s(&args[2]), s(&args[1])).into_owned())
        }
        SafeHtml => std::mem::take(&mut args[0]),
        StripPort => Value::owned(strip_port(s(&args[0])).to_string()),
        StripDomain => Value::owned(strip_domain(s(&args[0]))),
        ParseDuration => match crate::parser::parse_duration(s(&args[0])) {
            Some(ns) => Value::Float(ns as f64 / 1e9),
            None => return Err(format!("not a valid duration string: {:?}", s(&args[0]))),
        },
        Args => {
            let mut m = BTreeMap::new();
            for (i, a) in args.iter_mut().enumerate() {
                m.insert(format!("arg{i}"), into_static(std::mem::take(a)));
            }
            Value::Map(Rc::new(m))
        }
        _ => return Err(format!("{} is not a prometheus function", f.name())),
    })
}

fn s<'a>(v: &'a Value<'_>) -> &'a str {
    match v {
        Value::Str(s) => s,
        _ => "",
    }
}

fn into_static(v: Value<'_>) -> Value<'static> {
    match v {
        Value::Nil => Value::Nil,
        Value::Bool(b) => Value::Bool(b),
        Value::Int(i) => Value::Int(i),
        Value::Int64(i) => Value::Int64(i),
        Value::Uint8(u) => Value::Uint8(u),
        Value::Float(f) => Value::Float(f),
        Value::Str(s) => Value::owned(s.into_owned()),
        Value::Time(t) => Value::Time(t),
        Value::Data => Value::Data,
        Value::Map(m) => Value::Map(m),
        Value::List(l) => Value::List(l),
    }
}

/// Prometheus's `convertToFloat`: numbers as they are, strings parsed.
fn to_float(v: &Value<'_>) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) | Value::Int64(i) => Ok(*i as f64),
        Value::Uint8(u) => Ok(*u as f64),
        Value::Str(s) => parse_go_float(s).ok_or_else(|| {
            format!(
                "strconv.ParseFloat: parsing {}: invalid syntax",
                gofmt::quote(s)
            )
        }),
        Value::Time(t) => Ok(t.unix_nano() as f64 / 1e9),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

fn parse_go_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().trim_start_matches(['+', '-']) {
        "inf" | "infinity" => Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        "nan" => Some(f64::NAN),
        _ => s.replace('_', "").parse().ok(),
    }
}

/// Seconds to a time at millisecond precision (Prometheus's `model.Time`).
fn to_time(v: f64) -> GoTime {
    GoTime::from_unix_nanos((v * 1e3).round() as i64 * 1_000_000)
}

/// `fmt.Sprintf("%.4g<suffix>", v)`.
fn g4(v: f64, suffix: &str) -> String {
    let mut out = String::new();
    gofmt::format_float(&mut out, v, 'g', Some(4), false);
    out.push_str(suffix);
    out
}

/// `humanize`: SI prefixes (k, M, G, ... and m, u, n, ...).
pub(crate) fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v, "");
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    g4(v, prefix)
}

/// `humanize1024`: binary prefixes (ki, Mi, ...).
pub(crate) fn humanize_1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v, "");
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    g4(v, prefix)
}

/// `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `1.5s`, `250ms`.
pub(crate) fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v, "");
    }
    if v == 0.0 {
        return g4(v, "s");
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {mins}m {secs}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {mins}m {secs}s")
        } else if mins != 0 {
            format!("{sign}{mins}m {secs}s")
        } else {
            format!("{sign}{}", g4(v, "s"))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    g4(v, &format!("{prefix}s"))
}

/// `stripPort`: the host of `host:port` (brackets of IPv6 removed).
fn strip_port(hp: &str) -> &str {
    if let Some(rest) = hp.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return &rest[..end];
        }
        return hp;
    }
    match hp.rsplit_once(':') {
        Some((h, _)) if !h.contains(':') => h,
        _ => hp,
    }
}

/// `stripDomain`: the first label of a host name, keeping the port and
/// leaving IP addresses alone.
fn strip_domain(hp: &str) -> String {
    let (host, port) = match hp.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && !h.is_empty() => (h, Some(p)),
        _ => (hp, None),
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_string();
    }
    let first = host.split('.').next().unwrap_or(host);
    match port {
        Some(p) => format!("{first}:{p}"),
        None => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn humanize_like_prometheus() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (1234.0, "1.234k"),
            (1_234_567.0, "1.235M"),
            (0.001234, "1.234m"),
            (0.1234, "123.4m"),
            (-1234.0, "-1.234k"),
        ];
        for (v, want) in cases {
            assert_eq!(humanize(v), want, "{v}");
        }
        assert_eq!(humanize_1024(1024.0), "1ki");
        assert_eq!(humanize_1024(1_048_576.0), "1Mi");
        assert_eq!(humanize_1024(0.5), "0.5");
    }

    #[test]
    fn humanize_duration_like_prometheus() {
        let cases = [
            (0.0, "0s"),
            (1.0, "1s"),
            (60.0, "1m 0s"),
            (3600.0, "1h 0m 0s"),
            (86400.0 + 3661.0, "1d 1h 1m 1s"),
            (1.5, "1.5s"),
            (0.25, "250ms"),
            (0.000_001, "1us"),
            (-90.0, "-1m 30s"),
        ];
        for (v, want) in cases {
            assert_eq!(humanize_duration(v), want, "{v}");
        }
    }

    #[test]
    fn rule_templates_call_prometheus_functions() {
        use crate::template::{DotValue, Template, TemplateData};
        struct NoLabels;
        impl TemplateData for NoLabels {
            fn label(&self, _: &str) -> Option<&str> {
                None
            }
            fn line(&self) -> &str {
                ""
            }
            fn timestamp_ns(&self) -> i64 {
                0
            }
        }
        let render = |src: &str| {
            let t = Template::parse_prometheus("t", src).unwrap();
            let mut out = String::new();
            let dot = DotValue::Map(vec![("Value".into(), DotValue::Float(0.5))]);
            t.render_with_dot(&NoLabels, &dot, &mut out).unwrap();
            out
        };
        assert_eq!(
            render("{{ humanizeTimestamp 1435065584.128 }}"),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(render("{{ .Value | humanizePercentage }}"), "50%");
        assert_eq!(render("{{ \"1h\" | parseDuration }}"), "3600");
        assert_eq!(render("{{ (args 1 \"x\").arg1 }}"), "x");
        // Loki's line_format does not see them
        assert!(Template::parse("{{ humanize 1 }}").is_err());
    }

    #[test]
    fn host_helpers() {
        assert_eq!(strip_port("foo.example.com:9090"), "foo.example.com");
        assert_eq!(strip_port("[::1]:9090"), "::1");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_domain("foo.example.com:9090"), "foo:9090");
        assert_eq!(strip_domain("10.0.0.1:80"), "10.0.0.1:80");
        assert_eq!(strip_domain("foo.example.com"), "foo");
    }
}

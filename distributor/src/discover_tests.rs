#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use sluice_proto::logproto::{PushRequest, StreamAdapter, Timestamp};

use super::*;
use crate::distributor::validate_push;

/// 2024-01-10T00:00:00Z
const NOW: i64 = 1_704_844_800_000_000_000;

fn pairs(kv: &[(&str, &str)]) -> Vec<(String, String)> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sm(kv: &[(&str, &str)]) -> Vec<LabelPairAdapter> {
    kv.iter()
        .map(|(k, v)| LabelPairAdapter::new(*k, *v))
        .collect()
}

fn entry(line: &str, md: &[(&str, &str)]) -> EntryAdapter {
    EntryAdapter {
        timestamp: Some(Timestamp::from_unix_nanos(NOW)),
        line: Bytes::copy_from_slice(line.as_bytes()),
        structured_metadata: sm(md),
        parsed: vec![],
    }
}

fn push(limits: &Limits, streams: &[(&str, Vec<EntryAdapter>)]) -> crate::Validated {
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|(l, e)| StreamAdapter {
                labels: l.to_string(),
                entries: e.clone(),
                hash: 0,
            })
            .collect(),
    };
    validate_push(limits, req, NOW).unwrap()
}

fn no_discovery() -> Limits {
    Limits {
        discover_service_name: vec![],
        discover_log_levels: false,
        ..Limits::default()
    }
}

#[test]
fn defaults_are_lokis() {
    let l = Limits::default();
    assert_eq!(
        l.discover_service_name,
        [
            "service",
            "app",
            "application",
            "app_name",
            "name",
            "app_kubernetes_io_name",
            "container",
            "container_name",
            "k8s_container_name",
            "component",
            "workload",
            "job",
            "k8s_job_name",
        ]
    );
    assert!(l.discover_log_levels);
    assert_eq!(l.log_level_fields, DEFAULT_LOG_LEVEL_FIELDS);
    assert_eq!(l.log_level_fields.len(), 14);
    assert_eq!(l.log_level_from_json_max_depth, 2);
    let yaml: Limits = serde_yaml::from_str(
        "log_level_fields: [lvl]\nlog_level_from_json_max_depth: 0\ndiscover_service_name: [svc]\n",
    )
    .unwrap();
    assert_eq!(yaml.log_level_fields, ["lvl"]);
    assert_eq!(yaml.log_level_from_json_max_depth, 0);
    assert_eq!(yaml.discover_service_name, ["svc"]);
}

#[test]
fn conformance_config_turns_both_off() {
    let cfg: serde_yaml::Value =
        serde_yaml::from_str(include_str!("../../deploy/conformance.yaml")).unwrap();
    let mut m = cfg["limits_config"].as_mapping().unwrap().clone();
    // query limits live elsewhere (the binary splits them off the same way)
    for k in [
        "max_entries_limit_per_query",
        "max_query_series",
        "max_query_length",
        "query_timeout",
    ] {
        m.remove(k);
    }
    let limits: Limits = serde_yaml::from_value(serde_yaml::Value::Mapping(m)).unwrap();
    assert!(limits.discover_service_name.is_empty());
    assert!(!limits.discover_log_levels);
    let v = push(
        &limits,
        &[(r#"{app="api"}"#, vec![entry("level=error boom", &[])])],
    );
    let s = &v.request.streams[0];
    assert_eq!(s.labels, r#"{app="api"}"#);
    assert!(s.entries[0].structured_metadata.is_empty());
}

#[test]
fn service_name_table() {
    let default = Limits::default().discover_service_name;
    let custom = vec!["foo".to_string()];
    let cases: &[(&[String], &str, &str)] = &[
        // Loki's push_test.go cases
        (
            &default,
            r#"{foo="bar2", job="stuff"}"#,
            r#"{foo="bar2", job="stuff", service_name="stuff"}"#,
        ),
        (
            &default,
            r#"{foo="bar2"}"#,
            r#"{foo="bar2", service_name="unknown_service"}"#,
        ),
        (
            &default,
            r#"{__aggregated_metric__="stuff", foo="bar2", job="stuff"}"#,
            r#"{__aggregated_metric__="stuff", foo="bar2", job="stuff"}"#,
        ),
        (
            &custom,
            r#"{foo="bar"}"#,
            r#"{foo="bar", service_name="bar"}"#,
        ),
        // the list's order decides, not the labels'
        (
            &default,
            r#"{app="a", service="s"}"#,
            r#"{app="a", service="s", service_name="s"}"#,
        ),
        (
            &default,
            r#"{container="c", app="a"}"#,
            r#"{app="a", container="c", service_name="a"}"#,
        ),
        (
            &default,
            r#"{name="m", app_name="n"}"#,
            r#"{app_name="n", name="m", service_name="n"}"#,
        ),
        (
            &default,
            r#"{k8s_job_name="j", zone="z"}"#,
            r#"{k8s_job_name="j", service_name="j", zone="z"}"#,
        ),
        // an existing service_name stays; an empty one is no label
        (
            &default,
            r#"{service_name="x", app="a"}"#,
            r#"{app="a", service_name="x"}"#,
        ),
        (
            &default,
            r#"{service_name="", app="a"}"#,
            r#"{app="a", service_name="a"}"#,
        ),
        (
            &default,
            r#"{app=""}"#,
            r#"{service_name="unknown_service"}"#,
        ),
        // an empty list turns discovery off
        (&[], r#"{app="a"}"#, r#"{app="a"}"#),
    ];
    for (sources, input, want) in cases {
        let limits = Limits {
            discover_service_name: sources.to_vec(),
            ..no_discovery()
        };
        let v = push(&limits, &[(input, vec![entry("x", &[])])]);
        assert!(v.errors.is_none(), "{input}: {:?}", v.errors);
        let s = &v.request.streams[0];
        assert_eq!(s.labels, *want, "{input}");
        let parsed = crate::ParsedLabels::parse(want).unwrap();
        assert_eq!(s.hash, parsed.hash, "{input}: hash of the new label set");
    }
}

#[test]
fn service_name_pure() {
    let p = pairs(&[("app", "a"), ("job", "j")]);
    let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(service_name_for(&p, &list(&["job", "app"])), "j");
    assert_eq!(service_name_for(&p, &list(&["nope"])), SERVICE_UNKNOWN);
}

#[test]
fn service_name_shapes_validation_and_merging() {
    let l = Limits::default();
    // `{}` is `{service_name="unknown_service"}` by the time it is validated
    let v = push(&l, &[("{}", vec![entry("x", &[])])]);
    assert!(v.errors.is_none(), "{:?}", v.errors);
    assert_eq!(
        v.request.streams[0].labels,
        r#"{service_name="unknown_service"}"#
    );
    // messages quote the label set with service_name, as Loki's do
    let limits = Limits {
        max_label_value_length: 3,
        ..Limits::default()
    };
    let v = push(&limits, &[(r#"{abc="vwxyz"}"#, vec![entry("x", &[])])]);
    assert_eq!(
        v.errors.unwrap(),
        r#"stream '{abc="vwxyz", service_name="unknown_service"}' has label value too long: 'vwxyz'"#
    );
    let v = push(&l, &[(r#"{a="1", a="2"}"#, vec![entry("x", &[])])]);
    assert_eq!(
        v.errors.unwrap(),
        r#"stream '{a="1", a="2", service_name="unknown_service"}' has duplicate label name: 'a'"#
    );
    // service_name is not counted against max_label_names_per_series
    let limits = Limits {
        max_label_names_per_series: 1,
        ..Limits::default()
    };
    let v = push(&limits, &[(r#"{a="1"}"#, vec![entry("x", &[])])]);
    assert!(v.errors.is_none(), "{:?}", v.errors);
    // a discovered label set merges with the same set pushed explicitly
    let v = push(
        &l,
        &[
            (r#"{app="a"}"#, vec![entry("one", &[])]),
            (r#"{app="a", service_name="a"}"#, vec![entry("two", &[])]),
        ],
    );
    assert_eq!(v.request.streams.len(), 1);
    assert_eq!(v.request.streams[0].entries.len(), 2);
}

#[test]
fn aggregated_metric_stream_stops_discovery_for_the_rest_of_the_push() {
    let l = Limits {
        discover_log_levels: false,
        ..Limits::default()
    };
    let v = push(
        &l,
        &[
            (r#"{app="a"}"#, vec![entry("x", &[])]),
            (
                r#"{__aggregated_metric__="m", app="b"}"#,
                vec![entry("x", &[])],
            ),
            (r#"{app="c"}"#, vec![entry("x", &[])]),
        ],
    );
    let labels: Vec<&str> = v
        .request
        .streams
        .iter()
        .map(|s| s.labels.as_str())
        .collect();
    assert_eq!(
        labels,
        [
            r#"{app="a", service_name="a"}"#,
            r#"{__aggregated_metric__="m", app="b"}"#,
            r#"{app="c"}"#,
        ]
    );
}

/// Loki's `Test_detectLogLevelFromLogEntry` cases (default fields).
#[test]
fn level_from_entry_table() {
    let limits = Limits::default();
    let levels = Levels::new(&limits);
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("error", &[("severity_number", "7")], "debug"),
        ("", &[("severity_number", "foo")], "info"),
        ("x", &[("severity_number", "0")], "unknown"),
        ("x", &[("severity_number", "21")], "fatal"),
        ("x", &[("severity_number", "25")], "unknown"),
        ("foo", &[], "unknown"),
        ("this is a warning log", &[], "warn"),
        ("this is a debug message", &[], "debug"),
        ("this is a DEBUG message", &[], "debug"),
        ("debug: something happened", &[], "debug"),
        ("DEBUG: something happened", &[], "debug"),
        ("this is a critical message", &[], "critical"),
        ("this is a CRITICAL message", &[], "critical"),
        ("critical: something happened", &[], "critical"),
        ("CRITICAL: something happened", &[], "critical"),
        ("[debug] this is a debug message", &[], "debug"),
        ("[DEBUG] this is a debug message", &[], "debug"),
        ("[critical] this is a critical message", &[], "critical"),
        ("[CRITICAL] this is a critical message", &[], "critical"),
        ("[info] this is an info message", &[], "info"),
        ("[INFO] this is an info message", &[], "info"),
        ("[warn] this is a warning message", &[], "warn"),
        ("[WARNING] this is a warning message", &[], "warn"),
        ("[error] this is an error message", &[], "error"),
        ("[ERROR] this is an error message", &[], "error"),
        ("[err] this is an error message", &[], "error"),
        ("[ERR] this is an error message", &[], "error"),
        (
            r#"{"foo":"bar","msg":"message with keyword error but it should not get picked up","level":"critical"}"#,
            &[],
            "critical",
        ),
        (
            r#"{"FOO":"bar","MSG":"message with keyword error but it should not get picked up","LEVEL":"Critical"}"#,
            &[],
            "critical",
        ),
        (
            r#"{"foo":"bar","msg":"message with keyword warn but it should not get picked up","level":"warn"}"#,
            &[],
            "warn",
        ),
        (
            r#"{"foo":"bar","msg":"message with keyword warn but it should not get picked up","SEVERITY":"FATAL"}"#,
            &[],
            "fatal",
        ),
        (
            r#"{"foo":"bar","msg":"message with keyword warn but it should not get picked up","level":"ERR"}"#,
            &[],
            "error",
        ),
        (
            r#"{"foo":"bar","msg":"message with keyword INFO get picked up"}"#,
            &[],
            "info",
        ),
        (
            r#"foo=bar msg="message with info and not level should get picked up""#,
            &[],
            "info",
        ),
        (
            r#"foo=bar msg="message with keyword error but it should not get picked up" level=warn"#,
            &[],
            "warn",
        ),
        (
            r#"foo=bar msg="message with keyword error but it should not get picked up" level=Warn"#,
            &[],
            "warn",
        ),
        (
            r#"foo=bar msg="message with keyword error but it should not get picked up" level=Trace"#,
            &[],
            "trace",
        ),
        (
            r#"foo=bar msg="message with keyword but it should not get picked up" level=NA"#,
            &[],
            "unknown",
        ),
        (
            r#"foo=bar msg="message with keyword but it should not get picked up" severity=critical"#,
            &[],
            "critical",
        ),
        (
            r#"Foo=bar MSG="Message with keyword but it should not get picked up" Severity=critical"#,
            &[],
            "critical",
        ),
        (
            r#"foo=bar msg="message with keyword error but it should not get picked up" level=inFO"#,
            &[],
            "info",
        ),
        (
            r#"FOO=bar MSG="message with keyword error but it should not get picked up" LEVEL=inFO"#,
            &[],
            "info",
        ),
        (r#"FOO=bar MSG="no level defined" LEVEL=Inf"#, &[], "info"),
        (
            r#"FOO=bar MSG="no level defined" LEVEL=Information"#,
            &[],
            "info",
        ),
    ];
    for (line, md, want) in cases {
        let got = levels.detect(&[], &sm(md), line.as_bytes());
        assert_eq!(got.as_deref(), Some(*want), "line {line:?} md {md:?}");
    }
}

/// Word boundaries, precedence between sources, JSON depth, and the
/// logfmt list order.
#[test]
fn level_rules_table() {
    let limits = Limits::default();
    let levels = Levels::new(&limits);
    type Case<'a> = (
        &'a [(&'a str, &'a str)],
        &'a [(&'a str, &'a str)],
        &'a str,
        &'a str,
    );
    let cases: &[Case] = &[
        // the earliest word wins; words need boundaries on both sides
        (&[], &[], "info then error", "info"),
        (&[], &[], "an error, then info", "error"),
        (&[], &[], "errors everywhere", "unknown"),
        (&[], &[], "misc:error here", "unknown"),
        (&[], &[], "information", "unknown"),
        (&[], &[], "(warn) x", "warn"),
        (&[], &[], "state=fatal", "fatal"),
        (&[], &[], "done!info", "unknown"),
        (&[], &[], "it failed!error", "unknown"),
        (&[], &[], "ERR!", "error"),
        (&[], &[], "Error.", "unknown"),
        (&[], &[], "trace\tid", "trace"),
        (&[], &[], "", "unknown"),
        // a stream label beats metadata and the line; values normalised
        (
            &[("level", "WaRn")],
            &[("severity", "debug")],
            "error",
            "warn",
        ),
        (
            &[("SeverityText", "debug")],
            &[],
            r#"{"level":"error"}"#,
            "debug",
        ),
        (&[("lvl", "banana")], &[], "error", "banana"),
        // label names are exact
        (&[("LeVeL", "warning")], &[], "x", "unknown"),
        // metadata beats the severity number and the line
        (&[], &[("severity", "warn")], "error", "warn"),
        (
            &[],
            &[("severity_number", "17"), ("severity_text", "INFO")],
            "x",
            "info",
        ),
        (&[], &[("severity", "")], "[error] x", "error"),
        // list order between fields, not data order
        (&[], &[("lvl", "debug"), ("level", "info")], "x", "info"),
        (&[], &[], "lvl=debug level=info", "info"),
        (&[], &[], "LeVeL=warn", "warn"),
        // JSON: document order, exact keys, two object levels searched
        (
            &[],
            &[],
            r#"{"severity":"critical","level":"error"}"#,
            "critical",
        ),
        (
            &[],
            &[],
            r#"{"level":"error","severity":"critical"}"#,
            "error",
        ),
        (&[], &[], r#"{"lEvEl":"information"}"#, "unknown"),
        (&[], &[], r#"{"log":{"level":"warn"}}"#, "warn"),
        (
            &[],
            &[],
            r#"{"a":{"b":{"level":"information"}}}"#,
            "unknown",
        ),
        (&[], &[], r#"{"log.level":"dbg"}"#, "debug"),
        (&[], &[], r#"  {"level": 5, "msg": "x"} "#, "unknown"),
        (&[], &[], r#"{"arr":[{"level":"wrn"}],"x":"y"}"#, "unknown"),
        (&[], &[], r#"{"level":"banana","msg":"an error"}"#, "error"),
        (&[], &[], r#"{"msg":"x\"}", "level":"warn"}"#, "warn"),
        (&[], &[], r#"{"le\u0076el":"wrn"}"#, "warn"),
        // malformed JSON: the scan falls back to the words
        (&[], &[], r#"{"msg": "an error" "level":"warn"}"#, "error"),
        // logfmt: a syntax error stops the field scan
        (&[], &[], r#"a="b level=wrn"#, "unknown"),
        (&[], &[], r#"x"y level=wrn"#, "unknown"),
        (&[], &[], r#"x=y level=wrn"#, "warn"),
        (&[], &[], r#"level="in\u0066o" msg=x"#, "info"),
        (&[], &[], r#"level= msg=x"#, "unknown"),
    ];
    for (labels, md, line, want) in cases {
        let got = levels.detect(&pairs(labels), &sm(md), line.as_bytes());
        assert_eq!(
            got.as_deref(),
            Some(*want),
            "labels {labels:?} md {md:?} line {line:?}"
        );
    }
}

#[test]
fn custom_fields_and_depth() {
    let limits = Limits {
        log_level_fields: ["log_level", "logging_level", "LOGGINGLVL", "lvl"]
            .map(String::from)
            .to_vec(),
        ..Limits::default()
    };
    let levels = Levels::new(&limits);
    let cases = [
        (r#"{"foo":"bar","log_level":"critical"}"#, "critical"),
        (r#"{"LOGGINGLVL":"FATAL"}"#, "fatal"),
        (r#"{"lvl":"warn"}"#, "warn"),
        (r#"{"logging_level":"ERR"}"#, "error"),
        (r#"{"level":"debug"}"#, "debug"), // not a field now: the word scan
        ("level=info", "info"),
        ("[CRITICAL] custom", "critical"),
    ];
    for (line, want) in cases {
        let got = levels.detect(&[], &[], line.as_bytes());
        assert_eq!(got.as_deref(), Some(want), "{line}");
    }
    let deep = r#"{"a":{"b":{"c":{"level":"wrn"}}}}"#;
    for (depth, want) in [(2, "unknown"), (4, "warn"), (0, "warn"), (-1, "warn")] {
        let limits = Limits {
            log_level_from_json_max_depth: depth,
            ..Limits::default()
        };
        let got = Levels::new(&limits).detect(&[], &[], deep.as_bytes());
        assert_eq!(got.as_deref(), Some(want), "depth {depth}");
    }
}

#[test]
fn existing_detected_level_is_normalised_in_place() {
    let limits = Limits::default();
    for (input, want) in [
        ("WaRn", "warn"),
        ("InFo", "info"),
        ("CRITICAL", "critical"),
        ("Debug", "debug"),
        ("FaTaL", "fatal"),
        ("tRaCe", "trace"),
        ("ERROR", "error"),
        ("banana", "banana"),
    ] {
        let md = [
            ("severity_number", "13"),
            ("severity", "critical"),
            (DETECTED_LEVEL, input),
        ];
        let v = push(
            &limits,
            &[(
                r#"{foo="bar", level="debug"}"#,
                vec![entry(r#"{"level":"error"}"#, &md)],
            )],
        );
        let got = &v.request.streams[0].entries[0].structured_metadata;
        let levels: Vec<&str> = got
            .iter()
            .filter(|p| p.name == DETECTED_LEVEL)
            .map(|p| p.value.as_str())
            .collect();
        assert_eq!(levels, [want], "{input}");
        assert_eq!(got.len(), 3);
    }
    // an empty detected_level counts as absent and is filled
    let v = push(
        &limits,
        &[(
            r#"{a="b"}"#,
            vec![entry("[warn] x", &[(DETECTED_LEVEL, "")])],
        )],
    );
    assert_eq!(
        v.request.streams[0].entries[0].structured_metadata,
        sm(&[(DETECTED_LEVEL, "warn")])
    );
}

#[test]
fn detected_level_is_appended_as_metadata_not_a_label() {
    let limits = Limits::default();
    let v = push(
        &limits,
        &[(
            r#"{app="api"}"#,
            vec![
                entry("level=error boom", &[("trace_id", "t1")]),
                entry("nothing here", &[]),
            ],
        )],
    );
    let s = &v.request.streams[0];
    assert_eq!(s.labels, r#"{app="api", service_name="api"}"#);
    assert_eq!(
        s.entries[0].structured_metadata,
        sm(&[("trace_id", "t1"), (DETECTED_LEVEL, "error")])
    );
    assert_eq!(
        s.entries[1].structured_metadata,
        sm(&[(DETECTED_LEVEL, "unknown")])
    );
    // bytes accounted are those received: the added pair is not counted
    assert_eq!(v.stats.bytes, 16 + 2 + 8 + 12);
}

#[test]
fn detection_off_when_disabled_or_metadata_disallowed() {
    for limits in [
        no_discovery(),
        Limits {
            allow_structured_metadata: false,
            ..Limits::default()
        },
    ] {
        assert!(!Levels::new(&limits).enabled());
        let v = push(&limits, &[(r#"{a="b"}"#, vec![entry("[error] x", &[])])]);
        assert!(v.request.streams[0].entries[0]
            .structured_metadata
            .is_empty());
    }
}

#[test]
fn pure_helpers() {
    assert_eq!(normalize("Wrn"), "warn");
    assert_eq!(normalize("information"), "info");
    assert_eq!(normalize("dbg"), "debug");
    assert_eq!(normalize("TRC"), "trace");
    assert_eq!(normalize("nope"), "nope");
    for (n, want) in [
        ("1", "trace"),
        ("4", "trace"),
        ("5", "debug"),
        ("9", "info"),
        ("13", "warn"),
        ("17", "error"),
        ("24", "fatal"),
        ("+12", "info"),
        ("-3", "trace"),
        ("99999999999999999999", "info"),
    ] {
        assert_eq!(severity_level(n), want, "{n}");
    }
    assert!(is_json(b" \t{\"a\":1}\n"));
    assert!(is_json("\u{a0}{}".as_bytes()));
    assert!(!is_json(b"x{}"));
    assert!(!is_json(b"{x"));
    assert!(!is_json(b""));
}

#[test]
fn logfmt_key_filter_keeps_every_spelling_of_a_field() {
    let fields = ["level", "SeverityText", "lvl"];
    let keys = line::KeyFilter::new(&fields);
    let cases: &[(&str, Option<&str>)] = &[
        ("a=1 sEvErItYtExT=warn", Some("warn")),
        ("LVL=debug", Some("debug")),
        ("Level=x lvl=y", Some("x")),
        ("levels=info lv=warn", None),
        ("[conn-1] rows=3 severity=error", None),
    ];
    for (l, want) in cases {
        let got = line::logfmt_field(l.as_bytes(), &fields, &keys);
        let got = got.as_deref().map(|v| std::str::from_utf8(v).unwrap());
        assert_eq!(got, *want, "{l}");
    }
}

/// The pair detection adds is built from static strings (the name and a
/// level word's value): entries share them, nothing is allocated per
/// pushed entry.
#[test]
fn added_level_pairs_share_static_bytes() {
    let limits = Limits::default();
    let levels = Levels::new(&limits);
    let mut entries = vec![entry("level=warn a", &[]), entry("warn b", &[])];
    levels.apply(&[], &mut entries);
    let [a, b] = [&entries[0], &entries[1]].map(|e| &e.structured_metadata[0]);
    assert_eq!((a.value.as_str(), b.value.as_str()), ("warn", "warn"));
    assert_eq!(a.name.as_bytes().as_ptr(), b.name.as_bytes().as_ptr());
    assert_eq!(a.value.as_bytes().as_ptr(), b.value.as_bytes().as_ptr());
}

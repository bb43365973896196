//! Table-driven tests: expected values follow Go text/template + Loki's
//! function map (several cases are taken from Loki's `fmt_test.go` and the
//! template function docs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{Template, TemplateData, TemplateError};

struct Data {
    labels: Vec<(&'static str, &'static str)>,
    line: &'static str,
    ts: i64,
}

impl TemplateData for Data {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }
    fn line(&self) -> &str {
        self.line
    }
    fn timestamp_ns(&self) -> i64 {
        self.ts
    }
    fn for_each_label(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in &self.labels {
            f(k, v)
        }
    }
}

fn data() -> Data {
    Data {
        labels: vec![
            ("level", "error"),
            ("path", "/api/v1/users"),
            ("status", "500"),
            ("user", "alice"),
            ("method", "GET"),
            ("ts_seq", "42"),
            ("took", "1500"),
            ("fast", "20"),
            ("empty", ""),
            ("float", "12.5"),
            ("spaces", "  padded  "),
            ("json", r#"{"a":{"b":"deep"},"n":5,"list":[1,"x",null]}"#),
        ],
        line: "level=error path=/api/v1/users status=500",
        ts: 1_700_000_000_123_456_789,
    }
}

fn render(src: &str) -> Result<String, TemplateError> {
    let t = Template::parse(src)?;
    let mut out = String::new();
    t.render(&data(), &mut out)?;
    Ok(out)
}

fn ok(src: &str) -> String {
    match render(src) {
        Ok(s) => s,
        Err(e) => panic!("{src}: {e}"),
    }
}

#[test]
fn conformance_templates() {
    let cases = [
        (
            "{{.level}} {{.path}} {{.status}}",
            "error /api/v1/users 500",
        ),
        (
            "{{ .path | upper }} {{ .user | title }}",
            "/API/V1/USERS Alice",
        ),
        (
            r#"{{ if eq .level "error" }}ERR{{ else }}ok{{ end }} {{ .status }}"#,
            "ERR 500",
        ),
        (
            r#"{{ printf "%05d" (int .ts_seq) }} {{ trunc 5 .path }}"#,
            "00042 /api/",
        ),
        (
            r#"{{ replace "/api/v1" "" .path }} {{ regexReplaceAll "[aeiou]" .user "_" }}"#,
            "/users _l_c_",
        ),
        ("{{ __line__ | len }}", "41"),
        (
            "{{ if gt (int .took) 1000 }}slow{{ else }}fast{{ end }}",
            "slow",
        ),
        (
            "{{ if gt (int .fast) 1000 }}slow{{ else }}fast{{ end }}",
            "fast",
        ),
        ("{{.user}}-{{.method}}", "alice-GET"),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
}

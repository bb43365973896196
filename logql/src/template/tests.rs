//! Table-driven tests: expected values follow Go text/template + Loki's
//! function map (several cases are taken from Loki's `fmt_test.go` and the
//! template function docs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{Template, TemplateData, TemplateError};

pub(super) struct Data {
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

pub(super) fn data() -> Data {
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

pub(super) fn render(src: &str) -> Result<String, TemplateError> {
    let t = Template::parse(src)?;
    let mut out = String::new();
    t.render(&data(), &mut out)?;
    Ok(out)
}

pub(super) fn ok(src: &str) -> String {
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

struct Labels(Vec<(&'static str, &'static str)>, &'static str, i64);

impl TemplateData for Labels {
    fn label(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
    fn line(&self) -> &str {
        self.1
    }
    fn timestamp_ns(&self) -> i64 {
        self.2
    }
}

fn render_with(
    src: &str,
    labels: &[(&'static str, &'static str)],
    line: &'static str,
    ts: i64,
) -> String {
    let t = Template::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let mut out = String::new();
    t.render(&Labels(labels.to_vec(), line, ts), &mut out)
        .unwrap_or_else(|e| panic!("{src}: {e}"));
    out
}

/// Cases from Loki's `pkg/logql/log/fmt_test.go` (`Test_lineFormatter_Format`).
#[test]
fn loki_line_formatter_cases() {
    let bb: &[(&str, &str)] = &[("foo", "blip"), ("bar", "blop")];
    let up: &[(&str, &str)] = &[("foo", "BLIp"), ("bar", "blop")];
    type Case<'a> = (
        &'a str,
        &'a [(&'static str, &'static str)],
        &'static str,
        i64,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        ("foo{{.foo}}buzz{{  .bar  }}", bb, "", 0, "fooblipbuzzblop"),
        (
            r#"foo{{.foo}}buzz{{ Replace .bar "blop" "bar" -1 }}"#,
            bb,
            "",
            0,
            "fooblipbuzzbar",
        ),
        (
            r#"foo{{.foo}}buzz{{ .bar | replace "blop" "bar" }}"#,
            bb,
            "",
            0,
            "fooblipbuzzbar",
        ),
        ("{{.foo | title }}", bb, "", 0, "Blip"),
        (
            "{{.foo | substr 1 3 }} {{ .bar  | trunc 1 }} {{ .bar  | trunc 3 }}",
            bb,
            "",
            0,
            "li b blo",
        ),
        (
            r#"{{.foo | trim }} {{ .bar  | trimAll "op" }} {{ .bar  | trimPrefix "b" }} {{ .bar  | trimSuffix "p" }}"#,
            &[("foo", "  blip "), ("bar", "blop")],
            "",
            0,
            "blip bl lop blo",
        ),
        (
            "{{.foo | lower }} {{ .bar  | upper }}",
            up,
            "",
            0,
            "blip BLOP",
        ),
        (r#"{{ "foo" | repeat 3 }}"#, up, "", 0, "foofoofoo"),
        (
            r#"{{ "foo\n bar" | indent 4 }}"#,
            up,
            "",
            0,
            "    foo\n     bar",
        ),
        (r#"{{ "foo" | nindent 2 }}"#, up, "", 0, "\n  foo"),
        (
            r#"{{ if  .foo | contains "p"}}yes{{end}}-{{ if  .foo | contains "z"}}no{{end}}"#,
            up,
            "",
            0,
            "yes-",
        ),
        (
            r#"{{ if  .foo | hasPrefix "BL" }}yes{{end}}-{{ if  .foo | hasPrefix "p"}}no{{end}}"#,
            up,
            "",
            0,
            "yes-",
        ),
        (
            r#"{{ if  .foo | hasSuffix "Ip" }}yes{{end}}-{{ if  .foo | hasSuffix "pw"}}no{{end}}"#,
            up,
            "",
            0,
            "yes-",
        ),
        (r#"{{ regexReplaceAll "(p)" .foo "t" }}"#, up, "", 0, "BLIt"),
        (
            r#"{{ regexReplaceAllLiteral "(p)" .foo "${1}" }}"#,
            up,
            "",
            0,
            "BLI${1}",
        ),
        (
            "foo {{.foo}}buzz{{  .bar  }}",
            &[("bar", "blop")],
            "",
            0,
            "foo buzzblop",
        ),
        (
            "foo {{.foo | ToUpper }} buzz{{  .bar  }}",
            bb,
            "",
            0,
            "foo BLIP buzzblop",
        ),
        (
            "{{ add .foo 1 | sub .bar | mul .baz | div .bazz}}",
            &[("foo", "1"), ("bar", "3"), ("baz", "10"), ("bazz", "20")],
            "",
            0,
            "2",
        ),
        (
            "{{ addf .foo 1.5 | subf .bar 1.5 | mulf .baz | divf .bazz }}",
            &[
                ("foo", "1.5"),
                ("bar", "5"),
                ("baz", "10.5"),
                ("bazz", "20.2"),
            ],
            "",
            0,
            "3.8476190476190477",
        ),
        (
            "{{ round (addf .foo 1.5 | subf .bar | mulf .baz | divf .bazz) 5 .2}}",
            &[
                ("foo", "1.5"),
                ("bar", "3.5"),
                ("baz", "10.5"),
                ("bazz", "20.4"),
            ],
            "",
            0,
            "3.88572",
        ),
        (
            "min is {{ min .foo .bar .baz }} and max is {{ max .foo .bar .baz }}",
            &[("foo", "5"), ("bar", "10"), ("baz", "15")],
            "",
            0,
            "min is 5 and max is 15",
        ),
        (
            "minf is {{ minf .foo .bar .baz }} and maxf is {{maxf .foo .bar .baz}}",
            &[("foo", "5.3"), ("bar", "10.5"), ("baz", "15.2")],
            "",
            0,
            "minf is 5.3 and maxf is 15.2",
        ),
        (
            "ceil is {{ ceil .foo }} and floor is {{floor .foo }}",
            &[("foo", "5.3")],
            "",
            0,
            "ceil is 6 and floor is 5",
        ),
        (
            "mod is {{ mod .foo 3 }}",
            &[("foo", "20")],
            "",
            0,
            "mod is 2",
        ),
        (r#"{{ "2.5" | float64 | int | add 10}}"#, &[], "", 0, "12"),
        (
            r#"{{ sub (unixEpoch (toDate "2006-01-02" "2021-11-02")) (unixEpoch (toDate "2006-01-02" "2021-11-01")) }}"#,
            &[],
            "",
            0,
            "86400",
        ),
        (
            r#"{{ date "2006-01-02" (toDate "2006-01-02" "2021-11-02") }}"#,
            &[],
            "",
            0,
            "2021-11-02",
        ),
        ("{{ div (unixEpoch now) (unixEpoch now) }}", &[], "", 0, "1"),
        (
            "{{ __line__ }} bar {{ .bar }}",
            &[("bar", "2")],
            "1",
            0,
            "1 bar 2",
        ),
        (
            r#"{{.foo | default "-" }}{{.bar | default "-"}}{{.unknown | default "-"}}"#,
            &[("foo", "blip"), ("bar", "")],
            "",
            0,
            "blip--",
        ),
        // Loki's test ran in a UTC-4 zone (14:05); Sluice's local zone is UTC.
        (
            r#"{{ __timestamp__ | date "2006-01-02T15:04:05.00Z00:00" }} bar {{ .bar }}"#,
            &[("bar", "2")],
            "1",
            1_656_353_124_120_000_000,
            "2022-06-27T18:05:24.12Z00:00 bar 2",
        ),
        (
            "{{ __timestamp__ | unixEpoch }} bar {{ .bar }}",
            &[("bar", "2")],
            "1",
            1_656_353_124_120_000_000,
            "1656353124 bar 2",
        ),
        // Test_labelsFormatter_Format.
        ("{{.foo}} and {{.bar}}", bb, "", 0, "blip and blop"),
        ("{{div .status 100 }}", &[("status", "200")], "", 0, "2"),
        (
            r#"{{.foo | default "-" }} and {{.bar}}"#,
            &[("bar", "blop")],
            "",
            0,
            "- and blop",
        ),
    ];
    for (src, labels, line, ts, want) in cases {
        assert_eq!(render_with(src, labels, line, ts), want, "{src}");
    }
}

/// sprig's `trunc` and `substr` (the ones Loki registers) slice bytes like
/// Go; a cut inside a character leaves U+FFFD per stray byte. (Loki's own
/// rune-based `trunc`/`substring` in fmt.go are not in its function map.)
#[test]
fn sprig_trunc_and_substr() {
    let s = "Hello, 世界";
    let cases = [
        ("trunc -3", "界"),
        ("trunc 1", "H"),
        ("trunc 0", ""),
        ("trunc 20", s),
        ("trunc -20", s),
        ("trunc 8", "Hello, \u{fffd}"),
        ("trunc -2", "\u{fffd}\u{fffd}"),
        ("substr 1 3", "el"),
        ("substr -1 5", "Hello"),
        ("substr 7 100", "世界"),
        ("substr 7 -1", "世界"),
        ("substr 1 1", ""),
        ("substr 7 8", "\u{fffd}"),
    ];
    for (call, want) in cases {
        let src = format!(r#"{{{{ {call} "{s}" }}}}"#);
        assert_eq!(ok(&src), want, "{src}");
    }
    let errors = [
        ("substr 5 1", "slice bounds out of range [5:1]"),
        (
            "substr -1 20",
            "slice bounds out of range [:20] with length 13",
        ),
        ("substr -1 -1", "slice bounds out of range [:-1]"),
        ("substr 20 -1", "slice bounds out of range [20:13]"),
    ];
    for (call, want) in errors {
        let src = format!(r#"{{{{ {call} "{s}" }}}}"#);
        let e = render(&src).unwrap_err().to_string();
        assert!(
            e.ends_with(&format!("error calling substr: runtime error: {want}")),
            "{src}: {e}"
        );
    }
}

/// Loki's `TestLineFormatter_RequiredLabelNames`.
#[test]
fn referenced_labels() {
    let cases: [(&str, &[&str]); 7] = [
        ("{{.foo}} and {{.bar}}", &["foo", "bar"]),
        (
            "{{ .foo | ToUpper | .buzz }} and {{.bar}}",
            &["foo", "buzz", "bar"],
        ),
        (
            r#"{{ regexReplaceAllLiteral "(p)" .foo "${1}" }}"#,
            &["foo"],
        ),
        (
            r#"{{ if  .foo | hasSuffix "Ip" }} {{.bar}} {{end}}-{{ if  .foo | hasSuffix "pw"}}no{{end}}"#,
            &["foo", "bar"],
        ),
        (r#"{{with .foo}}{{printf "%q" .}} {{end}}"#, &["foo"]),
        (
            r#"{{with .foo}}{{printf "%q" .}} {{else}} {{ .buzz | lower }} {{end}}"#,
            &["foo", "buzz"],
        ),
        // Like Loki, fields reached through variables or chains do not count.
        (
            "{{ $x := .a }}{{ $x }}{{ (.b).c }}{{ $.d }}{{ .a }}",
            &["a"],
        ),
    ];
    for (src, want) in cases {
        let t = Template::parse(src).unwrap();
        assert_eq!(t.referenced_labels(), want, "{src}");
    }
}

#[test]
fn deep_nesting_is_bounded() {
    let run = || {
        let deep = format!("{{{{ {}1{} }}}}", "(".repeat(99), ")".repeat(99));
        assert_eq!(ok(&deep), "1");
        let too_deep = format!("{{{{ {}1{} }}}}", "(".repeat(101), ")".repeat(101));
        let e = Template::parse(&too_deep).unwrap_err().to_string();
        assert_eq!(e, "template: line:1: max expression depth exceeded");
        let ifs = format!("{}x{}", "{{ if true }}".repeat(99), "{{ end }}".repeat(99));
        assert_eq!(ok(&ifs), "x");
        // `else if` chains are not nesting: any length works.
        let chain = format!(
            "{{{{ if false }}}}{}{{{{ else if true }}}}x{{{{ end }}}}",
            "{{ else if false }}".repeat(5000)
        );
        assert_eq!(ok(&chain), "x");
    };
    // Run on a thread with a 2 MiB stack, like a small worker thread.
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn large_widths_and_counts_are_refused() {
    assert_eq!(
        ok(r#"{{ printf "%.2000000f|%2000000d" 1.5 7 }}"#),
        "1.500000|7"
    );
    assert!(render("{{ repeat 100000000 \"abc\" }}").is_err());
    assert!(render("{{ indent 100000000 \"abc\" }}").is_err());
    assert!(render("{{ alignLeft 100000000 \"abc\" }}").is_err());
    assert_eq!(
        ok("{{ range 100000000000 }}{{ break }}{{ end }}done"),
        "done"
    );
}

mod prop {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::super::Template;
    use super::data;
    use proptest::prelude::*;

    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        "\n",
        ".",
        ".user",
        ".a.b",
        "$",
        "$x",
        ":=",
        "=",
        "|",
        "(",
        ")",
        "\"",
        "`",
        "'",
        "\"s\"",
        "1",
        "-2",
        "3.5",
        "0x1",
        "if",
        "else",
        "end",
        "range",
        "with",
        "break",
        "continue",
        "nil",
        "true",
        "printf",
        "\"%d %s %v %5.2f %x %q\"",
        "len",
        "index",
        "eq",
        "lt",
        "and",
        "or",
        "not",
        "slice",
        "int",
        "add",
        "div",
        "divf",
        "trunc",
        "substr",
        "regexReplaceAll",
        "\"[a-z]+\"",
        "\"(\"",
        "fromJson",
        "\"[1,{\\\"a\\\":2}]\"",
        "__line__",
        "__timestamp__",
        "date",
        "\"2006-01-02\"",
        "toDate",
        "unixToTime",
        "\"1700000000\"",
        "b64dec",
        "urldecode",
        "\"%zz\"",
        "/*",
        "*/",
        ",",
        "default",
        "bytes",
        "duration",
        "title",
        "upper",
        "repeat",
        "alignRight",
        "round",
        "html",
        "js",
        "print",
        "mod",
        "0",
        "-1",
        "999999999999",
        "é",
        "{{/* c */}}",
    ];

    fn soup() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn parse_never_panics(src in "\\PC{0,80}") {
            let _ = Template::parse(&src);
        }

        #[test]
        fn token_soup_parses_and_renders_without_panic(src in soup()) {
            if let Ok(t) = Template::parse(&src) {
                let mut out = String::new();
                let _ = t.render(&data(), &mut out);
                let _ = t.referenced_labels();
            }
        }
    }
}

/// Rough render cost; run with
/// `cargo test -p sluice-logql --release --lib template::tests::render_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn render_speed() {
    let d = data();
    let templates = [
        "plain text",
        "{{.level}}",
        "{{ 1 }}",
        "{{.level}} {{.path}} {{.status}}",
        "{{ .path | upper }} {{ .user | title }}",
        r#"{{ if eq .level "error" }}ERR{{ else }}ok{{ end }} {{ .status }}"#,
        r#"{{ printf "%05d" (int .ts_seq) }} {{ trunc 5 .path }}"#,
        r#"{{ replace "/api/v1" "" .path }} {{ regexReplaceAll "[aeiou]" .user "_" }}"#,
        "{{ __line__ | len }}",
        "{{ if gt (int .took) 1000 }}slow{{ else }}fast{{ end }}",
        "{{.user}}-{{.method}}",
    ];
    // Minimum over rounds, to see through a busy machine.
    let time = |f: &mut dyn FnMut()| {
        let mut best = f64::MAX;
        for _ in 0..20 {
            let n = 20_000;
            let start = std::time::Instant::now();
            for _ in 0..n {
                f();
            }
            best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
        }
        best
    };
    let mut out = String::with_capacity(256);
    let ns = time(&mut || {
        out.clear();
        for k in ["level", "path", "status"] {
            out.push_str(std::hint::black_box(&d).label(k).unwrap_or(""));
            out.push(' ');
        }
    });
    eprintln!("{ns:>8.1} ns/render  baseline: three label lookups by hand");
    for src in templates {
        let t = Template::parse(src).unwrap();
        let ns = time(&mut || {
            out.clear();
            t.render(&d, &mut out).unwrap();
        });
        eprintln!("{ns:>8.1} ns/render  {src}");
    }
}

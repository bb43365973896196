//! Go text/template semantics: syntax, control flow, builtins, printf and
//! error texts. Expected values are what Go's text/template produces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::tests::{data, ok, render};
use super::{Template, TemplateError};

#[test]
fn syntax_and_control_flow() {
    let cases = [
        ("a  {{- /* c */ -}}  b", "ab"),
        ("a {{- 1 -}} b", "a1b"),
        ("{{23 -}} < {{- 45}}", "23<45"),
        ("{{-3}}", "-3"),
        ("x{{/* comment */}}y", "xy"),
        ("a\n  {{- .user }}", "aalice"),
        ("{{ .user -}}\n\n  z", "alicez"),
        (r#"{{ $x := "a" }}{{ $x }}{{ $x = "b" }}{{ $x }}"#, "ab"),
        ("{{ if false }}x{{ else if true }}y{{ else }}z{{ end }}", "y"),
        ("{{ if .empty }}x{{ else if .nope }}y{{ else }}z{{ end }}", "z"),
        ("{{ with .empty }}x{{ else }}none{{ end }}", "none"),
        ("{{ with .user }}{{ . }}{{ end }}", "alice"),
        ("{{ with $x := .user }}{{ $x }}{{ $.method }}{{ end }}", "aliceGET"),
        ("{{ with .empty }}x{{ else with .user }}{{ . }}{{ end }}", "alice"),
        ("{{ if\n true }}y{{ end }}", "y"),
        ("{{ range $i, $e := fromJson \"[1,2,3]\" }}{{ $i }}={{ $e }};{{ end }}", "0=1;1=2;2=3;"),
        ("{{ range fromJson \"[]\" }}x{{ else }}empty{{ end }}", "empty"),
        ("{{ range (fromJson .nope) }}x{{ else }}none{{ end }}", "none"),
        (
            "{{ range $i, $e := fromJson \"[1,2,3,4]\" }}{{ if eq $i 2 }}{{ break }}{{ end }}{{ $e }}{{ end }}",
            "12",
        ),
        (
            "{{ range $i, $e := fromJson \"[1,2,3]\" }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $e }}{{ end }}",
            "13",
        ),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        ("{{ range $v := fromJson \"[\\\"a\\\",\\\"b\\\"]\" }}{{ $v }}{{ end }}", "ab"),
        ("{{ $n := 0 }}{{ range fromJson \"[5,6]\" }}{{ $n = . }}{{ end }}{{ $n }}", "6"),
        ("{{ len . }}", "12"),
        ("{{ range $k, $v := . }}{{ if hasPrefix \"t\" $k }}{{ $k }}={{ $v }} {{ end }}{{ end }}", "took=1500 ts_seq=42 "),
        ("{{ (.user) }}", "alice"),
        ("{{ .user | printf \"%s!\" }}", "alice!"),
        (r#"{{ "x" | printf "%s%s" "y" }}"#, "yx"),
        ("{{ .nope }}|{{ .nope | len }}", "|0"),
        ("{{ add (mul 2 3) (sub 10 4) }}", "12"),
        ("{{ index . \"user\" }}", "alice"),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
}

#[test]
fn literals_and_printing() {
    let cases = [
        ("{{ 3 }}", "3"),
        ("{{ 3.0 }}", "3"),
        ("{{ 1e3 }}", "1000"),
        ("{{ 1e21 }}", "1e+21"),
        ("{{ 1.5e6 }}", "1.5e+06"),
        ("{{ 123456789.0 }}", "1.23456789e+08"),
        ("{{ 0.1 }}", "0.1"),
        ("{{ 0.00001 }}", "1e-05"),
        ("{{ 0x10 }}", "16"),
        ("{{ 0o17 }}", "15"),
        ("{{ 1_000 }}", "1000"),
        ("{{ 'a' }}", "97"),
        ("{{ -5 }}", "-5"),
        ("{{ \"a\\tb\\u00e9\" }}", "a\tbé"),
        ("{{ `raw\\n` }}", "raw\\n"),
        ("{{ true }} {{ false }}", "true false"),
        ("{{ print 1 2 \"a\" 3 }}", "1 2a3"),
        ("{{ print \"a\" \"b\" }}", "ab"),
        ("{{ println \"a\" 1 }}", "a 1\n"),
        ("{{ len \"héllo\" }}", "6"),
        ("{{ index \"abc\" 1 }}", "98"),
        ("{{ index (fromJson \"[10,20]\") 1 }}", "20"),
        ("{{ slice \"abcdef\" 1 3 }}", "bc"),
        (
            "{{ html \"<a href='x'>&\" }}",
            "&lt;a href=&#39;x&#39;&gt;&amp;",
        ),
        ("{{ js \"it's <b>\" }}", "it\\'s \\u003Cb\\u003E"),
        ("{{ urlquery \"a b&c\" }}", "a+b%26c"),
        (
            "{{ and 1 0 }}|{{ and 1 \"x\" }}|{{ or 0 \"\" }}|{{ or 0 \"y\" }}",
            "0|x||y",
        ),
        ("{{ not .empty }} {{ not .user }}", "true false"),
        ("{{ and .user .empty }}|{{ or .empty .user }}", "|alice"),
        (
            "{{ eq .level \"warn\" \"error\" }} {{ eq .level \"warn\" }}",
            "true false",
        ),
        (
            "{{ ne .status \"500\" }} {{ lt 1 2 }} {{ lt \"a\" \"b\" }} {{ gt 1.5 1.2 }}",
            "false true true true",
        ),
        (
            "{{ le 2 2 }} {{ ge 1 2 }} {{ gt 2 1 }} {{ eq 1 1 }}",
            "true false true true",
        ),
        (
            "{{ __timestamp__ }}",
            "2023-11-14 22:13:20.123456789 +0000 UTC",
        ),
        ("{{ $ }}", ""),
    ];
    for (src, want) in cases {
        if src == "{{ $ }}" {
            assert!(ok(src).starts_with("map[empty: fast:20"), "{}", ok(src));
            continue;
        }
        assert_eq!(ok(src), want, "{src}");
    }
}

#[test]
fn printf_verbs() {
    let cases = [
        (r#"{{ printf "%s-%d" .user 5 }}"#, "alice-5"),
        (r#"{{ printf "%v %v %v" 1.5 true nil }}"#, "1.5 true <nil>"),
        (r#"{{ printf "%q" .user }}"#, "\"alice\""),
        (
            r#"{{ printf "%x %X %#x %o %b" 255 255 255 255 5 }}"#,
            "ff FF 0xff 377 101",
        ),
        (r#"{{ printf "%08.3f" 3.14159 }}"#, "0003.142"),
        (r#"{{ printf "%-5d|%5d|" 42 42 }}"#, "42   |   42|"),
        (r#"{{ printf "%+d % d" 5 5 }}"#, "+5  5"),
        (
            r#"{{ printf "%e %E" 1234.5678 1234.5678 }}"#,
            "1.234568e+03 1.234568E+03",
        ),
        (
            r#"{{ printf "%g %g %g" 1234.5678 1e21 0.0001 }}"#,
            "1234.5678 1e+21 0.0001",
        ),
        (r#"{{ printf "%.2f" (float64 "3.14159") }}"#, "3.14"),
        (r#"{{ printf "%5.1f|" 3.14159 }}"#, "  3.1|"),
        (r#"{{ printf "%.3g" 1234.5678 }}"#, "1.23e+03"),
        (r#"{{ printf "%10.4v|" 3.14159265 }}"#, "     3.142|"),
        (r#"{{ printf "%t" true }}"#, "true"),
        (r#"{{ printf "%d" "x" }}"#, "%!d(string=x)"),
        (r#"{{ printf "%d %d" 1 }}"#, "1 %!d(MISSING)"),
        (r#"{{ printf "a" 1 }}"#, "a%!(EXTRA int=1)"),
        (
            r#"{{ printf "%5s|%-5s|%.2s" "ab" "ab" "abc" }}"#,
            "   ab|ab   |ab",
        ),
        (r#"{{ printf "%c %U %%" 65 65 }}"#, "A U+0041 %"),
        (
            r#"{{ printf "%T %T %T %T" 1 1.5 "s" (add 1 1) }}"#,
            "int float64 string int64",
        ),
        (r#"{{ printf "%05d" -42 }}"#, "-0042"),
        (r#"{{ printf "%x|% x" "hi" "hi" }}"#, "6869|68 69"),
        (
            r#"{{ printf "%v" (fromJson "{\"a\":1,\"b\":[true,null]}") }}"#,
            "map[a:1 b:[true <nil>]]",
        ),
        (
            r#"{{ printf "%-40.40s|" "/a/509965767/alternative-to-my-mtg.html" }}"#,
            "/a/509965767/alternative-to-my-mtg.html |",
        ),
        (r#"{{ printf "%15.15s|" "GET" }}"#, "            GET|"),
        (r#"{{ printf "%[2]d %[1]d" 1 2 }}"#, "2 1"),
        (r#"{{ printf "%*d" 5 42 }}"#, "   42"),
        (r#"{{ printf "%6.2f%%" 99.5 }}"#, " 99.50%"),
        (r#"{{ printf "%d" 3.5 }}"#, "%!d(float64=3.5)"),
        (r#"{{ printf "%s" 3 }}"#, "%!s(int=3)"),
        (
            r#"{{ printf "%v" __timestamp__ }}"#,
            "2023-11-14 22:13:20.123456789 +0000 UTC",
        ),
        (r#"{{ printf "%q" 'x' }}"#, "'x'"),
        (r#"{{ printf "%.0f %.1f" 2.5 0.05 }}"#, "2 0.1"),
        (r#"{{ printf "%f" 1e20 }}"#, "100000000000000000000.000000"),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
}

fn parse_err(src: &str) -> String {
    match Template::parse(src) {
        Ok(_) => panic!("{src}: parsed"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parse_errors() {
    let cases = [
        (
            "{{ foo }}",
            r#"template: line:1: function "foo" not defined"#,
        ),
        ("{{ .a", "template: line:1: unclosed action"),
        ("{{ if true }}x", "template: line:1: unexpected EOF"),
        ("{{ end }}", "template: line:1: unexpected {{end}}"),
        ("{{ else }}", "template: line:1: unexpected {{else}}"),
        ("{{ $x }}", r#"template: line:1: undefined variable "$x""#),
        (
            "{{ $x = 1 }}",
            r#"template: line:1: undefined variable "$x""#,
        ),
        (
            "{{ \"abc }}",
            "template: line:1: unterminated quoted string",
        ),
        ("{{ 3x }}", r#"template: line:1: bad number syntax: "3x""#),
        (
            "{{ .a | 3 }}",
            "template: line:1: non executable command in pipeline stage 2",
        ),
        ("{{ }}", "template: line:1: missing value for command"),
        (
            "{{ break }}",
            "template: line:1: {{break}} outside {{range}}",
        ),
        ("{{/* x }}", "template: line:1: unclosed comment"),
        (
            "{{/* x */ }}",
            "template: line:1: comment ends before closing delimiter",
        ),
        ("{{ ( .a }}", "template: line:1: unclosed left paren"),
        ("{{ .a ) }}", "template: line:1: unexpected right paren"),
        (
            "a\nb\n{{ foo }}",
            r#"template: line:3: function "foo" not defined"#,
        ),
        (
            "{{ if }}{{ end }}",
            "template: line:1: missing value for if",
        ),
        (
            "{{ .a.b.c | trimLeft }}",
            r#"template: line:1: function "trimLeft" not defined"#,
        ),
        ("{{ 1.a }}", r#"template: line:1: bad number syntax: "1.a""#),
        (
            "{{ \"a\".b }}",
            r#"template: line:1: unexpected . after term "\"a\"""#,
        ),
        ("{{ @ }}", r#"template: line:1: unexpected "@" in command"#),
        (
            "{{ if true }}{{ else }}{{ else }}{{ end }}",
            "template: line:1: expected end; found {{else}}",
        ),
        (
            "{{ define \"x\" }}{{ end }}",
            "template: line:1: {{define}} actions are not supported by line_format/label_format",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(parse_err(src), want, "{src}");
    }
    let named = Template::parse_named("label", "{{ nope }}").unwrap_err();
    assert_eq!(
        named.to_string(),
        r#"template: label:1: function "nope" not defined"#
    );
}

#[test]
fn exec_errors() {
    let cases = [
        (
            "{{ printf }}",
            r#"template: line:1:3: executing "line" at <printf>: wrong number of args for printf: want at least 1 got 0"#,
        ),
        (
            "{{ upper 3 }}",
            r#"template: line:1:9: executing "line" at <3>: expected string; found 3"#,
        ),
        (
            "{{ div 1 0 }}",
            r#"template: line:1:3: executing "line" at <div 1 0>: error calling div: runtime error: integer divide by zero"#,
        ),
        (
            "{{ .user.name }}",
            r#"template: line:1:3: executing "line" at <.user.name>: can't evaluate field name in type string"#,
        ),
        (
            "{{ trunc (add 1 2) .user }}",
            r#"template: line:1:10: executing "line" at <add 1 2>: wrong type for value; expected int; got int64"#,
        ),
        (
            "{{ eq .status 500 }}",
            r#"template: line:1:3: executing "line" at <eq .status 500>: error calling eq: incompatible types for comparison"#,
        ),
        (
            "{{ if gt .took 1000 }}x{{ end }}",
            r#"template: line:1:6: executing "line" at <gt .took 1000>: error calling gt: incompatible types for comparison"#,
        ),
        (
            "{{ index \"abc\" 5 }}",
            r#"template: line:1:3: executing "line" at <index "abc" 5>: error calling index: index out of range: 5"#,
        ),
        (
            "{{ len 3 }}",
            r#"template: line:1:3: executing "line" at <len 3>: error calling len: len of type int"#,
        ),
        (
            "{{ nil }}",
            r#"template: line:1:3: executing "line" at <nil>: nil is not a command"#,
        ),
        (
            "{{ \"a\" \"b\" }}",
            r#"template: line:1:3: executing "line" at <"a">: can't give argument to non-function "a""#,
        ),
        // A missing label is "" and Go cannot range over a string.
        (
            "{{ range .nope }}x{{ end }}",
            r#"template: line:1:9: executing "line" at <.nope>: range can't iterate over "#,
        ),
        (
            "{{.foo Replace \"foo\"}}",
            r#"template: line:1:2: executing "line" at <.foo>: foo is not a method but has arguments"#,
        ),
        (
            "x\n{{ trunc 2 }}",
            r#"template: line:2:3: executing "line" at <trunc>: wrong number of args for trunc: want 2 got 1"#,
        ),
        (
            "{{ unixEpoch .user }}",
            r#"template: line:1:13: executing "line" at <.user>: wrong type for value; expected time.Time; got string"#,
        ),
        (
            "{{ duration \"x\" }}",
            r#"template: line:1:3: executing "line" at <duration "x">: error calling duration: time: invalid duration "x""#,
        ),
        (
            "{{ unixToTime \"12\" }}",
            r#"template: line:1:3: executing "line" at <unixToTime "12">: error calling unixToTime: unable to parse time '12': %!w(<nil>)"#,
        ),
        (
            "{{ bytes \"12 XB\" }}",
            r#"template: line:1:3: executing "line" at <bytes "12 XB">: error calling bytes: unhandled size name: xb"#,
        ),
        (
            "{{ urldecode \"%zz\" }}",
            r#"template: line:1:3: executing "line" at <urldecode "%zz">: error calling urldecode: invalid URL escape "%zz""#,
        ),
    ];
    for (src, want) in cases {
        assert_eq!(render(src).unwrap_err().to_string(), want, "{src}");
    }
    let e = render(r#"{{ regexReplaceAll "[" .user "x" }}"#)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("error calling regexReplaceAll: error parsing regexp: "),
        "{e}"
    );
}

#[test]
fn failed_render_leaves_output_untouched() {
    let t = Template::parse("abc{{ div 1 0 }}").unwrap();
    let mut out = String::from("keep");
    let err = t.render(&data(), &mut out).unwrap_err();
    assert!(matches!(err, TemplateError::Exec { .. }));
    assert_eq!(out, "keep");
    t.render(&data(), &mut out).unwrap_err();
    let ok_t = Template::parse("+{{ .user }}").unwrap();
    ok_t.render(&data(), &mut out).unwrap();
    assert_eq!(out, "keep+alice");
}

#[test]
fn dollar_variable() {
    assert_eq!(ok("{{ with .user }}{{ $.method }}{{ end }}"), "GET");
    assert_eq!(ok("{{ if true }}{{ $ = 1 }}{{ end }}{{ $ }}"), "1");
    assert_eq!(
        ok("{{ $x := 1 }}{{ if true }}{{ $ = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}{{ $ }}"),
        "12"
    );
}

#[test]
fn lexer_error_texts() {
    let cases = [
        ("{{ a@ }}", "template: line:1: bad character U+0040 '@'"),
        ("{{ .a# }}", "template: line:1: bad character U+0023 '#'"),
        (
            "{{ 'ab' }}",
            "template: line:1: malformed character constant: 'ab'",
        ),
        (
            "{{ 'a }}",
            "template: line:1: unterminated character constant",
        ),
        (
            "{{ `abc }}",
            "template: line:1: unterminated raw quoted string",
        ),
        ("{{ \"\\q\" }}", "template: line:1: invalid syntax"),
        (
            "{{ 99999999999999999999 }}",
            "template: line:1: integer overflow: \"99999999999999999999\"",
        ),
        ("{{ .a :x }}", "template: line:1: expected :="),
    ];
    for (src, want) in cases {
        match Template::parse(src) {
            Ok(_) => panic!("{src}: parsed"),
            Err(e) => assert_eq!(e.to_string(), want, "{src}"),
        }
    }
}

#[test]
fn template_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Template>();
    check::<TemplateError>();
}

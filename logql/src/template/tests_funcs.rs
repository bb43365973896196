//! Loki's template functions: examples from Loki's template function docs
//! and Go/sprig semantics for conversions, math, time and encodings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::tests::ok;

#[test]
fn string_functions() {
    let cases = [
        (r#"{{ alignLeft 5 "hello world"}}"#, "hello"),
        (r#"{{ alignLeft 5 "hi"}}"#, "hi   "),
        (r#"{{ alignRight 5 "hello world"}}"#, "world"),
        (r#"{{ alignRight 5 "hi"}}"#, "   hi"),
        (r#"{{ default "-" "" }}"#, "-"),
        (r#"{{ default "-" "foo" }}"#, "foo"),
        (r#"{{ default "x" 0 }}|{{ default "x" }}"#, "x|x"),
        (r#"{{ lower "HELLO"}}"#, "hello"),
        (r#"{{ upper "straße" }}"#, "STRAßE"),
        (r#"{{ repeat 3 "hello" }}"#, "hellohellohello"),
        (
            r#"{{ replace "hello" "world" "hello world" }}"#,
            "world world",
        ),
        (r#"{{ substr 0 5 "hello world"}}"#, "hello"),
        (r#"{{ substr 6 11 "hello world"}}"#, "world"),
        (r#"{{ title "hello world"}}"#, "Hello World"),
        (r#"{{ title "o'neil is_here x-y" }}"#, "O'Neil Is_here X-Y"),
        (r#"{{ trim "   hello    " }}"#, "hello"),
        (r#"{{ trimAll "$" "$5.00" }}"#, "5.00"),
        (r#"{{ trimPrefix "-" "-hello" }}"#, "hello"),
        (r#"{{ trimSuffix "-" "hello-" }}"#, "hello"),
        (r#"{{ trunc 5 "hello world"}}"#, "hello"),
        (r#"{{ trunc -5 "hello world"}}"#, "world"),
        (
            r#"{{ Trim "xxhixx" "x" }}|{{ TrimLeft "xxhixx" "x" }}|{{ TrimRight "xxhixx" "x" }}"#,
            "hi|hixx|xxhi",
        ),
        (
            r#"{{ TrimPrefix "prefix-x" "prefix-" }}|{{ TrimSuffix "x.log" ".log" }}|{{ TrimSpace "  a  " }}"#,
            "x|x|a",
        ),
        (r#"{{ ToLower "ABC" }}{{ ToUpper "abc" }}"#, "abcABC"),
        (r#"{{ Replace "aaa" "a" "b" 2 }}"#, "bba"),
        (
            r#"{{ .path | replace " " "_" | trunc 5 | upper }}"#,
            "/API/",
        ),
        (
            r#"{{ if and (contains "he" "hello") (contains "llo" "hello") }} yes {{end}}"#,
            " yes ",
        ),
        // contains(substr, s): every string contains "" (the docs' example has the arguments swapped).
        (
            r#"{{ if contains .nope "ErrTimeout" }} timeout {{else if contains "he" "hello"}} yes {{else}} no {{end}}"#,
            " timeout ",
        ),
        (
            r#"{{ if contains "ErrTimeout" .nope }} timeout {{else if contains "he" "hello"}} yes {{else}} no {{end}}"#,
            " yes ",
        ),
        (r#"{{ if eq "hello" "hello" }} yes {{end}}"#, " yes "),
        (r#"{{ if hasPrefix "he" "hello" }} yes {{end}}"#, " yes "),
        (r#"{{ .spaces | trim | printf "[%s]" }}"#, "[padded]"),
        (r#"{{ indent 2 "a\nb" }}"#, "  a\n  b"),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
}

#[test]
fn regex_functions() {
    let cases = [
        (r#"{{ count "a|b" "abab" }}"#, "4"),
        (r#"{{ count "o" "foo" }}"#, "2"),
        (r#"{{ __line__ | count "=" }}"#, "3"),
        (
            r#"{{ regexReplaceAll "(a*)bc" "aabcxbc" "${1}a" }}"#,
            "aaaxa",
        ),
        (
            r#"{{ regexReplaceAll "(?P<w>[a-z]+)@" "bob@x" "$w." }}"#,
            "bob.x",
        ),
        (r#"{{ regexReplaceAll "(a)" "a" "$1x" }}"#, ""),
        (r#"{{ regexReplaceAll "(a)" "a" "$$1" }}"#, "$1"),
        (
            r#"{{ regexReplaceAllLiteral "(ts=)" "ts=1" "timestamp=" }}"#,
            "timestamp=1",
        ),
        (
            r#"{{ $re := "[0-9]+" }}{{ regexReplaceAll $re .path "N" }}"#,
            "/api/vN/users",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
}

#[test]
fn number_functions() {
    let cases = [
        (r#"{{ int "12" }} {{ int 12.5 }} {{ int "12.5" }} {{ int "12.0" }} {{ int "0x1F" }} {{ int "abc" }} {{ int true }}"#, "12 12 0 12 31 0 1"),
        (r#"{{ float64 "1e3" }} {{ float64 "x" }} {{ "3.5" | float64 }}"#, "1000 0 3.5"),
        ("{{ add 3 2 5 }} {{ addf 3.5 2 5 }} {{ divf 10 2 4 }}", "10 10.5 1.25"),
        ("{{ mul 5 2 3 }} {{ mulf 5.5 2 2.5 }} {{ subf 5.5 2 1.5 }}", "30 27.5 2"),
        ("{{ round 123.555555 3 }} {{ round 123.88571428571 5 .2 }} {{ round 123.88571428571 5 }}", "123.556 123.88572 123.88571"),
        ("{{ ceil 123.001 }} {{ floor 123.9999 }} {{ maxf 1 2.5 3 }} {{ minf 1 2.5 3 }}", "124 123 3 1"),
        ("{{ max 1 2 3 }} {{ min 1 2 3 }} {{ sub 5 2 }} {{ div 10 2 }} {{ mod 10 3 }}", "3 1 3 5 1"),
        ("{{ addf 0.1 0.2 }} {{ divf 2 3 }} {{ div 7 2 }} {{ mod -7 3 }}", "0.3 0.6666666666666667 3 -1"),
        ("{{ sub .took .fast }} {{ add .float 1 }} {{ addf .float 1 }}", "1480 1 13.5"),
        ("{{ div .took 1000 }}", "1"),
        (r#"{{ bytes "1KiB" }} {{ bytes "1.5 MB" }} {{ bytes "42" }} {{ bytes "1,024 kb" }}"#, "1024 1.5e+06 42 1.024e+06"),
        (r#"{{ duration "1h30m" }} {{ duration_seconds "1.5s" }} {{ "250ms" | duration }} {{ duration "-2m" }}"#, "5400 1.5 0.25 -120"),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
}

#[test]
fn encoding_functions() {
    let cases = [
        (
            r#"{{ b64enc "hello" }} {{ b64enc "hi" }} {{ b64enc "" }}"#,
            "aGVsbG8= aGk= ",
        ),
        (r#"{{ b64dec "aGVsbG8=" }} {{ b64dec "aGk=" }}"#, "hello hi"),
        (
            r#"{{ b64dec "!!" }}"#,
            "illegal base64 data at input byte 0",
        ),
        (
            r#"{{ b64dec "aGk" }}"#,
            "illegal base64 data at input byte 0",
        ),
        (r#"{{ urlencode "a b/c?d=e&f~" }}"#, "a+b%2Fc%3Fd%3De%26f~"),
        (r#"{{ urldecode "a+b%2Fc" }}"#, "a b/c"),
        (
            r#"{{ (fromJson .json).a.b }} {{ (fromJson .json).n }} {{ (fromJson .json).list }}"#,
            "deep 5 [1 x <nil>]",
        ),
        (
            r#"{{ (fromJson .json).missing }}|{{ fromJson "invalid" }}"#,
            "<no value>|<no value>",
        ),
        (
            r#"{{ with fromJson .json }}{{ range $k, $v := . }}{{ $k }};{{ end }}{{ end }}"#,
            "a;list;n;",
        ),
        (
            r#"{{ range $q := fromJson "[{\"query\":\"a\"},{\"query\":\"b\"}]" }} {{ $q.query }} {{ end }}"#,
            " a  b ",
        ),
        (r#"{{ fromJson "{\"foo\": 55}" }}"#, "map[foo:55]"),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
}

#[test]
fn time_functions() {
    let cases = [
        (
            "{{ __timestamp__ | unixEpochMillis }} {{ __timestamp__ | unixEpochNanos }}",
            "1700000000123 1700000000123456789",
        ),
        (
            r#"{{ toDate "2006-01-02" "bad" }}"#,
            "0001-01-01 00:00:00 +0000 UTC",
        ),
        (
            r#"{{ date "2006-01-02 15:04:05" (unixToTime "1679577215") }}"#,
            "2023-03-23 13:13:35",
        ),
        (
            r#"{{ date "Mon Jan 2 15:04:05 MST 2006" (unixToTime "1700000000") }}"#,
            "Tue Nov 14 22:13:20 UTC 2023",
        ),
        (
            r#"{{ date "Monday, January _2 3:04PM .000 002" (unixToTime "1700000000123") }}"#,
            "Tuesday, November 14 10:13PM .123 318",
        ),
        (
            r#"{{ date "06/1/2 03pm Z07:00 -0700" (unixToTime "1700000000") }}"#,
            "23/11/14 10pm Z +0000",
        ),
        (
            r#"{{ unixToTime "19373" | unixEpoch }} {{ unixToTime "1673798889902000" | unixEpochMillis }}"#,
            "1673827200 1673798889902",
        ),
        (
            r#"{{ toDateInZone "2006-01-02T15:04:05Z07:00" "UTC" "2021-11-02T10:00:00+02:00" | unixEpoch }}"#,
            "1635840000",
        ),
        (
            r#"{{ toDate "2006-01-02T15:04:05.999999999Z07:00" "2021-11-02T10:00:00.5+02:00" }}"#,
            "2021-11-02 10:00:00.5 +0200 +0200",
        ),
        (
            r#"{{ toDate "Jan _2 2006 3:04:05 PM" "Feb  3 2020 1:02:03 PM" | unixEpoch }}"#,
            "1580734923",
        ),
        (
            r#"{{ toDate "2006-01-02 15:04:05" "2021-11-02 10:00:00.25" | unixEpochMillis }}"#,
            "1635847200250",
        ),
        (
            r#"{{ toDate "2006-01-02" "2021-02-30" | unixEpoch }}"#,
            "-62135596800",
        ),
        (
            r#"{{ (unixToTime "1700000000").Year }} {{ (toDate "2006-01-02" "2021-11-02").Unix }}"#,
            "2023 1635811200",
        ),
        (r#"{{ date "2006" 0 }}"#, "1970"),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
    // `now` is the current time: only check it is a recent year.
    let year: i64 = ok(r#"{{ date "2006" now }}"#).parse().unwrap();
    assert!(year >= 2024, "{year}");
}

#[test]
fn named_time_zones() {
    let cases = [
        (
            r#"{{ toDateInZone "2006-01-02" "Nowhere/X" "2021-11-02" }}"#,
            "2021-11-02 00:00:00 +0000 UTC",
        ),
        (
            r#"{{ toDateInZone "2006-01-02" "Local" "2021-11-02" }}"#,
            "2021-11-02 00:00:00 +0000 UTC",
        ),
        (
            r#"{{ toDate "2006-01-02 15:04:05 MST" "2021-11-02 10:00:00 GMT" }}"#,
            "2021-11-02 10:00:00 +0000 GMT",
        ),
        (
            r#"{{ toDate "2006-01-02 15:04:05 MST" "2021-11-02 10:00:00 UTC" | unixEpoch }}"#,
            "1635847200",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
    if super::zone::load("Europe/Paris").is_none() {
        return; // no tz database on this machine
    }
    let cases = [
        (
            r#"{{ toDateInZone "2006-01-02 15:04" "Europe/Paris" "2021-07-01 12:00" }}"#,
            "2021-07-01 12:00:00 +0200 CEST",
        ),
        (
            r#"{{ toDateInZone "2006-01-02 15:04" "Europe/Paris" "2021-07-01 12:00" | unixEpoch }}"#,
            "1625133600",
        ),
        (
            r#"{{ toDateInZone "2006-01-02" "Europe/Paris" "2021-11-02" | unixEpoch }}"#,
            "1635807600",
        ),
        (
            r#"{{ toDateInZone "2006-01-02T15:04:05Z07:00" "Europe/Paris" "2021-07-01T12:00:00+02:00" }}"#,
            "2021-07-01 12:00:00 +0200 CEST",
        ),
        (
            r#"{{ toDateInZone "2006-01-02T15:04:05Z07:00" "Europe/Paris" "2021-07-01T12:00:00+05:00" }}"#,
            "2021-07-01 12:00:00 +0500 +0500",
        ),
        (
            r#"{{ toDateInZone "2006-01-02 15:04" "America/New_York" "2021-01-15 08:30" | date "15:04 MST" }}"#,
            "13:30 UTC",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(ok(src), want, "{src}");
    }
}

//! Go (RE2) regular expressions on the `regex` crate. The syntax is nearly
//! the same; the differences that change matches are the Perl classes,
//! ASCII-only in Go (`\d \w \s \b`) but Unicode in Rust, so they are
//! rewritten to their ASCII forms. `\Q...\E` literals are also supported.

/// Compiles a Go regular expression; the error is Go-like text.
pub(crate) fn compile(re: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&translate(re)).map_err(|e| error_text(re, &e))
}

fn error_text(re: &str, e: &regex::Error) -> String {
    let detail = match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find(|l| l.starts_with("error: "))
            .unwrap_or("invalid syntax")
            .trim_start_matches("error: ")
            .to_string(),
        other => other.to_string(),
    };
    // Go's wording for the common mistakes.
    let detail = match detail.as_str() {
        "unclosed character class" => "missing closing ]",
        "unclosed group" => "missing closing )",
        "unopened group" => "unexpected )",
        "repetition operator missing expression" => "missing argument to repetition operator",
        other => other,
    };
    format!("error parsing regexp: {detail}: `{re}`")
}

/// Rewrites Go-only or Go-different syntax into the `regex` crate's.
fn translate(re: &str) -> String {
    let mut out = String::with_capacity(re.len() + 8);
    let mut chars = re.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                match n {
                    'd' => out.push_str("[0-9]"),
                    'D' => out.push_str("[^0-9]"),
                    'w' => out.push_str("[0-9A-Za-z_]"),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    's' => out.push_str("[\\t\\n\\f\\r ]"),
                    'S' => out.push_str("[^\\t\\n\\f\\r ]"),
                    'b' if !in_class => out.push_str("(?-u:\\b)"),
                    'B' if !in_class => out.push_str("(?-u:\\B)"),
                    'Q' => {
                        let mut lit = String::new();
                        while let Some(q) = chars.next() {
                            if q == '\\' && chars.peek() == Some(&'E') {
                                chars.next();
                                break;
                            }
                            lit.push(q);
                        }
                        out.push_str(&regex::escape(&lit));
                    }
                    n => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' if in_class => {
                // A POSIX class such as [:alpha:] inside a bracket expression.
                out.push('[');
                if chars.peek() == Some(&':') {
                    for p in chars.by_ref() {
                        out.push(p);
                        if p == ']' {
                            break;
                        }
                    }
                } else {
                    // A literal '[' in a Go class; nested classes are Rust-only.
                    out.pop();
                    out.push_str("\\[");
                }
            }
            '[' => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' | '-' if in_class && chars.peek() == Some(&c) => {
                // `&&`, `~~` and `--` are set operators in Rust classes.
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn perl_classes_are_ascii_like_go() {
        let cases = [
            (r"\d+", "x٣42", "42"),
            (r"\w+", "café", "caf"),
            (r"[\d.]+", "v1.2x", "1.2"),
            (r"[^\d]+", "ab12", "ab"),
            (r"\s", "a\u{a0} b", " "),
            (r"\Qa.b\E", "axb a.b", "a.b"),
            (r"[]a]+", "]a]b", "]a]"),
            (r"[[:alpha:]]+", "ab1", "ab"),
            (r"[a[]+", "a[[b", "a[["),
            (r"[a&&b]+", "a&&b", "a&&b"),
        ];
        for (re, hay, want) in cases {
            let r = compile(re).unwrap();
            assert_eq!(r.find(hay).map(|m| m.as_str()), Some(want), "{re}");
        }
        assert!(
            compile(r"\bé").unwrap().find("xé").is_some(),
            "ASCII word boundary"
        );
        assert_eq!(
            compile("[").unwrap_err(),
            "error parsing regexp: missing closing ]: `[`"
        );
        assert_eq!(
            compile("a(b").unwrap_err(),
            "error parsing regexp: missing closing ): `a(b`"
        );
    }
}

//! Regex-related checks Loki makes at parse time: Go-style regex error
//! texts, the `regexp` parser's named captures and the `pattern` parser's
//! syntax.

use crate::labels::is_valid_label_name;

/// Formats a regex compile error like Go's `regexp` does where it can
/// (`error parsing regexp: invalid escape sequence: `\q``).
pub(crate) fn go_regex_error(pattern: &str, e: &regex::Error) -> String {
    let text = e.to_string();
    let go = |code: &str, frag: &str| format!("error parsing regexp: {code}: `{frag}`");
    if text.contains("escape") {
        if let Some(esc) = bad_escape(pattern) {
            return go("invalid escape sequence", &esc);
        }
        if pattern.ends_with('\\') {
            return go("trailing backslash at end of expression", "");
        }
    }
    if text.contains("unclosed group") {
        return go("missing closing )", pattern);
    }
    if text.contains("unopened group") {
        return go("unexpected )", pattern);
    }
    if text.contains("unclosed character class") {
        let frag = pattern.rfind('[').map_or(pattern, |i| &pattern[i..]);
        return go("missing closing ]", frag);
    }
    if text.contains("missing expression") {
        // the first repetition operator that is not a group's `(?`
        let mut prev = ' ';
        let mut op = String::new();
        for c in pattern.chars() {
            if matches!(c, '*' | '+') || (c == '?' && prev != '(') {
                op.push(c);
                break;
            }
            prev = c;
        }
        return go("missing argument to repetition operator", &op);
    }
    if text.contains("invalid character class range") {
        return go("invalid character class range", pattern);
    }
    if text.contains("look-around") {
        return go("invalid or unsupported Perl syntax", pattern);
    }
    if text.contains("repetition") || text.contains("decimal") {
        return go("invalid repeat count", pattern);
    }
    let detail = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(text.as_str());
    go(detail, pattern)
}

/// The first escape Go's RE2 syntax rejects.
fn bad_escape(pattern: &str) -> Option<String> {
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            continue;
        }
        let n = it.next()?;
        let ok = (n.is_ascii_punctuation())
            || matches!(
                n,
                'a' | 'f' | 't' | 'n' | 'r' | 'v' | 'x' | 'p' | 'P' | 'd' | 'D' | 's' | 'S'
            )
            || matches!(
                n,
                'w' | 'W' | 'b' | 'B' | 'A' | 'z' | 'Q' | 'E' | 'C' | '0'..='7'
            );
        if !ok {
            return Some(format!("\\{n}"));
        }
    }
    None
}

/// `log.NewRegexpParser`: the regex compiles and names valid, unique captures.
pub(crate) fn check_regexp_parser(re: &str) -> Result<(), String> {
    let r = regex::Regex::new(re).map_err(|e| go_regex_error(re, &e))?;
    let mut names = 0;
    for n in r.capture_names().flatten() {
        if !is_valid_label_name(n) {
            return Err(format!("invalid extracted label name '{n}'"));
        }
        names += 1;
    }
    if names == 0 {
        return Err("at least one named capture must be supplied".into());
    }
    Ok(())
}

/// A piece of a `pattern` expression.
enum Piece<'a> {
    Literal,
    Capture(&'a str),
}

fn pattern_pieces(p: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(name) = capture_at(rest) {
            out.push(Piece::Capture(name));
            rest = &rest[name.len() + 2..];
            continue;
        }
        let first = rest.chars().next().map_or(1, char::len_utf8);
        let next = rest[first..].find('<').map_or(rest.len(), |i| i + first);
        if !matches!(out.last(), Some(Piece::Literal)) {
            out.push(Piece::Literal);
        }
        rest = &rest[next..];
    }
    out
}

/// `<name>` at the start of `s`: the name.
fn capture_at(s: &str) -> Option<&str> {
    let body = s.strip_prefix('<')?;
    let end = body.find('>')?;
    let name = &body[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    let ok = (first == '_' || first.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    ok.then_some(name)
}

/// `log.NewPatternParser` validation.
pub(crate) fn check_pattern(p: &str) -> Result<(), String> {
    let pieces = pattern_pieces(p);
    let named: Vec<&str> = pieces
        .iter()
        .filter_map(|x| match x {
            Piece::Capture(n) if *n != "_" => Some(*n),
            _ => None,
        })
        .collect();
    if named.is_empty() {
        return Err("at least one capture is required".into());
    }
    for w in pieces.windows(2) {
        if let [Piece::Capture(a), Piece::Capture(b)] = w {
            return Err(format!(
                "found consecutive capture '<{a}><{b}>': invalid expression"
            ));
        }
    }
    for (i, n) in named.iter().enumerate() {
        if named[..i].contains(n) {
            return Err(format!("duplicate capture name ({n}): invalid expression"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(check_pattern("<ip> - <_>").is_ok());
        assert!(check_pattern("<_> foo").is_err());
        assert!(check_pattern("<a><b>").is_err());
        assert!(check_pattern("<a> <a>").is_err());
        assert!(check_pattern("").is_err());
    }

    #[test]
    fn regexp_parser() {
        assert!(check_regexp_parser("(?P<a>\\d+)").is_ok());
        assert!(check_regexp_parser("(\\d+)").is_err());
        let pat = ["a", "\\q"].concat();
        let e = regex::Regex::new(&pat).err();
        assert!(e.is_some_and(|e| go_regex_error(&pat, &e).ends_with("`\\q`")));
    }
}

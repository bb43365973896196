//! Loki's pattern expressions: `<name>` captures, `<_>` skips and literal
//! text. Used by the `pattern` parser (extracting captures) and by the `|>` /
//! `!>` line filters (testing a line).

use memchr::memmem;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(Vec<u8>),
    /// `None` is the unnamed `<_>`.
    Capture(Option<String>),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    nodes: Vec<Node>,
    names: Vec<String>,
}

fn lex(src: &str) -> Vec<Node> {
    let b = src.as_bytes();
    let mut nodes: Vec<Node> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<' {
            let start = i + 1;
            let mut j = start;
            if j < b.len() && (b[j].is_ascii_alphabetic() || b[j] == b'_') {
                j += 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j < b.len() && b[j] == b'>' {
                    let name = &src[start..j];
                    nodes.push(Node::Capture((name != "_").then(|| name.to_string())));
                    i = j + 1;
                    continue;
                }
            }
        }
        match nodes.last_mut() {
            Some(Node::Literal(l)) => l.push(b[i]),
            _ => nodes.push(Node::Literal(vec![b[i]])),
        }
        i += 1;
    }
    nodes
}

fn check_consecutive(nodes: &[Node]) -> Result<(), String> {
    let consecutive = nodes
        .windows(2)
        .any(|w| matches!(w, [Node::Capture(_), Node::Capture(_)]));
    if consecutive {
        return Err("found consecutive capture: invalid expression".into());
    }
    Ok(())
}

impl Pattern {
    /// Compiles a `| pattern "..."` expression: needs a named capture, no
    /// consecutive captures and unique names.
    pub(crate) fn parser(src: &str) -> Result<Pattern, String> {
        let nodes = lex(src);
        let names: Vec<String> = nodes
            .iter()
            .filter_map(|n| match n {
                Node::Capture(Some(name)) => Some(name.clone()),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Err("at least one capture is required".into());
        }
        check_consecutive(&nodes)?;
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(format!("duplicate capture name ({n}): invalid expression"));
            }
        }
        Ok(Pattern { nodes, names })
    }

    /// Compiles a `|>` line-filter pattern: only `<_>` captures allowed.
    pub(crate) fn line_filter(src: &str) -> Result<Pattern, String> {
        let nodes = lex(src);
        check_consecutive(&nodes)?;
        if nodes.iter().any(|n| matches!(n, Node::Capture(Some(_)))) {
            return Err("named captures are not allowed".into());
        }
        Ok(Pattern {
            nodes,
            names: vec![],
        })
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Extracts the named captures in order; fewer than `names()` when the
    /// line ends early, empty when a leading literal does not match.
    pub(crate) fn matches<'a>(&self, mut line: &'a [u8], out: &mut Vec<&'a [u8]>) {
        out.clear();
        if line.is_empty() || self.nodes.is_empty() {
            return;
        }
        let mut nodes = &self.nodes[..];
        if let Node::Literal(l) = &nodes[0] {
            if !line.starts_with(l) {
                return;
            }
            line = &line[l.len()..];
            nodes = &nodes[1..];
        }
        while !nodes.is_empty() {
            let Node::Capture(name) = &nodes[0] else {
                return;
            };
            if nodes.len() == 1 {
                if name.is_some() {
                    out.push(line);
                }
                return;
            }
            let Node::Literal(lit) = &nodes[1] else {
                return;
            };
            nodes = &nodes[2..];
            match memmem::find(line, lit) {
                None => {
                    if name.is_some() {
                        out.push(line);
                    }
                    return;
                }
                Some(i) => {
                    if name.is_some() {
                        out.push(&line[..i]);
                    }
                    line = &line[i + lit.len()..];
                }
            }
        }
    }

    /// Loki's `Matcher.Test` for `|>`: literals must appear in order with
    /// non-empty captures between them; the end must agree with the last node.
    pub(crate) fn test(&self, line: &[u8]) -> bool {
        if line.is_empty() || self.nodes.is_empty() {
            return line.is_empty() && self.nodes.is_empty();
        }
        let mut off = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            let Node::Literal(lit) = n else { continue };
            let Some(j) = memmem::find(&line[off..], lit) else {
                return false;
            };
            if i != 0 && j == 0 {
                return false;
            }
            off += j + lit.len();
        }
        let ends_on_capture = matches!(self.nodes.last(), Some(Node::Capture(_)));
        ends_on_capture == (off != line.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]
    use super::*;

    fn caps(p: &str, line: &str) -> Vec<String> {
        let p = Pattern::parser(p).unwrap();
        let mut out = vec![];
        p.matches(line.as_bytes(), &mut out);
        out.iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    }

    #[test]
    fn extracts() {
        assert_eq!(
            caps(
                r#"<ip> - <user> "<method> <path> <_>" <_>"#,
                r#"10.0.0.1 - bob "GET /x HTTP/1.1" 200 5"#
            ),
            vec!["10.0.0.1", "bob", "GET", "/x"]
        );
        assert_eq!(caps("<a> <b>", "one"), vec!["one"]);
        assert!(caps("x<a>", "y1").is_empty());
        assert_eq!(caps("<a>=<b>", "k=v=w"), vec!["k", "v=w"]);
    }

    #[test]
    fn validation() {
        assert!(Pattern::parser("<_> foo").is_err());
        assert!(Pattern::parser("<a><b>").is_err());
        assert!(Pattern::parser("<a> <a>").is_err());
        assert!(Pattern::line_filter("<a> x").is_err());
        assert!(Pattern::line_filter("<_> x").is_ok());
        assert_eq!(
            Pattern::parser("<1a> <b>").unwrap().names(),
            &["b".to_string()]
        );
    }

    #[test]
    fn line_test() {
        let p = Pattern::line_filter("<_> bar").unwrap();
        assert!(!p.test(b"foo bar baz"));
        assert!(Pattern::line_filter("<_> baz")
            .unwrap()
            .test(b"foo bar baz"));
        assert!(Pattern::line_filter("foo <_>")
            .unwrap()
            .test(b"foo bar baz"));
        assert!(!Pattern::line_filter("<_> bar <_>").unwrap().test(b" bar "));
        assert!(Pattern::line_filter("<_>bar<_>").unwrap().test(b" bar "));
        assert!(!Pattern::line_filter("x").unwrap().test(b""));
    }
}

//! Drain log-template mining, after the algorithm Loki's pattern ingester
//! uses: lines are tokenized ([`tokenize`]), routed through a fixed-depth
//! prefix tree (token count, then the first [`PREFIX_DEPTH`] tokens, with
//! tokens holding a digit and overflowing nodes going to a `<_>` child),
//! and joined to the most similar cluster of the leaf when at least
//! [`SIM_TH`] of the tokens match; the tokens that differ become `<_>`.

use std::collections::HashMap;

/// The variable-token placeholder, a capture in Loki's pattern syntax.
pub const PARAM: &str = "<_>";
/// Share of equal tokens a line needs to join a cluster (Loki's `sim_th`).
pub const SIM_TH: f64 = 0.3;
/// Prefix tokens the tree branches on below the token-count level.
const PREFIX_DEPTH: usize = 3;
/// Children an inner node keeps before routing the rest to `<_>`.
const MAX_CHILDREN: usize = 15;
/// Clusters a leaf keeps; further lines join the most similar one.
const MAX_CLUSTERS_PER_NODE: usize = 50;

/// One token and whether a space separates it from the previous one.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub text: String,
    pub spaced: bool,
}

/// Splits on spaces; a `key=value` token becomes `key=` and `value`
/// (unspaced), so values vary while keys stay literal.
pub fn tokenize(line: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for (i, word) in line.split(' ').filter(|w| !w.is_empty()).enumerate() {
        let spaced = i > 0;
        match word.find('=') {
            Some(eq) if eq > 0 && eq + 1 < word.len() => {
                out.push(Token {
                    text: word[..=eq].to_string(),
                    spaced,
                });
                out.push(Token {
                    text: word[eq + 1..].to_string(),
                    spaced: false,
                });
            }
            _ => out.push(Token {
                text: word.to_string(),
                spaced,
            }),
        }
    }
    out
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// A mined template; its index in [`Drain::clusters`] is its id.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub tokens: Vec<Token>,
}

impl Cluster {
    /// The template as a Loki pattern string.
    pub fn pattern(&self) -> String {
        let mut s = String::new();
        for t in &self.tokens {
            if t.spaced {
                s.push(' ');
            }
            s.push_str(&t.text);
        }
        s
    }

    /// Whether the template has any literal token.
    pub fn has_literal(&self) -> bool {
        self.tokens.iter().any(|t| t.text != PARAM)
    }

    /// Equal tokens over length, and the template's `<_>` count.
    fn similarity(&self, toks: &[Token]) -> (f64, usize) {
        let mut same = 0;
        let mut params = 0;
        for (a, b) in self.tokens.iter().zip(toks) {
            if a.text == PARAM {
                params += 1;
            } else if a.text == b.text {
                same += 1;
            }
        }
        (same as f64 / toks.len().max(1) as f64, params)
    }
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<String, Node>,
    clusters: Vec<usize>,
}

/// The Drain tree and its clusters.
#[derive(Debug, Default)]
pub struct Drain {
    root: HashMap<usize, Node>,
    pub clusters: Vec<Cluster>,
}

impl Drain {
    /// Adds a line; returns its cluster's id, `None` for an empty line.
    pub fn train(&mut self, line: &str) -> Option<usize> {
        let toks = tokenize(line);
        if toks.is_empty() {
            return None;
        }
        let mut node = self.root.entry(toks.len()).or_default();
        for t in toks.iter().take(PREFIX_DEPTH) {
            let key = if has_digit(&t.text)
                || (!node.children.contains_key(&t.text) && node.children.len() >= MAX_CHILDREN)
            {
                PARAM.to_string()
            } else {
                t.text.clone()
            };
            node = node.children.entry(key).or_default();
        }
        let mut best: Option<(usize, f64, usize)> = None;
        for &id in &node.clusters {
            let (sim, params) = self.clusters[id].similarity(&toks);
            let better = match best {
                None => true,
                Some((_, s, p)) => sim > s || (sim == s && params > p),
            };
            if better {
                best = Some((id, sim, params));
            }
        }
        let id = match best {
            Some((id, sim, _)) if sim >= SIM_TH || node.clusters.len() >= MAX_CLUSTERS_PER_NODE => {
                for (a, b) in self.clusters[id].tokens.iter_mut().zip(&toks) {
                    if a.text != b.text {
                        a.text = PARAM.to_string();
                    }
                }
                id
            }
            _ => {
                let id = self.clusters.len();
                self.clusters.push(Cluster { tokens: toks });
                node.clusters.push(id);
                id
            }
        };
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mine(lines: &[&str]) -> Vec<String> {
        let mut d = Drain::default();
        for l in lines {
            d.train(l);
        }
        d.clusters.iter().map(Cluster::pattern).collect()
    }

    #[test]
    fn tokenizer_keeps_key_prefixes() {
        let t = tokenize("level=info  msg=ok x");
        let texts: Vec<_> = t.iter().map(|t| (t.text.as_str(), t.spaced)).collect();
        assert_eq!(
            texts,
            [
                ("level=", false),
                ("info", false),
                ("msg=", true),
                ("ok", false),
                ("x", true)
            ]
        );
    }

    #[test]
    fn logfmt_values_collapse() {
        let got = mine(&[
            "level=info msg=\"request done\" user=alice took=12ms status=200",
            "level=info msg=\"request done\" user=bob took=9ms status=200",
            "level=info msg=\"request done\" user=carol took=31ms status=404",
        ]);
        assert_eq!(
            got,
            ["level=info msg=\"request done\" user=<_> took=<_> status=<_>"]
        );
    }

    #[test]
    fn access_logs_collapse_and_templates_stay_apart() {
        let got = mine(&[
            "10.0.0.1 - - [22/Nov/2026:10:00:01] \"GET /api/items HTTP/1.1\" 200 512",
            "10.0.0.7 - - [22/Nov/2026:10:00:02] \"POST /api/cart HTTP/1.1\" 201 48",
            "10.0.0.9 - - [22/Nov/2026:10:00:03] \"GET /api/users HTTP/1.1\" 200 1024",
            "connection refused to db-1 after 3 retries",
            "connection refused to db-2 after 5 retries",
        ]);
        assert_eq!(
            got,
            [
                "<_> - - <_> <_> <_> HTTP/1.1\" <_> <_>",
                "connection refused to <_> after <_> retries",
            ]
        );
    }

    #[test]
    fn dissimilar_lines_of_same_shape_stay_apart() {
        let got = mine(&["disk full on node a", "user login from host b"]);
        assert_eq!(got.len(), 2);
    }
}

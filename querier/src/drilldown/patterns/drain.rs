//! Drain log-template mining, after the algorithm and parameters of
//! Loki's pattern ingester. A line is tokenized for its format
//! ([`super::tokenize`]); lines of fewer than 4 or more than 80 tokens are
//! not mined. The prefix tree branches on the token count, then on the
//! line's first tokens, up to [`MAX_NODE_DEPTH`] levels (Loki's
//! `LogClusterDepth` 30, less two): a token holding a digit takes the
//! `<_>` branch, as does a new token once a node has [`MAX_CHILDREN`]
//! children. A line joins the leaf's most similar cluster when at least
//! [`SIM_TH`] of its tokens equal the template's (ties going to the
//! template with more `<_>`); the tokens that differ become `<_>`.
//! So templates split on literal words near the start of a line
//! (`GET` vs `POST`) and merge on numbers, IDs and times.
//!
//! A Drain holds at most [`MAX_CLUSTERS`] templates; where Loki would
//! evict the least recently used one, lines that would start a new
//! template past the limit are not mined.

use std::collections::HashMap;

use super::tokenize::{self, Format, PARAM};

/// Share of equal tokens a line needs to join a cluster (Loki's `sim_th`).
pub const SIM_TH: f64 = 0.3;
/// Tree levels below the token-count level (Loki's `LogClusterDepth` - 2).
const MAX_NODE_DEPTH: usize = 28;
/// Children an inner node keeps before routing new tokens to `<_>`.
const MAX_CHILDREN: usize = 15;
/// Templates one Drain keeps (Loki's `MaxClusters`).
const MAX_CLUSTERS: usize = 300;
/// Token counts outside this range are not mined.
const MIN_TOKENS: usize = 4;
const MAX_TOKENS: usize = 80;

/// A mined template; its index in [`Drain::clusters`] is its id.
#[derive(Debug, Clone)]
pub struct Cluster {
    tokens: Vec<String>,
    /// Spaces after each token, as in the line that started the cluster.
    spaces: Vec<u8>,
}

impl Cluster {
    /// Equal tokens over length, and the template's `<_>` count.
    fn similarity(&self, toks: &[String]) -> (f64, usize) {
        let mut same = 0;
        let mut params = 0;
        for (a, b) in self.tokens.iter().zip(toks) {
            if a == PARAM {
                params += 1;
            } else if a == b {
                same += 1;
            }
        }
        (same as f64 / self.tokens.len().max(1) as f64, params)
    }
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<String, Node>,
    clusters: Vec<usize>,
}

fn has_digit(s: &str) -> bool {
    s.chars().any(char::is_numeric)
}

/// The Drain tree and its clusters, for lines of one format.
#[derive(Debug)]
pub struct Drain {
    format: Format,
    root: HashMap<usize, Node>,
    pub clusters: Vec<Cluster>,
}

impl Drain {
    pub fn new(format: Format) -> Self {
        Drain {
            format,
            root: HashMap::new(),
            clusters: Vec::new(),
        }
    }

    /// A cluster's template as a Loki pattern string.
    pub fn pattern(&self, c: &Cluster) -> String {
        tokenize::join(self.format, &c.tokens, &c.spaces)
    }

    /// Adds a line; returns its cluster's id, `None` if it is not mined.
    pub fn train(&mut self, line: &str) -> Option<usize> {
        let t = tokenize::tokenize(self.format, line)?;
        if !(MIN_TOKENS..=MAX_TOKENS).contains(&t.tokens.len()) {
            return None;
        }
        if let Some(id) = self.search(&t.tokens) {
            for (a, b) in self.clusters[id].tokens.iter_mut().zip(&t.tokens) {
                if a != b {
                    *a = PARAM.to_string();
                }
            }
            return Some(id);
        }
        if self.clusters.len() >= MAX_CLUSTERS {
            return None;
        }
        let id = self.clusters.len();
        self.insert(&t.tokens, id);
        self.clusters.push(Cluster {
            tokens: t.tokens,
            spaces: t.spaces,
        });
        Some(id)
    }

    /// The best cluster for `toks`: down the tree by exact token, else by
    /// `<_>`, then the most similar cluster of the leaf.
    fn search(&self, toks: &[String]) -> Option<usize> {
        let n = toks.len();
        let mut node = self.root.get(&n)?;
        for (depth, t) in (1..).zip(toks) {
            if depth >= MAX_NODE_DEPTH || depth == n {
                break;
            }
            node = node.children.get(t).or_else(|| node.children.get(PARAM))?;
        }
        let mut best: Option<(usize, f64, usize)> = None;
        for &id in &node.clusters {
            let (sim, params) = self.clusters[id].similarity(toks);
            let better = match best {
                None => true,
                Some((_, s, p)) => sim > s || (sim == s && params > p),
            };
            if better {
                best = Some((id, sim, params));
            }
        }
        best.filter(|b| b.1 >= SIM_TH).map(|b| b.0)
    }

    /// Files a new cluster under the path of its tokens.
    fn insert(&mut self, toks: &[String], id: usize) {
        let n = toks.len();
        let mut node = self.root.entry(n).or_default();
        for (depth, t) in (1..).zip(toks) {
            if depth >= MAX_NODE_DEPTH || depth >= n {
                break;
            }
            let key = if node.children.contains_key(t) {
                t.as_str()
            } else if has_digit(t) {
                PARAM
            } else if node.children.contains_key(PARAM) {
                if node.children.len() < MAX_CHILDREN {
                    t.as_str()
                } else {
                    PARAM
                }
            } else if node.children.len() + 1 < MAX_CHILDREN {
                t.as_str()
            } else {
                PARAM
            };
            node = node.children.entry(key.to_string()).or_default();
        }
        node.clusters.push(id);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mine(lines: &[&str]) -> Vec<String> {
        let format = tokenize::detect(lines[0]);
        let mut d = Drain::new(format);
        for l in lines {
            assert_eq!(tokenize::detect(l), format, "{l}");
            d.train(l);
        }
        d.clusters.iter().map(|c| d.pattern(c)).collect()
    }

    #[test]
    fn logfmt_values_collapse_keys_stay() {
        let got = mine(&[
            r#"ts=2026-11-22T10:00:01.123Z level=info caller=http.go:88 msg="request done" method=GET path=/api/items status=200 took=12ms"#,
            r#"ts=2026-11-22T10:00:02.456Z level=info caller=http.go:88 msg="request done" method=GET path=/api/items status=404 took=9ms"#,
            r#"ts=2026-11-22T10:00:03.789Z level=info caller=http.go:88 msg="request done" method=GET path=/api/items status=200 took=1.5s"#,
            r#"ts=2026-11-22T10:00:04.000Z level=info caller=http.go:88 msg="request done" method=POST path=/api/cart status=201 took=30ms"#,
        ]);
        assert_eq!(
            got,
            [
                r#"ts=<_> level=info caller=http.go:88 msg="request done" method=GET path=/api/items status=<_> took=<_>"#,
                r#"ts=<_> level=info caller=http.go:88 msg="request done" method=POST path=/api/cart status=201 took=30ms"#,
            ]
        );
    }

    #[test]
    fn json_lines_mine_their_message() {
        let got = mine(&[
            r#"{"time":"2026-11-22T10:00:01Z","level":"error","msg":"payment failed for order 1042","order_id":1042}"#,
            r#"{"time":"2026-11-22T10:00:02Z","level":"error","msg":"payment failed for order 77","order_id":77}"#,
            r#"{"time":"2026-11-22T10:00:03Z","level":"error","msg":"card declined: insufficient funds for user u-311"}"#,
            r#"{"time":"2026-11-22T10:00:04Z","level":"error","msg":"card declined: insufficient funds for user u-9"}"#,
            r#"{"time":"2026-11-22T10:00:05Z","level":"error","code":13}"#,
        ]);
        assert_eq!(
            got,
            [
                "<_>payment failed for order <_>",
                "<_>card declined: insufficient funds for user <_>",
            ]
        );
    }

    #[test]
    fn nginx_access_lines_split_on_method_and_path() {
        let got = mine(&[
            r#"10.0.0.1 - - [22/Nov/2026:10:00:01 +0000] "GET /api/items HTTP/1.1" 200 512 "-" "curl/8.4.0""#,
            r#"192.168.1.20 - - [22/Nov/2026:10:00:02 +0000] "GET /api/items HTTP/1.1" 200 1024 "-" "curl/8.4.0""#,
            r#"10.0.0.9 - - [22/Nov/2026:10:00:03 +0000] "GET /api/items HTTP/1.1" 304 0 "-" "curl/8.4.0""#,
            r#"10.0.0.7 - - [22/Nov/2026:10:00:04 +0000] "POST /api/cart HTTP/1.1" 201 48 "-" "curl/8.4.0""#,
            r#"10.0.0.3 - - [22/Nov/2026:10:00:05 +0000] "POST /api/cart HTTP/1.1" 201 52 "-" "curl/8.4.0""#,
        ]);
        assert_eq!(
            got,
            [
                r#"<_> - - [<_> +0000] "GET /api/items HTTP/1.1" <_> <_> "-" "curl/8.4.0""#,
                r#"<_> - - [<_> +0000] "POST /api/cart HTTP/1.1" 201 <_> "-" "curl/8.4.0""#,
            ]
        );
    }

    #[test]
    fn plain_lines_merge_on_numbers_and_ids() {
        let got = mine(&[
            "connection refused to db-1 after 3 retries",
            "connection refused to db-2 after 5 retries",
            "disk full on node a, 0 bytes left",
            "user login from host b",
            "ok",
        ]);
        assert_eq!(
            got,
            [
                "connection refused to <_> after <_> retries",
                "disk full on node a, 0 bytes left",
                "user login from host b",
            ]
        );
    }

    #[test]
    fn a_crowded_node_routes_new_words_to_the_wildcard() {
        let words: Vec<String> = (0..20)
            .map(|i| {
                format!(
                    "job {} finished cleanly",
                    "abcdefghijklmnopqrst".chars().nth(i).unwrap()
                )
            })
            .collect();
        let lines: Vec<&str> = words.iter().map(String::as_str).collect();
        let got = mine(&lines);
        // 14 words get their own branch, the rest share the <_> branch
        assert_eq!(got.len(), 15);
        assert_eq!(got[14], "job <_> finished cleanly");
        assert_eq!(got[0], "job a finished cleanly");
    }
}

//! Whether Loki would turn a label-filter regex into literal filters.
//!
//! Loki prints a label filter whose regex it cannot simplify with
//! backticks (`msg=~`\w.*``) and a simplifiable one as a plain matcher
//! (`level=~"warn|error"`). This mirrors Loki's simplifier over a small
//! model of Go's regex syntax tree: literals, `.`, `.*`, `.+`, groups and
//! alternations (with Go's prefix factoring and single-character merging);
//! anything else counts as not simplifiable.

#[derive(Debug, Clone, PartialEq)]
enum Re {
    Empty,
    Lit(String),
    AnyNotNl,
    Star(Box<Re>),
    Plus(Box<Re>),
    Concat(Vec<Re>),
    Alt(Vec<Re>),
    /// Anything outside the model (classes, anchors, other repeats...).
    Other,
}

/// `true` when Loki's label-filter simplifier accepts `re`.
pub(crate) fn label_regex_simplifies(re: &str) -> bool {
    let mut p = ReParser {
        chars: re.chars().collect(),
        i: 0,
        dot_nl: false,
    };
    let tree = p.alt();
    if p.i != p.chars.len() {
        return false;
    }
    simplify(&factor(tree))
}

struct ReParser {
    chars: Vec<char>,
    i: usize,
    dot_nl: bool,
}

impl ReParser {
    fn alt(&mut self) -> Re {
        let mut branches = vec![self.concat()];
        while self.chars.get(self.i) == Some(&'|') {
            self.i += 1;
            branches.push(self.concat());
        }
        if branches.len() == 1 {
            return branches.pop().unwrap_or(Re::Empty);
        }
        Re::Alt(branches)
    }

    fn concat(&mut self) -> Re {
        let mut items: Vec<Re> = Vec::new();
        while let Some(&c) = self.chars.get(self.i) {
            let atom = match c {
                '|' | ')' => break,
                '(' => {
                    self.i += 1;
                    if self.chars.get(self.i) == Some(&'?') {
                        // (?:...), (?i), (?s), (?i:...)
                        let start = self.i + 1;
                        let end =
                            (start..self.chars.len()).find(|&j| matches!(self.chars[j], ':' | ')'));
                        let Some(end) = end else { return Re::Other };
                        let flags: String = self.chars[start..end].iter().collect();
                        if !flags
                            .chars()
                            .all(|f| matches!(f, 'i' | 's' | 'm' | 'U' | '-'))
                        {
                            return Re::Other;
                        }
                        if flags.contains('s') && !flags.starts_with('-') {
                            self.dot_nl = true;
                        }
                        self.i = end + 1;
                        if self.chars[end] == ')' {
                            continue;
                        }
                    }
                    let inner = self.alt();
                    if self.chars.get(self.i) != Some(&')') {
                        return Re::Other;
                    }
                    self.i += 1;
                    inner
                }
                '.' => {
                    self.i += 1;
                    if self.dot_nl {
                        Re::Other
                    } else {
                        Re::AnyNotNl
                    }
                }
                '\\' => {
                    self.i += 1;
                    let Some(&e) = self.chars.get(self.i) else {
                        return Re::Other;
                    };
                    self.i += 1;
                    match e {
                        'n' => Re::Lit("\n".into()),
                        't' => Re::Lit("\t".into()),
                        e if e.is_ascii_punctuation() => Re::Lit(e.to_string()),
                        _ => Re::Other,
                    }
                }
                '[' | '^' | '$' | '{' | '*' | '+' | '?' => return Re::Other,
                c => {
                    self.i += 1;
                    Re::Lit(c.to_string())
                }
            };
            let atom = match self.chars.get(self.i) {
                Some('*') => {
                    self.i += 1;
                    Re::Star(Box::new(atom))
                }
                Some('+') => {
                    self.i += 1;
                    Re::Plus(Box::new(atom))
                }
                Some('?') | Some('{') => return Re::Other,
                _ => atom,
            };
            if matches!(self.chars.get(self.i), Some('?')) {
                // non-greedy marker: same tree for filtering purposes
                self.i += 1;
            }
            match (items.last_mut(), &atom) {
                (Some(Re::Lit(prev)), Re::Lit(s)) => prev.push_str(s),
                _ => items.push(atom),
            }
        }
        match items.len() {
            0 => Re::Empty,
            1 => items.pop().unwrap_or(Re::Empty),
            _ => Re::Concat(items),
        }
    }
}

fn leading_lit(r: &Re) -> Option<&str> {
    match r {
        Re::Lit(s) => Some(s),
        Re::Concat(v) => match v.first() {
            Some(Re::Lit(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn strip_prefix(r: Re, n: usize) -> Re {
    let cut = |s: String| -> Re {
        let rest: String = s.chars().skip(n).collect();
        if rest.is_empty() {
            Re::Empty
        } else {
            Re::Lit(rest)
        }
    };
    match r {
        Re::Lit(s) => cut(s),
        Re::Concat(mut v) => {
            let first = v.remove(0);
            if let Re::Lit(s) = first {
                let head = cut(s);
                if head != Re::Empty {
                    v.insert(0, head);
                }
            }
            if v.len() == 1 {
                v.pop().unwrap_or(Re::Empty)
            } else {
                Re::Concat(v)
            }
        }
        other => other,
    }
}

/// Go's alternation factoring: common literal prefixes, then single characters merged into a class.
fn factor(r: Re) -> Re {
    match r {
        Re::Alt(branches) => {
            let branches: Vec<Re> = branches.into_iter().map(factor).collect();
            let mut out: Vec<Re> = Vec::new();
            let mut i = 0;
            while i < branches.len() {
                let Some(first) = leading_lit(&branches[i]).map(|s| s.chars().next()) else {
                    out.push(branches[i].clone());
                    i += 1;
                    continue;
                };
                let mut j = i + 1;
                while j < branches.len()
                    && leading_lit(&branches[j]).map(|s| s.chars().next()) == Some(first)
                {
                    j += 1;
                }
                if j - i == 1 {
                    out.push(branches[i].clone());
                } else {
                    let lits: Vec<Vec<char>> = branches[i..j]
                        .iter()
                        .map(|b| leading_lit(b).unwrap_or("").chars().collect())
                        .collect();
                    let mut n = 0;
                    while lits.iter().all(|l| l.len() > n && l[n] == lits[0][n]) {
                        n += 1;
                    }
                    let prefix: String = lits[0][..n].iter().collect();
                    let rest: Vec<Re> = branches[i..j]
                        .iter()
                        .cloned()
                        .map(|b| strip_prefix(b, n))
                        .collect();
                    out.push(Re::Concat(vec![Re::Lit(prefix), factor(Re::Alt(rest))]));
                }
                i = j;
            }
            // single characters next to each other become a character class
            let single = |r: &Re| matches!(r, Re::Lit(s) if s.chars().count() == 1);
            if out.windows(2).any(|w| single(&w[0]) && single(&w[1])) {
                return Re::Other;
            }
            if out.len() == 1 {
                return out.pop().unwrap_or(Re::Empty);
            }
            Re::Alt(out)
        }
        Re::Concat(v) => Re::Concat(v.into_iter().map(factor).collect()),
        other => other,
    }
}

fn simplify(r: &Re) -> bool {
    match r {
        Re::Alt(b) => b.iter().all(simplify),
        Re::Concat(v) => simplify_concat(v, false),
        Re::Lit(_) | Re::Empty => true,
        Re::Star(s) | Re::Plus(s) => **s == Re::AnyNotNl,
        _ => false,
    }
}

fn simplify_concat(v: &[Re], mut has_base: bool) -> bool {
    let subs: Vec<&Re> = v.iter().filter(|r| **r != Re::Empty).collect();
    if subs.len() > 3 {
        return false;
    }
    let mut literals = 0;
    for s in subs {
        match s {
            Re::Lit(_) => {
                if literals != 0 {
                    return false;
                }
                literals += 1;
                has_base = true;
            }
            Re::Alt(b) if has_base => {
                let ok = b.iter().all(|alt| match alt {
                    Re::Empty | Re::Lit(_) => true,
                    Re::Concat(c) => simplify_concat(c, true),
                    Re::Star(x) => **x == Re::AnyNotNl,
                    _ => false,
                });
                if !ok {
                    return false;
                }
            }
            Re::Star(x) if **x == Re::AnyNotNl => {}
            _ => return false,
        }
    }
    has_base
}

#[cfg(test)]
mod tests {
    use super::label_regex_simplifies as s;

    #[test]
    fn loki_examples() {
        assert!(s("boop"));
        assert!(s(".*"));
        assert!(s(".+"));
        assert!(s("foo\\.bar"));
        assert!(s("(?i).*|UNSET"));
        assert!(s("warn|error"));
        assert!(!s("\\w.*"));
        assert!(!s("5.."));
        assert!(!s("(?i)^(Error|Exception)$"));
        assert!(!s("a|b"));
    }
}

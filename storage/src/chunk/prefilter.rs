//! [`LiteralFilter`]: the literal substrings every line a query keeps must
//! contain (its leading `|=` filters). Readers use it to skip blocks and
//! lines before building entries; the query engine still runs the full
//! pipeline, so the filter only ever needs to keep a superset.

use memchr::memmem::Finder;
use sluice_logql::source::LineCut;

/// Whether a structured metadata pair with this name is needed.
pub type MetadataFilter = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// What a query needs from the entries it reads, so readers can skip the
/// rest: lines with every literal, which structured metadata names, and
/// whether lines may be cut or projected for a parser.
#[derive(Default)]
pub struct ReadFilter {
    pub literals: Option<LiteralFilter>,
    /// When set, only metadata pairs whose name it accepts are returned.
    pub metadata: Option<MetadataFilter>,
    /// When set (and there are no literals), field-layout lines may be cut
    /// after plain pairs holding logfmt keys, or projected to the JSON
    /// members named (`SelectParams::line_cut`).
    pub cut: Option<LineCut>,
}

impl ReadFilter {
    /// How lines may be cut, when a cut applies.
    pub fn line_cut(&self) -> Option<&LineCut> {
        match (&self.literals, &self.cut) {
            (None, Some(c)) if !c.keys().is_empty() => Some(c),
            _ => None,
        }
    }
}

impl ReadFilter {
    /// Whether the pair named `name` is returned.
    pub fn keeps_metadata(&self, name: &str) -> bool {
        self.metadata.as_ref().is_none_or(|f| f(name))
    }
}

impl std::fmt::Debug for ReadFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadFilter")
            .field("literals", &self.literals)
            .field("metadata", &self.metadata.is_some())
            .field("cut", &self.cut)
            .finish()
    }
}

/// Literals searched with `memchr::memmem`, longest (usually rarest) first.
#[derive(Debug)]
pub struct LiteralFilter {
    lits: Vec<Finder<'static>>,
    /// Per literal, its longest run of bytes that a numeric-column template
    /// keeps verbatim (no ASCII digit, no byte <= 0x02); `None` when the
    /// literal has no such byte.
    template: Vec<Finder<'static>>,
    /// Per literal, its longest run of bytes that a field-layout token
    /// template keeps verbatim (as `template`, and no space: tokens are cut
    /// at spaces), with the literal itself; literals without such a run
    /// are left out.
    field: Vec<(Finder<'static>, usize)>,
}

/// Whether a template (see `lines.rs`) stores `b` as itself.
fn template_safe(b: u8) -> bool {
    !b.is_ascii_digit() && b > 0x02
}

/// Whether a field-layout token template stores `b` as itself.
fn field_safe(b: u8) -> bool {
    !b.is_ascii_digit() && b > 0x03 && b != b' '
}

impl LiteralFilter {
    /// A filter requiring every literal; `None` when there is nothing to
    /// require (no literal, or only empty ones).
    pub fn new<S: AsRef<[u8]>>(literals: &[S]) -> Option<LiteralFilter> {
        let mut lits: Vec<&[u8]> = literals
            .iter()
            .map(|l| l.as_ref())
            .filter(|l| !l.is_empty())
            .collect();
        if lits.is_empty() {
            return None;
        }
        lits.sort_by_key(|l| std::cmp::Reverse(l.len()));
        lits.dedup();
        let template = lits
            .iter()
            .filter_map(|l| {
                l.split(|&b| !template_safe(b))
                    .max_by_key(|p| p.len())
                    .filter(|p| !p.is_empty())
                    .map(|p| Finder::new(p).into_owned())
            })
            .collect();
        let mut field: Vec<(Finder<'static>, usize)> = lits
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                l.split(|&b| !field_safe(b))
                    .max_by_key(|p| p.len())
                    .filter(|p| !p.is_empty())
                    .map(|p| (Finder::new(p).into_owned(), i))
            })
            .collect();
        field.sort_by_key(|(f, _)| std::cmp::Reverse(f.needle().len()));
        Some(LiteralFilter {
            field,
            lits: lits
                .into_iter()
                .map(|l| Finder::new(l).into_owned())
                .collect(),
            template,
        })
    }

    /// Whether `line` contains every literal.
    pub fn matches(&self, line: &[u8]) -> bool {
        self.lits.iter().all(|f| f.find(line).is_some())
    }

    /// Whether bytes holding many whole lines may hold a matching one: false
    /// when the first (longest) literal occurs nowhere in them.
    pub fn may_contain(&self, bytes: &[u8]) -> bool {
        self.lits.first().is_none_or(|f| f.find(bytes).is_some())
    }

    /// Whether a numeric-column template stream may hold a matching line:
    /// false when a literal's template-verbatim part occurs nowhere in it.
    pub fn template_may_contain(&self, template: &[u8]) -> bool {
        self.template.iter().all(|f| f.find(template).is_some())
    }

    /// Whether a field-layout block may hold a matching line: false when a
    /// literal's field piece occurs in none of the token templates
    /// (`dict`) and the literal in none of the whole lines (`whole`).
    pub fn fields_may_contain(&self, dict: &[u8], whole: &[u8]) -> bool {
        self.field
            .iter()
            .all(|(p, i)| p.find(dict).is_some() || self.lits[*i].find(whole).is_some())
    }

    /// The longest field piece of any literal: a line of a field-layout
    /// block can only match if one of its token templates holds it.
    pub fn field_piece(&self) -> Option<&Finder<'static>> {
        self.field.first().map(|(f, _)| f)
    }

    /// Which of the lines concatenated in `buf` (lengths `lens`) match:
    /// finds the first literal across the whole buffer, then checks the
    /// others in the lines it hits.
    pub fn matching_lines(&self, buf: &[u8], lens: impl Iterator<Item = u32>) -> Vec<bool> {
        let ends: Vec<usize> = lens
            .scan(0usize, |end, l| {
                *end += l as usize;
                Some(*end)
            })
            .collect();
        let mut keep = vec![false; ends.len()];
        let Some(first) = self.lits.first() else {
            keep.fill(true);
            return keep;
        };
        let n = first.needle().len();
        let mut line = 0usize;
        let mut from = 0usize;
        while let Some(hit) = first.find(&buf[from.min(buf.len())..]) {
            let pos = from + hit;
            while line < ends.len() && ends[line] <= pos {
                line += 1;
            }
            if line == ends.len() {
                break;
            }
            let start = if line == 0 { 0 } else { ends[line - 1] };
            if pos + n <= ends[line] {
                keep[line] = self.lits[1..]
                    .iter()
                    .all(|f| f.find(&buf[start..ends[line]]).is_some());
            }
            // a hit spanning into the next line rules this line out (any later
            // start in it would span too); either way go on with the next line
            from = ends[line];
            line += 1;
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn empty_literals_make_no_filter() {
        assert!(LiteralFilter::new::<&str>(&[]).is_none());
        assert!(LiteralFilter::new(&[""]).is_none());
    }

    #[test]
    fn lines_must_contain_every_literal() {
        let f = LiteralFilter::new(&["err", "disk"]).unwrap();
        assert!(f.matches(b"disk err"));
        assert!(!f.matches(b"disk ok"));
        let lines: [&[u8]; 5] = [b"disk err", b"err", b"er", b"rdisk", b"ok disk and err"];
        let buf = lines.concat();
        let keep = f.matching_lines(&buf, lines.iter().map(|l| l.len() as u32));
        assert_eq!(keep, vec![true, false, false, false, true]);
        // an occurrence spanning two lines does not count
        let keep = f.matching_lines(b"xxerdisk", [4u32, 4].into_iter());
        assert_eq!(keep, vec![false, false]);
        assert!(!f.may_contain(b"no such thing"));
        assert!(f.may_contain(b"xxdiskxx"));
        // nor does it hide an overlapping one inside the next line
        let f = LiteralFilter::new(&["aa"]).unwrap();
        let keep = f.matching_lines(b"xaaaya", [2u32, 2, 1, 1].into_iter());
        assert_eq!(keep, vec![false, true, false, false]);
        let keep = f.matching_lines(b"aaaa", [0u32, 4, 0].into_iter());
        assert_eq!(keep, vec![false, true, false]);
    }

    #[test]
    fn template_check_uses_the_digit_free_part() {
        let f = LiteralFilter::new(&["needle-c0ffee"]).unwrap();
        // "needle-c0ffee" is stored as "needle-c\x01ffee" in a template
        assert!(f.template_may_contain(b"x needle-c\x01ffee y"));
        assert!(!f.template_may_contain(b"x needle-\x01f\x01a y"));
        // a literal of digits only cannot rule out a template
        let f = LiteralFilter::new(&["404"]).unwrap();
        assert!(f.template_may_contain(b"status=\x01"));
    }
}

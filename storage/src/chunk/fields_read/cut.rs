//! Cut lines: a read for a pipeline that reads a line only as far as some
//! logfmt keys (`SelectParams::line_cut`) rebuilds, for each shape whose
//! first tokens are plain pairs holding those keys, only those tokens.
//!
//! A token is a plain pair when every line's token of its column reads
//! `key=value`: the key a label name in the template's literal bytes, the
//! value one or more ASCII graphic bytes other than `"` and `=` (numbers
//! are digits). A logfmt parser reads such tokens one pair each, exactly as
//! it does in the whole line, so one that stops once it has the keys reads
//! the cut line as the whole one.

use super::{FieldLines, Piece};

impl FieldLines {
    /// Lets shapes whose first tokens are plain pairs holding every one of
    /// `keys` rebuild only those tokens (see [`FieldLines::is_cut`]).
    pub(super) fn set_cut(&mut self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        self.cut_prefix = true;
        self.cut_plans = (0..self.tok_base.len())
            .map(|s| {
                let upto = self.cut_columns(s, keys)?;
                Some(self.plan_ops(s, upto).0)
            })
            .collect();
    }

    /// Whether stored line `j` is rebuilt cut: only its start (a
    /// projection, which reads as the whole line, is not a cut).
    pub fn is_cut(&self, j: usize) -> bool {
        if !self.cut_prefix {
            return false;
        }
        match self.fields.shape.get(j) {
            Some(&s) if s > 0 => self
                .cut_plans
                .get(usize::from(s) - 1)
                .is_some_and(Option::is_some),
            _ => false,
        }
    }

    /// How many of shape `s`'s first token columns a cut keeps: the fewest
    /// that are all plain pairs and hold every key, unless that is all of
    /// them (nothing to cut).
    fn cut_columns(&self, s: usize, keys: &[String]) -> Option<usize> {
        let cols = &self.fields.cols[s];
        let mut found = vec![false; keys.len()];
        for (j, (size, _)) in cols.iter().enumerate() {
            let t0 = self.tok_base[s][j] as usize;
            let mut key: Option<&[u8]> = None;
            for t in t0..t0 + *size as usize {
                let k = self.plain_pair_key(t, j > 0)?;
                if key.is_some_and(|key| key != k) {
                    // tokens of several keys: none of them is certain
                    key = Some(&[]);
                } else {
                    key = Some(k);
                }
            }
            if let Some(key) = key {
                for (f, want) in found.iter_mut().zip(keys) {
                    *f |= want.as_bytes() == key;
                }
            }
            if found.iter().all(|&f| f) {
                return (j + 1 < cols.len()).then_some(j + 1);
            }
        }
        None
    }

    /// The key of token `t` when it is a plain pair (see the module
    /// comment); `space`: its literal starts with the separating space.
    fn plain_pair_key(&self, t: usize, space: bool) -> Option<&[u8]> {
        let tok = self.toks[t];
        let pieces = &self.pieces[tok.first as usize..(tok.first + tok.pieces) as usize];
        let lit = |off: u32, len: u32| &self.lit[off as usize..(off + len) as usize];
        let (first, rest) = pieces.split_first()?;
        let Piece::Lit { off, len } = *first else {
            return None;
        };
        let head = lit(off, len);
        let head = if space {
            head.strip_prefix(b" ")?
        } else {
            head
        };
        let eq = head.iter().position(|&c| c == b'=')?;
        let (key, value) = (&head[..eq], &head[eq + 1..]);
        let label_name = key
            .first()
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
            && key.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
        let value_byte = |c: &u8| c.is_ascii_graphic() && *c != b'"' && *c != b'=';
        let mut value_len = value.len();
        if !label_name || !value.iter().all(value_byte) {
            return None;
        }
        for p in rest {
            match *p {
                Piece::Lit { off, len } => {
                    if !lit(off, len).iter().all(value_byte) {
                        return None;
                    }
                    value_len += len as usize;
                }
                Piece::Num { .. } => value_len += 1,
            }
        }
        (value_len > 0).then_some(key)
    }
}

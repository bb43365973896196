//! Projected lines: a read for a pipeline that runs `| json` under parser
//! hints and then only label filters (`LineCut::Json`) rebuilds, for each
//! shape whose every line is a flat JSON object, only the members the
//! hints name: `{"latency_ms":45}` rather than the whole line.
//!
//! A shape qualifies when walking its token columns in order, with every
//! template of a column, reads one JSON object of scalar members and
//! nothing else, and every template of a column leaves the walk in the
//! same state (so each line's tokens, whichever templates they are, read
//! as the same sequence of members). Within the walk:
//! - whitespace is a single space, between tokens or JSON tokens;
//! - a key is a label name spelled in literal bytes (a parser would
//!   sanitise any other, and a number in it could differ per line);
//! - a string holds no backslash and no control byte, and its literal
//!   runs are UTF-8;
//! - a number is `-`? then a number marker without padding (no leading
//!   zero), then optionally `.` and a marker, then optionally `e`/`E`, a
//!   sign and a marker; values are also `true`, `false` and `null`;
//! - the line starts with `{` and ends with its `}`.
//!
//! Every such line is valid JSON. The `json` parser reads it without an
//! error and, under hints, sets labels only from members whose key a hint
//! names, taken in order, each from its own value's bytes: exactly what it
//! does with the projection, which keeps those members, in order, with
//! their values' bytes.

use sluice_logql::source::LineCut;

use super::{FieldLines, Op, Piece};

/// A piece of a token's projection.
#[derive(Clone, Copy, Debug)]
pub(super) enum Proj {
    /// `len` bytes at `off` in `FieldLines::plan_lit`.
    Lit { off: u32, len: u32 },
    /// The token's number `k`, zero-padded to `width`.
    Num { k: u32, width: u8 },
}

/// A symbol of a line: a literal byte or a token's number `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sym {
    Byte(u8),
    Num { k: u32, width: u8 },
}

/// Where the walk stands in a flat JSON object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// Before the opening brace.
    Start,
    /// After `{`: a key or `}`.
    Open,
    /// In a key.
    Key,
    /// After a key: `:`.
    AfterKey,
    /// After `:`: a value.
    Colon,
    /// In a string value.
    Str,
    /// After a number's `-`, `.`, `e` or its sign: a number marker next.
    Digits(Part),
    /// After a number's integer part, fraction or exponent.
    Number(Part),
    /// In `true`, `false` or `null`: the word and the letters read.
    Word(u8, u8),
    /// After a value: `,` or `}`.
    After,
    /// After `,`: a key.
    Comma,
    /// After the closing brace.
    Done,
}

/// The part of a number a marker is read into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Int,
    Frac,
    /// After `e`/`E`, before the sign or digits.
    ExpMark,
    Exp,
}

const WORDS: [&[u8]; 3] = [b"true", b"false", b"null"];

/// The walk over a shape's tokens; two walks in the same state read the
/// rest of a line alike.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Walk<'k> {
    at: At,
    /// The key being read, or the current member's.
    key: Vec<u8>,
    /// Whether the current member is kept.
    kept: bool,
    /// Members kept so far.
    members: u32,
    keys: &'k [String],
}

impl<'k> Walk<'k> {
    fn new(keys: &'k [String]) -> Self {
        Walk {
            at: At::Start,
            key: Vec::new(),
            kept: false,
            members: 0,
            keys,
        }
    }

    /// Reads one symbol, writing what the projection keeps of it to
    /// `out`; `None`: the line is not (certainly) a flat JSON object.
    fn step(&mut self, sym: Sym, out: &mut Vec<Sym>) -> Option<()> {
        let c = match sym {
            Sym::Byte(c) => c,
            Sym::Num { width, .. } => return self.number(sym, width, out),
        };
        match self.at {
            At::Start if c == b'{' => {
                out.push(sym);
                self.at = At::Open;
            }
            At::Open | At::AfterKey | At::Colon | At::After | At::Comma if c == b' ' => {}
            At::Open | At::Comma if c == b'"' => {
                self.key.clear();
                self.at = At::Key;
            }
            At::After if c == b',' => self.at = At::Comma,
            At::Open | At::After if c == b'}' => {
                out.push(sym);
                self.at = At::Done;
            }
            At::Key if c == b'"' => {
                let label_name = self
                    .key
                    .first()
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
                if !label_name {
                    return None;
                }
                self.kept = self.keys.iter().any(|k| k.as_bytes() == self.key);
                self.at = At::AfterKey;
            }
            At::Key if c.is_ascii_alphanumeric() || c == b'_' => self.key.push(c),
            At::AfterKey if c == b':' => self.at = At::Colon,
            At::Colon => {
                self.at = match c {
                    b'"' => At::Str,
                    b'-' => At::Digits(Part::Int),
                    _ => At::Word(WORDS.iter().position(|w| w[0] == c)? as u8, 1),
                };
                self.open_value(out);
                self.keep(sym, out);
            }
            At::Str if c == b'"' => {
                self.keep(sym, out);
                self.at = At::After;
            }
            At::Str if c >= 0x20 && c != b'\\' => self.keep(sym, out),
            At::Word(w, i) if WORDS[usize::from(w)].get(usize::from(i)) == Some(&c) => {
                self.keep(sym, out);
                self.at = if usize::from(i) + 1 == WORDS[usize::from(w)].len() {
                    At::After
                } else {
                    At::Word(w, i + 1)
                };
            }
            At::Digits(Part::ExpMark) if c == b'+' || c == b'-' => {
                self.keep(sym, out);
                self.at = At::Digits(Part::Exp);
            }
            At::Number(Part::Int) if c == b'.' => {
                self.keep(sym, out);
                self.at = At::Digits(Part::Frac);
            }
            At::Number(Part::Int | Part::Frac) if c == b'e' || c == b'E' => {
                self.keep(sym, out);
                self.at = At::Digits(Part::ExpMark);
            }
            At::Number(_) => {
                // the byte after a number ends it and is read after it
                self.at = At::After;
                return self.step(sym, out);
            }
            _ => return None,
        }
        Some(())
    }

    /// Reads a number marker.
    fn number(&mut self, sym: Sym, width: u8, out: &mut Vec<Sym>) -> Option<()> {
        match self.at {
            At::Str => self.keep(sym, out),
            // an integer part is unpadded: no leading zero
            At::Colon if width == 0 => {
                self.open_value(out);
                self.keep(sym, out);
                self.at = At::Number(Part::Int);
            }
            At::Digits(Part::Int) if width == 0 => {
                self.keep(sym, out);
                self.at = At::Number(Part::Int);
            }
            At::Digits(Part::Frac) => {
                self.keep(sym, out);
                self.at = At::Number(Part::Frac);
            }
            At::Digits(Part::ExpMark | Part::Exp) => {
                self.keep(sym, out);
                self.at = At::Number(Part::Exp);
            }
            _ => return None,
        }
        Some(())
    }

    /// A value starts: a kept member's key goes out first.
    fn open_value(&mut self, out: &mut Vec<Sym>) {
        if !self.kept {
            return;
        }
        if self.members > 0 {
            out.push(Sym::Byte(b','));
        }
        self.members += 1;
        out.push(Sym::Byte(b'"'));
        out.extend(self.key.iter().map(|&c| Sym::Byte(c)));
        out.extend([Sym::Byte(b'"'), Sym::Byte(b':')]);
    }

    fn keep(&self, sym: Sym, out: &mut Vec<Sym>) {
        if self.kept {
            out.push(sym);
        }
    }
}

impl FieldLines {
    /// Sets how lines are rebuilt for `cut` (see [`FieldLines::is_cut`]).
    pub(super) fn set_line_cut(&mut self, cut: &LineCut) {
        match cut {
            LineCut::Logfmt(keys) => self.set_cut(keys),
            LineCut::Json(keys) => self.set_projection(keys),
        }
    }

    /// Lets shapes whose lines are all flat JSON objects rebuild only the
    /// members `keys` name (see the module comment).
    fn set_projection(&mut self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        self.proj = vec![(0, 0); self.toks.len()];
        self.cut_plans = (0..self.tok_base.len())
            .map(|s| self.projection_plan(s, keys))
            .collect();
        self.cut_prefix = false;
    }

    /// The plan of shape `s`'s projection, when it has one.
    fn projection_plan(&mut self, s: usize, keys: &[String]) -> Option<Vec<Op>> {
        let mut walk = Walk::new(keys);
        let mut ops = Vec::new();
        // literal bytes of constant tokens not yet in an op
        let mut lit: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        for j in 0..self.fields.cols[s].len() {
            let size = self.fields.cols[s][j].0 as usize;
            let t0 = self.tok_base[s][j] as usize;
            let base = self.num_base[s][j];
            if size == 1 {
                out.clear();
                self.walk_token(&mut walk, t0, &mut out)?;
                let nbase = base + self.toks[t0].nbase;
                for sym in &out {
                    match *sym {
                        Sym::Byte(c) => lit.push(c),
                        Sym::Num { k, width } => {
                            self.flush_lit(&mut lit, &mut ops);
                            ops.push(Op::Num {
                                col: nbase + k,
                                width,
                            });
                        }
                    }
                }
                continue;
            }
            let start = walk.clone();
            let mut end: Option<Walk> = None;
            let mut outs = Vec::with_capacity(size);
            for t in t0..t0 + size {
                let mut w = start.clone();
                let mut o = Vec::new();
                self.walk_token(&mut w, t, &mut o)?;
                if end.get_or_insert_with(|| w.clone()) != &w {
                    return None;
                }
                outs.push(o);
            }
            walk = end?;
            let fixed = outs
                .iter()
                .all(|o| o == &outs[0] && o.iter().all(|s| matches!(s, Sym::Byte(_))));
            if fixed {
                // every template keeps the same bytes (often none, or the
                // closing brace): the column is not read at all
                lit.extend(outs[0].iter().filter_map(|s| match s {
                    Sym::Byte(c) => Some(*c),
                    Sym::Num { .. } => None,
                }));
                continue;
            }
            self.flush_lit(&mut lit, &mut ops);
            for (t, o) in (t0..).zip(outs) {
                let first = self.proj_pieces.len() as u32;
                let mut run = Vec::new();
                for sym in o {
                    match sym {
                        Sym::Byte(c) => run.push(c),
                        Sym::Num { k, width } => {
                            self.push_proj_lit(&mut run);
                            self.proj_pieces.push(Proj::Num { k, width });
                        }
                    }
                }
                self.push_proj_lit(&mut run);
                self.proj[t] = (first, self.proj_pieces.len() as u32 - first);
            }
            ops.push(Op::Proj { j: j as u32 });
        }
        if walk.at != At::Done {
            return None;
        }
        self.flush_lit(&mut lit, &mut ops);
        Some(ops)
    }

    /// Walks token `t`'s pieces; its literal runs must be UTF-8.
    fn walk_token(&self, walk: &mut Walk, t: usize, out: &mut Vec<Sym>) -> Option<()> {
        let tok = self.toks[t];
        let mut k = 0;
        for p in &self.pieces[tok.first as usize..(tok.first + tok.pieces) as usize] {
            match *p {
                Piece::Lit { off, len } => {
                    let bytes = &self.lit[off as usize..(off + len) as usize];
                    std::str::from_utf8(bytes).ok()?;
                    for &c in bytes {
                        walk.step(Sym::Byte(c), out)?;
                    }
                }
                Piece::Num { width } => {
                    walk.step(Sym::Num { k, width }, out)?;
                    k += 1;
                }
            }
        }
        Some(())
    }

    /// Moves `lit` into `plan_lit` as an op.
    fn flush_lit(&mut self, lit: &mut Vec<u8>, ops: &mut Vec<Op>) {
        if lit.is_empty() {
            return;
        }
        ops.push(Op::Lit {
            off: self.plan_lit.len() as u32,
            len: lit.len() as u32,
        });
        self.plan_lit.append(lit);
    }

    /// Moves `run` into `plan_lit` as a projection piece.
    fn push_proj_lit(&mut self, run: &mut Vec<u8>) {
        if run.is_empty() {
            return;
        }
        self.proj_pieces.push(Proj::Lit {
            off: self.plan_lit.len() as u32,
            len: run.len() as u32,
        });
        self.plan_lit.append(run);
    }
}

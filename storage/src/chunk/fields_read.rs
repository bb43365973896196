//! Field layout of block lines (format version 2): the reader.
//!
//! Decoding reads the token columns and number columns. A *page* of
//! `PAGE` lines is rebuilt when one of its entries is first asked for,
//! from its cursor (where each shape's rows and each number column stand
//! at its first line, counted from the token ids: `fields_read/cursors.rs`),
//! and its line lengths are checked then: a query that stops early (a
//! backward `limit`) counts and rebuilds only the pages it reads. See
//! `fields.rs` for the layout.

use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;

use memchr::memmem::Finder;
use sluice_logql::source::LineCut;

use super::fields::{
    LineFields, ESC, MAX_DIGITS, MAX_SHAPES, MAX_SLOTS, MAX_TOKENS, NUM, TOKEN_KEYED, ZNUM,
};
use super::streams::{
    get_planes, read_numbers, read_numbers_live, read_numbers_prefix, read_streams, width_of,
    Container,
};
use crate::error::{Error, Result};
use crate::varint::Reader;

mod cursors;
mod cut;
mod page;
mod project;
mod src;

use src::Src;

/// Lines per page: a backward query that stops after a few lines of a
/// block rebuilds this many.
pub const PAGE: usize = 32;

/// A piece of a compiled token template.
#[derive(Clone, Copy, Debug)]
enum Piece {
    /// `len` literal bytes at `off` in `FieldLines::lit`.
    Lit { off: u32, len: u32 },
    /// The next number of the token, left-padded with zeros to `width`.
    Num { width: u8 },
}

/// A compiled token template.
#[derive(Clone, Copy, Debug, Default)]
struct Tok {
    /// Where its literal bytes start in `FieldLines::lit` (contiguous).
    off: u32,
    first: u32,
    pieces: u32,
    /// Numbers in the token.
    slots: u32,
    /// Its first number column, relative to its token column's first.
    nbase: u32,
    /// Literal bytes.
    lit_len: u32,
}

/// The decoded lines of a field-layout block, rebuilt by page.
#[derive(Debug)]
pub struct FieldLines {
    pub fields: LineFields,
    /// Per shape, per column: index of its dictionary's first token in
    /// `toks`, and its first number column.
    tok_base: Vec<Vec<u32>>,
    num_base: Vec<Vec<u32>>,
    /// Number columns the templates give.
    num_cols: usize,
    toks: Vec<Tok>,
    pieces: Vec<Piece>,
    lit: Vec<u8>,
    /// Whole lines, back to back, and where each starts (one extra end).
    whole: Vec<u8>,
    whole_offs: Vec<u32>,
    nums: Vec<Vec<u64>>,
    /// The stored line lengths, when the block has them.
    lens: Option<Vec<u32>>,
    /// Without stored lengths: the block's line bytes, to size a page's
    /// buffer (0: unknown).
    pub line_bytes: usize,
    /// Per page, how many rows of each shape and numbers of each column
    /// its lines use (same order as a cursor), counted when first needed.
    uses: Vec<OnceLock<Vec<u32>>>,
    /// Per page, its cursor once found (the next page's is found from it).
    cursors: Vec<OnceLock<Vec<u32>>>,
    /// What every cursor ends at: rows per shape, then column lengths.
    limits: Vec<u32>,
    /// Rows of each shape.
    rows: Vec<u32>,
    /// Whether the pages' uses were found to add up to `limits`.
    all_used: AtomicBool,
    /// With a literal filter: per token whether its template holds the
    /// first literal's field piece.
    tok_hit: Vec<bool>,
    /// Per shape, how to write a line (see `Op`), and the bytes of its
    /// constant parts.
    plans: Vec<Vec<Op>>,
    plan_lit: Vec<u8>,
    /// Per shape, with a cut (`cut.rs`): the plan of its first tokens, or
    /// of its projection (`project.rs`).
    cut_plans: Vec<Option<Vec<Op>>>,
    /// Whether the cut plans write the lines' starts (else projections).
    cut_prefix: bool,
    /// With a projection: per token, its pieces in `proj_pieces` (first,
    /// count).
    proj: Vec<(u32, u32)>,
    proj_pieces: Vec<project::Proj>,
    /// Per shape: the number columns each of its rows takes one value of
    /// (its `Op::Num`s), and its token columns whose tokens hold numbers.
    fixed_cols: Vec<Vec<u32>>,
    var_cols: Vec<Vec<u32>>,
}

/// A step of writing a line of a shape: the columns with one template are
/// folded in, so their text is copied in as few pieces as possible.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// `len` bytes at `off` in `plan_lit`.
    Lit { off: u32, len: u32 },
    /// The next value of number column `col`, zero-padded to `width`.
    Num { col: u32, width: u8 },
    /// The template of the row in token column `j` (more than one).
    Var { j: u32 },
    /// The projection of the row's template in token column `j`
    /// (`project.rs`); the token's numbers are passed over either way.
    Proj { j: u32 },
}

fn bad(why: &str) -> Error {
    Error::corrupt("block fields", why.to_string())
}

impl FieldLines {
    /// The dictionary and whole-line streams of section 2, for a literal
    /// pre-check before anything else is decoded.
    pub fn text_streams(fields: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
        let mut s = read_streams_some(fields, &[2, 3])?;
        let whole = s.pop().unwrap_or_default();
        let dict = s.pop().unwrap_or_default();
        Ok((dict, whole))
    }

    /// Decodes sections 2 (`fields`) and 3 (`numbers`) of a block of `n`
    /// lines, with their stored lengths `lens` if any (checked as pages
    /// are rebuilt). With a `cut` (`cut.rs`, `project.rs`), the columns
    /// the cut lines of a shape do not read are not decoded.
    pub fn decode(
        fields: &[u8],
        numbers: &[u8],
        n: usize,
        lens: Option<Vec<u32>>,
        piece: Option<&Finder<'static>>,
        cut: Option<&LineCut>,
    ) -> Result<FieldLines> {
        if lens.as_ref().is_some_and(|l| l.len() != n) {
            return Err(bad("stored lengths of the wrong count"));
        }
        let streams = match cut {
            None => Src::All(read_streams(fields)?),
            Some(_) => Src::Part(Container::parse(fields)?, Vec::new()),
        };
        Self::decode_from(streams, numbers, n, n, lens, piece, cut)
    }

    /// The first `p` stored lines of a block of `n` (`p <= n`), decoding
    /// only the start of every column: the shape ids of those lines, each
    /// shape's ids for the rows they have, and each number column's
    /// values for the numbers those rows take. The result is the
    /// [`FieldLines`] of `p` lines, checked as [`FieldLines::decode`]
    /// checks a block except that the columns need not be used up.
    pub fn decode_prefix(
        fields: &[u8],
        numbers: &[u8],
        n: usize,
        p: usize,
        cut: Option<&LineCut>,
    ) -> Result<FieldLines> {
        if p > n {
            return Err(bad("more lines than the block has"));
        }
        Self::decode_from(
            Src::Part(Container::parse(fields)?, Vec::new()),
            numbers,
            n,
            p,
            None,
            None,
            cut,
        )
    }

    /// [`FieldLines::decode`] of the first `p` of `n` lines from `streams`
    /// (all decoded, or decoded as far as needed when `p < n` or the
    /// columns a cut leaves out are not needed).
    fn decode_from(
        mut streams: Src,
        numbers: &[u8],
        n: usize,
        p: usize,
        lens: Option<Vec<u32>>,
        piece: Option<&Finder<'static>>,
        cut: Option<&LineCut>,
    ) -> Result<FieldLines> {
        if streams.len() < 4 {
            return Err(bad("missing streams"));
        }
        let shape_ids = streams.head(1, n, p)?.into_owned();
        let mut lines_of = vec![0usize; MAX_SHAPES + 1];
        for &s in shape_ids.iter() {
            *lines_of
                .get_mut(usize::from(s))
                .ok_or_else(|| bad("shape id out of range"))? += 1;
        }
        let (layout, dicts) = (streams.get(0)?, streams.get(2)?);
        let mut r = Reader::new(&layout, "block field layout");
        let mut d = Reader::new(&dicts, "block field dictionary");
        let shape_count = r.count(1)?;
        if shape_count > MAX_SHAPES || lines_of[shape_count + 1..].iter().any(|&c| c > 0) {
            return Err(bad("bad shape count"));
        }
        let mut out = FieldLines::empty(lens);
        // per shape, per column: its first id plane and plane count
        let mut planes_of = Vec::with_capacity(shape_count);
        let mut next_plane = 4;
        for s in 0..shape_count {
            let t = r.count(1)?;
            if t > MAX_TOKENS || t == 0 {
                return Err(bad("bad token count"));
            }
            let (mut tb, mut nb, mut cols, mut planes) = (vec![], vec![], vec![], vec![]);
            for _ in 0..t {
                let size = usize::try_from(r.uvarint()?).unwrap_or(usize::MAX);
                if size > dicts.len() || (size == 0 && lines_of[s + 1] > 0) {
                    return Err(bad("bad dictionary size"));
                }
                tb.push(out.toks.len() as u32);
                nb.push(out.num_cols as u32);
                out.compile_column(&mut d, size, tb.len() - 1, piece)?;
                let width = usize::from(width_of(size.saturating_sub(1) as u64));
                planes.push((next_plane, width));
                next_plane += width;
                cols.push((size as u32, Vec::new()));
            }
            out.tok_base.push(tb);
            out.num_base.push(nb);
            out.fields.cols.push(cols);
            planes_of.push(planes);
        }
        if next_plane != streams.len() || !r.is_empty() || !d.is_empty() {
            return Err(bad("unused field streams"));
        }
        // (before the slack below, which then follows these literals too)
        if let Some(cut) = cut {
            out.set_line_cut(cut);
        }
        let needed = out.needed_columns();
        out.read_ids(&mut streams, &planes_of, &needed, &lines_of[1..])?;
        out.read_whole(&streams.get(3)?, lines_of[0], p == n)?;
        out.fields = LineFields::new(shape_ids, std::mem::take(&mut out.fields.cols));
        out.rows = lines_of[1..=shape_count]
            .iter()
            .map(|&r| u32::try_from(r).unwrap_or(u32::MAX))
            .collect();
        out.plan();
        let live = out.live_numbers(&needed);
        // slack for the fixed-size copies of short literals (`page.rs`)
        out.lit.extend_from_slice(&[0; page::SLACK]);
        out.plan_lit.extend_from_slice(&[0; page::SLACK]);
        if p == n {
            out.nums = match &live {
                Some(live) => read_numbers_live(numbers, live)?,
                None => read_numbers(numbers)?,
            };
            if out.nums.len() != out.num_cols {
                return Err(bad("number column count differs from the tokens"));
            }
            out.limits = out
                .row_counts()
                .chain(out.nums.iter().map(Vec::len))
                .map(|l| u32::try_from(l).unwrap_or(u32::MAX))
                .collect();
        } else {
            out.limits = out.count(0..p)?;
            let want = &out.limits[1 + shape_count..];
            out.nums = read_numbers_prefix(numbers, want)?;
            if out.nums.len() != out.num_cols {
                return Err(bad("number column count differs from the tokens"));
            }
        }
        out.uses = (0..p.div_ceil(PAGE)).map(|_| OnceLock::new()).collect();
        out.cursors = (0..p.div_ceil(PAGE)).map(|_| OnceLock::new()).collect();
        Ok(out)
    }

    /// Reads the token ids of every column `needed` marks, from its id
    /// planes (`planes_of`: first plane and count per shape and column),
    /// each shape having `rows` rows; a constant column's are all 0.
    fn read_ids(
        &mut self,
        streams: &mut Src,
        planes_of: &[Vec<(usize, usize)>],
        needed: &[Vec<bool>],
        rows: &[usize],
    ) -> Result<()> {
        let mut reqs = Vec::new();
        for (s, planes) in planes_of.iter().enumerate() {
            for (j, &(first, w)) in planes.iter().enumerate() {
                if needed[s][j] {
                    reqs.extend((first..first + w).map(|i| (i, rows[s])));
                }
            }
        }
        streams.prefetch(&reqs)?;
        for (s, cols) in self.fields.cols.iter_mut().enumerate() {
            let rows = rows[s];
            for (j, (size, ids)) in cols.iter_mut().enumerate() {
                let (first, w) = planes_of[s][j];
                if w == 0 {
                    *ids = vec![0; rows];
                    continue;
                }
                if !needed[s][j] {
                    continue;
                }
                let mut planes = Vec::with_capacity(rows * w);
                for k in 0..w {
                    planes.extend_from_slice(&streams.column(first + k, rows)?);
                }
                let got = get_planes(&planes, rows, w as u8)?;
                if got.iter().any(|&i| i >= u64::from(*size)) {
                    return Err(bad("token id out of range"));
                }
                *ids = got.into_iter().map(|i| i as u32).collect();
            }
        }
        Ok(())
    }

    fn empty(lens: Option<Vec<u32>>) -> FieldLines {
        FieldLines {
            fields: LineFields::default(),
            tok_base: Vec::new(),
            num_base: Vec::new(),
            num_cols: 0,
            toks: Vec::new(),
            pieces: Vec::new(),
            lit: Vec::new(),
            whole: Vec::new(),
            whole_offs: Vec::new(),
            nums: Vec::new(),
            lens,
            line_bytes: 0,
            uses: Vec::new(),
            cursors: Vec::new(),
            limits: Vec::new(),
            rows: Vec::new(),
            all_used: AtomicBool::new(false),
            tok_hit: Vec::new(),
            plans: Vec::new(),
            plan_lit: Vec::new(),
            cut_plans: Vec::new(),
            cut_prefix: false,
            proj: Vec::new(),
            proj_pieces: Vec::new(),
            fixed_cols: Vec::new(),
            var_cols: Vec::new(),
        }
    }

    /// Compiles the `size` templates of token column `col` from `d`,
    /// marking those that hold `piece`, and adds its number columns.
    fn compile_column(
        &mut self,
        d: &mut Reader,
        size: usize,
        col: usize,
        piece: Option<&Finder<'static>>,
    ) -> Result<()> {
        let (mut max_slots, mut all_slots) = (0, 0);
        for _ in 0..size {
            let tmpl = d.bytes()?;
            if let Some(p) = piece {
                self.tok_hit.push(p.find(tmpl).is_some());
            }
            let mut tok = self.compile(tmpl, col > 0)?;
            if size <= TOKEN_KEYED {
                tok.nbase = all_slots;
            }
            max_slots = max_slots.max(tok.slots);
            all_slots += tok.slots;
            self.toks.push(tok);
        }
        self.num_cols += if size <= TOKEN_KEYED {
            all_slots
        } else {
            max_slots
        } as usize;
        Ok(())
    }

    /// The first `count` whole lines of stream 3 (`all`: exactly that
    /// many).
    fn read_whole(&mut self, stream: &[u8], count: usize, all: bool) -> Result<()> {
        let mut w = Reader::new(stream, "block whole lines");
        self.whole_offs.push(0);
        while self.whole_offs.len() <= count && !w.is_empty() {
            self.whole.extend_from_slice(w.bytes()?);
            self.whole_offs.push(
                u32::try_from(self.whole.len()).map_err(|_| bad("whole lines exceed 4 GiB"))?,
            );
        }
        if self.whole_offs.len() != count + 1 || (all && !w.is_empty()) {
            return Err(bad("whole line count differs from the shape ids"));
        }
        Ok(())
    }

    /// Compiles one token template into pieces; with `space`, the token
    /// starts with the space that separates it from the one before.
    fn compile(&mut self, tmpl: &[u8], space: bool) -> Result<Tok> {
        let mut tok = Tok {
            off: self.lit.len() as u32,
            first: self.pieces.len() as u32,
            ..Tok::default()
        };
        let mut i = 0;
        let mut lit_start = self.lit.len();
        if space {
            self.lit.push(b' ');
        }
        let flush = |me: &mut FieldLines, lit_start: usize| {
            if me.lit.len() > lit_start {
                me.pieces.push(Piece::Lit {
                    off: lit_start as u32,
                    len: (me.lit.len() - lit_start) as u32,
                });
            }
        };
        while i < tmpl.len() {
            let rest = &tmpl[i..];
            let span = memchr::memchr3(NUM, ESC, ZNUM, rest).unwrap_or(rest.len());
            self.lit.extend_from_slice(&rest[..span]);
            i += span;
            let Some(&m) = tmpl.get(i) else { break };
            let next = tmpl.get(i + 1).copied();
            match m {
                ESC => {
                    self.lit.push(next.ok_or_else(|| bad("dangling escape"))?);
                    i += 2;
                }
                _ => {
                    let width = if m == ZNUM {
                        let w = next.ok_or_else(|| bad("dangling padded number"))?;
                        if !(2..=MAX_DIGITS as u8).contains(&w) {
                            return Err(bad("bad number width"));
                        }
                        i += 2;
                        w
                    } else {
                        i += 1;
                        0
                    };
                    flush(self, lit_start);
                    self.pieces.push(Piece::Num { width });
                    lit_start = self.lit.len();
                    tok.slots += 1;
                }
            }
        }
        flush(self, lit_start);
        if tok.slots as usize > MAX_SLOTS {
            return Err(bad("too many numbers in a token"));
        }
        if self.lit.len() > u32::MAX as usize / 2 {
            return Err(bad("dictionary too large"));
        }
        tok.pieces = self.pieces.len() as u32 - tok.first;
        tok.lit_len = self.lit.len() as u32 - tok.off;
        Ok(tok)
    }

    /// Makes the per-shape plans.
    fn plan(&mut self) {
        for s in 0..self.tok_base.len() {
            let (ops, fixed, var) = self.plan_ops(s, self.fields.cols[s].len());
            self.plans.push(ops);
            self.fixed_cols.push(fixed);
            self.var_cols.push(var);
        }
    }

    /// The plan of shape `s`'s first `upto` token columns, the number
    /// columns it takes a value of per row and its token columns whose
    /// tokens hold numbers.
    fn plan_ops(&mut self, s: usize, upto: usize) -> (Vec<Op>, Vec<u32>, Vec<u32>) {
        let mut ops: Vec<Op> = Vec::new();
        let (mut fixed, mut var) = (Vec::new(), Vec::new());
        let mut lit_start = self.plan_lit.len();
        for (j, (size, _)) in self.fields.cols[s][..upto].iter().enumerate() {
            if *size != 1 {
                let t0 = self.tok_base[s][j] as usize;
                if self.toks[t0..t0 + *size as usize]
                    .iter()
                    .any(|t| t.slots > 0)
                {
                    var.push(j as u32);
                }
                if self.plan_lit.len() > lit_start {
                    ops.push(Op::Lit {
                        off: lit_start as u32,
                        len: (self.plan_lit.len() - lit_start) as u32,
                    });
                }
                ops.push(Op::Var { j: j as u32 });
                lit_start = self.plan_lit.len();
                continue;
            }
            let tok = self.toks[self.tok_base[s][j] as usize];
            let base = self.num_base[s][j] + tok.nbase;
            let mut k = 0;
            let p0 = tok.first as usize;
            for piece in &self.pieces[p0..p0 + tok.pieces as usize] {
                match *piece {
                    Piece::Lit { off, len } => self
                        .plan_lit
                        .extend_from_slice(&self.lit[off as usize..(off + len) as usize]),
                    Piece::Num { width } => {
                        if self.plan_lit.len() > lit_start {
                            ops.push(Op::Lit {
                                off: lit_start as u32,
                                len: (self.plan_lit.len() - lit_start) as u32,
                            });
                        }
                        ops.push(Op::Num {
                            col: base + k,
                            width,
                        });
                        fixed.push(base + k);
                        k += 1;
                        lit_start = self.plan_lit.len();
                    }
                }
            }
        }
        if self.plan_lit.len() > lit_start {
            ops.push(Op::Lit {
                off: lit_start as u32,
                len: (self.plan_lit.len() - lit_start) as u32,
            });
        }
        (ops, fixed, var)
    }

    /// Per shape, per column: whether its ids are needed, that is, unless
    /// the shape's lines are cut and the cut plan does not read it.
    fn needed_columns(&self) -> Vec<Vec<bool>> {
        self.fields
            .cols
            .iter()
            .enumerate()
            .map(|(s, cols)| match self.cut_plans.get(s) {
                Some(Some(plan)) => {
                    let mut needed = vec![false; cols.len()];
                    for op in plan {
                        if let Op::Var { j } | Op::Proj { j } = *op {
                            needed[j as usize] = true;
                        }
                    }
                    needed
                }
                _ => vec![true; cols.len()],
            })
            .collect()
    }

    /// With cut shapes: per number column whether it is read, that is,
    /// unless it belongs to a cut shape whose cut plan does not read it
    /// (an `Op::Num` of the plan, or a column of a `needed` token
    /// column). The cut shapes' cursors then count only those columns.
    fn live_numbers(&mut self, needed: &[Vec<bool>]) -> Option<Vec<bool>> {
        if self.cut_plans.iter().all(Option::is_none) {
            return None;
        }
        let mut live = vec![true; self.num_cols];
        for (s, plan) in self.cut_plans.iter().enumerate() {
            let Some(plan) = plan else { continue };
            let bases = &self.num_base[s];
            let end = |j: usize| {
                bases
                    .get(j + 1)
                    .or_else(|| self.num_base.get(s + 1).and_then(|b| b.first()))
                    .map_or(self.num_cols, |&b| b as usize)
            };
            for (j, &b) in bases.iter().enumerate() {
                live[b as usize..end(j)].fill(needed[s][j]);
            }
            for op in plan {
                if let Op::Num { col, .. } = *op {
                    live[col as usize] = true;
                }
            }
            self.var_cols[s].retain(|&j| needed[s][j as usize]);
            self.fixed_cols[s].retain(|&c| live[c as usize]);
        }
        Some(live)
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.fields.shape.len()
    }

    /// Lines that may hold the literal whose field piece marked the tokens
    /// (`decode` with a piece): those with a marked token, and whole lines
    /// for which `whole_hit` says so.
    pub fn candidates(&self, whole_hit: impl Fn(&[u8]) -> bool) -> Vec<bool> {
        let mut keep = vec![false; self.len()];
        let mut rows = vec![0usize; self.tok_base.len() + 1];
        for (i, k) in keep.iter_mut().enumerate() {
            let s = usize::from(self.fields.shape[i]);
            let row = rows[s];
            rows[s] += 1;
            *k = if s == 0 {
                let (a, b) = (self.whole_offs[row], self.whole_offs[row + 1]);
                whole_hit(&self.whole[a as usize..b as usize])
            } else {
                self.fields.cols[s - 1]
                    .iter()
                    .enumerate()
                    .any(|(j, (_, ids))| {
                        let t = self.tok_base[s - 1][j] as usize + ids[row] as usize;
                        self.tok_hit.get(t).copied().unwrap_or(true)
                    })
            };
        }
        keep
    }
}

/// Streams `which` (ascending) of a container, decompressed; the others
/// are skipped unread.
fn read_streams_some(buf: &[u8], which: &[usize]) -> Result<Vec<Vec<u8>>> {
    super::streams::read_streams_where(buf, |i| which.contains(&i))
}

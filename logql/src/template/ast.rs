//! Parse tree of a template (Go's `text/template/parse` nodes). `Display`
//! reproduces Go's `Node.String()`, which execution errors quote as context.

use std::fmt;

use super::funcs::Func;

/// A node of a list: text or an action.
#[derive(Debug)]
pub(crate) enum Node {
    Text(Box<str>),
    Action(Pipe),
    If(IfChain),
    With(Branch),
    Range(Branch),
    Break,
    Continue,
}

/// The shared shape of `if`, `with` and `range`.
#[derive(Debug)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// `if` with its `else if` arms: the first arm whose pipeline is true runs.
#[derive(Debug)]
pub(crate) struct IfChain {
    pub arms: Vec<(Pipe, Vec<Node>)>,
    pub else_list: Option<Vec<Node>>,
}

/// A pipeline with optional variable declarations.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<Box<str>>,
    pub cmds: Vec<Command>,
}

/// One command of a pipeline: a function and its arguments, or a value.
#[derive(Debug)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
    /// A regular expression compiled at parse time when the command calls a
    /// regex function with a literal pattern; errors are kept for run time.
    pub regex: Option<Result<regex::Regex, String>>,
}

/// A parsed number constant (Go's `NumberNode`).
#[derive(Debug, Clone)]
pub(crate) struct Number {
    pub text: Box<str>,
    pub int: Option<i64>,
    pub float: Option<f64>,
    /// The constant is a character literal such as `'a'`.
    pub is_char: bool,
}

/// An operand.
#[derive(Debug)]
pub(crate) enum Arg {
    Func {
        pos: usize,
        func: Func,
    },
    Dot(usize),
    Nil(usize),
    Field {
        pos: usize,
        idents: Vec<Box<str>>,
    },
    Variable {
        pos: usize,
        name: Box<str>,
        fields: Vec<Box<str>>,
    },
    Bool(usize, bool),
    Number(usize, Number),
    String {
        pos: usize,
        quoted: Box<str>,
        value: Box<str>,
    },
    Pipe(Box<Pipe>),
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<Box<str>>,
    },
}

impl Pipe {
    /// `Some(name)` when the pipeline is exactly `.name` with no declarations.
    pub(crate) fn single_field(&self) -> Option<&str> {
        match (self.decl.is_empty(), self.cmds.as_slice()) {
            (true, [Command { args, .. }]) => match args.as_slice() {
                [Arg::Field { idents, .. }] if idents.len() == 1 => Some(&idents[0]),
                _ => None,
            },
            _ => None,
        }
    }
}

impl Arg {
    pub(crate) fn pos(&self) -> usize {
        match self {
            Arg::Func { pos, .. }
            | Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::String { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
            Arg::Dot(pos) | Arg::Nil(pos) | Arg::Bool(pos, _) | Arg::Number(pos, _) => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Func { func, .. } => f.write_str(func.name()),
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Field { idents, .. } => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Variable { name, fields, .. } => {
                f.write_str(name)?;
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number(_, n) => f.write_str(&n.text),
            Arg::String { quoted, .. } => f.write_str(quoted),
            Arg::Pipe(p) => write!(f, "{p}"),
            Arg::Chain { node, fields, .. } => {
                if matches!(**node, Arg::Pipe(_)) {
                    write!(f, "({node})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if matches!(a, Arg::Pipe(_)) {
                write!(f, "({a})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            for (i, v) in self.decl.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(v)?;
            }
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// Calls `f` for every `.field` identifier in `nodes`, in order (Loki's
/// `listNodeFields`: all identifiers of field nodes, including `.a.b`'s `b`).
pub(crate) fn visit_fields<'a>(nodes: &'a [Node], f: &mut dyn FnMut(&'a str)) {
    for n in nodes {
        match n {
            Node::Text(_) | Node::Break | Node::Continue => {}
            Node::Action(p) => visit_pipe(p, f),
            Node::If(c) => {
                for (pipe, list) in &c.arms {
                    visit_pipe(pipe, f);
                    visit_fields(list, f);
                }
                if let Some(e) = &c.else_list {
                    visit_fields(e, f);
                }
            }
            Node::With(b) | Node::Range(b) => {
                visit_pipe(&b.pipe, f);
                visit_fields(&b.list, f);
                if let Some(e) = &b.else_list {
                    visit_fields(e, f);
                }
            }
        }
    }
}

fn visit_pipe<'a>(p: &'a Pipe, f: &mut dyn FnMut(&'a str)) {
    for c in &p.cmds {
        for a in &c.args {
            visit_arg(a, f);
        }
    }
}

fn visit_arg<'a>(a: &'a Arg, f: &mut dyn FnMut(&'a str)) {
    match a {
        Arg::Field { idents, .. } => idents.iter().for_each(|i| f(i)),
        Arg::Pipe(p) => visit_pipe(p, f),
        _ => {}
    }
}

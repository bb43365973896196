//! Parser from tokens to the parse tree, following Go's
//! `text/template/parse/parse.go`: the same grammar, the same checks
//! (undefined functions and variables, misplaced `else`/`end`/`break`) and
//! the same error texts.

use super::ast::{Arg, Branch, Command, IfChain, Node, Pipe};
use super::funcs::Func;
use super::lex::{self, Item, Tok};
use super::literal::{parse_number, unquote};

mod define;

/// A parse error: line and message (without the `template: name:line:` prefix).
#[derive(Debug)]
pub(crate) struct ParseError {
    pub line: usize,
    pub msg: String,
}

type PResult<T> = Result<T, ParseError>;

/// Maximum nesting of parentheses and `if`/`with`/`range` blocks.
const MAX_DEPTH: usize = 100;

/// What ended an item list.
enum ListEnd {
    End,
    Else,
}

struct Parser<'s> {
    items: Vec<Item<'s>>,
    idx: usize,
    vars: Vec<String>,
    range_depth: usize,
    /// Nesting of parentheses and control structures (bounded, see `MAX_DEPTH`).
    depth: usize,
    /// Line of the current token, for error messages.
    line: usize,
    action_line: usize,
    /// Templates named by `{{define}}` and `{{block}}`.
    defs: Vec<(String, Vec<Node>)>,
    /// Prometheus's functions are callable (rule templates).
    prometheus: bool,
}

/// Parsed source: the root nodes and the named templates it defines.
pub(crate) type Parsed = (Vec<Node>, Vec<(String, Vec<Node>)>);

/// Parses template source into its node list and named templates;
/// `prometheus` adds Prometheus's functions to Loki's.
pub(crate) fn parse(src: &str, prometheus: bool) -> PResult<Parsed> {
    let mut p = Parser {
        items: lex::lex(src),
        idx: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
        line: 1,
        action_line: 0,
        defs: Vec::new(),
        prometheus,
    };
    let mut root = Vec::new();
    while p.peek().typ != Tok::Eof {
        if p.peek().typ == Tok::LeftDelim {
            let save = p.idx;
            p.next();
            if p.next_non_space().typ == Tok::Define {
                p.definition()?;
                continue;
            }
            p.idx = save;
        }
        match p.text_or_action()? {
            Ok(n) => root.push(n),
            Err(ListEnd::End) => return Err(p.err("unexpected {{end}}".into())),
            Err(ListEnd::Else) => return Err(p.err("unexpected {{else}}".into())),
        }
    }
    Ok((root, p.defs))
}

impl<'s> Parser<'s> {
    fn err(&self, msg: String) -> ParseError {
        ParseError {
            line: self.line,
            msg,
        }
    }

    fn peek(&self) -> Item<'s> {
        let i = self.idx.min(self.items.len().saturating_sub(1));
        self.items.get(i).cloned().unwrap_or(Item {
            typ: Tok::Eof,
            pos: 0,
            val: "".into(),
            line: 1,
        })
    }

    fn next(&mut self) -> Item<'s> {
        let t = self.peek();
        self.line = t.line;
        if self.idx < self.items.len() {
            self.idx += 1;
        }
        t
    }

    fn backup(&mut self) {
        self.idx = self.idx.saturating_sub(1);
    }

    fn next_non_space(&mut self) -> Item<'s> {
        loop {
            let t = self.next();
            if t.typ != Tok::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item<'s> {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn unexpected(&self, t: &Item<'_>, context: &str) -> ParseError {
        if t.typ == Tok::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != t.line {
                extra = format!(" in action started at line:{}", self.action_line);
                if t.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return ParseError {
                line: t.line,
                msg: format!("{}{extra}", t.val),
            };
        }
        self.err(format!("unexpected {} in {context}", t.describe()))
    }

    fn expect(&mut self, typ: Tok, context: &str) -> PResult<Item<'s>> {
        let t = self.next_non_space();
        if t.typ != typ {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    /// Parses nodes until `{{end}}` or `{{else}}`.
    fn item_list(&mut self) -> PResult<(Vec<Node>, ListEnd)> {
        let mut list = Vec::new();
        while self.peek_non_space().typ != Tok::Eof {
            match self.text_or_action()? {
                Ok(n) => list.push(n),
                Err(end) => return Ok((list, end)),
            }
        }
        Err(self.err("unexpected EOF".into()))
    }

    fn text_or_action(&mut self) -> PResult<Result<Node, ListEnd>> {
        let t = self.next_non_space();
        match t.typ {
            Tok::Text => Ok(Ok(Node::Text(t.val.as_ref().into()))),
            Tok::LeftDelim => {
                self.action_line = t.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    fn action(&mut self) -> PResult<Result<Node, ListEnd>> {
        let t = self.next_non_space();
        match t.typ {
            Tok::Template => Ok(Ok(self.template_call()?)),
            Tok::Block => Ok(Ok(self.block()?)),
            Tok::Break | Tok::Continue => {
                let name = if t.typ == Tok::Break {
                    "break"
                } else {
                    "continue"
                };
                let n = self.next_non_space();
                if n.typ != Tok::RightDelim {
                    return Err(self.unexpected(&n, &format!("{{{{{name}}}}}")));
                }
                if self.range_depth == 0 {
                    return Err(self.err(format!("{{{{{name}}}}} outside {{{{range}}}}")));
                }
                Ok(Ok(if t.typ == Tok::Break {
                    Node::Break
                } else {
                    Node::Continue
                }))
            }
            Tok::Else => {
                let peek = self.peek_non_space();
                if !matches!(peek.typ, Tok::If | Tok::With) {
                    self.expect(Tok::RightDelim, "else")?;
                }
                Ok(Err(ListEnd::Else))
            }
            Tok::End => {
                self.expect(Tok::RightDelim, "end")?;
                Ok(Err(ListEnd::End))
            }
            Tok::If => Ok(Ok(Node::If(self.if_chain()?))),
            Tok::With => Ok(Ok(Node::With(self.control("with")?))),
            Tok::Range => Ok(Ok(Node::Range(self.control("range")?))),
            _ => {
                self.backup();
                Ok(Ok(Node::Action(self.pipeline("command", Tok::RightDelim)?)))
            }
        }
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        self.enter()?;
        let mark = self.vars.len();
        let r = self.control_inner(context);
        self.vars.truncate(mark);
        self.depth -= 1;
        r
    }

    /// `if`, with any `else if` arms parsed in a loop (Go nests them; the
    /// variables of every condition stay in scope until the final `end`).
    fn if_chain(&mut self) -> PResult<IfChain> {
        self.enter()?;
        let mark = self.vars.len();
        let r = self.if_chain_inner();
        self.vars.truncate(mark);
        self.depth -= 1;
        r
    }

    fn if_chain_inner(&mut self) -> PResult<IfChain> {
        let mut arms = Vec::new();
        loop {
            let pipe = self.pipeline("if", Tok::RightDelim)?;
            let (list, end) = self.item_list()?;
            arms.push((pipe, list));
            if let ListEnd::End = end {
                return Ok(IfChain {
                    arms,
                    else_list: None,
                });
            }
            if self.peek().typ == Tok::If {
                self.next();
                continue;
            }
            let (else_list, end) = self.item_list()?;
            if let ListEnd::Else = end {
                return Err(self.err("expected end; found {{else}}".into()));
            }
            return Ok(IfChain {
                arms,
                else_list: Some(else_list),
            });
        }
    }

    /// Bounds nesting so parsing and rendering cannot exhaust the stack
    /// (Go allows 10000 levels of parentheses; real templates use a few, and
    /// 100 levels fit a 2 MiB thread stack in debug builds).
    fn enter(&mut self) -> PResult<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err("max expression depth exceeded".into()));
        }
        self.depth += 1;
        Ok(())
    }

    fn control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let list = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, end) = list?;
        let mut else_list = None;
        if let ListEnd::Else = end {
            let peek = self.peek().typ;
            if context == "with" && peek == Tok::With {
                self.next();
                else_list = Some(vec![Node::With(self.control("with")?)]);
            } else {
                let (l, end) = self.item_list()?;
                if let ListEnd::Else = end {
                    return Err(self.err("expected end; found {{else}}".into()));
                }
                else_list = Some(l);
            }
        }
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: Tok) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            if v.typ != Tok::Variable {
                break;
            }
            let save = self.idx;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.typ {
                Tok::Assign | Tok::Declare => {
                    pipe.is_assign = next.typ == Tok::Assign;
                    self.next_non_space();
                    if pipe.is_assign && !self.vars.iter().any(|n| *n == v.val) {
                        return Err(self.err(format!(
                            "undefined variable {}",
                            super::gofmt::quote(&v.val)
                        )));
                    }
                    pipe.decl.push(v.val.as_ref().into());
                    self.vars.push(v.val.to_string());
                    break;
                }
                Tok::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.as_ref().into());
                    self.vars.push(v.val.to_string());
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().typ {
                            Tok::Variable | Tok::RightDelim | Tok::RightParen => continue,
                            _ => return Err(self.err("range can only initialize variables".into())),
                        }
                    }
                    return Err(self.err(format!("too many declarations in {context}")));
                }
                _ => {
                    self.idx = save;
                    break;
                }
            }
        }
        loop {
            let t = self.next_non_space();
            if t.typ == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match t.typ {
                Tok::Bool
                | Tok::CharConstant
                | Tok::Dot
                | Tok::Field
                | Tok::Identifier
                | Tok::Number
                | Tok::Nil
                | Tok::RawString
                | Tok::String
                | Tok::Variable
                | Tok::LeftParen => {
                    self.backup();
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.err(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(
                    Arg::Bool(..)
                        | Arg::Dot(_)
                        | Arg::Nil(_)
                        | Arg::Number(..)
                        | Arg::String { .. }
                )
            ) {
                return Err(self.err(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                args.push(op);
            }
            let t = self.next();
            match t.typ {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.backup(),
                Tok::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if args.is_empty() {
            return Err(self.err("empty command".into()));
        }
        let regex = match (&args[0], args.get(1)) {
            (Arg::Func { func, .. }, Some(Arg::String { value, .. })) if func.takes_regex() => {
                Some(super::goregex::compile(value))
            }
            _ => None,
        };
        Ok(Command { pos, args, regex })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != Tok::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields: Vec<Box<str>> = Vec::new();
        while self.peek().typ == Tok::Field {
            let t = self.next();
            fields.push(t.val[1..].into());
        }
        Ok(Some(match node {
            Arg::Field { mut idents, pos } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable {
                pos,
                name,
                fields: mut f,
            } => {
                f.extend(fields);
                Arg::Variable {
                    pos,
                    name,
                    fields: f,
                }
            }
            Arg::Bool(..) | Arg::String { .. } | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_) => {
                return Err(self.err(format!(
                    "unexpected . after term {}",
                    super::gofmt::quote(&node.to_string())
                )))
            }
            node => Arg::Chain {
                pos,
                node: Box::new(node),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        let pos = t.pos;
        Ok(Some(match t.typ {
            Tok::Identifier => match Func::lookup(&t.val, self.prometheus) {
                Some(func) => Arg::Func { pos, func },
                None => {
                    return Err(self.err(format!(
                        "function {} not defined",
                        super::gofmt::quote(&t.val)
                    )))
                }
            },
            Tok::Dot => Arg::Dot(pos),
            Tok::Nil => Arg::Nil(pos),
            Tok::Variable => {
                let mut parts = t.val.split('.');
                let name = parts.next().unwrap_or("$");
                if !self.vars.iter().any(|v| v == name) {
                    return Err(
                        self.err(format!("undefined variable {}", super::gofmt::quote(name)))
                    );
                }
                Arg::Variable {
                    pos,
                    name: name.into(),
                    fields: parts.map(Into::into).collect(),
                }
            }
            Tok::Field => Arg::Field {
                pos,
                idents: t.val[1..].split('.').map(Into::into).collect(),
            },
            Tok::Bool => Arg::Bool(pos, t.val == "true"),
            Tok::CharConstant | Tok::Number => {
                match parse_number(&t.val, t.typ == Tok::CharConstant) {
                    Ok(n) => Arg::Number(pos, n),
                    Err(msg) => return Err(self.err(msg)),
                }
            }
            Tok::LeftParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", Tok::RightParen);
                self.depth -= 1;
                Arg::Pipe(Box::new(p?))
            }
            Tok::String | Tok::RawString => match unquote(&t.val) {
                Some(s) => Arg::String {
                    pos,
                    quoted: t.val.as_ref().into(),
                    value: s.into(),
                },
                None => return Err(self.err("invalid syntax".into())),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

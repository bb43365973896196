//! Execution of a parsed template, following Go's `text/template/exec.go`:
//! pipelines feed each command's result as the next command's last
//! argument, arguments are checked against Go parameter types, missing
//! map keys yield the zero value (`missingkey=zero`, as Loki sets it), and
//! errors carry the position and text of the failing node.

use std::fmt::Display;

use super::ast::{Arg, Branch, Command, IfChain, Node, Pipe};
use super::funcs::P;
use super::gofmt::print_value;
use super::value::{sorted_labels, Value};
use super::TemplateData;

/// An execution error before it is turned into a `TemplateError`.
#[derive(Debug)]
pub(crate) struct ExecError {
    pub pos: usize,
    pub context: String,
    pub msg: String,
}

/// Boxed so that results stay small on the (hot) success path.
pub(super) type EResult<T> = Result<T, Box<ExecError>>;

pub(super) fn err<T>(pos: usize, context: impl Display, msg: String) -> EResult<T> {
    Err(Box::new(ExecError {
        pos,
        context: context.to_string(),
        msg,
    }))
}

/// How a list walk ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct Exec<'a> {
    pub data: &'a dyn TemplateData,
    vars: Vec<(&'a str, Value<'a>)>,
    /// The `$` variable, at the bottom of the variable stack.
    dollar: Value<'a>,
}

impl<'a> Exec<'a> {
    pub(crate) fn new(data: &'a dyn TemplateData) -> Self {
        Exec {
            data,
            vars: Vec::new(),
            dollar: Value::Data,
        }
    }

    pub(crate) fn walk(
        &mut self,
        dot: &Value<'a>,
        nodes: &'a [Node],
        out: &mut String,
    ) -> EResult<Flow> {
        for n in nodes {
            let flow = match n {
                Node::Text(t) => {
                    out.push_str(t);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    // Fast path for the common `{{.label}}`.
                    if let (Value::Data, Some(name)) = (dot, pipe.single_field()) {
                        out.push_str(self.data.label(name).unwrap_or(""));
                        continue;
                    }
                    let v = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        print_value(out, &v, self.data);
                    }
                    Flow::Normal
                }
                Node::If(c) => self.walk_if(dot, c, out)?,
                Node::With(b) => self.walk_with(dot, b, out)?,
                Node::Range(b) => self.walk_range(dot, b, out)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_if(&mut self, dot: &Value<'a>, c: &'a IfChain, out: &mut String) -> EResult<Flow> {
        let mark = self.vars.len();
        let mut flow = None;
        for (pipe, list) in &c.arms {
            if self.eval_pipeline(dot, pipe)?.truth(self.data) {
                flow = Some(self.walk(dot, list, out)?);
                break;
            }
        }
        let flow = match (flow, &c.else_list) {
            (Some(f), _) => f,
            (None, Some(e)) => self.walk(dot, e, out)?,
            (None, None) => Flow::Normal,
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_with(&mut self, dot: &Value<'a>, b: &'a Branch, out: &mut String) -> EResult<Flow> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let flow = if val.truth(self.data) {
            self.walk(&val, &b.list, out)?
        } else if let Some(e) = &b.else_list {
            self.walk(dot, e, out)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(&mut self, dot: &Value<'a>, b: &'a Branch, out: &mut String) -> EResult<Flow> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let items: Vec<(Value<'a>, Value<'a>)> = match &val {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect(),
            Value::Map(m) => m
                .iter()
                .map(|(k, v)| (Value::owned(k.clone()), v.clone()))
                .collect(),
            Value::Data => sorted_labels(self.data)
                .into_iter()
                .map(|(k, v)| (Value::owned(k), Value::owned(v)))
                .collect(),
            Value::Int(n) | Value::Int64(n) => {
                if b.pipe.decl.len() > 1 {
                    return err(
                        b.pipe.pos,
                        &b.pipe,
                        format!("can't use {n} to iterate over more than one variable"),
                    );
                }
                let n = *n;
                return self.range_int(dot, b, n, mark, out);
            }
            Value::Nil => Vec::new(),
            other => {
                let mut s = String::new();
                print_value(&mut s, other, self.data);
                return err(b.pipe.pos, &b.pipe, format!("range can't iterate over {s}"));
            }
        };
        let inner = self.vars.len();
        let empty = items.is_empty();
        for (index, elem) in items {
            let decl = &b.pipe.decl;
            if !decl.is_empty() {
                if b.pipe.is_assign {
                    let (name, v) = if decl.len() > 1 {
                        (&decl[0], index.clone())
                    } else {
                        (&decl[0], elem.clone())
                    };
                    self.set_var(name, v, b.pipe.pos)?;
                    if decl.len() > 1 {
                        self.set_var(&decl[1], elem.clone(), b.pipe.pos)?;
                    }
                } else {
                    let n = self.vars.len();
                    self.vars[n - 1].1 = elem.clone();
                    if decl.len() > 1 {
                        self.vars[n - 2].1 = index;
                    }
                }
            }
            let flow = self.walk(&elem, &b.list, out)?;
            self.vars.truncate(inner);
            if flow == Flow::Break {
                break;
            }
        }
        if empty {
            if let Some(e) = &b.else_list {
                let flow = self.walk(dot, e, out)?;
                self.vars.truncate(mark);
                return Ok(flow);
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    /// `range` over an integer n: 0..n, without materialising the items.
    fn range_int(
        &mut self,
        dot: &Value<'a>,
        b: &'a Branch,
        n: i64,
        mark: usize,
        out: &mut String,
    ) -> EResult<Flow> {
        let inner = self.vars.len();
        for i in 0..n.max(0) {
            if !b.pipe.decl.is_empty() {
                if b.pipe.is_assign {
                    self.set_var(&b.pipe.decl[0], Value::Int(i), b.pipe.pos)?;
                } else {
                    let top = self.vars.len() - 1;
                    self.vars[top].1 = Value::Int(i);
                }
            }
            let flow = self.walk(&Value::Int(i), &b.list, out)?;
            self.vars.truncate(inner);
            if flow == Flow::Break {
                break;
            }
        }
        if n <= 0 {
            if let Some(e) = &b.else_list {
                self.walk(dot, e, out)?;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    pub(super) fn var_value(&self, name: &str, pos: usize) -> EResult<Value<'a>> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            // `$` is the data unless reassigned (kept off the stack so a
            // render allocates nothing for it).
            None if name == "$" => Ok(self.dollar.clone()),
            None => err(pos, name, format!("undefined variable: {name}")),
        }
    }

    fn set_var(&mut self, name: &str, v: Value<'a>, pos: usize) -> EResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None if name == "$" => {
                self.dollar = v;
                Ok(())
            }
            None => err(pos, name, format!("undefined variable: {name}")),
        }
    }

    pub(crate) fn eval_pipeline(&mut self, dot: &Value<'a>, pipe: &'a Pipe) -> EResult<Value<'a>> {
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or_default();
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone(), pipe.pos)?;
            } else {
                self.vars.push((name, value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<Value<'a>>) -> EResult<()> {
        if args.len() > 1 || fin.is_some() {
            return err(
                args[0].pos(),
                &args[0],
                format!("can't give argument to non-function {}", args[0]),
            );
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value<'a>,
        cmd: &'a Command,
        fin: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { pos, idents } => {
                self.eval_field_chain(dot.clone(), idents, *pos, first, &cmd.args, fin)
            }
            Arg::Chain { pos, node, fields } => {
                if matches!(**node, Arg::Nil(_)) {
                    return err(
                        *pos,
                        first,
                        format!("indirection through explicit nil in {first}"),
                    );
                }
                let recv = self.eval_arg(dot, P::Any, node)?;
                self.eval_field_chain(recv, fields, *pos, first, &cmd.args, fin)
            }
            Arg::Func { pos, func } => self.eval_call(dot, *func, *pos, cmd, &cmd.args[1..], fin),
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                self.eval_pipeline(dot, p)
            }
            Arg::Variable { pos, name, fields } => {
                let v = self.var_value(name, *pos)?;
                if fields.is_empty() {
                    self.not_a_function(&cmd.args, &fin)?;
                    return Ok(v);
                }
                self.eval_field_chain(v, fields, *pos, first, &cmd.args, fin)
            }
            Arg::Nil(pos) => err(*pos, first, "nil is not a command".into()),
            _ => {
                self.not_a_function(&cmd.args, &fin)?;
                self.eval_arg(dot, P::Any, first)
            }
        }
    }

    pub(super) fn eval_field_chain(
        &mut self,
        mut recv: Value<'a>,
        idents: &'a [Box<str>],
        pos: usize,
        node: &Arg,
        args: &'a [Arg],
        fin: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        let n = idents.len();
        for (i, name) in idents.iter().enumerate() {
            let has_args = i == n - 1 && (args.len() > 1 || fin.is_some());
            let from_map = matches!(recv, Value::Map(_));
            recv = self.eval_field(recv, name, has_args, pos, node)?;
            if from_map && i < n - 1 && matches!(recv, Value::Nil) {
                return err(
                    pos,
                    node,
                    format!("nil pointer evaluating interface {{}}.{}", idents[i + 1]),
                );
            }
        }
        Ok(recv)
    }

    pub(super) fn eval_field(
        &mut self,
        recv: Value<'a>,
        name: &'a str,
        has_args: bool,
        pos: usize,
        node: &Arg,
    ) -> EResult<Value<'a>> {
        match recv {
            Value::Nil => Ok(Value::Nil),
            Value::Data | Value::Map(_) if has_args => err(
                pos,
                node,
                format!("{name} is not a method but has arguments"),
            ),
            Value::Data => Ok(Value::str(self.data.label(name).unwrap_or(""))),
            Value::Map(m) => Ok(m.get(name).cloned().unwrap_or_default()),
            Value::Time(t) if !has_args => match super::time::method(t, name) {
                Some(v) => Ok(v),
                None => err(
                    pos,
                    node,
                    format!("can't evaluate field {name} in type time.Time"),
                ),
            },
            other => err(
                pos,
                node,
                format!("can't evaluate field {name} in type {}", other.type_name()),
            ),
        }
    }
}

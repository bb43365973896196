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
    /// The named template that was executing (`None`: the root).
    pub template: Option<String>,
}

/// Boxed so that results stay small on the (hot) success path.
pub(super) type EResult<T> = Result<T, Box<ExecError>>;

pub(super) fn err<T>(pos: usize, context: impl Display, msg: String) -> EResult<T> {
    Err(Box::new(ExecError {
        pos,
        context: context.to_string(),
        msg,
        template: None,
    }))
}

/// How a list walk ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Normal,
    Break,
    Continue,
}

/// Named templates: `{{define}}`d ones and the root under its own name.
pub(crate) struct Templates<'a> {
    pub root_name: &'a str,
    pub root: &'a [Node],
    pub defs: &'a [(String, Vec<Node>)],
}

/// Nesting limit for `{{template}}` calls (Go allows 100000; each level
/// costs stack here).
const MAX_TEMPLATE_DEPTH: usize = 100;

/// Limit on nested blocks (`if`/`with`/`range` bodies and template calls)
/// during execution, so recursion through templates cannot exhaust the stack.
const MAX_NESTING: usize = 250;

/// Iterations of all `range` loops in one render.
const MAX_ITERATIONS: u64 = 10_000_000;

/// Output size at which `range` loops stop.
const MAX_OUTPUT: usize = 64 << 20;

pub(crate) struct Exec<'a> {
    pub data: &'a dyn TemplateData,
    templates: Templates<'a>,
    depth: usize,
    nesting: usize,
    iterations: u64,
    vars: Vec<(&'a str, Value<'a>)>,
    /// The `$` variable, at the bottom of the variable stack.
    dollar: Value<'a>,
}

impl<'a> Exec<'a> {
    pub(crate) fn new(data: &'a dyn TemplateData, templates: Templates<'a>) -> Self {
        Exec {
            data,
            templates,
            depth: 0,
            nesting: 0,
            iterations: 0,
            vars: Vec::new(),
            dollar: Value::Data,
        }
    }

    /// Sets `$`, the template's data (the label map unless set).
    pub(crate) fn set_dollar(&mut self, v: Value<'a>) {
        self.dollar = v;
    }

    /// Walks a nested list (a block body or a template), counting nesting.
    fn walk_nested(
        &mut self,
        dot: &Value<'a>,
        nodes: &'a [Node],
        out: &mut String,
    ) -> EResult<Flow> {
        if self.nesting >= MAX_NESTING {
            return err(
                0,
                "",
                format!("exceeded maximum template nesting ({MAX_NESTING})"),
            );
        }
        self.nesting += 1;
        let r = self.walk(dot, nodes, out);
        self.nesting -= 1;
        r
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
                Node::Template { pos, name, pipe } => {
                    self.walk_template(dot, *pos, name, pipe.as_ref(), out)?;
                    Flow::Normal
                }
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    /// `{{template "name" pipeline}}`: runs the named template with the
    /// pipeline's value as dot and `$`, and no other variables.
    fn walk_template(
        &mut self,
        dot: &Value<'a>,
        pos: usize,
        name: &'a str,
        pipe: Option<&'a Pipe>,
        out: &mut String,
    ) -> EResult<()> {
        let context = || match pipe {
            None => format!("{{{{template {}}}}}", super::gofmt::quote(name)),
            Some(p) => format!("{{{{template {} {p}}}}}", super::gofmt::quote(name)),
        };
        let body = match self.templates.defs.iter().find(|(n, _)| n == name) {
            Some((_, body)) => body.as_slice(),
            None if name == self.templates.root_name => self.templates.root,
            None => {
                return err(
                    pos,
                    context(),
                    format!("template {} not defined", super::gofmt::quote(name)),
                )
            }
        };
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return err(
                pos,
                context(),
                format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"),
            );
        }
        let dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Nil,
        };
        let vars = std::mem::take(&mut self.vars);
        let dollar = std::mem::replace(&mut self.dollar, dot.clone());
        self.depth += 1;
        let r = self.walk_nested(&dot, body, out);
        self.depth -= 1;
        self.vars = vars;
        self.dollar = dollar;
        r.map(|_| ()).map_err(|mut e| {
            e.template.get_or_insert_with(|| name.to_string());
            e
        })
    }

    fn walk_if(&mut self, dot: &Value<'a>, c: &'a IfChain, out: &mut String) -> EResult<Flow> {
        let mark = self.vars.len();
        let mut flow = None;
        for (pipe, list) in &c.arms {
            if self.eval_pipeline(dot, pipe)?.truth(self.data) {
                flow = Some(self.walk_nested(dot, list, out)?);
                break;
            }
        }
        let flow = match (flow, &c.else_list) {
            (Some(f), _) => f,
            (None, Some(e)) => self.walk_nested(dot, e, out)?,
            (None, None) => Flow::Normal,
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_with(&mut self, dot: &Value<'a>, b: &'a Branch, out: &mut String) -> EResult<Flow> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let flow = if val.truth(self.data) {
            self.walk_nested(&val, &b.list, out)?
        } else if let Some(e) = &b.else_list {
            self.walk_nested(dot, e, out)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(&mut self, dot: &Value<'a>, b: &'a Branch, out: &mut String) -> EResult<Flow> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        if let Value::Int(n) | Value::Int64(n) = val {
            if b.pipe.decl.len() > 1 {
                let msg = format!("can't use {n} to iterate over more than one variable");
                return err(b.pipe.pos, &b.pipe, msg);
            }
            return self.range_int(dot, b, n, mark, out);
        }
        let items = self.range_items(b, &val)?;
        let inner = self.vars.len();
        let empty = items.is_empty();
        for (index, elem) in items {
            self.check_budget(b, out)?;
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
            let flow = self.walk_nested(&elem, &b.list, out)?;
            self.vars.truncate(inner);
            if flow == Flow::Break {
                break;
            }
        }
        if empty {
            if let Some(e) = &b.else_list {
                let flow = self.walk_nested(dot, e, out)?;
                self.vars.truncate(mark);
                return Ok(flow);
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    /// `range` over an integer n: 0..n, without materialising the items.
    /// The (index, element) pairs `range` visits: slices in order, maps
    /// sorted by key.
    fn range_items(&self, b: &Branch, val: &Value<'a>) -> EResult<Vec<(Value<'a>, Value<'a>)>> {
        Ok(match val {
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
            Value::Nil => Vec::new(),
            other => {
                let mut s = String::new();
                print_value(&mut s, other, self.data);
                return err(b.pipe.pos, &b.pipe, format!("range can't iterate over {s}"));
            }
        })
    }

    /// Guards `range` against runaway loops: a bound on iterations per
    /// render and on the output size (Go has neither; Loki would run out of
    /// time or memory instead).
    fn check_budget(&mut self, b: &Branch, out: &str) -> EResult<()> {
        self.iterations += 1;
        if self.iterations > MAX_ITERATIONS {
            return err(
                b.pipe.pos,
                &b.pipe,
                format!("range: more than {MAX_ITERATIONS} iterations"),
            );
        }
        if out.len() > MAX_OUTPUT {
            return err(
                b.pipe.pos,
                &b.pipe,
                format!("template output larger than {MAX_OUTPUT} bytes"),
            );
        }
        Ok(())
    }

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
            self.check_budget(b, out)?;
            if !b.pipe.decl.is_empty() {
                if b.pipe.is_assign {
                    self.set_var(&b.pipe.decl[0], Value::Int(i), b.pipe.pos)?;
                } else {
                    let top = self.vars.len() - 1;
                    self.vars[top].1 = Value::Int(i);
                }
            }
            let flow = self.walk_nested(&Value::Int(i), &b.list, out)?;
            self.vars.truncate(inner);
            if flow == Flow::Break {
                break;
            }
        }
        if n <= 0 {
            if let Some(e) = &b.else_list {
                self.walk_nested(dot, e, out)?;
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
            Arg::Field { idents, .. } => {
                self.eval_field_chain(dot, dot.clone(), idents, first, &cmd.args, fin)
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
                self.eval_field_chain(dot, recv, fields, first, &cmd.args, fin)
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
                self.eval_field_chain(dot, v, fields, first, &cmd.args, fin)
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
        dot: &Value<'a>,
        mut recv: Value<'a>,
        idents: &'a [Box<str>],
        node: &Arg,
        args: &'a [Arg],
        fin: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        let pos = node.pos();
        let n = idents.len();
        for (i, name) in idents.iter().enumerate() {
            let has_args = i == n - 1 && (args.len() > 1 || fin.is_some());
            if let (true, Value::Time(t)) = (has_args, &recv) {
                return self.time_method_call(dot, *t, name, pos, node, &args[1..], fin);
            }
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

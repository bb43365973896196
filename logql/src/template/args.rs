//! Function calls and argument evaluation (Go's `evalCall`, `evalArg`,
//! `validateType`, `idealConstant`): arguments are converted to the Go
//! parameter types of the function, with Go's error texts on mismatch.

use std::fmt::Display;

use super::ast::{Arg, Command, Number};
use super::exec::{err, EResult, Exec};
use super::funcs::{self, CallCtx, Func, P};
use super::value::Value;

/// The parameter type a given argument position of `f` has.
fn param(f: Func, i: usize) -> P {
    let sig = f.sig();
    sig.fixed.get(i).copied().or(sig.variadic).unwrap_or(P::Any)
}

fn type_name(p: P) -> &'static str {
    match p {
        P::Str => "string",
        P::Int => "int",
        P::Float => "float64",
        P::Time => "time.Time",
        P::Any => "interface {}",
    }
}

impl<'a> Exec<'a> {
    pub(super) fn eval_call(
        &mut self,
        dot: &Value<'a>,
        f: Func,
        fpos: usize,
        cmd: &'a Command,
        args: &'a [Arg],
        fin: Option<Value<'a>>,
    ) -> EResult<Value<'a>> {
        let sig = f.sig();
        let num_in = args.len() + fin.is_some() as usize;
        if sig.variadic.is_some() {
            if num_in < sig.fixed.len() {
                let msg = format!(
                    "wrong number of args for {}: want at least {} got {}",
                    f.name(),
                    sig.fixed.len(),
                    args.len()
                );
                return err(fpos, f.name(), msg);
            }
        } else if num_in != sig.fixed.len() {
            let msg = format!(
                "wrong number of args for {}: want {} got {}",
                f.name(),
                sig.fixed.len(),
                num_in
            );
            return err(fpos, f.name(), msg);
        }
        if matches!(f, Func::And | Func::Or) {
            let mut v = Value::Nil;
            for a in args {
                v = self.eval_arg(dot, P::Any, a)?;
                if v.truth(self.data) == (f == Func::Or) {
                    return Ok(v);
                }
            }
            return Ok(fin.unwrap_or(v));
        }
        // Arguments live in a small array on the stack (no allocation for
        // the usual up to four arguments).
        let mut small: [Value<'a>; 4] = Default::default();
        let mut big = Vec::new();
        let argv: &mut [Value<'a>] = if num_in <= small.len() {
            &mut small[..num_in]
        } else {
            big.resize(num_in, Value::Nil);
            &mut big
        };
        for (i, a) in args.iter().enumerate() {
            argv[i] = self.eval_arg(dot, param(f, i), a)?;
        }
        if let Some(v) = fin {
            argv[num_in - 1] = self.validate(v, param(f, num_in - 1), cmd.pos, cmd)?;
        }
        let full = cmd
            .args
            .get(1..)
            .is_some_and(|rest| std::ptr::eq(rest, args));
        let ctx = CallCtx {
            data: self.data,
            regex: cmd.regex.as_ref().filter(|_| full),
        };
        match funcs::call(f, argv, &ctx) {
            Ok(v) => Ok(v),
            Err(e) => {
                let context = if full {
                    cmd.to_string()
                } else {
                    f.name().to_string()
                };
                err(cmd.pos, context, format!("error calling {}: {e}", f.name()))
            }
        }
    }

    fn validate(&self, v: Value<'a>, p: P, pos: usize, node: &dyn Display) -> EResult<Value<'a>> {
        let ok = match (p, &v) {
            (P::Any, _) => true,
            (P::Str, Value::Str(_))
            | (P::Int, Value::Int(_))
            | (P::Float, Value::Float(_))
            | (P::Time, Value::Time(_)) => true,
            (_, Value::Nil) => {
                return err(
                    pos,
                    node,
                    format!("invalid value; expected {}", type_name(p)),
                )
            }
            _ => false,
        };
        if ok {
            Ok(v)
        } else {
            err(
                pos,
                node,
                format!(
                    "wrong type for value; expected {}; got {}",
                    type_name(p),
                    v.type_name()
                ),
            )
        }
    }

    pub(super) fn eval_arg(&mut self, dot: &Value<'a>, p: P, arg: &'a Arg) -> EResult<Value<'a>> {
        let pos = arg.pos();
        let v = match arg {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => {
                if p == P::Any {
                    return Ok(Value::Nil);
                }
                return err(pos, arg, format!("cannot assign nil to {}", type_name(p)));
            }
            Arg::Field { idents, .. } => {
                self.eval_field_chain(dot.clone(), idents, pos, arg, &[], None)?
            }
            Arg::Variable { name, fields, .. } => {
                let v = self.var_value(name, pos)?;
                self.eval_field_chain(v, fields, pos, arg, &[], None)?
            }
            Arg::Pipe(pipe) => self.eval_pipeline(dot, pipe)?,
            Arg::Func { func, .. } => self.eval_call_bare(dot, *func, pos)?,
            Arg::Chain { node, fields, .. } => {
                if matches!(**node, Arg::Nil(_)) {
                    return err(
                        pos,
                        arg,
                        format!("indirection through explicit nil in {arg}"),
                    );
                }
                let recv = self.eval_arg(dot, P::Any, node)?;
                self.eval_field_chain(recv, fields, pos, arg, &[], None)?
            }
            Arg::Bool(_, b) => match p {
                P::Any => return Ok(Value::Bool(*b)),
                _ => return self.literal_mismatch(p, arg),
            },
            Arg::String { value, .. } => match p {
                P::Any | P::Str => return Ok(Value::str(value)),
                _ => return self.literal_mismatch(p, arg),
            },
            Arg::Number(_, n) => {
                return match (p, n.int, n.float) {
                    (P::Any, ..) => ideal_constant(n, pos, arg),
                    (P::Int, Some(i), _) => Ok(Value::Int(i)),
                    (P::Float, _, Some(f)) => Ok(Value::Float(f)),
                    _ => self.literal_mismatch(p, arg),
                }
            }
        };
        self.validate(v, p, pos, arg)
    }

    /// A function named as an argument: called with no arguments.
    fn eval_call_bare(&mut self, dot: &Value<'a>, f: Func, pos: usize) -> EResult<Value<'a>> {
        static NO_ARGS: Command = Command {
            pos: 0,
            args: Vec::new(),
            regex: None,
        };
        let sig = f.sig();
        if !sig.fixed.is_empty() {
            let want = if sig.variadic.is_some() {
                "want at least"
            } else {
                "want"
            };
            return err(
                pos,
                f.name(),
                format!(
                    "wrong number of args for {}: {want} {} got 0",
                    f.name(),
                    sig.fixed.len()
                ),
            );
        }
        self.eval_call(dot, f, pos, &NO_ARGS, &[], None)
            .map_err(|mut e| {
                e.pos = pos;
                e.context = f.name().to_string();
                e
            })
    }

    fn literal_mismatch<T>(&self, p: P, arg: &Arg) -> EResult<T> {
        let msg = match p {
            P::Str => format!("expected string; found {arg}"),
            P::Int => format!("expected integer; found {arg}"),
            P::Float => format!("expected float; found {arg}"),
            P::Time => format!("can't handle {arg} for arg of type time.Time"),
            P::Any => format!("can't handle {arg}"),
        };
        err(arg.pos(), arg, msg)
    }
}

/// Go's `idealConstant`: a number literal passed as `interface{}`.
fn ideal_constant<'a>(n: &Number, pos: usize, arg: &Arg) -> EResult<Value<'a>> {
    let t = &n.text;
    let hex_int = t.len() > 2
        && t.starts_with('0')
        && matches!(t.as_bytes()[1], b'x' | b'X')
        && !t.contains(['p', 'P']);
    if let Some(f) = n.float {
        if !n.is_char && !hex_int && t.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Value::Float(f));
        }
    }
    match n.int {
        Some(i) => Ok(Value::Int(i)),
        None => err(pos, arg, format!("{t} overflows int")),
    }
}

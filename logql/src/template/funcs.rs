//! The function map: Go's template builtins plus Loki's functions (its own
//! and the sprig subset it registers), their Go signatures, and the calls.
//! Argument conversion to the parameter types happens in `exec`; here the
//! arguments arrive already checked against [`Func::sig`].

use std::borrow::Cow;

use super::encode;
use super::gofmt;
use super::math::{self, DecOp};
use super::strfuncs;
use super::time::GoTime;
use super::value::{Kind, Value};
use super::TemplateData;

/// A Go parameter type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum P {
    Str,
    Int,
    Float,
    Time,
    /// `interface{}` or `reflect.Value`: anything.
    Any,
}

/// A function's parameters: fixed ones and an optional variadic tail.
pub(crate) struct Sig {
    pub fixed: &'static [P],
    pub variadic: Option<P>,
}

macro_rules! funcs {
    ($($name:literal => $v:ident ($($p:ident),*) $(... $var:ident)?),* $(,)?) => {
        /// Every function a template can call.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Func { $($v),* }

        const TABLE: &[(&str, Func)] = &[$(($name, Func::$v)),*];

        impl Func {
            pub(crate) fn sig(self) -> Sig {
                match self {
                    $(Func::$v => Sig { fixed: &[$(P::$p),*], variadic: funcs!(@var $($var)?) }),*
                }
            }
        }
    };
    (@var) => { None };
    (@var $var:ident) => { Some(P::$var) };
}

funcs! {
    // Go builtins.
    "and" => And(Any) ... Any,
    "or" => Or(Any) ... Any,
    "not" => Not(Any),
    "len" => Len(Any),
    "index" => Index(Any) ... Any,
    "slice" => Slice(Any) ... Any,
    "print" => Print() ... Any,
    "printf" => Printf(Str) ... Any,
    "println" => Println() ... Any,
    "html" => Html() ... Any,
    "js" => Js() ... Any,
    "urlquery" => Urlquery() ... Any,
    "call" => Call(Any) ... Any,
    "eq" => Eq(Any) ... Any,
    "ne" => Ne(Any, Any),
    "lt" => Lt(Any, Any),
    "le" => Le(Any, Any),
    "gt" => Gt(Any, Any),
    "ge" => Ge(Any, Any),
    // Loki's own functions.
    "ToLower" => GoToLower(Str),
    "ToUpper" => GoToUpper(Str),
    "Replace" => GoReplace(Str, Str, Str, Int),
    "Trim" => GoTrim(Str, Str),
    "TrimLeft" => GoTrimLeft(Str, Str),
    "TrimRight" => GoTrimRight(Str, Str),
    "TrimPrefix" => GoTrimPrefix(Str, Str),
    "TrimSuffix" => GoTrimSuffix(Str, Str),
    "TrimSpace" => GoTrimSpace(Str),
    "regexReplaceAll" => RegexReplaceAll(Str, Str, Str),
    "regexReplaceAllLiteral" => RegexReplaceAllLiteral(Str, Str, Str),
    "count" => Count(Str, Str),
    "urldecode" => Urldecode(Str),
    "urlencode" => Urlencode(Str),
    "bytes" => Bytes(Str),
    "duration" => Duration(Str),
    "duration_seconds" => DurationSeconds(Str),
    "unixEpochMillis" => UnixEpochMillis(Time),
    "unixEpochNanos" => UnixEpochNanos(Time),
    "toDateInZone" => ToDateInZone(Str, Str, Str),
    "unixToTime" => UnixToTime(Str),
    "alignLeft" => AlignLeft(Int, Str),
    "alignRight" => AlignRight(Int, Str),
    "__line__" => Line(),
    "__timestamp__" => Timestamp(),
    // The sprig functions Loki registers.
    "b64enc" => B64enc(Str),
    "b64dec" => B64dec(Str),
    "lower" => Lower(Str),
    "upper" => Upper(Str),
    "title" => Title(Str),
    "trunc" => Trunc(Int, Str),
    "substr" => Substr(Int, Int, Str),
    "contains" => Contains(Str, Str),
    "hasPrefix" => HasPrefix(Str, Str),
    "hasSuffix" => HasSuffix(Str, Str),
    "indent" => Indent(Int, Str),
    "nindent" => Nindent(Int, Str),
    "replace" => Replace(Str, Str, Str),
    "repeat" => Repeat(Int, Str),
    "trim" => Trim(Str),
    "trimAll" => TrimAll(Str, Str),
    "trimSuffix" => TrimSuffix(Str, Str),
    "trimPrefix" => TrimPrefix(Str, Str),
    "int" => Int(Any),
    "float64" => Float64(Any),
    "add" => Add() ... Any,
    "sub" => Sub(Any, Any),
    "mul" => Mul(Any) ... Any,
    "div" => Div(Any, Any),
    "mod" => Mod(Any, Any),
    "addf" => Addf() ... Any,
    "subf" => Subf(Any) ... Any,
    "mulf" => Mulf(Any) ... Any,
    "divf" => Divf(Any) ... Any,
    "max" => Max(Any) ... Any,
    "min" => Min(Any) ... Any,
    "maxf" => Maxf(Any) ... Any,
    "minf" => Minf(Any) ... Any,
    "ceil" => Ceil(Any),
    "floor" => Floor(Any),
    "round" => Round(Any, Int) ... Float,
    "fromJson" => FromJson(Str),
    "date" => Date(Str, Any),
    "toDate" => ToDate(Str, Str),
    "now" => Now(),
    "unixEpoch" => UnixEpoch(Time),
    "default" => Default(Any) ... Any,
    // Prometheus's functions, for rule templates only (`prom.rs`).
    "humanize" => Humanize(Any),
    "humanize1024" => Humanize1024(Any),
    "humanizeDuration" => HumanizeDuration(Any),
    "humanizePercentage" => HumanizePercentage(Any),
    "humanizeTimestamp" => HumanizeTimestamp(Any),
    "toTime" => ToTime(Any),
    "toUpper" => PromToUpper(Str),
    "toLower" => PromToLower(Str),
    "match" => Match(Str, Str),
    "reReplaceAll" => ReReplaceAll(Str, Str, Str),
    "safeHtml" => SafeHtml(Str),
    "stripPort" => StripPort(Str),
    "stripDomain" => StripDomain(Str),
    "parseDuration" => ParseDuration(Str),
    "args" => Args() ... Any,
}

impl Func {
    /// The function called `name`; Prometheus's functions only when
    /// `prometheus` is set (rule templates).
    pub(crate) fn lookup(name: &str, prometheus: bool) -> Option<Func> {
        TABLE
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .filter(|f| prometheus || !f.is_prometheus())
    }

    /// Functions only rule templates see (Prometheus's function map).
    pub(crate) fn is_prometheus(self) -> bool {
        use Func::*;
        matches!(
            self,
            Humanize
                | Humanize1024
                | HumanizeDuration
                | HumanizePercentage
                | HumanizeTimestamp
                | ToTime
                | PromToUpper
                | PromToLower
                | Match
                | ReReplaceAll
                | SafeHtml
                | StripPort
                | StripDomain
                | ParseDuration
                | Args
        )
    }

    pub(crate) fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Functions whose first argument is a regular expression.
    pub(crate) fn takes_regex(self) -> bool {
        matches!(
            self,
            Func::RegexReplaceAll | Func::RegexReplaceAllLiteral | Func::Count
        )
    }
}

/// What a call needs besides its arguments.
pub(crate) struct CallCtx<'a, 'r> {
    pub data: &'a dyn TemplateData,
    /// The regex compiled at parse time, if the pattern was a literal.
    pub regex: Option<&'r Result<regex::Regex, String>>,
}

fn s<'a>(v: &'a Value<'_>) -> &'a str {
    match v {
        Value::Str(s) => s,
        _ => "",
    }
}

fn int(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

fn time(v: &Value<'_>) -> GoTime {
    match v {
        Value::Time(t) => *t,
        _ => GoTime::zero(),
    }
}

fn take<'a>(args: &mut [Value<'a>], i: usize) -> Value<'a> {
    args.get_mut(i).map(std::mem::take).unwrap_or_default()
}

/// Calls `f` with checked arguments. `Err` is the function's error text
/// (exec wraps it as "error calling NAME: ...").
pub(crate) fn call<'a>(
    f: Func,
    args: &mut [Value<'a>],
    ctx: &CallCtx<'a, '_>,
) -> Result<Value<'a>, String> {
    use Func::*;
    let out = match f {
        And | Or => unreachable_and_or(args),
        Not => Value::Bool(!args[0].truth(ctx.data)),
        Len => Value::Int(length(&args[0], ctx.data)?),
        Index => strfuncs::index(args, ctx.data)?,
        Slice => strfuncs::slice(args)?,
        Print | Println | Printf => {
            let mut out = String::new();
            match f {
                Print => gofmt::sprint(&mut out, args, ctx.data),
                Println => gofmt::sprintln(&mut out, args, ctx.data),
                _ => super::printf::sprintf(&mut out, s(&args[0]), &args[1..], ctx.data),
            }
            Value::owned(out)
        }
        Html | Js | Urlquery => {
            let text = match &*args {
                [Value::Str(s)] => Cow::Borrowed(s.as_ref()),
                _ => {
                    // Go's evalArgs prints a nil argument as "<no value>".
                    for a in args.iter_mut() {
                        if matches!(a, Value::Nil) {
                            *a = Value::str("<no value>");
                        }
                    }
                    let mut out = String::new();
                    gofmt::sprint(&mut out, args, ctx.data);
                    Cow::Owned(out)
                }
            };
            Value::owned(match f {
                Html => encode::html_escape(&text),
                Js => encode::js_escape(&text),
                _ => encode::query_escape(&text),
            })
        }
        Call => {
            return Err(format!(
                "non-function {} of type {}",
                "call",
                args[0].type_name()
            ))
        }
        Eq => Value::Bool(eq(args)?),
        Ne => Value::Bool(!eq(args)?),
        Lt => Value::Bool(lt(&args[0], &args[1])?),
        Le => Value::Bool(lt(&args[0], &args[1])? || eq(args)?),
        Gt => Value::Bool(!(lt(&args[0], &args[1])? || eq(args)?)),
        Ge => Value::Bool(!lt(&args[0], &args[1])?),
        Line => Value::str(ctx.data.line()),
        Timestamp => Value::Time(GoTime::from_unix_nanos(ctx.data.timestamp_ns())),
        Now => Value::Time(GoTime::now()),
        RegexReplaceAll | RegexReplaceAllLiteral | Count => {
            let compiled;
            let re = match ctx.regex {
                Some(r) => r.as_ref().map_err(Clone::clone)?,
                None => {
                    compiled = super::goregex::compile(s(&args[0]))?;
                    &compiled
                }
            };
            match f {
                Count => Value::Int(re.find_iter(s(&args[1])).count() as i64),
                RegexReplaceAll => {
                    Value::Str(cow_into(re.replace_all(s(&args[1]), s(&args[2])), &args[1]))
                }
                _ => Value::Str(cow_into(
                    re.replace_all(s(&args[1]), regex::NoExpand(s(&args[2]))),
                    &args[1],
                )),
            }
        }
        Int => Value::Int(math::to_int64(&args[0])),
        Float64 => Value::Float(math::to_float64(&args[0])),
        Add => Value::Int64(
            args.iter()
                .fold(0i64, |a, b| a.wrapping_add(math::to_int64(b))),
        ),
        Sub => Value::Int64(math::to_int64(&args[0]).wrapping_sub(math::to_int64(&args[1]))),
        Mul => Value::Int64(
            args.iter()
                .fold(1i64, |a, b| a.wrapping_mul(math::to_int64(b))),
        ),
        Div | Mod => {
            let (a, b) = (math::to_int64(&args[0]), math::to_int64(&args[1]));
            if b == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            Value::Int64(if f == Div {
                a.wrapping_div(b)
            } else {
                a.wrapping_rem(b)
            })
        }
        Max | Min => {
            let mut acc = math::to_int64(&args[0]);
            for b in &args[1..] {
                let b = math::to_int64(b);
                acc = if f == Max { acc.max(b) } else { acc.min(b) };
            }
            Value::Int64(acc)
        }
        Maxf | Minf => {
            let mut acc = math::to_float64(&args[0]);
            for b in &args[1..] {
                let b = math::to_float64(b);
                acc = if f == Maxf {
                    go_max(acc, b)
                } else {
                    go_min(acc, b)
                };
            }
            Value::Float(acc)
        }
        Addf | Subf | Mulf | Divf => {
            let nums: Vec<f64> = args.iter().map(math::to_float64).collect();
            let (first, rest, op) = match f {
                Addf => (0.0, &nums[..], DecOp::Add),
                Subf => (nums[0], &nums[1..], DecOp::Sub),
                Mulf => (nums[0], &nums[1..], DecOp::Mul),
                _ => (nums[0], &nums[1..], DecOp::Div),
            };
            Value::Float(math::decimal_fold(first, rest, op)?)
        }
        Ceil => Value::Float(math::to_float64(&args[0]).ceil()),
        Floor => Value::Float(math::to_float64(&args[0]).floor()),
        Round => {
            let on = match args.get(2) {
                Some(Value::Float(f)) => *f,
                _ => 0.5,
            };
            Value::Float(math::round(
                math::to_float64(&args[0]),
                int(&args[1]) as f64,
                on,
            ))
        }
        Default => {
            let given = take(args, 1);
            if args.len() < 2 || strfuncs::empty(&given, ctx.data) {
                take(args, 0)
            } else {
                given
            }
        }
        UnixEpoch => Value::owned(time(&args[0]).unix().to_string()),
        UnixEpochMillis => Value::owned(time(&args[0]).unix_milli().to_string()),
        UnixEpochNanos => Value::owned(time(&args[0]).unix_nano().to_string()),
        Date => {
            let t = match &args[1] {
                Value::Time(t) => *t,
                Value::Int(i) | Value::Int64(i) => GoTime::from_unix(*i, 0),
                _ => GoTime::now(),
            };
            let mut out = String::new();
            t.in_utc().format(&mut out, s(&args[0]));
            Value::owned(out)
        }
        ToDate => Value::Time(
            super::timeparse::parse(s(&args[0]), s(&args[1]), None).unwrap_or_else(GoTime::zero),
        ),
        ToDateInZone => {
            // "UTC", "Local" (the server's zone, UTC here) and unknown zones are UTC.
            let zone = match s(&args[1]) {
                "" | "UTC" | "Local" => None,
                name => super::zone::load(name),
            };
            let t = super::timeparse::parse(s(&args[0]), s(&args[2]), zone.as_deref());
            Value::Time(t.unwrap_or_else(GoTime::zero))
        }
        UnixToTime => Value::Time(encode::unix_to_time(s(&args[0]))?),
        Duration | DurationSeconds => {
            Value::Float(super::timeparse::parse_duration_secs(s(&args[0]))?)
        }
        Bytes => Value::Float(encode::parse_bytes(s(&args[0]))?),
        FromJson => match serde_json::from_str::<serde_json::Value>(s(&args[0])) {
            Ok(v) => super::value::from_json(v),
            Err(_) => Value::Nil,
        },
        f if f.is_prometheus() => super::prom::call(f, args)?,
        _ => strfuncs::call_string_func(f, args)?,
    };
    Ok(out)
}

/// `and`/`or` are evaluated lazily by exec; this is never reached.
fn unreachable_and_or<'a>(args: &mut [Value<'a>]) -> Value<'a> {
    take(args, args.len().saturating_sub(1))
}

/// Keeps a borrowed result borrowed from the source argument when nothing changed.
fn cow_into<'a>(c: Cow<'_, str>, src: &Value<'a>) -> Cow<'a, str> {
    match (c, src) {
        (Cow::Borrowed(_), Value::Str(Cow::Borrowed(orig))) => Cow::Borrowed(orig),
        (c, _) => Cow::Owned(c.into_owned()),
    }
}

fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn length(v: &Value<'_>, data: &dyn TemplateData) -> Result<i64, String> {
    Ok(match v {
        Value::Str(s) => s.len() as i64,
        Value::Map(m) => m.len() as i64,
        Value::List(l) => l.len() as i64,
        Value::Data => super::value::label_count(data) as i64,
        Value::Nil => return Err("len of nil pointer".into()),
        v => return Err(format!("len of type {}", v.type_name())),
    })
}

const BAD_COMPARISON: &str = "incompatible types for comparison";

/// Go's builtin `eq`: true if the first argument equals any of the others.
fn eq(args: &[Value<'_>]) -> Result<bool, String> {
    let Some((a, rest)) = args.split_first() else {
        return Err("missing argument for comparison".into());
    };
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = a.kind();
    for b in rest {
        let k2 = b.kind();
        let truth = if k1 != k2 {
            match (a, b) {
                (Value::Int(x) | Value::Int64(x), Value::Uint8(u))
                | (Value::Uint8(u), Value::Int(x) | Value::Int64(x)) => *x >= 0 && *x == *u as i64,
                _ if k1 == Kind::Invalid || k2 == Kind::Invalid => false,
                _ => return Err(BAD_COMPARISON.into()),
            }
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                (Value::Nil, Value::Nil) => true,
                (Value::Time(x), Value::Time(y)) => x == y,
                (Value::Map(_) | Value::List(_) | Value::Data, _)
                | (_, Value::Map(_) | Value::List(_) | Value::Data) => {
                    return Err(format!(
                        "non-comparable types {}: {}, {}: {}",
                        debug_value(a),
                        a.type_name(),
                        b.type_name(),
                        debug_value(b)
                    ))
                }
                _ if k1 == Kind::Int || k1 == Kind::Uint => int_of(a) == int_of(b),
                _ => return Err(BAD_COMPARISON.into()),
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn debug_value(v: &Value<'_>) -> String {
    format!("<{}>", v.type_name())
}

fn int_of(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Uint8(u) => *u as i64,
        _ => 0,
    }
}

/// Go's builtin `lt` over basic kinds.
fn lt(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    let (k1, k2) = (a.kind(), b.kind());
    for k in [k1, k2] {
        if matches!(k, Kind::Invalid | Kind::Other) {
            return Err("invalid type for comparison".into());
        }
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => Ok(int_of(a) < int_of(b)),
            _ => Err(BAD_COMPARISON.into()),
        };
    }
    Ok(match (a, b) {
        (Value::Bool(_), _) => return Err("invalid type for comparison".into()),
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => int_of(a) < int_of(b),
    })
}

//! Dynamic values of template execution, modelled on the Go types that
//! Loki's templates see: `string`, `int`, `int64`, `float64`, `bool`,
//! `time.Time`, the label map (`map[string]string`) and what `fromJson`
//! returns (`map[string]interface {}`, `[]interface {}`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::time::GoTime;
use super::TemplateData;

/// A value during execution. `Str` borrows from the template or the data
/// whenever it can, so plain `{{.label}}` copies nothing.
#[derive(Debug, Clone, Default)]
pub(crate) enum Value<'a> {
    /// An untyped nil / missing interface value (prints `<no value>`).
    #[default]
    Nil,
    Bool(bool),
    /// Go `int`.
    Int(i64),
    /// Go `int64` (what sprig's integer math returns).
    Int64(i64),
    /// Go `uint8` (a byte from `index` on a string).
    Uint8(u8),
    Float(f64),
    Str(Cow<'a, str>),
    Time(GoTime),
    /// The label map passed as the template's data.
    Data,
    Map(Rc<BTreeMap<String, Value<'static>>>),
    List(Rc<Vec<Value<'static>>>),
}

/// Go's basic kinds, for comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    String,
    Other,
    Invalid,
}

impl<'a> Value<'a> {
    pub(crate) fn str(s: &'a str) -> Self {
        Value::Str(Cow::Borrowed(s))
    }

    pub(crate) fn owned(s: String) -> Self {
        Value::Str(Cow::Owned(s))
    }

    /// The Go type name, as `%T` and error messages print it.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Uint8(_) => "uint8",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Time(_) => "time.Time",
            Value::Data => "map[string]string",
            Value::Map(_) => "map[string]interface {}",
            Value::List(_) => "[]interface {}",
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            Value::Nil => Kind::Invalid,
            Value::Bool(_) => Kind::Bool,
            Value::Int(_) | Value::Int64(_) => Kind::Int,
            Value::Uint8(_) => Kind::Uint,
            Value::Float(_) => Kind::Float,
            Value::Str(_) => Kind::String,
            _ => Kind::Other,
        }
    }

    /// Go's template truth: empty strings, zero numbers, false, nil and
    /// empty collections are false.
    pub(crate) fn truth(&self, data: &dyn TemplateData) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Uint8(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Time(_) => true,
            Value::Data => label_count(data) > 0,
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }
}

/// Number of labels in the data.
pub(crate) fn label_count(data: &dyn TemplateData) -> usize {
    let mut n = 0;
    data.for_each_label(&mut |_, _| n += 1);
    n
}

/// The labels of the data, sorted by name (Go prints and ranges maps sorted).
pub(crate) fn sorted_labels(data: &dyn TemplateData) -> Vec<(String, String)> {
    let mut v = Vec::new();
    data.for_each_label(&mut |k, val| v.push((k.to_string(), val.to_string())));
    v.sort();
    v
}

/// Converts a JSON document as Go's `json.Unmarshal` into `interface{}` does.
pub(crate) fn from_json(v: serde_json::Value) -> Value<'static> {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::Str(Cow::Owned(s)),
        serde_json::Value::Array(a) => Value::List(Rc::new(a.into_iter().map(from_json).collect())),
        serde_json::Value::Object(o) => Value::Map(Rc::new(
            o.into_iter().map(|(k, v)| (k, from_json(v))).collect(),
        )),
    }
}

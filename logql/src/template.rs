//! Go `text/template` with Loki's function map, for `line_format`,
//! `label_format` and rule annotations.
//!
//! A template is parsed once into a tree ([`Template::parse`]) and rendered
//! per entry ([`Template::render`]) against a [`TemplateData`]: `.name`
//! reads a label (a missing one is the empty string, as with Loki's
//! `map[string]string` data and `missingkey=zero`), `__line__` is the line
//! and `__timestamp__` the entry time. Rendering borrows label values and
//! literals instead of copying them, so `{{.a}} {{.b}}` allocates nothing
//! beyond the output.
//!
//! Behaviour follows Go's text/template and Loki's `pkg/logql/log/fmt.go`,
//! including error texts. Known differences: no complex numbers; the server's local zone is taken to be UTC
//! (`now`, `date`, `__timestamp__`, `toDate`), while `toDateInZone` reads
//! named zones from the system tz database like Go; where
//! Go would emit invalid UTF-8 (sprig's byte-based `trunc`/`substr`
//! cutting a character, `\x` escapes) each stray byte becomes U+FFFD, as
//! Loki's JSON output shows it; regular expressions run on the `regex` crate
//! (Go's ASCII-only `\d`, `\w`, `\s`, `\b` are rewritten to keep Go's
//! matches).

mod args;
mod ast;
mod encode;
mod exec;
mod funcs;
mod gofmt;
mod goregex;
mod lex;
mod literal;
mod math;
mod parse;
mod printf;
mod prom;
mod strfuncs;
mod time;
mod timeparse;
mod value;
mod zone;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_exec;
#[cfg(test)]
mod tests_funcs;

/// A template error; `Display` is Go's text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// A syntax error found by [`Template::parse`], e.g.
    /// `template: line:1: function "foo" not defined`.
    #[error("template: {name}:{line}: {msg}")]
    Parse {
        name: String,
        line: usize,
        msg: String,
    },
    /// An error while rendering, e.g. `template: line:1:3: executing "line"
    /// at <div 1 0>: error calling div: runtime error: integer divide by zero`.
    #[error("template: {name}:{line}:{col}: executing \"{template}\" at <{context}>: {msg}")]
    Exec {
        name: String,
        /// The template executing: `name`, or a `{{define}}`d one.
        template: String,
        line: usize,
        col: usize,
        context: String,
        msg: String,
    },
}

/// What a template reads while rendering one entry.
pub trait TemplateData {
    /// Value of label `name` (the `.name` field); None when absent.
    fn label(&self, name: &str) -> Option<&str>;
    /// The current log line (for `__line__`).
    fn line(&self) -> &str;
    /// The entry timestamp in unix nanoseconds (for `__timestamp__`).
    fn timestamp_ns(&self) -> i64;
    /// Calls `f` for every label. Only needed for templates that use the
    /// whole label map (`{{ range $k, $v := . }}`, `{{ . }}`, `len .`);
    /// the default sees no labels.
    fn for_each_label(&self, f: &mut dyn FnMut(&str, &str)) {
        let _ = f;
    }
}

/// A value standing for the template's dot in [`Template::render_with_dot`].
#[derive(Debug, Clone, PartialEq)]
pub enum DotValue {
    /// The label map of the [`TemplateData`] (Go's `map[string]string`).
    Labels,
    Str(String),
    Float(f64),
    /// A map from names to values (a struct's fields, for templates).
    Map(Vec<(String, DotValue)>),
}

impl DotValue {
    fn to_value(&self) -> value::Value<'static> {
        match self {
            DotValue::Labels => value::Value::Data,
            DotValue::Str(s) => value::Value::owned(s.clone()),
            DotValue::Float(f) => value::Value::Float(*f),
            DotValue::Map(m) => value::Value::Map(std::rc::Rc::new(
                m.iter().map(|(k, v)| (k.clone(), v.to_value())).collect(),
            )),
        }
    }
}

/// A parsed template, ready to render many times (cheap to share: `Send + Sync`).
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    src: String,
    root: Vec<ast::Node>,
    defs: Vec<(String, Vec<ast::Node>)>,
}

impl Template {
    /// Parses `src` as Loki's `line_format` does (template name `line`).
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        Self::parse_named("line", src)
    }

    /// Parses `src` under a template name (Loki uses `line` for
    /// `line_format` and `label` for `label_format`); the name appears in
    /// error messages.
    pub fn parse_named(name: &str, src: &str) -> Result<Template, TemplateError> {
        Self::parse_dialect(name, src, false)
    }

    /// Parses a rule template (alert labels and annotations): Loki's
    /// functions plus Prometheus's (`humanize`, `humanizeDuration`,
    /// `humanizePercentage`, `humanizeTimestamp`, `match`, `reReplaceAll`,
    /// `toUpper`, `stripPort`, `args`, ...).
    pub fn parse_prometheus(name: &str, src: &str) -> Result<Template, TemplateError> {
        Self::parse_dialect(name, src, true)
    }

    fn parse_dialect(name: &str, src: &str, prometheus: bool) -> Result<Template, TemplateError> {
        match parse::parse(src, prometheus) {
            Ok((root, defs)) => Ok(Template {
                name: name.to_string(),
                src: src.to_string(),
                root,
                defs,
            }),
            Err(e) => Err(TemplateError::Parse {
                name: name.to_string(),
                line: e.line,
                msg: e.msg,
            }),
        }
    }

    /// Renders the template for one entry, appending to `out`. On error
    /// `out` is left as it was.
    pub fn render(&self, data: &dyn TemplateData, out: &mut String) -> Result<(), TemplateError> {
        self.render_dot(data, value::Value::Data, out)
    }

    /// Renders with `dot` (and `$`) as the template's data instead of the
    /// label map; [`DotValue::Labels`] inside it stands for `data`'s labels.
    /// Rule templates use `{Labels, Value, ...}` as Prometheus does.
    pub fn render_with_dot(
        &self,
        data: &dyn TemplateData,
        dot: &DotValue,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        self.render_dot(data, dot.to_value(), out)
    }

    fn render_dot(
        &self,
        data: &dyn TemplateData,
        dot: value::Value<'static>,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        let start = out.len();
        let templates = exec::Templates {
            root_name: &self.name,
            root: &self.root,
            defs: &self.defs,
        };
        let mut exec = exec::Exec::new(data, templates);
        exec.set_dollar(dot.clone());
        match exec.walk(&dot, &self.root, out) {
            Ok(_) => Ok(()),
            Err(e) => {
                out.truncate(start);
                let before = &self.src[..e.pos.min(self.src.len())];
                let line = 1 + before.matches('\n').count();
                let col = match before.rfind('\n') {
                    Some(nl) => e.pos - nl - 1,
                    None => e.pos,
                };
                Err(TemplateError::Exec {
                    name: self.name.clone(),
                    template: e.template.unwrap_or_else(|| self.name.clone()),
                    line,
                    col,
                    context: e.context,
                    msg: e.msg,
                })
            }
        }
    }

    /// Label names referenced as `.name` (lets the engine know what a
    /// template reads), first use first, without duplicates. Like Loki, every
    /// identifier of a field chain counts (`.a.b` gives `a` and `b`).
    pub fn referenced_labels(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        ast::visit_fields(&self.root, &mut |name| {
            if !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        });
        out
    }

    /// The source text the template was parsed from.
    pub fn source(&self) -> &str {
        &self.src
    }
}

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
//! including error texts. Known differences: no `define`/`template`/`block`
//! actions, no complex numbers; the server's local zone is taken to be UTC
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
    #[error("template: {name}:{line}:{col}: executing \"{name}\" at <{context}>: {msg}")]
    Exec {
        name: String,
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

/// A parsed template, ready to render many times (cheap to share: `Send + Sync`).
#[derive(Debug)]
pub struct Template {
    name: String,
    src: String,
    root: Vec<ast::Node>,
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
        match parse::parse(src) {
            Ok(root) => Ok(Template {
                name: name.to_string(),
                src: src.to_string(),
                root,
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
        let start = out.len();
        let mut exec = exec::Exec::new(data);
        match exec.walk(&value::Value::Data, &self.root, out) {
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

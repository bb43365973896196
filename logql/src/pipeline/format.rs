//! Formatting and label-set stages: `line_format`, `label_format`, `drop`,
//! `keep` and `decolorize`.

use std::borrow::Cow;
use std::sync::Arc;

use regex::bytes::Regex;

use super::builder::{Cat, LabelsBuilder, ERROR_DETAILS_LABEL, ERROR_LABEL};
use crate::ast::{LabelFormatOp, LabelSelectItem};
use crate::template::{Template as Tmpl, TemplateData as TmplData};
use crate::{Error, Result};

pub(crate) const TEMPLATE_ERR: &str = "TemplateFormatErr";

/// Template data over the live label state.
pub(crate) struct LiveData<'a> {
    pub(crate) lbs: &'a LabelsBuilder,
    pub(crate) line: &'a str,
    pub(crate) ts: i64,
}

impl TmplData for LiveData<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        match name {
            ERROR_LABEL | ERROR_DETAILS_LABEL => {
                let v = self.lbs.value(name);
                (!v.is_empty()).then_some(v)
            }
            _ => self.lbs.get(name),
        }
    }
    fn line(&self) -> &str {
        self.line
    }
    fn timestamp_ns(&self) -> i64 {
        self.ts
    }
    fn for_each_label(&self, f: &mut dyn FnMut(&str, &str)) {
        self.lbs.for_each(|_, k, v| f(k, v));
    }
}

/// Template data over a snapshot taken at the start of a stage.
struct SnapshotData<'a> {
    pairs: &'a [(String, String)],
    line: &'a str,
    ts: i64,
}

impl TmplData for SnapshotData<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn line(&self) -> &str {
        self.line
    }
    fn timestamp_ns(&self) -> i64 {
        self.ts
    }
    fn for_each_label(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self.pairs {
            f(k, v);
        }
    }
}

fn template_error(e: crate::template::TemplateError) -> Error {
    Error::BadQuery(format!("invalid line template: {e}"))
}

/// `| line_format "..."`.
#[derive(Debug, Clone)]
pub(crate) struct LineFormat {
    tmpl: Arc<Tmpl>,
}

impl LineFormat {
    pub(crate) fn new(src: &str) -> Result<LineFormat> {
        Ok(LineFormat {
            tmpl: Arc::new(Tmpl::parse(src).map_err(template_error)?),
        })
    }

    /// Renders into `out`; `false` (and `__error__`) when rendering failed,
    /// in which case the line stays as it was.
    pub(crate) fn process(
        &self,
        ts: i64,
        line: &[u8],
        lbs: &mut LabelsBuilder,
        out: &mut String,
    ) -> bool {
        out.clear();
        let text = String::from_utf8_lossy(line);
        let res = self.tmpl.render(
            &LiveData {
                lbs,
                line: &text,
                ts,
            },
            out,
        );
        match res {
            Ok(()) => true,
            Err(e) => {
                lbs.set_err(TEMPLATE_ERR, Some(&e.to_string()));
                false
            }
        }
    }
}

#[derive(Debug, Clone)]
enum FmtOp {
    Rename { dst: String, src: String },
    Template { dst: String, tmpl: Arc<Tmpl> },
}

/// `| label_format a=b, c="{{...}}"`.
#[derive(Debug, Clone)]
pub(crate) struct LabelFormat {
    ops: Vec<FmtOp>,
    /// Whether a template reads a label an earlier op of the same stage
    /// changes, so templates must see a snapshot (Loki renders against the
    /// labels as they were when the stage started).
    snapshot: bool,
}

impl LabelFormat {
    pub(crate) fn new(ops: &[LabelFormatOp]) -> Result<LabelFormat> {
        let mut out: Vec<FmtOp> = Vec::with_capacity(ops.len());
        let mut seen: Vec<&str> = Vec::new();
        let mut touched: Vec<String> = Vec::new();
        let mut snapshot = false;
        for op in ops {
            let dst = match op {
                LabelFormatOp::Rename { dst, .. } | LabelFormatOp::Template { dst, .. } => {
                    dst.as_str()
                }
            };
            if dst == ERROR_LABEL {
                return Err(Error::BadQuery(format!("{dst} cannot be formatted")));
            }
            if seen.contains(&dst) {
                return Err(Error::BadQuery(format!(
                    "multiple label name '{dst}' not allowed in a single format operation"
                )));
            }
            seen.push(dst);
            match op {
                LabelFormatOp::Rename { dst, src } => {
                    touched.push(dst.clone());
                    touched.push(src.clone());
                    out.push(FmtOp::Rename {
                        dst: dst.clone(),
                        src: src.clone(),
                    });
                }
                LabelFormatOp::Template { dst, template } => {
                    let tmpl = Tmpl::parse_named("label", template).map_err(|e| {
                        Error::BadQuery(format!("invalid template for label '{dst}': {e}"))
                    })?;
                    if tmpl.referenced_labels().iter().any(|l| touched.contains(l)) {
                        snapshot = true;
                    }
                    touched.push(dst.clone());
                    out.push(FmtOp::Template {
                        dst: dst.clone(),
                        tmpl: Arc::new(tmpl),
                    });
                }
            }
        }
        Ok(LabelFormat { ops: out, snapshot })
    }

    pub(crate) fn process(
        &self,
        ts: i64,
        line: &[u8],
        lbs: &mut LabelsBuilder,
        render: &mut String,
        snap: &mut Vec<(String, String)>,
    ) {
        let text = String::from_utf8_lossy(line);
        let mut snapped = false;
        for op in &self.ops {
            match op {
                FmtOp::Rename { dst, src } => {
                    if let Some((v, cat)) = lbs.get_with_cat(src) {
                        lbs.set(cat, dst, &v);
                        lbs.del(src);
                    }
                }
                FmtOp::Template { dst, tmpl } => {
                    render.clear();
                    let res = if self.snapshot {
                        if !snapped {
                            snap.clear();
                            lbs.for_each(|_, k, v| snap.push((k.to_string(), v.to_string())));
                            snapped = true;
                        }
                        tmpl.render(
                            &SnapshotData {
                                pairs: snap,
                                line: &text,
                                ts,
                            },
                            render,
                        )
                    } else {
                        tmpl.render(
                            &LiveData {
                                lbs,
                                line: &text,
                                ts,
                            },
                            render,
                        )
                    };
                    match res {
                        Ok(()) => lbs.set(Cat::Parsed, dst, render),
                        Err(e) => lbs.set_err(TEMPLATE_ERR, Some(&e.to_string())),
                    }
                }
            }
        }
    }
}

fn item_name(item: &LabelSelectItem) -> &str {
    match item {
        LabelSelectItem::Name(n) => n,
        LabelSelectItem::Matcher(m) => &m.name,
    }
}

/// `| drop a, b="v"`.
pub(crate) fn drop_labels(items: &[LabelSelectItem], lbs: &mut LabelsBuilder) {
    for item in items {
        let name = item_name(item);
        if let LabelSelectItem::Matcher(m) = item {
            if !m.matches(lbs.value(name)) {
                continue;
            }
        }
        match name {
            ERROR_LABEL => lbs.err.clear(),
            ERROR_DETAILS_LABEL => lbs.err_details.clear(),
            _ => {
                if lbs.get(name).is_some() {
                    lbs.del(name);
                }
            }
        }
    }
}

/// `| keep a, b="v"`: error labels always survive.
pub(crate) fn keep_labels(
    items: &[LabelSelectItem],
    lbs: &mut LabelsBuilder,
    scratch: &mut Vec<String>,
) {
    if items.is_empty() {
        return;
    }
    scratch.clear();
    lbs.for_each(|_, k, v| {
        if k == ERROR_LABEL || k == ERROR_DETAILS_LABEL {
            return;
        }
        let keep = items.iter().any(|item| match item {
            LabelSelectItem::Name(n) => n == k,
            LabelSelectItem::Matcher(m) => m.name == k && m.matches(v),
        });
        if !keep {
            scratch.push(k.to_string());
        }
    });
    for name in scratch.iter() {
        lbs.del(name);
    }
}

/// Strips ANSI escape sequences (`| decolorize`).
#[derive(Debug, Clone)]
pub(crate) struct Decolorizer {
    re: Regex,
}

impl Decolorizer {
    pub(crate) fn new() -> Result<Decolorizer> {
        let re = Regex::new(
            r"[\x{1b}\x{9b}][\[\]()#;?]*(?:(?:(?:[a-zA-Z0-9]*(?:;[a-zA-Z0-9]*)*)?\x{07})|(?:(?:[0-9]{1,4}(?:;[0-9]{0,4})*)?[0-9A-PRZcf-ntqry=><~]))",
        )
        .map_err(|e| Error::BadQuery(e.to_string()))?;
        Ok(Decolorizer { re })
    }

    /// `None` when the line has no escape sequence.
    pub(crate) fn strip<'a>(&self, line: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        memchr::memchr2(0x1b, 0x9b, line)?;
        match self.re.replace_all(line, &b""[..]) {
            Cow::Borrowed(_) => None,
            owned => Some(owned),
        }
    }
}

//! Compiled stages and the per-stream scratch space they share.

use regex::bytes::{CaptureLocations, Regex};

use super::builder::{append_sanitized, clean_value, Cat, LabelsBuilder};
use super::format::{drop_labels, keep_labels, Decolorizer, LabelFormat, LineFormat};
use super::json::{JsonExtractor, JsonParser, JsonShape, Unpacker};
use super::label_filter::LabelFilterer;
use super::line_filter::{compile_go_regex, LineFilterer};
use super::logfmt::{LogfmtExtractor, LogfmtParser};
use super::pattern::Pattern;
use super::recycle;
use crate::ast::{LabelSelectItem, Parser, Stage};
use crate::labels::is_valid_label_name;
use crate::{Error, Result};

/// A compiled stage.
#[derive(Debug, Clone)]
pub(crate) enum CStage {
    Line(LineFilterer),
    Json(JsonParser),
    JsonExtract(JsonExtractor),
    Logfmt(LogfmtParser),
    LogfmtExtract(LogfmtExtractor),
    Regexp {
        re: Regex,
        names: Vec<Option<String>>,
    },
    Pattern(Pattern),
    Unpack(Unpacker),
    LabelFilter(LabelFilterer),
    LineFormat(LineFormat),
    LabelFormat(LabelFormat),
    Drop(Vec<LabelSelectItem>),
    Keep(Vec<LabelSelectItem>),
    Decolorize(Decolorizer),
}

pub(crate) enum StageOutcome {
    Pass,
    Drop,
    /// The stage wrote a new line into `Scratch::new_line`.
    NewLine,
}

/// Reusable per-stream buffers.
#[derive(Debug)]
pub(crate) struct Scratch {
    name: String,
    pub(crate) new_line: Vec<u8>,
    pub(crate) pairs: Vec<(Cat, &'static str, &'static str)>,
    prefix: String,
    render: String,
    snapshot: Vec<(String, String)>,
    names: Vec<String>,
    caps: Vec<&'static [u8]>,
    locs: Vec<Option<CaptureLocations>>,
    /// Per stage: the layout a `json` stage learnt.
    shapes: Vec<JsonShape>,
    /// Where the last `logfmt` stage run stopped with every hint
    /// extracted (see `LogfmtParser::process`).
    pub(crate) stop: Option<usize>,
}

impl Scratch {
    pub(crate) fn new(stages: &[CStage]) -> Scratch {
        Scratch {
            name: String::new(),
            new_line: Vec::new(),
            pairs: Vec::new(),
            prefix: String::new(),
            render: String::new(),
            snapshot: Vec::new(),
            names: Vec::new(),
            caps: Vec::new(),
            locs: stages
                .iter()
                .map(|s| match s {
                    CStage::Regexp { re, .. } => Some(re.capture_locations()),
                    _ => None,
                })
                .collect(),
            shapes: stages.iter().map(|_| JsonShape::default()).collect(),
            stop: None,
        }
    }
}

fn compile_regexp_parser(src: &str) -> Result<CStage> {
    let bad = |m: String| Error::BadQuery(format!("invalid regexp parser: {m}"));
    let re = compile_go_regex(src).map_err(|e| bad(e.to_string()))?;
    let mut names = Vec::with_capacity(re.captures_len());
    let mut seen: Vec<&str> = Vec::new();
    for n in re.capture_names() {
        match n {
            Some(n) => {
                if !is_valid_label_name(n) {
                    return Err(bad(format!("invalid extracted label name '{n}'")));
                }
                if seen.contains(&n) {
                    return Err(bad(format!("duplicate extracted label name '{n}'")));
                }
                seen.push(n);
                names.push(Some(n.to_string()));
            }
            None => names.push(None),
        }
    }
    if seen.is_empty() {
        return Err(bad("at least one named capture must be supplied".into()));
    }
    Ok(CStage::Regexp { re, names })
}

impl CStage {
    pub(crate) fn compile(s: &Stage) -> Result<CStage> {
        Ok(match s {
            Stage::LineFilter(lf) => CStage::Line(LineFilterer::compile(lf)?),
            Stage::Parser(p) => match p {
                Parser::Json(ex) if ex.is_empty() => CStage::Json(JsonParser),
                Parser::Json(ex) => {
                    let pairs: Vec<(String, String)> = ex
                        .iter()
                        .map(|e| {
                            (
                                e.label.clone(),
                                e.expression.clone().unwrap_or_else(|| e.label.clone()),
                            )
                        })
                        .collect();
                    CStage::JsonExtract(JsonExtractor::new(&pairs)?)
                }
                Parser::Logfmt {
                    strict,
                    keep_empty,
                    extractions,
                } if extractions.is_empty() => CStage::Logfmt(LogfmtParser {
                    strict: *strict,
                    keep_empty: *keep_empty,
                }),
                Parser::Logfmt {
                    strict,
                    extractions,
                    ..
                } => {
                    let mut exprs = Vec::with_capacity(extractions.len());
                    for e in extractions {
                        if !is_valid_label_name(&e.label) {
                            return Err(Error::BadQuery(format!(
                                "invalid extracted label name '{}'",
                                e.label
                            )));
                        }
                        exprs.push((
                            e.label.clone(),
                            e.expression.clone().unwrap_or_else(|| e.label.clone()),
                        ));
                    }
                    CStage::LogfmtExtract(LogfmtExtractor {
                        strict: *strict,
                        exprs,
                    })
                }
                Parser::Regexp(src) => compile_regexp_parser(src)?,
                Parser::Pattern(src) => CStage::Pattern(
                    Pattern::parser(src)
                        .map_err(|e| Error::BadQuery(format!("invalid pattern parser: {e}")))?,
                ),
                Parser::Unpack => CStage::Unpack(Unpacker),
            },
            Stage::LabelFilter(f) => CStage::LabelFilter(LabelFilterer::compile(f)?),
            Stage::LineFormat(t) => CStage::LineFormat(LineFormat::new(t)?),
            Stage::LabelFormat(ops) => CStage::LabelFormat(LabelFormat::new(ops)?),
            Stage::Drop(items) => CStage::Drop(items.clone()),
            Stage::Keep(items) => CStage::Keep(items.clone()),
            Stage::Decolorize => CStage::Decolorize(Decolorizer::new()?),
        })
    }

    pub(crate) fn process(
        &self,
        idx: usize,
        ts: i64,
        line: &[u8],
        lbs: &mut LabelsBuilder,
        sc: &mut Scratch,
    ) -> StageOutcome {
        let pass = |ok: bool| {
            if ok {
                StageOutcome::Pass
            } else {
                StageOutcome::Drop
            }
        };
        match self {
            CStage::Line(f) => pass(f.matches(line)),
            CStage::Json(p) => {
                let shape = sc.shapes.get_mut(idx);
                p.process(line, lbs, &mut sc.prefix, &mut sc.name, shape);
                StageOutcome::Pass
            }
            CStage::JsonExtract(p) => {
                p.process(line, lbs);
                StageOutcome::Pass
            }
            CStage::Logfmt(p) => {
                sc.stop = p.process(line, lbs, &mut sc.name);
                StageOutcome::Pass
            }
            CStage::LogfmtExtract(p) => {
                p.process(line, lbs);
                StageOutcome::Pass
            }
            CStage::Regexp { re, names } => {
                if let Some(Some(locs)) = sc.locs.get_mut(idx) {
                    if re.captures_read(locs, line).is_some() {
                        for (i, name) in names.iter().enumerate() {
                            let Some(name) = name else { continue };
                            let v = locs.get(i).map_or(&b""[..], |(s, e)| &line[s..e]);
                            set_parsed(lbs, &mut sc.name, name, v);
                        }
                    }
                }
                StageOutcome::Pass
            }
            CStage::Pattern(p) => {
                let mut caps: Vec<&[u8]> = recycle(std::mem::take(&mut sc.caps));
                p.matches(line, &mut caps);
                for (name, v) in p.names().iter().zip(caps.iter()) {
                    set_parsed(lbs, &mut sc.name, name, v);
                }
                sc.caps = recycle(caps);
                StageOutcome::Pass
            }
            CStage::Unpack(u) => match u.process(line, lbs) {
                Some(entry) => {
                    sc.new_line.clear();
                    sc.new_line.extend_from_slice(&entry);
                    StageOutcome::NewLine
                }
                None => StageOutcome::Pass,
            },
            CStage::LabelFilter(f) => pass(f.process(lbs)),
            CStage::LineFormat(f) => {
                if f.process(ts, line, lbs, &mut sc.render) {
                    sc.new_line.clear();
                    sc.new_line.extend_from_slice(sc.render.as_bytes());
                    StageOutcome::NewLine
                } else {
                    StageOutcome::Pass
                }
            }
            CStage::LabelFormat(f) => {
                f.process(ts, line, lbs, &mut sc.render, &mut sc.snapshot);
                StageOutcome::Pass
            }
            CStage::Drop(items) => {
                drop_labels(items, lbs);
                StageOutcome::Pass
            }
            CStage::Keep(items) => {
                keep_labels(items, lbs, &mut sc.names);
                StageOutcome::Pass
            }
            CStage::Decolorize(d) => match d.strip(line) {
                Some(stripped) => {
                    sc.new_line.clear();
                    sc.new_line.extend_from_slice(&stripped);
                    StageOutcome::NewLine
                }
                None => StageOutcome::Pass,
            },
        }
    }
}

/// Sets a parsed label the way Loki's regexp/pattern parsers do.
fn set_parsed(lbs: &mut LabelsBuilder, buf: &mut String, name: &str, v: &[u8]) {
    buf.clear();
    append_sanitized(buf, name, true);
    let value = clean_value(v);
    lbs.set_from_parser(buf, &value);
}

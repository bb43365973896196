//! Rule groups as Prometheus's rule-file YAML describes them, with LogQL
//! expressions, and their validation. Errors name the file, the group and
//! the rule, like `rules/fake/api.yaml: group "api": rule "HighErrors":
//! expr: parse error ...`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_logql::ast::Expr;
use sluice_logql::template::Template;

use crate::config::duration;
use crate::error::{Error, Result};

/// A rule file: `groups: [...]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

/// One rule group as written in YAML (durations kept as written, so a
/// group reads back as it was stored).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Most alerts (or series of a recording rule) one evaluation may
    /// produce; 0 is no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: usize,
    #[serde(default)]
    pub rules: Vec<RuleDef>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One rule: `alert` or `record`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    pub expr: String,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl RuleDef {
    /// The alert or record name.
    pub fn name(&self) -> &str {
        self.alert
            .as_deref()
            .or(self.record.as_deref())
            .unwrap_or("")
    }
}

/// A validated rule, ready to evaluate.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    pub expr: String,
    pub kind: RuleKind,
    /// Labels added to an alert (templates).
    pub labels: Vec<(String, Template)>,
    /// Labels as written (a recording rule adds them as they are).
    pub raw_labels: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub enum RuleKind {
    Alerting {
        hold: Duration,
        keep_firing_for: Duration,
        annotations: Vec<(String, Template)>,
    },
    Recording,
}

/// A validated group.
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    /// `None`: the ruler's `evaluation_interval`.
    pub interval: Option<Duration>,
    pub limit: usize,
    pub rules: Vec<Rule>,
    /// The group as written, for the API.
    pub source: RuleGroup,
}

/// Prometheus prepends these to every rule template, so `$labels`,
/// `$value` and `$externalLabels` are defined.
pub const TEMPLATE_DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Parses a rule file and validates every group; `file` names it in errors.
pub fn parse_file(file: &str, text: &str) -> Result<Vec<Group>> {
    let parsed: RuleFile = serde_yaml::from_str(text)
        .map_err(|e| Error::Invalid(format!("{file}: {}", yaml_error(&e))))?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(parsed.groups.len());
    for g in parsed.groups {
        if !seen.insert(g.name.clone()) {
            return Err(Error::Invalid(format!(
                "{file}: group {:?}: groupname is repeated in the same file",
                g.name
            )));
        }
        out.push(validate_group(file, g)?);
    }
    Ok(out)
}

/// Parses one group as the API receives it (the body of a POST).
pub fn parse_group(file: &str, text: &str) -> Result<Group> {
    let g: RuleGroup = serde_yaml::from_str(text)
        .map_err(|e| Error::Invalid(format!("{file}: {}", yaml_error(&e))))?;
    validate_group(file, g)
}

fn yaml_error(e: &serde_yaml::Error) -> String {
    match e.location() {
        Some(l) => format!("yaml: line {}: {e}", l.line()),
        None => format!("yaml: {e}"),
    }
}

/// Checks a group and compiles its rules.
pub fn validate_group(file: &str, g: RuleGroup) -> Result<Group> {
    let at = |msg: String| Error::Invalid(format!("{file}: group {:?}: {msg}", g.name));
    if g.name.is_empty() {
        return Err(Error::Invalid(format!(
            "{file}: groupname must not be empty"
        )));
    }
    let interval = match &g.interval {
        None => None,
        Some(s) => match duration::parse(s) {
            Some(d) if !d.is_zero() => Some(d),
            _ => return Err(at(format!("invalid interval {s:?}, expected e.g. 1m"))),
        },
    };
    if g.rules.is_empty() {
        return Err(at("group has no rules".into()));
    }
    let mut rules = Vec::with_capacity(g.rules.len());
    for (i, r) in g.rules.iter().enumerate() {
        let rule = validate_rule(r).map_err(|msg| {
            let who = match r.name() {
                "" => format!("rule {}", i + 1),
                n => format!("rule {n:?}"),
            };
            at(format!("{who}: {msg}"))
        })?;
        rules.push(rule);
    }
    Ok(Group {
        name: g.name.clone(),
        interval,
        limit: g.limit,
        rules,
        source: g,
    })
}

fn validate_rule(r: &RuleDef) -> Result<Rule, String> {
    let name = match (&r.alert, &r.record) {
        (Some(_), Some(_)) => return Err("only one of 'record' and 'alert' must be set".into()),
        (None, None) => return Err("one of 'record' or 'alert' must be set".into()),
        (Some(a), None) if a.is_empty() => return Err("alert name must not be empty".into()),
        (Some(a), None) => a.clone(),
        (None, Some(rec)) => {
            if !is_metric_name(rec) {
                return Err(format!("invalid recording rule name: {rec}"));
            }
            rec.clone()
        }
    };
    if r.expr.trim().is_empty() {
        return Err("field 'expr' must be set in rule".into());
    }
    match sluice_logql::parser::parse_expr(&r.expr) {
        Ok(Expr::Sample(_)) => {}
        Ok(Expr::Log(_)) => {
            return Err(format!(
            "expr: {:?} is a log query; rules need a metric query (e.g. count_over_time(...[5m]))",
            r.expr
        ))
        }
        Err(e) => return Err(format!("expr: {e}")),
    }
    for k in r.labels.keys() {
        if !sluice_logql::labels::is_valid_label_name(k) || k == "__name__" {
            return Err(format!("invalid label name: {k}"));
        }
    }
    let labels = templates(&r.labels, "label")?;
    let kind = if r.record.is_some() {
        if r.for_.is_some() || r.keep_firing_for.is_some() {
            return Err("invalid field 'for' or 'keep_firing_for' in recording rule".into());
        }
        if !r.annotations.is_empty() {
            return Err("invalid field 'annotations' in recording rule".into());
        }
        RuleKind::Recording
    } else {
        for k in r.annotations.keys() {
            if !sluice_logql::labels::is_valid_label_name(k) {
                return Err(format!("invalid annotation name: {k}"));
            }
        }
        RuleKind::Alerting {
            hold: opt_duration(&r.for_, "for")?,
            keep_firing_for: opt_duration(&r.keep_firing_for, "keep_firing_for")?,
            annotations: templates(&r.annotations, "annotation")?,
        }
    };
    Ok(Rule {
        name,
        expr: r.expr.clone(),
        kind,
        labels,
        raw_labels: r.labels.clone().into_iter().collect(),
    })
}

fn opt_duration(s: &Option<String>, field: &str) -> Result<Duration, String> {
    match s {
        None => Ok(Duration::ZERO),
        Some(s) => duration::parse(s)
            .ok_or_else(|| format!("invalid {field} duration {s:?}, expected e.g. 5m")),
    }
}

fn templates(m: &BTreeMap<String, String>, what: &str) -> Result<Vec<(String, Template)>, String> {
    m.iter()
        .map(|(k, v)| {
            let src = format!("{TEMPLATE_DEFS}{v}");
            let name = format!("__alert_{k}");
            Template::parse_prometheus(&name, &src)
                .map(|t| (k.clone(), t))
                .map_err(|e| format!("{what} {k:?}: {e}"))
        })
        .collect()
}

/// Prometheus metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;

//! Alert state for one alerting rule, following Prometheus's
//! `rules/alerting.go`: every label set the expression returns is an
//! alert, `pending` from its first evaluation and `firing` once it has
//! been returned for `for`; when it stops being returned it stays firing
//! for `keep_firing_for`, then turns `inactive` (resolved) and is kept for
//! 15 minutes so the resolution is re-sent. Times are unix nanoseconds
//! passed in by the caller, so tests drive the clock.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_logql::engine::Sample;
use sluice_logql::template::{DotValue, Template, TemplateData};

use crate::rules::{Rule, RuleKind};

/// How long a resolved alert is kept (and re-sent), as Prometheus does.
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);

/// A label set, sorted by name.
pub type LabelSet = Vec<(String, String)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule: a label set and its state.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub state: AlertState,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub keep_firing_since: Option<i64>,
}

/// An alert as sent to Alertmanager.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// What templates see besides the sample: `$externalLabels`, `$externalURL`.
#[derive(Clone, Debug, Default)]
pub struct TemplateContext {
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
}

/// The alerts of one rule.
#[derive(Clone, Debug, Default)]
pub struct AlertingState {
    pub active: BTreeMap<LabelSet, Alert>,
}

impl AlertingState {
    /// Applies one evaluation's result at `ts`. `limit` > 0 bounds the
    /// alerts (pending and firing) the rule may have.
    pub fn eval(
        &mut self,
        rule: &Rule,
        ts: i64,
        samples: Vec<Sample>,
        limit: usize,
        ctx: &TemplateContext,
    ) -> Result<(), String> {
        let RuleKind::Alerting {
            hold,
            keep_firing_for,
            annotations,
        } = &rule.kind
        else {
            return Err("not an alerting rule".into());
        };
        let mut returned: BTreeMap<LabelSet, (LabelSet, f64)> = BTreeMap::new();
        for s in samples {
            let (base, labels) = alert_labels(rule, &s, ctx);
            let ann: LabelSet = annotations
                .iter()
                .map(|(k, t)| (k.clone(), expand(t, &base, s.value, ctx)))
                .collect();
            if returned.insert(labels, (ann, s.value)).is_some() {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
        }
        for (labels, (annotations, value)) in &returned {
            match self.active.get_mut(labels) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = *value;
                    a.annotations = annotations.clone();
                }
                _ => {
                    self.active.insert(
                        labels.clone(),
                        Alert {
                            labels: labels.clone(),
                            annotations: annotations.clone(),
                            state: AlertState::Pending,
                            value: *value,
                            active_at: ts,
                            fired_at: None,
                            resolved_at: None,
                            last_sent_at: None,
                            keep_firing_since: None,
                        },
                    );
                }
            }
        }
        let hold = hold.as_nanos() as i64;
        let keep = keep_firing_for.as_nanos() as i64;
        let retention = RESOLVED_RETENTION.as_nanos() as i64;
        let mut num_active = 0;
        self.active.retain(|labels, a| {
            if !returned.contains_key(labels) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < keep;
                }
                if a.state == AlertState::Pending
                    || a.resolved_at.is_some_and(|r| ts - r > retention)
                {
                    return false;
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    return true;
                }
            } else {
                a.keep_firing_since = None;
            }
            num_active += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= hold {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            true
        });
        if limit > 0 && num_active > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {num_active} alerts"
            ));
        }
        Ok(())
    }

    /// Alerts due to be sent at `ts`: firing ones not sent for
    /// `resend_delay`, and resolved ones not sent since they resolved.
    /// Marks them sent. `valid_for` is how long a firing alert's `endsAt`
    /// lies ahead (Prometheus: 4 × max(interval, resend delay)).
    pub fn due(
        &mut self,
        ts: i64,
        resend_delay: Duration,
        valid_for: Duration,
    ) -> Vec<Notification> {
        let resend = resend_delay.as_nanos() as i64;
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.state == AlertState::Pending {
                continue;
            }
            let needs = match (a.last_sent_at, a.resolved_at) {
                (None, _) => true,
                (Some(sent), Some(resolved)) if resolved > sent => true,
                (Some(sent), _) => sent + resend < ts,
            };
            if !needs {
                continue;
            }
            a.last_sent_at = Some(ts);
            out.push(Notification {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.fired_at.unwrap_or(a.active_at),
                ends_at: a.resolved_at.unwrap_or(ts + valid_for.as_nanos() as i64),
            });
        }
        out
    }

    /// The series Prometheus records for the rule at each evaluation, one
    /// pair per pending or firing alert: `ALERTS{alertstate="pending" or
    /// "firing", ...} 1` and `ALERTS_FOR_STATE{...}` valued with the unix
    /// second the alert became active. Labels are the alert's plus
    /// `__name__` (and `alertstate`), sorted.
    pub fn series(&self) -> Vec<(LabelSet, f64)> {
        let mut out = Vec::new();
        for a in self.active.values() {
            if a.state == AlertState::Inactive {
                continue;
            }
            let with = |extra: &[(&str, &str)]| -> LabelSet {
                let mut l: LabelSet = a
                    .labels
                    .iter()
                    .filter(|(k, _)| k != "__name__" && k != "alertstate")
                    .cloned()
                    .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                    .collect();
                l.sort();
                l
            };
            out.push((
                with(&[("__name__", "ALERTS"), ("alertstate", a.state.as_str())]),
                1.0,
            ));
            out.push((
                with(&[("__name__", "ALERTS_FOR_STATE")]),
                a.active_at.div_euclid(1_000_000_000) as f64,
            ));
        }
        out
    }

    /// Restores the `for` state of the rule's active alerts after a
    /// restart, at `ts` (after the group's second evaluation), as Loki's
    /// ruler does: its `ALERTS_FOR_STATE` history is the rule's expression
    /// evaluated once at `ts - for` (`then`, the samples it returned), and
    /// an alert returned then counts as active since then. Prometheus's
    /// `RestoreForState` arithmetic follows, on unix seconds: an alert
    /// whose `for` has run out fires at its next evaluation; one that
    /// would fire within `grace` waits `grace`; rules whose `for` is
    /// shorter than `grace` are not restored.
    ///
    /// Unlike Loki, whose synthetic series lack the rule's `labels` (so an
    /// alert of a rule with labels is never restored there), the alerts
    /// are matched on their full label set.
    pub fn restore(
        &mut self,
        rule: &Rule,
        ts: i64,
        then: &[Sample],
        grace: Duration,
        ctx: &TemplateContext,
    ) {
        let RuleKind::Alerting { hold, .. } = &rule.kind else {
            return;
        };
        if *hold < grace {
            return;
        }
        const S: i64 = 1_000_000_000;
        let (hold, grace) = (hold.as_nanos() as i64, grace.as_nanos() as i64);
        let check = ts - hold;
        let seen: std::collections::BTreeSet<LabelSet> =
            then.iter().map(|s| alert_labels(rule, s, ctx).1).collect();
        for a in self.active.values_mut() {
            if a.state == AlertState::Inactive || !seen.contains(&a.labels) {
                continue;
            }
            // the synthetic series' one sample: at `ts`, valued `check`
            let down_at = ts.div_euclid(S) * S;
            let restored = check.div_euclid(S) * S;
            let remaining = hold - (down_at - restored);
            a.active_at = if remaining <= 0 {
                restored
            } else if remaining < grace {
                ts + grace - hold
            } else {
                restored + (ts - down_at)
            };
        }
    }

    /// The rule's state: its most severe alert's.
    pub fn state(&self) -> AlertState {
        let mut st = AlertState::Inactive;
        for a in self.active.values() {
            match a.state {
                AlertState::Firing => return AlertState::Firing,
                AlertState::Pending => st = AlertState::Pending,
                AlertState::Inactive => {}
            }
        }
        st
    }
}

/// A sample's labels without `__name__` (what templates read), and the
/// labels of its alert: those plus the rule's `labels` (rendered) and
/// `alertname`, empty values dropped.
fn alert_labels(rule: &Rule, s: &Sample, ctx: &TemplateContext) -> (LabelSet, LabelSet) {
    let base: LabelSet = s
        .metric
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut labels: BTreeMap<String, String> = base.iter().cloned().collect();
    for (k, t) in &rule.labels {
        labels.insert(k.clone(), expand(t, &base, s.value, ctx));
    }
    labels.insert("alertname".into(), rule.name.clone());
    let labels = labels.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    (base, labels)
}

/// The labels a template reads as `$labels`.
struct LabelData<'a>(&'a [(String, String)]);

impl TemplateData for LabelData<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn line(&self) -> &str {
        ""
    }

    fn timestamp_ns(&self) -> i64 {
        0
    }

    fn for_each_label(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self.0 {
            f(k, v);
        }
    }
}

/// Renders a label or annotation template for one sample; a failing
/// template renders as Prometheus shows it, `<error expanding template: ...>`.
pub fn expand(
    t: &Template,
    labels: &[(String, String)],
    value: f64,
    ctx: &TemplateContext,
) -> String {
    let dot = DotValue::Map(vec![
        ("Labels".into(), DotValue::Labels),
        (
            "ExternalLabels".into(),
            DotValue::Map(
                ctx.external_labels
                    .iter()
                    .map(|(k, v)| (k.clone(), DotValue::Str(v.clone())))
                    .collect(),
            ),
        ),
        (
            "ExternalURL".into(),
            DotValue::Str(ctx.external_url.clone()),
        ),
        ("Value".into(), DotValue::Float(value)),
    ]);
    let mut out = String::new();
    match t.render_with_dot(&LabelData(labels), &dot, &mut out) {
        Ok(()) => out,
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

#[cfg(test)]
#[path = "alert_tests.rs"]
mod tests;

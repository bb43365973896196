//! Vector aggregations (`sum`, `avg`, `topk`, `sort`, ...) and
//! `label_replace`, step by step. Grouping is computed once per input series
//! since a series' labels do not change between steps.

use std::collections::HashMap;

use regex::Regex;

use super::steps::StepVectors;
use crate::ast::{Grouping, LabelReplace, VectorAgg, VectorOp};
use crate::labels::Labels;
use crate::{Error, Result};

/// The labels `grouping` keeps of `labels` (`by`: only those; `without`: all
/// but those; none: no labels).
pub(crate) fn group_labels(labels: &Labels, grouping: Option<&Grouping>) -> Labels {
    let Some(g) = grouping else {
        return Labels::default();
    };
    let kept = labels
        .iter()
        .filter(|(k, _)| g.labels.iter().any(|n| n == k) != g.without)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Labels::from_sorted(kept)
}

/// Group id of each input series, and the groups' labels.
fn groups(input: &StepVectors, grouping: Option<&Grouping>) -> (Vec<u32>, Vec<Labels>) {
    let mut index: HashMap<Labels, u32> = HashMap::new();
    let mut labels = Vec::new();
    let ids = input
        .labels
        .iter()
        .map(|l| {
            let g = group_labels(l, grouping);
            *index.entry(g).or_insert_with_key(|g| {
                labels.push(g.clone());
                (labels.len() - 1) as u32
            })
        })
        .collect();
    (ids, labels)
}

pub(crate) fn aggregate(input: StepVectors, agg: &VectorAgg) -> Result<StepVectors> {
    match agg.op {
        VectorOp::Topk
        | VectorOp::Bottomk
        | VectorOp::ApproxTopk
        | VectorOp::Sort
        | VectorOp::SortDesc => Ok(select(input, agg)),
        _ => Ok(reduce(input, agg)),
    }
}

/// Running state of one group at one step.
#[derive(Clone, Copy, Debug)]
struct Acc {
    value: f64,
    mean: f64,
    count: u64,
}

fn reduce(input: StepVectors, agg: &VectorAgg) -> StepVectors {
    let (group_of, labels) = groups(&input, agg.grouping.as_ref());
    let mut accs: Vec<Option<Acc>> = vec![None; labels.len()];
    let mut touched: Vec<u32> = Vec::new();
    let mut steps = Vec::with_capacity(input.steps.len());
    for step in &input.steps {
        for &(id, v) in step {
            let g = group_of[id as usize];
            match &mut accs[g as usize] {
                slot @ None => {
                    let value = if matches!(agg.op, VectorOp::Stddev | VectorOp::Stdvar) {
                        0.0
                    } else {
                        v
                    };
                    *slot = Some(Acc {
                        value,
                        mean: v,
                        count: 1,
                    });
                    touched.push(g);
                }
                Some(a) => add(agg.op, a, v),
            }
        }
        let mut out = Vec::with_capacity(touched.len());
        for g in touched.drain(..) {
            if let Some(a) = accs[g as usize].take() {
                out.push((g, finish(agg.op, &a)));
            }
        }
        steps.push(out);
    }
    StepVectors { labels, steps }
}

fn add(op: VectorOp, a: &mut Acc, v: f64) {
    match op {
        VectorOp::Sum => a.value += v,
        VectorOp::Avg => {
            a.count += 1;
            a.mean += (v - a.mean) / a.count as f64;
        }
        VectorOp::Max => {
            if a.value < v || a.value.is_nan() {
                a.value = v;
            }
        }
        VectorOp::Min => {
            if a.value > v || a.value.is_nan() {
                a.value = v;
            }
        }
        VectorOp::Count => a.count += 1,
        VectorOp::Stddev | VectorOp::Stdvar => {
            a.count += 1;
            let delta = v - a.mean;
            a.mean += delta / a.count as f64;
            a.value += delta * (v - a.mean);
        }
        VectorOp::Topk
        | VectorOp::Bottomk
        | VectorOp::ApproxTopk
        | VectorOp::Sort
        | VectorOp::SortDesc => {}
    }
}

fn finish(op: VectorOp, a: &Acc) -> f64 {
    match op {
        VectorOp::Avg => a.mean,
        VectorOp::Count => a.count as f64,
        VectorOp::Stddev => (a.value / a.count as f64).sqrt(),
        VectorOp::Stdvar => a.value / a.count as f64,
        _ => a.value,
    }
}

/// `topk`/`bottomk` (k per group) and `sort`/`sort_desc` (all): the selected
/// input samples, keeping their labels, ordered by value within each group.
fn select(input: StepVectors, agg: &VectorAgg) -> StepVectors {
    let descending = matches!(
        agg.op,
        VectorOp::Topk | VectorOp::ApproxTopk | VectorOp::SortDesc
    );
    let k = match agg.op {
        VectorOp::Sort | VectorOp::SortDesc => usize::MAX,
        // Loki: k below 1 selects nothing
        _ => match agg.param {
            Some(p) if p >= 1.0 => p as usize,
            _ => 0,
        },
    };
    let (group_of, group_labels) = groups(&input, agg.grouping.as_ref());
    let mut members: Vec<Vec<(u32, f64)>> = vec![Vec::new(); group_labels.len()];
    let mut touched: Vec<u32> = Vec::new();
    let mut steps = Vec::with_capacity(input.steps.len());
    for step in &input.steps {
        if k == 0 {
            steps.push(Vec::new());
            continue;
        }
        for &(id, v) in step {
            let g = group_of[id as usize] as usize;
            if members[g].is_empty() {
                touched.push(g as u32);
            }
            members[g].push((id, v));
        }
        let mut out = Vec::new();
        for g in touched.drain(..) {
            let m = &mut members[g as usize];
            // NaN is the least wanted value either way; stable on ties
            m.sort_by(|a, b| match (a.1.is_nan(), b.1.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if descending => b.1.total_cmp(&a.1),
                _ => a.1.total_cmp(&b.1),
            });
            out.extend(m.drain(..).take(k));
        }
        steps.push(out);
    }
    StepVectors {
        labels: input.labels,
        steps,
    }
}

/// `label_replace(v, dst, replacement, src, regex)`: per series, when the
/// anchored regex matches `src`'s value, `dst` becomes the expanded
/// replacement (removed when empty).
pub(crate) fn label_replace(mut input: StepVectors, lr: &LabelReplace) -> Result<StepVectors> {
    let re = Regex::new(&format!("^(?:{})$", lr.regex))
        .map_err(|e| Error::ParseNoPos(format!("invalid regex in label_replace: {e}")))?;
    for labels in &mut input.labels {
        let src = labels.get(&lr.src).unwrap_or("");
        let Some(caps) = re.captures(src) else {
            continue;
        };
        let mut res = String::new();
        caps.expand(&lr.replacement, &mut res);
        let mut pairs: Vec<(String, String)> = labels
            .pairs()
            .iter()
            .filter(|(k, _)| *k != lr.dst)
            .cloned()
            .collect();
        if !res.is_empty() {
            pairs.push((lr.dst.clone(), res));
        }
        *labels = Labels::new(pairs);
    }
    Ok(input)
}

#[cfg(test)]
mod tests;

//! A stand-in for `crate::pipeline` while that module is being written: the
//! same API, supporting only line filters `|=`/`!=` with literals, structured
//! metadata as labels, and range-aggregation grouping. Removed once the real
//! pipeline lands.

use crate::ast::{Grouping, LineFilterOp, LineFilterValue, LogRange, RangeOp, Stage};
use crate::labels::Labels;
use crate::{Error, Result};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelsResult {
    pub all: Labels,
    pub stream: Labels,
    pub structured_metadata: Vec<(String, String)>,
    pub parsed: Vec<(String, String)>,
    pub hash: u64,
}

pub struct Processed<'a> {
    pub line: &'a [u8],
    pub labels: &'a LabelsResult,
}

#[derive(Clone, Debug)]
enum Filter {
    Contains(Vec<String>),
    NotContains(String),
}

#[derive(Clone, Debug)]
pub struct Pipeline {
    filters: Vec<Filter>,
}

impl Pipeline {
    pub fn new(stages: &[Stage]) -> Result<Pipeline> {
        let mut filters = Vec::new();
        for s in stages {
            match s {
                Stage::LineFilter(f) => {
                    let lits: Vec<String> = f
                        .values
                        .iter()
                        .map(|v| match v {
                            LineFilterValue::Literal(s) => Ok(s.clone()),
                            LineFilterValue::Ip(_) => Err(Error::BadQuery("stub: ip".into())),
                        })
                        .collect::<Result<_>>()?;
                    match f.op {
                        LineFilterOp::Contains => filters.push(Filter::Contains(lits)),
                        LineFilterOp::NotContains => {
                            for l in lits {
                                filters.push(Filter::NotContains(l));
                            }
                        }
                        _ => return Err(Error::BadQuery("stub: unsupported filter".into())),
                    }
                }
                _ => return Err(Error::BadQuery("stub: unsupported stage".into())),
            }
        }
        Ok(Pipeline { filters })
    }

    pub fn is_noop(&self) -> bool {
        self.filters.is_empty()
    }

    pub fn required_literals(&self) -> Vec<String> {
        self.filters
            .iter()
            .filter_map(|f| match f {
                Filter::Contains(v) if v.len() == 1 => Some(v[0].clone()),
                _ => None,
            })
            .collect()
    }

    pub fn for_stream(&self, labels: &Labels) -> StreamPipeline {
        StreamPipeline {
            filters: self.filters.clone(),
            labels: labels.clone(),
            cache: Vec::new(),
        }
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    memchr::memmem::find(hay, needle.as_bytes()).is_some()
}

pub struct StreamPipeline {
    filters: Vec<Filter>,
    labels: Labels,
    cache: Vec<(Vec<(String, String)>, LabelsResult)>,
}

impl StreamPipeline {
    fn keep(&self, line: &[u8]) -> bool {
        self.filters.iter().all(|f| match f {
            Filter::Contains(v) => v.iter().any(|n| contains(line, n)),
            Filter::NotContains(n) => !contains(line, n),
        })
    }

    fn result(&mut self, md: &[(String, String)]) -> &LabelsResult {
        let pos = self.cache.iter().position(|(k, _)| k.as_slice() == md);
        let i = match pos {
            Some(i) => i,
            None => {
                let mut all = self.labels.pairs().to_vec();
                all.extend(md.iter().cloned());
                let all = Labels::new(all);
                let hash = all.fingerprint();
                let r = LabelsResult {
                    all,
                    stream: self.labels.clone(),
                    structured_metadata: md.to_vec(),
                    parsed: Vec::new(),
                    hash,
                };
                self.cache.push((md.to_vec(), r));
                self.cache.len() - 1
            }
        };
        &self.cache[i].1
    }

    pub fn process<'a>(
        &'a mut self,
        _ts: i64,
        line: &'a [u8],
        md: &[(String, String)],
    ) -> Option<Processed<'a>> {
        if !self.keep(line) {
            return None;
        }
        let labels = self.result(md);
        Some(Processed { line, labels })
    }
}

pub struct SampleExtractor {
    pipeline: Pipeline,
    op: RangeOp,
    grouping: Option<Grouping>,
}

impl SampleExtractor {
    pub fn new(
        range: &LogRange,
        op: RangeOp,
        grouping: Option<&Grouping>,
    ) -> Result<SampleExtractor> {
        if range.unwrap.is_some() {
            return Err(Error::BadQuery("stub: unwrap".into()));
        }
        Ok(SampleExtractor {
            pipeline: Pipeline::new(&range.log.pipeline)?,
            op,
            grouping: grouping.cloned(),
        })
    }

    pub fn for_stream(&self, labels: &Labels) -> StreamSampleExtractor {
        StreamSampleExtractor {
            inner: self.pipeline.for_stream(labels),
            op: self.op,
            grouping: self.grouping.clone(),
            grouped: Vec::new(),
        }
    }
}

pub struct StreamSampleExtractor {
    inner: StreamPipeline,
    op: RangeOp,
    grouping: Option<Grouping>,
    grouped: Vec<(u64, LabelsResult)>,
}

impl StreamSampleExtractor {
    pub fn process(
        &mut self,
        ts: i64,
        line: &[u8],
        md: &[(String, String)],
    ) -> Option<(f64, &LabelsResult)> {
        let value = match self.op {
            RangeOp::BytesOverTime | RangeOp::BytesRate => line.len() as f64,
            _ => 1.0,
        };
        let grouping = self.grouping.clone();
        let p = self.inner.process(ts, line, md)?;
        let Some(g) = grouping else {
            let h = p.labels.hash;
            let lr = p.labels.clone();
            let i = match self.grouped.iter().position(|(k, _)| *k == h) {
                Some(i) => i,
                None => {
                    self.grouped.push((h, lr));
                    self.grouped.len() - 1
                }
            };
            return Some((value, &self.grouped[i].1));
        };
        let all: Vec<(String, String)> = p
            .labels
            .all
            .iter()
            .filter(|(k, _)| g.labels.iter().any(|n| n == k) != g.without)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let all = Labels::new(all);
        let h = all.fingerprint();
        let i = match self.grouped.iter().position(|(k, _)| *k == h) {
            Some(i) => i,
            None => {
                self.grouped.push((
                    h,
                    LabelsResult {
                        all,
                        hash: h,
                        ..Default::default()
                    },
                ));
                self.grouped.len() - 1
            }
        };
        Some((value, &self.grouped[i].1))
    }
}

//! Conversions between the querier's types and `sluice.internal` messages.

use sluice_logql::labels::{Labels, MatchOp, Matcher};
use sluice_logql::source::Entry;
use sluice_proto::internal::{LabelMatcher, LabelSet, MatchType};
use sluice_proto::logproto::{EntryAdapter, LabelPairAdapter, Timestamp};
use sluice_proto::service::{Code, ServiceError};

pub fn matchers_to_proto(ms: &[Matcher]) -> Vec<LabelMatcher> {
    ms.iter()
        .map(|m| {
            let t = match m.op {
                MatchOp::Eq => MatchType::Equal,
                MatchOp::Neq => MatchType::NotEqual,
                MatchOp::Re => MatchType::RegexMatch,
                MatchOp::Nre => MatchType::RegexNoMatch,
            };
            LabelMatcher {
                r#type: t as i32,
                name: m.name.clone(),
                value: m.value.clone(),
            }
        })
        .collect()
}

pub fn matchers_from_proto(ms: &[LabelMatcher]) -> Result<Vec<Matcher>, ServiceError> {
    ms.iter()
        .map(|m| {
            let op = match MatchType::try_from(m.r#type) {
                Ok(MatchType::Equal) => MatchOp::Eq,
                Ok(MatchType::NotEqual) => MatchOp::Neq,
                Ok(MatchType::RegexMatch) => MatchOp::Re,
                Ok(MatchType::RegexNoMatch) => MatchOp::Nre,
                Err(_) => {
                    return Err(ServiceError::new(
                        Code::InvalidArgument,
                        format!("unknown matcher type {} for label {}", m.r#type, m.name),
                    ))
                }
            };
            Matcher::new(m.name.clone(), op, m.value.clone()).map_err(|e| {
                ServiceError::new(
                    Code::InvalidArgument,
                    format!("invalid regex in matcher {}: {e}", m.name),
                )
            })
        })
        .collect()
}

pub fn labels_to_proto(l: &Labels) -> LabelSet {
    LabelSet {
        labels: l
            .iter()
            .map(|(name, value)| LabelPairAdapter::new(name, value))
            .collect(),
    }
}

pub fn labels_from_proto(l: Option<LabelSet>) -> Labels {
    Labels::new(
        l.map(|s| s.labels)
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.name.into(), p.value.into()))
            .collect(),
    )
}

pub fn entry_to_proto(e: &Entry) -> EntryAdapter {
    EntryAdapter {
        timestamp: Some(Timestamp::from_unix_nanos(e.ts)),
        line: e.line.clone(),
        structured_metadata: e
            .metadata
            .iter()
            .map(|(name, value)| LabelPairAdapter::new(name.clone(), value.clone()))
            .collect(),
        parsed: vec![],
    }
}

pub fn entry_from_proto(e: EntryAdapter) -> Entry {
    Entry {
        ts: e.timestamp.map_or(0, |t| t.unix_nanos()),
        line: e.line,
        metadata: e
            .structured_metadata
            .into_iter()
            .map(|p| (p.name.into(), p.value.into()))
            .collect(),
        cut: false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn matchers_and_labels_round_trip() {
        let ms = vec![
            Matcher::new("app", MatchOp::Eq, "api").unwrap(),
            Matcher::new("env", MatchOp::Neq, "dev").unwrap(),
            Matcher::new("pod", MatchOp::Re, "api-.*").unwrap(),
            Matcher::new("ns", MatchOp::Nre, "kube.*").unwrap(),
        ];
        let back = matchers_from_proto(&matchers_to_proto(&ms)).unwrap();
        assert_eq!(back, ms);
        assert!(back[2].matches("api-7"));
        let bad = LabelMatcher {
            r#type: 2,
            name: "a".into(),
            value: "(".into(),
        };
        assert_eq!(matchers_from_proto(&[bad]).unwrap_err().http_status(), 400);
        let l = Labels::new(vec![("b".into(), "2".into()), ("a".into(), "1".into())]);
        assert_eq!(labels_from_proto(Some(labels_to_proto(&l))), l);
    }
}

//! The distributor's push: validate and normalise a decoded `PushRequest`
//! under the tenant's limits, apply the tenant's rate limit, hand the
//! surviving streams to the ingester and report what happened.
//!
//! Loki's semantics: a label string that does not parse refuses the whole
//! request; any other failure drops only the stream or entry concerned,
//! the rest is still pushed, and the response is a 400 listing the
//! failures. A rate-limited push is refused whole (429).

use std::collections::HashMap;
use std::sync::Arc;

use sluice_proto::logproto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
use sluice_proto::service::Pusher;

use crate::discover::{Levels, ServiceNames};
use crate::error::PushError;
use crate::label_cache::{LabelCache, ParsedLabels};
use crate::limits::{Limits, StaticLimits, TenantLimits};
use crate::rate::RateLimiter;
use crate::validate::{
    entry_size, normalize_structured_metadata, Discarded, GroupedErrors, ValidationContext,
};

/// What a push accepted and refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Streams sent to the ingester (after merging equal label sets).
    pub streams: usize,
    /// Entries accepted.
    pub lines: usize,
    /// Accepted bytes: lines plus structured metadata names and values.
    pub bytes: usize,
    /// Entries refused by validation.
    pub discarded_lines: usize,
    /// Refused lines and bytes per Loki discard reason (for
    /// `discarded_samples_total{reason}` and friends).
    pub discarded: Discarded,
    /// Lines cut to `max_line_size` (with `max_line_size_truncate`).
    pub truncated_lines: usize,
}

/// A push after validation, before rate limiting and the ingester.
#[derive(Debug)]
pub struct Validated {
    /// The accepted streams: canonical labels, fingerprint in `hash`,
    /// each label set once.
    pub request: PushRequest,
    pub stats: PushStats,
    /// Grouped validation failures, if any entry or stream was refused.
    pub errors: Option<String>,
}

/// The push path of one distributor.
pub struct Distributor {
    limits: Arc<dyn TenantLimits>,
    ingester: Arc<dyn Pusher>,
    rate: RateLimiter,
    labels: LabelCache,
}

impl Distributor {
    /// A distributor applying the same `limits` to every tenant.
    pub fn new(limits: Limits, ingester: Arc<dyn Pusher>) -> Self {
        Self::with_limits_provider(Arc::new(StaticLimits(Arc::new(limits))), ingester)
    }

    /// A distributor reading each tenant's limits from `limits`.
    pub fn with_limits_provider(limits: Arc<dyn TenantLimits>, ingester: Arc<dyn Pusher>) -> Self {
        Distributor {
            limits,
            ingester,
            rate: RateLimiter::new(),
            labels: LabelCache::default(),
        }
    }

    /// Validates and normalises `req` (label strings parsed, sorted and
    /// re-rendered canonically, `hash` = fingerprint, equal label sets
    /// merged), applies the tenant's rate limit, then pushes to the
    /// ingester. `Ok` means everything was accepted and acknowledged; a
    /// [`PushError::Validation`] means the valid part was acknowledged and
    /// the rest refused. An empty push is `Ok` with nothing done.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant))]
    pub async fn push(
        &self,
        tenant: &str,
        req: PushRequest,
        now_ns: i64,
    ) -> Result<PushStats, PushError> {
        let limits = self.limits.limits(tenant);
        let validated = validate_push_cached(&limits, req, now_ns, Some(&self.labels))?;
        let Validated {
            request,
            stats,
            errors,
        } = validated;
        if request.streams.is_empty() {
            return finish(stats, errors);
        }
        if !self.rate.allow(
            tenant,
            now_ns,
            stats.bytes,
            limits.ingestion_rate_bytes(),
            limits.ingestion_burst_bytes(),
        ) {
            tracing::debug!(
                tenant,
                lines = stats.lines,
                bytes = stats.bytes,
                "push rate limited"
            );
            return Err(PushError::RateLimited {
                tenant: tenant.to_string(),
                limit: limits.ingestion_rate_bytes() as u64,
                lines: stats.lines,
                bytes: stats.bytes,
            });
        }
        self.ingester.push(tenant, request).await?;
        finish(stats, errors)
    }

    /// The limits in force for `tenant`.
    pub fn limits(&self, tenant: &str) -> Arc<Limits> {
        self.limits.limits(tenant)
    }
}

fn finish(stats: PushStats, errors: Option<String>) -> Result<PushStats, PushError> {
    match errors {
        None => Ok(stats),
        Some(message) => Err(PushError::Validation {
            message,
            stats: Box::new(stats),
        }),
    }
}

/// Validates and normalises a push under `limits` at time `now_ns`,
/// without rate limiting or pushing. Fails whole only when a label string
/// does not parse.
pub fn validate_push(
    limits: &Limits,
    req: PushRequest,
    now_ns: i64,
) -> Result<Validated, PushError> {
    validate_push_cached(limits, req, now_ns, None)
}

/// [`validate_push`] reading parsed label strings through `cache`.
pub fn validate_push_cached(
    limits: &Limits,
    mut req: PushRequest,
    now_ns: i64,
    cache: Option<&LabelCache>,
) -> Result<Validated, PushError> {
    // like Loki's HTTP handler, every label string must parse first (and
    // gets its discovered `service_name` there)
    let mut parsed: Vec<Arc<ParsedLabels>> = Vec::with_capacity(req.streams.len());
    let mut service_names = ServiceNames::new(limits);
    for s in &mut req.streams {
        let p = match cache {
            Some(c) => c.get(&s.labels),
            None => ParsedLabels::parse(&s.labels).map(Arc::new),
        };
        let p = p.map_err(PushError::InvalidLabels)?;
        parsed.push(service_names.apply(p, &mut s.labels));
    }
    let levels = Levels::new(limits);

    let ctx = ValidationContext::new(limits, now_ns);
    let mut errors = GroupedErrors::default();
    let mut stats = PushStats::default();
    let mut out: Vec<StreamAdapter> = Vec::with_capacity(req.streams.len());
    let mut by_labels: HashMap<&str, usize> = HashMap::new();

    for (mut stream, p) in req.streams.into_iter().zip(parsed.iter()) {
        if stream.entries.is_empty() {
            continue;
        }
        stats.truncated_lines += ctx.truncate_lines(&mut stream.entries);
        if let Err((reason, msg)) = ctx.validate_labels(&stream.labels, &p.pairs) {
            let bytes: usize = stream.entries.iter().map(entry_size).sum();
            stats.discarded_lines += stream.entries.len();
            stats
                .discarded
                .add(reason, stream.entries.len() as u64, bytes as u64);
            errors.add(msg);
            continue;
        }
        let mut kept = validate_entries(
            &ctx,
            &p.canonical,
            std::mem::take(&mut stream.entries),
            &mut stats,
            &mut errors,
        );
        if kept.is_empty() {
            continue;
        }
        levels.apply(&p.pairs, &mut kept);
        match by_labels.get(p.canonical.as_str()) {
            Some(&i) => out[i].entries.extend(kept),
            None => {
                by_labels.insert(&p.canonical, out.len());
                // reuse the received string when it is already canonical
                let labels = if stream.labels == p.canonical {
                    std::mem::take(&mut stream.labels)
                } else {
                    p.canonical.clone()
                };
                out.push(StreamAdapter {
                    labels,
                    entries: kept,
                    hash: p.hash,
                });
            }
        }
    }
    stats.streams = out.len();
    let errors = (!errors.is_empty()).then(|| errors.message());
    Ok(Validated {
        request: PushRequest { streams: out },
        stats,
        errors,
    })
}

/// Keeps a stream's valid entries (normalised), recording the failures.
fn validate_entries(
    ctx: &ValidationContext,
    labels: &str,
    mut entries: Vec<EntryAdapter>,
    stats: &mut PushStats,
    errors: &mut GroupedErrors,
) -> Vec<EntryAdapter> {
    let ts_of = |e: &EntryAdapter| e.timestamp.map(|t| t.unix_nanos()).unwrap_or(0);
    let mut prev_ts = entries.first().map(ts_of).unwrap_or(0);
    // compact in place: entries[..kept] are the accepted ones so far
    let mut kept = 0;
    for i in 0..entries.len() {
        if let Err((reason, msg)) = ctx.validate_entry(labels, &entries[i]) {
            stats.discarded_lines += 1;
            stats
                .discarded
                .add(reason, 1, entry_size(&entries[i]) as u64);
            errors.add(msg);
            continue;
        }
        entries.swap(kept, i);
        let (done, rest) = entries.split_at_mut(kept);
        let e = &mut rest[0];
        normalize_structured_metadata(&mut e.structured_metadata);
        if ctx.increment_duplicate_timestamp {
            if let Some(last) = done.last() {
                // Loki: same timestamp, different line → one ns later than
                // the previous kept entry, so neither is deduplicated
                let (ts, last_ts) = (ts_of(e), ts_of(last));
                if last.line != e.line && (ts == prev_ts || ts == last_ts) {
                    e.timestamp = Some(Timestamp::from_unix_nanos(last_ts.saturating_add(1)));
                } else {
                    prev_ts = ts;
                }
            }
        }
        stats.lines += 1;
        stats.bytes += entry_size(e);
        kept += 1;
    }
    entries.truncate(kept);
    entries
}

#[cfg(test)]
#[path = "distributor_tests.rs"]
mod tests;

//! sluice-distributor: the push path. Decodes Loki push bodies (protobuf +
//! snappy, JSON, gzip/deflate), validates streams and entries with Loki's
//! rules and messages, enforces per-tenant ingestion rate limits, and hands
//! the accepted streams, in canonical form, to the ingester through the
//! `Pusher` service trait; [`ReplicatingPusher`] is that trait over the
//! ingester ring (replication factor, quorum).
//!
//! The HTTP layer calls [`validate_tenant_id`], [`decode_push`] then
//! [`Distributor::push`], and maps a [`PushError`] to `status()` and its
//! `Display` text (204 on `Ok`). OTLP/HTTP logs go through [`decode_otlp`]
//! instead of [`decode_push`].
//!
//! Where this differs from Loki 3 on purpose or for now:
//! - an absent `Content-Type` is read as protobuf (Loki's `mime` check
//!   answers 400 `mime: no media type`);
//! - `service_name` discovery and `detected_level` detection
//!   ([`discover`]) follow Loki 3; the differences are listed there;
//! - streams with equal label sets in one push are merged into one;
//! - several failures are listed in first-seen order (Loki's order is
//!   random); label syntax errors are phrased like Prometheus' parser but
//!   not guaranteed byte-identical to its yacc messages.

pub mod decode;
pub mod discover;
pub mod distributor;
pub mod error;
pub mod label_cache;
pub mod limits;
mod metrics;
pub mod otlp;
pub mod rate;
pub mod replicate;
pub mod stream_labels;
pub mod tenant;
pub use sluice_logql::time as time_fmt;
pub mod validate;

pub use decode::decode_push;
pub use distributor::{validate_push, validate_push_cached, Distributor, PushStats, Validated};
pub use error::{PushError, Result};
pub use label_cache::{LabelCache, ParsedLabels};
pub use limits::{Limits, RateStrategy, StaticLimits, TenantLimits};
pub use otlp::decode_otlp;
pub use replicate::ReplicatingPusher;
pub use tenant::validate_tenant_id;
pub use validate::{DiscardReason, Discarded};

//! sluice-distributor: the push path. Decodes Loki push bodies (protobuf +
//! snappy, JSON, gzip/deflate), validates streams and entries with Loki's
//! rules and messages, enforces per-tenant ingestion rate limits, and hands
//! the accepted streams, in canonical form, to the ingester through the
//! `Pusher` service trait.
//!
//! The HTTP layer calls [`validate_tenant_id`], [`decode_push`] then
//! [`Distributor::push`], and maps a [`PushError`] to `status()` and its
//! `Display` text (204 on `Ok`).

pub mod decode;
pub mod distributor;
pub mod error;
pub mod limits;
pub mod rate;
pub mod stream_labels;
pub mod tenant;
pub mod time_fmt;
pub mod validate;

pub use decode::decode_push;
pub use distributor::{validate_push, Distributor, PushStats, Validated};
pub use error::{PushError, Result};
pub use limits::{Limits, StaticLimits, TenantLimits};
pub use tenant::validate_tenant_id;
pub use validate::{DiscardReason, Discarded};

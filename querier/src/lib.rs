//! The querier: runs LogQL over recent data (ingesters) and stored chunks
//! (object store), drops duplicates between them, and serves Loki's HTTP
//! query API (`query_range`, `query`, `labels`, `label/{name}/values`,
//! `series`, `index/stats`, live `tail`, `index/volume[_range]`,
//! `format_query` and the Logs Drilldown endpoints) with Loki's JSON
//! shapes.

mod drilldown;
mod error;
mod format;
pub mod http;
pub mod json;
pub mod params;
mod querier;
mod source;
pub mod tail;
mod volume;

pub use error::{Error, Result};
pub use querier::{Querier, QuerierConfig, RecentData, RecentSeries, Shard};

//! The querier: runs LogQL over recent data (ingesters) and stored chunks
//! (object store), drops duplicates between them, and serves Loki's HTTP
//! query API (`query_range`, `query`, `labels`, `label/{name}/values`,
//! `series`, `index/stats`, live `tail`, `index/volume[_range]`,
//! `format_query` and the Logs Drilldown endpoints) with Loki's JSON
//! shapes. `grpc` carries recent data from remote ingesters and merges
//! their replicas.

mod drilldown;
mod error;
mod format;
pub mod grpc;
pub mod http;
pub mod json;
pub mod params;
mod querier;
mod source;
pub mod tail;
mod volume;

pub use error::{Error, Result};
pub use querier::{
    Answer, Querier, QuerierConfig, RecentData, RecentSeries, RecentStreamStats, Shard, TailFeed,
};

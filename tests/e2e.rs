//! End-to-end tests: each starts the real `sluice` binary on ephemeral
//! loopback ports with its own data directory and talks to it over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e {
    pub mod cluster;
    mod drilldown;
    mod durability;
    mod grafana;
    pub mod harness;
    mod otlp;
    mod push_query;
    pub mod ruler;
    mod ruler_ha;
    mod stats;
    pub mod tail_client;
    mod tail_delay;
    mod tail_soak;
}

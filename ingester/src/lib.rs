//! sluice-ingester
pub mod wal;

//! sluice-ingester

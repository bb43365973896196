//! sluice-distributor

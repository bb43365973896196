//! sluice-querier

//! printer (in progress)

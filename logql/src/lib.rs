//! LogQL for Sluice: the parser (`parser`), the AST (`ast`), the canonical
//! printer (`printer`), the Go text/template engine used by `line_format`
//! and `label_format` (`template`), the per-entry pipeline (`pipeline`:
//! filters, parsers, formatters, sample extraction) and the evaluator (`engine`)
//! that runs a query over any `LogSource`, counting what it read (`stats`).

pub mod ast;
pub mod engine;
pub mod error;
pub mod labels;
pub mod parser;
pub mod pipeline;
pub mod printer;
pub mod source;
pub mod stats;
pub mod template;
pub mod time;

pub use error::{Error, Result};
pub use labels::{Labels, MatchOp, Matcher};

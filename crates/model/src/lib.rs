//! esxnet's model: manifest wire types, loading with file and line, lowering to per-host desired
//! state, the observed-state types, and the domain rules.
//!
//! This crate does no IO besides reading manifest files and never talks to a backend.

#![warn(missing_docs)]

pub mod analysis;
pub mod common;
pub mod desired;
pub mod diagnostic;
pub mod hints;
pub mod load;
pub mod lower;
pub mod manifest;
pub mod observed;
pub mod parallel;
pub mod pool;
pub mod rules;
pub mod schema;
pub mod source;

pub use common::{CongestionControl, Dns, EsxiVersion, Route, Service, StackKind};
pub use diagnostic::{Diagnostic, Location, RuleId, Severity};
pub use observed::{ObservedFleet, ObservedHost};

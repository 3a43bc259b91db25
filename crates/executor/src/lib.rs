//! esxnet's executor: the [`Backend`] trait and the walker that applies a plan through it.
//!
//! This is the only crate that calls a backend; observation for `plan`, `drift` and `observe`
//! goes through it too.

#![warn(missing_docs)]

pub mod backend;

pub use backend::{Backend, BackendError, Fault, FaultKind, Operation, OperationOutcome};

//! esxnet's executor: the [`Backend`] trait and the walker that applies a plan through it.
//!
//! This is the only crate that calls a backend; observation for `plan`, `drift` and `observe`
//! goes through it too ([`observe_fleet`]).
//!
//! - [`apply`] walks a [`esxnet_planner::Plan`]: hosts in parallel, each host's steps in order,
//!   every step behind its precondition ([`precondition`]), operations from [`operations`],
//!   transient faults retried ([`RetryPolicy`]), progress through an [`Observer`], every step in
//!   the [`Journal`], and an [`ApplyReport`] at the end.
//! - [`check_fingerprints`] says whether a saved plan still fits the hosts.
//! - [`SnapshotBackend`] is the read-only `snapshot:FILE` target.
//!
//! How `esxnet apply` uses it:
//!
//! ```no_run
//! # fn example(plan: &esxnet_planner::Plan, backend: &dyn esxnet_executor::Backend) -> Result<(), esxnet_executor::ExecutorError> {
//! use esxnet_executor::{apply, ensure_plan_is_fresh, observe_fleet, ApplyOptions, Event, Journal};
//!
//! // A saved plan: refuse it when the hosts moved on.
//! let hosts: Vec<String> = plan.hosts.iter().map(|host| host.host.clone()).collect();
//! ensure_plan_is_fresh(plan, &observe_fleet(backend, &hosts, 16)?)?;
//!
//! let options = ApplyOptions { parallelism: 16, ..ApplyOptions::default() }
//!     .with_journal(Journal::open(".esxnet/journal.jsonl")?)
//!     .with_observer(|event: &Event| { /* advance a progress bar */ let _ = event; });
//! let report = apply(plan, backend, &options)?;
//! if !report.succeeded() { /* exit code 1 */ }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod apply;
pub mod backend;
mod error;
pub mod events;
mod fingerprint;
pub mod journal;
mod observe;
pub mod operations;
pub mod precondition;
pub mod report;
mod retry;
pub mod rollout;
mod snapshot;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod verify;

pub use apply::{apply, new_run_id, ApplyOptions, DEFAULT_PARALLELISM};
pub use backend::{Backend, BackendError, Fault, FaultKind, Operation, OperationOutcome};
pub use error::ExecutorError;
pub use events::{Event, IgnoreEvents, Observer};
pub use fingerprint::{check_fingerprints, ensure_plan_is_fresh, StaleHost};
pub use journal::{read_journal, Journal, JournalContents, JournalEntry, JournalRecord, JournaledTarget, LastRun};
pub use observe::{network_hints_of, observe_fleet, observe_fleet_with};
pub use report::{ApplyReport, ChangeReport, Counts, HostOutcome, HostReport, RollbackReport, StepOutcome, StepReport};
pub use retry::RetryPolicy;
pub use rollout::{Confirmation, ConfirmationSource, FailureBudget, Safety};
pub use snapshot::SnapshotBackend;
pub use verify::{Check, CheckOutcome, Verification};

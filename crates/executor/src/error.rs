//! The executor's one error type.

use std::path::PathBuf;

use esxnet_planner::Address;

use crate::backend::BackendError;
use crate::fingerprint::StaleHost;

/// Everything that can go wrong in the executor outside of a single step (step failures are
/// reported in the [`crate::ApplyReport`], not as errors, so that other hosts go on).
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// `apply` was pointed at a target that cannot change hosts.
    #[error("the target {target} is read-only; apply against sim: or vsphere:")]
    ReadOnlyTarget {
        /// The target's description.
        target: String,
    },
    /// A host could not be observed.
    #[error("could not observe host {host} on {target}: {source}; check that the target is reachable and run again")]
    Observe {
        /// The host.
        host: String,
        /// The target's description.
        target: String,
        /// The backend's answer.
        #[source]
        source: BackendError,
    },
    /// The backend could not list its hosts.
    #[error("could not list the hosts of {target}: {source}; check that the target is reachable and run again")]
    ListHosts {
        /// The target's description.
        target: String,
        /// The backend's answer.
        #[source]
        source: BackendError,
    },
    /// A snapshot file could not be read.
    #[error("cannot read snapshot {path}: {source}; write one with `esxnet observe --output yaml > FILE`")]
    SnapshotRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A snapshot file is not an observed fleet.
    #[error("snapshot {path} is not valid {format}: {problem}; write it again with `esxnet observe`")]
    SnapshotParse {
        /// The file.
        path: PathBuf,
        /// `JSON` or `YAML`.
        format: &'static str,
        /// What the parser said, with line and column.
        problem: String,
    },
    /// The journal could not be opened or written.
    #[error("cannot write the journal {path}: {source}; check the directory exists and is writable")]
    JournalWrite {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The journal could not be read.
    #[error("cannot read the journal {path}: {source}")]
    JournalRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A change in the plan lacks what its step needs; the plan was edited or made by another version.
    #[error("the plan is malformed at {address}: {problem}; make the plan again with `esxnet plan`")]
    MalformedChange {
        /// The change's address.
        address: Address,
        /// What is missing.
        problem: String,
    },
    /// The object a step changes is not on the host (by the executor's view of it).
    #[error("{address}: the object to change is not on the host; run plan again")]
    ObjectMissing {
        /// The change's address.
        address: Address,
    },
    /// A saved plan no longer matches the hosts.
    #[error("the saved plan is stale: {}; run plan again", describe_stale(.hosts))]
    StaleSavedPlan {
        /// The hosts that changed.
        hosts: Vec<StaleHost>,
    },
}

fn describe_stale(hosts: &[StaleHost]) -> String {
    hosts.iter().map(StaleHost::describe).collect::<Vec<_>>().join("; ")
}

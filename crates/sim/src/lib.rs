//! esxnet's simulated ESXi lab: hosts' networking with ESXi's own semantics, stricter than ESXi
//! where ESXi is lenient, stored as one JSON file per host, behind the executor's
//! [`Backend`](esxnet_executor::Backend) trait.
//!
//! - [`SimHost`] is one host and the vSphere methods that change it, each raising the fault ESXi
//!   raises. It is pure: no IO.
//! - [`Lab`] is a lab directory: settings, host files written atomically, a writer lock, and
//!   simulator controls (reboot, migrations).
//! - [`SimBackend`] puts a lab behind the `Backend` trait with latency, deterministic transient
//!   faults and API-call counters.

#![warn(missing_docs)]

pub mod backend;
pub mod error;
pub mod host;
pub mod lab;

pub use backend::{CallCounters, HostCallCounters, SimBackend};
pub use error::SimError;
pub use host::{AdapterUpdate, NewAdapter, SimHost, SwitchSpec};
pub use lab::{HostNames, InitOptions, Lab, LabSettings};

//! esxnet's simulated lab served over the vSphere API: VI JSON and SOAP.
//!
//! [`serve`] opens a lab (see `esxnet-sim`) as its only writer and answers, over HTTPS with a
//! self-signed certificate, the subset of the vSphere API that `esxnet-vsphere` uses (its
//! `PROTOCOL.md`), as VI JSON under `/sdk/vim25/` and as SOAP 1.1 at `/sdk` (the `soap` module
//! carries SOAP calls to the same handlers): release discovery, login and logout,
//! `ServiceInstance.content`, container views, inventory traversal,
//! the property collector over hosts and their networking, the `HostNetworkSystem` methods and
//! service selection on `HostVirtualNicManager`. Every change goes through the simulator, so the
//! vSphere backend meets the same ESXi semantics and the same fault messages as the `sim:`
//! target. Anything else answers `MethodNotFound`.
//!
//! Answers are written with `vim_rs`'s own serializer after being read back into `vim_rs`'s types,
//! so the wire format is the one `vim_rs` reads; request parameters are checked against `vim_rs`'s
//! types before they are used.
//!
//! # Managed object ids
//!
//! `ServiceInstance`, `group-d1` (root folder), `propertyCollector`, `ViewManager`,
//! `SessionManager`; the datacenter `datacenter-1` and its folders and compute resources (the
//! `datacenter` module); hosts `host-<n>` numbered from 1 in host-name order, with
//! `networkSystem-<n>` and `virtualNicManager-<n>`; distributed switches `dvs-<n>` in UUID order;
//! a distributed port group's id is its key.

#![warn(missing_docs)]

mod datacenter;
mod fault;
mod inventory;
mod server;
mod soap;
mod specs;
mod vim;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use server::{serve, serve_blocking, ServeOptions, ServerHandle, COUNTERS_PATH};
pub use vim::ServerCounters;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimServerError {
    /// The listen address is not loopback and non-loopback addresses were not allowed.
    #[error("refusing to listen on {address}: it is not a loopback address; listen on 127.0.0.1, or allow other addresses explicitly")]
    NotLoopback {
        /// The address asked for.
        address: SocketAddr,
    },
    /// The lab could not be opened as its writer.
    #[error("cannot serve the lab at {}: {source}", dir.display())]
    Lab {
        /// The lab directory.
        dir: PathBuf,
        /// What the simulator said.
        #[source]
        source: esxnet_sim::SimError,
    },
    /// The self-signed certificate could not be made.
    #[error("cannot make the server's self-signed certificate: {source}")]
    Certificate {
        /// What rcgen said.
        #[source]
        source: rcgen::Error,
    },
    /// The TLS configuration was refused.
    #[error("cannot set up TLS: {source}")]
    Tls {
        /// What rustls said.
        #[source]
        source: tokio_rustls::rustls::Error,
    },
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}; pick another port, or port 0 for a free one")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The server's runtime or thread could not start.
    #[error("cannot start the server's runtime: {source}")]
    Runtime {
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The server thread panicked; this is a bug.
    #[error("the server thread panicked; this is a bug in esxnet-sim-server")]
    Panicked,
}

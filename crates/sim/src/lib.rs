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
//!
//! # Semantics where the references are silent
//!
//! The simulator picks one documented behaviour and, where ESXi is lenient, the stricter one:
//!
//! - The vMotion and Provisioning stacks are instantiated by their first adapter and stay
//!   instantiated after their last adapter is removed (as `netStackInstanceRuntimeInfo` keeps
//!   them). Editing them before that is `InvalidState`.
//! - Before ESXi 6.0 the host has no provisioning stack at all: it is missing from the observed
//!   stacks, and adding an adapter on it or editing it is `NotFound`. The vMotion stack is not
//!   gated by version.
//! - Adding an adapter on the vMotion or Provisioning stack removes that stack's service from
//!   every default-stack adapter, every time (not only the first); while such an adapter exists,
//!   selecting the service on a default-stack adapter is `InvalidState`. Removing the last such
//!   adapter does not give the service back.
//! - Selecting a service already selected is a no-op; deselecting one that is not selected is
//!   `InvalidArgument`, as the API reference says. An unknown device is `NotFound`.
//! - An adapter on an unknown port group is `NotFound` (ESXi answers `InvalidArgument`); a port
//!   group that exists on another switch than the one named is `NotFound` too.
//! - VLAN 4095 on a port group carrying an adapter, an adapter MTU above its switch's MTU, MTUs
//!   outside 1280–9000, DHCP with a static address, a gateway override outside the adapter's
//!   subnet, route destinations with host bits set and duplicate route destinations are all
//!   `InvalidArgument`. So is a provisioning-stack gateway equal to the default stack's gateway,
//!   whichever of the two stacks is edited.
//! - Route gateways must lie in a subnet of one of the stack's adapters when every adapter on the
//!   stack is static (IPv4), or has neither DHCPv6 nor router advertisement (IPv6); link-local
//!   IPv6 gateways are always accepted. A stack without adapters is not judged.
//! - A switch added or updated without a teaming order gets every uplink active in name order,
//!   as ESXi does; a teaming order naming an unbridged uplink or one uplink twice is refused.
//! - Removing a switch removes its port groups with it.
//! - Changing an adapter's stack in place ([`AdapterUpdate::stack`]) is `InvalidArgument`.
//! - A live migration needs an adapter selected for vMotion; once a provisioning-stack adapter
//!   exists, provisioning migrations start only over such an adapter. Migrations in flight are
//!   never touched by other calls; an adapter carrying one cannot be removed
//!   (`ResourceInUse`), and a host with one cannot reboot (`InvalidState`).
//! - IPv6 is "in use" on an adapter when DHCPv6, router advertisement or a static address is on;
//!   it then also reports an EUI-64 link-local address (origin `linklayer`) computed from its
//!   MAC. Adding an adapter without IPv6 settings turns router advertisement on from ESXi 6.5.
//! - A fresh host looks like a freshly installed ESXi host (the D67 capture): vmk0 has vmnic0's
//!   MAC, router advertisement and a link-local address; the default stack has static DNS (or DNS
//!   learned through DHCP, [`FreshHostOptions::dns_from_dhcp`]) and an IPv6 default gateway
//!   learned from router advertisement. The routes ESXi computes are not stored: [`routing`]
//!   derives them from the adapters.
//! - Stack edits change only the sections sent ([`StackEdit`]). A missing IPv6 gateway keeps a
//!   learned one and removes a static one; an IPv6 gateway sent becomes static even when it equals
//!   the learned one, and `dnsConfig{dhcp: false}` makes DNS static, so a client that echoes learned
//!   values is caught. Removing one of ESXi's own routes is `InvalidArgument`, and so is adding a
//!   static route of their shape (default, link-local or multicast destination, unspecified or
//!   loopback gateway), which observation would strip.
//! - On a host with IPv6 disabled, adapters have no IPv6, and IPv6 in use on an adapter, an IPv6
//!   stack gateway or an IPv6 route is `InvalidState`.
//! - [`Backend::observe_many`](esxnet_executor::Backend::observe_many) is one batched round
//!   trip: one latency and one fault draw per batch, while every host read counts as one
//!   `RetrieveProperties` call.

#![warn(missing_docs)]

pub mod backend;
pub mod error;
pub mod fabric;
pub mod host;
pub mod lab;
pub mod routing;

pub use backend::{CallCounters, HostCallCounters, SimBackend};
pub use error::SimError;
pub use fabric::{Fabric, FabricSubnet, PortVlans};
pub use host::{
    AdapterUpdate, DnsEdit, FreshHostOptions, NewAdapter, RouteChange, SimHost, StackEdit, StackGateways, SwitchSpec,
};
pub use lab::{HostNames, InitOptions, Lab, LabDistributedPortGroup, LabDistributedSwitch, LabSettings};

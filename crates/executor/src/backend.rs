//! The `Backend` trait: how the executor observes hosts and changes them.
//!
//! # Contract
//!
//! - [`Backend::observe`] reads one host's whole networking state. It changes nothing.
//! - [`Backend::execute`] performs exactly one [`Operation`], the way one vSphere API call would.
//!   Operations are idempotent in effect: the executor checks each change's precondition against
//!   the observed state before it calls `execute`, so a change that is already in its target state
//!   is skipped, never sent twice. A backend may still be called with an operation whose target
//!   state was reached concurrently; it then answers with the fault ESXi gives (such as
//!   `AlreadyExists`), and the executor re-observes before it decides.
//! - Faults are classified: [`FaultKind::Transient`] faults (connection errors, timeouts, a busy
//!   server) may succeed when retried; [`FaultKind::Permanent`] ones will not, and carry the
//!   server's own message.
//! - Backends never print; the executor reports through its events.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use esxnet_model::common::{CongestionControl, Dns, Route, Service, StackKind};
use esxnet_model::hints::NicHint;
use esxnet_model::observed::{
    ObservedFleet, ObservedHost, PortConnection, SecurityOverride, SecurityPolicy, Teaming, TeamingOverride,
    TeamingPolicy,
};
use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};

/// Whether retrying a failed operation may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// May succeed when retried: connection refused or reset, timeout, busy server.
    Transient,
    /// Will not succeed when retried.
    Permanent,
}

/// The fault a backend answered with, named after the vSphere API fault where there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// `AlreadyExists`.
    AlreadyExists,
    /// `NotFound`.
    NotFound,
    /// `ResourceInUse`.
    ResourceInUse,
    /// `InvalidArgument`.
    InvalidArgument,
    /// `InvalidState`.
    InvalidState,
    /// `HostConfigFault` or `PlatformConfigFault`.
    HostConfig,
    /// `MethodNotFound` / not implemented by this server.
    NotImplemented,
    /// The credentials were refused.
    NotAuthenticated,
    /// The host is not known to the backend.
    UnknownHost,
    /// The connection failed or broke.
    Connection,
    /// The call timed out.
    Timeout,
    /// The server is busy; try later.
    Busy,
    /// The lab or server storage failed.
    Storage,
}

impl Fault {
    /// The usual classification of this fault.
    pub fn kind(self) -> FaultKind {
        match self {
            Fault::Connection | Fault::Timeout | Fault::Busy => FaultKind::Transient,
            _ => FaultKind::Permanent,
        }
    }
}

/// A failed backend call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{fault:?}: {message}")]
pub struct BackendError {
    /// What went wrong.
    pub fault: Fault,
    /// Transient or permanent.
    pub kind: FaultKind,
    /// The server's own message, or what the backend knows; never credentials.
    pub message: String,
}

impl BackendError {
    /// An error classified by its fault.
    pub fn new(fault: Fault, message: impl Into<String>) -> Self {
        BackendError {
            fault,
            kind: fault.kind(),
            message: message.into(),
        }
    }

    /// Whether retrying may help.
    pub fn is_transient(&self) -> bool {
        self.kind == FaultKind::Transient
    }
}

/// IPv4 settings sent with an adapter operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ipv4Settings {
    /// DHCP.
    pub dhcp: bool,
    /// Static address (not with DHCP).
    pub address: Option<Ipv4Addr>,
    /// Static prefix length (not with DHCP).
    pub prefix_length: Option<u8>,
    /// Per-adapter default gateway; `None` removes an override.
    pub gateway_override: Option<Ipv4Addr>,
}

/// IPv6 settings sent with an adapter operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ipv6Settings {
    /// DHCPv6.
    pub dhcp: bool,
    /// Router advertisement.
    pub router_advertisement: bool,
    /// The static addresses the adapter should have: the whole set.
    pub addresses: BTreeSet<Ipv6Net>,
    /// Per-adapter IPv6 default gateway; `None` removes an override.
    pub gateway_override: Option<Ipv6Addr>,
}

/// The settings of a stack sent with [`Operation::EditStack`]: the whole managed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackSettings {
    /// IPv4 default gateway.
    pub ipv4_gateway: Option<Ipv4Addr>,
    /// IPv6 default gateway.
    pub ipv6_gateway: Option<Ipv6Addr>,
    /// DNS.
    pub dns: Dns,
    /// Static routes (the whole set).
    pub routes: Vec<Route>,
    /// Requested connection limit (pending until the host reboots).
    pub requested_max_connections: u32,
    /// Congestion control.
    pub congestion_control: CongestionControl,
}

/// One call to a host, shaped like the vSphere API method it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "method")]
pub enum Operation {
    /// `AddVirtualSwitch`.
    AddSwitch {
        /// Switch name.
        name: String,
        /// MTU.
        mtu: u32,
        /// Uplinks to bridge.
        uplinks: BTreeSet<String>,
        /// Teaming order.
        teaming: Teaming,
        /// Load balancing, failback, notify switches and beacon probing.
        #[serde(default)]
        teaming_policy: TeamingPolicy,
        /// Security policy.
        #[serde(default)]
        security: SecurityPolicy,
    },
    /// `UpdateVirtualSwitch` with the managed fields; the rest of the switch's spec (shaping,
    /// bridge settings, port count) stays as it is.
    UpdateSwitch {
        /// Switch name.
        name: String,
        /// MTU.
        mtu: u32,
        /// Uplinks to bridge (the whole set).
        uplinks: BTreeSet<String>,
        /// Teaming order.
        teaming: Teaming,
        /// Load balancing, failback, notify switches and beacon probing.
        #[serde(default)]
        teaming_policy: TeamingPolicy,
        /// Security policy.
        #[serde(default)]
        security: SecurityPolicy,
    },
    /// `RemoveVirtualSwitch`.
    RemoveSwitch {
        /// Switch name.
        name: String,
    },
    /// `AddPortGroup`.
    AddPortGroup {
        /// Port group name.
        name: String,
        /// Its switch.
        switch: String,
        /// VLAN ID.
        vlan: u16,
        /// Teaming overrides (unset fields inherit from the switch).
        #[serde(default, skip_serializing_if = "TeamingOverride::is_empty")]
        teaming: TeamingOverride,
        /// Security overrides (unset fields inherit from the switch).
        #[serde(default, skip_serializing_if = "SecurityOverride::is_empty")]
        security: SecurityOverride,
    },
    /// `UpdatePortGroup` with the managed fields; the port group's shaping overrides stay as
    /// they are.
    UpdatePortGroup {
        /// Port group name.
        name: String,
        /// Its switch.
        switch: String,
        /// VLAN ID.
        vlan: u16,
        /// Teaming overrides (unset fields inherit from the switch).
        #[serde(default, skip_serializing_if = "TeamingOverride::is_empty")]
        teaming: TeamingOverride,
        /// Security overrides (unset fields inherit from the switch).
        #[serde(default, skip_serializing_if = "SecurityOverride::is_empty")]
        security: SecurityOverride,
    },
    /// `RemovePortGroup`.
    RemovePortGroup {
        /// Port group name.
        name: String,
    },
    /// `AddVirtualNic`; answers with the new device name.
    AddAdapter {
        /// Where to connect it.
        connection: PortConnection,
        /// The stack, fixed from now on.
        stack: StackKind,
        /// MTU.
        mtu: u32,
        /// IPv4 settings.
        ipv4: Ipv4Settings,
        /// IPv6 settings; `None` leaves ESXi's defaults.
        ipv6: Option<Ipv6Settings>,
    },
    /// `UpdateVirtualNic`. The stack cannot change here.
    UpdateAdapter {
        /// Device name.
        device: String,
        /// MTU.
        mtu: u32,
        /// IPv4 settings.
        ipv4: Ipv4Settings,
        /// IPv6 settings; `None` leaves them as they are.
        ipv6: Option<Ipv6Settings>,
    },
    /// `RemoveVirtualNic`.
    RemoveAdapter {
        /// Device name.
        device: String,
    },
    /// `UpdateNetworkConfig` with a `netStackSpec` edit.
    EditStack {
        /// Which stack.
        stack: StackKind,
        /// Its settings.
        settings: StackSettings,
    },
    /// `HostVirtualNicManager.SelectVnicForNicType`.
    SelectService {
        /// Device name.
        device: String,
        /// Service.
        service: Service,
    },
    /// `HostVirtualNicManager.DeselectVnicForNicType`.
    DeselectService {
        /// Device name.
        device: String,
        /// Service.
        service: Service,
    },
}

impl Operation {
    /// The vSphere method this operation stands for, such as `AddVirtualNic`.
    pub fn method_name(&self) -> &'static str {
        match self {
            Operation::AddSwitch { .. } => "AddVirtualSwitch",
            Operation::UpdateSwitch { .. } => "UpdateVirtualSwitch",
            Operation::RemoveSwitch { .. } => "RemoveVirtualSwitch",
            Operation::AddPortGroup { .. } => "AddPortGroup",
            Operation::UpdatePortGroup { .. } => "UpdatePortGroup",
            Operation::RemovePortGroup { .. } => "RemovePortGroup",
            Operation::AddAdapter { .. } => "AddVirtualNic",
            Operation::UpdateAdapter { .. } => "UpdateVirtualNic",
            Operation::RemoveAdapter { .. } => "RemoveVirtualNic",
            Operation::EditStack { .. } => "UpdateNetworkConfig",
            Operation::SelectService { .. } => "SelectVnicForNicType",
            Operation::DeselectService { .. } => "DeselectVnicForNicType",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::AddSwitch { name, .. } => write!(formatter, "add standard switch {name}"),
            Operation::UpdateSwitch { name, .. } => write!(formatter, "update standard switch {name}"),
            Operation::RemoveSwitch { name } => write!(formatter, "remove standard switch {name}"),
            Operation::AddPortGroup { name, .. } => write!(formatter, "add port group {name}"),
            Operation::UpdatePortGroup { name, .. } => write!(formatter, "update port group {name}"),
            Operation::RemovePortGroup { name } => write!(formatter, "remove port group {name}"),
            Operation::AddAdapter { connection, stack, .. } => {
                write!(formatter, "add VMkernel adapter on {connection} ({stack} stack)")
            }
            Operation::UpdateAdapter { device, .. } => write!(formatter, "update VMkernel adapter {device}"),
            Operation::RemoveAdapter { device } => write!(formatter, "remove VMkernel adapter {device}"),
            Operation::EditStack { stack, .. } => write!(formatter, "edit the {stack} TCP/IP stack"),
            Operation::SelectService { device, service } => write!(formatter, "select {device} for {service}"),
            Operation::DeselectService { device, service } => write!(formatter, "deselect {device} for {service}"),
        }
    }
}

/// What a successful operation answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationOutcome {
    /// The device name of an adapter that [`Operation::AddAdapter`] created.
    pub created_device: Option<String>,
}

/// A place esxnet reads hosts from and applies changes to.
///
/// See the module documentation for the contract. Implementations are shared between the
/// executor's worker threads.
pub trait Backend: Send + Sync {
    /// A short description for messages, such as `sim:.esxnet/lab`. Never contains credentials.
    fn describe(&self) -> String;

    /// The names of the hosts this backend knows.
    fn host_names(&self) -> Result<Vec<String>, BackendError>;

    /// Reads one host's state.
    fn observe(&self, host: &str) -> Result<ObservedHost, BackendError>;

    /// Reads several hosts' state. Backends that can batch (one property-collector round trip)
    /// override this.
    fn observe_many(&self, hosts: &[String]) -> Result<ObservedFleet, BackendError> {
        let mut fleet = ObservedFleet::default();
        for host in hosts {
            fleet.hosts.insert(host.clone(), self.observe(host)?);
        }
        Ok(fleet)
    }

    /// Whether [`Backend::observe_many`] reads several hosts in one round trip, so that callers
    /// batch instead of observing host by host in parallel.
    fn batches_observation(&self) -> bool {
        false
    }

    /// Performs one operation on one host.
    fn execute(&self, host: &str, operation: &Operation) -> Result<OperationOutcome, BackendError>;

    /// Performs one operation on a host whose current state the caller carries: observed at the
    /// start of the host's chain and carried forward over every earlier step with
    /// `planner::state::record`. The executor always calls this one.
    ///
    /// A backend that must read before it writes (the vSphere backend sends switch and port-group
    /// specs read-modify-write, and diffs routes and IPv6 addresses) takes what it needs from
    /// `current` instead of reading the host again, so every operation stays one API call. The
    /// default ignores `current`.
    fn execute_with_state(
        &self,
        current: &ObservedHost,
        operation: &Operation,
    ) -> Result<OperationOutcome, BackendError> {
        self.execute(&current.name, operation)
    }

    /// Whether this backend can change hosts (`snapshot:` cannot).
    fn is_writable(&self) -> bool {
        true
    }

    /// What ESXi sees on the host's physical NICs (`HostNetworkSystem.QueryNetworkHint`): the
    /// subnets per VLAN and what the switch ports advertise. `Ok(None)` when this backend has no
    /// way to tell (the default; a `snapshot:` file, a lab without a model of its network).
    fn network_hints(&self, host: &str) -> Result<Option<Vec<NicHint>>, BackendError> {
        let _ = host;
        Ok(None)
    }

    /// The host's connection state as its management server sees it
    /// (`HostSystem.runtime.connectionState`: `connected`, `disconnected`, `notResponding`).
    /// `Ok(None)` when the backend talks to the host itself or cannot tell (the default): then
    /// reading the host is the only sign it is connected. vCenter answers a disconnected host's
    /// last known configuration, so reading alone does not prove it is there.
    fn connection_state(&self, host: &str) -> Result<Option<String>, BackendError> {
        let _ = host;
        Ok(None)
    }

    /// [`Backend::observe`] and [`Backend::connection_state`] together, as verification reads a
    /// host after its changes. A backend that can read both in one round trip (vSphere: the
    /// state is a property of the host object observation already reads) overrides this, so that
    /// verifying a host costs one call. The connection state's own failure is answered beside the
    /// host, not as the error: a host that was read but whose state could not be told is
    /// unverified, not cut off.
    fn observe_with_connection_state(&self, host: &str) -> Result<ObservedWithState, BackendError> {
        let observed = self.observe(host)?;
        Ok((observed, self.connection_state(host)))
    }
}

/// A host as observed, and its connection state or why it could not be told
/// ([`Backend::observe_with_connection_state`]).
pub type ObservedWithState = (ObservedHost, Result<Option<String>, BackendError>);

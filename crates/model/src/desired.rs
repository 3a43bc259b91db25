//! The per-host desired state that manifests lower to.
//!
//! Selectors are resolved, per-host addresses and pools are expanded, and every value is typed.
//! Fields a manifest leaves out are `None`: esxnet leaves them as they are on the host. Each object
//! keeps the [`Source`] it was declared in so rules can point at the line.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use crate::common::{CongestionControl, Dns, Route, Service, StackKind};
use crate::observed::{
    LoadBalancing, PortConnection, SecurityOverride, SecurityPolicy, Teaming, TeamingOverride, TeamingPolicy,
};
use crate::pool::Ipv4Pool;
use crate::source::Source;

/// A host's objects by name: a map kept as one sorted vector. A host declares a handful of each, and
/// a B-tree's smallest node holds eleven, so on a large fleet most of a B-tree's memory is empty slots.
pub type ObjectMap<K, V> = litemap::LiteMap<K, V>;

/// The desired state of every declared host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredFleet {
    /// Hosts by name.
    pub hosts: BTreeMap<String, DesiredHost>,
}

/// What one host should have.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredHost {
    /// Host name.
    pub name: String,
    /// Labels from its `Host` document.
    pub labels: BTreeMap<String, String>,
    /// Its `Host` document.
    pub source: Source,
    /// Standard switches by name.
    pub switches: ObjectMap<String, DesiredSwitch>,
    /// Standard port groups by name (names are unique on a host).
    pub port_groups: ObjectMap<String, DesiredPortGroup>,
    /// Stack settings by stack.
    pub stacks: ObjectMap<StackKind, DesiredStack>,
    /// VMkernel adapters by their manifest name.
    pub adapters: ObjectMap<String, DesiredAdapter>,
    /// The `Target` that selects it, when the manifests declare targets.
    pub target: Option<std::sync::Arc<DesiredTarget>>,
}

/// A `Target` document: the server a host is reached through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredTarget {
    /// The document's name.
    pub name: String,
    /// `spec.server`, as written.
    pub server: String,
    /// Where its password is read, if anywhere.
    pub password_from: Option<crate::manifest::PasswordFrom>,
    /// Its document.
    pub source: Source,
}

impl DesiredHost {
    /// An empty desired state for a declared host.
    pub fn new(name: String, labels: BTreeMap<String, String>, source: Source) -> Self {
        DesiredHost {
            name,
            labels,
            source,
            switches: ObjectMap::new(),
            port_groups: ObjectMap::new(),
            stacks: ObjectMap::new(),
            adapters: ObjectMap::new(),
            target: None,
        }
    }

    /// Whether any declared adapter is on the given stack.
    pub fn has_adapter_on_stack(&self, stack: StackKind) -> bool {
        self.adapters.values().any(|adapter| adapter.stack == stack)
    }
}

/// A standard switch.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSwitch {
    /// Switch name.
    pub name: String,
    /// MTU, when managed.
    pub mtu: Option<u32>,
    /// Uplinks, when managed (a set).
    pub uplinks: Option<BTreeSet<String>>,
    /// Teaming order, when managed.
    pub teaming: Option<Teaming>,
    /// Security and teaming policy, the fields that are managed.
    pub policy: SwitchPolicyPatch,
    /// Where it was declared.
    pub source: Source,
}

/// The fields of a switch's security and teaming policy a manifest manages; `None` leaves the
/// host's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwitchPolicyPatch {
    /// Promiscuous mode.
    pub allow_promiscuous: Option<bool>,
    /// MAC address changes.
    pub mac_changes: Option<bool>,
    /// Forged transmits.
    pub forged_transmits: Option<bool>,
    /// Load balancing.
    pub load_balancing: Option<LoadBalancing>,
    /// Notify switches.
    pub notify_switches: Option<bool>,
    /// Fail back.
    pub failback: Option<bool>,
    /// Beacon probing.
    pub beacon_probing: Option<bool>,
}

impl SwitchPolicyPatch {
    /// `security` with the managed fields set.
    pub fn security(&self, mut security: SecurityPolicy) -> SecurityPolicy {
        security.allow_promiscuous = self.allow_promiscuous.unwrap_or(security.allow_promiscuous);
        security.mac_changes = self.mac_changes.unwrap_or(security.mac_changes);
        security.forged_transmits = self.forged_transmits.unwrap_or(security.forged_transmits);
        security
    }

    /// `teaming` with the managed fields set.
    pub fn teaming(&self, mut teaming: TeamingPolicy) -> TeamingPolicy {
        teaming.load_balancing = self.load_balancing.unwrap_or(teaming.load_balancing);
        teaming.notify_switches = self.notify_switches.unwrap_or(teaming.notify_switches);
        teaming.failback = self.failback.unwrap_or(teaming.failback);
        teaming.beacon_probing = self.beacon_probing.unwrap_or(teaming.beacon_probing);
        teaming
    }
}

/// The overrides of a port group a manifest manages: `None` leaves the host's override (or its
/// inheriting) as it is, `Some(None)` inherits from the switch, `Some(Some(value))` overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortGroupPolicyPatch {
    /// Promiscuous mode.
    pub allow_promiscuous: Option<Option<bool>>,
    /// MAC address changes.
    pub mac_changes: Option<Option<bool>>,
    /// Forged transmits.
    pub forged_transmits: Option<Option<bool>>,
    /// Load balancing.
    pub load_balancing: Option<Option<LoadBalancing>>,
    /// Notify switches.
    pub notify_switches: Option<Option<bool>>,
    /// Fail back.
    pub failback: Option<Option<bool>>,
    /// Beacon probing.
    pub beacon_probing: Option<Option<bool>>,
    /// Active/standby order.
    pub order: Option<Option<Teaming>>,
}

impl PortGroupPolicyPatch {
    /// Whether the manifest manages none of the overrides.
    pub fn is_empty(&self) -> bool {
        *self == PortGroupPolicyPatch::default()
    }

    /// `security` with the managed overrides set.
    pub fn security(&self, mut security: SecurityOverride) -> SecurityOverride {
        security.allow_promiscuous = self.allow_promiscuous.unwrap_or(security.allow_promiscuous);
        security.mac_changes = self.mac_changes.unwrap_or(security.mac_changes);
        security.forged_transmits = self.forged_transmits.unwrap_or(security.forged_transmits);
        security
    }

    /// `teaming` with the managed overrides set.
    pub fn teaming(&self, mut teaming: TeamingOverride) -> TeamingOverride {
        teaming.load_balancing = self.load_balancing.unwrap_or(teaming.load_balancing);
        teaming.notify_switches = self.notify_switches.unwrap_or(teaming.notify_switches);
        teaming.failback = self.failback.unwrap_or(teaming.failback);
        teaming.beacon_probing = self.beacon_probing.unwrap_or(teaming.beacon_probing);
        if let Some(order) = &self.order {
            teaming.order = order.clone();
        }
        teaming
    }
}

/// A standard port group.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredPortGroup {
    /// Port group name.
    pub name: String,
    /// The switch it is declared in.
    pub switch: String,
    /// VLAN ID.
    pub vlan: u16,
    /// Security and teaming overrides, the fields that are managed.
    pub policy: PortGroupPolicyPatch,
    /// Where it was declared.
    pub source: Source,
    /// Its field path in that document, such as `spec.portGroups[0]`.
    pub field: String,
}

/// The managed settings of one stack.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredStack {
    /// Which stack.
    pub stack: StackKind,
    /// The `NetStack` document's name.
    pub name: String,
    /// IPv4 default gateway, when managed.
    pub ipv4_gateway: Option<Ipv4Addr>,
    /// IPv6 default gateway, when managed.
    pub ipv6_gateway: Option<Ipv6Addr>,
    /// DNS, when managed.
    pub dns: Option<Dns>,
    /// Routes, when managed (sorted, the whole set).
    pub routes: Option<Vec<Route>>,
    /// Requested connection limit, when managed.
    pub max_connections: Option<u32>,
    /// Congestion control, when managed.
    pub congestion_control: Option<CongestionControl>,
    /// Where it was declared.
    pub source: Source,
}

/// IPv4 settings of an adapter on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredIpv4 {
    /// DHCP. Carries nothing else; the fields are kept only so rules can reject them (ESX006).
    Dhcp {
        /// A prefix length given anyway (an error).
        stray_prefix_length: bool,
        /// Addresses or a pool given anyway (an error).
        stray_addresses: bool,
        /// A gateway override given anyway.
        gateway_override: Option<Ipv4Addr>,
    },
    /// A static address.
    Static {
        /// The address for this host, when one was given or allocated.
        address: Option<Ipv4Addr>,
        /// The prefix length, when given.
        prefix_length: Option<u8>,
        /// The pool the address was (or could not be) allocated from.
        pool: Option<Ipv4Pool>,
        /// A gateway for this adapter only.
        gateway_override: Option<Ipv4Addr>,
    },
}

impl DesiredIpv4 {
    /// The static address with its prefix, when both are present and valid.
    pub fn network(&self) -> Option<Ipv4Net> {
        match self {
            DesiredIpv4::Static {
                address: Some(address),
                prefix_length: Some(prefix),
                ..
            } => Ipv4Net::new(*address, *prefix).ok(),
            _ => None,
        }
    }

    /// The gateway override, whatever the mode.
    pub fn gateway_override(&self) -> Option<Ipv4Addr> {
        match self {
            DesiredIpv4::Dhcp { gateway_override, .. } | DesiredIpv4::Static { gateway_override, .. } => {
                *gateway_override
            }
        }
    }

    /// Whether the mode is DHCP.
    pub fn is_dhcp(&self) -> bool {
        matches!(self, DesiredIpv4::Dhcp { .. })
    }
}

/// IPv6 settings of an adapter on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredIpv6 {
    /// DHCPv6.
    pub dhcp: bool,
    /// Router advertisement; `None` means ESXi's default for the host's version.
    pub router_advertisement: Option<bool>,
    /// Static addresses for this host (empty when none are declared for it).
    pub addresses: BTreeSet<Ipv6Net>,
    /// A gateway for this adapter only.
    pub gateway_override: Option<Ipv6Addr>,
}

/// A VMkernel adapter on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredAdapter {
    /// The manifest name; the adapter's name in plans.
    pub name: String,
    /// The TCP/IP stack.
    pub stack: StackKind,
    /// A pinned device name.
    pub device: Option<String>,
    /// The port group it connects to.
    pub connection: PortConnection,
    /// Whether the manifest named both or neither kind of switch (ESX011); `connection` is then a guess.
    pub ambiguous_switch: bool,
    /// MTU, when managed.
    pub mtu: Option<u32>,
    /// IPv4 settings.
    pub ipv4: DesiredIpv4,
    /// IPv6 settings, when managed.
    pub ipv6: Option<DesiredIpv6>,
    /// Services, when managed.
    pub services: Option<BTreeSet<Service>>,
    /// Where it was declared.
    pub source: Source,
}

impl DesiredAdapter {
    /// The services the adapter will carry: what the manifest asks for on the default stack, the
    /// stack's implied service elsewhere.
    pub fn effective_services(&self) -> Option<BTreeSet<Service>> {
        match self.stack.implied_service() {
            Some(service) => Some(BTreeSet::from([service])),
            None => self.services.clone(),
        }
    }
}

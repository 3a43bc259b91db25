//! What hosts really have: the observed state a backend reports.
//!
//! These types mirror the parts of `HostNetworkInfo`, `HostVirtualNicManager` and
//! `HostSystem.runtime.networkRuntimeInfo` that esxnet manages, with ESXi's computed noise
//! (uplink order, link-local addresses) kept apart from what a manifest can declare.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{CongestionControl, Dns, EsxiVersion, Route, Service, StackKind};

/// The observed state of every host a backend knows, keyed by host name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObservedFleet {
    /// Hosts by name.
    pub hosts: BTreeMap<String, ObservedHost>,
}

/// One ESXi host's networking as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedHost {
    /// The host's name (inventory name in vCenter).
    pub name: String,
    /// The ESXi release.
    pub version: EsxiVersion,
    /// Physical NICs.
    #[serde(default)]
    pub physical_nics: Vec<PhysicalNic>,
    /// Standard switches.
    #[serde(default)]
    pub switches: Vec<ObservedSwitch>,
    /// Standard port groups (host-wide unique names, each on one switch).
    #[serde(default)]
    pub port_groups: Vec<ObservedPortGroup>,
    /// VMkernel adapters.
    #[serde(default)]
    pub adapters: Vec<ObservedAdapter>,
    /// TCP/IP stacks.
    #[serde(default)]
    pub stacks: Vec<ObservedStack>,
    /// Distributed switches this host is a member of, with their port groups.
    #[serde(default)]
    pub distributed_switches: Vec<DistributedSwitchMembership>,
    /// Migrations in flight on this host.
    #[serde(default)]
    pub active_migrations: Vec<ActiveMigration>,
    /// Whether IPv6 is enabled on the host (`config.network.ipV6Enabled`). With IPv6 disabled,
    /// adapters report no IPv6 configuration and refuse IPv6 settings (`InvalidState`).
    #[serde(default = "enabled")]
    pub ipv6_enabled: bool,
}

fn enabled() -> bool {
    true
}

/// A physical NIC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalNic {
    /// Device name such as `vmnic2`.
    pub device: String,
    /// MAC address.
    pub mac: String,
    /// Link speed in Mb/s; absent when the link is down.
    pub link_speed_mb: Option<u32>,
}

/// The NIC teaming order of a standard switch.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Teaming {
    /// Active uplinks in failover order.
    #[serde(default)]
    pub active: Vec<String>,
    /// Standby uplinks in failover order.
    #[serde(default)]
    pub standby: Vec<String>,
}

/// A standard switch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedSwitch {
    /// Switch name such as `vSwitch1`.
    pub name: String,
    /// MTU in bytes.
    pub mtu: u32,
    /// Bridged physical NICs. A set: ESXi reports them in an order of its own.
    pub uplinks: BTreeSet<String>,
    /// Teaming order.
    pub teaming: Teaming,
    /// The rest of the switch's spec (security, teaming policy, shaping, beacon, link discovery,
    /// port count). Not managed by esxnet yet: carried so that nothing esxnet does changes it.
    /// Left out of a lab file or snapshot when it is [`SwitchPolicy::default`].
    #[serde(default, skip_serializing_if = "SwitchPolicy::is_default")]
    pub policy: SwitchPolicy,
}

/// Security policy of a switch (`HostNetworkSecurityPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityPolicy {
    /// Promiscuous mode (`allowPromiscuous`).
    #[serde(default)]
    pub allow_promiscuous: bool,
    /// MAC address changes (`macChanges`).
    #[serde(default)]
    pub mac_changes: bool,
    /// Forged transmits (`forgedTransmits`).
    #[serde(default)]
    pub forged_transmits: bool,
}

/// How a team of uplinks balances traffic (`HostNicTeamingPolicy.policy`; the values of
/// `config.capabilities.nicTeamingPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum LoadBalancing {
    /// Route based on the originating virtual port (ESXi's default).
    #[default]
    #[serde(rename = "loadbalance_srcid")]
    SourcePort,
    /// Route based on IP hash.
    #[serde(rename = "loadbalance_ip")]
    IpHash,
    /// Route based on source MAC hash.
    #[serde(rename = "loadbalance_srcmac")]
    SourceMac,
    /// Use explicit failover order.
    #[serde(rename = "failover_explicit")]
    ExplicitFailover,
}

impl LoadBalancing {
    /// Every policy, in the order ESXi lists them.
    pub const ALL: [LoadBalancing; 4] = [
        LoadBalancing::IpHash,
        LoadBalancing::SourceMac,
        LoadBalancing::SourcePort,
        LoadBalancing::ExplicitFailover,
    ];

    /// The API's name, such as `loadbalance_srcid`.
    pub fn api_name(self) -> &'static str {
        match self {
            LoadBalancing::SourcePort => "loadbalance_srcid",
            LoadBalancing::IpHash => "loadbalance_ip",
            LoadBalancing::SourceMac => "loadbalance_srcmac",
            LoadBalancing::ExplicitFailover => "failover_explicit",
        }
    }

    /// The policy an API name stands for.
    pub fn from_api_name(name: &str) -> Option<LoadBalancing> {
        LoadBalancing::ALL.into_iter().find(|policy| policy.api_name() == name)
    }
}

/// The teaming policy of a switch besides its active/standby order (`HostNicTeamingPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamingPolicy {
    /// Load balancing (`policy`).
    #[serde(default)]
    pub load_balancing: LoadBalancing,
    /// Notify physical switches on failover (`notifySwitches`).
    #[serde(default = "enabled")]
    pub notify_switches: bool,
    /// Fail back to a recovered active uplink; the API's `rollingOrder` is its negation.
    #[serde(default = "enabled")]
    pub failback: bool,
    /// Detect failures by beacon probing as well as link status (`failureCriteria.checkBeacon`).
    #[serde(default)]
    pub beacon_probing: bool,
}

impl Default for TeamingPolicy {
    /// ESXi's default: originating port, notify switches, fail back, link status only.
    fn default() -> TeamingPolicy {
        TeamingPolicy {
            load_balancing: LoadBalancing::SourcePort,
            notify_switches: true,
            failback: true,
            beacon_probing: false,
        }
    }
}

/// Traffic shaping of a switch (`HostNetworkTrafficShapingPolicy`); bandwidths in bits per
/// second, burst size in bytes, as the API has them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShapingPolicy {
    /// Whether shaping is on.
    #[serde(default)]
    pub enabled: bool,
    /// Average bandwidth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_bandwidth: Option<u64>,
    /// Peak bandwidth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_bandwidth: Option<u64>,
    /// Burst size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_size: Option<u64>,
}

/// The link discovery protocol of a switch's bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkDiscoveryProtocol {
    /// Cisco Discovery Protocol.
    Cdp,
    /// Link Layer Discovery Protocol.
    Lldp,
}

/// What the switch does with its link discovery protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkDiscoveryOperation {
    /// Listen only (ESXi's default).
    Listen,
    /// Advertise only.
    Advertise,
    /// Listen and advertise.
    Both,
    /// Neither.
    None,
}

/// Link discovery of a switch's bridge (`LinkDiscoveryProtocolConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkDiscovery {
    /// The protocol.
    pub protocol: LinkDiscoveryProtocol,
    /// The operation.
    pub operation: LinkDiscoveryOperation,
}

impl Default for LinkDiscovery {
    /// CDP, listen: what ESXi gives a bridge.
    fn default() -> LinkDiscovery {
        LinkDiscovery {
            protocol: LinkDiscoveryProtocol::Cdp,
            operation: LinkDiscoveryOperation::Listen,
        }
    }
}

/// The spec of a standard switch beyond MTU, uplinks and teaming order: what a real host reports
/// in `HostVirtualSwitch.spec` and esxnet does not manage yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchPolicy {
    /// `spec.numPorts`, the configured port count (takes effect after a reboot on ESXi).
    #[serde(default = "default_switch_ports")]
    pub num_ports: u32,
    /// Security policy.
    #[serde(default)]
    pub security: SecurityPolicy,
    /// Teaming policy (the active/standby order is [`ObservedSwitch::teaming`]).
    #[serde(default)]
    pub teaming: TeamingPolicy,
    /// Traffic shaping.
    #[serde(default)]
    pub shaping: ShapingPolicy,
    /// The bridge's beacon interval in seconds (`bridge.beacon.interval`); `None` without a
    /// beacon. ESXi reports one even when beacon probing is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beacon_interval: Option<u32>,
    /// The bridge's link discovery; `None` without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_discovery: Option<LinkDiscovery>,
}

fn default_switch_ports() -> u32 {
    SwitchPolicy::DEFAULT_PORTS
}

impl SwitchPolicy {
    /// The port count esxnet, govc, Terraform and Ansible give a new switch.
    pub const DEFAULT_PORTS: u32 = 128;

    /// The beacon interval ESXi gives a bridge, in seconds.
    pub const DEFAULT_BEACON_INTERVAL: u32 = 1;

    /// Whether this is [`SwitchPolicy::default`] (left out of lab files and snapshots).
    pub fn is_default(&self) -> bool {
        *self == SwitchPolicy::default()
    }

    /// vSwitch0 of a freshly installed host (the D67 capture): promiscuous mode rejected, MAC
    /// changes and forged transmits accepted, otherwise as [`SwitchPolicy::default`].
    pub fn installed_vswitch0() -> SwitchPolicy {
        SwitchPolicy {
            security: SecurityPolicy {
                allow_promiscuous: false,
                mac_changes: true,
                forged_transmits: true,
            },
            ..SwitchPolicy::default()
        }
    }
}

impl Default for SwitchPolicy {
    /// What esxnet's vSphere backend sends for a new switch with uplinks (and what an old lab
    /// file's switches are read as): 128 ports, security all rejected, originating-port load
    /// balancing with notify and failback, no beacon probing, shaping off, beacon interval 1 s,
    /// CDP listen.
    fn default() -> SwitchPolicy {
        SwitchPolicy {
            num_ports: SwitchPolicy::DEFAULT_PORTS,
            security: SecurityPolicy::default(),
            teaming: TeamingPolicy::default(),
            shaping: ShapingPolicy::default(),
            beacon_interval: Some(SwitchPolicy::DEFAULT_BEACON_INTERVAL),
            link_discovery: Some(LinkDiscovery::default()),
        }
    }
}

/// A standard port group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedPortGroup {
    /// Port group name, unique on the host.
    pub name: String,
    /// The standard switch it belongs to.
    pub switch: String,
    /// VLAN ID: 0 untagged, 1–4094 tagged, 4095 trunk.
    pub vlan: u16,
    /// What the port group overrides of its switch's policy. Not managed by esxnet yet: carried so
    /// that nothing esxnet does changes it. Left out when it overrides nothing.
    #[serde(default, skip_serializing_if = "PortGroupPolicy::is_empty")]
    pub policy: PortGroupPolicy,
}

/// Security overrides of a port group; `None` inherits the switch's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityOverride {
    /// Promiscuous mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_promiscuous: Option<bool>,
    /// MAC address changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_changes: Option<bool>,
    /// Forged transmits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forged_transmits: Option<bool>,
}

/// Teaming overrides of a port group; `None` inherits the switch's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamingOverride {
    /// Load balancing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancing: Option<LoadBalancing>,
    /// Notify switches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_switches: Option<bool>,
    /// Fail back (the API's `rollingOrder` negated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<bool>,
    /// Beacon probing (`failureCriteria.checkBeacon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beacon_probing: Option<bool>,
    /// Active/standby order of the port group (`nicOrder`), the usual vMotion and iSCSI design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Teaming>,
}

/// Traffic shaping overrides of a port group; `None` inherits the switch's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShapingOverride {
    /// Whether shaping is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Average bandwidth in bits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_bandwidth: Option<u64>,
    /// Peak bandwidth in bits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_bandwidth: Option<u64>,
    /// Burst size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_size: Option<u64>,
}

/// What a port group overrides of its switch's policy (`HostPortGroupSpec.policy`). Every field
/// is an override; `None` (an unset field on the wire) inherits from the switch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortGroupPolicy {
    /// Security overrides.
    #[serde(default, skip_serializing_if = "SecurityOverride::is_empty")]
    pub security: SecurityOverride,
    /// Teaming overrides.
    #[serde(default, skip_serializing_if = "TeamingOverride::is_empty")]
    pub teaming: TeamingOverride,
    /// Shaping overrides.
    #[serde(default, skip_serializing_if = "ShapingOverride::is_empty")]
    pub shaping: ShapingOverride,
}

impl SecurityOverride {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == SecurityOverride::default()
    }
}

impl TeamingOverride {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == TeamingOverride::default()
    }
}

impl ShapingOverride {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == ShapingOverride::default()
    }
}

impl PortGroupPolicy {
    /// Whether the port group overrides nothing and inherits its switch's whole policy.
    pub fn is_empty(&self) -> bool {
        self.security.is_empty() && self.teaming.is_empty() && self.shaping.is_empty()
    }

    /// The "Management Network" of a freshly installed host (the D67 capture): it overrides the
    /// teaming with its switch's own defaults and vmnic0 as the only active uplink.
    pub fn installed_management_network() -> PortGroupPolicy {
        PortGroupPolicy {
            teaming: TeamingOverride {
                load_balancing: Some(LoadBalancing::SourcePort),
                notify_switches: Some(true),
                failback: Some(true),
                beacon_probing: Some(false),
                order: Some(Teaming {
                    active: vec!["vmnic0".to_owned()],
                    standby: Vec::new(),
                }),
            },
            ..PortGroupPolicy::default()
        }
    }

    /// The policy in effect on the port group (`computedPolicy`): the switch's, with this port
    /// group's overrides applied.
    pub fn effective(&self, switch: &SwitchPolicy, switch_teaming: &Teaming) -> (SwitchPolicy, Teaming) {
        let mut policy = *switch;
        let security = &self.security;
        policy.security.allow_promiscuous = security.allow_promiscuous.unwrap_or(policy.security.allow_promiscuous);
        policy.security.mac_changes = security.mac_changes.unwrap_or(policy.security.mac_changes);
        policy.security.forged_transmits = security.forged_transmits.unwrap_or(policy.security.forged_transmits);
        let teaming = &self.teaming;
        policy.teaming.load_balancing = teaming.load_balancing.unwrap_or(policy.teaming.load_balancing);
        policy.teaming.notify_switches = teaming.notify_switches.unwrap_or(policy.teaming.notify_switches);
        policy.teaming.failback = teaming.failback.unwrap_or(policy.teaming.failback);
        policy.teaming.beacon_probing = teaming.beacon_probing.unwrap_or(policy.teaming.beacon_probing);
        let shaping = &self.shaping;
        policy.shaping.enabled = shaping.enabled.unwrap_or(policy.shaping.enabled);
        policy.shaping.average_bandwidth = shaping.average_bandwidth.or(policy.shaping.average_bandwidth);
        policy.shaping.peak_bandwidth = shaping.peak_bandwidth.or(policy.shaping.peak_bandwidth);
        policy.shaping.burst_size = shaping.burst_size.or(policy.shaping.burst_size);
        let order = teaming.order.clone().unwrap_or_else(|| switch_teaming.clone());
        (policy, order)
    }
}

/// Where a VMkernel adapter is connected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum PortConnection {
    /// A port group of a standard switch.
    #[serde(rename_all = "camelCase")]
    Standard {
        /// The standard switch.
        switch: String,
        /// The port group's name.
        port_group: String,
    },
    /// A port of a distributed port group.
    #[serde(rename_all = "camelCase")]
    Distributed {
        /// The distributed switch's name.
        switch: String,
        /// The distributed port group's name.
        port_group: String,
    },
}

impl PortConnection {
    /// The port group's name.
    pub fn port_group(&self) -> &str {
        match self {
            PortConnection::Standard { port_group, .. } | PortConnection::Distributed { port_group, .. } => port_group,
        }
    }

    /// The switch's name.
    pub fn switch(&self) -> &str {
        match self {
            PortConnection::Standard { switch, .. } | PortConnection::Distributed { switch, .. } => switch,
        }
    }

    /// Whether this is a distributed port group.
    pub fn is_distributed(&self) -> bool {
        matches!(self, PortConnection::Distributed { .. })
    }
}

impl std::fmt::Display for PortConnection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortConnection::Standard { switch, port_group } => {
                write!(formatter, "port group \"{port_group}\" on standard switch \"{switch}\"")
            }
            PortConnection::Distributed { switch, port_group } => {
                write!(formatter, "distributed port group \"{port_group}\" on \"{switch}\"")
            }
        }
    }
}

/// IPv4 settings of an adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedIpv4 {
    /// Whether the address comes from DHCP.
    pub dhcp: bool,
    /// The static address (absent with DHCP).
    #[schemars(with = "Option<String>")]
    pub address: Option<Ipv4Addr>,
    /// The static prefix length (absent with DHCP).
    pub prefix_length: Option<u8>,
    /// The adapter's own default gateway ("override default gateway for this adapter").
    #[schemars(with = "Option<String>")]
    pub gateway_override: Option<Ipv4Addr>,
}

/// Where an IPv6 address came from (`HostIpConfigIpV6Address.origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Ipv6Origin {
    /// Configured statically.
    Manual,
    /// Leased through DHCPv6.
    Dhcp,
    /// Link-local, computed by ESXi.
    Linklayer,
    /// Random (privacy or SLAAC from router advertisement).
    Random,
    /// Anything else.
    Other,
}

/// One IPv6 address of an adapter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedIpv6Address {
    /// Address and prefix length.
    #[schemars(with = "String")]
    pub address: Ipv6Net,
    /// Where it came from.
    pub origin: Ipv6Origin,
}

/// IPv6 settings of an adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedIpv6 {
    /// DHCPv6.
    pub dhcp: bool,
    /// Router advertisement (address autoconfiguration).
    pub router_advertisement: bool,
    /// Every address, computed ones included.
    #[serde(default)]
    pub addresses: Vec<ObservedIpv6Address>,
    /// The adapter's own IPv6 default gateway.
    #[schemars(with = "Option<String>")]
    pub gateway_override: Option<Ipv6Addr>,
}

impl ObservedIpv6 {
    /// The statically configured addresses, the only ones a manifest declares.
    pub fn manual_addresses(&self) -> BTreeSet<Ipv6Net> {
        self.addresses
            .iter()
            .filter(|address| address.origin == Ipv6Origin::Manual)
            .map(|address| address.address)
            .collect()
    }
}

/// A VMkernel adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedAdapter {
    /// Device name such as `vmk1`.
    pub device: String,
    /// Where it is connected.
    pub connection: PortConnection,
    /// The TCP/IP stack, fixed at creation.
    pub stack: StackKind,
    /// MAC address.
    pub mac: String,
    /// MTU in bytes.
    pub mtu: u32,
    /// IPv4 settings.
    pub ipv4: ObservedIpv4,
    /// IPv6 settings.
    pub ipv6: ObservedIpv6,
    /// Services the adapter is selected for.
    #[serde(default)]
    pub services: BTreeSet<Service>,
    /// Owned by the system (`HostVirtualNicSpec.systemOwned`, or an owner such as NSX or vSAN):
    /// never deleted by esxnet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub system_owned: bool,
    /// Storage that depends on this adapter (software iSCSI port binding, vSAN, NFS): deleting the
    /// adapter would take datastores down, so esxnet never prunes it.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub storage_bindings: BTreeSet<StorageBinding>,
}

/// Storage traffic bound to a VMkernel adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum StorageBinding {
    /// Bound to the software iSCSI adapter (`IscsiManager.QueryBoundVnics`).
    Iscsi,
    /// Listed in the host's vSAN network configuration (`config.vsanHostConfig.networkInfo`).
    Vsan,
    /// An NFS datastore mounted through this adapter (`HostMountInfo.vmknicName`).
    Nfs,
}

impl std::fmt::Display for StorageBinding {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            StorageBinding::Iscsi => "bound to software iSCSI",
            StorageBinding::Vsan => "carries vSAN traffic",
            StorageBinding::Nfs => "carries an NFS datastore",
        })
    }
}

/// A TCP/IP stack instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedStack {
    /// Which stack.
    pub stack: StackKind,
    /// Whether the stack is instantiated (the default stack always is; the others from their first adapter).
    pub instantiated: bool,
    /// IPv4 default gateway.
    #[schemars(with = "Option<String>")]
    pub ipv4_gateway: Option<Ipv4Addr>,
    /// IPv6 default gateway.
    #[schemars(with = "Option<String>")]
    pub ipv6_gateway: Option<Ipv6Addr>,
    /// Whether the IPv6 default gateway was learned from router advertisement rather than set:
    /// ESXi keeps such a gateway by itself, so it is never sent back as a static one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipv6_gateway_from_router_advertisement: bool,
    /// DNS settings.
    #[serde(default)]
    pub dns: Dns,
    /// Whether the DNS settings were learned through DHCP (`HostDnsConfig.dhcp`) rather than set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dns_from_dhcp: bool,
    /// The stack's DNS host name (`HostDnsConfig.hostName`): not managed, sent back unchanged.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dns_host_name: String,
    /// The stack's DNS domain name (`HostDnsConfig.domainName`): not managed, sent back unchanged.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dns_domain_name: String,
    /// Static routes, sorted. Routes ESXi computes (connected subnets, default routes, link-local
    /// and multicast routes, routes over the loopback interface) are never listed here.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// The connection limit in effect now.
    pub max_connections: u32,
    /// The connection limit requested; differs from `max_connections` until the host reboots.
    pub requested_max_connections: u32,
    /// Congestion control algorithm.
    pub congestion_control: CongestionControl,
}

/// A distributed switch the host is a member of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DistributedSwitchMembership {
    /// Switch name.
    pub name: String,
    /// Switch UUID.
    pub uuid: String,
    /// MTU in bytes.
    pub mtu: u32,
    /// Its port groups.
    #[serde(default)]
    pub port_groups: Vec<DistributedPortGroup>,
}

/// A distributed port group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DistributedPortGroup {
    /// Port group name.
    pub name: String,
    /// Port group key such as `dvportgroup-1001`.
    pub key: String,
    /// VLAN ID.
    pub vlan: u16,
}

/// What kind of migration is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MigrationKind {
    /// vMotion of a powered-on machine.
    Live,
    /// Cold migration, clone or snapshot transfer.
    Provisioning,
}

/// A migration in flight, which applying must not interrupt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveMigration {
    /// An identifier such as `task-42`.
    pub id: String,
    /// What is migrating.
    pub kind: MigrationKind,
    /// The stack carrying it.
    pub stack: StackKind,
    /// The adapter carrying it.
    pub adapter: String,
}

impl ObservedHost {
    /// Gives back the room its lists grew into while being read: a list read from JSON doubles
    /// as it grows, so a host's one switch held room for four (about 2 KB a host, 20 MB of a
    /// 10,000-host plan).
    pub fn shrink_to_fit(&mut self) {
        self.physical_nics.shrink_to_fit();
        self.switches.shrink_to_fit();
        self.port_groups.shrink_to_fit();
        self.adapters.shrink_to_fit();
        self.stacks.shrink_to_fit();
    }

    /// A standard switch by name.
    pub fn switch(&self, name: &str) -> Option<&ObservedSwitch> {
        self.switches.iter().find(|switch| switch.name == name)
    }

    /// A standard port group by name.
    pub fn port_group(&self, name: &str) -> Option<&ObservedPortGroup> {
        self.port_groups.iter().find(|port_group| port_group.name == name)
    }

    /// An adapter by device name.
    pub fn adapter(&self, device: &str) -> Option<&ObservedAdapter> {
        self.adapters.iter().find(|adapter| adapter.device == device)
    }

    /// The adapter connected to a port group, if any.
    pub fn adapter_on(&self, connection: &PortConnection) -> Option<&ObservedAdapter> {
        self.adapters.iter().find(|adapter| &adapter.connection == connection)
    }

    /// A stack by kind.
    pub fn stack(&self, stack: StackKind) -> Option<&ObservedStack> {
        self.stacks.iter().find(|observed| observed.stack == stack)
    }

    /// A distributed switch this host is a member of, by name.
    pub fn distributed_switch(&self, name: &str) -> Option<&DistributedSwitchMembership> {
        self.distributed_switches.iter().find(|switch| switch.name == name)
    }

    /// A physical NIC by device name.
    pub fn physical_nic(&self, device: &str) -> Option<&PhysicalNic> {
        self.physical_nics.iter().find(|nic| nic.device == device)
    }

    /// The adapters that carry management traffic.
    pub fn management_adapters(&self) -> impl Iterator<Item = &ObservedAdapter> {
        self.adapters
            .iter()
            .filter(|adapter| adapter.services.contains(&Service::Management))
    }

    /// Whether any adapter is on the given stack.
    pub fn has_adapter_on_stack(&self, stack: StackKind) -> bool {
        self.adapters.iter().any(|adapter| adapter.stack == stack)
    }
}

//! Manifest wire types: exactly what users write in YAML, with unknown fields refused.
//!
//! These are read with serde and then lowered (see [`crate::lower`]) into the typed per-host
//! desired state; nothing downstream of lowering looks at them.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{CongestionControl, Dns, Route, Service, StackKind};
use crate::observed::LoadBalancing;
use crate::pool::Ipv4Pool;

/// The only API version esxnet reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    /// `esxnet/v1`.
    #[serde(rename = "esxnet/v1")]
    V1,
}

/// `metadata` of every document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// The object's name: the host name for a `Host`, the switch name for a `StandardSwitch`.
    pub name: String,
    /// Labels that host selectors match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Which hosts a document applies to. A host is selected when it is named in `names` (if given)
/// and carries every label of `matchLabels` (if given); `matchLabels: {}` selects every host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostSelector {
    /// Host names, as declared by `Host` documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// Labels every selected host carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
}

/// `spec` of a `Host`: an ESXi host esxnet may manage. Hosts are never created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostSpec {
    /// How to reach the host when it differs from its name (an address or FQDN); a connection hint only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// `spec` of a `Target`: a vSphere server (or a lab) and the hosts esxnet reaches through it, so
/// that one manifest set spans several vCenters. Credentials are never in a manifest: only where
/// to read them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetSpec {
    /// Where the hosts are: `vsphere://USER@SERVER[:PORT][?insecure=true&transport=…]`, `sim:DIR`
    /// or `snapshot:FILE`, as `--target` takes them.
    pub server: String,
    /// Where the server's password is read (vSphere only); `ESXNET_PASSWORD` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<PasswordFrom>,
    /// The hosts reached through this server. Each declared host is selected by exactly one
    /// `Target` when the manifests declare any.
    pub hosts: HostSelector,
}

/// Where a password is read: an environment variable or a file (such as a mounted secret),
/// exactly one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordFrom {
    /// The environment variable that holds the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The file that holds the password (a trailing newline is not part of it); a relative path
    /// is read from the directory esxnet runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// `spec` of a `StandardSwitch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StandardSwitchSpec {
    /// The hosts that get this switch.
    pub hosts: HostSelector,
    /// MTU in bytes (1280–9000); left as it is when absent (1500 for a new switch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Physical NICs to bridge. A set: order is not drift. Left as they are when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplinks: Option<Vec<String>>,
    /// Teaming: the failover order and how the team balances and fails over. Each field left
    /// out stays as the host has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teaming: Option<SwitchTeamingSpec>,
    /// Security policy. Each field left out stays as the host has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecuritySpec>,
    /// Port groups on this switch.
    #[serde(default)]
    pub port_groups: Vec<PortGroupSpec>,
}

/// A port group declared inside a `StandardSwitch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortGroupSpec {
    /// Port group name, unique on a host.
    pub name: String,
    /// VLAN ID: 0 untagged (default), 1–4094 tagged, 4095 trunk (VM traffic only).
    #[serde(default)]
    pub vlan: u16,
    /// Teaming overrides of the switch's teaming (the usual vMotion and iSCSI design gives each
    /// port group its own active/standby order). A field left out stays as the host has it;
    /// `inherit` takes the switch's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teaming: Option<TeamingOverrideSpec>,
    /// Security overrides of the switch's security policy. A field left out stays as the host
    /// has it; `inherit` takes the switch's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecurityOverrideSpec>,
}

/// `teaming` of a standard switch.
///
/// The order is managed when `active` is given: `active` and `standby` are then the whole order
/// and every other uplink of the switch is unused. `unused` names those uplinks for the reader;
/// it is checked, not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchTeamingSpec {
    /// Active uplinks in failover order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<Vec<String>>,
    /// Standby uplinks in failover order (needs `active`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<Vec<String>>,
    /// Uplinks the switch bridges but does not use (needs `active`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unused: Option<Vec<String>>,
    /// Load balancing: `loadbalance_srcid` (originating port, ESXi's default), `loadbalance_ip`,
    /// `loadbalance_srcmac` or `failover_explicit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancing: Option<LoadBalancing>,
    /// Fail back to a recovered active uplink (ESXi's default: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<bool>,
    /// Notify physical switches on failover (ESXi's default: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_switches: Option<bool>,
    /// Detect failures by beacon probing as well as link status (ESXi's default: false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beacon_probing: Option<bool>,
}

/// `security` of a standard switch; ESXi's default for a new switch rejects all three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecuritySpec {
    /// Accept promiscuous mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_promiscuous: Option<bool>,
    /// Accept MAC address changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_changes: Option<bool>,
    /// Accept forged transmits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forged_transmits: Option<bool>,
}

/// The keyword `inherit`: a port group takes its switch's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum InheritKeyword {
    /// `inherit`.
    #[serde(rename = "inherit")]
    Inherit,
}

/// A port-group override: a value, or `inherit` for the switch's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Overridable<T> {
    /// `inherit`: no override.
    Inherit(InheritKeyword),
    /// An overriding value.
    Value(T),
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Overridable<T> {
    /// `inherit`, or whatever `T` reads, with `T`'s own complaint when neither fits (an untagged
    /// enum would only say that no variant matched).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_yaml::Value::deserialize(deserializer)?;
        if value.as_str() == Some("inherit") {
            return Ok(Overridable::Inherit(InheritKeyword::Inherit));
        }
        serde_yaml::from_value(value)
            .map(Overridable::Value)
            .map_err(|error| serde::de::Error::custom(format_args!("expected `inherit` or a value: {error}")))
    }
}

impl<T> Overridable<T> {
    /// The override: `None` for `inherit`.
    pub fn into_override(self) -> Option<T> {
        match self {
            Overridable::Inherit(_) => None,
            Overridable::Value(value) => Some(value),
        }
    }
}

/// `teaming` of a port group: overrides of its switch's teaming.
///
/// The order is overridden when `active` is a list (`standby` and `unused` as on a switch) and
/// inherited with `active: inherit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamingOverrideSpec {
    /// Active uplinks in failover order, or `inherit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<Overridable<Vec<String>>>,
    /// Standby uplinks in failover order (needs a list in `active`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<Vec<String>>,
    /// Uplinks of the switch this port group does not use (needs a list in `active`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unused: Option<Vec<String>>,
    /// Load balancing, or `inherit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancing: Option<Overridable<LoadBalancing>>,
    /// Fail back, or `inherit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<Overridable<bool>>,
    /// Notify switches, or `inherit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_switches: Option<Overridable<bool>>,
    /// Beacon probing, or `inherit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beacon_probing: Option<Overridable<bool>>,
}

/// `security` of a port group: overrides of its switch's security policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityOverrideSpec {
    /// Promiscuous mode, or `inherit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_promiscuous: Option<Overridable<bool>>,
    /// MAC address changes, or `inherit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_changes: Option<Overridable<bool>>,
    /// Forged transmits, or `inherit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forged_transmits: Option<Overridable<bool>>,
}

/// `spec` of a `NetStack`: the settings of one TCP/IP stack on each selected host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetStackSpec {
    /// The hosts whose stack this configures.
    pub hosts: HostSelector,
    /// Which stack: `default`, `vmotion` or `provisioning`.
    pub stack: StackKind,
    /// IPv4 default gateway. On the provisioning stack it must differ from the default stack's (ESX002).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub ipv4_gateway: Option<Ipv4Addr>,
    /// IPv6 default gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub ipv6_gateway: Option<Ipv6Addr>,
    /// DNS servers and search domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Dns>,
    /// Static routes: the whole set when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<Route>>,
    /// Connection limit; takes effect after the host reboots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// Congestion control algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub congestion_control: Option<CongestionControl>,
}

/// The port group a VMkernel adapter connects to: name exactly one kind of switch (ESX011).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortGroupRef {
    /// A standard switch, declared or existing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_switch: Option<String>,
    /// An existing distributed switch the host is a member of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed_switch: Option<String>,
    /// The port group's name.
    pub name: String,
}

/// How an adapter gets its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ipv4Mode {
    /// DHCP; a DHCP server must be present on the network.
    Dhcp,
    /// A static address and prefix per host.
    Static,
}

/// IPv4 settings of a `VmkernelAdapter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ipv4Spec {
    /// `dhcp` or `static`.
    pub mode: Ipv4Mode,
    /// Prefix length for static addresses (1–32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_length: Option<u8>,
    /// Static addresses by host name; they take precedence over `pool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, String>>")]
    pub addresses: Option<BTreeMap<String, Ipv4Addr>>,
    /// A range such as `10.120.0.11-10.120.0.60` for hosts without an entry in `addresses`.
    /// Allocation is stable: an address an adapter already has is kept; others get the lowest free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<Ipv4Pool>,
    /// A default gateway for this adapter only, inside its own subnet (ESX007).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub gateway_override: Option<Ipv4Addr>,
}

/// IPv6 settings of a `VmkernelAdapter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ipv6Spec {
    /// Obtain addresses through DHCPv6; a DHCPv6 server must be present on the network.
    #[serde(default)]
    pub dhcp: bool,
    /// Obtain addresses through router advertisement. Default: on for ESXi 6.5 and later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_advertisement: Option<bool>,
    /// Static addresses with prefix length (1–128) by host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, Vec<String>>>")]
    pub addresses: Option<BTreeMap<String, Vec<Ipv6Net>>>,
    /// An IPv6 default gateway for this adapter only, inside one of its subnets (ESX007).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub gateway_override: Option<Ipv6Addr>,
}

/// `spec` of a `VmkernelAdapter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VmkernelAdapterSpec {
    /// The hosts that get this adapter.
    pub hosts: HostSelector,
    /// The TCP/IP stack; fixed once the adapter exists (a change is planned as a replace).
    #[serde(default = "default_stack")]
    pub stack: StackKind,
    /// Pin the adapter to a device name such as `vmk1` instead of identifying it by its port group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The port group it connects to.
    pub port_group: PortGroupRef,
    /// MTU in bytes (1280–9000), not above the switch's; left as it is when absent (1500 for a new adapter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// IPv4 settings.
    pub ipv4: Ipv4Spec,
    /// IPv6 settings; left as they are when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Spec>,
    /// Services, settable on the default stack only (ESX003); left as they are when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<Service>>,
}

fn default_stack() -> StackKind {
    StackKind::Default
}

macro_rules! document {
    ($(#[$doc:meta])* $name:ident, $tag:ident, $kind:literal, $spec:ty, $($spec_default:tt)*) => {
        /// The `kind` of this document.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        pub enum $tag {
            #[doc = concat!("`", $kind, "`")]
            #[serde(rename = $kind)]
            Tag,
        }

        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            /// Always `esxnet/v1`.
            pub api_version: ApiVersion,
            #[doc = concat!("Always `", $kind, "`.")]
            pub kind: $tag,
            /// Name and labels.
            pub metadata: Metadata,
            /// The desired state.
            $($spec_default)*
            pub spec: $spec,
        }
    };
}

document!(
    /// A `Host` document.
    HostDocument, HostKindTag, "Host", HostSpec, #[serde(default)]
);
document!(
    /// A `Target` document.
    TargetDocument, TargetKindTag, "Target", TargetSpec,
);
document!(
    /// A `StandardSwitch` document.
    StandardSwitchDocument, StandardSwitchKindTag, "StandardSwitch", StandardSwitchSpec,
);
document!(
    /// A `NetStack` document.
    NetStackDocument, NetStackKindTag, "NetStack", NetStackSpec,
);
document!(
    /// A `VmkernelAdapter` document.
    VmkernelAdapterDocument, VmkernelAdapterKindTag, "VmkernelAdapter", VmkernelAdapterSpec,
);

/// The kinds of document esxnet reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// `Host`.
    Host,
    /// `StandardSwitch`.
    StandardSwitch,
    /// `NetStack`.
    NetStack,
    /// `VmkernelAdapter`.
    VmkernelAdapter,
    /// `Target`.
    Target,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [
        Kind::Host,
        Kind::StandardSwitch,
        Kind::NetStack,
        Kind::VmkernelAdapter,
        Kind::Target,
    ];

    /// The kind's name as written in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Host => "Host",
            Kind::StandardSwitch => "StandardSwitch",
            Kind::NetStack => "NetStack",
            Kind::VmkernelAdapter => "VmkernelAdapter",
            Kind::Target => "Target",
        }
    }

    /// The kind for a `kind:` value.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// Any document, for one schema that editors apply to every document of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(title = "esxnet/v1 manifest document")]
pub enum AnyDocument {
    /// A `Host`.
    Host(HostDocument),
    /// A `StandardSwitch`.
    StandardSwitch(StandardSwitchDocument),
    /// A `NetStack`.
    NetStack(NetStackDocument),
    /// A `VmkernelAdapter`.
    VmkernelAdapter(VmkernelAdapterDocument),
    /// A `Target`.
    Target(TargetDocument),
}

impl AnyDocument {
    /// The document's kind.
    pub fn kind(&self) -> Kind {
        match self {
            AnyDocument::Host(_) => Kind::Host,
            AnyDocument::StandardSwitch(_) => Kind::StandardSwitch,
            AnyDocument::NetStack(_) => Kind::NetStack,
            AnyDocument::VmkernelAdapter(_) => Kind::VmkernelAdapter,
            AnyDocument::Target(_) => Kind::Target,
        }
    }

    /// The document's metadata.
    pub fn metadata(&self) -> &Metadata {
        match self {
            AnyDocument::Host(document) => &document.metadata,
            AnyDocument::StandardSwitch(document) => &document.metadata,
            AnyDocument::NetStack(document) => &document.metadata,
            AnyDocument::VmkernelAdapter(document) => &document.metadata,
            AnyDocument::Target(document) => &document.metadata,
        }
    }
}

//! Normalized states of the objects esxnet manages, and how to read them from an observed host.
//!
//! A change's `before` and `after` are [`ObjectState`]s. They hold only what esxnet manages, with
//! ESXi's computed noise left out (uplink order, link-local addresses, implied services), so that
//! comparing two of them says exactly whether there is something to do. The executor compares them
//! against fresh observations for its preconditions, so the same reading functions serve both.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use esxnet_model::common::{CongestionControl, Dns, Route, Service, StackKind};
use esxnet_model::observed::{
    Ipv6Origin, ObservedAdapter, ObservedHost, ObservedIpv4, ObservedIpv6Address, ObservedPortGroup, ObservedStack,
    PortConnection, SecurityOverride, SecurityPolicy, Teaming, TeamingOverride, TeamingPolicy,
};
use ipnet::Ipv6Net;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::esxi;

/// The kinds of object a plan changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ObjectKind {
    /// A standard switch.
    StandardSwitch,
    /// A standard port group.
    PortGroup,
    /// A TCP/IP stack's settings.
    NetStack,
    /// A VMkernel adapter.
    VmkernelAdapter,
    /// The services a default-stack adapter is selected for.
    Services,
}

impl ObjectKind {
    /// The name used in addresses.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::StandardSwitch => "StandardSwitch",
            ObjectKind::PortGroup => "PortGroup",
            ObjectKind::NetStack => "NetStack",
            ObjectKind::VmkernelAdapter => "VmkernelAdapter",
            ObjectKind::Services => "Services",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// How to find an object on a host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Identity {
    /// A standard switch by name.
    StandardSwitch {
        /// Switch name.
        name: String,
    },
    /// A standard port group by name.
    PortGroup {
        /// Port group name.
        name: String,
    },
    /// A stack by key.
    NetStack {
        /// Which stack.
        stack: StackKind,
    },
    /// An adapter by pinned device, else by the port group it is connected to.
    VmkernelAdapter {
        /// The device, when pinned or known.
        device: Option<String>,
        /// Its port group.
        connection: PortConnection,
    },
    /// The services of an adapter, found like the adapter.
    Services {
        /// The device, when pinned or known.
        device: Option<String>,
        /// Its port group.
        connection: PortConnection,
    },
}

/// A standard switch's managed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SwitchState {
    /// MTU.
    pub mtu: u32,
    /// Bridged uplinks (a set).
    pub uplinks: BTreeSet<String>,
    /// Teaming order.
    pub teaming: Teaming,
    /// Load balancing, failback, notify switches and beacon probing (a plan saved before
    /// esxnet managed them reads as ESXi's defaults).
    #[serde(default)]
    pub teaming_policy: TeamingPolicy,
    /// Security policy.
    #[serde(default)]
    pub security: SecurityPolicy,
}

/// A port group's managed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortGroupState {
    /// Its switch.
    pub switch: String,
    /// VLAN ID.
    pub vlan: u16,
    /// Teaming overrides of the switch's teaming; empty when it inherits all.
    #[serde(default, skip_serializing_if = "TeamingOverride::is_empty")]
    pub teaming: TeamingOverride,
    /// Security overrides of the switch's security policy; empty when it inherits all.
    #[serde(default, skip_serializing_if = "SecurityOverride::is_empty")]
    pub security: SecurityOverride,
}

impl PortGroupState {
    /// The managed state of an observed port group.
    pub fn observed(port_group: &ObservedPortGroup) -> PortGroupState {
        PortGroupState {
            switch: port_group.switch.clone(),
            vlan: port_group.vlan,
            teaming: port_group.policy.teaming.clone(),
            security: port_group.policy.security,
        }
    }
}

/// A stack's managed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StackState {
    /// IPv4 default gateway.
    #[schemars(with = "Option<String>")]
    pub ipv4_gateway: Option<Ipv4Addr>,
    /// IPv6 default gateway.
    #[schemars(with = "Option<String>")]
    pub ipv6_gateway: Option<Ipv6Addr>,
    /// DNS.
    pub dns: Dns,
    /// Static routes, sorted.
    pub routes: Vec<Route>,
    /// The requested connection limit (in effect after the host reboots).
    pub max_connections: u32,
    /// Congestion control.
    pub congestion_control: CongestionControl,
}

/// An adapter's IPv6 managed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ipv6State {
    /// DHCPv6.
    pub dhcp: bool,
    /// Router advertisement.
    pub router_advertisement: bool,
    /// Static addresses.
    #[schemars(with = "Vec<String>")]
    pub addresses: BTreeSet<Ipv6Net>,
    /// Per-adapter IPv6 gateway.
    #[schemars(with = "Option<String>")]
    pub gateway_override: Option<Ipv6Addr>,
}

/// An adapter's managed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdapterState {
    /// Device name; `None` before creation ("known after apply").
    pub device: Option<String>,
    /// Its port group.
    pub connection: PortConnection,
    /// Its stack.
    pub stack: StackKind,
    /// MTU.
    pub mtu: u32,
    /// IPv4 settings.
    pub ipv4: ObservedIpv4,
    /// IPv6 settings.
    pub ipv6: Ipv6State,
}

/// The services of a default-stack adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServicesState {
    /// Selected services.
    pub services: BTreeSet<Service>,
}

/// The managed state of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ObjectState {
    /// A standard switch.
    StandardSwitch(SwitchState),
    /// A port group.
    PortGroup(PortGroupState),
    /// A stack.
    NetStack(StackState),
    /// An adapter.
    VmkernelAdapter(AdapterState),
    /// Services of an adapter.
    Services(ServicesState),
}

impl ObjectState {
    /// Whether `self` (observed now) is the state `target` describes. A target adapter without a
    /// device (not yet created) matches whatever device ESXi chose.
    pub fn satisfies(&self, target: &ObjectState) -> bool {
        match (self, target) {
            (ObjectState::VmkernelAdapter(current), ObjectState::VmkernelAdapter(wanted))
                if wanted.device.is_none() =>
            {
                AdapterState {
                    device: None,
                    ..current.clone()
                } == *wanted
            }
            _ => self == target,
        }
    }
}

/// The managed state of a switch as observed.
pub fn switch_state(host: &ObservedHost, name: &str) -> Option<SwitchState> {
    host.switch(name).map(|switch| SwitchState {
        mtu: switch.mtu,
        uplinks: switch.uplinks.clone(),
        teaming: switch.teaming.clone(),
        teaming_policy: switch.policy.teaming,
        security: switch.policy.security,
    })
}

/// The managed state of a stack as observed.
pub fn stack_state(stack: &ObservedStack) -> StackState {
    let mut routes = stack.routes.clone();
    routes.sort();
    StackState {
        ipv4_gateway: stack.ipv4_gateway,
        ipv6_gateway: stack.ipv6_gateway,
        dns: stack.dns.clone(),
        routes,
        max_connections: stack.requested_max_connections,
        congestion_control: stack.congestion_control,
    }
}

/// The managed state of an adapter as observed.
pub fn adapter_state(adapter: &ObservedAdapter) -> AdapterState {
    AdapterState {
        device: Some(adapter.device.clone()),
        connection: adapter.connection.clone(),
        stack: adapter.stack,
        mtu: adapter.mtu,
        ipv4: adapter.ipv4.clone(),
        ipv6: Ipv6State {
            dhcp: adapter.ipv6.dhcp,
            router_advertisement: adapter.ipv6.router_advertisement,
            addresses: adapter.ipv6.manual_addresses(),
            gateway_override: adapter.ipv6.gateway_override,
        },
    }
}

/// Finds the observed adapter an identity names.
pub fn find_adapter<'a>(
    host: &'a ObservedHost,
    device: Option<&str>,
    connection: &PortConnection,
) -> Option<&'a ObservedAdapter> {
    esxnet_model::lower::matching_observed_adapter(host, device, connection)
}

/// The current managed state of the object an identity names, if it exists.
pub fn current_state(host: &ObservedHost, identity: &Identity) -> Option<ObjectState> {
    match identity {
        Identity::StandardSwitch { name } => switch_state(host, name).map(ObjectState::StandardSwitch),
        Identity::PortGroup { name } => host
            .port_group(name)
            .map(|port_group| ObjectState::PortGroup(PortGroupState::observed(port_group))),
        Identity::NetStack { stack } => host
            .stack(*stack)
            .map(|stack| ObjectState::NetStack(stack_state(stack))),
        Identity::VmkernelAdapter { device, connection } => find_adapter(host, device.as_deref(), connection)
            .map(|adapter| ObjectState::VmkernelAdapter(adapter_state(adapter))),
        Identity::Services { device, connection } => find_adapter(host, device.as_deref(), connection).map(|adapter| {
            ObjectState::Services(ServicesState {
                services: adapter.services.clone(),
            })
        }),
    }
}

/// Records in `host` that an object reached `state` (or was deleted, for `None`), with the effects
/// ESXi has on its own, as [`crate::esxi`] defines them: a switch's port groups go with it, a port
/// group's adapter follows it to another switch, a new adapter gets the lowest free device and its
/// stack's service, an adapter on the vMotion or Provisioning stack instantiates that stack and
/// deactivates its service on every default-stack adapter, and a stack edit keeps learned values
/// learned and only requests a connection limit.
///
/// The executor uses this to carry its view of a host forward between changes without observing
/// again; the planner uses the same rules to predict what ESXi does by itself.
pub fn record(host: &mut ObservedHost, identity: &Identity, state: Option<&ObjectState>, created_device: Option<&str>) {
    match (identity, state) {
        (Identity::StandardSwitch { name }, Some(ObjectState::StandardSwitch(switch))) => {
            // Only the managed fields change: the switch keeps its policy, a new one gets ESXi's.
            let teaming = esxi::effective_teaming(&switch.uplinks, &switch.teaming);
            let teaming_policy = esxi::effective_teaming_policy(&switch.uplinks, switch.teaming_policy);
            match host.switches.iter_mut().find(|existing| existing.name == *name) {
                Some(existing) => {
                    existing.mtu = switch.mtu;
                    existing.uplinks = switch.uplinks.clone();
                    existing.teaming = teaming;
                    existing.policy.teaming = teaming_policy;
                    existing.policy.security = switch.security;
                }
                None => host.switches.push(esxnet_model::observed::ObservedSwitch {
                    name: name.clone(),
                    mtu: switch.mtu,
                    uplinks: switch.uplinks.clone(),
                    teaming,
                    policy: esxnet_model::observed::SwitchPolicy {
                        teaming: teaming_policy,
                        security: switch.security,
                        ..Default::default()
                    },
                }),
            }
        }
        (Identity::StandardSwitch { name }, None) => esxi::remove_switch(host, name),
        (Identity::PortGroup { name }, Some(ObjectState::PortGroup(port_group))) => {
            esxi::put_port_group(host, name, &port_group.switch, port_group.vlan);
            esxi::set_port_group_overrides(host, name, &port_group.teaming, port_group.security);
        }
        (Identity::PortGroup { name }, None) => host.port_groups.retain(|port_group| port_group.name != *name),
        (Identity::NetStack { stack }, Some(ObjectState::NetStack(settings))) => {
            if let Some(observed) = host.stacks.iter_mut().find(|observed| observed.stack == *stack) {
                esxi::edit_stack(observed, settings);
            }
        }
        (Identity::VmkernelAdapter { device, connection }, Some(ObjectState::VmkernelAdapter(adapter))) => {
            record_adapter(host, device.as_deref(), connection, adapter, created_device);
        }
        (Identity::VmkernelAdapter { device, connection }, None) => {
            if let Some(found) = find_adapter(host, device.as_deref(), connection).map(|adapter| adapter.device.clone())
            {
                host.adapters.retain(|adapter| adapter.device != found);
            }
        }
        (Identity::Services { device, connection }, Some(ObjectState::Services(services))) => {
            let found = find_adapter(host, device.as_deref(), connection).map(|adapter| adapter.device.clone());
            if let Some(adapter) = host
                .adapters
                .iter_mut()
                .find(|adapter| Some(&adapter.device) == found.as_ref())
            {
                adapter.services = services.services.clone();
            }
        }
        _ => {}
    }
}

fn record_adapter(
    host: &mut ObservedHost,
    device: Option<&str>,
    connection: &PortConnection,
    state: &AdapterState,
    created_device: Option<&str>,
) {
    let manual_addresses = state.ipv6.addresses.iter().map(|address| ObservedIpv6Address {
        address: *address,
        origin: Ipv6Origin::Manual,
    });
    let existing = find_adapter(host, device, connection).map(|adapter| adapter.device.clone());
    if let Some(existing) = existing {
        let adapter = host
            .adapters
            .iter_mut()
            .find(|adapter| adapter.device == existing)
            .expect("found above");
        esxi::update_adapter(adapter, state.mtu, &state.ipv4, Some(&state.ipv6));
        return;
    }
    // `AddVirtualNic`: the device ESXi answered, else the one it would choose.
    let device_name = created_device
        .map(str::to_owned)
        .or_else(|| state.device.clone())
        .unwrap_or_else(|| esxi::next_free_device(host));
    let adapter = ObservedAdapter {
        device: device_name,
        connection: state.connection.clone(),
        stack: state.stack,
        mac: String::new(),
        mtu: state.mtu,
        ipv4: state.ipv4.clone(),
        ipv6: esxnet_model::observed::ObservedIpv6 {
            dhcp: state.ipv6.dhcp,
            router_advertisement: state.ipv6.router_advertisement,
            addresses: manual_addresses.collect(),
            gateway_override: state.ipv6.gateway_override,
        },
        services: BTreeSet::new(),
        system_owned: false,
        storage_bindings: Default::default(),
    };
    esxi::add_adapter(host, adapter);
}

/// What ESXi does by itself when an adapter lands on a stack; see [`esxi::adapter_arrives`].
pub fn apply_first_adapter_effects(host: &mut ObservedHost, stack: StackKind) {
    esxi::adapter_arrives(host, stack);
}

/// Services that default-stack adapters lose because a first adapter arrives on a stack.
pub fn deactivated_by(stack: StackKind) -> Option<Service> {
    esxi::deactivated_by(stack)
}

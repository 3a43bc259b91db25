//! What ESXi does by itself when its networking is changed, defined once.
//!
//! Each function here is the effect of a vSphere method on a host's observed state beyond the
//! fields the caller sent: a switch's port groups go with it, a port group's adapters follow it to
//! another switch, the first adapter on the vMotion or Provisioning stack instantiates the stack
//! and takes that service away from default-stack adapters (the seed's "Results", ESX004), learned
//! DNS and router-advertised gateways stay learned unless they are what changes, and a connection
//! limit waits for a reboot. The simulator (`esxnet-sim`), the planner's [`crate::state::record`]
//! and the executor's in-memory test backend all change hosts through these functions, so the
//! three cannot disagree about ESXi; faults (what a host refuses) stay with each of them.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use esxnet_model::common::{CongestionControl, Dns, Route, Service, StackKind};
use esxnet_model::observed::{
    Ipv6Origin, ObservedAdapter, ObservedHost, ObservedIpv4, ObservedIpv6Address, ObservedPortGroup, ObservedStack,
    PortConnection, PortGroupPolicy, SecurityOverride, Teaming, TeamingOverride, TeamingPolicy,
};

use crate::state::{Ipv6State, StackState};

/// The teaming ESXi reports for a switch: every bridged NIC active, in name order, when the spec
/// names neither active nor standby NICs; otherwise the order sent.
pub fn effective_teaming(uplinks: &BTreeSet<String>, teaming: &Teaming) -> Teaming {
    if teaming.active.is_empty() && teaming.standby.is_empty() {
        Teaming {
            active: uplinks.iter().cloned().collect(),
            standby: Vec::new(),
        }
    } else {
        teaming.clone()
    }
}

/// The teaming policy ESXi keeps for a switch: without uplinks there is no bridge, so no beacon
/// and no beacon probing.
pub fn effective_teaming_policy(uplinks: &BTreeSet<String>, policy: TeamingPolicy) -> TeamingPolicy {
    TeamingPolicy {
        beacon_probing: policy.beacon_probing && !uplinks.is_empty(),
        ..policy
    }
}

/// `RemoveVirtualSwitch`'s effect: the switch goes and its port groups with it.
pub fn remove_switch(host: &mut ObservedHost, name: &str) {
    host.switches.retain(|switch| switch.name != name);
    host.port_groups.retain(|port_group| port_group.switch != name);
}

/// `AddPortGroup` or `UpdatePortGroup`'s effect on the fields esxnet manages: a new port group has
/// no overrides, an existing one keeps its own, and adapters on a port group that moves to another
/// switch move with it.
pub fn put_port_group(host: &mut ObservedHost, name: &str, switch: &str, vlan: u16) {
    match host.port_groups.iter_mut().find(|existing| existing.name == name) {
        Some(existing) => {
            existing.switch = switch.to_owned();
            existing.vlan = vlan;
        }
        None => host.port_groups.push(ObservedPortGroup {
            name: name.to_owned(),
            switch: switch.to_owned(),
            vlan,
            policy: PortGroupPolicy::default(),
        }),
    }
    for adapter in &mut host.adapters {
        if let PortConnection::Standard {
            switch: on_switch,
            port_group: on_port_group,
        } = &mut adapter.connection
        {
            if on_port_group == name {
                *on_switch = switch.to_owned();
            }
        }
    }
}

/// `UpdatePortGroup`'s policy as esxnet sends it: the teaming and security overrides become
/// exactly these; the shaping overrides stay.
pub fn set_port_group_overrides(
    host: &mut ObservedHost,
    name: &str,
    teaming: &TeamingOverride,
    security: SecurityOverride,
) {
    if let Some(port_group) = host.port_groups.iter_mut().find(|existing| existing.name == name) {
        port_group.policy.teaming = teaming.clone();
        port_group.policy.security = security;
    }
}

/// The device `AddVirtualNic` gives a new adapter: the lowest free `vmkN`.
pub fn next_free_device(host: &ObservedHost) -> String {
    let taken: BTreeSet<u32> = host
        .adapters
        .iter()
        .filter_map(|adapter| device_number(&adapter.device))
        .collect();
    let free = (0..).find(|number| !taken.contains(number)).expect("u32 has room");
    format!("vmk{free}")
}

fn device_number(device: &str) -> Option<u32> {
    device.strip_prefix("vmk")?.parse().ok()
}

/// Whether a new adapter sent without IPv6 settings gets router advertisement: from ESXi 6.5, on a
/// host with IPv6 enabled.
pub fn default_router_advertisement(host: &ObservedHost) -> bool {
    host.ipv6_enabled && host.version.router_advertisement_default()
}

/// The services a new adapter carries: its stack's own service on the vMotion or Provisioning
/// stack, none on the default stack (services are selected afterwards).
pub fn new_adapter_services(stack: StackKind) -> BTreeSet<Service> {
    stack.implied_service().into_iter().collect()
}

/// Services that default-stack adapters lose when an adapter arrives on `stack`.
pub fn deactivated_by(stack: StackKind) -> Option<Service> {
    stack.implied_service()
}

/// The vMotion or Provisioning stack that carries all of `service`'s traffic on this host because
/// it has an adapter; while it does, no default-stack adapter can be selected for `service`.
pub fn dedicated_stack_in_use(host: &ObservedHost, service: Service) -> Option<StackKind> {
    [StackKind::Vmotion, StackKind::Provisioning]
        .into_iter()
        .find(|stack| deactivated_by(*stack) == Some(service) && host.has_adapter_on_stack(*stack))
}

/// `AddVirtualNic`'s effect: the adapter joins the host (listed in device order) carrying
/// [`new_adapter_services`], and [`adapter_arrives`] runs for its stack.
pub fn add_adapter(host: &mut ObservedHost, mut adapter: ObservedAdapter) {
    let stack = adapter.stack;
    adapter.services = new_adapter_services(stack);
    host.adapters.retain(|existing| existing.device != adapter.device);
    host.adapters.push(adapter);
    host.adapters
        .sort_by_key(|adapter| (device_number(&adapter.device), adapter.device.clone()));
    adapter_arrives(host, stack);
}

/// `UpdateVirtualNic`'s effect on the fields esxnet manages: the stack and connection stay, MTU and
/// IPv4 are replaced, and IPv6 settings (when sent) replace the static addresses while the
/// computed ones (link-local, DHCPv6, router advertisement) stay ESXi's.
pub fn update_adapter(adapter: &mut ObservedAdapter, mtu: u32, ipv4: &ObservedIpv4, ipv6: Option<&Ipv6State>) {
    adapter.mtu = mtu;
    adapter.ipv4 = ipv4.clone();
    if let Some(ipv6) = ipv6 {
        adapter.ipv6.dhcp = ipv6.dhcp;
        adapter.ipv6.router_advertisement = ipv6.router_advertisement;
        adapter.ipv6.gateway_override = ipv6.gateway_override;
        adapter
            .ipv6
            .addresses
            .retain(|address| address.origin != Ipv6Origin::Manual);
        adapter
            .ipv6
            .addresses
            .extend(ipv6.addresses.iter().map(|address| ObservedIpv6Address {
                address: *address,
                origin: Ipv6Origin::Manual,
            }));
    }
}

/// What ESXi does when an adapter lands on a vMotion or Provisioning stack: the stack is
/// instantiated (and stays so after its last adapter goes), and every default-stack adapter loses
/// the service that stack now carries. Nothing happens for the default stack, which always is.
pub fn adapter_arrives(host: &mut ObservedHost, stack: StackKind) {
    let Some(service) = deactivated_by(stack) else {
        return;
    };
    if let Some(observed) = host.stacks.iter_mut().find(|observed| observed.stack == stack) {
        observed.instantiated = true;
    }
    for adapter in host
        .adapters
        .iter_mut()
        .filter(|adapter| adapter.stack == StackKind::Default)
    {
        adapter.services.remove(&service);
    }
}

/// The sections of `UpdateNetworkConfig` a careful client sends to bring a stack to a managed
/// state: only those that differ, and never a learned value echoed back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackSections {
    /// `ipRouteConfig`: the IPv4 and IPv6 gateways; an IPv6 gateway still learned from router
    /// advertisement is not sent.
    pub gateways: Option<(Option<Ipv4Addr>, Option<Ipv6Addr>)>,
    /// `dnsConfig` with static servers and search domains.
    pub dns: Option<Dns>,
    /// `routeTableConfig`: the routes to remove and to add, in that order.
    pub routes: (Vec<Route>, Vec<Route>),
    /// `requestedMaxNumberOfConnections`.
    pub requested_max_connections: Option<u32>,
    /// `congestionControlAlgorithm`.
    pub congestion_control: Option<CongestionControl>,
}

/// The sections that bring `current` to `settings` (see [`StackSections`]).
pub fn stack_sections(current: &ObservedStack, settings: &StackState) -> StackSections {
    let mut sections = StackSections::default();
    if current.ipv4_gateway != settings.ipv4_gateway || current.ipv6_gateway != settings.ipv6_gateway {
        let learned_kept =
            current.ipv6_gateway_from_router_advertisement && current.ipv6_gateway == settings.ipv6_gateway;
        sections.gateways = Some((settings.ipv4_gateway, settings.ipv6_gateway.filter(|_| !learned_kept)));
    }
    if current.dns != settings.dns {
        sections.dns = Some(settings.dns.clone());
    }
    let wanted: BTreeSet<&Route> = settings.routes.iter().collect();
    let existing: BTreeSet<&Route> = current.routes.iter().collect();
    sections.routes.0 = existing.difference(&wanted).map(|route| (*route).clone()).collect();
    // Every wanted route that is not there yet, duplicates included, so that a host refuses two
    // routes to one destination as such.
    sections.routes.1 = settings
        .routes
        .iter()
        .filter(|route| !existing.contains(route))
        .cloned()
        .collect();
    if current.requested_max_connections != settings.max_connections {
        sections.requested_max_connections = Some(settings.max_connections);
    }
    if current.congestion_control != settings.congestion_control {
        sections.congestion_control = Some(settings.congestion_control);
    }
    sections
}

/// `ipRouteConfig`'s effect: both gateways are replaced, except that without an IPv6 gateway one
/// learned from router advertisement stays (it is the router's, not the host's); an IPv6 gateway
/// sent is static from then on, even when it equals the learned one.
pub fn replace_gateways(stack: &mut ObservedStack, ipv4: Option<Ipv4Addr>, ipv6: Option<Ipv6Addr>) {
    stack.ipv4_gateway = ipv4;
    match ipv6 {
        Some(gateway) => {
            stack.ipv6_gateway = Some(gateway);
            stack.ipv6_gateway_from_router_advertisement = false;
        }
        None if stack.ipv6_gateway_from_router_advertisement => {}
        None => stack.ipv6_gateway = None,
    }
}

/// `dnsConfig`'s effect: with `dhcp` the learned servers stay, else DNS is static with `dns`; the
/// host and domain names become what was sent.
pub fn replace_dns(stack: &mut ObservedStack, dhcp: bool, dns: &Dns, host_name: &str, domain_name: &str) {
    if !dhcp {
        stack.dns = dns.clone();
    }
    stack.dns_from_dhcp = dhcp;
    stack.dns_host_name = host_name.to_owned();
    stack.dns_domain_name = domain_name.to_owned();
}

/// `requestedMaxNumberOfConnections`' effect: only requested; [`reboot`] puts it in effect.
pub fn request_max_connections(stack: &mut ObservedStack, limit: u32) {
    stack.requested_max_connections = limit;
}

/// A reboot's effect on networking: every requested connection limit takes effect.
pub fn reboot(host: &mut ObservedHost) {
    for stack in &mut host.stacks {
        stack.max_connections = stack.requested_max_connections;
    }
}

/// The effect of sending [`stack_sections`] for `settings`, without the checks a host makes:
/// what an edit of a stack to a managed state leaves on the host.
pub fn edit_stack(stack: &mut ObservedStack, settings: &StackState) {
    let sections = stack_sections(stack, settings);
    apply_stack_sections(stack, &sections);
}

/// The effect of sending `sections` (already checked) to a stack. Static routes are kept sorted.
pub fn apply_stack_sections(stack: &mut ObservedStack, sections: &StackSections) {
    if let Some((ipv4, ipv6)) = sections.gateways {
        replace_gateways(stack, ipv4, ipv6);
    }
    if let Some(dns) = &sections.dns {
        let (host_name, domain_name) = (stack.dns_host_name.clone(), stack.dns_domain_name.clone());
        replace_dns(stack, false, dns, &host_name, &domain_name);
    }
    let (removed, added) = &sections.routes;
    stack.routes.retain(|route| !removed.contains(route));
    stack.routes.extend(added.iter().cloned());
    stack.routes.sort();
    if let Some(limit) = sections.requested_max_connections {
        request_max_connections(stack, limit);
    }
    if let Some(algorithm) = sections.congestion_control {
        stack.congestion_control = algorithm;
    }
}

//! Building the `vim_rs` specs that each [`Operation`] sends. Pure: no IO.
//!
//! [`Operation`]: esxnet_executor::backend::Operation

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use esxnet_executor::backend::{Ipv4Settings, Ipv6Settings, StackSettings};
use esxnet_model::common::{CongestionControl, Route, StackKind};
use esxnet_model::observed::{
    ObservedAdapter, ObservedStack, SecurityOverride, SecurityPolicy, Teaming, TeamingOverride, TeamingPolicy,
};
use ipnet::Ipv6Net;
use vim_rs::types::structs::{
    DistributedVirtualSwitchPortConnection, HostDnsConfig, HostIpConfig, HostIpConfigIpV6Address,
    HostIpConfigIpV6AddressConfiguration, HostIpRouteConfig, HostIpRouteEntry, HostIpRouteOp, HostIpRouteTableConfig,
    HostNetOffloadCapabilities, HostNetStackInstance, HostNetworkConfig, HostNetworkConfigNetStackSpec,
    HostNetworkPolicy, HostNetworkSecurityPolicy, HostNetworkTrafficShapingPolicy, HostNicFailureCriteria,
    HostNicOrderPolicy, HostNicTeamingPolicy, HostPortGroupSpec, HostVirtualNicIpRouteSpec, HostVirtualNicSpec,
    HostVirtualSwitchBeaconConfig, HostVirtualSwitchBondBridge, HostVirtualSwitchSpec, LinkDiscoveryProtocolConfig,
};

use crate::map::mask_from_prefix;

/// The port count of a new standard switch (ESXi's own default; elastic since 5.5).
pub const DEFAULT_SWITCH_PORTS: i32 = 128;

/// A `HostNetworkPolicy` that sets nothing, so a port group inherits its switch's policy.
pub fn empty_policy() -> HostNetworkPolicy {
    HostNetworkPolicy {
        security: None,
        nic_teaming: None,
        offload_policy: None,
        shaping_policy: None,
    }
}

/// The active and standby uplinks a switch's teaming order sends: an empty teaming lists every
/// uplink as active, in name order, which is what ESXi does by itself.
fn nic_order(uplinks: &BTreeSet<String>, teaming: &Teaming) -> HostNicOrderPolicy {
    let (active, standby) = if teaming.active.is_empty() && teaming.standby.is_empty() {
        (uplinks.iter().cloned().collect::<Vec<_>>(), Vec::new())
    } else {
        (teaming.active.clone(), teaming.standby.clone())
    };
    HostNicOrderPolicy {
        active_nic: Some(active),
        standby_nic: Some(standby),
    }
}

/// The bond bridge of a new set of uplinks, with ESXi's defaults: beacon interval 1 s (beacon
/// probing itself stays off, in the teaming failure criteria) and CDP in listen mode.
fn new_bridge(uplinks: &BTreeSet<String>) -> HostVirtualSwitchBondBridge {
    HostVirtualSwitchBondBridge {
        nic_device: uplinks.iter().cloned().collect(),
        beacon: Some(HostVirtualSwitchBeaconConfig { interval: 1 }),
        link_discovery_protocol_config: Some(LinkDiscoveryProtocolConfig {
            protocol: "cdp".to_owned(),
            operation: "listen".to_owned(),
        }),
    }
}

/// The teaming policy of a new switch: `policy` (ESXi's default is the originating port, notify
/// switches, fail back, link status only) with ESXi's other failure criteria.
fn new_teaming(order: Option<HostNicOrderPolicy>, policy: &TeamingPolicy) -> HostNicTeamingPolicy {
    let mut teaming = HostNicTeamingPolicy {
        policy: None,
        reverse_policy: Some(true),
        notify_switches: None,
        rolling_order: None,
        failure_criteria: Some(HostNicFailureCriteria {
            check_speed: Some("minimum".to_owned()),
            speed: Some(10),
            check_duplex: Some(false),
            full_duplex: Some(false),
            check_error_percent: Some(false),
            percentage: Some(0),
            check_beacon: None,
        }),
        nic_order: order,
    };
    set_teaming_policy(&mut teaming, policy);
    teaming
}

/// Sets the four teaming fields esxnet manages; the other failure criteria and the reverse
/// policy stay as they are. `rollingOrder` is failback negated.
fn set_teaming_policy(teaming: &mut HostNicTeamingPolicy, policy: &TeamingPolicy) {
    teaming.policy = Some(policy.load_balancing.api_name().to_owned());
    teaming.notify_switches = Some(policy.notify_switches);
    teaming.rolling_order = Some(!policy.failback);
    teaming
        .failure_criteria
        .get_or_insert_with(empty_failure_criteria)
        .check_beacon = Some(policy.beacon_probing);
}

fn empty_failure_criteria() -> HostNicFailureCriteria {
    HostNicFailureCriteria {
        check_speed: None,
        speed: None,
        check_duplex: None,
        full_duplex: None,
        check_error_percent: None,
        percentage: None,
        check_beacon: None,
    }
}

fn security_policy(security: &SecurityPolicy) -> HostNetworkSecurityPolicy {
    HostNetworkSecurityPolicy {
        allow_promiscuous: Some(security.allow_promiscuous),
        mac_changes: Some(security.mac_changes),
        forged_transmits: Some(security.forged_transmits),
    }
}

/// `HostVirtualSwitchSpec` for `AddVirtualSwitch`: a complete spec, so the host is never left to
/// fill in a partial policy. The policy is what the Host Client gives a new switch, with the
/// teaming policy and security the plan carries (ESXi's defaults where no manifest sets them:
/// security all rejected, originating-port load balancing), offloads on, shaping off; no uplinks
/// → no bridge.
pub fn new_switch_spec(
    mtu: u32,
    uplinks: &BTreeSet<String>,
    teaming: &Teaming,
    teaming_policy: &TeamingPolicy,
    security: &SecurityPolicy,
) -> HostVirtualSwitchSpec {
    let bridge = (!uplinks.is_empty())
        .then(|| Box::new(new_bridge(uplinks)) as Box<dyn vim_rs::types::traits::HostVirtualSwitchBridgeTrait>);
    let order = (!uplinks.is_empty()).then(|| nic_order(uplinks, teaming));
    HostVirtualSwitchSpec {
        num_ports: DEFAULT_SWITCH_PORTS,
        bridge,
        policy: Some(HostNetworkPolicy {
            security: Some(security_policy(security)),
            nic_teaming: Some(new_teaming(order, teaming_policy)),
            offload_policy: Some(HostNetOffloadCapabilities {
                csum_offload: Some(true),
                tcp_segmentation: Some(true),
                zero_copy_xmit: Some(true),
            }),
            shaping_policy: Some(HostNetworkTrafficShapingPolicy {
                enabled: Some(false),
                average_bandwidth: None,
                peak_bandwidth: None,
                burst_size: None,
            }),
        }),
        mtu: Some(i32::try_from(mtu).unwrap_or(i32::MAX)),
    }
}

/// `HostVirtualSwitchSpec` for `UpdateVirtualSwitch`, read-modify-write: `observed` is the spec
/// the host reported (or esxnet last sent), and only what esxnet manages changes in it: the
/// MTU, the bridged uplinks and the teaming order. The bridge keeps its beacon and link
/// discovery settings (a bond bridge without `beacon` turns beacon probing off), the policy keeps
/// security, load balancing, failover detection, notify and failback, offload and shaping, and
/// `numPorts` stays as it is. No uplinks → no bridge, which unsets them.
pub fn updated_switch_spec(
    mut observed: HostVirtualSwitchSpec,
    mtu: u32,
    uplinks: &BTreeSet<String>,
    teaming: &Teaming,
    teaming_policy: &TeamingPolicy,
    security: &SecurityPolicy,
) -> HostVirtualSwitchSpec {
    observed.mtu = Some(i32::try_from(mtu).unwrap_or(i32::MAX));
    observed.bridge = if uplinks.is_empty() {
        None
    } else {
        let bond = observed
            .bridge
            .take()
            .and_then(|bridge| bridge.as_any_box().downcast::<HostVirtualSwitchBondBridge>().ok());
        let bond = match bond {
            Some(mut bond) => {
                bond.nic_device = uplinks.iter().cloned().collect();
                bond
            }
            None => Box::new(new_bridge(uplinks)),
        };
        Some(bond as Box<dyn vim_rs::types::traits::HostVirtualSwitchBridgeTrait>)
    };
    let order = (!uplinks.is_empty()).then(|| nic_order(uplinks, teaming));
    let policy = observed.policy.get_or_insert_with(empty_policy);
    match policy.nic_teaming.as_mut() {
        Some(nic_teaming) => {
            nic_teaming.nic_order = order;
            set_teaming_policy(nic_teaming, teaming_policy);
        }
        None => policy.nic_teaming = Some(new_teaming(order, teaming_policy)),
    }
    policy.security = Some(security_policy(security));
    observed
}

/// `HostPortGroupSpec` for `AddPortGroup`: the teaming and security overrides the plan carries,
/// nothing else, so the port group inherits the rest of its switch's policy.
pub fn port_group_spec(
    name: &str,
    switch: &str,
    vlan: u16,
    teaming: &TeamingOverride,
    security: &SecurityOverride,
) -> HostPortGroupSpec {
    let mut spec = HostPortGroupSpec {
        name: name.to_owned(),
        vlan_id: i32::from(vlan),
        vswitch_name: switch.to_owned(),
        policy: empty_policy(),
    };
    set_overrides(&mut spec.policy, teaming, security);
    spec
}

/// `HostPortGroupSpec` for `UpdatePortGroup`, read-modify-write: `observed` is the spec the
/// host reported (or esxnet last sent). `UpdatePortGroup` replaces the whole spec and an unset
/// policy field means "inherit from the switch", so the policy is sent back as read, with the
/// teaming and security overrides the plan carries (the observed ones where no manifest manages
/// them): shaping and offload overrides and the failure criteria esxnet does not model survive.
pub fn updated_port_group_spec(
    mut observed: HostPortGroupSpec,
    switch: &str,
    vlan: u16,
    teaming: &TeamingOverride,
    security: &SecurityOverride,
) -> HostPortGroupSpec {
    observed.vlan_id = i32::from(vlan);
    observed.vswitch_name = switch.to_owned();
    set_overrides(&mut observed.policy, teaming, security);
    observed
}

/// Writes a port group's teaming and security overrides into `policy`: each `None` becomes an
/// unset field (inherit).
fn set_overrides(policy: &mut HostNetworkPolicy, teaming: &TeamingOverride, security: &SecurityOverride) {
    if !security.is_empty() || policy.security.is_some() {
        policy.security = Some(HostNetworkSecurityPolicy {
            allow_promiscuous: security.allow_promiscuous,
            mac_changes: security.mac_changes,
            forged_transmits: security.forged_transmits,
        });
    }
    if teaming.is_empty() && policy.nic_teaming.is_none() {
        return;
    }
    let nic_teaming = policy.nic_teaming.get_or_insert(HostNicTeamingPolicy {
        policy: None,
        reverse_policy: None,
        notify_switches: None,
        rolling_order: None,
        failure_criteria: None,
        nic_order: None,
    });
    nic_teaming.policy = teaming
        .load_balancing
        .map(|load_balancing| load_balancing.api_name().to_owned());
    nic_teaming.notify_switches = teaming.notify_switches;
    nic_teaming.rolling_order = teaming.failback.map(|failback| !failback);
    // An unset `checkBeacon` inherits; the other failure criteria stay as read.
    match teaming.beacon_probing {
        Some(beacon) => {
            nic_teaming
                .failure_criteria
                .get_or_insert_with(empty_failure_criteria)
                .check_beacon = Some(beacon)
        }
        None => {
            if let Some(criteria) = nic_teaming.failure_criteria.as_mut() {
                criteria.check_beacon = None;
            }
        }
    }
    nic_teaming.nic_order = teaming.order.as_ref().map(|order| HostNicOrderPolicy {
        active_nic: Some(order.active.clone()),
        standby_nic: Some(order.standby.clone()),
    });
}

fn ipv6_address(address: &Ipv6Net, operation: &str) -> HostIpConfigIpV6Address {
    HostIpConfigIpV6Address {
        ip_address: address.addr().to_string(),
        prefix_length: i32::from(address.prefix_len()),
        origin: None,
        dad_state: None,
        lifetime: None,
        operation: Some(operation.to_owned()),
    }
}

/// `HostIpConfig` of an adapter. With IPv6 settings, the addresses are sent as `add` for those not
/// in `current_manual` and `remove` for those in `current_manual` no longer wanted.
pub fn ip_config(ipv4: &Ipv4Settings, ipv6: Option<&Ipv6Settings>, current_manual: &BTreeSet<Ipv6Net>) -> HostIpConfig {
    let (ip_address, subnet_mask) = if ipv4.dhcp {
        (None, None)
    } else {
        (
            Some(ipv4.address.map(|address| address.to_string()).unwrap_or_default()),
            Some(ipv4.prefix_length.map(mask_from_prefix).unwrap_or_default()),
        )
    };
    let ip_v_6_config = ipv6.map(|settings| {
        let mut operations: Vec<HostIpConfigIpV6Address> = settings
            .addresses
            .difference(current_manual)
            .map(|address| ipv6_address(address, "add"))
            .collect();
        operations.extend(
            current_manual
                .difference(&settings.addresses)
                .map(|address| ipv6_address(address, "remove")),
        );
        HostIpConfigIpV6AddressConfiguration {
            ip_v_6_address: (!operations.is_empty()).then_some(operations),
            auto_configuration_enabled: Some(settings.router_advertisement),
            dhcp_v_6_enabled: Some(settings.dhcp),
        }
    });
    HostIpConfig {
        dhcp: ipv4.dhcp,
        ip_address,
        subnet_mask,
        ip_v_6_config,
    }
}

/// The per-adapter gateway overrides; both `None` removes them.
pub fn adapter_route_spec(ipv4_gateway: Option<Ipv4Addr>, ipv6_gateway: Option<Ipv6Addr>) -> HostVirtualNicIpRouteSpec {
    HostVirtualNicIpRouteSpec {
        ip_route_config: Some(Box::new(HostIpRouteConfig {
            default_gateway: ipv4_gateway.map(|gateway| gateway.to_string()),
            gateway_device: None,
            ip_v_6_default_gateway: ipv6_gateway.map(|gateway| gateway.to_string()),
            ip_v_6_gateway_device: None,
        })),
    }
}

/// Where a new adapter connects, as `AddVirtualNic` wants it.
pub enum AdapterPort {
    /// A standard port group, by name.
    Standard {
        /// The port group's name.
        port_group: String,
    },
    /// A distributed port group.
    Distributed {
        /// The distributed switch's UUID.
        switch_uuid: String,
        /// The port group's key.
        port_group_key: String,
    },
}

fn empty_adapter_spec() -> HostVirtualNicSpec {
    HostVirtualNicSpec {
        dynamic_property: None,
        ip: None,
        mac: None,
        distributed_virtual_port: None,
        portgroup: None,
        mtu: None,
        tso_enabled: None,
        net_stack_instance_key: None,
        opaque_network: None,
        external_id: None,
        pinned_pnic: None,
        ip_route_spec: None,
        system_owned: None,
        dpu_id: None,
    }
}

/// The `portgroup` argument and the spec of `AddVirtualNic`.
pub fn new_adapter_spec(
    port: &AdapterPort,
    stack: StackKind,
    mtu: u32,
    ipv4: &Ipv4Settings,
    ipv6: Option<&Ipv6Settings>,
) -> (String, HostVirtualNicSpec) {
    let mut spec = empty_adapter_spec();
    spec.ip = Some(Box::new(ip_config(ipv4, ipv6, &BTreeSet::new())));
    spec.mtu = Some(i32::try_from(mtu).unwrap_or(i32::MAX));
    spec.net_stack_instance_key = Some(stack.api_key().to_owned());
    let ipv6_gateway = ipv6.and_then(|settings| settings.gateway_override);
    if ipv4.gateway_override.is_some() || ipv6_gateway.is_some() {
        spec.ip_route_spec = Some(adapter_route_spec(ipv4.gateway_override, ipv6_gateway));
    }
    let port_group = match port {
        AdapterPort::Standard { port_group } => {
            spec.portgroup = Some(port_group.clone());
            port_group.clone()
        }
        AdapterPort::Distributed {
            switch_uuid,
            port_group_key,
        } => {
            spec.distributed_virtual_port = Some(DistributedVirtualSwitchPortConnection {
                switch_uuid: switch_uuid.clone(),
                portgroup_key: Some(port_group_key.clone()),
                port_key: None,
                connection_cookie: None,
            });
            String::new()
        }
    };
    (port_group, spec)
}

/// The spec of `UpdateVirtualNic`, given the adapter as the host has it now (`current`, `None`
/// when unknown). Without IPv6 settings the IPv6 configuration is left alone and the current IPv6
/// gateway override is kept.
pub fn update_adapter_spec(
    mtu: u32,
    ipv4: &Ipv4Settings,
    ipv6: Option<&Ipv6Settings>,
    current: Option<&ObservedAdapter>,
) -> HostVirtualNicSpec {
    let current_manual = current
        .map(|adapter| adapter.ipv6.manual_addresses())
        .unwrap_or_default();
    let current_ipv6_gateway = current.and_then(|adapter| adapter.ipv6.gateway_override);
    let mut spec = empty_adapter_spec();
    spec.ip = Some(Box::new(ip_config(ipv4, ipv6, &current_manual)));
    spec.mtu = Some(i32::try_from(mtu).unwrap_or(i32::MAX));
    let ipv6_gateway = match ipv6 {
        Some(settings) => settings.gateway_override,
        None => current_ipv6_gateway,
    };
    spec.ip_route_spec = Some(adapter_route_spec(ipv4.gateway_override, ipv6_gateway));
    spec
}

fn route_operation(route: &Route, operation: &str) -> HostIpRouteOp {
    HostIpRouteOp {
        change_operation: operation.to_owned(),
        route: HostIpRouteEntry {
            network: route.destination.network().to_string(),
            prefix_length: i32::from(route.destination.prefix_len()),
            gateway: route.gateway.to_string(),
            device_name: None,
        },
    }
}

/// `HostNetworkConfig` for `UpdateNetworkConfig(config, "modify")` editing one stack.
///
/// `current` is the stack as the host has it now (`None` when unknown). `UpdateNetworkConfig`
/// changes only the sections it is sent, so only the sections that differ from `current` are:
///
/// - `dnsConfig` when the servers or search domains change; it turns DNS static (`dhcp: false`)
///   and sends the host and domain names back unchanged. DNS learned through DHCP is otherwise
///   never touched.
/// - `ipRouteConfig` when a gateway changes. An IPv6 gateway learned from router advertisement
///   that is not what changes is left out, so it stays learned instead of becoming static.
/// - `routeTableConfig` with one `add` or `remove` per static route that changes; ESXi's own
///   routes are not in `current.routes` and so are never removed.
/// - `requestedMaxNumberOfConnections` and `congestionControlAlgorithm` when they change.
///
/// Without `current` every section is sent, as there is nothing to compare with.
pub fn stack_config(stack: StackKind, settings: &StackSettings, current: Option<&ObservedStack>) -> HostNetworkConfig {
    let wanted: BTreeSet<&Route> = settings.routes.iter().collect();
    let existing: BTreeSet<&Route> = current.into_iter().flat_map(|current| current.routes.iter()).collect();
    let mut ipv4_routes = Vec::new();
    let mut ipv6_routes = Vec::new();
    let removals = existing
        .difference(&wanted)
        .map(|route| route_operation(route, "remove"));
    let additions = wanted.difference(&existing).map(|route| route_operation(route, "add"));
    for operation in removals.chain(additions) {
        if operation.route.network.contains(':') {
            ipv6_routes.push(operation);
        } else {
            ipv4_routes.push(operation);
        }
    }
    let dns_changes = current.is_none_or(|current| current.dns != settings.dns);
    let gateways_change = current.is_none_or(|current| {
        current.ipv4_gateway != settings.ipv4_gateway || current.ipv6_gateway != settings.ipv6_gateway
    });
    let learned_ipv6_gateway_kept = current.is_some_and(|current| {
        current.ipv6_gateway_from_router_advertisement && current.ipv6_gateway == settings.ipv6_gateway
    });
    let dns_config = dns_changes.then(|| HostDnsConfig {
        dhcp: false,
        virtual_nic_device: None,
        ipv_6_virtual_nic_device: None,
        host_name: current.map(|current| current.dns_host_name.clone()).unwrap_or_default(),
        domain_name: current
            .map(|current| current.dns_domain_name.clone())
            .unwrap_or_default(),
        address: Some(settings.dns.servers.iter().map(ToString::to_string).collect()),
        search_domain: Some(settings.dns.search_domains.clone()),
    });
    let ip_route_config = gateways_change.then(|| HostIpRouteConfig {
        default_gateway: settings.ipv4_gateway.map(|gateway| gateway.to_string()),
        gateway_device: None,
        ip_v_6_default_gateway: settings
            .ipv6_gateway
            .filter(|_| !learned_ipv6_gateway_kept)
            .map(|gateway| gateway.to_string()),
        ip_v_6_gateway_device: None,
    });
    let route_table_config = (!ipv4_routes.is_empty() || !ipv6_routes.is_empty()).then(|| HostIpRouteTableConfig {
        ip_route: (!ipv4_routes.is_empty()).then_some(ipv4_routes),
        ipv_6_route: (!ipv6_routes.is_empty()).then_some(ipv6_routes),
    });
    let connections_change =
        current.is_none_or(|current| current.requested_max_connections != settings.requested_max_connections);
    let congestion_control_changes =
        current.is_none_or(|current| current.congestion_control != settings.congestion_control);
    let instance = HostNetStackInstance {
        key: Some(stack.api_key().to_owned()),
        name: None,
        dns_config: dns_config.map(|config| Box::new(config) as _),
        ip_route_config: ip_route_config.map(|config| Box::new(config) as _),
        requested_max_number_of_connections: connections_change
            .then(|| i32::try_from(settings.requested_max_connections).unwrap_or(i32::MAX)),
        congestion_control_algorithm: congestion_control_changes.then(|| {
            match settings.congestion_control {
                CongestionControl::Newreno => "newreno",
                CongestionControl::Cubic => "cubic",
            }
            .to_owned()
        }),
        ip_v_6_enabled: None,
        route_table_config,
        owner: None,
    };
    HostNetworkConfig {
        vswitch: None,
        proxy_switch: None,
        portgroup: None,
        pnic: None,
        vnic: None,
        console_vnic: None,
        dns_config: None,
        ip_route_config: None,
        console_ip_route_config: None,
        route_table_config: None,
        dhcp: None,
        nat: None,
        ip_v_6_enabled: None,
        net_stack_spec: Some(vec![HostNetworkConfigNetStackSpec {
            net_stack_instance: instance,
            operation: Some("edit".to_owned()),
        }]),
        migration_status: None,
    }
}

//! Building the `vim_rs` specs that each [`Operation`] sends. Pure: no IO.
//!
//! [`Operation`]: esxnet_executor::backend::Operation

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use esxnet_executor::backend::{Ipv4Settings, Ipv6Settings, StackSettings};
use esxnet_model::common::{CongestionControl, Route, StackKind};
use esxnet_model::observed::Teaming;
use ipnet::Ipv6Net;
use vim_rs::types::structs::{
    DistributedVirtualSwitchPortConnection, HostDnsConfig, HostIpConfig, HostIpConfigIpV6Address,
    HostIpConfigIpV6AddressConfiguration, HostIpRouteConfig, HostIpRouteEntry, HostIpRouteOp, HostIpRouteTableConfig,
    HostNetStackInstance, HostNetworkConfig, HostNetworkConfigNetStackSpec, HostNetworkPolicy, HostNicOrderPolicy,
    HostNicTeamingPolicy, HostPortGroupSpec, HostVirtualNicIpRouteSpec, HostVirtualNicSpec,
    HostVirtualSwitchBondBridge, HostVirtualSwitchSpec,
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

/// `HostVirtualSwitchSpec` for `AddVirtualSwitch` and `UpdateVirtualSwitch`.
///
/// No uplinks → no bridge (an update then unsets the uplinks). An empty teaming lists every uplink
/// as active, in name order, which is what ESXi does by itself.
pub fn switch_spec(mtu: u32, uplinks: &BTreeSet<String>, teaming: &Teaming, num_ports: i32) -> HostVirtualSwitchSpec {
    let bridge = (!uplinks.is_empty()).then(|| {
        Box::new(HostVirtualSwitchBondBridge {
            nic_device: uplinks.iter().cloned().collect(),
            beacon: None,
            link_discovery_protocol_config: None,
        }) as Box<dyn vim_rs::types::traits::HostVirtualSwitchBridgeTrait>
    });
    let (active, standby) = if teaming.active.is_empty() && teaming.standby.is_empty() {
        (uplinks.iter().cloned().collect::<Vec<_>>(), Vec::new())
    } else {
        (teaming.active.clone(), teaming.standby.clone())
    };
    let nic_teaming = (!uplinks.is_empty()).then_some(HostNicTeamingPolicy {
        policy: None,
        reverse_policy: None,
        notify_switches: None,
        rolling_order: None,
        failure_criteria: None,
        nic_order: Some(HostNicOrderPolicy {
            active_nic: Some(active),
            standby_nic: Some(standby),
        }),
    });
    HostVirtualSwitchSpec {
        num_ports,
        bridge,
        policy: Some(HostNetworkPolicy {
            nic_teaming,
            ..empty_policy()
        }),
        mtu: Some(i32::try_from(mtu).unwrap_or(i32::MAX)),
    }
}

/// `HostPortGroupSpec` for `AddPortGroup` and `UpdatePortGroup`.
pub fn port_group_spec(name: &str, switch: &str, vlan: u16) -> HostPortGroupSpec {
    HostPortGroupSpec {
        name: name.to_owned(),
        vlan_id: i32::from(vlan),
        vswitch_name: switch.to_owned(),
        policy: empty_policy(),
    }
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

/// The spec of `UpdateVirtualNic`. Without IPv6 settings the IPv6 configuration is left alone and
/// the current IPv6 gateway override (`current_ipv6_gateway`) is kept.
pub fn update_adapter_spec(
    mtu: u32,
    ipv4: &Ipv4Settings,
    ipv6: Option<&Ipv6Settings>,
    current_manual: &BTreeSet<Ipv6Net>,
    current_ipv6_gateway: Option<Ipv6Addr>,
) -> HostVirtualNicSpec {
    let mut spec = empty_adapter_spec();
    spec.ip = Some(Box::new(ip_config(ipv4, ipv6, current_manual)));
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

/// What `UpdateNetworkConfig` must keep of a stack it edits.
#[derive(Debug, Clone, Default)]
pub struct CurrentStack {
    /// The stack's DNS host name (a `HostDnsConfig` field esxnet does not manage).
    pub host_name: String,
    /// The stack's DNS domain name.
    pub domain_name: String,
    /// The stack's static routes as observed.
    pub routes: Vec<Route>,
}

/// `HostNetworkConfig` for `UpdateNetworkConfig(config, "modify")` editing one stack.
pub fn stack_config(stack: StackKind, settings: &StackSettings, current: &CurrentStack) -> HostNetworkConfig {
    let wanted: BTreeSet<&Route> = settings.routes.iter().collect();
    let existing: BTreeSet<&Route> = current.routes.iter().collect();
    let mut ipv4_routes = Vec::new();
    let mut ipv6_routes = Vec::new();
    let removals = existing
        .difference(&wanted)
        .map(|route| route_operation(route, "remove"));
    let additions = wanted.difference(&existing).map(|route| route_operation(route, "add"));
    for (operation, is_ipv6) in removals.chain(additions).map(|operation| {
        let is_ipv6 = operation.route.network.contains(':');
        (operation, is_ipv6)
    }) {
        if is_ipv6 {
            ipv6_routes.push(operation);
        } else {
            ipv4_routes.push(operation);
        }
    }
    let instance = HostNetStackInstance {
        key: Some(stack.api_key().to_owned()),
        name: None,
        dns_config: Some(Box::new(HostDnsConfig {
            dhcp: false,
            virtual_nic_device: None,
            ipv_6_virtual_nic_device: None,
            host_name: current.host_name.clone(),
            domain_name: current.domain_name.clone(),
            address: Some(settings.dns.servers.iter().map(ToString::to_string).collect()),
            search_domain: Some(settings.dns.search_domains.clone()),
        })),
        ip_route_config: Some(Box::new(HostIpRouteConfig {
            default_gateway: settings.ipv4_gateway.map(|gateway| gateway.to_string()),
            gateway_device: None,
            ip_v_6_default_gateway: settings.ipv6_gateway.map(|gateway| gateway.to_string()),
            ip_v_6_gateway_device: None,
        })),
        requested_max_number_of_connections: Some(
            i32::try_from(settings.requested_max_connections).unwrap_or(i32::MAX),
        ),
        congestion_control_algorithm: Some(
            match settings.congestion_control {
                CongestionControl::Newreno => "newreno",
                CongestionControl::Cubic => "cubic",
            }
            .to_owned(),
        ),
        ip_v_6_enabled: None,
        route_table_config: Some(HostIpRouteTableConfig {
            ip_route: Some(ipv4_routes),
            ipv_6_route: Some(ipv6_routes),
        }),
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

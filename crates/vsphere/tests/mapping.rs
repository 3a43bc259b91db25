//! vim_rs network info → `ObservedHost`, and `Operation` settings → vim_rs specs, without a server.
//! The fixture is VI JSON read by vim_rs's own deserializer, as the JSON transport reads it.

use std::collections::{BTreeMap, BTreeSet};

use esxnet_executor::backend::{Ipv4Settings, Ipv6Settings, StackSettings};
use esxnet_model::common::{CongestionControl, Dns, Route, Service, StackKind};
use esxnet_model::observed::{
    DistributedPortGroup, Ipv6Origin, ObservedAdapter, ObservedIpv4, ObservedIpv6, ObservedIpv6Address, ObservedStack,
    PortConnection, Teaming,
};
use esxnet_vsphere::map::{self, DistributedPortGroupInfo, RawHost};
use esxnet_vsphere::spec::{self, AdapterPort};
use vim_rs::core::client::{unmarshal, Transport};
use vim_rs::types::structs::{
    HostDnsConfig, HostIpConfig, HostIpRouteConfig, HostIpRouteEntry, HostIpRouteOp, HostNetStackInstance,
    HostNetworkInfo, HostRuntimeInfoNetStackInstanceRuntimeInfo, HostRuntimeInfoNetworkRuntimeInfo,
    HostVirtualNicManagerInfo, VirtualNicManagerNetConfig,
};

fn fixture() -> HostNetworkInfo {
    unmarshal(Transport::Json, include_bytes!("fixtures/network-info.json")).expect("the fixture parses")
}

fn raw_host(runtime: Option<HostRuntimeInfoNetworkRuntimeInfo>) -> RawHost {
    RawHost {
        host_system: "host-1".to_owned(),
        reads_config_network: true,
        name: "esx01".to_owned(),
        version: Some("8.0.3".to_owned()),
        network: Some(fixture()),
        runtime,
        network_system: Some("networkSystem-1".to_owned()),
        virtual_nic_manager: Some("virtualNicManager-1".to_owned()),
        distributed_port_group_ids: vec!["dvportgroup-1001".to_owned()],
        connection_state: Some("connected".to_owned()),
    }
}

fn net_config(nic_type: &str, selected: &[&str]) -> VirtualNicManagerNetConfig {
    VirtualNicManagerNetConfig {
        nic_type: nic_type.to_owned(),
        multi_select_allowed: true,
        candidate_vnic: None,
        selected_vnic: Some(selected.iter().map(|key| key.to_string()).collect()),
    }
}

fn port_groups() -> Vec<DistributedPortGroupInfo> {
    vec![DistributedPortGroupInfo {
        switch_uuid: "50 0d 2b 4b".to_owned(),
        port_group: DistributedPortGroup {
            name: "dv-mgmt".to_owned(),
            key: "dvportgroup-1001".to_owned(),
            vlan: 10,
        },
    }]
}

#[test]
fn network_info_lowers_into_the_observed_host() {
    let services = HostVirtualNicManagerInfo {
        net_config: Some(vec![
            net_config("management", &["management.key-vim.host.VirtualNic-vmk2"]),
            net_config(
                "vSphereReplication",
                &["vSphereReplication.key-vim.host.VirtualNic-vmk2"],
            ),
            net_config("someFutureType", &["someFutureType.key-vim.host.VirtualNic-vmk2"]),
        ]),
    };
    let runtime = HostRuntimeInfoNetworkRuntimeInfo {
        net_stack_instance_runtime_info: Some(vec![
            HostRuntimeInfoNetStackInstanceRuntimeInfo {
                net_stack_instance_key: "defaultTcpipStack".to_owned(),
                state: Some("active".to_owned()),
                vmknic_keys: None,
                max_number_of_connections: Some(11000),
                current_ip_v_6_enabled: None,
            },
            HostRuntimeInfoNetStackInstanceRuntimeInfo {
                net_stack_instance_key: "vmotion".to_owned(),
                state: Some("active".to_owned()),
                vmknic_keys: None,
                max_number_of_connections: Some(11000),
                current_ip_v_6_enabled: None,
            },
        ]),
        network_resource_runtime: None,
    };
    let host = map::observed_host(&raw_host(Some(runtime)), Some(&services), &port_groups()).unwrap();
    assert_eq!(host.version.to_string(), "8.0.3");

    assert_eq!(host.physical_nics.len(), 2);
    assert_eq!(host.physical_nic("vmnic2").unwrap().link_speed_mb, Some(10000));
    assert_eq!(host.physical_nic("vmnic3").unwrap().link_speed_mb, None);

    let switch = host.switch("vSwitch1").unwrap();
    assert_eq!(switch.mtu, 9000);
    assert_eq!(
        switch.uplinks,
        BTreeSet::from(["vmnic2".to_owned(), "vmnic3".to_owned()])
    );
    assert_eq!(
        switch.teaming,
        Teaming {
            active: vec!["vmnic3".to_owned()],
            standby: vec!["vmnic2".to_owned()]
        }
    );
    let port_group = host.port_group("vMotion").unwrap();
    assert_eq!((port_group.switch.as_str(), port_group.vlan), ("vSwitch1", 20));

    // vmk9 is on a custom stack esxnet does not manage: left out.
    let devices: Vec<&str> = host.adapters.iter().map(|adapter| adapter.device.as_str()).collect();
    assert_eq!(devices, ["vmk1", "vmk2"]);

    let vmk1 = host.adapter("vmk1").unwrap();
    assert_eq!(
        vmk1.connection,
        PortConnection::Standard {
            switch: "vSwitch1".to_owned(),
            port_group: "vMotion".to_owned()
        }
    );
    assert_eq!(vmk1.stack, StackKind::Vmotion);
    assert_eq!(vmk1.mtu, 9000);
    assert_eq!(vmk1.mac, "00:50:56:6a:00:01");
    assert!(!vmk1.ipv4.dhcp);
    assert_eq!(vmk1.ipv4.address, Some("10.20.0.11".parse().unwrap()));
    assert_eq!(vmk1.ipv4.prefix_length, Some(24));
    assert_eq!(vmk1.ipv4.gateway_override, Some("10.20.0.1".parse().unwrap()));
    assert!(vmk1.ipv6.router_advertisement);
    assert!(!vmk1.ipv6.dhcp);
    let origins: BTreeMap<String, Ipv6Origin> = vmk1
        .ipv6
        .addresses
        .iter()
        .map(|address| (address.address.to_string(), address.origin))
        .collect();
    assert_eq!(origins["fe80::250:56ff:fe6a:1/64"], Ipv6Origin::Linklayer);
    assert_eq!(origins["2001:db8:20::11/64"], Ipv6Origin::Manual);
    assert_eq!(
        vmk1.ipv6.manual_addresses(),
        BTreeSet::from(["2001:db8:20::11/64".parse().unwrap()])
    );
    // The vMotion stack implies its service even though netConfig does not list it.
    assert_eq!(vmk1.services, BTreeSet::from([Service::Vmotion]));

    let vmk2 = host.adapter("vmk2").unwrap();
    assert_eq!(
        vmk2.connection,
        PortConnection::Distributed {
            switch: "dvs-prod".to_owned(),
            port_group: "dv-mgmt".to_owned()
        }
    );
    assert!(vmk2.ipv4.dhcp);
    assert_eq!(vmk2.ipv4.address, None);
    assert_eq!(vmk2.mtu, 1500);
    assert_eq!(
        vmk2.services,
        BTreeSet::from([Service::Management, Service::Replication])
    );

    let membership = host.distributed_switch("dvs-prod").unwrap();
    assert_eq!(membership.uuid, "50 0d 2b 4b");
    assert_eq!(membership.mtu, 9000);
    assert_eq!(
        membership.port_groups,
        port_groups()[0..1]
            .iter()
            .map(|info| info.port_group.clone())
            .collect::<Vec<_>>()
    );

    let stacks: Vec<StackKind> = host.stacks.iter().map(|stack| stack.stack).collect();
    assert_eq!(stacks, StackKind::ALL);
    let default = host.stack(StackKind::Default).unwrap();
    assert!(default.instantiated);
    assert_eq!(default.ipv4_gateway, Some("10.0.0.1".parse().unwrap()));
    assert_eq!(
        default.dns,
        Dns {
            servers: vec!["10.0.0.53".parse().unwrap()],
            search_domains: vec!["lab".to_owned()]
        }
    );
    // Connected and default routes are ESXi's own: only the static route remains.
    assert_eq!(
        default.routes,
        vec![Route {
            destination: "10.220.0.0/16".parse().unwrap(),
            gateway: "10.0.0.254".parse().unwrap()
        }]
    );
    let vmotion = host.stack(StackKind::Vmotion).unwrap();
    assert!(vmotion.instantiated);
    assert_eq!(vmotion.requested_max_connections, 20000);
    assert_eq!(vmotion.max_connections, 11000);
    assert_eq!(vmotion.congestion_control, CongestionControl::Cubic);
    let provisioning = host.stack(StackKind::Provisioning).unwrap();
    assert!(!provisioning.instantiated);
    assert_eq!(provisioning.requested_max_connections, 11000);
    assert_eq!(provisioning.congestion_control, CongestionControl::Newreno);
}

#[test]
fn without_a_nic_manager_or_runtime_info_services_and_stacks_are_implied() {
    let host = map::observed_host(&raw_host(None), None, &[]).unwrap();
    assert_eq!(
        host.adapter("vmk1").unwrap().services,
        BTreeSet::from([Service::Vmotion])
    );
    assert!(host.adapter("vmk2").unwrap().services.is_empty());
    // Without the port group list the key stands in for the name.
    assert!(matches!(
        &host.adapter("vmk2").unwrap().connection,
        PortConnection::Distributed { port_group, .. } if port_group == "dvportgroup-1001"
    ));
    // Instantiated = the default stack, or a stack with an adapter on it.
    assert!(host.stack(StackKind::Vmotion).unwrap().instantiated);
    assert!(!host.stack(StackKind::Provisioning).unwrap().instantiated);
}

#[test]
fn versions_masks_and_bad_answers() {
    assert_eq!(map::parse_version("6.5.0").unwrap().to_string(), "6.5.0");
    assert_eq!(map::parse_version("8.0").unwrap().to_string(), "8.0.0");
    assert_eq!(map::parse_version("8.0.3.0").unwrap().to_string(), "8.0.3");
    assert_eq!(map::parse_version("eight"), None);
    assert_eq!(map::prefix_from_mask("255.255.255.0"), Some(24));
    assert_eq!(map::prefix_from_mask("255.255.254.0"), Some(23));
    assert_eq!(map::prefix_from_mask("0.0.0.0"), Some(0));
    assert_eq!(map::prefix_from_mask("255.0.255.0"), None);
    assert_eq!(map::mask_from_prefix(24), "255.255.255.0");
    assert_eq!(map::mask_from_prefix(0), "0.0.0.0");
    assert_eq!(map::mask_from_prefix(32), "255.255.255.255");
    let mut raw = raw_host(None);
    raw.version = Some("unknown".to_owned());
    assert!(map::observed_host(&raw, None, &[])
        .unwrap_err()
        .contains("not an ESXi version"));
    raw.version = Some("8.0.3".to_owned());
    raw.network = None;
    assert!(map::observed_host(&raw, None, &[]).is_err());
}

#[test]
fn the_network_systems_sections_win_over_config_network() {
    let mut primary = fixture();
    primary.vnic = None;
    primary.vswitch.as_mut().unwrap()[0].name = "vSwitchFromNetworkSystem".to_owned();
    let merged = map::merge_network_info(primary, Some(fixture()));
    assert_eq!(merged.vswitch.unwrap()[0].name, "vSwitchFromNetworkSystem");
    assert_eq!(merged.vnic.unwrap().len(), 3);
}

fn static_ipv4() -> Ipv4Settings {
    Ipv4Settings {
        dhcp: false,
        address: Some("10.20.0.11".parse().unwrap()),
        prefix_length: Some(24),
        gateway_override: Some("10.20.0.1".parse().unwrap()),
    }
}

fn ip_of(spec: &vim_rs::types::structs::HostVirtualNicSpec) -> &HostIpConfig {
    spec.ip.as_deref().unwrap().get_host_ip_config()
}

fn route_of(spec: &vim_rs::types::structs::HostVirtualNicSpec) -> &HostIpRouteConfig {
    spec.ip_route_spec
        .as_ref()
        .unwrap()
        .ip_route_config
        .as_deref()
        .unwrap()
        .get_host_ip_route_config()
}

#[test]
fn new_adapters_carry_stack_addresses_and_overrides() {
    let ipv6 = Ipv6Settings {
        dhcp: false,
        router_advertisement: false,
        addresses: BTreeSet::from(["2001:db8:20::11/64".parse().unwrap()]),
        gateway_override: None,
    };
    let port = AdapterPort::Standard {
        port_group: "vMotion".to_owned(),
    };
    let (port_group, nic) = spec::new_adapter_spec(&port, StackKind::Vmotion, 9000, &static_ipv4(), Some(&ipv6));
    assert_eq!(port_group, "vMotion");
    assert_eq!(nic.portgroup.as_deref(), Some("vMotion"));
    assert_eq!(nic.net_stack_instance_key.as_deref(), Some("vmotion"));
    assert_eq!(nic.mtu, Some(9000));
    let ip = ip_of(&nic);
    assert!(!ip.dhcp);
    assert_eq!(ip.ip_address.as_deref(), Some("10.20.0.11"));
    assert_eq!(ip.subnet_mask.as_deref(), Some("255.255.255.0"));
    let v6 = ip.ip_v_6_config.as_ref().unwrap();
    assert_eq!(v6.auto_configuration_enabled, Some(false));
    assert_eq!(v6.dhcp_v_6_enabled, Some(false));
    let addresses = v6.ip_v_6_address.as_ref().unwrap();
    assert_eq!(addresses.len(), 1);
    assert_eq!(addresses[0].ip_address, "2001:db8:20::11");
    assert_eq!(addresses[0].prefix_length, 64);
    assert_eq!(addresses[0].operation.as_deref(), Some("add"));
    assert_eq!(route_of(&nic).default_gateway.as_deref(), Some("10.20.0.1"));

    let distributed = AdapterPort::Distributed {
        switch_uuid: "50 0d".to_owned(),
        port_group_key: "dvportgroup-1001".to_owned(),
    };
    let dhcp = Ipv4Settings {
        dhcp: true,
        address: None,
        prefix_length: None,
        gateway_override: None,
    };
    let (port_group, nic) = spec::new_adapter_spec(&distributed, StackKind::Default, 1500, &dhcp, None);
    assert_eq!(port_group, "");
    assert!(nic.portgroup.is_none());
    let port = nic.distributed_virtual_port.as_ref().unwrap();
    assert_eq!(
        (port.switch_uuid.as_str(), port.portgroup_key.as_deref()),
        ("50 0d", Some("dvportgroup-1001"))
    );
    assert!(ip_of(&nic).dhcp);
    assert!(ip_of(&nic).ip_address.is_none() && ip_of(&nic).subnet_mask.is_none());
    assert!(ip_of(&nic).ip_v_6_config.is_none());
    assert!(nic.ip_route_spec.is_none());
}

#[test]
fn adapter_updates_diff_ipv6_addresses_and_keep_or_clear_overrides() {
    let manual = |address: &str| ObservedIpv6Address {
        address: address.parse().unwrap(),
        origin: Ipv6Origin::Manual,
    };
    let mut current = ObservedAdapter {
        device: "vmk1".to_owned(),
        connection: PortConnection::Standard {
            switch: "vSwitch0".to_owned(),
            port_group: "Mgmt".to_owned(),
        },
        stack: StackKind::Default,
        mac: "00:50:56:00:00:01".to_owned(),
        mtu: 1500,
        ipv4: ObservedIpv4::default(),
        ipv6: ObservedIpv6 {
            dhcp: false,
            router_advertisement: false,
            addresses: vec![
                manual("2001:db8::1/64"),
                manual("2001:db8::2/64"),
                // Computed addresses are never removed.
                ObservedIpv6Address {
                    address: "fe80::250:56ff:fe00:1/64".parse().unwrap(),
                    origin: Ipv6Origin::Linklayer,
                },
            ],
            gateway_override: None,
        },
        services: BTreeSet::new(),
        system_owned: false,
        storage_bindings: BTreeSet::new(),
    };
    let ipv6 = Ipv6Settings {
        dhcp: true,
        router_advertisement: true,
        addresses: BTreeSet::from(["2001:db8::2/64".parse().unwrap(), "2001:db8::3/64".parse().unwrap()]),
        gateway_override: Some("2001:db8::fe".parse().unwrap()),
    };
    let mut ipv4 = static_ipv4();
    ipv4.gateway_override = None;
    let nic = spec::update_adapter_spec(1500, &ipv4, Some(&ipv6), Some(&current));
    let operations: BTreeSet<(String, String)> = ip_of(&nic)
        .ip_v_6_config
        .as_ref()
        .unwrap()
        .ip_v_6_address
        .iter()
        .flatten()
        .map(|address| (address.ip_address.clone(), address.operation.clone().unwrap()))
        .collect();
    assert_eq!(
        operations,
        BTreeSet::from([
            ("2001:db8::3".to_owned(), "add".to_owned()),
            ("2001:db8::1".to_owned(), "remove".to_owned())
        ])
    );
    assert!(nic.net_stack_instance_key.is_none() && nic.portgroup.is_none());
    // The IPv4 override is removed (unset), the IPv6 one set.
    assert_eq!(route_of(&nic).default_gateway, None);
    assert_eq!(route_of(&nic).ip_v_6_default_gateway.as_deref(), Some("2001:db8::fe"));
    // Without IPv6 settings, IPv6 is left alone and its override kept.
    current.ipv6.gateway_override = Some("2001:db8::fe".parse().unwrap());
    let kept = spec::update_adapter_spec(1500, &ipv4, None, Some(&current));
    assert!(ip_of(&kept).ip_v_6_config.is_none());
    assert_eq!(route_of(&kept).ip_v_6_default_gateway.as_deref(), Some("2001:db8::fe"));
}

#[test]
fn stack_edits_diff_routes_and_keep_the_dns_names() {
    let kept = Route {
        destination: "10.220.0.0/16".parse().unwrap(),
        gateway: "10.0.0.254".parse().unwrap(),
    };
    let dropped = Route {
        destination: "10.230.0.0/16".parse().unwrap(),
        gateway: "10.0.0.254".parse().unwrap(),
    };
    let added = Route {
        destination: "2001:db8:99::/48".parse().unwrap(),
        gateway: "2001:db8::fe".parse().unwrap(),
    };
    let settings = StackSettings {
        ipv4_gateway: Some("10.0.0.1".parse().unwrap()),
        ipv6_gateway: None,
        dns: Dns {
            servers: vec!["10.0.0.53".parse().unwrap()],
            search_domains: vec!["lab".to_owned()],
        },
        routes: vec![kept.clone(), added],
        requested_max_connections: 20000,
        congestion_control: CongestionControl::Cubic,
    };
    let current = ObservedStack {
        stack: StackKind::Provisioning,
        instantiated: true,
        ipv4_gateway: None,
        ipv6_gateway: None,
        dns: Dns::default(),
        ipv6_gateway_from_router_advertisement: false,
        dns_from_dhcp: false,
        dns_host_name: "esx01".to_owned(),
        dns_domain_name: "lab".to_owned(),
        routes: vec![kept, dropped],
        max_connections: 11000,
        requested_max_connections: 11000,
        congestion_control: CongestionControl::Newreno,
    };
    let config = spec::stack_config(StackKind::Provisioning, &settings, Some(&current));
    let stack_spec = &config.net_stack_spec.as_ref().unwrap()[0];
    assert_eq!(stack_spec.operation.as_deref(), Some("edit"));
    let instance = &stack_spec.net_stack_instance;
    assert_eq!(instance.key.as_deref(), Some("vSphereProvisioning"));
    assert_eq!(instance.requested_max_number_of_connections, Some(20000));
    assert_eq!(instance.congestion_control_algorithm.as_deref(), Some("cubic"));
    let gateways = instance.ip_route_config.as_deref().unwrap().get_host_ip_route_config();
    assert_eq!(gateways.default_gateway.as_deref(), Some("10.0.0.1"));
    assert_eq!(gateways.ip_v_6_default_gateway, None);
    let dns = instance.dns_config.as_deref().unwrap().get_host_dns_config();
    assert_eq!((dns.host_name.as_str(), dns.domain_name.as_str()), ("esx01", "lab"));
    assert_eq!(dns.address.as_deref(), Some(&["10.0.0.53".to_owned()][..]));
    let table = instance.route_table_config.as_ref().unwrap();
    let ipv4: Vec<(String, String, i32)> = table
        .ip_route
        .iter()
        .flatten()
        .map(|op| {
            (
                op.change_operation.clone(),
                op.route.network.clone(),
                op.route.prefix_length,
            )
        })
        .collect();
    assert_eq!(ipv4, [("remove".to_owned(), "10.230.0.0".to_owned(), 16)]);
    let ipv6: Vec<(String, String, String)> = table
        .ipv_6_route
        .iter()
        .flatten()
        .map(|op| {
            (
                op.change_operation.clone(),
                op.route.network.clone(),
                op.route.gateway.clone(),
            )
        })
        .collect();
    assert_eq!(
        ipv6,
        [("add".to_owned(), "2001:db8:99::".to_owned(), "2001:db8::fe".to_owned())]
    );
}

/// `config.network` of a freshly installed ESXi 6.7 host as `govc host.info` captured it (D67 in
/// the reference on real hosts): vmk0 with vmnic0's MAC, router advertisement on, a learned IPv6
/// default gateway and ESXi's own routes in the default stack's `routeTableConfig`.
fn d67_network_info() -> HostNetworkInfo {
    unmarshal(Transport::Json, include_bytes!("fixtures/d67-network-info.json")).expect("the D67 fixture parses")
}

fn d67_host(network: HostNetworkInfo) -> esxnet_model::observed::ObservedHost {
    let raw = RawHost {
        network: Some(network),
        version: Some("6.7.0".to_owned()),
        ..raw_host(None)
    };
    map::observed_host(&raw, None, &[]).expect("the D67 host lowers")
}

fn route_entry(network: &str, prefix_length: i32, gateway: &str, device: &str) -> HostIpRouteOp {
    HostIpRouteOp {
        change_operation: "ignore".to_owned(),
        route: HostIpRouteEntry {
            network: network.to_owned(),
            prefix_length,
            gateway: gateway.to_owned(),
            device_name: Some(device.to_owned()),
        },
    }
}

fn default_stack_instance(network: &mut HostNetworkInfo) -> &mut HostNetStackInstance {
    network
        .net_stack_instance
        .iter_mut()
        .flatten()
        .find(|instance| instance.key.as_deref() == Some("defaultTcpipStack"))
        .expect("D67 has a default stack")
}

#[test]
fn the_system_routes_of_a_real_default_stack_are_not_static_routes() {
    let host = d67_host(d67_network_info());
    let default = host.stack(StackKind::Default).unwrap();
    // Every row of D67's table is ESXi's own: connected subnets, the RA-learned default route,
    // link-local routes on lo0 and vmk0, multicast routes via ::1 on lo0 and via vmk0's link-local.
    assert_eq!(default.routes, Vec::<Route>::new());
    assert_eq!(default.ipv4_gateway, None);
    assert_eq!(default.ipv6_gateway, Some("fe80::64f:4cff:fe8c:1fbf".parse().unwrap()));
    assert!(default.ipv6_gateway_from_router_advertisement);
    assert_eq!(
        default.dns.servers,
        ["192.168.100.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(!default.dns_from_dhcp);
    assert_eq!(
        (default.dns_host_name.as_str(), default.dns_domain_name.as_str()),
        ("localhost", "")
    );
    // The two unused stacks exist, nameless and without a route table, and are not instantiated
    // (no runtime info: instantiated means "has an adapter").
    for stack in [StackKind::Vmotion, StackKind::Provisioning] {
        let observed = host.stack(stack).unwrap();
        assert!(!observed.instantiated, "{stack}");
        assert!(observed.routes.is_empty() && observed.ipv6_gateway.is_none(), "{stack}");
    }
    assert!(host.ipv6_enabled);
    let vmk0 = host.adapter("vmk0").unwrap();
    assert_eq!(vmk0.mac, host.physical_nics[0].mac);
    assert!(!vmk0.system_owned);
    assert!(vmk0.ipv6.router_advertisement && !vmk0.ipv6.dhcp);
    // Computed addresses (link-local "other", SLAAC "linklayer", DHCPv6) are observed, none manual.
    assert_eq!(vmk0.ipv6.addresses.len(), 3);
    assert!(vmk0.ipv6.manual_addresses().is_empty());
}

#[test]
fn static_routes_are_kept_among_the_system_routes() {
    let mut network = d67_network_info();
    let table = default_stack_instance(&mut network)
        .route_table_config
        .as_mut()
        .unwrap();
    table
        .ip_route
        .get_or_insert_with(Vec::new)
        .push(route_entry("10.99.0.0", 16, "192.168.100.254", "vmk0"));
    table.ipv_6_route.get_or_insert_with(Vec::new).push(route_entry(
        "2001:db8:99::",
        48,
        "2001:268:c00a:c109::fe",
        "vmk0",
    ));
    // A static route via a link-local gateway is still static: only its destination could make it ESXi's.
    table
        .ipv_6_route
        .get_or_insert_with(Vec::new)
        .push(route_entry("2001:db8:77::", 48, "fe80::1", "vmk0"));
    let host = d67_host(network);
    let routes: Vec<String> = host
        .stack(StackKind::Default)
        .unwrap()
        .routes
        .iter()
        .map(|route| format!("{} via {}", route.destination, route.gateway))
        .collect();
    assert_eq!(
        routes,
        [
            "10.99.0.0/16 via 192.168.100.254",
            "2001:db8:77::/48 via fe80::1",
            "2001:db8:99::/48 via 2001:268:c00a:c109::fe",
        ]
    );
}

#[test]
fn the_system_route_rule_row_by_row() {
    let system = |destination: &str, gateway: &str, device: &str| {
        map::is_system_route(destination.parse().unwrap(), gateway.parse().unwrap(), Some(device))
    };
    // D67's rows.
    assert!(system("192.168.100.0/24", "0.0.0.0", "vmk0"));
    assert!(system("::/0", "fe80::64f:4cff:fe8c:1fbf", "vmk0"));
    assert!(system("2001:268:c00a:c109::/64", "::", "vmk0"));
    assert!(system("fe80::/64", "::", "lo0"));
    assert!(system("fe80::/64", "::", "vmk0"));
    assert!(system("ff01::/32", "::1", "lo0"));
    assert!(system("ff02::/32", "::1", "lo0"));
    assert!(system("ff01::/32", "fe80::a00:27ff:fe26:1f9", "vmk0"));
    assert!(system("ff02::/32", "fe80::a00:27ff:fe26:1f9", "vmk0"));
    // An IPv4 default route and IPv4 loopback, link-local and multicast routes.
    assert!(system("0.0.0.0/0", "192.168.100.1", "vmk0"));
    assert!(system("127.0.0.0/8", "127.0.0.1", "lo0"));
    assert!(system("169.254.0.0/16", "0.0.0.0", "vmk1"));
    assert!(system("224.0.0.0/4", "192.168.100.1", "vmk0"));
    // Static routes.
    assert!(!system("10.99.0.0/16", "192.168.100.254", "vmk0"));
    assert!(!system("2001:db8:99::/48", "2001:268:c00a:c109::fe", "vmk0"));
    assert!(!system("2001:db8:77::/48", "fe80::1", "vmk0"));
}

#[test]
fn dhcp_dns_and_an_ipv6_disabled_host_are_observed() {
    let mut network = d67_network_info();
    let dns = HostDnsConfig {
        dhcp: true,
        virtual_nic_device: Some("vmk0".to_owned()),
        ipv_6_virtual_nic_device: None,
        host_name: "esx67".to_owned(),
        domain_name: "lab.example".to_owned(),
        address: Some(vec!["192.168.100.1".to_owned()]),
        search_domain: Some(vec!["lab.example".to_owned()]),
    };
    default_stack_instance(&mut network).dns_config = Some(Box::new(dns));
    let default = d67_host(network).stack(StackKind::Default).unwrap().clone();
    assert!(default.dns_from_dhcp);
    assert_eq!(default.dns.search_domains, ["lab.example"]);
    assert_eq!(
        (default.dns_host_name.as_str(), default.dns_domain_name.as_str()),
        ("esx67", "lab.example")
    );

    // IPv6 off: the host says so and adapters carry no ipV6Config.
    let mut json: serde_json::Value = serde_json::from_slice(include_bytes!("fixtures/d67-network-info.json")).unwrap();
    json["ipV6Enabled"] = false.into();
    json["atBootIpV6Enabled"] = false.into();
    for adapter in json["vnic"].as_array_mut().unwrap() {
        adapter["spec"]["ip"].as_object_mut().unwrap().remove("ipV6Config");
    }
    for instance in json["netStackInstance"].as_array_mut().unwrap() {
        if instance["key"] == "defaultTcpipStack" {
            instance["routeTableConfig"]
                .as_object_mut()
                .unwrap()
                .remove("ipv6Route");
            instance["ipRouteConfig"] = serde_json::json!({
                "_typeName": "HostIpRouteConfig", "defaultGateway": "192.168.100.1", "gatewayDevice": "vmk0"
            });
        }
    }
    let network: HostNetworkInfo =
        unmarshal(Transport::Json, json.to_string().as_bytes()).expect("the IPv6-less fixture parses");
    let host = d67_host(network);
    assert!(!host.ipv6_enabled);
    let vmk0 = host.adapter("vmk0").unwrap();
    assert!(!vmk0.ipv6.router_advertisement && vmk0.ipv6.addresses.is_empty());
    let default = host.stack(StackKind::Default).unwrap();
    assert_eq!(default.ipv4_gateway, Some("192.168.100.1".parse().unwrap()));
    assert!(default.ipv6_gateway.is_none() && !default.ipv6_gateway_from_router_advertisement);
}

/// The settings a stack edit sends for a stack that stays as observed.
fn unchanged_settings(stack: &ObservedStack) -> StackSettings {
    StackSettings {
        ipv4_gateway: stack.ipv4_gateway,
        ipv6_gateway: stack.ipv6_gateway,
        dns: stack.dns.clone(),
        routes: stack.routes.clone(),
        requested_max_connections: stack.requested_max_connections,
        congestion_control: stack.congestion_control,
    }
}

fn instance_of(config: &vim_rs::types::structs::HostNetworkConfig) -> &HostNetStackInstance {
    &config.net_stack_spec.as_ref().unwrap()[0].net_stack_instance
}

#[test]
fn stack_edits_on_a_real_default_stack_send_only_what_changes() {
    let mut network = d67_network_info();
    default_stack_instance(&mut network).dns_config = Some(Box::new(HostDnsConfig {
        dhcp: true,
        virtual_nic_device: Some("vmk0".to_owned()),
        ipv_6_virtual_nic_device: None,
        host_name: "localhost".to_owned(),
        domain_name: String::new(),
        address: Some(vec!["192.168.100.1".to_owned()]),
        search_domain: None,
    }));
    let host = d67_host(network);
    let current = host.stack(StackKind::Default).unwrap();

    // A route added: only that one route operation, no DNS (learned through DHCP), no gateways
    // (the IPv6 one learned from router advertisement), none of ESXi's own routes removed.
    let mut settings = unchanged_settings(current);
    settings.routes.push(Route {
        destination: "10.99.0.0/16".parse().unwrap(),
        gateway: "192.168.100.254".parse().unwrap(),
    });
    let config = spec::stack_config(StackKind::Default, &settings, Some(current));
    let instance = instance_of(&config);
    assert_eq!(instance.key.as_deref(), Some("defaultTcpipStack"));
    assert!(instance.dns_config.is_none());
    assert!(instance.ip_route_config.is_none());
    assert!(instance.requested_max_number_of_connections.is_none());
    assert!(instance.congestion_control_algorithm.is_none());
    let table = instance.route_table_config.as_ref().unwrap();
    assert!(table.ipv_6_route.is_none());
    let operations: Vec<(String, String)> = table
        .ip_route
        .iter()
        .flatten()
        .map(|op| (op.change_operation.clone(), op.route.network.clone()))
        .collect();
    assert_eq!(operations, [("add".to_owned(), "10.99.0.0".to_owned())]);

    // Congestion control alone: only that field.
    let mut settings = unchanged_settings(current);
    settings.congestion_control = CongestionControl::Cubic;
    let config = spec::stack_config(StackKind::Default, &settings, Some(current));
    let instance = instance_of(&config);
    assert_eq!(instance.congestion_control_algorithm.as_deref(), Some("cubic"));
    assert!(instance.dns_config.is_none() && instance.ip_route_config.is_none());
    assert!(instance.route_table_config.is_none() && instance.requested_max_number_of_connections.is_none());

    // Nothing changes: an edit that sends nothing.
    let config = spec::stack_config(StackKind::Default, &unchanged_settings(current), Some(current));
    let instance = instance_of(&config);
    assert!(instance.dns_config.is_none() && instance.ip_route_config.is_none());
    assert!(instance.route_table_config.is_none() && instance.congestion_control_algorithm.is_none());

    // The IPv4 gateway changes: the learned IPv6 gateway is not sent back as a static one.
    let mut settings = unchanged_settings(current);
    settings.ipv4_gateway = Some("192.168.100.1".parse().unwrap());
    let config = spec::stack_config(StackKind::Default, &settings, Some(current));
    let gateways = instance_of(&config)
        .ip_route_config
        .as_deref()
        .unwrap()
        .get_host_ip_route_config();
    assert_eq!(gateways.default_gateway.as_deref(), Some("192.168.100.1"));
    assert_eq!(gateways.ip_v_6_default_gateway, None);

    // A static IPv6 gateway replacing the learned one is sent.
    let mut settings = unchanged_settings(current);
    settings.ipv6_gateway = Some("2001:268:c00a:c109::1".parse().unwrap());
    let config = spec::stack_config(StackKind::Default, &settings, Some(current));
    let gateways = instance_of(&config)
        .ip_route_config
        .as_deref()
        .unwrap()
        .get_host_ip_route_config();
    assert_eq!(
        gateways.ip_v_6_default_gateway.as_deref(),
        Some("2001:268:c00a:c109::1")
    );

    // DNS servers declared: DNS becomes static, the host name is kept.
    let mut settings = unchanged_settings(current);
    settings.dns.servers = vec!["192.168.100.53".parse().unwrap()];
    let config = spec::stack_config(StackKind::Default, &settings, Some(current));
    let dns = instance_of(&config)
        .dns_config
        .as_deref()
        .unwrap()
        .get_host_dns_config();
    assert!(!dns.dhcp);
    assert_eq!(dns.host_name, "localhost");
    assert_eq!(dns.address.as_deref(), Some(&["192.168.100.53".to_owned()][..]));
}

#[test]
fn a_static_ipv6_gateway_is_sent_along_when_the_ipv4_gateway_changes() {
    let mut network = d67_network_info();
    // A static IPv6 gateway: global, and no interface named as for a learned one.
    default_stack_instance(&mut network).ip_route_config = Some(Box::new(HostIpRouteConfig {
        default_gateway: None,
        gateway_device: None,
        ip_v_6_default_gateway: Some("2001:268:c00a:c109::1".to_owned()),
        ip_v_6_gateway_device: None,
    }));
    let host = d67_host(network);
    let current = host.stack(StackKind::Default).unwrap();
    assert!(!current.ipv6_gateway_from_router_advertisement);
    let mut settings = unchanged_settings(current);
    settings.ipv4_gateway = Some("192.168.100.1".parse().unwrap());
    let config = spec::stack_config(StackKind::Default, &settings, Some(current));
    let gateways = instance_of(&config)
        .ip_route_config
        .as_deref()
        .unwrap()
        .get_host_ip_route_config();
    // `ipRouteConfig` replaces both gateways: leaving the static one out would remove it.
    assert_eq!(
        gateways.ip_v_6_default_gateway.as_deref(),
        Some("2001:268:c00a:c109::1")
    );
    assert_eq!(gateways.default_gateway.as_deref(), Some("192.168.100.1"));
}

#[test]
fn network_info_without_adapters_stacks_or_nics_is_incomplete() {
    assert!(map::is_complete_network_info(Some(&fixture())));
    // vcsim's HostNetworkSystem.networkInfo: switches and port groups only.
    let mut partial = fixture();
    partial.vnic = None;
    partial.pnic = None;
    partial.net_stack_instance = None;
    assert!(!map::is_complete_network_info(Some(&partial)));
    assert!(!map::is_complete_network_info(None));
}

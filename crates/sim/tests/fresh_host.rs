//! A fresh simulated host looks like a freshly installed real ESXi host (the D67 capture in the
//! reference on real hosts), and what it learned by itself survives edits of something else.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;

use common::{fresh_host, static_ipv4, ESXI_8};
use esxnet_executor::backend::{Ipv6Settings, StackSettings};
use esxnet_executor::Fault;
use esxnet_model::common::{CongestionControl, Dns, Route, StackKind};
use esxnet_model::observed::{ObservedStack, PortConnection};
use esxnet_sim::routing::{self, RouteTableEntry};
use esxnet_sim::{FreshHostOptions, HostNames, InitOptions, Lab, NewAdapter, SimHost};

fn rows(table: &[RouteTableEntry]) -> Vec<String> {
    table
        .iter()
        .map(|entry| {
            format!(
                "{} via {} on {}{}",
                entry.destination,
                entry.gateway,
                entry.device,
                if entry.system { "" } else { " (static)" }
            )
        })
        .collect()
}

fn default_stack(host: &SimHost) -> &ObservedStack {
    host.observed().stack(StackKind::Default).unwrap()
}

fn settings_of(stack: &ObservedStack) -> StackSettings {
    StackSettings {
        ipv4_gateway: stack.ipv4_gateway,
        ipv6_gateway: stack.ipv6_gateway,
        dns: stack.dns.clone(),
        routes: stack.routes.clone(),
        requested_max_connections: stack.requested_max_connections,
        congestion_control: stack.congestion_control,
    }
}

#[test]
fn a_fresh_host_reports_what_a_fresh_esxi_host_reports() {
    let host = fresh_host();
    let observed = host.observed();
    assert!(observed.ipv6_enabled);
    let vmk0 = observed.adapter("vmk0").unwrap();
    assert_eq!(vmk0.mac, observed.physical_nics[0].mac, "vmk0 takes vmnic0's MAC");
    assert!(vmk0.ipv6.router_advertisement && !vmk0.ipv6.dhcp);
    let link_local = vmk0
        .ipv6
        .addresses
        .iter()
        .map(|address| address.address)
        .find(|address| address.addr().segments()[0] == 0xfe80)
        .expect("a link-local address");
    assert!(vmk0.ipv6.manual_addresses().is_empty());

    let default = default_stack(&host);
    let router = default
        .ipv6_gateway
        .expect("an IPv6 gateway learned from router advertisement");
    assert!(default.ipv6_gateway_from_router_advertisement);
    assert_eq!(router.segments()[0], 0xfe80);
    assert!(!default.dns_from_dhcp);
    assert_eq!(default.dns.servers.len(), 1);
    assert_eq!(default.dns_host_name, "esx-1");
    assert!(default.routes.is_empty());
    for stack in [StackKind::Vmotion, StackKind::Provisioning] {
        let unused = observed.stack(stack).unwrap();
        assert!(!unused.instantiated, "{stack}");
        assert_eq!(routing::route_table(observed, unused), None, "{stack} has no table yet");
    }

    let table = routing::route_table(observed, default).unwrap();
    let link_local = link_local.addr();
    assert_eq!(
        rows(&table),
        [
            "10.10.0.0/16 via 0.0.0.0 on vmk0".to_owned(),
            "0.0.0.0/0 via 10.10.0.1 on vmk0".to_owned(),
            format!("::/0 via {router} on vmk0"),
            "fe80::/64 via :: on lo0".to_owned(),
            "ff01::/32 via ::1 on lo0".to_owned(),
            "ff02::/32 via ::1 on lo0".to_owned(),
            "fe80::/64 via :: on vmk0".to_owned(),
            format!("ff01::/32 via {link_local} on vmk0"),
            format!("ff02::/32 via {link_local} on vmk0"),
        ]
    );
}

#[test]
fn learned_dns_and_gateway_survive_edits_of_something_else_and_become_static_when_changed() {
    let mut host = SimHost::new_installed_with(
        "esx-1.lab.example",
        1,
        &FreshHostOptions {
            dns_from_dhcp: true,
            ..FreshHostOptions::new(ESXI_8)
        },
    )
    .unwrap();
    let fresh = default_stack(&host).clone();
    assert!(fresh.dns_from_dhcp);
    assert_eq!(
        (fresh.dns_host_name.as_str(), fresh.dns_domain_name.as_str()),
        ("esx-1", "lab.example")
    );

    let route = Route {
        destination: "10.99.0.0/16".parse().unwrap(),
        gateway: "10.10.0.254".parse().unwrap(),
    };
    let mut settings = settings_of(&fresh);
    settings.routes = vec![route.clone()];
    settings.congestion_control = CongestionControl::Cubic;
    settings.ipv4_gateway = Some("10.10.0.3".parse().unwrap());
    host.edit_stack(StackKind::Default, &settings).unwrap();
    let edited = default_stack(&host);
    assert!(edited.dns_from_dhcp && edited.ipv6_gateway_from_router_advertisement);
    assert_eq!((&edited.dns, edited.ipv6_gateway), (&fresh.dns, fresh.ipv6_gateway));
    assert_eq!(edited.routes, std::slice::from_ref(&route));
    let table = routing::route_table(host.observed(), edited).unwrap();
    assert!(rows(&table).contains(&"10.99.0.0/16 via 10.10.0.254 on vmk0 (static)".to_owned()));

    // Declared DNS and IPv6 gateway replace the learned ones and are static from then on.
    let mut settings = settings_of(default_stack(&host));
    settings.dns = Dns {
        servers: vec!["10.10.0.53".parse().unwrap()],
        search_domains: vec!["lab.example".into()],
    };
    settings.ipv6_gateway = Some("fe80::1".parse().unwrap());
    host.edit_stack(StackKind::Default, &settings).unwrap();
    let edited = default_stack(&host);
    assert!(!edited.dns_from_dhcp && !edited.ipv6_gateway_from_router_advertisement);
    assert_eq!(edited.dns_host_name, "esx-1", "the DNS names are kept");
    assert_eq!(edited.ipv6_gateway, Some("fe80::1".parse().unwrap()));
}

#[test]
fn a_host_with_ipv6_disabled_has_no_ipv6_and_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::init(
        dir.path(),
        &InitOptions {
            hosts: HostNames::Count(1),
            ipv6_enabled: false,
            ..InitOptions::default()
        },
    )
    .unwrap();
    let mut host = lab.load_host("esx-1").unwrap();
    drop(lab);
    let observed = host.observed();
    assert!(!observed.ipv6_enabled);
    let vmk0 = observed.adapter("vmk0").unwrap();
    assert!(!vmk0.ipv6.router_advertisement && vmk0.ipv6.addresses.is_empty());
    let default = default_stack(&host);
    assert_eq!(default.ipv6_gateway, None);
    let table = routing::route_table(observed, default).unwrap();
    assert!(
        table.iter().all(|entry| matches!(entry.gateway, IpAddr::V4(_))),
        "{table:?}"
    );

    let new_adapter = |ipv6: Option<Ipv6Settings>| NewAdapter {
        connection: PortConnection::Standard {
            switch: "vSwitch0".into(),
            port_group: "Management Network".into(),
        },
        stack: StackKind::Default,
        mtu: 1500,
        ipv4: static_ipv4([10, 10, 0, 99], 16),
        ipv6,
    };
    host.add_port_group("Storage", "vSwitch0", 0).unwrap();
    let storage = |ipv6: Option<Ipv6Settings>| NewAdapter {
        connection: PortConnection::Standard {
            switch: "vSwitch0".into(),
            port_group: "Storage".into(),
        },
        ..new_adapter(ipv6)
    };
    let with_ipv6 = Ipv6Settings {
        dhcp: false,
        router_advertisement: true,
        addresses: BTreeSet::new(),
        gateway_override: None,
    };
    let error = host.add_virtual_nic(&storage(Some(with_ipv6))).unwrap_err();
    assert_eq!(error.fault(), Fault::InvalidState, "{error}");
    // Without IPv6 settings, router advertisement stays off.
    let device = host.add_virtual_nic(&storage(None)).unwrap();
    assert!(!host.observed().adapter(&device).unwrap().ipv6.router_advertisement);

    let mut settings = settings_of(default_stack(&host));
    settings.ipv6_gateway = Some("fe80::1".parse().unwrap());
    let error = host.edit_stack(StackKind::Default, &settings).unwrap_err();
    assert_eq!(error.fault(), Fault::InvalidState, "{error}");
}

#[test]
fn routes_shaped_like_esxis_own_are_refused_as_static_routes() {
    let mut host = fresh_host();
    for (destination, gateway) in [
        ("0.0.0.0/0", "10.10.0.254"),
        ("224.0.0.0/4", "10.10.0.254"),
        ("169.254.0.0/16", "10.10.0.254"),
        ("ff02::/32", "fe80::1"),
        ("fe80::/64", "fe80::1"),
        ("10.98.0.0/16", "0.0.0.0"),
    ] {
        let mut settings = settings_of(default_stack(&host));
        settings.routes = vec![Route {
            destination: destination.parse().unwrap(),
            gateway: gateway.parse().unwrap(),
        }];
        let error = host.edit_stack(StackKind::Default, &settings).unwrap_err();
        assert_eq!(
            error.fault(),
            Fault::InvalidArgument,
            "{destination} via {gateway}: {error}"
        );
    }
    assert_eq!(host, fresh_host());
}

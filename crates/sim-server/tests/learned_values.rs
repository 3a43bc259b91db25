//! Values a host learned by itself — DNS from DHCP, an IPv6 default gateway from router
//! advertisement, the routes ESXi computes — survive stack edits that change something else, over
//! both paths: the simulator backend (`sim:`) and the vSphere backend against the served lab.
//!
//! The server is strict about `UpdateNetworkConfig`: a section it is not sent stays as it is, an
//! IPv6 gateway it is sent becomes static and `dnsConfig{dhcp: false}` makes DNS static. So a
//! client that echoes a learned value back fails here, and one that leaves out a static one too.

use std::net::Ipv4Addr;
use std::path::Path;

use esxnet_executor::backend::StackSettings;
use esxnet_executor::{Backend, Operation};
use esxnet_model::common::{CongestionControl, Route, StackKind};
use esxnet_model::observed::{ObservedHost, ObservedStack};
use esxnet_sim::routing::{self, RouteTableEntry};
use esxnet_sim::{HostNames, InitOptions, Lab, SimBackend, SimHost, StackEdit, StackGateways};
use esxnet_sim_server::{serve, ServeOptions};
use esxnet_vsphere::{Password, VsphereBackend, VsphereTarget};

const USER: &str = "root";
const PASSWORD: &str = "simulated-secret";
const HOST: &str = "esx-1";

/// A one-host lab whose default stack learned its DNS through DHCP (and, as every fresh host, its
/// IPv6 gateway from router advertisement).
fn new_lab(dir: &Path) {
    let options = InitOptions {
        hosts: HostNames::Count(1),
        dns_from_dhcp: true,
        ..InitOptions::default()
    };
    drop(Lab::init(dir, &options).expect("lab init"));
}

fn default_stack(host: &ObservedHost) -> &ObservedStack {
    host.stack(StackKind::Default).expect("the default stack")
}

/// The routes ESXi computes for the default stack, as the lab holds it now, but for the IPv4
/// default route, which follows the IPv4 gateway (checked on its own).
fn system_routes(dir: &Path) -> Vec<RouteTableEntry> {
    let host = Lab::open(dir).expect("lab").observe(HOST).expect("host");
    let stack = default_stack(&host);
    let table = routing::route_table(&host, stack).expect("the default stack has a table");
    let ipv4_default_routes: Vec<&RouteTableEntry> = table
        .iter()
        .filter(|entry| entry.destination.to_string() == "0.0.0.0/0")
        .collect();
    assert_eq!(ipv4_default_routes.len(), 1, "{table:?}");
    assert_eq!(
        Some(ipv4_default_routes[0].gateway),
        stack.ipv4_gateway.map(std::net::IpAddr::V4)
    );
    table
        .iter()
        .filter(|entry| entry.system && entry.destination.to_string() != "0.0.0.0/0")
        .cloned()
        .collect()
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

/// Edits the default stack the way the executor does (with the host as it carries it) and
/// answers the host observed afterwards.
fn edit(backend: &dyn Backend, current: &ObservedHost, settings: StackSettings) -> ObservedHost {
    let operation = Operation::EditStack {
        stack: StackKind::Default,
        settings,
    };
    backend
        .execute_with_state(current, &operation)
        .unwrap_or_else(|error| panic!("{operation}: {error:?}"));
    backend.observe(HOST).expect("observe")
}

/// Route, congestion-control and connection-limit changes, then an IPv4 gateway change, then the
/// route removed again: learned DNS, the learned IPv6 gateway and ESXi's routes never move.
fn learned_values_survive_stack_edits(backend: &dyn Backend, lab_dir: &Path, path: &str) {
    let fresh = backend.observe(HOST).expect("observe the fresh host");
    let fresh_stack = default_stack(&fresh).clone();
    assert!(fresh_stack.dns_from_dhcp, "{path}: the lab learned DNS through DHCP");
    assert!(!fresh_stack.dns.servers.is_empty(), "{path}");
    assert!(fresh_stack.ipv6_gateway_from_router_advertisement, "{path}");
    assert!(fresh_stack.ipv6_gateway.is_some(), "{path}");
    assert!(
        fresh_stack.routes.is_empty(),
        "{path}: ESXi's own routes are not static routes"
    );
    let fresh_system_routes = system_routes(lab_dir);
    assert!(
        fresh_system_routes
            .iter()
            .any(|entry| entry.destination.to_string() == "ff02::/32"),
        "{path}: {fresh_system_routes:?}"
    );
    let learned_unchanged = |host: &ObservedHost, step: &str| {
        let stack = default_stack(host);
        assert!(stack.dns_from_dhcp, "{path}, {step}: DNS is still learned through DHCP");
        assert_eq!(stack.dns, fresh_stack.dns, "{path}, {step}");
        assert_eq!(
            (stack.dns_host_name.as_str(), stack.dns_domain_name.as_str()),
            (fresh_stack.dns_host_name.as_str(), fresh_stack.dns_domain_name.as_str()),
            "{path}, {step}"
        );
        assert!(
            stack.ipv6_gateway_from_router_advertisement,
            "{path}, {step}: the IPv6 gateway is still learned, not static"
        );
        assert_eq!(stack.ipv6_gateway, fresh_stack.ipv6_gateway, "{path}, {step}");
        assert_eq!(system_routes(lab_dir), fresh_system_routes, "{path}, {step}");
    };

    let route = Route {
        destination: "10.99.0.0/16".parse().unwrap(),
        gateway: "10.10.0.254".parse().unwrap(),
    };
    let mut settings = settings_of(&fresh_stack);
    settings.routes = vec![route.clone()];
    settings.congestion_control = CongestionControl::Cubic;
    settings.requested_max_connections = 20000;
    let routed = edit(backend, &fresh, settings);
    learned_unchanged(&routed, "after a route, congestion-control and connection-limit change");
    let stack = default_stack(&routed);
    assert_eq!(stack.routes, std::slice::from_ref(&route), "{path}");
    assert_eq!(stack.congestion_control, CongestionControl::Cubic, "{path}");
    assert_eq!(stack.requested_max_connections, 20000, "{path}");

    let mut settings = settings_of(default_stack(&routed));
    settings.ipv4_gateway = Some(Ipv4Addr::new(10, 10, 0, 3));
    let regatewayed = edit(backend, &routed, settings);
    learned_unchanged(&regatewayed, "after an IPv4 gateway change");
    assert_eq!(
        default_stack(&regatewayed).ipv4_gateway,
        Some(Ipv4Addr::new(10, 10, 0, 3)),
        "{path}"
    );
    assert_eq!(default_stack(&regatewayed).routes, [route], "{path}");

    let mut settings = settings_of(default_stack(&regatewayed));
    settings.routes.clear();
    let unrouted = edit(backend, &regatewayed, settings);
    learned_unchanged(&unrouted, "after the route is removed");
    assert!(default_stack(&unrouted).routes.is_empty(), "{path}");
}

#[test]
fn learned_values_survive_stack_edits_through_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    new_lab(dir.path());
    let backend = SimBackend::open_writer(dir.path()).expect("sim backend");
    learned_values_survive_stack_edits(&backend, dir.path(), "sim:");
}

#[test]
fn learned_values_survive_stack_edits_through_the_vsphere_api() {
    let dir = tempfile::tempdir().unwrap();
    new_lab(dir.path());
    let server = serve(ServeOptions::new(dir.path(), USER, PASSWORD)).expect("server starts");
    let target = VsphereTarget::parse(&format!(
        "vsphere://{USER}@{}?insecure=true&transport=json",
        server.server_address()
    ))
    .expect("target");
    let backend = VsphereBackend::connect(&target, &Password::new(PASSWORD)).expect("vSphere backend connects");
    learned_values_survive_stack_edits(&backend, dir.path(), "vSphere");
    backend.close().expect("logout");
    server.stop().expect("server stops");
}

/// The server's side of the contract, which the tests above rely on to catch a careless client.
#[test]
fn echoed_learned_values_become_static_and_system_routes_cannot_be_removed() {
    let fresh = SimHost::new_installed_with(
        "esx-1",
        1,
        &esxnet_sim::FreshHostOptions {
            dns_from_dhcp: true,
            ..esxnet_sim::FreshHostOptions::new(esxnet_model::common::EsxiVersion::new(8, 0, 3))
        },
    )
    .unwrap();
    let stack = default_stack(fresh.observed()).clone();

    // The learned IPv6 gateway sent back: static from now on.
    let mut host = fresh.clone();
    host.update_stack(
        StackKind::Default,
        &StackEdit {
            gateways: Some(StackGateways {
                ipv4: stack.ipv4_gateway,
                ipv6: stack.ipv6_gateway,
            }),
            ..StackEdit::default()
        },
    )
    .unwrap();
    let edited = default_stack(host.observed());
    assert_eq!(edited.ipv6_gateway, stack.ipv6_gateway);
    assert!(!edited.ipv6_gateway_from_router_advertisement);

    // Gateways sent without the learned IPv6 one: it stays learned.
    let mut host = fresh.clone();
    host.update_stack(
        StackKind::Default,
        &StackEdit {
            gateways: Some(StackGateways {
                ipv4: stack.ipv4_gateway,
                ipv6: None,
            }),
            ..StackEdit::default()
        },
    )
    .unwrap();
    assert_eq!(default_stack(host.observed()), &stack);

    // A static IPv6 gateway left out of the gateways sent: removed, as ipRouteConfig replaces both.
    let mut host = fresh.clone();
    let static_gateway = Some("fe80::1".parse().unwrap());
    let with_static = StackEdit {
        gateways: Some(StackGateways {
            ipv4: stack.ipv4_gateway,
            ipv6: static_gateway,
        }),
        ..StackEdit::default()
    };
    host.update_stack(StackKind::Default, &with_static).unwrap();
    assert_eq!(default_stack(host.observed()).ipv6_gateway, static_gateway);
    host.update_stack(
        StackKind::Default,
        &StackEdit {
            gateways: Some(StackGateways {
                ipv4: Some(Ipv4Addr::new(10, 10, 0, 3)),
                ipv6: None,
            }),
            ..StackEdit::default()
        },
    )
    .unwrap();
    assert_eq!(default_stack(host.observed()).ipv6_gateway, None);

    // DNS sent back with dhcp false: static from now on.
    let mut host = fresh.clone();
    host.update_stack(
        StackKind::Default,
        &StackEdit {
            dns: Some(esxnet_sim::DnsEdit {
                dhcp: false,
                host_name: stack.dns_host_name.clone(),
                domain_name: stack.dns_domain_name.clone(),
                dns: stack.dns.clone(),
            }),
            ..StackEdit::default()
        },
    )
    .unwrap();
    assert!(!default_stack(host.observed()).dns_from_dhcp);

    // Removing one of ESXi's own routes is refused; a route that is not there is not found.
    let mut host = fresh.clone();
    let table = routing::route_table(host.observed(), &stack).unwrap();
    let multicast = table
        .iter()
        .find(|entry| entry.destination.to_string() == "ff02::/32" && entry.device == "vmk0")
        .expect("ff02::/32 via vmk0's link-local address");
    let error = host
        .update_stack(
            StackKind::Default,
            &StackEdit {
                routes: vec![esxnet_sim::RouteChange::Remove(Route {
                    destination: multicast.destination,
                    gateway: multicast.gateway,
                })],
                ..StackEdit::default()
            },
        )
        .unwrap_err();
    assert_eq!(error.fault(), esxnet_executor::Fault::InvalidArgument, "{error}");
    let error = host
        .update_stack(
            StackKind::Default,
            &StackEdit {
                routes: vec![esxnet_sim::RouteChange::Remove(Route {
                    destination: "10.98.0.0/16".parse().unwrap(),
                    gateway: "10.10.0.254".parse().unwrap(),
                })],
                ..StackEdit::default()
            },
        )
        .unwrap_err();
    assert_eq!(error.fault(), esxnet_executor::Fault::NotFound, "{error}");
    assert_eq!(host, fresh);
}

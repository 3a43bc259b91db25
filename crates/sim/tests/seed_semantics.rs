//! The seed document's "Results" and the ESXi behaviours the planner models, driven through the
//! simulated host's public methods.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;

use common::*;
use esxnet_executor::backend::Ipv6Settings;
use esxnet_executor::Fault;
use esxnet_model::common::{CongestionControl, EsxiVersion, Route, Service, StackKind};
use esxnet_model::observed::{Ipv6Origin, MigrationKind};
use esxnet_sim::{AdapterUpdate, NewAdapter, SimHost};

fn route(destination: &str, gateway: &str) -> Route {
    Route {
        destination: destination.parse().unwrap(),
        gateway: gateway.parse::<IpAddr>().unwrap(),
    }
}

#[test]
fn a_fresh_host_looks_like_a_new_esxi_install() {
    let host = fresh_host();
    let observed = host.observed();
    assert_eq!(observed.version, EsxiVersion::new(8, 0, 3));
    let nics: Vec<&str> = observed.physical_nics.iter().map(|nic| nic.device.as_str()).collect();
    assert_eq!(nics, ["vmnic0", "vmnic1", "vmnic2", "vmnic3"]);
    assert!(observed
        .physical_nics
        .iter()
        .all(|nic| nic.link_speed_mb == Some(10_000)));
    assert!(observed
        .physical_nics
        .iter()
        .all(|nic| nic.mac.starts_with("00:50:56:")));
    let switch = observed.switch("vSwitch0").unwrap();
    assert_eq!(switch.mtu, 1500);
    assert_eq!(switch.uplinks, BTreeSet::from(["vmnic0".to_owned()]));
    assert_eq!(switch.teaming.active, ["vmnic0"]);
    let management = observed.port_group("Management Network").unwrap();
    assert_eq!((management.switch.as_str(), management.vlan), ("vSwitch0", 0));
    let vmk0 = observed.adapter("vmk0").unwrap();
    assert_eq!(vmk0.stack, StackKind::Default);
    assert_eq!(vmk0.services, BTreeSet::from([Service::Management]));
    assert_eq!(vmk0.ipv4.address, Some([10, 10, 0, 10].into()));
    assert_eq!(vmk0.ipv4.prefix_length, Some(16));
    assert!(!vmk0.ipv4.dhcp);
    let default = observed.stack(StackKind::Default).unwrap();
    assert!(default.instantiated);
    assert_eq!(default.ipv4_gateway, Some([10, 10, 0, 1].into()));
    for stack in [StackKind::Vmotion, StackKind::Provisioning] {
        assert!(!observed.stack(stack).unwrap().instantiated, "{stack}");
    }
    for stack in &observed.stacks {
        assert_eq!((stack.max_connections, stack.requested_max_connections), (11000, 11000));
        assert_eq!(stack.congestion_control, CongestionControl::Newreno);
    }
    // Hosts of one lab get distinct addresses and MACs.
    let other = SimHost::new_installed("esx-2", 2, ESXI_8).unwrap();
    assert_ne!(
        other.observed().adapter("vmk0").unwrap().ipv4.address,
        vmk0.ipv4.address
    );
    assert_ne!(other.observed().adapter("vmk0").unwrap().mac, vmk0.mac);
    assert_ne!(other.observed().physical_nics[0].mac, observed.physical_nics[0].mac);
}

#[test]
fn no_provisioning_stack_before_esxi_6_0() {
    let mut host = fresh_host_on(EsxiVersion::new(5, 5, 0));
    assert!(host.observed().stack(StackKind::Provisioning).is_none());
    add_switch_with_port_group(&mut host, "prov");
    let error = assert_refused(&mut host, Fault::NotFound, |host| {
        host.add_virtual_nic(&new_adapter(
            "prov",
            StackKind::Provisioning,
            static_ipv4([192, 168, 50, 11], 24),
        ))
    });
    assert!(error.to_string().contains("6.0.0 or later"), "{error}");
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.edit_stack(StackKind::Provisioning, &stack_settings(None))
    });
    // ESXi 6.0 has it.
    let mut host = fresh_host_on(EsxiVersion::new(6, 0, 0));
    add_adapter(&mut host, "prov", StackKind::Provisioning, [192, 168, 50, 11]);
    assert!(host.observed().stack(StackKind::Provisioning).unwrap().instantiated);
}

#[test]
fn router_advertisement_is_on_by_default_from_esxi_6_5() {
    for (version, expected) in [(EsxiVersion::new(6, 0, 0), false), (EsxiVersion::new(6, 5, 0), true)] {
        let mut host = fresh_host_on(version);
        add_switch_with_port_group(&mut host, "pg");
        let device = host
            .add_virtual_nic(&NewAdapter {
                ipv6: None,
                ..new_adapter("pg", StackKind::Default, dhcp_ipv4())
            })
            .unwrap();
        let ipv6 = &host.observed().adapter(&device).unwrap().ipv6;
        assert_eq!(ipv6.router_advertisement, expected, "ESXi {version}");
        // IPv6 in use means a link-local address, which is never declarable.
        assert_eq!(
            ipv6.addresses
                .iter()
                .any(|address| address.origin == Ipv6Origin::Linklayer),
            expected
        );
        assert!(ipv6.manual_addresses().is_empty());
        // Explicit settings win over the default.
        let device = host
            .add_virtual_nic(&NewAdapter {
                connection: standard("vSwitch1", "explicit"),
                ipv6: Some(no_ipv6()),
                ..new_adapter("explicit", StackKind::Default, dhcp_ipv4())
            })
            .map_err(|error| error.to_string());
        assert!(device.is_err(), "port group explicit does not exist yet");
        host.add_port_group("explicit", "vSwitch1", 0).unwrap();
        let device = host
            .add_virtual_nic(&new_adapter("explicit", StackKind::Default, dhcp_ipv4()))
            .unwrap();
        let ipv6 = &host.observed().adapter(&device).unwrap().ipv6;
        assert!(!ipv6.router_advertisement && ipv6.addresses.is_empty());
    }
}

#[test]
fn static_ipv6_addresses_are_manual_next_to_a_link_local_one() {
    let mut host = fresh_host();
    add_switch_with_port_group(&mut host, "v6");
    let manual: BTreeSet<ipnet::Ipv6Net> = BTreeSet::from(["2001:db8:10::11/64".parse().unwrap()]);
    let device = host
        .add_virtual_nic(&NewAdapter {
            ipv6: Some(Ipv6Settings {
                addresses: manual.clone(),
                gateway_override: Some("2001:db8:10::1".parse().unwrap()),
                ..no_ipv6()
            }),
            ..new_adapter("v6", StackKind::Default, dhcp_ipv4())
        })
        .unwrap();
    let adapter = host.observed().adapter(&device).unwrap();
    assert_eq!(adapter.ipv6.manual_addresses(), manual);
    let link_local: Vec<_> = adapter
        .ipv6
        .addresses
        .iter()
        .filter(|address| address.origin == Ipv6Origin::Linklayer)
        .collect();
    assert_eq!(link_local.len(), 1);
    assert_eq!(link_local[0].address.prefix_len(), 64);
    assert_eq!(link_local[0].address.addr().segments()[0], 0xfe80);
    // DHCP adapters have no address.
    assert_eq!(adapter.ipv4.address, None);
    assert_eq!(adapter.ipv4.prefix_length, None);
    // Update with None leaves IPv6 alone; with settings replaces it.
    host.update_virtual_nic(
        &device,
        &AdapterUpdate {
            mtu: 1500,
            ipv4: dhcp_ipv4(),
            ipv6: None,
            stack: None,
        },
    )
    .unwrap();
    assert_eq!(
        host.observed().adapter(&device).unwrap().ipv6.manual_addresses(),
        manual
    );
    host.update_virtual_nic(
        &device,
        &AdapterUpdate {
            mtu: 1500,
            ipv4: dhcp_ipv4(),
            ipv6: Some(no_ipv6()),
            stack: None,
        },
    )
    .unwrap();
    assert!(host.observed().adapter(&device).unwrap().ipv6.addresses.is_empty());
}

#[test]
fn the_first_adapter_instantiates_its_stack_which_stays_instantiated() {
    for stack in [StackKind::Vmotion, StackKind::Provisioning] {
        let mut host = fresh_host();
        let device = add_adapter(&mut host, "pg", stack, [192, 168, 50, 11]);
        assert!(host.observed().stack(stack).unwrap().instantiated);
        host.remove_virtual_nic(&device).unwrap();
        assert!(
            host.observed().stack(stack).unwrap().instantiated,
            "{stack} stays instantiated"
        );
        host.edit_stack(stack, &stack_settings(Some([192, 168, 50, 1])))
            .unwrap();
    }
}

#[test]
fn a_non_default_stack_adapter_carries_its_service_which_cannot_be_deselected() {
    for (stack, service) in [
        (StackKind::Vmotion, Service::Vmotion),
        (StackKind::Provisioning, Service::Provisioning),
    ] {
        let mut host = fresh_host();
        let device = add_adapter(&mut host, "pg", stack, [192, 168, 50, 11]);
        assert_eq!(
            host.observed().adapter(&device).unwrap().services,
            BTreeSet::from([service])
        );
        assert_refused(&mut host, Fault::InvalidArgument, |host| {
            host.deselect_service(&device, service)
        });
    }
    // Default-stack adapters start with no service.
    let mut host = fresh_host();
    let device = add_adapter(&mut host, "pg", StackKind::Default, [192, 168, 50, 11]);
    assert!(host.observed().adapter(&device).unwrap().services.is_empty());
}

#[test]
fn the_first_provisioning_adapter_deactivates_provisioning_on_default_stack_adapters() {
    let mut host = fresh_host();
    let default_device = add_adapter(&mut host, "nfc", StackKind::Default, [192, 168, 20, 11]);
    host.select_service("vmk0", Service::Provisioning).unwrap();
    host.select_service(&default_device, Service::Provisioning).unwrap();
    host.select_service(&default_device, Service::Vmotion).unwrap();
    add_adapter(&mut host, "prov", StackKind::Provisioning, [192, 168, 50, 11]);
    let observed = host.observed();
    assert_eq!(
        observed.adapter("vmk0").unwrap().services,
        BTreeSet::from([Service::Management])
    );
    // Only provisioning goes; other services stay.
    assert_eq!(
        observed.adapter(&default_device).unwrap().services,
        BTreeSet::from([Service::Vmotion])
    );
    // While the provisioning adapter exists, default-stack adapters cannot get it back.
    assert_refused(&mut host, Fault::InvalidState, |host| {
        host.select_service("vmk0", Service::Provisioning)
    });
}

#[test]
fn the_first_vmotion_stack_adapter_deactivates_vmotion_on_default_stack_adapters() {
    let mut host = fresh_host();
    host.select_service("vmk0", Service::Vmotion).unwrap();
    add_adapter(&mut host, "vmo", StackKind::Vmotion, [192, 168, 40, 11]);
    assert_eq!(
        host.observed().adapter("vmk0").unwrap().services,
        BTreeSet::from([Service::Management])
    );
    assert_refused(&mut host, Fault::InvalidState, |host| {
        host.select_service("vmk0", Service::Vmotion)
    });
    // Provisioning is unaffected by the vMotion stack.
    host.select_service("vmk0", Service::Provisioning).unwrap();
}

#[test]
fn a_live_migration_over_the_default_stack_survives_the_provisioning_adapter() {
    let mut host = fresh_host();
    host.select_service("vmk0", Service::Vmotion).unwrap();
    host.select_service("vmk0", Service::Provisioning).unwrap();
    let id = host.start_migration(MigrationKind::Live, "vmk0").unwrap();
    let in_flight = host.observed().active_migrations.clone();
    assert_eq!(in_flight.len(), 1);
    assert_eq!(
        (in_flight[0].stack, in_flight[0].adapter.as_str()),
        (StackKind::Default, "vmk0")
    );
    add_adapter(&mut host, "prov", StackKind::Provisioning, [192, 168, 50, 11]);
    // Untouched until completed, while vmk0 lost provisioning for future sessions.
    assert_eq!(host.observed().active_migrations, in_flight);
    assert!(!host
        .observed()
        .adapter("vmk0")
        .unwrap()
        .services
        .contains(&Service::Provisioning));
    host.complete_migration(&id).unwrap();
    assert!(host.observed().active_migrations.is_empty());
    assert_refused(&mut host, Fault::NotFound, |host| host.complete_migration(&id));
}

#[test]
fn provisioning_traffic_uses_only_the_provisioning_stack_once_it_exists() {
    let mut host = fresh_host();
    host.start_migration(MigrationKind::Provisioning, "vmk0").unwrap();
    let device = add_adapter(&mut host, "prov", StackKind::Provisioning, [192, 168, 50, 11]);
    assert_refused(&mut host, Fault::InvalidState, |host| {
        host.start_migration(MigrationKind::Provisioning, "vmk0")
    });
    host.start_migration(MigrationKind::Provisioning, &device).unwrap();
    assert_eq!(host.complete_migrations(), 2);
    // A live migration needs a vMotion adapter.
    assert_refused(&mut host, Fault::InvalidState, |host| {
        host.start_migration(MigrationKind::Live, "vmk0")
    });
}

#[test]
fn max_connections_changes_are_pending_until_a_reboot() {
    let mut host = fresh_host();
    let mut settings = stack_settings(Some([10, 10, 0, 1]));
    settings.requested_max_connections = 32000;
    settings.congestion_control = CongestionControl::Cubic;
    host.edit_stack(StackKind::Default, &settings).unwrap();
    let stack = host.observed().stack(StackKind::Default).unwrap();
    assert_eq!((stack.max_connections, stack.requested_max_connections), (11000, 32000));
    // Congestion control applies at once.
    assert_eq!(stack.congestion_control, CongestionControl::Cubic);
    // A reboot waits for migrations in flight.
    let id = {
        host.select_service("vmk0", Service::Vmotion).unwrap();
        host.start_migration(MigrationKind::Live, "vmk0").unwrap()
    };
    assert_refused(&mut host, Fault::InvalidState, |host| host.reboot());
    host.complete_migration(&id).unwrap();
    host.reboot().unwrap();
    let stack = host.observed().stack(StackKind::Default).unwrap();
    assert_eq!((stack.max_connections, stack.requested_max_connections), (32000, 32000));
    settings.requested_max_connections = 0;
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.edit_stack(StackKind::Default, &settings)
    });
}

#[test]
fn the_provisioning_gateway_must_differ_from_the_default_gateway() {
    let mut host = fresh_host();
    add_adapter(&mut host, "prov", StackKind::Provisioning, [10, 10, 50, 11]);
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.edit_stack(StackKind::Provisioning, &stack_settings(Some([10, 10, 0, 1])))
    });
    host.edit_stack(StackKind::Provisioning, &stack_settings(Some([10, 10, 50, 1])))
        .unwrap();
    // And the other way round: the default stack cannot take the provisioning gateway.
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.edit_stack(StackKind::Default, &stack_settings(Some([10, 10, 50, 1])))
    });
    // The vMotion stack may share it.
    add_adapter(&mut host, "vmo", StackKind::Vmotion, [10, 10, 0, 77]);
    host.edit_stack(StackKind::Vmotion, &stack_settings(Some([10, 10, 0, 1])))
        .unwrap();
}

#[test]
fn route_gateways_must_be_reachable_from_a_static_adapter_of_the_stack() {
    let mut host = fresh_host();
    add_adapter(&mut host, "prov", StackKind::Provisioning, [192, 168, 50, 11]);
    let mut settings = stack_settings(Some([192, 168, 50, 1]));
    settings.routes = vec![route("10.220.0.0/16", "192.168.60.1")];
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.edit_stack(StackKind::Provisioning, &settings)
    });
    settings.routes = vec![
        route("10.220.0.0/16", "192.168.50.254"),
        route("10.210.0.0/16", "192.168.50.253"),
    ];
    host.edit_stack(StackKind::Provisioning, &settings).unwrap();
    // Stored sorted.
    let routes = &host.observed().stack(StackKind::Provisioning).unwrap().routes;
    assert_eq!(routes[0].destination.to_string(), "10.210.0.0/16");
    // Duplicate destinations, host bits and mixed families are refused.
    for routes in [
        vec![
            route("10.220.0.0/16", "192.168.50.254"),
            route("10.220.0.0/16", "192.168.50.253"),
        ],
        vec![route("10.220.0.1/16", "192.168.50.254")],
        vec![route("10.220.0.0/16", "2001:db8::1")],
    ] {
        settings.routes = routes;
        assert_refused(&mut host, Fault::InvalidArgument, |host| {
            host.edit_stack(StackKind::Provisioning, &settings)
        });
    }
}

#[test]
fn route_reachability_is_not_judged_when_a_stack_adapter_uses_dhcp() {
    let mut host = fresh_host();
    add_switch_with_port_group(&mut host, "prov");
    host.add_virtual_nic(&new_adapter("prov", StackKind::Provisioning, dhcp_ipv4()))
        .unwrap();
    let mut settings = stack_settings(None);
    settings.routes = vec![route("10.220.0.0/16", "172.16.0.1")];
    host.edit_stack(StackKind::Provisioning, &settings).unwrap();
    assert_eq!(host.observed().stack(StackKind::Provisioning).unwrap().routes.len(), 1);
}

#[test]
fn failed_calls_leave_the_host_unchanged() {
    // A call that fails late (after earlier checks passed) must not leave half a change.
    let mut host = fresh_host();
    host.select_service("vmk0", Service::Provisioning).unwrap();
    add_switch_with_port_group(&mut host, "prov");
    let before = host.clone();
    let result = host.add_virtual_nic(&NewAdapter {
        ipv4: static_ipv4([192, 168, 50, 11], 40),
        ..new_adapter("prov", StackKind::Provisioning, dhcp_ipv4())
    });
    assert_eq!(result.unwrap_err().fault(), Fault::InvalidArgument);
    assert_eq!(host, before);
    assert!(!host.observed().stack(StackKind::Provisioning).unwrap().instantiated);
}

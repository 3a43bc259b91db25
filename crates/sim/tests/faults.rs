//! Every fault a simulated host raises, driven through its public vSphere-style methods.

mod common;

use std::collections::BTreeSet;

use common::*;
use esxnet_executor::backend::Ipv6Settings;
use esxnet_executor::Fault;
use esxnet_model::common::{Service, StackKind};
use esxnet_model::observed::{
    DistributedPortGroup, DistributedSwitchMembership, MigrationKind, PortConnection, Teaming,
};
use esxnet_sim::{AdapterUpdate, NewAdapter};

fn join_dvs(host: &mut esxnet_sim::SimHost) {
    host.join_distributed_switch(DistributedSwitchMembership {
        name: "dvs-core".to_owned(),
        uuid: "50 2a 00 00".to_owned(),
        mtu: 9000,
        port_groups: vec![
            DistributedPortGroup {
                name: "dv-storage".to_owned(),
                key: "dvportgroup-1001".to_owned(),
                vlan: 30,
            },
            DistributedPortGroup {
                name: "dv-trunk".to_owned(),
                key: "dvportgroup-1002".to_owned(),
                vlan: 4095,
            },
        ],
    })
    .unwrap();
}

fn distributed(port_group: &str) -> PortConnection {
    PortConnection::Distributed {
        switch: "dvs-core".to_owned(),
        port_group: port_group.to_owned(),
    }
}

// ---- AlreadyExists -------------------------------------------------------------------------

#[test]
fn adding_a_switch_whose_name_is_taken_is_already_exists() {
    let mut host = fresh_host();
    assert_refused(&mut host, Fault::AlreadyExists, |host| {
        host.add_virtual_switch(&switch_spec("vSwitch0", 1500, &[]))
    });
}

#[test]
fn port_group_names_are_unique_across_switches() {
    let mut host = fresh_host();
    host.add_virtual_switch(&switch_spec("vSwitch1", 1500, &["vmnic1"]))
        .unwrap();
    // Same switch.
    assert_refused(&mut host, Fault::AlreadyExists, |host| {
        host.add_port_group("Management Network", "vSwitch0", 0)
    });
    // Another switch: still taken, host-wide.
    assert_refused(&mut host, Fault::AlreadyExists, |host| {
        host.add_port_group("Management Network", "vSwitch1", 10)
    });
    host.add_port_group("vMotion", "vSwitch1", 10).unwrap();
    assert_eq!(host.observed().port_group("vMotion").unwrap().switch, "vSwitch1");
}

#[test]
fn a_standard_port_group_holds_one_adapter() {
    let mut host = fresh_host();
    add_adapter(&mut host, "storage", StackKind::Default, [192, 168, 30, 11]);
    assert_refused(&mut host, Fault::AlreadyExists, |host| {
        host.add_virtual_nic(&new_adapter(
            "storage",
            StackKind::Default,
            static_ipv4([192, 168, 30, 12], 24),
        ))
    });
}

#[test]
fn a_distributed_port_group_holds_several_adapters() {
    let mut host = fresh_host();
    join_dvs(&mut host);
    for address in [[192, 168, 30, 11], [192, 168, 30, 12]] {
        host.add_virtual_nic(&NewAdapter {
            connection: distributed("dv-storage"),
            stack: StackKind::Default,
            mtu: 9000,
            ipv4: static_ipv4(address, 24),
            ipv6: None,
        })
        .unwrap();
    }
    assert_eq!(host.observed().adapters.len(), 3);
}

// ---- NotFound ------------------------------------------------------------------------------

#[test]
fn unknown_switches_are_not_found() {
    let mut host = fresh_host();
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.update_virtual_switch(&switch_spec("vSwitch9", 1500, &[]))
    });
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.remove_virtual_switch("vSwitch9")
    });
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.add_port_group("pg", "vSwitch9", 0)
    });
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.update_port_group("Management Network", "vSwitch9", 0)
    });
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.add_virtual_nic(&NewAdapter {
            connection: standard("vSwitch9", "Management Network"),
            ..new_adapter("x", StackKind::Default, dhcp_ipv4())
        })
    });
}

#[test]
fn unknown_port_groups_are_not_found() {
    let mut host = fresh_host();
    host.add_virtual_switch(&switch_spec("vSwitch1", 1500, &["vmnic1"]))
        .unwrap();
    assert_refused(&mut host, Fault::NotFound, |host| host.remove_port_group("nope"));
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.update_port_group("nope", "vSwitch1", 5)
    });
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.add_virtual_nic(&new_adapter("nope", StackKind::Default, dhcp_ipv4()))
    });
    // A port group that exists, but on another switch than the one named.
    host.add_port_group("on-one", "vSwitch1", 0).unwrap();
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.add_virtual_nic(&NewAdapter {
            connection: standard("vSwitch0", "on-one"),
            ..new_adapter("on-one", StackKind::Default, dhcp_ipv4())
        })
    });
}

#[test]
fn unknown_devices_are_not_found() {
    let mut host = fresh_host();
    let update = AdapterUpdate {
        mtu: 1500,
        ipv4: dhcp_ipv4(),
        ipv6: None,
        stack: None,
    };
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.update_virtual_nic("vmk7", &update)
    });
    assert_refused(&mut host, Fault::NotFound, |host| host.remove_virtual_nic("vmk7"));
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.select_service("vmk7", Service::Vmotion)
    });
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.deselect_service("vmk7", Service::Management)
    });
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.start_migration(MigrationKind::Live, "vmk7")
    });
}

#[test]
fn unknown_uplinks_are_not_found() {
    let mut host = fresh_host();
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.add_virtual_switch(&switch_spec("vSwitch1", 1500, &["vmnic9"]))
    });
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.update_virtual_switch(&switch_spec("vSwitch0", 1500, &["vmnic0", "vmnic9"]))
    });
}

#[test]
fn unknown_distributed_switches_and_port_groups_are_not_found() {
    let mut host = fresh_host();
    let on_distributed = |port_group: &str| NewAdapter {
        connection: distributed(port_group),
        stack: StackKind::Default,
        mtu: 1500,
        ipv4: dhcp_ipv4(),
        ipv6: None,
    };
    // Not a member yet.
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.add_virtual_nic(&on_distributed("dv-storage"))
    });
    join_dvs(&mut host);
    assert_refused(&mut host, Fault::NotFound, |host| {
        host.add_virtual_nic(&on_distributed("dv-nope"))
    });
    host.add_virtual_nic(&on_distributed("dv-storage")).unwrap();
}

// ---- ResourceInUse -------------------------------------------------------------------------

#[test]
fn removing_a_switch_with_adapters_is_resource_in_use() {
    let mut host = fresh_host();
    assert_refused(&mut host, Fault::ResourceInUse, |host| {
        host.remove_virtual_switch("vSwitch0")
    });
    add_adapter(&mut host, "storage", StackKind::Default, [192, 168, 30, 11]);
    assert_refused(&mut host, Fault::ResourceInUse, |host| {
        host.remove_virtual_switch("vSwitch1")
    });
    host.remove_virtual_nic("vmk1").unwrap();
    host.remove_virtual_switch("vSwitch1").unwrap();
    // Its port groups went with it.
    assert!(host.observed().port_group("storage").is_none());
}

#[test]
fn removing_a_port_group_with_an_adapter_is_resource_in_use() {
    let mut host = fresh_host();
    assert_refused(&mut host, Fault::ResourceInUse, |host| {
        host.remove_port_group("Management Network")
    });
    add_switch_with_port_group(&mut host, "empty");
    host.remove_port_group("empty").unwrap();
}

#[test]
fn a_physical_nic_bridged_by_another_switch_is_resource_in_use() {
    let mut host = fresh_host();
    assert_refused(&mut host, Fault::ResourceInUse, |host| {
        host.add_virtual_switch(&switch_spec("vSwitch1", 1500, &["vmnic0"]))
    });
    host.add_virtual_switch(&switch_spec("vSwitch1", 1500, &["vmnic1"]))
        .unwrap();
    assert_refused(&mut host, Fault::ResourceInUse, |host| {
        host.update_virtual_switch(&switch_spec("vSwitch1", 1500, &["vmnic1", "vmnic0"]))
    });
    // Re-stating a switch's own uplinks is fine.
    host.update_virtual_switch(&switch_spec("vSwitch1", 1500, &["vmnic1", "vmnic2"]))
        .unwrap();
}

#[test]
fn removing_an_adapter_that_carries_a_migration_is_resource_in_use() {
    let mut host = fresh_host();
    let device = add_adapter(&mut host, "vmotion", StackKind::Vmotion, [192, 168, 40, 11]);
    let id = host.start_migration(MigrationKind::Live, &device).unwrap();
    assert_refused(&mut host, Fault::ResourceInUse, |host| host.remove_virtual_nic(&device));
    host.complete_migration(&id).unwrap();
    host.remove_virtual_nic(&device).unwrap();
}

// ---- InvalidArgument -----------------------------------------------------------------------

#[test]
fn vlans_outside_0_to_4095_are_invalid() {
    let mut host = fresh_host();
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.add_port_group("pg", "vSwitch0", 4096)
    });
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.update_port_group("Management Network", "vSwitch0", 5000)
    });
    // 4095 (trunk) is fine for a port group without adapters.
    host.add_port_group("trunk", "vSwitch0", 4095).unwrap();
    host.update_port_group("trunk", "vSwitch0", 4094).unwrap();
}

#[test]
fn vlan_4095_on_a_port_group_with_an_adapter_is_invalid() {
    let mut host = fresh_host();
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.update_port_group("Management Network", "vSwitch0", 4095)
    });
    host.add_virtual_switch(&switch_spec("vSwitch1", 9000, &["vmnic1"]))
        .unwrap();
    host.add_port_group("trunk", "vSwitch1", 4095).unwrap();
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.add_virtual_nic(&new_adapter("trunk", StackKind::Default, dhcp_ipv4()))
    });
    join_dvs(&mut host);
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.add_virtual_nic(&NewAdapter {
            connection: distributed("dv-trunk"),
            ..new_adapter("x", StackKind::Default, dhcp_ipv4())
        })
    });
}

#[test]
fn bad_ipv4_settings_are_invalid() {
    let mut host = fresh_host();
    add_switch_with_port_group(&mut host, "pg");
    let mut without_address = static_ipv4([192, 168, 1, 1], 24);
    without_address.address = None;
    let mut without_prefix = static_ipv4([192, 168, 1, 1], 24);
    without_prefix.prefix_length = None;
    let mut dhcp_with_address = dhcp_ipv4();
    dhcp_with_address.address = Some([192, 168, 1, 1].into());
    let mut gateway_outside = static_ipv4([192, 168, 1, 1], 24);
    gateway_outside.gateway_override = Some([192, 168, 2, 1].into());
    for ipv4 in [
        without_address,
        without_prefix,
        static_ipv4([192, 168, 1, 1], 0),
        static_ipv4([192, 168, 1, 1], 33),
        static_ipv4([0, 0, 0, 0], 24),
        dhcp_with_address,
        gateway_outside,
    ] {
        assert_refused(&mut host, Fault::InvalidArgument, |host| {
            host.add_virtual_nic(&new_adapter("pg", StackKind::Default, ipv4.clone()))
        });
        assert_refused(&mut host, Fault::InvalidArgument, |host| {
            host.update_virtual_nic(
                "vmk0",
                &AdapterUpdate {
                    mtu: 1500,
                    ipv4: ipv4.clone(),
                    ipv6: None,
                    stack: None,
                },
            )
        });
    }
    let mut gateway_inside = static_ipv4([192, 168, 1, 1], 24);
    gateway_inside.gateway_override = Some([192, 168, 1, 254].into());
    host.add_virtual_nic(&new_adapter("pg", StackKind::Default, gateway_inside))
        .unwrap();
}

#[test]
fn ipv6_prefix_zero_is_invalid() {
    let mut host = fresh_host();
    add_switch_with_port_group(&mut host, "pg");
    let ipv6 = Ipv6Settings {
        addresses: BTreeSet::from(["2001:db8::1/0".parse().unwrap()]),
        ..no_ipv6()
    };
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.add_virtual_nic(&NewAdapter {
            ipv6: Some(ipv6.clone()),
            ..new_adapter("pg", StackKind::Default, dhcp_ipv4())
        })
    });
    // Prefixes above 128 cannot even be written down: the address type refuses them.
    assert!("2001:db8::1/129".parse::<ipnet::Ipv6Net>().is_err());
    let gateway_outside = Ipv6Settings {
        addresses: BTreeSet::from(["2001:db8:1::10/64".parse().unwrap()]),
        gateway_override: Some("2001:db8:2::1".parse().unwrap()),
        ..no_ipv6()
    };
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.add_virtual_nic(&NewAdapter {
            ipv6: Some(gateway_outside.clone()),
            ..new_adapter("pg", StackKind::Default, dhcp_ipv4())
        })
    });
}

#[test]
fn mtus_outside_1280_to_9000_are_invalid() {
    let mut host = fresh_host();
    for mtu in [1279, 9001] {
        assert_refused(&mut host, Fault::InvalidArgument, |host| {
            host.add_virtual_switch(&switch_spec("vSwitch1", mtu, &[]))
        });
        assert_refused(&mut host, Fault::InvalidArgument, |host| {
            host.update_virtual_switch(&switch_spec("vSwitch0", mtu, &["vmnic0"]))
        });
    }
    add_switch_with_port_group(&mut host, "pg");
    for mtu in [1279, 9001] {
        assert_refused(&mut host, Fault::InvalidArgument, |host| {
            host.add_virtual_nic(&NewAdapter {
                mtu,
                ..new_adapter("pg", StackKind::Default, dhcp_ipv4())
            })
        });
    }
    host.add_virtual_switch(&switch_spec("vSwitch2", 1280, &[])).unwrap();
}

#[test]
fn an_adapter_mtu_above_its_switch_mtu_is_invalid() {
    let mut host = fresh_host();
    // vmk0 sits on vSwitch0 with MTU 1500.
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.update_virtual_nic(
            "vmk0",
            &AdapterUpdate {
                mtu: 9000,
                ipv4: static_ipv4([10, 10, 0, 10], 16),
                ipv6: None,
                stack: None,
            },
        )
    });
    host.add_port_group("jumbo", "vSwitch0", 0).unwrap();
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.add_virtual_nic(&NewAdapter {
            connection: standard("vSwitch0", "jumbo"),
            mtu: 9000,
            ..new_adapter("jumbo", StackKind::Default, dhcp_ipv4())
        })
    });
    // Lowering a switch below an adapter on it is refused too.
    let device = add_adapter(&mut host, "nine-k", StackKind::Default, [192, 168, 9, 1]);
    host.update_virtual_nic(
        &device,
        &AdapterUpdate {
            mtu: 9000,
            ipv4: static_ipv4([192, 168, 9, 1], 24),
            ipv6: None,
            stack: None,
        },
    )
    .unwrap();
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.update_virtual_switch(&switch_spec("vSwitch1", 1500, &["vmnic1"]))
    });
    // Moving its port group to a smaller switch as well.
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.update_port_group("nine-k", "vSwitch0", 0)
    });
}

#[test]
fn changing_an_adapters_stack_in_place_is_invalid() {
    let mut host = fresh_host();
    let device = add_adapter(&mut host, "pg", StackKind::Default, [192, 168, 1, 1]);
    let update = |stack| AdapterUpdate {
        mtu: 1500,
        ipv4: static_ipv4([192, 168, 1, 1], 24),
        ipv6: None,
        stack: Some(stack),
    };
    let error = assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.update_virtual_nic(&device, &update(StackKind::Provisioning))
    });
    assert!(error.to_string().contains("remove the adapter"), "{error}");
    // Naming the stack it already has is not a change.
    host.update_virtual_nic(&device, &update(StackKind::Default)).unwrap();
}

#[test]
fn a_non_default_stack_adapter_takes_no_other_service() {
    let mut host = fresh_host();
    let device = add_adapter(&mut host, "prov", StackKind::Provisioning, [192, 168, 50, 11]);
    for service in [Service::Management, Service::Vmotion, Service::Vsan] {
        assert_refused(&mut host, Fault::InvalidArgument, |host| {
            host.select_service(&device, service)
        });
    }
    let device = add_adapter(&mut host, "vmo", StackKind::Vmotion, [192, 168, 40, 11]);
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.select_service(&device, Service::Provisioning)
    });
    // Its own service is already selected: selecting it again changes nothing.
    let before = host.clone();
    host.select_service(&device, Service::Vmotion).unwrap();
    assert_eq!(host, before);
}

#[test]
fn unknown_service_names_are_invalid() {
    let mut host = fresh_host();
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.select_service_named("vmk0", "teleport")
    });
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.deselect_service_named("vmk0", "Management")
    });
    host.select_service_named("vmk0", "vSphereReplication").unwrap();
    assert!(host
        .observed()
        .adapter("vmk0")
        .unwrap()
        .services
        .contains(&Service::Replication));
    host.deselect_service_named("vmk0", "vSphereReplication").unwrap();
    // Deselecting what is not selected is refused as ESXi does.
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.deselect_service("vmk0", Service::Replication)
    });
}

#[test]
fn teaming_must_name_bridged_uplinks_once() {
    let mut host = fresh_host();
    let mut spec = switch_spec("vSwitch1", 1500, &["vmnic1", "vmnic2"]);
    spec.teaming = Teaming {
        active: vec!["vmnic3".to_owned()],
        standby: vec![],
    };
    assert_refused(&mut host, Fault::InvalidArgument, |host| host.add_virtual_switch(&spec));
    spec.teaming = Teaming {
        active: vec!["vmnic1".to_owned()],
        standby: vec!["vmnic1".to_owned()],
    };
    assert_refused(&mut host, Fault::InvalidArgument, |host| host.add_virtual_switch(&spec));
    assert_refused(&mut host, Fault::InvalidArgument, |host| {
        host.add_virtual_switch(&switch_spec(&"x".repeat(33), 1500, &[]))
    });
    // No teaming given: every uplink active, as ESXi does.
    spec.teaming = Teaming::default();
    host.add_virtual_switch(&spec).unwrap();
    assert_eq!(
        host.observed().switch("vSwitch1").unwrap().teaming.active,
        vec!["vmnic1", "vmnic2"]
    );
}

// ---- InvalidState --------------------------------------------------------------------------

#[test]
fn editing_a_stack_before_it_is_instantiated_is_invalid_state() {
    let mut host = fresh_host();
    for stack in [StackKind::Vmotion, StackKind::Provisioning] {
        assert_refused(&mut host, Fault::InvalidState, |host| {
            host.edit_stack(stack, &stack_settings(Some([192, 168, 99, 1])))
        });
    }
    // The default stack is always instantiated.
    host.edit_stack(StackKind::Default, &stack_settings(Some([10, 10, 0, 2])))
        .unwrap();
    add_adapter(&mut host, "vmo", StackKind::Vmotion, [192, 168, 40, 11]);
    host.edit_stack(StackKind::Vmotion, &stack_settings(Some([192, 168, 40, 1])))
        .unwrap();
    assert_eq!(
        host.observed().stack(StackKind::Vmotion).unwrap().ipv4_gateway,
        Some([192, 168, 40, 1].into())
    );
}

// ---- success paths the faults depend on ----------------------------------------------------

#[test]
fn new_adapters_get_the_lowest_free_device_number() {
    let mut host = fresh_host();
    let first = add_adapter(&mut host, "a", StackKind::Default, [192, 168, 1, 1]);
    let second = add_adapter(&mut host, "b", StackKind::Default, [192, 168, 2, 1]);
    let third = add_adapter(&mut host, "c", StackKind::Default, [192, 168, 3, 1]);
    assert_eq!(
        (first.as_str(), second.as_str(), third.as_str()),
        ("vmk1", "vmk2", "vmk3")
    );
    host.remove_virtual_nic("vmk2").unwrap();
    assert_eq!(
        add_adapter(&mut host, "d", StackKind::Default, [192, 168, 4, 1]),
        "vmk2"
    );
    let devices: Vec<&str> = host
        .observed()
        .adapters
        .iter()
        .map(|adapter| adapter.device.as_str())
        .collect();
    assert_eq!(devices, ["vmk0", "vmk1", "vmk2", "vmk3"]);
}

#[test]
fn updating_a_port_group_moves_its_adapter_with_it() {
    let mut host = fresh_host();
    add_adapter(&mut host, "moving", StackKind::Default, [192, 168, 1, 1]);
    host.add_virtual_switch(&switch_spec("vSwitch2", 9000, &["vmnic2"]))
        .unwrap();
    host.update_port_group("moving", "vSwitch2", 12).unwrap();
    assert_eq!(
        host.observed().adapter("vmk1").unwrap().connection,
        standard("vSwitch2", "moving")
    );
    assert_eq!(host.observed().port_group("moving").unwrap().vlan, 12);
}

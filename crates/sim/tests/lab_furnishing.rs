//! What `esxnet sim init` and a lab made on first use give hosts beyond a fresh installation:
//! memberships of distributed switches (as vCenter makes them), an iSCSI-bound adapter and a
//! system-owned adapter.

use std::collections::BTreeSet;

use esxnet_model::common::EsxiVersion;
use esxnet_model::observed::{PortConnection, StorageBinding};
use esxnet_sim::lab::{ISCSI_PORT_GROUP, SYSTEM_PORT_GROUP};
use esxnet_sim::{HostNames, InitOptions, Lab, LabDistributedPortGroup, LabDistributedSwitch};

fn arguments(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|text| (*text).to_owned()).collect()
}

#[test]
fn command_line_switches_and_port_groups_parse() {
    let switches = LabDistributedSwitch::parse_arguments(
        &arguments(&["dvs-a:9000", "dvs-b"]),
        &arguments(&["dvs-a/dv-vmotion:130", "dvs-a/dv-provisioning"]),
    )
    .unwrap();
    assert_eq!(
        switches,
        vec![
            LabDistributedSwitch {
                name: "dvs-a".into(),
                mtu: 9000,
                port_groups: vec![
                    LabDistributedPortGroup {
                        name: "dv-vmotion".into(),
                        vlan: 130
                    },
                    LabDistributedPortGroup {
                        name: "dv-provisioning".into(),
                        vlan: 0
                    },
                ],
                hosts: None,
            },
            LabDistributedSwitch::new("dvs-b", 1500),
        ]
    );
    for (switches, port_groups) in [
        (vec![], vec!["dvs-x/pg"]),
        (vec!["dvs-a"], vec!["no-switch"]),
        (vec!["dvs-a"], vec!["dvs-a/pg:70000"]),
        (vec![":9000"], vec![]),
    ] {
        assert!(
            LabDistributedSwitch::parse_arguments(&arguments(&switches), &arguments(&port_groups)).is_err(),
            "{switches:?} {port_groups:?}"
        );
    }
}

#[test]
fn sim_init_options_furnish_every_host() {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        hosts: HostNames::Count(2),
        version: EsxiVersion::new(6, 7, 0),
        distributed_switches: LabDistributedSwitch::parse_arguments(
            &arguments(&["dvs-a:9000", "dvs-b"]),
            &arguments(&["dvs-a/dv-vmotion:130", "dvs-b/dv-backup"]),
        )
        .unwrap(),
        iscsi_adapter: true,
        system_owned_adapter: true,
        ..InitOptions::default()
    };
    let lab = Lab::init(dir.path(), &options).unwrap();
    let fleet = lab.observe_all().unwrap();
    let first = &fleet.hosts["esx-1"];
    let mut uuids = BTreeSet::new();
    for host in fleet.hosts.values() {
        assert_eq!(host.version, EsxiVersion::new(6, 7, 0));
        // One switch seen from every member: same UUID and port-group keys everywhere.
        assert_eq!(host.distributed_switches, first.distributed_switches, "{}", host.name);
        let iscsi: Vec<_> = host
            .adapters
            .iter()
            .filter(|adapter| adapter.storage_bindings.contains(&StorageBinding::Iscsi))
            .collect();
        assert_eq!(iscsi.len(), 1, "{}", host.name);
        assert_eq!(iscsi[0].connection.port_group(), ISCSI_PORT_GROUP);
        assert!(!iscsi[0].system_owned);
        let system: Vec<_> = host.adapters.iter().filter(|adapter| adapter.system_owned).collect();
        assert_eq!(system.len(), 1, "{}", host.name);
        assert_eq!(system[0].connection.port_group(), SYSTEM_PORT_GROUP);
    }
    for switch in &first.distributed_switches {
        assert!(uuids.insert(switch.uuid.clone()), "switches have distinct UUIDs");
    }
    let keys: BTreeSet<&str> = first
        .distributed_switches
        .iter()
        .flat_map(|switch| switch.port_groups.iter().map(|port_group| port_group.key.as_str()))
        .collect();
    assert_eq!(keys.len(), 2, "port-group keys are unique across switches");
    // The addresses of the two hosts' storage adapters differ (ESX013 would flag a clash).
    let address = |name: &str| {
        fleet.hosts[name]
            .adapters
            .iter()
            .find(|adapter| adapter.connection.port_group() == ISCSI_PORT_GROUP)
            .map(|adapter| serde_json::to_value(&adapter.ipv4).unwrap()["address"].clone())
    };
    assert_ne!(address("esx-1"), address("esx-2"));
}

#[test]
fn a_lab_made_on_first_use_joins_only_the_member_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = arguments(&["esx-a", "esx-b"]);
    let switch = LabDistributedSwitch {
        hosts: Some(BTreeSet::from(["esx-b".to_owned()])),
        port_groups: vec![LabDistributedPortGroup {
            name: "dvpg-provisioning".into(),
            vlan: 0,
        }],
        ..LabDistributedSwitch::new("dvs-lab", 9000)
    };
    let lab = Lab::create_with_hosts_and_distributed_switches(
        dir.path(),
        &names,
        EsxiVersion::new(8, 0, 3),
        std::slice::from_ref(&switch),
    )
    .unwrap();
    assert!(lab.observe("esx-a").unwrap().distributed_switches.is_empty());
    let member = lab.observe("esx-b").unwrap();
    assert_eq!(member.distributed_switches.len(), 1);
    assert_eq!(member.distributed_switches[0].mtu, 9000);
    // The member can put an adapter on the port group, as the seed's "existing network" path does.
    drop(lab);
    let lab = Lab::open_writer(dir.path()).unwrap();
    let device = lab
        .modify_host("esx-b", |host| {
            host.add_virtual_nic(&esxnet_sim::NewAdapter {
                connection: PortConnection::Distributed {
                    switch: "dvs-lab".into(),
                    port_group: "dvpg-provisioning".into(),
                },
                stack: esxnet_model::common::StackKind::Provisioning,
                mtu: 9000,
                ipv4: esxnet_executor::backend::Ipv4Settings {
                    dhcp: true,
                    address: None,
                    prefix_length: None,
                    gateway_override: None,
                },
                ipv6: None,
            })
        })
        .unwrap();
    assert_eq!(device, "vmk1");

    // A member host the lab does not have is refused, and no lab is left behind.
    let other = tempfile::tempdir().unwrap();
    let stranger = LabDistributedSwitch {
        hosts: Some(BTreeSet::from(["esx-z".to_owned()])),
        ..LabDistributedSwitch::new("dvs-lab", 1500)
    };
    assert!(Lab::create_with_hosts_and_distributed_switches(
        other.path(),
        &names,
        EsxiVersion::new(8, 0, 3),
        &[stranger],
    )
    .is_err());
    assert!(!Lab::exists(other.path()));
}

#[test]
fn the_simulator_refuses_to_remove_system_owned_and_storage_bound_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        hosts: HostNames::Count(1),
        iscsi_adapter: true,
        system_owned_adapter: true,
        ..InitOptions::default()
    };
    let lab = Lab::init(dir.path(), &options).unwrap();
    let mut host = lab.load_host("esx-1").unwrap();
    let device_on = |host: &esxnet_sim::SimHost, port_group: &str| {
        host.observed()
            .adapters
            .iter()
            .find(|adapter| adapter.connection.port_group() == port_group)
            .map(|adapter| adapter.device.clone())
            .unwrap()
    };
    for (port_group, says) in [
        (ISCSI_PORT_GROUP, "bound to software iSCSI"),
        (SYSTEM_PORT_GROUP, "owned by the system"),
    ] {
        let device = device_on(&host, port_group);
        let error = host.remove_virtual_nic(&device).unwrap_err();
        assert!(error.to_string().contains(says), "{error}");
        assert!(host.observed().adapter(&device).is_some(), "{device} is still there");
    }
}

//! The simulator's switch and port-group policies: a fresh host has D67's, a new switch gets
//! what esxnet's vSphere backend sends, and esxnet's own operations change only what esxnet
//! manages.

mod common;

use std::collections::BTreeSet;

use common::switch_spec;
use esxnet_executor::Operation;
use esxnet_model::common::EsxiVersion;
use esxnet_model::observed::{
    LinkDiscovery, LinkDiscoveryOperation, LinkDiscoveryProtocol, PortGroupPolicy, SecurityOverride, SecurityPolicy,
    SwitchPolicy, Teaming, TeamingOverride,
};
use esxnet_sim::{SimHost, SwitchSpec};

fn fresh() -> SimHost {
    SimHost::new_installed("esx-1", 1, EsxiVersion::new(8, 0, 3)).expect("fresh host")
}

#[test]
fn a_fresh_host_has_the_policies_of_a_real_one() {
    let host = fresh();
    let vswitch0 = host.observed().switch("vSwitch0").unwrap();
    assert_eq!(
        vswitch0.policy.security,
        SecurityPolicy {
            allow_promiscuous: false,
            mac_changes: true,
            forged_transmits: true,
        }
    );
    assert!(vswitch0.policy.teaming.notify_switches && vswitch0.policy.teaming.failback);
    assert!(!vswitch0.policy.teaming.beacon_probing && !vswitch0.policy.shaping.enabled);
    assert_eq!(vswitch0.policy.beacon_interval, Some(1));
    assert_eq!(vswitch0.policy.link_discovery, Some(LinkDiscovery::default()));
    let management = host.observed().port_group("Management Network").unwrap();
    assert_eq!(
        management.policy.teaming.order,
        Some(Teaming {
            active: vec!["vmnic0".into()],
            standby: Vec::new(),
        })
    );
    // Kept in the lab file, read back the same.
    let text = serde_json::to_string(host.observed()).unwrap();
    let read: esxnet_model::observed::ObservedHost = serde_json::from_str(&text).unwrap();
    assert_eq!(&read, host.observed());
}

#[test]
fn lab_files_without_policies_still_load() {
    let text = r#"{"name":"vSwitch1","mtu":1500,"uplinks":["vmnic1"],"teaming":{"active":["vmnic1"]}}"#;
    let switch: esxnet_model::observed::ObservedSwitch = serde_json::from_str(text).unwrap();
    assert_eq!(switch.policy, SwitchPolicy::default());
    assert!(
        !serde_json::to_string(&switch).unwrap().contains("policy"),
        "a default policy is left out"
    );
    let text = r#"{"name":"VM Network","switch":"vSwitch0","vlan":0}"#;
    let port_group: esxnet_model::observed::ObservedPortGroup = serde_json::from_str(text).unwrap();
    assert!(port_group.policy.is_empty());
}

#[test]
fn a_new_switch_gets_the_policy_esxnet_sends_and_no_bridge_without_uplinks() {
    let mut host = fresh();
    host.add_virtual_switch(&switch_spec("vSwitch1", 1500, &["vmnic1"]))
        .unwrap();
    assert_eq!(
        host.observed().switch("vSwitch1").unwrap().policy,
        SwitchPolicy::default()
    );
    host.add_virtual_switch(&switch_spec("vSwitch2", 1500, &[])).unwrap();
    let internal = host.observed().switch("vSwitch2").unwrap().policy;
    assert_eq!((internal.beacon_interval, internal.link_discovery), (None, None));
    assert_eq!(internal.security, SecurityPolicy::default());
    // Given uplinks later, it gets ESXi's bridge (beacon 1 s, CDP listen), as the vSphere
    // backend sends a new bridge.
    host.update_virtual_switch(&switch_spec("vSwitch2", 1500, &["vmnic2"]))
        .unwrap();
    assert_eq!(
        host.observed().switch("vSwitch2").unwrap().policy,
        SwitchPolicy::default()
    );
}

#[test]
fn esxnets_operations_keep_every_policy() {
    let mut host = fresh();
    let policy = SwitchPolicy {
        num_ports: 512,
        security: SecurityPolicy {
            allow_promiscuous: true,
            mac_changes: true,
            forged_transmits: false,
        },
        beacon_interval: Some(5),
        link_discovery: Some(LinkDiscovery {
            protocol: LinkDiscoveryProtocol::Lldp,
            operation: LinkDiscoveryOperation::Advertise,
        }),
        ..SwitchPolicy::default()
    };
    let mut with_beacon = policy;
    with_beacon.teaming.beacon_probing = true;
    host.add_virtual_switch(&SwitchSpec {
        policy: Some(with_beacon),
        ..switch_spec("vSwitch1", 1500, &["vmnic1", "vmnic2", "vmnic3"])
    })
    .unwrap();
    let overrides = PortGroupPolicy {
        security: SecurityOverride {
            mac_changes: Some(false),
            ..SecurityOverride::default()
        },
        teaming: TeamingOverride {
            order: Some(Teaming {
                active: vec!["vmnic2".into()],
                standby: vec!["vmnic1".into()],
            }),
            ..TeamingOverride::default()
        },
        ..PortGroupPolicy::default()
    };
    host.add_port_group_with_policy("vMotion", "vSwitch1", 20, &overrides)
        .unwrap();

    for operation in [
        // The managed policy fields carry what the planner read (nothing manages them here);
        // shaping, the beacon interval, link discovery and the port count are not sent at all.
        Operation::UpdatePortGroup {
            name: "vMotion".into(),
            switch: "vSwitch1".into(),
            vlan: 21,
            teaming: overrides.teaming.clone(),
            security: overrides.security,
        },
        Operation::UpdateSwitch {
            name: "vSwitch1".into(),
            mtu: 9000,
            uplinks: BTreeSet::from(["vmnic1".into(), "vmnic2".into()]),
            teaming: Teaming::default(),
            teaming_policy: with_beacon.teaming,
            security: with_beacon.security,
        },
        Operation::UpdatePortGroup {
            name: "Management Network".into(),
            switch: "vSwitch0".into(),
            vlan: 100,
            teaming: PortGroupPolicy::installed_management_network().teaming,
            security: PortGroupPolicy::installed_management_network().security,
        },
    ] {
        host.apply(&operation)
            .unwrap_or_else(|error| panic!("{operation}: {error}"));
    }
    let observed = host.observed();
    let switch = observed.switch("vSwitch1").unwrap();
    assert_eq!((switch.mtu, switch.uplinks.len()), (9000, 2));
    assert_eq!(switch.policy, with_beacon);
    let port_group = observed.port_group("vMotion").unwrap();
    assert_eq!((port_group.vlan, &port_group.policy), (21, &overrides));
    assert_eq!(
        observed.port_group("Management Network").unwrap().policy,
        PortGroupPolicy::installed_management_network()
    );

    // UpdatePortGroup as ESXi performs it replaces the overrides.
    host.replace_port_group("vMotion", "vSwitch1", 21, &PortGroupPolicy::default())
        .unwrap();
    assert!(host.observed().port_group("vMotion").unwrap().policy.is_empty());
    // Without uplinks there is no bridge: no beacon, no beacon probing, no link discovery.
    host.update_virtual_switch(&switch_spec("vSwitch1", 9000, &[])).unwrap();
    let bare = host.observed().switch("vSwitch1").unwrap().policy;
    assert_eq!(
        (bare.beacon_interval, bare.link_discovery, bare.teaming.beacon_probing),
        (None, None, false)
    );
    assert_eq!(bare.security, policy.security);
}

#[test]
fn out_of_range_ports_and_duplicate_override_uplinks_are_refused() {
    let mut host = fresh();
    let too_many = SwitchSpec {
        policy: Some(SwitchPolicy {
            num_ports: 4096,
            ..SwitchPolicy::default()
        }),
        ..switch_spec("vSwitch1", 1500, &["vmnic1"])
    };
    assert!(host.add_virtual_switch(&too_many).is_err());
    let twice = PortGroupPolicy {
        teaming: TeamingOverride {
            order: Some(Teaming {
                active: vec!["vmnic0".into()],
                standby: vec!["vmnic0".into()],
            }),
            ..TeamingOverride::default()
        },
        ..PortGroupPolicy::default()
    };
    assert!(host.add_port_group_with_policy("Twice", "vSwitch0", 5, &twice).is_err());
    assert!(host.observed().port_group("Twice").is_none());
}

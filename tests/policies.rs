//! Switch and port-group policies and learned values, end to end with the real binary, over both
//! paths: the embedded lab (`sim:`) and the vSphere backend against `esxnet sim serve`.
//!
//! The lab host starts with what a manifest does not manage: beacon probing, security, a teaming
//! policy, shaping and LLDP on vSwitch1, security/teaming/shaping overrides on port group
//! "iSCSI-A", the Management Network's own teaming override, DNS learned through DHCP and an
//! IPv6 gateway learned from router advertisement. A manifest changes a VLAN, an MTU, the uplinks
//! and a route: everything else must stay exactly as it was. A second manifest then manages the
//! policies themselves, and the next plan is empty.

mod support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;

use esxnet_model::common::{Route, StackKind};
use esxnet_model::observed::{
    LinkDiscovery, LinkDiscoveryOperation, LinkDiscoveryProtocol, LoadBalancing, ObservedHost, PortGroupPolicy,
    SecurityOverride, SecurityPolicy, ShapingOverride, ShapingPolicy, SwitchPolicy, Teaming, TeamingOverride,
    TeamingPolicy,
};
use esxnet_sim::{Lab, SwitchSpec};
use support::{esxnet, with_password};

const HOST: &str = "esx-01";
const PASSWORD: &str = "policies-test-secret";

/// The path a run takes to the lab.
#[derive(Clone, Copy, Debug)]
enum Via {
    Sim,
    Vsphere,
}

fn names(devices: &[&str]) -> Vec<String> {
    devices.iter().map(|device| device.to_string()).collect()
}

/// vSwitch1's policy: nothing like a default.
fn storage_switch_policy() -> SwitchPolicy {
    SwitchPolicy {
        num_ports: 256,
        security: SecurityPolicy {
            allow_promiscuous: true,
            mac_changes: false,
            forged_transmits: true,
        },
        teaming: TeamingPolicy {
            load_balancing: LoadBalancing::SourceMac,
            notify_switches: false,
            failback: false,
            beacon_probing: true,
        },
        shaping: ShapingPolicy {
            enabled: true,
            average_bandwidth: Some(100_000_000),
            peak_bandwidth: Some(200_000_000),
            burst_size: Some(104_857_600),
        },
        beacon_interval: Some(3),
        link_discovery: Some(LinkDiscovery {
            protocol: LinkDiscoveryProtocol::Lldp,
            operation: LinkDiscoveryOperation::Both,
        }),
    }
}

/// iSCSI port binding's design: one active uplink per port group, the other standby.
fn iscsi_overrides() -> PortGroupPolicy {
    PortGroupPolicy {
        security: SecurityOverride {
            forged_transmits: Some(false),
            ..SecurityOverride::default()
        },
        teaming: TeamingOverride {
            load_balancing: Some(LoadBalancing::ExplicitFailover),
            failback: Some(true),
            order: Some(Teaming {
                active: names(&["vmnic1"]),
                standby: names(&["vmnic2"]),
            }),
            ..TeamingOverride::default()
        },
        shaping: ShapingOverride {
            enabled: Some(false),
            ..ShapingOverride::default()
        },
    }
}

/// A one-host lab with DNS learned through DHCP, vSwitch1 on vmnic1–3 and "iSCSI-A" on it, with
/// the settings above; answers the target to use (starting `sim serve` for the vSphere path).
fn lab(scratch: &Path, path: Via) -> (String, Option<support::SimServer>) {
    let init = esxnet(scratch, &["sim", "init", "lab", "--hosts", HOST, "--dhcp-dns"]);
    assert_eq!(init.code, 0, "{}", init.all());
    let lab = Lab::open_writer(scratch.join("lab")).expect("the lab opens for writing");
    lab.modify_host(HOST, |host| {
        host.add_virtual_switch(&SwitchSpec {
            name: "vSwitch1".into(),
            mtu: 1500,
            uplinks: BTreeSet::from(["vmnic1".into(), "vmnic2".into(), "vmnic3".into()]),
            teaming: Teaming {
                active: names(&["vmnic1", "vmnic2"]),
                standby: names(&["vmnic3"]),
            },
            policy: Some(storage_switch_policy()),
            teaming_policy: None,
            security: None,
        })?;
        host.add_port_group_with_policy("iSCSI-A", "vSwitch1", 10, &iscsi_overrides())
    })
    .expect("set up the unmanaged settings");
    drop(lab);
    match path {
        Via::Sim => ("sim:lab".to_owned(), None),
        Via::Vsphere => {
            let server = support::serve(scratch, "lab", PASSWORD);
            (server.target(), Some(server))
        }
    }
}

fn run(scratch: &Path, arguments: &[&str]) -> support::Run {
    with_password(scratch, PASSWORD, arguments)
}

fn observe(scratch: &Path) -> ObservedHost {
    Lab::open(scratch.join("lab"))
        .expect("the lab opens")
        .observe(HOST)
        .expect("the host")
}

/// Writes `manifests` (YAML documents after the Host) and answers their directory.
fn manifests(scratch: &Path, name: &str, documents: &str) -> String {
    let directory = scratch.join(name);
    std::fs::create_dir_all(&directory).unwrap();
    let host = format!("apiVersion: esxnet/v1\nkind: Host\nmetadata: {{name: {HOST}}}\n---\n");
    std::fs::write(directory.join("manifests.yaml"), host + documents).unwrap();
    directory.to_str().unwrap().to_owned()
}

/// A VLAN on iSCSI-A and on the Management Network, MTU 9000 and no vmnic3 on vSwitch1, and a
/// route on the default stack: nothing about policies.
fn unmanaged_manifests(scratch: &Path, gateway: Ipv4Addr) -> String {
    manifests(
        scratch,
        "unmanaged",
        &format!(
            "apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {{name: vSwitch1}}
spec:
  hosts: {{names: [{HOST}]}}
  mtu: 9000
  uplinks: [vmnic1, vmnic2]
  teaming: {{active: [vmnic1, vmnic2]}}
  portGroups:
    - {{name: iSCSI-A, vlan: 11}}
---
apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {{name: vSwitch0}}
spec:
  hosts: {{names: [{HOST}]}}
  portGroups:
    - {{name: Management Network, vlan: 100}}
---
apiVersion: esxnet/v1
kind: NetStack
metadata: {{name: default}}
spec:
  hosts: {{names: [{HOST}]}}
  stack: default
  routes: [{{destination: 10.220.0.0/16, gateway: {gateway}}}]
"
        ),
    )
}

/// The policies themselves: vSwitch1's teaming policy and security, iSCSI-A's overrides changed
/// and one dropped (`inherit`), and a new port group with its own order.
fn managed_manifests(scratch: &Path) -> String {
    manifests(
        scratch,
        "managed",
        &format!(
            "apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {{name: vSwitch1}}
spec:
  hosts: {{names: [{HOST}]}}
  teaming:
    active: [vmnic1]
    standby: [vmnic2]
    loadBalancing: failover_explicit
    failback: true
    notifySwitches: true
  security: {{allowPromiscuous: false, macChanges: false}}
  portGroups:
    - name: iSCSI-A
      vlan: 11
      teaming: {{active: [vmnic2], standby: [vmnic1], loadBalancing: inherit}}
      security: {{forgedTransmits: inherit, macChanges: false}}
    - name: iSCSI-B
      vlan: 11
      teaming: {{active: [vmnic1], unused: [vmnic2], beaconProbing: false}}
"
        ),
    )
}

fn assert_unmanaged_settings_survive(path: Via) {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let (target, server) = lab(scratch, path);
    let before = observe(scratch);
    let default_stack = before.stack(StackKind::Default).unwrap().clone();
    assert!(default_stack.dns_from_dhcp && !default_stack.dns.servers.is_empty());
    assert!(default_stack.ipv6_gateway_from_router_advertisement && default_stack.ipv6_gateway.is_some());
    assert_eq!(
        before.port_group("Management Network").unwrap().policy,
        PortGroupPolicy::installed_management_network()
    );
    let gateway = default_stack.ipv4_gateway.expect("a fresh host has an IPv4 gateway");
    let manifests = unmanaged_manifests(scratch, gateway);
    let applied = run(
        scratch,
        &[
            "apply",
            &manifests,
            "--target",
            &target,
            "--auto-approve",
            "--allow-management-changes",
        ],
    );
    assert_eq!(applied.code, 0, "{path:?}: {}", applied.all());
    let replanned = run(
        scratch,
        &["plan", &manifests, "--target", &target, "--detailed-exitcode"],
    );
    assert_eq!(
        replanned.code,
        0,
        "{path:?}: the next plan is empty: {}",
        replanned.all()
    );
    drop(server);
    let after = observe(scratch);

    // What the manifest asked for happened…
    let storage = after.switch("vSwitch1").unwrap();
    assert_eq!(
        (storage.mtu, &storage.uplinks),
        (9000, &BTreeSet::from(["vmnic1".into(), "vmnic2".into()])),
        "{path:?}"
    );
    assert_eq!(after.port_group("iSCSI-A").unwrap().vlan, 11, "{path:?}");
    assert_eq!(after.port_group("Management Network").unwrap().vlan, 100, "{path:?}");
    let stack = after.stack(StackKind::Default).unwrap();
    assert_eq!(
        stack.routes,
        [Route {
            destination: "10.220.0.0/16".parse().unwrap(),
            gateway: gateway.into(),
        }],
        "{path:?}"
    );
    // …and nothing else moved: policies, overrides, learned DNS and the learned IPv6 gateway.
    for name in ["vSwitch0", "vSwitch1"] {
        assert_eq!(
            after.switch(name).unwrap().policy,
            before.switch(name).unwrap().policy,
            "{path:?}: {name}'s beacon probing, security, teaming policy, shaping, LLDP and port count"
        );
    }
    for name in ["Management Network", "iSCSI-A"] {
        assert_eq!(
            after.port_group(name).unwrap().policy,
            before.port_group(name).unwrap().policy,
            "{path:?}: {name}'s overrides"
        );
    }
    assert!(stack.dns_from_dhcp, "{path:?}: DNS is still learned through DHCP");
    assert_eq!(stack.dns, default_stack.dns, "{path:?}");
    assert!(
        stack.ipv6_gateway_from_router_advertisement,
        "{path:?}: the IPv6 gateway is still learned, not static"
    );
    assert_eq!(stack.ipv6_gateway, default_stack.ipv6_gateway, "{path:?}");
}

#[test]
fn unmanaged_policies_and_learned_values_survive_a_vlan_mtu_uplink_and_route_change_through_sim() {
    assert_unmanaged_settings_survive(Via::Sim);
}

#[test]
fn unmanaged_policies_and_learned_values_survive_a_vlan_mtu_uplink_and_route_change_through_vsphere() {
    assert_unmanaged_settings_survive(Via::Vsphere);
}

fn assert_managed_policies_converge(path: Via) {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let (target, server) = lab(scratch, path);
    let before = observe(scratch);
    let manifests = managed_manifests(scratch);
    let planned = run(scratch, &["plan", &manifests, "--target", &target]);
    assert_eq!(planned.code, 0, "{path:?}: {}", planned.all());
    assert!(
        planned.stdout.contains("loadBalancing") && planned.stdout.contains("iSCSI-B"),
        "{path:?}: {}",
        planned.stdout
    );
    let applied = run(scratch, &["apply", &manifests, "--target", &target, "--auto-approve"]);
    assert_eq!(applied.code, 0, "{path:?}: {}", applied.all());
    let replanned = run(
        scratch,
        &["plan", &manifests, "--target", &target, "--detailed-exitcode"],
    );
    assert_eq!(
        replanned.code,
        0,
        "{path:?}: the next plan is empty: {}",
        replanned.all()
    );
    let drift = run(scratch, &["drift", &manifests, "--target", &target]);
    assert_eq!(drift.code, 0, "{path:?}: no drift: {}", drift.all());
    drop(server);
    let after = observe(scratch);

    let storage = after.switch("vSwitch1").unwrap();
    let expected = SwitchPolicy {
        teaming: TeamingPolicy {
            load_balancing: LoadBalancing::ExplicitFailover,
            failback: true,
            notify_switches: true,
            // Left out: stays on.
            beacon_probing: true,
        },
        security: SecurityPolicy {
            allow_promiscuous: false,
            mac_changes: false,
            // Left out: stays accepted.
            forged_transmits: true,
        },
        ..storage_switch_policy()
    };
    assert_eq!(
        storage.policy, expected,
        "{path:?}: shaping, LLDP, beacon interval and ports kept"
    );
    assert_eq!(
        (&storage.teaming.active, &storage.teaming.standby),
        (&names(&["vmnic1"]), &names(&["vmnic2"])),
        "{path:?}"
    );
    assert_eq!(storage.uplinks, before.switch("vSwitch1").unwrap().uplinks, "{path:?}");

    let iscsi_a = &after.port_group("iSCSI-A").unwrap().policy;
    let mut expected_a = iscsi_overrides();
    expected_a.teaming.load_balancing = None;
    expected_a.teaming.order = Some(Teaming {
        active: names(&["vmnic2"]),
        standby: names(&["vmnic1"]),
    });
    expected_a.security.forged_transmits = None;
    expected_a.security.mac_changes = Some(false);
    assert_eq!(iscsi_a, &expected_a, "{path:?}: its shaping override and failback kept");

    let iscsi_b = &after.port_group("iSCSI-B").unwrap().policy;
    assert_eq!(
        iscsi_b.teaming,
        TeamingOverride {
            beacon_probing: Some(false),
            order: Some(Teaming {
                active: names(&["vmnic1"]),
                standby: Vec::new(),
            }),
            ..TeamingOverride::default()
        },
        "{path:?}"
    );
    assert!(iscsi_b.security.is_empty() && iscsi_b.shaping.is_empty(), "{path:?}");
    assert_eq!(
        after.port_group("Management Network").unwrap().policy,
        before.port_group("Management Network").unwrap().policy,
        "{path:?}"
    );
}

#[test]
fn policies_declared_in_manifests_apply_and_converge_through_sim() {
    assert_managed_policies_converge(Via::Sim);
}

#[test]
fn policies_declared_in_manifests_apply_and_converge_through_vsphere() {
    assert_managed_policies_converge(Via::Vsphere);
}

//! The manifests under `manifests/examples/` are what users copy from, so they must be clean:
//! without a target, and against the example lab they are written for.

use std::path::{Path, PathBuf};

use esxnet_model::analysis;
use esxnet_model::{Diagnostic, ObservedFleet};
use serde_json::json;

fn repository_folder(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

fn rendered(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(|diagnostic| diagnostic.render(false)).collect()
}

/// The lab the examples are written for: every declared host has vmnic0–vmnic3, vSwitch0 with
/// vmnic0 and "Management Network" (VLAN 0), vmk0 on the default stack at 10.10.0.x/16 with
/// management, default gateway 10.10.0.1, ESXi 8.0.3, and the memberships of distributed
/// switches `distributed_switches`.
fn example_lab(hosts: &[String], distributed_switches: serde_json::Value) -> ObservedFleet {
    let mut fleet = serde_json::Map::new();
    for (index, host) in hosts.iter().enumerate() {
        let stack = |stack: &str, instantiated: bool, gateway: Option<&str>| {
            json!({"stack": stack, "instantiated": instantiated, "ipv4Gateway": gateway, "ipv6Gateway": null,
                   "maxConnections": 11000, "requestedMaxConnections": 11000, "congestionControl": "newreno"})
        };
        let nics: Vec<serde_json::Value> = (0..4)
            .map(|nic| json!({"device": format!("vmnic{nic}"), "mac": format!("00:50:56:00:{index:02x}:{nic:02x}"), "linkSpeedMb": 10000}))
            .collect();
        fleet.insert(
            host.clone(),
            json!({
                "name": host,
                "version": "8.0.3",
                "physicalNics": nics,
                "switches": [{"name": "vSwitch0", "mtu": 1500, "uplinks": ["vmnic0"],
                              "teaming": {"active": ["vmnic0"], "standby": []}}],
                "portGroups": [{"name": "Management Network", "switch": "vSwitch0", "vlan": 0}],
                "adapters": [{
                    "device": "vmk0",
                    "connection": {"type": "standard", "switch": "vSwitch0", "portGroup": "Management Network"},
                    "stack": "default", "mac": format!("00:50:56:aa:{index:02x}:00"), "mtu": 1500,
                    "ipv4": {"dhcp": false, "address": format!("10.10.0.{}", 11 + index), "prefixLength": 16, "gatewayOverride": null},
                    "ipv6": {"dhcp": false, "routerAdvertisement": true, "addresses": [], "gatewayOverride": null},
                    "services": ["management"]
                }],
                "stacks": [stack("default", true, Some("10.10.0.1")), stack("vmotion", false, None), stack("provisioning", false, None)],
                "distributedSwitches": distributed_switches.clone()
            }),
        );
    }
    serde_json::from_value(json!({ "hosts": fleet })).expect("the example lab is a valid ObservedFleet")
}

/// The distributed switch lab C's host is a member of, as vCenter made it.
fn dvs_lab() -> serde_json::Value {
    json!([{"name": "dvs-lab", "uuid": "50 2b 7c 1d", "mtu": 9000,
        "portGroups": [{"name": "dvpg-provisioning", "key": "dvportgroup-1001", "vlan": 140}]}])
}

#[test]
fn examples_are_clean_without_a_target() {
    let loaded = analysis::load(&[repository_folder("manifests/examples")]);
    let result = analysis::analyze(&loaded, None);
    assert!(result.diagnostics.is_empty(), "{}", rendered(&result.diagnostics));
    assert_eq!(result.fleet.hosts.len(), 4);
}

#[test]
fn examples_are_clean_against_the_example_lab() {
    let loaded = analysis::load(&[repository_folder("manifests/examples")]);
    let lab = example_lab(&analysis::declared_hosts(&loaded), dvs_lab());
    let result = analysis::analyze(&loaded, Some(&lab));
    assert!(result.diagnostics.is_empty(), "{}", rendered(&result.diagnostics));
    let pooled = result.fleet.hosts["esx-02.lab.example"]
        .adapters
        .get("provisioning")
        .expect("the provisioning adapter")
        .ipv4
        .network()
        .map(|network| network.addr().to_string());
    assert_eq!(
        pooled.as_deref(),
        Some("10.120.0.12"),
        "esx-02 gets the lowest free pool address"
    );
}

#[test]
fn every_example_file_names_the_schema() {
    for folder in ["manifests/examples"] {
        for entry in std::fs::read_dir(repository_folder(folder)).expect("folder exists") {
            let path = entry.expect("readable entry").path();
            let text = std::fs::read_to_string(&path).expect("readable file");
            assert!(
                text.starts_with("# yaml-language-server: $schema=../../schemas/manifest.schema.json\n"),
                "{} does not start with the schema line",
                path.display()
            );
        }
    }
}

#[test]
fn the_distributed_port_group_example_needs_a_member_of_its_switch() {
    let loaded = analysis::load(&[repository_folder("manifests/examples")]);
    // Lab C's host outside dvs-lab: the example is only valid for members (the other test shows it
    // clean for them).
    let lab = example_lab(&analysis::declared_hosts(&loaded), json!([]));
    let not_member = analysis::analyze(&loaded, Some(&lab));
    let errors: Vec<&Diagnostic> = not_member
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
        .collect();
    assert!(!errors.is_empty(), "a host outside dvs-lab is an error");
    for error in errors {
        assert_eq!(error.rule.as_str(), "ESX011", "{}", error.render(false));
        assert!(
            error.location.as_ref().is_some_and(|location| location
                .file
                .ends_with("50-provisioning-on-distributed-port-group.yaml")),
            "{}",
            error.render(false)
        );
    }
}

#![allow(dead_code)] // Each property test uses parts of this file.

//! Generated manifest sets for the property tests over the simulator (`convergence`,
//! `rollback_property`): two hosts, a switch with two port groups, up to two adapters on any
//! stack, stack gateways, DNS and connection limits.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

/// Hosts in a generated lab.
pub const HOSTS: u32 = 2;

/// One adapter of a generated manifest set.
#[derive(Debug, Clone)]
pub struct AdapterChoice {
    pub stack: &'static str,
    pub dhcp: bool,
    pub gateway_override: bool,
    pub jumbo: bool,
    pub services: Vec<&'static str>,
}

/// One generated manifest set.
#[derive(Debug, Clone)]
pub struct ManifestChoice {
    pub switch_jumbo: bool,
    pub uplinks: Vec<&'static str>,
    pub vlans: [u16; 2],
    pub adapters: [Option<AdapterChoice>; 2],
    pub provisioning_gateway_last_octet: u8,
    pub dns_servers: Vec<u8>,
    pub max_connections: Option<u32>,
}

pub fn adapter_choice() -> impl Strategy<Value = AdapterChoice> {
    (
        prop_oneof![Just("default"), Just("vmotion"), Just("provisioning")],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::sample::subsequence(
            vec!["faultToleranceLogging", "vSphereReplication", "vSphereBackupNFC"],
            0..3,
        ),
    )
        .prop_map(|(stack, dhcp, gateway_override, jumbo, services)| AdapterChoice {
            stack,
            dhcp,
            gateway_override,
            jumbo,
            services,
        })
}

pub fn manifest_choice() -> impl Strategy<Value = ManifestChoice> {
    (
        any::<bool>(),
        proptest::sample::subsequence(vec!["vmnic1", "vmnic2", "vmnic3"], 0..4),
        [0u16..4095, 0u16..4095],
        [
            proptest::option::of(adapter_choice()),
            proptest::option::of(adapter_choice()),
        ],
        1u8..250,
        proptest::collection::vec(1u8..250, 0..3),
        proptest::option::of(prop_oneof![Just(11000u32), Just(20000u32), Just(32000u32)]),
    )
        .prop_map(
            |(
                switch_jumbo,
                uplinks,
                vlans,
                adapters,
                provisioning_gateway_last_octet,
                dns_servers,
                max_connections,
            )| {
                ManifestChoice {
                    switch_jumbo,
                    uplinks,
                    vlans,
                    adapters,
                    provisioning_gateway_last_octet,
                    dns_servers,
                    max_connections,
                }
            },
        )
}

/// Writes a manifest set; returns its directory.
/// Writes a generated manifest set into `directory`; answers the directory.
pub fn write_manifests(directory: &Path, choice: &ManifestChoice) -> PathBuf {
    std::fs::create_dir_all(directory).unwrap();
    let mut text = String::new();
    for number in 1..=HOSTS {
        text.push_str(&format!(
            "apiVersion: esxnet/v1\nkind: Host\nmetadata: {{name: esx-{number}, labels: {{lab: a}}}}\n---\n"
        ));
    }
    let switch_mtu = if choice.switch_jumbo { 9000 } else { 1500 };
    text.push_str(&format!(
        "apiVersion: esxnet/v1\nkind: StandardSwitch\nmetadata: {{name: vSwitch1}}\nspec:\n  hosts: {{matchLabels: {{lab: a}}}}\n  mtu: {switch_mtu}\n  uplinks: [{}]\n  portGroups:\n    - {{name: pg-a, vlan: {}}}\n    - {{name: pg-b, vlan: {}}}\n---\n",
        choice.uplinks.join(", "),
        choice.vlans[0],
        choice.vlans[1]
    ));
    let mut stacks_with_adapters = std::collections::BTreeSet::new();
    for (index, adapter) in choice.adapters.iter().enumerate() {
        let Some(adapter) = adapter else { continue };
        stacks_with_adapters.insert(adapter.stack);
        let port_group = ["pg-a", "pg-b"][index];
        let subnet = 201 + index;
        let ipv4 = if adapter.dhcp {
            "{mode: dhcp}".to_owned()
        } else {
            let addresses: Vec<String> = (1..=HOSTS)
                .map(|number| format!("esx-{number}: 10.{subnet}.0.{}", 10 + number))
                .collect();
            let gateway = if adapter.gateway_override {
                format!(", gatewayOverride: 10.{subnet}.0.1")
            } else {
                String::new()
            };
            format!(
                "{{mode: static, prefixLength: 24, addresses: {{{}}}{gateway}}}",
                addresses.join(", ")
            )
        };
        let mtu = if adapter.jumbo && choice.switch_jumbo {
            9000
        } else {
            1500
        };
        let services = if adapter.stack == "default" {
            format!("\n  services: [{}]", adapter.services.join(", "))
        } else {
            String::new()
        };
        text.push_str(&format!(
            "apiVersion: esxnet/v1\nkind: VmkernelAdapter\nmetadata: {{name: adapter-{port_group}}}\nspec:\n  hosts: {{matchLabels: {{lab: a}}}}\n  stack: {}\n  portGroup: {{standardSwitch: vSwitch1, name: {port_group}}}\n  mtu: {mtu}\n  ipv4: {ipv4}{services}\n---\n",
            adapter.stack
        ));
    }
    // Stacks get explicit gateways wherever adapters use them (ESX005); a stack nothing
    // instantiates cannot be configured (ESX020).
    if stacks_with_adapters.contains("provisioning") {
        let dns: Vec<String> = choice
            .dns_servers
            .iter()
            .map(|octet| format!("10.0.0.{octet}"))
            .collect();
        let max_connections = choice
            .max_connections
            .map(|limit| format!("\n  maxConnections: {limit}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "apiVersion: esxnet/v1\nkind: NetStack\nmetadata: {{name: provisioning}}\nspec:\n  hosts: {{matchLabels: {{lab: a}}}}\n  stack: provisioning\n  ipv4Gateway: 10.120.0.{}\n  dns: {{servers: [{}]}}{max_connections}\n---\n",
            choice.provisioning_gateway_last_octet,
            dns.join(", ")
        ));
    }
    if stacks_with_adapters.contains("vmotion") {
        text.push_str("apiVersion: esxnet/v1\nkind: NetStack\nmetadata: {name: vmotion}\nspec:\n  hosts: {matchLabels: {lab: a}}\n  stack: vmotion\n  ipv4Gateway: 10.130.0.1\n---\n");
    }
    std::fs::write(directory.join("manifests.yaml"), text).unwrap();
    directory.to_path_buf()
}

//! `esxnet rollback` returns every host to its state before a run, for generated manifests on
//! the simulator: a start state (manifest set A applied to a fresh lab), a run (set B applied,
//! journaled), then the rollback of that run planned from the journal and applied. Library-level:
//! the operations the CLI calls.

use std::path::{Path, PathBuf};

use esxnet::ops::{self, ApplyRequest, PlanRequest};
use esxnet_model::observed::{ObservedFleet, ObservedHost};
use esxnet_planner::PlanOptions;
use esxnet_sim::{HostNames, InitOptions, Lab};
use proptest::prelude::*;

const HOSTS: u32 = 2;

/// One adapter of a generated manifest set.
#[derive(Debug, Clone)]
struct AdapterChoice {
    stack: &'static str,
    dhcp: bool,
    gateway_override: bool,
    jumbo: bool,
    services: Vec<&'static str>,
}

/// One generated manifest set.
#[derive(Debug, Clone)]
struct ManifestChoice {
    switch_jumbo: bool,
    uplinks: Vec<&'static str>,
    vlans: [u16; 2],
    adapters: [Option<AdapterChoice>; 2],
    provisioning_gateway_last_octet: u8,
    dns_servers: Vec<u8>,
    max_connections: Option<u32>,
}

fn adapter_choice() -> impl Strategy<Value = AdapterChoice> {
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

fn manifest_choice() -> impl Strategy<Value = ManifestChoice> {
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
fn write_manifests(directory: &Path, choice: &ManifestChoice) -> PathBuf {
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

/// A host as ESXi lets a rollback leave it: a stack an adapter instantiated stays instantiated,
/// and an adapter made again gets a MAC address of ESXi's choosing (and the link-local address
/// computed from it); everything else must be as it was.
fn as_restorable(host: &ObservedHost) -> ObservedHost {
    let mut host = host.clone();
    for stack in &mut host.stacks {
        stack.instantiated = true;
    }
    for adapter in &mut host.adapters {
        adapter.mac.clear();
        adapter
            .ipv6
            .addresses
            .retain(|address| address.origin != esxnet_model::observed::Ipv6Origin::Linklayer);
    }
    host
}

/// Applies a manifest set; `None` when the set is one esxnet refuses (the generator makes some).
fn apply_manifests(manifests: &Path, target: &str, journal: &Path) -> Option<esxnet_executor::ApplyReport> {
    let paths = [manifests.to_path_buf()];
    let planned = ops::plan(&PlanRequest {
        writable: true,
        options: PlanOptions::default(),
        ..PlanRequest::new(&paths, target)
    })
    .unwrap()
    .planned()
    .unwrap();
    if planned.plan.has_errors() {
        return None;
    }
    let report = ops::apply(
        planned,
        ApplyRequest {
            journal: Some(journal.to_path_buf()),
            ..ApplyRequest::default()
        },
    )
    .unwrap();
    Some(report)
}

fn observe(target: &str) -> ObservedFleet {
    ops::observe(target, &[], 4).unwrap()
}

fn rollback_restores(start: &ManifestChoice, run: &ManifestChoice) {
    let scratch = tempfile::tempdir().unwrap();
    let lab = scratch.path().join("lab");
    Lab::init(
        &lab,
        &InitOptions {
            hosts: HostNames::Count(HOSTS),
            ..InitOptions::default()
        },
    )
    .unwrap();
    let target = format!("sim:{}", lab.display());
    let journal = lab.join("journal.jsonl");
    let Some(first) = apply_manifests(&write_manifests(&scratch.path().join("a"), start), &target, &journal) else {
        return;
    };
    assert!(first.succeeded(), "{first:#?}");
    let before = observe(&target);
    let Some(second) = apply_manifests(&write_manifests(&scratch.path().join("b"), run), &target, &journal) else {
        return;
    };
    assert!(second.succeeded(), "{second:#?}");

    let planned = ops::plan_rollback(&target, Some(&second.run_id), 2).unwrap();
    assert!(!planned.plan.has_errors(), "{:#?}", planned.plan.diagnostics);
    let report = ops::apply_rollback(
        planned,
        ApplyRequest {
            journal: Some(journal.clone()),
            ..ApplyRequest::default()
        },
    )
    .unwrap();
    assert!(report.succeeded(), "{report:#?}");
    let after = observe(&target);
    for (name, host) in &before.hosts {
        assert_eq!(as_restorable(&after.hosts[name]), as_restorable(host), "{name} is back");
    }
    let again = ops::plan_rollback(&target, Some(&second.run_id), 2).unwrap();
    assert!(
        !again.plan.summary.has_changes(),
        "nothing left to roll back: {:#?}",
        again.plan.changes
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn rollback_returns_every_host_to_its_state_before_the_run(
        start in manifest_choice(),
        run in manifest_choice(),
    ) {
        rollback_restores(&start, &run);
    }
}

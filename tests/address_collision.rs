//! A manifest adapter named like an unmanaged device: `--prune` deletes the unmanaged `vmk1` and
//! creates the declared adapter `vmk1`. Both are changes of their own (one by device, one by
//! name), so both steps run and the next plan is empty.

mod support;

use esxnet_executor::backend::Ipv4Settings;
use esxnet_model::common::StackKind;
use esxnet_model::observed::{ObservedHost, PortConnection};
use esxnet_sim::{Lab, NewAdapter};
use support::esxnet;

const HOST: &str = "esx-01";

const MANIFESTS: &str = r#"apiVersion: esxnet/v1
kind: Host
metadata: {name: esx-01}
---
apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {name: vSwitch1}
spec:
  hosts: {names: [esx-01]}
  uplinks: [vmnic2]
  portGroups:
    - {name: Storage, vlan: 30}
---
# Named like the device the host already has on another port group, and not pinned to it.
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: vmk1}
spec:
  hosts: {names: [esx-01]}
  stack: default
  portGroup: {standardSwitch: vSwitch1, name: Storage}
  ipv4: {mode: dhcp}
"#;

fn host(scratch: &std::path::Path) -> ObservedHost {
    let lab = Lab::open(scratch.join("lab")).expect("the lab opens");
    lab.observe(HOST).expect("the host is observed")
}

#[test]
fn an_unmanaged_device_and_a_declared_adapter_of_the_same_name_are_both_changed() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    let init = esxnet(scratch, &["sim", "init", "lab", "--hosts", HOST]);
    assert_eq!(init.code, 0, "{}", init.all());
    let lab = Lab::open_writer(scratch.join("lab")).expect("the lab opens for writing");
    let device = lab
        .modify_host(HOST, |host| {
            host.add_port_group("Old", "vSwitch0", 20)?;
            host.add_virtual_nic(&NewAdapter {
                connection: PortConnection::Standard {
                    switch: "vSwitch0".into(),
                    port_group: "Old".into(),
                },
                stack: StackKind::Default,
                mtu: 1500,
                ipv4: Ipv4Settings {
                    dhcp: true,
                    address: None,
                    prefix_length: None,
                    gateway_override: None,
                },
                ipv6: None,
            })
        })
        .expect("an unmanaged adapter on port group Old");
    assert_eq!(device, "vmk1");
    drop(lab);
    std::fs::write(scratch.join("manifests.yaml"), MANIFESTS).expect("write the manifests");

    let plan = esxnet(
        scratch,
        &[
            "plan",
            "manifests.yaml",
            "--target",
            "sim:lab",
            "--prune",
            "--output",
            "json",
        ],
    );
    assert_eq!(plan.code, 0, "{}", plan.all());
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).expect("the plan is JSON");
    let adapter_steps: Vec<String> = plan["hosts"][0]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|step| {
            step["address"]
                .as_str()
                .is_some_and(|address| address.contains("VmkernelAdapter"))
        })
        .map(|step| {
            format!(
                "{} ({})",
                step["address"].as_str().unwrap_or(""),
                step["phase"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(adapter_steps.len(), 2, "a delete and a create: {adapter_steps:?}");

    let apply = esxnet(
        scratch,
        &[
            "apply",
            "manifests.yaml",
            "--target",
            "sim:lab",
            "--prune",
            "--auto-approve",
            "--output",
            "json",
        ],
    );
    assert_eq!(apply.code, 0, "{}", apply.all());
    let report: serde_json::Value = serde_json::from_str(&apply.stdout).expect("the apply report is JSON");
    let adapter_outcomes: Vec<String> = report["hosts"][0]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|step| step["kind"] == "VmkernelAdapter")
        .map(|step| {
            format!(
                "{} {}",
                step["phase"].as_str().unwrap_or(""),
                step["outcome"]["outcome"]
            )
        })
        .collect();
    assert_eq!(adapter_outcomes.len(), 2, "{adapter_outcomes:?}");
    assert!(
        adapter_outcomes.iter().all(|outcome| outcome.contains("applied")),
        "both adapter steps ran: {adapter_outcomes:?}\n{}",
        apply.all()
    );

    // The unmanaged adapter and its port group are gone; the declared adapter sits on Storage.
    let observed = host(scratch);
    assert!(observed.port_group("Old").is_none(), "port group Old is pruned");
    let adapters: Vec<(&str, &PortConnection)> = observed
        .adapters
        .iter()
        .map(|adapter| (adapter.device.as_str(), &adapter.connection))
        .collect();
    assert_eq!(adapters.len(), 2, "vmk0 and the declared adapter: {adapters:?}");
    assert!(
        adapters.iter().any(|(_, connection)| matches!(connection, PortConnection::Standard { port_group, .. } if port_group == "Storage")),
        "the declared adapter is on Storage: {adapters:?}"
    );

    let again = esxnet(
        scratch,
        &[
            "plan",
            "manifests.yaml",
            "--target",
            "sim:lab",
            "--prune",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(again.code, 0, "converged: the next plan is empty\n{}", again.all());
}

//! Shared helpers: desired state from manifest text, plans against an in-memory fleet.

#![allow(dead_code)]

use std::path::Path;

use esxnet_executor::testing::{fresh_fleet, MemoryBackend};
use esxnet_executor::{apply, ApplyOptions, ApplyReport, RetryPolicy};
use esxnet_model::observed::ObservedFleet;
use esxnet_planner::{Plan, PlanOptions};

/// Two hosts, a storage switch with two port groups, a Provisioning adapter with its stack's
/// gateway, and a default-stack vSAN adapter with services: every kind of object and step.
pub const MANIFESTS: &str = "\
apiVersion: esxnet/v1
kind: Host
metadata: {name: esx-01}
---
apiVersion: esxnet/v1
kind: Host
metadata: {name: esx-02}
---
apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {name: vSwitch1}
spec:
  hosts: {names: [esx-01, esx-02]}
  mtu: 9000
  uplinks: [vmnic2, vmnic3]
  teaming: {active: [vmnic2], standby: [vmnic3]}
  portGroups:
    - {name: Prov, vlan: 20}
    - {name: Storage, vlan: 30}
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: prov}
spec:
  hosts: {names: [esx-01, esx-02]}
  stack: provisioning
  portGroup: {standardSwitch: vSwitch1, name: Prov}
  mtu: 9000
  ipv4: {mode: static, prefixLength: 24, addresses: {esx-01: 10.20.0.11, esx-02: 10.20.0.12}}
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: storage}
spec:
  hosts: {names: [esx-01, esx-02]}
  portGroup: {standardSwitch: vSwitch1, name: Storage}
  mtu: 9000
  ipv4: {mode: static, prefixLength: 24, addresses: {esx-01: 10.30.0.11, esx-02: 10.30.0.12}}
  services: [vSphereReplication]
---
apiVersion: esxnet/v1
kind: NetStack
metadata: {name: prov}
spec:
  hosts: {names: [esx-01, esx-02]}
  stack: provisioning
  ipv4Gateway: 10.20.0.1
";

/// Plans `manifests` against `observed`, asserting that planning found no errors.
pub fn plan_text(manifests: &str, observed: &ObservedFleet) -> Plan {
    let (documents, diagnostics) = esxnet_model::load::load_str(Path::new("test.yaml"), manifests);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let loaded = esxnet_model::load::Loaded {
        documents,
        diagnostics,
        files: Vec::new(),
    };
    let analysis = esxnet_model::analysis::analyze(&loaded, Some(observed));
    let plan = esxnet_planner::plan(&analysis.fleet, observed, analysis.diagnostics, &PlanOptions::default());
    assert!(!plan.has_errors(), "{:#?}", plan.diagnostics);
    plan
}

/// The standard plan against two fresh hosts, and a backend holding those hosts.
pub fn standard_setup() -> (Plan, MemoryBackend) {
    let fleet = fresh_fleet(2);
    let plan = plan_text(MANIFESTS, &fleet);
    (plan, MemoryBackend::new(fleet))
}

/// Options for tests: quick retries.
pub fn fast_options() -> ApplyOptions {
    ApplyOptions {
        retry: RetryPolicy::fast(),
        ..ApplyOptions::default()
    }
}

/// Applies with [`fast_options`].
pub fn apply_fast(plan: &Plan, backend: &MemoryBackend) -> ApplyReport {
    apply(plan, backend, &fast_options()).expect("the memory backend is writable")
}

/// The steps of a host as `address (phase)` lines.
pub fn step_lines(plan: &Plan, host: &str) -> Vec<String> {
    plan.hosts
        .iter()
        .find(|host_plan| host_plan.host == host)
        .map(|host_plan| {
            host_plan
                .steps
                .iter()
                .map(|step| format!("{} ({})", step.address, step.phase))
                .collect()
        })
        .unwrap_or_default()
}

//! Every planned change is exactly one vSphere call, and nothing reads the inventory again once the
//! hosts are known: a vSphere apply against `sim serve`, counted by the server.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use esxnet_executor::{ApplyOptions, Backend};
use esxnet_model::analysis;
use esxnet_planner::PlanOptions;
use esxnet_sim::{HostNames, InitOptions, Lab};
use esxnet_sim_server::{serve, ServeOptions, ServerCounters};
use esxnet_vsphere::{ConnectOptions, Password, VsphereBackend, VsphereTarget};
use support::fleet;

const PASSWORD: &str = "counted-secret";
const HOSTS: usize = 12;

/// The vSphere method each planned step is carried out with, counted per host.
fn planned_calls(plan: &esxnet_planner::Plan) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut calls: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for host in &plan.hosts {
        for step in &host.steps {
            let change = plan
                .changes
                .iter()
                .find(|change| change.address == step.address)
                .expect("every step has its change");
            let method = match (change.kind.as_str(), step.phase) {
                ("StandardSwitch", esxnet_planner::Phase::Create) => "AddVirtualSwitch",
                ("StandardSwitch", esxnet_planner::Phase::Update) => "UpdateVirtualSwitch",
                ("PortGroup", esxnet_planner::Phase::Create) => "AddPortGroup",
                ("PortGroup", esxnet_planner::Phase::Update) => "UpdatePortGroup",
                ("VmkernelAdapter", esxnet_planner::Phase::Create) => "AddVirtualNic",
                ("VmkernelAdapter", esxnet_planner::Phase::Update) => "UpdateVirtualNic",
                ("NetStack", _) => "UpdateNetworkConfig",
                (kind, phase) => panic!("the benchmark fleet plans no {phase} of a {kind}"),
            };
            *calls
                .entry(host.host.clone())
                .or_default()
                .entry(method.to_owned())
                .or_insert(0) += 1;
        }
    }
    calls
}

fn mutating(counters: &ServerCounters, host: &str) -> BTreeMap<String, u64> {
    counters
        .host(host)
        .into_iter()
        .filter(|(method, _)| support::MUTATING_METHODS.contains(&method.as_str()))
        .collect()
}

/// Plans the fleet over the vSphere backend and applies it; `reuse_observation` is what
/// `apply --auto-approve` does, the other way what applying a saved plan does; `verify` is what
/// `apply` does unless `--no-verify`, with the network hints the plan's pre-flight check read.
fn apply_counted(reuse_observation: bool, verify: bool) {
    let scratch = tempfile::tempdir().unwrap();
    let (manifests, names) = fleet::write_fleet(scratch.path(), HOSTS);
    let lab_dir = scratch.path().join("lab");
    drop(
        Lab::init(
            &lab_dir,
            &InitOptions {
                hosts: HostNames::Names(names.clone()),
                ..InitOptions::default()
            },
        )
        .unwrap(),
    );
    let server = serve(ServeOptions::new(&lab_dir, "root", PASSWORD)).unwrap();
    let target = VsphereTarget::parse(&format!("vsphere://root@{}?insecure=true", server.server_address())).unwrap();
    let backend = VsphereBackend::connect_with(
        &target,
        &Password::new(PASSWORD.to_owned()),
        ConnectOptions {
            max_concurrent_calls: 4,
            ..ConnectOptions::default()
        },
    )
    .unwrap();

    let loaded = analysis::load(&[manifests]);
    let observed = esxnet_executor::observe_fleet(&backend, &names, 4).unwrap();
    let plan = esxnet::ops::plan_observed(&loaded, &observed, &PlanOptions::default());
    assert!(!plan.has_errors(), "the fleet plans cleanly");
    let expected = planned_calls(&plan);
    assert_eq!(expected.len(), HOSTS, "every host has changes");

    let after_observation = server.counters();
    assert_eq!(
        after_observation.method("CreateContainerView"),
        1,
        "observing the fleet reads the inventory once"
    );
    // The pre-flight check's question, as `esxnet plan` asks it: one QueryNetworkHint a host.
    let hints = esxnet_executor::network_hints_of(&backend, &names, 4);
    let before_apply = server.counters();
    let options = ApplyOptions {
        parallelism: 4,
        observed: reuse_observation.then(|| Arc::new(observed)),
        safety: esxnet_executor::Safety {
            verify,
            ..esxnet_executor::Safety::default()
        },
        hints: Some(Arc::new(hints)),
        ..ApplyOptions::default()
    };
    let report = esxnet_executor::apply(&plan, &backend, &options).unwrap();
    assert!(report.succeeded(), "{report:?}");
    let after = server.counters();

    assert_eq!(
        after.method("CreateContainerView"),
        1,
        "no operation reads the inventory again: {after:?}"
    );
    for host in &names {
        assert_eq!(
            mutating(&after, host),
            expected[host],
            "host {host}: exactly one mutating call per planned change"
        );
        let observations_in_apply = after.host(host).get("RetrievePropertiesEx").copied().unwrap_or(0)
            - before_apply
                .host(host)
                .get("RetrievePropertiesEx")
                .copied()
                .unwrap_or(0);
        // Verifying a host is one more round trip: its connection state comes with it.
        let allowed = u64::from(!reuse_observation) + u64::from(verify);
        assert_eq!(
            observations_in_apply, allowed,
            "host {host}: apply observes it {allowed} time(s), in one round trip, and no operation reads it again"
        );
        let hints_in_apply = after.host(host).get("QueryNetworkHint").copied().unwrap_or(0)
            - before_apply.host(host).get("QueryNetworkHint").copied().unwrap_or(0);
        assert_eq!(
            hints_in_apply, 0,
            "host {host}: verification judges by the pre-flight check's hints"
        );
    }

    // The next plan is empty: what was sent is what the manifests say.
    let observed = backend.observe_many(&names).unwrap();
    let replan = esxnet::ops::plan_observed(&loaded, &observed, &PlanOptions::default());
    assert!(!replan.summary.has_changes(), "the apply converged");
    drop(backend);
    server.stop().unwrap();
}

#[test]
fn a_fresh_apply_makes_one_call_per_change_and_observes_each_host_once() {
    apply_counted(true, false);
}

#[test]
fn a_verified_apply_reads_each_host_once_more_and_asks_for_no_hint_again() {
    apply_counted(true, true);
}

#[test]
fn applying_a_saved_plan_adds_one_observation_round_trip_per_host_and_nothing_else() {
    apply_counted(false, false);
}

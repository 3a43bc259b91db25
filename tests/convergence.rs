//! The executor's promises on the simulator, for generated desired/observed pairs:
//! plan → apply → plan is empty; applying twice changes nothing the second time; with a 30%
//! transient-fault rate apply still converges.
//!
//! A case generates two manifest sets, A and B. Applying A to a fresh lab makes the starting
//! (observed) state; B is the desired state. Library-level: the same calls the CLI makes.

use std::path::{Path, PathBuf};

use esxnet_executor::{ApplyOptions, Backend, RetryPolicy};
use esxnet_model::analysis;
use esxnet_planner::{Plan, PlanOptions};
use esxnet_sim::{HostNames, InitOptions, Lab, LabSettings, SimBackend};
use proptest::prelude::*;

#[path = "support/generated.rs"]
mod generated;

use generated::{manifest_choice, write_manifests, ManifestChoice, HOSTS};

fn make_plan(manifests: &Path, backend: &dyn Backend, options: &PlanOptions) -> Plan {
    let loaded = analysis::load(&[manifests.to_path_buf()]);
    assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
    let hosts = analysis::declared_hosts(&loaded);
    let observed = esxnet_executor::observe_fleet_with(backend, &hosts, 4, &patient_retry()).expect("observe");
    esxnet::ops::plan_observed(&loaded, &observed, options)
}

/// Enough attempts that a 30% fault rate fails a call for good about once in two million.
fn patient_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 12,
        ..RetryPolicy::fast()
    }
}

fn apply_options() -> ApplyOptions {
    ApplyOptions {
        parallelism: 2,
        retry: patient_retry(),
        ..ApplyOptions::default()
    }
}

fn new_lab(directory: &Path) -> PathBuf {
    let lab = directory.join("lab");
    Lab::init(
        &lab,
        &InitOptions {
            hosts: HostNames::Count(HOSTS),
            ..InitOptions::default()
        },
    )
    .unwrap();
    lab
}

fn mutating_calls(backend: &SimBackend) -> u64 {
    backend
        .counters()
        .hosts
        .values()
        .flat_map(|host| host.calls.iter())
        .filter(|(method, _)| method.as_str() != esxnet_sim::backend::OBSERVE_METHOD)
        .map(|(_, count)| count)
        .sum()
}

fn describe_errors(plan: &Plan) -> String {
    plan.diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
        .map(|diagnostic| diagnostic.render(false))
        .collect()
}

/// Applies A, then B; returns the backend (still the lab's writer) for further checks, or `None`
/// when B is not a valid next step from A (the generator cannot rule every rule out).
fn apply_a_then_b(
    scratch: &Path,
    start: &ManifestChoice,
    goal: &ManifestChoice,
    prune: bool,
    fault_rate: f64,
) -> Option<(SimBackend, PathBuf, PlanOptions)> {
    let lab = new_lab(scratch);
    let first = write_manifests(&scratch.join("a"), start);
    let second = write_manifests(&scratch.join("b"), goal);
    let backend = SimBackend::open_writer(&lab).unwrap();
    let start_options = PlanOptions::default();
    let start_plan = make_plan(&first, &backend, &start_options);
    assert!(
        !start_plan.has_errors(),
        "generated starting manifests are valid: {}",
        describe_errors(&start_plan)
    );
    let report = esxnet_executor::apply(&start_plan, &backend, &apply_options()).unwrap();
    assert!(report.succeeded(), "{report:#?}");
    if fault_rate > 0.0 {
        let settings = LabSettings {
            transient_fault_rate: fault_rate,
            seed: 7,
            ..backend.lab().settings().clone()
        };
        backend.lab().write_settings(&settings).unwrap();
        drop(backend);
        let backend = SimBackend::open_writer(&lab).unwrap();
        return finish(backend, second, prune);
    }
    finish(backend, second, prune)
}

fn finish(backend: SimBackend, second: PathBuf, prune: bool) -> Option<(SimBackend, PathBuf, PlanOptions)> {
    let options = PlanOptions {
        prune,
        allow_management_changes: false,
    };
    let plan = make_plan(&second, &backend, &options);
    if plan.has_errors() {
        return None;
    }
    let report = esxnet_executor::apply(&plan, &backend, &apply_options()).unwrap();
    assert!(
        report.succeeded(),
        "apply of B converges: {report:#?}\nplan: {}",
        esxnet_planner::render::text(&plan, Default::default())
    );
    Some((backend, second, options))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn plan_apply_plan_is_empty_and_a_second_apply_changes_nothing(
        start in manifest_choice(),
        goal in manifest_choice(),
        prune in any::<bool>(),
    ) {
        let scratch = tempfile::tempdir().unwrap();
        let Some((backend, goal_manifests, options)) = apply_a_then_b(scratch.path(), &start, &goal, prune, 0.0) else {
            return Err(TestCaseError::reject("B is not a valid next step from A"));
        };
        let replanned = make_plan(&goal_manifests, &backend, &options);
        prop_assert!(!replanned.summary.has_changes(), "plan after apply is empty:\n{}", esxnet_planner::render::text(&replanned, Default::default()));
        backend.reset_counters();
        let report = esxnet_executor::apply(&replanned, &backend, &apply_options()).unwrap();
        prop_assert!(report.succeeded());
        prop_assert_eq!(mutating_calls(&backend), 0, "the second apply changes nothing");
    }

    #[test]
    fn apply_converges_with_thirty_percent_transient_faults(
        start in manifest_choice(),
        goal in manifest_choice(),
    ) {
        let scratch = tempfile::tempdir().unwrap();
        let Some((backend, goal_manifests, options)) = apply_a_then_b(scratch.path(), &start, &goal, false, 0.3) else {
            return Err(TestCaseError::reject("B is not a valid next step from A"));
        };
        let injected: u64 = backend.counters().hosts.values().map(|host| host.transient_faults).sum::<u64>()
            + backend.counters().batch_transient_faults;
        let replanned = make_plan(&goal_manifests, &backend, &options);
        prop_assert!(!replanned.summary.has_changes(), "converged despite {injected} injected faults:\n{}", esxnet_planner::render::text(&replanned, Default::default()));
    }
}

#[test]
fn thirty_percent_fault_rate_really_injects_faults() {
    // Guards the property above: it must run with faults, not silently without them.
    let scratch = tempfile::tempdir().unwrap();
    let lab = new_lab(scratch.path());
    let backend = SimBackend::open_writer(&lab).unwrap();
    let settings = LabSettings {
        transient_fault_rate: 0.3,
        seed: 7,
        ..backend.lab().settings().clone()
    };
    backend.lab().write_settings(&settings).unwrap();
    drop(backend);
    let backend = SimBackend::open_writer(&lab).unwrap();
    let mut failures = 0;
    for _ in 0..100 {
        if backend.observe("esx-1").is_err() {
            failures += 1;
        }
    }
    assert!(
        (15..=45).contains(&failures),
        "about 30 of 100 calls fail, saw {failures}"
    );
}

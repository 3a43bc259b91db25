//! `esxnet rollback` returns every host to its state before a run, for generated manifests on
//! the simulator: a start state (manifest set A applied to a fresh lab), a run (set B applied,
//! journaled), then the rollback of that run planned from the journal and applied. Library-level:
//! the operations the CLI calls.

use std::path::Path;

use esxnet::ops::{self, ApplyRequest, PlanRequest};
use esxnet_model::observed::{ObservedFleet, ObservedHost};
use esxnet_planner::PlanOptions;
use esxnet_sim::{HostNames, InitOptions, Lab};
use proptest::prelude::*;

#[path = "support/generated.rs"]
mod generated;

use generated::{manifest_choice, write_manifests, ManifestChoice, HOSTS};

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

    let planned = ops::plan_rollback(Some(&target), Some(&second.run_id), 2).unwrap();
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
    let again = ops::plan_rollback(Some(&target), Some(&second.run_id), 2).unwrap();
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

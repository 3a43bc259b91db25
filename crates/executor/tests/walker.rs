//! The walker's promises against the in-memory backend: order, preconditions, idempotence,
//! retries, blocking, stale plans and call counts.

mod support;

use std::sync::{Arc, Mutex};

use esxnet_executor::testing::{fresh_fleet, MemoryBackend};
use esxnet_executor::{apply, Event, Fault, HostOutcome, Operation, StepOutcome};
use esxnet_model::observed::Teaming;
use esxnet_planner::{HostStatus, Phase, Plan};
use support::*;

const PROV_ADAPTER: &str =
    "add VMkernel adapter on port group \"Prov\" on standard switch \"vSwitch1\" (provisioning stack)";
const STORAGE_ADAPTER: &str =
    "add VMkernel adapter on port group \"Storage\" on standard switch \"vSwitch1\" (default stack)";

fn all_operations_in_order() -> Vec<String> {
    [
        "add standard switch vSwitch1",
        "add port group Prov",
        "add port group Storage",
        PROV_ADAPTER,
        STORAGE_ADAPTER,
        "edit the provisioning TCP/IP stack",
        "select vmk2 for vSphereReplication",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn outcome<'report>(report: &'report esxnet_executor::ApplyReport, host: &str, address: &str) -> &'report StepOutcome {
    &report
        .host(host)
        .and_then(|host| host.change(&address.parse().expect("an address")))
        .unwrap_or_else(|| panic!("{address} is in the report"))
        .outcome
}

fn collect_events() -> (Arc<Mutex<Vec<Event>>>, impl Fn(&Event) + Send + Sync + 'static) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    (events, move |event: &Event| sink.lock().unwrap().push(event.clone()))
}

#[test]
fn a_plan_is_applied_in_step_order_and_converges() {
    let (plan, backend) = standard_setup();
    let report = apply_fast(&plan, &backend);
    assert!(report.succeeded(), "{report:#?}");
    for host in ["esx-01", "esx-02"] {
        assert_eq!(backend.calls(host).performed, all_operations_in_order(), "{host}");
    }
    assert_eq!(report.counts.applied, 14);
    let replanned = plan_text(MANIFESTS, &backend.fleet());
    assert!(!replanned.summary.has_changes(), "{:#?}", replanned.changes);
}

#[test]
fn each_host_is_observed_once_when_nothing_is_stale() {
    let (plan, backend) = standard_setup();
    let report = apply_fast(&plan, &backend);
    assert!(report.succeeded());
    for host in ["esx-01", "esx-02"] {
        assert_eq!(backend.calls(host).observe, 1, "{host}");
        assert_eq!(backend.calls(host).execute, 7, "{host}");
        assert_eq!(report.host(host).unwrap().observations, 1);
    }
}

#[test]
fn hosts_start_from_the_plans_own_observation_when_it_still_matches() {
    let (plan, backend) = standard_setup();
    let mut planned_from = backend.fleet();
    // esx-02's copy no longer has the plan's fingerprint (someone changed the host meanwhile, as
    // far as this copy says): that host is observed again before its first change.
    planned_from
        .hosts
        .get_mut("esx-02")
        .unwrap()
        .switches
        .retain(|switch| switch.name != "vSwitch0");
    let options = esxnet_executor::ApplyOptions {
        observed: Some(Arc::new(planned_from)),
        ..fast_options()
    };
    let report = apply(&plan, &backend, &options).unwrap();
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(
        backend.calls("esx-01").observe,
        0,
        "esx-01 starts from the plan's observation"
    );
    assert_eq!(report.host("esx-01").unwrap().observations, 0);
    assert_eq!(
        backend.calls("esx-02").observe,
        1,
        "esx-02's copy is stale, so it is read again"
    );
    for host in ["esx-01", "esx-02"] {
        assert_eq!(backend.calls(host).performed, all_operations_in_order(), "{host}");
    }
}

#[test]
fn applying_the_same_plan_twice_sends_nothing_the_second_time() {
    let (plan, backend) = standard_setup();
    assert!(apply_fast(&plan, &backend).succeeded());
    backend.reset_calls();
    let second = apply_fast(&plan, &backend);
    assert!(second.succeeded(), "{second:#?}");
    for host in ["esx-01", "esx-02"] {
        assert_eq!(backend.calls(host).execute, 0, "{host}");
        assert_eq!(backend.calls(host).observe, 1, "{host}");
    }
    assert_eq!(second.counts.already_in_target, 14);
    assert_eq!(second.counts.applied, 0);
}

#[test]
fn preconditions_skip_changes_that_are_already_done() {
    let (plan, backend) = standard_setup();
    // Someone made the switch and one port group by hand, exactly as declared.
    backend
        .perform(
            "esx-01",
            &Operation::AddSwitch {
                name: "vSwitch1".into(),
                mtu: 9000,
                uplinks: ["vmnic2".to_owned(), "vmnic3".to_owned()].into(),
                teaming: Teaming {
                    active: vec!["vmnic2".into()],
                    standby: vec!["vmnic3".into()],
                },
                teaming_policy: Default::default(),
                security: Default::default(),
            },
        )
        .unwrap();
    backend
        .perform(
            "esx-01",
            &Operation::AddPortGroup {
                name: "Prov".into(),
                switch: "vSwitch1".into(),
                vlan: 20,
                teaming: Default::default(),
                security: Default::default(),
            },
        )
        .unwrap();
    let report = apply_fast(&plan, &backend);
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(
        outcome(&report, "esx-01", "esx-01/StandardSwitch/vSwitch1"),
        &StepOutcome::AlreadyInTarget
    );
    assert_eq!(
        outcome(&report, "esx-01", "esx-01/PortGroup/Prov"),
        &StepOutcome::AlreadyInTarget
    );
    assert_eq!(
        backend.calls("esx-01").performed,
        all_operations_in_order()[2..].to_vec()
    );
    assert_eq!(backend.calls("esx-02").performed, all_operations_in_order());
}

#[test]
fn transient_faults_are_retried_and_converge() {
    let (plan, backend) = standard_setup();
    backend.fail_executes_transiently("esx-01", 3);
    backend.fail_observes_transiently("esx-02", 2);
    let (events, observer) = collect_events();
    let options = fast_options().with_observer(observer);
    let report = apply(&plan, &backend, &options).unwrap();
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(backend.calls("esx-01").execute, 7 + 3);
    assert_eq!(backend.calls("esx-01").performed, all_operations_in_order());
    assert_eq!(backend.calls("esx-02").observe, 3);
    let first_step = report
        .host("esx-01")
        .unwrap()
        .step(&"esx-01/StandardSwitch/vSwitch1".parse().unwrap(), Phase::Create);
    assert_eq!(first_step.unwrap().attempts, 4);
    let retries = events
        .lock()
        .unwrap()
        .iter()
        .filter(|event| matches!(event, Event::Retrying { .. }))
        .count();
    assert_eq!(retries, 5);
}

#[test]
fn transient_faults_that_never_clear_fail_the_step_after_the_last_attempt() {
    let (plan, backend) = standard_setup();
    backend.fail_executes_transiently("esx-02", 1000);
    let report = apply_fast(&plan, &backend);
    assert!(!report.succeeded());
    let host = report.host("esx-02").unwrap();
    assert_eq!(host.outcome, HostOutcome::Failed);
    let first = host
        .step(&"esx-02/StandardSwitch/vSwitch1".parse().unwrap(), Phase::Create)
        .unwrap();
    assert_eq!(first.attempts, 6);
    match &first.outcome {
        StepOutcome::Failed { fault, message } => {
            assert_eq!(*fault, Some(Fault::Timeout));
            assert!(message.contains("retries ran out"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Everything on that host hangs off the switch.
    assert_eq!(report.counts.blocked, 6);
    assert_eq!(backend.calls("esx-02").execute, 6);
    assert_eq!(report.host("esx-01").unwrap().outcome, HostOutcome::Ok);
}

#[test]
fn a_permanent_fault_blocks_only_the_dependent_steps_of_its_host() {
    let (plan, backend) = standard_setup();
    backend.fail_operation("esx-01", "add port group Prov", Fault::InvalidArgument);
    let report = apply_fast(&plan, &backend);
    assert!(!report.succeeded());
    let failed_address = "esx-01/PortGroup/Prov";
    match outcome(&report, "esx-01", failed_address) {
        StepOutcome::Failed { fault, message } => {
            assert_eq!(*fault, Some(Fault::InvalidArgument));
            assert!(message.contains("add port group Prov"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let blocked = StepOutcome::Blocked {
        by: failed_address.parse().unwrap(),
    };
    assert_eq!(outcome(&report, "esx-01", "esx-01/VmkernelAdapter/prov"), &blocked);
    assert_eq!(outcome(&report, "esx-01", "esx-01/NetStack/provisioning"), &blocked);
    // Services wait for the first Provisioning adapter: it deselects provisioning elsewhere.
    assert_eq!(outcome(&report, "esx-01", "esx-01/Services/storage"), &blocked);
    for independent in [
        "esx-01/StandardSwitch/vSwitch1",
        "esx-01/PortGroup/Storage",
        "esx-01/VmkernelAdapter/storage",
    ] {
        assert!(
            matches!(outcome(&report, "esx-01", independent), StepOutcome::Applied { .. }),
            "{independent}"
        );
    }
    assert_eq!(
        backend.calls("esx-01").performed,
        vec![
            "add standard switch vSwitch1".to_owned(),
            "add port group Storage".to_owned(),
            STORAGE_ADAPTER.to_owned(),
        ]
    );
    assert_eq!(report.host("esx-01").unwrap().outcome, HostOutcome::Failed);
    assert_eq!(report.host("esx-02").unwrap().outcome, HostOutcome::Ok);
    assert_eq!(backend.calls("esx-02").performed, all_operations_in_order());
    assert_eq!((report.counts.failed, report.counts.blocked), (1, 3));
}

#[test]
fn an_object_changed_after_planning_stops_its_host_with_a_stale_plan_error() {
    let (plan, backend) = standard_setup();
    backend
        .perform(
            "esx-01",
            &Operation::AddSwitch {
                name: "vSwitch1".into(),
                mtu: 1500,
                uplinks: ["vmnic2".to_owned()].into(),
                teaming: Teaming::default(),
                teaming_policy: Default::default(),
                security: Default::default(),
            },
        )
        .unwrap();
    let report = apply_fast(&plan, &backend);
    assert!(!report.succeeded());
    let host = report.host("esx-01").unwrap();
    assert_eq!(host.outcome, HostOutcome::Stale);
    let message = host.message.as_deref().unwrap();
    assert!(
        message.contains("stale plan: esx-01/StandardSwitch/vSwitch1 changed since the plan was made; run plan again"),
        "{message}"
    );
    assert!(message.contains("host esx-01"), "{message}");
    assert_eq!(report.counts.stale, 1);
    assert_eq!(report.counts.not_run, 6);
    assert_eq!(backend.calls("esx-01").execute, 0);
    // The carried model might have been wrong: the host was read once more before giving up.
    assert_eq!(backend.calls("esx-01").observe, 2);
    assert_eq!(report.host("esx-02").unwrap().outcome, HostOutcome::Ok);
}

#[test]
fn an_already_exists_answer_is_checked_against_a_fresh_observation() {
    let (plan, backend) = standard_setup();
    let backend = Arc::new(backend);
    let racing = Arc::clone(&backend);
    // Another administrator adds the Storage port group, as declared, right after the switch.
    let observer = move |event: &Event| {
        if let Event::StepFinished { host, address, .. } = event {
            if host == "esx-01" && address.to_string() == "esx-01/StandardSwitch/vSwitch1" {
                racing
                    .perform(
                        "esx-01",
                        &Operation::AddPortGroup {
                            name: "Storage".into(),
                            switch: "vSwitch1".into(),
                            vlan: 30,
                            teaming: Default::default(),
                            security: Default::default(),
                        },
                    )
                    .unwrap();
            }
        }
    };
    let report = apply(&plan, backend.as_ref(), &fast_options().with_observer(observer)).unwrap();
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(
        outcome(&report, "esx-01", "esx-01/PortGroup/Storage"),
        &StepOutcome::AlreadyInTarget
    );
    assert_eq!(backend.calls("esx-01").observe, 2);
}

#[test]
fn refused_hosts_are_not_touched() {
    let (mut plan, backend) = standard_setup();
    let refused = plan.hosts.iter_mut().find(|host| host.host == "esx-02").unwrap();
    refused.status = HostStatus::Refused {
        reason: "its manifests have errors".into(),
    };
    refused.steps.clear();
    refused.edges.clear();
    let report = apply_fast(&plan, &backend);
    assert_eq!(report.host("esx-02").unwrap().outcome, HostOutcome::Refused);
    assert_eq!(backend.calls("esx-02"), Default::default());
    assert_eq!(report.host("esx-01").unwrap().outcome, HostOutcome::Ok);
    assert!(!report.succeeded());
}

#[test]
fn events_tell_the_story_of_each_host_in_order() {
    let (plan, backend) = standard_setup();
    let (events, observer) = collect_events();
    let report = apply(&plan, &backend, &fast_options().with_observer(observer)).unwrap();
    assert!(report.succeeded());
    let events = events.lock().unwrap();
    assert!(matches!(
        events[0],
        Event::RunStarted {
            hosts: 2,
            steps: 14,
            ..
        }
    ));
    let of_esx_01: Vec<String> = events
        .iter()
        .filter_map(|event| match event {
            Event::HostStarted { host, .. } if host == "esx-01" => Some("host started".to_owned()),
            Event::StepStarted { host, index, .. } if host == "esx-01" => Some(format!("started {index}")),
            Event::StepFinished {
                host, index, outcome, ..
            } if host == "esx-01" => Some(format!("finished {index} {}", outcome.label())),
            Event::HostFinished { host, outcome, .. } if host == "esx-01" => Some(format!("host {outcome:?}")),
            _ => None,
        })
        .collect();
    let mut expected = vec!["host started".to_owned()];
    for index in 0..7 {
        expected.push(format!("started {index}"));
        expected.push(format!("finished {index} applied"));
    }
    expected.push("host Ok".to_owned());
    assert_eq!(of_esx_01, expected);
}

/// A plan cut after its first `keep` steps per host, as a killed run leaves the hosts.
fn truncated(plan: &Plan, keep: usize) -> Plan {
    let mut cut = plan.clone();
    for host in &mut cut.hosts {
        host.steps.truncate(keep);
        host.edges.retain(|[before, after]| *before < keep && *after < keep);
    }
    cut
}

#[test]
fn a_run_killed_halfway_resumes_to_the_same_final_state() {
    let (plan, interrupted) = standard_setup();
    assert!(apply_fast(&truncated(&plan, 4), &interrupted).succeeded());
    let resumed = apply_fast(&plan, &interrupted);
    assert!(resumed.succeeded(), "{resumed:#?}");
    assert_eq!(resumed.counts.already_in_target, 8);
    assert_eq!(resumed.counts.applied, 6);

    let uninterrupted = MemoryBackend::new(fresh_fleet(2));
    assert!(apply_fast(&plan, &uninterrupted).succeeded());
    assert_eq!(interrupted.fleet(), uninterrupted.fleet());
}

#[test]
fn updates_and_services_changes_use_the_existing_device() {
    let (plan, backend) = standard_setup();
    assert!(apply_fast(&plan, &backend).succeeded());
    let changed = MANIFESTS
        .replace(
            "  mtu: 9000\n  ipv4: {mode: static, prefixLength: 24, addresses: {esx-01: 10.30.0.11",
            "  mtu: 1500\n  ipv4: {mode: static, prefixLength: 24, addresses: {esx-01: 10.30.0.11",
        )
        .replace("services: [vSphereReplication]", "services: [vmotion]")
        .replace("ipv4Gateway: 10.20.0.1", "ipv4Gateway: 10.20.0.254");
    let second_plan = plan_text(&changed, &backend.fleet());
    assert_eq!(second_plan.summary.update, 2 * 3, "{:#?}", second_plan.changes);
    backend.reset_calls();
    let report = apply_fast(&second_plan, &backend);
    assert!(report.succeeded(), "{report:#?}");
    let performed = backend.calls("esx-01").performed;
    assert!(
        performed.contains(&"update VMkernel adapter vmk2".to_owned()),
        "{performed:?}"
    );
    assert!(
        performed.contains(&"select vmk2 for vmotion".to_owned()),
        "{performed:?}"
    );
    assert!(
        performed.contains(&"deselect vmk2 for vSphereReplication".to_owned()),
        "{performed:?}"
    );
    assert!(
        performed.contains(&"edit the provisioning TCP/IP stack".to_owned()),
        "{performed:?}"
    );
    assert!(!plan_text(&changed, &backend.fleet()).summary.has_changes());
}

fn without_storage_adapter(manifests: &str) -> String {
    let start = manifests
        .find("kind: VmkernelAdapter\nmetadata: {name: storage}")
        .unwrap();
    let document_start = manifests[..start].rfind("---\n").unwrap();
    let document_end = start + manifests[start..].find("---\n").unwrap();
    format!("{}{}", &manifests[..document_start], &manifests[document_end..])
}

#[test]
fn replaces_delete_then_create_and_resume_after_either_half() {
    let (plan, backend) = standard_setup();
    assert!(apply_fast(&plan, &backend).succeeded());
    let moved = MANIFESTS.replace(
        "  portGroup: {standardSwitch: vSwitch1, name: Storage}\n",
        "  stack: vmotion\n  portGroup: {standardSwitch: vSwitch1, name: Storage}\n",
    );
    let moved = moved.replace("  services: [vSphereReplication]\n", "");
    let moved = format!(
        "{moved}---\napiVersion: esxnet/v1\nkind: NetStack\nmetadata: {{name: vmotion}}\nspec:\n  hosts: {{names: [esx-01, esx-02]}}\n  stack: vmotion\n  ipv4Gateway: 10.30.0.1\n"
    );
    let replace_plan = plan_text(&moved, &backend.fleet());
    assert_eq!(replace_plan.summary.replace, 2, "{:#?}", replace_plan.changes);
    let steps = step_lines(&replace_plan, "esx-01");
    assert!(
        steps.contains(&"esx-01/VmkernelAdapter/storage (delete)".to_owned()),
        "{steps:?}"
    );

    // Killed after the delete half: the resumed run skips it and creates.
    let delete_index = steps
        .iter()
        .position(|step| step == "esx-01/VmkernelAdapter/storage (delete)")
        .unwrap();
    backend.reset_calls();
    assert!(apply_fast(&truncated(&replace_plan, delete_index + 1), &backend).succeeded());
    assert_eq!(
        backend.calls("esx-01").performed.last().map(String::as_str),
        Some("remove VMkernel adapter vmk2")
    );
    let resumed = apply_fast(&replace_plan, &backend);
    assert!(resumed.succeeded(), "{resumed:#?}");
    let host = resumed.host("esx-01").unwrap();
    assert_eq!(
        host.step(&"esx-01/VmkernelAdapter/storage".parse().unwrap(), Phase::Delete)
            .unwrap()
            .outcome,
        StepOutcome::AlreadyInTarget
    );
    assert!(matches!(
        host.step(&"esx-01/VmkernelAdapter/storage".parse().unwrap(), Phase::Create)
            .unwrap()
            .outcome,
        StepOutcome::Applied { .. }
    ));
    // Applying the whole replace again finds the new adapter: both halves are skipped.
    backend.reset_calls();
    let again = apply_fast(&replace_plan, &backend);
    assert!(again.succeeded(), "{again:#?}");
    assert_eq!(backend.calls("esx-01").execute, 0);
    assert!(!plan_text(&moved, &backend.fleet()).summary.has_changes());
}

#[test]
fn pruning_deletes_in_reverse_order() {
    let (plan, backend) = standard_setup();
    assert!(apply_fast(&plan, &backend).succeeded());
    let smaller = without_storage_adapter(MANIFESTS).replace("    - {name: Storage, vlan: 30}\n", "");
    let observed = backend.fleet();
    let (documents, diagnostics) = esxnet_model::load::load_str(std::path::Path::new("t.yaml"), &smaller);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let loaded = esxnet_model::load::Loaded {
        documents,
        diagnostics,
        files: Vec::new(),
    };
    let analysis = esxnet_model::analysis::analyze(&loaded, Some(&observed));
    let options = esxnet_planner::PlanOptions {
        prune: true,
        allow_management_changes: false,
    };
    let prune_plan = esxnet_planner::plan(&analysis.fleet, &observed, analysis.diagnostics, &options);
    assert!(!prune_plan.has_errors(), "{:#?}", prune_plan.diagnostics);
    backend.reset_calls();
    let report = apply_fast(&prune_plan, &backend);
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(
        backend.calls("esx-01").performed,
        vec![
            "remove VMkernel adapter vmk2".to_owned(),
            "remove port group Storage".to_owned()
        ]
    );
}

#[test]
fn hosts_run_in_parallel_up_to_the_limit() {
    let fleet = fresh_fleet(6);
    let manifests = MANIFESTS
        .replace(
            "kind: Host\nmetadata: {name: esx-02}\n",
            "kind: Host\nmetadata: {name: esx-02}\n---\napiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-03}\n---\napiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-04}\n---\napiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-05}\n---\napiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-06}\n",
        )
        .replace("{names: [esx-01, esx-02]}", "{matchLabels: {}}")
        .replace("esx-02: 10.20.0.12}", "esx-02: 10.20.0.12, esx-03: 10.20.0.13, esx-04: 10.20.0.14, esx-05: 10.20.0.15, esx-06: 10.20.0.16}")
        .replace("esx-02: 10.30.0.12}", "esx-02: 10.30.0.12, esx-03: 10.30.0.13, esx-04: 10.30.0.14, esx-05: 10.30.0.15, esx-06: 10.30.0.16}");
    let plan = plan_text(&manifests, &fleet);
    assert_eq!(plan.hosts.len(), 6);
    let backend = MemoryBackend::new(fleet);
    backend.set_latency(std::time::Duration::from_millis(3));
    let options = esxnet_executor::ApplyOptions {
        parallelism: 2,
        ..fast_options()
    };
    let report = apply(&plan, &backend, &options).unwrap();
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(backend.most_calls_in_flight(), 2);
    for number in 1..=6 {
        assert_eq!(backend.calls(&format!("esx-{number:02}")).execute, 7);
    }
}

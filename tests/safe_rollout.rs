//! Safe rollout with the real binary on a simulated lab whose fabric is wrong for some hosts:
//! pre-flight warnings, verification after apply, automatic rollback to the journaled
//! before-state, canary and failure budget, confirmed applies, and `esxnet rollback`.

mod support;

use std::path::Path;
use std::time::Duration;

use esxnet_model::observed::{ObservedFleet, ObservedHost};
use esxnet_sim::SimBackend;
use support::{command, esxnet, examples};

const EXAMPLE_HOSTS: &str = "esx-01.lab.example,esx-02.lab.example,esx-03.lab.example,esx-04.lab.example";
const BAD_HOST: &str = "esx-02.lab.example";

/// The lab the examples are written for, with `extra` options for `sim init`.
fn example_lab(scratch: &Path, extra: &[&str]) {
    let mut arguments = vec![
        "sim",
        "init",
        "lab",
        "--hosts",
        EXAMPLE_HOSTS,
        "--distributed-switch",
        "dvs-lab:9000",
        "--distributed-port-group",
        "dvs-lab/dvpg-provisioning",
    ];
    arguments.extend_from_slice(extra);
    let init = esxnet(scratch, &arguments);
    assert_eq!(init.code, 0, "{}", init.all());
}

/// The example lab, esx-02's vmnic2 and vmnic3 on switch ports without VLAN 120.
fn example_lab_missing_vlan_120(scratch: &Path) {
    example_lab(
        scratch,
        &[
            "--uplink-vlans",
            "esx-02.lab.example:vmnic2=0,130",
            "--uplink-vlans",
            "esx-02.lab.example:vmnic3=0,130",
        ],
    );
}

fn observe(scratch: &Path) -> ObservedFleet {
    let observed = esxnet(scratch, &["observe", "--target", "sim:lab", "--output", "json"]);
    assert_eq!(observed.code, 0, "{}", observed.all());
    serde_json::from_str(&observed.stdout).expect("observe prints a fleet")
}

/// A host as ESXi lets a rollback leave it: a vMotion or Provisioning stack, once an adapter
/// instantiated it, stays instantiated (the rollback plan says so); everything else is compared.
fn as_restorable(host: &ObservedHost) -> ObservedHost {
    let mut host = host.clone();
    for stack in &mut host.stacks {
        stack.instantiated = true;
    }
    host
}

fn mutating_calls(lab: &Path, host: &str) -> u64 {
    let counters = SimBackend::read_counters(lab).expect("the apply left its counters");
    counters
        .hosts
        .get(host)
        .map(|host| {
            support::MUTATING_METHODS
                .iter()
                .map(|method| host.calls.get(*method).copied().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_host_whose_uplinks_lack_its_vlan_is_warned_about_rolled_back_and_named() {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    example_lab_missing_vlan_120(scratch);
    let examples = examples();
    let examples = examples.to_str().unwrap();
    let before = observe(scratch);

    let plan = esxnet(scratch, &["plan", examples, "--target", "sim:lab"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    let warnings: Vec<&str> = plan
        .stderr
        .lines()
        .filter(|line| line.starts_with("warning[ESX025]"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning, for esx-02's provisioning adapter: {}",
        plan.stderr
    );
    assert!(
        warnings[0].contains(BAD_HOST) && warnings[0].contains("VLAN 120"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("vmnic2"), "names the uplink: {}", warnings[0]);
    assert!(
        warnings[0].contains("carries VLANs 0, 130"),
        "says what is there: {}",
        warnings[0]
    );

    let apply = esxnet(scratch, &["apply", examples, "--target", "sim:lab", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{}", apply.all());
    assert!(
        apply.stdout.contains(&format!("{BAD_HOST}: rolled back")),
        "{}",
        apply.stdout
    );
    assert!(apply.stdout.contains("check reachability failed"), "{}", apply.stdout);
    assert!(
        apply.stdout.contains("the host is back in its state before the run"),
        "{}",
        apply.stdout
    );
    // Verification judged by the hints the plan's pre-flight check read: one question a host.
    let counters = SimBackend::read_counters(scratch.join("lab")).expect("the apply left its counters");
    let hint_calls: Vec<u64> = counters
        .hosts
        .values()
        .filter_map(|calls| calls.calls.get(esxnet_sim::backend::NETWORK_HINT_METHOD).copied())
        .collect();
    assert_eq!(hint_calls.len(), 4, "every host changes an adapter: {counters:?}");
    assert!(hint_calls.iter().all(|count| *count == 1), "{hint_calls:?}");

    let after = observe(scratch);
    assert_eq!(
        as_restorable(&after.hosts[BAD_HOST]),
        as_restorable(&before.hosts[BAD_HOST]),
        "esx-02 is as it was before the apply"
    );
    let replan = esxnet(scratch, &["plan", examples, "--target", "sim:lab", "--output", "json"]);
    let replan: serde_json::Value = serde_json::from_str(&replan.stdout).unwrap();
    let changed: Vec<&str> = replan["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|host| !host["steps"].as_array().unwrap().is_empty())
        .map(|host| host["host"].as_str().unwrap())
        .collect();
    assert_eq!(changed, vec![BAD_HOST], "the good hosts converged, the bad one is back");
}

#[test]
fn with_no_verify_the_same_apply_keeps_every_change_and_reads_no_host_again() {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    example_lab_missing_vlan_120(scratch);
    let examples = examples();
    let examples = examples.to_str().unwrap();
    let apply = esxnet(
        scratch,
        &[
            "apply",
            examples,
            "--target",
            "sim:lab",
            "--auto-approve",
            "--no-verify",
        ],
    );
    assert_eq!(
        apply.code,
        0,
        "nothing checks the fabric, so nothing fails: {}",
        apply.all()
    );
    assert!(!apply.stdout.contains("rolled back"), "{}", apply.stdout);
    // No host was read after its changes: each was observed once, for the plan.
    let counters = SimBackend::read_counters(scratch.join("lab")).expect("the apply left its counters");
    assert!(!counters.hosts.is_empty());
    for (host, calls) in &counters.hosts {
        assert_eq!(
            calls
                .calls
                .get(esxnet_sim::backend::OBSERVE_METHOD)
                .copied()
                .unwrap_or(0),
            1,
            "{host}: {calls:?}"
        );
    }
    // The bad host keeps its changes: the re-plan is empty everywhere.
    let replan = esxnet(
        scratch,
        &["plan", examples, "--target", "sim:lab", "--detailed-exitcode"],
    );
    assert_eq!(replan.code, 0, "{}", replan.all());
}

/// Manifests that give every host an adapter on VLAN 120 through vmnic2, and a lab whose vmnic2
/// ports carry only VLAN 0: every host fails verification.
fn fleet_where_every_host_fails(scratch: &Path, hosts: usize) -> Vec<String> {
    let names: Vec<String> = (1..=hosts).map(|number| format!("esx-{number:02}")).collect();
    let mut init = vec![
        "sim".to_owned(),
        "init".to_owned(),
        "lab".to_owned(),
        "--hosts".to_owned(),
        names.join(","),
    ];
    for name in &names {
        init.push("--uplink-vlans".to_owned());
        init.push(format!("{name}:vmnic2=0"));
    }
    let init: Vec<&str> = init.iter().map(String::as_str).collect();
    let made = esxnet(scratch, &init);
    assert_eq!(made.code, 0, "{}", made.all());
    let mut manifests = String::new();
    for name in &names {
        manifests.push_str(&format!(
            "apiVersion: esxnet/v1\nkind: Host\nmetadata: {{name: {name}, labels: {{cluster: a}}}}\n---\n"
        ));
    }
    manifests.push_str(
        "apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {name: vSwitch1}
spec:
  hosts: {matchLabels: {cluster: a}}
  uplinks: [vmnic2]
  portGroups:
    - {name: Provisioning, vlan: 120}
---
apiVersion: esxnet/v1
kind: NetStack
metadata: {name: provisioning}
spec:
  hosts: {matchLabels: {cluster: a}}
  stack: provisioning
  ipv4Gateway: 10.120.0.1
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: provisioning}
spec:
  hosts: {matchLabels: {cluster: a}}
  stack: provisioning
  portGroup: {standardSwitch: vSwitch1, name: Provisioning}
  ipv4: {mode: static, prefixLength: 24, pool: 10.120.0.11-10.120.0.60}
",
    );
    std::fs::write(scratch.join("fleet.yaml"), manifests).unwrap();
    names
}

#[test]
fn a_failed_canary_is_rolled_back_and_no_other_host_is_touched() {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let hosts = fleet_where_every_host_fails(scratch, 4);
    let before = observe(scratch);
    let apply = esxnet(
        scratch,
        &[
            "apply",
            "fleet.yaml",
            "--target",
            "sim:lab",
            "--auto-approve",
            "--canary",
            "1",
            "--max-failures",
            "1",
        ],
    );
    assert_eq!(apply.code, 1, "{}", apply.all());
    assert!(
        apply
            .stderr
            .contains("Rollout: canary esx-01; then esx-02, esx-03, esx-04"),
        "the order is shown before the run: {}",
        apply.stderr
    );
    assert!(apply.stdout.contains("esx-01: rolled back"), "{}", apply.stdout);
    for host in &hosts[1..] {
        assert!(
            apply.stdout.contains(&format!("{host}: not started")),
            "{}",
            apply.stdout
        );
    }
    let lab = scratch.join("lab");
    assert!(mutating_calls(&lab, "esx-01") > 0, "the canary was changed");
    for host in &hosts[1..] {
        assert_eq!(mutating_calls(&lab, host), 0, "{host} was not touched");
    }
    let after = observe(scratch);
    for host in &hosts {
        assert_eq!(
            as_restorable(&after.hosts[host]),
            as_restorable(&before.hosts[host]),
            "{host} is as before"
        );
    }
    for host in &hosts[1..] {
        assert_eq!(after.hosts[host], before.hosts[host], "{host} is exactly as before");
    }
}

#[test]
fn a_budget_of_two_lets_a_second_host_fail_then_stops() {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let hosts = fleet_where_every_host_fails(scratch, 4);
    let apply = esxnet(
        scratch,
        &[
            "apply",
            "fleet.yaml",
            "--target",
            "sim:lab",
            "--auto-approve",
            "--canary",
            "1",
            "--max-failures",
            "2",
            "--parallelism",
            "1",
        ],
    );
    assert_eq!(apply.code, 1, "{}", apply.all());
    let lab = scratch.join("lab");
    let changed: Vec<&String> = hosts.iter().filter(|host| mutating_calls(&lab, host) > 0).collect();
    assert_eq!(
        changed,
        vec![&hosts[0], &hosts[1]],
        "the canary and one more: {}",
        apply.stdout
    );
}

#[test]
fn an_unconfirmed_apply_is_rolled_back_when_its_window_ends() {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    example_lab(scratch, &[]);
    let before = observe(scratch);
    let examples = examples();
    let apply = esxnet(
        scratch,
        &[
            "apply",
            examples.to_str().unwrap(),
            "--target",
            "sim:lab",
            "--auto-approve",
            "--confirm-within",
            "300ms",
        ],
    );
    assert_eq!(apply.code, 1, "{}", apply.all());
    assert!(
        apply.stderr.contains("esxnet confirm"),
        "says how to confirm: {}",
        apply.stderr
    );
    assert!(apply.stdout.contains("not confirmed within"), "{}", apply.stdout);
    let after = observe(scratch);
    for (name, host) in &before.hosts {
        assert_eq!(as_restorable(&after.hosts[name]), as_restorable(host), "{name} is back");
    }
}

#[test]
fn a_confirmed_apply_keeps_its_changes() {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    example_lab(scratch, &[]);
    let examples = examples();
    let examples = examples.to_str().unwrap();
    let child = command(
        scratch,
        &[
            "apply",
            examples,
            "--target",
            "sim:lab",
            "--auto-approve",
            "--confirm-within",
            "10m",
        ],
    )
    .spawn()
    .expect("apply starts");
    // The apply journals the run's pending confirmation once every host is done.
    let journal = scratch.join("lab/journal.jsonl");
    let run_id = loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        let pending = text
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|entry| entry["entry"] == "confirmation_pending");
        if let Some(entry) = pending {
            break entry["run_id"].as_str().unwrap().to_owned();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let confirm = esxnet(scratch, &["confirm", &run_id, "--target", "sim:lab"]);
    assert_eq!(confirm.code, 0, "{}", confirm.all());
    assert!(confirm.stdout.contains("is confirmed"), "{}", confirm.stdout);
    let apply = support::Run::from(child.wait_with_output().unwrap());
    assert_eq!(apply.code, 0, "{}", apply.all());
    let plan = esxnet(
        scratch,
        &["plan", examples, "--target", "sim:lab", "--detailed-exitcode"],
    );
    assert_eq!(plan.code, 0, "the changes stayed: {}", plan.all());
    let again = esxnet(scratch, &["confirm", &run_id, "--target", "sim:lab"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("already confirmed"), "{}", again.stdout);
    let unknown = esxnet(scratch, &["confirm", "no-such-run", "--target", "sim:lab"]);
    assert_eq!(unknown.code, 1, "{}", unknown.all());
}

#[test]
fn esxnet_rollback_undoes_an_earlier_run_and_resumes_after_sigkill() {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    example_lab(scratch, &["--latency-ms", "40"]);
    let before = observe(scratch);
    let examples = examples();
    let examples = examples.to_str().unwrap();
    let apply = esxnet(scratch, &["apply", examples, "--target", "sim:lab", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let journal = scratch.join("lab/journal.jsonl");
    let run_id = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|entry| entry["entry"] == "host_before")
        .map(|entry| entry["run_id"].as_str().unwrap().to_owned())
        .expect("the apply journaled the hosts' before-states");

    let rollback = ["rollback", run_id.as_str(), "--target", "sim:lab", "--auto-approve"];
    // Kill the rollback once it has finished a step, while its other steps still wait.
    let lines_before = std::fs::read_to_string(&journal).unwrap().lines().count();
    let mut child = command(scratch, &rollback)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("rollback starts");
    loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        let applied = text
            .lines()
            .skip(lines_before)
            .filter(|line| line.contains("\"step_finished\"") && line.contains("\"applied\""))
            .count();
        if applied >= 1 {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the rollback ended before it could be killed: {status}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill(); // SIGKILL: no chance to clean up.
    let _ = child.wait();
    let halfway = observe(scratch);
    assert_ne!(halfway, before, "the killed rollback stopped halfway");

    let resumed = esxnet(scratch, &rollback);
    assert_eq!(resumed.code, 0, "{}", resumed.all());
    let after = observe(scratch);
    for (name, host) in &before.hosts {
        assert_eq!(as_restorable(&after.hosts[name]), as_restorable(host), "{name} is back");
    }
    let again = esxnet(scratch, &rollback);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
}

/// A rollback undoes what its run changed and nothing else: a port group someone added by hand
/// after the run stays, and a port group the run created and someone edited since is removed
/// all the same, with the plan saying both.
#[test]
fn esxnet_rollback_leaves_alone_what_someone_changed_since_the_run() {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    example_lab(scratch, &[]);
    let before = observe(scratch);
    let examples = examples();
    let examples = examples.to_str().unwrap();
    let apply = esxnet(scratch, &["apply", examples, "--target", "sim:lab", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let host = "esx-01.lab.example";
    let lab = esxnet_sim::Lab::open_writer(scratch.join("lab")).expect("the lab opens for writing");
    lab.modify_host(host, |host| {
        host.add_port_group("Hand Made", "vSwitch0", 55)?;
        host.update_port_group("Provisioning", "vSwitch1", 999)
    })
    .expect("the changes by hand");
    drop(lab);

    let rollback = esxnet(scratch, &["rollback", "--target", "sim:lab", "--auto-approve"]);
    assert_eq!(rollback.code, 0, "{}", rollback.all());
    let text = rollback.all();
    assert!(
        text.contains(&format!("left as they are: {host}/PortGroup/Hand Made")),
        "the plan names what it leaves: {text}"
    );
    assert!(
        text.contains(&format!("{host}/PortGroup/Provisioning changed since the run")),
        "the plan names what changed since: {text}"
    );
    let after = observe(scratch);
    let mut esx01 = as_restorable(&after.hosts[host]);
    let hand_made = esx01
        .port_groups
        .iter()
        .position(|port_group| port_group.name == "Hand Made")
        .expect("the port group added by hand stays");
    assert_eq!(esx01.port_groups.remove(hand_made).vlan, 55);
    assert_eq!(esx01, as_restorable(&before.hosts[host]), "the rest of {host} is back");
    for (name, host) in before
        .hosts
        .iter()
        .filter(|(name, _)| name.as_str() != "esx-01.lab.example")
    {
        assert_eq!(as_restorable(&after.hosts[name]), as_restorable(host), "{name} is back");
    }
}

/// The same verification and rollback over the vSphere backend against `sim serve`, which
/// answers `QueryNetworkHint` from the lab's fabric; `options` picks the protocol.
fn rolled_back_through_sim_serve(options: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    example_lab_missing_vlan_120(scratch);
    let password = format!("pw-{:08x}-rollout", std::process::id());
    let server = support::serve(scratch, "lab", &password);
    let target = format!("{}{options}", server.target());
    let examples = examples();
    let examples = examples.to_str().unwrap();
    let observe = |what: &str| -> ObservedFleet {
        let observed = support::with_password(
            scratch,
            &password,
            &["observe", "--target", &target, "--output", "json"],
        );
        assert_eq!(observed.code, 0, "{what}: {}", observed.all());
        serde_json::from_str(&observed.stdout).expect("observe prints a fleet")
    };
    let before = observe("before");

    let plan = support::with_password(scratch, &password, &["plan", examples, "--target", &target]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stderr.contains("warning[ESX025]") && plan.stderr.contains(BAD_HOST),
        "{}",
        plan.stderr
    );

    let apply = support::with_password(
        scratch,
        &password,
        &["apply", examples, "--target", &target, "--auto-approve"],
    );
    assert_eq!(apply.code, 1, "{}", apply.all());
    assert!(
        apply.stdout.contains(&format!("{BAD_HOST}: rolled back")),
        "{}",
        apply.stdout
    );
    assert!(apply.stdout.contains("check reachability failed"), "{}", apply.stdout);
    let after = observe("after");
    assert_eq!(
        as_restorable(&after.hosts[BAD_HOST]),
        as_restorable(&before.hosts[BAD_HOST]),
        "esx-02 is as it was before the apply"
    );
    for good in ["esx-01.lab.example", "esx-03.lab.example", "esx-04.lab.example"] {
        assert_ne!(after.hosts[good], before.hosts[good], "{good} converged");
    }

    // Again, as JSON: the checks made through the vSphere API, one by one.
    let again = support::with_password(
        scratch,
        &password,
        &[
            "apply",
            examples,
            "--target",
            &target,
            "--auto-approve",
            "--output",
            "json",
        ],
    );
    assert_eq!(again.code, 1, "{}", again.all());
    let report: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    let host = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|host| host["host"] == BAD_HOST)
        .unwrap();
    assert_eq!(host["outcome"], "rolled_back");
    assert_eq!(host["rollback"]["restored"], true);
    let checks = host["verification"]["checks"].as_array().unwrap();
    let outcome_of = |check: &str| -> Vec<(&str, &str)> {
        checks
            .iter()
            .filter(|found| found["check"] == check)
            .map(|found| (found["outcome"].as_str().unwrap(), found["message"].as_str().unwrap()))
            .collect()
    };
    let connected = outcome_of("connected");
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0].0, "passed");
    assert!(
        connected[0].1.contains("is connected to"),
        "vCenter's connection state: {connected:?}"
    );
    assert!(
        outcome_of("reachability")
            .iter()
            .any(|(outcome, message)| *outcome == "failed" && message.contains("do not carry VLAN 120")),
        "{checks:#?}"
    );
}

#[test]
fn through_sim_serve_over_vi_json_a_host_is_verified_and_rolled_back() {
    rolled_back_through_sim_serve("");
}

#[test]
fn through_sim_serve_over_soap_a_host_is_verified_and_rolled_back() {
    rolled_back_through_sim_serve("&transport=soap");
}

#[test]
fn rollback_and_confirm_refuse_what_the_journal_does_not_have() {
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path();
    let nothing_yet = esxnet(scratch, &["rollback", "--target", "sim:lab", "--auto-approve"]);
    assert_eq!(nothing_yet.code, 1, "{}", nothing_yet.all());
    assert!(
        nothing_yet.stderr.contains("nothing to roll back"),
        "{}",
        nothing_yet.stderr
    );
    assert!(!scratch.join("lab").exists(), "no lab is made for a rollback");

    example_lab(scratch, &[]);
    let examples = examples();
    let apply = esxnet(
        scratch,
        &[
            "apply",
            examples.to_str().unwrap(),
            "--target",
            "sim:lab",
            "--auto-approve",
        ],
    );
    assert_eq!(apply.code, 0, "{}", apply.all());
    let unknown = esxnet(
        scratch,
        &["rollback", "no-such-run", "--target", "sim:lab", "--auto-approve"],
    );
    assert_eq!(unknown.code, 1, "{}", unknown.all());
    assert!(unknown.stderr.contains("has no run no-such-run"), "{}", unknown.stderr);
    let run_id = std::fs::read_to_string(scratch.join("lab/journal.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|entry| entry["run_id"].as_str().map(str::to_owned))
        .unwrap();
    let unasked = esxnet(scratch, &["confirm", &run_id, "--target", "sim:lab"]);
    assert_eq!(unasked.code, 1, "{}", unasked.all());
    assert!(
        unasked.stderr.contains("did not ask for confirmation"),
        "{}",
        unasked.stderr
    );
    // Without a run id, the last apply is undone.
    let rollback = esxnet(scratch, &["rollback", "--target", "sim:lab", "--auto-approve"]);
    assert_eq!(rollback.code, 0, "{}", rollback.all());
    assert!(
        rollback.stderr.contains(&format!("Rolling back run {run_id}")),
        "{}",
        rollback.stderr
    );
}

//! The command line's wiring: exit codes, outputs and refusals, with the real binary.

mod support;

use std::path::Path;

use support::{esxnet, examples, repository};

fn lab_target(directory: &Path) -> String {
    format!("sim:{}", directory.join("lab").display())
}

#[test]
fn the_examples_are_valid() {
    let scratch = tempfile::tempdir().unwrap();
    let run = esxnet(scratch.path(), &["validate", examples().to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.starts_with("valid:"), "{}", run.stdout);
}

#[test]
fn invalid_manifests_exit_1_naming_file_line_and_field() {
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(
        scratch.path().join("bad.yaml"),
        "apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-01}\n---\napiVersion: esxnet/v1\nkind: NetStack\nmetadata: {name: prov}\nspec:\n  hosts: {names: [esx-01]}\n  stack: provisioning\n  gateway: 10.0.0.1\n",
    )
    .unwrap();
    let run = esxnet(scratch.path(), &["validate", "bad.yaml"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("error[ESX000]: unknown field `gateway`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--> bad.yaml:11:3"), "{}", run.stderr);
    assert!(run.stderr.contains("= field: spec.gateway"), "{}", run.stderr);
}

#[test]
fn the_checked_in_schemas_are_fresh() {
    let scratch = tempfile::tempdir().unwrap();
    let run = esxnet(scratch.path(), &["schema", "--out", "schemas"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let checked_in = repository().join("schemas");
    let mut generated_names: Vec<String> = std::fs::read_dir(scratch.path().join("schemas"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    generated_names.sort();
    for name in &generated_names {
        let generated = std::fs::read_to_string(scratch.path().join("schemas").join(name)).unwrap();
        let stored = std::fs::read_to_string(checked_in.join(name)).unwrap_or_default();
        assert!(
            generated == stored,
            "schemas/{name} is stale: run `cargo run -p esxnet -- schema --out schemas`"
        );
    }
    let mut stored_names: Vec<String> = std::fs::read_dir(&checked_in)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    stored_names.sort();
    assert_eq!(
        stored_names, generated_names,
        "schemas/ holds files the generator no longer writes"
    );
}

#[test]
fn plan_apply_and_drift_exit_codes_follow_the_design() {
    let scratch = tempfile::tempdir().unwrap();
    let target = lab_target(scratch.path());
    let examples = examples();
    let examples = examples.to_str().unwrap();
    let planned = esxnet(
        scratch.path(),
        &["plan", examples, "--target", &target, "--detailed-exitcode"],
    );
    assert_eq!(planned.code, 2, "changes pending: {}", planned.all());
    let drifted = esxnet(scratch.path(), &["drift", examples, "--target", &target]);
    assert_eq!(
        drifted.code,
        2,
        "a fresh lab drifts from the manifests: {}",
        drifted.all()
    );
    assert!(
        drifted
            .stdout
            .contains("missing    esx-01.lab.example/StandardSwitch/vSwitch1"),
        "{}",
        drifted.stdout
    );
    let applied = esxnet(
        scratch.path(),
        &["apply", examples, "--target", &target, "--auto-approve"],
    );
    assert_eq!(applied.code, 0, "{}", applied.all());
    assert!(applied.stdout.contains("Apply complete"), "{}", applied.stdout);
    let again = esxnet(
        scratch.path(),
        &["apply", examples, "--target", &target, "--auto-approve"],
    );
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        again.stdout.contains("No changes."),
        "the second apply changes nothing: {}",
        again.stdout
    );
    let planned = esxnet(
        scratch.path(),
        &["plan", examples, "--target", &target, "--detailed-exitcode"],
    );
    assert_eq!(planned.code, 0, "{}", planned.all());
    let in_sync = esxnet(scratch.path(), &["drift", examples, "--target", &target]);
    assert_eq!(in_sync.code, 0, "{}", in_sync.all());
}

#[test]
fn drift_reports_the_field_that_changed_by_hand() {
    let scratch = tempfile::tempdir().unwrap();
    let target = lab_target(scratch.path());
    let examples = examples();
    let applied = esxnet(
        scratch.path(),
        &[
            "apply",
            examples.to_str().unwrap(),
            "--target",
            &target,
            "--auto-approve",
        ],
    );
    assert_eq!(applied.code, 0, "{}", applied.all());
    // Someone changes the switch's MTU outside esxnet: apply a copy of the examples that says so.
    let tampered = scratch.path().join("tampered");
    std::fs::create_dir(&tampered).unwrap();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("mtu: 9000", "mtu: 8000");
        std::fs::write(tampered.join(path.file_name().unwrap()), text).unwrap();
    }
    let changed = esxnet(
        scratch.path(),
        &["apply", "tampered", "--target", &target, "--auto-approve"],
    );
    assert_eq!(changed.code, 0, "{}", changed.all());
    let drift = esxnet(
        scratch.path(),
        &[
            "drift",
            examples.to_str().unwrap(),
            "--target",
            &target,
            "--output",
            "json",
        ],
    );
    assert_eq!(drift.code, 2, "{}", drift.all());
    let report: serde_json::Value = serde_json::from_str(&drift.stdout).unwrap();
    assert_eq!(report["in_sync"], false);
    let drifted: Vec<&serde_json::Value> = report["drift"].as_array().unwrap().iter().collect();
    assert!(
        drifted
            .iter()
            .any(|entry| entry["address"] == "esx-01.lab.example/StandardSwitch/vSwitch1"
                && entry["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|field| field["path"] == "mtu" && field["before"] == 8000 && field["after"] == 9000)),
        "{}",
        drift.stdout
    );
}

#[test]
fn apply_without_a_terminal_refuses_and_applies_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let target = lab_target(scratch.path());
    let examples = examples();
    let refused = esxnet(
        scratch.path(),
        &["apply", examples.to_str().unwrap(), "--target", &target],
    );
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(refused.stderr.contains("--auto-approve"), "{}", refused.stderr);
    let planned = esxnet(
        scratch.path(),
        &[
            "plan",
            examples.to_str().unwrap(),
            "--target",
            &target,
            "--detailed-exitcode",
        ],
    );
    assert_eq!(planned.code, 2, "nothing was applied: {}", planned.all());
}

#[test]
fn bad_input_applies_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let target = lab_target(scratch.path());
    let manifests = scratch.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, manifests.join(path.file_name().unwrap())).unwrap();
    }
    // A provisioning adapter asked to carry management too (ESX003) on one host's manifest.
    let broken = std::fs::read_to_string(manifests.join("20-provisioning-on-new-switch.yaml"))
        .unwrap()
        .replacen(
            "  stack: provisioning\n",
            "  stack: provisioning\n  services: [management]\n",
            1,
        );
    std::fs::write(manifests.join("20-provisioning-on-new-switch.yaml"), broken).unwrap();
    let run = esxnet(
        scratch.path(),
        &["apply", "manifests", "--target", &target, "--auto-approve"],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("error[ESX003]"), "{}", run.stderr);
    assert!(
        run.stderr.contains("manifests/20-provisioning-on-new-switch.yaml:"),
        "{}",
        run.stderr
    );
    let planned = esxnet(
        scratch.path(),
        &[
            "plan",
            examples().to_str().unwrap(),
            "--target",
            &target,
            "--detailed-exitcode",
        ],
    );
    assert_eq!(planned.code, 2, "nothing was applied on any host: {}", planned.all());
    assert!(!planned.stdout.contains("0 to create"), "{}", planned.stdout);
}

#[test]
fn sim_init_and_observe_show_the_lab() {
    let scratch = tempfile::tempdir().unwrap();
    let init = esxnet(scratch.path(), &["sim", "init", "lab", "--hosts", "3"]);
    assert_eq!(init.code, 0, "{}", init.all());
    let observed = esxnet(scratch.path(), &["observe", "--target", "sim:lab", "--output", "json"]);
    assert_eq!(observed.code, 0, "{}", observed.all());
    let fleet: serde_json::Value = serde_json::from_str(&observed.stdout).unwrap();
    let hosts = fleet["hosts"].as_object().unwrap();
    assert_eq!(hosts.keys().cloned().collect::<Vec<_>>(), ["esx-1", "esx-2", "esx-3"]);
    for host in hosts.values() {
        let nics: Vec<&str> = host["physicalNics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|nic| nic["device"].as_str().unwrap())
            .collect();
        assert_eq!(nics, ["vmnic0", "vmnic1", "vmnic2", "vmnic3"]);
        assert_eq!(host["switches"][0]["name"], "vSwitch0");
        assert_eq!(host["adapters"][0]["device"], "vmk0");
        assert_eq!(host["adapters"][0]["services"], serde_json::json!(["management"]));
    }
    let again = esxnet(scratch.path(), &["sim", "init", "lab", "--hosts", "3"]);
    assert_eq!(again.code, 1, "a lab is never made over another: {}", again.all());
}

#[test]
fn snapshots_plan_without_the_lab_and_refuse_to_apply() {
    let scratch = tempfile::tempdir().unwrap();
    let target = lab_target(scratch.path());
    let examples = examples();
    let examples = examples.to_str().unwrap();
    // Make the lab from the examples' hosts, then save what it has.
    assert_eq!(esxnet(scratch.path(), &["plan", examples, "--target", &target]).code, 0);
    let observed = esxnet(scratch.path(), &["observe", "--target", &target, "--output", "yaml"]);
    assert_eq!(observed.code, 0, "{}", observed.all());
    std::fs::write(scratch.path().join("hosts.yaml"), &observed.stdout).unwrap();
    let from_lab = esxnet(
        scratch.path(),
        &["plan", examples, "--target", &target, "--output", "json"],
    );
    let from_snapshot = esxnet(
        scratch.path(),
        &["plan", examples, "--target", "snapshot:hosts.yaml", "--output", "json"],
    );
    assert_eq!(from_snapshot.code, 0, "{}", from_snapshot.all());
    assert_eq!(
        from_lab.stdout, from_snapshot.stdout,
        "a snapshot plans like the lab it was taken from"
    );
    let refused = esxnet(
        scratch.path(),
        &["apply", examples, "--target", "snapshot:hosts.yaml", "--auto-approve"],
    );
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(refused.stderr.contains("read-only"), "{}", refused.stderr);
}

#[test]
fn markdown_plans_fold_identical_hosts() {
    let scratch = tempfile::tempdir().unwrap();
    let manifests = support::fleet_manifests(scratch.path(), 30);
    let target = lab_target(scratch.path());
    let run = esxnet(
        scratch.path(),
        &[
            "plan",
            manifests.to_str().unwrap(),
            "--target",
            &target,
            "--output",
            "markdown",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("| 30 | 0 | 150 | 60 | 0 | 0 |"), "{}", run.stdout);
    assert_eq!(
        run.stdout.matches("<details>").count(),
        1,
        "30 hosts with the same changes fold into one section: {}",
        run.stdout
    );
    assert!(run.stdout.contains("and 25 more"), "{}", run.stdout);
    // Pool addresses differ per host: each host has its own row, so a reviewer reads every
    // host's address, and the folded diff says where to look instead of showing one host's value.
    assert!(run.stdout.contains("(per host, see the table)"), "{}", run.stdout);
    for number in 1..=30 {
        let row = run
            .stdout
            .lines()
            .find(|line| line.starts_with(&format!("| esx-{number:02} |")))
            .unwrap_or_else(|| panic!("no table row for esx-{number:02}: {}", run.stdout));
        assert!(
            row.split('|')
                .skip(2)
                .any(|cell| cell.trim().parse::<std::net::Ipv4Addr>().is_ok()),
            "esx-{number:02}'s row shows its address: {row}"
        );
    }
}

#[test]
fn a_markdown_plan_over_githubs_limit_is_cut_with_a_line_that_says_so() {
    let scratch = tempfile::tempdir().unwrap();
    let hosts = 1500;
    let manifests = support::fleet_manifests(scratch.path(), hosts);
    let target = lab_target(scratch.path());
    let run = esxnet(
        scratch.path(),
        &[
            "plan",
            manifests.to_str().unwrap(),
            "--target",
            &target,
            "--output",
            "markdown",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.chars().count() <= 65_536,
        "{} characters",
        run.stdout.chars().count()
    );
    let rows = run.stdout.lines().filter(|line| line.starts_with("| esx-")).count();
    let hidden: usize = run
        .stdout
        .lines()
        .find_map(|line| {
            line.strip_prefix("| … ")?
                .strip_suffix(" more hosts, see the JSON artifact |")
        })
        .unwrap_or_else(|| panic!("no cut line in the table: {}", &run.stdout[run.stdout.len() - 2000..]))
        .parse()
        .unwrap();
    assert!(rows > 100 && hidden > 0, "{rows} rows shown, {hidden} hidden");
    assert_eq!(rows + hidden, hosts, "every host is either shown or counted as hidden");
    assert!(
        run.stdout.contains(&format!(
            "**{hidden} more hosts are not shown** to keep this comment under 65536 characters; see the JSON artifact"
        )),
        "{}",
        &run.stdout[run.stdout.len() - 1000..]
    );
}

#[test]
fn a_stale_saved_plan_is_refused_naming_host_and_object() {
    let scratch = tempfile::tempdir().unwrap();
    let target = lab_target(scratch.path());
    let examples = examples();
    let examples = examples.to_str().unwrap();
    let saved = esxnet(
        scratch.path(),
        &["plan", examples, "--target", &target, "--out", "plan.json"],
    );
    assert_eq!(saved.code, 0, "{}", saved.all());
    // Someone else makes vSwitch1 differently before the saved plan is applied.
    let other = scratch.path().join("other.yaml");
    std::fs::write(
        &other,
        "apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-01.lab.example}\n---\napiVersion: esxnet/v1\nkind: StandardSwitch\nmetadata: {name: vSwitch1}\nspec:\n  hosts: {names: [esx-01.lab.example]}\n  mtu: 1600\n  uplinks: [vmnic2]\n",
    )
    .unwrap();
    let interfering = esxnet(
        scratch.path(),
        &["apply", "other.yaml", "--target", &target, "--auto-approve"],
    );
    assert_eq!(interfering.code, 0, "{}", interfering.all());
    let stale = esxnet(
        scratch.path(),
        &["apply", "plan.json", "--target", &target, "--auto-approve"],
    );
    assert_eq!(stale.code, 1, "{}", stale.all());
    assert!(stale.stderr.contains("esx-01.lab.example"), "{}", stale.stderr);
    assert!(
        stale.stderr.contains("esx-01.lab.example/StandardSwitch/vSwitch1"),
        "{}",
        stale.stderr
    );
    // The other hosts' saved plan still fits: a fresh saved plan applies.
    let fresh = esxnet(
        scratch.path(),
        &["plan", examples, "--target", &target, "--out", "fresh.json"],
    );
    assert_eq!(fresh.code, 0, "{}", fresh.all());
    let applied = esxnet(
        scratch.path(),
        &["apply", "fresh.json", "--target", &target, "--auto-approve"],
    );
    assert_eq!(applied.code, 0, "{}", applied.all());
}

#[test]
fn graph_prints_the_dependency_graph_as_dot() {
    let scratch = tempfile::tempdir().unwrap();
    let target = lab_target(scratch.path());
    let run = esxnet(
        scratch.path(),
        &["graph", examples().to_str().unwrap(), "--target", &target],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.starts_with("digraph esxnet {"), "{}", run.stdout);
    assert!(run.stdout.contains("label=\"esx-01.lab.example\""), "{}", run.stdout);
    // The port group is created after its new switch: an edge from the switch's step to it.
    let node = |label: &str| {
        run.stdout
            .lines()
            .find(|line| line.contains(&format!("[label=\"{label}\"]")))
            .and_then(|line| line.split_whitespace().next())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no node {label} in {}", run.stdout))
    };
    let switch = node("create StandardSwitch/vSwitch1");
    let port_group = node("create PortGroup/Provisioning");
    assert!(
        run.stdout.contains(&format!("{switch} -> {port_group};")),
        "{}",
        run.stdout
    );
}

/// Copies the example manifests into `directory/manifests/examples`, as a fresh clone has them.
fn clone_examples(directory: &Path) {
    let copy = directory.join("manifests/examples");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
    }
}

#[test]
fn the_readme_main_job_applies_every_example_including_the_distributed_port_group() {
    // `cargo run -p esxnet -- apply manifests/examples --auto-approve` in a fresh clone: no
    // --target, no lab yet.
    let scratch = tempfile::tempdir().unwrap();
    clone_examples(scratch.path());
    let applied = esxnet(scratch.path(), &["apply", "manifests/examples", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    assert!(
        applied
            .stderr
            .contains("created a simulated lab at .esxnet/lab with 4 ESXi 8.0.3 hosts"),
        "{}",
        applied.stderr
    );
    assert!(
        applied.stderr.contains(
            "joined 1 host to distributed switch \"dvs-lab\" (MTU 9000) with port group \"dvpg-provisioning\""
        ),
        "the lab says it stands in for vCenter: {}",
        applied.stderr
    );
    assert!(applied.stdout.contains("Apply complete"), "{}", applied.stdout);

    // The lab itself: lab C's host is a member of dvs-lab and has the adapter on its port group.
    let lab = esxnet_sim::Lab::open(scratch.path().join(".esxnet/lab")).unwrap();
    let host = lab.observe("esx-04.lab.example").unwrap();
    let membership = host.distributed_switch("dvs-lab").expect("a member of dvs-lab");
    assert_eq!(membership.mtu, 9000);
    assert_eq!(membership.port_groups.len(), 1);
    assert_eq!(membership.port_groups[0].name, "dvpg-provisioning");
    let adapters: Vec<&esxnet_model::observed::ObservedAdapter> = host
        .adapters
        .iter()
        .filter(|adapter| adapter.connection.is_distributed())
        .collect();
    assert_eq!(adapters.len(), 1, "{:#?}", host.adapters);
    let adapter = adapters[0];
    assert_eq!(adapter.connection.switch(), "dvs-lab");
    assert_eq!(adapter.connection.port_group(), "dvpg-provisioning");
    assert_eq!(adapter.stack, esxnet_model::common::StackKind::Provisioning);
    assert_eq!(adapter.mtu, 9000);
    let ipv4 = serde_json::to_value(&adapter.ipv4).unwrap();
    assert_eq!(ipv4["address"], "10.140.0.14", "{ipv4}");
    assert_eq!(ipv4["prefixLength"], 24, "{ipv4}");
    // Only the host whose manifests name the switch joined it.
    for other in ["esx-01.lab.example", "esx-02.lab.example", "esx-03.lab.example"] {
        assert!(lab.observe(other).unwrap().distributed_switches.is_empty(), "{other}");
    }

    let again = esxnet(scratch.path(), &["apply", "manifests/examples", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    assert!(
        !again.stderr.contains("joined"),
        "an existing lab is never changed: {}",
        again.stderr
    );
    let drift = esxnet(scratch.path(), &["drift", "manifests/examples"]);
    assert_eq!(drift.code, 0, "{}", drift.all());
}

#[test]
fn a_lab_that_exists_keeps_its_hosts_outside_distributed_switches() {
    // Only a lab made on first use stands in for vCenter: in an existing lab, a host that is not a
    // member of the switch is an error (ESX011) and nothing is applied.
    let scratch = tempfile::tempdir().unwrap();
    let init = esxnet(
        scratch.path(),
        &[
            "sim",
            "init",
            "lab",
            "--hosts",
            "esx-01.lab.example,esx-02.lab.example,esx-03.lab.example,esx-04.lab.example",
        ],
    );
    assert_eq!(init.code, 0, "{}", init.all());
    let applied = esxnet(
        scratch.path(),
        &[
            "apply",
            examples().to_str().unwrap(),
            "--target",
            "sim:lab",
            "--auto-approve",
        ],
    );
    assert_eq!(applied.code, 1, "{}", applied.all());
    assert!(applied.stderr.contains("error[ESX011]"), "{}", applied.stderr);
    assert!(
        applied
            .stderr
            .contains("50-provisioning-on-distributed-port-group.yaml:"),
        "{}",
        applied.stderr
    );
    assert!(!applied.stderr.contains("joined"), "{}", applied.stderr);
}

#[test]
fn sim_init_makes_distributed_switches_storage_and_system_adapters_and_old_hosts() {
    let scratch = tempfile::tempdir().unwrap();
    let init = esxnet(
        scratch.path(),
        &[
            "sim",
            "init",
            "lab",
            "--hosts",
            "2",
            "--version",
            "6.7.0",
            "--distributed-switch",
            "dvs-a:9000",
            "--distributed-switch",
            "dvs-b",
            "--distributed-port-group",
            "dvs-a/dv-vmotion:130",
            "--distributed-port-group",
            "dvs-a/dv-provisioning",
            "--iscsi-adapter",
            "--system-owned-adapter",
        ],
    );
    assert_eq!(init.code, 0, "{}", init.all());
    assert!(
        init.stderr.contains("membership of distributed switch \"dvs-a\" (MTU 9000; port groups \"dv-vmotion\" VLAN 130, \"dv-provisioning\" VLAN 0)"),
        "{}",
        init.stderr
    );
    let observed = esxnet(scratch.path(), &["observe", "--target", "sim:lab", "--output", "json"]);
    assert_eq!(observed.code, 0, "{}", observed.all());
    let fleet: serde_json::Value = serde_json::from_str(&observed.stdout).unwrap();
    let hosts = fleet["hosts"].as_object().unwrap();
    assert_eq!(hosts.len(), 2);
    let first = &hosts["esx-1"];
    for (name, host) in hosts {
        assert_eq!(host["version"], "6.7.0", "{name}");
        // vCenter's switches are one switch on every member: same UUID, same port-group keys.
        assert_eq!(host["distributedSwitches"], first["distributedSwitches"], "{name}");
        let switches = host["distributedSwitches"].as_array().unwrap();
        assert_eq!(switches.len(), 2, "{name}");
        assert_eq!(switches[0]["name"], "dvs-a");
        assert_eq!(switches[0]["mtu"], 9000);
        assert_eq!(switches[0]["portGroups"][0]["name"], "dv-vmotion");
        assert_eq!(switches[0]["portGroups"][0]["vlan"], 130);
        assert_eq!(switches[1]["name"], "dvs-b");
        assert_eq!(switches[1]["mtu"], 1500);
        assert_ne!(switches[0]["uuid"], switches[1]["uuid"]);
        let adapters = host["adapters"].as_array().unwrap();
        let iscsi: Vec<&serde_json::Value> = adapters
            .iter()
            .filter(|adapter| adapter["storageBindings"] == serde_json::json!(["iscsi"]))
            .collect();
        assert_eq!(iscsi.len(), 1, "{name}: {adapters:?}");
        assert_eq!(iscsi[0]["connection"]["portGroup"], "iSCSI");
        let system: Vec<&serde_json::Value> = adapters
            .iter()
            .filter(|adapter| adapter["systemOwned"] == true)
            .collect();
        assert_eq!(system.len(), 1, "{name}: {adapters:?}");
        assert_eq!(system[0]["connection"]["portGroup"], "System");
    }

    // Prune keeps both: they are listed as protected and stay on the hosts.
    std::fs::write(
        scratch.path().join("hosts.yaml"),
        "apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-1}\n---\napiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-2}\n",
    )
    .unwrap();
    let pruned = esxnet(
        scratch.path(),
        &[
            "apply",
            "hosts.yaml",
            "--target",
            "sim:lab",
            "--prune",
            "--auto-approve",
        ],
    );
    assert_eq!(pruned.code, 0, "{}", pruned.all());
    let after = esxnet(scratch.path(), &["observe", "--target", "sim:lab", "--output", "json"]);
    let after: serde_json::Value = serde_json::from_str(&after.stdout).unwrap();
    assert_eq!(after["hosts"], fleet["hosts"], "prune deleted nothing");

    // A port group on a switch that is not given is refused with what to do.
    let refused = esxnet(
        scratch.path(),
        &[
            "sim",
            "init",
            "other",
            "--hosts",
            "1",
            "--distributed-port-group",
            "dvs-x/pg",
        ],
    );
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("add --distributed-switch dvs-x[:MTU]"),
        "{}",
        refused.stderr
    );
}

/// Every command path the binary has (`["plan"]`, `["sim", "init"]`, …), read from its own help, so
/// that a command added later is covered without touching the tests that use this list.
fn command_paths(scratch: &Path) -> Vec<Vec<String>> {
    fn section<'a>(help: &'a str, heading: &'a str) -> impl Iterator<Item = &'a str> {
        help.lines()
            .skip_while(move |line| *line != heading)
            .skip(1)
            .take_while(|line| !line.is_empty())
    }
    let mut paths = Vec::new();
    let mut pending = vec![Vec::<String>::new()];
    while let Some(path) = pending.pop() {
        let mut arguments: Vec<&str> = path.iter().map(String::as_str).collect();
        arguments.push("--help");
        let help = esxnet(scratch, &arguments);
        assert_eq!(help.code, 0, "`esxnet {}` exits 0: {}", arguments.join(" "), help.all());
        let subcommands: Vec<String> = section(&help.stdout, "Commands:")
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| *name != "help")
            .map(str::to_owned)
            .collect();
        if subcommands.is_empty() {
            paths.push(path);
        } else {
            for name in subcommands {
                let mut child = path.clone();
                child.push(name);
                pending.push(child);
            }
        }
    }
    paths.sort();
    paths
}

/// The long flags of one command, from its short help (`-h`), `--help` and `--version` left out.
fn long_flags(scratch: &Path, path: &[String]) -> Vec<String> {
    let mut arguments: Vec<&str> = path.iter().map(String::as_str).collect();
    arguments.push("-h");
    let help = esxnet(scratch, &arguments);
    help.stdout
        .lines()
        .skip_while(|line| *line != "Options:")
        // An option's line starts with its names (`-V, --version`, `--target <TARGET>`); the
        // descriptions after them may mention other flags.
        .filter(|line| line.trim_start().starts_with('-'))
        .filter_map(|line| {
            line.split_whitespace()
                .take(2)
                .find(|word| word.starts_with("--"))
                .map(|flag| flag.trim_end_matches(',').to_owned())
        })
        .filter(|flag| flag != "--help" && flag != "--version")
        .collect()
}

#[test]
fn a_misspelt_flag_of_any_command_exits_1_naming_the_flag_it_meant() {
    let scratch = tempfile::tempdir().unwrap();
    let paths = command_paths(scratch.path());
    assert!(
        paths.len() >= 10
            && paths.contains(&vec!["sim".to_owned(), "init".to_owned()])
            && paths.contains(&vec!["import".to_owned()]),
        "the command tree was read from the help: {paths:?}"
    );
    for path in paths {
        let flags = long_flags(scratch.path(), &path);
        let command = path.join(" ");
        // `schema` has one flag; every command has at least one, or there is nothing to misspell.
        assert!(!flags.is_empty(), "`esxnet {command}` has flags");
        for flag in flags {
            // A doubled letter is the typo clap recognises for any length of name: `--oout`.
            let misspelt = format!("--{}{}", &flag[2..3], &flag[2..]);
            let mut arguments: Vec<&str> = path.iter().map(String::as_str).collect();
            arguments.push(&misspelt);
            let run = esxnet(scratch.path(), &arguments);
            assert_eq!(
                run.code,
                1,
                "`esxnet {command} {misspelt}` is a usage error, not changes or drift (exit 2): {}",
                run.all()
            );
            assert!(
                run.stderr.contains(&format!("unexpected argument '{misspelt}'"))
                    && run.stderr.contains(&format!("a similar argument exists: '{flag}'")),
                "`esxnet {command} {misspelt}` names the flag and the one meant: {}",
                run.stderr
            );
            assert!(run.stdout.is_empty(), "{}", run.stdout);
        }
    }
}

#[test]
fn other_usage_errors_exit_1_and_help_exits_0() {
    let scratch = tempfile::tempdir().unwrap();
    let bare = esxnet(scratch.path(), &[]);
    assert_eq!(bare.code, 1, "no command is a usage error: {}", bare.all());
    assert!(bare.stderr.contains("Usage: esxnet <COMMAND>"), "{}", bare.stderr);
    for arguments in [
        &["plna"][..],
        &["drift"],
        &["plan", "manifests", "--output", "yaml"],
        &["plan", "manifests", "--parallelism", "0"],
    ] {
        let run = esxnet(scratch.path(), arguments);
        assert_eq!(run.code, 1, "`esxnet {}`: {}", arguments.join(" "), run.all());
        assert!(
            run.stderr.starts_with("error:"),
            "`esxnet {}`: {}",
            arguments.join(" "),
            run.stderr
        );
    }
    for arguments in [&["--help"][..], &["--version"], &["plan", "--help"], &["help", "drift"]] {
        let run = esxnet(scratch.path(), arguments);
        assert_eq!(run.code, 0, "`esxnet {}`: {}", arguments.join(" "), run.all());
        assert!(!run.stdout.is_empty());
    }
}

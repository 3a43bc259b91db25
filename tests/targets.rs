//! One manifest set over two `esxnet sim serve` servers with different passwords, named by
//! `Target` documents (one password from an environment variable, one from a file): plan, apply,
//! an empty plan again; then, with one server down, its hosts fail and the other's converge.

mod support;

use std::path::Path;

use esxnet_sim::Lab;
use serde_json::Value;
use support::{command, esxnet, serve, Run};

const SITE_A: [&str; 2] = ["esx-a1.site-a.example", "esx-a2.site-a.example"];
const SITE_B: [&str; 1] = ["esx-b1.site-b.example"];

fn manifests(server_a: &str, server_b: &str, port_groups: &str) -> String {
    let mut text = format!(
        "apiVersion: esxnet/v1
kind: Target
metadata: {{name: site-a}}
spec:
  server: vsphere://root@{server_a}?insecure=true
  passwordFrom: {{env: SITE_A_PASSWORD}}
  hosts: {{matchLabels: {{site: a}}}}
---
apiVersion: esxnet/v1
kind: Target
metadata: {{name: site-b}}
spec:
  server: vsphere://root@{server_b}?insecure=true
  passwordFrom: {{file: site-b.password}}
  hosts: {{matchLabels: {{site: b}}}}
---
apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {{name: vSwitch1}}
spec:
  hosts: {{matchLabels: {{}}}}
  uplinks: [vmnic2]
  portGroups: [{port_groups}]
"
    );
    for (site, hosts) in [("a", &SITE_A[..]), ("b", &SITE_B[..])] {
        for host in hosts {
            text.push_str(&format!(
                "---\napiVersion: esxnet/v1\nkind: Host\nmetadata: {{name: {host}, labels: {{site: {site}}}}}\n"
            ));
        }
    }
    text
}

/// The binary with site A's password in its variable and no other password or target.
fn run(directory: &Path, arguments: &[&str]) -> Run {
    Run::from(
        command(directory, arguments)
            .env_remove("ESXNET_PASSWORD")
            .env("SITE_A_PASSWORD", "alpha-secret")
            .output()
            .expect("the esxnet binary runs"),
    )
}

fn port_groups_of(lab: &Path, host: &str) -> Vec<String> {
    let observed = Lab::open(lab).expect("the lab opens").observe(host).expect("the host");
    observed
        .port_groups
        .iter()
        .map(|port_group| port_group.name.clone())
        .collect()
}

#[test]
fn two_servers_converge_together_and_a_server_down_fails_only_its_hosts() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    for (lab, hosts) in [("lab-a", SITE_A.join(",")), ("lab-b", SITE_B.join(","))] {
        let init = esxnet(scratch, &["sim", "init", lab, "--hosts", &hosts]);
        assert_eq!(init.code, 0, "{}", init.all());
    }
    let server_a = serve(scratch, "lab-a", "alpha-secret");
    let server_b = serve(scratch, "lab-b", "bravo-secret");
    std::fs::write(scratch.join("site-b.password"), "bravo-secret\n").unwrap();
    let (address_a, address_b) = (server_a.address.clone(), server_b.address.clone());
    let write = |port_groups: &str| {
        std::fs::write(
            scratch.join("manifests.yaml"),
            manifests(&address_a, &address_b, port_groups),
        )
        .unwrap()
    };
    write("{name: Storage, vlan: 40}");

    let plan = run(scratch, &["plan", "manifests.yaml", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    let site_a = plan.stdout.find("== Target site-a").expect("a group for site-a");
    let site_b = plan.stdout.find("== Target site-b").expect("a group for site-b");
    assert!(site_a < site_b, "{}", plan.stdout);
    for host in SITE_A {
        let at = plan
            .stdout
            .find(host)
            .unwrap_or_else(|| panic!("{host} planned: {}", plan.stdout));
        assert!(site_a < at && at < site_b, "{host} under site-a: {}", plan.stdout);
    }
    assert!(plan.stdout[site_b..].contains(SITE_B[0]), "{}", plan.stdout);
    assert!(!plan.all().contains("secret"), "no password is printed: {}", plan.all());

    let apply = run(scratch, &["apply", "manifests.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let again = run(scratch, &["plan", "manifests.yaml", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "nothing left to do on either server: {}", again.all());

    // The run is undone through both servers from its journal alone, each password read where
    // its Target document says; the journal holds neither.
    let journal = std::fs::read_to_string(scratch.join(".esxnet/journal.jsonl")).unwrap();
    assert!(
        journal.contains("SITE_A_PASSWORD"),
        "the journal names where: {journal}"
    );
    assert!(!journal.contains("alpha-secret") && !journal.contains("bravo-secret"));
    let rollback = run(scratch, &["rollback", "--auto-approve"]);
    assert_eq!(rollback.code, 0, "{}", rollback.all());
    for (lab, hosts) in [("lab-a", &SITE_A[..]), ("lab-b", &SITE_B[..])] {
        for host in hosts {
            assert!(!port_groups_of(&scratch.join(lab), host).contains(&"Storage".to_owned()));
        }
    }
    let apply = run(scratch, &["apply", "manifests.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());

    // Site B's server goes away; a new port group is declared for every host.
    drop(server_b);
    write("{name: Storage, vlan: 40}, {name: Backup, vlan: 50}");
    let apply = run(
        scratch,
        &["apply", "manifests.yaml", "--auto-approve", "--output", "json"],
    );
    assert_eq!(
        apply.code,
        1,
        "a host that was not reached fails the run: {}",
        apply.all()
    );
    assert!(
        apply.stderr.contains("target site-b") && apply.stderr.contains(SITE_B[0]),
        "{}",
        apply.stderr
    );
    let report: Value = serde_json::from_str(&apply.stdout).expect("a JSON report");
    let outcome = |host: &str| {
        report["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["host"] == host)
            .map(|entry| entry["outcome"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{host} in the report: {report:#}"))
    };
    for host in SITE_A {
        assert_eq!(outcome(host), "ok");
        assert!(port_groups_of(&scratch.join("lab-a"), host).contains(&"Backup".to_owned()));
    }
    assert_eq!(outcome(SITE_B[0]), "failed");
    assert_eq!(report["targets"][1]["name"], "site-b");
    assert!(report["targets"][1]["error"].is_string(), "{report:#}");
    assert!(!port_groups_of(&scratch.join("lab-b"), SITE_B[0]).contains(&"Backup".to_owned()));
    drop(server_a);
}

#[test]
fn a_target_without_its_password_fails_its_hosts_and_names_the_variable() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    for (lab, hosts) in [("lab-a", SITE_A.join(",")), ("lab-b", SITE_B.join(","))] {
        let init = esxnet(scratch, &["sim", "init", lab, "--hosts", &hosts]);
        assert_eq!(init.code, 0, "{}", init.all());
    }
    let server_a = serve(scratch, "lab-a", "alpha-secret");
    let server_b = serve(scratch, "lab-b", "bravo-secret");
    // Site B's password file holds site A's password: refused by B's server alone.
    std::fs::write(scratch.join("site-b.password"), "alpha-secret\n").unwrap();
    std::fs::write(
        scratch.join("manifests.yaml"),
        manifests(&server_a.address, &server_b.address, "{name: Storage, vlan: 40}"),
    )
    .unwrap();
    let plan = run(scratch, &["plan", "manifests.yaml", "--detailed-exitcode"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    assert!(plan.stderr.contains("target site-b"), "{}", plan.stderr);
    assert!(
        plan.stdout.contains(SITE_A[0]),
        "site A is still planned: {}",
        plan.stdout
    );

    let unset = Run::from(
        command(scratch, &["plan", "manifests.yaml"])
            .env_remove("ESXNET_PASSWORD")
            .env_remove("SITE_A_PASSWORD")
            .output()
            .unwrap(),
    );
    assert_eq!(unset.code, 1, "{}", unset.all());
    assert!(unset.stderr.contains("SITE_A_PASSWORD"), "{}", unset.stderr);
    assert!(!unset.all().contains("alpha-secret"), "{}", unset.all());
}

/// Two `sim:` labs as Targets, site A's hosts on one and site B's on the other, and a switch with
/// a Storage port group for every host.
fn lab_targets_manifests() -> String {
    let mut text = String::from(
        "apiVersion: esxnet/v1
kind: Target
metadata: {name: lab-a}
spec: {server: 'sim:lab-a', hosts: {matchLabels: {site: a}}}
---
apiVersion: esxnet/v1
kind: Target
metadata: {name: lab-b}
spec: {server: 'sim:lab-b', hosts: {matchLabels: {site: b}}}
---
apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {name: vSwitch1}
spec: {hosts: {matchLabels: {}}, uplinks: [vmnic2], portGroups: [{name: Storage, vlan: 40}]}
",
    );
    for (site, hosts) in [("a", &SITE_A[..]), ("b", &SITE_B[..])] {
        for host in hosts {
            text.push_str(&format!(
                "---\napiVersion: esxnet/v1\nkind: Host\nmetadata: {{name: {host}, labels: {{site: {site}}}}}\n"
            ));
        }
    }
    text
}

#[test]
fn labs_as_targets_are_made_with_their_own_hosts_and_drift_is_shown_per_target() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    std::fs::write(scratch.join("manifests.yaml"), lab_targets_manifests()).unwrap();

    let apply = run(scratch, &["apply", "manifests.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(
        apply.stdout.contains("Target lab-a (sim:"),
        "a line per target: {}",
        apply.stdout
    );
    // Each lab made on first use holds its own Target's hosts and no other.
    let hosts = |lab: &str| Lab::open(scratch.join(lab)).unwrap().host_names().unwrap();
    assert_eq!(hosts("lab-a"), SITE_A.map(str::to_owned).to_vec());
    assert_eq!(hosts("lab-b"), SITE_B.map(str::to_owned).to_vec());

    let lab = Lab::open_writer(scratch.join("lab-b")).unwrap();
    lab.modify_host(SITE_B[0], |host| host.update_port_group("Storage", "vSwitch1", 41))
        .unwrap();
    drop(lab);
    let drift = run(scratch, &["drift", "manifests.yaml"]);
    assert_eq!(drift.code, 2, "{}", drift.all());
    let site_b = drift.stdout.find("== Target lab-b").expect("a group for lab-b");
    assert!(drift.stdout[site_b..].contains(SITE_B[0]), "{}", drift.stdout);
    assert!(!drift.stdout[..site_b].contains(SITE_B[0]), "{}", drift.stdout);
}

#[test]
fn a_new_pool_address_waits_while_a_target_sharing_the_pool_cannot_be_reached() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    let text = format!(
        "apiVersion: esxnet/v1
kind: Target
metadata: {{name: lab-a}}
spec: {{server: 'sim:lab-a', hosts: {{matchLabels: {{site: a}}}}}}
---
apiVersion: esxnet/v1
kind: Target
metadata: {{name: lab-b}}
spec: {{server: 'sim:lab-b', hosts: {{matchLabels: {{site: b}}}}}}
---
apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {{name: vSwitch1}}
spec: {{hosts: {{matchLabels: {{}}}}, uplinks: [vmnic2], portGroups: [{{name: Storage, vlan: 40}}]}}
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {{name: storage}}
spec:
  hosts: {{matchLabels: {{}}}}
  portGroup: {{standardSwitch: vSwitch1, name: Storage}}
  ipv4: {{mode: static, prefixLength: 24, pool: 10.50.0.1-10.50.0.10, gatewayOverride: 10.50.0.254}}
---
apiVersion: esxnet/v1
kind: Host
metadata: {{name: {a}, labels: {{site: a}}}}
---
apiVersion: esxnet/v1
kind: Host
metadata: {{name: {b}, labels: {{site: b}}}}
",
        a = SITE_A[0],
        b = SITE_B[0]
    );
    std::fs::write(scratch.join("manifests.yaml"), text).unwrap();
    let apply = run(scratch, &["apply", "manifests.yaml", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());

    // Lab B goes away: a file stands where it was, so it can be neither opened nor made.
    std::fs::rename(scratch.join("lab-b"), scratch.join("lab-b.away")).unwrap();
    std::fs::write(scratch.join("lab-b"), "").unwrap();
    let steady = run(scratch, &["plan", "manifests.yaml"]);
    assert_eq!(steady.code, 1, "lab B's host fails: {}", steady.all());
    assert!(
        !steady.stderr.contains("ESX013"),
        "an address A's host holds stays: {}",
        steady.stderr
    );
    assert!(steady.stdout.contains("0 to create"), "{}", steady.stdout);

    // A's adapter is deleted by hand: a new address from the pool B's host draws from too.
    let lab = Lab::open_writer(scratch.join("lab-a")).unwrap();
    let observed = lab.observe(SITE_A[0]).unwrap();
    let device = observed
        .adapters
        .iter()
        .find(|adapter| adapter.ipv4.address == Some("10.50.0.1".parse().unwrap()))
        .map(|adapter| adapter.device.clone())
        .expect("A's host holds the pool's first address");
    lab.modify_host(SITE_A[0], |host| host.remove_virtual_nic(&device))
        .unwrap();
    drop(lab);
    let waiting = run(scratch, &["apply", "manifests.yaml", "--auto-approve"]);
    assert_eq!(waiting.code, 1, "{}", waiting.all());
    assert!(
        waiting.stderr.contains("error[ESX013]") && waiting.stderr.contains("could not be reached"),
        "{}",
        waiting.stderr
    );
    let observed = Lab::open(scratch.join("lab-a")).unwrap().observe(SITE_A[0]).unwrap();
    assert!(
        observed.adapters.iter().all(|adapter| adapter
            .ipv4
            .address
            .is_none_or(|address| !address.to_string().starts_with("10.50."))),
        "nothing was applied: {observed:#?}"
    );
}

/// Whether every host of both labs has the Storage port group (`true`) or none has (`false`).
fn storage_everywhere(scratch: &Path) -> Vec<bool> {
    [("lab-a", &SITE_A[..]), ("lab-b", &SITE_B[..])]
        .into_iter()
        .flat_map(|(lab, hosts)| {
            hosts
                .iter()
                .map(move |host| port_groups_of(&scratch.join(lab), host).contains(&"Storage".to_owned()))
        })
        .collect()
}

/// The run id of the apply's pending confirmation in the journal of runs over several Targets,
/// once the apply wrote it (at most a minute).
fn pending_run(scratch: &Path, child: &mut std::process::Child) -> String {
    let journal = scratch.join(".esxnet/journal.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        let pending = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|entry| entry["entry"] == "confirmation_pending");
        if let Some(entry) = pending {
            return entry["run_id"].as_str().unwrap().to_owned();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the apply ended before it asked for a confirmation: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no confirmation pending in {} after a minute", journal.display());
}

/// A run over several Targets journals its servers, so `esxnet confirm` and `esxnet rollback`
/// find it and its hosts without `--target` or the manifests.
#[test]
fn a_run_over_several_targets_is_confirmed_and_rolled_back_from_its_journal() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    std::fs::write(scratch.join("manifests.yaml"), lab_targets_manifests()).unwrap();
    let mut child = command(
        scratch,
        &["apply", "manifests.yaml", "--auto-approve", "--confirm-within", "10m"],
    )
    .spawn()
    .expect("apply starts");
    let run_id = pending_run(scratch, &mut child);
    let confirm = run(scratch, &["confirm", &run_id]);
    assert_eq!(confirm.code, 0, "{}", confirm.all());
    assert!(confirm.stdout.contains("is confirmed"), "{}", confirm.stdout);
    let apply = Run::from(child.wait_with_output().unwrap());
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(
        apply.stderr.contains(&format!("run `esxnet confirm {run_id}` before")),
        "says how to confirm, with nothing else to name: {}",
        apply.stderr
    );
    assert_eq!(storage_everywhere(scratch), [true, true, true], "the changes stayed");

    // Both labs' hosts go back through the servers the journal recorded: no manifests needed.
    std::fs::remove_file(scratch.join("manifests.yaml")).unwrap();
    let rollback = run(scratch, &["rollback", "--auto-approve"]);
    assert_eq!(rollback.code, 0, "{}", rollback.all());
    assert!(rollback.all().contains(&run_id), "{}", rollback.all());
    assert_eq!(storage_everywhere(scratch), [false, false, false], "every host is back");
    let again = run(scratch, &["rollback", &run_id, "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
}

/// The same run left unconfirmed is rolled back on both servers when its window ends.
#[test]
fn an_unconfirmed_run_over_several_targets_is_rolled_back_on_every_server() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    std::fs::write(scratch.join("manifests.yaml"), lab_targets_manifests()).unwrap();
    let apply = run(
        scratch,
        &["apply", "manifests.yaml", "--auto-approve", "--confirm-within", "300ms"],
    );
    assert_eq!(apply.code, 1, "{}", apply.all());
    assert!(apply.stdout.contains("not confirmed within"), "{}", apply.stdout);
    assert_eq!(storage_everywhere(scratch), [false, false, false], "every host is back");
}

//! `esxnet import`, end to end with the real binary: a heterogeneous lab is imported, and the
//! manifests it writes must describe the hosts exactly (plan empty, drift in sync), through the
//! embedded lab and through the vSphere backend against `esxnet sim serve`; `--into` completes a
//! directory that manages half of the objects.
//!
//! The lab: three clusters by DNS domain (a, b, c), made by applying hand-written manifests to a
//! fresh lab with an iSCSI-bound and a system-owned adapter on every host, DNS learned through
//! DHCP, an IPv6 gateway learned from router advertisement, and a distributed switch. Cluster a
//! has a jumbo-frame switch with a teaming order and port-group overrides, vMotion and
//! Provisioning adapters (static IPv4, static IPv6, DHCPv6) and Provisioning stack settings;
//! a-3 differs in its switch's security (an exception). Cluster b has DHCP adapters on vSwitch0
//! and a default-stack adapter with services of its own. Cluster c has an adapter on a
//! distributed port group and a DHCP adapter on the vMotion stack.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use support::{esxnet, with_password, Run};

const PASSWORD: &str = "import-test-secret";

const HOSTS: [&str; 7] = [
    "a-1.a.lab.example",
    "a-2.a.lab.example",
    "a-3.a.lab.example",
    "b-1.b.lab.example",
    "b-2.b.lab.example",
    "c-1.c.lab.example",
    "c-2.c.lab.example",
];

/// The design the lab is built from (labels of its own: import must find the clusters itself).
const DESIGN: &str = r#"
apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {name: vSwitch1}
spec:
  hosts: {names: [a-1.a.lab.example, a-2.a.lab.example]}
  mtu: 9000
  uplinks: [vmnic2, vmnic3]
  teaming: {active: [vmnic2], standby: [vmnic3], loadBalancing: loadbalance_srcmac, failback: false}
  security: {allowPromiscuous: false, forgedTransmits: false, macChanges: false}
  portGroups:
    - {name: Provisioning, vlan: 120}
    - name: vMotion
      vlan: 130
      teaming: {active: [vmnic3], standby: [vmnic2], notifySwitches: false}
      security: {forgedTransmits: true}
---
apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {name: vSwitch1}
spec:
  hosts: {names: [a-3.a.lab.example]}
  mtu: 9000
  uplinks: [vmnic2, vmnic3]
  teaming: {active: [vmnic2], standby: [vmnic3], loadBalancing: loadbalance_srcmac, failback: false}
  security: {allowPromiscuous: true, forgedTransmits: false, macChanges: false}
  portGroups:
    - {name: Provisioning, vlan: 120}
    - name: vMotion
      vlan: 130
      teaming: {active: [vmnic3], standby: [vmnic2], notifySwitches: false}
      security: {forgedTransmits: true}
---
apiVersion: esxnet/v1
kind: NetStack
metadata: {name: provisioning-a}
spec:
  hosts: {matchLabels: {design: a}}
  stack: provisioning
  ipv4Gateway: 10.120.0.1
  ipv6Gateway: fd00:120::1
  dns: {servers: [10.120.0.53], searchDomains: [lab.example]}
  routes: [{destination: 10.220.0.0/16, gateway: 10.120.0.254}]
  maxConnections: 20000
  congestionControl: cubic
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: provisioning}
spec:
  hosts: {matchLabels: {design: a}}
  stack: provisioning
  portGroup: {standardSwitch: vSwitch1, name: Provisioning}
  mtu: 9000
  ipv4: {mode: static, prefixLength: 24, pool: 10.120.0.11-10.120.0.60}
  ipv6:
    dhcp: false
    addresses:
      a-1.a.lab.example: [fd00:120::11/64]
      a-2.a.lab.example: [fd00:120::12/64]
      a-3.a.lab.example: [fd00:120::13/64]
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: vmotion}
spec:
  hosts: {matchLabels: {design: a}}
  stack: vmotion
  portGroup: {standardSwitch: vSwitch1, name: vMotion}
  mtu: 9000
  ipv4: {mode: static, prefixLength: 24, pool: 10.130.0.11-10.130.0.60, gatewayOverride: 10.130.0.1}
  ipv6: {dhcp: true, routerAdvertisement: false}
---
apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {name: vSwitch0}
spec:
  hosts: {matchLabels: {design: b}}
  portGroups:
    - {name: Provisioning, vlan: 121}
    - {name: Services, vlan: 140}
---
apiVersion: esxnet/v1
kind: NetStack
metadata: {name: provisioning-b}
spec:
  hosts: {matchLabels: {design: b}}
  stack: provisioning
  ipv4Gateway: 10.121.0.1
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: provisioning-b}
spec:
  hosts: {matchLabels: {design: b}}
  stack: provisioning
  portGroup: {standardSwitch: vSwitch0, name: Provisioning}
  ipv4: {mode: dhcp}
  ipv6: {dhcp: true, routerAdvertisement: true}
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: services-b}
spec:
  hosts: {matchLabels: {design: b}}
  portGroup: {standardSwitch: vSwitch0, name: Services}
  ipv4: {mode: static, prefixLength: 24, pool: 10.140.0.11-10.140.0.20}
  services: [vmotion, faultToleranceLogging]
---
apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {name: vSwitch0}
spec:
  hosts: {matchLabels: {design: c}}
  portGroups:
    - {name: vMotion, vlan: 131}
---
apiVersion: esxnet/v1
kind: NetStack
metadata: {name: provisioning-c}
spec:
  hosts: {matchLabels: {design: c}}
  stack: provisioning
  ipv4Gateway: 10.141.0.1
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: provisioning-dvs}
spec:
  hosts: {matchLabels: {design: c}}
  stack: provisioning
  portGroup: {distributedSwitch: dvs-lab, name: dvpg-provisioning}
  mtu: 9000
  ipv4: {mode: static, prefixLength: 24, pool: 10.141.0.11-10.141.0.20}
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: vmotion-c}
spec:
  hosts: {matchLabels: {design: c}}
  stack: vmotion
  portGroup: {standardSwitch: vSwitch0, name: vMotion}
  ipv4: {mode: dhcp}
"#;

/// Makes the lab in `scratch/lab` and builds the design on it.
fn heterogeneous_lab(scratch: &Path) {
    let hosts = HOSTS.join(",");
    let init = esxnet(
        scratch,
        &[
            "sim",
            "init",
            "lab",
            "--hosts",
            &hosts,
            "--dhcp-dns",
            "--iscsi-adapter",
            "--system-owned-adapter",
            "--distributed-switch",
            "dvs-lab:9000",
            "--distributed-port-group",
            "dvs-lab/dvpg-provisioning:141",
        ],
    );
    assert_eq!(init.code, 0, "{}", init.all());
    let design = scratch.join("design");
    std::fs::create_dir_all(&design).unwrap();
    let mut documents = String::new();
    for host in HOSTS {
        let label = &host[..1];
        documents.push_str(&format!(
            "apiVersion: esxnet/v1\nkind: Host\nmetadata: {{name: {host}, labels: {{design: {label}}}}}\n---\n"
        ));
    }
    std::fs::write(design.join("design.yaml"), documents + DESIGN.trim_start()).unwrap();
    let apply = esxnet(scratch, &["apply", "design", "--target", "sim:lab", "--auto-approve"]);
    assert_eq!(apply.code, 0, "the design applies: {}", apply.all());
    let drift = esxnet(scratch, &["drift", "design", "--target", "sim:lab"]);
    assert_eq!(drift.code, 0, "the lab is built as designed: {}", drift.all());
}

fn run(scratch: &Path, arguments: &[&str]) -> Run {
    with_password(scratch, PASSWORD, arguments)
}

/// The files of a directory by name.
fn files(directory: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(entry.path()).unwrap(),
            )
        })
        .collect()
}

/// Documents of a kind in a text.
fn count_kind(text: &str, kind: &str) -> usize {
    text.lines().filter(|line| *line == format!("kind: {kind}")).count()
}

/// `import` into `out`, then `validate`, `plan` and `drift` of what it wrote: valid, no changes,
/// in sync. Answers the import's run.
fn imports_and_round_trips(scratch: &Path, target: &str, out: &str) -> Run {
    let import = run(scratch, &["import", "--target", target, "--out", out]);
    assert_eq!(import.code, 0, "{}", import.all());
    let validate = esxnet(scratch, &["validate", out]);
    assert_eq!(validate.code, 0, "the imported manifests are valid: {}", validate.all());
    let plan = run(scratch, &["plan", out, "--target", target, "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "the plan of the imported manifests is empty: {}", plan.all());
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
    let drift = run(scratch, &["drift", out, "--target", target]);
    assert_eq!(drift.code, 0, "no drift and nothing unmanaged: {}", drift.all());
    import
}

/// What the imported manifests of the heterogeneous lab must say, whichever backend they came through.
/// `storage_bindings`: whether the backend reports which adapters storage is bound to (the vSphere
/// backend does not read software iSCSI port binding yet).
fn check_imported(directory: &Path, import: &Run, storage_bindings: bool) {
    let files = files(directory);
    for (name, text) in files.iter().filter(|(name, _)| name.ends_with(".yaml")) {
        assert!(
            text.starts_with("# yaml-language-server: $schema=manifest.schema.json\n"),
            "{name} starts with the schema line: {text}"
        );
    }
    let all: String = files.values().cloned().collect();
    assert_eq!(count_kind(&all, "Host"), HOSTS.len());
    assert!(all.contains("labels:\n    cluster: a.lab.example"), "clusters by DNS domain");
    // Folding: one document per object and cluster, plus a-3's switch.
    let switches = &files["10-standard-switches.yaml"];
    assert_eq!(
        count_kind(switches, "StandardSwitch"),
        // vSwitch0 in a, b, c; vSwitch1 for a-1 and a-2, and for a-3.
        5,
        "{switches}"
    );
    assert!(
        import.stderr.contains(
            "note: a-3.a.lab.example differs from the other hosts of cluster a.lab.example in standard switch vSwitch1 (spec.security)"
        ),
        "{}",
        import.stderr
    );
    assert!(switches.contains("# a-3.a.lab.example differs from the other hosts of cluster a.lab.example"));
    let adapters = &files["30-vmkernel-adapters.yaml"];
    assert!(
        adapters.contains(
            "  hosts:\n    matchLabels:\n      cluster: a.lab.example\n  stack: provisioning\n  portGroup:\n    standardSwitch: vSwitch1"
        ),
        "the provisioning adapters of cluster a are one document: {adapters}"
    );
    assert!(adapters.contains("      a-3.a.lab.example: 10.120.0.13\n"), "static addresses per host");
    assert!(adapters.contains("      a-2.a.lab.example:\n      - fd00:120::12/64\n"), "{adapters}");
    // DHCP addresses are not pinned; computed values are not written.
    let dhcp_adapter = adapters
        .split("---\n")
        .find(|document| document.contains("name: Provisioning") && document.contains("cluster: b.lab.example"))
        .expect("cluster b's provisioning adapter");
    assert!(dhcp_adapter.contains("  ipv4:\n    mode: dhcp\n  ipv6:\n    dhcp: true\n"), "{dhcp_adapter}");
    assert!(!all.contains("fe80:"), "no link-local addresses or learned gateways");
    assert!(!all.contains("10.10.0.2"), "DNS learned through DHCP is the host's");
    assert!(!all.contains("numPorts") && !all.contains("shaping"), "only what a manifest says");
    // Protected objects are written and commented.
    for protection in ["carries management traffic", "owned by the system", "bound to software iSCSI"] {
        if protection.contains("iSCSI") && !storage_bindings {
            continue;
        }
        assert!(adapters.contains(protection), "{protection}: {adapters}");
    }
    assert!(adapters.contains("distributedSwitch: dvs-lab"), "{adapters}");
    let stacks = &files["20-netstacks.yaml"];
    assert!(stacks.contains("congestionControl: cubic") && stacks.contains("maxConnections: 20000"));
}

#[test]
fn a_heterogeneous_lab_round_trips_through_sim() {
    let scratch = tempfile::tempdir().unwrap();
    heterogeneous_lab(scratch.path());
    let import = imports_and_round_trips(scratch.path(), "sim:lab", "imported");
    check_imported(&scratch.path().join("imported"), &import, true);
    assert!(import.stderr.contains("imported 7 hosts in 3 groups"), "{}", import.stderr);
    // A second run writes the same bytes.
    let again = run(scratch.path(), &["import", "--target", "sim:lab", "--out", "again"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(files(&scratch.path().join("imported")), files(&scratch.path().join("again")));
}

#[test]
fn a_heterogeneous_lab_round_trips_through_the_vsphere_api() {
    let scratch = tempfile::tempdir().unwrap();
    heterogeneous_lab(scratch.path());
    let through_sim = run(scratch.path(), &["import", "--target", "sim:lab", "--out", "through-sim"]);
    assert_eq!(through_sim.code, 0, "{}", through_sim.all());
    let server = support::serve(scratch.path(), "lab", PASSWORD);
    let import = imports_and_round_trips(scratch.path(), &server.target(), "imported");
    check_imported(&scratch.path().join("imported"), &import, false);
    // The same documents; only the comment on the iSCSI-bound adapter is missing, since the
    // vSphere backend does not read port binding.
    let without_comments = |files: BTreeMap<String, String>| -> BTreeMap<String, String> {
        files
            .into_iter()
            .map(|(name, text)| {
                let lines: Vec<&str> = text.lines().filter(|line| !line.starts_with('#')).collect();
                (name, lines.join("\n"))
            })
            .collect()
    };
    assert_eq!(
        without_comments(files(&scratch.path().join("imported"))),
        without_comments(files(&scratch.path().join("through-sim"))),
        "the vSphere API tells import what the lab does"
    );
}

#[test]
fn import_into_a_directory_that_manages_half_writes_the_other_half() {
    let scratch = tempfile::tempdir().unwrap();
    heterogeneous_lab(scratch.path());
    let full = run(scratch.path(), &["import", "--target", "sim:lab", "--out", "full"]);
    assert_eq!(full.code, 0, "{}", full.all());
    let full_files = files(&scratch.path().join("full"));

    // Half: the hosts, the stacks, and of the switches and adapters those of cluster a, written
    // by hand the way a person might (vSwitch0 with its management port group only).
    let half = scratch.path().join("half");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("hosts.yaml"), &full_files["00-hosts.yaml"]).unwrap();
    std::fs::write(half.join("stacks.yaml"), &full_files["20-netstacks.yaml"]).unwrap();
    let cluster_a = |text: &str| -> String {
        text.split("---\n")
            .filter(|document| document.contains("a.lab.example"))
            .map(|document| {
                // Comments and the schema line stay with the first document only.
                let body: Vec<&str> = document.lines().filter(|line| !line.starts_with('#')).collect();
                body.join("\n") + "\n"
            })
            .collect::<Vec<String>>()
            .join("---\n")
    };
    let switches_a = cluster_a(&full_files["10-standard-switches.yaml"]);
    let adapters_a = cluster_a(&full_files["30-vmkernel-adapters.yaml"]);
    let vswitch0_by_hand = "apiVersion: esxnet/v1\nkind: StandardSwitch\nmetadata: {name: vSwitch0}\nspec:\n  hosts: {matchLabels: {cluster: b.lab.example}}\n  portGroups: [{name: Management Network, vlan: 0}]\n";
    std::fs::write(
        half.join("cluster-a.yaml"),
        format!("{switches_a}---\n{adapters_a}---\n{vswitch0_by_hand}"),
    )
    .unwrap();
    let validate = esxnet(scratch.path(), &["validate", "half"]);
    assert_eq!(validate.code, 0, "{}", validate.all());

    let into = run(scratch.path(), &["import", "--target", "sim:lab", "--into", "half"]);
    assert_eq!(into.code, 0, "{}", into.all());
    let after = files(&half);
    let written: Vec<&String> = after.keys().filter(|name| name.starts_with("imported-")).collect();
    assert_eq!(
        written,
        ["imported-10-standard-switches.yaml", "imported-30-vmkernel-adapters.yaml"],
        "neither hosts nor stacks again: {}",
        into.all()
    );
    let new_switches = &after["imported-10-standard-switches.yaml"];
    let new_adapters = &after["imported-30-vmkernel-adapters.yaml"];
    assert!(!new_switches.contains("a.lab.example") && !new_adapters.contains("a.lab.example"));
    assert_eq!(
        count_kind(new_adapters, "VmkernelAdapter") + count_kind(&adapters_a, "VmkernelAdapter"),
        count_kind(&full_files["30-vmkernel-adapters.yaml"], "VmkernelAdapter"),
        "the adapters of b and c, each once: {new_adapters}"
    );
    // vSwitch0 of b is declared by hand with one port group: the rest are added, and the
    // declaration's own fields (none) repeated so that the two agree.
    let vswitch0_b = new_switches
        .split("---\n")
        .find(|document| document.contains("cluster: b.lab.example"))
        .expect("vSwitch0 of b");
    assert!(!vswitch0_b.contains("Management Network") && !vswitch0_b.contains("mtu:"), "{vswitch0_b}");
    assert!(vswitch0_b.contains("name: Services"), "{vswitch0_b}");

    for arguments in [
        &["validate", "half"][..],
        &["plan", "half", "--target", "sim:lab", "--detailed-exitcode"],
        &["drift", "half", "--target", "sim:lab"],
    ] {
        let check = esxnet(scratch.path(), arguments);
        assert_eq!(check.code, 0, "`esxnet {}`: {}", arguments.join(" "), check.all());
    }
    // Complete now: nothing more to write.
    let again = run(scratch.path(), &["import", "--target", "sim:lab", "--into", "half"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stderr.contains("nothing to write"), "{}", again.stderr);
    assert_eq!(files(&half), after);
}

#[test]
fn bad_input_is_a_clear_error() {
    let scratch = tempfile::tempdir().unwrap();
    let no_lab = esxnet(scratch.path(), &["import", "--target", "sim:nowhere", "--out", "out"]);
    assert_eq!(no_lab.code, 1, "{}", no_lab.all());
    assert!(no_lab.stderr.contains("esxnet sim init nowhere"), "{}", no_lab.stderr);
    let init = esxnet(scratch.path(), &["sim", "init", "lab", "--hosts", "2"]);
    assert_eq!(init.code, 0, "{}", init.all());
    let nowhere = esxnet(scratch.path(), &["import", "--target", "sim:lab"]);
    assert_eq!(nowhere.code, 1, "--out or --into is needed: {}", nowhere.all());
    let bad_label = esxnet(
        scratch.path(),
        &["import", "--target", "sim:lab", "--out", "out", "--group-by", "no label"],
    );
    assert_eq!(bad_label.code, 1, "{}", bad_label.all());
    assert!(bad_label.stderr.contains("is not a label key"), "{}", bad_label.stderr);
    let unknown_host = esxnet(
        scratch.path(),
        &["import", "--target", "sim:lab", "--out", "out", "--hosts", "esx-9"],
    );
    assert_eq!(unknown_host.code, 1, "{}", unknown_host.all());
    assert!(unknown_host.stderr.contains("has no host esx-9"), "{}", unknown_host.stderr);
    let missing_into = esxnet(scratch.path(), &["import", "--target", "sim:lab", "--into", "missing"]);
    assert_eq!(missing_into.code, 1, "{}", missing_into.all());
    assert!(missing_into.stderr.contains("is not a directory of manifests"), "{}", missing_into.stderr);
    std::fs::create_dir_all(scratch.path().join("broken")).unwrap();
    std::fs::write(scratch.path().join("broken/a.yaml"), "kind: [").unwrap();
    let broken = esxnet(scratch.path(), &["import", "--target", "sim:lab", "--into", "broken"]);
    assert_eq!(broken.code, 1, "{}", broken.all());
    assert!(broken.stderr.contains("esxnet validate broken"), "{}", broken.stderr);
    assert!(!scratch.path().join("out").exists(), "nothing was written");
}

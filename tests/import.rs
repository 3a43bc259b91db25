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
    assert_eq!(
        plan.code,
        0,
        "the plan of the imported manifests is empty: {}",
        plan.all()
    );
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
    assert!(
        all.contains("labels:\n    cluster: a.lab.example"),
        "clusters by DNS domain"
    );
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
    assert!(
        adapters.contains("      a-3.a.lab.example: 10.120.0.13\n"),
        "static addresses per host"
    );
    assert!(
        adapters.contains("      a-2.a.lab.example:\n      - fd00:120::12/64\n"),
        "{adapters}"
    );
    // DHCP addresses are not pinned; computed values are not written.
    let dhcp_adapter = adapters
        .split("---\n")
        .find(|document| document.contains("name: Provisioning") && document.contains("cluster: b.lab.example"))
        .expect("cluster b's provisioning adapter");
    assert!(
        dhcp_adapter.contains("  ipv4:\n    mode: dhcp\n  ipv6:\n    dhcp: true\n"),
        "{dhcp_adapter}"
    );
    assert!(!all.contains("fe80:"), "no link-local addresses or learned gateways");
    assert!(!all.contains("10.10.0.2"), "DNS learned through DHCP is the host's");
    assert!(
        !all.contains("numPorts") && !all.contains("shaping"),
        "only what a manifest says"
    );
    // Protected objects are written and commented.
    for protection in [
        "carries management traffic",
        "owned by the system",
        "bound to software iSCSI",
    ] {
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
    assert!(
        import.stderr.contains("imported 7 hosts in 3 groups"),
        "{}",
        import.stderr
    );
    // A second run writes the same bytes.
    let again = run(scratch.path(), &["import", "--target", "sim:lab", "--out", "again"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(
        files(&scratch.path().join("imported")),
        files(&scratch.path().join("again"))
    );
    // And over its own output: the files are replaced by the same bytes.
    let before = files(&scratch.path().join("imported"));
    let over = run(scratch.path(), &["import", "--target", "sim:lab", "--out", "imported"]);
    assert_eq!(over.code, 0, "{}", over.all());
    assert_eq!(files(&scratch.path().join("imported")), before);
}

#[test]
fn a_heterogeneous_lab_round_trips_through_the_vsphere_api() {
    let scratch = tempfile::tempdir().unwrap();
    heterogeneous_lab(scratch.path());
    let through_sim = run(
        scratch.path(),
        &["import", "--target", "sim:lab", "--out", "through-sim"],
    );
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
        [
            "imported-10-standard-switches.yaml",
            "imported-30-vmkernel-adapters.yaml"
        ],
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
    assert!(
        !vswitch0_b.contains("Management Network") && !vswitch0_b.contains("mtu:"),
        "{vswitch0_b}"
    );
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
        &[
            "import",
            "--target",
            "sim:lab",
            "--out",
            "out",
            "--group-by",
            "no label",
        ],
    );
    assert_eq!(bad_label.code, 1, "{}", bad_label.all());
    assert!(bad_label.stderr.contains("is not a label key"), "{}", bad_label.stderr);
    let unknown_host = esxnet(
        scratch.path(),
        &["import", "--target", "sim:lab", "--out", "out", "--hosts", "esx-9"],
    );
    assert_eq!(unknown_host.code, 1, "{}", unknown_host.all());
    assert!(
        unknown_host.stderr.contains("has no host esx-9"),
        "{}",
        unknown_host.stderr
    );
    let missing_into = esxnet(scratch.path(), &["import", "--target", "sim:lab", "--into", "missing"]);
    assert_eq!(missing_into.code, 1, "{}", missing_into.all());
    assert!(
        missing_into.stderr.contains("is not a directory of manifests"),
        "{}",
        missing_into.stderr
    );
    std::fs::create_dir_all(scratch.path().join("mine")).unwrap();
    std::fs::write(
        scratch.path().join("mine/hosts.yaml"),
        "apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-1}\n",
    )
    .unwrap();
    let over_mine = esxnet(scratch.path(), &["import", "--target", "sim:lab", "--out", "mine"]);
    assert_eq!(over_mine.code, 1, "{}", over_mine.all());
    assert!(over_mine.stderr.contains("use --into mine"), "{}", over_mine.stderr);
    assert_eq!(
        std::fs::read_dir(scratch.path().join("mine")).unwrap().count(),
        1,
        "nothing written beside it"
    );
    std::fs::create_dir_all(scratch.path().join("broken")).unwrap();
    std::fs::write(scratch.path().join("broken/a.yaml"), "kind: [").unwrap();
    let broken = esxnet(scratch.path(), &["import", "--target", "sim:lab", "--into", "broken"]);
    assert_eq!(broken.code, 1, "{}", broken.all());
    assert!(broken.stderr.contains("esxnet validate broken"), "{}", broken.stderr);
    assert!(!scratch.path().join("out").exists(), "nothing was written");
}

/// Import → plan is empty for generated labs, built through the simulator's own host methods:
/// hosts in two DNS domains and without one, each given one of a few designs (so that groups fold
/// and have exceptions), per-host addresses, every policy a manifest can express, port-group
/// overrides, all three stacks, DHCP and static IPv4 and IPv6, services, two adapters on one
/// distributed port group (pinned by device), and protected adapters. `--into` on the same
/// manifests less one family writes that family again and the plan stays empty.
mod generated {
    use std::collections::BTreeSet;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::path::Path;

    use esxnet::import::{manifests_for, ImportOptions};
    use esxnet::ops::{self, DriftReport};
    use esxnet_executor::backend::{Ipv4Settings, Ipv6Settings};
    use esxnet_model::common::{CongestionControl, Dns, EsxiVersion, Route, Service, StackKind};
    use esxnet_model::observed::{
        DistributedPortGroup, DistributedSwitchMembership, LoadBalancing, ObservedFleet, ObservedHost, PortConnection,
        PortGroupPolicy, SecurityOverride, SecurityPolicy, StorageBinding, Teaming, TeamingOverride, TeamingPolicy,
    };
    use esxnet_planner::{Action, PlanOptions};
    use esxnet_sim::{
        DnsEdit, FreshHostOptions, NewAdapter, RouteChange, SimHost, StackEdit, StackGateways, SwitchSpec,
    };
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct SwitchDesign {
        mtu: u32,
        uplinks: BTreeSet<String>,
        standby_last: bool,
        teaming: TeamingPolicy,
        security: SecurityPolicy,
    }

    #[derive(Debug, Clone)]
    struct AdapterDesign {
        stack: StackKind,
        dhcp: bool,
        gateway_override: bool,
        /// 0 ESXi's default, 1 DHCPv6, 2 a static address, 3 router advertisement off.
        ipv6: u8,
        services: Vec<Service>,
        jumbo: bool,
    }

    #[derive(Debug, Clone)]
    struct PortGroupDesign {
        vlan: u16,
        order_override: bool,
        teaming: TeamingOverride,
        security: SecurityOverride,
        adapter: Option<AdapterDesign>,
    }

    #[derive(Debug, Clone)]
    struct Design {
        switch: Option<SwitchDesign>,
        port_groups: Vec<PortGroupDesign>,
        distributed_adapters: usize,
        dns_from_dhcp: bool,
        static_dns: bool,
        provisioning_tuning: bool,
        protected: bool,
    }

    fn uplinks() -> impl Strategy<Value = BTreeSet<String>> {
        proptest::sample::subsequence(vec!["vmnic1", "vmnic2", "vmnic3"], 1..=3)
            .prop_map(|uplinks| uplinks.into_iter().map(str::to_owned).collect())
    }

    fn load_balancing() -> impl Strategy<Value = LoadBalancing> {
        proptest::sample::select(LoadBalancing::ALL.to_vec())
    }

    fn teaming_policy() -> impl Strategy<Value = TeamingPolicy> {
        (load_balancing(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(load_balancing, notify_switches, failback, beacon_probing)| TeamingPolicy {
                load_balancing,
                notify_switches,
                failback,
                beacon_probing,
            },
        )
    }

    fn security() -> impl Strategy<Value = SecurityPolicy> {
        (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(allow_promiscuous, mac_changes, forged_transmits)| {
            SecurityPolicy {
                allow_promiscuous,
                mac_changes,
                forged_transmits,
            }
        })
    }

    fn switch_design() -> impl Strategy<Value = SwitchDesign> {
        (
            prop_oneof![Just(1500u32), Just(9000u32)],
            uplinks(),
            any::<bool>(),
            teaming_policy(),
            security(),
        )
            .prop_map(|(mtu, uplinks, standby_last, teaming, security)| SwitchDesign {
                mtu,
                uplinks,
                standby_last,
                teaming,
                security,
            })
    }

    fn adapter_design() -> impl Strategy<Value = AdapterDesign> {
        (
            proptest::sample::select(StackKind::ALL.to_vec()),
            any::<bool>(),
            any::<bool>(),
            0u8..4,
            proptest::sample::subsequence(
                vec![Service::Vmotion, Service::FaultToleranceLogging, Service::Replication],
                0..=2,
            ),
            any::<bool>(),
        )
            .prop_map(|(stack, dhcp, gateway_override, ipv6, services, jumbo)| AdapterDesign {
                stack,
                dhcp,
                gateway_override,
                ipv6,
                services,
                jumbo,
            })
    }

    fn port_group_design() -> impl Strategy<Value = PortGroupDesign> {
        (
            0u16..4095,
            any::<bool>(),
            proptest::option::of(load_balancing()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(adapter_design()),
        )
            .prop_map(
                |(vlan, order_override, load_balancing, failback, promiscuous, forged, adapter)| PortGroupDesign {
                    vlan,
                    order_override,
                    teaming: TeamingOverride {
                        load_balancing,
                        failback,
                        ..TeamingOverride::default()
                    },
                    security: SecurityOverride {
                        allow_promiscuous: promiscuous,
                        forged_transmits: forged,
                        ..SecurityOverride::default()
                    },
                    adapter,
                },
            )
    }

    fn design() -> impl Strategy<Value = Design> {
        (
            proptest::option::of(switch_design()),
            proptest::collection::vec(port_group_design(), 0..4),
            0usize..3,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(
                    switch,
                    port_groups,
                    distributed_adapters,
                    dns_from_dhcp,
                    static_dns,
                    provisioning_tuning,
                    protected,
                )| {
                    Design {
                        switch,
                        port_groups,
                        distributed_adapters,
                        dns_from_dhcp,
                        static_dns,
                        provisioning_tuning,
                        protected,
                    }
                },
            )
    }

    /// Hosts: (domain 0, 1 or none, design index).
    fn lab() -> impl Strategy<Value = (Vec<Design>, Vec<(u8, usize)>)> {
        proptest::collection::vec(design(), 1..4).prop_flat_map(|designs| {
            let count = designs.len();
            (Just(designs), proptest::collection::vec((0u8..3, 0..count), 1..7))
        })
    }

    fn host_name(index: usize, domain: u8) -> String {
        match domain {
            0 => format!("h{index}.g0.example"),
            1 => format!("h{index}.g1.example"),
            _ => format!("h{index}"),
        }
    }

    /// Builds one host of `design`; `index` makes its addresses its own.
    fn build(name: &str, index: usize, design: &Design) -> ObservedHost {
        let options = FreshHostOptions {
            dns_from_dhcp: design.dns_from_dhcp,
            ..FreshHostOptions::new(EsxiVersion::new(8, 0, 3))
        };
        let mut host = SimHost::new_installed_with(name, index as u32 + 1, &options).expect("a fresh host");
        let host_octet = 10 + index as u8;
        let (switch_name, switch_uplinks, switch_mtu) = match &design.switch {
            Some(switch) => {
                let mut teaming = Teaming::default();
                if switch.standby_last && switch.uplinks.len() > 1 {
                    let mut order: Vec<String> = switch.uplinks.iter().cloned().collect();
                    let last = order.pop().expect("two uplinks");
                    teaming = Teaming {
                        active: order,
                        standby: vec![last],
                    };
                }
                host.add_virtual_switch(&SwitchSpec {
                    name: "vSwitch1".into(),
                    mtu: switch.mtu,
                    uplinks: switch.uplinks.clone(),
                    teaming,
                    policy: None,
                    teaming_policy: Some(switch.teaming),
                    security: Some(switch.security),
                })
                .expect("vSwitch1");
                ("vSwitch1", switch.uplinks.clone(), switch.mtu)
            }
            None => ("vSwitch0", BTreeSet::from(["vmnic0".to_owned()]), 1500),
        };
        let mut stack_gateways: Vec<(StackKind, Ipv4Addr)> = Vec::new();
        let mut provisioning_route_gateway = None;
        let mut dedicated: BTreeSet<StackKind> = BTreeSet::new();
        let mut default_adapters: Vec<(String, Vec<Service>)> = Vec::new();
        for (number, port_group) in design.port_groups.iter().enumerate() {
            let name = format!("pg-{number}");
            let mut policy = PortGroupPolicy {
                teaming: port_group.teaming.clone(),
                security: port_group.security,
                ..PortGroupPolicy::default()
            };
            if port_group.order_override {
                let mut order: Vec<String> = switch_uplinks.iter().cloned().collect();
                order.reverse();
                policy.teaming.order = Some(Teaming {
                    active: order,
                    standby: Vec::new(),
                });
            }
            host.add_port_group_with_policy(&name, switch_name, port_group.vlan % 4095, &policy)
                .expect("port group");
            let Some(adapter) = &port_group.adapter else { continue };
            let subnet = 100 + number as u8;
            let gateway = Ipv4Addr::new(10, subnet, 0, 1);
            let ipv4 = if adapter.dhcp {
                Ipv4Settings {
                    dhcp: true,
                    address: None,
                    prefix_length: None,
                    gateway_override: None,
                }
            } else {
                Ipv4Settings {
                    dhcp: false,
                    address: Some(Ipv4Addr::new(10, subnet, 0, host_octet)),
                    prefix_length: Some(24),
                    gateway_override: adapter.gateway_override.then_some(gateway),
                }
            };
            if !adapter.dhcp && !adapter.gateway_override && adapter.stack != StackKind::Default {
                stack_gateways.push((adapter.stack, gateway));
            }
            if !adapter.dhcp && adapter.stack == StackKind::Provisioning {
                provisioning_route_gateway = Some(Ipv4Addr::new(10, subnet, 0, 254));
            }
            let ipv6 = match adapter.ipv6 {
                1 => Some(Ipv6Settings {
                    dhcp: true,
                    router_advertisement: true,
                    addresses: BTreeSet::new(),
                    gateway_override: None,
                }),
                2 => Some(Ipv6Settings {
                    dhcp: false,
                    router_advertisement: true,
                    addresses: BTreeSet::from([format!("fd00:{subnet:x}::{host_octet:x}/64").parse().unwrap()]),
                    gateway_override: Some(Ipv6Addr::new(0xfd00, subnet as u16, 0, 0, 0, 0, 0, 1)),
                }),
                3 => Some(Ipv6Settings {
                    dhcp: false,
                    router_advertisement: false,
                    addresses: BTreeSet::new(),
                    gateway_override: None,
                }),
                _ => None,
            };
            let mtu = if adapter.jumbo { switch_mtu } else { 1500 };
            let device = host
                .add_virtual_nic(&NewAdapter {
                    connection: PortConnection::Standard {
                        switch: switch_name.to_owned(),
                        port_group: name.clone(),
                    },
                    stack: adapter.stack,
                    mtu,
                    ipv4,
                    ipv6,
                })
                .expect("adapter");
            if adapter.stack == StackKind::Default {
                default_adapters.push((device, adapter.services.clone()));
            } else {
                dedicated.insert(adapter.stack);
            }
        }
        for (device, services) in default_adapters {
            for service in services {
                // A dedicated stack carries its service alone (ESX004).
                if dedicated.contains(&StackKind::Vmotion) && service == Service::Vmotion {
                    continue;
                }
                host.select_service(&device, service).expect("service");
            }
        }
        if design.distributed_adapters > 0 {
            host.join_distributed_switch(DistributedSwitchMembership {
                name: "dvs-lab".into(),
                uuid: "50 1e 5b ad e3 b4 00 01-18 f3 1c 4c fa 98 3d bb".into(),
                mtu: 9000,
                port_groups: vec![DistributedPortGroup {
                    name: "dvpg-shared".into(),
                    key: "dvportgroup-1001".into(),
                    vlan: 200,
                }],
            })
            .expect("membership");
            for number in 0..design.distributed_adapters {
                host.add_virtual_nic(&NewAdapter {
                    connection: PortConnection::Distributed {
                        switch: "dvs-lab".into(),
                        port_group: "dvpg-shared".into(),
                    },
                    stack: StackKind::Default,
                    mtu: 9000,
                    ipv4: Ipv4Settings {
                        dhcp: false,
                        address: Some(Ipv4Addr::new(10, 200 + number as u8, 0, host_octet)),
                        prefix_length: Some(24),
                        gateway_override: None,
                    },
                    ipv6: None,
                })
                .expect("distributed adapter");
            }
        }
        for (stack, gateway) in stack_gateways {
            let observed = host.observed().stack(stack).expect("stack");
            if observed.ipv4_gateway.is_some() {
                continue;
            }
            host.update_stack(
                stack,
                &StackEdit {
                    gateways: Some(StackGateways {
                        ipv4: Some(gateway),
                        ipv6: None,
                    }),
                    ..StackEdit::default()
                },
            )
            .expect("stack gateway");
        }
        if design.static_dns && !design.dns_from_dhcp {
            host.update_stack(
                StackKind::Default,
                &StackEdit {
                    dns: Some(DnsEdit {
                        dhcp: false,
                        host_name: String::new(),
                        domain_name: String::new(),
                        dns: Dns {
                            servers: vec!["10.10.0.53".parse().unwrap()],
                            search_domains: vec!["lab.example".into()],
                        },
                    }),
                    ..StackEdit::default()
                },
            )
            .expect("dns");
        }
        if design.provisioning_tuning && dedicated.contains(&StackKind::Provisioning) {
            host.update_stack(
                StackKind::Provisioning,
                &StackEdit {
                    routes: provisioning_route_gateway
                        .map(|gateway| {
                            vec![RouteChange::Add(Route {
                                destination: "10.250.0.0/16".parse().unwrap(),
                                gateway: gateway.into(),
                            })]
                        })
                        .unwrap_or_default(),
                    requested_max_connections: Some(20_000),
                    congestion_control: Some(CongestionControl::Cubic),
                    ..StackEdit::default()
                },
            )
            .expect("provisioning tuning");
        }
        let mut observed = host.into_observed();
        if design.protected {
            // What vSAN or NSX leave: adapters esxnet must keep.
            if let Some(adapter) = observed.adapters.iter_mut().find(|adapter| adapter.device == "vmk1") {
                adapter.storage_bindings.insert(StorageBinding::Iscsi);
            }
            if let Some(adapter) = observed.adapters.iter_mut().find(|adapter| adapter.device == "vmk2") {
                adapter.system_owned = true;
            }
        }
        observed
    }

    fn fleet(designs: &[Design], hosts: &[(u8, usize)]) -> ObservedFleet {
        let mut fleet = ObservedFleet::default();
        for (index, (domain, design)) in hosts.iter().enumerate() {
            let name = host_name(index, *domain);
            let host = build(&name, index, &designs[*design]);
            fleet.hosts.insert(name, host);
        }
        fleet
    }

    fn write(directory: &Path, files: &[esxnet::import::ManifestFile]) {
        std::fs::create_dir_all(directory).unwrap();
        for file in files {
            std::fs::write(directory.join(&file.name), &file.text).unwrap();
        }
    }

    /// The manifests in `directory` describe `fleet` exactly: no errors, no changes, nothing unmanaged.
    fn plans_empty(directory: &Path, fleet: &ObservedFleet) -> Result<(), TestCaseError> {
        let loaded = esxnet_model::analysis::load(&[directory.to_owned()]);
        let plan = ops::plan_observed(&loaded, fleet, &PlanOptions::default());
        let errors: Vec<String> = plan
            .diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.is_error())
            .map(|diagnostic| diagnostic.render(false))
            .collect();
        prop_assert!(errors.is_empty(), "{errors:#?}");
        let changes: Vec<String> = plan
            .changes
            .iter()
            .filter(|change| change.action != Action::Noop)
            .map(|change| format!("{} {:?} {:?}", change.address, change.action, change.fields))
            .collect();
        prop_assert!(changes.is_empty(), "{changes:#?}");
        prop_assert!(
            DriftReport::of(&plan).in_sync,
            "unmanaged: {:?}",
            DriftReport::of(&plan).unmanaged
        );
        Ok(())
    }

    /// Changes to what a manifest manages on `host`, each with what it changes: the imported
    /// manifests must see every one of them (they describe the host, they do not just leave it be).
    fn perturbations(fleet: &ObservedFleet, host: &str) -> Vec<(String, ObservedFleet)> {
        let observed = &fleet.hosts[host];
        let mut perturbed = Vec::new();
        let mut change = |what: String, edit: &dyn Fn(&mut ObservedHost)| {
            let mut fleet = fleet.clone();
            edit(fleet.hosts.get_mut(host).expect("the host"));
            perturbed.push((what, fleet));
        };
        for (index, switch) in observed.switches.iter().enumerate() {
            if !switch.teaming.standby.is_empty() {
                change(format!("{} teaming order", switch.name), &|host| {
                    let teaming = &mut host.switches[index].teaming;
                    std::mem::swap(&mut teaming.active, &mut teaming.standby);
                });
            }
            change(format!("{} failback", switch.name), &|host| {
                host.switches[index].policy.teaming.failback ^= true;
            });
            change(format!("{} promiscuous mode", switch.name), &|host| {
                host.switches[index].policy.security.allow_promiscuous ^= true;
            });
        }
        for (index, port_group) in observed.port_groups.iter().enumerate() {
            change(format!("{} VLAN", port_group.name), &|host| {
                host.port_groups[index].vlan = (host.port_groups[index].vlan + 1) % 4095;
            });
            if !port_group.policy.teaming.is_empty() || !port_group.policy.security.is_empty() {
                change(format!("{} overrides", port_group.name), &|host| {
                    host.port_groups[index].policy = PortGroupPolicy::default();
                });
            }
        }
        for (index, adapter) in observed.adapters.iter().enumerate() {
            change(format!("{} MTU", adapter.device), &|host| {
                host.adapters[index].mtu = 1280
            });
            change(format!("{} IPv4", adapter.device), &|host| {
                let ipv4 = &mut host.adapters[index].ipv4;
                if ipv4.dhcp {
                    ipv4.gateway_override = Some(Ipv4Addr::new(192, 0, 2, 1));
                } else {
                    ipv4.prefix_length = Some(ipv4.prefix_length.unwrap_or(24) - 1);
                }
            });
            if adapter.stack == StackKind::Default {
                change(format!("{} services", adapter.device), &|host| {
                    let services = &mut host.adapters[index].services;
                    if services.is_empty() {
                        services.insert(Service::FaultToleranceLogging);
                    } else {
                        services.clear();
                    }
                });
            }
            let ipv6 = &adapter.ipv6;
            if ipv6.dhcp || !ipv6.manual_addresses().is_empty() || !ipv6.router_advertisement {
                change(format!("{} DHCPv6", adapter.device), &|host| {
                    host.adapters[index].ipv6.dhcp ^= true
                });
            }
            if !ipv6.router_advertisement {
                // Off is not ESXi 8's default: someone set it, so the manifests keep it off.
                change(format!("{} router advertisement", adapter.device), &|host| {
                    host.adapters[index].ipv6.router_advertisement = true;
                });
            }
        }
        for (index, stack) in observed.stacks.iter().enumerate() {
            if stack.ipv4_gateway.is_some() {
                change(format!("the {} stack's gateway", stack.stack), &|host| {
                    host.stacks[index].ipv4_gateway = Some(Ipv4Addr::new(192, 0, 2, 254));
                });
            }
            if stack.congestion_control == CongestionControl::Cubic {
                change(format!("the {} stack's congestion control", stack.stack), &|host| {
                    host.stacks[index].congestion_control = CongestionControl::Newreno;
                });
            }
            if !stack.dns_from_dhcp && !stack.dns.servers.is_empty() {
                change(format!("the {} stack's DNS", stack.stack), &|host| {
                    host.stacks[index].dns.servers.clear()
                });
            }
        }
        perturbed
    }

    proptest! {
        // Bounded: every case builds hosts and plans them; failures print their lab.
        #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn import_then_plan_is_empty((designs, hosts) in lab(), dropped in 1usize..4) {
            let fleet = fleet(&designs, &hosts);
            let scratch = tempfile::tempdir().unwrap();
            let options = ImportOptions::default();
            let imported = manifests_for(&fleet, None, &options);
            prop_assert_eq!(&imported, &manifests_for(&fleet, None, &options), "deterministic");
            let full = scratch.path().join("full");
            write(&full, &imported.files);
            plans_empty(&full, &fleet)?;
            let loaded = esxnet_model::analysis::load(std::slice::from_ref(&full));
            let every_change = PlanOptions { allow_management_changes: true, ..PlanOptions::default() };
            let first_host = fleet.hosts.keys().next().expect("a host").clone();
            for (what, perturbed) in perturbations(&fleet, &first_host) {
                let plan = ops::plan_observed(&loaded, &perturbed, &every_change);
                prop_assert!(
                    plan.changes.iter().any(|change| change.host == first_host && change.action != Action::Noop),
                    "the imported manifests manage {} of {}", what, first_host
                );
            }

            // --into on the same manifests less one family writes that family again.
            let Some(dropped_file) = imported.files.iter().find(|file| file.name.starts_with(&format!("{dropped}0-"))) else {
                return Ok(());
            };
            let partial = scratch.path().join("partial");
            let kept: Vec<_> = imported.files.iter().filter(|file| file.name != dropped_file.name).cloned().collect();
            write(&partial, &kept);
            let loaded = esxnet_model::analysis::load(std::slice::from_ref(&partial));
            let existing = esxnet_model::analysis::analyze(&loaded, Some(&fleet)).fleet;
            let into = ImportOptions { file_prefix: "imported-".into(), ..ImportOptions::default() };
            let completed = manifests_for(&fleet, Some(&existing), &into);
            let names: Vec<&str> = completed.files.iter().map(|file| file.name.as_str()).collect();
            prop_assert_eq!(names, vec![format!("imported-{}", dropped_file.name)]);
            write(&partial, &completed.files);
            plans_empty(&partial, &fleet)?;
        }
    }
}

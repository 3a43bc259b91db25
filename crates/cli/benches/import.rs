//! `esxnet import` on a large fleet, timed as the whole process: what a user adopting a fleet
//! waits for.
//!
//! `cargo bench -p esxnet --bench import [-- HOSTS ROUNDS]` (defaults 1000 3). The lab has HOSTS
//! hosts in four clusters (DNS domains g1…g4.example) of identical design with per-host addresses
//! (a jumbo-frame switch with a teaming order and a port-group override, vMotion and
//! Provisioning stack settings and adapters), and three hosts of g1 with one port group more
//! (exceptions). It prints the documents written, which depend on the clusters and exceptions,
//! not on the hosts, and checks that a plan of the imported manifests is empty. The issue's
//! target: under 2 s for 1,000 hosts. Figures only; nothing is asserted about time.

#[path = "../../../tests/support/fleet.rs"]
mod fleet;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use esxnet::ops::{self, ApplyRequest, PlanRequest};
use esxnet_sim::{HostNames, InitOptions, Lab};

const GROUPS: usize = 4;
const EXCEPTIONS: usize = 3;

fn main() {
    let hosts = fleet::argument(1, 1000);
    let rounds = fleet::argument(2, 3);
    let scratch = tempfile::tempdir().expect("scratch directory");
    let (design, names) = write_design(scratch.path(), hosts);
    let lab_dir = scratch.path().join("lab");
    drop(
        Lab::init(
            &lab_dir,
            &InitOptions {
                hosts: HostNames::Names(names),
                ..InitOptions::default()
            },
        )
        .expect("lab"),
    );
    let target = format!("sim:{}", lab_dir.display());
    let started = Instant::now();
    let paths = vec![design];
    let planned = ops::plan(&PlanRequest {
        writable: true,
        ..PlanRequest::new(&paths, &target)
    })
    .expect("plan")
    .planned()
    .expect("the design reads");
    assert!(!planned.plan.has_errors(), "{:#?}", planned.plan.diagnostics);
    let report = ops::apply(planned, ApplyRequest::default()).expect("apply");
    assert!(report.succeeded(), "the design applies");
    println!(
        "built a lab of {hosts} hosts in {GROUPS} clusters ({EXCEPTIONS} exceptions) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let binary = env!("CARGO_BIN_EXE_esxnet");
    let mut times = Vec::new();
    let mut last = String::new();
    for round in 0..rounds {
        let out = scratch.path().join(format!("imported-{round}"));
        let started = Instant::now();
        let output = Command::new(binary)
            .args(["import", "--target", &target, "--out"])
            .arg(&out)
            .env("NO_COLOR", "1")
            .output()
            .expect("esxnet runs");
        times.push(started.elapsed().as_secs_f64());
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        last = String::from_utf8_lossy(&output.stderr).into_owned();
        if round > 0 {
            let previous = scratch.path().join(format!("imported-{}", round - 1));
            assert_eq!(read_all(&previous), read_all(&out), "byte-identical runs");
        }
    }
    let summary = last.lines().last().unwrap_or_default();
    println!("{summary}");
    let best = times.iter().copied().fold(f64::INFINITY, f64::min);
    let median = {
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    println!("esxnet import, {hosts} hosts: best {best:.3} s, median {median:.3} s over {rounds} rounds");

    let imported = scratch.path().join("imported-0");
    let plan = Command::new(binary)
        .args(["plan", "--target", &target, "--detailed-exitcode"])
        .arg(&imported)
        .env("NO_COLOR", "1")
        .output()
        .expect("esxnet runs");
    println!(
        "plan of the imported manifests: exit {} ({})",
        plan.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&plan.stdout).lines().last().unwrap_or_default()
    );
}

fn read_all(directory: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(directory)
        .expect("directory")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("file");
            (path.file_name().map(PathBuf::from).unwrap_or_default(), bytes)
        })
        .collect();
    files.sort();
    files
}

/// The design's manifests and the host names: cluster gK gets its own subnets.
fn write_design(directory: &Path, count: usize) -> (PathBuf, Vec<String>) {
    let manifests = directory.join("design");
    std::fs::create_dir_all(&manifests).expect("design directory");
    let names: Vec<String> = (0..count)
        .map(|index| format!("esx-{:04}.g{}.example", index + 1, index % GROUPS + 1))
        .collect();
    let mut text = String::new();
    for name in &names {
        let group = &name[name.len() - 10..name.len() - 8];
        let _ = write!(
            text,
            "apiVersion: esxnet/v1\nkind: Host\nmetadata: {{name: {name}, labels: {{design: {group}}}}}\n---\n"
        );
    }
    for group in 1..=GROUPS {
        let _ = write!(
            text,
            "apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {{name: vSwitch1}}
spec:
  hosts: {{matchLabels: {{design: g{group}}}}}
  mtu: 9000
  uplinks: [vmnic2, vmnic3]
  teaming: {{active: [vmnic2], standby: [vmnic3]}}
  portGroups:
    - {{name: Provisioning, vlan: 12{group}}}
    - {{name: vMotion, vlan: 13{group}, teaming: {{active: [vmnic3], standby: [vmnic2]}}}}
---
apiVersion: esxnet/v1
kind: NetStack
metadata: {{name: provisioning-g{group}}}
spec:
  hosts: {{matchLabels: {{design: g{group}}}}}
  stack: provisioning
  ipv4Gateway: 10.12{group}.0.1
  routes: [{{destination: 10.220.0.0/16, gateway: 10.12{group}.0.254}}]
---
apiVersion: esxnet/v1
kind: NetStack
metadata: {{name: vmotion-g{group}}}
spec:
  hosts: {{matchLabels: {{design: g{group}}}}}
  stack: vmotion
  ipv4Gateway: 10.13{group}.0.1
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {{name: provisioning-g{group}}}
spec:
  hosts: {{matchLabels: {{design: g{group}}}}}
  stack: provisioning
  portGroup: {{standardSwitch: vSwitch1, name: Provisioning}}
  mtu: 9000
  ipv4: {{mode: static, prefixLength: 16, pool: 10.12{group}.1.1-10.12{group}.250.250}}
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {{name: vmotion-g{group}}}
spec:
  hosts: {{matchLabels: {{design: g{group}}}}}
  stack: vmotion
  portGroup: {{standardSwitch: vSwitch1, name: vMotion}}
  mtu: 9000
  ipv4: {{mode: static, prefixLength: 16, pool: 10.13{group}.1.1-10.13{group}.250.250}}
  ipv6: {{dhcp: true}}
---
"
        );
    }
    let exceptions: Vec<&str> = names
        .iter()
        .filter(|name| name.ends_with(".g1.example"))
        .take(EXCEPTIONS)
        .map(String::as_str)
        .collect();
    let _ = write!(
        text,
        "apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {{name: vSwitch1}}
spec:
  hosts: {{names: [{}]}}
  mtu: 9000
  uplinks: [vmnic2, vmnic3]
  teaming: {{active: [vmnic2], standby: [vmnic3]}}
  portGroups:
    - {{name: Backup, vlan: 140}}
",
        exceptions.join(", ")
    );
    std::fs::write(manifests.join("design.yaml"), text).expect("design manifest");
    (manifests, names)
}

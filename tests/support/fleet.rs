#![allow(dead_code)] // The tests and each benchmark use parts of this file.

//! The benchmark and test fleet: `count` hosts, each getting a switch, two port groups, the vMotion and
//! Provisioning stacks' settings and two adapters — 7 changes per fresh host.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Writes the fleet's manifests into `directory` and returns the host names.
pub fn write_fleet(directory: &Path, count: usize) -> (PathBuf, Vec<String>) {
    let manifests = directory.join("manifests");
    std::fs::create_dir_all(&manifests).expect("manifest directory");
    let width = count.to_string().len();
    let names: Vec<String> = (1..=count).map(|number| format!("esx-{number:0width$}")).collect();
    let mut hosts = String::new();
    for name in &names {
        let _ = write!(
            hosts,
            "apiVersion: esxnet/v1\nkind: Host\nmetadata: {{name: {name}, labels: {{cluster: bench}}}}\n---\n"
        );
    }
    std::fs::write(manifests.join("hosts.yaml"), hosts).expect("hosts manifest");
    std::fs::write(
        manifests.join("network.yaml"),
        "apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {name: vSwitch1}
spec:
  hosts: {matchLabels: {cluster: bench}}
  mtu: 9000
  uplinks: [vmnic2, vmnic3]
  portGroups:
    - {name: Provisioning, vlan: 120}
    - {name: vMotion, vlan: 130}
---
apiVersion: esxnet/v1
kind: NetStack
metadata: {name: provisioning}
spec:
  hosts: {matchLabels: {cluster: bench}}
  stack: provisioning
  ipv4Gateway: 10.120.0.1
---
apiVersion: esxnet/v1
kind: NetStack
metadata: {name: vmotion}
spec:
  hosts: {matchLabels: {cluster: bench}}
  stack: vmotion
  ipv4Gateway: 10.130.0.1
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: prov}
spec:
  hosts: {matchLabels: {cluster: bench}}
  stack: provisioning
  portGroup: {standardSwitch: vSwitch1, name: Provisioning}
  mtu: 9000
  ipv4: {mode: static, prefixLength: 16, pool: 10.120.1.1-10.120.250.250}
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: vmotion}
spec:
  hosts: {matchLabels: {cluster: bench}}
  stack: vmotion
  portGroup: {standardSwitch: vSwitch1, name: vMotion}
  mtu: 9000
  ipv4: {mode: static, prefixLength: 16, pool: 10.130.1.1-10.130.250.250}
",
    )
    .expect("network manifest");
    (manifests, names)
}

/// Peak resident memory of this process so far, in MiB (Linux), from `VmHWM`.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The benchmark's positional argument `index` (1 = first), or `default`. Flags that cargo bench
/// passes (`--bench`) are skipped.
pub fn argument(index: usize, default: usize) -> usize {
    std::env::args()
        .filter(|argument| !argument.starts_with('-'))
        .nth(index)
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

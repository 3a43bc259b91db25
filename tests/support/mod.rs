//! Helpers for the end-to-end tests: run the real `esxnet` binary in a scratch directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository's root.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The example manifests.
pub fn examples() -> PathBuf {
    repository().join("manifests/examples")
}

/// The result of one run.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Everything printed.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A command for the binary, run in `directory`, without colour, without a terminal.
pub fn command(directory: &Path, arguments: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_esxnet"));
    command
        .args(arguments)
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .env_remove("ESXNET_TARGET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs the binary and waits.
pub fn esxnet(directory: &Path, arguments: &[&str]) -> Run {
    Run::from(command(directory, arguments).output().expect("the esxnet binary runs"))
}

/// Writes `count` Host documents (esx-01…) labelled `cluster: big` and a switch, port group and
/// two adapters for them, so a lab of that many hosts has work to do.
pub fn fleet_manifests(directory: &Path, count: usize) -> PathBuf {
    let manifests = directory.join("fleet");
    std::fs::create_dir_all(&manifests).unwrap();
    let width = count.to_string().len();
    let mut hosts = String::new();
    for number in 1..=count {
        hosts.push_str(&format!(
            "apiVersion: esxnet/v1\nkind: Host\nmetadata: {{name: esx-{number:0width$}, labels: {{cluster: big}}}}\n---\n"
        ));
    }
    std::fs::write(manifests.join("hosts.yaml"), hosts).unwrap();
    std::fs::write(
        manifests.join("network.yaml"),
        "apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {name: vSwitch1}
spec:
  hosts: {matchLabels: {cluster: big}}
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
  hosts: {matchLabels: {cluster: big}}
  stack: provisioning
  ipv4Gateway: 10.120.0.1
---
apiVersion: esxnet/v1
kind: NetStack
metadata: {name: vmotion}
spec:
  hosts: {matchLabels: {cluster: big}}
  stack: vmotion
  ipv4Gateway: 10.130.0.1
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: prov}
spec:
  hosts: {matchLabels: {cluster: big}}
  stack: provisioning
  portGroup: {standardSwitch: vSwitch1, name: Provisioning}
  mtu: 9000
  ipv4: {mode: static, prefixLength: 16, pool: 10.120.1.1-10.120.250.250}
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: vmotion}
spec:
  hosts: {matchLabels: {cluster: big}}
  stack: vmotion
  portGroup: {standardSwitch: vSwitch1, name: vMotion}
  mtu: 9000
  ipv4: {mode: static, prefixLength: 16, pool: 10.130.1.1-10.130.250.250}
",
    )
    .unwrap();
    manifests
}

//! Helpers for the end-to-end tests: run the real `esxnet` binary in a scratch directory.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The vSphere methods that change a host, as the simulator and `sim serve` count them (the
/// names `Operation::method_name` gives).
pub const MUTATING_METHODS: [&str; 12] = [
    "AddVirtualSwitch",
    "UpdateVirtualSwitch",
    "RemoveVirtualSwitch",
    "AddPortGroup",
    "UpdatePortGroup",
    "RemovePortGroup",
    "AddVirtualNic",
    "UpdateVirtualNic",
    "RemoveVirtualNic",
    "UpdateNetworkConfig",
    "SelectVnicForNicType",
    "DeselectVnicForNicType",
];

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
    pub fn from(output: Output) -> Run {
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

/// Runs the binary with `ESXNET_PASSWORD` set, and waits.
pub fn with_password(directory: &Path, password: &str, arguments: &[&str]) -> Run {
    Run::from(
        command(directory, arguments)
            .env("ESXNET_PASSWORD", password)
            .output()
            .expect("the esxnet binary runs"),
    )
}

pub mod fleet;

/// Writes the manifests of a fleet of `count` hosts (esx-01…), each getting a switch, two port
/// groups, two stacks' settings and two adapters; returns their directory.
pub fn fleet_manifests(directory: &Path, count: usize) -> PathBuf {
    fleet::write_fleet(directory, count).0
}

/// `esxnet sim serve` running in the background; stopped when dropped.
pub struct SimServer {
    /// The server process.
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub address: String,
}

impl SimServer {
    /// A `vsphere://` target for the server, trusting its self-signed certificate.
    pub fn target(&self) -> String {
        format!("vsphere://root@{}?insecure=true", self.address)
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `esxnet sim serve LAB` in `directory` with `password`, and waits for its URL.
pub fn serve(directory: &Path, lab: &str, password: &str) -> SimServer {
    let mut child = Command::new(env!("CARGO_BIN_EXE_esxnet"))
        .args(["sim", "serve", lab, "--max-seconds", "300"])
        .current_dir(directory)
        .env("ESXNET_PASSWORD", password)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sim serve starts");
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut first_line)
        .expect("the URL line");
    let address = first_line
        .trim()
        .strip_prefix("https://")
        .and_then(|rest| rest.strip_suffix("/sdk"))
        .unwrap_or_else(|| panic!("sim serve printed {first_line:?} instead of its URL"))
        .to_owned();
    SimServer { child, address }
}

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

pub mod fleet;

/// Writes the manifests of a fleet of `count` hosts (esx-01…), each getting a switch, two port
/// groups, two stacks' settings and two adapters; returns their directory.
pub fn fleet_manifests(directory: &Path, count: usize) -> PathBuf {
    fleet::write_fleet(directory, count).0
}

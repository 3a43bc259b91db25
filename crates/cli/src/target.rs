//! `--target`: which backend to read hosts from and apply changes through.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use esxnet_executor::{Backend, SnapshotBackend};
use esxnet_model::common::EsxiVersion;
use esxnet_model::observed::ObservedFleet;
use esxnet_sim::{Lab, SimBackend};
use esxnet_vsphere::target::{Password, VsphereTarget};

/// A parsed `--target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `sim:DIR`.
    Sim(PathBuf),
    /// `snapshot:FILE`.
    Snapshot(PathBuf),
    /// `vsphere://USER@SERVER…`.
    Vsphere(VsphereTarget),
}

/// How many hosts a command without `--parallelism` works on at once.
pub const DEFAULT_PARALLELISM: usize = 16;

/// ESXi release of hosts made for a new default lab.
const DEFAULT_LAB_VERSION: EsxiVersion = EsxiVersion::new(8, 0, 3);

impl Target {
    /// Reads `sim:DIR`, `snapshot:FILE` or `vsphere://…`.
    pub fn parse(text: &str) -> Result<Target> {
        if let Some(dir) = text.strip_prefix("sim:") {
            if dir.is_empty() {
                bail!("`sim:` needs a directory, such as sim:.esxnet/lab");
            }
            return Ok(Target::Sim(PathBuf::from(dir)));
        }
        if let Some(file) = text.strip_prefix("snapshot:") {
            if file.is_empty() {
                bail!("`snapshot:` needs a file written by `esxnet observe`, such as snapshot:hosts.json");
            }
            return Ok(Target::Snapshot(PathBuf::from(file)));
        }
        if text.starts_with("vsphere://") {
            return Ok(Target::Vsphere(VsphereTarget::parse(text)?));
        }
        bail!("unknown target: use sim:DIR, snapshot:FILE or vsphere://USER@SERVER")
    }

    /// Opens the backend. A `sim:` lab that does not exist yet is made with one host per declared
    /// host; `writable` takes the lab's writer lock (held until the backend is dropped).
    /// `parallelism` is how many hosts the command works on at once: a vSphere backend allows as
    /// many calls in flight against its server (up to its ceiling).
    pub fn open(&self, declared_hosts: &[String], writable: bool, parallelism: usize) -> Result<Box<dyn Backend>> {
        match self {
            Target::Sim(dir) => {
                if !Lab::exists(dir) {
                    if declared_hosts.is_empty() {
                        bail!(
                            "there is no simulated lab at {}: make one with `esxnet sim init {} --hosts 3`",
                            dir.display(),
                            dir.display()
                        );
                    }
                    Lab::create_with_hosts(dir, declared_hosts, DEFAULT_LAB_VERSION)
                        .with_context(|| format!("cannot create a simulated lab at {}", dir.display()))?;
                    eprintln_status(&format!(
                        "created a simulated lab at {} with {} ESXi {DEFAULT_LAB_VERSION} host{}",
                        dir.display(),
                        declared_hosts.len(),
                        if declared_hosts.len() == 1 { "" } else { "s" }
                    ));
                }
                let backend = if writable {
                    SimBackend::open_writer(dir)
                } else {
                    SimBackend::open(dir)
                };
                Ok(Box::new(backend.with_context(|| {
                    format!("cannot open the simulated lab at {}", dir.display())
                })?))
            }
            Target::Snapshot(file) => Ok(Box::new(SnapshotBackend::open(file)?)),
            Target::Vsphere(target) => {
                let password = password(target)?;
                let options = esxnet_vsphere::ConnectOptions {
                    max_concurrent_calls: parallelism,
                    ..esxnet_vsphere::ConnectOptions::default()
                };
                Ok(Box::new(esxnet_vsphere::VsphereBackend::connect_with(
                    target, &password, options,
                )?))
            }
        }
    }

    /// Where apply journals its runs: inside a lab, or in `.esxnet/` for other targets.
    pub fn journal_path(&self) -> PathBuf {
        match self {
            Target::Sim(dir) => dir.join("journal.jsonl"),
            _ => Path::new(".esxnet").join("journal.jsonl"),
        }
    }
}

/// The password for a vSphere target: `ESXNET_PASSWORD`, or a prompt without echo on a terminal.
fn password(target: &VsphereTarget) -> Result<Password> {
    if let Some(password) = std::env::var_os("ESXNET_PASSWORD") {
        return Ok(Password::new(password.to_string_lossy().into_owned()));
    }
    if !crate::output::Output::detect().interactive {
        bail!("set ESXNET_PASSWORD to the password of {target}: there is no terminal to ask on");
    }
    let password = rpassword::prompt_password(format!("password for {target}: "))
        .context("cannot read the password from the terminal")?;
    Ok(Password::new(password))
}

fn eprintln_status(text: &str) {
    crate::output::Output::detect().status(text);
}

/// Observes hosts through the executor (the only crate that calls a backend).
pub fn observe(backend: &dyn Backend, hosts: &[String], parallelism: usize) -> Result<ObservedFleet> {
    esxnet_executor::observe_fleet(backend, hosts, parallelism)
        .with_context(|| format!("cannot observe the hosts of {}", backend.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(Target::parse("sim:lab").unwrap(), Target::Sim(PathBuf::from("lab")));
        assert_eq!(
            Target::parse("snapshot:a.json").unwrap(),
            Target::Snapshot(PathBuf::from("a.json"))
        );
        assert!(Target::parse("sim:").is_err());
        assert!(Target::parse("ftp://x").is_err());
    }

    #[test]
    fn vsphere_targets_with_a_password_in_them_are_refused_without_echoing_it() {
        let error = Target::parse("vsphere://admin:secret@vc.example").err().unwrap();
        assert!(!format!("{error:#}").contains("secret"), "{error:#}");
    }
}

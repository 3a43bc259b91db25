//! `--target`: which backend to read hosts from and apply changes through.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use esxnet_executor::{Backend, SnapshotBackend};
use esxnet_model::analysis;
use esxnet_model::common::EsxiVersion;
use esxnet_model::load::Loaded;
use esxnet_model::observed::{ObservedFleet, PortConnection};
use esxnet_sim::{Lab, LabDistributedPortGroup, LabDistributedSwitch, SimBackend};
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
        self.open_with(
            || FirstUseLab {
                hosts: declared_hosts.to_vec(),
                distributed_switches: Vec::new(),
            },
            writable,
            parallelism,
        )
    }

    /// [`Target::open`] for a command that read manifests: a `sim:` lab made now stands in for
    /// the vCenter the manifests expect, its hosts members of the distributed switches the
    /// manifests reference for them (see [`FirstUseLab::from_manifests`]).
    pub fn open_for_manifests(&self, loaded: &Loaded, writable: bool, parallelism: usize) -> Result<Box<dyn Backend>> {
        self.open_with(|| FirstUseLab::from_manifests(loaded), writable, parallelism)
    }

    fn open_with(
        &self,
        first_use_lab: impl FnOnce() -> FirstUseLab,
        writable: bool,
        parallelism: usize,
    ) -> Result<Box<dyn Backend>> {
        match self {
            Target::Sim(dir) => {
                if !Lab::exists(dir) {
                    let first_use_lab = first_use_lab();
                    if first_use_lab.hosts.is_empty() {
                        bail!(
                            "there is no simulated lab at {}: make one with `esxnet sim init {} --hosts 3`",
                            dir.display(),
                            dir.display()
                        );
                    }
                    first_use_lab.create(dir)?;
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

/// The lab `--target sim:DIR` makes when DIR holds none: one host per declared host, and the
/// distributed switches the manifests reference.
///
/// vCenter owns distributed switches and esxnet never creates them, so a manifest that puts an
/// adapter on a distributed port group expects a vCenter that has joined the host to the switch.
/// A lab made on first use stands in for that vCenter: each host becomes a member of every
/// distributed switch its adapters name, and every member sees all the port groups the manifests
/// name on that switch. A lab that exists already is never changed this way, so ESX011 still
/// reports a host that is not a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstUseLab {
    /// The hosts, sorted.
    pub hosts: Vec<String>,
    /// The distributed switches, each with its member hosts.
    pub distributed_switches: Vec<LabDistributedSwitch>,
}

/// The MTU of an adapter that declares none (ESXi's default).
const DEFAULT_ADAPTER_MTU: u32 = 1500;

impl FirstUseLab {
    /// The lab the manifests call for: their declared hosts, and for each distributed switch their
    /// adapters name, the hosts of those adapters as members, the port groups they name (VLAN 0,
    /// which the manifests cannot say) and an MTU that carries the largest adapter MTU on it
    /// (at least 1500, vCenter's default).
    pub fn from_manifests(loaded: &Loaded) -> FirstUseLab {
        let fleet = analysis::analyze(loaded, None).fleet;
        let mut switches: BTreeMap<&str, (u32, BTreeSet<&str>, BTreeSet<String>)> = BTreeMap::new();
        for (host, desired) in &fleet.hosts {
            for adapter in desired.adapters.values() {
                let PortConnection::Distributed { switch, port_group } = &adapter.connection else {
                    continue;
                };
                let (mtu, port_groups, members) =
                    switches
                        .entry(switch)
                        .or_insert((DEFAULT_ADAPTER_MTU, BTreeSet::new(), BTreeSet::new()));
                *mtu = (*mtu).max(adapter.mtu.unwrap_or(DEFAULT_ADAPTER_MTU));
                port_groups.insert(port_group);
                members.insert(host.clone());
            }
        }
        FirstUseLab {
            hosts: analysis::declared_hosts(loaded),
            distributed_switches: switches
                .into_iter()
                .map(|(name, (mtu, port_groups, members))| LabDistributedSwitch {
                    name: name.to_owned(),
                    mtu,
                    port_groups: port_groups
                        .into_iter()
                        .map(|name| LabDistributedPortGroup {
                            name: name.to_owned(),
                            vlan: 0,
                        })
                        .collect(),
                    hosts: Some(members),
                })
                .collect(),
        }
    }

    /// Makes the lab at `dir` and says what it holds.
    fn create(&self, dir: &Path) -> Result<()> {
        Lab::create_with_hosts_and_distributed_switches(
            dir,
            &self.hosts,
            DEFAULT_LAB_VERSION,
            &self.distributed_switches,
        )
        .with_context(|| format!("cannot create a simulated lab at {}", dir.display()))?;
        eprintln_status(&format!(
            "created a simulated lab at {} with {} ESXi {DEFAULT_LAB_VERSION} host{}",
            dir.display(),
            self.hosts.len(),
            plural(self.hosts.len())
        ));
        for switch in &self.distributed_switches {
            let members = switch.hosts.as_ref().map_or(self.hosts.len(), BTreeSet::len);
            let port_groups: Vec<String> = switch
                .port_groups
                .iter()
                .map(|port_group| format!("\"{}\"", port_group.name))
                .collect();
            eprintln_status(&format!(
                "standing in for vCenter, which owns distributed switches: joined {members} host{} to distributed switch \"{}\" (MTU {}) with port group{} {}, as the manifests expect",
                plural(members),
                switch.name,
                switch.mtu,
                plural(port_groups.len()),
                port_groups.join(", ")
            ));
        }
        Ok(())
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
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

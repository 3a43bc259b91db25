//! `--target` and the manifests' `Target` documents: which backends hosts are read from and
//! changed through.
//!
//! One run talks to one server ([`Target`], from `--target`), or, when the manifests declare
//! `Target` documents and no `--target` is given, to each host's own server ([`Routing`]): every
//! server is opened and observed on its own thread, and a [`RoutedBackend`] sends each host's calls
//! to its server, so the executor applies to hosts of all of them at once. A server that cannot be
//! opened or read fails its own hosts ([`UnreachableTarget`]); the others go on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use esxnet_executor::{Backend, BackendError, Fault, JournaledTarget, Operation, OperationOutcome, SnapshotBackend};
use esxnet_model::analysis;
use esxnet_model::common::EsxiVersion;
use esxnet_model::desired::DesiredTarget;
use esxnet_model::load::Loaded;
use esxnet_model::manifest::{AnyDocument, PasswordFrom};
use esxnet_model::observed::{ObservedFleet, ObservedHost, PortConnection};
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

/// The target when neither `--target` nor the manifests name one.
pub const DEFAULT_TARGET: &str = "sim:.esxnet/lab";

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
            None,
        )
    }

    /// [`Target::open`] for a command that read manifests: a `sim:` lab made now stands in for
    /// the vCenter the manifests expect, its hosts members of the distributed switches the
    /// manifests reference for them (see [`FirstUseLab::from_manifests`]).
    pub fn open_for_manifests(&self, loaded: &Loaded, writable: bool, parallelism: usize) -> Result<Box<dyn Backend>> {
        self.open_with(|| FirstUseLab::from_manifests(loaded), writable, parallelism, None)
    }

    fn open_with(
        &self,
        first_use_lab: impl FnOnce() -> FirstUseLab,
        writable: bool,
        parallelism: usize,
        password_from: Option<&PasswordFrom>,
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
                let password = match password_from {
                    Some(password_from) => password_from_manifest(password_from)?,
                    None => password(target)?,
                };
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
            _ => per_host_journal_path(),
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

    /// The part of this lab for `hosts` (one `Target`'s lab among several).
    fn only(&self, hosts: &[String]) -> FirstUseLab {
        let keep: BTreeSet<&String> = hosts.iter().collect();
        FirstUseLab {
            hosts: self.hosts.iter().filter(|host| keep.contains(host)).cloned().collect(),
            distributed_switches: self
                .distributed_switches
                .iter()
                .filter_map(|switch| {
                    let members: BTreeSet<String> = switch
                        .hosts
                        .iter()
                        .flatten()
                        .filter(|host| keep.contains(host))
                        .cloned()
                        .collect();
                    (!members.is_empty()).then(|| LabDistributedSwitch {
                        hosts: Some(members),
                        ..switch.clone()
                    })
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

/// A password where a `Target` document says it is: an environment variable, or a file without
/// its trailing newline. Messages name where, never what.
fn password_from_manifest(password_from: &PasswordFrom) -> Result<Password> {
    if let Some(variable) = &password_from.env {
        let Some(value) = std::env::var_os(variable).filter(|value| !value.is_empty()) else {
            bail!("the password is read from the environment variable {variable}, which is not set: set it (a CI secret) or change `passwordFrom`");
        };
        return Ok(Password::new(value.to_string_lossy().into_owned()));
    }
    if let Some(file) = &password_from.file {
        let text = std::fs::read_to_string(file).with_context(|| {
            format!("cannot read the password from {file}: mount the secret there or change `passwordFrom`")
        })?;
        let password = text.strip_suffix('\n').unwrap_or(&text);
        let password = password.strip_suffix('\r').unwrap_or(password);
        if password.is_empty() {
            bail!("the password file {file} is empty");
        }
        return Ok(Password::new(password.to_owned()));
    }
    bail!("`passwordFrom` names neither `env` nor `file`")
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

/// The journal of runs over several `Target` documents (and over one vSphere server).
pub fn per_host_journal_path() -> PathBuf {
    Path::new(".esxnet").join("journal.jsonl")
}

/// Where a command's hosts are: one target for all of them, or the server of each host's `Target`
/// document.
#[derive(Debug, Clone)]
pub enum Routing {
    /// `--target`, or the default lab.
    Single(Target),
    /// The manifests' `Target` documents, in the order they are declared.
    PerHost(Vec<RoutedTarget>),
}

/// A `Target` document and the hosts it selects.
#[derive(Debug, Clone)]
pub struct RoutedTarget {
    /// The document.
    pub declared: Arc<DesiredTarget>,
    /// Its server, parsed.
    pub target: Target,
    /// The declared hosts it selects, sorted.
    pub hosts: Vec<String>,
}

impl RoutedTarget {
    /// The target's name.
    pub fn name(&self) -> &str {
        &self.declared.name
    }

    /// Its server without user or password (what a plan may show).
    pub fn server(&self) -> String {
        crate::saved_plan::recorded_target(&self.target)
    }
}

/// A server that could not be opened or read: its hosts are not planned or applied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UnreachableTarget {
    /// The target's name.
    pub name: String,
    /// Its server without user or password.
    pub server: String,
    /// Why, with its causes.
    pub error: String,
    /// Its hosts.
    pub hosts: Vec<String>,
}

impl Routing {
    /// `--target` when given; else the manifests' `Target` documents when they declare any; else
    /// the default lab. A `Target` whose server cannot be parsed is an error naming its file and
    /// line, as is a host on two servers (ESX016, reported by the analysis).
    pub fn of(loaded: &Loaded, command_line: Option<&str>) -> Result<Routing> {
        if let Some(text) = command_line {
            return Ok(Routing::Single(Target::parse(text)?));
        }
        let declares_targets = loaded
            .documents
            .iter()
            .any(|document| matches!(document.document, AnyDocument::Target(_)));
        if !declares_targets {
            return Ok(Routing::Single(Target::parse(DEFAULT_TARGET)?));
        }
        // Lowering alone assigns hosts to targets; the rules run later, with the hosts observed.
        let fleet = esxnet_model::lower::lower(&loaded.documents, None).fleet;
        let mut targets: Vec<RoutedTarget> = Vec::new();
        for document in &loaded.documents {
            let AnyDocument::Target(target) = &document.document else {
                continue;
            };
            // A name given twice is ESX016; the first declaration routes.
            if targets.iter().any(|known| known.name() == target.metadata.name) {
                continue;
            }
            let parsed = Target::parse(&target.spec.server).with_context(|| {
                format!(
                    "Target \"{}\" at {}: spec.server",
                    target.metadata.name,
                    document.source.locate("spec.server")
                )
            })?;
            let hosts: Vec<String> = fleet
                .hosts
                .values()
                .filter(|host| {
                    host.target
                        .as_ref()
                        .is_some_and(|routed| routed.name == target.metadata.name)
                })
                .map(|host| host.name.clone())
                .collect();
            let declared = Arc::new(DesiredTarget {
                name: target.metadata.name.clone(),
                server: target.spec.server.clone(),
                password_from: target.spec.password_from.clone(),
                source: document.source.clone(),
            });
            targets.push(RoutedTarget {
                declared,
                target: parsed,
                hosts,
            });
        }
        Ok(Routing::PerHost(targets))
    }

    /// Where apply journals: the one lab's or server's journal, or `.esxnet/` for several.
    pub fn journal_path(&self) -> PathBuf {
        match self {
            Routing::Single(target) => target.journal_path(),
            Routing::PerHost(_) => per_host_journal_path(),
        }
    }

    /// The `Target` documents of a run over several servers, as its journal recorded them
    /// ([`Routing::journaled`] inverted): how `esxnet rollback` reaches that run's hosts again.
    pub fn from_journal(targets: &[JournaledTarget], journal: &Path) -> Result<Routing> {
        let mut routed = Vec::with_capacity(targets.len());
        for journaled in targets {
            let target = Target::parse(&journaled.server).with_context(|| {
                format!(
                    "the journal {} records target \"{}\" with a server that cannot be read",
                    journal.display(),
                    journaled.name
                )
            })?;
            routed.push(RoutedTarget {
                declared: Arc::new(DesiredTarget {
                    name: journaled.name.clone(),
                    server: journaled.server.clone(),
                    password_from: journaled.password_from.clone(),
                    source: esxnet_model::source::Source::new(
                        journal.to_path_buf(),
                        0,
                        Arc::new(esxnet_model::source::SpanIndex::default()),
                    ),
                }),
                target,
                hosts: journaled.hosts.clone(),
            });
        }
        Ok(Routing::PerHost(routed))
    }

    /// What a run's journal records of its servers: each `Target` document's name, server as
    /// written, where its password is read, and the hosts of `plan_hosts` on it; nothing for one
    /// target, which `--target` names again.
    pub fn journaled(&self, plan_hosts: &BTreeSet<&str>) -> Vec<JournaledTarget> {
        let Routing::PerHost(targets) = self else {
            return Vec::new();
        };
        targets
            .iter()
            .map(|routed| JournaledTarget {
                name: routed.name().to_owned(),
                server: routed.declared.server.clone(),
                password_from: routed.declared.password_from.clone(),
                hosts: routed
                    .hosts
                    .iter()
                    .filter(|host| plan_hosts.contains(host.as_str()))
                    .cloned()
                    .collect(),
            })
            .collect()
    }

    /// Opens every target and observes `hosts` (those of a target that it does not list are left
    /// out, for the planner to report): one thread per target. With one target its failure is the
    /// error; with several, a target that fails is returned among the unreachable and the others
    /// go on.
    pub fn open_and_observe(
        &self,
        loaded: &Loaded,
        hosts: &[String],
        writable: bool,
        parallelism: usize,
    ) -> Result<Opened> {
        let targets = match self {
            Routing::Single(target) => {
                let backend = target.open_for_manifests(loaded, writable, parallelism)?;
                let observed = observe(backend.as_ref(), hosts, parallelism)?;
                return Ok(Opened {
                    backend,
                    observed,
                    unreachable: Vec::new(),
                });
            }
            Routing::PerHost(targets) => targets,
        };
        let wanted: BTreeSet<&str> = hosts.iter().map(String::as_str).collect();
        // Only a `sim:` lab that does not exist yet needs the lab the manifests call for.
        let makes_a_lab = targets
            .iter()
            .any(|routed| matches!(&routed.target, Target::Sim(dir) if !Lab::exists(dir)));
        let first_use_lab = if makes_a_lab {
            FirstUseLab::from_manifests(loaded)
        } else {
            FirstUseLab {
                hosts: Vec::new(),
                distributed_switches: Vec::new(),
            }
        };
        let results: Vec<Result<(Box<dyn Backend>, ObservedFleet)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = targets
                .iter()
                .map(|routed| {
                    let first_use_lab = first_use_lab.only(&routed.hosts);
                    let wanted = &wanted;
                    scope.spawn(move || -> Result<(Box<dyn Backend>, ObservedFleet)> {
                        let backend = routed.target.open_with(
                            || first_use_lab,
                            writable,
                            parallelism,
                            routed.declared.password_from.as_ref(),
                        )?;
                        let hosts: Vec<String> = routed
                            .hosts
                            .iter()
                            .filter(|host| wanted.contains(host.as_str()))
                            .cloned()
                            .collect();
                        let observed = observe(backend.as_ref(), &hosts, parallelism)?;
                        Ok((backend, observed))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("opening the target panicked")))
                })
                .collect()
        });
        let mut observed = ObservedFleet::default();
        let mut backends: Vec<Option<Box<dyn Backend>>> = Vec::new();
        let mut unreachable = Vec::new();
        let mut host_backend: BTreeMap<String, usize> = BTreeMap::new();
        for (index, (routed, result)) in targets.iter().zip(results).enumerate() {
            for host in &routed.hosts {
                host_backend.insert(host.clone(), index);
            }
            match result {
                Ok((backend, fleet)) => {
                    observed.hosts.extend(fleet.hosts);
                    backends.push(Some(backend));
                }
                Err(error) => {
                    unreachable.push(UnreachableTarget {
                        name: routed.name().to_owned(),
                        server: routed.server(),
                        error: format!("{error:#}"),
                        hosts: routed.hosts.clone(),
                    });
                    backends.push(None);
                }
            }
        }
        let names = targets
            .iter()
            .map(|routed| format!("{} ({})", routed.name(), routed.server()))
            .collect();
        Ok(Opened {
            backend: Box::new(RoutedBackend {
                names,
                backends,
                host_backend,
            }),
            observed,
            unreachable,
        })
    }
}

/// The backends of a command, what they observed, and the targets that failed.
pub struct Opened {
    /// One backend, or a [`RoutedBackend`] over several.
    pub backend: Box<dyn Backend>,
    /// The hosts observed, of every target that answered.
    pub observed: ObservedFleet,
    /// The targets that could not be opened or read.
    pub unreachable: Vec<UnreachableTarget>,
}

/// A backend over several servers: each host's calls go to the server of its `Target`.
pub struct RoutedBackend {
    /// Each target's name and server, for messages.
    names: Vec<String>,
    /// Each target's backend, `None` for one that could not be opened.
    backends: Vec<Option<Box<dyn Backend>>>,
    /// Each host's target, by index.
    host_backend: BTreeMap<String, usize>,
}

impl RoutedBackend {
    fn backend_of(&self, host: &str) -> Result<&dyn Backend, BackendError> {
        let Some(&index) = self.host_backend.get(host) else {
            return Err(BackendError::new(
                Fault::UnknownHost,
                format!("host {host} is selected by no Target"),
            ));
        };
        self.backends[index].as_deref().ok_or_else(|| {
            BackendError::new(
                Fault::Connection,
                format!("target {} could not be reached", self.names[index]),
            )
        })
    }
}

impl Backend for RoutedBackend {
    fn describe(&self) -> String {
        format!("{} targets: {}", self.names.len(), self.names.join(", "))
    }

    fn host_names(&self) -> Result<Vec<String>, BackendError> {
        let mut names = Vec::new();
        for backend in self.backends.iter().flatten() {
            names.extend(backend.host_names()?);
        }
        names.sort();
        Ok(names)
    }

    fn observe(&self, host: &str) -> Result<ObservedHost, BackendError> {
        self.backend_of(host)?.observe(host)
    }

    fn execute(&self, host: &str, operation: &Operation) -> Result<OperationOutcome, BackendError> {
        self.backend_of(host)?.execute(host, operation)
    }

    fn execute_with_state(
        &self,
        current: &ObservedHost,
        operation: &Operation,
    ) -> Result<OperationOutcome, BackendError> {
        self.backend_of(&current.name)?.execute_with_state(current, operation)
    }

    fn is_writable(&self) -> bool {
        self.backends.iter().flatten().all(|backend| backend.is_writable())
    }

    fn network_hints(&self, host: &str) -> Result<Option<Vec<esxnet_model::hints::NicHint>>, BackendError> {
        self.backend_of(host)?.network_hints(host)
    }

    fn connection_state(&self, host: &str) -> Result<Option<String>, BackendError> {
        self.backend_of(host)?.connection_state(host)
    }

    fn observe_with_connection_state(
        &self,
        host: &str,
    ) -> Result<esxnet_executor::backend::ObservedWithState, BackendError> {
        self.backend_of(host)?.observe_with_connection_state(host)
    }
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

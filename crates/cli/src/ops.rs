//! What each command does, as library functions: the one pipeline the binary, the tests and the
//! benchmarks share.
//!
//! ```text
//! plan        load ─▶ open the target ─▶ observe ─▶ plan_observed (analyze + plan) ─▶ Planned
//! drift       plan, read-only, no pruning, the lockout guard off ─▶ DriftReport::of
//! apply       plan (writable) or read_saved_plan + check_saved_plan ─▶ apply ─▶ ApplyReport
//! validate    load ─▶ (observe) ─▶ analyze ─▶ Validation
//! observe     open the target ─▶ observe ─▶ ObservedFleet
//! ```
//!
//! Nothing here prints besides what [`crate::target`] says when it makes a `sim:` lab on first use
//! and the phase timings of `ESXNET_TIMINGS`; the caller renders the values these functions return.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use esxnet_executor::{ApplyOptions, ApplyReport, Backend, Journal, Observer};
use esxnet_model::analysis;
use esxnet_model::load::Loaded;
use esxnet_model::observed::ObservedFleet;
use esxnet_model::Diagnostic;
use esxnet_planner::plan::{FieldChange, Unmanaged};
use esxnet_planner::{Address, DriftKind, Plan, PlanOptions};
use serde::Serialize;

use crate::target::{Target, DEFAULT_PARALLELISM};
use crate::timings::Timings;

/// What [`plan`] plans: the manifests, where the hosts are, and how.
#[derive(Debug, Clone)]
pub struct PlanRequest<'a> {
    /// Manifest files and directories.
    pub paths: &'a [PathBuf],
    /// The `--target` text (`sim:DIR`, `snapshot:FILE`, `vsphere://…`).
    pub target: &'a str,
    /// Planning options (`--prune`, `--allow-management-changes`).
    pub options: PlanOptions,
    /// How many hosts are observed at once.
    pub parallelism: usize,
    /// Whether the plan is to be applied: the backend is opened for writing (a `sim:` lab's writer
    /// lock) and a read-only target is refused.
    pub writable: bool,
    /// Leave the manifests and the desired state for the process's exit to reclaim (see
    /// [`forget_at_exit`]): only for a command that ends soon after, never in a long-lived caller.
    pub reclaim_at_exit: bool,
}

impl<'a> PlanRequest<'a> {
    /// A read-only plan of `paths` against `target` with the default options.
    pub fn new(paths: &'a [PathBuf], target: &'a str) -> Self {
        PlanRequest {
            paths,
            target,
            options: PlanOptions::default(),
            parallelism: DEFAULT_PARALLELISM,
            writable: false,
            reclaim_at_exit: false,
        }
    }
}

/// A plan, the backend it was made through, and the observed state it was made from.
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// The backend the hosts were observed through (holding a `sim:` lab's writer lock when the
    /// request was writable, until it is dropped).
    pub backend: Box<dyn Backend>,
    /// The hosts as observed.
    pub observed: ObservedFleet,
}

/// How [`plan`] and [`drift`] ended, short of an error.
pub enum Planning {
    /// The manifests were read and the hosts planned.
    Planned(Planned),
    /// The manifests could not be read (not YAML, or not the schema): nothing was observed or
    /// planned. The diagnostics say why.
    UnreadableManifests(Vec<Diagnostic>),
}

impl Planning {
    /// The plan, or an error listing the diagnostics, for callers to whom unreadable manifests
    /// are a mistake (tests, benchmarks).
    pub fn planned(self) -> Result<Planned> {
        match self {
            Planning::Planned(planned) => Ok(planned),
            Planning::UnreadableManifests(diagnostics) => {
                let messages: Vec<String> = diagnostics.iter().map(|diagnostic| diagnostic.render(false)).collect();
                bail!("the manifests could not be read:\n{}", messages.join("\n"))
            }
        }
    }
}

/// `esxnet plan`: loads the manifests, opens the target (making a `sim:` lab on first use),
/// observes the declared hosts, analyzes and plans.
pub fn plan(request: &PlanRequest<'_>) -> Result<Planning> {
    let timings = Timings::from_env();
    let loaded = analysis::load(request.paths);
    timings.lap("load");
    if esxnet_model::diagnostic::has_errors(&loaded.diagnostics) {
        return Ok(Planning::UnreadableManifests(loaded.diagnostics));
    }
    let hosts = analysis::declared_hosts(&loaded);
    let backend = Target::parse(request.target)?.open_for_manifests(&loaded, request.writable, request.parallelism)?;
    timings.lap("open the target");
    let observed = crate::target::observe(backend.as_ref(), &hosts, request.parallelism)?;
    timings.lap("observe");
    let analysis = analysis::analyze(&loaded, Some(&observed));
    timings.lap("analyze");
    let plan = esxnet_planner::plan(&analysis.fleet, &observed, analysis.diagnostics, &request.options);
    timings.lap("plan");
    if request.reclaim_at_exit {
        forget_at_exit(analysis.fleet);
        forget_at_exit(loaded);
    }
    if request.writable {
        ensure_writable(backend.as_ref())?;
    }
    Ok(Planning::Planned(Planned {
        plan,
        backend,
        observed,
    }))
}

/// The pure end of [`plan`]: manifests already loaded and hosts already observed (by a caller
/// that holds its own backend) to a plan.
pub fn plan_observed(manifests: &Loaded, observed: &ObservedFleet, options: &PlanOptions) -> Plan {
    let analysis = analysis::analyze(manifests, Some(observed));
    esxnet_planner::plan(&analysis.fleet, observed, analysis.diagnostics, options)
}

/// Leaves a large value of plain data for the process's exit to reclaim instead of freeing it
/// piece by piece: a 10,000-host fleet is millions of small allocations, and freeing them took a
/// tenth of `esxnet plan`'s time. Only for values whose drop does nothing else (no files, no
/// connections), in commands that end soon after.
pub fn forget_at_exit<T>(value: T) {
    std::mem::forget(value);
}

/// What [`drift`] compares: the manifests and where the hosts are.
#[derive(Debug, Clone, Copy)]
pub struct DriftRequest<'a> {
    /// Manifest files and directories.
    pub paths: &'a [PathBuf],
    /// The `--target` text.
    pub target: &'a str,
    /// How many hosts are observed at once.
    pub parallelism: usize,
    /// See [`PlanRequest::reclaim_at_exit`].
    pub reclaim_at_exit: bool,
}

/// `esxnet drift`: a read-only plan that reports differences instead of proposing changes
/// ([`DriftReport::of`] turns it into the report). Nothing is pruned, and the lockout guard is
/// off: it protects applies, it must not hide drift.
pub fn drift(request: &DriftRequest<'_>) -> Result<Planning> {
    plan(&PlanRequest {
        paths: request.paths,
        target: request.target,
        options: PlanOptions {
            prune: false,
            allow_management_changes: true,
        },
        parallelism: request.parallelism,
        writable: false,
        reclaim_at_exit: request.reclaim_at_exit,
    })
}

/// One difference between a host and the manifests.
#[derive(Debug, Serialize)]
pub struct Drift<'a> {
    /// The object's address.
    pub address: &'a Address,
    /// The host.
    pub host: &'a str,
    /// The object's kind, as the plan names it.
    pub kind: String,
    /// The object's name.
    pub name: &'a str,
    /// `missing` (declared, not on the host), `different` (fields differ) or `replace`.
    pub drift: DriftKind,
    /// The fields that differ.
    pub fields: &'a [FieldChange],
}

/// The drift report: `drift --output json`, and what decides `drift`'s exit code.
#[derive(Debug, Serialize)]
pub struct DriftReport<'a> {
    /// [`esxnet_planner::plan::FORMAT_VERSION`].
    pub format_version: u32,
    /// No drift and no unmanaged objects.
    pub in_sync: bool,
    /// Every difference, in plan order.
    pub drift: Vec<Drift<'a>>,
    /// Objects on the hosts that no manifest declares (protected ones left out).
    pub unmanaged: Vec<&'a Unmanaged>,
    /// The plan's diagnostics.
    pub diagnostics: &'a [Diagnostic],
}

impl<'a> DriftReport<'a> {
    /// The report of a plan [`drift`] made.
    pub fn of(plan: &'a Plan) -> DriftReport<'a> {
        let drift: Vec<Drift<'a>> = plan
            .changes
            .iter()
            .filter_map(|change| {
                DriftKind::of(change.action).map(|drift| Drift {
                    address: &change.address,
                    host: &change.host,
                    kind: change.kind.to_string(),
                    name: &change.name,
                    drift,
                    fields: &change.fields,
                })
            })
            .collect();
        let unmanaged: Vec<&Unmanaged> = plan
            .hosts
            .iter()
            .flat_map(|host| host.unmanaged.iter())
            .filter(|object| !object.protected)
            .collect();
        DriftReport {
            format_version: esxnet_planner::plan::FORMAT_VERSION,
            // With manifest errors some hosts were not compared: no verdict either way.
            in_sync: drift.is_empty() && unmanaged.is_empty() && !plan.has_errors(),
            drift,
            unmanaged,
            diagnostics: &plan.diagnostics,
        }
    }
}

/// The saved plan among a command's paths: the only path, when it is a `.json` file (what
/// `esxnet plan --out` writes). `esxnet apply PLAN.json` applies it instead of planning.
pub fn saved_plan_path(paths: &[PathBuf]) -> Option<&Path> {
    let [path] = paths else { return None };
    (path.extension().and_then(|extension| extension.to_str()) == Some("json") && path.is_file())
        .then_some(path.as_path())
}

/// Reads a plan saved by `esxnet plan --out`, refusing one in another plan format.
pub fn read_saved_plan(path: &Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let plan: Plan = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a plan saved by `esxnet plan --out`", path.display()))?;
    if plan.format_version != esxnet_planner::plan::FORMAT_VERSION {
        bail!(
            "{} has plan format {}, this esxnet reads format {}: make the plan again",
            path.display(),
            plan.format_version,
            esxnet_planner::plan::FORMAT_VERSION
        );
    }
    Ok(plan)
}

/// The checks before a saved plan is applied: opens `target` for writing, observes the plan's
/// hosts, refuses the plan when a host moved on since it was made (its fingerprint) and refuses
/// a read-only target.
pub fn check_saved_plan(plan: Plan, target: &str, parallelism: usize) -> Result<Planned> {
    let hosts: Vec<String> = plan.hosts.iter().map(|host| host.host.clone()).collect();
    let backend = Target::parse(target)?.open(&hosts, true, parallelism)?;
    let observed = crate::target::observe(backend.as_ref(), &hosts, parallelism)?;
    esxnet_executor::ensure_plan_is_fresh(&plan, &observed)?;
    ensure_writable(backend.as_ref())?;
    Ok(Planned {
        plan,
        backend,
        observed,
    })
}

/// [`read_saved_plan`] and [`check_saved_plan`]: a saved plan ready to apply.
pub fn load_saved_plan(path: &Path, target: &str, parallelism: usize) -> Result<Planned> {
    check_saved_plan(read_saved_plan(path)?, target, parallelism)
}

/// Refuses a backend that cannot apply (a `snapshot:` file).
fn ensure_writable(backend: &dyn Backend) -> Result<()> {
    if !backend.is_writable() {
        bail!(
            "{} is read-only: apply against a sim: lab or a vSphere server",
            backend.describe()
        );
    }
    Ok(())
}

/// How [`apply`] runs a plan.
pub struct ApplyRequest {
    /// Hosts applied at once.
    pub parallelism: usize,
    /// Where to journal the run (its directory is made), if anywhere. [`Target::journal_path`]
    /// is where `esxnet apply` journals.
    pub journal: Option<PathBuf>,
    /// Start each host from the state the plan was made from while its fingerprint still
    /// matches, instead of observing it again (what `apply --auto-approve` does: no time passed
    /// for a person to read the plan).
    pub reuse_observation: bool,
    /// Who hears progress events, if anyone.
    pub observer: Option<Box<dyn Observer>>,
}

impl Default for ApplyRequest {
    fn default() -> Self {
        ApplyRequest {
            parallelism: esxnet_executor::DEFAULT_PARALLELISM,
            journal: None,
            reuse_observation: false,
            observer: None,
        }
    }
}

/// `esxnet apply`, after the plan was made (or read and checked) and approved: applies it
/// through the backend it was made through.
pub fn apply(planned: Planned, request: ApplyRequest) -> Result<ApplyReport> {
    let Planned {
        plan,
        backend,
        observed,
    } = planned;
    let mut options = ApplyOptions {
        parallelism: request.parallelism,
        observed: request.reuse_observation.then(|| Arc::new(observed)),
        ..ApplyOptions::default()
    };
    if let Some(journal_path) = &request.journal {
        if let Some(parent) = journal_path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        options = options.with_journal(Journal::open(journal_path)?);
    }
    if let Some(observer) = request.observer {
        options.observer = Arc::from(observer);
    }
    Ok(esxnet_executor::apply(&plan, backend.as_ref(), &options)?)
}

/// What [`validate`] found.
#[derive(Debug)]
pub struct Validation {
    /// Every problem, sorted by place.
    pub diagnostics: Vec<Diagnostic>,
    /// Manifest files read.
    pub files: usize,
    /// Documents in them.
    pub documents: usize,
    /// Hosts the manifests declare desired state for.
    pub hosts: usize,
}

impl Validation {
    /// How many diagnostics are errors.
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.is_error())
            .count()
    }
}

/// `esxnet validate`: loads and checks the manifests; with a target, against the hosts' observed
/// state too (the rules that need it, such as IPv6 on a host with IPv6 disabled).
pub fn validate(paths: &[PathBuf], target: Option<&str>) -> Result<Validation> {
    validate_with(paths, target, false)
}

/// [`validate`], leaving the manifests and the desired state for the process's exit to reclaim
/// when `reclaim_at_exit` (see [`PlanRequest::reclaim_at_exit`]): freeing a 10,000-host fleet was
/// a sixth of `esxnet validate`'s time.
pub fn validate_with(paths: &[PathBuf], target: Option<&str>, reclaim_at_exit: bool) -> Result<Validation> {
    let loaded = analysis::load(paths);
    let observed = match target {
        Some(target) if !esxnet_model::diagnostic::has_errors(&loaded.diagnostics) => {
            let hosts = analysis::declared_hosts(&loaded);
            let backend = Target::parse(target)?.open_for_manifests(&loaded, false, DEFAULT_PARALLELISM)?;
            Some(crate::target::observe(backend.as_ref(), &hosts, DEFAULT_PARALLELISM)?)
        }
        _ => None,
    };
    let analysis = analysis::analyze(&loaded, observed.as_ref());
    let validation = Validation {
        diagnostics: analysis.diagnostics,
        files: loaded.files.len(),
        documents: loaded.documents.len(),
        hosts: analysis.fleet.hosts.len(),
    };
    if reclaim_at_exit {
        forget_at_exit(analysis.fleet);
        forget_at_exit(loaded);
        forget_at_exit(observed);
    }
    Ok(validation)
}

/// `esxnet observe`: the hosts of `target` as they are now; `hosts` empty means every host the
/// target has.
pub fn observe(target: &str, hosts: &[String], parallelism: usize) -> Result<ObservedFleet> {
    let backend = Target::parse(target)?.open(&[], false, parallelism)?;
    let hosts = if hosts.is_empty() {
        backend
            .host_names()
            .map_err(|error| anyhow::anyhow!("cannot list the hosts of {}: {}", backend.describe(), error.message))?
    } else {
        hosts.to_vec()
    };
    let fleet = crate::target::observe(backend.as_ref(), &hosts, parallelism)?;
    // Selecting nothing is a mistake to say, not an empty answer to print.
    let missing: Vec<&str> = hosts
        .iter()
        .filter(|host| !fleet.hosts.contains_key(host.as_str()))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let known = backend.host_names().unwrap_or_default();
        let listed = if known.len() > 10 {
            format!("{}, … ({} hosts)", known[..10].join(", "), known.len())
        } else {
            known.join(", ")
        };
        anyhow::bail!(
            "{} has no host {}: name hosts it has ({listed}), or leave --hosts out for all of them",
            backend.describe(),
            missing.join(", ")
        );
    }
    Ok(fleet)
}

//! What each command does, as library functions: the one pipeline the binary, the tests and the
//! benchmarks share.
//!
//! ```text
//! plan        load ─▶ open the target ─▶ observe ─▶ plan_observed (analyze + plan) ─▶ Planned
//! drift       plan, read-only, no pruning, the lockout guard off ─▶ DriftReport::of
//! apply       plan (writable) or read_saved_plan + check_saved_plan (plans again) ─▶ apply ─▶ ApplyReport
//! validate    load ─▶ (observe) ─▶ analyze ─▶ Validation
//! observe     open the target ─▶ observe ─▶ ObservedFleet
//! ```
//!
//! Nothing here prints besides what [`crate::target`] says when it makes a `sim:` lab on first use
//! and the phase timings of `ESXNET_TIMINGS`; the caller renders the values these functions return.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use esxnet_executor::{ApplyOptions, ApplyReport, Backend, Journal, Observer, Safety};
use esxnet_model::analysis;
use esxnet_model::load::Loaded;
use esxnet_model::observed::ObservedFleet;
use esxnet_model::Diagnostic;
use esxnet_planner::plan::{FieldChange, Unmanaged};
use esxnet_planner::{Address, DriftKind, Plan, PlanOptions};
use serde::Serialize;

use crate::saved_plan::{self, MadeFrom, PlanKey};
use crate::shard::Shard;
use crate::target::{Routing, Target, UnreachableTarget, DEFAULT_PARALLELISM};
use crate::timings::Timings;

/// What [`plan`] plans: the manifests, where the hosts are, and how.
#[derive(Debug, Clone)]
pub struct PlanRequest<'a> {
    /// Manifest files and directories.
    pub paths: &'a [PathBuf],
    /// The `--target` text (`sim:DIR`, `snapshot:FILE`, `vsphere://…`); `None` for the servers of
    /// the manifests' `Target` documents, or the default lab when they declare none.
    pub target: Option<&'a str>,
    /// Only this part of the hosts is planned (all are observed and checked).
    pub shard: Option<Shard>,
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
            target: Some(target),
            shard: None,
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
    /// What the plan was made from, for `plan --out` to save with it ([`save_plan`]).
    pub made_from: Box<MadeFrom>,
    /// Where the hosts are: one target, or the manifests' `Target` documents.
    pub routing: Box<Routing>,
    /// Targets that could not be opened or read: their hosts are in no plan and failed.
    pub unreachable: Vec<UnreachableTarget>,
    /// The network hints the pre-flight check read, by host: apply's verification uses them.
    pub hints: Arc<BTreeMap<String, Vec<esxnet_model::hints::NicHint>>>,
}

/// How [`plan`] and [`drift`] ended, short of an error.
pub enum Planning {
    /// The manifests were read and the hosts planned (boxed: the other variant is small).
    Planned(Box<Planned>),
    /// The manifests could not be read (not YAML, or not the schema): nothing was observed or
    /// planned. The diagnostics say why.
    UnreadableManifests(Vec<Diagnostic>),
}

impl Planning {
    /// The plan, or an error listing the diagnostics, for callers to whom unreadable manifests
    /// are a mistake (tests, benchmarks).
    pub fn planned(self) -> Result<Planned> {
        match self {
            Planning::Planned(planned) => Ok(*planned),
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
    let files = esxnet_model::load::read_paths(request.paths);
    let loaded = esxnet_model::load::load_texts(&files);
    timings.lap("load");
    if esxnet_model::diagnostic::has_errors(&loaded.diagnostics) {
        return Ok(Planning::UnreadableManifests(loaded.diagnostics));
    }
    let hosts = analysis::declared_hosts(&loaded);
    let routing = Routing::of(&loaded, request.target)?;
    // Every declared host is observed, also in a shard: fleet-wide rules and pools must see the
    // whole fleet for a shard's plan to be its part of the unsharded plan.
    let opened = routing.open_and_observe(&loaded, &hosts, request.writable, request.parallelism)?;
    // After opening: a lab made on first use has a canonical path now.
    let recorded = match &routing {
        Routing::Single(target) => saved_plan::recorded_target(target),
        Routing::PerHost(targets) => targets
            .iter()
            .map(|routed| format!("{}={}", routed.name(), routed.server()))
            .collect::<Vec<_>>()
            .join(","),
    };
    let made_from = Box::new(MadeFrom::new(recorded, files.texts));
    timings.lap("open the target and observe");
    let observed = opened.observed;
    let mut analysis = analysis::analyze(&loaded, Some(&observed));
    timings.lap("analyze");
    // Hosts of unreachable targets and of other shards are checked with the fleet, not planned.
    let unreachable_hosts: std::collections::BTreeSet<&str> = opened
        .unreachable
        .iter()
        .flat_map(|target| target.hosts.iter().map(String::as_str))
        .collect();
    if !unreachable_hosts.is_empty() {
        let uncertain = addresses_uncertain_without(&analysis.fleet, &observed, &unreachable_hosts);
        analysis.diagnostics.extend(uncertain);
        esxnet_model::diagnostic::sort(&mut analysis.diagnostics);
    }
    if request.shard.is_some() || !unreachable_hosts.is_empty() {
        analysis.fleet.hosts.retain(|host, _| {
            !unreachable_hosts.contains(host.as_str()) && request.shard.is_none_or(|shard| shard.contains(host))
        });
    }
    let mut plan = esxnet_planner::plan(&analysis.fleet, &observed, analysis.diagnostics, &request.options);
    timings.lap("plan");
    let hints = add_preflight(
        &mut plan,
        &analysis.fleet,
        &observed,
        opened.backend.as_ref(),
        request.parallelism,
    );
    timings.lap("pre-flight");
    if request.reclaim_at_exit {
        forget_at_exit(analysis.fleet);
        forget_at_exit(loaded);
    }
    if request.writable {
        ensure_writable(opened.backend.as_ref())?;
    }
    Ok(Planning::Planned(Box::new(Planned {
        plan,
        backend: opened.backend,
        observed,
        made_from,
        routing: Box::new(routing),
        unreachable: opened.unreachable,
        hints: Arc::new(hints),
    })))
}

/// ESX013 for each adapter that would take a new address from a pool that also serves hosts of an
/// unreachable target: what those hosts hold is unknown, so the new address could be one of
/// theirs. An address the adapter's host already holds is kept and safe; everything else waits
/// until the target answers.
fn addresses_uncertain_without(
    fleet: &esxnet_model::desired::DesiredFleet,
    observed: &ObservedFleet,
    unreachable_hosts: &std::collections::BTreeSet<&str>,
) -> Vec<Diagnostic> {
    use esxnet_model::desired::DesiredIpv4;
    let pool_of = |ipv4: &DesiredIpv4| match ipv4 {
        DesiredIpv4::Static { pool, .. } => *pool,
        DesiredIpv4::Dhcp { .. } => None,
    };
    let shared: std::collections::HashSet<esxnet_model::pool::Ipv4Pool> = fleet
        .hosts
        .values()
        .filter(|host| unreachable_hosts.contains(host.name.as_str()))
        .flat_map(|host| host.adapters.values())
        .filter_map(|adapter| pool_of(&adapter.ipv4))
        .collect();
    let mut diagnostics = Vec::new();
    if shared.is_empty() {
        return diagnostics;
    }
    for host in fleet.hosts.values() {
        if unreachable_hosts.contains(host.name.as_str()) {
            continue;
        }
        for adapter in host.adapters.values() {
            let DesiredIpv4::Static {
                address: Some(address),
                pool: Some(pool),
                ..
            } = &adapter.ipv4
            else {
                continue;
            };
            let held = observed.hosts.get(&host.name).is_some_and(|observed_host| {
                observed_host
                    .adapters
                    .iter()
                    .any(|held| held.ipv4.address == Some(*address))
            });
            if held || !shared.contains(pool) {
                continue;
            }
            diagnostics.push(
                Diagnostic::error(
                    esxnet_model::diagnostic::RuleId::Esx013,
                    format!(
                        "adapter \"{}\" would take {address} from pool {pool}, which also serves hosts of a target that could not be reached: the addresses they hold are unknown, so this one may be taken; plan again when every target answers",
                        adapter.name
                    ),
                )
                .at(adapter.source.locate("spec.ipv4.pool"), "spec.ipv4.pool")
                .on_host(&host.name),
            );
        }
    }
    diagnostics
}

/// The pure end of [`plan`]: manifests already loaded and hosts already observed (by a caller
/// that holds its own backend) to a plan.
pub fn plan_observed(manifests: &Loaded, observed: &ObservedFleet, options: &PlanOptions) -> Plan {
    let analysis = analysis::analyze(manifests, Some(observed));
    esxnet_planner::plan(&analysis.fleet, observed, analysis.diagnostics, options)
}

/// The plan's pre-flight check (ESX025): the hosts whose adapters change are asked what their
/// uplinks see (`QueryNetworkHint`), and every changed adapter that does not fit gets a warning.
/// A target without hints (a lab without a fabric, a snapshot) adds nothing. Answers the hints
/// read, for apply's verification to judge by ([`ApplyOptions::hints`]).
pub fn add_preflight(
    plan: &mut Plan,
    desired: &esxnet_model::desired::DesiredFleet,
    observed: &ObservedFleet,
    backend: &dyn Backend,
    parallelism: usize,
) -> BTreeMap<String, Vec<esxnet_model::hints::NicHint>> {
    let hosts = esxnet_planner::reach::hosts_needing_hints(plan);
    if hosts.is_empty() {
        return BTreeMap::new();
    }
    let hints = esxnet_executor::network_hints_of(backend, &hosts, parallelism);
    if hints.is_empty() {
        return hints;
    }
    let found = esxnet_planner::reach::preflight(plan, desired, observed, &hints);
    if !found.is_empty() {
        plan.diagnostics.extend(found);
        esxnet_model::diagnostic::sort(&mut plan.diagnostics);
    }
    hints
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
    /// The `--target` text, as [`PlanRequest::target`].
    pub target: Option<&'a str>,
    /// Only this part of the hosts is compared (all are observed and checked).
    pub shard: Option<Shard>,
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
        shard: request.shard,
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

/// Saves a plan with what it was made from (`esxnet plan --out`), signed when there is a key
/// (see [`crate::saved_plan`]).
pub fn save_plan(plan: &Plan, made_from: &MadeFrom, key: Option<&PlanKey>, path: &Path) -> Result<()> {
    saved_plan::write(plan, made_from, key, path)
}

/// Reads a plan saved by `esxnet plan --out`: refuses one in another plan format, one that
/// records no manifests, one whose recorded manifests do not match their digests and, with a
/// key, one that is unsigned or whose signature does not match.
pub fn read_saved_plan(path: &Path, key: Option<&PlanKey>) -> Result<(Plan, MadeFrom)> {
    saved_plan::read(path, key)
}

/// How a saved plan is applied.
#[derive(Debug, Clone)]
pub struct SavedPlanRequest<'a> {
    /// The saved plan.
    pub path: &'a Path,
    /// The `--target` text: where the plan was made, or the plan is refused.
    pub target: &'a str,
    /// How many hosts are observed at once.
    pub parallelism: usize,
    /// The planning flags given with the saved plan: any that the plan was not made with is an
    /// error, never ignored.
    pub flags: PlanOptions,
    /// The key the plan must be signed with (`ESXNET_PLAN_KEY`), if any.
    pub key: Option<PlanKey>,
}

impl<'a> SavedPlanRequest<'a> {
    /// Applying `path` through `target`, without flags or key.
    pub fn new(path: &'a Path, target: &'a str) -> Self {
        SavedPlanRequest {
            path,
            target,
            parallelism: DEFAULT_PARALLELISM,
            flags: PlanOptions::default(),
            key: None,
        }
    }
}

/// The checks before a saved plan is applied, which make it again: refuses flags it was not
/// made with and another target; opens the target for writing; plans the recorded manifests
/// with the recorded options against the hosts as they are now; refuses the plan when an
/// object it names moved on since it was made (stale), or when planning again does not give
/// the saved plan ([`saved_plan::first_difference`]); refuses a read-only target. What is
/// returned to apply is the plan made now, never the file's.
pub fn check_saved_plan(saved: Plan, made_from: &MadeFrom, request: &SavedPlanRequest<'_>) -> Result<Planned> {
    let path = request.path;
    saved_plan::check_flags(&saved.options, &request.flags, path)?;
    let target = Target::parse(request.target)?;
    saved_plan::check_target(made_from, &target, path)?;
    let manifests = esxnet_model::load::load_texts(&made_from.manifest_files());
    let hosts = analysis::declared_hosts(&manifests);
    let backend = target.open(&[], true, request.parallelism)?;
    let observed = crate::target::observe(backend.as_ref(), &hosts, request.parallelism)?;
    let analysis = analysis::analyze(&manifests, Some(&observed));
    let mut replanned = esxnet_planner::plan(&analysis.fleet, &observed, analysis.diagnostics, &saved.options);
    let hints = add_preflight(
        &mut replanned,
        &analysis.fleet,
        &observed,
        backend.as_ref(),
        request.parallelism,
    );
    // A stale plan is refused first, with the objects that moved on: the clearest message when
    // the hosts changed, as they did when the re-derivation differs for that reason.
    if saved.hosts.iter().all(|host| observed.hosts.contains_key(&host.host)) {
        esxnet_executor::ensure_plan_is_fresh(&saved, &observed)?;
    }
    if let Some(difference) = saved_plan::first_difference(&saved, &replanned, &observed) {
        bail!(
            "{} is not the plan its manifests make now: {difference}; nothing was applied. The plan was changed after it was made, or the hosts changed: make it again with `esxnet plan --out`",
            path.display()
        );
    }
    ensure_writable(backend.as_ref())?;
    Ok(Planned {
        plan: replanned,
        backend,
        observed,
        made_from: Box::new(made_from.clone()),
        routing: Box::new(Routing::Single(target)),
        unreachable: Vec::new(),
        hints: Arc::new(hints),
    })
}

/// [`read_saved_plan`] and [`check_saved_plan`]: a saved plan, made again and ready to apply.
pub fn load_saved_plan(request: &SavedPlanRequest<'_>) -> Result<Planned> {
    let (saved, made_from) = read_saved_plan(request.path, request.key.as_ref())?;
    check_saved_plan(saved, &made_from, request)
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
    /// The run's id; one is made when `None`.
    pub run_id: Option<String>,
    /// Verification, rollback, canary, failure budget, confirmation.
    pub safety: Safety,
}

impl Default for ApplyRequest {
    fn default() -> Self {
        ApplyRequest {
            parallelism: esxnet_executor::DEFAULT_PARALLELISM,
            journal: None,
            reuse_observation: false,
            observer: None,
            run_id: None,
            safety: Safety::default(),
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
        made_from: _,
        routing,
        unreachable: _,
        hints,
    } = planned;
    let plan_hosts: std::collections::BTreeSet<&str> = plan.hosts.iter().map(|host| host.host.as_str()).collect();
    let mut options = ApplyOptions {
        parallelism: request.parallelism,
        observed: request.reuse_observation.then(|| Arc::new(observed)),
        run_id: request.run_id,
        safety: request.safety,
        hints: Some(hints),
        targets: routing.journaled(&plan_hosts),
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

/// What [`plan_rollback`] made: the plan that puts a run's hosts back, and what it was made
/// through.
pub struct RollbackPlanned {
    /// The run it undoes.
    pub run_id: String,
    /// The plan: from the hosts as they are now to their state before that run.
    pub plan: Plan,
    /// The backend, opened for writing.
    pub backend: Box<dyn Backend>,
    /// The hosts as observed now.
    pub observed: ObservedFleet,
    /// Where the hosts are: `--target`, or the servers the run's journal recorded.
    pub routing: Routing,
    /// The journal the run is in, where the rollback journals too.
    pub journal: PathBuf,
}

/// A journaled run found for `rollback` or `confirm`, and how to reach its hosts.
struct JournaledRun {
    run_id: String,
    journal: PathBuf,
    contents: esxnet_executor::JournalContents,
    routing: Routing,
}

/// Finds a run in the journals: with `--target`, in that target's; without, in the journal of
/// runs over several `Target` documents (`.esxnet/journal.jsonl`, whose runs record their
/// servers) when the run is there, else in the default lab's. Without a run id, the last run that
/// changed hosts and is no rollback itself, the later of the two journals' when both have one.
fn find_run(target: Option<&str>, run_id: Option<&str>) -> Result<JournaledRun> {
    let in_journal = |routing: Routing, journal: PathBuf| -> Result<JournaledRun> {
        let contents = esxnet_executor::read_journal(&journal)
            .context("nothing to roll back or confirm: no apply has journaled through this target yet")?;
        let run_id = match run_id {
            Some(run_id) if contents.has_run(run_id) => run_id.to_owned(),
            Some(run_id) => bail!(
                "the journal {} has no run {run_id}: give a run id an apply printed (and the --target it applied through), or none for the last run",
                journal.display()
            ),
            None => last_undoable_run(&contents, |_| true)
                .with_context(|| format!("the journal {} has no run that changed a host", journal.display()))?,
        };
        Ok(JournaledRun {
            run_id,
            journal,
            contents,
            routing,
        })
    };
    if let Some(target) = target {
        let target = Target::parse(target)?;
        let journal = target.journal_path();
        return in_journal(Routing::Single(target), journal);
    }
    let default = Target::parse(crate::target::DEFAULT_TARGET)?;
    let default_journal = default.journal_path();
    let several_journal = crate::target::per_host_journal_path();
    let several = esxnet_executor::read_journal(&several_journal).ok();
    let found = several.as_ref().and_then(|contents| {
        // The runs that recorded their servers (that journal also holds runs through one
        // vSphere `--target`, which need it given again).
        let routed: std::collections::BTreeSet<&str> = contents
            .entries
            .iter()
            .filter(|entry| {
                matches!(&entry.record, esxnet_executor::JournalRecord::RunStarted { targets, .. } if !targets.is_empty())
            })
            .map(|entry| entry.run_id.as_str())
            .collect();
        match run_id {
            Some(run_id) => routed.contains(run_id).then(|| run_id.to_owned()),
            None => last_undoable_run(contents, |run_id| routed.contains(run_id)),
        }
    });
    let Some((several, found)) = several.zip(found) else {
        return in_journal(Routing::Single(default), default_journal);
    };
    if run_id.is_none() {
        // The default lab's last run wins when it is the later one.
        let in_lab = esxnet_executor::read_journal(&default_journal)
            .ok()
            .and_then(|lab| Some((last_undoable_run(&lab, |_| true)?, lab)));
        if let Some((lab_run, lab)) = in_lab {
            if lab.started(&lab_run) > several.started(&found) {
                return Ok(JournaledRun {
                    run_id: lab_run,
                    journal: default_journal,
                    contents: lab,
                    routing: Routing::Single(default),
                });
            }
        }
    }
    let routing = Routing::from_journal(&several.targets(&found), &several_journal)?;
    Ok(JournaledRun {
        run_id: found,
        journal: several_journal,
        contents: several,
        routing,
    })
}

/// `esxnet rollback [RUN_ID]`: reads the state each host had before the run (the journal's
/// `host_before` lines; without a run id, the last run that changed hosts and is no rollback
/// itself), observes those hosts now and plans to put back what the run changed: what differs
/// between each host's before-state and the state the run left it in (`host_after` lines), and
/// nothing changed by anyone since ([`esxnet_planner::restore::plan_undo`]). Run again after an
/// interruption, it plans what is left. Without `--target`, a run over several `Target`
/// documents reaches each host through the server its journal recorded ([`find_run`]).
pub fn plan_rollback(target: Option<&str>, run_id: Option<&str>, parallelism: usize) -> Result<RollbackPlanned> {
    let JournaledRun {
        run_id,
        journal,
        contents,
        routing,
    } = find_run(target, run_id)?;
    let before = contents.before_states(&run_id);
    if before.hosts.is_empty() {
        bail!("run {run_id} changed no host: there is nothing to roll back");
    }
    let hosts: Vec<String> = before.hosts.keys().cloned().collect();
    let opened = routing.open_and_observe(&Loaded::default(), &hosts, true, parallelism)?;
    if let Some(unreachable) = opened.unreachable.first() {
        bail!(
            "target {} ({}) cannot be reached: {}; its hosts {} cannot be rolled back, and nothing was",
            unreachable.name,
            unreachable.server,
            unreachable.error,
            unreachable.hosts.join(", ")
        );
    }
    let backend = opened.backend;
    let observed = opened.observed;
    ensure_writable(backend.as_ref())?;
    if let Some(missing) = hosts.iter().find(|host| !observed.hosts.contains_key(host.as_str())) {
        bail!(
            "{} has no host {missing}, which run {run_id} changed: check the target",
            backend.describe()
        );
    }
    // Only what the run changed goes back: what differs between each host's state before and
    // after the run. A host the run did not finish goes back whole.
    let after = contents.after_states(&run_id);
    let plan = esxnet_planner::restore::plan_undo(&before, &after, &observed);
    Ok(RollbackPlanned {
        run_id,
        plan,
        backend,
        observed,
        routing,
        journal,
    })
}

/// The last run in a journal that recorded a before-state, is not itself a rollback and is
/// `wanted`.
fn last_undoable_run(contents: &esxnet_executor::JournalContents, wanted: impl Fn(&str) -> bool) -> Option<String> {
    let rollbacks: std::collections::BTreeSet<&str> = contents
        .entries
        .iter()
        .filter(|entry| matches!(entry.record, esxnet_executor::JournalRecord::Rollback { .. }))
        .map(|entry| entry.run_id.as_str())
        .collect();
    contents
        .entries
        .iter()
        .rev()
        .filter(|entry| matches!(entry.record, esxnet_executor::JournalRecord::HostBefore { .. }))
        .map(|entry| entry.run_id.as_str())
        .find(|run_id| !rollbacks.contains(run_id) && wanted(run_id))
        .map(str::to_owned)
}

/// Applies a rollback plan: journaled as a run of its own that names the run it undoes.
pub fn apply_rollback(planned: RollbackPlanned, request: ApplyRequest) -> Result<ApplyReport> {
    let run_id = request.run_id.clone().unwrap_or_else(esxnet_executor::new_run_id);
    if let Some(journal_path) = &request.journal {
        let journal = Journal::open(journal_path)?;
        journal.append(
            &run_id,
            esxnet_executor::JournalRecord::Rollback {
                of_run: planned.run_id.clone(),
                reason: "esxnet rollback".to_owned(),
            },
        )?;
    }
    let made_from = MadeFrom::new(String::new(), Vec::new());
    apply(
        Planned {
            plan: planned.plan,
            backend: planned.backend,
            observed: planned.observed,
            made_from: Box::new(made_from),
            routing: Box::new(planned.routing),
            unreachable: Vec::new(),
            hints: Arc::default(),
        },
        ApplyRequest {
            run_id: Some(run_id),
            ..request
        },
    )
}

/// How [`confirm`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// Confirmed now: the run's changes stay.
    Confirmed,
    /// It was confirmed before.
    AlreadyConfirmed,
}

/// `esxnet confirm RUN_ID`: keeps the changes of a run applied with `--confirm-within`, when its
/// deadline has not passed; the waiting apply reads the confirmation from the journal.
pub fn confirm(target: Option<&str>, run_id: &str) -> Result<Confirmation> {
    let JournaledRun {
        journal: journal_path,
        contents,
        ..
    } = find_run(target, Some(run_id)).with_context(|| format!("cannot confirm run {run_id}"))?;
    let Some((deadline, confirmed)) = contents.confirmation(run_id) else {
        bail!("run {run_id} did not ask for confirmation (apply --confirm-within): its changes stay as they are");
    };
    if confirmed {
        return Ok(Confirmation::AlreadyConfirmed);
    }
    if esxnet_executor::journal::now_unix_ms() > deadline {
        bail!(
            "run {run_id} was not confirmed in time: its hosts were rolled back (or, if the apply was stopped, run `esxnet rollback {run_id}`)"
        );
    }
    Journal::open(&journal_path)?.append(run_id, esxnet_executor::JournalRecord::Confirmed)?;
    Ok(Confirmation::Confirmed)
}

/// Whether the journal at `path` holds a confirmation of `run_id`: what a waiting apply asks.
pub fn is_confirmed(path: &Path, run_id: &str) -> bool {
    esxnet_executor::read_journal(path)
        .ok()
        .and_then(|contents| contents.confirmation(run_id))
        .is_some_and(|(_, confirmed)| confirmed)
}

//! Results of runs that span several targets or shards: what is added to their JSON, plans cut
//! along targets, and `esxnet report merge`, which joins the shards' JSON results into one.
//!
//! A sharded or multi-target run's JSON is its usual JSON with `shard` (`{"index", "count"}`) and
//! `targets` (each target's name, server, hosts, and why it could not be reached) added in front;
//! a sharded `drift` adds the `plan` it was made from, so that a merged drift renders exactly as an
//! unsharded one. Merging checks that the files are of one kind and, when they are shards, that
//! every shard of one split is there exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use esxnet_executor::{ApplyReport, Counts, HostOutcome, StepOutcome};
use esxnet_model::diagnostic::{self, Diagnostic};
use esxnet_planner::render;
use esxnet_planner::Plan;
use serde::{Deserialize, Serialize};

use crate::ops::DriftReport;
use crate::shard::Shard;

/// A target of a multi-target run, as its JSON results name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetEntry {
    /// The `Target` document's name.
    pub name: String,
    /// Its server, without user or password.
    pub server: String,
    /// The hosts it selects.
    pub hosts: Vec<String>,
    /// Why it could not be opened or read; its hosts were not planned or applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A JSON result with what a sharded or multi-target run adds in front of it.
#[derive(Debug, Serialize)]
pub struct Annotated<'a, T: Serialize> {
    /// The run's shard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// The run's targets, when the manifests declare them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<&'a [TargetEntry]>,
    /// The result itself.
    #[serde(flatten)]
    pub result: &'a T,
    /// The plan a sharded drift was made from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<&'a Plan>,
}

impl<'a, T: Serialize> Annotated<'a, T> {
    /// Whether anything is added: without, the result is printed as it always was.
    pub fn adds_anything(&self) -> bool {
        self.shard.is_some() || self.targets.is_some() || self.plan.is_some()
    }
}

/// The part of `plan` that is about `hosts`: their changes, host plans and diagnostics, and the
/// diagnostics about no host when `with_fleet_diagnostics`; the summary counts that part.
pub fn sub_plan(plan: &Plan, hosts: &BTreeSet<String>, with_fleet_diagnostics: bool) -> Plan {
    let changes: Vec<_> = plan
        .changes
        .iter()
        .filter(|change| hosts.contains(&change.host))
        .cloned()
        .collect();
    let host_plans: Vec<_> = plan
        .hosts
        .iter()
        .filter(|host| hosts.contains(&host.host))
        .cloned()
        .collect();
    let diagnostics = plan
        .diagnostics
        .iter()
        .filter(|diagnostic| match &diagnostic.host {
            Some(host) => hosts.contains(host),
            None => with_fleet_diagnostics,
        })
        .cloned()
        .collect();
    Plan {
        format_version: plan.format_version,
        options: plan.options.clone(),
        summary: esxnet_planner::summarize(&changes, &host_plans),
        changes,
        hosts: host_plans,
        diagnostics,
    }
}

/// The targets of a planned run as its results name them; `None` for a run against one target.
pub fn target_entries(planned: &crate::ops::Planned) -> Option<Vec<TargetEntry>> {
    let crate::target::Routing::PerHost(targets) = planned.routing.as_ref() else {
        return None;
    };
    Some(
        targets
            .iter()
            .map(|routed| TargetEntry {
                name: routed.name().to_owned(),
                server: routed.server(),
                hosts: routed.hosts.clone(),
                error: planned
                    .unreachable
                    .iter()
                    .find(|unreachable| unreachable.name == routed.name())
                    .map(|unreachable| unreachable.error.clone()),
            })
            .collect(),
    )
}

/// A plan rendered per target: a heading for each, then `render` of its part of the plan (the
/// diagnostics about no host go with the first), or why it could not be reached.
pub fn grouped_by_target(
    plan: &Plan,
    targets: &[TargetEntry],
    markdown: bool,
    render: impl Fn(&Plan) -> String,
) -> String {
    let mut out = String::new();
    for (position, target) in targets.iter().enumerate() {
        let (name, server) = if markdown {
            (
                render::escape_markdown(&target.name),
                render::escape_markdown(&target.server),
            )
        } else {
            (
                render::escape_control(&target.name).into_owned(),
                render::escape_control(&target.server).into_owned(),
            )
        };
        let hosts = target.hosts.len();
        let heading = format!(
            "Target {name} ({server}), {hosts} host{}",
            if hosts == 1 { "" } else { "s" }
        );
        if markdown {
            let _ = writeln!(out, "## {heading}\n");
        } else {
            let _ = writeln!(out, "== {heading}");
        }
        match &target.error {
            Some(error) => {
                let error = if markdown {
                    render::escape_markdown(error)
                } else {
                    render::escape_control(error).into_owned()
                };
                let _ = writeln!(out, "could not be reached, its hosts were not planned: {error}\n");
            }
            None => {
                let hosts: BTreeSet<String> = target.hosts.iter().cloned().collect();
                out.push_str(&render(&sub_plan(plan, &hosts, position == 0)));
                out.push('\n');
            }
        }
    }
    out
}

/// What kind of result a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// `plan --output json`.
    Plan,
    /// `drift --output json` with `--shard` (which carries its plan).
    Drift,
    /// `apply --output json`.
    Apply,
}

impl ResultKind {
    fn name(self) -> &'static str {
        match self {
            ResultKind::Plan => "plan",
            ResultKind::Drift => "drift",
            ResultKind::Apply => "apply",
        }
    }
}

/// One shard's or one run's result, read.
#[derive(Debug)]
struct ResultFile {
    path: PathBuf,
    shard: Option<Shard>,
    targets: Vec<TargetEntry>,
    content: Content,
}

#[derive(Debug)]
enum Content {
    /// A plan, or the plan of a drift report.
    Plan(Plan),
    Apply(ApplyReport),
}

/// The merged result of several files.
#[derive(Debug)]
pub struct Merged {
    /// What the files held.
    pub kind: ResultKind,
    /// The merged plan (plan and drift).
    pub plan: Option<Plan>,
    /// The merged apply report.
    pub apply: Option<ApplyReport>,
    /// The targets, joined by name.
    pub targets: Vec<TargetEntry>,
    /// How many files were merged.
    pub files: usize,
}

impl Merged {
    /// 0 nothing to do, 2 changes or drift, 1 errors, a failed apply or an unreachable target.
    pub fn exit_code(&self) -> u8 {
        let unreachable = self.targets.iter().any(|target| target.error.is_some());
        match (self.kind, &self.plan, &self.apply) {
            (_, Some(plan), _) if plan.has_errors() || unreachable => 1,
            (ResultKind::Plan, Some(plan), _) if plan.summary.has_changes() => 2,
            (ResultKind::Drift, Some(plan), _) if !DriftReport::of(plan).in_sync => 2,
            (ResultKind::Apply, _, Some(report)) if !report.succeeded() || unreachable => 1,
            _ => 0,
        }
    }

    /// The merged result as the JSON the inputs were in (without `shard`).
    pub fn json(&self) -> Result<String> {
        let targets = (!self.targets.is_empty()).then_some(self.targets.as_slice());
        let text = match (self.kind, &self.plan, &self.apply) {
            (ResultKind::Plan, Some(plan), _) => serde_json::to_string_pretty(&Annotated {
                shard: None,
                targets,
                result: plan,
                plan: None,
            })?,
            (ResultKind::Drift, Some(plan), _) => serde_json::to_string_pretty(&Annotated {
                shard: None,
                targets,
                result: &DriftReport::of(plan),
                plan: None,
            })?,
            (ResultKind::Apply, _, Some(report)) => serde_json::to_string_pretty(&Annotated {
                shard: None,
                targets,
                result: report,
                plan: None,
            })?,
            _ => bail!("nothing was merged"),
        };
        Ok(text + "\n")
    }

    /// One Markdown comment: the plan or drift as an unsharded run renders it, or the apply's
    /// outcome per host, after a line on the targets that could not be reached.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for target in &self.targets {
            if let Some(error) = &target.error {
                let _ = writeln!(
                    out,
                    "> **Target {} ({}) could not be reached**: {}; its {} host{} were not planned or applied.\n",
                    render::escape_markdown(&target.name),
                    render::escape_markdown(&target.server),
                    render::escape_markdown(error),
                    target.hosts.len(),
                    if target.hosts.len() == 1 { "" } else { "s" }
                );
            }
        }
        match (self.kind, &self.plan, &self.apply) {
            (ResultKind::Plan, Some(plan), _) => out.push_str(&render::markdown(plan)),
            (ResultKind::Drift, Some(plan), _) => out.push_str(&render::drift_markdown(plan)),
            (ResultKind::Apply, _, Some(report)) => out.push_str(&apply_markdown(report)),
            _ => {}
        }
        out
    }

    /// A one-line summary, for the log.
    pub fn summary(&self) -> String {
        let unreachable = self.targets.iter().filter(|target| target.error.is_some()).count();
        let unreachable = if unreachable > 0 {
            format!("; {unreachable} target(s) could not be reached")
        } else {
            String::new()
        };
        match (&self.plan, &self.apply) {
            (Some(plan), _) => {
                let summary = &plan.summary;
                format!(
                    "merged {} {} results: {} hosts planned, {} refused; {} to create, {} to update, {} to replace, {} to delete{unreachable}",
                    self.files,
                    self.kind.name(),
                    summary.hosts_planned,
                    summary.hosts_refused,
                    summary.create,
                    summary.update,
                    summary.replace,
                    summary.delete
                )
            }
            (None, Some(report)) => {
                format!(
                    "merged {} apply results: {}{unreachable}",
                    self.files,
                    report.counts.line()
                )
            }
            (None, None) => String::new(),
        }
    }
}

/// `esxnet report merge`: reads every file and joins them.
pub fn merge_files(paths: &[PathBuf]) -> Result<Merged> {
    let files = paths.iter().map(|path| read_result(path)).collect::<Result<Vec<_>>>()?;
    merge(files)
}

fn read_result(path: &Path) -> Result<(ResultKind, ResultFile)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut value: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON: give the files that `--output json` wrote",
            path.display()
        )
    })?;
    let Some(object) = value.as_object_mut() else {
        bail!(
            "{} is not a result of esxnet: its JSON is not an object",
            path.display()
        );
    };
    let shard: Option<Shard> = match object.remove("shard") {
        None => None,
        Some(shard) => Some(
            serde_json::from_value(shard)
                .with_context(|| format!("{}: `shard` is not {{index, count}}", path.display()))?,
        ),
    };
    if let Some(shard) = shard {
        Shard::new(shard.index, shard.count).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
    }
    let targets: Vec<TargetEntry> = match object.remove("targets") {
        None => Vec::new(),
        Some(targets) => serde_json::from_value(targets)
            .with_context(|| format!("{}: `targets` is not a list of targets", path.display()))?,
    };
    let read_plan = |value: serde_json::Value| -> Result<Plan> {
        let plan: Plan =
            serde_json::from_value(value).with_context(|| format!("{} is not a plan esxnet wrote", path.display()))?;
        if plan.format_version != esxnet_planner::plan::FORMAT_VERSION {
            bail!(
                "{} is a plan of format {}, this esxnet reads format {}: make it with this release",
                path.display(),
                plan.format_version,
                esxnet_planner::plan::FORMAT_VERSION
            );
        }
        Ok(plan)
    };
    let content = if object.contains_key("in_sync") {
        let Some(plan) = object.remove("plan") else {
            bail!(
                "{} is a drift report without its plan: merge the reports of `esxnet drift --shard I/N --output json`",
                path.display()
            );
        };
        (ResultKind::Drift, Content::Plan(read_plan(plan)?))
    } else if object.contains_key("changes") && object.contains_key("summary") {
        (ResultKind::Plan, Content::Plan(read_plan(value)?))
    } else if object.contains_key("run_id") && object.contains_key("counts") {
        let report: ApplyReport = serde_json::from_value(value)
            .with_context(|| format!("{} is not an apply report esxnet wrote", path.display()))?;
        (ResultKind::Apply, Content::Apply(report))
    } else {
        bail!(
            "{} is not a result of `esxnet plan`, `drift` or `apply` with `--output json`",
            path.display()
        );
    };
    let (kind, content) = content;
    Ok((
        kind,
        ResultFile {
            path: path.to_owned(),
            shard,
            targets,
            content,
        },
    ))
}

fn merge(files: Vec<(ResultKind, ResultFile)>) -> Result<Merged> {
    let Some((kind, first)) = files.first() else {
        bail!("give the JSON files of the shards to merge");
    };
    let kind = *kind;
    for (other_kind, file) in &files {
        if *other_kind != kind {
            bail!(
                "{} is a {} result and {} a {} result: merge the results of one command",
                first.path.display(),
                kind.name(),
                file.path.display(),
                other_kind.name()
            );
        }
    }
    check_shards(&files)?;
    for (_, file) in &files {
        let Some(shard) = file.shard else { continue };
        let hosts: Vec<&str> = match &file.content {
            Content::Plan(plan) => plan.hosts.iter().map(|host| host.host.as_str()).collect(),
            Content::Apply(report) => report.hosts.iter().map(|host| host.host.as_str()).collect(),
        };
        if let Some(stranger) = hosts.iter().find(|host| !shard.contains(host)) {
            bail!(
                "{} says it is shard {shard} but holds host {stranger}, which is in shard {}: the file was edited or mislabelled",
                file.path.display(),
                Shard::of_host(stranger, shard.count)
            );
        }
    }
    let targets = merge_targets(&files);
    let count = files.len();
    let mut merged = Merged {
        kind,
        plan: None,
        apply: None,
        targets,
        files: count,
    };
    match kind {
        ResultKind::Plan | ResultKind::Drift => {
            let plans: Vec<Plan> = files
                .into_iter()
                .filter_map(|(_, file)| match file.content {
                    Content::Plan(plan) => Some(plan),
                    Content::Apply(_) => None,
                })
                .collect();
            merged.plan = Some(merge_plans(plans)?);
        }
        ResultKind::Apply => {
            let reports: Vec<ApplyReport> = files
                .into_iter()
                .filter_map(|(_, file)| match file.content {
                    Content::Apply(report) => Some(report),
                    Content::Plan(_) => None,
                })
                .collect();
            merged.apply = Some(merge_apply_reports(reports)?);
        }
    }
    Ok(merged)
}

/// Shards of one split: every shard of 1..=N exactly once. Files without a shard are whole runs
/// (of different targets, say) and merge as they are, but not with shards.
fn check_shards(files: &[(ResultKind, ResultFile)]) -> Result<()> {
    let sharded: Vec<&ResultFile> = files
        .iter()
        .map(|(_, file)| file)
        .filter(|file| file.shard.is_some())
        .collect();
    if sharded.is_empty() {
        return Ok(());
    }
    if sharded.len() != files.len() {
        let whole = files
            .iter()
            .find(|(_, file)| file.shard.is_none())
            .map(|(_, file)| &file.path);
        bail!(
            "{} is not a shard but the other files are: merge the shards of one run",
            whole.map(|path| path.display().to_string()).unwrap_or_default()
        );
    }
    let count = sharded[0].shard.map(|shard| shard.count).unwrap_or(1);
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    for file in &sharded {
        let Some(shard) = file.shard else { continue };
        if shard.count != count {
            bail!(
                "{} is shard {shard} and {} is of {count} shards: merge the shards of one split",
                file.path.display(),
                sharded[0].path.display()
            );
        }
        if let Some(other) = seen.insert(shard.index, &file.path) {
            bail!(
                "{} and {} are both shard {shard}: give each shard's result once",
                other.display(),
                file.path.display()
            );
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|index| !seen.contains_key(index))
        .map(|index| format!("{index}/{count}"))
        .collect();
    if !missing.is_empty() {
        let (shards, are) = if missing.len() == 1 {
            ("shard", "is")
        } else {
            ("shards", "are")
        };
        bail!(
            "{shards} {} {are} missing: a job failed before writing its result, or a file was not given; nothing is known of those hosts",
            missing.join(", ")
        );
    }
    Ok(())
}

fn merge_targets(files: &[(ResultKind, ResultFile)]) -> Vec<TargetEntry> {
    let mut merged: Vec<TargetEntry> = Vec::new();
    for (_, file) in files {
        for target in &file.targets {
            match merged.iter_mut().find(|known| known.name == target.name) {
                Some(known) => {
                    let hosts: BTreeSet<String> = known.hosts.iter().chain(&target.hosts).cloned().collect();
                    known.hosts = hosts.into_iter().collect();
                    if known.error.is_none() {
                        known.error.clone_from(&target.error);
                    }
                }
                None => merged.push(target.clone()),
            }
        }
    }
    merged
}

/// Plans of disjoint hosts joined as one plan of them all: hosts and changes in host order (each
/// host's changes in its own order), every diagnostic once, sorted as the analysis sorts them, the
/// summary counted again.
pub fn merge_plans(plans: Vec<Plan>) -> Result<Plan> {
    let Some(first) = plans.first() else {
        bail!("no plans to merge");
    };
    let options = first.options.clone();
    let format_version = first.format_version;
    if plans.iter().any(|plan| plan.options != options) {
        bail!("the plans were made with different options (--prune, --allow-management-changes): merge the shards of one run");
    }
    let mut hosts = Vec::new();
    let mut changes = Vec::new();
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let mut seen_hosts = BTreeSet::new();
    for plan in plans {
        for host in &plan.hosts {
            if !seen_hosts.insert(host.host.clone()) {
                bail!(
                    "host {} is in two of the results: merge the shards of one split",
                    host.host
                );
            }
        }
        hosts.extend(plan.hosts);
        changes.extend(plan.changes);
        for diagnostic in plan.diagnostics {
            if !diagnostics.contains(&diagnostic) {
                diagnostics.push(diagnostic);
            }
        }
    }
    hosts.sort_by(|left: &esxnet_planner::HostPlan, right| left.host.cmp(&right.host));
    // Stable: each host's changes keep their execution order.
    changes.sort_by(|left: &esxnet_planner::Change, right| left.host.cmp(&right.host));
    diagnostic::sort(&mut diagnostics);
    Ok(Plan {
        format_version,
        options,
        summary: esxnet_planner::summarize(&changes, &hosts),
        changes,
        hosts,
        diagnostics,
    })
}

/// Apply reports of disjoint hosts joined: hosts in host order, counts added up.
pub fn merge_apply_reports(reports: Vec<ApplyReport>) -> Result<ApplyReport> {
    let mut seen_hosts = BTreeSet::new();
    for host in reports.iter().flat_map(|report| &report.hosts) {
        if !seen_hosts.insert(host.host.as_str()) {
            bail!(
                "host {} is in two of the results: merge the shards of one split",
                host.host
            );
        }
    }
    let run_ids: Vec<String> = reports.iter().map(|report| report.run_id.clone()).collect();
    let targets: BTreeSet<String> = reports.iter().map(|report| report.target.clone()).collect();
    let format_version = reports.first().map_or(0, |report| report.format_version);
    let journal_problem = reports.iter().find_map(|report| report.journal_problem.clone());
    let mut counts = Counts::default();
    let mut hosts = Vec::new();
    for report in reports {
        // Destructured, so that a count added to the report cannot be left out of the sum.
        let Counts {
            applied,
            already_in_target,
            failed,
            blocked,
            stale,
            not_run,
            hosts_ok,
            hosts_failed,
            hosts_stale,
            hosts_refused,
            hosts_rolled_back,
            hosts_not_started,
        } = report.counts;
        counts.applied += applied;
        counts.already_in_target += already_in_target;
        counts.failed += failed;
        counts.blocked += blocked;
        counts.stale += stale;
        counts.not_run += not_run;
        counts.hosts_ok += hosts_ok;
        counts.hosts_failed += hosts_failed;
        counts.hosts_stale += hosts_stale;
        counts.hosts_refused += hosts_refused;
        counts.hosts_rolled_back += hosts_rolled_back;
        counts.hosts_not_started += hosts_not_started;
        hosts.extend(report.hosts);
    }
    hosts.sort_by(|left, right| left.host.cmp(&right.host));
    Ok(ApplyReport {
        format_version,
        run_id: run_ids.join(","),
        target: targets.into_iter().collect::<Vec<_>>().join(", "),
        hosts,
        counts,
        journal_problem,
    })
}

/// An apply's outcome as Markdown: the counts, then every host that did not converge with its
/// failed steps.
pub fn apply_markdown(report: &ApplyReport) -> String {
    let counts = &report.counts;
    let mut out = String::from("### esxnet apply\n\n");
    out.push_str("| hosts ok | failed | stale | steps applied | already done | failed | blocked |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} |\n",
        counts.hosts_ok,
        counts.hosts_failed,
        counts.hosts_stale,
        counts.applied,
        counts.already_in_target,
        counts.failed,
        counts.blocked
    );
    if report.succeeded() {
        out.push_str("**Every host converged.**\n");
        return out;
    }
    out.push_str("**Apply incomplete.** Fix the cause and run apply again: steps already done are skipped.\n\n");
    for host in report.hosts.iter().filter(|host| host.outcome != HostOutcome::Ok) {
        let _ = writeln!(
            out,
            "- {}: {}{}",
            render::escape_markdown(&host.host),
            host.outcome.label(),
            host.message
                .as_deref()
                .map(|message| format!(": {}", render::escape_markdown(message)))
                .unwrap_or_default()
        );
        for step in &host.steps {
            if let StepOutcome::Failed { message, .. } = &step.outcome {
                let _ = writeln!(
                    out,
                    "  - {}: failed: {}",
                    render::escape_markdown(&step.address.to_string()),
                    render::escape_markdown(message)
                );
            }
        }
    }
    out
}

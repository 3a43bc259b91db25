//! `esxnet plan` and `esxnet graph`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use esxnet_model::analysis;
use esxnet_model::observed::ObservedFleet;
use esxnet_planner::render::{self, TextStyle};
use esxnet_planner::{Plan, PlanOptions};

use crate::cli::{GraphArgs, PlanArgs, PlanFormat, PlanningArgs};
use crate::output::Output;
use crate::target::Target;
use crate::Outcome;

/// What planning needs.
pub struct PlanInputs<'a> {
    /// Manifest paths.
    pub paths: &'a [PathBuf],
    /// The target text.
    pub target: &'a str,
    /// Planning options.
    pub options: PlanOptions,
    /// Observation parallelism.
    pub parallelism: usize,
    /// Whether the backend is opened for writing (apply).
    pub writable: bool,
}

/// Loads, observes, analyzes and plans. `Ok(None)` when the manifests could not be read (the
/// diagnostics are already printed).
pub fn make_plan(
    inputs: &PlanInputs<'_>,
    output: &Output,
) -> Result<Option<(Plan, Box<dyn esxnet_executor::Backend>)>> {
    Ok(make_plan_observed(inputs, output)?.map(|planned| {
        forget_at_exit(planned.observed);
        (planned.plan, planned.backend)
    }))
}

/// [`make_plan`], also returning the observed state the plan was made from.
pub fn make_plan_observed(inputs: &PlanInputs<'_>, output: &Output) -> Result<Option<Planned>> {
    let timings = crate::timings::Timings::from_env();
    let loaded = analysis::load(inputs.paths);
    timings.lap("load");
    if esxnet_model::diagnostic::has_errors(&loaded.diagnostics) {
        output.diagnostics(&loaded.diagnostics);
        output.status("the manifests could not be read: nothing was planned or applied");
        return Ok(None);
    }
    let hosts = analysis::declared_hosts(&loaded);
    let backend = Target::parse(inputs.target)?.open_for_manifests(&loaded, inputs.writable, inputs.parallelism)?;
    timings.lap("open the target");
    let observed = crate::target::observe(backend.as_ref(), &hosts, inputs.parallelism)?;
    timings.lap("observe");
    let result = analysis::analyze(&loaded, Some(&observed));
    timings.lap("analyze");
    let plan = esxnet_planner::plan(&result.fleet, &observed, result.diagnostics, &inputs.options);
    timings.lap("plan");
    forget_at_exit(result.fleet);
    forget_at_exit(loaded);
    Ok(Some(Planned {
        plan,
        backend,
        observed,
    }))
}

/// A plan, the backend it was made through, and the observed state it was made from.
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// The backend the hosts were observed through.
    pub backend: Box<dyn esxnet_executor::Backend>,
    /// The hosts as observed.
    pub observed: ObservedFleet,
}

/// Leaves a large value of plain data for the process's exit to reclaim instead of freeing it
/// piece by piece: a 10,000-host fleet is millions of small allocations, and freeing them took a
/// tenth of `esxnet plan`'s time. Only for values whose drop does nothing else (no files, no
/// connections), in commands that end soon after.
pub fn forget_at_exit<T>(value: T) {
    std::mem::forget(value);
}

impl<'a> PlanInputs<'a> {
    /// The inputs of a command that plans with the shared planning flags (plan, graph, apply).
    pub fn from_flags(paths: &'a [PathBuf], target: &'a str, planning: &PlanningArgs, writable: bool) -> Self {
        PlanInputs {
            paths,
            target,
            options: PlanOptions {
                prune: planning.prune,
                allow_management_changes: planning.allow_management_changes,
            },
            parallelism: planning.parallelism as usize,
            writable,
        }
    }
}

pub fn run(arguments: &PlanArgs, output: &Output) -> Result<Outcome> {
    let inputs = PlanInputs::from_flags(&arguments.paths, &arguments.target.target, &arguments.planning, false);
    let Some((plan, _backend)) = make_plan(&inputs, output)? else {
        return Ok(Outcome::Failed);
    };
    if arguments.output != PlanFormat::Markdown {
        output.diagnostics(&plan.diagnostics);
    }
    let timings = crate::timings::Timings::from_env();
    match arguments.output {
        PlanFormat::Text => output.result(&render::text(
            &plan,
            TextStyle {
                color: output.stdout_color,
            },
        )),
        PlanFormat::Json => output
            .result_with(|stdout| render::write_json(&plan, stdout))
            .context("cannot write the plan to standard output")?,
        PlanFormat::Markdown => output.result(&render::markdown(&plan)),
    }
    timings.lap("render and write");
    if let Some(path) = &arguments.out {
        std::fs::File::create(path)
            .and_then(|file| render::write_json(&plan, file))
            .with_context(|| format!("cannot write the plan to {}", path.display()))?;
        output.status(&format!(
            "saved the plan to {}; apply it with `esxnet apply {}`",
            path.display(),
            path.display()
        ));
    }
    let outcome = if plan.has_errors() {
        Outcome::Failed
    } else if arguments.detailed_exitcode && plan.summary.has_changes() {
        Outcome::ChangesPending
    } else {
        Outcome::Success
    };
    forget_at_exit(plan);
    Ok(outcome)
}

pub fn graph(arguments: &GraphArgs, output: &Output) -> Result<Outcome> {
    let inputs = PlanInputs::from_flags(&arguments.paths, &arguments.target.target, &arguments.planning, false);
    let Some((plan, _backend)) = make_plan(&inputs, output)? else {
        return Ok(Outcome::Failed);
    };
    output.diagnostics(&plan.diagnostics);
    output.result(&render::dot(&plan));
    Ok(if plan.has_errors() {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

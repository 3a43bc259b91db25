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
    Ok(make_plan_observed(inputs, output)?.map(|(plan, backend, _)| (plan, backend)))
}

/// [`make_plan`], also returning the observed state the plan was made from.
pub fn make_plan_observed(
    inputs: &PlanInputs<'_>,
    output: &Output,
) -> Result<Option<(Plan, Box<dyn esxnet_executor::Backend>, ObservedFleet)>> {
    let loaded = analysis::load(inputs.paths);
    if esxnet_model::diagnostic::has_errors(&loaded.diagnostics) {
        output.diagnostics(&loaded.diagnostics);
        output.status("the manifests could not be read: nothing was planned or applied");
        return Ok(None);
    }
    let hosts = analysis::declared_hosts(&loaded);
    let backend = Target::parse(inputs.target)?.open_for_manifests(&loaded, inputs.writable, inputs.parallelism)?;
    let observed = crate::target::observe(backend.as_ref(), &hosts, inputs.parallelism)?;
    let result = analysis::analyze(&loaded, Some(&observed));
    let plan = esxnet_planner::plan(&result.fleet, &observed, result.diagnostics, &inputs.options);
    Ok(Some((plan, backend, observed)))
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
    let rendered = match arguments.output {
        PlanFormat::Text => render::text(
            &plan,
            TextStyle {
                color: output.stdout_color,
            },
        ),
        PlanFormat::Json => render::json(&plan),
        PlanFormat::Markdown => render::markdown(&plan),
    };
    output.result(&rendered);
    if let Some(path) = &arguments.out {
        std::fs::write(path, render::json(&plan))
            .with_context(|| format!("cannot write the plan to {}", path.display()))?;
        output.status(&format!(
            "saved the plan to {}; apply it with `esxnet apply {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(if plan.has_errors() {
        Outcome::Failed
    } else if arguments.detailed_exitcode && plan.summary.has_changes() {
        Outcome::ChangesPending
    } else {
        Outcome::Success
    })
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

//! `esxnet plan` and `esxnet graph`.

use anyhow::{Context, Result};
use esxnet::ops::{self, PlanRequest};
use esxnet::output::Output;
use esxnet::saved_plan::{MadeFrom, PlanKey};
use esxnet_planner::render::{self, TextStyle};
use esxnet_planner::{Plan, PlanOptions};

use crate::cli::{GraphArgs, PlanArgs, PlanFormat, PlanningArgs};
use crate::commands::planned_or_report;
use crate::Outcome;

/// The plan request of a command with the shared planning flags (plan, graph, apply), for a
/// process that ends soon after.
pub fn request_from_flags<'a>(
    paths: &'a [std::path::PathBuf],
    target: &'a str,
    planning: &PlanningArgs,
    writable: bool,
) -> PlanRequest<'a> {
    PlanRequest {
        paths,
        target,
        options: PlanOptions {
            prune: planning.prune,
            allow_management_changes: planning.allow_management_changes,
        },
        parallelism: planning.parallelism as usize,
        writable,
        reclaim_at_exit: true,
    }
}

/// Plans for a command that only reads the plan: the observed state is left for the exit to
/// reclaim, the backend is closed. `None` when the manifests could not be read (reported).
fn plan_only(request: &PlanRequest<'_>, output: &Output) -> Result<Option<(Plan, Box<MadeFrom>)>> {
    let Some(planned) = planned_or_report(ops::plan(request)?, output) else {
        return Ok(None);
    };
    ops::forget_at_exit(planned.observed);
    Ok(Some((planned.plan, planned.made_from)))
}

pub fn run(arguments: &PlanArgs, output: &Output) -> Result<Outcome> {
    // The key is read first: a mistake in it must not cost a whole plan.
    let key = match &arguments.out {
        Some(_) => PlanKey::from_env()?,
        None => None,
    };
    let request = request_from_flags(&arguments.paths, &arguments.target.target, &arguments.planning, false);
    let Some((plan, made_from)) = plan_only(&request, output)? else {
        return Ok(Outcome::Failed);
    };
    if arguments.output != PlanFormat::Markdown {
        output.diagnostics(&plan.diagnostics);
    }
    let timings = esxnet::timings::Timings::from_env();
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
        ops::save_plan(&plan, &made_from, key.as_ref(), path)?;
        output.status(&format!(
            "saved the plan{} to {}; apply it with `esxnet apply {}`",
            if key.is_some() { ", signed," } else { "" },
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
    ops::forget_at_exit(plan);
    ops::forget_at_exit(made_from);
    Ok(outcome)
}

pub fn graph(arguments: &GraphArgs, output: &Output) -> Result<Outcome> {
    let request = request_from_flags(&arguments.paths, &arguments.target.target, &arguments.planning, false);
    let Some((plan, _)) = plan_only(&request, output)? else {
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

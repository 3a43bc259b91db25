//! `esxnet plan` and `esxnet graph`.

use anyhow::{Context, Result};
use esxnet::ops::{self, PlanRequest};
use esxnet::output::Output;
use esxnet::report::{self, Annotated, TargetEntry};
use esxnet::saved_plan::{MadeFrom, PlanKey};
use esxnet::shard::Shard;
use esxnet_model::diagnostic::escape_control;
use esxnet_planner::render::{self, TextStyle};
use esxnet_planner::{Plan, PlanOptions};

use crate::cli::{GraphArgs, PlanArgs, PlanFormat, PlanningArgs};
use crate::commands::planned_or_report;
use crate::Outcome;

/// The plan request of a command with the shared planning flags (plan, graph, apply), for a
/// process that ends soon after.
pub fn request_from_flags<'a>(
    paths: &'a [std::path::PathBuf],
    target: Option<&'a str>,
    planning: &PlanningArgs,
    writable: bool,
    shard: Option<Shard>,
) -> PlanRequest<'a> {
    PlanRequest {
        paths,
        target,
        shard,
        options: PlanOptions {
            prune: planning.prune,
            allow_management_changes: planning.allow_management_changes,
        },
        parallelism: planning.parallelism as usize,
        writable,
        reclaim_at_exit: true,
    }
}

/// What a command that only reads the plan keeps of it.
struct ReadPlan {
    plan: Plan,
    made_from: Box<MadeFrom>,
    /// The targets, when the manifests declare them (see [`report::target_entries`]).
    targets: Option<Vec<TargetEntry>>,
}

/// Plans for a command that only reads the plan: the observed state is left for the exit to
/// reclaim, the backend is closed. `None` when the manifests could not be read (reported).
fn plan_only(request: &PlanRequest<'_>, output: &Output) -> Result<Option<ReadPlan>> {
    let Some(planned) = planned_or_report(ops::plan(request)?, output) else {
        return Ok(None);
    };
    let targets = report::target_entries(&planned);
    report_unreachable(&planned.unreachable, output);
    ops::forget_at_exit(planned.observed);
    Ok(Some(ReadPlan {
        plan: planned.plan,
        made_from: planned.made_from,
        targets,
    }))
}

/// Says which targets could not be reached: their hosts fail the command.
pub fn report_unreachable(unreachable: &[esxnet::target::UnreachableTarget], output: &Output) {
    for target in unreachable {
        let (hosts, were) = if target.hosts.len() == 1 {
            ("host", "was")
        } else {
            ("hosts", "were")
        };
        // One line: the server's answer may hold newlines.
        output.error(&escape_control(&format!(
            "target {} ({}) could not be reached, so its {hosts} ({}) {were} not planned or changed: {}",
            target.name,
            target.server,
            target.hosts.join(", "),
            target.error
        )));
    }
}

pub fn run(arguments: &PlanArgs, output: &Output) -> Result<Outcome> {
    // The key is read first: a mistake in it must not cost a whole plan.
    let key = match &arguments.out {
        Some(_) => PlanKey::from_env()?,
        None => None,
    };
    let shard = arguments.shard.shard;
    let request = request_from_flags(
        &arguments.paths,
        arguments.target.target.as_deref(),
        &arguments.planning,
        false,
        shard,
    );
    let Some(ReadPlan {
        plan,
        made_from,
        targets,
    }) = plan_only(&request, output)?
    else {
        return Ok(Outcome::Failed);
    };
    if arguments.out.is_some() && targets.is_some() {
        anyhow::bail!(
            "a saved plan is made against one server, and these manifests declare several targets: plan with --target, or apply the manifests without a saved plan"
        );
    }
    if arguments.output != PlanFormat::Markdown {
        output.diagnostics(&plan.diagnostics);
    }
    let timings = esxnet::timings::Timings::from_env();
    let text_style = TextStyle {
        color: output.stdout_color,
    };
    match (arguments.output, &targets) {
        (PlanFormat::Text, None) => {
            // A write error is remembered by the output and reported with the exit code.
            let _ = output.result_with(|out| render::write_text(&plan, text_style, out));
        }
        (PlanFormat::Text, Some(targets)) => output.result(&report::grouped_by_target(&plan, targets, false, |part| {
            render::text(part, text_style)
        })),
        (PlanFormat::Markdown, None) => output.result(&render::markdown(&plan)),
        (PlanFormat::Markdown, Some(targets)) => {
            output.result(&report::grouped_by_target(&plan, targets, true, render::markdown))
        }
        (PlanFormat::Json, _) => {
            let annotated = Annotated {
                shard,
                targets: targets.as_deref(),
                result: &plan,
                plan: None,
            };
            if annotated.adds_anything() {
                output.result(&(serde_json::to_string_pretty(&annotated)? + "\n"));
            } else {
                output
                    .result_with(|stdout| render::write_json(&plan, stdout))
                    .context("cannot write the plan to standard output")?;
            }
        }
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
    let unreachable = targets.iter().flatten().any(|target| target.error.is_some());
    let outcome = if plan.has_errors() || unreachable {
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
    let request = request_from_flags(
        &arguments.paths,
        arguments.target.target.as_deref(),
        &arguments.planning,
        false,
        None,
    );
    let Some(ReadPlan { plan, targets, .. }) = plan_only(&request, output)? else {
        return Ok(Outcome::Failed);
    };
    output.diagnostics(&plan.diagnostics);
    output.result(&render::dot(&plan));
    let unreachable = targets.iter().flatten().any(|target| target.error.is_some());
    Ok(if plan.has_errors() || unreachable {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

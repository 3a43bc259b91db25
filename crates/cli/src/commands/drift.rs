//! `esxnet drift`: a read-only plan that reports differences instead of proposing changes.

use anyhow::Result;
use esxnet::ops::{self, DriftReport, DriftRequest};
use esxnet::output::Output;
use esxnet::report::{self, Annotated};
use esxnet_planner::render;

use crate::cli::{DriftArgs, PlanFormat};
use crate::commands::plan::report_unreachable;
use crate::commands::planned_or_report;
use crate::Outcome;

pub fn run(arguments: &DriftArgs, output: &Output) -> Result<Outcome> {
    let shard = arguments.shard.shard;
    let planning = ops::drift(&DriftRequest {
        paths: &arguments.paths,
        target: arguments.target.target.as_deref(),
        shard,
        parallelism: arguments.parallelism as usize,
        reclaim_at_exit: true,
    })?;
    let Some(planned) = planned_or_report(planning, output) else {
        return Ok(Outcome::Failed);
    };
    let targets = report::target_entries(&planned);
    report_unreachable(&planned.unreachable, output);
    // The backend stays open (a lab's lock) until the report is out; the observed state is left
    // for the exit to reclaim.
    let ops::Planned {
        plan,
        backend: _backend,
        observed,
        made_from,
        routing: _,
        unreachable,
        hints: _,
    } = planned;
    ops::forget_at_exit(observed);
    ops::forget_at_exit(made_from);
    let plan = &plan;
    let report = DriftReport::of(plan);
    output.diagnostics(&plan.diagnostics);
    let rendered = match (arguments.output, &targets) {
        (PlanFormat::Json, _) => {
            // A shard's report carries its plan, so that `report merge` renders the fleet's drift
            // exactly as one unsharded run would.
            let annotated = Annotated {
                shard,
                targets: targets.as_deref(),
                result: &report,
                plan: shard.map(|_| plan),
            };
            serde_json::to_string_pretty(&annotated)? + "\n"
        }
        (PlanFormat::Markdown, None) => render::drift_markdown(plan),
        (PlanFormat::Markdown, Some(targets)) => report::grouped_by_target(plan, targets, true, render::drift_markdown),
        (PlanFormat::Text, None) => render::drift_text(plan),
        (PlanFormat::Text, Some(targets)) => report::grouped_by_target(plan, targets, false, render::drift_text),
    };
    output.result(&rendered);
    Ok(if plan.has_errors() || !unreachable.is_empty() {
        Outcome::Failed
    } else if report.in_sync {
        Outcome::Success
    } else {
        Outcome::ChangesPending
    })
}

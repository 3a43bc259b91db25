//! `esxnet drift`: a read-only plan that reports differences instead of proposing changes.

use anyhow::Result;
use esxnet::ops::{self, DriftReport, DriftRequest};
use esxnet::output::Output;
use esxnet_planner::render;

use crate::cli::{DriftArgs, PlanFormat};
use crate::commands::planned_or_report;
use crate::Outcome;

pub fn run(arguments: &DriftArgs, output: &Output) -> Result<Outcome> {
    let planning = ops::drift(&DriftRequest {
        paths: &arguments.paths,
        target: &arguments.target.target,
        parallelism: arguments.parallelism as usize,
        reclaim_at_exit: true,
    })?;
    let Some(planned) = planned_or_report(planning, output) else {
        return Ok(Outcome::Failed);
    };
    // The backend stays open (a lab's lock) until the report is out; the observed state is left
    // for the exit to reclaim.
    let ops::Planned {
        plan,
        backend: _backend,
        observed,
        made_from,
    } = planned;
    ops::forget_at_exit(observed);
    ops::forget_at_exit(made_from);
    let plan = &plan;
    let report = DriftReport::of(plan);
    output.diagnostics(&plan.diagnostics);
    let rendered = match arguments.output {
        PlanFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        PlanFormat::Markdown => render::drift_markdown(plan),
        PlanFormat::Text => render::drift_text(plan),
    };
    output.result(&rendered);
    Ok(if plan.has_errors() {
        Outcome::Failed
    } else if report.in_sync {
        Outcome::Success
    } else {
        Outcome::ChangesPending
    })
}

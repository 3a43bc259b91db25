//! `esxnet rollback [RUN_ID]` and `esxnet confirm RUN_ID`: undo an earlier run from the journal,
//! or keep one that waits for a confirmation.

use anyhow::Result;
use esxnet::ops::{self, ApplyRequest, Confirmation};
use esxnet::output::Output;
use esxnet_executor::Event;
use esxnet_model::diagnostic::escape_control;
use esxnet_planner::render::{self, TextStyle};

use crate::cli::{ApplyFormat, ConfirmArgs, RollbackArgs};
use crate::commands::apply::{confirm as ask, journal_incomplete, progress_bar, report_text};
use crate::Outcome;

pub fn run(arguments: &RollbackArgs, output: &Output) -> Result<Outcome> {
    let parallelism = arguments.parallelism as usize;
    let planned = ops::plan_rollback(
        arguments.target.target.as_deref(),
        arguments.run_id.as_deref(),
        parallelism,
    )?;
    let plan = &planned.plan;
    output.diagnostics(&plan.diagnostics);
    let plan_text = render::text(
        plan,
        TextStyle {
            color: output.stderr_color && arguments.output == ApplyFormat::Text,
        },
    );
    if plan.has_errors() {
        output.status(&plan_text);
        output.status("the rollback plan has errors (above): nothing was applied");
        return Ok(Outcome::Failed);
    }
    let undone = escape_control(&planned.run_id).into_owned();
    if !plan.summary.has_changes() {
        output.result(&format!(
            "No changes. The hosts of run {undone} are in their state before it."
        ));
        return Ok(Outcome::Success);
    }
    output.status(&format!(
        "Rolling back run {undone}: what it changed goes back to its state before it."
    ));
    match arguments.output {
        ApplyFormat::Text => output.result(&plan_text),
        ApplyFormat::Json => output.status(&plan_text),
    }
    if !arguments.auto_approve && !ask(output, plan)? {
        return Ok(Outcome::Failed);
    }
    let journal_path = planned.journal.clone();
    let progress = (output.interactive && arguments.output == ApplyFormat::Text).then(|| progress_bar(plan));
    let observer = progress.clone().map(|bar| {
        Box::new(move |event: &Event| {
            if let Event::StepFinished { address, outcome, .. } = event {
                bar.set_message(format!("{address}: {}", outcome.label()));
                bar.inc(1);
            }
        }) as Box<dyn esxnet_executor::Observer>
    });
    let report = ops::apply_rollback(
        planned,
        ApplyRequest {
            parallelism,
            journal: Some(journal_path.clone()),
            reuse_observation: arguments.auto_approve,
            observer,
            ..ApplyRequest::default()
        },
    )?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    match arguments.output {
        ApplyFormat::Text => output.result(
            &report_text(&report, &journal_path, None)
                .replacen("Apply ", "Rollback ", 1)
                .replace("run apply again", "run rollback again"),
        ),
        ApplyFormat::Json => output.result(&(serde_json::to_string_pretty(&report)? + "\n")),
    }
    if journal_incomplete(&report, output) {
        return Ok(Outcome::Failed);
    }
    Ok(if report.succeeded() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

pub fn confirm(arguments: &ConfirmArgs, output: &Output) -> Result<Outcome> {
    let run_id = escape_control(&arguments.run_id).into_owned();
    match ops::confirm(arguments.target.target.as_deref(), &arguments.run_id)? {
        Confirmation::Confirmed => output.result(&format!("Run {run_id} is confirmed: its changes stay.")),
        Confirmation::AlreadyConfirmed => output.result(&format!("Run {run_id} was already confirmed.")),
    }
    Ok(Outcome::Success)
}

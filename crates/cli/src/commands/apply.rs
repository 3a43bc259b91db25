//! `esxnet apply`: plan (or read a saved plan), ask, apply, report.

use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{bail, Result};
use esxnet::ops::{self, ApplyRequest};
use esxnet::output::Output;
use esxnet::saved_plan::PlanKey;
use esxnet::target::Target;
use esxnet_executor::{ApplyReport, Event, HostOutcome, StepOutcome};
use esxnet_model::diagnostic::escape_control;
use esxnet_planner::render::{self, TextStyle};
use esxnet_planner::{Plan, PlanOptions};

use crate::cli::{ApplyArgs, ApplyFormat};
use crate::commands::plan::request_from_flags;
use crate::commands::planned_or_report;
use crate::Outcome;

pub fn run(arguments: &ApplyArgs, output: &Output) -> Result<Outcome> {
    let target = Target::parse(&arguments.target.target)?;
    let parallelism = arguments.planning.parallelism as usize;
    let planned = match ops::saved_plan_path(&arguments.paths) {
        Some(path) => ops::load_saved_plan(&ops::SavedPlanRequest {
            path,
            target: &arguments.target.target,
            parallelism,
            flags: PlanOptions {
                prune: arguments.planning.prune,
                allow_management_changes: arguments.planning.allow_management_changes,
            },
            key: PlanKey::from_env()?,
        })?,
        None => {
            let request = request_from_flags(&arguments.paths, &arguments.target.target, &arguments.planning, true);
            let Some(planned) = planned_or_report(ops::plan(&request)?, output) else {
                return Ok(Outcome::Failed);
            };
            planned
        }
    };
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
        output.status("the plan has errors (above): nothing was applied");
        return Ok(Outcome::Failed);
    }
    if !plan.summary.has_changes() {
        match arguments.output {
            ApplyFormat::Text => output.result("No changes. The hosts match the manifests."),
            ApplyFormat::Json => {
                let report = ops::apply(planned, ApplyRequest::default())?;
                output.result(&(serde_json::to_string_pretty(&report)? + "\n"));
            }
        }
        return Ok(Outcome::Success);
    }
    // The plan goes where people read it: stdout for text, stderr when stdout is JSON.
    match arguments.output {
        ApplyFormat::Text => output.result(&plan_text),
        ApplyFormat::Json => output.status(&plan_text),
    }
    if !arguments.auto_approve && !confirm(output, plan)? {
        return Ok(Outcome::Failed);
    }
    let journal_path = target.journal_path();
    let progress = (output.interactive && arguments.output == ApplyFormat::Text).then(|| progress_bar(plan));
    let observer = progress.clone().map(|bar| {
        Box::new(move |event: &Event| {
            if let Event::StepFinished { address, outcome, .. } = event {
                bar.set_message(format!("{address}: {}", outcome.label()));
                bar.inc(1);
            }
        }) as Box<dyn esxnet_executor::Observer>
    });
    let report = ops::apply(
        planned,
        ApplyRequest {
            parallelism,
            journal: Some(journal_path.clone()),
            // Hosts start from the state the plan was just made from, unless a person took time
            // to answer the prompt: then each host is read again before its first change.
            reuse_observation: arguments.auto_approve,
            observer,
        },
    )?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    match arguments.output {
        ApplyFormat::Text => output.result(&report_text(&report, &journal_path)),
        ApplyFormat::Json => output.result(&(serde_json::to_string_pretty(&report)? + "\n")),
    }
    // The run's record is incomplete: say so and fail, even if every change was applied.
    if let Some(problem) = &report.journal_problem {
        output.error(&format!(
            "{}; the changes above were made, but the journal does not record all of them",
            escape_control(problem)
        ));
        return Ok(Outcome::Failed);
    }
    Ok(if report.succeeded() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

fn confirm(output: &Output, plan: &Plan) -> Result<bool> {
    if !output.interactive {
        bail!("refusing to apply without --auto-approve: there is no terminal to ask on (add --auto-approve in pipelines)");
    }
    let hosts = plan.hosts.iter().filter(|host| !host.steps.is_empty()).count();
    let mut stderr = std::io::stderr().lock();
    write!(
        stderr,
        "Apply these changes to {hosts} host{}? Only 'yes' is accepted: ",
        if hosts == 1 { "" } else { "s" }
    )?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() == "yes" {
        return Ok(true);
    }
    output.status("apply cancelled: nothing was applied");
    Ok(false)
}

fn progress_bar(plan: &Plan) -> indicatif::ProgressBar {
    let steps: usize = plan.hosts.iter().map(|host| host.steps.len()).sum();
    let bar = indicatif::ProgressBar::new(steps as u64);
    let style = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {wide_msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn report_text(report: &ApplyReport, journal: &Path) -> String {
    let mut out = String::new();
    for host in &report.hosts {
        if host.outcome == HostOutcome::Ok {
            continue;
        }
        let _ = writeln!(
            out,
            "{}: {}",
            escape_control(&host.host),
            host_outcome_label(host.outcome)
        );
        for step in &host.steps {
            match &step.outcome {
                StepOutcome::Applied { .. } | StepOutcome::AlreadyInTarget => {}
                outcome => {
                    let _ = writeln!(
                        out,
                        "  {} {} ({}): {}",
                        step.phase,
                        escape_control(&step.address.to_string()),
                        outcome.label(),
                        escape_control(&describe(outcome))
                    );
                }
            }
        }
    }
    let counts = &report.counts;
    let _ = writeln!(
        out,
        "Apply {}: {} steps applied, {} already done, {} failed, {} blocked; {} hosts ok, {} failed, {} stale. Journal: {}",
        if report.succeeded() { "complete" } else { "incomplete" },
        counts.applied,
        counts.already_in_target,
        counts.failed,
        counts.blocked,
        counts.hosts_ok,
        counts.hosts_failed,
        counts.hosts_stale,
        journal.display()
    );
    if !report.succeeded() {
        out.push_str("Fix the cause and run apply again: steps already done are skipped.\n");
    }
    out
}

fn host_outcome_label(outcome: HostOutcome) -> &'static str {
    match outcome {
        HostOutcome::Ok => "ok",
        HostOutcome::Failed => "failed",
        HostOutcome::Stale => "stale plan",
        HostOutcome::Refused => "not planned",
    }
}

fn describe(outcome: &StepOutcome) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|value| value.get("message").or_else(|| value.get("by")).cloned())
        .map(|value| render::show_value(Some(&value)))
        .unwrap_or_default()
}

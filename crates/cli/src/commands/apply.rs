//! `esxnet apply`: plan (or read a saved plan), ask, apply, report.

use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use esxnet_executor::{ApplyOptions, ApplyReport, Event, HostOutcome, Journal, StepOutcome};
use esxnet_planner::render::{self, TextStyle};
use esxnet_planner::Plan;

use crate::cli::{ApplyArgs, ApplyFormat};
use crate::commands::{make_plan_observed, PlanInputs};
use crate::output::Output;
use crate::target::Target;
use crate::Outcome;

/// Reads a saved plan when the only path is one.
fn saved_plan(paths: &[std::path::PathBuf]) -> Result<Option<Plan>> {
    let [path] = paths else { return Ok(None) };
    if path.extension().and_then(|extension| extension.to_str()) != Some("json") || !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let plan: Plan = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a plan saved by `esxnet plan --out`", path.display()))?;
    if plan.format_version != esxnet_planner::plan::FORMAT_VERSION {
        bail!(
            "{} has plan format {}, this esxnet reads format {}: make the plan again",
            path.display(),
            plan.format_version,
            esxnet_planner::plan::FORMAT_VERSION
        );
    }
    Ok(Some(plan))
}

pub fn run(arguments: &ApplyArgs, output: &Output) -> Result<Outcome> {
    let target = Target::parse(&arguments.target.target)?;
    let parallelism = arguments.planning.parallelism as usize;
    let (plan, backend, observed) = match saved_plan(&arguments.paths)? {
        Some(plan) => {
            let hosts: Vec<String> = plan.hosts.iter().map(|host| host.host.clone()).collect();
            let backend = target.open(&hosts, true, parallelism)?;
            let observed = crate::target::observe(backend.as_ref(), &hosts, parallelism)?;
            esxnet_executor::ensure_plan_is_fresh(&plan, &observed)?;
            (plan, backend, observed)
        }
        None => {
            let inputs = PlanInputs::from_flags(&arguments.paths, &arguments.target.target, &arguments.planning, true);
            let Some(planned) = make_plan_observed(&inputs, output)? else {
                return Ok(Outcome::Failed);
            };
            (planned.plan, planned.backend, planned.observed)
        }
    };
    if !backend.is_writable() {
        bail!(
            "{} is read-only: apply against a sim: lab or a vSphere server",
            backend.describe()
        );
    }
    output.diagnostics(&plan.diagnostics);
    let plan_text = render::text(
        &plan,
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
                let report = esxnet_executor::apply(&plan, backend.as_ref(), &ApplyOptions::default())?;
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
    if !arguments.auto_approve && !confirm(output, &plan)? {
        return Ok(Outcome::Failed);
    }
    let journal_path = target.journal_path();
    if let Some(parent) = journal_path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let journal = Journal::open(&journal_path)?;
    // Hosts start from the state the plan was just made from, unless a person took time to
    // answer the prompt: then each host is read again before its first change.
    let observed = arguments.auto_approve.then(|| std::sync::Arc::new(observed));
    let mut apply_options = ApplyOptions {
        parallelism,
        observed,
        ..ApplyOptions::default()
    }
    .with_journal(journal);
    let progress = (output.interactive && arguments.output == ApplyFormat::Text).then(|| progress_bar(&plan));
    if let Some(bar) = &progress {
        let bar = bar.clone();
        apply_options = apply_options.with_observer(move |event: &Event| {
            if let Event::StepFinished { address, outcome, .. } = event {
                bar.set_message(format!("{address}: {}", outcome.label()));
                bar.inc(1);
            }
        });
    }
    let report = esxnet_executor::apply(&plan, backend.as_ref(), &apply_options)?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    match arguments.output {
        ApplyFormat::Text => output.result(&report_text(&report, &journal_path)),
        ApplyFormat::Json => output.result(&(serde_json::to_string_pretty(&report)? + "\n")),
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
        let _ = writeln!(out, "{}: {}", host.host, host_outcome_label(host.outcome));
        for step in &host.steps {
            match &step.outcome {
                StepOutcome::Applied { .. } | StepOutcome::AlreadyInTarget => {}
                outcome => {
                    let _ = writeln!(
                        out,
                        "  {} {} ({}): {}",
                        step.phase,
                        step.address,
                        outcome.label(),
                        describe(outcome)
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

//! `esxnet apply`: plan (or read a saved plan), ask, apply, report.

use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use esxnet::ops::{self, ApplyRequest};
use esxnet::output::Output;
use esxnet::report::{self, Annotated, TargetEntry};
use esxnet::saved_plan::PlanKey;
use esxnet::target::UnreachableTarget;
use esxnet_executor::{ApplyReport, Confirmation, Event, HostOutcome, HostReport, Safety, StepOutcome};
use esxnet_model::diagnostic::escape_control;
use esxnet_planner::render::{self, TextStyle};
use esxnet_planner::{Plan, PlanOptions};

use crate::cli::{ApplyArgs, ApplyFormat};
use crate::commands::plan::{report_unreachable, request_from_flags};
use crate::commands::planned_or_report;
use crate::Outcome;

pub fn run(arguments: &ApplyArgs, output: &Output) -> Result<Outcome> {
    let parallelism = arguments.planning.parallelism as usize;
    let shard = arguments.shard.shard;
    let planned = match ops::saved_plan_path(&arguments.paths) {
        Some(_) if shard.is_some() => {
            bail!("a saved plan is applied whole: leave out --shard, or apply the manifests with --shard")
        }
        Some(path) => ops::load_saved_plan(&ops::SavedPlanRequest {
            path,
            target: arguments.target.or_default(),
            parallelism,
            flags: PlanOptions {
                prune: arguments.planning.prune,
                allow_management_changes: arguments.planning.allow_management_changes,
            },
            key: PlanKey::from_env()?,
        })?,
        None => {
            let request = request_from_flags(
                &arguments.paths,
                arguments.target.target.as_deref(),
                &arguments.planning,
                true,
                shard,
            );
            let Some(planned) = planned_or_report(ops::plan(&request)?, output) else {
                return Ok(Outcome::Failed);
            };
            planned
        }
    };
    let targets = report::target_entries(&planned);
    report_unreachable(&planned.unreachable, output);
    let unreachable = planned.unreachable.clone();
    let journal_path = planned.routing.journal_path();
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
            ApplyFormat::Text if unreachable.is_empty() => output.result("No changes. The hosts match the manifests."),
            ApplyFormat::Text => output.result("No changes on the hosts that could be reached."),
            ApplyFormat::Json => {
                let mut report = ops::apply(planned, ApplyRequest::default())?;
                fail_unreachable_hosts(&mut report, &unreachable, shard);
                print_json(output, &report, shard, targets.as_deref())?;
            }
        }
        return Ok(if unreachable.is_empty() {
            Outcome::Success
        } else {
            Outcome::Failed
        });
    }
    // The plan goes where people read it: stdout for text, stderr when stdout is JSON.
    match arguments.output {
        ApplyFormat::Text => output.result(&plan_text),
        ApplyFormat::Json => output.status(&plan_text),
    }
    if let Some(rollout) = rollout_text(arguments, plan) {
        output.status(&rollout);
    }
    if !arguments.auto_approve && !confirm(output, plan)? {
        return Ok(Outcome::Failed);
    }
    let run_id = esxnet_executor::new_run_id();
    let safety = safety(arguments, &journal_path, &run_id);
    let progress = (output.interactive && arguments.output == ApplyFormat::Text).then(|| progress_bar(plan));
    let bar = progress.clone();
    let status = *output;
    // `esxnet confirm` finds a run over several Targets, or on the default lab, by itself.
    let confirm_with = match &arguments.target.target {
        Some(target) => format!(" --target {}", escape_control(target)),
        None => String::new(),
    };
    let observer = Box::new(move |event: &Event| {
        match event {
        Event::StepFinished { address, outcome, .. } => {
            if let Some(bar) = &bar {
                bar.set_message(format!("{address}: {}", outcome.label()));
                bar.inc(1);
            }
        }
        Event::RollingBack { host, reason } => status.status(&format!(
            "rolling back {}: {}",
            escape_control(host),
            escape_control(reason)
        )),
        Event::AwaitingConfirmation { run_id, deadline } => status.status(&format!(
            "the changes stay only if confirmed: run `esxnet confirm {run_id}{confirm_with}` before {deadline}, or every changed host is rolled back"
        )),
        _ => {}
    }
    }) as Box<dyn esxnet_executor::Observer>;
    let report = ops::apply(
        planned,
        ApplyRequest {
            parallelism,
            journal: Some(journal_path.clone()),
            // Hosts start from the state the plan was just made from, unless a person took time
            // to answer the prompt: then each host is read again before its first change.
            reuse_observation: arguments.auto_approve,
            observer: Some(observer),
            run_id: Some(run_id),
            safety,
        },
    )?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let mut report = report;
    fail_unreachable_hosts(&mut report, &unreachable, shard);
    match arguments.output {
        ApplyFormat::Text => output.result(&report_text(&report, &journal_path, targets.as_deref())),
        ApplyFormat::Json => print_json(output, &report, shard, targets.as_deref())?,
    }
    if journal_incomplete(&report, output) {
        return Ok(Outcome::Failed);
    }
    Ok(if report.succeeded() && unreachable.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

/// The hosts of targets that could not be reached (those of this shard), as failed hosts of the
/// report: the run did not converge them, and a merged report must count them.
fn fail_unreachable_hosts(
    report: &mut ApplyReport,
    unreachable: &[UnreachableTarget],
    shard: Option<esxnet::shard::Shard>,
) {
    for target in unreachable {
        let in_shard = target
            .hosts
            .iter()
            .filter(|host| shard.is_none_or(|shard| shard.contains(host)));
        for host in in_shard {
            report.hosts.push(HostReport {
                host: host.clone(),
                outcome: HostOutcome::Failed,
                message: Some(format!(
                    "target {} ({}) could not be reached: {}",
                    target.name, target.server, target.error
                )),
                steps: Vec::new(),
                changes: Vec::new(),
                observations: 0,
                verification: None,
                rollback: None,
            });
            report.counts.hosts_failed += 1;
        }
    }
    report.hosts.sort_by(|left, right| left.host.cmp(&right.host));
}

/// The report as JSON, with the shard and the targets in front when there are any.
fn print_json(
    output: &Output,
    report: &ApplyReport,
    shard: Option<esxnet::shard::Shard>,
    targets: Option<&[TargetEntry]>,
) -> Result<()> {
    let annotated = Annotated {
        shard,
        targets,
        result: report,
        plan: None,
    };
    output.result(&(serde_json::to_string_pretty(&annotated)? + "\n"));
    Ok(())
}

/// What makes this apply safe: every host verified and rolled back when it fails, with the
/// canary, failure budget and confirmation the flags ask for.
fn safety(arguments: &ApplyArgs, journal_path: &Path, run_id: &str) -> Safety {
    let confirm = arguments.confirm_within.map(|within| {
        let journal_path = journal_path.to_path_buf();
        let run_id = run_id.to_owned();
        Confirmation {
            within,
            source: Arc::new(move || ops::is_confirmed(&journal_path, &run_id)),
            poll_interval: Duration::from_millis(200),
        }
    });
    Safety {
        verify: !arguments.no_verify,
        canary: arguments.canary,
        max_failures: arguments.max_failures,
        confirm,
    }
}

/// The order hosts will go in, when the flags stage them: canary first, then the rest, and what
/// stops the run.
fn rollout_text(arguments: &ApplyArgs, plan: &Plan) -> Option<String> {
    if arguments.canary == 0 && arguments.max_failures.is_none() && arguments.confirm_within.is_none() {
        return None;
    }
    let with_changes: Vec<&str> = plan
        .hosts
        .iter()
        .filter(|host| !host.steps.is_empty())
        .map(|host| host.host.as_str())
        .collect();
    let canary = arguments.canary.min(with_changes.len());
    let mut text = String::from("Rollout: ");
    if canary > 0 {
        let _ = write!(
            text,
            "canary {}; then ",
            escape_control(&with_changes[..canary].join(", "))
        );
    }
    let rest = &with_changes[canary..];
    let _ = write!(
        text,
        "{} ({} at a time)",
        if rest.is_empty() {
            "no other host".to_owned()
        } else {
            escape_control(&rest.join(", ")).into_owned()
        },
        arguments.planning.parallelism
    );
    let safety = Safety {
        canary: arguments.canary,
        max_failures: arguments.max_failures,
        ..Safety::default()
    };
    if let Some(limit) = safety.failure_limit(with_changes.len()) {
        let _ = write!(
            text,
            "; no host starts once {limit} host{} failed verification or apply",
            if limit == 1 { "" } else { "s" }
        );
    }
    if let Some(window) = arguments.confirm_within {
        let _ = write!(
            text,
            "; the changes stay only if `esxnet confirm RUN_ID` arrives within {}",
            humantime_duration(window)
        );
    }
    Some(text)
}

fn humantime_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match (seconds / 60, seconds % 60, duration.subsec_millis()) {
        (0, 0, millis) => format!("{millis}ms"),
        (0, seconds, _) => format!("{seconds}s"),
        (minutes, 0, _) => format!("{minutes}m"),
        (minutes, seconds, _) => format!("{minutes}m{seconds}s"),
    }
}

pub(crate) fn confirm(output: &Output, plan: &Plan) -> Result<bool> {
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

/// Whether the run's record is incomplete, after saying so: the run then fails, even if every
/// change was applied.
pub(crate) fn journal_incomplete(report: &ApplyReport, output: &Output) -> bool {
    let Some(problem) = &report.journal_problem else {
        return false;
    };
    output.error(&format!(
        "{}; the changes above were made, but the journal does not record all of them",
        escape_control(problem)
    ));
    true
}

pub(crate) fn progress_bar(plan: &Plan) -> indicatif::ProgressBar {
    let steps: usize = plan.hosts.iter().map(|host| host.steps.len()).sum();
    let bar = indicatif::ProgressBar::new(steps as u64);
    let style = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {wide_msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

pub(crate) fn report_text(report: &ApplyReport, journal: &Path, targets: Option<&[TargetEntry]>) -> String {
    let mut out = String::new();
    // Several servers: a line for each, so that an unreachable one is seen first.
    for target in targets.unwrap_or_default() {
        let hosts: Vec<&esxnet_executor::HostReport> = report
            .hosts
            .iter()
            .filter(|host| target.hosts.contains(&host.host))
            .collect();
        let ok = hosts.iter().filter(|host| host.outcome == HostOutcome::Ok).count();
        let _ = writeln!(
            out,
            "Target {} ({}): {ok} host{} ok, {} not{}",
            escape_control(&target.name),
            escape_control(&target.server),
            if ok == 1 { "" } else { "s" },
            target.hosts.len() - ok,
            match &target.error {
                Some(error) => format!(" (could not be reached: {})", escape_control(error)),
                None => String::new(),
            }
        );
    }
    for host in &report.hosts {
        if host.outcome == HostOutcome::Ok {
            continue;
        }
        let _ = writeln!(out, "{}: {}", escape_control(&host.host), host.outcome.label());
        if matches!(host.outcome, HostOutcome::RolledBack | HostOutcome::NotStarted) || host.rollback.is_some() {
            if let Some(message) = &host.message {
                let _ = writeln!(out, "  {}", escape_control(message));
            }
            if let Some(failure) = host
                .verification
                .as_ref()
                .and_then(|verification| verification.first_failure())
            {
                let _ = writeln!(
                    out,
                    "  check {} failed on {}",
                    escape_control(&failure.check),
                    escape_control(&failure.subject)
                );
            }
            if let Some(rollback) = &host.rollback {
                let applied = rollback
                    .steps
                    .iter()
                    .filter(|step| matches!(step.outcome, StepOutcome::Applied { .. }))
                    .count();
                let _ = writeln!(
                    out,
                    "  rollback {}: {applied} step{} applied, {}",
                    escape_control(&rollback.run_id),
                    if applied == 1 { "" } else { "s" },
                    if rollback.restored {
                        "the host is back in its state before the run"
                    } else {
                        "the host is NOT restored"
                    }
                );
            }
            continue;
        }
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
        "Apply {}: {}. Journal: {}",
        if report.succeeded() { "complete" } else { "incomplete" },
        counts.line(),
        journal.display()
    );
    if counts.hosts_rolled_back + counts.hosts_not_started > 0 {
        let _ = writeln!(
            out,
            "Run {}: {} hosts rolled back, {} not started.",
            escape_control(&report.run_id),
            counts.hosts_rolled_back,
            counts.hosts_not_started
        );
    }
    if !report.succeeded() {
        out.push_str("Fix the cause and run apply again: steps already done are skipped.\n");
    }
    out
}

fn describe(outcome: &StepOutcome) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|value| value.get("message").or_else(|| value.get("by")).cloned())
        .map(|value| render::show_value(Some(&value)))
        .unwrap_or_default()
}

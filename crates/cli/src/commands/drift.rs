//! `esxnet drift`: a read-only plan that reports differences instead of proposing changes.

use std::fmt::Write as _;

use anyhow::Result;
use esxnet_planner::render::{self, show_value};
use esxnet_planner::{Action, Plan, PlanOptions};
use serde::Serialize;

use crate::cli::{DriftArgs, PlanFormat};
use crate::commands::{make_plan, PlanInputs};
use crate::output::Output;
use crate::Outcome;

/// One difference between a host and the manifests.
#[derive(Debug, Serialize)]
struct Drift<'a> {
    address: &'a str,
    host: &'a str,
    kind: String,
    name: &'a str,
    /// `missing` (declared, not on the host), `different` (fields differ) or `replace`.
    drift: &'static str,
    fields: &'a [esxnet_planner::plan::FieldChange],
}

#[derive(Debug, Serialize)]
struct DriftReport<'a> {
    format_version: u32,
    in_sync: bool,
    drift: Vec<Drift<'a>>,
    unmanaged: Vec<&'a esxnet_planner::plan::Unmanaged>,
    diagnostics: &'a [esxnet_model::Diagnostic],
}

fn report(plan: &Plan) -> DriftReport<'_> {
    let drift: Vec<Drift<'_>> = plan
        .changes
        .iter()
        .filter(|change| change.action != Action::Noop)
        .map(|change| Drift {
            address: &change.address,
            host: &change.host,
            kind: change.kind.to_string(),
            name: &change.name,
            drift: match change.action {
                Action::Create => "missing",
                Action::Replace => "replace",
                _ => "different",
            },
            fields: &change.fields,
        })
        .collect();
    let unmanaged: Vec<_> = plan
        .hosts
        .iter()
        .flat_map(|host| host.unmanaged.iter())
        .filter(|object| !object.protected)
        .collect();
    DriftReport {
        format_version: esxnet_planner::plan::FORMAT_VERSION,
        in_sync: drift.is_empty() && unmanaged.is_empty(),
        drift,
        unmanaged,
        diagnostics: &plan.diagnostics,
    }
}

fn text(report: &DriftReport<'_>) -> String {
    let mut out = String::new();
    for drift in &report.drift {
        match drift.drift {
            "missing" => {
                let _ = writeln!(out, "missing    {}  (declared, not on the host)", drift.address);
            }
            kind => {
                let _ = writeln!(
                    out,
                    "{:<10} {}",
                    if kind == "replace" { "replace" } else { "drifted" },
                    drift.address
                );
                for field in drift.fields {
                    let _ = writeln!(
                        out,
                        "    {}: host has {}, manifests say {}",
                        field.path,
                        show_value(field.before.as_ref()),
                        show_value(field.after.as_ref())
                    );
                }
            }
        }
    }
    for object in &report.unmanaged {
        let _ = writeln!(out, "unmanaged  {}  (no manifest declares it)", object.address);
    }
    if report.in_sync {
        out.push_str("In sync: the hosts match the manifests.\n");
    } else {
        let _ = writeln!(
            out,
            "Drift: {} object{} differ{} from the manifests, {} unmanaged.",
            report.drift.len(),
            if report.drift.len() == 1 { "" } else { "s" },
            if report.drift.len() == 1 { "s" } else { "" },
            report.unmanaged.len()
        );
    }
    out
}

pub fn run(arguments: &DriftArgs, output: &Output) -> Result<Outcome> {
    // Read-only: the lockout guard protects applies, it must not hide drift.
    let inputs = PlanInputs {
        paths: &arguments.paths,
        target: &arguments.target.target,
        options: PlanOptions {
            prune: false,
            allow_management_changes: true,
        },
        parallelism: arguments.parallelism as usize,
        writable: false,
    };
    let Some((plan, _backend)) = make_plan(&inputs, output)? else {
        return Ok(Outcome::Failed);
    };
    let report = report(&plan);
    output.diagnostics(&plan.diagnostics);
    let rendered = match arguments.output {
        PlanFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        PlanFormat::Markdown => render::markdown(&plan),
        PlanFormat::Text => text(&report),
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

//! `esxnet drift`: a read-only plan that reports differences instead of proposing changes.

use anyhow::Result;
use esxnet_planner::render;
use esxnet_planner::{DriftKind, Plan, PlanOptions};
use serde::Serialize;

use crate::cli::{DriftArgs, PlanFormat};
use crate::commands::{make_plan, PlanInputs};
use crate::output::Output;
use crate::Outcome;

/// One difference between a host and the manifests.
#[derive(Debug, Serialize)]
struct Drift<'a> {
    address: &'a esxnet_planner::Address,
    host: &'a str,
    kind: String,
    name: &'a str,
    /// `missing` (declared, not on the host), `different` (fields differ) or `replace`.
    drift: DriftKind,
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
        .filter_map(|change| {
            DriftKind::of(change.action).map(|drift| Drift {
                address: &change.address,
                host: &change.host,
                kind: change.kind.to_string(),
                name: &change.name,
                drift,
                fields: &change.fields,
            })
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
        // With manifest errors some hosts were not compared: no verdict either way.
        in_sync: drift.is_empty() && unmanaged.is_empty() && !plan.has_errors(),
        drift,
        unmanaged,
        diagnostics: &plan.diagnostics,
    }
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
        PlanFormat::Markdown => render::drift_markdown(&plan),
        PlanFormat::Text => render::drift_text(&plan),
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

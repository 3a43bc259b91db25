//! `esxnet import`: manifests for what the hosts have now.

use anyhow::Result;
use esxnet::import::{self, Destination, ImportRequest};
use esxnet::output::Output;

use crate::cli::ImportArgs;
use crate::Outcome;

pub fn run(arguments: &ImportArgs, output: &Output) -> Result<Outcome> {
    let destination = match (&arguments.into, &arguments.out) {
        (Some(directory), _) => Destination::Into(directory.clone()),
        (None, Some(directory)) => Destination::Out(directory.clone()),
        (None, None) => {
            anyhow::bail!("say where the manifests go: --out DIR, or --into DIR to complete manifests there")
        }
    };
    let report = import::import(&ImportRequest {
        target: arguments.target.or_default(),
        hosts: &arguments.hosts,
        destination: destination.clone(),
        group_by: arguments.group_by.clone(),
        parallelism: arguments.parallelism as usize,
    })?;
    let manifests = &report.manifests;
    for note in &manifests.notes {
        output.status(&format!("note: {note}"));
    }
    let directory = match &destination {
        Destination::Out(directory) | Destination::Into(directory) => directory,
    };
    if manifests.files.is_empty() {
        output.status(&format!(
            "the manifests in {} already declare everything the {} host{} have: nothing to write",
            directory.display(),
            report.hosts,
            if report.hosts == 1 { "" } else { "s" }
        ));
        return Ok(Outcome::Success);
    }
    for path in &report.written {
        output.result(&format!("{}\n", path.display()));
    }
    output.status(&format!(
        "imported {} host{} in {} group{}: {} Host document{} and {} other document{} in {} file{} under {}; check them with `esxnet plan {}`",
        report.hosts,
        plural(report.hosts),
        manifests.groups,
        plural(manifests.groups),
        manifests.host_documents,
        plural(manifests.host_documents),
        manifests.object_documents,
        plural(manifests.object_documents),
        manifests.files.len(),
        plural(manifests.files.len()),
        directory.display(),
        directory.display()
    ));
    Ok(Outcome::Success)
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

//! `esxnet report merge`: the shards' JSON results as one summary, one Markdown comment and one
//! exit code.

use anyhow::Result;
use esxnet::output::Output;

use crate::cli::{MergeFormat, ReportCommand, ReportMergeArgs};
use crate::Outcome;

pub fn run(command: &ReportCommand, output: &Output) -> Result<Outcome> {
    match command {
        ReportCommand::Merge(arguments) => merge(arguments, output),
    }
}

fn merge(arguments: &ReportMergeArgs, output: &Output) -> Result<Outcome> {
    let merged = esxnet::report::merge_files(&arguments.files)?;
    match arguments.output {
        MergeFormat::Markdown => output.result(&merged.markdown()),
        MergeFormat::Json => output.result(&merged.json()?),
    }
    output.status(&merged.summary());
    Ok(match merged.exit_code() {
        0 => Outcome::Success,
        2 => Outcome::ChangesPending,
        _ => Outcome::Failed,
    })
}

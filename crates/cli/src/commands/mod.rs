//! One module per command; each is a thin wrapper over `esxnet::ops`: it parses flags, calls an
//! operation, renders and prints.

mod apply;
mod docs;
mod drift;
mod import;
mod observe;
mod plan;
mod report;
mod rollback;
mod schema;
mod sim;
mod validate;

use anyhow::Result;
use esxnet::ops::{Planned, Planning};
use esxnet::output::Output;

use crate::cli::{Cli, Command};
use crate::Outcome;

/// Runs the command the user asked for.
pub fn run(cli: Cli, output: &Output) -> Result<Outcome> {
    match cli.command {
        Command::Validate(arguments) => validate::run(&arguments, output),
        Command::Plan(arguments) => plan::run(&arguments, output),
        Command::Apply(arguments) => apply::run(&arguments, output),
        Command::Drift(arguments) => drift::run(&arguments, output),
        Command::Observe(arguments) => observe::run(&arguments, output),
        Command::Import(arguments) => import::run(&arguments, output),
        Command::Graph(arguments) => plan::graph(&arguments, output),
        Command::Schema(arguments) => schema::run(&arguments, output),
        Command::Rollback(arguments) => rollback::run(&arguments, output),
        Command::Confirm(arguments) => rollback::confirm(&arguments, output),
        Command::Sim(command) => sim::run(command, output),
        Command::Report(command) => report::run(&command, output),
        Command::Completions(arguments) => docs::completions(&arguments, output),
        Command::Man(arguments) => docs::man(&arguments, output),
    }
}

/// The plan, or `None` after printing why the manifests could not be read.
fn planned_or_report(planning: Planning, output: &Output) -> Option<Planned> {
    match planning {
        Planning::Planned(planned) => Some(*planned),
        Planning::UnreadableManifests(diagnostics) => {
            output.diagnostics(&diagnostics);
            output.status("the manifests could not be read: nothing was planned or applied");
            None
        }
    }
}

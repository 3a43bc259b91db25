//! One module per command; each is a thin wrapper over library functions.

mod apply;
mod drift;
mod observe;
mod plan;
mod schema;
mod sim;
mod validate;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::output::Output;
use crate::Outcome;

pub use plan::{make_plan, make_plan_observed, PlanInputs};

/// Runs the command the user asked for.
pub fn run(cli: Cli, output: &Output) -> Result<Outcome> {
    match cli.command {
        Command::Validate(arguments) => validate::run(&arguments, output),
        Command::Plan(arguments) => plan::run(&arguments, output),
        Command::Apply(arguments) => apply::run(&arguments, output),
        Command::Drift(arguments) => drift::run(&arguments, output),
        Command::Observe(arguments) => observe::run(&arguments, output),
        Command::Graph(arguments) => plan::graph(&arguments, output),
        Command::Schema(arguments) => schema::run(&arguments, output),
        Command::Sim(command) => sim::run(command, output),
    }
}

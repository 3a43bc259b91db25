//! `esxnet`: manage ESXi host networking as code.
//!
//! Each command is a thin wrapper over library functions; this binary alone knows clap, files
//! beyond manifests and the terminal, and it maps every outcome to an exit code in one place.

mod cli;
mod commands;
mod output;
mod target;

use std::process::ExitCode;

use clap::Parser;

/// How a command ended, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success: valid, in sync, converged (exit 0).
    Success,
    /// Changes pending or drift found, where the command reports that (exit 2).
    ChangesPending,
    /// Invalid manifests or a failed apply, already reported (exit 1).
    Failed,
}

fn main() -> ExitCode {
    let arguments = cli::Cli::parse();
    let output = output::Output::detect();
    match commands::run(arguments, &output) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::ChangesPending) => ExitCode::from(2),
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(error) => {
            output.error(&format!("{error:#}"));
            ExitCode::from(1)
        }
    }
}

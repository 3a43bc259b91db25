//! `esxnet`: manage ESXi host networking as code.
//!
//! Each command is a thin wrapper over library functions; this binary alone knows clap, files
//! beyond manifests and the terminal, and it maps every outcome to an exit code in one place.

mod cli;
mod commands;
mod output;
mod target;
mod timings;

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
            output.error(&error_text(&error));
            ExitCode::from(1)
        }
    }
}

/// An error and its causes on one line, leaving out causes whose text an outer message already
/// quotes (library errors often carry their cause's text in their own message).
fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn causes_already_quoted_are_not_repeated() {
        let inner = anyhow::anyhow!("connection refused");
        let middle = inner.context("could not reach vc: connection refused");
        let outer = middle.context("cannot observe the hosts");
        assert_eq!(
            error_text(&outer),
            "cannot observe the hosts: could not reach vc: connection refused"
        );
    }
}

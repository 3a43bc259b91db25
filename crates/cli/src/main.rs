//! `esxnet`: manage ESXi host networking as code.
//!
//! Each command is a thin wrapper over the library's operations (`esxnet::ops`): it parses flags,
//! calls an operation, renders and prints. This binary alone knows clap, prompts and the terminal,
//! and it maps every outcome to an exit code in one place.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

/// The whole pipeline allocates many small, short-lived values (a state per object, a line per
/// change); glibc's allocator spent about a fifth of `plan`'s time on 10,000 hosts in malloc and
/// free. mimalloc is the allocator rustc-perf and many CLIs measure fastest on such loads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let arguments = match cli::Cli::try_parse() {
        Ok(arguments) => arguments,
        Err(error) => return usage_error(&error),
    };
    let output = esxnet::output::Output::detect();
    let outcome = commands::run(arguments, &output);
    // A result that could not be written is lost: that fails the command, even one that
    // otherwise succeeded or found drift (a cron job must not read a lost report as news).
    if let Some(reason) = esxnet::output::write_failure() {
        if let Err(error) = &outcome {
            output.error(&error_text(error));
        }
        output.error(&format!(
            "cannot write the result to standard output: {reason}; nothing printed can be trusted to be complete"
        ));
        return ExitCode::from(1);
    }
    match outcome {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::ChangesPending) => ExitCode::from(2),
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(error) => {
            output.error(&error_text(&error));
            ExitCode::from(1)
        }
    }
}

/// Prints what clap has to say about the command line and decides the exit code: 0 for `--help`
/// and `--version`, 1 for every usage error. Clap's own default is 2, which esxnet reserves for
/// "changes pending" and "drift found": a cron job must not read a misspelt flag as drift.
fn usage_error(error: &clap::Error) -> ExitCode {
    // Clap writes help to stdout and errors to stderr, with colour only on a terminal.
    let _ = error.print();
    if error.use_stderr() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// An error and its causes, the way jj prints them: the message, then the causes under
/// "Caused by:" (numbered when there are several). A cause whose text a message above it already
/// quotes is left out, since library errors often carry their cause's text in their own message,
/// so that nothing is printed twice.
fn error_text(error: &anyhow::Error) -> String {
    let mut messages: Vec<String> = Vec::new();
    for cause in error.chain() {
        // Each message is one line; names from manifests and hosts in it are shown with their
        // control characters escaped, so none can drive the terminal or forge a line.
        let cause = esxnet_model::diagnostic::escape_control(&cause.to_string()).into_owned();
        if messages.iter().any(|message| message.contains(&cause)) {
            continue;
        }
        messages.push(cause);
    }
    let mut text = messages.first().cloned().unwrap_or_default();
    match &messages[1.min(messages.len())..] {
        [] => {}
        [cause] => {
            text.push_str("\nCaused by: ");
            text.push_str(cause);
        }
        causes => {
            text.push_str("\nCaused by:");
            for (number, cause) in causes.iter().enumerate() {
                text.push_str(&format!("\n{}: {cause}", number + 1));
            }
        }
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
            "cannot observe the hosts\nCaused by: could not reach vc: connection refused"
        );
    }

    #[test]
    fn several_causes_are_numbered_once_each() {
        let inner = anyhow::anyhow!("connection refused");
        let middle = inner.context("could not reach vc");
        let outer = middle.context("cannot observe the hosts");
        assert_eq!(
            error_text(&outer),
            "cannot observe the hosts\nCaused by:\n1: could not reach vc\n2: connection refused"
        );
    }

    #[test]
    fn control_characters_in_messages_are_shown_escaped() {
        let error = anyhow::anyhow!("no host \"esx\u{1b}[2J\rok\nerror: forged\u{9b}\"");
        assert_eq!(
            error_text(&error),
            "no host \"esx\\u{1b}[2J\\rok\\nerror: forged\\u{9b}\""
        );
    }

    #[test]
    fn an_error_without_causes_is_one_line() {
        assert_eq!(error_text(&anyhow::anyhow!("no lab at x")), "no lab at x");
    }
}

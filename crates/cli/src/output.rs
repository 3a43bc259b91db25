//! The one place output goes through: stdout for results, stderr for diagnostics and status.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use esxnet_model::diagnostic::Diagnostic;

/// Where and how to print.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Colour on stdout (a TTY without `NO_COLOR`).
    pub stdout_color: bool,
    /// Colour on stderr.
    pub stderr_color: bool,
    /// Whether stdin and stderr are a terminal (prompts and progress bars).
    pub interactive: bool,
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty())
}

impl Output {
    /// Looks at the terminal and `NO_COLOR`.
    pub fn detect() -> Self {
        Output {
            stdout_color: std::io::stdout().is_terminal() && !no_color(),
            stderr_color: std::io::stderr().is_terminal() && !no_color(),
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        }
    }

    /// Prints a result to stdout. A failed write is remembered (see [`write_failure`]).
    pub fn result(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let written = stdout
            .write_all(text.as_bytes())
            .and_then(|()| {
                if text.ends_with('\n') {
                    Ok(())
                } else {
                    stdout.write_all(b"\n")
                }
            })
            .and_then(|()| stdout.flush());
        if let Err(error) = &written {
            remember(error);
        }
    }

    /// Streams a result to stdout through `write`, for results too large to build as text first.
    /// A failed write is remembered (see [`write_failure`]) as well as answered.
    pub fn result_with(&self, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        let written = write(&mut stdout).and_then(|()| stdout.flush());
        if let Err(error) = &written {
            remember(error);
        }
        written
    }

    /// Prints a status sentence to stderr.
    pub fn status(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }

    /// Prints an error to stderr.
    pub fn error(&self, text: &str) {
        let label = if self.stderr_color {
            "\x1b[1;31merror\x1b[0m"
        } else {
            "error"
        };
        let _ = writeln!(std::io::stderr().lock(), "{label}: {text}");
    }

    /// Prints diagnostics to stderr.
    pub fn diagnostics(&self, diagnostics: &[Diagnostic]) {
        let mut stderr = std::io::stderr().lock();
        for diagnostic in diagnostics {
            let _ = writeln!(stderr, "{}", diagnostic.render(self.stderr_color));
        }
    }
}

/// The first failed write to stdout, as the reason the system gave.
static WRITE_FAILURE: OnceLock<String> = OnceLock::new();

/// Records a failed write to stdout. A closed pipe (`esxnet plan | head`) is not a failure: the
/// reader has what it wanted, and the command's own exit code (2 for drift) must survive it.
fn remember(error: &std::io::Error) {
    if error.kind() != std::io::ErrorKind::BrokenPipe {
        let _ = WRITE_FAILURE.set(error.to_string());
    }
}

/// Why a result could not be written to stdout, if it could not: the result is lost, so the
/// command fails (exit 1) whatever else it did.
pub fn write_failure() -> Option<&'static str> {
    WRITE_FAILURE.get().map(String::as_str)
}

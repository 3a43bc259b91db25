//! The one place output goes through: stdout for results, stderr for diagnostics and status.

use std::io::{IsTerminal, Write};

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

    /// Prints a result to stdout.
    pub fn result(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = stdout.write_all(b"\n");
        }
        let _ = stdout.flush();
    }

    /// Streams a result to stdout through `write`, for results too large to build as text first.
    pub fn result_with(&self, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        write(&mut stdout)?;
        stdout.flush()
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

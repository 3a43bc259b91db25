//! CLI transcripts as data: every `tests/cli/<case>.cmd` is run with the real binary and its
//! standard output, standard error and exit code are compared with `tests/cli/<case>.out`.
//!
//! A case runs in a fresh scratch directory holding `manifests/`, a copy of the example manifests
//! (`manifests/examples`), so a `--target sim:lab` makes a fresh simulated lab of the examples'
//! hosts on first use. A `.cmd` file has one instruction per line:
//!
//! - `# …` — a comment (say what the case shows);
//! - `env NAME=VALUE` — set a variable for the commands after it (every command runs with
//!   `NO_COLOR=1`, without a terminal and without the caller's `ESXNET_TARGET`);
//! - `stdin TEXT` — the last command reads `TEXT` and a newline on its standard input;
//! - `esxnet ARGUMENTS…` — a command, its arguments separated by spaces (no quoting). Every
//!   command but the last is a setup step that must exit 0; the last one is the transcript.
//!
//! What a run prints that differs between runs is normalised, and only that:
//! - the scratch directory's path is written `[SCRATCH]`;
//! - an apply's `run_id` (a timestamp and random suffix) is written `[RUN_ID]`.
//!
//! Refresh the expected files with `UPDATE_EXPECT=1 cargo test -p esxnet --test transcripts`, then
//! read the diff before committing it: the harness only guards what was approved.

mod support;

use std::path::Path;
use std::process::Stdio;

use snapbox::assert::Action;

/// One `.cmd` file, parsed.
#[derive(Debug, Default)]
struct Case {
    /// Every command's arguments (without `esxnet`), the transcript last.
    commands: Vec<Vec<String>>,
    /// Environment set before each command: `(index of the first command it applies to, name, value)`.
    environment: Vec<(usize, String, String)>,
    /// Standard input of the last command.
    stdin: Option<String>,
}

fn parse(path: &Path, text: &str) -> Result<Case, String> {
    let mut case = Case::default();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        let at = || format!("{}:{}", path.display(), number + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(assignment) = line.strip_prefix("env ") {
            let (name, value) = assignment
                .split_once('=')
                .ok_or_else(|| format!("{}: `env` needs NAME=VALUE", at()))?;
            case.environment
                .push((case.commands.len(), name.trim().to_owned(), value.trim().to_owned()));
        } else if let Some(input) = line.strip_prefix("stdin ") {
            case.stdin = Some(format!("{input}\n"));
        } else if let Some(arguments) = line.strip_prefix("esxnet") {
            case.commands
                .push(arguments.split_whitespace().map(str::to_owned).collect());
        } else {
            return Err(format!(
                "{}: expected `# comment`, `env NAME=VALUE`, `stdin TEXT` or `esxnet …`, found {line:?}",
                at()
            ));
        }
    }
    if case.commands.is_empty() {
        return Err(format!("{}: no `esxnet …` command", path.display()));
    }
    Ok(case)
}

fn copy_examples(into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let mut entries: Vec<_> = std::fs::read_dir(support::examples())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        std::fs::copy(&path, into.join(path.file_name().unwrap())).unwrap();
    }
}

/// Replaces what differs between runs, as the module's documentation lists.
fn normalise(text: &str, scratch: &Path) -> String {
    let mut text = text.replace(&scratch.display().to_string(), "[SCRATCH]");
    let key = "\"run_id\": \"";
    if let Some(start) = text.find(key).map(|start| start + key.len()) {
        if let Some(length) = text[start..].find('"') {
            text.replace_range(start..start + length, "[RUN_ID]");
        }
    }
    text
}

fn transcript(path: &Path, text: String) -> datatest_stable::Result<()> {
    let case = parse(path, &text)?;
    let scratch = tempfile::tempdir()?;
    // The canonical path, as the binary sees its working directory.
    let scratch_path = scratch.path().canonicalize()?;
    copy_examples(&scratch_path.join("manifests"));
    let last = case.commands.len() - 1;
    let mut transcript = String::new();
    for (index, arguments) in case.commands.iter().enumerate() {
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let mut command = support::command(&scratch_path, &arguments);
        for (_, name, value) in case.environment.iter().filter(|(first, ..)| *first <= index) {
            command.env(name, value);
        }
        let input = case.stdin.as_deref().filter(|_| index == last);
        if input.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn()?;
        if let Some(input) = input {
            std::io::Write::write_all(&mut child.stdin.take().expect("piped stdin"), input.as_bytes())?;
        }
        let output = child.wait_with_output()?;
        let code = output.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if index < last {
            if code != 0 {
                return Err(format!(
                    "{}: setup step `esxnet {}` exited {code}:\n{stdout}{stderr}",
                    path.display(),
                    arguments.join(" ")
                )
                .into());
            }
            continue;
        }
        transcript = format!(
            "$ esxnet {}\nexit: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}",
            arguments.join(" ")
        );
    }
    let actual = normalise(&transcript, &scratch_path);
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|value| !value.is_empty() && value != "0");
    snapbox::Assert::new()
        .action(if update { Action::Overwrite } else { Action::Verify })
        .eq(
            actual,
            snapbox::Data::read_from(&path.with_extension("out"), None).raw(),
        );
    Ok(())
}

datatest_stable::harness! {
    { test = transcript, root = "../../tests/cli", pattern = r"\.cmd$" },
}

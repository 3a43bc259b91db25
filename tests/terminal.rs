//! Behaviour on a terminal: colour only on a TTY and never with `NO_COLOR`, and apply asking
//! before it changes anything. util-linux's `script` gives the binary a pseudo-terminal.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use support::{esxnet, examples};

/// Runs esxnet on a pseudo-terminal with `input` typed in; returns everything the terminal showed.
fn on_terminal(directory: &Path, arguments: &str, input: &str, no_color: bool) -> String {
    let command_line = format!("{} {arguments}", env!("CARGO_BIN_EXE_esxnet"));
    let mut command = Command::new("script");
    command
        .args(["-qec", &command_line, "/dev/null"])
        .current_dir(directory)
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if no_color {
        command.env("NO_COLOR", "1");
    }
    let mut child = command.spawn().expect("util-linux `script` runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn plan_exit_code(directory: &Path) -> i32 {
    esxnet(
        directory,
        &[
            "plan",
            examples().to_str().unwrap(),
            "--target",
            "sim:lab",
            "--detailed-exitcode",
        ],
    )
    .code
}

#[test]
fn plans_are_coloured_on_a_terminal_but_never_with_no_color() {
    let scratch = tempfile::tempdir().unwrap();
    let arguments = format!("plan {} --target sim:lab", examples().display());
    let coloured = on_terminal(scratch.path(), &arguments, "", false);
    assert!(coloured.contains("+ StandardSwitch/vSwitch1"), "{coloured}");
    assert!(coloured.contains("\x1b[32m"), "a terminal gets colour: {coloured:?}");
    let plain = on_terminal(scratch.path(), &arguments, "", true);
    assert!(plain.contains("+ StandardSwitch/vSwitch1"), "{plain}");
    assert!(!plain.contains('\x1b'), "NO_COLOR means no colour: {plain:?}");
}

#[test]
fn apply_on_a_terminal_asks_and_only_yes_applies() {
    let scratch = tempfile::tempdir().unwrap();
    let arguments = format!("apply {} --target sim:lab", examples().display());
    let declined = on_terminal(scratch.path(), &arguments, "y\n", false);
    assert!(declined.contains("Only 'yes' is accepted"), "{declined}");
    assert!(declined.contains("nothing was applied"), "{declined}");
    assert_eq!(plan_exit_code(scratch.path()), 2, "declining applied nothing");
    let accepted = on_terminal(scratch.path(), &arguments, "yes\n", false);
    assert!(accepted.contains("Apply complete"), "{accepted}");
    assert_eq!(plan_exit_code(scratch.path()), 0, "yes applied everything");
}

//! Installable like a tool: shell completions and man pages generated from the clap definitions
//! mention every command, and `--version` names the commit the binary was built from.

mod support;

use std::process::Command;

use support::{esxnet, repository};

/// The commands `esxnet --help` lists, read from its "Commands:" section.
fn commands() -> Vec<String> {
    let help = esxnet(&repository(), &["--help"]);
    assert_eq!(help.code, 0, "{}", help.all());
    let section = help.stdout.split("Commands:").nth(1).expect("a Commands section");
    let commands: Vec<String> = section
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    for expected in [
        "validate",
        "plan",
        "apply",
        "drift",
        "report",
        "completions",
        "man",
        "sim",
    ] {
        assert!(
            commands.iter().any(|name| name == expected),
            "{expected} in {commands:?}"
        );
    }
    commands
}

#[test]
fn completions_name_every_command_and_the_new_flags() {
    let commands = commands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = esxnet(&repository(), &["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.all());
        for command in &commands {
            assert!(run.stdout.contains(command.as_str()), "{shell} completes {command}");
        }
        assert!(run.stdout.contains("--shard"), "{shell} completes --shard");
        // The subcommands' own subcommands too.
        for nested in ["init", "serve", "merge"] {
            assert!(run.stdout.contains(nested), "{shell} completes {nested}");
        }
    }
    let directory = tempfile::tempdir().expect("scratch directory");
    let written = esxnet(directory.path(), &["completions", "zsh", "--out", "completions"]);
    assert_eq!(written.code, 0, "{}", written.all());
    let zsh = esxnet(&repository(), &["completions", "zsh"]);
    assert_eq!(
        std::fs::read_to_string(directory.path().join("completions/_esxnet")).unwrap(),
        zsh.stdout
    );
    let fish = esxnet(&repository(), &["completions", "fish"]);
    assert!(
        fish.stdout.contains("__fish_esxnet_using_subcommand report"),
        "{}",
        fish.stdout
    );
    let unknown = esxnet(&repository(), &["completions", "tcsh"]);
    assert_eq!(unknown.code, 1, "an unknown shell is a usage error: {}", unknown.all());
}

#[test]
fn the_man_page_names_every_command_and_one_page_is_written_for_each() {
    let commands = commands();
    let page = esxnet(&repository(), &["man"]);
    assert_eq!(page.code, 0, "{}", page.all());
    assert!(
        page.stdout.starts_with(".ie") || page.stdout.contains(".TH esxnet 1"),
        "roff: {}",
        page.stdout
    );
    for command in &commands {
        // roff escapes the dash: esxnet\-plan(1).
        assert!(
            page.stdout.contains(&format!("esxnet\\-{command}(1)")),
            "esxnet.1 names {command}"
        );
    }
    let directory = tempfile::tempdir().expect("scratch directory");
    let run = esxnet(directory.path(), &["man", "--out", "pages"]);
    assert_eq!(run.code, 0, "{}", run.all());
    for command in commands
        .iter()
        .chain(["report-merge".to_owned(), "sim-serve".to_owned()].iter())
    {
        let file = directory.path().join(format!("pages/esxnet-{command}.1"));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        assert!(text.contains(".TH"), "{} is a man page", file.display());
    }
    let plan = std::fs::read_to_string(directory.path().join("pages/esxnet-plan.1")).unwrap();
    assert!(plan.contains("\\-\\-shard"), "the plan page documents --shard");
}

#[test]
fn the_version_names_the_commit_when_git_knows_it() {
    let run = esxnet(&repository(), &["--version"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let version = run.stdout.trim();
    assert!(
        version.starts_with(&format!("esxnet {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repository())
        .output();
    match head {
        Ok(output) if output.status.success() => {
            let commit = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            assert!(
                version.ends_with(&format!("(commit {commit})")),
                "{version} names {commit}"
            );
        }
        // A source tarball without git: the package version alone.
        _ => assert_eq!(version, format!("esxnet {}", env!("CARGO_PKG_VERSION"))),
    }
}

//! The commands a pipeline runs on a large fleet, each timed as the whole `esxnet` process with its
//! peak memory: what a user waits for, not an inner function.
//!
//! `cargo bench -p esxnet --bench cli [-- HOSTS ROUNDS]` (defaults 10000 3). Needs `/usr/bin/time`
//! (GNU time) for the peak resident memory of the child. The fleet is the benchmark fleet of
//! `tests/support/fleet.rs` (7 changes a host) against a simulated lab of fresh hosts. Targets from
//! the issues: `plan --output json` at most 1 s and 500 MB; `validate` at most 0.5 s; text and
//! Markdown plans at most 1 s.
//!
//! `ESXNET_BENCH_KEEP=1` keeps the fleet and its lab and prints where, for profiling one command
//! (`perf record`, `ESXNET_TIMINGS=1`) on the same input.

#[path = "../../../tests/support/fleet.rs"]
mod fleet;

use std::path::Path;
use std::process::{Command, Stdio};

use esxnet_sim::{HostNames, InitOptions, Lab};

/// One command line, after `esxnet`.
struct Case {
    label: &'static str,
    arguments: Vec<String>,
    /// The exit code the command gives on this fleet.
    exit_code: i32,
}

fn main() {
    let hosts = fleet::argument(1, 10_000);
    let rounds = fleet::argument(2, 3);
    let scratch = tempfile::tempdir().expect("scratch directory");
    let (manifests, names) = fleet::write_fleet(scratch.path(), hosts);
    let lab_dir = scratch.path().join("lab");
    drop(
        Lab::init(
            &lab_dir,
            &InitOptions {
                hosts: HostNames::Names(names),
                // The network behind the hosts that `esxnet sim init` gives a lab by default, so
                // plan makes its pre-flight check as it does on a user's lab.
                fabric: Some(esxnet_sim::fabric::Fabric::examples()),
                ..InitOptions::default()
            },
        )
        .expect("lab"),
    );
    let manifests = manifests.display().to_string();
    let target = format!("sim:{}", lab_dir.display());
    let with_target = |command: &str, extra: &[&str]| -> Vec<String> {
        let mut arguments = vec![
            command.to_owned(),
            manifests.clone(),
            "--target".to_owned(),
            target.clone(),
        ];
        arguments.extend(extra.iter().map(|argument| argument.to_string()));
        arguments
    };
    let cases = [
        Case {
            label: "validate",
            arguments: vec!["validate".to_owned(), manifests.clone()],
            exit_code: 0,
        },
        Case {
            label: "plan --output json",
            arguments: with_target("plan", &["--output", "json"]),
            exit_code: 0,
        },
        Case {
            label: "plan (text)",
            arguments: with_target("plan", &[]),
            exit_code: 0,
        },
        Case {
            label: "plan --output markdown",
            arguments: with_target("plan", &["--output", "markdown"]),
            exit_code: 0,
        },
        Case {
            label: "drift --output json",
            arguments: with_target("drift", &["--output", "json"]),
            exit_code: 2,
        },
    ];
    println!("cli benchmark: {hosts} hosts, {rounds} rounds, release build, output to a file");
    if std::env::var_os("ESXNET_BENCH_KEEP").is_some() {
        println!("kept: manifests {manifests}, target {target}");
    }
    for case in &cases {
        let mut walls = Vec::new();
        let mut peaks = Vec::new();
        for _ in 0..rounds {
            let (wall, peak_mib) = run(&case.arguments, case.exit_code, scratch.path());
            walls.push(wall);
            peaks.push(peak_mib);
        }
        walls.sort_by(f64::total_cmp);
        peaks.sort_by(f64::total_cmp);
        println!(
            "{:<24} wall best {:.2} s, median {:.2} s, worst {:.2} s; peak memory median {:.0} MiB",
            case.label,
            walls[0],
            walls[walls.len() / 2],
            walls[walls.len() - 1],
            peaks[peaks.len() / 2]
        );
    }
    if std::env::var_os("ESXNET_BENCH_KEEP").is_some() {
        let _kept = scratch.keep();
    }
}

/// Runs `esxnet ARGUMENTS` under GNU time with stdout to a file; returns (seconds, peak MiB).
fn run(arguments: &[String], exit_code: i32, scratch: &Path) -> (f64, f64) {
    let report = scratch.join("time.txt");
    let output = std::fs::File::create(scratch.join("stdout.txt")).expect("output file");
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%e %M", "-o"])
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_esxnet"))
        .args(arguments)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(Stdio::null())
        .status()
        .expect("GNU time runs esxnet (apt-get install time)");
    assert_eq!(status.code(), Some(exit_code), "esxnet {}", arguments.join(" "));
    let text = std::fs::read_to_string(&report).expect("time's report");
    let last = text.lines().last().unwrap_or_default();
    let mut fields = last.split_whitespace();
    let seconds: f64 = fields.next().and_then(|field| field.parse().ok()).unwrap_or(f64::NAN);
    let kib: f64 = fields.next().and_then(|field| field.parse().ok()).unwrap_or(f64::NAN);
    (seconds, kib / 1024.0)
}

//! Whole `esxnet apply` processes: killed mid-run, and two at once on one lab.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{command, esxnet, fleet_manifests, Run};

const HOSTS: usize = 50;

/// A 50-host lab whose API calls take 2 ms each, so an apply runs long enough to be cut.
fn slow_lab(scratch: &Path) -> String {
    let init = esxnet(
        scratch,
        &["sim", "init", "lab", "--hosts", &HOSTS.to_string(), "--latency-ms", "2"],
    );
    assert_eq!(init.code, 0, "{}", init.all());
    "sim:lab".to_owned()
}

fn assert_lab_loads(scratch: &Path, target: &str) {
    let observed = esxnet(scratch, &["observe", "--target", target, "--output", "json"]);
    assert_eq!(observed.code, 0, "the lab loads after a kill: {}", observed.all());
    let fleet: serde_json::Value = serde_json::from_str(&observed.stdout).expect("observe prints JSON");
    assert_eq!(fleet["hosts"].as_object().map(|hosts| hosts.len()), Some(HOSTS));
}

#[test]
fn a_killed_apply_is_resumed_by_the_next_one() {
    let scratch = tempfile::tempdir().unwrap();
    let target = slow_lab(scratch.path());
    let manifests = fleet_manifests(scratch.path(), HOSTS);
    let manifests = manifests.to_str().unwrap();
    let arguments = [
        "apply",
        manifests,
        "--target",
        &target,
        "--auto-approve",
        "--parallelism",
        "4",
    ];
    // Kill at several points: early (planning), during the first hosts, and well into the run.
    for delay_ms in [30u64, 250, 600, 1200] {
        // Output to /dev/null: a pipe nobody reads fills up and stalls the run before it applies.
        let mut child = command(scratch.path(), &arguments)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("apply starts");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL on Unix: no chance to clean up.
        let _ = child.wait();
        assert_lab_loads(scratch.path(), &target);
    }
    let journal = std::fs::read_to_string(scratch.path().join("lab/journal.jsonl")).unwrap_or_default();
    assert!(!journal.is_empty(), "the killed runs were journaled");
    let resumed = esxnet(scratch.path(), &arguments);
    assert_eq!(resumed.code, 0, "the next apply converges: {}", resumed.all());
    let planned = esxnet(
        scratch.path(),
        &["plan", manifests, "--target", &target, "--detailed-exitcode"],
    );
    assert_eq!(planned.code, 0, "nothing left to do: {}", planned.all());
    assert_lab_loads(scratch.path(), &target);
}

#[test]
fn two_applies_on_one_lab_never_corrupt_it() {
    let scratch = tempfile::tempdir().unwrap();
    let target = slow_lab(scratch.path());
    let manifests = fleet_manifests(scratch.path(), HOSTS);
    let manifests = manifests.to_str().unwrap();
    let arguments = ["apply", manifests, "--target", &target, "--auto-approve"];
    let started = Instant::now();
    let first = command(scratch.path(), &arguments).spawn().unwrap();
    let second = command(scratch.path(), &arguments).spawn().unwrap();
    let outputs: Vec<Run> = [first, second]
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            Run {
                code: output.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        })
        .collect();
    assert!(started.elapsed() < Duration::from_secs(120));
    assert!(outputs.iter().any(|run| run.code == 0), "one apply wins: {outputs:#?}");
    for run in &outputs {
        // The loser either waited for the winner and found nothing left to do, or gave up naming the holder.
        assert!(
            run.code == 0 || run.stderr.contains("locked by another writer"),
            "the loser fails with a clear message: {run:#?}"
        );
    }
    assert_lab_loads(scratch.path(), &target);
    let planned = esxnet(
        scratch.path(),
        &["plan", manifests, "--target", &target, "--detailed-exitcode"],
    );
    assert_eq!(planned.code, 0, "{}", planned.all());
}

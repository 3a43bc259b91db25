//! Nothing is lost silently: a result that cannot be written fails the command, a selection that
//! selects nothing is an error, and `drift` gives no verdict beside manifest errors.

mod support;

use std::fs::OpenOptions;
use std::path::Path;

use support::{command, esxnet, examples, Run};

/// Runs the binary with its standard output on `/dev/full`, where every write fails with ENOSPC.
fn to_full_device(directory: &Path, arguments: &[&str]) -> Run {
    let full = OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists");
    Run::from(
        command(directory, arguments)
            .stdout(full)
            .output()
            .expect("the esxnet binary runs"),
    )
}

#[test]
fn every_command_that_writes_a_result_fails_on_a_full_device() {
    let scratch = tempfile::tempdir().unwrap();
    let examples = examples();
    let examples = examples.to_str().unwrap();
    let commands: [&[&str]; 12] = [
        &["validate", examples],
        &["plan", examples],
        &["plan", examples, "--output", "json"],
        &["plan", examples, "--output", "markdown"],
        &["graph", examples],
        &["drift", examples],
        &["drift", examples, "--output", "json"],
        &["drift", examples, "--output", "markdown"],
        &["observe"],
        &["observe", "--output", "json"],
        &["schema"],
        &["apply", examples, "--auto-approve"],
    ];
    for arguments in commands {
        let run = to_full_device(scratch.path(), arguments);
        assert_eq!(run.code, 1, "{arguments:?}: {}", run.all());
        assert!(
            run.stderr.contains("cannot write the result to standard output")
                && run.stderr.contains("No space left on device"),
            "{arguments:?}: {}",
            run.stderr
        );
    }
    // Files too: a saved plan that cannot be written.
    let run = esxnet(scratch.path(), &["plan", examples, "--out", "/dev/full"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("/dev/full"), "{}", run.stderr);
}

#[test]
fn a_closed_pipe_keeps_the_commands_own_exit_code() {
    let scratch = tempfile::tempdir().unwrap();
    let examples = examples();
    let examples = examples.to_str().unwrap();
    // Plan with --detailed-exitcode exits 2 (changes pending) even when its reader stops early.
    let mut child = command(scratch.path(), &["plan", examples, "--detailed-exitcode"])
        .spawn()
        .expect("plan starts");
    drop(child.stdout.take());
    let status = child.wait().expect("plan ends");
    assert_eq!(status.code(), Some(2));
}

#[test]
fn observing_hosts_the_target_does_not_have_is_an_error() {
    let scratch = tempfile::tempdir().unwrap();
    let init = esxnet(scratch.path(), &["sim", "init", "lab", "--hosts", "esx-a,esx-b"]);
    assert_eq!(init.code, 0, "{}", init.all());
    let run = esxnet(scratch.path(), &["observe", "--target", "sim:lab", "--hosts", "nope"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("no host nope") && run.stderr.contains("esx-a, esx-b"),
        "{}",
        run.stderr
    );
    let run = esxnet(scratch.path(), &["observe", "--target", "sim:lab", "--hosts", "esx-b"]);
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn drift_gives_no_verdict_beside_manifest_errors() {
    let scratch = tempfile::tempdir().unwrap();
    let manifests = scratch.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.ends_with("20-provisioning-on-new-switch.yaml") {
            text = text.replace("mtu: 9000", "mtu: 99000");
        }
        std::fs::write(manifests.join(path.file_name().unwrap()), text).unwrap();
    }
    let manifests = manifests.to_str().unwrap();
    for format in ["text", "markdown", "json"] {
        let run = esxnet(scratch.path(), &["drift", manifests, "--output", format]);
        assert_eq!(run.code, 1, "{format}: {}", run.all());
        assert!(run.stderr.contains("ESX012"), "{format}: {}", run.stderr);
        assert!(!run.stdout.contains("In sync"), "{format}: {}", run.stdout);
        if format == "json" {
            let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
            assert_eq!(report["in_sync"], false, "{}", run.stdout);
        } else {
            assert!(run.stdout.contains("No verdict"), "{format}: {}", run.stdout);
        }
    }
}

//! The scripts the example pipelines run (`scripts/ci/`, used by `examples/ci/`), against the
//! simulated lab with the real binary: the plan comment, apply, drift with exit 2 after a change
//! made behind esxnet's back, the sharded drift of a CI matrix and of a Kubernetes Indexed Job
//! merged into one report, and the posting scripts' "update, do not repeat" against stand-ins for
//! the gh CLI and curl.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use esxnet_sim::Lab;
use support::{esxnet, examples, repository, Run};

const HOST: &str = "esx-01.lab.example";

fn script(name: &str) -> PathBuf {
    repository().join("scripts/ci").join(name)
}

/// Runs a script in `directory` with the binary as ESXNET and the lab as the target.
fn run_script(directory: &Path, name: &str, arguments: &[&str], environment: &[(&str, &str)]) -> Run {
    let mut command = Command::new("bash");
    command
        .arg(script(name))
        .args(arguments)
        .current_dir(directory)
        .env("ESXNET", env!("CARGO_BIN_EXE_esxnet"))
        .env("ESXNET_TARGET", "sim:lab")
        .env("NO_COLOR", "1")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("ESXNET_SHARD_INDEX")
        .stdin(Stdio::null());
    for (key, value) in environment {
        command.env(key, value);
    }
    Run::from(command.output().expect("bash runs the script"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Someone changes a port group's VLAN on a host by hand.
fn change_behind_esxnets_back(scratch: &Path) {
    let lab = Lab::open_writer(scratch.join("lab")).expect("the lab opens for writing");
    lab.modify_host(HOST, |host| host.update_port_group("Provisioning", "vSwitch1", 999))
        .expect("the VLAN changes");
}

#[test]
fn plan_comment_apply_and_drift_scripts_run_against_the_lab() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    let manifests = examples();
    let manifests = manifests.to_str().unwrap();

    let plan = run_script(scratch, "plan-comment.sh", &[manifests, "comment.md"], &[]);
    assert_eq!(
        plan.code,
        0,
        "changes are not a failure of the plan job: {}",
        plan.all()
    );
    let comment = read(&scratch.join("comment.md"));
    let expected = esxnet(
        scratch,
        &["plan", manifests, "--target", "sim:lab", "--output", "markdown"],
    );
    assert_eq!(
        comment,
        format!("<!-- esxnet-plan -->\n{}", expected.stdout),
        "marker, then the plan"
    );
    assert!(
        comment.contains("### esxnet plan") && comment.contains(HOST),
        "{comment}"
    );

    let apply = run_script(scratch, "apply.sh", &[manifests, "report.json", "summary.md"], &[]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let report: serde_json::Value = serde_json::from_str(&read(&scratch.join("report.json"))).unwrap();
    assert!(
        report["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|host| host["outcome"] == "ok"),
        "{report:#}"
    );
    assert!(read(&scratch.join("summary.md")).contains("Every host converged"));

    let drift = run_script(scratch, "drift.sh", &[manifests, "issue.md"], &[]);
    assert_eq!(drift.code, 0, "in sync after apply: {}", drift.all());

    change_behind_esxnets_back(scratch);
    let drift = run_script(scratch, "drift.sh", &[manifests, "issue.md"], &[]);
    assert_eq!(drift.code, 2, "drift after a change by hand: {}", drift.all());
    let issue = read(&scratch.join("issue.md"));
    assert!(issue.starts_with("<!-- esxnet-drift -->\n### esxnet drift"), "{issue}");
    assert!(
        issue.contains(HOST) && issue.contains("999"),
        "the issue shows what changed: {issue}"
    );

    // The plan job fails on manifests with errors, and its comment says so.
    std::fs::write(
        scratch.join("broken.yaml"),
        "apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: x}\nspec: {unknown: 1}\n",
    )
    .unwrap();
    let broken = run_script(scratch, "plan-comment.sh", &["broken.yaml", "comment.md"], &[]);
    assert_eq!(broken.code, 1, "{}", broken.all());
    assert!(read(&scratch.join("comment.md")).contains("esxnet plan failed"));
}

#[test]
fn sharded_apply_and_drift_of_a_matrix_and_of_an_indexed_job_merge_into_one_report() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    let manifests = examples();
    let manifests = manifests.to_str().unwrap();
    // A sharded apply, one shard after the other (they share the lab's writer lock), merged.
    for index in ["1", "2"] {
        let apply = run_script(scratch, "shard.sh", &["apply", manifests, "applied", index, "2"], &[]);
        assert_eq!(apply.code, 0, "{}", apply.all());
    }
    let applied = run_script(scratch, "merge.sh", &["applied", "apply.md"], &[]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    assert!(read(&scratch.join("apply.md")).contains("Every host converged"));
    let replan = esxnet(
        scratch,
        &["plan", manifests, "--target", "sim:lab", "--detailed-exitcode"],
    );
    assert_eq!(
        replan.code,
        0,
        "the two shards converged the whole fleet: {}",
        replan.all()
    );
    change_behind_esxnets_back(scratch);

    // Shard 1 as a CI matrix gives it; shard 2 as a Kubernetes Indexed Job does (from 0).
    let first = run_script(scratch, "shard.sh", &["drift", manifests, "results", "1", "2"], &[]);
    assert_eq!(first.code, 0, "drift is for the merge to report: {}", first.all());
    let second = run_script(
        scratch,
        "shard.sh",
        &["drift", manifests, "results"],
        &[("JOB_COMPLETION_INDEX", "1"), ("ESXNET_SHARD_COUNT", "2")],
    );
    assert_eq!(second.code, 0, "{}", second.all());
    assert!(scratch.join("results/drift-1-of-2.json").is_file());
    assert!(scratch.join("results/drift-2-of-2.json").is_file());

    let merged = run_script(scratch, "merge.sh", &["results", "drift.md"], &[]);
    assert_eq!(merged.code, 2, "the merge reports the drift: {}", merged.all());
    let unsharded = esxnet(
        scratch,
        &["drift", manifests, "--target", "sim:lab", "--output", "markdown"],
    );
    assert_eq!(unsharded.code, 2);
    assert_eq!(
        read(&scratch.join("drift.md")),
        unsharded.stdout,
        "one report, as an unsharded drift's"
    );

    // A shard whose job never wrote its result fails the merge.
    std::fs::remove_file(scratch.join("results/drift-2-of-2.json")).unwrap();
    let missing = run_script(scratch, "merge.sh", &["results", "drift.md"], &[]);
    assert_eq!(missing.code, 1, "{}", missing.all());
    assert!(missing.stderr.contains("2/2"), "{}", missing.stderr);
}

/// A stand-in for a command (gh, curl) that logs its arguments and answers from `answers/`.
fn stand_in(bin: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(bin).unwrap();
    let path = bin.join(name);
    std::fs::write(
        &path,
        format!("#!/usr/bin/env bash\nset -eu\nprintf '%s\\n' \"$*\" >>\"$STAND_IN_LOG\"\n{body}"),
    )
    .unwrap();
    let status = Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    assert!(status.success());
}

fn with_stand_ins(scratch: &Path) -> Vec<(String, String)> {
    let path = format!(
        "{}:{}",
        scratch.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    vec![
        ("PATH".to_owned(), path),
        (
            "STAND_IN_LOG".to_owned(),
            scratch.join("calls.log").display().to_string(),
        ),
        ("GITHUB_REPOSITORY".to_owned(), "example/estate".to_owned()),
    ]
}

#[test]
fn the_plan_comment_is_posted_once_then_updated_and_drift_reuses_its_open_issue() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    // gh: the comment list answers the id of a comment once one was posted; the issue list the
    // number of an issue once one was opened.
    stand_in(
        &scratch.join("bin"),
        "gh",
        r#"case "$*" in
  "api --paginate repos/example/estate/issues/7/comments --jq"*) cat "$STAND_IN_LOG.comment" 2>/dev/null || true ;;
  "api --method POST repos/example/estate/issues/7/comments -F body=@"*) echo 4242 >"$STAND_IN_LOG.comment" ;;
  "issue list"*) cat "$STAND_IN_LOG.issue" 2>/dev/null || true ;;
  "issue create"*) echo 12 >"$STAND_IN_LOG.issue" ;;
esac
"#,
    );
    std::fs::write(scratch.join("comment.md"), "<!-- esxnet-plan -->\n### esxnet plan\n").unwrap();
    std::fs::write(scratch.join("issue.md"), "<!-- esxnet-drift -->\n### esxnet drift\n").unwrap();
    let environment = with_stand_ins(scratch);
    let environment: Vec<(&str, &str)> = environment
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    for _ in 0..2 {
        let run = run_script(scratch, "github-comment.sh", &["7", "comment.md"], &environment);
        assert_eq!(run.code, 0, "{}", run.all());
        let run = run_script(scratch, "github-drift-issue.sh", &["issue.md"], &environment);
        assert_eq!(run.code, 0, "{}", run.all());
    }
    let calls = read(&scratch.join("calls.log"));
    let writes: Vec<&str> = calls
        .lines()
        .filter(|line| line.contains("--method") || line.starts_with("issue create") || line.starts_with("issue edit"))
        .collect();
    assert_eq!(
        writes,
        [
            "api --method POST repos/example/estate/issues/7/comments -F body=@comment.md",
            "issue create --title esxnet: the hosts differ from the manifests --label esxnet-drift --body-file issue.md",
            "api --method PATCH repos/example/estate/issues/comments/4242 -F body=@comment.md",
            "issue edit 12 --body-file issue.md",
        ],
        "{calls}"
    );
    // The comment is found by its marker, the first line of the comment.
    assert!(
        calls.contains(r#"select(.body | startswith("<!-- esxnet-plan -->"))"#),
        "{calls}"
    );
}

#[test]
fn the_gitlab_note_is_posted_once_then_updated() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    // curl: the notes list answers the note posted before, if any, as GitLab's API does.
    stand_in(
        &scratch.join("bin"),
        "curl",
        r#"case "$*" in
  *"--request POST"*) echo '[{"id": 99, "body": "<!-- esxnet-plan -->\nold"}]' >"$STAND_IN_LOG.notes" ;;
  *"--request PUT"*) ;;
  *) cat "$STAND_IN_LOG.notes" 2>/dev/null || echo '[{"id": 5, "body": "another note"}]' ;;
esac
"#,
    );
    std::fs::write(scratch.join("comment.md"), "<!-- esxnet-plan -->\n### esxnet plan\n").unwrap();
    let mut environment = with_stand_ins(scratch);
    environment.extend(
        [
            ("CI_API_V4_URL", "https://gitlab.invalid/api/v4"),
            ("CI_PROJECT_ID", "3"),
            ("CI_MERGE_REQUEST_IID", "8"),
            ("GITLAB_TOKEN", "token"),
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned())),
    );
    let environment: Vec<(&str, &str)> = environment
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    for _ in 0..2 {
        let run = run_script(scratch, "gitlab-note.sh", &["comment.md"], &environment);
        assert_eq!(run.code, 0, "{}", run.all());
    }
    let calls = read(&scratch.join("calls.log"));
    let writes: Vec<&str> = calls.lines().filter(|line| line.contains("--request")).collect();
    assert_eq!(writes.len(), 2, "{calls}");
    assert!(
        writes[0].contains("--request POST") && writes[0].ends_with("/projects/3/merge_requests/8/notes"),
        "{calls}"
    );
    assert!(
        writes[1].contains("--request PUT") && writes[1].ends_with("/projects/3/merge_requests/8/notes/99"),
        "{calls}"
    );
    assert!(
        writes[0].contains(r#""body":"<!-- esxnet-plan -->\n### esxnet plan\n""#),
        "{calls}"
    );
}

//! The journal: what every run attempted, readable after a kill.

mod support;

use std::io::Write;

use esxnet_executor::{apply, read_journal, Fault, Journal, JournalRecord, StepOutcome};
use esxnet_planner::Phase;
use support::*;

fn records(path: &std::path::Path) -> Vec<JournalRecord> {
    read_journal(path)
        .unwrap()
        .entries
        .into_iter()
        .map(|entry| entry.record)
        .collect()
}

#[test]
fn every_step_is_journaled_with_its_operations_and_outcome() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("journal.jsonl");
    let (plan, backend) = standard_setup();
    backend.fail_operation("esx-01", "add port group Prov", Fault::InvalidArgument);
    let options = fast_options().with_journal(Journal::open(&path).unwrap());
    let report = apply(&plan, &backend, &options).unwrap();
    assert_eq!(report.journal_problem, None);

    let contents = read_journal(&path).unwrap();
    assert!(contents.damaged_lines.is_empty());
    assert!(contents.entries.iter().all(|entry| entry.run_id == report.run_id));
    assert!(contents.entries.iter().all(|entry| entry.time.ends_with('Z')));
    let records: Vec<JournalRecord> = contents.entries.into_iter().map(|entry| entry.record).collect();
    assert!(
        matches!(&records[0], JournalRecord::RunStarted { target, hosts, .. } if target == "memory:test" && hosts.len() == 2)
    );
    assert!(matches!(
        records.last().unwrap(),
        JournalRecord::RunFinished { succeeded: false, .. }
    ));
    let finished = records
        .iter()
        .filter(|record| matches!(record, JournalRecord::StepFinished { .. }))
        .count();
    assert_eq!(finished, 14);
    assert!(records.contains(&JournalRecord::StepStarted {
        host: "esx-01".into(),
        address: "esx-01/PortGroup/Prov".parse().unwrap(),
        phase: Phase::Create,
        operations: vec!["add port group Prov".into()],
    }));
    let failure = records.iter().find_map(|record| match record {
        JournalRecord::StepFinished { address, result, .. } if address.to_string() == "esx-01/PortGroup/Prov" => {
            Some(result)
        }
        _ => None,
    });
    assert!(
        matches!(failure, Some(StepOutcome::Failed { fault: Some(Fault::InvalidArgument), message }) if message.contains("refused")),
        "{failure:?}"
    );
    assert!(records.contains(&JournalRecord::StepFinished {
        host: "esx-01".into(),
        address: "esx-01/VmkernelAdapter/prov".parse().unwrap(),
        phase: Phase::Create,
        result: StepOutcome::Blocked {
            by: "esx-01/PortGroup/Prov".parse().unwrap()
        },
    }));
}

#[test]
fn a_torn_last_line_is_tolerated_and_the_next_run_appends_after_it() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("journal.jsonl");
    let (plan, backend) = standard_setup();
    let first = apply(
        &plan,
        &backend,
        &fast_options().with_journal(Journal::open(&path).unwrap()),
    )
    .unwrap();
    let lines_of_first_run = records(&path).len();
    // A run killed in the middle of a write.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(br#"{"time":"2026-01-01T00:00:00.000Z","run_id":"killed","entry":"step_sta"#)
        .unwrap();
    let torn = read_journal(&path).unwrap();
    assert_eq!(torn.entries.len(), lines_of_first_run);
    assert_eq!(torn.damaged_lines, vec![lines_of_first_run + 1]);

    let second = apply(
        &plan,
        &backend,
        &fast_options().with_journal(Journal::open(&path).unwrap()),
    )
    .unwrap();
    assert_ne!(first.run_id, second.run_id);
    let contents = read_journal(&path).unwrap();
    assert_eq!(contents.damaged_lines, vec![lines_of_first_run + 1]);
    // The torn fragment got its own line: the second run's first line is intact.
    assert!(contents
        .entries
        .iter()
        .any(|entry| entry.run_id == second.run_id && matches!(entry.record, JournalRecord::RunStarted { .. })));
    let last_run = contents.last_run().unwrap();
    assert_eq!(last_run.run_id, second.run_id);
    assert!(last_run.finished);
    assert_eq!(last_run.succeeded, Some(true));
    assert_eq!(last_run.outcomes.get("already in target"), Some(&14));
    assert_eq!(last_run.outcomes.get("applied"), None);
}

#[test]
fn the_last_run_summary_names_where_a_killed_run_stopped() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("journal.jsonl");
    let journal = Journal::open(&path).unwrap();
    journal
        .append(
            "run-1",
            JournalRecord::RunStarted {
                target: "memory:test".into(),
                hosts: vec!["esx-01".into()],
                targets: Vec::new(),
            },
        )
        .unwrap();
    journal
        .append(
            "run-1",
            JournalRecord::StepStarted {
                host: "esx-01".into(),
                address: "esx-01/StandardSwitch/vSwitch1".parse().unwrap(),
                phase: Phase::Create,
                operations: vec!["add standard switch vSwitch1".into()],
            },
        )
        .unwrap();
    drop(journal);
    let last_run = read_journal(&path).unwrap().last_run().unwrap();
    assert!(!last_run.finished);
    assert_eq!(last_run.succeeded, None);
    assert_eq!(last_run.target.as_deref(), Some("memory:test"));
    assert_eq!(
        last_run.interrupted,
        vec!["esx-01/StandardSwitch/vSwitch1 (create)".to_owned()]
    );
}

#[test]
fn a_journal_that_cannot_be_opened_says_which_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("missing-directory").join("journal.jsonl");
    let message = Journal::open(&path).unwrap_err().to_string();
    assert!(message.contains("journal.jsonl"), "{message}");
    assert!(read_journal(&path).is_err());
}

#[test]
fn a_journal_that_cannot_be_written_is_reported_with_its_path_and_reason() {
    let (plan, backend) = standard_setup();
    // /dev/full opens for appending and refuses every write with "no space left on device".
    let options = fast_options().with_journal(Journal::open("/dev/full").unwrap());
    let report = apply(&plan, &backend, &options).unwrap();
    let problem = report.journal_problem.expect("the failed writes are reported");
    assert!(problem.contains("/dev/full"), "{problem}");
    assert!(problem.to_lowercase().contains("no space left"), "{problem}");
}

//! `snapshot:FILE` and fleet observation.

mod support;

use esxnet_executor::testing::{fresh_fleet, MemoryBackend};
use esxnet_executor::{
    apply, observe_fleet, observe_fleet_with, Backend, ExecutorError, FaultKind, Operation, RetryPolicy,
    SnapshotBackend,
};
use support::*;

#[test]
fn snapshots_are_read_from_json_and_yaml() {
    let directory = tempfile::tempdir().unwrap();
    let fleet = fresh_fleet(2);
    let json = directory.path().join("fleet.json");
    let yaml = directory.path().join("fleet.yaml");
    let unnamed = directory.path().join("fleet.snapshot");
    std::fs::write(&json, serde_json::to_string_pretty(&fleet).unwrap()).unwrap();
    std::fs::write(&yaml, serde_yaml::to_string(&fleet).unwrap()).unwrap();
    std::fs::write(&unnamed, serde_yaml::to_string(&fleet).unwrap()).unwrap();
    for path in [&json, &yaml, &unnamed] {
        let snapshot = SnapshotBackend::open(path).unwrap();
        assert_eq!(snapshot.fleet(), &fleet, "{}", path.display());
        assert_eq!(snapshot.observe("esx-02").unwrap(), fleet.hosts["esx-02"]);
        assert_eq!(
            snapshot.host_names().unwrap(),
            vec!["esx-01".to_owned(), "esx-02".to_owned()]
        );
        assert!(snapshot.describe().starts_with("snapshot:"));
    }
}

#[test]
fn snapshots_refuse_to_change_anything() {
    let snapshot = SnapshotBackend::from_fleet("fleet.yaml", fresh_fleet(2));
    assert!(!snapshot.is_writable());
    let error = snapshot
        .execute(
            "esx-01",
            &Operation::RemoveSwitch {
                name: "vSwitch0".into(),
            },
        )
        .unwrap_err();
    assert_eq!(error.kind, FaultKind::Permanent);
    assert_eq!(
        error.message,
        "snapshot targets are read-only; apply against sim: or vsphere:"
    );

    let plan = plan_text(MANIFESTS, snapshot.fleet());
    let refused = apply(&plan, &snapshot, &fast_options()).unwrap_err();
    assert!(matches!(refused, ExecutorError::ReadOnlyTarget { .. }));
    assert!(
        refused.to_string().contains("apply against sim: or vsphere:"),
        "{refused}"
    );
}

#[test]
fn bad_snapshots_name_the_file_and_the_problem() {
    let directory = tempfile::tempdir().unwrap();
    let broken = directory.path().join("broken.json");
    std::fs::write(&broken, "{\"hosts\": {\"esx-01\": {\"name\": 3}}}").unwrap();
    let message = SnapshotBackend::open(&broken).unwrap_err().to_string();
    assert!(
        message.contains("broken.json") && message.contains("not valid JSON"),
        "{message}"
    );
    assert!(message.contains("line 1"), "{message}");

    let missing = directory.path().join("missing.yaml");
    let message = SnapshotBackend::open(&missing).unwrap_err().to_string();
    assert!(
        message.starts_with("cannot read snapshot") && message.contains("missing.yaml"),
        "{message}"
    );
}

#[test]
fn observe_fleet_reads_every_host_in_parallel_and_retries() {
    let backend = MemoryBackend::new(fresh_fleet(5));
    backend.fail_observes_transiently("esx-03", 2);
    let names: Vec<String> = ["esx-01", "esx-03", "esx-05", "esx-09"].map(str::to_owned).to_vec();
    let fleet = observe_fleet_with(&backend, &names, 2, &RetryPolicy::fast()).unwrap();
    // esx-09 is unknown to the target: left out, for the planner to report against its manifest.
    assert_eq!(
        fleet.hosts.keys().cloned().collect::<Vec<_>>(),
        vec!["esx-01", "esx-03", "esx-05"]
    );
    assert_eq!(backend.calls("esx-03").observe, 3);
    assert_eq!(backend.calls("esx-02").observe, 0);

    let everything = observe_fleet(&backend, &[], 16).unwrap();
    assert_eq!(everything, backend.fleet());
}

#[test]
fn observe_fleet_reports_the_host_that_failed() {
    let backend = MemoryBackend::new(fresh_fleet(2));
    backend.fail_observes_transiently("esx-02", 100);
    let error = observe_fleet_with(&backend, &[], 4, &RetryPolicy::fast()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("could not observe host esx-02"), "{message}");
}

#[test]
fn observe_fleet_asks_a_batching_backend_once() {
    let snapshot = SnapshotBackend::from_fleet("fleet.json", fresh_fleet(3));
    let names = vec!["esx-01".to_owned(), "esx-04".to_owned()];
    let fleet = observe_fleet(&snapshot, &names, 8).unwrap();
    assert_eq!(fleet.hosts.keys().collect::<Vec<_>>(), vec!["esx-01"]);
}

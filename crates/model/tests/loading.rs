//! Loading a manifest directory with symbolic links: links back to a parent never loop, and a file
//! reached twice (through a link, or named on the command line beside its directory) is read once.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use esxnet_model::load::{load_paths, Loaded};

const HOST: &str = "apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-01}\n";
const SWITCH: &str = "apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {name: vSwitch1}
spec:
  hosts: {names: [esx-01]}
  mtu: 9000
";

/// Loads on another thread, failing instead of hanging when the walk never ends.
fn load_within_seconds(paths: Vec<PathBuf>) -> Loaded {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(load_paths(&paths));
    });
    receiver
        .recv_timeout(Duration::from_secs(20))
        .expect("loading finishes: symbolic links must not loop")
}

fn manifests(root: &Path) -> PathBuf {
    let directory = root.join("manifests");
    std::fs::create_dir_all(directory.join("nested")).unwrap();
    std::fs::write(directory.join("00-host.yaml"), HOST).unwrap();
    std::fs::write(directory.join("10-switch.yaml"), SWITCH).unwrap();
    // Three ways back up the tree, and two more ways to the same file.
    symlink("..", directory.join("nested/parent")).unwrap();
    symlink("../..", directory.join("nested/grandparent")).unwrap();
    symlink(".", directory.join("self")).unwrap();
    symlink("10-switch.yaml", directory.join("20-switch-again.yaml")).unwrap();
    symlink("../10-switch.yaml", directory.join("nested/30-switch-once-more.yaml")).unwrap();
    directory
}

#[test]
fn symbolic_link_loops_end_and_each_file_is_read_once() {
    let root = tempfile::tempdir().unwrap();
    let directory = manifests(root.path());
    let loaded = load_within_seconds(vec![directory.clone(), directory.join("10-switch.yaml")]);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    assert_eq!(loaded.files.len(), 2, "{:?}", loaded.files);
    assert_eq!(loaded.documents.len(), 2, "one Host and one StandardSwitch");
}

#[test]
fn a_directory_named_twice_is_not_empty_the_second_time() {
    let root = tempfile::tempdir().unwrap();
    let directory = manifests(root.path());
    let loaded = load_within_seconds(vec![directory.clone(), directory.join("self")]);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    assert_eq!(loaded.documents.len(), 2);
}

#[test]
fn a_broken_link_is_reported_by_name() {
    let root = tempfile::tempdir().unwrap();
    let directory = manifests(root.path());
    symlink("missing.yaml", directory.join("40-broken.yaml")).unwrap();
    let loaded = load_within_seconds(vec![directory]);
    assert_eq!(loaded.diagnostics.len(), 1, "{:?}", loaded.diagnostics);
    let message = loaded.diagnostics[0].to_string();
    assert!(message.contains("40-broken.yaml"), "{message}");
}

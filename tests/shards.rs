//! `--shard I/N` and `esxnet report merge` on a 1,000-host fleet, with the real binary: every host
//! is in exactly one shard, the shards' merged plan is the unsharded plan (the same JSON, the same
//! Markdown comment, the same exit code), and fleet-wide rules still see the whole fleet in every
//! shard (ESX013 for an address duplicated across two shards).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use esxnet::shard::Shard;
use serde_json::Value;
use support::{esxnet, Run};

const HOSTS: usize = 1000;
const SHARDS: u32 = 4;

fn plan(scratch: &Path, extra: &[&str]) -> Run {
    let mut arguments = vec!["plan", "manifests", "--target", "sim:lab", "--detailed-exitcode"];
    arguments.extend_from_slice(extra);
    esxnet(scratch, &arguments)
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("not JSON ({error}): {}", run.all()))
}

fn planned_hosts(plan: &Value) -> Vec<String> {
    plan["hosts"]
        .as_array()
        .expect("a plan lists its hosts")
        .iter()
        .map(|host| host["host"].as_str().expect("a host name").to_owned())
        .collect()
}

/// Plans every shard into `shard-I.json`; returns the files.
fn plan_shards(scratch: &Path, format: &str) -> Vec<PathBuf> {
    (1..=SHARDS)
        .map(|index| {
            let shard = format!("{index}/{SHARDS}");
            let run = plan(scratch, &["--shard", &shard, "--output", format]);
            assert_eq!(run.code, 2, "shard {shard} has changes: {}", run.stderr);
            let file = scratch.join(format!("shard-{index}.json"));
            std::fs::write(&file, &run.stdout).expect("write the shard's result");
            file
        })
        .collect()
}

#[test]
fn shards_partition_the_fleet_and_merge_into_the_unsharded_plan() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    let (_, names) = support::fleet::write_fleet(scratch, HOSTS);

    let whole = plan(scratch, &["--output", "json"]);
    assert_eq!(whole.code, 2, "a fresh fleet has changes: {}", whole.stderr);
    let whole_json = json(&whole);
    assert_eq!(planned_hosts(&whole_json).len(), HOSTS);

    let files = plan_shards(scratch, "json");
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (index, file) in (1..=SHARDS).zip(&files) {
        let shard: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        assert_eq!(shard["shard"], serde_json::json!({"index": index, "count": SHARDS}));
        let hosts = planned_hosts(&shard);
        // A quarter of a thousand, give or take what a hash gives: no shard is empty or most.
        assert!(
            (150..=350).contains(&hosts.len()),
            "shard {index} has {} hosts",
            hosts.len()
        );
        for host in hosts {
            assert_eq!(Shard::of_host(&host, SHARDS), index, "{host} planned in shard {index}");
            assert!(seen.insert(host.clone()), "{host} is in two shards");
        }
    }
    assert_eq!(
        seen,
        names.iter().cloned().collect::<BTreeSet<_>>(),
        "every host is in a shard"
    );

    let file_arguments: Vec<&str> = files.iter().map(|file| file.to_str().unwrap()).collect();
    let mut merge = vec!["report", "merge", "--output", "json"];
    merge.extend(&file_arguments);
    let merged = esxnet(scratch, &merge);
    assert_eq!(
        merged.code, whole.code,
        "the merged exit code is the unsharded one: {}",
        merged.stderr
    );
    assert_eq!(json(&merged), whole_json, "the merged plan is the unsharded plan");

    let whole_markdown = plan(scratch, &["--output", "markdown"]);
    let mut merge = vec!["report", "merge"];
    merge.extend(&file_arguments);
    let merged_markdown = esxnet(scratch, &merge);
    assert_eq!(merged_markdown.code, 2);
    assert_eq!(
        merged_markdown.stdout, whole_markdown.stdout,
        "one comment, as the unsharded plan's"
    );

    // A shard whose job died is not silently left out, nor is a shard given twice.
    let mut missing = vec!["report", "merge"];
    missing.extend(&file_arguments[..3]);
    let run = esxnet(scratch, &missing);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("shard 4/4 is missing"), "{}", run.stderr);
    let mut repeated = vec!["report", "merge"];
    repeated.extend(&file_arguments);
    repeated.push(file_arguments[0]);
    let run = esxnet(scratch, &repeated);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("both shard 1/4"), "{}", run.stderr);
    // Shard 1's result relabelled as shard 2: its hosts give it away.
    let relabelled = std::fs::read_to_string(&files[0])
        .unwrap()
        .replacen("\"index\": 1,", "\"index\": 2,", 1);
    std::fs::write(scratch.join("relabelled.json"), relabelled).unwrap();
    let run = esxnet(
        scratch,
        &[
            "report",
            "merge",
            file_arguments[0],
            "relabelled.json",
            file_arguments[2],
            file_arguments[3],
        ],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("says it is shard 2/4 but holds host"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_address_duplicated_across_two_shards_is_found_in_every_shard() {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let scratch = scratch.path();
    let (manifests, names) = support::fleet::write_fleet(scratch, HOSTS);
    let first = &names[0];
    let other = names
        .iter()
        .find(|name| Shard::of_host(name, SHARDS) != Shard::of_host(first, SHARDS))
        .expect("a host in another shard");
    std::fs::write(
        manifests.join("duplicate.yaml"),
        format!(
            "apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {{name: vSwitch2}}
spec:
  hosts: {{names: [{first}, {other}]}}
  portGroups: [{{name: Backup, vlan: 99}}]
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {{name: backup}}
spec:
  hosts: {{names: [{first}, {other}]}}
  portGroup: {{standardSwitch: vSwitch2, name: Backup}}
  ipv4:
    mode: static
    prefixLength: 24
    gatewayOverride: 10.99.0.254
    addresses: {{{first}: 10.99.0.1, {other}: 10.99.0.1}}
"
        ),
    )
    .expect("write the duplicate");
    for index in 1..=SHARDS {
        let shard = format!("{index}/{SHARDS}");
        let run = plan(scratch, &["--shard", &shard]);
        assert_eq!(run.code, 1, "shard {shard}: {}", run.all());
        assert!(
            run.stderr.contains("error[ESX013]") && run.stderr.contains("10.99.0.1"),
            "shard {shard} reports the duplicate: {}",
            run.stderr
        );
    }
}

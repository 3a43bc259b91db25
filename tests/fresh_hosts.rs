//! The examples on hosts that look freshly installed (as `esxnet sim init` makes them: learned IPv6
//! gateway, ESXi's own routes, DNS learned through DHCP), through `sim:` and through the vSphere API
//! against `esxnet sim serve`: the first plan shows only what the manifests declare, apply
//! converges, the next plan is empty, `drift` exits 0, and what the host learned stays learned.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use support::{examples, Run};

const EXAMPLE_HOSTS: &str = "esx-01.lab.example,esx-02.lab.example,esx-03.lab.example,esx-04.lab.example";
const PASSWORD: &str = "fresh-hosts-secret";

fn run(scratch: &Path, arguments: &[&str]) -> Run {
    support::with_password(scratch, PASSWORD, arguments)
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}", run.all()))
}

fn default_stack(host: &Value) -> &Value {
    host["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|stack| stack["stack"] == "default")
        .unwrap_or_else(|| panic!("no default stack in {host}"))
}

/// What each host learned by itself, as `observe` shows it.
fn learned(observed: &Value) -> BTreeMap<String, Value> {
    observed["hosts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, host)| {
            let stack = default_stack(host);
            let value = serde_json::json!({
                "dnsFromDhcp": stack["dnsFromDhcp"],
                "dns": stack["dns"],
                "ipv6Gateway": stack["ipv6Gateway"],
                "ipv6GatewayFromRouterAdvertisement": stack["ipv6GatewayFromRouterAdvertisement"],
                "routes": stack["routes"],
            });
            (name.clone(), value)
        })
        .collect()
}

fn the_examples_converge_on_fresh_hosts(scratch: &Path, target: &str, path: &str) {
    let examples = examples();
    let examples = examples.to_str().unwrap();
    let before = run(scratch, &["observe", "--target", target, "--output", "json"]);
    assert_eq!(before.code, 0, "{path}: {}", before.all());
    let learned_before = learned(&json(&before));
    for (host, values) in &learned_before {
        assert_eq!(values["dnsFromDhcp"], true, "{path}: {host} {values}");
        assert_eq!(
            values["ipv6GatewayFromRouterAdvertisement"], true,
            "{path}: {host} {values}"
        );
        assert_eq!(values["routes"], serde_json::json!([]), "{path}: {host} {values}");
    }

    // The first plan: the declared objects, and of the declared stacks the declared fields only.
    let first = run(scratch, &["plan", examples, "--target", target, "--output", "json"]);
    assert_eq!(first.code, 0, "{path}: {}", first.all());
    let plan = json(&first);
    let mut stack_fields: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for change in plan["changes"].as_array().unwrap() {
        let address = change["address"].as_str().unwrap();
        match change["action"].as_str().unwrap() {
            "noop" => continue,
            "create" => assert_ne!(change["kind"], "NetStack", "{path}: {address}"),
            "update" => {
                assert_eq!(
                    change["kind"], "NetStack",
                    "{path}: only declared stacks change: {address}"
                );
                let fields = change["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|field| field["path"].as_str().unwrap().to_owned())
                    .collect();
                stack_fields.insert(address.to_owned(), fields);
            }
            other => panic!("{path}: a fresh host plans {other} for {address}"),
        }
    }
    let declared_lab_a: BTreeSet<String> = [
        "dns.searchDomains",
        "dns.servers",
        "ipv4Gateway",
        "ipv6Gateway",
        "routes",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(
        stack_fields,
        BTreeMap::from([
            (
                "esx-01.lab.example/NetStack/provisioning".to_owned(),
                declared_lab_a.clone()
            ),
            ("esx-02.lab.example/NetStack/provisioning".to_owned(), declared_lab_a),
            (
                "esx-03.lab.example/NetStack/provisioning".to_owned(),
                BTreeSet::from(["ipv4Gateway".to_owned()])
            ),
            (
                "esx-04.lab.example/NetStack/provisioning".to_owned(),
                BTreeSet::from(["ipv4Gateway".to_owned()])
            ),
        ]),
        "{path}"
    );

    let applied = run(scratch, &["apply", examples, "--target", target, "--auto-approve"]);
    assert_eq!(applied.code, 0, "{path}: {}", applied.all());
    let replanned = run(scratch, &["plan", examples, "--target", target, "--detailed-exitcode"]);
    assert_eq!(
        replanned.code,
        0,
        "{path}: the plan after apply is empty: {}",
        replanned.all()
    );
    let drift = run(scratch, &["drift", examples, "--target", target]);
    assert_eq!(drift.code, 0, "{path}: {}", drift.all());

    let after = run(scratch, &["observe", "--target", target, "--output", "json"]);
    assert_eq!(after.code, 0, "{path}: {}", after.all());
    let after = json(&after);
    assert_eq!(
        learned(&after),
        learned_before,
        "{path}: what the hosts learned stays learned"
    );
    // The provisioning stacks got their static route, and only that: the connected subnets ESXi
    // adds for the new adapters are not static routes.
    for host in ["esx-01.lab.example", "esx-02.lab.example"] {
        let provisioning = after["hosts"][host]["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|stack| stack["stack"] == "provisioning")
            .unwrap();
        assert_eq!(
            provisioning["routes"],
            serde_json::json!([{"destination": "10.220.0.0/16", "gateway": "10.120.0.254"}]),
            "{path}: {host}"
        );
    }
}

fn new_lab(scratch: &Path) {
    // The examples' distributed port group is on a switch vCenter made; the lab stands in for it.
    let init = run(
        scratch,
        &[
            "sim",
            "init",
            "lab",
            "--hosts",
            EXAMPLE_HOSTS,
            "--dhcp-dns",
            "--distributed-switch",
            "dvs-lab:9000",
            "--distributed-port-group",
            "dvs-lab/dvpg-provisioning",
        ],
    );
    assert_eq!(init.code, 0, "{}", init.all());
}

#[test]
fn the_examples_converge_on_fresh_hosts_through_sim() {
    let scratch = tempfile::tempdir().unwrap();
    new_lab(scratch.path());
    the_examples_converge_on_fresh_hosts(scratch.path(), "sim:lab", "sim:");
}

#[test]
fn the_examples_converge_on_fresh_hosts_through_the_vsphere_api() {
    let scratch = tempfile::tempdir().unwrap();
    new_lab(scratch.path());
    let server = support::serve(scratch.path(), "lab", PASSWORD);
    the_examples_converge_on_fresh_hosts(scratch.path(), &server.target(), "vSphere");
}

#[test]
fn sim_init_can_make_hosts_with_ipv6_disabled() {
    let scratch = tempfile::tempdir().unwrap();
    let init = run(
        scratch.path(),
        &["sim", "init", "lab", "--hosts", "2", "--disable-ipv6"],
    );
    assert_eq!(init.code, 0, "{}", init.all());
    let observed = run(scratch.path(), &["observe", "--target", "sim:lab", "--output", "json"]);
    assert_eq!(observed.code, 0, "{}", observed.all());
    let observed = json(&observed);
    let hosts = observed["hosts"].as_object().unwrap();
    assert_eq!(hosts.len(), 2);
    for (name, host) in hosts {
        assert_eq!(host["ipv6Enabled"], false, "{name}");
        assert_eq!(default_stack(host)["ipv6Gateway"], Value::Null, "{name}");
        assert_eq!(
            default_stack(host)["dnsFromDhcp"],
            Value::Null,
            "{name}: static DNS by default"
        );
    }
}

/// An adapter and its stack, with no IPv6 declared, for hosts with IPv6 disabled.
const IPV4_ONLY_MANIFEST: &str = r#"apiVersion: esxnet/v1
kind: Host
metadata: {name: esx-1}
---
apiVersion: esxnet/v1
kind: StandardSwitch
metadata: {name: vSwitch1}
spec:
  hosts: {names: [esx-1]}
  mtu: 9000
  uplinks: [vmnic1]
  portGroups:
    - {name: vMotion, vlan: 130}
---
apiVersion: esxnet/v1
kind: VmkernelAdapter
metadata: {name: vmotion}
spec:
  hosts: {names: [esx-1]}
  stack: vmotion
  portGroup: {standardSwitch: vSwitch1, name: vMotion}
  mtu: 9000
  ipv4: {mode: static, prefixLength: 24, addresses: {esx-1: 10.130.0.11}}
---
apiVersion: esxnet/v1
kind: NetStack
metadata: {name: vmotion}
spec:
  hosts: {names: [esx-1]}
  stack: vmotion
  ipv4Gateway: 10.130.0.1
  routes: [{destination: 10.230.0.0/16, gateway: 10.130.0.254}]
"#;

/// On a host with IPv6 disabled, a new adapter gets no router advertisement (ESXi's default
/// elsewhere), so the apply is not refused halfway and converges.
fn an_ipv4_only_host_converges(scratch: &Path, target: &str, path: &str) {
    std::fs::write(scratch.join("ipv4-only.yaml"), IPV4_ONLY_MANIFEST).unwrap();
    let applied = run(
        scratch,
        &["apply", "ipv4-only.yaml", "--target", target, "--auto-approve"],
    );
    assert_eq!(applied.code, 0, "{path}: {}", applied.all());
    let replanned = run(
        scratch,
        &["plan", "ipv4-only.yaml", "--target", target, "--detailed-exitcode"],
    );
    assert_eq!(replanned.code, 0, "{path}: {}", replanned.all());
    let drift = run(scratch, &["drift", "ipv4-only.yaml", "--target", target]);
    assert_eq!(drift.code, 0, "{path}: {}", drift.all());
}

fn new_ipv4_only_lab(scratch: &Path) {
    let init = run(scratch, &["sim", "init", "lab", "--hosts", "esx-1", "--disable-ipv6"]);
    assert_eq!(init.code, 0, "{}", init.all());
}

#[test]
fn a_host_with_ipv6_disabled_converges_through_sim() {
    let scratch = tempfile::tempdir().unwrap();
    new_ipv4_only_lab(scratch.path());
    an_ipv4_only_host_converges(scratch.path(), "sim:lab", "sim:");
}

#[test]
fn a_host_with_ipv6_disabled_converges_through_the_vsphere_api() {
    let scratch = tempfile::tempdir().unwrap();
    new_ipv4_only_lab(scratch.path());
    let server = support::serve(scratch.path(), "lab", PASSWORD);
    an_ipv4_only_host_converges(scratch.path(), &server.target(), "vSphere");
}

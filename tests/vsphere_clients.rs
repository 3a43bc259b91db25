//! Independent vSphere clients against `esxnet sim serve`: a pyVmomi script and Ansible's
//! `community.vmware` modules change a host of the lab over SOAP, and `esxnet observe` must see
//! exactly what they made. Neither client shares any code with esxnet, so these are the tests
//! that the server speaks vSphere as other tools read it, not only as esxnet's own client does.
//!
//! The clients live in a virtualenv that `.ci/run` makes from `tests/clients/requirements.txt`
//! and names in `ESXNET_PYTHON` (its `ansible-playbook` sits beside the interpreter). Without it
//! the tests are skipped with a note; with `ESXNET_REQUIRE_CLIENTS=1` (as in CI) they fail.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{esxnet, repository, with_password, SimServer};

/// The virtualenv's interpreter, or `None` (after a note) when `ESXNET_PYTHON` is not set.
fn python() -> Option<PathBuf> {
    let Some(python) = std::env::var_os("ESXNET_PYTHON") else {
        assert!(
            std::env::var("ESXNET_REQUIRE_CLIENTS").as_deref() != Ok("1"),
            "ESXNET_REQUIRE_CLIENTS=1 but ESXNET_PYTHON is not set: python3 -m venv target/py && \
             target/py/bin/pip install -r tests/clients/requirements.txt, then ESXNET_PYTHON=target/py/bin/python"
        );
        eprintln!(
            "note: ESXNET_PYTHON is not set, skipping the pyVmomi and Ansible tests \
             (python3 -m venv target/py && target/py/bin/pip install -r tests/clients/requirements.txt)"
        );
        return None;
    };
    let python = PathBuf::from(python);
    assert!(python.exists(), "ESXNET_PYTHON names {python:?}, which does not exist");
    Some(python)
}

/// A two-host lab served on 127.0.0.1, in a scratch directory that lives as long as the server.
fn served_lab(password: &str) -> (tempfile::TempDir, SimServer) {
    let scratch = tempfile::tempdir().unwrap();
    let init = esxnet(
        scratch.path(),
        &["sim", "init", "lab", "--hosts", "esx-01.lab.example,esx-02.lab.example"],
    );
    assert_eq!(init.code, 0, "{}", init.all());
    let server = support::serve(scratch.path(), "lab", password);
    (scratch, server)
}

fn port(server: &SimServer) -> &str {
    server
        .address
        .strip_prefix("127.0.0.1:")
        .expect("sim serve listens on 127.0.0.1")
}

/// One host as `esxnet observe` reads it through the vSphere API (over SOAP, as the clients do).
fn observe(directory: &Path, server: &SimServer, password: &str, host: &str) -> Value {
    let target = format!("{}&transport=soap", server.target());
    let observed = with_password(
        directory,
        password,
        &["observe", "--target", &target, "--hosts", host, "--output", "json"],
    );
    assert_eq!(observed.code, 0, "{}", observed.all());
    let fleet: Value = serde_json::from_str(&observed.stdout).unwrap();
    fleet["hosts"][host].clone()
}

/// The member of `array` whose `field` is `value`.
fn named<'a>(array: &'a Value, field: &str, value: &str) -> &'a Value {
    array
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item[field] == value)
        .unwrap_or_else(|| panic!("no {field} {value:?} in {array:#}"))
}

fn run_client(mut command: Command) -> String {
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("the client starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn a_pyvmomi_script_adds_a_provisioning_adapter_and_gateway_that_esxnet_observes() {
    let Some(python) = python() else {
        return;
    };
    let password = format!("py-{:08x}", std::process::id());
    let (scratch, server) = served_lab(&password);
    let mut script = Command::new(&python);
    script
        .arg(repository().join("tests/clients/pyvmomi_provisioning.py"))
        .args(["--port", port(&server)])
        .args(["--cluster", "lab.example", "--host", "esx-01.lab.example"])
        .args(["--switch", "vSwitch1", "--port-group", "Provisioning", "--vlan", "30"])
        .args([
            "--address",
            "10.30.0.11",
            "--netmask",
            "255.255.255.0",
            "--gateway",
            "10.30.0.1",
        ])
        .current_dir(scratch.path())
        .env("ESXNET_PASSWORD", &password);
    let printed = run_client(script);
    let read: Value = serde_json::from_str(&printed).unwrap_or_else(|error| panic!("{error}: {printed}"));

    // What pyVmomi read back after its calls.
    let device = read["adapter"]["device"].as_str().unwrap().to_owned();
    assert_eq!(read["host"], "esx-01.lab.example", "{read:#}");
    assert_eq!(read["adapter"]["stack"], "vSphereProvisioning", "{read:#}");
    assert_eq!(read["adapter"]["dhcp"], false, "{read:#}");
    assert_eq!(read["adapter"]["address"], "10.30.0.11", "{read:#}");
    assert_eq!(read["adapter"]["netmask"], "255.255.255.0", "{read:#}");
    assert_eq!(read["adapter"]["portGroup"], "Provisioning", "{read:#}");
    assert_eq!(read["adapter"]["switch"], "vSwitch1", "{read:#}");
    assert_eq!(read["adapter"]["vlan"], 30, "{read:#}");
    assert_eq!(read["stack"]["key"], "vSphereProvisioning", "{read:#}");
    assert_eq!(read["stack"]["gateway"], "10.30.0.1", "{read:#}");
    // No service was selected: the Provisioning stack's adapter carries provisioning by itself.
    assert_eq!(read["services"], serde_json::json!(["vSphereProvisioning"]), "{read:#}");

    // What esxnet sees: the same adapter, address, stack and gateway.
    let host = observe(scratch.path(), &server, &password, "esx-01.lab.example");
    let adapter = named(&host["adapters"], "device", &device);
    assert_eq!(adapter["stack"], "provisioning", "{adapter:#}");
    assert_eq!(adapter["connection"]["type"], "standard", "{adapter:#}");
    assert_eq!(adapter["connection"]["switch"], "vSwitch1", "{adapter:#}");
    assert_eq!(adapter["connection"]["portGroup"], "Provisioning", "{adapter:#}");
    assert_eq!(adapter["ipv4"]["dhcp"], false, "{adapter:#}");
    assert_eq!(adapter["ipv4"]["address"], "10.30.0.11", "{adapter:#}");
    assert_eq!(adapter["ipv4"]["prefixLength"], 24, "{adapter:#}");
    assert_eq!(
        adapter["services"],
        serde_json::json!(["vSphereProvisioning"]),
        "{adapter:#}"
    );
    assert_eq!(
        named(&host["portGroups"], "name", "Provisioning")["vlan"],
        30,
        "{host:#}"
    );
    let stack = named(&host["stacks"], "stack", "provisioning");
    assert_eq!(stack["instantiated"], true, "{stack:#}");
    assert_eq!(stack["ipv4Gateway"], "10.30.0.1", "{stack:#}");
}

/// The `changed=` and `failed=` counts of the play recap's line for localhost.
fn recap(output: &str) -> (u32, u32) {
    let line = output
        .lines()
        .find(|line| line.starts_with("localhost") && line.contains(" ok="))
        .unwrap_or_else(|| panic!("no play recap in:\n{output}"));
    let count = |name: &str| -> u32 {
        line.split_whitespace()
            .find_map(|field| field.strip_prefix(name))
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    (count("changed="), count("failed="))
}

#[test]
fn ansible_community_vmware_converges_a_host_then_changes_nothing_and_esxnet_observes_it() {
    let Some(python) = python() else {
        return;
    };
    let playbook_command = python.with_file_name("ansible-playbook");
    assert!(
        playbook_command.exists(),
        "no ansible-playbook beside {python:?}: install tests/clients/requirements.txt into that virtualenv"
    );
    let password = format!("ans-{:08x}", std::process::id());
    let (scratch, server) = served_lab(&password);
    let ansible_home = scratch.path().join("ansible");
    let playbook = repository().join("tests/clients/ansible/converge.yml");
    let converge = || {
        let mut command = Command::new(&playbook_command);
        command
            .args(["-i", "localhost,"])
            .arg(&playbook)
            .args(["-e", &format!("vsphere_port={}", port(&server))])
            .args(["-e", "esxi_hostname=esx-02.lab.example"])
            .current_dir(scratch.path())
            // Ansible's state, temporary files and collections path inside the scratch directory,
            // so that only the collections bundled with the pinned `ansible` package are used.
            .env("ANSIBLE_HOME", &ansible_home)
            .env("ANSIBLE_LOCAL_TEMP", ansible_home.join("tmp"))
            .env("ANSIBLE_REMOTE_TEMP", ansible_home.join("remote-tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env_remove("ANSIBLE_CONFIG")
            .env_remove("ANSIBLE_COLLECTIONS_PATH")
            .env("VMWARE_PASSWORD", &password);
        run_client(command)
    };

    let first = converge();
    assert_eq!(recap(&first), (4, 0), "the first run changes all four tasks:\n{first}");
    let second = converge();
    assert_eq!(recap(&second), (0, 0), "the second run changes nothing:\n{second}");

    let host = observe(scratch.path(), &server, &password, "esx-02.lab.example");
    let switch = named(&host["switches"], "name", "vSwitchProv");
    assert_eq!(switch["mtu"], 9000, "{switch:#}");
    assert_eq!(switch["uplinks"], serde_json::json!(["vmnic2"]), "{switch:#}");
    assert_eq!(switch["policy"]["numPorts"], 128, "{switch:#}");
    let port_group = named(&host["portGroups"], "name", "prov-ansible");
    assert_eq!(port_group["switch"], "vSwitchProv", "{port_group:#}");
    assert_eq!(port_group["vlan"], 40, "{port_group:#}");
    let adapters: Vec<&Value> = host["adapters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|adapter| adapter["connection"]["portGroup"] == "prov-ansible")
        .collect();
    assert_eq!(
        adapters.len(),
        1,
        "one adapter on the port group after two runs: {host:#}"
    );
    let adapter = adapters[0];
    assert_eq!(adapter["connection"]["switch"], "vSwitchProv", "{adapter:#}");
    assert_eq!(adapter["stack"], "provisioning", "{adapter:#}");
    assert_eq!(adapter["mtu"], 9000, "{adapter:#}");
    assert_eq!(adapter["ipv4"]["dhcp"], false, "{adapter:#}");
    assert_eq!(adapter["ipv4"]["address"], "10.40.0.12", "{adapter:#}");
    assert_eq!(adapter["ipv4"]["prefixLength"], 24, "{adapter:#}");
    assert_eq!(
        adapter["services"],
        serde_json::json!(["vSphereProvisioning"]),
        "{adapter:#}"
    );
    let stack = named(&host["stacks"], "stack", "provisioning");
    assert_eq!(stack["instantiated"], true, "{stack:#}");
    assert_eq!(stack["ipv4Gateway"], "10.40.0.1", "{stack:#}");
}

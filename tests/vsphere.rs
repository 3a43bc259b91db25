//! The vSphere backend end to end, with the real binary against `esxnet sim serve` (the simulator
//! behind the vSphere API): apply converges, errors are clear and exit 1, and credentials never
//! appear in anything a run writes.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{esxnet, examples, with_password};

const EXAMPLE_HOSTS: &str = "esx-01.lab.example,esx-02.lab.example,esx-03.lab.example,esx-04.lab.example";
/// The distributed switch and port group the examples expect vCenter to have made.
const EXAMPLE_DISTRIBUTED_SWITCH: [&str; 4] = [
    "--distributed-switch",
    "dvs-lab:9000",
    "--distributed-port-group",
    "dvs-lab/dvpg-provisioning",
];

fn target(server: &support::SimServer, options: &str) -> String {
    format!("vsphere://root@{}?insecure=true{options}", server.address)
}

fn files_below(directory: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_below(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn apply_through_the_vsphere_api_converges_and_never_writes_the_password() {
    // `transport=auto` finds VI JSON on sim serve (its release discovery answers).
    converges_and_never_writes_the_password("");
}

/// The same converge-and-replan run over SOAP, the only protocol of a standalone ESXi host.
#[test]
fn over_soap_apply_converges_and_never_writes_the_password() {
    // (`transport=soap` makes vim_rs speak SOAP only; the library tests in sim-server assert the
    // protocol the backend chose.)
    converges_and_never_writes_the_password("&transport=soap");
}

fn converges_and_never_writes_the_password(options: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let password = format!("pw-{:08x}-secret", std::process::id());
    let init = esxnet(
        scratch.path(),
        &[
            &["sim", "init", "lab", "--hosts", EXAMPLE_HOSTS][..],
            &EXAMPLE_DISTRIBUTED_SWITCH,
        ]
        .concat(),
    );
    assert_eq!(init.code, 0, "{}", init.all());
    let server = support::serve(scratch.path(), "lab", &password);
    let target = target(&server, options);
    let examples = examples();
    let examples = examples.to_str().unwrap();
    let mut runs = Vec::new();
    let applied = with_password(
        scratch.path(),
        &password,
        &["apply", examples, "--target", &target, "--auto-approve"],
    );
    assert_eq!(applied.code, 0, "{}", applied.all());
    assert!(
        applied.stdout.contains("Apply complete: 17 steps applied"),
        "{}",
        applied.stdout
    );
    runs.push(applied);
    let planned = with_password(
        scratch.path(),
        &password,
        &[
            "plan",
            examples,
            "--target",
            &target,
            "--detailed-exitcode",
            "--out",
            "plan.json",
        ],
    );
    assert_eq!(planned.code, 0, "the plan after apply is empty: {}", planned.all());
    runs.push(planned);
    let drift = with_password(
        scratch.path(),
        &password,
        &["drift", examples, "--target", &target, "--output", "json"],
    );
    assert_eq!(drift.code, 0, "{}", drift.all());
    runs.push(drift);
    let observed = with_password(
        scratch.path(),
        &password,
        &["observe", "--target", &target, "--output", "json"],
    );
    assert_eq!(observed.code, 0, "{}", observed.all());
    // The seed's "existing network" path: lab C's adapter is on the distributed port group.
    let fleet: serde_json::Value = serde_json::from_str(&observed.stdout).unwrap();
    let on_distributed_port_group: Vec<&serde_json::Value> = fleet["hosts"]["esx-04.lab.example"]["adapters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|adapter| adapter["connection"]["type"] == "distributed")
        .collect();
    assert_eq!(on_distributed_port_group.len(), 1, "{}", observed.stdout);
    let adapter = on_distributed_port_group[0];
    assert_eq!(adapter["connection"]["switch"], "dvs-lab", "{adapter}");
    assert_eq!(adapter["connection"]["portGroup"], "dvpg-provisioning", "{adapter}");
    assert_eq!(adapter["stack"], "provisioning", "{adapter}");
    assert_eq!(adapter["ipv4"]["address"], "10.140.0.14", "{adapter}");
    runs.push(observed);
    let wrong = with_password(
        scratch.path(),
        &format!("{password}-wrong"),
        &["observe", "--target", &target],
    );
    assert_eq!(wrong.code, 1);
    runs.push(wrong);
    // Everything the runs printed or wrote: outputs, the journal, the saved plan, the lab.
    for run in &runs {
        assert!(
            !run.all().contains(&password),
            "a run printed the password: {}",
            run.all()
        );
    }
    let written = files_below(scratch.path());
    assert!(
        written.iter().any(|file| file.ends_with(".esxnet/journal.jsonl")),
        "{written:?}"
    );
    assert!(written.iter().any(|file| file.ends_with("plan.json")), "{written:?}");
    for file in written {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&password),
            "{} holds the password",
            file.display()
        );
    }
}

#[test]
fn a_wrong_password_exits_1_with_a_clear_error() {
    let scratch = tempfile::tempdir().unwrap();
    assert_eq!(esxnet(scratch.path(), &["sim", "init", "lab", "--hosts", "2"]).code, 0);
    let server = support::serve(scratch.path(), "lab", "right");
    let run = with_password(scratch.path(), "wrong", &["observe", "--target", &target(&server, "")]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("refused the user name or password"),
        "{}",
        run.stderr
    );
}

#[test]
fn over_soap_a_wrong_password_exits_1_with_the_same_clear_error() {
    let scratch = tempfile::tempdir().unwrap();
    assert_eq!(esxnet(scratch.path(), &["sim", "init", "lab", "--hosts", "2"]).code, 0);
    let server = support::serve(scratch.path(), "lab", "right");
    let run = with_password(
        scratch.path(),
        "wrong",
        &["observe", "--target", &target(&server, "&transport=soap")],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("refused the user name or password"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_untrusted_certificate_without_insecure_exits_1_saying_what_to_do() {
    let scratch = tempfile::tempdir().unwrap();
    assert_eq!(esxnet(scratch.path(), &["sim", "init", "lab", "--hosts", "2"]).code, 0);
    let server = support::serve(scratch.path(), "lab", "right");
    let target = format!("vsphere://root@{}", server.address);
    let run = with_password(scratch.path(), "right", &["observe", "--target", &target]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("certificate"), "{}", run.stderr);
    assert!(run.stderr.contains("insecure=true"), "{}", run.stderr);
}

#[test]
fn a_refused_connection_exits_1_with_a_clear_error() {
    let scratch = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("vsphere://root@127.0.0.1:{port}?insecure=true");
    let run = with_password(
        scratch.path(),
        "any",
        &["plan", examples().to_str().unwrap(), "--target", &target],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("could not reach 127.0.0.1"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn a_server_that_stops_mid_apply_exits_1_and_the_journal_says_what_was_applied() {
    let scratch = tempfile::tempdir().unwrap();
    let init = esxnet(
        scratch.path(),
        &["sim", "init", "lab", "--hosts", "40", "--latency-ms", "40"],
    );
    assert_eq!(init.code, 0, "{}", init.all());
    let manifests = support::fleet_manifests(scratch.path(), 40);
    let mut server = support::serve(scratch.path(), "lab", "right");
    let target = target(&server, "");
    let mut apply = support::command(
        scratch.path(),
        &[
            "apply",
            manifests.to_str().unwrap(),
            "--target",
            &target,
            "--auto-approve",
            "--parallelism",
            "4",
        ],
    )
    .env("ESXNET_PASSWORD", "right")
    .spawn()
    .expect("apply starts");
    // Let some steps finish (the journal says so), then take the server away. At 40 ms a call and
    // four hosts at a time, the 280 steps take at least 3 s, so most are still to come.
    let journal_path = scratch.path().join(".esxnet/journal.jsonl");
    let waiting_since = std::time::Instant::now();
    while waiting_since.elapsed() < Duration::from_secs(60) {
        let journal = std::fs::read_to_string(&journal_path).unwrap_or_default();
        let applied = journal
            .lines()
            .filter(|line| line.contains("\"step_finished\"") && line.contains("\"applied\""))
            .count();
        if applied >= 8 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = server.child.kill();
    let _ = server.child.wait();
    let mut stdout = String::new();
    let mut stderr = String::new();
    use std::io::Read;
    apply.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    apply.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = apply.wait().unwrap();
    assert_eq!(status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("Apply incomplete"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("could not reach") || stdout.contains("retries ran out"),
        "{stdout}"
    );
    let journal = std::fs::read_to_string(scratch.path().join(".esxnet/journal.jsonl")).expect("a journal");
    let applied = journal
        .lines()
        .filter(|line| line.contains("\"step_finished\"") && line.contains("\"applied\""))
        .count();
    let failed = journal
        .lines()
        .filter(|line| line.contains("\"step_finished\"") && line.contains("\"failed\""))
        .count();
    assert!(
        applied > 0,
        "the journal records what was applied before the server went away:\n{journal}"
    );
    assert!(failed > 0, "and what failed after:\n{journal}");
    // The lab itself is intact: a new server over it, and apply again converges.
    let server = support::serve(scratch.path(), "lab", "right");
    let target = format!("vsphere://root@{}?insecure=true", server.address);
    let resumed = with_password(
        scratch.path(),
        "right",
        &[
            "apply",
            manifests.to_str().unwrap(),
            "--target",
            &target,
            "--auto-approve",
        ],
    );
    assert_eq!(resumed.code, 0, "{}", resumed.all());
}

/// vcsim's URL and credentials when CI (or a developer) started it: `scripts/vcsim/vcsim.sh start`.
fn vcsim() -> Option<(String, String, String)> {
    let Ok(url) = std::env::var("ESXNET_VCSIM_URL") else {
        assert!(
            std::env::var("ESXNET_REQUIRE_VCSIM").as_deref() != Ok("1"),
            "ESXNET_REQUIRE_VCSIM=1 but ESXNET_VCSIM_URL is not set: eval \"$(bash scripts/vcsim/vcsim.sh start)\""
        );
        eprintln!("note: ESXNET_VCSIM_URL is not set, skipping the vcsim test");
        return None;
    };
    let address = url.trim_start_matches("https://").trim_end_matches("/sdk").to_owned();
    let user = std::env::var("ESXNET_VCSIM_USERNAME").unwrap_or_else(|_| "user".to_owned());
    let password = std::env::var("ESXNET_VCSIM_PASSWORD").unwrap_or_else(|_| "pass".to_owned());
    Some((address, user, password))
}

#[test]
fn against_vcsim_a_switch_and_port_group_apply_and_replan_empty_and_adapters_are_not_implemented() {
    let Some((address, user, password)) = vcsim() else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    // vcsim's standalone host; a switch name of this test's own, since other tests share the server.
    let switch = format!("vSwitchE2e{}", std::process::id() % 10_000);
    std::fs::write(
        scratch.path().join("switch.yaml"),
        format!(
            "apiVersion: esxnet/v1\nkind: Host\nmetadata: {{name: localhost.localdomain}}\n---\n\
apiVersion: esxnet/v1\nkind: StandardSwitch\nmetadata: {{name: {switch}}}\nspec:\n  hosts: {{names: [localhost.localdomain]}}\n  portGroups:\n    - {{name: {switch}-pg, vlan: 42}}\n"
        ),
    )
    .unwrap();
    let target = format!("vsphere://{user}@{address}?insecure=true&transport=soap");
    let applied = with_password(
        scratch.path(),
        &password,
        &["apply", "switch.yaml", "--target", &target, "--auto-approve"],
    );
    assert_eq!(applied.code, 0, "{}", applied.all());
    assert!(
        applied.stdout.contains("Apply complete: 2 steps applied"),
        "{}",
        applied.stdout
    );
    let replanned = with_password(
        scratch.path(),
        &password,
        &["plan", "switch.yaml", "--target", &target, "--detailed-exitcode"],
    );
    assert_eq!(
        replanned.code,
        0,
        "re-planning against vcsim is empty: {}",
        replanned.all()
    );
    // vcsim has no AddVirtualNic: apply fails clearly, exit 1, no panic.
    std::fs::write(
        scratch.path().join("adapter.yaml"),
        format!(
            "apiVersion: esxnet/v1\nkind: VmkernelAdapter\nmetadata: {{name: extra}}\nspec:\n  hosts: {{names: [localhost.localdomain]}}\n  portGroup: {{standardSwitch: {switch}, name: {switch}-pg}}\n  ipv4: {{mode: dhcp}}\n"
        ),
    )
    .unwrap();
    let adapter = with_password(
        scratch.path(),
        &password,
        &[
            "apply",
            "switch.yaml",
            "adapter.yaml",
            "--target",
            &target,
            "--auto-approve",
        ],
    );
    assert_eq!(adapter.code, 1, "{}", adapter.all());
    assert!(
        adapter.stdout.contains("not implemented by this server"),
        "{}",
        adapter.all()
    );
    assert!(!adapter.all().contains("panicked"), "{}", adapter.all());
}

//! The lab on disk: layout, creation, atomic writes, the writer lock, and the lab behind the
//! executor's `Backend` trait with counters, latency and transient faults.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use esxnet_executor::backend::Ipv4Settings;
use esxnet_executor::{Backend, Fault, Operation};
use esxnet_model::common::{EsxiVersion, Service, StackKind};
use esxnet_model::observed::{
    DistributedPortGroup, DistributedSwitchMembership, MigrationKind, ObservedHost, PortConnection, Teaming,
};
use esxnet_sim::{HostNames, InitOptions, Lab, LabSettings, SimBackend, SimError};

const CHILD_LAB_VARIABLE: &str = "ESXNET_SIM_TEST_CHILD_LAB";

fn init(dir: &Path, hosts: HostNames) -> Lab {
    Lab::init(
        dir,
        &InitOptions {
            hosts,
            ..InitOptions::default()
        },
    )
    .unwrap()
}

fn add_port_group(name: &str) -> Operation {
    Operation::AddPortGroup {
        name: name.to_owned(),
        switch: "vSwitch0".to_owned(),
        vlan: 7,
        teaming: Default::default(),
        security: Default::default(),
    }
}

#[test]
fn counted_hosts_are_named_with_the_width_of_the_count() {
    assert_eq!(HostNames::Count(3).resolve(), ["esx-1", "esx-2", "esx-3"]);
    let ten = HostNames::Count(10).resolve();
    assert_eq!((ten[0].as_str(), ten[9].as_str()), ("esx-01", "esx-10"));
    let two_hundred = HostNames::Count(200).resolve();
    assert_eq!(
        (two_hundred[0].as_str(), two_hundred[199].as_str()),
        ("esx-001", "esx-200")
    );
    assert_eq!("4".parse::<HostNames>().unwrap(), HostNames::Count(4));
    assert_eq!(
        "esx-a, esx-b".parse::<HostNames>().unwrap(),
        HostNames::Names(vec!["esx-a".to_owned(), "esx-b".to_owned()])
    );
    assert!(",".parse::<HostNames>().is_err());
}

#[test]
fn init_lays_out_settings_and_one_file_per_host() {
    let dir = tempfile::tempdir().unwrap();
    let lab_dir = dir.path().join("lab");
    let lab = Lab::init(
        &lab_dir,
        &InitOptions {
            hosts: HostNames::Count(10),
            version: EsxiVersion::new(7, 0, 3),
            latency_ms: 5,
            transient_fault_rate: 0.25,
            seed: 42,
            ..InitOptions::default()
        },
    )
    .unwrap();
    assert!(lab.is_writer());
    drop(lab);
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab_dir.join("lab.json")).unwrap()).unwrap();
    assert_eq!(settings["formatVersion"], 1);
    assert_eq!(settings["latencyMs"], 5);
    assert_eq!(settings["transientFaultRate"], 0.25);
    assert_eq!(settings["seed"], 42);
    let lab = Lab::open(&lab_dir).unwrap();
    assert!(!lab.is_writer());
    let names = lab.host_names().unwrap();
    assert_eq!(names.len(), 10);
    assert_eq!(names[0], "esx-01");
    assert!(lab_dir.join("hosts/esx-10.json").is_file());
    let host = lab.observe("esx-10").unwrap();
    assert_eq!(host.version, EsxiVersion::new(7, 0, 3));
    assert_eq!(host.name, "esx-10");
    // Addresses are unique across the lab.
    let fleet = lab.observe_all().unwrap();
    let addresses: BTreeSet<_> = fleet
        .hosts
        .values()
        .map(|host| host.adapter("vmk0").unwrap().ipv4.address)
        .collect();
    assert_eq!(addresses.len(), 10);
}

#[test]
fn init_refuses_an_existing_lab_and_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    drop(init(dir.path(), HostNames::Count(2)));
    let error = Lab::init(dir.path(), &InitOptions::default()).unwrap_err();
    assert!(matches!(error, SimError::LabExists { .. }), "{error}");
    // The existing lab is untouched.
    assert_eq!(Lab::open(dir.path()).unwrap().host_names().unwrap(), ["esx-1", "esx-2"]);
    let other = tempfile::tempdir().unwrap();
    for options in [
        InitOptions {
            hosts: HostNames::Count(0),
            ..InitOptions::default()
        },
        InitOptions {
            transient_fault_rate: 1.5,
            ..InitOptions::default()
        },
        InitOptions {
            latency_ms: LabSettings::MAXIMUM_LATENCY_MS + 1,
            ..InitOptions::default()
        },
        InitOptions {
            hosts: HostNames::Names(vec!["a".to_owned(), "a".to_owned()]),
            ..InitOptions::default()
        },
        InitOptions {
            hosts: HostNames::Names(vec!["../escape".to_owned()]),
            ..InitOptions::default()
        },
    ] {
        let error = Lab::init(other.path(), &options).unwrap_err();
        assert_eq!(error.fault(), Fault::InvalidArgument, "{error}");
    }
    assert!(!Lab::exists(other.path()));
}

#[test]
fn create_with_hosts_makes_exactly_those_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let lab_dir = dir.path().join("new").join("lab");
    let names = vec!["esx-lon-01".to_owned(), "esx-par-01".to_owned()];
    drop(Lab::create_with_hosts(&lab_dir, &names, EsxiVersion::new(8, 0, 3)).unwrap());
    let backend = SimBackend::open(&lab_dir).unwrap();
    assert_eq!(backend.host_names().unwrap(), names);
    assert_eq!(backend.describe(), format!("sim:{}", lab_dir.display()));
    let error = SimBackend::open(dir.path()).unwrap_err();
    assert!(matches!(error, SimError::NotALab { .. }), "{error}");
}

#[test]
fn observed_state_round_trips_through_json_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let lab = init(dir.path(), HostNames::Count(1));
    lab.modify_host("esx-1", |host| {
        host.join_distributed_switch(DistributedSwitchMembership {
            name: "dvs".to_owned(),
            uuid: "50 2a".to_owned(),
            mtu: 9000,
            port_groups: vec![DistributedPortGroup {
                name: "dv-vmotion".to_owned(),
                key: "dvportgroup-1".to_owned(),
                vlan: 40,
            }],
        })?;
        let device = host.add_virtual_nic(&esxnet_sim::NewAdapter {
            connection: PortConnection::Distributed {
                switch: "dvs".to_owned(),
                port_group: "dv-vmotion".to_owned(),
            },
            stack: StackKind::Vmotion,
            mtu: 9000,
            ipv4: Ipv4Settings {
                dhcp: false,
                address: Some([192, 168, 40, 11].into()),
                prefix_length: Some(24),
                gateway_override: Some([192, 168, 40, 1].into()),
            },
            ipv6: Some(esxnet_executor::backend::Ipv6Settings {
                dhcp: true,
                router_advertisement: true,
                addresses: BTreeSet::from(["2001:db8:40::11/64".parse().unwrap()]),
                gateway_override: Some("fe80::1".parse().unwrap()),
            }),
        })?;
        host.start_migration(MigrationKind::Live, &device)?;
        Ok(())
    })
    .unwrap();
    let observed = lab.observe("esx-1").unwrap();
    let text = serde_json::to_string(&observed).unwrap();
    let back: ObservedHost = serde_json::from_str(&text).unwrap();
    assert_eq!(back, observed);
    assert_eq!(observed.active_migrations.len(), 1);
    // A whole-fleet observe says the same as per-host ones.
    let backend = SimBackend::from_lab(lab);
    let fleet = backend.observe_many(&["esx-1".to_owned()]).unwrap();
    assert_eq!(fleet.hosts["esx-1"], observed);
}

#[test]
fn stray_temporary_files_are_ignored_and_foreign_formats_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(init(dir.path(), HostNames::Count(2)));
    std::fs::write(
        dir.path().join("hosts/.esxnet-partial-abc123"),
        b"{\"formatVersion\": 1, \"obs",
    )
    .unwrap();
    std::fs::write(dir.path().join("hosts/notes.txt"), b"not a host").unwrap();
    let lab = Lab::open(dir.path()).unwrap();
    assert_eq!(lab.host_names().unwrap(), ["esx-1", "esx-2"]);
    assert_eq!(lab.observe_all().unwrap().hosts.len(), 2);
    let mut raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("hosts/esx-2.json")).unwrap()).unwrap();
    raw["formatVersion"] = 99.into();
    std::fs::write(dir.path().join("hosts/esx-2.json"), raw.to_string()).unwrap();
    let error = lab.observe("esx-2").unwrap_err();
    assert!(
        matches!(error, SimError::UnsupportedFormat { found: 99, .. }),
        "{error}"
    );
    let error = lab.observe("esx-9").unwrap_err();
    assert_eq!(error.fault(), Fault::UnknownHost);
}

#[test]
fn a_second_writer_fails_naming_the_holder_then_succeeds_after_release() {
    let dir = tempfile::tempdir().unwrap();
    drop(init(dir.path(), HostNames::Count(1)));
    let first = SimBackend::open_writer(dir.path()).unwrap();
    let started = Instant::now();
    let error = Lab::open_writer_waiting(dir.path(), Duration::from_millis(400)).unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "it waits before giving up"
    );
    assert!(matches!(error, SimError::LockHeld { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
    assert!(message.contains("command `"), "{message}");
    assert_eq!(error.fault(), Fault::Busy);
    // Readers need no lock.
    SimBackend::open(dir.path()).unwrap().observe("esx-1").unwrap();
    drop(first);
    let second = Lab::open_writer_waiting(dir.path(), Duration::from_millis(400)).unwrap();
    second.reboot("esx-1").unwrap();
}

#[test]
fn a_second_writer_gets_the_lock_once_the_first_releases_it_while_waiting() {
    let dir = tempfile::tempdir().unwrap();
    drop(init(dir.path(), HostNames::Count(1)));
    let first = Lab::open_writer(dir.path()).unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(first);
    });
    let second = Lab::open_writer_waiting(dir.path(), Duration::from_secs(5));
    releaser.join().unwrap();
    assert!(second.unwrap().is_writer());
}

#[test]
fn read_only_labs_refuse_changes() {
    let dir = tempfile::tempdir().unwrap();
    drop(init(dir.path(), HostNames::Count(1)));
    let backend = SimBackend::open(dir.path()).unwrap();
    assert!(!backend.is_writable());
    let error = backend.execute("esx-1", &add_port_group("x")).unwrap_err();
    assert_eq!(error.fault, Fault::InvalidState);
    assert!(matches!(backend.lab().reboot("esx-1"), Err(SimError::ReadOnly { .. })));
    assert!(backend.observe("esx-1").unwrap().port_group("x").is_none());
}

#[test]
fn execute_performs_operations_persistently_and_maps_faults() {
    let dir = tempfile::tempdir().unwrap();
    drop(init(dir.path(), HostNames::Count(2)));
    let backend = SimBackend::open_writer(dir.path()).unwrap();
    let operations = [
        Operation::AddSwitch {
            name: "vSwitch1".to_owned(),
            mtu: 9000,
            uplinks: BTreeSet::from(["vmnic1".to_owned(), "vmnic2".to_owned()]),
            teaming: Teaming {
                active: vec!["vmnic2".to_owned()],
                standby: vec!["vmnic1".to_owned()],
            },
            teaming_policy: Default::default(),
            security: Default::default(),
        },
        Operation::AddPortGroup {
            name: "Provisioning".to_owned(),
            switch: "vSwitch1".to_owned(),
            vlan: 50,
            teaming: Default::default(),
            security: Default::default(),
        },
    ];
    for operation in &operations {
        assert_eq!(backend.execute("esx-1", operation).unwrap().created_device, None);
    }
    let outcome = backend
        .execute(
            "esx-1",
            &Operation::AddAdapter {
                connection: PortConnection::Standard {
                    switch: "vSwitch1".to_owned(),
                    port_group: "Provisioning".to_owned(),
                },
                stack: StackKind::Provisioning,
                mtu: 9000,
                ipv4: Ipv4Settings {
                    dhcp: false,
                    address: Some([192, 168, 50, 11].into()),
                    prefix_length: Some(24),
                    gateway_override: None,
                },
                ipv6: None,
            },
        )
        .unwrap();
    assert_eq!(outcome.created_device.as_deref(), Some("vmk1"));
    // Sending an operation again answers the fault ESXi gives.
    let error = backend.execute("esx-1", &operations[0]).unwrap_err();
    assert_eq!((error.fault, error.is_transient()), (Fault::AlreadyExists, false));
    let error = backend
        .execute(
            "esx-1",
            &Operation::SelectService {
                device: "vmk1".to_owned(),
                service: Service::Management,
            },
        )
        .unwrap_err();
    assert_eq!(error.fault, Fault::InvalidArgument);
    let error = backend.execute("esx-9", &add_port_group("x")).unwrap_err();
    assert_eq!(error.fault, Fault::UnknownHost);
    drop(backend);
    // Another process (here another backend) sees the changes; the other host is untouched.
    let reader = SimBackend::open(dir.path()).unwrap();
    let host = reader.observe("esx-1").unwrap();
    assert_eq!(
        host.adapter("vmk1").unwrap().services,
        BTreeSet::from([Service::Provisioning])
    );
    assert_eq!(host.switch("vSwitch1").unwrap().teaming.standby, ["vmnic1"]);
    assert!(reader.observe("esx-2").unwrap().switch("vSwitch1").is_none());
}

#[test]
fn counters_count_calls_per_host_and_method_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    drop(init(dir.path(), HostNames::Count(3)));
    let backend = SimBackend::open_writer(dir.path()).unwrap();
    backend.observe("esx-1").unwrap();
    backend.observe("esx-1").unwrap();
    backend.execute("esx-2", &add_port_group("a")).unwrap();
    backend.execute("esx-2", &add_port_group("a")).unwrap_err();
    let names = backend.host_names().unwrap();
    backend.observe_many(&names).unwrap();
    let counters = backend.counters();
    assert_eq!(counters.hosts["esx-1"].calls["RetrieveProperties"], 3);
    assert_eq!(counters.hosts["esx-2"].calls["AddPortGroup"], 2);
    assert_eq!(counters.hosts["esx-2"].calls["RetrieveProperties"], 1);
    assert_eq!(counters.hosts["esx-3"].total(), 1);
    assert_eq!(counters.total_calls, 7);
    assert_eq!(counters.batched_observations, 1);
    let json = serde_json::to_value(&counters).unwrap();
    assert_eq!(json["hosts"]["esx-2"]["calls"]["AddPortGroup"], 2);
    drop(backend);
    // The writer left them in the lab when it finished.
    assert_eq!(SimBackend::read_counters(dir.path()).unwrap(), counters);
    // An explicit flush works for readers too.
    let reader = SimBackend::open(dir.path()).unwrap();
    reader.observe("esx-3").unwrap();
    reader.flush_counters().unwrap();
    assert_eq!(SimBackend::read_counters(dir.path()).unwrap().total_calls, 1);
}

fn faulty_lab(dir: &Path, rate: f64, seed: u64) {
    drop(
        Lab::init(
            dir,
            &InitOptions {
                hosts: HostNames::Count(2),
                transient_fault_rate: rate,
                seed,
                ..InitOptions::default()
            },
        )
        .unwrap(),
    );
}

/// The outcome of 64 alternating calls: `None` for success, the fault otherwise.
fn fault_sequence(dir: &Path) -> Vec<Option<Fault>> {
    let backend = SimBackend::open_writer(dir).unwrap();
    (0..64)
        .map(|call: u32| {
            let result = if call.is_multiple_of(2) {
                backend.observe("esx-1").map(|_| ())
            } else {
                backend
                    .execute("esx-2", &add_port_group(&format!("pg-{call}")))
                    .map(|_| ())
            };
            result.err().map(|error| {
                assert!(error.is_transient(), "{error}");
                error.fault
            })
        })
        .collect()
}

#[test]
fn transient_faults_come_before_the_call_takes_effect() {
    let dir = tempfile::tempdir().unwrap();
    faulty_lab(dir.path(), 1.0, 7);
    let backend = SimBackend::open_writer(dir.path()).unwrap();
    let before = Lab::open(dir.path()).unwrap().observe("esx-1").unwrap();
    for _ in 0..10 {
        let error = backend.execute("esx-1", &add_port_group("never")).unwrap_err();
        assert!(matches!(error.fault, Fault::Busy | Fault::Timeout), "{error}");
        assert!(error.is_transient());
    }
    assert!(backend.observe("esx-1").is_err());
    assert!(backend.observe_many(&["esx-1".to_owned()]).is_err());
    assert_eq!(Lab::open(dir.path()).unwrap().observe("esx-1").unwrap(), before);
    let counters = backend.counters();
    assert_eq!(counters.hosts["esx-1"].transient_faults, 11);
    assert_eq!(counters.batch_transient_faults, 1);
}

#[test]
fn transient_faults_are_deterministic_with_the_seed() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let third = tempfile::tempdir().unwrap();
    faulty_lab(first.path(), 0.5, 11);
    faulty_lab(second.path(), 0.5, 11);
    faulty_lab(third.path(), 0.5, 12);
    let sequence = fault_sequence(first.path());
    let faults = sequence.iter().filter(|outcome| outcome.is_some()).count();
    assert!((10..=54).contains(&faults), "about half of 64 calls fail, got {faults}");
    assert!(sequence.contains(&Some(Fault::Busy)) && sequence.contains(&Some(Fault::Timeout)));
    assert_eq!(fault_sequence(second.path()), sequence, "same seed, same faults");
    assert_ne!(fault_sequence(third.path()), sequence, "another seed, other faults");
    let clean = tempfile::tempdir().unwrap();
    faulty_lab(clean.path(), 0.0, 11);
    assert!(fault_sequence(clean.path()).iter().all(Option::is_none));
}

#[test]
fn latency_applies_per_call_and_overlaps_across_hosts() {
    let dir = tempfile::tempdir().unwrap();
    drop(
        Lab::init(
            dir.path(),
            &InitOptions {
                hosts: HostNames::Count(4),
                latency_ms: 150,
                ..InitOptions::default()
            },
        )
        .unwrap(),
    );
    let backend = SimBackend::open_writer(dir.path()).unwrap();
    let started = Instant::now();
    backend.observe("esx-1").unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for host in ["esx-1", "esx-2", "esx-3", "esx-4"] {
            let backend = &backend;
            scope.spawn(move || backend.execute(host, &add_port_group("parallel")).unwrap());
        }
    });
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
    // Serialized, four calls would take 600 ms.
    assert!(
        elapsed < Duration::from_millis(450),
        "calls to different hosts overlap: {elapsed:?}"
    );
}

#[test]
fn concurrent_changes_to_one_host_are_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    drop(init(dir.path(), HostNames::Count(2)));
    let backend = SimBackend::open_writer(dir.path()).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let backend = &backend;
            scope.spawn(move || {
                for number in 0..10 {
                    for host in ["esx-1", "esx-2"] {
                        backend
                            .execute(host, &add_port_group(&format!("pg-{thread}-{number}")))
                            .unwrap();
                    }
                }
            });
        }
    });
    for host in ["esx-1", "esx-2"] {
        assert_eq!(backend.observe(host).unwrap().port_groups.len(), 81, "{host}");
    }
}

/// The body of the child process that `a_killed_writer_leaves_every_host_intact` kills: it
/// rewrites host files as fast as it can until it dies.
#[test]
#[ignore = "helper process of a_killed_writer_leaves_every_host_intact"]
fn child_writer_loop() {
    let Ok(dir) = std::env::var(CHILD_LAB_VARIABLE) else {
        return;
    };
    let backend = SimBackend::open_writer(&dir).unwrap();
    let names = backend.host_names().unwrap();
    let mut round = 0u64;
    loop {
        for name in &names {
            let operation = if round.is_multiple_of(2) {
                add_port_group("churn")
            } else {
                Operation::RemovePortGroup {
                    name: "churn".to_owned(),
                }
            };
            backend.execute(name, &operation).unwrap();
        }
        if round == 0 {
            std::fs::write(Path::new(&dir).join("child-ready"), b"ready").unwrap();
        }
        round += 1;
    }
}

#[test]
fn a_killed_writer_leaves_every_host_intact() {
    let dir = tempfile::tempdir().unwrap();
    drop(init(dir.path(), HostNames::Count(20)));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer_loop", "--ignored", "--nocapture"])
        .env(CHILD_LAB_VARIABLE, dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !dir.path().join("child-ready").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the child writer never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // While the child writes, it holds the lock and the lock names it.
    let error = Lab::open_writer_waiting(dir.path(), Duration::from_millis(200)).unwrap_err();
    assert!(error.to_string().contains(&format!("pid {}", child.id())), "{error}");
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL: no destructor, no cleanup.
    child.wait().unwrap();
    // What a write interrupted before its rename leaves behind.
    std::fs::write(
        dir.path().join("hosts/.esxnet-partial-Xy12ab"),
        br#"{"formatVersion":1,"observed":{"na"#,
    )
    .unwrap();
    let lab = Lab::open(dir.path()).unwrap();
    let names = lab.host_names().unwrap();
    assert_eq!(names, HostNames::Count(20).resolve());
    let fleet = lab.observe_all().unwrap();
    assert_eq!(fleet.hosts.len(), 20);
    for host in fleet.hosts.values() {
        assert!(
            host.adapter("vmk0").is_some() && host.switch("vSwitch0").is_some(),
            "{}",
            host.name
        );
        let churn = host
            .port_groups
            .iter()
            .filter(|port_group| port_group.name == "churn")
            .count();
        assert!(churn <= 1, "{}", host.name);
    }
    // The kernel released the dead writer's lock.
    let writer = Lab::open_writer_waiting(dir.path(), Duration::from_secs(2)).unwrap();
    writer
        .modify_host("esx-01", |host| host.add_port_group("after", "vSwitch0", 0))
        .unwrap();
}

/// Edits esx-1's file as JSON and answers what loading it says.
fn load_edited(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let dir = tempfile::tempdir().unwrap();
    drop(init(dir.path(), HostNames::Count(2)));
    let path = dir.path().join("hosts/esx-1.json");
    let mut raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut raw);
    std::fs::write(&path, raw.to_string()).unwrap();
    let error = Lab::open(dir.path()).unwrap().observe("esx-1").unwrap_err();
    assert!(matches!(error, SimError::Inconsistent { .. }), "{error}");
    error.to_string()
}

#[test]
fn host_files_that_contradict_themselves_or_the_lab_are_refused_on_load() {
    let message = load_edited(|raw| raw["observed"]["name"] = "esx-2".into());
    assert!(message.contains("holds host \"esx-2\""), "{message}");
    let message = load_edited(|raw| raw["observed"]["portGroups"][0]["switch"] = "vSwitch9".into());
    assert!(message.contains("vSwitch9"), "{message}");
    let message = load_edited(|raw| raw["observed"]["switches"][0]["uplinks"] = serde_json::json!(["vmnic9"]));
    assert!(message.contains("vmnic9"), "{message}");
    let message = load_edited(|raw| {
        raw["observed"]["adapters"][0]["connection"]["portGroup"] = "Nowhere".into();
    });
    assert!(message.contains("Nowhere"), "{message}");
}

#[test]
fn lab_settings_out_of_bounds_are_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(init(dir.path(), HostNames::Count(1)));
    let path = dir.path().join("lab.json");
    let mut raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    raw["latencyMs"] = 86_400_000u64.into();
    std::fs::write(&path, raw.to_string()).unwrap();
    let Err(error) = Lab::open(dir.path()) else {
        panic!("a lab with a day of latency opened")
    };
    assert!(error.to_string().contains("latency"), "{error}");
}

/// A plan's pre-flight asks for the hints of hosts it has just observed: they are answered from
/// that observation's NICs, as one counted call, and are what the lab's fabric says of the host
/// file, for a host observed first and for one never observed.
#[test]
fn network_hints_answer_from_the_observed_nics_as_from_the_host_file() {
    let dir = tempfile::tempdir().unwrap();
    let fabric = esxnet_sim::fabric::Fabric::examples().with_port("esx-1:vmnic2=0,130".parse().unwrap());
    let lab = Lab::init(
        dir.path(),
        &InitOptions {
            hosts: HostNames::Count(2),
            fabric: Some(fabric.clone()),
            ..InitOptions::default()
        },
    )
    .unwrap();
    let backend = SimBackend::from_lab(lab);
    let names = vec!["esx-1".to_owned(), "esx-2".to_owned()];
    backend.observe_many(&names[..1]).unwrap();
    for name in &names {
        let hints = backend
            .network_hints(name)
            .unwrap()
            .expect("a lab with a fabric answers");
        let expected = fabric.hints(&backend.lab().observe(name).unwrap());
        assert_eq!(hints, expected, "{name}");
        assert!(hints.iter().any(|hint| hint.device == "vmnic2"), "{name}: {hints:?}");
    }
    let configured = backend.network_hints("esx-1").unwrap().unwrap();
    let vmnic2 = configured.iter().find(|hint| hint.device == "vmnic2").unwrap();
    assert_eq!(vmnic2.port_vlans, Some(BTreeSet::from([0, 130])));
    let counters = backend.counters();
    assert_eq!(counters.hosts["esx-1"].calls["QueryNetworkHint"], 2);
    assert_eq!(counters.hosts["esx-2"].calls["QueryNetworkHint"], 1);
    assert!(backend.network_hints("esx-9").is_err(), "an unknown host is an error");
}

//! Switch and port-group settings esxnet does not manage — beacon probing, security, teaming
//! policy, shaping, link discovery, port counts, per-port-group overrides — survive a VLAN, MTU
//! and uplink change over both paths: the simulator backend (`sim:`) and the vSphere backend
//! against the served lab.
//!
//! The server applies ESXi's wire semantics: `UpdatePortGroup` replaces the whole spec (an unset
//! policy field inherits from the switch) and `UpdateVirtualSwitch` drops beacon probing with a
//! bridge that has no `beacon`. So a client that builds its specs from scratch fails here; the
//! last test shows that such a client does wipe the settings.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use esxnet_executor::{Backend, Operation};
use esxnet_model::observed::{
    LinkDiscovery, LinkDiscoveryOperation, LinkDiscoveryProtocol, LoadBalancing, ObservedHost, ObservedPortGroup,
    ObservedSwitch, PortGroupPolicy, SecurityOverride, SecurityPolicy, ShapingOverride, ShapingPolicy, SwitchPolicy,
    Teaming, TeamingOverride, TeamingPolicy,
};
use esxnet_sim::{HostNames, InitOptions, Lab, SimBackend, SwitchSpec};
use esxnet_sim_server::{serve, ServeOptions, ServerHandle};
use esxnet_vsphere::{Password, VsphereBackend, VsphereTarget};
use vim_rs::core::client::{Client, ClientBuilder, VimClient};
use vim_rs::mo::HostNetworkSystem;
use vim_rs::types::structs::{HostPortGroupSpec, HostVirtualSwitchSpec};

const USER: &str = "root";
const PASSWORD: &str = "simulated-secret";
const HOST: &str = "esx-1";

fn names(devices: &[&str]) -> Vec<String> {
    devices.iter().map(|device| device.to_string()).collect()
}

/// vSwitch1's policy: nothing like a default.
fn storage_switch_policy() -> SwitchPolicy {
    SwitchPolicy {
        num_ports: 256,
        security: SecurityPolicy {
            allow_promiscuous: true,
            mac_changes: false,
            forged_transmits: true,
        },
        teaming: TeamingPolicy {
            load_balancing: LoadBalancing::ExplicitFailover,
            notify_switches: false,
            failback: false,
            beacon_probing: true,
        },
        shaping: ShapingPolicy {
            enabled: true,
            average_bandwidth: Some(100_000_000),
            peak_bandwidth: Some(200_000_000),
            burst_size: Some(104_857_600),
        },
        beacon_interval: Some(3),
        link_discovery: Some(LinkDiscovery {
            protocol: LinkDiscoveryProtocol::Lldp,
            operation: LinkDiscoveryOperation::Both,
        }),
    }
}

/// iSCSI port binding's design: one active uplink per port group, the other standby.
fn iscsi_overrides() -> PortGroupPolicy {
    PortGroupPolicy {
        security: SecurityOverride {
            forged_transmits: Some(false),
            ..SecurityOverride::default()
        },
        teaming: TeamingOverride {
            load_balancing: Some(LoadBalancing::SourcePort),
            failback: Some(true),
            beacon_probing: Some(false),
            order: Some(Teaming {
                active: names(&["vmnic1"]),
                standby: names(&["vmnic2"]),
            }),
            ..TeamingOverride::default()
        },
        shaping: ShapingOverride {
            enabled: Some(false),
            ..ShapingOverride::default()
        },
    }
}

/// A one-host lab whose esx-1 has, besides the freshly installed vSwitch0 and Management Network
/// (with their D67 policies), vSwitch1 on vmnic1–3 with beacon probing, LLDP, shaping and
/// security set, and port group "iSCSI-A" with security, teaming and shaping overrides.
fn new_lab(dir: &Path) {
    let options = InitOptions {
        hosts: HostNames::Count(1),
        ..InitOptions::default()
    };
    let lab = Lab::init(dir, &options).expect("lab init");
    lab.modify_host(HOST, |host| {
        host.add_virtual_switch(&SwitchSpec {
            name: "vSwitch1".into(),
            mtu: 1500,
            uplinks: BTreeSet::from(["vmnic1".into(), "vmnic2".into(), "vmnic3".into()]),
            teaming: Teaming {
                active: names(&["vmnic1", "vmnic2"]),
                standby: names(&["vmnic3"]),
            },
            policy: Some(storage_switch_policy()),
            teaming_policy: None,
            security: None,
        })?;
        host.add_port_group_with_policy("iSCSI-A", "vSwitch1", 10, &iscsi_overrides())
    })
    .expect("set up the unmanaged settings");
    // Dropped at once: the server must be the lab's only writer.
    drop(lab);
}

fn switch<'host>(host: &'host ObservedHost, name: &str) -> &'host ObservedSwitch {
    host.switch(name).unwrap_or_else(|| panic!("{name} exists"))
}

fn port_group<'host>(host: &'host ObservedHost, name: &str) -> &'host ObservedPortGroup {
    host.port_group(name).unwrap_or_else(|| panic!("{name} exists"))
}

/// The changes, each given the host as observed just before, the way the executor hands it
/// over: "iSCSI-A" and the "Management Network" to new VLANs (UpdatePortGroup), vSwitch1 to MTU
/// 9000 without vmnic3 (UpdateVirtualSwitch). The policy fields an operation carries are what
/// the planner puts there when no manifest manages them: the observed values.
fn change(backend: &dyn Backend) -> ObservedHost {
    let update_port_group = |current: &ObservedHost, name: &str, switch: &str, vlan: u16| {
        let policy = &port_group(current, name).policy;
        Operation::UpdatePortGroup {
            name: name.into(),
            switch: switch.into(),
            vlan,
            teaming: policy.teaming.clone(),
            security: policy.security,
        }
    };
    let steps: [&dyn Fn(&ObservedHost) -> Operation; 3] = [
        &|current| update_port_group(current, "iSCSI-A", "vSwitch1", 11),
        &|current| update_port_group(current, "Management Network", "vSwitch0", 100),
        &|current| {
            let policy = switch(current, "vSwitch1").policy;
            Operation::UpdateSwitch {
                name: "vSwitch1".into(),
                mtu: 9000,
                uplinks: BTreeSet::from(["vmnic1".into(), "vmnic2".into()]),
                teaming: Teaming {
                    active: names(&["vmnic1", "vmnic2"]),
                    standby: Vec::new(),
                },
                teaming_policy: policy.teaming,
                security: policy.security,
            }
        },
    ];
    for step in steps {
        let current = backend.observe(HOST).expect("observe");
        let operation = step(&current);
        backend
            .execute_with_state(&current, &operation)
            .unwrap_or_else(|error| panic!("{operation}: {error:?}"));
    }
    backend.observe(HOST).expect("observe")
}

/// Applies the changes and checks that they landed and that nothing else moved; answers the
/// host before and after.
fn unmanaged_settings_survive(backend: &dyn Backend, path: &str) -> (ObservedHost, ObservedHost) {
    let before = backend.observe(HOST).expect("observe the set-up host");
    assert_eq!(switch(&before, "vSwitch1").policy, storage_switch_policy(), "{path}");
    assert_eq!(port_group(&before, "iSCSI-A").policy, iscsi_overrides(), "{path}");
    assert_eq!(
        switch(&before, "vSwitch0").policy,
        SwitchPolicy::installed_vswitch0(),
        "{path}: vSwitch0 as D67 reports it"
    );
    assert_eq!(
        port_group(&before, "Management Network").policy,
        PortGroupPolicy::installed_management_network(),
        "{path}: the Management Network's override as D67 reports it"
    );

    let after = change(backend);

    // What was asked for happened.
    assert_eq!(port_group(&after, "iSCSI-A").vlan, 11, "{path}");
    assert_eq!(port_group(&after, "Management Network").vlan, 100, "{path}");
    let storage = switch(&after, "vSwitch1");
    assert_eq!(storage.mtu, 9000, "{path}");
    assert_eq!(
        storage.uplinks,
        BTreeSet::from(["vmnic1".into(), "vmnic2".into()]),
        "{path}"
    );
    assert_eq!(storage.teaming.active, names(&["vmnic1", "vmnic2"]), "{path}");

    // Nothing else did.
    for name in ["vSwitch0", "vSwitch1"] {
        assert_eq!(
            switch(&after, name).policy,
            switch(&before, name).policy,
            "{path}: {name}'s beacon probing, security, teaming policy, shaping, link discovery and port count"
        );
    }
    for name in ["Management Network", "iSCSI-A"] {
        assert_eq!(
            port_group(&after, name).policy,
            port_group(&before, name).policy,
            "{path}: {name}'s overrides"
        );
    }
    assert_eq!(switch(&after, "vSwitch0"), switch(&before, "vSwitch0"), "{path}");
    (before, after)
}

fn start_server(dir: &Path) -> ServerHandle {
    serve(ServeOptions::new(dir, USER, PASSWORD)).expect("server starts")
}

fn vsphere_backend(server: &ServerHandle) -> VsphereBackend {
    let target = VsphereTarget::parse(&format!(
        "vsphere://{USER}@{}?insecure=true&transport=json",
        server.server_address()
    ))
    .expect("target");
    VsphereBackend::connect(&target, &Password::new(PASSWORD)).expect("vSphere backend connects")
}

#[test]
fn unmanaged_switch_and_port_group_settings_survive_updates_over_both_paths() {
    let sim_dir = tempfile::tempdir().unwrap();
    new_lab(sim_dir.path());
    let sim_backend = SimBackend::open_writer(sim_dir.path()).expect("sim backend");
    let (sim_before, sim_after) = unmanaged_settings_survive(&sim_backend, "sim:");

    let served_dir = tempfile::tempdir().unwrap();
    new_lab(served_dir.path());
    let server = start_server(served_dir.path());
    let backend = vsphere_backend(&server);
    let (served_before, served_after) = unmanaged_settings_survive(&backend, "vSphere");
    backend.close().expect("logout");
    server.stop().expect("server stops");

    // Both paths read the same settings and end in the same state.
    for (sim, served, when) in [
        (&sim_before, &served_before, "before"),
        (&sim_after, &served_after, "after"),
    ] {
        assert_eq!(sim.switches, served.switches, "switches {when}");
        assert_eq!(sim.port_groups, served.port_groups, "port groups {when}");
    }
    // The lab files hold the same too: the server wrote the host through.
    let on_disk = Lab::open(served_dir.path()).expect("lab").observe(HOST).expect("host");
    assert_eq!(on_disk.switches, served_after.switches);
    assert_eq!(on_disk.port_groups, served_after.port_groups);
}

async fn network_system(server: &ServerHandle) -> (Arc<Client>, HostNetworkSystem) {
    let certificate = reqwest::Certificate::from_pem(server.certificate_pem().as_bytes()).expect("certificate");
    let http = esxnet_vsphere::http_client_builder()
        .tls_certs_only([certificate])
        .build()
        .expect("http client");
    let client = ClientBuilder::new(&server.server_address(), http)
        .basic_authn(USER, PASSWORD)
        .build()
        .await
        .expect("login");
    let vim: Arc<dyn VimClient> = client.clone();
    (client, HostNetworkSystem::new(vim, "networkSystem-1"))
}

fn from_json<T: miniserde::Deserialize>(text: &str) -> T {
    miniserde::json::from_str(text).unwrap_or_else(|_| panic!("{text} is not a {}", std::any::type_name::<T>()))
}

/// The other side of the test above: clients that build their specs from scratch lose the
/// settings on `sim serve`, as they do on ESXi, so the test above would catch one.
#[tokio::test(flavor = "multi_thread")]
async fn specs_built_from_scratch_wipe_what_they_leave_out() {
    let dir = tempfile::tempdir().unwrap();
    new_lab(dir.path());
    let server = start_server(dir.path());
    let (_client, network_system) = network_system(&server).await;
    let observe = || Lab::open(dir.path()).expect("lab").observe(HOST).expect("host");
    let before = observe();

    // esxnet before read-modify-write (and govc's host.portgroup.change, short of security): an
    // UpdatePortGroup with an empty policy. The spec is a full replace: every override goes.
    let empty_policy = esxnet_vsphere::spec::port_group_spec(
        "iSCSI-A",
        "vSwitch1",
        11,
        &TeamingOverride::default(),
        &SecurityOverride::default(),
    );
    network_system
        .update_port_group("iSCSI-A", &empty_policy)
        .await
        .expect("update port group");
    let wiped = observe();
    assert_eq!(port_group(&wiped, "iSCSI-A").vlan, 11);
    assert_eq!(
        port_group(&wiped, "iSCSI-A").policy,
        PortGroupPolicy::default(),
        "an empty policy inherits everything from the switch"
    );
    // govc's host.portgroup.change sends security only: the teaming override goes too.
    let security_only: HostPortGroupSpec = from_json(
        r#"{"_typeName":"HostPortGroupSpec","name":"Management Network","vlanId":0,"vswitchName":"vSwitch0",
            "policy":{"_typeName":"HostNetworkPolicy","security":{"_typeName":"HostNetworkSecurityPolicy","allowPromiscuous":false}}}"#,
    );
    network_system
        .update_port_group("Management Network", &security_only)
        .await
        .expect("update port group");
    let management = port_group(&observe(), "Management Network").policy.clone();
    assert_eq!(
        management.teaming,
        TeamingOverride::default(),
        "vmnic0 is no longer pinned active"
    );
    assert_eq!(management.security.allow_promiscuous, Some(false));

    // Ansible's vmware_vswitch: a bare bond bridge and no policy. The policy stays (unset means
    // unchanged), but without a beacon there is no beacon probing, and no link discovery.
    let bare_bridge: HostVirtualSwitchSpec = from_json(
        r#"{"_typeName":"HostVirtualSwitchSpec","numPorts":256,"mtu":1500,
            "bridge":{"_typeName":"HostVirtualSwitchBondBridge","nicDevice":["vmnic1","vmnic2","vmnic3"]}}"#,
    );
    network_system
        .update_virtual_switch("vSwitch1", &bare_bridge)
        .await
        .expect("update switch");
    let bare = switch(&observe(), "vSwitch1").policy;
    let expected = storage_switch_policy();
    assert!(!bare.teaming.beacon_probing, "beacon probing is off without a beacon");
    assert_eq!(bare.beacon_interval, None);
    assert_eq!(bare.link_discovery, None);
    assert_eq!(bare.security, expected.security, "an unset policy is unchanged");
    assert_eq!(bare.shaping, expected.shaping);
    assert_eq!(bare.teaming.load_balancing, expected.teaming.load_balancing);

    // esxnet before read-modify-write: a partial policy with the teaming order only. What it
    // leaves out takes ESXi's defaults: security, shaping and the teaming policy are reset.
    let partial: HostVirtualSwitchSpec = from_json(
        r#"{"_typeName":"HostVirtualSwitchSpec","numPorts":128,"mtu":9000,
            "bridge":{"_typeName":"HostVirtualSwitchBondBridge","nicDevice":["vmnic1","vmnic2"]},
            "policy":{"_typeName":"HostNetworkPolicy","nicTeaming":{"_typeName":"HostNicTeamingPolicy",
              "nicOrder":{"_typeName":"HostNicOrderPolicy","activeNic":["vmnic1","vmnic2"]}}}}"#,
    );
    network_system
        .update_virtual_switch("vSwitch1", &partial)
        .await
        .expect("update switch");
    let reset = switch(&observe(), "vSwitch1").policy;
    assert_eq!(reset.security, SecurityPolicy::default());
    assert_eq!(reset.shaping, ShapingPolicy::default());
    assert_eq!(reset.teaming, TeamingPolicy::default());
    assert_eq!(reset.num_ports, 128);

    assert_ne!(before.port_groups, observe().port_groups);
    server.stop().expect("server stops");
}

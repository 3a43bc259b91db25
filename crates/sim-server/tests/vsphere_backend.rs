//! esxnet's vSphere backend against the server gives what the simulator backend gives: the same
//! observed hosts, the same outcomes and faults for the same operations, the same final state.

use std::collections::BTreeSet;
use std::path::Path;

use esxnet_executor::backend::{Ipv4Settings, Ipv6Settings, StackSettings};
use esxnet_executor::{Backend, Operation};
use esxnet_model::common::{CongestionControl, Dns, Route, Service, StackKind};
use esxnet_model::observed::{
    DistributedPortGroup, DistributedSwitchMembership, ObservedHost, PortConnection, Teaming,
};
use esxnet_sim::{HostNames, InitOptions, Lab, SimBackend};
use esxnet_sim_server::{serve, ServeOptions};
use esxnet_vsphere::{Password, VsphereBackend, VsphereTarget};

const USER: &str = "root";
const PASSWORD: &str = "simulated-secret";

fn new_lab(dir: &Path) {
    let options = InitOptions {
        hosts: HostNames::Count(2),
        ..InitOptions::default()
    };
    let lab = Lab::init(dir, &options).expect("lab init");
    // esx-1 is a member of a distributed switch, as vCenter would have made it.
    lab.modify_host("esx-1", |host| {
        host.join_distributed_switch(DistributedSwitchMembership {
            name: "dvs-lab".into(),
            uuid: "50 1a 2b 3c 4d 5e 6f 70-81 92 a3 b4 c5 d6 e7 f8".into(),
            mtu: 9000,
            port_groups: vec![
                DistributedPortGroup {
                    name: "dv-vmotion".into(),
                    key: "dvportgroup-101".into(),
                    vlan: 120,
                },
                DistributedPortGroup {
                    name: "dv-storage".into(),
                    key: "dvportgroup-102".into(),
                    vlan: 0,
                },
            ],
        })
    })
    .expect("join the distributed switch");
    // Dropped at once: the server must be the lab's only writer.
    drop(lab);
}

/// An adapter on a distributed port group of esx-1.
fn distributed_adapter() -> Operation {
    Operation::AddAdapter {
        connection: PortConnection::Distributed {
            switch: "dvs-lab".into(),
            port_group: "dv-vmotion".into(),
        },
        stack: StackKind::Vmotion,
        mtu: 9000,
        ipv4: Ipv4Settings {
            dhcp: false,
            address: Some("10.1.20.11".parse().unwrap()),
            prefix_length: Some(24),
            gateway_override: None,
        },
        ipv6: None,
    }
}

fn operations() -> Vec<Operation> {
    let ipv4 = |address: &str, prefix_length: u8| Ipv4Settings {
        dhcp: false,
        address: Some(address.parse().unwrap()),
        prefix_length: Some(prefix_length),
        gateway_override: None,
    };
    vec![
        Operation::AddSwitch {
            name: "vSwitch1".into(),
            mtu: 9000,
            uplinks: BTreeSet::from(["vmnic1".into(), "vmnic2".into()]),
            teaming: Teaming {
                active: vec!["vmnic2".into()],
                standby: vec!["vmnic1".into()],
            },
            teaming_policy: Default::default(),
            security: Default::default(),
        },
        Operation::AddPortGroup {
            name: "vMotion".into(),
            switch: "vSwitch1".into(),
            vlan: 20,
            teaming: Default::default(),
            security: Default::default(),
        },
        Operation::AddPortGroup {
            name: "Provisioning".into(),
            switch: "vSwitch1".into(),
            vlan: 30,
            teaming: Default::default(),
            security: Default::default(),
        },
        // A port group on a switch that does not exist: both backends refuse it alike.
        Operation::AddPortGroup {
            name: "Storage".into(),
            switch: "vSwitch9".into(),
            vlan: 40,
            teaming: Default::default(),
            security: Default::default(),
        },
        Operation::AddAdapter {
            connection: PortConnection::Standard {
                switch: "vSwitch1".into(),
                port_group: "vMotion".into(),
            },
            stack: StackKind::Vmotion,
            mtu: 9000,
            ipv4: ipv4("10.0.20.11", 24),
            ipv6: None,
        },
        Operation::AddAdapter {
            connection: PortConnection::Standard {
                switch: "vSwitch1".into(),
                port_group: "Provisioning".into(),
            },
            stack: StackKind::Provisioning,
            mtu: 1500,
            ipv4: ipv4("10.0.30.11", 24),
            ipv6: Some(Ipv6Settings {
                dhcp: false,
                router_advertisement: false,
                addresses: BTreeSet::from(["fd00:30::11/64".parse().unwrap()]),
                gateway_override: None,
            }),
        },
        Operation::EditStack {
            stack: StackKind::Provisioning,
            settings: StackSettings {
                ipv4_gateway: Some("10.0.30.1".parse().unwrap()),
                ipv6_gateway: None,
                dns: Dns {
                    servers: vec!["10.0.0.53".parse().unwrap()],
                    search_domains: vec!["lab.example".into()],
                },
                routes: vec![Route {
                    destination: "10.99.0.0/16".parse().unwrap(),
                    gateway: "10.0.30.254".parse().unwrap(),
                }],
                requested_max_connections: 22000,
                congestion_control: CongestionControl::Cubic,
            },
        },
        Operation::UpdateAdapter {
            device: "vmk1".into(),
            mtu: 8000,
            ipv4: Ipv4Settings {
                gateway_override: Some("10.0.20.1".parse().unwrap()),
                ..ipv4("10.0.20.12", 24)
            },
            ipv6: None,
        },
        Operation::SelectService {
            device: "vmk0".into(),
            service: Service::Replication,
        },
        // Deselecting a service that is not selected is refused alike.
        Operation::DeselectService {
            device: "vmk0".into(),
            service: Service::FaultToleranceLogging,
        },
        Operation::UpdatePortGroup {
            name: "Management Network".into(),
            switch: "vSwitch0".into(),
            vlan: 5,
            teaming: Default::default(),
            security: Default::default(),
        },
        Operation::RemoveAdapter { device: "vmk9".into() },
    ]
}

/// The vSphere backend sorts an adapter's IPv6 addresses and a distributed switch's port groups;
/// the simulator keeps them in the order it made them. Both are the same state.
fn normalized(mut host: ObservedHost) -> ObservedHost {
    for adapter in &mut host.adapters {
        adapter.ipv6.addresses.sort();
    }
    for switch in &mut host.distributed_switches {
        switch.port_groups.sort_by(|left, right| left.name.cmp(&right.name));
    }
    host
}

#[test]
fn the_vsphere_backend_sees_and_changes_the_served_lab_as_the_sim_backend_does() {
    sees_and_changes_the_served_lab_as_the_sim_backend_does("json");
}

/// The same workflow over SOAP, ESXi's own protocol: every read, change and fault of the vSphere
/// backend goes through the server's SOAP endpoint and ends where the simulator does.
#[test]
fn over_soap_the_vsphere_backend_sees_and_changes_the_served_lab_as_the_sim_backend_does() {
    sees_and_changes_the_served_lab_as_the_sim_backend_does("soap");
}

fn sees_and_changes_the_served_lab_as_the_sim_backend_does(transport: &str) {
    let served_dir = tempfile::tempdir().unwrap();
    let direct_dir = tempfile::tempdir().unwrap();
    new_lab(served_dir.path());
    new_lab(direct_dir.path());
    let server = serve(ServeOptions::new(served_dir.path(), USER, PASSWORD)).expect("server starts");
    let target = VsphereTarget::parse(&format!(
        "vsphere://{USER}@{}?insecure=true&transport={transport}",
        server.server_address()
    ))
    .expect("target");
    let vsphere = VsphereBackend::connect(&target, &Password::new(PASSWORD)).expect("vsphere backend connects");
    assert_eq!(vsphere.transport_name(), transport);
    let direct = SimBackend::open_writer(direct_dir.path()).expect("sim backend");
    let hosts = ["esx-1".to_owned(), "esx-2".to_owned()];

    for host in &hosts {
        assert_eq!(
            normalized(vsphere.observe(host).expect("observe over vSphere")),
            normalized(direct.observe(host).expect("observe the lab")),
            "a fresh {host} reads the same through the server"
        );
    }

    for operation in operations() {
        let over_vsphere = vsphere.execute("esx-2", &operation);
        let on_sim = direct.execute("esx-2", &operation);
        match (&over_vsphere, &on_sim) {
            (Ok(left), Ok(right)) => assert_eq!(left, right, "{operation}"),
            (Err(left), Err(right)) => {
                assert_eq!(
                    (left.fault, &left.message),
                    (right.fault, &right.message),
                    "{operation}"
                )
            }
            _ => panic!("{operation}: over vSphere {over_vsphere:?}, on the simulator {on_sim:?}"),
        }
    }

    assert_eq!(
        vsphere
            .execute("esx-1", &distributed_adapter())
            .expect("distributed adapter over vSphere"),
        direct
            .execute("esx-1", &distributed_adapter())
            .expect("distributed adapter on the simulator")
    );

    let fleet = vsphere.observe_many(&hosts).expect("observe both");
    for host in &hosts {
        assert_eq!(
            normalized(fleet.hosts[host].clone()),
            normalized(direct.observe(host).unwrap()),
            "{host} after the changes"
        );
    }
    vsphere.close().expect("logout");
    server.stop().expect("server stops");
}

#[test]
fn injected_faults_are_transient_for_the_vsphere_backend() {
    injected_faults_are_transient("json");
}

#[test]
fn over_soap_injected_faults_are_transient_for_the_vsphere_backend() {
    injected_faults_are_transient("soap");
}

fn injected_faults_are_transient(transport: &str) {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        hosts: HostNames::Count(1),
        transient_fault_rate: 1.0,
        ..InitOptions::default()
    };
    drop(Lab::init(dir.path(), &options).unwrap());
    let server = serve(ServeOptions::new(dir.path(), USER, PASSWORD)).expect("server starts");
    let target = VsphereTarget::parse(&format!(
        "vsphere://{USER}@{}?insecure=true&transport={transport}",
        server.server_address()
    ))
    .unwrap();
    let vsphere = VsphereBackend::connect(&target, &Password::new(PASSWORD)).expect("login is never faulted");
    for _ in 0..6 {
        let error = vsphere.execute("esx-1", &operations()[0]).unwrap_err();
        assert!(error.is_transient(), "{error:?}");
    }
    vsphere.close().unwrap();
    server.stop().unwrap();
}

/// A refusal as esxnet's executor sees it: fault, kind and message.
fn refusal(error: esxnet_executor::BackendError) -> (esxnet_executor::Fault, esxnet_executor::FaultKind, String) {
    (error.fault, error.kind, error.message)
}

/// The three refusals of issue 13 over one protocol: a wrong password, a missing port group and
/// a duplicate adapter.
fn refusals_over(transport: &str) -> Vec<(esxnet_executor::Fault, esxnet_executor::FaultKind, String)> {
    let dir = tempfile::tempdir().unwrap();
    new_lab(dir.path());
    let server = serve(ServeOptions::new(dir.path(), USER, PASSWORD)).expect("server starts");
    let target = VsphereTarget::parse(&format!(
        "vsphere://{USER}@{}?insecure=true&transport={transport}",
        server.server_address()
    ))
    .unwrap();
    let wrong_password = VsphereBackend::connect(&target, &Password::new("not-the-password")).unwrap_err();
    let vsphere = VsphereBackend::connect(&target, &Password::new(PASSWORD)).expect("login");
    assert_eq!(vsphere.transport_name(), transport);
    let missing_port_group = vsphere
        .execute(
            "esx-1",
            &Operation::RemovePortGroup {
                name: "No Such Port Group".into(),
            },
        )
        .unwrap_err();
    // vmk0 is on the Management Network already: a second adapter there is a duplicate.
    let duplicate_adapter = vsphere
        .execute(
            "esx-1",
            &Operation::AddAdapter {
                connection: PortConnection::Standard {
                    switch: "vSwitch0".into(),
                    port_group: "Management Network".into(),
                },
                stack: StackKind::Default,
                mtu: 1500,
                ipv4: Ipv4Settings {
                    dhcp: true,
                    address: None,
                    prefix_length: None,
                    gateway_override: None,
                },
                ipv6: None,
            },
        )
        .unwrap_err();
    vsphere.close().unwrap();
    server.stop().unwrap();
    vec![
        refusal(wrong_password.into()),
        refusal(missing_port_group),
        refusal(duplicate_adapter),
    ]
}

#[test]
fn refusals_are_the_same_typed_esxnet_errors_over_soap_and_vi_json() {
    use esxnet_executor::Fault;
    let over_json = refusals_over("json");
    let over_soap = refusals_over("soap");
    assert_eq!(over_soap, over_json);
    let faults: Vec<Fault> = over_json.iter().map(|(fault, ..)| *fault).collect();
    assert_eq!(
        faults,
        [Fault::NotAuthenticated, Fault::NotFound, Fault::AlreadyExists],
        "{over_json:?}"
    );
}

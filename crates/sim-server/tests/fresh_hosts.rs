//! Every kind of fresh host `esxnet sim init` makes reads the same through the vSphere API as
//! through the simulator: the default one, one with DNS learned through DHCP, one with IPv6
//! disabled. What the server writes (`ipV6Enabled`, `dnsConfig.dhcp`, ESXi's own routes, the
//! learned gateway's device) is what the vSphere backend reads back.

use std::collections::BTreeSet;
use std::path::Path;

use esxnet_executor::backend::{Ipv4Settings, Ipv6Settings};
use esxnet_executor::{Backend, Fault, Operation};
use esxnet_model::common::StackKind;
use esxnet_model::observed::{ObservedHost, PortConnection};
use esxnet_sim::{HostNames, InitOptions, Lab, SimBackend};
use esxnet_sim_server::{serve, ServeOptions};
use esxnet_vsphere::{Password, VsphereBackend, VsphereTarget};

const USER: &str = "root";
const PASSWORD: &str = "simulated-secret";
const HOST: &str = "esx-1";

fn new_lab(dir: &Path, options: &InitOptions) {
    let options = InitOptions {
        hosts: HostNames::Count(1),
        ..options.clone()
    };
    drop(Lab::init(dir, &options).expect("lab init"));
}

/// The vSphere backend sorts an adapter's IPv6 addresses; the simulator keeps them in the order it
/// made them. Both are the same state.
fn normalized(mut host: ObservedHost) -> ObservedHost {
    for adapter in &mut host.adapters {
        adapter.ipv6.addresses.sort();
    }
    host
}

/// An adapter with router advertisement on, which a host with IPv6 disabled refuses.
fn adapter_with_ipv6() -> Operation {
    Operation::AddAdapter {
        connection: PortConnection::Standard {
            switch: "vSwitch0".into(),
            port_group: "Storage".into(),
        },
        stack: StackKind::Default,
        mtu: 1500,
        ipv4: Ipv4Settings {
            dhcp: false,
            address: Some("10.10.0.99".parse().unwrap()),
            prefix_length: Some(16),
            gateway_override: None,
        },
        ipv6: Some(Ipv6Settings {
            dhcp: false,
            router_advertisement: true,
            addresses: BTreeSet::new(),
            gateway_override: None,
        }),
    }
}

fn both_paths(options: &InitOptions, check: impl Fn(&ObservedHost, &dyn Backend, &dyn Backend)) {
    let served_dir = tempfile::tempdir().unwrap();
    let direct_dir = tempfile::tempdir().unwrap();
    new_lab(served_dir.path(), options);
    new_lab(direct_dir.path(), options);
    let server = serve(ServeOptions::new(served_dir.path(), USER, PASSWORD)).expect("server starts");
    let target = VsphereTarget::parse(&format!(
        "vsphere://{USER}@{}?insecure=true&transport=json",
        server.server_address()
    ))
    .expect("target");
    let vsphere = VsphereBackend::connect(&target, &Password::new(PASSWORD)).expect("vSphere backend connects");
    let direct = SimBackend::open_writer(direct_dir.path()).expect("sim backend");
    let over_vsphere = normalized(vsphere.observe(HOST).expect("observe over vSphere"));
    let on_sim = normalized(direct.observe(HOST).expect("observe the lab"));
    assert_eq!(over_vsphere, on_sim, "{options:?}");
    check(&on_sim, &vsphere, &direct);
    vsphere.close().expect("logout");
    server.stop().expect("server stops");
}

#[test]
fn a_default_fresh_host_reads_the_same_over_both_paths() {
    both_paths(&InitOptions::default(), |host, _, _| {
        let default = host.stack(StackKind::Default).unwrap();
        assert!(default.ipv6_gateway_from_router_advertisement && !default.dns_from_dhcp);
        assert!(default.routes.is_empty());
        assert!(host.ipv6_enabled);
    });
}

#[test]
fn a_fresh_host_with_dhcp_dns_reads_the_same_over_both_paths() {
    let options = InitOptions {
        dns_from_dhcp: true,
        ..InitOptions::default()
    };
    both_paths(&options, |host, _, _| {
        let default = host.stack(StackKind::Default).unwrap();
        assert!(default.dns_from_dhcp && !default.dns.servers.is_empty());
    });
}

#[test]
fn a_fresh_host_with_ipv6_disabled_reads_the_same_and_refuses_ipv6_over_both_paths() {
    let options = InitOptions {
        ipv6_enabled: false,
        ..InitOptions::default()
    };
    both_paths(&options, |host, vsphere, direct| {
        assert!(!host.ipv6_enabled);
        let vmk0 = host.adapter("vmk0").unwrap();
        assert!(!vmk0.ipv6.router_advertisement && vmk0.ipv6.addresses.is_empty());
        assert_eq!(host.stack(StackKind::Default).unwrap().ipv6_gateway, None);
        for backend in [vsphere, direct] {
            let port_group = Operation::AddPortGroup {
                name: "Storage".into(),
                switch: "vSwitch0".into(),
                vlan: 0,
                teaming: Default::default(),
                security: Default::default(),
            };
            backend
                .execute(HOST, &port_group)
                .expect("a port group for the adapter");
            let error = backend.execute(HOST, &adapter_with_ipv6()).unwrap_err();
            assert_eq!(error.fault, Fault::InvalidState, "{error:?}");
        }
    });
}

#[test]
fn a_system_owned_adapter_reads_the_same_over_both_paths() {
    let options = InitOptions {
        system_owned_adapter: true,
        ..InitOptions::default()
    };
    both_paths(&options, |host, _, _| {
        assert!(
            host.adapters.iter().any(|adapter| adapter.system_owned),
            "{:?}",
            host.adapters
        );
    });
}

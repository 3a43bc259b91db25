//! Helpers shared by the simulator's tests.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use esxnet_executor::backend::{Ipv4Settings, Ipv6Settings, StackSettings};
use esxnet_executor::Fault;
use esxnet_model::common::{CongestionControl, Dns, EsxiVersion, StackKind};
use esxnet_model::observed::{PortConnection, Teaming};
use esxnet_sim::{NewAdapter, SimError, SimHost, SwitchSpec};

pub const ESXI_8: EsxiVersion = EsxiVersion::new(8, 0, 3);

/// A freshly installed ESXi 8.0.3 host.
pub fn fresh_host() -> SimHost {
    SimHost::new_installed("esx-1", 1, ESXI_8).expect("a fresh host")
}

pub fn fresh_host_on(version: EsxiVersion) -> SimHost {
    SimHost::new_installed("esx-old", 1, version).expect("a fresh host")
}

pub fn static_ipv4(address: [u8; 4], prefix_length: u8) -> Ipv4Settings {
    Ipv4Settings {
        dhcp: false,
        address: Some(Ipv4Addr::from(address)),
        prefix_length: Some(prefix_length),
        gateway_override: None,
    }
}

pub fn dhcp_ipv4() -> Ipv4Settings {
    Ipv4Settings {
        dhcp: true,
        address: None,
        prefix_length: None,
        gateway_override: None,
    }
}

pub fn no_ipv6() -> Ipv6Settings {
    Ipv6Settings {
        dhcp: false,
        router_advertisement: false,
        addresses: BTreeSet::new(),
        gateway_override: None,
    }
}

pub fn switch_spec(name: &str, mtu: u32, uplinks: &[&str]) -> SwitchSpec {
    SwitchSpec {
        name: name.to_owned(),
        mtu,
        uplinks: uplinks.iter().map(|uplink| uplink.to_string()).collect(),
        teaming: Teaming::default(),
        policy: None,
        teaming_policy: None,
        security: None,
    }
}

pub fn standard(switch: &str, port_group: &str) -> PortConnection {
    PortConnection::Standard {
        switch: switch.to_owned(),
        port_group: port_group.to_owned(),
    }
}

/// Adds vSwitch1 (MTU 9000, vmnic1) with port group `port_group`.
pub fn add_switch_with_port_group(host: &mut SimHost, port_group: &str) {
    if host.observed().switch("vSwitch1").is_none() {
        host.add_virtual_switch(&switch_spec("vSwitch1", 9000, &["vmnic1"]))
            .unwrap();
    }
    host.add_port_group(port_group, "vSwitch1", 0).unwrap();
}

pub fn new_adapter(port_group: &str, stack: StackKind, ipv4: Ipv4Settings) -> NewAdapter {
    NewAdapter {
        connection: standard("vSwitch1", port_group),
        stack,
        mtu: 1500,
        ipv4,
        ipv6: Some(no_ipv6()),
    }
}

/// Adds a port group on vSwitch1 and a static adapter on it; answers the device.
pub fn add_adapter(host: &mut SimHost, port_group: &str, stack: StackKind, address: [u8; 4]) -> String {
    add_switch_with_port_group(host, port_group);
    host.add_virtual_nic(&new_adapter(port_group, stack, static_ipv4(address, 24)))
        .unwrap()
}

pub fn stack_settings(gateway: Option<[u8; 4]>) -> StackSettings {
    StackSettings {
        ipv4_gateway: gateway.map(Ipv4Addr::from),
        ipv6_gateway: None,
        dns: Dns::default(),
        routes: Vec::new(),
        requested_max_connections: 11000,
        congestion_control: CongestionControl::Newreno,
    }
}

/// Asserts the error's fault and that the host is unchanged by the failed call.
#[track_caller]
pub fn assert_fault<T: std::fmt::Debug>(result: Result<T, SimError>, fault: Fault) -> SimError {
    let error = result.expect_err("the call should fail");
    assert_eq!(error.fault(), fault, "unexpected fault for error: {error}");
    let message = error.to_string();
    assert!(
        !message.is_empty() && !message.ends_with('.'),
        "message style: {message}"
    );
    error
}

/// Runs a call that must fail with `fault` and leave the host exactly as it was.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    host: &mut SimHost,
    fault: Fault,
    call: impl FnOnce(&mut SimHost) -> Result<T, SimError>,
) -> SimError {
    let before = host.clone();
    let error = assert_fault(call(host), fault);
    assert_eq!(*host, before, "a refused call must leave the host unchanged");
    error
}

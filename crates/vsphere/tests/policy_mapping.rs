//! Switch policies and port-group overrides as a real host reports them (the D67 capture) lower
//! into the observed model: into exactly the policies the simulator gives a fresh host
//! (`SwitchPolicy::installed_vswitch0`, `PortGroupPolicy::installed_management_network`).

use esxnet_model::observed::{ObservedHost, PortGroupPolicy, SwitchPolicy};
use esxnet_vsphere::map::{self, RawHost};
use vim_rs::core::client::{unmarshal, Transport};
use vim_rs::types::structs::HostNetworkInfo;

fn d67_host() -> ObservedHost {
    let network: HostNetworkInfo =
        unmarshal(Transport::Json, include_bytes!("fixtures/d67-network-info.json")).expect("the D67 fixture parses");
    let raw = RawHost {
        host_system: "host-1".to_owned(),
        reads_config_network: true,
        name: "localhost".to_owned(),
        version: Some("6.7.0".to_owned()),
        network: Some(network),
        runtime: None,
        network_system: Some("networkSystem-1".to_owned()),
        virtual_nic_manager: None,
        distributed_port_group_ids: Vec::new(),
        connection_state: None,
    };
    map::observed_host(&raw, None, &[]).expect("the D67 host lowers")
}

#[test]
fn d67_switch_policy_and_port_group_overrides_are_observed() {
    let host = d67_host();
    let vswitch0 = host.switch("vSwitch0").expect("vSwitch0");
    // Security false/true/true, originating port, notify, fail back (rollingOrder false), no
    // beacon probing but a beacon of 1 s, CDP listen, shaping off, spec.numPorts 128 (not the
    // top-level 2560).
    assert_eq!(vswitch0.policy, SwitchPolicy::installed_vswitch0());
    // Empty sub-objects are "inherit"; the Management Network overrides the teaming.
    let vm_network = host.port_group("VM Network").expect("VM Network");
    assert_eq!(vm_network.policy, PortGroupPolicy::default());
    let management = host.port_group("Management Network").expect("Management Network");
    assert_eq!(management.policy, PortGroupPolicy::installed_management_network());
}

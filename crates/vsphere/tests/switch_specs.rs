//! Switch and port-group specs: a new switch gets a complete policy, and updates are
//! read-modify-write, so nothing esxnet does not manage changes on the host.

use std::collections::BTreeSet;

use esxnet_model::observed::{LoadBalancing, SecurityPolicy, Teaming, TeamingPolicy};
use esxnet_vsphere::{map, spec};
use vim_rs::core::client::{unmarshal, Transport};
use vim_rs::types::structs::{HostPortGroupSpec, HostVirtualSwitchBondBridge, HostVirtualSwitchSpec};

/// vSwitch0's spec as a fresh ESXi 6.7 host reports it (the reference's D67 capture), with beacon
/// probing and promiscuous mode turned on by an administrator.
const OBSERVED_SWITCH: &str = r#"{"_typeName":"HostVirtualSwitchSpec","numPorts":1024,
 "bridge":{"_typeName":"HostVirtualSwitchBondBridge","nicDevice":["vmnic0","vmnic1"],"beacon":{"_typeName":"HostVirtualSwitchBeaconConfig","interval":3},
           "linkDiscoveryProtocolConfig":{"_typeName":"LinkDiscoveryProtocolConfig","protocol":"lldp","operation":"both"}},
 "policy":{"_typeName":"HostNetworkPolicy",
  "security":{"_typeName":"HostNetworkSecurityPolicy","allowPromiscuous":true,"macChanges":true,"forgedTransmits":true},
  "nicTeaming":{"_typeName":"HostNicTeamingPolicy","policy":"loadbalance_ip","reversePolicy":true,"notifySwitches":false,"rollingOrder":true,
    "failureCriteria":{"_typeName":"HostNicFailureCriteria","checkSpeed":"minimum","speed":10,"checkDuplex":false,"fullDuplex":false,
                       "checkErrorPercent":false,"percentage":0,"checkBeacon":true},
    "nicOrder":{"_typeName":"HostNicOrderPolicy","activeNic":["vmnic0"],"standbyNic":["vmnic1"]}},
  "offloadPolicy":{"_typeName":"HostNetOffloadCapabilities","csumOffload":true,"tcpSegmentation":true,"zeroCopyXmit":true},
  "shapingPolicy":{"_typeName":"HostNetworkTrafficShapingPolicy","enabled":true,"averageBandwidth":100000000,"peakBandwidth":200000000,"burstSize":104857600}}}"#;

/// A port group with a per-port-group teaming override (the usual vMotion and iSCSI design).
const OBSERVED_PORT_GROUP: &str = r#"{"_typeName":"HostPortGroupSpec","name":"vMotion","vlanId":20,"vswitchName":"vSwitch0",
 "policy":{"_typeName":"HostNetworkPolicy",
  "security":{"_typeName":"HostNetworkSecurityPolicy","forgedTransmits":false},
  "nicTeaming":{"_typeName":"HostNicTeamingPolicy","failureCriteria":{"_typeName":"HostNicFailureCriteria"},
    "nicOrder":{"_typeName":"HostNicOrderPolicy","activeNic":["vmnic1"],"standbyNic":["vmnic0"]}},
  "offloadPolicy":{"_typeName":"HostNetOffloadCapabilities"},"shapingPolicy":{"_typeName":"HostNetworkTrafficShapingPolicy"}}}"#;

fn wire<T: miniserde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::from_str(&miniserde::json::to_string(value)).unwrap()
}

fn bond(spec: &HostVirtualSwitchSpec) -> &HostVirtualSwitchBondBridge {
    spec.bridge
        .as_deref()
        .unwrap()
        .as_any_ref()
        .downcast_ref::<HostVirtualSwitchBondBridge>()
        .unwrap()
}

#[test]
fn a_new_switch_gets_a_complete_policy_and_bridge() {
    let uplinks = BTreeSet::from(["vmnic3".to_owned(), "vmnic2".to_owned()]);
    let teaming = Teaming {
        active: vec!["vmnic3".to_owned()],
        standby: vec!["vmnic2".to_owned()],
    };
    let defaults = (TeamingPolicy::default(), SecurityPolicy::default());
    let switch = spec::new_switch_spec(9000, &uplinks, &teaming, &defaults.0, &defaults.1);
    assert_eq!((switch.num_ports, switch.mtu), (spec::DEFAULT_SWITCH_PORTS, Some(9000)));
    let bridge = bond(&switch);
    assert_eq!(bridge.nic_device, ["vmnic2", "vmnic3"]);
    assert_eq!(bridge.beacon.as_ref().map(|beacon| beacon.interval), Some(1));
    let policy = switch.policy.as_ref().unwrap();
    let security = policy.security.as_ref().unwrap();
    assert_eq!(
        (
            security.allow_promiscuous,
            security.mac_changes,
            security.forged_transmits
        ),
        (Some(false), Some(false), Some(false))
    );
    let teaming_policy = policy.nic_teaming.as_ref().unwrap();
    assert_eq!(teaming_policy.policy.as_deref(), Some("loadbalance_srcid"));
    assert_eq!(teaming_policy.notify_switches, Some(true));
    assert_eq!(
        teaming_policy.failure_criteria.as_ref().unwrap().check_beacon,
        Some(false)
    );
    let order = teaming_policy.nic_order.as_ref().unwrap();
    assert_eq!(order.active_nic.as_deref(), Some(&["vmnic3".to_owned()][..]));
    assert_eq!(order.standby_nic.as_deref(), Some(&["vmnic2".to_owned()][..]));
    assert!(policy.offload_policy.is_some() && policy.shaping_policy.is_some());

    // No teaming given: every uplink active, as ESXi does.
    let default_teaming = spec::new_switch_spec(1500, &uplinks, &Teaming::default(), &defaults.0, &defaults.1);
    let order = default_teaming.policy.unwrap().nic_teaming.unwrap().nic_order.unwrap();
    assert_eq!(order.active_nic.unwrap(), ["vmnic2", "vmnic3"]);
    // No uplinks: no bridge and no teaming order.
    let bare = spec::new_switch_spec(1500, &BTreeSet::new(), &Teaming::default(), &defaults.0, &defaults.1);
    assert!(bare.bridge.is_none());
    assert!(bare.policy.unwrap().nic_teaming.unwrap().nic_order.is_none());

    // A manifest's teaming policy and security go into the new switch's spec.
    let managed = TeamingPolicy {
        load_balancing: LoadBalancing::ExplicitFailover,
        notify_switches: false,
        failback: false,
        beacon_probing: true,
    };
    let open = SecurityPolicy {
        allow_promiscuous: true,
        ..SecurityPolicy::default()
    };
    let switch = spec::new_switch_spec(1500, &uplinks, &teaming, &managed, &open);
    let policy = switch.policy.as_ref().unwrap();
    assert_eq!(map::switch_policy(&switch, Some(bond(&switch))).teaming, managed);
    assert_eq!(policy.security.as_ref().unwrap().allow_promiscuous, Some(true));
    assert_eq!(policy.nic_teaming.as_ref().unwrap().rolling_order, Some(true));
}

#[test]
fn a_switch_update_changes_only_mtu_uplinks_and_order() {
    let observed: HostVirtualSwitchSpec = unmarshal(Transport::Json, OBSERVED_SWITCH.as_bytes()).unwrap();
    let before = wire(&observed);
    let uplinks = BTreeSet::from(["vmnic0".to_owned(), "vmnic1".to_owned(), "vmnic2".to_owned()]);
    let teaming = Teaming {
        active: vec!["vmnic0".to_owned(), "vmnic2".to_owned()],
        standby: vec!["vmnic1".to_owned()],
    };
    // What the planner carries for the settings no manifest manages: the observed ones.
    let read = map::switch_policy(&observed, Some(bond(&observed)));
    let updated = spec::updated_switch_spec(observed, 9000, &uplinks, &teaming, &read.teaming, &read.security);
    let mut after = wire(&updated);
    // What esxnet manages changed…
    assert_eq!(after["mtu"], 9000);
    assert_eq!(
        after["bridge"]["nicDevice"],
        serde_json::json!(["vmnic0", "vmnic1", "vmnic2"])
    );
    assert_eq!(
        after["policy"]["nicTeaming"]["nicOrder"]["activeNic"],
        serde_json::json!(["vmnic0", "vmnic2"])
    );
    // …and with those put back, the spec is exactly the one read: beacon probing and its
    // interval, LLDP, security, load balancing, notify, failback, offload and shaping.
    after["mtu"] = before.get("mtu").cloned().unwrap_or(serde_json::Value::Null);
    if after["mtu"].is_null() {
        after.as_object_mut().unwrap().remove("mtu");
    }
    after["bridge"]["nicDevice"] = before["bridge"]["nicDevice"].clone();
    after["policy"]["nicTeaming"]["nicOrder"] = before["policy"]["nicTeaming"]["nicOrder"].clone();
    assert_eq!(after, before);

    // Removing every uplink removes the bridge (which unsets them) but keeps the policy.
    let observed: HostVirtualSwitchSpec = unmarshal(Transport::Json, OBSERVED_SWITCH.as_bytes()).unwrap();
    let bare = spec::updated_switch_spec(
        observed,
        1500,
        &BTreeSet::new(),
        &Teaming::default(),
        &read.teaming,
        &read.security,
    );
    assert!(bare.bridge.is_none());
    let policy = bare.policy.unwrap();
    assert_eq!(policy.security.unwrap().allow_promiscuous, Some(true));
    assert_eq!(policy.nic_teaming.unwrap().policy.as_deref(), Some("loadbalance_ip"));
}

#[test]
fn a_managed_teaming_policy_or_security_changes_only_those_fields() {
    let observed: HostVirtualSwitchSpec = unmarshal(Transport::Json, OBSERVED_SWITCH.as_bytes()).unwrap();
    let before = wire(&observed);
    let read = map::switch_policy(&observed, Some(bond(&observed)));
    let order = Teaming {
        active: vec!["vmnic0".to_owned()],
        standby: vec!["vmnic1".to_owned()],
    };
    let uplinks = BTreeSet::from(["vmnic0".to_owned(), "vmnic1".to_owned()]);
    let teaming = TeamingPolicy {
        load_balancing: LoadBalancing::SourcePort,
        ..read.teaming
    };
    let security = SecurityPolicy {
        allow_promiscuous: false,
        ..read.security
    };
    let updated = spec::updated_switch_spec(observed, 1024, &uplinks, &order, &teaming, &security);
    let mut after = wire(&updated);
    assert_eq!(after["policy"]["nicTeaming"]["policy"], "loadbalance_srcid");
    assert_eq!(after["policy"]["security"]["allowPromiscuous"], false);
    after["policy"]["nicTeaming"]["policy"] = before["policy"]["nicTeaming"]["policy"].clone();
    after["policy"]["security"]["allowPromiscuous"] = before["policy"]["security"]["allowPromiscuous"].clone();
    after["mtu"] = before.get("mtu").cloned().unwrap_or(serde_json::Value::Null);
    if after["mtu"].is_null() {
        after.as_object_mut().unwrap().remove("mtu");
    }
    assert_eq!(
        after, before,
        "nothing else moved: beacon, failure criteria, shaping, offload"
    );
}

#[test]
fn a_port_group_update_keeps_every_override() {
    let observed: HostPortGroupSpec = unmarshal(Transport::Json, OBSERVED_PORT_GROUP.as_bytes()).unwrap();
    let before = wire(&observed);
    // What the planner carries when no manifest manages the overrides: the observed ones.
    let read = map::port_group_policy(&observed.policy);
    let updated = spec::updated_port_group_spec(observed, "vSwitch0", 30, &read.teaming, &read.security);
    let mut after = wire(&updated);
    assert_eq!(after["vlanId"], 30);
    after["vlanId"] = before["vlanId"].clone();
    assert_eq!(after, before, "the policy overrides are sent back as read");

    let new = spec::port_group_spec("vMotion", "vSwitch1", 20, &read.teaming, &read.security);
    assert_eq!(
        (new.name.as_str(), new.vswitch_name.as_str(), new.vlan_id),
        ("vMotion", "vSwitch1", 20)
    );
    assert_eq!(map::port_group_policy(&new.policy).teaming, read.teaming);
    assert_eq!(map::port_group_policy(&new.policy).security, read.security);
}

#[test]
fn a_managed_override_changes_only_itself_and_inherit_unsets_it() {
    let observed: HostPortGroupSpec = unmarshal(Transport::Json, OBSERVED_PORT_GROUP.as_bytes()).unwrap();
    let before = wire(&observed);
    let mut overrides = map::port_group_policy(&observed.policy);
    overrides.teaming.load_balancing = Some(LoadBalancing::ExplicitFailover);
    overrides.security.forged_transmits = None;
    let updated = spec::updated_port_group_spec(observed, "vSwitch0", 20, &overrides.teaming, &overrides.security);
    let mut after = wire(&updated);
    assert_eq!(after["policy"]["nicTeaming"]["policy"], "failover_explicit");
    assert!(after["policy"]["security"].get("forgedTransmits").is_none(), "{after}");
    after["policy"]["nicTeaming"].as_object_mut().unwrap().remove("policy");
    after["policy"]["security"]["forgedTransmits"] = serde_json::json!(false);
    assert_eq!(after, before, "the order override and the rest stay as read");
}

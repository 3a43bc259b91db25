//! Plans saved by earlier versions still load: `before-device-addresses.json` was saved when an
//! unmanaged adapter's address was `host/VmkernelAdapter/vmk1`, written like a name.

use esxnet_planner::{AddressKey, Plan};

#[test]
fn a_plan_saved_before_device_addresses_loads_and_its_steps_find_their_changes() {
    let text = include_str!("saved-plans/before-device-addresses.json");
    let plan: Plan = serde_json::from_str(text).expect("the old plan loads");
    let steps: Vec<_> = plan.hosts.iter().flat_map(|host| host.steps.iter()).collect();
    assert!(!steps.is_empty());
    for step in steps {
        assert!(plan.change(&step.address).is_some(), "{} has its change", step.address);
    }
    let pruned = plan
        .changes
        .iter()
        .find(|change| change.reason.is_some() && change.name == "vmk1")
        .expect("the pruned adapter");
    assert_eq!(pruned.address.key, AddressKey::Name("vmk1".to_owned()));
    assert_eq!(pruned.address.to_string(), "esx-01/VmkernelAdapter/vmk1");
}

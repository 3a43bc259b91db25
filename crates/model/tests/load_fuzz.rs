//! Loading never panics: mutated, truncated and made-up manifests go through reading, lowering and
//! every rule, and come back as documents or diagnostics. Reading problems always name a line.

use std::path::Path;

use esxnet_model::analysis;
use esxnet_model::load::{self, Loaded};
use esxnet_model::ObservedFleet;
use proptest::prelude::*;

const EXAMPLES: [&str; 6] = [
    include_str!("../../../manifests/examples/00-hosts.yaml"),
    include_str!("../../../manifests/examples/10-provisioning-netstack.yaml"),
    include_str!("../../../manifests/examples/20-provisioning-on-new-switch.yaml"),
    include_str!("../../../manifests/examples/30-vmotion.yaml"),
    include_str!("../../../manifests/examples/40-provisioning-on-existing-switch.yaml"),
    include_str!("../../../manifests/examples/50-provisioning-on-distributed-port-group.yaml"),
];

/// Every example in one stream, so mutations of one document still meet the hosts it selects.
fn all_examples() -> String {
    EXAMPLES.join("---\n")
}

/// A small observed lab, so the rules that need a target run on the mutated manifests too.
fn observed_lab() -> ObservedFleet {
    let host = |name: &str, address: &str| {
        serde_json::json!({
            "name": name, "version": "6.0.0",
            "physicalNics": [{"device": "vmnic0", "mac": "00:50:56:00:00:00", "linkSpeedMb": 10000},
                             {"device": "vmnic2", "mac": "00:50:56:00:00:02", "linkSpeedMb": null}],
            "switches": [{"name": "vSwitch0", "mtu": 1500, "uplinks": ["vmnic0"], "teaming": {"active": ["vmnic0"], "standby": []}}],
            "portGroups": [{"name": "Management Network", "switch": "vSwitch0", "vlan": 0}],
            "adapters": [{"device": "vmk0",
                "connection": {"type": "standard", "switch": "vSwitch0", "portGroup": "Management Network"},
                "stack": "default", "mac": "00:50:56:aa:00:00", "mtu": 1500,
                "ipv4": {"dhcp": false, "address": address, "prefixLength": 16, "gatewayOverride": null},
                "ipv6": {"dhcp": false, "routerAdvertisement": true, "addresses": [], "gatewayOverride": null},
                "services": ["management"]}],
            "stacks": [{"stack": "default", "instantiated": true, "ipv4Gateway": "10.10.0.1", "ipv6Gateway": null,
                        "maxConnections": 11000, "requestedMaxConnections": 11000, "congestionControl": "newreno"}],
            "distributedSwitches": [{"name": "dvs-prod", "uuid": "1", "mtu": 1500,
                "portGroups": [{"name": "dvpg-provisioning", "key": "dvportgroup-1", "vlan": 4095}]}]
        })
    };
    serde_json::from_value(serde_json::json!({"hosts": {
        "esx-01.lab.example": host("esx-01.lab.example", "10.10.0.11"),
        "esx-11.prod.example": host("esx-11.prod.example", "10.120.0.12"),
    }}))
    .expect("valid observed lab")
}

/// Reads, lowers and checks a text; panics only if the model does (which is the bug to find).
fn load_and_analyze(text: &str) {
    let (documents, diagnostics) = load::load_str(Path::new("fuzz.yaml"), text);
    for diagnostic in &diagnostics {
        let location = diagnostic.location.as_ref();
        assert!(
            location.is_some_and(|location| location.line >= 1 && location.column >= 1),
            "a reading problem without a line: {diagnostic:?}"
        );
    }
    let loaded = Loaded {
        documents,
        diagnostics,
        files: Vec::new(),
    };
    let _ = analysis::analyze(&loaded, None);
    let _ = analysis::analyze(&loaded, Some(&observed_lab()));
}

/// One of the example texts, or all of them together.
fn example_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..EXAMPLES.len()).prop_map(|index| EXAMPLES.get(index).copied().unwrap_or_default().to_owned()),
        Just(all_examples()),
    ]
}

/// Byte-level text, turned back into a string the way a careless editor would save it.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Characters YAML gives meaning to, plus plain ones, for insertions and made-up documents.
const YAMLISH: &str = "[a-zA-Z0-9 :,.\\-\\[\\]{}#&*!|>'\"%@`?~=/\n\t]{0,80}";

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn truncated_examples_never_panic(text in example_text(), cut in 0.0f64..1.0) {
        let bytes = text.as_bytes();
        let end = ((bytes.len() as f64) * cut) as usize;
        load_and_analyze(&lossy(bytes.get(..end).unwrap_or(bytes)));
    }

    #[test]
    fn examples_with_deleted_bytes_never_panic(text in example_text(), start in 0.0f64..1.0, length in 1usize..40) {
        let mut bytes = text.into_bytes();
        let from = ((bytes.len() as f64) * start) as usize;
        let to = (from + length).min(bytes.len());
        bytes.drain(from..to);
        load_and_analyze(&lossy(&bytes));
    }

    #[test]
    fn examples_with_inserted_text_never_panic(text in example_text(), at in 0.0f64..1.0, inserted in YAMLISH) {
        let mut bytes = text.into_bytes();
        let position = ((bytes.len() as f64) * at) as usize;
        let position = position.min(bytes.len());
        bytes.splice(position..position, inserted.into_bytes());
        load_and_analyze(&lossy(&bytes));
    }

    #[test]
    fn examples_with_swapped_lines_never_panic(text in example_text(), first in 0.0f64..1.0, second in 0.0f64..1.0) {
        let mut lines: Vec<&str> = text.lines().collect();
        let first = ((lines.len() as f64) * first) as usize;
        let second = ((lines.len() as f64) * second) as usize;
        if first < lines.len() && second < lines.len() {
            lines.swap(first, second);
        }
        load_and_analyze(&(lines.join("\n") + "\n"));
    }

    #[test]
    fn examples_with_replaced_values_never_panic(text in example_text(), line in 0.0f64..1.0, value in YAMLISH) {
        // Keep the key, change the value: this reaches the rules far more often than random bytes.
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let index = ((lines.len() as f64) * line) as usize;
        if let Some(target) = lines.get_mut(index) {
            if let Some(colon) = target.find(": ") {
                target.truncate(colon + 2);
                target.push_str(&value.replace('\n', " "));
            }
        }
        load_and_analyze(&(lines.join("\n") + "\n"));
    }

    #[test]
    fn made_up_yaml_never_panics(text in YAMLISH) {
        load_and_analyze(&text);
    }
}

/// Found by `made_up_yaml_never_panics`: serde_yaml yielded documents for this text without end.
#[test]
fn a_tab_before_a_flow_indicator_is_an_error_not_an_endless_loop() {
    let (documents, diagnostics) = load::load_str(Path::new("fuzz.yaml"), "\tJ]?");
    assert!(documents.is_empty());
    assert!(!diagnostics.is_empty());
}

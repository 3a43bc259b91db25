//! Lab files as hostile input: a host file or the settings with a value replaced anywhere, or cut
//! short, is loaded and used without a panic. Each either loads (and then a change goes through the
//! simulator like any other) or is refused as corrupt, inconsistent or of another format.
//!
//! A bounded number of cases runs in the suite; `PROPTEST_CASES=5000` runs more on demand.

use std::path::Path;

use esxnet_executor::{Backend, Operation};
use esxnet_sim::{HostNames, InitOptions, Lab, SimBackend};
use proptest::prelude::*;
use serde_json::Value;

/// How many nodes a JSON value has, itself included.
fn node_count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(node_count).sum(),
        Value::Object(map) => map.values().map(node_count).sum(),
        _ => 0,
    }
}

/// Replaces the `index`-th node (depth first) with `replacement`; answers whether it found it.
fn replace_node(value: &mut Value, index: &mut usize, replacement: &Value) -> bool {
    if *index == 0 {
        *value = replacement.clone();
        return true;
    }
    *index -= 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|item| replace_node(item, index, replacement)),
        Value::Object(map) => map.values_mut().any(|item| replace_node(item, index, replacement)),
        _ => false,
    }
}

fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(4_294_967_296u64)),
        Just(serde_json::json!(1.5)),
        Just(serde_json::json!(true)),
        Just(serde_json::json!("")),
        Just(serde_json::json!("vmnic9")),
        Just(serde_json::json!("esx-2")),
        Just(serde_json::json!("fe80::1/64")),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!([[[[[[[[[[]]]]]]]]]])),
    ]
}

#[derive(Debug, Clone)]
enum Damage {
    /// A node of the host file replaced.
    Host { node: usize, with: Value },
    /// A node of lab.json replaced.
    Settings { node: usize, with: Value },
    /// The host file cut after this share of its bytes (per mille).
    Truncated { per_mille: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => (any::<usize>(), replacement()).prop_map(|(node, with)| Damage::Host { node, with }),
        1 => (any::<usize>(), replacement()).prop_map(|(node, with)| Damage::Settings { node, with }),
        1 => (0usize..1000).prop_map(|per_mille| Damage::Truncated { per_mille }),
    ]
}

fn damage_file(path: &Path, node: usize, with: &Value) {
    let mut value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut index = node % node_count(&value);
    assert!(replace_node(&mut value, &mut index, with));
    std::fs::write(path, value.to_string()).unwrap();
}

fn exercise(dir: &Path) {
    // Reading: an error is fine, a panic is the bug.
    if let Ok(lab) = Lab::open(dir) {
        let _ = lab.observe("esx-1");
        let _ = lab.observe_all();
    }
    // Writing: a change through the backend, then the host read back.
    if let Ok(backend) = SimBackend::open_writer(dir) {
        let _ = backend.execute(
            "esx-1",
            &Operation::AddPortGroup {
                name: "Fuzz".into(),
                switch: "vSwitch0".into(),
                vlan: 7,
                teaming: Default::default(),
                security: Default::default(),
            },
        );
        let _ = backend.observe("esx-1");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn damaged_lab_files_never_panic(damage in damage()) {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            hosts: HostNames::Count(1),
            iscsi_adapter: true,
            ..InitOptions::default()
        };
        drop(Lab::init(dir.path(), &options).unwrap());
        let host_file = dir.path().join("hosts/esx-1.json");
        match &damage {
            Damage::Host { node, with } => damage_file(&host_file, *node, with),
            Damage::Settings { node, with } => damage_file(&dir.path().join("lab.json"), *node, with),
            Damage::Truncated { per_mille } => {
                let bytes = std::fs::read(&host_file).unwrap();
                std::fs::write(&host_file, &bytes[..bytes.len() * per_mille / 1000]).unwrap();
            }
        }
        exercise(dir.path());
    }
}

//! JSON Schemas of the manifest kinds and of the observed-state snapshot format.

use schemars::JsonSchema;

use crate::manifest::{
    AnyDocument, HostDocument, NetStackDocument, StandardSwitchDocument, TargetDocument, VmkernelAdapterDocument,
};
use crate::observed::ObservedFleet;

/// A schema file: its name in `schemas/` and its pretty-printed JSON.
pub type SchemaFile = (String, String);

fn render<T: JsonSchema>(file: &str) -> SchemaFile {
    let schema = schemars::schema_for!(T);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    (file.to_owned(), text)
}

/// The schemas this crate owns, by file name.
pub fn model_schemas() -> Vec<SchemaFile> {
    vec![
        render::<AnyDocument>("manifest.schema.json"),
        render::<HostDocument>("host.schema.json"),
        render::<StandardSwitchDocument>("standard-switch.schema.json"),
        render::<NetStackDocument>("net-stack.schema.json"),
        render::<VmkernelAdapterDocument>("vmkernel-adapter.schema.json"),
        render::<TargetDocument>("target.schema.json"),
        render::<ObservedFleet>("observed.schema.json"),
    ]
}

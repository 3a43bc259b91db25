//! `esxnet schema`: the JSON Schemas, generated from the types.

use anyhow::{Context, Result};

use crate::cli::SchemaArgs;
use crate::Outcome;
use esxnet::output::Output;

/// Every schema file: the model's, the plan's and the saved plan's.
pub fn all_schemas() -> Vec<(String, String)> {
    let mut files = esxnet_model::schema::model_schemas();
    files.push(esxnet_planner::plan_schema());
    files.push(esxnet::saved_plan::schema());
    files
}

pub fn run(arguments: &SchemaArgs, output: &Output) -> Result<Outcome> {
    let files = all_schemas();
    match &arguments.out {
        None => {
            let manifest = files
                .iter()
                .find(|(name, _)| name == "manifest.schema.json")
                .map(|(_, text)| text.as_str());
            output.result(manifest.unwrap_or_default());
        }
        Some(directory) => {
            std::fs::create_dir_all(directory).with_context(|| format!("cannot create {}", directory.display()))?;
            for (name, text) in &files {
                let path = directory.join(name);
                std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            }
            output.status(&format!("wrote {} schemas to {}", files.len(), directory.display()));
        }
    }
    Ok(Outcome::Success)
}

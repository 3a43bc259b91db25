//! `esxnet observe`: what the hosts have now, as YAML or JSON (a `snapshot:` file).

use anyhow::Result;
use esxnet::ops;
use esxnet::output::Output;

use crate::cli::{ObserveArgs, StateFormat};
use crate::Outcome;

pub fn run(arguments: &ObserveArgs, output: &Output) -> Result<Outcome> {
    let fleet = ops::observe(
        arguments.target.or_default(),
        &arguments.hosts,
        arguments.parallelism as usize,
    )?;
    let text = match arguments.output {
        StateFormat::Json => serde_json::to_string_pretty(&fleet)? + "\n",
        StateFormat::Yaml => serde_yaml::to_string(&fleet)?,
    };
    output.result(&text);
    Ok(Outcome::Success)
}

//! `esxnet observe`: what the hosts have now, as YAML or JSON (a `snapshot:` file).

use anyhow::Result;

use crate::cli::{ObserveArgs, StateFormat};
use crate::output::Output;
use crate::target::Target;
use crate::Outcome;

pub fn run(arguments: &ObserveArgs, output: &Output) -> Result<Outcome> {
    let backend = Target::parse(&arguments.target.target)?.open(&[], false, arguments.parallelism as usize)?;
    let hosts = if arguments.hosts.is_empty() {
        backend
            .host_names()
            .map_err(|error| anyhow::anyhow!("cannot list the hosts of {}: {}", backend.describe(), error.message))?
    } else {
        arguments.hosts.clone()
    };
    let fleet = crate::target::observe(backend.as_ref(), &hosts, arguments.parallelism as usize)?;
    let text = match arguments.output {
        StateFormat::Json => serde_json::to_string_pretty(&fleet)? + "\n",
        StateFormat::Yaml => serde_yaml::to_string(&fleet)?,
    };
    output.result(&text);
    Ok(Outcome::Success)
}

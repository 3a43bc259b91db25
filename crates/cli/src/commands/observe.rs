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
    // Selecting nothing is a mistake to say, not an empty answer to print.
    let missing: Vec<&str> = hosts
        .iter()
        .filter(|host| !fleet.hosts.contains_key(host.as_str()))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let known = backend.host_names().unwrap_or_default();
        let listed = if known.len() > 10 {
            format!("{}, … ({} hosts)", known[..10].join(", "), known.len())
        } else {
            known.join(", ")
        };
        anyhow::bail!(
            "{} has no host {}: name hosts it has ({listed}), or leave --hosts out for all of them",
            backend.describe(),
            missing.join(", ")
        );
    }
    let text = match arguments.output {
        StateFormat::Json => serde_json::to_string_pretty(&fleet)? + "\n",
        StateFormat::Yaml => serde_yaml::to_string(&fleet)?,
    };
    output.result(&text);
    Ok(Outcome::Success)
}

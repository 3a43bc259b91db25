//! `esxnet sim …`.

use anyhow::{Context, Result};
use esxnet_sim::{HostNames, InitOptions, Lab};

use crate::cli::{SimCommand, SimInitArgs};
use crate::output::Output;
use crate::Outcome;

pub fn run(command: SimCommand, output: &Output) -> Result<Outcome> {
    match command {
        SimCommand::Init(arguments) => init(&arguments, output),
    }
}

fn init(arguments: &SimInitArgs, output: &Output) -> Result<Outcome> {
    let hosts: HostNames = arguments.hosts.parse()?;
    if !(0.0..=1.0).contains(&arguments.transient_fault_rate) {
        anyhow::bail!("--transient-fault-rate must be between 0 and 1, such as 0.3");
    }
    let options = InitOptions {
        hosts,
        version: arguments.version.parse()?,
        latency_ms: arguments.latency_ms,
        transient_fault_rate: arguments.transient_fault_rate,
        seed: arguments.seed,
    };
    let lab = Lab::init(&arguments.dir, &options)
        .with_context(|| format!("cannot make a simulated lab at {}", arguments.dir.display()))?;
    let count = lab.host_names()?.len();
    output.status(&format!(
        "made a simulated lab at {} with {count} ESXi {} host{}; use it with --target sim:{}",
        arguments.dir.display(),
        options.version,
        if count == 1 { "" } else { "s" },
        arguments.dir.display()
    ));
    Ok(Outcome::Success)
}

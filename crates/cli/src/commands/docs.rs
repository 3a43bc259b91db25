//! `esxnet completions SHELL` and `esxnet man`: generated from the clap definitions, so they list
//! every command and flag the binary has.

use anyhow::{Context, Result};
use clap::CommandFactory;
use esxnet::output::Output;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::Outcome;

pub fn completions(arguments: &CompletionsArgs, output: &Output) -> Result<Outcome> {
    let mut command = Cli::command();
    if let Some(directory) = &arguments.out {
        std::fs::create_dir_all(directory).with_context(|| format!("cannot create {}", directory.display()))?;
        let path = clap_complete::generate_to(arguments.shell, &mut command, "esxnet", directory)
            .with_context(|| format!("cannot write the completions into {}", directory.display()))?;
        output.status(&format!("wrote {}", path.display()));
        return Ok(Outcome::Success);
    }
    let mut script = Vec::new();
    clap_complete::generate(arguments.shell, &mut command, "esxnet", &mut script);
    output.result(&String::from_utf8_lossy(&script));
    Ok(Outcome::Success)
}

pub fn man(arguments: &ManArgs, output: &Output) -> Result<Outcome> {
    let command = Cli::command();
    match &arguments.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("cannot render the man page")?;
            output.result(&String::from_utf8_lossy(&page));
        }
        Some(directory) => {
            std::fs::create_dir_all(directory).with_context(|| format!("cannot create {}", directory.display()))?;
            // esxnet.1, then esxnet-plan.1 and the like for every command and subcommand.
            clap_mangen::generate_to(command, directory)
                .with_context(|| format!("cannot write the man pages into {}", directory.display()))?;
            output.status(&format!("wrote the man pages into {}", directory.display()));
        }
    }
    Ok(Outcome::Success)
}

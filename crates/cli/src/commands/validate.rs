//! `esxnet validate`.

use anyhow::Result;
use esxnet_model::analysis;

use crate::cli::ValidateArgs;
use crate::output::Output;
use crate::target::{Target, DEFAULT_PARALLELISM};
use crate::Outcome;

pub fn run(arguments: &ValidateArgs, output: &Output) -> Result<Outcome> {
    let loaded = analysis::load(&arguments.paths);
    let observed = match &arguments.target {
        Some(target) if !esxnet_model::diagnostic::has_errors(&loaded.diagnostics) => {
            let hosts = analysis::declared_hosts(&loaded);
            let backend = Target::parse(target)?.open_for_manifests(&loaded, false, DEFAULT_PARALLELISM)?;
            Some(crate::target::observe(backend.as_ref(), &hosts, DEFAULT_PARALLELISM)?)
        }
        _ => None,
    };
    let result = analysis::analyze(&loaded, observed.as_ref());
    output.diagnostics(&result.diagnostics);
    let errors = result
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
        .count();
    let warnings = result.diagnostics.len() - errors;
    if errors > 0 {
        output.status(&format!(
            "{errors} error{} and {warnings} warning{} in {} file{}: nothing was applied",
            plural(errors),
            plural(warnings),
            loaded.files.len(),
            plural(loaded.files.len())
        ));
        return Ok(Outcome::Failed);
    }
    output.result(&format!(
        "valid: {} documents in {} file{}, {} host{}, {warnings} warning{}",
        loaded.documents.len(),
        loaded.files.len(),
        plural(loaded.files.len()),
        result.fleet.hosts.len(),
        plural(result.fleet.hosts.len()),
        plural(warnings)
    ));
    Ok(Outcome::Success)
}

pub fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

//! `esxnet validate`.

use anyhow::Result;
use esxnet::ops;
use esxnet::output::Output;

use crate::cli::ValidateArgs;
use crate::Outcome;

pub fn run(arguments: &ValidateArgs, output: &Output) -> Result<Outcome> {
    let validation = ops::validate_with(&arguments.paths, arguments.target.as_deref(), true)?;
    output.diagnostics(&validation.diagnostics);
    let errors = validation.errors();
    let warnings = validation.diagnostics.len() - errors;
    if errors > 0 {
        output.status(&format!(
            "{errors} error{} and {warnings} warning{} in {} file{}: nothing was applied",
            plural(errors),
            plural(warnings),
            validation.files,
            plural(validation.files)
        ));
        return Ok(Outcome::Failed);
    }
    output.result(&format!(
        "valid: {} documents in {} file{}, {} host{}, {warnings} warning{}",
        validation.documents,
        validation.files,
        plural(validation.files),
        validation.hosts,
        plural(validation.hosts),
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

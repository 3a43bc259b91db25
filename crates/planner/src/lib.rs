//! esxnet's planner: desired state and observed state in, a [`Plan`] value out.
//!
//! Pure: no IO, no backend. The diff lives in [`diff`], ordering in [`graph`], the object states
//! that plans and the executor compare in [`state`], and the renderers in [`render`].

#![warn(missing_docs)]

pub mod address;
pub mod diff;
pub mod esxi;
pub mod graph;
pub mod plan;
pub mod reach;
pub mod render;
pub mod restore;
pub mod state;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use esxnet_model::desired::{DesiredFleet, DesiredHost};
use esxnet_model::diagnostic::{self, Diagnostic, RuleId};
use esxnet_model::observed::{ObservedFleet, ObservedHost};
use sha2::{Digest, Sha256};

pub use address::{Address, AddressKey};
pub use plan::{
    Action, Change, ChangeReason, DriftKind, HostPlan, HostStatus, Phase, Plan, PlanOptions, Step, Summary,
};

/// The fingerprint of a host's observed state: what a saved plan was computed from.
///
/// Migrations in flight are left out: they come and go without changing the network.
pub fn fingerprint(host: &ObservedHost) -> String {
    // The host's JSON, printed whole and hashed at once: serde_json writes a token at a time,
    // and hashing each few bytes on its own cost more than the hash itself. A copy is made only to
    // leave out migrations in flight, which a host rarely has.
    let json = if host.active_migrations.is_empty() {
        serde_json::to_vec(host)
    } else {
        let mut stable = host.clone();
        stable.active_migrations.clear();
        serde_json::to_vec(&stable)
    };
    // Serializing plain data cannot fail; should it, the empty input's digest still names the
    // host's state as unknown the same way every time, as before.
    let digest = Sha256::digest(json.unwrap_or_default());
    let mut hex = String::with_capacity(32);
    for byte in digest.iter().take(16) {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Plans every declared host.
///
/// `diagnostics` are the manifest's (from analysis). A host with an error is not planned; other
/// hosts are. An error that names no host stops every host.
pub fn plan(
    desired: &DesiredFleet,
    observed: &ObservedFleet,
    mut diagnostics: Vec<Diagnostic>,
    options: &PlanOptions,
) -> Plan {
    let global_error = diagnostics
        .iter()
        .any(|diagnostic| diagnostic.is_error() && diagnostic.host.is_none());
    let hosts_with_errors: BTreeSet<&str> = diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
        .filter_map(|diagnostic| diagnostic.host.as_deref())
        .collect();
    // Hosts plan independently of each other: in parallel, then joined in host order, so the plan
    // is the same value whatever the number of threads. A change is large (about 560 bytes), and a
    // 10,000-host plan has tens of thousands: each thread gathers its hosts' changes into one list
    // as it goes, the first thread's list reserved for the whole plan, so they are copied once, and
    // only the later threads' ones.
    let desired_hosts: Vec<(&String, &DesiredHost)> = desired.hosts.iter().collect();
    let parts = esxnet_model::parallel::map_chunks_in_order(&desired_hosts, |start, hosts| {
        let reserved = if start == 0 { &desired_hosts[..] } else { hosts };
        let mut part = PlannedPart {
            hosts: Vec::with_capacity(hosts.len()),
            changes: Vec::with_capacity(
                reserved
                    .iter()
                    .map(|(name, desired_host)| changes_estimate(desired_host, observed.hosts.get(*name)))
                    .sum(),
            ),
            diagnostics: Vec::new(),
        };
        for (name, desired_host) in hosts {
            let host_has_error = global_error || hosts_with_errors.contains(name.as_str());
            let planned = plan_host(name, desired_host, observed.hosts.get(*name), host_has_error, options);
            part.changes.extend(planned.changes);
            part.diagnostics.extend(planned.diagnostics);
            part.hosts.push(planned.plan);
        }
        part
    });
    let mut parts = parts.into_iter();
    let PlannedPart {
        mut hosts,
        mut changes,
        diagnostics: first_diagnostics,
    } = parts.next().unwrap_or_default();
    diagnostics.extend(first_diagnostics);
    for part in parts {
        changes.extend(part.changes);
        hosts.extend(part.hosts);
        diagnostics.extend(part.diagnostics);
    }
    diagnostic::sort(&mut diagnostics);
    let summary = summarize(&changes, &hosts);
    Plan {
        format_version: plan::FORMAT_VERSION,
        options: options.clone(),
        changes,
        hosts,
        diagnostics,
        summary,
    }
}

/// The part of the plan one thread made: its hosts', in host order.
#[derive(Default)]
struct PlannedPart {
    hosts: Vec<HostPlan>,
    changes: Vec<Change>,
    diagnostics: Vec<Diagnostic>,
}

/// About how many changes a host's plan has, a little more rather than less: one a declared
/// object, two an adapter (its services), one an object on the host (unmanaged ones).
fn changes_estimate(desired: &DesiredHost, observed: Option<&ObservedHost>) -> usize {
    desired.switches.len()
        + desired.port_groups.len()
        + 2 * desired.adapters.len()
        + desired.stacks.len()
        + observed.map_or(0, |host| {
            host.switches.len() + host.port_groups.len() + host.adapters.len()
        })
}

/// One host's part of the plan.
struct PlannedHost {
    plan: HostPlan,
    changes: Vec<Change>,
    diagnostics: Vec<Diagnostic>,
}

/// Plans one host: its diff, ordered over its dependency graph, or why it is refused.
fn plan_host(
    name: &str,
    desired_host: &DesiredHost,
    observed_host: Option<&ObservedHost>,
    host_has_error: bool,
    options: &PlanOptions,
) -> PlannedHost {
    let refusal = |fingerprint: String, reason: &str, diagnostics: Vec<Diagnostic>| PlannedHost {
        plan: refused(name, fingerprint, reason),
        changes: Vec::new(),
        diagnostics,
    };
    let Some(observed_host) = observed_host else {
        let unknown = Diagnostic::error(
            RuleId::Esx017,
            format!("host {name} is not known to the target: check the name, or that the target is the right vCenter or lab"),
        )
        .at(desired_host.source.document_location(), "metadata.name")
        .on_host(name.to_owned());
        return refusal(String::new(), "the target does not know this host", vec![unknown]);
    };
    let fingerprint = fingerprint(observed_host);
    if host_has_error {
        return refusal(fingerprint, "its manifests have errors", Vec::new());
    }
    let host_diff = diff::diff_host(desired_host, observed_host, options);
    if diagnostic::has_errors(&host_diff.diagnostics) {
        return refusal(fingerprint, "planning it found errors", host_diff.diagnostics);
    }
    match graph::order(&host_diff.changes) {
        Ok(ordered) => {
            let mut host_changes = host_diff.changes;
            sort_changes_by_steps(&mut host_changes, &ordered.steps);
            PlannedHost {
                plan: HostPlan {
                    host: name.to_owned(),
                    fingerprint,
                    status: HostStatus::Planned,
                    steps: ordered.steps,
                    edges: ordered.edges,
                    unmanaged: host_diff.unmanaged,
                    notes: host_diff.notes,
                },
                changes: host_changes,
                diagnostics: host_diff.diagnostics,
            }
        }
        Err(cycle) => {
            let mut diagnostics = host_diff.diagnostics;
            diagnostics.push(
                Diagnostic::error(
                    RuleId::Esx021,
                    format!(
                        "the changes of {name} depend on each other in a cycle: {}; split the change into two applies",
                        cycle.members.join(" → ")
                    ),
                )
                .on_host(name.to_owned()),
            );
            refusal(fingerprint, "its changes form a dependency cycle", diagnostics)
        }
    }
}

fn refused(host: &str, fingerprint: String, reason: &str) -> HostPlan {
    HostPlan {
        host: host.to_owned(),
        fingerprint,
        status: HostStatus::Refused {
            reason: reason.to_owned(),
        },
        steps: Vec::new(),
        edges: Vec::new(),
        unmanaged: Vec::new(),
        notes: Vec::new(),
    }
}

/// Orders a host's changes like its first steps, noops last, so readers see them in execution order.
fn sort_changes_by_steps(changes: &mut [Change], steps: &[Step]) {
    let first_step = |change: &Change| {
        steps
            .iter()
            .position(|step| step.address == change.address)
            .unwrap_or(usize::MAX)
    };
    changes.sort_by(|one, other| (first_step(one), &one.address).cmp(&(first_step(other), &other.address)));
}

/// Counts changes and hosts: the [`Summary`] a plan of them holds (a saved plan's summary is
/// checked against its changes with it).
pub fn summarize(changes: &[Change], hosts: &[HostPlan]) -> Summary {
    let mut summary = Summary::default();
    for change in changes {
        match change.action {
            Action::Noop => summary.noop += 1,
            Action::Create => summary.create += 1,
            Action::Update => summary.update += 1,
            Action::Replace => summary.replace += 1,
            Action::Delete => summary.delete += 1,
        }
    }
    summary.unmanaged = hosts.iter().map(|host| host.unmanaged.len()).sum();
    summary.hosts_planned = hosts.iter().filter(|host| host.status == HostStatus::Planned).count();
    summary.hosts_refused = hosts.len() - summary.hosts_planned;
    summary
}

/// The JSON Schema of the plan's JSON format, as `(file name, text)`.
pub fn plan_schema() -> (String, String) {
    let schema = schemars::schema_for!(Plan);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    ("plan.schema.json".to_owned(), text)
}

#[cfg(test)]
mod tests {
    use esxnet_model::common::StackKind;
    use esxnet_model::observed::{ActiveMigration, MigrationKind, ObservedHost};

    use super::fingerprint;

    fn host() -> ObservedHost {
        serde_json::from_str(r#"{"name": "esx-01", "version": "8.0.3"}"#).expect("a host")
    }

    #[test]
    fn a_fingerprint_names_the_state_and_ignores_migrations_in_flight() {
        let plain = host();
        let mut migrating = host();
        migrating.active_migrations.push(ActiveMigration {
            id: "task-42".to_owned(),
            kind: MigrationKind::Live,
            stack: StackKind::Vmotion,
            adapter: "vmk1".to_owned(),
        });
        let mut other = host();
        other.ipv6_enabled = !other.ipv6_enabled;

        let print = fingerprint(&plain);
        assert_eq!(print.len(), 32, "{print}");
        assert!(print.bytes().all(|byte| byte.is_ascii_hexdigit()), "{print}");
        assert_eq!(
            fingerprint(&migrating),
            print,
            "a migration in flight is not a change of state"
        );
        assert_ne!(fingerprint(&other), print, "another state has another fingerprint");
        assert_eq!(
            fingerprint(&host()),
            print,
            "the same state always has the same fingerprint"
        );
    }
}

//! Plans that put hosts back the way they were: the before-state of a run, as the executor
//! journaled it, is the desired state, and the plan is made like any other (the managed state of
//! every object compared, [`crate::graph`]'s ordering, the executor's preconditions), so a
//! rollback is an ordinary, reviewable, journaled apply rather than a hand-written undo.
//!
//! Every object of either state is compared by its managed state ([`crate::state`]):
//! switches and port groups by name, stacks by key, adapters by device, services of default-stack
//! adapters with their adapter. What ESXi does not let anyone undo stays, and the host's plan
//! says so in a note: a vMotion or Provisioning stack stays instantiated once an adapter used it
//! (its settings are put back), and a re-created adapter gets the lowest free device.

use std::collections::BTreeSet;

use esxnet_model::common::{Service, StackKind};
use esxnet_model::diagnostic::{self, Diagnostic, RuleId};
use esxnet_model::observed::{ObservedFleet, ObservedHost};

use crate::diff::new_change;
use crate::plan::{Change, ChangeReason, HostPlan, HostStatus, Plan, PlanOptions};
use crate::state::{self, Identity, ObjectKind, ObjectState, ServicesState};
use crate::{fingerprint, graph, plan, summarize, Action, Address};

/// The plan that takes every host of `current` back to its state in `before`. Hosts missing
/// from either side are left out.
pub fn plan_restore(before: &ObservedFleet, current: &ObservedFleet) -> Plan {
    let mut changes = Vec::new();
    let mut hosts = Vec::new();
    let mut diagnostics = Vec::new();
    for (name, before_host) in &before.hosts {
        let Some(current_host) = current.hosts.get(name) else {
            continue;
        };
        let mut host_changes = restore_changes(before_host, current_host);
        host_changes.retain(|change| change.action != Action::Noop);
        let mut notes = Vec::new();
        for stack in &before_host.stacks {
            let now_instantiated = current_host.stack(stack.stack).is_some_and(|now| now.instantiated);
            if !stack.instantiated && now_instantiated {
                notes.push(format!(
                    "the {} TCP/IP stack stays instantiated: ESXi keeps a stack once an adapter used it; its settings are put back",
                    stack.stack
                ));
            }
        }
        match graph::order(&host_changes) {
            Ok(ordered) => {
                crate::sort_changes_by_steps(&mut host_changes, &ordered.steps);
                hosts.push(HostPlan {
                    host: name.clone(),
                    fingerprint: fingerprint(current_host),
                    status: HostStatus::Planned,
                    steps: ordered.steps,
                    edges: ordered.edges,
                    unmanaged: Vec::new(),
                    notes,
                });
                changes.extend(host_changes);
            }
            Err(cycle) => {
                diagnostics.push(
                    Diagnostic::error(
                        RuleId::Esx021,
                        format!(
                            "putting {name} back depends on its changes in a cycle: {}; restore it by hand",
                            cycle.members.join(" → ")
                        ),
                    )
                    .on_host(name.clone()),
                );
                hosts.push(HostPlan {
                    host: name.clone(),
                    fingerprint: fingerprint(current_host),
                    status: HostStatus::Refused {
                        reason: "its changes form a dependency cycle".to_owned(),
                    },
                    steps: Vec::new(),
                    edges: Vec::new(),
                    unmanaged: Vec::new(),
                    notes,
                });
            }
        }
    }
    diagnostic::sort(&mut diagnostics);
    let summary = summarize(&changes, &hosts);
    Plan {
        format_version: plan::FORMAT_VERSION,
        options: PlanOptions {
            prune: false,
            allow_management_changes: true,
        },
        changes,
        hosts,
        diagnostics,
        summary,
    }
}

/// One change per object that differs between `current` and `before`.
fn restore_changes(before: &ObservedHost, current: &ObservedHost) -> Vec<Change> {
    let host = before.name.as_str();
    let mut changes = Vec::new();

    let switches: BTreeSet<&str> = before
        .switches
        .iter()
        .chain(&current.switches)
        .map(|switch| switch.name.as_str())
        .collect();
    for name in switches {
        let identity = Identity::StandardSwitch { name: name.to_owned() };
        changes.push(change_between(
            host,
            ObjectKind::StandardSwitch,
            name,
            identity,
            current,
            before,
        ));
    }

    let port_groups: BTreeSet<&str> = before
        .port_groups
        .iter()
        .chain(&current.port_groups)
        .map(|port_group| port_group.name.as_str())
        .collect();
    for name in port_groups {
        let identity = Identity::PortGroup { name: name.to_owned() };
        let mut change = change_between(host, ObjectKind::PortGroup, name, identity, current, before);
        if let (Some(ObjectState::PortGroup(now)), Some(ObjectState::PortGroup(then))) = (&change.before, &change.after)
        {
            if now.switch != then.switch {
                change.action = Action::Replace;
                change.replace_paths = vec!["switch".to_owned()];
                change.reason = Some(ChangeReason::PortGroupMovesSwitch);
            }
        }
        changes.push(change);
    }

    for stack in &before.stacks {
        // A stack nobody instantiated cannot be edited, and nothing changed it.
        if !current.stack(stack.stack).is_some_and(|now| now.instantiated) {
            continue;
        }
        let identity = Identity::NetStack { stack: stack.stack };
        let mut change = change_between(
            host,
            ObjectKind::NetStack,
            stack.stack.as_str(),
            identity,
            current,
            before,
        );
        change.touches_management = stack.stack == StackKind::Default;
        changes.push(change);
    }

    let devices: BTreeSet<&str> = before
        .adapters
        .iter()
        .chain(&current.adapters)
        .map(|adapter| adapter.device.as_str())
        .collect();
    for device in devices {
        let then = before.adapter(device);
        let now = current.adapter(device);
        let recreated = match (then, now) {
            (Some(then), Some(now)) => then.stack != now.stack || then.connection != now.connection,
            _ => false,
        };
        let carries_management = |adapter: Option<&esxnet_model::observed::ObservedAdapter>| {
            adapter.is_some_and(|adapter| adapter.services.contains(&Service::Management))
        };
        let touches_management = carries_management(then) || carries_management(now);
        let address = Address::device(host, ObjectKind::VmkernelAdapter, device);
        let adapter_change = match (then, now) {
            (Some(then), None) => {
                // Created again: ESXi chooses the device, found afterwards by its port group.
                let mut wanted = state::adapter_state(then);
                wanted.device = None;
                let identity = Identity::VmkernelAdapter {
                    device: None,
                    connection: then.connection.clone(),
                };
                let mut change = new_change(
                    host,
                    ObjectKind::VmkernelAdapter,
                    device,
                    identity,
                    None,
                    Some(ObjectState::VmkernelAdapter(wanted)),
                );
                change.address = address;
                change
            }
            (then, Some(now)) => {
                let identity = Identity::VmkernelAdapter {
                    device: Some(device.to_owned()),
                    connection: now.connection.clone(),
                };
                let wanted = then.map(|then| {
                    let mut wanted = state::adapter_state(then);
                    if recreated {
                        wanted.device = None;
                    }
                    ObjectState::VmkernelAdapter(wanted)
                });
                let mut change = new_change(
                    host,
                    ObjectKind::VmkernelAdapter,
                    device,
                    identity,
                    Some(ObjectState::VmkernelAdapter(state::adapter_state(now))),
                    wanted,
                );
                if recreated {
                    change.action = Action::Replace;
                    change.fields = crate::diff::field_changes(change.before.as_ref(), change.after.as_ref());
                    change.reason = Some(ChangeReason::AdapterRecreated {
                        stack: then.is_some_and(|then| then.stack != now.stack),
                        port_group: then.is_some_and(|then| then.connection != now.connection),
                    });
                }
                change.address = address;
                change
            }
            (None, None) => continue,
        };
        let adapter_change = Change {
            touches_management,
            ..adapter_change
        };
        changes.push(adapter_change);

        // The services of a default-stack adapter the host had.
        let Some(then) = then.filter(|then| then.stack == StackKind::Default) else {
            continue;
        };
        let kept = now.filter(|_| !recreated);
        let identity = Identity::Services {
            device: kept.map(|now| now.device.clone()),
            connection: then.connection.clone(),
        };
        let mut change = new_change(
            host,
            ObjectKind::Services,
            device,
            identity,
            kept.map(|now| {
                ObjectState::Services(ServicesState {
                    services: now.services.clone(),
                })
            }),
            Some(ObjectState::Services(ServicesState {
                services: then.services.clone(),
            })),
        );
        change.address = Address::device(host, ObjectKind::Services, device);
        change.touches_management = touches_management;
        changes.push(change);
    }
    changes
}

/// The change from an object's state in `current` to its state in `before`.
fn change_between(
    host: &str,
    kind: ObjectKind,
    name: &str,
    identity: Identity,
    current: &ObservedHost,
    before: &ObservedHost,
) -> Change {
    let now = state::current_state(current, &identity);
    let then = state::current_state(before, &identity);
    new_change(host, kind, name, identity, now, then)
}

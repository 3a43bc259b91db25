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
//!
//! An undo ([`plan_undo`]) also knows the state the run left each host in, and puts back only
//! what the run changed, the way a three-way merge does: an object the run did not change stays
//! as it is now, whatever happened to it since; of an object the run updated, only the fields
//! the run changed go back, so a field someone else changed since the run keeps their value. A
//! field both the run and someone since changed gets its value from before the run, and the
//! host's plan says so. A host the run did not finish (no after-state journaled) is put back
//! whole, as [`plan_restore`] does, and its plan says that too.

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
    plan_back(before, None, current)
}

/// The plan that undoes a run on every host of `current`: what differs between the host's state
/// before the run (`before`) and after it (`after`) goes back to `before`, and nothing else.
/// Hosts missing from `after` (the run did not finish them) go back to `before` whole.
pub fn plan_undo(before: &ObservedFleet, after: &ObservedFleet, current: &ObservedFleet) -> Plan {
    plan_back(before, Some(after), current)
}

fn plan_back(before: &ObservedFleet, after: Option<&ObservedFleet>, current: &ObservedFleet) -> Plan {
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
        match after.map(|after| after.hosts.get(name)) {
            None => {}
            Some(Some(after_host)) => {
                notes.extend(only_what_the_run_changed(&mut host_changes, before_host, after_host));
            }
            Some(None) => notes.push(
                "the run did not finish on this host (no state after it was journaled): everything that differs from its state before the run is put back"
                    .to_owned(),
            ),
        }
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

/// Keeps of `changes` (from the host now back to `before`) only what the run changed, the run
/// having left the host in `after`; answers the notes that say what was left alone or merged.
fn only_what_the_run_changed(changes: &mut Vec<Change>, before: &ObservedHost, after: &ObservedHost) -> Vec<String> {
    // From the state the run left back to `before`: exactly the run's changes, by address.
    let run_changes: std::collections::BTreeMap<Address, Change> = restore_changes(before, after)
        .into_iter()
        .filter(|change| change.action != Action::Noop)
        .map(|change| (change.address.clone(), change))
        .collect();
    let mut left_alone = Vec::new();
    let mut notes = Vec::new();
    changes.retain_mut(|change| {
        let Some(run_change) = run_changes.get(&change.address) else {
            left_alone.push(change.address.to_string());
            return false;
        };
        // `run_change.before` is the object as the run left it, `change.before` as it is now.
        if run_change.before == change.before {
            return true;
        }
        // Field by field where the run updated the object; whole where it made, removed or
        // replaced it, or where the merge is no state of its kind.
        let merged = match (
            change.action,
            change.before.as_ref(),
            change.after.as_ref(),
            run_change.before.as_ref(),
        ) {
            (Action::Update, Some(now), Some(then), Some(left)) => merge(now, then, left).map(|merged| (now, merged)),
            _ => None,
        };
        let Some((now, (merged, both))) = merged else {
            notes.push(format!(
                "{} changed since the run: it is put back whole to its state before the run",
                change.address
            ));
            return true;
        };
        if now.satisfies(&merged) {
            // What the run changed is already back (by hand, say); the rest is someone else's.
            left_alone.push(change.address.to_string());
            return false;
        }
        change.fields = crate::diff::field_changes(Some(now), Some(&merged));
        change.after = Some(merged);
        notes.push(if both.is_empty() {
            format!(
                "{} changed since the run: only the fields the run changed are put back",
                change.address
            )
        } else {
            format!(
                "{} changed since the run: only the fields the run changed are put back, and {} (changed by the run and since) get their value from before the run",
                change.address,
                both.join(", ")
            )
        });
        true
    });
    if !left_alone.is_empty() {
        notes.insert(
            0,
            format!(
                "left as they are: {} (they differ from the state before the run, but the run did not change them)",
                left_alone.join(", ")
            ),
        );
    }
    notes
}

/// The object `now` with every field the run changed (where `then`, before the run, and `left`,
/// after it, differ) set back to `then`; with the paths of those fields that also changed since
/// the run. `None` when the merged object is no longer a state of its kind.
fn merge(now: &ObjectState, then: &ObjectState, left: &ObjectState) -> Option<(ObjectState, Vec<String>)> {
    let now = serde_json::to_value(now).ok()?;
    let then = serde_json::to_value(then).ok()?;
    let left = serde_json::to_value(left).ok()?;
    let mut both = Vec::new();
    let merged = merge_values("", &now, &then, &left, &mut both);
    let merged = serde_json::from_value(merged).ok()?;
    Some((merged, both))
}

fn merge_values(
    path: &str,
    now: &serde_json::Value,
    then: &serde_json::Value,
    left: &serde_json::Value,
    both: &mut Vec<String>,
) -> serde_json::Value {
    use serde_json::Value;
    if then == left {
        return now.clone();
    }
    if let (Value::Object(now), Value::Object(then), Value::Object(left)) = (now, then, left) {
        let keys: BTreeSet<&String> = now.keys().chain(then.keys()).chain(left.keys()).collect();
        let mut merged = serde_json::Map::new();
        for key in keys {
            let field = |map: &serde_json::Map<String, Value>| map.get(key).cloned().unwrap_or(Value::Null);
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let value = merge_values(&path, &field(now), &field(then), &field(left), both);
            if !value.is_null() {
                merged.insert(key.clone(), value);
            }
        }
        return Value::Object(merged);
    }
    if now != left {
        both.push(path.to_owned());
    }
    then.clone()
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

#[cfg(test)]
mod tests {
    use esxnet_model::observed::{ObservedFleet, ObservedHost, ObservedPortGroup};

    use super::{plan_restore, plan_undo};
    use crate::plan::Plan;
    use crate::state::ObjectState;
    use crate::Action;

    /// A host with vSwitch0 (management) and vSwitch1 (`VM Network` on VLAN 10), both at MTU 1500.
    fn host() -> ObservedHost {
        serde_json::from_value(serde_json::json!({
            "name": "esx-01",
            "version": "8.0.3",
            "switches": [
                {"name": "vSwitch0", "mtu": 1500, "uplinks": ["vmnic0"], "teaming": {"active": ["vmnic0"]}},
                {"name": "vSwitch1", "mtu": 1500, "uplinks": ["vmnic2"], "teaming": {"active": ["vmnic2"]}},
            ],
            "portGroups": [{"name": "VM Network", "switch": "vSwitch1", "vlan": 10}],
        }))
        .expect("a host")
    }

    fn fleet(host: &ObservedHost) -> ObservedFleet {
        ObservedFleet {
            hosts: [(host.name.clone(), host.clone())].into(),
        }
    }

    fn switch<'a>(host: &'a mut ObservedHost, name: &str) -> &'a mut esxnet_model::observed::ObservedSwitch {
        host.switches
            .iter_mut()
            .find(|switch| switch.name == name)
            .expect("the switch")
    }

    /// The changes of a plan as (address, action) pairs.
    fn actions(plan: &Plan) -> Vec<(String, Action)> {
        plan.changes
            .iter()
            .map(|change| (change.address.to_string(), change.action))
            .collect()
    }

    fn mtu_wanted(plan: &Plan, name: &str) -> Option<u32> {
        plan.changes
            .iter()
            .find(|change| change.name == name)
            .and_then(|change| match &change.after {
                Some(ObjectState::StandardSwitch(state)) => Some(state.mtu),
                _ => None,
            })
    }

    #[test]
    fn an_undo_leaves_alone_an_object_the_run_did_not_change() {
        let before = host();
        let mut after = host();
        switch(&mut after, "vSwitch1").mtu = 9000;
        let mut now = after.clone();
        switch(&mut now, "vSwitch0").mtu = 1600; // by hand, after the run

        let undo = plan_undo(&fleet(&before), &fleet(&after), &fleet(&now));
        assert_eq!(
            actions(&undo),
            [("esx-01/StandardSwitch/vSwitch1".to_owned(), Action::Update)]
        );
        assert_eq!(mtu_wanted(&undo, "vSwitch1"), Some(1500));
        let notes = &undo.hosts[0].notes;
        assert!(
            notes
                .iter()
                .any(|note| note.starts_with("left as they are: esx-01/StandardSwitch/vSwitch0")),
            "{notes:?}"
        );

        // Without the state after the run, everything goes back: the hand-made change too.
        let restore = plan_restore(&fleet(&before), &fleet(&now));
        assert_eq!(actions(&restore).len(), 2, "{:?}", actions(&restore));
    }

    #[test]
    fn an_undo_puts_back_only_the_fields_the_run_changed() {
        let before = host();
        let mut after = host();
        switch(&mut after, "vSwitch1").mtu = 9000;
        let mut now = after.clone();
        switch(&mut now, "vSwitch1").policy.security.allow_promiscuous = true; // by hand

        let undo = plan_undo(&fleet(&before), &fleet(&after), &fleet(&now));
        let [change] = undo.changes.as_slice() else {
            panic!("one change: {:?}", actions(&undo));
        };
        let Some(ObjectState::StandardSwitch(wanted)) = &change.after else {
            panic!("a switch: {change:?}");
        };
        assert_eq!(wanted.mtu, 1500, "the run's MTU goes back");
        assert!(wanted.security.allow_promiscuous, "the hand-made setting stays");
        let fields: Vec<&str> = change.fields.iter().map(|field| field.path.as_str()).collect();
        assert_eq!(fields, ["mtu"]);
        assert!(
            undo.hosts[0].notes.iter().any(|note| {
                note
                == "esx-01/StandardSwitch/vSwitch1 changed since the run: only the fields the run changed are put back"
            }),
            "{:?}",
            undo.hosts[0].notes
        );
    }

    #[test]
    fn a_field_the_run_and_someone_since_both_changed_goes_back_and_the_plan_says_so() {
        let before = host();
        let mut after = host();
        switch(&mut after, "vSwitch1").mtu = 9000;
        let mut now = after.clone();
        switch(&mut now, "vSwitch1").mtu = 4000;

        let undo = plan_undo(&fleet(&before), &fleet(&after), &fleet(&now));
        assert_eq!(mtu_wanted(&undo, "vSwitch1"), Some(1500));
        assert!(
            undo.hosts[0]
                .notes
                .iter()
                .any(|note| note.contains("and mtu (changed by the run and since)")),
            "{:?}",
            undo.hosts[0].notes
        );
    }

    #[test]
    fn what_was_put_back_by_hand_already_is_left_alone() {
        let before = host();
        let mut after = host();
        switch(&mut after, "vSwitch1").mtu = 9000;
        let mut now = before.clone();
        now.switches[1].policy.security.forged_transmits = true; // MTU back by hand, and more

        let undo = plan_undo(&fleet(&before), &fleet(&after), &fleet(&now));
        assert_eq!(actions(&undo), []);
    }

    #[test]
    fn an_undo_deletes_what_the_run_created_and_creates_what_it_deleted() {
        let before = host();
        let mut after = host();
        after.port_groups.clear();
        after.port_groups.push(ObservedPortGroup {
            name: "Provisioning".to_owned(),
            switch: "vSwitch1".to_owned(),
            vlan: 120,
            ..Default::default()
        });
        let undo = plan_undo(&fleet(&before), &fleet(&after), &fleet(&after));
        let mut found = actions(&undo);
        found.sort();
        assert_eq!(
            found,
            [
                ("esx-01/PortGroup/Provisioning".to_owned(), Action::Delete),
                ("esx-01/PortGroup/VM Network".to_owned(), Action::Create),
            ]
        );
    }

    #[test]
    fn a_host_the_run_did_not_finish_goes_back_whole_and_its_plan_says_so() {
        let before = host();
        let mut now = host();
        switch(&mut now, "vSwitch0").mtu = 1600;
        switch(&mut now, "vSwitch1").mtu = 9000;

        let undo = plan_undo(&fleet(&before), &ObservedFleet::default(), &fleet(&now));
        assert_eq!(actions(&undo).len(), 2, "{:?}", actions(&undo));
        assert!(
            undo.hosts[0]
                .notes
                .iter()
                .any(|note| note.starts_with("the run did not finish on this host")),
            "{:?}",
            undo.hosts[0].notes
        );
    }
}

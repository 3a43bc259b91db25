//! Diffing one host: desired against observed, object by object, into changes.
//!
//! Fields a manifest leaves out keep their observed value, so `after` is the observed state with
//! the managed fields laid over it, and comparing `before` with `after` shows only real work.

use std::collections::{BTreeMap, BTreeSet};

use esxnet_model::common::{Service, StackKind};
use esxnet_model::desired::{DesiredAdapter, DesiredHost, DesiredIpv4, DesiredStack, DesiredSwitch};
use esxnet_model::diagnostic::{Diagnostic, RuleId};
use esxnet_model::observed::{ObservedHost, ObservedIpv4, PortConnection, Teaming};

use crate::plan::{Action, Change, FieldChange, PlanOptions, Unmanaged};
use crate::state::{
    self, AdapterState, Identity, Ipv6State, ObjectKind, ObjectState, PortGroupState, ServicesState, StackState,
    SwitchState,
};

/// ESXi's MTU for new switches and adapters.
pub const DEFAULT_MTU: u32 = 1500;

/// What diffing one host found.
#[derive(Debug, Default)]
pub struct HostDiff {
    /// Every change, noops included.
    pub changes: Vec<Change>,
    /// Objects no manifest declares.
    pub unmanaged: Vec<Unmanaged>,
    /// What ESXi will do by itself and other things worth knowing.
    pub notes: Vec<String>,
    /// Problems only the diff can see (lockout guard, stacks nothing instantiates, missing pins).
    pub diagnostics: Vec<Diagnostic>,
}

/// Diffs one host.
pub fn diff_host(desired: &DesiredHost, observed: &ObservedHost, options: &PlanOptions) -> HostDiff {
    let mut diff = HostDiff::default();
    let host = desired.name.as_str();
    for switch in desired.switches.values() {
        diff_switch(&mut diff, host, switch, observed, options);
    }
    for port_group in desired.port_groups.values() {
        let before = observed.port_group(&port_group.name).map(|existing| PortGroupState {
            switch: existing.switch.clone(),
            vlan: existing.vlan,
        });
        let after = PortGroupState {
            switch: port_group.switch.clone(),
            vlan: port_group.vlan,
        };
        let moves = before.as_ref().is_some_and(|before| before.switch != after.switch);
        let mut change = new_change(
            host,
            ObjectKind::PortGroup,
            &port_group.name,
            Identity::PortGroup {
                name: port_group.name.clone(),
            },
            before.map(ObjectState::PortGroup),
            Some(ObjectState::PortGroup(after)),
        );
        if moves {
            make_replace(
                &mut change,
                vec!["switch".to_owned()],
                "a port group cannot move to another switch: it is removed and added again",
            );
        }
        diff.changes.push(change);
    }
    let gaining_first_adapter = stacks_gaining_first_adapter(desired, observed);
    for adapter in desired.adapters.values() {
        diff_adapter(&mut diff, host, adapter, observed, options);
        diff_services(&mut diff, host, adapter, observed, options, &gaining_first_adapter);
    }
    for stack in desired.stacks.values() {
        diff_stack(&mut diff, host, stack, desired, observed, options);
    }
    find_unmanaged(&mut diff, host, desired, observed, options);
    predict_deactivations(&mut diff, desired, observed, &gaining_first_adapter);
    check_kept_adapter_mtus(&mut diff, host, desired, observed);
    diff
}

/// An adapter that stays on a switch (unmanaged and not pruned) keeps its MTU, so the switch's
/// MTU cannot drop below it (ESX012): ESXi would refuse the switch update halfway through apply.
fn check_kept_adapter_mtus(diff: &mut HostDiff, host: &str, desired: &DesiredHost, observed: &ObservedHost) {
    let deleted: BTreeSet<Identity> = diff
        .changes
        .iter()
        .filter(|change| change.action == Action::Delete)
        .map(|change| change.identity.clone())
        .collect();
    let declared: BTreeSet<&str> = desired
        .adapters
        .values()
        .filter_map(|adapter| state::find_adapter(observed, adapter.device.as_deref(), &adapter.connection))
        .map(|adapter| adapter.device.as_str())
        .collect();
    for switch in desired.switches.values() {
        let Some(ObjectState::StandardSwitch(after)) = diff
            .changes
            .iter()
            .find(|change| change.kind == ObjectKind::StandardSwitch && change.name == switch.name)
            .and_then(|change| change.after.as_ref())
        else {
            continue;
        };
        for adapter in &observed.adapters {
            let on_switch =
                matches!(&adapter.connection, PortConnection::Standard { switch: name, .. } if *name == switch.name);
            let identity = Identity::VmkernelAdapter {
                device: Some(adapter.device.clone()),
                connection: adapter.connection.clone(),
            };
            if !on_switch
                || declared.contains(adapter.device.as_str())
                || deleted.contains(&identity)
                || adapter.mtu <= after.mtu
            {
                continue;
            }
            diff.diagnostics.push(
                Diagnostic::error(
                    RuleId::Esx012,
                    format!(
                        "{} stays on {} with MTU {}, above the switch's new MTU {}: declare the adapter with a lower MTU, delete it with --prune, or keep the switch's MTU",
                        adapter.device, switch.name, adapter.mtu, after.mtu
                    ),
                )
                .at(switch.source.locate("spec.mtu"), "spec.mtu")
                .on_host(host),
            );
        }
    }
}

/// Builds a change, deriving its action and field list from `before` and `after`.
pub fn new_change(
    host: &str,
    kind: ObjectKind,
    name: &str,
    identity: Identity,
    before: Option<ObjectState>,
    after: Option<ObjectState>,
) -> Change {
    let action = match (&before, &after) {
        (None, None) => Action::Noop,
        (None, Some(_)) => Action::Create,
        (Some(_), None) => Action::Delete,
        (Some(before), Some(after)) if before.satisfies(after) => Action::Noop,
        (Some(_), Some(_)) => Action::Update,
    };
    let fields = match action {
        Action::Update => field_changes(before.as_ref(), after.as_ref()),
        _ => Vec::new(),
    };
    Change {
        address: format!("{host}/{kind}/{name}"),
        host: host.to_owned(),
        kind,
        name: name.to_owned(),
        action,
        identity,
        before,
        after,
        fields,
        reason: None,
        replace_paths: Vec::new(),
        touches_management: false,
    }
}

fn make_replace(change: &mut Change, replace_paths: Vec<String>, reason: &str) {
    change.action = Action::Replace;
    // The new object's device is ESXi's to choose: not a field the user changes.
    change.fields = field_changes(change.before.as_ref(), change.after.as_ref())
        .into_iter()
        .filter(|field| field.path != "device")
        .collect();
    change.replace_paths = replace_paths;
    change.reason = Some(reason.to_owned());
}

/// The fields that differ between two states, as JSON values, leaves first-level deep enough to read.
pub fn field_changes(before: Option<&ObjectState>, after: Option<&ObjectState>) -> Vec<FieldChange> {
    let before = before
        .and_then(|state| serde_json::to_value(state).ok())
        .unwrap_or(serde_json::Value::Null);
    let after = after
        .and_then(|state| serde_json::to_value(state).ok())
        .unwrap_or(serde_json::Value::Null);
    let mut changes = Vec::new();
    collect_field_changes("", Some(&before), Some(&after), &mut changes);
    changes
}

fn collect_field_changes(
    path: &str,
    before: Option<&serde_json::Value>,
    after: Option<&serde_json::Value>,
    changes: &mut Vec<FieldChange>,
) {
    use serde_json::Value;
    match (before, after) {
        (Some(Value::Object(before)), Some(Value::Object(after))) => {
            let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
            for key in keys {
                if key == "kind" && path.is_empty() {
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                collect_field_changes(&child, before.get(key), after.get(key), changes);
            }
        }
        (before, after) if before != after => {
            let present = |value: Option<&Value>| value.filter(|value| !value.is_null()).cloned();
            changes.push(FieldChange {
                path: path.to_owned(),
                before: present(before),
                after: present(after),
            });
        }
        _ => {}
    }
}

fn diff_switch(
    diff: &mut HostDiff,
    host: &str,
    switch: &DesiredSwitch,
    observed: &ObservedHost,
    options: &PlanOptions,
) {
    let before = state::switch_state(observed, &switch.name);
    let uplinks = switch
        .uplinks
        .clone()
        .or_else(|| before.as_ref().map(|before| before.uplinks.clone()))
        .unwrap_or_default();
    let teaming = switch
        .teaming
        .clone()
        .unwrap_or_else(|| computed_teaming(before.as_ref().map(|before| &before.teaming), &uplinks));
    let after = SwitchState {
        mtu: switch
            .mtu
            .or(before.as_ref().map(|before| before.mtu))
            .unwrap_or(DEFAULT_MTU),
        uplinks,
        teaming,
    };
    let mut change = new_change(
        host,
        ObjectKind::StandardSwitch,
        &switch.name,
        Identity::StandardSwitch {
            name: switch.name.clone(),
        },
        before.clone().map(ObjectState::StandardSwitch),
        Some(ObjectState::StandardSwitch(after.clone())),
    );
    if change.action == Action::Update {
        let carries_management = observed
            .management_adapters()
            .any(|adapter| matches!(&adapter.connection, PortConnection::Standard { switch: name, .. } if *name == switch.name));
        let removes_uplinks = before
            .as_ref()
            .is_some_and(|before| !before.uplinks.is_subset(&after.uplinks));
        if carries_management && removes_uplinks {
            let what = format!(
                "removing uplinks from {} could cut off the management network of {host}",
                switch.name
            );
            guard_management(diff, &mut change, options, host, &switch.source, "spec.uplinks", what);
        }
    }
    diff.changes.push(change);
}

/// Teaming that ESXi computes when a manifest manages uplinks but not teaming: uplinks that left
/// are dropped, new ones become active.
fn computed_teaming(observed: Option<&Teaming>, uplinks: &BTreeSet<String>) -> Teaming {
    let mut teaming = observed.cloned().unwrap_or_default();
    teaming.active.retain(|uplink| uplinks.contains(uplink));
    teaming.standby.retain(|uplink| uplinks.contains(uplink));
    for uplink in uplinks {
        if !teaming.active.contains(uplink) && !teaming.standby.contains(uplink) {
            teaming.active.push(uplink.clone());
        }
    }
    teaming
}

/// A change that could cut the host off (ESX015): marked so it runs after the host's other
/// changes, and refused unless `--allow-management-changes`.
fn guard_management(
    diff: &mut HostDiff,
    change: &mut Change,
    options: &PlanOptions,
    host: &str,
    source: &esxnet_model::source::Source,
    field: &str,
    what: String,
) {
    change.touches_management = true;
    if !options.allow_management_changes {
        diff.diagnostics.push(lockout(host, source, field, what));
    }
}

fn lockout(host: &str, source: &esxnet_model::source::Source, field: &str, what: String) -> Diagnostic {
    Diagnostic::error(
        RuleId::Esx015,
        format!("{what}: esxnet refuses this unless you pass --allow-management-changes (have console access ready)"),
    )
    .at(source.locate(field), field)
    .on_host(host)
}

fn adapter_ipv4(ipv4: &DesiredIpv4) -> ObservedIpv4 {
    match ipv4 {
        DesiredIpv4::Dhcp { gateway_override, .. } => ObservedIpv4 {
            dhcp: true,
            address: None,
            prefix_length: None,
            gateway_override: *gateway_override,
        },
        DesiredIpv4::Static {
            address,
            prefix_length,
            gateway_override,
            ..
        } => ObservedIpv4 {
            dhcp: false,
            address: *address,
            prefix_length: *prefix_length,
            gateway_override: *gateway_override,
        },
    }
}

/// The adapter state a declaration asks for, given what exists.
pub fn desired_adapter_state(
    adapter: &DesiredAdapter,
    existing: Option<&AdapterState>,
    host: &ObservedHost,
) -> AdapterState {
    let ra_default = host.version.router_advertisement_default();
    let existing_ipv6 = existing.map(|existing| existing.ipv6.clone()).unwrap_or(Ipv6State {
        dhcp: false,
        router_advertisement: ra_default,
        addresses: BTreeSet::new(),
        gateway_override: None,
    });
    let ipv6 = match &adapter.ipv6 {
        None => existing_ipv6,
        Some(ipv6) => Ipv6State {
            dhcp: ipv6.dhcp,
            // Left out, router advertisement is ESXi's to decide: never drift.
            router_advertisement: ipv6.router_advertisement.unwrap_or(existing_ipv6.router_advertisement),
            addresses: ipv6.addresses.clone(),
            gateway_override: ipv6.gateway_override,
        },
    };
    AdapterState {
        device: existing.and_then(|existing| existing.device.clone()),
        connection: adapter.connection.clone(),
        stack: adapter.stack,
        mtu: adapter
            .mtu
            .or(existing.map(|existing| existing.mtu))
            .unwrap_or(DEFAULT_MTU),
        ipv4: adapter_ipv4(&adapter.ipv4),
        ipv6,
    }
}

fn diff_adapter(
    diff: &mut HostDiff,
    host: &str,
    adapter: &DesiredAdapter,
    observed: &ObservedHost,
    options: &PlanOptions,
) {
    let existing = state::find_adapter(observed, adapter.device.as_deref(), &adapter.connection);
    if let (Some(device), None) = (&adapter.device, existing) {
        diff.diagnostics.push(
            Diagnostic::error(
                RuleId::Esx017,
                format!("adapter \"{}\" is pinned to {device}, which {host} does not have: pinning names an existing adapter; remove `device` to let esxnet create one", adapter.name),
            )
            .at(adapter.source.locate("spec.device"), "spec.device")
            .on_host(host),
        );
        return;
    }
    let before = existing.map(state::adapter_state);
    let after = desired_adapter_state(adapter, before.as_ref(), observed);
    // The manifest's identity: a pinned device, else the port group. Never the observed device:
    // ESXi hands a freed device name to the next adapter it creates, so after a replace's delete
    // "vmk1" may well be somebody else.
    let identity = Identity::VmkernelAdapter {
        device: adapter.device.clone(),
        connection: adapter.connection.clone(),
    };
    let mut change = new_change(
        host,
        ObjectKind::VmkernelAdapter,
        &adapter.name,
        identity,
        before.clone().map(ObjectState::VmkernelAdapter),
        Some(ObjectState::VmkernelAdapter(after.clone())),
    );
    if let Some(before) = &before {
        let mut replace_paths = Vec::new();
        let mut reasons = Vec::new();
        if before.stack != after.stack {
            replace_paths.push("stack".to_owned());
            reasons.push("an adapter's TCP/IP stack cannot change in place (ESX009)");
        }
        if before.connection != after.connection {
            replace_paths.push("connection".to_owned());
            reasons.push("esxnet moves an adapter to another port group by re-creating it");
        }
        if !replace_paths.is_empty() {
            let lost: Vec<String> = existing
                .map(|existing| existing.services.iter())
                .into_iter()
                .flatten()
                .filter(|service| Some(**service) != adapter.stack.implied_service())
                .filter(|service| adapter.services.as_ref().is_none_or(|wanted| !wanted.contains(service)))
                .map(ToString::to_string)
                .collect();
            if !lost.is_empty() {
                let advice = match adapter.stack {
                    StackKind::Default => "declare them under spec.services to keep them".to_owned(),
                    stack => {
                        format!("an adapter on the {stack} stack cannot carry them: select another adapter for them")
                    }
                };
                diff.notes.push(format!(
                    "{} is re-created without the services it carries now ({}); {advice}",
                    adapter.name,
                    lost.join(", ")
                ));
            }
            let mut after_replace = after.clone();
            after_replace.device = None;
            change.after = Some(ObjectState::VmkernelAdapter(after_replace));
            make_replace(&mut change, replace_paths, &reasons.join("; "));
        }
    }
    let carries_management = existing.is_some_and(|existing| existing.services.contains(&Service::Management));
    if carries_management {
        let readdressed = before.as_ref().is_some_and(|before| before.ipv4 != after.ipv4);
        let what = match change.action {
            Action::Replace => Some(format!(
                "replacing {} would drop the management network of {host}",
                adapter.name
            )),
            Action::Update if readdressed => Some(format!(
                "re-addressing {} would drop the management network of {host}",
                adapter.name
            )),
            _ => None,
        };
        if let Some(what) = what {
            guard_management(diff, &mut change, options, host, &adapter.source, "spec.ipv4", what);
        }
    }
    diff.changes.push(change);
}

/// Stacks whose first adapter this plan creates: ESXi instantiates them and moves their service
/// off the default stack by itself.
fn stacks_gaining_first_adapter(desired: &DesiredHost, observed: &ObservedHost) -> BTreeSet<StackKind> {
    desired
        .adapters
        .values()
        .map(|adapter| adapter.stack)
        .filter(|stack| *stack != StackKind::Default && !observed.has_adapter_on_stack(*stack))
        .collect()
}

fn diff_services(
    diff: &mut HostDiff,
    host: &str,
    adapter: &DesiredAdapter,
    observed: &ObservedHost,
    options: &PlanOptions,
    gaining_first_adapter: &BTreeSet<StackKind>,
) {
    let (StackKind::Default, Some(wanted)) = (adapter.stack, &adapter.services) else {
        return;
    };
    let existing = state::find_adapter(observed, adapter.device.as_deref(), &adapter.connection);
    let replaced =
        existing.is_some_and(|existing| existing.stack != adapter.stack || existing.connection != adapter.connection);
    let before = existing.filter(|_| !replaced).map(|existing| {
        let mut services = existing.services.clone();
        // Predicted: ESXi removes these when the stack's first adapter arrives (ESX004).
        for stack in gaining_first_adapter {
            if let Some(service) = state::deactivated_by(*stack) {
                services.remove(&service);
            }
        }
        ServicesState { services }
    });
    let identity = Identity::Services {
        device: adapter.device.clone(),
        connection: adapter.connection.clone(),
    };
    let mut change = new_change(
        host,
        ObjectKind::Services,
        &adapter.name,
        identity,
        before.clone().map(ObjectState::Services),
        Some(ObjectState::Services(ServicesState {
            services: wanted.clone(),
        })),
    );
    let drops_management = before
        .as_ref()
        .is_some_and(|before| before.services.contains(&Service::Management))
        && !wanted.contains(&Service::Management);
    if drops_management {
        let what = format!(
            "removing the management service from {} could cut off {host}",
            adapter.name
        );
        guard_management(diff, &mut change, options, host, &adapter.source, "spec.services", what);
    }
    diff.changes.push(change);
}

fn diff_stack(
    diff: &mut HostDiff,
    host: &str,
    stack: &DesiredStack,
    desired: &DesiredHost,
    observed: &ObservedHost,
    options: &PlanOptions,
) {
    let Some(existing) = observed.stack(stack.stack) else {
        diff.diagnostics.push(
            Diagnostic::error(
                RuleId::Esx001,
                format!("{host} has no {} TCP/IP stack: it needs ESXi 6.0 or later", stack.stack),
            )
            .at(stack.source.locate("spec.stack"), "spec.stack")
            .on_host(host),
        );
        return;
    };
    if !existing.instantiated && !desired.has_adapter_on_stack(stack.stack) {
        diff.diagnostics.push(
            Diagnostic::error(
                RuleId::Esx020,
                format!(
                    "the {} stack is not instantiated on {host} and no declared adapter uses it: ESXi instantiates a stack with its first VMkernel adapter, so declare one on it",
                    stack.stack
                ),
            )
            .at(stack.source.locate("spec.stack"), "spec.stack")
            .on_host(host),
        );
        return;
    }
    let before = state::stack_state(existing);
    let after = StackState {
        ipv4_gateway: stack.ipv4_gateway.or(before.ipv4_gateway),
        ipv6_gateway: stack.ipv6_gateway.or(before.ipv6_gateway),
        dns: stack.dns.clone().unwrap_or_else(|| before.dns.clone()),
        routes: stack.routes.clone().unwrap_or_else(|| before.routes.clone()),
        max_connections: stack.max_connections.unwrap_or(before.max_connections),
        congestion_control: stack.congestion_control.unwrap_or(before.congestion_control),
    };
    let gateway_moves =
        stack.stack == StackKind::Default && before.ipv4_gateway.is_some() && before.ipv4_gateway != after.ipv4_gateway;
    if after.max_connections != existing.max_connections {
        diff.notes.push(format!(
            "the {} stack's connection limit becomes {} after {host} reboots (now {})",
            stack.stack, after.max_connections, existing.max_connections
        ));
    }
    let mut change = new_change(
        host,
        ObjectKind::NetStack,
        stack.stack.as_str(),
        Identity::NetStack { stack: stack.stack },
        Some(ObjectState::NetStack(before)),
        Some(ObjectState::NetStack(after)),
    );
    if gateway_moves {
        let what = format!("changing the default stack's gateway of {host} could cut off its management network");
        guard_management(
            diff,
            &mut change,
            options,
            host,
            &stack.source,
            "spec.ipv4Gateway",
            what,
        );
    }
    diff.changes.push(change);
}

/// Notes for what ESXi does by itself when a first adapter lands on the vMotion or Provisioning
/// stack: default-stack adapters lose that service (ESX004), and migrations in flight complete.
fn predict_deactivations(
    diff: &mut HostDiff,
    desired: &DesiredHost,
    observed: &ObservedHost,
    gaining_first_adapter: &BTreeSet<StackKind>,
) {
    for stack in gaining_first_adapter {
        let Some(service) = state::deactivated_by(*stack) else {
            continue;
        };
        let first = desired
            .adapters
            .values()
            .find(|adapter| adapter.stack == *stack)
            .map(|adapter| adapter.name.as_str());
        // Adapters this plan deletes or replaces are gone before the new stack's first adapter
        // arrives: nothing is deactivated on them.
        let removed: BTreeSet<&str> = diff
            .changes
            .iter()
            .filter(|change| matches!(change.action, Action::Delete | Action::Replace))
            .filter_map(|change| match &change.before {
                Some(ObjectState::VmkernelAdapter(before)) => before.device.as_deref(),
                _ => None,
            })
            .collect();
        let deactivated: Vec<String> = observed
            .adapters
            .iter()
            .filter(|adapter| adapter.stack == StackKind::Default && !removed.contains(adapter.device.as_str()))
            .filter(|adapter| adapter.services.contains(&service))
            .map(|adapter| adapter.device.clone())
            .collect();
        for device in deactivated {
            diff.notes.push(format!(
                "{device} stops carrying {service} once the first {stack}-stack adapter ({}) exists: ESXi deactivates it by itself, so this is not drift",
                first.unwrap_or("?")
            ));
        }
        for migration in observed
            .active_migrations
            .iter()
            .filter(|migration| migration.stack == StackKind::Default)
        {
            diff.notes.push(format!(
                "migration {} over {} (default stack) is in flight: it completes; new {} sessions then use the {stack} stack",
                migration.id,
                migration.adapter,
                match stack {
                    StackKind::Vmotion => "vMotion",
                    _ => "cold migration, cloning and snapshot",
                }
            ));
        }
    }
}

fn find_unmanaged(
    diff: &mut HostDiff,
    host: &str,
    desired: &DesiredHost,
    observed: &ObservedHost,
    options: &PlanOptions,
) {
    // Adapters: the ones no declaration matches.
    let matched: BTreeSet<&str> = desired
        .adapters
        .values()
        .filter_map(|adapter| state::find_adapter(observed, adapter.device.as_deref(), &adapter.connection))
        .map(|adapter| adapter.device.as_str())
        .collect();
    let mut kept_adapters: Vec<&esxnet_model::observed::ObservedAdapter> = Vec::new();
    for adapter in &observed.adapters {
        if matched.contains(adapter.device.as_str()) {
            kept_adapters.push(adapter);
            continue;
        }
        let protected = adapter.services.contains(&Service::Management);
        let prune = options.prune && !protected;
        if prune {
            let mut change = new_change(
                host,
                ObjectKind::VmkernelAdapter,
                &adapter.device,
                Identity::VmkernelAdapter {
                    device: Some(adapter.device.clone()),
                    connection: adapter.connection.clone(),
                },
                Some(ObjectState::VmkernelAdapter(state::adapter_state(adapter))),
                None,
            );
            change.reason = Some("no manifest declares it (--prune)".to_owned());
            diff.changes.push(change);
        } else {
            kept_adapters.push(adapter);
            diff.unmanaged
                .push(unmanaged(host, ObjectKind::VmkernelAdapter, &adapter.device, protected));
        }
    }
    // Port groups: in use when a kept adapter sits on them.
    let in_use_port_groups: BTreeSet<&str> = kept_adapters
        .iter()
        .filter_map(|adapter| match &adapter.connection {
            PortConnection::Standard { port_group, .. } => Some(port_group.as_str()),
            PortConnection::Distributed { .. } => None,
        })
        .collect();
    let mut kept_port_groups_by_switch: BTreeMap<&str, usize> = BTreeMap::new();
    for port_group in &observed.port_groups {
        if desired.port_groups.contains_key(&port_group.name) {
            *kept_port_groups_by_switch
                .entry(port_group.switch.as_str())
                .or_default() += 1;
            continue;
        }
        let protected = in_use_port_groups.contains(port_group.name.as_str());
        if options.prune && !protected {
            let mut change = new_change(
                host,
                ObjectKind::PortGroup,
                &port_group.name,
                Identity::PortGroup {
                    name: port_group.name.clone(),
                },
                Some(ObjectState::PortGroup(PortGroupState {
                    switch: port_group.switch.clone(),
                    vlan: port_group.vlan,
                })),
                None,
            );
            change.reason = Some("no manifest declares it (--prune)".to_owned());
            diff.changes.push(change);
        } else {
            *kept_port_groups_by_switch
                .entry(port_group.switch.as_str())
                .or_default() += 1;
            diff.unmanaged
                .push(unmanaged(host, ObjectKind::PortGroup, &port_group.name, protected));
        }
    }
    for switch in &observed.switches {
        if desired.switches.contains_key(&switch.name) {
            continue;
        }
        let protected = kept_port_groups_by_switch
            .get(switch.name.as_str())
            .copied()
            .unwrap_or(0)
            > 0
            || desired
                .port_groups
                .values()
                .any(|port_group| port_group.switch == switch.name);
        if options.prune && !protected {
            let mut change = new_change(
                host,
                ObjectKind::StandardSwitch,
                &switch.name,
                Identity::StandardSwitch {
                    name: switch.name.clone(),
                },
                state::switch_state(observed, &switch.name).map(ObjectState::StandardSwitch),
                None,
            );
            change.reason = Some("no manifest declares it (--prune)".to_owned());
            diff.changes.push(change);
        } else {
            diff.unmanaged
                .push(unmanaged(host, ObjectKind::StandardSwitch, &switch.name, protected));
        }
    }
}

fn unmanaged(host: &str, kind: ObjectKind, name: &str, protected: bool) -> Unmanaged {
    Unmanaged {
        address: format!("{host}/{kind}/{name}"),
        kind,
        name: name.to_owned(),
        protected,
    }
}

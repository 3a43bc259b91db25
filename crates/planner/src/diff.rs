//! Diffing one host: desired against observed, object by object, into changes.
//!
//! Fields a manifest leaves out keep their observed value, so `after` is the observed state with
//! the managed fields laid over it, and comparing `before` with `after` shows only real work.

use std::collections::{BTreeMap, BTreeSet};

use esxnet_model::common::{Service, StackKind};
use esxnet_model::desired::{DesiredAdapter, DesiredHost, DesiredIpv4, DesiredPortGroup, DesiredStack, DesiredSwitch};
use esxnet_model::diagnostic::{Diagnostic, RuleId};
use esxnet_model::observed::{ObservedAdapter, ObservedHost, ObservedIpv4, PortConnection, Teaming};
use ipnet::{IpNet, Ipv4Net};

use crate::address::Address;
use crate::plan::{Action, Change, ChangeReason, FieldChange, PlanOptions, Unmanaged};
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
    let management = ManagementPath::of(observed);
    for switch in desired.switches.values() {
        diff_switch(&mut diff, host, switch, observed, options, &management);
    }
    for port_group in desired.port_groups.values() {
        let before = observed.port_group(&port_group.name).map(PortGroupState::observed);
        // Overrides the manifest leaves out stay as they are, also on a port group re-created
        // on another switch.
        let (teaming, security) = before
            .as_ref()
            .map(|before| (before.teaming.clone(), before.security))
            .unwrap_or_default();
        let after = PortGroupState {
            switch: port_group.switch.clone(),
            vlan: port_group.vlan,
            teaming: port_group.policy.teaming(teaming),
            security: port_group.policy.security(security),
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
                ChangeReason::PortGroupMovesSwitch,
            );
            refuse_deleting_protected_port_group(&mut diff, host, port_group, observed);
        }
        if management.port_groups.contains(&port_group.name) {
            guard_management_port_group(&mut diff, &mut change, host, port_group, options);
        }
        diff.changes.push(change);
    }
    let gaining_first_adapter = stacks_gaining_first_adapter(desired, observed);
    for adapter in desired.adapters.values() {
        diff_adapter(&mut diff, host, adapter, observed, options);
        diff_services(&mut diff, host, adapter, observed, options, &gaining_first_adapter);
    }
    for stack in desired.stacks.values() {
        diff_stack(&mut diff, host, stack, desired, observed, options, &management);
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
        address: Address::name(host, kind, name),
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

fn make_replace(change: &mut Change, replace_paths: Vec<String>, reason: ChangeReason) {
    change.action = Action::Replace;
    // The new object's device is ESXi's to choose: not a field the user changes.
    change.fields = field_changes(change.before.as_ref(), change.after.as_ref())
        .into_iter()
        .filter(|field| field.path != "device")
        .collect();
    change.replace_paths = replace_paths;
    change.reason = Some(reason);
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
    collect_field_changes(&mut Vec::new(), Some(&before), Some(&after), &mut changes);
    changes
}

/// The changes under `path` (its keys, outermost first; joined with `.` only for a field that
/// changed, as most do not).
fn collect_field_changes<'value>(
    path: &mut Vec<&'value str>,
    before: Option<&'value serde_json::Value>,
    after: Option<&'value serde_json::Value>,
    changes: &mut Vec<FieldChange>,
) {
    use serde_json::Value;
    // An object that appears or goes (a port group's first override, say) reads field by field.
    static EMPTY: std::sync::LazyLock<serde_json::Map<String, Value>> = std::sync::LazyLock::new(serde_json::Map::new);
    let empty: &'value serde_json::Map<String, Value> = &EMPTY;
    fn object(value: Option<&Value>) -> Option<&serde_json::Map<String, Value>> {
        match value {
            Some(Value::Object(map)) => Some(map),
            _ => None,
        }
    }
    let absent = |value: Option<&Value>| matches!(value, None | Some(Value::Null));
    let pair = match (object(before), object(after)) {
        (Some(before), Some(after)) => Some((before, after)),
        (Some(before), None) if absent(after) => Some((before, empty)),
        (None, Some(after)) if absent(before) => Some((empty, after)),
        _ => None,
    };
    match pair {
        Some((before, after)) => {
            let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
            for key in keys {
                if key == "kind" && path.is_empty() {
                    continue;
                }
                path.push(key);
                collect_field_changes(path, before.get(key), after.get(key), changes);
                path.pop();
            }
        }
        // An absent list and an empty one say the same.
        None if [(before, after), (after, before)]
            .iter()
            .any(|(one, other)| absent(*one) && matches!(other, Some(Value::Array(items)) if items.is_empty())) => {}
        None if before != after => {
            let present = |value: Option<&Value>| value.filter(|value| !value.is_null()).cloned();
            changes.push(FieldChange {
                path: path.join("."),
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
    management: &ManagementPath,
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
        teaming_policy: switch
            .policy
            .teaming(before.as_ref().map(|before| before.teaming_policy).unwrap_or_default()),
        security: switch
            .policy
            .security(before.as_ref().map(|before| before.security).unwrap_or_default()),
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
    if let (Action::Update, Some(before), true) = (change.action, &before, management.switches.contains(&switch.name)) {
        guard_management_switch(diff, &mut change, host, switch, before, &after, options);
    }
    diff.changes.push(change);
}

/// ESX015 for the switch the management network runs over: its MTU, the uplinks it bridges and
/// the uplinks its teaming keeps active are all on the management path.
fn guard_management_switch(
    diff: &mut HostDiff,
    change: &mut Change,
    host: &str,
    switch: &DesiredSwitch,
    before: &SwitchState,
    after: &SwitchState,
    options: &PlanOptions,
) {
    let name = &switch.name;
    if before.mtu != after.mtu {
        let what = format!(
            "changing the MTU of {name} from {} to {}, which carries the management network of {host}, could cut it off (every hop must carry the new MTU)",
            before.mtu, after.mtu
        );
        guard_management(diff, change, options, host, &switch.source, "spec.mtu", what);
    }
    let removed: Vec<&str> = before.uplinks.difference(&after.uplinks).map(String::as_str).collect();
    if !removed.is_empty() {
        let what = format!(
            "removing uplinks from {name} ({}) could cut off the management network of {host}",
            removed.join(", ")
        );
        guard_management(diff, change, options, host, &switch.source, "spec.uplinks", what);
    }
    // An uplink that stays on the switch but stops being active: management traffic moves to
    // uplinks that may not reach its VLAN, or to none at all. Removed uplinks are reported above.
    let demoted: Vec<String> = before
        .teaming
        .active
        .iter()
        .filter(|uplink| after.uplinks.contains(*uplink) && !after.teaming.active.contains(*uplink))
        .map(|uplink| {
            let role = if after.teaming.standby.contains(uplink) {
                "standby only"
            } else {
                "unused"
            };
            format!("{uplink} {role}")
        })
        .collect();
    if !demoted.is_empty() {
        let what = format!(
            "teaming on {name} leaves {} although the management network of {host} runs over it now, which could cut it off",
            demoted.join(" and ")
        );
        guard_management(diff, change, options, host, &switch.source, "spec.teaming", what);
    }
    // Load balancing that the physical switch does not expect (IP hash without a port channel),
    // beacon probing or failover behaviour on the management switch can cut it off as surely.
    let (old, new) = (before.teaming_policy, after.teaming_policy);
    let changed: Vec<(&str, String)> = [
        (
            "loadBalancing",
            old.load_balancing != new.load_balancing,
            format!("{} → {}", old.load_balancing.api_name(), new.load_balancing.api_name()),
        ),
        (
            "failback",
            old.failback != new.failback,
            format!("{} → {}", old.failback, new.failback),
        ),
        (
            "notifySwitches",
            old.notify_switches != new.notify_switches,
            format!("{} → {}", old.notify_switches, new.notify_switches),
        ),
        (
            "beaconProbing",
            old.beacon_probing != new.beacon_probing,
            format!("{} → {}", old.beacon_probing, new.beacon_probing),
        ),
    ]
    .into_iter()
    .filter(|(_, differs, _)| *differs)
    .map(|(field, _, described)| (field, described))
    .collect();
    if !changed.is_empty() {
        let field = match changed.as_slice() {
            [(single, _)] => format!("spec.teaming.{single}"),
            _ => "spec.teaming".to_owned(),
        };
        let described: Vec<String> = changed
            .iter()
            .map(|(field, described)| format!("{field} {described}"))
            .collect();
        let what = format!(
            "changing the teaming policy of {name} ({}), which carries the management network of {host}, could cut it off",
            described.join(", ")
        );
        guard_management(diff, change, options, host, &switch.source, &field, what);
    }
}

/// ESX015 for the port group the management adapter sits on: any change to it (VLAN, policy) or
/// a move to another switch, which re-creates it.
fn guard_management_port_group(
    diff: &mut HostDiff,
    change: &mut Change,
    host: &str,
    port_group: &DesiredPortGroup,
    options: &PlanOptions,
) {
    let name = &port_group.name;
    let (what, field) = match change.action {
        Action::Replace => (
            format!(
                "moving port group {name} to switch {} re-creates it, which drops the management network of {host}",
                port_group.switch
            ),
            format!("{}.name", port_group.field),
        ),
        Action::Update => {
            let paths: Vec<&str> = change.fields.iter().map(|field| field.path.as_str()).collect();
            let field = match paths.as_slice() {
                [single] => format!("{}.{single}", port_group.field),
                _ => port_group.field.clone(),
            };
            let described: Vec<String> = change
                .fields
                .iter()
                .map(|field| {
                    format!(
                        "{} {} → {}",
                        field.path,
                        crate::render::show_value(field.before.as_ref()),
                        crate::render::show_value(field.after.as_ref())
                    )
                })
                .collect();
            (
                format!(
                    "changing port group {name} ({}), which carries the management network of {host}, could cut it off",
                    described.join(", ")
                ),
                field,
            )
        }
        _ => return,
    };
    guard_management(diff, change, options, host, &port_group.source, &field, what);
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
    let ra_default = crate::esxi::default_router_advertisement(host);
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
        let (stack_changes, port_group_changes) = (before.stack != after.stack, before.connection != after.connection);
        let replace_paths: Vec<String> = [(stack_changes, "stack"), (port_group_changes, "connection")]
            .into_iter()
            .filter(|(changes, _)| *changes)
            .map(|(_, path)| path.to_owned())
            .collect();
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
            let reason = ChangeReason::AdapterRecreated {
                stack: stack_changes,
                port_group: port_group_changes,
            };
            make_replace(&mut change, replace_paths, reason);
        }
    }
    if let (Some(existing), Some(before)) = (existing, &before) {
        if change.action == Action::Replace {
            refuse_deleting_protected_adapter(diff, host, adapter, existing);
        }
        if existing.services.contains(&Service::Management) {
            guard_management_adapter(diff, &mut change, host, adapter, before, &after, options);
        }
    }
    diff.changes.push(change);
}

/// ESX015 for an adapter that carries management traffic: re-creating it, or changing its IPv4 or
/// IPv6 settings or its MTU.
fn guard_management_adapter(
    diff: &mut HostDiff,
    change: &mut Change,
    host: &str,
    adapter: &DesiredAdapter,
    before: &AdapterState,
    after: &AdapterState,
    options: &PlanOptions,
) {
    let name = &adapter.name;
    let mut guarded: Vec<(&str, String)> = Vec::new();
    match change.action {
        Action::Replace => {
            let field = if before.connection != after.connection {
                "spec.portGroup"
            } else {
                "spec.stack"
            };
            guarded.push((
                field,
                format!("replacing {name} would drop the management network of {host}"),
            ));
        }
        Action::Update => {
            if before.ipv4 != after.ipv4 {
                guarded.push((
                    "spec.ipv4",
                    format!("re-addressing {name} would drop the management network of {host}"),
                ));
            }
            if before.ipv6 != after.ipv6 {
                guarded.push((
                    "spec.ipv6",
                    format!("changing the IPv6 settings of {name} could cut off the management network of {host}"),
                ));
            }
            if before.mtu != after.mtu {
                guarded.push((
                    "spec.mtu",
                    format!(
                        "changing the MTU of {name} from {} to {} could cut off the management network of {host} (every hop must carry the new MTU)",
                        before.mtu, after.mtu
                    ),
                ));
            }
        }
        Action::Noop | Action::Create | Action::Delete => {}
    }
    for (field, what) in guarded {
        guard_management(diff, change, options, host, &adapter.source, field, what);
    }
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
    management: &ManagementPath,
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
    if stack.stack == StackKind::Default {
        guard_default_stack(diff, &mut change, host, stack, options, management);
    }
    diff.changes.push(change);
}

/// ESX015 for the default stack, which the management network routes through: its IPv4 and IPv6
/// gateways, and routes that take their place (a default route) or take over part of the
/// management subnet.
fn guard_default_stack(
    diff: &mut HostDiff,
    change: &mut Change,
    host: &str,
    stack: &DesiredStack,
    options: &PlanOptions,
    management: &ManagementPath,
) {
    let (Some(ObjectState::NetStack(before)), Some(ObjectState::NetStack(after))) =
        (change.before.clone(), change.after.clone())
    else {
        return;
    };
    let show = |gateway: Option<String>| gateway.unwrap_or_else(|| "(none)".to_owned());
    if before.ipv4_gateway != after.ipv4_gateway {
        let what = format!(
            "changing the default stack's gateway of {host} ({} → {}) could cut off its management network",
            show(before.ipv4_gateway.map(|gateway| gateway.to_string())),
            show(after.ipv4_gateway.map(|gateway| gateway.to_string()))
        );
        guard_management(diff, change, options, host, &stack.source, "spec.ipv4Gateway", what);
    }
    if before.ipv6_gateway != after.ipv6_gateway {
        let what = format!(
            "changing the default stack's IPv6 gateway of {host} ({} → {}) could cut off its management network",
            show(before.ipv6_gateway.map(|gateway| gateway.to_string())),
            show(after.ipv6_gateway.map(|gateway| gateway.to_string()))
        );
        guard_management(diff, change, options, host, &stack.source, "spec.ipv6Gateway", what);
    }
    let added = after.routes.iter().filter(|route| !before.routes.contains(route));
    let removed = before.routes.iter().filter(|route| !after.routes.contains(route));
    for (verb, route) in added
        .map(|route| ("adding", route))
        .chain(removed.map(|route| ("removing", route)))
    {
        let Some(why) = management.route_concern(route) else {
            continue;
        };
        let field = stack
            .routes
            .as_ref()
            .and_then(|routes| routes.iter().position(|declared| declared == route))
            .map(|index| format!("spec.routes[{index}]"))
            .unwrap_or_else(|| "spec.routes".to_owned());
        let what = format!(
            "{verb} the default-stack route {} via {} on {host} ({why}) could cut off its management network",
            route.destination, route.gateway
        );
        guard_management(diff, change, options, host, &stack.source, &field, what);
    }
}

/// What the management network of a host runs over, as observed: the adapters that carry it, their
/// port groups and switches, and their subnets.
#[derive(Debug, Default)]
struct ManagementPath {
    /// Standard port groups a management adapter sits on.
    port_groups: BTreeSet<String>,
    /// Standard switches those port groups are on.
    switches: BTreeSet<String>,
    /// The subnets of the management adapters (IPv4, and IPv6 other than link-local).
    subnets: Vec<IpNet>,
}

impl ManagementPath {
    fn of(observed: &ObservedHost) -> ManagementPath {
        let mut path = ManagementPath::default();
        for adapter in observed.management_adapters() {
            if let PortConnection::Standard { switch, port_group } = &adapter.connection {
                path.port_groups.insert(port_group.clone());
                path.switches.insert(switch.clone());
            }
            if let (Some(address), Some(prefix_length)) = (adapter.ipv4.address, adapter.ipv4.prefix_length) {
                if let Ok(subnet) = Ipv4Net::new(address, prefix_length) {
                    path.subnets.push(IpNet::V4(subnet.trunc()));
                }
            }
            for address in &adapter.ipv6.addresses {
                let link_local = address.address.addr().segments()[0] & 0xffc0 == 0xfe80;
                if !link_local {
                    path.subnets.push(IpNet::V6(address.address.trunc()));
                }
            }
        }
        path
    }

    /// Why a default-stack route is on the management path, if it is: a default route replaces
    /// the gateway under another name, and a route overlapping a management subnet takes (part
    /// of) it away from the adapter.
    fn route_concern(&self, route: &esxnet_model::common::Route) -> Option<String> {
        if route.destination.prefix_len() == 0 {
            return Some("a default route, which replaces the gateway".to_owned());
        }
        self.subnets
            .iter()
            .find(|subnet| subnet.contains(&route.destination) || route.destination.contains(*subnet))
            .map(|subnet| format!("it overlaps the management subnet {subnet}"))
    }
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

/// Why esxnet must never delete an adapter, empty when it may: it carries management traffic, the
/// system owns it, storage depends on it, or it is selected for storage traffic. Deleting any of
/// these cuts the host off or takes datastores down (real hosts refuse some of them halfway).
pub fn deletion_protection(adapter: &ObservedAdapter) -> Vec<String> {
    let mut reasons = Vec::new();
    if adapter.services.contains(&Service::Management) {
        reasons.push("carries management traffic".to_owned());
    }
    if adapter.system_owned {
        reasons.push("owned by the system".to_owned());
    }
    reasons.extend(adapter.storage_bindings.iter().map(ToString::to_string));
    // Matched by nicType name so that nicTypes the model learns later (vsanWitness,
    // vsanExternal) are protected as soon as they are observed.
    let storage_services: Vec<String> = adapter
        .services
        .iter()
        .filter(|service| {
            matches!(
                service.api_name(),
                "vsan" | "vsanWitness" | "vsanExternal" | "nvmeTcp" | "nvmeRdma"
            )
        })
        .map(ToString::to_string)
        .collect();
    if !storage_services.is_empty() {
        reasons.push(format!("selected for {}", storage_services.join(", ")));
    }
    reasons
}

/// A declared adapter whose replace would delete an adapter esxnet must never delete (system-owned
/// or carrying storage): refused, because the fix lies outside esxnet. Management adapters are
/// ESX015's, which `--allow-management-changes` can lift.
fn refuse_deleting_protected_adapter(
    diff: &mut HostDiff,
    host: &str,
    adapter: &DesiredAdapter,
    existing: &ObservedAdapter,
) {
    let reasons: Vec<String> = deletion_protection(existing)
        .into_iter()
        .filter(|reason| !reason.starts_with("carries management"))
        .collect();
    if reasons.is_empty() {
        return;
    }
    let field = if existing.connection != adapter.connection {
        "spec.portGroup"
    } else {
        "spec.stack"
    };
    diff.diagnostics.push(
        Diagnostic::error(
            RuleId::Esx009,
            format!(
                "replacing {} would delete {}, which is {}: esxnet never deletes such an adapter; keep its stack and port group, or move that traffic off it first",
                adapter.name,
                existing.device,
                reasons.join(", ")
            ),
        )
        .at(adapter.source.locate(field), field)
        .on_host(host),
    );
}

/// A port group moved to another switch is re-created, which needs the adapter on it deleted:
/// refused when that adapter is one esxnet must never delete (management aside: ESX015).
fn refuse_deleting_protected_port_group(
    diff: &mut HostDiff,
    host: &str,
    port_group: &DesiredPortGroup,
    observed: &ObservedHost,
) {
    for adapter in &observed.adapters {
        let on_port_group = matches!(&adapter.connection, PortConnection::Standard { port_group: name, .. } if *name == port_group.name);
        let reasons: Vec<String> = deletion_protection(adapter)
            .into_iter()
            .filter(|reason| !reason.starts_with("carries management"))
            .collect();
        if !on_port_group || reasons.is_empty() {
            continue;
        }
        let field = format!("{}.name", port_group.field);
        diff.diagnostics.push(
            Diagnostic::error(
                RuleId::Esx009,
                format!(
                    "moving port group {} to switch {} re-creates it, which needs {} deleted, and {} is {}: esxnet never deletes such an adapter; keep the port group on its switch",
                    port_group.name,
                    port_group.switch,
                    adapter.device,
                    adapter.device,
                    reasons.join(", ")
                ),
            )
            .at(port_group.source.locate(&field), &field)
            .on_host(host),
        );
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
    // Why each kept adapter stays: its protection, or nothing when it is declared or not pruned.
    let mut kept_adapters: Vec<(&ObservedAdapter, Option<String>)> = Vec::new();
    for adapter in &observed.adapters {
        if matched.contains(adapter.device.as_str()) {
            kept_adapters.push((adapter, None));
            continue;
        }
        let protection = Some(deletion_protection(adapter).join(", ")).filter(|reasons| !reasons.is_empty());
        if options.prune && protection.is_none() {
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
            // By device: a declared adapter may be named like it, and both changes must stay.
            change.address = Address::device(host, ObjectKind::VmkernelAdapter, &adapter.device);
            change.reason = Some(ChangeReason::Pruned);
            diff.changes.push(change);
        } else {
            kept_adapters.push((adapter, protection.clone()));
            let mut object = unmanaged(host, ObjectKind::VmkernelAdapter, &adapter.device, protection);
            object.address = Address::device(host, ObjectKind::VmkernelAdapter, &adapter.device);
            diff.unmanaged.push(object);
        }
    }
    // Port groups: protected when a kept adapter sits on them.
    let mut port_group_protection: BTreeMap<&str, String> = BTreeMap::new();
    for (adapter, protection) in &kept_adapters {
        if let PortConnection::Standard { port_group, .. } = &adapter.connection {
            let reason = match protection {
                Some(protection) => format!("{} is connected to it ({protection})", adapter.device),
                None => format!("{} is connected to it", adapter.device),
            };
            port_group_protection.entry(port_group.as_str()).or_insert(reason);
        }
    }
    let mut kept_port_groups_by_switch: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for port_group in &observed.port_groups {
        if desired.port_groups.contains_key(&port_group.name) {
            kept_port_groups_by_switch
                .entry(port_group.switch.as_str())
                .or_default()
                .push(port_group.name.as_str());
            continue;
        }
        let protection = port_group_protection.get(port_group.name.as_str()).cloned();
        if options.prune && protection.is_none() {
            let mut change = new_change(
                host,
                ObjectKind::PortGroup,
                &port_group.name,
                Identity::PortGroup {
                    name: port_group.name.clone(),
                },
                Some(ObjectState::PortGroup(PortGroupState::observed(port_group))),
                None,
            );
            change.reason = Some(ChangeReason::Pruned);
            diff.changes.push(change);
        } else {
            kept_port_groups_by_switch
                .entry(port_group.switch.as_str())
                .or_default()
                .push(port_group.name.as_str());
            diff.unmanaged
                .push(unmanaged(host, ObjectKind::PortGroup, &port_group.name, protection));
        }
    }
    for switch in &observed.switches {
        if desired.switches.contains_key(&switch.name) {
            continue;
        }
        let mut kept_port_groups: BTreeSet<&str> = kept_port_groups_by_switch
            .get(switch.name.as_str())
            .into_iter()
            .flatten()
            .copied()
            .collect();
        kept_port_groups.extend(
            desired
                .port_groups
                .values()
                .filter(|port_group| port_group.switch == switch.name)
                .map(|port_group| port_group.name.as_str()),
        );
        let protection = Some(kept_port_groups).filter(|kept| !kept.is_empty()).map(|kept| {
            format!(
                "port groups on it stay: {}",
                kept.into_iter().collect::<Vec<_>>().join(", ")
            )
        });
        if options.prune && protection.is_none() {
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
            change.reason = Some(ChangeReason::Pruned);
            diff.changes.push(change);
        } else {
            diff.unmanaged
                .push(unmanaged(host, ObjectKind::StandardSwitch, &switch.name, protection));
        }
    }
}

/// An unmanaged object; `protection` says why `--prune` must leave it alone, if it must.
fn unmanaged(host: &str, kind: ObjectKind, name: &str, protection: Option<String>) -> Unmanaged {
    Unmanaged {
        address: Address::name(host, kind, name),
        kind,
        name: name.to_owned(),
        protected: protection.is_some(),
        reason: protection,
    }
}

//! Rules about switches, port groups and where adapters connect (ESX010–ESX012, ESX014, ESX017).

use std::collections::{BTreeMap, BTreeSet};

use crate::desired::{DesiredAdapter, DesiredSwitch};
use crate::diagnostic::{Diagnostic, RuleId};
use crate::observed::PortConnection;
use crate::source::Source;

use super::{fields, HostContext};

/// The MTUs esxnet accepts: ESXi's jumbo frames top out at 9000; 1280 is the IPv6 minimum.
const MTU_RANGE: std::ops::RangeInclusive<u32> = 1280..=9000;

/// The MTU ESXi gives a new standard switch when none is asked for.
const NEW_SWITCH_MTU: u32 = 1500;

/// VLAN 4095 means "trunk, tagged by the guest": VM traffic only.
const TRUNK_VLAN: u16 = 4095;

/// Runs the switching rules for one host.
pub(super) fn check_host(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    check_vlans_of_adapter_port_groups(context, diagnostics);
    check_adapter_targets(context, diagnostics);
    check_switch_uplinks_and_teaming(context, diagnostics);
    check_mtus(context, diagnostics);
    check_one_adapter_per_standard_port_group(context, diagnostics);
    check_pinned_devices_are_unique(context, diagnostics);
}

/// ESX010: VLAN IDs above 4095 do not exist; 4095 tags nothing for a VMkernel adapter (it is the
/// guest-tagging trunk), so a port group carrying an adapter uses 0–4094.
fn check_vlans_of_adapter_port_groups(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    for port_group in context.host.port_groups.values() {
        if port_group.vlan > TRUNK_VLAN {
            let field = format!("{}.vlan", port_group.field);
            diagnostics.push(context.error(
                RuleId::Esx010,
                &port_group.source,
                &field,
                format!(
                    "VLAN {} of port group \"{}\" does not exist: use 0 (untagged) or 1–4094",
                    port_group.vlan, port_group.name
                ),
            ));
        }
    }
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    for adapter in context.host.adapters.values() {
        let port_group_name = adapter.connection.port_group();
        let declared = context
            .host
            .port_groups
            .get(port_group_name)
            .filter(|port_group| matches!(&adapter.connection, PortConnection::Standard { switch, .. } if *switch == port_group.switch));
        if let Some(port_group) = declared {
            if port_group.vlan == TRUNK_VLAN && reported.insert(port_group_name) {
                let field = format!("{}.vlan", port_group.field);
                diagnostics.push(
                    context
                        .error(
                            RuleId::Esx010,
                            &port_group.source,
                            &field,
                            format!(
                                "port group \"{}\" carries VMkernel adapter \"{}\" but VLAN 4095 is a trunk for VM traffic only: use 0–4094",
                                port_group.name, adapter.name
                            ),
                        )
                        .with_related("the adapter is declared here", adapter.source.locate("spec.portGroup")),
                );
            }
            continue;
        }
        if observed_vlan(context, &adapter.connection) == Some(TRUNK_VLAN) {
            diagnostics.push(context.adapter_error(
                RuleId::Esx010,
                adapter,
                "spec.portGroup.name",
                format!(
                    "{} has VLAN 4095, a trunk for VM traffic only, on host {}: connect the adapter to a port group with VLAN 0–4094",
                    adapter.connection,
                    context.name()
                ),
            ));
        }
    }
    check_declared_trunks_carrying_observed_adapters(context, &reported, diagnostics);
}

/// A declared trunk port group that an adapter esxnet leaves alone already sits on.
fn check_declared_trunks_carrying_observed_adapters(
    context: &HostContext<'_>,
    reported: &BTreeSet<&str>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for adapter in context.undeclared_observed_adapters() {
        let PortConnection::Standard { switch, port_group } = &adapter.connection else {
            continue;
        };
        let Some(declared) = context.host.port_groups.get(port_group) else {
            continue;
        };
        if declared.vlan == TRUNK_VLAN && declared.switch == *switch && !reported.contains(port_group.as_str()) {
            let field = format!("{}.vlan", declared.field);
            diagnostics.push(context.error(
                RuleId::Esx010,
                &declared.source,
                &field,
                format!(
                    "port group \"{port_group}\" carries VMkernel adapter {} on host {} but VLAN 4095 is a trunk for VM traffic only: use 0–4094",
                    adapter.device,
                    context.name()
                ),
            ));
        }
    }
}

fn observed_vlan(context: &HostContext<'_>, connection: &PortConnection) -> Option<u16> {
    let observed = context.observed?;
    match connection {
        PortConnection::Standard { switch, port_group } => observed
            .port_group(port_group)
            .filter(|observed| observed.switch == *switch)
            .map(|observed| observed.vlan),
        PortConnection::Distributed { switch, port_group } => observed
            .distributed_switch(switch)?
            .port_groups
            .iter()
            .find(|observed| observed.name == *port_group)
            .map(|observed| observed.vlan),
    }
}

/// ESX011 (seed step 6) and ESX017: an adapter targets exactly one kind of switch; a standard
/// port group must sit on the switch the adapter names (declared, or observed when not declared);
/// a distributed port group must exist on a distributed switch the host is a member of. A switch
/// or port group that is neither declared nor observed is a dangling reference (ESX017); only a
/// target can tell, so those checks need observed state.
fn check_adapter_targets(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    for adapter in context.host.adapters.values() {
        if adapter.ambiguous_switch {
            diagnostics.push(context.adapter_error(
                RuleId::Esx011,
                adapter,
                "spec.portGroup",
                "spec.portGroup must name exactly one of standardSwitch or distributedSwitch: keep the one the adapter connects to",
            ));
            continue;
        }
        match &adapter.connection {
            PortConnection::Standard { switch, port_group } => {
                check_standard_target(context, adapter, switch, port_group, diagnostics)
            }
            PortConnection::Distributed { switch, port_group } => {
                check_distributed_target(context, adapter, switch, port_group, diagnostics)
            }
        }
    }
}

fn check_standard_target(
    context: &HostContext<'_>,
    adapter: &DesiredAdapter,
    switch: &str,
    port_group: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if let Some(declared) = context.host.port_groups.get(port_group) {
        if declared.switch != switch {
            diagnostics.push(
                context
                    .adapter_error(
                        RuleId::Esx011,
                        adapter,
                        "spec.portGroup.standardSwitch",
                        format!(
                            "port group \"{port_group}\" is declared on standard switch \"{}\", not \"{switch}\": set standardSwitch to \"{}\" or declare the port group on \"{switch}\"",
                            declared.switch, declared.switch
                        ),
                    )
                    .with_related("the port group is declared here", declared.source.locate(&declared.field)),
            );
        }
        return;
    }
    let Some(observed) = context.observed else { return };
    let switch_known = context.host.switches.contains_key(switch) || observed.switch(switch).is_some();
    if !switch_known {
        diagnostics.push(context.adapter_error(
            RuleId::Esx017,
            adapter,
            "spec.portGroup.standardSwitch",
            format!(
                "standard switch \"{switch}\" is neither declared nor present on host {}: declare it in a StandardSwitch document or fix the name",
                context.name()
            ),
        ));
        return;
    }
    match observed.port_group(port_group) {
        None => diagnostics.push(context.adapter_error(
            RuleId::Esx017,
            adapter,
            "spec.portGroup.name",
            format!(
                "port group \"{port_group}\" is neither declared nor present on host {}: add it to the portGroups of StandardSwitch \"{switch}\" or fix the name",
                context.name()
            ),
        )),
        Some(existing) if existing.switch != switch => diagnostics.push(context.adapter_error(
            RuleId::Esx011,
            adapter,
            "spec.portGroup.standardSwitch",
            format!(
                "port group \"{port_group}\" is on standard switch \"{}\" of host {}, not \"{switch}\": set standardSwitch to \"{}\"",
                existing.switch,
                context.name(),
                existing.switch
            ),
        )),
        Some(_) => {}
    }
}

fn check_distributed_target(
    context: &HostContext<'_>,
    adapter: &DesiredAdapter,
    switch: &str,
    port_group: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let Some(observed) = context.observed else { return };
    let Some(membership) = observed.distributed_switch(switch) else {
        diagnostics.push(context.adapter_error(
            RuleId::Esx011,
            adapter,
            "spec.portGroup.distributedSwitch",
            format!(
                "host {} is not a member of distributed switch \"{switch}\": add the host to the switch in vCenter first, or use a switch it is a member of",
                context.name()
            ),
        ));
        return;
    };
    if !membership
        .port_groups
        .iter()
        .any(|existing| existing.name == port_group)
    {
        diagnostics.push(context.adapter_error(
            RuleId::Esx011,
            adapter,
            "spec.portGroup.name",
            format!(
                "distributed switch \"{switch}\" has no port group \"{port_group}\": esxnet does not create distributed port groups, so create it in vCenter or fix the name"
            ),
        ));
    }
}

/// ESX011 (seed: "new vSphere standard switch"): a switch's uplinks exist on the host and no other
/// switch bridges them (ESXi gives a NIC to one switch only); teaming names only the switch's
/// uplinks, each once.
fn check_switch_uplinks_and_teaming(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    for switch in context.host.switches.values() {
        check_uplinks_listed_once(context, switch, diagnostics);
        if switch.uplinks.is_some() {
            for (field, uplink) in fields::sequence_items(&switch.source, "spec.uplinks") {
                check_uplink_is_free(context, switch, &field, &uplink, diagnostics);
            }
        }
        check_teaming(context, switch, diagnostics);
    }
}

fn check_uplinks_listed_once(context: &HostContext<'_>, switch: &DesiredSwitch, diagnostics: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (field, uplink) in fields::sequence_items(&switch.source, "spec.uplinks") {
        match seen.get(&uplink) {
            Some(first) => diagnostics.push(
                context
                    .error(
                        RuleId::Esx011,
                        &switch.source,
                        &field,
                        format!(
                            "uplink {uplink} is listed twice on switch \"{}\": remove one",
                            switch.name
                        ),
                    )
                    .with_related("first listed here", switch.source.locate(first)),
            ),
            None => {
                seen.insert(uplink, field);
            }
        }
    }
}

fn check_uplink_is_free(
    context: &HostContext<'_>,
    switch: &DesiredSwitch,
    field: &str,
    uplink: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if let Some(observed) = context.observed {
        if observed.physical_nic(uplink).is_none() {
            diagnostics.push(context.error(
                RuleId::Esx011,
                &switch.source,
                field,
                format!(
                    "host {} has no physical NIC {uplink}: use one of its NICs ({})",
                    context.name(),
                    observed
                        .physical_nics
                        .iter()
                        .map(|nic| nic.device.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            return;
        }
    }
    for other in context.host.switches.values() {
        let bridges =
            other.name != switch.name && other.uplinks.as_ref().is_some_and(|uplinks| uplinks.contains(uplink));
        if bridges {
            diagnostics.push(
                context
                    .error(
                        RuleId::Esx011,
                        &switch.source,
                        field,
                        format!(
                            "uplink {uplink} is also declared on standard switch \"{}\": a NIC bridges one switch only, so remove it from one of them",
                            other.name
                        ),
                    )
                    .with_related(
                        format!("switch \"{}\" is declared here", other.name),
                        other.source.locate("spec.uplinks"),
                    ),
            );
        }
    }
    let Some(observed) = context.observed else { return };
    for other in &observed.switches {
        // A declared switch with uplinks replaces its observed set, so only its declared set counts.
        let superseded = context
            .host
            .switches
            .get(&other.name)
            .is_some_and(|declared| declared.uplinks.is_some());
        if other.name != switch.name && !superseded && other.uplinks.contains(uplink) {
            diagnostics.push(context.error(
                RuleId::Esx011,
                &switch.source,
                field,
                format!(
                    "uplink {uplink} is bridged by standard switch \"{}\" on host {}: use a free NIC, or declare \"{}\" without it",
                    other.name,
                    context.name(),
                    other.name
                ),
            ));
        }
    }
}

fn check_teaming(context: &HostContext<'_>, switch: &DesiredSwitch, diagnostics: &mut Vec<Diagnostic>) {
    let observed_uplinks = context
        .observed
        .and_then(|observed| observed.switch(&switch.name))
        .map(|observed| observed.uplinks.clone());
    let uplinks: Option<BTreeSet<String>> = switch.uplinks.clone().or(observed_uplinks);
    if switch.policy.beacon_probing == Some(true) && uplinks.as_ref().is_some_and(BTreeSet::is_empty) {
        diagnostics.push(context.error(
            RuleId::Esx011,
            &switch.source,
            "spec.teaming.beaconProbing",
            format!(
                "beacon probing needs uplinks, and switch \"{}\" has none: give it uplinks or leave beacon probing off",
                switch.name
            ),
        ));
    }
    // Orders are checked where they are managed (an `active` list): rare, so the field paths
    // are only built then. Lists without `active` are reported once per document by lowering.
    if switch.teaming.is_some() {
        let order = TeamingOrder {
            source: &switch.source,
            field: "spec.teaming".to_owned(),
            switch: &switch.name,
            owner: "teaming",
        };
        check_order(context, &order, uplinks.as_ref(), diagnostics);
    }
    for port_group in context
        .host
        .port_groups
        .values()
        .filter(|port_group| port_group.switch == switch.name && matches!(port_group.policy.order, Some(Some(_))))
    {
        let owner = format!("the teaming of port group \"{}\"", port_group.name);
        let order = TeamingOrder {
            source: &port_group.source,
            field: format!("{}.teaming", port_group.field),
            switch: &switch.name,
            owner: &owner,
        };
        check_order(context, &order, uplinks.as_ref(), diagnostics);
    }
}

/// Where a failover order is written: a switch's `teaming` or a port group's override.
struct TeamingOrder<'a> {
    source: &'a Source,
    field: String,
    switch: &'a str,
    owner: &'a str,
}

/// ESX011 for a failover order: `active`, `standby` and `unused` name only uplinks of the switch,
/// each once.
fn check_order(
    context: &HostContext<'_>,
    order: &TeamingOrder<'_>,
    uplinks: Option<&BTreeSet<String>>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let base = &order.field;
    let listed: Vec<(String, String)> = ["active", "standby", "unused"]
        .into_iter()
        .flat_map(|list| fields::sequence_items(order.source, &format!("{base}.{list}")))
        .collect();
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (field, uplink) in &listed {
        if let Some(uplinks) = uplinks {
            if !uplinks.contains(uplink) {
                diagnostics.push(context.error(
                    RuleId::Esx011,
                    order.source,
                    field,
                    format!(
                        "{} names {uplink}, which is not an uplink of switch \"{}\": add it to the switch's spec.uplinks or remove it here",
                        order.owner, order.switch
                    ),
                ));
            }
        }
        match seen.get(uplink.as_str()) {
            Some(first) => diagnostics.push(
                context
                    .error(
                        RuleId::Esx011,
                        order.source,
                        field,
                        format!(
                            "{} names {uplink} twice: an uplink is active, standby or unused, once",
                            order.owner
                        ),
                    )
                    .with_related("first named here", order.source.locate(first)),
            ),
            None => {
                seen.insert(uplink, field);
            }
        }
    }
}

/// ESX012: MTUs between 1280 and 9000, and no adapter MTU above its switch's (frames larger than
/// the switch carries are dropped). The switch MTU is the declared one, else the observed one, else
/// 1500 for a switch esxnet is about to create.
fn check_mtus(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    for switch in context.host.switches.values() {
        if let Some(mtu) = switch.mtu.filter(|mtu| !MTU_RANGE.contains(mtu)) {
            diagnostics.push(context.error(
                RuleId::Esx012,
                &switch.source,
                "spec.mtu",
                format!("MTU {mtu} of switch \"{}\" is out of range: use 1280–9000", switch.name),
            ));
        }
    }
    for adapter in context.host.adapters.values() {
        let Some(mtu) = adapter.mtu else { continue };
        if !MTU_RANGE.contains(&mtu) {
            diagnostics.push(context.adapter_error(
                RuleId::Esx012,
                adapter,
                "spec.mtu",
                format!(
                    "MTU {mtu} of adapter \"{}\" is out of range: use 1280–9000",
                    adapter.name
                ),
            ));
            continue;
        }
        let Some((switch_mtu, declared_switch)) = switch_mtu(context, &adapter.connection) else {
            continue;
        };
        if mtu > switch_mtu {
            let mut diagnostic = context.adapter_error(
                RuleId::Esx012,
                adapter,
                "spec.mtu",
                format!(
                    "MTU {mtu} of adapter \"{}\" is above the MTU {switch_mtu} of switch \"{}\" on host {}: lower the adapter's MTU or raise the switch's",
                    adapter.name,
                    adapter.connection.switch(),
                    context.name()
                ),
            );
            if let Some(switch) = declared_switch {
                diagnostic = diagnostic.with_related("the switch is declared here", switch.source.locate("spec.mtu"));
            }
            diagnostics.push(diagnostic);
        }
    }
}

/// The MTU a switch will have, and its declaration when declared.
fn switch_mtu<'a>(context: &HostContext<'a>, connection: &PortConnection) -> Option<(u32, Option<&'a DesiredSwitch>)> {
    match connection {
        PortConnection::Standard { switch, .. } => {
            let declared = context.host.switches.get(switch);
            let observed = context.observed.and_then(|observed| observed.switch(switch));
            let mtu = match (declared.and_then(|declared| declared.mtu), observed) {
                (Some(mtu), _) => mtu,
                (None, Some(observed)) => observed.mtu,
                // Declared, absent from a known host: esxnet creates it with ESXi's default.
                (None, None) if declared.is_some() && context.observed.is_some() => NEW_SWITCH_MTU,
                (None, None) => return None,
            };
            Some((mtu, declared))
        }
        PortConnection::Distributed { switch, .. } => context
            .observed
            .and_then(|observed| observed.distributed_switch(switch))
            .map(|membership| (membership.mtu, None)),
    }
}

/// ESX014: ESXi identifies a VMkernel adapter on a standard port group by that port group, and
/// esxnet does too, so a standard port group holds one adapter. A pinned adapter that moves onto a
/// port group where another adapter stays counts as well. Distributed port groups hold many.
fn check_one_adapter_per_standard_port_group(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    let mut first_by_port_group: BTreeMap<&PortConnection, &DesiredAdapter> = BTreeMap::new();
    for adapter in context.host.adapters.values() {
        if adapter.connection.is_distributed() || adapter.ambiguous_switch {
            continue;
        }
        match first_by_port_group.get(&adapter.connection) {
            Some(first) => diagnostics.push(
                context
                    .adapter_error(
                        RuleId::Esx014,
                        adapter,
                        "spec.portGroup",
                        format!(
                            "adapter \"{}\" also targets {} on host {}: a standard port group holds one VMkernel adapter, so give each adapter its own port group",
                            first.name,
                            adapter.connection,
                            context.name()
                        ),
                    )
                    .with_related(format!("adapter \"{}\" is declared here", first.name), first.source.locate("spec.portGroup")),
            ),
            None => {
                first_by_port_group.insert(&adapter.connection, adapter);
            }
        }
    }
    check_pinned_adapters_moving_onto_occupied_port_groups(context, diagnostics);
}

fn check_pinned_adapters_moving_onto_occupied_port_groups(
    context: &HostContext<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let Some(observed) = context.observed else { return };
    for adapter in context.host.adapters.values() {
        let Some(device) = &adapter.device else { continue };
        if adapter.connection.is_distributed() {
            continue;
        }
        let Some(occupant) = observed.adapter_on(&adapter.connection) else {
            continue;
        };
        if occupant.device == *device {
            continue;
        }
        // The occupant leaves if a declared adapter pinned to it moves it elsewhere.
        let occupant_moves_away = context.host.adapters.values().any(|other| {
            other.device.as_deref() == Some(occupant.device.as_str()) && other.connection != adapter.connection
        });
        if !occupant_moves_away {
            diagnostics.push(context.adapter_error(
                RuleId::Esx014,
                adapter,
                "spec.device",
                format!(
                    "{device} would join {} on host {}, where {} already is: a standard port group holds one VMkernel adapter, so pin {} instead or use another port group",
                    adapter.connection,
                    context.name(),
                    occupant.device,
                    occupant.device
                ),
            ));
        }
    }
}

/// ESX014: a device is one adapter, so two declarations pinned to it would fight over it.
fn check_pinned_devices_are_unique(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    let mut first_by_device: BTreeMap<&str, &DesiredAdapter> = BTreeMap::new();
    for adapter in context.host.adapters.values() {
        let Some(device) = adapter.device.as_deref() else {
            continue;
        };
        match first_by_device.get(device) {
            Some(first) => diagnostics.push(
                context
                    .adapter_error(
                        RuleId::Esx014,
                        adapter,
                        "spec.device",
                        format!(
                            "adapter \"{}\" is also pinned to {device} on host {}: pin each adapter to a device of its own",
                            first.name,
                            context.name()
                        ),
                    )
                    .with_related(format!("adapter \"{}\" is declared here", first.name), first.source.locate("spec.device")),
            ),
            None => {
                first_by_device.insert(device, adapter);
            }
        }
    }
}

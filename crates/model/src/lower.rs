//! Lowering: manifest documents → typed per-host desired state.
//!
//! Resolves host selectors, expands per-host addresses and pools, and reports conflicting
//! declarations (ESX016) and selectors that name undeclared hosts (ESX017).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::desired::{
    DesiredAdapter, DesiredFleet, DesiredHost, DesiredIpv4, DesiredIpv6, DesiredPortGroup, DesiredStack, DesiredSwitch,
    PortGroupPolicyPatch, SwitchPolicyPatch,
};
use crate::diagnostic::{Diagnostic, RuleId};
use crate::load::LoadedDocument;
use crate::manifest::{
    AnyDocument, HostSelector, Ipv4Mode, NetStackSpec, Overridable, PortGroupSpec, StandardSwitchSpec,
    SwitchTeamingSpec, VmkernelAdapterSpec,
};
use crate::observed::{ObservedFleet, ObservedHost, PortConnection, Teaming};
use crate::source::{push_key, Source};

/// The result of lowering.
#[derive(Debug, Clone, Default)]
pub struct Lowered {
    /// Desired state per host.
    pub fleet: DesiredFleet,
    /// Problems found while lowering.
    pub diagnostics: Vec<Diagnostic>,
}

/// Lowers documents to per-host desired state.
///
/// `observed` is what the hosts have now, when a target is known: pools keep the addresses adapters
/// already have and skip addresses in use anywhere in the fleet.
pub fn lower(documents: &[LoadedDocument], observed: Option<&ObservedFleet>) -> Lowered {
    let mut lowered = Lowered::default();
    for loaded in documents {
        if let AnyDocument::Host(document) = &loaded.document {
            let name = document.metadata.name.clone();
            match lowered.fleet.hosts.get(&name) {
                Some(existing) if existing.labels != document.metadata.labels => {
                    lowered.diagnostics.push(conflict(
                        &name,
                        "Host",
                        &name,
                        &loaded.source,
                        "metadata.labels",
                        &existing.source,
                    ));
                }
                Some(_) => {}
                None => {
                    lowered.fleet.hosts.insert(
                        name.clone(),
                        DesiredHost::new(name, document.metadata.labels.clone(), loaded.source.clone()),
                    );
                }
            }
        }
    }
    lower_targets(documents, &mut lowered);
    // Each host's documents, in document order, with the adapters they give it. Pools hand out
    // addresses in document order, host by host, as one sequence, so adapters are made here, in
    // that order; the rest of lowering touches one host at a time and runs in parallel below.
    let mut allocator = PoolAllocator::new(documents, observed);
    let mut work: Vec<Vec<HostDocument>> = (0..lowered.fleet.hosts.len()).map(|_| Vec::new()).collect();
    // Per document, the diagnostics of its selector and lists, then those of its hosts in host
    // order: the order lowering one document after the other gave them.
    let mut by_document: Vec<Vec<Diagnostic>> = (0..documents.len()).map(|_| Vec::new()).collect();
    for (document_index, loaded) in documents.iter().enumerate() {
        let (selector, name) = match &loaded.document {
            AnyDocument::Host(_) | AnyDocument::Target(_) => continue,
            AnyDocument::StandardSwitch(document) => (&document.spec.hosts, &document.metadata.name),
            AnyDocument::NetStack(document) => (&document.spec.hosts, &document.metadata.name),
            AnyDocument::VmkernelAdapter(document) => (&document.spec.hosts, &document.metadata.name),
        };
        let diagnostics = &mut by_document[document_index];
        let hosts = select_hosts(&lowered.fleet, selector, &loaded.source, name, diagnostics);
        if let AnyDocument::StandardSwitch(document) = &loaded.document {
            check_order_lists(&document.spec, &loaded.source, diagnostics);
        }
        for (host_index, host_name) in hosts {
            let adapter = match &loaded.document {
                AnyDocument::VmkernelAdapter(document) => Some(Box::new(lower_adapter(
                    host_name,
                    &document.metadata.name,
                    &document.spec,
                    &loaded.source,
                    observed.and_then(|fleet| fleet.hosts.get(host_name)),
                    &mut allocator,
                ))),
                _ => None,
            };
            work[host_index].push((document_index, adapter));
        }
    }
    let mut hosts: Vec<(&mut DesiredHost, Vec<HostDocument>)> = lowered.fleet.hosts.values_mut().zip(work).collect();
    let per_host = crate::parallel::map_in_order_mut(&mut hosts, |(host, work)| {
        let mut found: Vec<(usize, Diagnostic)> = Vec::new();
        let mut diagnostics = Vec::new();
        for (document_index, adapter) in work.drain(..) {
            let loaded = &documents[document_index];
            match &loaded.document {
                AnyDocument::Host(_) | AnyDocument::Target(_) => {}
                AnyDocument::StandardSwitch(document) => lower_switch(
                    host,
                    &document.metadata.name,
                    &document.spec,
                    &loaded.source,
                    &mut diagnostics,
                ),
                AnyDocument::NetStack(document) => lower_stack(
                    host,
                    &document.metadata.name,
                    &document.spec,
                    &loaded.source,
                    &mut diagnostics,
                ),
                AnyDocument::VmkernelAdapter(_) => {
                    if let Some(adapter) = adapter {
                        insert_adapter(host, *adapter, &mut diagnostics);
                    }
                }
            }
            found.extend(diagnostics.drain(..).map(|diagnostic| (document_index, diagnostic)));
        }
        found
    });
    for (document_index, diagnostic) in per_host.into_iter().flatten() {
        by_document[document_index].push(diagnostic);
    }
    lowered.diagnostics.extend(by_document.into_iter().flatten());
    lowered
}

/// A document that applies to a host, by its position, with the adapter it gives the host (boxed:
/// most documents are not adapters).
type HostDocument = (usize, Option<Box<DesiredAdapter>>);

fn conflict(host: &str, kind: &str, name: &str, source: &Source, field: &str, other: &Source) -> Diagnostic {
    Diagnostic::error(
        RuleId::Esx016,
        format!("{kind} \"{name}\" is declared twice for host {host} with different values: keep one declaration or make them agree"),
    )
    .at(source.locate(field), field)
    .on_host(host)
    .with_related("the other declaration", other.document_location())
}

/// Assigns each host the `Target` that selects it. When the manifests declare targets, every host
/// needs exactly one (ESX016 otherwise: a host on two servers, or on none, is a conflict of
/// declarations); a target's password comes from exactly one place and its server is a target
/// esxnet knows (ESX000, as for any value the schema cannot say).
fn lower_targets(documents: &[LoadedDocument], lowered: &mut Lowered) {
    let targets: Vec<(&LoadedDocument, &crate::manifest::TargetDocument)> = documents
        .iter()
        .filter_map(|loaded| match &loaded.document {
            AnyDocument::Target(document) => Some((loaded, document)),
            _ => None,
        })
        .collect();
    if targets.is_empty() {
        return;
    }
    let mut names: BTreeMap<&str, &Source> = BTreeMap::new();
    for (loaded, document) in &targets {
        let name = document.metadata.name.as_str();
        if let Some(other) = names.insert(name, &loaded.source) {
            lowered.diagnostics.push(
                Diagnostic::error(
                    RuleId::Esx016,
                    format!("Target \"{name}\" is declared twice: give each server its own name"),
                )
                .at(loaded.source.locate("metadata.name"), "metadata.name")
                .with_related("the other declaration", other.document_location()),
            );
        }
        let server = &document.spec.server;
        if !["vsphere://", "sim:", "snapshot:"]
            .iter()
            .any(|scheme| server.starts_with(scheme))
        {
            lowered.diagnostics.push(
                Diagnostic::error(
                    RuleId::Esx000,
                    // The value is not repeated: a URL written wrongly may hold a password.
                    "`spec.server` is not a server esxnet reaches: write vsphere://USER@SERVER, sim:DIR or snapshot:FILE",
                )
                .at(loaded.source.locate("spec.server"), "spec.server"),
            );
        }
        if let Some(password_from) = &document.spec.password_from {
            if password_from.env.is_some() == password_from.file.is_some() {
                lowered.diagnostics.push(
                    Diagnostic::error(
                        RuleId::Esx000,
                        "`passwordFrom` names one place: `env: VARIABLE` or `file: PATH`, not both or neither",
                    )
                    .at(loaded.source.locate("spec.passwordFrom"), "spec.passwordFrom"),
                );
            }
        }
        let target = std::sync::Arc::new(crate::desired::DesiredTarget {
            name: name.to_owned(),
            server: server.clone(),
            password_from: document.spec.password_from.clone(),
            source: loaded.source.clone(),
        });
        let selected: Vec<String> = select_hosts(
            &lowered.fleet,
            &document.spec.hosts,
            &loaded.source,
            name,
            &mut lowered.diagnostics,
        )
        .into_iter()
        .map(|(_, host_name)| host_name.to_owned())
        .collect();
        for host_name in selected {
            let Some(host) = lowered.fleet.hosts.get_mut(&host_name) else {
                continue;
            };
            match &host.target {
                Some(other) => lowered.diagnostics.push(
                    Diagnostic::error(
                        RuleId::Esx016,
                        format!(
                            "host {host_name} is selected by Target \"{}\" and Target \"{name}\": a host is reached through one server, so select it in one of them",
                            other.name
                        ),
                    )
                    .at(loaded.source.locate("spec.hosts"), "spec.hosts")
                    .on_host(&host_name)
                    .with_related("the other Target", other.source.document_location()),
                ),
                None => host.target = Some(target.clone()),
            }
        }
    }
    for host in lowered.fleet.hosts.values() {
        if host.target.is_none() {
            lowered.diagnostics.push(
                Diagnostic::error(
                    RuleId::Esx016,
                    format!(
                        "host {} is selected by no Target, and the manifests declare targets: select it in the `spec.hosts` of the Target of its server",
                        host.name
                    ),
                )
                .at(host.source.locate("metadata.name"), "metadata.name")
                .on_host(&host.name),
            );
        }
    }
}

/// The declared hosts a selector picks, sorted: each one's position in the fleet, and its name.
fn select_hosts<'fleet>(
    fleet: &'fleet DesiredFleet,
    selector: &HostSelector,
    source: &Source,
    document_name: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<(usize, &'fleet str)> {
    if selector.names.is_none() && selector.match_labels.is_none() {
        diagnostics.push(
            Diagnostic::error(
                RuleId::Esx017,
                format!("\"{document_name}\" selects no hosts: give `names` or `matchLabels` (`matchLabels: {{}}` selects every host)"),
            )
            .at(source.locate("spec.hosts"), "spec.hosts"),
        );
        return Vec::new();
    }
    if let Some(names) = &selector.names {
        for (index, name) in names.iter().enumerate() {
            if !fleet.hosts.contains_key(name) {
                let field = format!("spec.hosts.names[{index}]");
                diagnostics.push(
                    Diagnostic::error(
                        RuleId::Esx017,
                        format!("host \"{name}\" is not declared: add a `Host` document for it or fix the name"),
                    )
                    .at(source.locate(&field), field),
                );
            }
        }
    }
    // A set: selectors that name thousands of hosts must not make lowering quadratic.
    let named: Option<BTreeSet<&String>> = selector.names.as_ref().map(|names| names.iter().collect());
    let selected: Vec<(usize, &str)> = fleet
        .hosts
        .values()
        .enumerate()
        .filter(|(_, host)| named.as_ref().is_none_or(|names| names.contains(&host.name)))
        .filter(|(_, host)| {
            selector
                .match_labels
                .as_ref()
                .is_none_or(|labels| labels.iter().all(|(key, value)| host.labels.get(key) == Some(value)))
        })
        .map(|(index, host)| (index, host.name.as_str()))
        .collect();
    if selected.is_empty() && selector.names.as_ref().is_none_or(|names| !names.is_empty()) {
        diagnostics.push(
            Diagnostic::warning(
                RuleId::Esx017,
                format!("\"{document_name}\" matches no declared host, so it changes nothing"),
            )
            .at(source.locate("spec.hosts"), "spec.hosts"),
        );
    }
    selected
}

fn lower_switch(
    host: &mut DesiredHost,
    name: &str,
    spec: &StandardSwitchSpec,
    source: &Source,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let switch = DesiredSwitch {
        name: name.to_owned(),
        mtu: spec.mtu,
        uplinks: spec.uplinks.as_ref().map(|uplinks| uplinks.iter().cloned().collect()),
        teaming: spec.teaming.as_ref().and_then(switch_order),
        policy: switch_policy(spec),
        source: source.clone(),
    };
    match host.switches.get(name) {
        Some(existing) if !same_switch(existing, &switch) => {
            diagnostics.push(conflict(
                &host.name,
                "StandardSwitch",
                name,
                source,
                "spec",
                &existing.source,
            ));
        }
        Some(_) => {}
        None => {
            host.switches.insert(name.to_owned(), switch);
        }
    }
    for (index, port_group) in spec.port_groups.iter().enumerate() {
        let field = format!("spec.portGroups[{index}]");
        let desired = DesiredPortGroup {
            name: port_group.name.clone(),
            switch: name.to_owned(),
            vlan: port_group.vlan,
            policy: port_group_policy(port_group),
            source: source.clone(),
            field: field.clone(),
        };
        match host.port_groups.get(&port_group.name) {
            Some(existing)
                if (&existing.switch, existing.vlan, &existing.policy)
                    != (&desired.switch, desired.vlan, &desired.policy) =>
            {
                diagnostics.push(
                    conflict(
                        &host.name,
                        "port group",
                        &port_group.name,
                        source,
                        &field,
                        &existing.source,
                    )
                    .with_related(
                        "port group names are unique on a host",
                        existing.source.locate(&existing.field),
                    ),
                );
            }
            Some(_) => {}
            None => {
                host.port_groups.insert(port_group.name.clone(), desired);
            }
        }
    }
}

fn same_switch(left: &DesiredSwitch, right: &DesiredSwitch) -> bool {
    (left.mtu, &left.uplinks, &left.teaming, left.policy) == (right.mtu, &right.uplinks, &right.teaming, right.policy)
}

/// ESX011, once per document: `standby` and `unused` only beside an `active` list (the order is
/// managed as a whole or not at all).
fn check_order_lists(spec: &StandardSwitchSpec, source: &Source, diagnostics: &mut Vec<Diagnostic>) {
    let mut orders: Vec<(String, String, bool, bool)> = Vec::new();
    if let Some(teaming) = &spec.teaming {
        orders.push((
            "teaming".to_owned(),
            "spec.teaming".to_owned(),
            teaming.active.is_some(),
            teaming.standby.is_some() || teaming.unused.is_some(),
        ));
    }
    for (index, port_group) in spec.port_groups.iter().enumerate() {
        if let Some(teaming) = &port_group.teaming {
            orders.push((
                format!("the teaming of port group \"{}\"", port_group.name),
                format!("spec.portGroups[{index}].teaming"),
                matches!(teaming.active, Some(Overridable::Value(_))),
                teaming.standby.is_some() || teaming.unused.is_some(),
            ));
        }
    }
    for (owner, field, has_active_list, has_other_lists) in orders {
        if has_other_lists && !has_active_list {
            let list = if source.spans().fields.contains_key(&format!("{field}.standby")) {
                format!("{field}.standby")
            } else {
                format!("{field}.unused")
            };
            diagnostics.push(
                Diagnostic::error(
                    RuleId::Esx011,
                    format!(
                        "{owner} lists standby or unused uplinks without an active list: name the active uplinks in {field}.active"
                    ),
                )
                .at(source.locate(&list), &list),
            );
        }
    }
}

/// The failover order a switch's `teaming` manages: `active` and `standby` when `active` is given
/// (standby or unused without it is ESX011).
fn switch_order(teaming: &SwitchTeamingSpec) -> Option<Teaming> {
    teaming.active.as_ref().map(|active| Teaming {
        active: active.clone(),
        standby: teaming.standby.clone().unwrap_or_default(),
    })
}

fn switch_policy(spec: &StandardSwitchSpec) -> SwitchPolicyPatch {
    let teaming = spec.teaming.clone().unwrap_or_default();
    let security = spec.security.unwrap_or_default();
    SwitchPolicyPatch {
        allow_promiscuous: security.allow_promiscuous,
        mac_changes: security.mac_changes,
        forged_transmits: security.forged_transmits,
        load_balancing: teaming.load_balancing,
        notify_switches: teaming.notify_switches,
        failback: teaming.failback,
        beacon_probing: teaming.beacon_probing,
    }
}

fn port_group_policy(spec: &PortGroupSpec) -> PortGroupPolicyPatch {
    let teaming = spec.teaming.clone().unwrap_or_default();
    let security = spec.security.unwrap_or_default();
    PortGroupPolicyPatch {
        allow_promiscuous: security.allow_promiscuous.map(Overridable::into_override),
        mac_changes: security.mac_changes.map(Overridable::into_override),
        forged_transmits: security.forged_transmits.map(Overridable::into_override),
        load_balancing: teaming.load_balancing.map(Overridable::into_override),
        notify_switches: teaming.notify_switches.map(Overridable::into_override),
        failback: teaming.failback.map(Overridable::into_override),
        beacon_probing: teaming.beacon_probing.map(Overridable::into_override),
        order: teaming.active.map(|active| {
            active.into_override().map(|active| Teaming {
                active,
                standby: teaming.standby.clone().unwrap_or_default(),
            })
        }),
    }
}

fn lower_stack(
    host: &mut DesiredHost,
    name: &str,
    spec: &NetStackSpec,
    source: &Source,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let routes = spec.routes.as_ref().map(|routes| {
        let mut routes = routes.clone();
        routes.sort();
        routes
    });
    let stack = DesiredStack {
        stack: spec.stack,
        name: name.to_owned(),
        ipv4_gateway: spec.ipv4_gateway,
        ipv6_gateway: spec.ipv6_gateway,
        dns: spec.dns.clone(),
        routes,
        max_connections: spec.max_connections,
        congestion_control: spec.congestion_control,
        source: source.clone(),
    };
    match host.stacks.get(&spec.stack) {
        Some(existing) if !same_stack(existing, &stack) => {
            diagnostics.push(conflict(
                &host.name,
                "NetStack",
                spec.stack.as_str(),
                source,
                "spec",
                &existing.source,
            ));
        }
        Some(_) => {}
        None => {
            host.stacks.insert(spec.stack, stack);
        }
    }
}

fn same_stack(left: &DesiredStack, right: &DesiredStack) -> bool {
    let key = |stack: &DesiredStack| {
        (
            stack.ipv4_gateway,
            stack.ipv6_gateway,
            stack.dns.clone(),
            stack.routes.clone(),
            stack.max_connections,
            stack.congestion_control,
        )
    };
    key(left) == key(right)
}

fn insert_adapter(host: &mut DesiredHost, adapter: DesiredAdapter, diagnostics: &mut Vec<Diagnostic>) {
    match host.adapters.get(&adapter.name) {
        Some(existing) if !same_adapter(existing, &adapter) => {
            diagnostics.push(conflict(
                &host.name,
                "VmkernelAdapter",
                &adapter.name,
                &adapter.source,
                "spec",
                &existing.source,
            ));
        }
        Some(_) => {}
        None => {
            host.adapters.insert(adapter.name.clone(), adapter);
        }
    }
}

fn same_adapter(left: &DesiredAdapter, right: &DesiredAdapter) -> bool {
    let key = |adapter: &DesiredAdapter| {
        (
            adapter.stack,
            adapter.device.clone(),
            adapter.connection.clone(),
            adapter.mtu,
            adapter.ipv4.clone(),
            adapter.ipv6.clone(),
            adapter.services.clone(),
        )
    };
    key(left) == key(right)
}

/// The observed adapter a desired adapter is: by pinned device, else by its port group.
pub fn matching_observed_adapter<'a>(
    observed: &'a ObservedHost,
    device: Option<&str>,
    connection: &PortConnection,
) -> Option<&'a crate::observed::ObservedAdapter> {
    match device {
        Some(device) => observed.adapter(device),
        None => observed.adapter_on(connection),
    }
}

fn lower_adapter(
    host_name: &str,
    name: &str,
    spec: &VmkernelAdapterSpec,
    source: &Source,
    observed: Option<&ObservedHost>,
    allocator: &mut PoolAllocator,
) -> DesiredAdapter {
    let reference = &spec.port_group;
    let ambiguous_switch = reference.standard_switch.is_some() == reference.distributed_switch.is_some();
    let connection = match (&reference.standard_switch, &reference.distributed_switch) {
        (_, Some(switch)) if reference.standard_switch.is_none() => PortConnection::Distributed {
            switch: switch.clone(),
            port_group: reference.name.clone(),
        },
        (switch, _) => PortConnection::Standard {
            switch: switch.clone().unwrap_or_default(),
            port_group: reference.name.clone(),
        },
    };
    let existing =
        observed.and_then(|observed| matching_observed_adapter(observed, spec.device.as_deref(), &connection));
    let ipv4 = match spec.ipv4.mode {
        Ipv4Mode::Dhcp => DesiredIpv4::Dhcp {
            stray_prefix_length: spec.ipv4.prefix_length.is_some(),
            stray_addresses: spec.ipv4.addresses.is_some() || spec.ipv4.pool.is_some(),
            gateway_override: spec.ipv4.gateway_override,
        },
        Ipv4Mode::Static => {
            let explicit = spec
                .ipv4
                .addresses
                .as_ref()
                .and_then(|addresses| addresses.get(host_name))
                .copied();
            let address = explicit.or_else(|| {
                let pool = spec.ipv4.pool?;
                let current = existing.and_then(|adapter| adapter.ipv4.address);
                allocator.allocate(pool, current)
            });
            DesiredIpv4::Static {
                address,
                prefix_length: spec.ipv4.prefix_length,
                pool: spec.ipv4.pool,
                gateway_override: spec.ipv4.gateway_override,
            }
        }
    };
    let ipv6 = spec.ipv6.as_ref().map(|ipv6| DesiredIpv6 {
        dhcp: ipv6.dhcp,
        router_advertisement: ipv6.router_advertisement,
        addresses: ipv6
            .addresses
            .as_ref()
            .and_then(|addresses| addresses.get(host_name))
            .map(|addresses| addresses.iter().copied().collect())
            .unwrap_or_default(),
        gateway_override: ipv6.gateway_override,
    });
    DesiredAdapter {
        name: name.to_owned(),
        stack: spec.stack,
        device: spec.device.clone(),
        connection,
        ambiguous_switch,
        mtu: spec.mtu,
        ipv4,
        ipv6,
        services: spec
            .services
            .as_ref()
            .map(|services| services.iter().copied().collect()),
        source: source.clone(),
    }
}

/// Hands out pool addresses: an address an adapter already has is kept, others get the lowest
/// address no adapter in the fleet uses and no manifest names.
struct PoolAllocator {
    taken: BTreeSet<Ipv4Addr>,
    /// Per pool, an address below which every address is taken. `taken` only grows while
    /// lowering, so the lowest free address never moves down: scanning from here keeps
    /// allocation linear in the fleet instead of quadratic.
    lowest_candidate: std::collections::HashMap<crate::pool::Ipv4Pool, u32>,
}

impl PoolAllocator {
    fn new(documents: &[LoadedDocument], observed: Option<&ObservedFleet>) -> Self {
        let mut taken = BTreeSet::new();
        for loaded in documents {
            if let AnyDocument::VmkernelAdapter(document) = &loaded.document {
                if let Some(addresses) = &document.spec.ipv4.addresses {
                    taken.extend(addresses.values().copied());
                }
            }
        }
        // Addresses adapters hold now are taken, except that each adapter may keep its own (see allocate).
        let held: BTreeSet<Ipv4Addr> = observed
            .into_iter()
            .flat_map(|fleet| fleet.hosts.values())
            .flat_map(|host| host.adapters.iter())
            .filter_map(|adapter| adapter.ipv4.address)
            .collect();
        taken.extend(held);
        PoolAllocator {
            taken,
            lowest_candidate: std::collections::HashMap::new(),
        }
    }

    fn allocate(&mut self, pool: crate::pool::Ipv4Pool, current: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        if let Some(current) = current.filter(|address| pool.contains(*address)) {
            // Held by this very adapter: it keeps it. Already `taken`, so no one else gets it.
            return Some(current);
        }
        let start = self
            .lowest_candidate
            .get(&pool)
            .copied()
            .unwrap_or(u32::from(pool.first));
        let found = (start..=u32::from(pool.last))
            .map(Ipv4Addr::from)
            .find(|address| !self.taken.contains(address));
        let Some(address) = found else {
            self.lowest_candidate.insert(pool, u32::from(pool.last));
            return None;
        };
        self.taken.insert(address);
        self.lowest_candidate.insert(pool, u32::from(address));
        Some(address)
    }
}

/// The field path of a host's entry in a per-host map such as `spec.ipv4.addresses`.
pub fn host_entry_field(map_field: &str, host: &str) -> String {
    push_key(map_field, host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_str;
    use std::path::Path;

    const HOSTS: &str = "apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-01, labels: {cluster: a}}\n---\n\
apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-02, labels: {cluster: a}}\n---\n\
apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-03, labels: {cluster: b}}\n---\n";

    fn lower_text(text: &str, observed: Option<&ObservedFleet>) -> Lowered {
        let (documents, diagnostics) = load_str(Path::new("t.yaml"), &format!("{HOSTS}{text}"));
        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        lower(&documents, observed)
    }

    const POOLED: &str = "apiVersion: esxnet/v1\nkind: VmkernelAdapter\nmetadata: {name: prov}\nspec:\n  hosts: {matchLabels: {cluster: a}}\n  stack: provisioning\n  portGroup: {standardSwitch: vSwitch1, name: Prov}\n  ipv4: {mode: static, prefixLength: 24, pool: 10.0.0.10-10.0.0.20}\n";

    fn address(lowered: &Lowered, host: &str) -> Option<Ipv4Addr> {
        lowered.fleet.hosts[host]
            .adapters
            .get("prov")?
            .ipv4
            .network()
            .map(|network| network.addr())
    }

    #[test]
    fn selectors_pick_hosts_by_label() {
        let lowered = lower_text(POOLED, None);
        assert!(lowered.diagnostics.is_empty(), "{:#?}", lowered.diagnostics);
        assert!(lowered.fleet.hosts["esx-01"].adapters.contains_key("prov"));
        assert!(!lowered.fleet.hosts["esx-03"].adapters.contains_key("prov"));
    }

    #[test]
    fn pools_allocate_lowest_free_in_host_order() {
        let lowered = lower_text(POOLED, None);
        assert_eq!(address(&lowered, "esx-01"), Some("10.0.0.10".parse().unwrap()));
        assert_eq!(address(&lowered, "esx-02"), Some("10.0.0.11".parse().unwrap()));
    }

    #[test]
    fn pools_keep_existing_addresses_and_skip_taken_ones() {
        let observed: ObservedFleet = serde_json::from_value(serde_json::json!({"hosts": {
            "esx-02": {"name": "esx-02", "version": "8.0.3", "adapters": [{
                "device": "vmk1", "connection": {"type": "standard", "switch": "vSwitch1", "portGroup": "Prov"},
                "stack": "provisioning", "mac": "00:50:56:00:00:01", "mtu": 1500,
                "ipv4": {"dhcp": false, "address": "10.0.0.10", "prefixLength": 24, "gatewayOverride": null},
                "ipv6": {"dhcp": false, "routerAdvertisement": true, "addresses": [], "gatewayOverride": null}}]},
            "esx-03": {"name": "esx-03", "version": "8.0.3", "adapters": [{
                "device": "vmk1", "connection": {"type": "standard", "switch": "vSwitch0", "portGroup": "Other"},
                "stack": "default", "mac": "00:50:56:00:00:02", "mtu": 1500,
                "ipv4": {"dhcp": false, "address": "10.0.0.11", "prefixLength": 24, "gatewayOverride": null},
                "ipv6": {"dhcp": false, "routerAdvertisement": true, "addresses": [], "gatewayOverride": null}}]}
        }}))
        .unwrap();
        let lowered = lower_text(POOLED, Some(&observed));
        assert_eq!(address(&lowered, "esx-02"), Some("10.0.0.10".parse().unwrap()), "kept");
        assert_eq!(
            address(&lowered, "esx-01"),
            Some("10.0.0.12".parse().unwrap()),
            "skips .10 (esx-02) and .11 (esx-03)"
        );
    }

    #[test]
    fn undeclared_host_names_are_reported() {
        let text = "apiVersion: esxnet/v1\nkind: StandardSwitch\nmetadata: {name: vSwitch1}\nspec:\n  hosts: {names: [esx-01, esx-09]}\n";
        let lowered = lower_text(text, None);
        assert_eq!(lowered.diagnostics.len(), 1);
        assert_eq!(lowered.diagnostics[0].rule, RuleId::Esx017);
        assert_eq!(lowered.diagnostics[0].field.as_deref(), Some("spec.hosts.names[1]"));
    }
}

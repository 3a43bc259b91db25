//! Rules about addresses, subnets and routes (ESX006–ESX008, ESX013, ESX018, ESX019).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use ipnet::{IpNet, Ipv6Net};

use crate::common::{EsxiVersion, Route, Service, StackKind};
use crate::desired::{DesiredAdapter, DesiredFleet, DesiredIpv4, DesiredStack};
use crate::diagnostic::{Diagnostic, RuleId};
use crate::observed::{ObservedAdapter, ObservedFleet};
use crate::source::Source;

use super::{fields, values, HostContext};

/// The prefix lengths a static IPv4 address may have.
const IPV4_PREFIX_LENGTHS: std::ops::RangeInclusive<u8> = 1..=32;

/// Runs the per-host addressing rules.
pub(super) fn check_host(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    check_ipv4_settings_match_their_mode(context, diagnostics);
    check_gateway_overrides_lie_in_the_adapter_subnet(context, diagnostics);
    check_ipv6_settings(context, diagnostics);
    check_no_ipv6_on_hosts_without_ipv6(context, diagnostics);
    check_no_multihoming_within_a_stack(context, diagnostics);
    check_routes(context, diagnostics);
}

/// ESX006 (seed): static IPv4 needs an address and a prefix on every selected host; DHCP takes
/// everything from the server, so an address, pool, prefix or gateway override next to it is a
/// mistake the user should hear about rather than a value silently ignored. The address is a
/// unicast host address: ESXi refuses the others (`InvalidArgument`) halfway through an apply.
fn check_ipv4_settings_match_their_mode(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    for adapter in context.host.adapters.values() {
        match &adapter.ipv4 {
            DesiredIpv4::Static {
                address,
                prefix_length,
                pool,
                ..
            } => {
                if address.is_none() {
                    diagnostics.push(missing_static_address(context, adapter, pool.as_ref()));
                }
                if let Some(diagnostic) = address.and_then(|address| refused_adapter_address(context, adapter, address))
                {
                    diagnostics.push(diagnostic);
                } else if let Some(problem) = reserved_address_in_subnet(&adapter.ipv4) {
                    diagnostics.push(context.adapter_error(
                        RuleId::Esx006,
                        adapter,
                        &ipv4_address_field(adapter, context.name()),
                        format!("{problem} on host {}: give the adapter a host address", context.name()),
                    ));
                }
                match prefix_length {
                    None => diagnostics.push(context.adapter_error(
                        RuleId::Esx006,
                        adapter,
                        "spec.ipv4",
                        "static IPv4 needs a prefix length: add spec.ipv4.prefixLength (1–32)",
                    )),
                    Some(prefix) if !IPV4_PREFIX_LENGTHS.contains(prefix) => diagnostics.push(context.adapter_error(
                        RuleId::Esx006,
                        adapter,
                        "spec.ipv4.prefixLength",
                        format!("IPv4 prefix length {prefix} is out of range: use 1–32"),
                    )),
                    Some(_) => {}
                }
            }
            DesiredIpv4::Dhcp {
                stray_prefix_length,
                stray_addresses,
                gateway_override,
            } => {
                if *stray_prefix_length {
                    diagnostics.push(context.adapter_error(
                        RuleId::Esx006,
                        adapter,
                        "spec.ipv4.prefixLength",
                        "DHCP assigns the prefix length: remove spec.ipv4.prefixLength or use mode static",
                    ));
                }
                if *stray_addresses {
                    let field = if fields::is_present(&adapter.source, "spec.ipv4.addresses") {
                        "spec.ipv4.addresses"
                    } else {
                        "spec.ipv4.pool"
                    };
                    diagnostics.push(context.adapter_error(
                        RuleId::Esx006,
                        adapter,
                        field,
                        format!("DHCP assigns the address: remove {field} or use mode static"),
                    ));
                }
                if gateway_override.is_some() {
                    diagnostics.push(context.adapter_error(
                        RuleId::Esx006,
                        adapter,
                        "spec.ipv4.gatewayOverride",
                        "DHCP assigns the gateway: remove spec.ipv4.gatewayOverride or use mode static",
                    ));
                }
            }
        }
    }
}

/// A static address ESXi refuses for an adapter (an error), or one it accepts that is rarely meant:
/// link-local 169.254.0.0/16, which routers do not forward (a warning).
fn refused_adapter_address(
    context: &HostContext<'_>,
    adapter: &DesiredAdapter,
    address: std::net::Ipv4Addr,
) -> Option<Diagnostic> {
    let field = ipv4_address_field(adapter, context.name());
    if let Some(problem) = values::non_unicast_ipv4(address) {
        return Some(context.adapter_error(
            RuleId::Esx006,
            adapter,
            &field,
            format!(
                "{address} {problem}, which ESXi refuses for an adapter on host {}: give the adapter a unicast host address",
                context.name()
            ),
        ));
    }
    address.is_link_local().then(|| {
        context.warning(
            RuleId::Esx006,
            &adapter.source,
            &field,
            format!(
                "{address} is link-local (169.254.0.0/16) on host {}, which routers do not forward: use a routable address unless the network is link-local by design",
                context.name()
            ),
        )
    })
}

/// A static address that is its subnet's network or broadcast address cannot be an adapter's.
/// /31 and /32 have no such addresses (RFC 3021 point-to-point and single-host subnets).
fn reserved_address_in_subnet(ipv4: &DesiredIpv4) -> Option<String> {
    let network = ipv4.network()?;
    if network.prefix_len() >= 31 {
        return None;
    }
    if network.addr() == network.network() {
        Some(format!(
            "{} is the network address of {}",
            network.addr(),
            network.trunc()
        ))
    } else if network.addr() == network.broadcast() {
        Some(format!(
            "{} is the broadcast address of {}",
            network.addr(),
            network.trunc()
        ))
    } else {
        None
    }
}

fn missing_static_address(
    context: &HostContext<'_>,
    adapter: &DesiredAdapter,
    pool: Option<&crate::pool::Ipv4Pool>,
) -> Diagnostic {
    match pool {
        Some(pool) => context.adapter_error(
            RuleId::Esx006,
            adapter,
            "spec.ipv4.pool",
            format!(
                "pool {pool} has no free address left for host {}: widen the pool or give the host an entry in spec.ipv4.addresses",
                context.name()
            ),
        ),
        None => context.adapter_error(
            RuleId::Esx006,
            adapter,
            "spec.ipv4.addresses",
            format!(
                "static IPv4 needs an address for host {}: add an entry for it to spec.ipv4.addresses or give a pool",
                context.name()
            ),
        ),
    }
}

/// ESX007 (seed): an adapter reaches its gateway override directly, so the override is a router's
/// unicast address inside the adapter's own subnet (not its network or broadcast address), and it
/// cannot be the adapter itself.
fn check_gateway_overrides_lie_in_the_adapter_subnet(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    for adapter in context.host.adapters.values() {
        let ipv4_override = adapter.ipv4.gateway_override().filter(|_| !adapter.ipv4.is_dhcp());
        let refused =
            ipv4_override.and_then(|gateway| values::non_unicast_ipv4(gateway).map(|problem| (gateway, problem)));
        if let Some((gateway, problem)) = refused {
            diagnostics.push(context.adapter_error(
                RuleId::Esx007,
                adapter,
                "spec.ipv4.gatewayOverride",
                format!("the gateway override {gateway} {problem}, which ESXi refuses as a gateway: give the router's unicast address"),
            ));
        } else if let (Some(gateway), Some(network)) = (ipv4_override, adapter.ipv4.network()) {
            let field = "spec.ipv4.gatewayOverride";
            let subnet = network.trunc();
            let has_reserved_addresses = network.prefix_len() < 31;
            if gateway == network.addr() {
                diagnostics.push(context.adapter_error(
                    RuleId::Esx007,
                    adapter,
                    field,
                    format!("the gateway override {gateway} is the adapter's own address: give the router's address"),
                ));
            } else if has_reserved_addresses && (gateway == subnet.network() || gateway == subnet.broadcast()) {
                let which = if gateway == subnet.network() {
                    "network"
                } else {
                    "broadcast"
                };
                diagnostics.push(context.adapter_error(
                    RuleId::Esx007,
                    adapter,
                    field,
                    format!(
                        "the gateway override {gateway} is the {which} address of {subnet}: give the router's address"
                    ),
                ));
            } else if !network.trunc().contains(&gateway) {
                diagnostics.push(context.adapter_error(
                    RuleId::Esx007,
                    adapter,
                    field,
                    format!(
                        "the gateway override {gateway} is outside the adapter's subnet {} on host {}: use a gateway inside {}",
                        network.trunc(),
                        context.name(),
                        network.trunc()
                    ),
                ));
            }
        }
        let Some(ipv6) = &adapter.ipv6 else { continue };
        let Some(gateway) = ipv6.gateway_override else { continue };
        let field = "spec.ipv6.gatewayOverride";
        if let Some(problem) = values::non_unicast_ipv6(gateway) {
            diagnostics.push(context.adapter_error(
                RuleId::Esx007,
                adapter,
                field,
                format!("the IPv6 gateway override {gateway} {problem}, which ESXi refuses as a gateway: give the router's unicast address"),
            ));
        } else if ipv6.addresses.is_empty() {
            diagnostics.push(context.adapter_error(
                RuleId::Esx007,
                adapter,
                field,
                format!(
                    "the IPv6 gateway override {gateway} needs a static IPv6 address in its subnet on host {}: add one to spec.ipv6.addresses or remove the override",
                    context.name()
                ),
            ));
        } else if ipv6.addresses.iter().any(|address| address.addr() == gateway) {
            diagnostics.push(context.adapter_error(
                RuleId::Esx007,
                adapter,
                field,
                format!("the IPv6 gateway override {gateway} is the adapter's own address: give the router's address"),
            ));
        } else if !ipv6.addresses.iter().any(|address| address.trunc().contains(&gateway)) {
            diagnostics.push(context.adapter_error(
                RuleId::Esx007,
                adapter,
                field,
                format!(
                    "the IPv6 gateway override {gateway} is outside every static IPv6 subnet of the adapter on host {}: use a gateway inside one of them",
                    context.name()
                ),
            ));
        }
    }
}

/// ESX008 (seed): static IPv6 addresses need a usable prefix and a global or unique-local
/// address; ESXi computes link-local addresses itself. Router advertisement is on by default only
/// from ESXi 6.5, which also added the M and O flags (RFC 4861); asking for it on an older host
/// is a warning, not an error: the host accepts it but behaves unlike the seed describes.
fn check_ipv6_settings(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    for adapter in context.host.adapters.values() {
        let Some(ipv6) = &adapter.ipv6 else { continue };
        let map_field = fields::host_entry("spec.ipv6.addresses", context.name());
        for address in &ipv6.addresses {
            let field = ipv6_address_field(&adapter.source, &map_field, address);
            if let Some(problem) = unusable_static_ipv6(address) {
                diagnostics.push(context.adapter_error(
                    RuleId::Esx008,
                    adapter,
                    &field,
                    format!("{address} {problem}: use a global or unique-local address with prefix length 1–128"),
                ));
            }
        }
        check_ipv6_duplicates(context, adapter, &map_field, diagnostics);
        let old_host = context
            .observed
            .filter(|observed| observed.version < EsxiVersion::ROUTER_ADVERTISEMENT_DEFAULT);
        if let (Some(observed), Some(true)) = (old_host, ipv6.router_advertisement) {
            diagnostics.push(context.warning(
                RuleId::Esx008,
                &adapter.source,
                "spec.ipv6.routerAdvertisement",
                format!(
                    "host {} runs ESXi {}, where router advertisement is off by default and ignores the M and O flags: upgrade to ESXi {} or later, or drop routerAdvertisement",
                    context.name(),
                    observed.version,
                    EsxiVersion::ROUTER_ADVERTISEMENT_DEFAULT
                ),
            ));
        }
    }
}

/// ESX008: a host with IPv6 disabled (`config.network.ipV6Enabled: false`) refuses IPv6 settings
/// with `InvalidState`, and turning IPv6 on takes a reboot, so esxnet cannot fix it on the way.
/// An adapter's `ipv6` block that turns everything off asks for what the host already has and is
/// fine. Only the observed state can tell, so this runs only with a target.
fn check_no_ipv6_on_hosts_without_ipv6(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    let Some(observed) = context.observed.filter(|observed| !observed.ipv6_enabled) else {
        return;
    };
    let advice = |field: &str| {
        format!(
            "host {} has IPv6 disabled and refuses IPv6 settings: remove {field}, or enable IPv6 on the host (it takes a reboot) and plan again",
            observed.name
        )
    };
    for adapter in context.host.adapters.values() {
        let Some(ipv6) = &adapter.ipv6 else { continue };
        let mut fields_asking_for_ipv6: Vec<String> = Vec::new();
        if ipv6.dhcp {
            fields_asking_for_ipv6.push("spec.ipv6.dhcp".to_owned());
        }
        if ipv6.router_advertisement == Some(true) {
            fields_asking_for_ipv6.push("spec.ipv6.routerAdvertisement".to_owned());
        }
        if !ipv6.addresses.is_empty() {
            fields_asking_for_ipv6.push(fields::host_entry("spec.ipv6.addresses", context.name()));
        }
        if ipv6.gateway_override.is_some() {
            fields_asking_for_ipv6.push("spec.ipv6.gatewayOverride".to_owned());
        }
        for field in fields_asking_for_ipv6 {
            diagnostics.push(context.adapter_error(RuleId::Esx008, adapter, &field, advice(&field)));
        }
    }
    for stack in context.host.stacks.values() {
        if stack.ipv6_gateway.is_some() {
            diagnostics.push(context.error(
                RuleId::Esx008,
                &stack.source,
                "spec.ipv6Gateway",
                advice("spec.ipv6Gateway"),
            ));
        }
        let routes = stack.routes.as_deref().unwrap_or_default();
        for (field, route) in locate_routes(stack, routes) {
            if matches!(route.destination, IpNet::V6(_)) {
                diagnostics.push(context.error(RuleId::Esx008, &stack.source, &field, advice(&field)));
            }
        }
    }
}

/// Why a static IPv6 address cannot be configured, if it cannot.
fn unusable_static_ipv6(address: &Ipv6Net) -> Option<&'static str> {
    let ip = address.addr();
    if address.prefix_len() == 0 {
        Some("has prefix length 0")
    } else if ip.is_unspecified() {
        Some("is the unspecified address")
    } else if ip.is_loopback() {
        Some("is the loopback address")
    } else if ip.is_multicast() {
        Some("is a multicast address")
    } else if (ip.segments()[0] & 0xffc0) == 0xfe80 {
        Some("is link-local (fe80::/10), which ESXi assigns by itself")
    } else {
        None
    }
}

/// The same address listed twice for one host (maybe with another prefix) is a typo.
fn check_ipv6_duplicates(
    context: &HostContext<'_>,
    adapter: &DesiredAdapter,
    map_field: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut seen: BTreeMap<Ipv6Addr, String> = BTreeMap::new();
    for (field, text) in fields::sequence_items(&adapter.source, map_field) {
        let Ok(address) = text.parse::<Ipv6Net>() else { continue };
        match seen.get(&address.addr()) {
            Some(first) => diagnostics.push(
                context
                    .adapter_error(
                        RuleId::Esx008,
                        adapter,
                        &field,
                        format!(
                            "{} is listed twice for host {}: remove one",
                            address.addr(),
                            context.name()
                        ),
                    )
                    .with_related("first listed here", adapter.source.locate(first)),
            ),
            None => {
                seen.insert(address.addr(), field);
            }
        }
    }
}

fn ipv6_address_field(source: &Source, map_field: &str, address: &Ipv6Net) -> String {
    fields::item_matching(source, map_field, address, |text| text.parse::<Ipv6Net>().ok())
}

/// The field that gave an adapter its IPv4 address on a host: its entry in `addresses`, else the pool.
fn ipv4_address_field(adapter: &DesiredAdapter, host: &str) -> String {
    let entry = fields::host_entry("spec.ipv4.addresses", host);
    if fields::is_present(&adapter.source, &entry) {
        entry
    } else {
        "spec.ipv4.pool".to_owned()
    }
}

/// Who holds an address: a declared adapter (with its place) or an observed one esxnet leaves alone.
struct AddressHolder<'a> {
    host: &'a str,
    description: String,
    declared: Option<(&'a Source, String)>,
}

/// ESX013: an address belongs to one adapter across the whole fleet. Observed adapters count
/// unless a declared adapter is the same adapter (it will be re-addressed, so its old address is
/// free). Every declared holder gets a diagnostic that names the other holders.
pub(super) fn check_addresses_are_unique_across_the_fleet(
    fleet: &DesiredFleet,
    observed: Option<&ObservedFleet>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut holders: BTreeMap<IpAddr, Vec<AddressHolder<'_>>> = BTreeMap::new();
    for host in fleet.hosts.values() {
        for adapter in host.adapters.values() {
            if let Some(network) = adapter.ipv4.network() {
                holders
                    .entry(IpAddr::V4(network.addr()))
                    .or_default()
                    .push(AddressHolder {
                        host: &host.name,
                        description: format!("adapter \"{}\" on host {}", adapter.name, host.name),
                        declared: Some((&adapter.source, ipv4_address_field(adapter, &host.name))),
                    });
            }
            let map_field = fields::host_entry("spec.ipv6.addresses", &host.name);
            // One address listed with two prefixes is one holder (ESX008 reports the repeat).
            let mut own_ipv6: Vec<&Ipv6Net> = adapter.ipv6.iter().flat_map(|ipv6| ipv6.addresses.iter()).collect();
            own_ipv6.dedup_by_key(|address| address.addr());
            for address in own_ipv6 {
                holders
                    .entry(IpAddr::V6(address.addr()))
                    .or_default()
                    .push(AddressHolder {
                        host: &host.name,
                        description: format!("adapter \"{}\" on host {}", adapter.name, host.name),
                        declared: Some((
                            &adapter.source,
                            ipv6_address_field(&adapter.source, &map_field, address),
                        )),
                    });
            }
        }
    }
    for observed_host in observed.iter().flat_map(|observed| observed.hosts.values()) {
        let undeclared: Vec<&ObservedAdapter> = match fleet.hosts.get(&observed_host.name) {
            Some(host) => HostContext {
                host,
                observed: Some(observed_host),
            }
            .undeclared_observed_adapters(),
            None => observed_host.adapters.iter().collect(),
        };
        for adapter in undeclared {
            let description = format!("{} on host {} (observed)", adapter.device, observed_host.name);
            let static_ipv4 = adapter.ipv4.address.filter(|_| !adapter.ipv4.dhcp).map(IpAddr::V4);
            let static_ipv6 = adapter
                .ipv6
                .manual_addresses()
                .into_iter()
                .map(|address| IpAddr::V6(address.addr()));
            for address in static_ipv4.into_iter().chain(static_ipv6) {
                holders.entry(address).or_default().push(AddressHolder {
                    host: &observed_host.name,
                    description: description.clone(),
                    declared: None,
                });
            }
        }
    }
    for (address, holders) in holders.iter().filter(|(_, holders)| holders.len() > 1) {
        for (index, holder) in holders.iter().enumerate() {
            let Some((source, field)) = &holder.declared else {
                continue;
            };
            let others: Vec<&AddressHolder<'_>> = holders
                .iter()
                .enumerate()
                .filter(|(other_index, _)| *other_index != index)
                .map(|(_, other)| other)
                .collect();
            let names: Vec<&str> = others.iter().map(|other| other.description.as_str()).collect();
            let mut diagnostic = Diagnostic::error(
                RuleId::Esx013,
                format!(
                    "{address} of {} is also used by {}: give each adapter an address of its own",
                    holder.description,
                    names.join(", ")
                ),
            )
            .at(source.locate(field), field.as_str())
            .on_host(holder.host);
            for other in others {
                if let Some((other_source, other_field)) = &other.declared {
                    diagnostic = diagnostic.with_related(
                        format!("also given to {}", other.description),
                        other_source.locate(other_field),
                    );
                }
            }
            diagnostics.push(diagnostic);
        }
    }
}

/// One adapter's static subnets on a host, for the multihoming and route rules.
struct StackMember<'a> {
    description: String,
    stack: StackKind,
    subnets: Vec<IpNet>,
    /// Multi-NIC vMotion is the supported exception to the multihoming rule.
    carries_vmotion: bool,
    /// Whether it gets an IPv4 or IPv6 address dynamically (or its IPv6 is unmanaged).
    dynamic_ipv4: bool,
    dynamic_ipv6: bool,
    declared: Option<&'a DesiredAdapter>,
}

fn stack_members<'a>(context: &HostContext<'a>) -> Vec<StackMember<'a>> {
    let mut members = Vec::new();
    for adapter in context.host.adapters.values() {
        let mut subnets: Vec<IpNet> = adapter
            .ipv4
            .network()
            .map(|network| IpNet::V4(network.trunc()))
            .into_iter()
            .collect();
        subnets.extend(
            adapter
                .ipv6
                .iter()
                .flat_map(|ipv6| ipv6.addresses.iter())
                .map(|address| IpNet::V6(address.trunc())),
        );
        members.push(StackMember {
            description: format!("adapter \"{}\"", adapter.name),
            stack: adapter.stack,
            subnets,
            carries_vmotion: adapter
                .effective_services()
                .is_some_and(|services| services.contains(&Service::Vmotion)),
            dynamic_ipv4: adapter.ipv4.is_dhcp(),
            dynamic_ipv6: adapter
                .ipv6
                .as_ref()
                .is_none_or(|ipv6| ipv6.dhcp || ipv6.router_advertisement != Some(false)),
            declared: Some(adapter),
        });
    }
    for adapter in context.undeclared_observed_adapters() {
        let mut subnets: Vec<IpNet> = Vec::new();
        if let (false, Some(address), Some(prefix)) =
            (adapter.ipv4.dhcp, adapter.ipv4.address, adapter.ipv4.prefix_length)
        {
            if let Ok(network) = ipnet::Ipv4Net::new(address, prefix) {
                subnets.push(IpNet::V4(network.trunc()));
            }
        }
        subnets.extend(
            adapter
                .ipv6
                .manual_addresses()
                .iter()
                .map(|address| IpNet::V6(address.trunc())),
        );
        members.push(StackMember {
            description: format!("{} (observed)", adapter.device),
            stack: adapter.stack,
            subnets,
            carries_vmotion: adapter.stack == StackKind::Vmotion || adapter.services.contains(&Service::Vmotion),
            dynamic_ipv4: adapter.ipv4.dhcp,
            dynamic_ipv6: adapter.ipv6.dhcp || adapter.ipv6.router_advertisement,
            declared: None,
        });
    }
    members
}

/// ESX018: two adapters of one stack in one subnet on one host is multihoming, which ESXi does
/// not support (outbound traffic leaves through either). Multi-NIC vMotion is the documented
/// exception, so a subnet whose adapters all carry vMotion is left alone. A warning: it works,
/// unreliably.
fn check_no_multihoming_within_a_stack(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    let mut members = stack_members(context);
    for member in &mut members {
        // Two addresses of one adapter in one subnet are not multihoming.
        member.subnets.sort();
        member.subnets.dedup();
    }
    let mut by_subnet: BTreeMap<(StackKind, IpNet), Vec<&StackMember<'_>>> = BTreeMap::new();
    for member in &members {
        for subnet in &member.subnets {
            by_subnet.entry((member.stack, *subnet)).or_default().push(member);
        }
    }
    for ((stack, subnet), sharing) in by_subnet.iter().filter(|(_, sharing)| sharing.len() > 1) {
        if sharing.iter().all(|member| member.carries_vmotion) {
            continue;
        }
        for (index, member) in sharing.iter().enumerate() {
            let Some(adapter) = member.declared else { continue };
            let others: Vec<&str> = sharing
                .iter()
                .enumerate()
                .filter(|(other_index, _)| *other_index != index)
                .map(|(_, other)| other.description.as_str())
                .collect();
            let field = match subnet {
                IpNet::V4(_) => ipv4_address_field(adapter, context.name()),
                IpNet::V6(_) => fields::host_entry("spec.ipv6.addresses", context.name()),
            };
            let mut diagnostic = context.warning(
                RuleId::Esx018,
                &adapter.source,
                &field,
                format!(
                    "{} shares subnet {subnet} on the {stack} stack of host {} with {}, which is unsupported multihoming: move one adapter to another subnet or stack",
                    member.description,
                    context.name(),
                    others.join(", ")
                ),
            );
            for other in sharing.iter().filter_map(|other| other.declared) {
                if other.name != adapter.name {
                    diagnostic = diagnostic.with_related(
                        format!("adapter \"{}\" is declared here", other.name),
                        other.source.locate("metadata.name"),
                    );
                }
            }
            diagnostics.push(diagnostic);
        }
    }
}

/// ESX019: a route's destination is a network (no host bits), its gateway is a unicast address of
/// the destination's family reachable from a static subnet of the stack on this host, and no destination is
/// routed twice. Reachability is skipped when an adapter of the stack gets that family's address
/// dynamically: its subnet is unknown until it has one, and might hold the gateway.
fn check_routes(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    let members = stack_members(context);
    for stack in context.host.stacks.values() {
        let Some(routes) = &stack.routes else { continue };
        let located = locate_routes(stack, routes);
        let mut first_by_destination: BTreeMap<IpNet, &str> = BTreeMap::new();
        for (field, route) in &located {
            let destination_field = format!("{field}.destination");
            let gateway_field = format!("{field}.gateway");
            if route.destination != route.destination.trunc() {
                diagnostics.push(context.error(
                    RuleId::Esx019,
                    &stack.source,
                    &destination_field,
                    format!(
                        "route destination {} has host bits set: write the network address {}",
                        route.destination,
                        route.destination.trunc()
                    ),
                ));
            }
            match first_by_destination.get(&route.destination.trunc()) {
                Some(first) => diagnostics.push(
                    context
                        .error(
                            RuleId::Esx019,
                            &stack.source,
                            &destination_field,
                            format!(
                                "{} is routed twice on the {} stack: keep one route per destination",
                                route.destination.trunc(),
                                stack.stack
                            ),
                        )
                        .with_related("first route here", stack.source.locate(first)),
                ),
                None => {
                    first_by_destination.insert(route.destination.trunc(), field);
                }
            }
            let same_family = matches!(
                (route.destination, route.gateway),
                (IpNet::V4(_), IpAddr::V4(_)) | (IpNet::V6(_), IpAddr::V6(_))
            );
            if !same_family {
                diagnostics.push(context.error(
                    RuleId::Esx019,
                    &stack.source,
                    &gateway_field,
                    format!(
                        "route gateway {} and destination {} are of different IP families: use a gateway of the destination's family",
                        route.gateway, route.destination
                    ),
                ));
                continue;
            }
            if let Some(problem) = values::non_unicast(route.gateway) {
                diagnostics.push(context.error(
                    RuleId::Esx019,
                    &stack.source,
                    &gateway_field,
                    format!(
                        "route gateway {} {problem}, which ESXi refuses as a next hop: give the unicast address of a router in a subnet of the {} stack",
                        route.gateway, stack.stack
                    ),
                ));
                continue;
            }
            if let Some(subnets) = reachable_subnets(&members, stack.stack, route.gateway) {
                if !subnets.iter().any(|subnet| subnet.contains(&route.gateway)) {
                    let listed: Vec<String> = subnets.iter().map(ToString::to_string).collect();
                    diagnostics.push(context.error(
                        RuleId::Esx019,
                        &stack.source,
                        &gateway_field,
                        format!(
                            "route gateway {} is not in a subnet of the {} stack on host {} ({}): use a gateway inside one of them",
                            route.gateway,
                            stack.stack,
                            context.name(),
                            listed.join(", ")
                        ),
                    ));
                }
            }
        }
    }
}

/// The static subnets of a stack's adapters of the gateway's family, or `None` when reachability
/// cannot be known (no adapters with static addresses, or one with a dynamic address).
fn reachable_subnets(members: &[StackMember<'_>], stack: StackKind, gateway: IpAddr) -> Option<Vec<IpNet>> {
    let on_stack: Vec<&StackMember<'_>> = members.iter().filter(|member| member.stack == stack).collect();
    let any_dynamic = on_stack.iter().any(|member| match gateway {
        IpAddr::V4(_) => member.dynamic_ipv4,
        IpAddr::V6(_) => member.dynamic_ipv6,
    });
    if any_dynamic {
        return None;
    }
    let subnets: Vec<IpNet> = on_stack
        .iter()
        .flat_map(|member| member.subnets.iter().copied())
        .filter(|subnet| {
            matches!(
                (subnet, gateway),
                (IpNet::V4(_), IpAddr::V4(_)) | (IpNet::V6(_), IpAddr::V6(_))
            )
        })
        .collect();
    if subnets.is_empty() {
        None
    } else {
        Some(subnets)
    }
}

/// Each route with the field path of its item in `spec.routes` (lowering sorted them).
fn locate_routes<'a>(stack: &DesiredStack, routes: &'a [Route]) -> Vec<(String, &'a Route)> {
    let items = fields::sequence_items(&stack.source, "spec.routes");
    let mut used = vec![false; items.len()];
    let mut located = Vec::new();
    for route in routes {
        let position = items.iter().enumerate().position(|(index, (field, _))| {
            !used.get(index).copied().unwrap_or(true) && route_at(&stack.source, field).as_ref() == Some(route)
        });
        match position.and_then(|index| items.get(index).map(|(field, _)| (index, field))) {
            Some((index, field)) => {
                if let Some(slot) = used.get_mut(index) {
                    *slot = true;
                }
                located.push((field.clone(), route));
            }
            None => located.push(("spec.routes".to_owned(), route)),
        }
    }
    // Document order, so "routed twice" points at the later one.
    located.sort_by_key(|(field, _)| items.iter().position(|(item, _)| item == field).unwrap_or(usize::MAX));
    located
}

fn route_at(source: &Source, field: &str) -> Option<Route> {
    let destination = fields::scalar(source, &format!("{field}.destination"))?.parse().ok()?;
    let gateway = fields::scalar(source, &format!("{field}.gateway"))?.parse().ok()?;
    Some(Route { destination, gateway })
}

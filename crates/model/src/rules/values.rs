//! Values a host refuses (ESX022, ESX023) and the address checks other rules share.
//!
//! ESXi checks these only when a change reaches it, in the middle of an apply that has already
//! changed other objects. Checking them here turns a half-applied host into a diagnostic at
//! `validate`. Limits come from the vSphere API reference where it states one; where nothing
//! states one, the constant says so and esxnet chooses.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::desired::DesiredStack;
use crate::diagnostic::{Diagnostic, RuleId};
use crate::observed::PortConnection;
use crate::source::push_index;

use super::{fields, HostContext};

/// `HostVirtualSwitchSpec.name`: "Maximum length is 32 characters" (vSphere API reference).
const MAXIMUM_SWITCH_NAME_LENGTH: usize = 32;

/// A standard port group's name. No source states ESXi's limit; esxnet takes the 80 characters
/// vCenter allows for network names, which is what a standard port group becomes there.
const MAXIMUM_PORT_GROUP_NAME_LENGTH: usize = 80;

/// VMkernel adapters are `vmk0`–`vmk255`: 256 per host (esxcli's help).
const MAXIMUM_ADAPTER_NUMBER: u16 = 255;

/// `requestedMaxNumberOfConnections` is an `xsd:int`: larger values cannot even be sent.
const MAXIMUM_CONNECTIONS: u32 = i32::MAX as u32;

/// ESXi's default connection limit; below it the stack's own services may run out of sockets.
const DEFAULT_CONNECTIONS: u32 = 11_000;

/// Above this esxnet warns: no documented host uses more, and each socket costs heap. ESXi's own
/// upper bound is not documented.
const SANE_MAXIMUM_CONNECTIONS: u32 = 1_000_000;

/// A DNS name: 253 characters in all, 63 per label (RFC 1035 §2.3.4).
const MAXIMUM_DOMAIN_LENGTH: usize = 253;
const MAXIMUM_LABEL_LENGTH: usize = 63;

/// Runs the value rules for one host.
pub(super) fn check_host(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    check_names(context, diagnostics);
    for stack in context.host.stacks.values() {
        check_stack_gateways(context, stack, diagnostics);
        check_dns(context, stack, diagnostics);
        check_max_connections(context, stack, diagnostics);
    }
}

/// Why an IPv4 address cannot be a host's or a router's address, if it cannot.
pub(super) fn non_unicast_ipv4(address: Ipv4Addr) -> Option<&'static str> {
    let first_octet = address.octets()[0];
    if address.is_unspecified() {
        Some("is the unspecified address")
    } else if first_octet == 0 {
        Some("is in 0.0.0.0/8, which means \"this network\"")
    } else if address.is_loopback() {
        Some("is a loopback address (127.0.0.0/8)")
    } else if address.is_multicast() {
        Some("is a multicast address (224.0.0.0/4)")
    } else if address.is_broadcast() {
        Some("is the limited broadcast address")
    } else if first_octet >= 240 {
        Some("is in the reserved class E range (240.0.0.0/4)")
    } else {
        None
    }
}

/// Why an IPv6 address cannot be a host's or a router's address, if it cannot.
pub(super) fn non_unicast_ipv6(address: Ipv6Addr) -> Option<&'static str> {
    if address.is_unspecified() {
        Some("is the unspecified address")
    } else if address.is_loopback() {
        Some("is the loopback address")
    } else if address.is_multicast() {
        Some("is a multicast address (ff00::/8)")
    } else {
        None
    }
}

/// Why an address cannot be a host's or a router's address, if it cannot.
pub(super) fn non_unicast(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(address) => non_unicast_ipv4(address),
        IpAddr::V6(address) => non_unicast_ipv6(address),
    }
}

/// A name as it may be printed: quoted, with control characters escaped.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.escape_debug())
}

/// Why ESXi refuses a switch or port group name, if it does. A slash makes the name a path in the
/// host's configuration store; control characters cannot be typed back in any client.
fn name_problem(name: &str, maximum_length: usize) -> Option<String> {
    let length = name.chars().count();
    if name.trim().is_empty() {
        Some("is empty or blank".to_owned())
    } else if length > maximum_length {
        Some(format!("has {length} characters, more than {maximum_length}"))
    } else if name.chars().any(char::is_control) {
        Some("contains a control character".to_owned())
    } else if name.contains(['/', '\\']) || name == "." || name == ".." {
        Some("is path-like".to_owned())
    } else {
        None
    }
}

/// ESX022: switch and port group names ESXi refuses, wherever the manifests give one (declared
/// switches and port groups, and the standard switch and port group an adapter names when no
/// manifest declares them), and pinned devices that cannot exist.
fn check_names(context: &HostContext<'_>, diagnostics: &mut Vec<Diagnostic>) {
    let switch_advice = format!("use 1–{MAXIMUM_SWITCH_NAME_LENGTH} characters without slashes or control characters");
    let port_group_advice =
        format!("use 1–{MAXIMUM_PORT_GROUP_NAME_LENGTH} characters without slashes or control characters");
    for switch in context.host.switches.values() {
        if let Some(problem) = name_problem(&switch.name, MAXIMUM_SWITCH_NAME_LENGTH) {
            diagnostics.push(context.error(
                RuleId::Esx022,
                &switch.source,
                "metadata.name",
                format!(
                    "standard switch name {} {problem}: {switch_advice}",
                    quoted(&switch.name)
                ),
            ));
        }
    }
    for port_group in context.host.port_groups.values() {
        if let Some(problem) = name_problem(&port_group.name, MAXIMUM_PORT_GROUP_NAME_LENGTH) {
            diagnostics.push(context.error(
                RuleId::Esx022,
                &port_group.source,
                &format!("{}.name", port_group.field),
                format!(
                    "port group name {} {problem}: {port_group_advice}",
                    quoted(&port_group.name)
                ),
            ));
        }
    }
    for adapter in context.host.adapters.values() {
        if let PortConnection::Standard { switch, port_group } = &adapter.connection {
            let references = [
                (
                    "standard switch",
                    switch,
                    "spec.portGroup.standardSwitch",
                    context.host.switches.contains_key(switch),
                    MAXIMUM_SWITCH_NAME_LENGTH,
                    &switch_advice,
                ),
                (
                    "port group",
                    port_group,
                    "spec.portGroup.name",
                    context.host.port_groups.contains_key(port_group),
                    MAXIMUM_PORT_GROUP_NAME_LENGTH,
                    &port_group_advice,
                ),
            ];
            // A declared object's name is reported where it is declared.
            for (kind, name, field, declared, maximum_length, advice) in references {
                if declared || !fields::is_present(&adapter.source, field) {
                    continue;
                }
                if let Some(problem) = name_problem(name, maximum_length) {
                    diagnostics.push(context.adapter_error(
                        RuleId::Esx022,
                        adapter,
                        field,
                        format!("{kind} name {} {problem}: {advice}", quoted(name)),
                    ));
                }
            }
        }
        if let Some(device) = &adapter.device {
            if !is_adapter_device(device) {
                diagnostics.push(context.adapter_error(
                    RuleId::Esx022,
                    adapter,
                    "spec.device",
                    format!(
                        "{} is not a VMkernel adapter name: ESXi names adapters vmk0–vmk{MAXIMUM_ADAPTER_NUMBER}; pin one of those or remove spec.device",
                        quoted(device)
                    ),
                ));
            }
        }
    }
}

/// `vmk0`–`vmk255`, without leading zeros.
fn is_adapter_device(device: &str) -> bool {
    let Some(number) = device.strip_prefix("vmk") else {
        return false;
    };
    let canonical = number == "0" || (!number.starts_with('0') && number.chars().all(|digit| digit.is_ascii_digit()));
    canonical
        && number
            .parse::<u16>()
            .is_ok_and(|number| number <= MAXIMUM_ADAPTER_NUMBER)
}

/// ESX023: a stack's default gateway is a router's unicast address.
fn check_stack_gateways(context: &HostContext<'_>, stack: &DesiredStack, diagnostics: &mut Vec<Diagnostic>) {
    let gateways = [
        ("spec.ipv4Gateway", stack.ipv4_gateway.map(IpAddr::V4)),
        ("spec.ipv6Gateway", stack.ipv6_gateway.map(IpAddr::V6)),
    ];
    for (field, gateway) in gateways {
        let Some(gateway) = gateway else { continue };
        if let Some(problem) = non_unicast(gateway) {
            diagnostics.push(context.error(
                RuleId::Esx023,
                &stack.source,
                field,
                format!(
                    "the {} stack's gateway {gateway} {problem}, which ESXi refuses as a gateway: give the router's unicast address or remove {field}",
                    stack.stack
                ),
            ));
        }
    }
}

/// ESX023: DNS servers are unicast addresses and search domains are DNS names. A server or
/// domain listed twice is a warning: the host takes it, and it only slows lookups down.
fn check_dns(context: &HostContext<'_>, stack: &DesiredStack, diagnostics: &mut Vec<Diagnostic>) {
    let Some(dns) = &stack.dns else { return };
    let mut first_by_server: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (index, server) in dns.servers.iter().enumerate() {
        let field = push_index("spec.dns.servers", index);
        if let Some(problem) = non_unicast(*server) {
            let problem = if server.is_loopback() {
                format!("{problem} and ESXi runs no DNS server of its own")
            } else {
                problem.to_owned()
            };
            diagnostics.push(context.error(
                RuleId::Esx023,
                &stack.source,
                &field,
                format!("DNS server {server} {problem}: give the unicast address of a DNS server"),
            ));
        }
        match first_by_server.get(server) {
            Some(first) => diagnostics.push(
                context
                    .warning(
                        RuleId::Esx023,
                        &stack.source,
                        &field,
                        format!("DNS server {server} is listed twice, so the resolver asks it again before giving up: remove one"),
                    )
                    .with_related("first listed here", stack.source.locate(first)),
            ),
            None => {
                first_by_server.insert(*server, field);
            }
        }
    }
    let mut first_by_domain: BTreeMap<String, String> = BTreeMap::new();
    for (index, domain) in dns.search_domains.iter().enumerate() {
        let field = push_index("spec.dns.searchDomains", index);
        if let Some(problem) = domain_problem(domain) {
            diagnostics.push(context.error(
                RuleId::Esx023,
                &stack.source,
                &field,
                format!(
                    "search domain {} {problem}: write a DNS name such as lab.example (labels of letters, digits and hyphens, separated by dots)",
                    quoted(domain)
                ),
            ));
            continue;
        }
        let key = domain.trim_end_matches('.').to_ascii_lowercase();
        match first_by_domain.get(&key) {
            Some(first) => diagnostics.push(
                context
                    .warning(
                        RuleId::Esx023,
                        &stack.source,
                        &field,
                        format!(
                            "search domain {} is listed twice, so lookups try it twice: remove one",
                            quoted(domain)
                        ),
                    )
                    .with_related("first listed here", stack.source.locate(first)),
            ),
            None => {
                first_by_domain.insert(key, field);
            }
        }
    }
}

/// Why a search domain is not a DNS name, if it is not. A trailing dot (a fully qualified name)
/// is allowed; underscores are too, as DNS itself allows them and Active Directory uses them.
fn domain_problem(domain: &str) -> Option<String> {
    let name = domain.strip_suffix('.').unwrap_or(domain);
    if name.is_empty() {
        return Some("is empty".to_owned());
    }
    if domain.len() > MAXIMUM_DOMAIN_LENGTH {
        return Some(format!(
            "has {} characters, more than DNS allows ({MAXIMUM_DOMAIN_LENGTH})",
            domain.len()
        ));
    }
    if let Some(character) = name
        .chars()
        .find(|character| !(character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.')))
    {
        return Some(if character.is_whitespace() || character.is_control() {
            "contains whitespace or a control character".to_owned()
        } else {
            format!("contains {:?}, which a DNS name cannot", character)
        });
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some("has an empty label (two dots in a row, or a leading dot)".to_owned());
        }
        if label.len() > MAXIMUM_LABEL_LENGTH {
            return Some(format!(
                "has a label of {} characters, more than DNS allows ({MAXIMUM_LABEL_LENGTH})",
                label.len()
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!("has label \"{label}\", which starts or ends with a hyphen"));
        }
    }
    None
}

/// ESX023: the connection limit is at least 1 and fits the API's `xsd:int`; outside ESXi's
/// default and a sane maximum it is a warning.
fn check_max_connections(context: &HostContext<'_>, stack: &DesiredStack, diagnostics: &mut Vec<Diagnostic>) {
    let Some(limit) = stack.max_connections else { return };
    let field = "spec.maxConnections";
    if limit == 0 || limit > MAXIMUM_CONNECTIONS {
        diagnostics.push(context.error(
            RuleId::Esx023,
            &stack.source,
            field,
            format!(
                "maxConnections {limit} is outside what ESXi accepts (1–{MAXIMUM_CONNECTIONS}): use ESXi's default {DEFAULT_CONNECTIONS} or a value up to {SANE_MAXIMUM_CONNECTIONS}"
            ),
        ));
    } else if limit < DEFAULT_CONNECTIONS {
        diagnostics.push(context.warning(
            RuleId::Esx023,
            &stack.source,
            field,
            format!(
                "maxConnections {limit} is below ESXi's default {DEFAULT_CONNECTIONS}, so the {} stack's services may run out of sockets: use {DEFAULT_CONNECTIONS} or more",
                stack.stack
            ),
        ));
    } else if limit > SANE_MAXIMUM_CONNECTIONS {
        diagnostics.push(context.warning(
            RuleId::Esx023,
            &stack.source,
            field,
            format!(
                "maxConnections {limit} is above {SANE_MAXIMUM_CONNECTIONS}, more than any documented host uses, and every socket costs host memory: use {SANE_MAXIMUM_CONNECTIONS} or less unless you have measured the need"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicast_addresses_pass_and_the_rest_are_named() {
        for address in ["10.0.0.1", "169.254.1.1", "192.0.2.1", "223.255.255.254"] {
            assert_eq!(non_unicast_ipv4(address.parse().unwrap()), None, "{address}");
        }
        for address in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "224.0.0.1",
            "239.1.1.1",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(non_unicast_ipv4(address.parse().unwrap()).is_some(), "{address}");
        }
        assert_eq!(non_unicast_ipv6("fe80::1".parse().unwrap()), None);
        for address in ["::", "::1", "ff02::1"] {
            assert!(non_unicast_ipv6(address.parse().unwrap()).is_some(), "{address}");
        }
    }

    #[test]
    fn names_esxi_refuses() {
        assert_eq!(name_problem("vSwitch1", 32), None);
        assert_eq!(name_problem("VM Network (VLAN 120)", 80), None);
        assert!(name_problem("", 32).is_some());
        assert!(name_problem("  ", 32).is_some());
        assert!(name_problem(&"a".repeat(33), 32).is_some());
        assert_eq!(name_problem(&"é".repeat(32), 32), None);
        assert!(name_problem("a/b", 32).is_some());
        assert!(name_problem("..", 32).is_some());
        assert!(name_problem("tab\there", 32).is_some());
    }

    #[test]
    fn adapter_devices() {
        for device in ["vmk0", "vmk1", "vmk255"] {
            assert!(is_adapter_device(device), "{device}");
        }
        for device in ["vmk", "vmk256", "vmk01", "vmk-1", "eth0", "vmk1a"] {
            assert!(!is_adapter_device(device), "{device}");
        }
    }

    #[test]
    fn search_domains() {
        for domain in [
            "lab.example",
            "lab.example.",
            "corp",
            "_msdcs.corp.example",
            "a-b.example",
        ] {
            assert_eq!(domain_problem(domain), None, "{domain}");
        }
        for domain in [
            "",
            ".",
            "lab..example",
            ".lab",
            "-lab.example",
            "lab example",
            "lab/example",
            "lab.example,",
            "ä.example",
        ] {
            assert!(domain_problem(domain).is_some(), "{domain}");
        }
        assert!(domain_problem(&format!("{}.example", "a".repeat(64))).is_some());
    }
}

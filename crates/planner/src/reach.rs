//! Whether an adapter can reach its network, judged from what its uplinks see
//! (`QueryNetworkHint`, [`NicHint`]): the plan's pre-flight check (ESX025, [`preflight`]) on the
//! state the plan predicts, and the executor's verification on the state observed after apply.
//!
//! An adapter on a standard port group sends on the port group's VLAN through its active
//! uplinks (the port group's teaming order, else its switch's). Its path is judged by what those
//! uplinks see:
//!
//! - the switch ports of every active uplink advertise VLAN lists without its VLAN: the VLAN is
//!   not carried ([`Finding::NotCarried`]);
//! - subnets are seen on its VLAN but its address, or its gateway, is in none of them
//!   ([`Finding::OutsideSubnets`]);
//! - nothing is seen on its VLAN ([`Finding::Silent`]): real hints are silent about a VLAN
//!   without traffic, so this is a doubt, not a failure;
//! - the subnets seen hold its address and gateway ([`Finding::Seen`]).
//!
//! Adapters on distributed port groups are not judged: their uplinks are vCenter's.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use esxnet_model::desired::DesiredFleet;
use esxnet_model::diagnostic::{Diagnostic, RuleId};
use esxnet_model::hints::NicHint;
use esxnet_model::observed::{ObservedAdapter, ObservedFleet, ObservedHost, PortConnection};
use ipnet::Ipv4Net;

use crate::plan::{Action, Phase, Plan};
use crate::state::{self, Identity, ObjectKind};

/// The way an adapter's traffic leaves its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterPath {
    /// The adapter's device.
    pub device: String,
    /// Its standard port group.
    pub port_group: String,
    /// The port group's VLAN.
    pub vlan: u16,
    /// The active uplinks, in failover order.
    pub uplinks: Vec<String>,
    /// Its static IPv4 address (none with DHCP).
    pub address: Option<Ipv4Addr>,
    /// The IPv4 gateway it routes through: its override, else its stack's when the gateway is
    /// in its own subnet or it is its stack's only adapter (another adapter of a shared stack,
    /// such as vmk0 on the default stack, may be the way to the stack's gateway).
    pub gateway: Option<Ipv4Addr>,
}

/// The path of an adapter on a standard port group; `None` on a distributed one, or when its
/// port group or switch is missing.
pub fn adapter_path(host: &ObservedHost, adapter: &ObservedAdapter) -> Option<AdapterPath> {
    let PortConnection::Standard { port_group, .. } = &adapter.connection else {
        return None;
    };
    let observed_port_group = host.port_group(port_group)?;
    let switch = host.switch(&observed_port_group.switch)?;
    let (_, order) = observed_port_group.policy.effective(&switch.policy, &switch.teaming);
    let uplinks = if order.active.is_empty() {
        switch.uplinks.iter().cloned().collect()
    } else {
        order.active
    };
    let own_subnet = match (adapter.ipv4.dhcp, adapter.ipv4.address, adapter.ipv4.prefix_length) {
        (false, Some(address), Some(prefix)) => Ipv4Net::new(address, prefix).ok(),
        _ => None,
    };
    let only_on_stack = host
        .adapters
        .iter()
        .filter(|other| other.stack == adapter.stack)
        .count()
        == 1;
    let stack_gateway = host
        .stack(adapter.stack)
        .and_then(|stack| stack.ipv4_gateway)
        .filter(|gateway| only_on_stack || own_subnet.is_some_and(|subnet| subnet.contains(gateway)));
    Some(AdapterPath {
        device: adapter.device.clone(),
        port_group: port_group.clone(),
        vlan: observed_port_group.vlan,
        uplinks,
        address: adapter.ipv4.address.filter(|_| !adapter.ipv4.dhcp),
        gateway: adapter.ipv4.gateway_override.or(stack_gateway),
    })
}

/// What the hints say about an adapter's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// No hint for any of its active uplinks: nothing to judge by.
    NoHints,
    /// Its VLAN is seen with subnets that hold its address and gateway.
    Seen,
    /// Nothing is seen on its VLAN; the ports say nothing against it either.
    Silent,
    /// Every active uplink's switch port advertises a VLAN list without its VLAN.
    NotCarried,
    /// Subnets are seen on its VLAN; its address or gateway is in none of them.
    OutsideSubnets {
        /// `address 10.99.0.5` or `gateway 10.99.0.1`.
        what: String,
    },
}

impl Finding {
    /// Whether the adapter is cut off: what fails verification.
    pub fn is_failure(&self) -> bool {
        matches!(self, Finding::NotCarried | Finding::OutsideSubnets { .. })
    }
}

/// Judges a path by the hints of its host's NICs.
pub fn judge(path: &AdapterPath, hints: &[NicHint]) -> Finding {
    // A NIC that saw no subnet and whose port advertises nothing says nothing.
    let uplink_hints: Vec<&NicHint> = path
        .uplinks
        .iter()
        .filter_map(|uplink| hints.iter().find(|hint| hint.device == *uplink))
        .filter(|hint| !hint.subnets.is_empty() || hint.port_vlans.is_some())
        .collect();
    if uplink_hints.is_empty() {
        return Finding::NoHints;
    }
    let carrying: Vec<&NicHint> = uplink_hints
        .iter()
        .copied()
        .filter(|hint| hint.port_vlans.as_ref().is_none_or(|vlans| vlans.contains(&path.vlan)))
        .collect();
    if carrying.is_empty() {
        return Finding::NotCarried;
    }
    let subnets = subnets_on(&carrying, path.vlan);
    if subnets.is_empty() {
        return Finding::Silent;
    }
    let outside = |address: Ipv4Addr| !subnets.iter().any(|subnet| subnet.contains(&address));
    if let Some(address) = path.address.filter(|address| outside(*address)) {
        return Finding::OutsideSubnets {
            what: format!("address {address}"),
        };
    }
    if let Some(gateway) = path.gateway.filter(|gateway| outside(*gateway)) {
        return Finding::OutsideSubnets {
            what: format!("gateway {gateway}"),
        };
    }
    Finding::Seen
}

fn subnets_on(hints: &[&NicHint], vlan: u16) -> BTreeSet<Ipv4Net> {
    hints
        .iter()
        .flat_map(|hint| hint.subnets.iter())
        .filter(|subnet| subnet.vlan == vlan)
        .map(|subnet| subnet.network)
        .collect()
}

/// A sentence saying what was found and what was seen: the diagnostic's and the verification
/// report's text.
pub fn describe(host: &str, path: &AdapterPath, finding: &Finding, hints: &[NicHint]) -> String {
    let uplinks = if path.uplinks.is_empty() {
        "no active uplink".to_owned()
    } else {
        format!("active uplinks {}", path.uplinks.join(", "))
    };
    let seen = seen_on_uplinks(path, hints);
    let subject = format!(
        "{} on host {host} (port group {}, VLAN {}, {uplinks})",
        path.device, path.port_group, path.vlan
    );
    match finding {
        Finding::NoHints => format!("{subject}: its uplinks report no hints"),
        Finding::Seen => format!("{subject}: reachable, its subnet is seen on VLAN {}", path.vlan),
        Finding::Silent => format!(
            "{subject}: no traffic is seen on VLAN {} there ({seen}); check that the physical switch ports carry VLAN {}",
            path.vlan, path.vlan
        ),
        Finding::NotCarried => format!(
            "{subject}: the physical switch ports do not carry VLAN {} ({seen}); add VLAN {} to those ports or use other uplinks",
            path.vlan, path.vlan
        ),
        Finding::OutsideSubnets { what } => format!(
            "{subject}: its {what} is in none of the subnets seen on VLAN {} ({seen}); check the address, the gateway and the VLAN",
            path.vlan
        ),
    }
}

/// "vmnic2 sees VLAN 0 10.10.0.0/16, VLAN 130 10.130.0.0/24 and its port carries VLANs 0, 130".
fn seen_on_uplinks(path: &AdapterPath, hints: &[NicHint]) -> String {
    let parts: Vec<String> = path
        .uplinks
        .iter()
        .map(|uplink| {
            let Some(hint) = hints.iter().find(|hint| hint.device == *uplink) else {
                return format!("{uplink} reports nothing");
            };
            let subnets: Vec<String> = hint
                .subnets
                .iter()
                .map(|subnet| format!("VLAN {} {}", subnet.vlan, subnet.network))
                .collect();
            let subnets = if subnets.is_empty() {
                "no subnet".to_owned()
            } else {
                subnets.join(", ")
            };
            match &hint.port_vlans {
                Some(vlans) => {
                    let vlans: Vec<String> = vlans.iter().map(ToString::to_string).collect();
                    let vlans = if vlans.is_empty() {
                        "none".to_owned()
                    } else {
                        vlans.join(", ")
                    };
                    format!("{uplink} sees {subnets} and its port carries VLANs {vlans}")
                }
                None => format!("{uplink} sees {subnets}"),
            }
        })
        .collect();
    parts.join("; ")
}

/// The pre-flight check (ESX025): every adapter the plan creates, updates or replaces, on the
/// host as the plan predicts it, judged by the hints of its host. Warnings only: hints are
/// evidence (a VLAN without traffic yet is silent), so the plan stays whole and apply's
/// verification decides, rolling the host back when the adapter is indeed cut off.
pub fn preflight(
    plan: &Plan,
    desired: &DesiredFleet,
    observed: &ObservedFleet,
    hints: &BTreeMap<String, Vec<NicHint>>,
) -> Vec<Diagnostic> {
    // Indexed: looking a host's changes and a step's change up in the plan's lists made this
    // quadratic in the fleet (18 s for 10,000 hosts against a lab with a fabric).
    let index = plan.change_index();
    let asked: Vec<(&crate::plan::HostPlan, &Vec<NicHint>, &ObservedHost)> = plan
        .hosts
        .iter()
        .filter_map(|host_plan| {
            Some((
                host_plan,
                hints.get(&host_plan.host)?,
                observed.hosts.get(&host_plan.host)?,
            ))
        })
        .collect();
    let per_host = esxnet_model::parallel::map_in_order(&asked, |&(host_plan, host_hints, observed_host)| {
        let mut diagnostics = Vec::new();
        let predicted = predicted_host(&index, host_plan, observed_host);
        for change in index.host_changes(&host_plan.host) {
            if change.kind != ObjectKind::VmkernelAdapter
                || !matches!(change.action, Action::Create | Action::Update | Action::Replace)
            {
                continue;
            }
            let Identity::VmkernelAdapter { device, connection } = &change.identity else {
                continue;
            };
            let Some(adapter) = state::find_adapter(&predicted, device.as_deref(), connection) else {
                continue;
            };
            let Some(path) = adapter_path(&predicted, adapter) else {
                continue;
            };
            let finding = judge(&path, host_hints);
            if matches!(finding, Finding::Seen | Finding::NoHints) {
                continue;
            }
            let mut diagnostic =
                Diagnostic::warning(RuleId::Esx025, describe(&host_plan.host, &path, &finding, host_hints))
                    .on_host(host_plan.host.clone());
            if let Some(declared) = desired
                .hosts
                .get(&host_plan.host)
                .and_then(|host| host.adapters.get(&change.name))
            {
                diagnostic = diagnostic.at(declared.source.locate("spec.portGroup"), "spec.portGroup");
            }
            diagnostics.push(diagnostic);
        }
        diagnostics
    });
    per_host.into_iter().flatten().collect()
}

/// The hosts worth asking for hints: those whose plan changes an adapter.
pub fn hosts_needing_hints(plan: &Plan) -> Vec<String> {
    let hosts: BTreeSet<&str> = plan
        .changes
        .iter()
        .filter(|change| {
            change.kind == ObjectKind::VmkernelAdapter
                && matches!(change.action, Action::Create | Action::Update | Action::Replace)
        })
        .map(|change| change.host.as_str())
        .collect();
    hosts.into_iter().map(str::to_owned).collect()
}

/// The host as it will be once its plan is applied: every step recorded in order, with ESXi's
/// own effects ([`state::record`]).
pub fn predicted_host(
    index: &crate::plan::ChangeIndex<'_>,
    host_plan: &crate::plan::HostPlan,
    observed: &ObservedHost,
) -> ObservedHost {
    let mut predicted = observed.clone();
    for step in &host_plan.steps {
        let Some(change) = index.change(&step.address) else {
            continue;
        };
        let target = match step.phase {
            Phase::Delete => None,
            Phase::Create | Phase::Update => change.after.as_ref(),
        };
        state::record(&mut predicted, &change.identity, target, None);
    }
    predicted
}

#[cfg(test)]
mod tests {
    use super::*;
    use esxnet_model::hints::SubnetHint;

    fn path() -> AdapterPath {
        AdapterPath {
            device: "vmk1".to_owned(),
            port_group: "Provisioning".to_owned(),
            vlan: 120,
            uplinks: vec!["vmnic2".to_owned()],
            address: Some(Ipv4Addr::new(10, 120, 0, 12)),
            gateway: Some(Ipv4Addr::new(10, 120, 0, 1)),
        }
    }

    fn hint(subnets: &[(u16, &str)], port_vlans: Option<&[u16]>) -> Vec<NicHint> {
        vec![NicHint {
            device: "vmnic2".to_owned(),
            subnets: subnets
                .iter()
                .map(|(vlan, network)| SubnetHint {
                    vlan: *vlan,
                    network: network.parse().unwrap(),
                })
                .collect(),
            port_vlans: port_vlans.map(|vlans| vlans.iter().copied().collect()),
        }]
    }

    #[test]
    fn a_path_is_judged_by_what_its_uplinks_see() {
        assert_eq!(judge(&path(), &[]), Finding::NoHints);
        assert_eq!(
            judge(&path(), &hint(&[], None)),
            Finding::NoHints,
            "a NIC that saw nothing"
        );
        assert_eq!(judge(&path(), &hint(&[(120, "10.120.0.0/24")], None)), Finding::Seen);
        assert_eq!(judge(&path(), &hint(&[(130, "10.130.0.0/24")], None)), Finding::Silent);
        assert_eq!(
            judge(&path(), &hint(&[(130, "10.130.0.0/24")], Some(&[0, 130]))),
            Finding::NotCarried
        );
        assert_eq!(
            judge(&path(), &hint(&[(120, "10.99.0.0/24")], None)),
            Finding::OutsideSubnets {
                what: "address 10.120.0.12".to_owned()
            }
        );
        let mut routed_elsewhere = path();
        routed_elsewhere.gateway = Some(Ipv4Addr::new(10, 99, 0, 1));
        assert_eq!(
            judge(&routed_elsewhere, &hint(&[(120, "10.120.0.0/24")], None)),
            Finding::OutsideSubnets {
                what: "gateway 10.99.0.1".to_owned()
            }
        );
        assert!(Finding::NotCarried.is_failure() && !Finding::Silent.is_failure());
    }
}

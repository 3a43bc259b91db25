//! What ESXi sees on its physical NICs: the answer of `HostNetworkSystem.QueryNetworkHint`.
//!
//! For each physical NIC, the IP subnets ESXi has seen traffic from, per VLAN, and what the
//! physical switch port advertises about itself through LLDP. Hints are evidence, not truth: a
//! VLAN without traffic yet shows no subnet, and many switches advertise no VLAN list. The
//! planner's pre-flight checks and the executor's verification read them
//! (`esxnet_planner::reach`).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The hints of one physical NIC (`PhysicalNicHintInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NicHint {
    /// The NIC, such as `vmnic2`.
    pub device: String,
    /// Subnets seen, with the VLAN each was seen on (`subnet[]`, `PhysicalNicIpHint`).
    #[serde(default)]
    pub subnets: Vec<SubnetHint>,
    /// The VLANs the physical switch port says it carries (LLDP's port VLAN TLVs), when it
    /// says: `None` is silence, not "no VLAN".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_vlans: Option<BTreeSet<u16>>,
}

/// One subnet seen on a NIC (`PhysicalNicIpHint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubnetHint {
    /// The VLAN it was seen on (0: untagged).
    pub vlan: u16,
    /// The subnet.
    pub network: Ipv4Net,
}

/// `10.27.49.1-10.27.49.254` or `10.27.49.0/24` as a network.
pub fn subnet_of(text: &str) -> Option<Ipv4Net> {
    if let Ok(network) = text.trim().parse::<Ipv4Net>() {
        return Some(network.trunc());
    }
    let (first, last) = text.split_once('-')?;
    let first: Ipv4Addr = first.trim().parse().ok()?;
    let last: Ipv4Addr = last.trim().parse().ok()?;
    let differing = u32::from(first) ^ u32::from(last);
    let prefix = differing.leading_zeros() as u8;
    Ipv4Net::new(first, prefix).ok().map(|network| network.trunc())
}

/// The range an ESXi host reports for a network: its first and last host addresses.
pub fn subnet_range(network: Ipv4Net) -> String {
    let first = network.network();
    let last = network.broadcast();
    if network.prefix_len() >= 31 {
        return format!("{first}-{last}");
    }
    format!(
        "{}-{}",
        Ipv4Addr::from(u32::from(first) + 1),
        Ipv4Addr::from(u32::from(last) - 1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_range_is_the_smallest_network_holding_it() {
        assert_eq!(
            subnet_of("10.27.49.1-10.27.49.254"),
            Some("10.27.49.0/24".parse().unwrap())
        );
        assert_eq!(
            subnet_of("10.120.0.1-10.120.255.254"),
            Some("10.120.0.0/16".parse().unwrap())
        );
        assert_eq!(subnet_of("10.1.2.0/24"), Some("10.1.2.0/24".parse().unwrap()));
        assert_eq!(subnet_of("nonsense"), None);
        let network: Ipv4Net = "10.120.0.0/16".parse().unwrap();
        assert_eq!(subnet_of(&subnet_range(network)), Some(network));
    }
}

//! What ESXi sees on its physical NICs: the answer of `HostNetworkSystem.QueryNetworkHint`.
//!
//! For each physical NIC, the IP subnets ESXi has seen traffic from, per VLAN, and what the
//! physical switch port advertises about itself through LLDP. Hints are evidence, not truth: a
//! VLAN without traffic yet shows no subnet, and many switches advertise no VLAN list. The
//! planner's pre-flight checks and the executor's verification read them
//! (`esxnet_planner::reach`).

use std::collections::BTreeSet;

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

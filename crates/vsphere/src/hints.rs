//! `HostNetworkSystem.QueryNetworkHint` read into esxnet's [`NicHint`]s.
//!
//! - `subnet[]` (`PhysicalNicIpHint{ipSubnet, vlanId}`): the subnet is a range such as
//!   `10.27.49.1-10.27.49.254` (a CIDR is read too); esxnet takes the smallest network holding
//!   both ends. A range it cannot read is skipped.
//! - `lldpInfo.parameter[]`: the switch port's VLANs, from every parameter whose key names VLANs
//!   (`Vlan ID`, `Port VLAN IDs`, …) with a value that is a list of numbers (`0,130`). Without
//!   such a parameter the port says nothing about its VLANs.

use esxnet_model::hints::{subnet_of, NicHint, SubnetHint};
use std::collections::BTreeSet;
use vim_rs::types::boxed_types::ValueElements;
use vim_rs::types::structs::PhysicalNicHintInfo;
use vim_rs::types::vim_any::VimAny;

/// The hints of one physical NIC.
pub(crate) fn nic_hint(info: PhysicalNicHintInfo) -> NicHint {
    let subnets = info
        .subnet
        .unwrap_or_default()
        .into_iter()
        .filter_map(|hint| {
            let vlan = u16::try_from(hint.physical_nic_hint_.vlan_id.unwrap_or(0)).ok()?;
            let network = subnet_of(&hint.ip_subnet)?;
            Some(SubnetHint { vlan, network })
        })
        .collect();
    let port_vlans = info.lldp_info.and_then(|lldp| {
        let mut vlans: Option<BTreeSet<u16>> = None;
        for parameter in lldp.parameter.unwrap_or_default() {
            if !parameter.key.to_ascii_lowercase().contains("vlan") {
                continue;
            }
            let VimAny::Value(ValueElements::PrimitiveString(text)) = parameter.value else {
                continue;
            };
            if let Some(listed) = vlan_list(&text) {
                vlans.get_or_insert_with(BTreeSet::new).extend(listed);
            }
        }
        vlans
    });
    NicHint {
        device: info.device,
        subnets,
        port_vlans,
    }
}

fn vlan_list(text: &str) -> Option<BTreeSet<u16>> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| part.parse::<u16>().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_vlan_list_is_numbers_separated_by_commas() {
        assert_eq!(vlan_list("0, 130"), Some(BTreeSet::from([0, 130])));
        assert_eq!(vlan_list("trunk"), None);
    }
}

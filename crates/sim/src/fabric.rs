//! The network behind a lab's hosts: which VLANs each physical NIC's switch port carries, which
//! subnet and gateway live on each VLAN, and so what ESXi sees there
//! (`HostNetworkSystem.QueryNetworkHint`, [`Fabric::hints`]).
//!
//! A NIC whose port is not configured ([`Fabric::ports`]) is a trunk: it carries every VLAN and,
//! like most trunk ports, advertises no VLAN list; ESXi sees traffic from every known subnet on
//! it. A configured port carries only its VLANs and advertises them through LLDP, so a port
//! given the wrong VLAN, or missing one, shows in the hints and cuts off the adapters that need
//! it. A VLAN the fabric knows no subnet of carries no traffic ESXi could see.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::str::FromStr;

use esxnet_model::hints::{NicHint, SubnetHint};
use esxnet_model::observed::ObservedHost;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// The network behind a lab (`fabric` in `lab.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fabric {
    /// The subnets that live on each VLAN, by VLAN ID (0: untagged).
    #[serde(default)]
    pub vlans: BTreeMap<u16, Vec<FabricSubnet>>,
    /// Switch ports configured with a VLAN list, by host and NIC; every other NIC is a trunk.
    #[serde(default)]
    pub ports: BTreeMap<String, BTreeMap<String, BTreeSet<u16>>>,
}

/// One subnet on a VLAN, with its router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FabricSubnet {
    /// The subnet.
    pub network: Ipv4Net,
    /// The router's address on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
}

/// One configured switch port, as `sim init --uplink-vlans` takes it: `HOST:NIC=VLAN,VLAN`
/// (`HOST:NIC=` for a port that carries nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortVlans {
    /// The host.
    pub host: String,
    /// The NIC, such as `vmnic2`.
    pub nic: String,
    /// The VLANs its port carries.
    pub vlans: BTreeSet<u16>,
}

impl FromStr for PortVlans {
    type Err = SimError;

    fn from_str(text: &str) -> Result<PortVlans, SimError> {
        let invalid = |why: &str| SimError::InvalidOptions {
            message: format!(
                "uplink VLANs \"{text}\" {why}: give HOST:NIC=VLAN,VLAN such as esx-02.lab.example:vmnic2=0,130"
            ),
        };
        let (place, vlans) = text.split_once('=').ok_or_else(|| invalid("have no ="))?;
        let (host, nic) = place.rsplit_once(':').ok_or_else(|| invalid("name no NIC"))?;
        if host.is_empty() || nic.is_empty() {
            return Err(invalid("name no host or no NIC"));
        }
        let vlans = vlans
            .split(',')
            .map(str::trim)
            .filter(|vlan| !vlan.is_empty())
            .map(|vlan| vlan.parse::<u16>().ok().filter(|vlan| *vlan <= 4094))
            .collect::<Option<BTreeSet<u16>>>()
            .ok_or_else(|| invalid("has a VLAN outside 0–4094"))?;
        Ok(PortVlans {
            host: host.to_owned(),
            nic: nic.to_owned(),
            vlans,
        })
    }
}

impl Fabric {
    /// The network of the examples in `manifests/examples`: management untagged on 10.10.0.0/16,
    /// provisioning on VLAN 120 (lab A), 121 (lab B) and 140 (lab C's distributed port group),
    /// vMotion on VLAN 130; VLAN N holds 10.N.0.0/16 (the examples' /24s and room for larger
    /// fleets), routed by 10.N.0.1; every NIC a trunk.
    pub fn examples() -> Fabric {
        let subnet = |network: &str, gateway: &str| FabricSubnet {
            network: network.parse().expect("a valid example subnet"),
            gateway: Some(gateway.parse().expect("a valid example gateway")),
        };
        Fabric {
            vlans: BTreeMap::from([
                (0, vec![subnet("10.10.0.0/16", "10.10.0.1")]),
                (120, vec![subnet("10.120.0.0/16", "10.120.0.1")]),
                (121, vec![subnet("10.121.0.0/16", "10.121.0.1")]),
                (130, vec![subnet("10.130.0.0/16", "10.130.0.1")]),
                (140, vec![subnet("10.140.0.0/16", "10.140.0.1")]),
            ]),
            ports: BTreeMap::new(),
        }
    }

    /// This fabric with one switch port configured.
    pub fn with_port(mut self, port: PortVlans) -> Fabric {
        self.ports.entry(port.host).or_default().insert(port.nic, port.vlans);
        self
    }

    /// The VLANs the port of `host`'s `nic` carries: `None` for a trunk (every VLAN).
    pub fn port_vlans(&self, host: &str, nic: &str) -> Option<&BTreeSet<u16>> {
        self.ports.get(host).and_then(|ports| ports.get(nic))
    }

    /// What `QueryNetworkHint` answers for `host`: for every physical NIC, the subnets of the
    /// VLANs its port carries, and the VLAN list a configured port advertises.
    pub fn hints(&self, host: &ObservedHost) -> Vec<NicHint> {
        self.hints_of_devices(&host.name, host.physical_nics.iter().map(|nic| nic.device.as_str()))
    }

    /// [`Fabric::hints`] for the host named `host` with physical NICs of these device names.
    pub fn hints_of_devices<'a>(&self, host: &str, devices: impl IntoIterator<Item = &'a str>) -> Vec<NicHint> {
        devices
            .into_iter()
            .map(|device| {
                let carried = self.port_vlans(host, device);
                let subnets = self
                    .vlans
                    .iter()
                    .filter(|(vlan, _)| carried.is_none_or(|carried| carried.contains(vlan)))
                    .flat_map(|(vlan, subnets)| {
                        subnets.iter().map(|subnet| SubnetHint {
                            vlan: *vlan,
                            network: subnet.network,
                        })
                    })
                    .collect();
                NicHint {
                    device: device.to_owned(),
                    subnets,
                    port_vlans: carried.cloned(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::SimHost;
    use esxnet_model::EsxiVersion;

    #[test]
    fn a_trunk_sees_every_subnet_and_a_configured_port_only_its_vlans() {
        let host = SimHost::new_installed("esx-1", 1, EsxiVersion::new(8, 0, 3)).unwrap();
        let fabric = Fabric::examples().with_port("esx-1:vmnic2=0,130".parse().unwrap());
        let hints = fabric.hints(host.observed());
        let vmnic1 = hints.iter().find(|hint| hint.device == "vmnic1").unwrap();
        let vmnic2 = hints.iter().find(|hint| hint.device == "vmnic2").unwrap();
        let vlans = |hint: &NicHint| hint.subnets.iter().map(|subnet| subnet.vlan).collect::<Vec<u16>>();
        assert_eq!(vlans(vmnic1), vec![0, 120, 121, 130, 140]);
        assert_eq!(vmnic1.port_vlans, None, "a trunk advertises nothing");
        assert_eq!(vlans(vmnic2), vec![0, 130]);
        assert_eq!(vmnic2.port_vlans, Some(BTreeSet::from([0, 130])));
    }

    #[test]
    fn a_port_names_its_host_its_nic_and_its_vlans() {
        let port: PortVlans = "esx-02.lab.example:vmnic2=0, 130".parse().unwrap();
        assert_eq!(port.host, "esx-02.lab.example");
        assert_eq!(port.nic, "vmnic2");
        assert_eq!(port.vlans, BTreeSet::from([0, 130]));
        let empty: PortVlans = "esx-1:vmnic3=".parse().unwrap();
        assert!(empty.vlans.is_empty());
        for bad in ["esx-1", "esx-1=1", ":vmnic2=1", "esx-1:vmnic2=4095", "esx-1:vmnic2=x"] {
            assert!(bad.parse::<PortVlans>().is_err(), "{bad}");
        }
    }
}

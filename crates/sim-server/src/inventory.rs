//! The lab as vSphere managed objects: their ids and their properties as VI JSON values.
//!
//! Ids are stable for a lab: hosts are numbered in host-name order (`host-1`, `host-2`, …) and each
//! host's `HostNetworkSystem` and `HostVirtualNicManager` carry the host's number. Distributed
//! switches are numbered in UUID order (`dvs-1`, …); a distributed port group's id is its key.

use std::net::Ipv4Addr;

use esxnet_model::common::{CongestionControl, Service};
use esxnet_model::observed::{
    DistributedPortGroup, DistributedSwitchMembership, Ipv6Origin, LinkDiscoveryOperation, LinkDiscoveryProtocol,
    ObservedAdapter, ObservedHost, ObservedStack, ObservedSwitch, PortConnection, PortGroupPolicy, SwitchPolicy,
    Teaming,
};
use esxnet_sim::routing::{self, RouteTableEntry};
use serde_json::{json, Value};

/// The root folder every container view starts from.
pub(crate) const ROOT_FOLDER: &str = "group-d1";
/// The property collector.
pub(crate) const PROPERTY_COLLECTOR: &str = "propertyCollector";
/// The view manager.
pub(crate) const VIEW_MANAGER: &str = "ViewManager";
/// The session manager.
pub(crate) const SESSION_MANAGER: &str = "SessionManager";
/// The service instance, the one id a client knows before it asks.
pub(crate) const SERVICE_INSTANCE: &str = "ServiceInstance";

/// Ports a host's proxy switch (its part of a distributed switch) reports.
const PROXY_SWITCH_PORTS: i64 = 512;

/// Ports a distributed port group reports.
const DISTRIBUTED_PORT_GROUP_PORTS: i64 = 8;

/// A distributed port group's default port setting: where its VLAN is read from.
fn default_port_config(port_group: &DistributedPortGroup) -> Value {
    json!({
        "_typeName": "VMwareDVSPortSetting",
        "vlan": {
            "_typeName": "VmwareDistributedVirtualSwitchVlanIdSpec",
            "inherited": false,
            "vlanId": port_group.vlan,
        },
    })
}

/// A managed object reference as VI JSON writes it.
pub(crate) fn moref(mo_type: &str, value: &str) -> Value {
    json!({"_typeName": "ManagedObjectReference", "type": mo_type, "value": value})
}

/// `host-<n>`, numbered from 1 in host-name order.
pub(crate) fn host_id(index: usize) -> String {
    format!("host-{}", index + 1)
}

/// The `HostNetworkSystem` of the host at `index`.
pub(crate) fn network_system_id(index: usize) -> String {
    format!("networkSystem-{}", index + 1)
}

/// The `HostVirtualNicManager` of the host at `index`.
pub(crate) fn nic_manager_id(index: usize) -> String {
    format!("virtualNicManager-{}", index + 1)
}

/// The host index an id such as `networkSystem-3` stands for, if it is well formed.
pub(crate) fn index_from_id(id: &str, prefix: &str) -> Option<usize> {
    let number: usize = id.strip_prefix(prefix)?.strip_prefix('-')?.parse().ok()?;
    number.checked_sub(1)
}

fn string_value(text: &str) -> Value {
    json!({"_typeName": "string", "_value": text})
}

fn switch_key(name: &str) -> String {
    format!("key-vim.host.VirtualSwitch-{name}")
}

fn port_group_key(name: &str) -> String {
    format!("key-vim.host.PortGroup-{name}")
}

fn pnic_key(device: &str) -> String {
    format!("key-vim.host.PhysicalNic-{device}")
}

/// `key-vim.host.VirtualNic-vmk0`, the key service selections name.
pub(crate) fn vnic_key(device: &str) -> String {
    format!("key-vim.host.VirtualNic-{device}")
}

/// The dotted subnet mask of a prefix length.
pub(crate) fn subnet_mask(prefix_length: u8) -> Ipv4Addr {
    let bits = u32::MAX.checked_shl(32 - u32::from(prefix_length.min(32))).unwrap_or(0);
    Ipv4Addr::from(bits)
}

/// A snapshot of the lab for one read, hosts in host-name order.
pub(crate) struct Inventory {
    pub(crate) hosts: Vec<std::sync::Arc<ObservedHost>>,
}

impl Inventory {
    /// The distributed switches the lab's hosts are members of, by UUID, with the number their
    /// `dvs-<n>` id carries.
    fn distributed_switches(&self) -> Vec<&DistributedSwitchMembership> {
        let mut switches: Vec<&DistributedSwitchMembership> = self
            .hosts
            .iter()
            .flat_map(|host| host.distributed_switches.iter())
            .collect();
        switches.sort_by(|left, right| left.uuid.cmp(&right.uuid));
        switches.dedup_by(|left, right| left.uuid == right.uuid);
        switches
    }

    fn distributed_switch_id(&self, uuid: &str) -> Option<String> {
        self.distributed_switches()
            .iter()
            .position(|switch| switch.uuid == uuid)
            .map(|index| format!("dvs-{}", index + 1))
    }

    fn distributed_port_group(&self, key: &str) -> Option<(&DistributedSwitchMembership, &DistributedPortGroup)> {
        self.hosts
            .iter()
            .flat_map(|host| host.distributed_switches.iter())
            .find_map(|switch| {
                switch
                    .port_groups
                    .iter()
                    .find(|port_group| port_group.key == key)
                    .map(|port_group| (switch, port_group))
            })
    }

    /// Every host in a container view over the root folder.
    pub(crate) fn host_objects(&self) -> Vec<(String, String)> {
        (0..self.hosts.len())
            .map(|index| ("HostSystem".to_owned(), host_id(index)))
            .collect()
    }

    /// The host an object of a per-host type belongs to.
    pub(crate) fn host_of(&self, mo_type: &str, mo_id: &str) -> Option<&ObservedHost> {
        let prefix = match mo_type {
            "HostSystem" => "host",
            "HostNetworkSystem" => "networkSystem",
            "HostVirtualNicManager" => "virtualNicManager",
            _ => return None,
        };
        self.hosts.get(index_from_id(mo_id, prefix)?).map(|host| &**host)
    }

    /// The value of one property of one object; `Ok(None)` when the object has no such property
    /// (vSphere leaves it out of the answer), `Err` when the object does not exist.
    pub(crate) fn property(&self, mo_type: &str, mo_id: &str, path: &str) -> Result<Option<Value>, ()> {
        match mo_type {
            "HostSystem" => {
                let index = index_from_id(mo_id, "host")
                    .filter(|index| *index < self.hosts.len())
                    .ok_or(())?;
                Ok(self.host_property(index, path))
            }
            "HostNetworkSystem" => {
                let host = self.host_of(mo_type, mo_id).ok_or(())?;
                Ok(match path {
                    "networkInfo" => Some(network_info(host)),
                    _ => None,
                })
            }
            "HostVirtualNicManager" => {
                let host = self.host_of(mo_type, mo_id).ok_or(())?;
                Ok(match path {
                    "info" => Some(nic_manager_info(host)),
                    _ => None,
                })
            }
            "DistributedVirtualPortgroup" => {
                let (switch, port_group) = self.distributed_port_group(mo_id).ok_or(())?;
                Ok(match path {
                    "name" => Some(string_value(&port_group.name)),
                    "key" => Some(string_value(&port_group.key)),
                    "config.distributedVirtualSwitch" => self
                        .distributed_switch_id(&switch.uuid)
                        .map(|id| moref("VmwareDistributedVirtualSwitch", &id)),
                    "config.defaultPortConfig" => Some(default_port_config(port_group)),
                    "config" => Some(json!({
                        "_typeName": "DVPortgroupConfigInfo",
                        "key": port_group.key,
                        "name": port_group.name,
                        "numPorts": DISTRIBUTED_PORT_GROUP_PORTS,
                        "distributedVirtualSwitch": self
                            .distributed_switch_id(&switch.uuid)
                            .map(|id| moref("VmwareDistributedVirtualSwitch", &id)),
                        "defaultPortConfig": default_port_config(port_group),
                        "type": "earlyBinding",
                        "policy": {
                            "_typeName": "DVPortgroupPolicy",
                            "blockOverrideAllowed": true,
                            "shapingOverrideAllowed": false,
                            "vendorConfigOverrideAllowed": false,
                            "livePortMovingAllowed": false,
                            "portConfigResetAtDisconnect": true,
                        },
                    })),
                    _ => None,
                })
            }
            "VmwareDistributedVirtualSwitch" | "DistributedVirtualSwitch" => {
                let switches = self.distributed_switches();
                let switch = index_from_id(mo_id, "dvs")
                    .and_then(|index| switches.get(index))
                    .ok_or(())?;
                Ok(match path {
                    "uuid" => Some(string_value(&switch.uuid)),
                    "name" => Some(string_value(&switch.name)),
                    _ => None,
                })
            }
            // The folders, the datacenter and the compute resources above the hosts.
            _ => crate::datacenter::property(self, mo_type, mo_id, path),
        }
    }

    fn host_property(&self, index: usize, path: &str) -> Option<Value> {
        let host = &self.hosts[index];
        match path {
            "name" => Some(string_value(&host.name)),
            "config.product.version" | "summary.config.product.version" => {
                Some(string_value(&host.version.to_string()))
            }
            "config.network" => Some(network_info(host)),
            // pyVmomi reads `host.config` whole, then its members (Ansible's community.vmware
            // reads `host.config.network`): the host's identity, product and networking.
            "config" => {
                let mut config = json!({
                    "_typeName": "HostConfigInfo",
                    "host": moref("HostSystem", &host_id(index)),
                    "product": host_product(host),
                });
                config["network"] = network_info(host);
                config["virtualNicManagerInfo"] = nic_manager_info(host);
                Some(config)
            }
            "configManager.networkSystem" => Some(moref("HostNetworkSystem", &network_system_id(index))),
            "configManager.virtualNicManager" => Some(moref("HostVirtualNicManager", &nic_manager_id(index))),
            "runtime.networkRuntimeInfo" => Some(network_runtime_info(host)),
            // A simulated host is always up (esxnet's verification asks after a change).
            "runtime.connectionState" => Some(json!({"_typeName": "HostSystemConnectionState", "_value": "connected"})),
            // Read whole by pyVmomi (Ansible's vmware_host_tcpip_stacks reads
            // `host.runtime.networkRuntimeInfo`): a simulated host is always up.
            "runtime" => Some(json!({
                "_typeName": "HostRuntimeInfo",
                "connectionState": "connected",
                "powerState": "poweredOn",
                "inMaintenanceMode": false,
                "networkRuntimeInfo": network_runtime_info(host),
            })),
            "parent" => crate::datacenter::host_parent(self, index),
            // pyVmomi reads `host.configManager` whole, then its members.
            "configManager" => Some(json!({
                "_typeName": "HostConfigManager",
                "networkSystem": moref("HostNetworkSystem", &network_system_id(index)),
                "virtualNicManager": moref("HostVirtualNicManager", &nic_manager_id(index)),
            })),
            "network" => {
                let port_groups: Vec<Value> = host
                    .distributed_switches
                    .iter()
                    .flat_map(|switch| switch.port_groups.iter())
                    .map(|port_group| moref("DistributedVirtualPortgroup", &port_group.key))
                    .collect();
                Some(json!({"_typeName": "ArrayOfManagedObjectReference", "_value": port_groups}))
            }
            _ => None,
        }
    }

    /// The property paths served for a type, for a `PropertySpec` with `all: true`.
    pub(crate) fn all_paths(mo_type: &str) -> &'static [&'static str] {
        match mo_type {
            "HostSystem" => &[
                "name",
                "config.product.version",
                "summary.config.product.version",
                "config.network",
                "configManager.networkSystem",
                "configManager.virtualNicManager",
                "runtime.networkRuntimeInfo",
                "network",
                "parent",
            ],
            "HostNetworkSystem" => &["networkInfo"],
            "HostVirtualNicManager" => &["info"],
            "DistributedVirtualPortgroup" => &[
                "name",
                "key",
                "config.distributedVirtualSwitch",
                "config.defaultPortConfig",
            ],
            "VmwareDistributedVirtualSwitch" | "DistributedVirtualSwitch" => &["uuid", "name"],
            _ => crate::datacenter::all_paths(mo_type),
        }
    }
}

/// `AboutInfo` of an ESXi host, as `HostSystem.config.product` reports it.
fn host_product(host: &ObservedHost) -> Value {
    let version = host.version.to_string();
    json!({
        "_typeName": "AboutInfo",
        "name": "VMware ESXi",
        "fullName": format!("VMware ESXi {version} build-0 (esxnet simulator)"),
        "vendor": "VMware, Inc.",
        "version": version,
        "build": "0",
        "osType": "vmnix-x86",
        "productLineId": "embeddedEsx",
        "apiType": "HostAgent",
        "apiVersion": format!("{version}.0"),
    })
}

/// `HostNetworkInfo`: what `HostSystem.config.network` reports.
pub(crate) fn network_info(host: &ObservedHost) -> Value {
    let mut info = json!({
        "_typeName": "HostNetworkInfo",
        "ipV6Enabled": host.ipv6_enabled,
        "atBootIpV6Enabled": host.ipv6_enabled,
    });
    info["vswitch"] = host
        .switches
        .iter()
        .map(|switch| virtual_switch(host, switch))
        .collect();
    info["proxySwitch"] = host.distributed_switches.iter().map(proxy_switch).collect();
    info["portgroup"] = host
        .port_groups
        .iter()
        .map(|port_group| {
            let computed = host
                .switches
                .iter()
                .find(|switch| switch.name == port_group.switch)
                .map(|switch| {
                    let (policy, order) = port_group.policy.effective(&switch.policy, &switch.teaming);
                    network_policy(&policy, &order)
                })
                .unwrap_or_else(|| json!({"_typeName": "HostNetworkPolicy"}));
            let mut value = json!({
                "_typeName": "HostPortGroup",
                "key": port_group_key(&port_group.name),
                "vswitch": switch_key(&port_group.switch),
                "spec": {
                    "_typeName": "HostPortGroupSpec",
                    "name": port_group.name,
                    "vlanId": port_group.vlan,
                    "vswitchName": port_group.switch,
                },
            });
            value["computedPolicy"] = computed;
            value["spec"]["policy"] = port_group_policy(&port_group.policy);
            value
        })
        .collect();
    info["pnic"] = host
        .physical_nics
        .iter()
        .enumerate()
        .map(|(index, nic)| {
            let link = nic.link_speed_mb.map(|speed| {
                json!({
                    "_typeName": "PhysicalNicLinkInfo",
                    "speedMb": speed,
                    "duplex": true,
                })
            });
            let mut value = json!({
                "_typeName": "PhysicalNic",
                "key": pnic_key(&nic.device),
                "device": nic.device,
                "pci": format!("0000:{:02x}:00.0", 0x0b + index),
                "driver": "nvmxnet3",
                "spec": {"_typeName": "PhysicalNicSpec"},
                "wakeOnLanSupported": false,
                "mac": nic.mac,
            });
            if let Some(link) = link {
                value["linkSpeed"] = link.clone();
                value["spec"]["linkSpeed"] = link;
            }
            value
        })
        .collect();
    info["vnic"] = host.adapters.iter().map(|adapter| virtual_nic(host, adapter)).collect();
    // ESXi lists vSphereProvisioning, vmotion, then defaultTcpipStack (D67, G65).
    info["netStackInstance"] = host
        .stacks
        .iter()
        .rev()
        .map(|stack| net_stack_instance(host, stack))
        .collect();
    info
}

/// `HostNicOrderPolicy`; an empty list is left out, as ESXi reports it (D67).
fn nic_order(order: &Teaming) -> Value {
    let mut value = json!({"_typeName": "HostNicOrderPolicy"});
    if !order.active.is_empty() {
        value["activeNic"] = json!(order.active);
    }
    if !order.standby.is_empty() {
        value["standbyNic"] = json!(order.standby);
    }
    value
}

fn shaping_value(
    enabled: Option<bool>,
    average_bandwidth: Option<u64>,
    peak_bandwidth: Option<u64>,
    burst_size: Option<u64>,
) -> Value {
    let mut value = json!({"_typeName": "HostNetworkTrafficShapingPolicy"});
    let fields = [
        ("enabled", enabled.map(Value::from)),
        ("averageBandwidth", average_bandwidth.map(Value::from)),
        ("peakBandwidth", peak_bandwidth.map(Value::from)),
        ("burstSize", burst_size.map(Value::from)),
    ];
    for (name, field) in fields {
        if let Some(field) = field {
            value[name] = field;
        }
    }
    value
}

/// A switch's whole `HostNetworkPolicy`, as vSwitch0 reports it in D67: security, teaming with
/// ESXi's fixed failure criteria (only `checkBeacon` is simulated), offloads on, shaping.
fn network_policy(policy: &SwitchPolicy, order: &Teaming) -> Value {
    let mut value = json!({
        "_typeName": "HostNetworkPolicy",
        "security": {
            "_typeName": "HostNetworkSecurityPolicy",
            "allowPromiscuous": policy.security.allow_promiscuous,
            "macChanges": policy.security.mac_changes,
            "forgedTransmits": policy.security.forged_transmits,
        },
        "nicTeaming": {
            "_typeName": "HostNicTeamingPolicy",
            "policy": policy.teaming.load_balancing.api_name(),
            "reversePolicy": true,
            "notifySwitches": policy.teaming.notify_switches,
            "rollingOrder": !policy.teaming.failback,
            "failureCriteria": {
                "_typeName": "HostNicFailureCriteria",
                "checkSpeed": "minimum",
                "speed": 10,
                "checkDuplex": false,
                "fullDuplex": false,
                "checkErrorPercent": false,
                "checkBeacon": policy.teaming.beacon_probing,
            },
        },
        "offloadPolicy": {
            "_typeName": "HostNetOffloadCapabilities",
            "csumOffload": true,
            "tcpSegmentation": true,
            "zeroCopyXmit": true,
        },
    });
    value["nicTeaming"]["nicOrder"] = nic_order(order);
    value["shapingPolicy"] = shaping_value(
        Some(policy.shaping.enabled),
        policy.shaping.average_bandwidth,
        policy.shaping.peak_bandwidth,
        policy.shaping.burst_size,
    );
    value
}

/// A port group's `spec.policy`: only its overrides, and every field it does not override as an
/// empty sub-object, not absent (D67, G65).
fn port_group_policy(policy: &PortGroupPolicy) -> Value {
    let mut security = json!({"_typeName": "HostNetworkSecurityPolicy"});
    let security_fields = [
        ("allowPromiscuous", policy.security.allow_promiscuous),
        ("macChanges", policy.security.mac_changes),
        ("forgedTransmits", policy.security.forged_transmits),
    ];
    for (name, field) in security_fields {
        if let Some(field) = field {
            security[name] = json!(field);
        }
    }
    let overrides = &policy.teaming;
    let mut teaming = json!({
        "_typeName": "HostNicTeamingPolicy",
        "failureCriteria": {"_typeName": "HostNicFailureCriteria"},
    });
    if let Some(load_balancing) = overrides.load_balancing {
        teaming["policy"] = json!(load_balancing.api_name());
    }
    if let Some(notify) = overrides.notify_switches {
        teaming["notifySwitches"] = json!(notify);
    }
    if let Some(failback) = overrides.failback {
        teaming["rollingOrder"] = json!(!failback);
    }
    if let Some(beacon_probing) = overrides.beacon_probing {
        teaming["failureCriteria"]["checkBeacon"] = json!(beacon_probing);
    }
    if let Some(order) = &overrides.order {
        teaming["nicOrder"] = nic_order(order);
    }
    let shaping = &policy.shaping;
    let mut value = json!({
        "_typeName": "HostNetworkPolicy",
        "offloadPolicy": {"_typeName": "HostNetOffloadCapabilities"},
    });
    value["security"] = security;
    value["nicTeaming"] = teaming;
    value["shapingPolicy"] = shaping_value(
        shaping.enabled,
        shaping.average_bandwidth,
        shaping.peak_bandwidth,
        shaping.burst_size,
    );
    value
}

fn virtual_switch(host: &ObservedHost, switch: &ObservedSwitch) -> Value {
    let uplinks: Vec<&String> = switch.uplinks.iter().collect();
    let port_groups: Vec<String> = host
        .port_groups
        .iter()
        .filter(|port_group| port_group.switch == switch.name)
        .map(|port_group| port_group_key(&port_group.name))
        .collect();
    let used_ports = host
        .adapters
        .iter()
        .filter(|adapter| matches!(&adapter.connection, PortConnection::Standard { switch: name, .. } if *name == switch.name))
        .count() as i64;
    let num_ports = i64::from(switch.policy.num_ports);
    let mut spec = json!({
        "_typeName": "HostVirtualSwitchSpec",
        "numPorts": num_ports,
        "mtu": switch.mtu,
    });
    spec["policy"] = network_policy(&switch.policy, &switch.teaming);
    // No uplinks means no bridge at all, as ESXi reports an internal-only switch.
    if !uplinks.is_empty() {
        let mut bridge = json!({"_typeName": "HostVirtualSwitchBondBridge", "nicDevice": uplinks});
        if let Some(interval) = switch.policy.beacon_interval {
            bridge["beacon"] = json!({"_typeName": "HostVirtualSwitchBeaconConfig", "interval": interval});
        }
        if let Some(discovery) = switch.policy.link_discovery {
            let protocol = match discovery.protocol {
                LinkDiscoveryProtocol::Cdp => "cdp",
                LinkDiscoveryProtocol::Lldp => "lldp",
            };
            let operation = match discovery.operation {
                LinkDiscoveryOperation::Listen => "listen",
                LinkDiscoveryOperation::Advertise => "advertise",
                LinkDiscoveryOperation::Both => "both",
                LinkDiscoveryOperation::None => "none",
            };
            bridge["linkDiscoveryProtocolConfig"] = json!({
                "_typeName": "LinkDiscoveryProtocolConfig",
                "protocol": protocol,
                "operation": operation,
            });
        }
        spec["bridge"] = bridge;
    }
    let mut value = json!({
        "_typeName": "HostVirtualSwitch",
        "name": switch.name,
        "key": switch_key(&switch.name),
        // ESXi reports a larger elastic count here (2560 for spec 128 on 6.7); the simulator
        // reports the configured one.
        "numPorts": num_ports,
        "numPortsAvailable": num_ports - used_ports - uplinks.len() as i64,
        "mtu": switch.mtu,
        "portgroup": port_groups,
        "pnic": switch.uplinks.iter().map(|device| pnic_key(device)).collect::<Vec<_>>(),
    });
    value["spec"] = spec;
    value
}

fn proxy_switch(switch: &DistributedSwitchMembership) -> Value {
    json!({
        "_typeName": "HostProxySwitch",
        "dvsUuid": switch.uuid,
        "dvsName": switch.name,
        "key": switch.uuid,
        "numPorts": PROXY_SWITCH_PORTS,
        "numPortsAvailable": PROXY_SWITCH_PORTS,
        "mtu": switch.mtu,
        "spec": {"_typeName": "HostProxySwitchSpec"},
    })
}

fn ipv6_origin(origin: Ipv6Origin) -> &'static str {
    match origin {
        Ipv6Origin::Manual => "manual",
        Ipv6Origin::Dhcp => "dhcp",
        Ipv6Origin::Linklayer => "linklayer",
        Ipv6Origin::Random => "random",
        Ipv6Origin::Other => "other",
    }
}

fn virtual_nic(host: &ObservedHost, adapter: &ObservedAdapter) -> Value {
    let mut ip = json!({
        "_typeName": "HostIpConfig",
        "dhcp": adapter.ipv4.dhcp,
    });
    // With IPv6 disabled on the host, adapters report no IPv6 configuration at all.
    if host.ipv6_enabled {
        ip["ipV6Config"] = json!({
            "_typeName": "HostIpConfigIpV6AddressConfiguration",
            "autoConfigurationEnabled": adapter.ipv6.router_advertisement,
            "dhcpV6Enabled": adapter.ipv6.dhcp,
            "ipV6Address": adapter.ipv6.addresses.iter().map(|address| json!({
                "_typeName": "HostIpConfigIpV6Address",
                "ipAddress": address.address.addr().to_string(),
                "prefixLength": address.address.prefix_len(),
                "origin": ipv6_origin(address.origin),
                "dadState": "preferred",
            })).collect::<Vec<_>>(),
        });
    }
    if let Some(address) = adapter.ipv4.address {
        ip["ipAddress"] = json!(address.to_string());
    }
    if let Some(prefix_length) = adapter.ipv4.prefix_length {
        ip["subnetMask"] = json!(subnet_mask(prefix_length).to_string());
    }
    let mut spec = json!({
        "_typeName": "HostVirtualNicSpec",
        "mac": adapter.mac,
        "mtu": adapter.mtu,
        "netStackInstanceKey": adapter.stack.api_key(),
    });
    spec["ip"] = ip;
    // Absent unless set, as on a fresh host (D67).
    if adapter.system_owned {
        spec["systemOwned"] = json!(true);
    }
    let port_group = match &adapter.connection {
        PortConnection::Standard { port_group, .. } => {
            spec["portgroup"] = json!(port_group);
            port_group.clone()
        }
        PortConnection::Distributed { switch, port_group } => {
            let membership = host.distributed_switches.iter().find(|member| member.name == *switch);
            let key = membership
                .and_then(|member| {
                    member
                        .port_groups
                        .iter()
                        .find(|candidate| candidate.name == *port_group)
                })
                .map(|candidate| candidate.key.clone())
                .unwrap_or_default();
            spec["distributedVirtualPort"] = json!({
                "_typeName": "DistributedVirtualSwitchPortConnection",
                "switchUuid": membership.map(|member| member.uuid.clone()).unwrap_or_default(),
                "portgroupKey": key,
            });
            // ESXi reports an empty port group name for an adapter on a distributed port.
            String::new()
        }
    };
    if adapter.ipv4.gateway_override.is_some() || adapter.ipv6.gateway_override.is_some() {
        let mut route = json!({"_typeName": "HostIpRouteConfig"});
        if let Some(gateway) = adapter.ipv4.gateway_override {
            route["defaultGateway"] = json!(gateway.to_string());
        }
        if let Some(gateway) = adapter.ipv6.gateway_override {
            route["ipV6DefaultGateway"] = json!(gateway.to_string());
        }
        spec["ipRouteSpec"] = json!({"_typeName": "HostVirtualNicIpRouteSpec"});
        spec["ipRouteSpec"]["ipRouteConfig"] = route;
    }
    let mut value = json!({
        "_typeName": "HostVirtualNic",
        "device": adapter.device,
        "key": vnic_key(&adapter.device),
        "portgroup": port_group,
    });
    value["spec"] = spec;
    value
}

fn route_operation(entry: &RouteTableEntry) -> Value {
    json!({
        "_typeName": "HostIpRouteOp",
        "changeOperation": "ignore",
        "route": {
            "_typeName": "HostIpRouteEntry",
            "network": entry.destination.network().to_string(),
            "prefixLength": entry.destination.prefix_len(),
            "gateway": entry.gateway.to_string(),
            "deviceName": entry.device,
        },
    })
}

fn congestion_control_name(algorithm: CongestionControl) -> &'static str {
    match algorithm {
        CongestionControl::Newreno => "newreno",
        CongestionControl::Cubic => "cubic",
    }
}

/// The adapter that learned the stack's IPv6 gateway from router advertisement.
fn router_advertisement_device(host: &ObservedHost, stack: &ObservedStack) -> Option<String> {
    host.adapters
        .iter()
        .find(|adapter| adapter.stack == stack.stack && adapter.ipv6.router_advertisement)
        .map(|adapter| adapter.device.clone())
}

/// One `HostNetStackInstance`. A stack that is not instantiated yet is listed as on a fresh host:
/// no name, empty DNS names, an empty `ipRouteConfig` and no `routeTableConfig`. The routing table
/// holds the static routes and the routes ESXi computes ([`esxnet_sim::routing`]).
fn net_stack_instance(host: &ObservedHost, stack: &ObservedStack) -> Value {
    let mut route_config = json!({"_typeName": "HostIpRouteConfig"});
    if let Some(gateway) = stack.ipv4_gateway {
        route_config["defaultGateway"] = json!(gateway.to_string());
    }
    if let Some(gateway) = stack.ipv6_gateway.filter(|_| host.ipv6_enabled) {
        route_config["ipV6DefaultGateway"] = json!(gateway.to_string());
        // ESXi names the interface of a gateway it learned (D67); esxnet never sets one.
        if stack.ipv6_gateway_from_router_advertisement {
            if let Some(device) = router_advertisement_device(host, stack) {
                route_config["ipV6GatewayDevice"] = json!(device);
            }
        }
    }
    let mut dns = json!({
        "_typeName": "HostDnsConfig",
        "dhcp": stack.dns_from_dhcp,
        "hostName": stack.dns_host_name,
        "domainName": stack.dns_domain_name,
    });
    if !stack.dns.servers.is_empty() {
        dns["address"] = json!(stack.dns.servers.iter().map(ToString::to_string).collect::<Vec<_>>());
    }
    if !stack.dns.search_domains.is_empty() {
        dns["searchDomain"] = json!(stack.dns.search_domains);
    }
    if stack.dns_from_dhcp {
        // The adapter DHCP answers on: the stack's first, as G65's vmk0.
        if let Some(adapter) = host.adapters.iter().find(|adapter| adapter.stack == stack.stack) {
            dns["virtualNicDevice"] = json!(adapter.device);
        }
    }
    let mut instance = json!({
        "_typeName": "HostNetStackInstance",
        "key": stack.stack.api_key(),
        "requestedMaxNumberOfConnections": stack.requested_max_connections,
        "congestionControlAlgorithm": congestion_control_name(stack.congestion_control),
        "ipV6Enabled": true,
    });
    instance["dnsConfig"] = dns;
    instance["ipRouteConfig"] = route_config;
    if let Some(table) = routing::route_table(host, stack) {
        let (ipv4_routes, ipv6_routes): (Vec<&RouteTableEntry>, Vec<&RouteTableEntry>) =
            table.iter().partition(|entry| entry.gateway.is_ipv4());
        instance["name"] = json!(stack.stack.api_key());
        instance["routeTableConfig"] = json!({"_typeName": "HostIpRouteTableConfig"});
        instance["routeTableConfig"]["ipRoute"] = ipv4_routes.into_iter().map(route_operation).collect();
        instance["routeTableConfig"]["ipv6Route"] = ipv6_routes.into_iter().map(route_operation).collect();
    }
    instance
}

/// `HostRuntimeInfoNetworkRuntimeInfo`: the instantiated stacks and their adapters.
pub(crate) fn network_runtime_info(host: &ObservedHost) -> Value {
    json!({
        "_typeName": "HostRuntimeInfoNetworkRuntimeInfo",
        "netStackInstanceRuntimeInfo": host.stacks.iter().filter(|stack| stack.instantiated).map(|stack| json!({
            "_typeName": "HostRuntimeInfoNetStackInstanceRuntimeInfo",
            "netStackInstanceKey": stack.stack.api_key(),
            "state": "active",
            "vmknicKeys": host
                .adapters
                .iter()
                .filter(|adapter| adapter.stack == stack.stack)
                .map(|adapter| adapter.device.clone())
                .collect::<Vec<_>>(),
            "maxNumberOfConnections": stack.max_connections,
            "currentIpV6Enabled": host.ipv6_enabled,
        })).collect::<Vec<_>>(),
    })
}

/// `HostVirtualNicManagerInfo`: for every service, which adapters carry it.
pub(crate) fn nic_manager_info(host: &ObservedHost) -> Value {
    json!({
        "_typeName": "HostVirtualNicManagerInfo",
        "netConfig": Service::ALL.iter().map(|service| {
            let nic_type = service.api_name();
            json!({
                "_typeName": "VirtualNicManagerNetConfig",
                "nicType": nic_type,
                "multiSelectAllowed": true,
                "selectedVnic": host
                    .adapters
                    .iter()
                    .filter(|adapter| adapter.services.contains(service))
                    .map(|adapter| format!("{nic_type}.{}", vnic_key(&adapter.device)))
                    .collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
    })
}

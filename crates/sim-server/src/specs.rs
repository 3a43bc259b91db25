//! vSphere method parameters (VI JSON) turned into the simulator's inputs.
//!
//! Parameters are first checked against vim_rs's own types (see [`check_parameter`]), then read
//! field by field here. Where a spec leaves a field out, vSphere keeps the current value; the
//! simulator's inputs are whole values, so the current state fills the gaps.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use esxnet_executor::backend::{Ipv4Settings, Ipv6Settings};
use esxnet_model::common::{CongestionControl, Dns, Route, StackKind};
use esxnet_model::observed::{Ipv6Origin, ObservedAdapter, ObservedHost, ObservedIpv6, PortConnection, Teaming};
use esxnet_sim::{AdapterUpdate, DnsEdit, NewAdapter, RouteChange, StackEdit, StackGateways, SwitchSpec};
use ipnet::{IpNet, Ipv6Net};
use serde_json::Value;

use crate::fault::VimFault;

/// The MTU ESXi gives a switch or adapter whose spec names none.
const DEFAULT_MTU: u32 = 1500;

/// A required string parameter of a method.
pub(crate) fn required_string<'a>(body: &'a Value, name: &str) -> Result<&'a str, VimFault> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| VimFault::invalid_request(format!("parameter {name} is missing or not a string")))
}

/// A required object parameter of a method.
pub(crate) fn required_object<'a>(body: &'a Value, name: &str) -> Result<&'a Value, VimFault> {
    body.get(name)
        .filter(|value| value.is_object())
        .ok_or_else(|| VimFault::invalid_request(format!("parameter {name} is missing or not an object")))
}

/// A present, non-null field.
fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value.get(name).filter(|field| !field.is_null())
}

fn string_field<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    field(value, name)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

fn bool_field(value: &Value, name: &str) -> Option<bool> {
    field(value, name).and_then(Value::as_bool)
}

fn integer_field(value: &Value, name: &str) -> Option<i64> {
    field(value, name).and_then(Value::as_i64)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn mtu(value: &Value, default: u32) -> Result<u32, VimFault> {
    match integer_field(value, "mtu") {
        None => Ok(default),
        Some(mtu) => {
            u32::try_from(mtu).map_err(|_| VimFault::invalid_argument(format!("mtu {mtu} is not a valid MTU")))
        }
    }
}

fn parse_ipv4(text: &str, what: &str) -> Result<Ipv4Addr, VimFault> {
    text.parse()
        .map_err(|_| VimFault::invalid_argument(format!("{what} {text} is not an IPv4 address")))
}

fn parse_ipv6(text: &str, what: &str) -> Result<Ipv6Addr, VimFault> {
    text.parse()
        .map_err(|_| VimFault::invalid_argument(format!("{what} {text} is not an IPv6 address")))
}

/// The prefix length of a dotted subnet mask; a mask with holes is refused as ESXi refuses it.
pub(crate) fn prefix_length(mask: &str) -> Result<u8, VimFault> {
    let bits = u32::from(parse_ipv4(mask, "subnet mask")?);
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) != 0 {
        return Err(VimFault::invalid_argument(format!(
            "subnet mask {mask} is not contiguous"
        )));
    }
    Ok(ones as u8)
}

/// `HostVirtualSwitchSpec` → the simulator's switch spec. No spec is a switch without uplinks.
pub(crate) fn switch_spec(name: &str, spec: Option<&Value>) -> Result<SwitchSpec, VimFault> {
    let Some(spec) = spec.filter(|spec| spec.is_object()) else {
        return Ok(SwitchSpec {
            name: name.to_owned(),
            mtu: DEFAULT_MTU,
            uplinks: BTreeSet::new(),
            teaming: Teaming::default(),
        });
    };
    if let Some(ports) = integer_field(spec, "numPorts") {
        if !(1..=4096).contains(&ports) {
            return Err(VimFault::invalid_argument(format!(
                "numPorts {ports} is outside 1–4096"
            )));
        }
    }
    // A missing bridge unsets the uplinks, as UpdateVirtualSwitch documents.
    let uplinks = field(spec, "bridge")
        .map(|bridge| strings(field(bridge, "nicDevice")))
        .unwrap_or_default();
    let nic_order = field(spec, "policy")
        .and_then(|policy| field(policy, "nicTeaming"))
        .and_then(|teaming| field(teaming, "nicOrder"));
    let teaming = match nic_order {
        Some(order) => Teaming {
            active: strings(field(order, "activeNic")),
            standby: strings(field(order, "standbyNic")),
        },
        None => Teaming::default(),
    };
    Ok(SwitchSpec {
        name: name.to_owned(),
        mtu: mtu(spec, DEFAULT_MTU)?,
        uplinks: uplinks.into_iter().collect(),
        teaming,
    })
}

/// `HostPortGroupSpec` → (name, switch, VLAN).
pub(crate) fn port_group_spec(spec: &Value) -> Result<(String, String, u16), VimFault> {
    let name = required_string(spec, "name")?;
    let switch = required_string(spec, "vswitchName")?;
    let vlan = integer_field(spec, "vlanId").unwrap_or(0);
    let vlan = u16::try_from(vlan)
        .ok()
        .filter(|vlan| *vlan <= 4095)
        .ok_or_else(|| VimFault::invalid_argument(format!("vlanId {vlan} is outside 0–4095")))?;
    Ok((name.to_owned(), switch.to_owned(), vlan))
}

fn stack_from_key(key: &str) -> Result<StackKind, VimFault> {
    StackKind::from_api_key(key).ok_or_else(|| {
        VimFault::invalid_argument(format!(
            "netStackInstanceKey {key} is not a TCP/IP stack the simulator knows: use defaultTcpipStack, vmotion or vSphereProvisioning"
        ))
    })
}

/// The per-adapter gateway overrides in `ipRouteSpec`, `None` when the spec has no `ipRouteSpec`.
#[allow(clippy::type_complexity)]
fn gateway_overrides(spec: &Value) -> Result<Option<(Option<Ipv4Addr>, Option<Ipv6Addr>)>, VimFault> {
    let Some(route_spec) = field(spec, "ipRouteSpec") else {
        return Ok(None);
    };
    let Some(config) = field(route_spec, "ipRouteConfig") else {
        return Ok(Some((None, None)));
    };
    let ipv4 = string_field(config, "defaultGateway")
        .map(|gateway| parse_ipv4(gateway, "defaultGateway"))
        .transpose()?;
    let ipv6 = string_field(config, "ipV6DefaultGateway")
        .map(|gateway| parse_ipv6(gateway, "ipV6DefaultGateway"))
        .transpose()?;
    Ok(Some((ipv4, ipv6)))
}

fn ipv4_settings(ip: &Value, gateway_override: Option<Ipv4Addr>) -> Result<Ipv4Settings, VimFault> {
    let dhcp = bool_field(ip, "dhcp").unwrap_or(false);
    let address = string_field(ip, "ipAddress")
        .map(|address| parse_ipv4(address, "ipAddress"))
        .transpose()?;
    let prefix_length = string_field(ip, "subnetMask").map(prefix_length).transpose()?;
    Ok(Ipv4Settings {
        dhcp,
        address,
        prefix_length,
        gateway_override,
    })
}

fn manual_addresses(ipv6: &ObservedIpv6) -> BTreeSet<Ipv6Net> {
    ipv6.addresses
        .iter()
        .filter(|address| address.origin == Ipv6Origin::Manual)
        .map(|address| address.address)
        .collect()
}

/// Applies `ipV6Config` to `current`: `add` (or no operation) adds an address, `remove` drops it.
fn ipv6_settings(
    config: &Value,
    current: &ObservedIpv6,
    gateway_override: Option<Ipv6Addr>,
    start_from_current: bool,
) -> Result<Ipv6Settings, VimFault> {
    let mut addresses = if start_from_current {
        manual_addresses(current)
    } else {
        BTreeSet::new()
    };
    for entry in field(config, "ipV6Address")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let address = parse_ipv6(required_string(entry, "ipAddress")?, "ipAddress")?;
        let length = integer_field(entry, "prefixLength").unwrap_or(64);
        let network = u8::try_from(length)
            .ok()
            .and_then(|length| Ipv6Net::new(address, length).ok())
            .ok_or_else(|| VimFault::invalid_argument(format!("prefixLength {length} is outside 0–128")))?;
        match string_field(entry, "operation").unwrap_or("add") {
            "add" => {
                addresses.insert(network);
            }
            "remove" => {
                addresses.remove(&network);
            }
            other => {
                return Err(VimFault::invalid_argument(format!(
                    "IPv6 address operation {other} is neither add nor remove"
                )))
            }
        }
    }
    Ok(Ipv6Settings {
        dhcp: bool_field(config, "dhcpV6Enabled").unwrap_or(current.dhcp && start_from_current),
        router_advertisement: bool_field(config, "autoConfigurationEnabled")
            .unwrap_or(current.router_advertisement && start_from_current),
        addresses,
        gateway_override,
    })
}

/// `AddVirtualNic(portgroup, nic)` → the simulator's new adapter.
pub(crate) fn new_adapter(host: &ObservedHost, port_group: &str, nic: &Value) -> Result<NewAdapter, VimFault> {
    let connection = if !port_group.is_empty() {
        let switch = host
            .port_groups
            .iter()
            .find(|candidate| candidate.name == port_group)
            .map(|candidate| candidate.switch.clone())
            .ok_or_else(|| {
                VimFault::new(
                    "NotFound",
                    format!("port group {port_group} does not exist on host {}", host.name),
                )
            })?;
        PortConnection::Standard {
            switch,
            port_group: port_group.to_owned(),
        }
    } else if let Some(port) = field(nic, "distributedVirtualPort") {
        let switch_uuid = required_string(port, "switchUuid")?;
        let port_group_key = string_field(port, "portgroupKey").unwrap_or_default();
        let membership = host
            .distributed_switches
            .iter()
            .find(|member| member.uuid == switch_uuid)
            .ok_or_else(|| {
                VimFault::new(
                    "NotFound",
                    format!(
                        "host {} is not a member of the distributed switch {switch_uuid}",
                        host.name
                    ),
                )
            })?;
        let distributed_port_group = membership
            .port_groups
            .iter()
            .find(|candidate| candidate.key == port_group_key)
            .ok_or_else(|| {
                VimFault::new(
                    "NotFound",
                    format!(
                        "distributed port group {port_group_key} does not exist on switch {}",
                        membership.name
                    ),
                )
            })?;
        PortConnection::Distributed {
            switch: membership.name.clone(),
            port_group: distributed_port_group.name.clone(),
        }
    } else {
        return Err(VimFault::invalid_argument(
            "a VMkernel adapter needs a port group or a distributedVirtualPort",
        ));
    };
    let stack = stack_from_key(string_field(nic, "netStackInstanceKey").unwrap_or("defaultTcpipStack"))?;
    let ip = field(nic, "ip").ok_or_else(|| VimFault::invalid_argument("the adapter spec has no ip"))?;
    let (ipv4_gateway, ipv6_gateway) = gateway_overrides(nic)?.unwrap_or((None, None));
    let ipv6 = field(ip, "ipV6Config")
        .map(|config| ipv6_settings(config, &ObservedIpv6::default(), ipv6_gateway, false))
        .transpose()?;
    Ok(NewAdapter {
        connection,
        stack,
        mtu: mtu(nic, DEFAULT_MTU)?,
        ipv4: ipv4_settings(ip, ipv4_gateway)?,
        ipv6,
    })
}

/// `UpdateVirtualNic(device, nic)` → the simulator's update, the current adapter filling in what
/// the spec leaves out.
pub(crate) fn adapter_update(adapter: &ObservedAdapter, nic: &Value) -> Result<AdapterUpdate, VimFault> {
    if let Some(port_group) = string_field(nic, "portgroup") {
        if port_group != adapter.connection.port_group() {
            return Err(VimFault::not_supported(format!(
                "moving VMkernel adapter {} to port group {port_group} is not simulated: remove it and add it again",
                adapter.device
            )));
        }
    }
    let overrides = gateway_overrides(nic)?;
    let ipv4_gateway = overrides.map_or(adapter.ipv4.gateway_override, |(ipv4, _)| ipv4);
    let ipv6_gateway = overrides.map_or(adapter.ipv6.gateway_override, |(_, ipv6)| ipv6);
    let ipv4 = match field(nic, "ip") {
        Some(ip) => ipv4_settings(ip, ipv4_gateway)?,
        None => Ipv4Settings {
            dhcp: adapter.ipv4.dhcp,
            address: adapter.ipv4.address,
            prefix_length: adapter.ipv4.prefix_length,
            gateway_override: ipv4_gateway,
        },
    };
    let ipv6 = match field(nic, "ip").and_then(|ip| field(ip, "ipV6Config")) {
        Some(config) => Some(ipv6_settings(config, &adapter.ipv6, ipv6_gateway, true)?),
        // Only the IPv6 gateway override changes: keep the rest as it is.
        None if ipv6_gateway != adapter.ipv6.gateway_override => Some(Ipv6Settings {
            dhcp: adapter.ipv6.dhcp,
            router_advertisement: adapter.ipv6.router_advertisement,
            addresses: manual_addresses(&adapter.ipv6),
            gateway_override: ipv6_gateway,
        }),
        None => None,
    };
    let stack = string_field(nic, "netStackInstanceKey")
        .map(stack_from_key)
        .transpose()?;
    Ok(AdapterUpdate {
        mtu: mtu(nic, adapter.mtu)?,
        ipv4,
        ipv6,
        stack,
    })
}

fn route_entry(operation: &Value) -> Result<(String, Route), VimFault> {
    let change = string_field(operation, "changeOperation").unwrap_or("add").to_owned();
    let route =
        field(operation, "route").ok_or_else(|| VimFault::invalid_argument("a route operation has no route"))?;
    let network = required_string(route, "network")?;
    let length = integer_field(route, "prefixLength").unwrap_or(0);
    let gateway = required_string(route, "gateway")?;
    let destination: IpNet = format!("{network}/{length}")
        .parse()
        .map_err(|_| VimFault::invalid_argument(format!("route {network}/{length} is not a network")))?;
    let gateway: IpAddr = gateway
        .parse()
        .map_err(|_| VimFault::invalid_argument(format!("route gateway {gateway} is not an IP address")))?;
    Ok((change, Route { destination, gateway }))
}

/// One `netStackSpec` edit → the stack and the sections it sends. A section left out (or null)
/// stays as it is on the host: `UpdateNetworkConfig("modify")` changes only what it is sent, and
/// reading it this way is what catches a client that sends too much (a learned value echoed back
/// becomes static) or too little (a static gateway left out is removed).
pub(crate) fn stack_edit(instance: &Value) -> Result<(StackKind, StackEdit), VimFault> {
    let key = required_string(instance, "key")?;
    let stack = StackKind::from_api_key(key)
        .ok_or_else(|| VimFault::new("NotFound", format!("TCP/IP stack {key} does not exist")))?;
    let mut edit = StackEdit::default();
    if let Some(config) = field(instance, "ipRouteConfig") {
        edit.gateways = Some(StackGateways {
            ipv4: string_field(config, "defaultGateway")
                .map(|gateway| parse_ipv4(gateway, "defaultGateway"))
                .transpose()?,
            ipv6: string_field(config, "ipV6DefaultGateway")
                .map(|gateway| parse_ipv6(gateway, "ipV6DefaultGateway"))
                .transpose()?,
        });
    }
    if let Some(config) = field(instance, "dnsConfig") {
        let servers = strings(field(config, "address"))
            .iter()
            .map(|server| {
                server
                    .parse()
                    .map_err(|_| VimFault::invalid_argument(format!("DNS server {server} is not an IP address")))
            })
            .collect::<Result<_, _>>()?;
        edit.dns = Some(DnsEdit {
            dhcp: bool_field(config, "dhcp").unwrap_or(false),
            host_name: field(config, "hostName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            domain_name: field(config, "domainName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            dns: Dns {
                servers,
                search_domains: strings(field(config, "searchDomain")),
            },
        });
    }
    if let Some(table) = field(instance, "routeTableConfig") {
        let operations = ["ipRoute", "ipv6Route"]
            .into_iter()
            .filter_map(|name| field(table, name).and_then(Value::as_array))
            .flatten();
        for operation in operations {
            let (change, route) = route_entry(operation)?;
            match change.as_str() {
                "add" => edit.routes.push(RouteChange::Add(route)),
                "remove" => edit.routes.push(RouteChange::Remove(route)),
                // What the host reports back; sending it changes nothing.
                "ignore" => {}
                other => {
                    return Err(VimFault::invalid_argument(format!(
                        "route changeOperation {other} is not simulated: use add or remove"
                    )))
                }
            }
        }
    }
    if let Some(limit) = integer_field(instance, "requestedMaxNumberOfConnections") {
        edit.requested_max_connections = Some(u32::try_from(limit).map_err(|_| {
            VimFault::invalid_argument(format!("requestedMaxNumberOfConnections {limit} is out of range"))
        })?);
    }
    edit.congestion_control = match string_field(instance, "congestionControlAlgorithm") {
        Some("newreno") => Some(CongestionControl::Newreno),
        Some("cubic") => Some(CongestionControl::Cubic),
        Some(other) => {
            return Err(VimFault::invalid_argument(format!(
                "congestionControlAlgorithm {other} is neither newreno nor cubic"
            )))
        }
        None => None,
    };
    Ok((stack, edit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_masks_become_prefix_lengths_and_holes_are_refused() {
        assert_eq!(prefix_length("255.255.255.0").unwrap(), 24);
        assert_eq!(prefix_length("255.255.255.255").unwrap(), 32);
        assert_eq!(prefix_length("0.0.0.0").unwrap(), 0);
        assert_eq!(prefix_length("255.0.255.0").unwrap_err().type_name, "InvalidArgument");
        for length in 0..=32 {
            let mask = crate::inventory::subnet_mask(length).to_string();
            assert_eq!(prefix_length(&mask).unwrap(), length, "{mask}");
        }
    }
}

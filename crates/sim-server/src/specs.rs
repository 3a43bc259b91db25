//! vSphere method parameters (VI JSON) turned into the simulator's inputs.
//!
//! Parameters are first checked against vim_rs's own types (see [`check_parameter`]), then read
//! field by field here with the meaning ESXi gives a field that is left out, which differs per
//! method (the reference's update-semantics table): `UpdateVirtualSwitch` keeps an unset `policy`
//! but drops the uplinks with an unset `bridge` and beacon probing with an unset `beacon`;
//! `UpdatePortGroup` replaces the whole spec, so an unset override inherits; a stack edit changes
//! only the sections it is sent. Where the reference leaves it unverified, the stricter reading
//! is taken, so that a client that sends too little fails against the simulator first.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use esxnet_executor::backend::{Ipv4Settings, Ipv6Settings};
use esxnet_model::common::{CongestionControl, Dns, Route, StackKind};
use esxnet_model::observed::{
    Ipv6Origin, LinkDiscovery, LinkDiscoveryOperation, LinkDiscoveryProtocol, LoadBalancing, ObservedAdapter,
    ObservedHost, ObservedIpv6, ObservedSwitch, PortConnection, PortGroupPolicy, SecurityOverride, SecurityPolicy,
    ShapingOverride, ShapingPolicy, SwitchPolicy, Teaming, TeamingOverride,
};
use esxnet_sim::{
    host::MAXIMUM_SWITCH_PORTS, AdapterUpdate, DnsEdit, NewAdapter, RouteChange, StackEdit, StackGateways, SwitchSpec,
};
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

/// The bridge part of a switch spec: uplinks, beacon interval and link discovery.
struct Bridge {
    uplinks: BTreeSet<String>,
    beacon_interval: Option<u32>,
    link_discovery: Option<LinkDiscovery>,
}

/// `spec.bridge`. No bridge (absent or null) means no uplinks, as `UpdateVirtualSwitch` documents;
/// a bond bridge without `beacon` has no beacon, which turns beacon probing off [API]. A bond
/// bridge without `linkDiscoveryProtocolConfig` has none (unverified; the simulator takes the
/// stricter reading that it is removed, so a client that drops it is caught).
fn bridge(spec: &Value) -> Result<Bridge, VimFault> {
    let Some(bridge) = field(spec, "bridge") else {
        return Ok(Bridge {
            uplinks: BTreeSet::new(),
            beacon_interval: None,
            link_discovery: None,
        });
    };
    match string_field(bridge, "_typeName") {
        None | Some("HostVirtualSwitchBondBridge") => {}
        Some(other) => {
            return Err(VimFault::not_supported(format!(
                "bridge {other} is not simulated: standard switches take a HostVirtualSwitchBondBridge"
            )))
        }
    }
    let beacon_interval = match field(bridge, "beacon") {
        None => None,
        Some(beacon) => {
            let interval = integer_field(beacon, "interval")
                .ok_or_else(|| VimFault::invalid_request("bridge.beacon.interval is missing"))?;
            Some(
                u32::try_from(interval)
                    .ok()
                    .filter(|interval| *interval >= 1)
                    .ok_or_else(|| {
                        VimFault::invalid_argument(format!(
                            "beacon interval {interval} is not a positive number of seconds"
                        ))
                    })?,
            )
        }
    };
    let link_discovery = match field(bridge, "linkDiscoveryProtocolConfig") {
        None => None,
        Some(config) => {
            let protocol = match string_field(config, "protocol") {
                Some("cdp") => LinkDiscoveryProtocol::Cdp,
                Some("lldp") => LinkDiscoveryProtocol::Lldp,
                other => {
                    return Err(VimFault::invalid_argument(format!(
                        "link discovery protocol {} is neither cdp nor lldp",
                        other.unwrap_or("(none)")
                    )))
                }
            };
            let operation = match string_field(config, "operation") {
                Some("listen") => LinkDiscoveryOperation::Listen,
                Some("advertise") => LinkDiscoveryOperation::Advertise,
                Some("both") => LinkDiscoveryOperation::Both,
                Some("none") => LinkDiscoveryOperation::None,
                other => {
                    return Err(VimFault::invalid_argument(format!(
                        "link discovery operation {} is not listen, advertise, both or none",
                        other.unwrap_or("(none)")
                    )))
                }
            };
            Some(LinkDiscovery { protocol, operation })
        }
    };
    Ok(Bridge {
        uplinks: strings(field(bridge, "nicDevice")).into_iter().collect(),
        beacon_interval,
        link_discovery,
    })
}

fn load_balancing(teaming: &Value) -> Result<Option<LoadBalancing>, VimFault> {
    string_field(teaming, "policy")
        .map(|name| {
            LoadBalancing::from_api_name(name).ok_or_else(|| {
                VimFault::invalid_argument(format!(
                    "nicTeaming.policy {name} is not one of loadbalance_ip, loadbalance_srcmac, loadbalance_srcid, failover_explicit"
                ))
            })
        })
        .transpose()
}

fn bandwidth(shaping: &Value, name: &str) -> Result<Option<u64>, VimFault> {
    integer_field(shaping, name)
        .map(|value| {
            u64::try_from(value)
                .map_err(|_| VimFault::invalid_argument(format!("shapingPolicy.{name} {value} is negative")))
        })
        .transpose()
}

fn nic_order(teaming: &Value) -> Option<Teaming> {
    field(teaming, "nicOrder").map(|order| Teaming {
        active: strings(field(order, "activeNic")),
        standby: strings(field(order, "standbyNic")),
    })
}

/// `HostVirtualSwitchSpec` → the simulator's switch spec, with ESXi's wire semantics.
///
/// `current` is the switch as the host has it (`None` for `AddVirtualSwitch`).
/// - `numPorts` is required on an update [API]; a new switch without one gets 128 (the default
///   of esxnet, govc, Terraform and Ansible; ESXi's own: unverified). At most 1024 [API].
/// - `policy` unset: unchanged on an update [API]; ESXi's defaults ([`SwitchPolicy::default`]:
///   security all rejected, originating-port load balancing, notify, fail back, no beacon
///   probing, shaping off) on a new switch (AddVirtualSwitch's default: unverified, chosen to
///   match what esxnet's vSphere backend sends and the Host Client's vSwitch1 in D67).
/// - `policy` set: a field it leaves unset takes that default too (unverified; the stricter
///   reading, which catches a client that sends a partial policy).
/// - `bridge`: see [`bridge`]; unset `mtu` is 1500 (unverified; stricter than "unchanged").
/// - No spec at all (AddVirtualSwitch only): a switch with 128 ports, no uplinks, MTU 1500.
pub(crate) fn switch_spec(
    name: &str,
    spec: Option<&Value>,
    current: Option<&ObservedSwitch>,
) -> Result<SwitchSpec, VimFault> {
    let Some(spec) = spec.filter(|spec| spec.is_object()) else {
        if current.is_some() {
            return Err(VimFault::invalid_request("parameter spec is missing"));
        }
        return Ok(SwitchSpec {
            name: name.to_owned(),
            mtu: DEFAULT_MTU,
            uplinks: BTreeSet::new(),
            teaming: Teaming::default(),
            policy: None,
            teaming_policy: None,
            security: None,
        });
    };
    let num_ports = match (integer_field(spec, "numPorts"), current) {
        (Some(ports), _) => ports,
        (None, None) => i64::from(SwitchPolicy::DEFAULT_PORTS),
        (None, Some(_)) => {
            return Err(VimFault::invalid_request(
                "spec.numPorts is required by UpdateVirtualSwitch",
            ))
        }
    };
    let num_ports = u32::try_from(num_ports)
        .ok()
        .filter(|ports| (1..=MAXIMUM_SWITCH_PORTS).contains(ports))
        .ok_or_else(|| {
            VimFault::invalid_argument(format!("numPorts {num_ports} is outside 1–{MAXIMUM_SWITCH_PORTS}"))
        })?;
    let bridge = bridge(spec)?;
    let defaults = SwitchPolicy::default();
    let mut policy = SwitchPolicy {
        num_ports,
        beacon_interval: bridge.beacon_interval,
        link_discovery: bridge.link_discovery,
        ..defaults
    };
    let mut teaming = Teaming::default();
    match (field(spec, "policy"), current) {
        (None, Some(current)) => {
            policy.security = current.policy.security;
            policy.teaming = current.policy.teaming;
            policy.shaping = current.policy.shaping;
            teaming = current.teaming.clone();
        }
        (None, None) => {}
        (Some(sent), _) => {
            if let Some(security) = field(sent, "security") {
                policy.security = SecurityPolicy {
                    allow_promiscuous: bool_field(security, "allowPromiscuous").unwrap_or(false),
                    mac_changes: bool_field(security, "macChanges").unwrap_or(false),
                    forged_transmits: bool_field(security, "forgedTransmits").unwrap_or(false),
                };
            }
            if let Some(sent_teaming) = field(sent, "nicTeaming") {
                policy.teaming.load_balancing =
                    load_balancing(sent_teaming)?.unwrap_or(defaults.teaming.load_balancing);
                policy.teaming.notify_switches =
                    bool_field(sent_teaming, "notifySwitches").unwrap_or(defaults.teaming.notify_switches);
                policy.teaming.failback = bool_field(sent_teaming, "rollingOrder")
                    .map(|rolling| !rolling)
                    .unwrap_or(defaults.teaming.failback);
                policy.teaming.beacon_probing = field(sent_teaming, "failureCriteria")
                    .and_then(|criteria| bool_field(criteria, "checkBeacon"))
                    .unwrap_or(false);
                teaming = nic_order(sent_teaming).unwrap_or_default();
            }
            if let Some(shaping) = field(sent, "shapingPolicy") {
                policy.shaping = ShapingPolicy {
                    enabled: bool_field(shaping, "enabled").unwrap_or(false),
                    average_bandwidth: bandwidth(shaping, "averageBandwidth")?,
                    peak_bandwidth: bandwidth(shaping, "peakBandwidth")?,
                    burst_size: bandwidth(shaping, "burstSize")?,
                };
            }
        }
    }
    // Beacon probing needs the bridge's beacon: without one it is off.
    if policy.beacon_interval.is_none() {
        policy.teaming.beacon_probing = false;
    }
    // A teaming order that names an uplink no longer bridged keeps only the bridged ones, the
    // way an unchanged policy follows a new bridge (the simulator's teaming check would refuse
    // the stale names otherwise).
    if field(spec, "policy").is_none() {
        teaming.active.retain(|uplink| bridge.uplinks.contains(uplink));
        teaming.standby.retain(|uplink| bridge.uplinks.contains(uplink));
    }
    Ok(SwitchSpec {
        name: name.to_owned(),
        mtu: mtu(spec, DEFAULT_MTU)?,
        uplinks: bridge.uplinks,
        teaming,
        policy: Some(policy),
        teaming_policy: None,
        security: None,
    })
}

/// `HostPortGroupSpec` → (name, switch, VLAN, overrides). `policy` is the whole set of
/// overrides: every field it leaves unset (or sends as an empty sub-object) inherits from the
/// switch [API], so `UpdatePortGroup` with an empty policy wipes every override, as on ESXi.
pub(crate) fn port_group_spec(spec: &Value) -> Result<(String, String, u16, PortGroupPolicy), VimFault> {
    let name = required_string(spec, "name")?;
    let switch = required_string(spec, "vswitchName")?;
    let vlan = integer_field(spec, "vlanId").unwrap_or(0);
    let vlan = u16::try_from(vlan)
        .ok()
        .filter(|vlan| *vlan <= 4095)
        .ok_or_else(|| VimFault::invalid_argument(format!("vlanId {vlan} is outside 0–4095")))?;
    let mut overrides = PortGroupPolicy::default();
    if let Some(policy) = field(spec, "policy") {
        if let Some(security) = field(policy, "security") {
            overrides.security = SecurityOverride {
                allow_promiscuous: bool_field(security, "allowPromiscuous"),
                mac_changes: bool_field(security, "macChanges"),
                forged_transmits: bool_field(security, "forgedTransmits"),
            };
        }
        if let Some(teaming) = field(policy, "nicTeaming") {
            overrides.teaming = TeamingOverride {
                load_balancing: load_balancing(teaming)?,
                notify_switches: bool_field(teaming, "notifySwitches"),
                failback: bool_field(teaming, "rollingOrder").map(|rolling| !rolling),
                beacon_probing: field(teaming, "failureCriteria")
                    .and_then(|criteria| bool_field(criteria, "checkBeacon")),
                order: nic_order(teaming),
            };
        }
        if let Some(shaping) = field(policy, "shapingPolicy") {
            overrides.shaping = ShapingOverride {
                enabled: bool_field(shaping, "enabled"),
                average_bandwidth: bandwidth(shaping, "averageBandwidth")?,
                peak_bandwidth: bandwidth(shaping, "peakBandwidth")?,
                burst_size: bandwidth(shaping, "burstSize")?,
            };
        }
    }
    Ok((name.to_owned(), switch.to_owned(), vlan, overrides))
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

    fn vswitch1() -> ObservedSwitch {
        ObservedSwitch {
            name: "vSwitch1".into(),
            mtu: 1500,
            uplinks: BTreeSet::from(["vmnic1".into()]),
            teaming: Teaming {
                active: vec!["vmnic1".into()],
                standby: Vec::new(),
            },
            policy: SwitchPolicy {
                security: SecurityPolicy {
                    allow_promiscuous: true,
                    mac_changes: true,
                    forged_transmits: true,
                },
                teaming: esxnet_model::observed::TeamingPolicy {
                    beacon_probing: true,
                    ..Default::default()
                },
                ..SwitchPolicy::default()
            },
        }
    }

    #[test]
    fn update_virtual_switch_needs_num_ports_and_keeps_an_unset_policy() {
        let current = vswitch1();
        let no_ports = serde_json::json!({"mtu": 1500});
        assert_eq!(
            switch_spec("vSwitch1", Some(&no_ports), Some(&current))
                .unwrap_err()
                .type_name,
            "InvalidRequest"
        );
        let too_many = serde_json::json!({"numPorts": 4096});
        assert_eq!(
            switch_spec("vSwitch1", Some(&too_many), None).unwrap_err().type_name,
            "InvalidArgument"
        );
        let with_beacon = serde_json::json!({"numPorts": 128, "bridge": {"nicDevice": ["vmnic1"], "beacon": {"interval": 1},
            "linkDiscoveryProtocolConfig": {"protocol": "cdp", "operation": "listen"}}});
        let kept = switch_spec("vSwitch1", Some(&with_beacon), Some(&current)).unwrap();
        assert_eq!(kept.policy, Some(current.policy), "no policy sent: unchanged");
        assert_eq!(kept.teaming, current.teaming);
        // A bond bridge without a beacon: beacon probing off, the rest of the policy kept.
        let bare = serde_json::json!({"numPorts": 128, "bridge": {"nicDevice": ["vmnic1"]}});
        let policy = switch_spec("vSwitch1", Some(&bare), Some(&current))
            .unwrap()
            .policy
            .unwrap();
        assert!(!policy.teaming.beacon_probing);
        assert_eq!((policy.beacon_interval, policy.link_discovery), (None, None));
        assert_eq!(policy.security, current.policy.security);
        // No bridge: no uplinks.
        let unbridged = serde_json::json!({"numPorts": 128});
        assert!(switch_spec("vSwitch1", Some(&unbridged), Some(&current))
            .unwrap()
            .uplinks
            .is_empty());
    }

    #[test]
    fn a_port_group_policy_is_its_overrides_and_empty_sub_objects_inherit() {
        let spec = serde_json::json!({"name": "iSCSI-A", "vswitchName": "vSwitch1", "vlanId": 10, "policy": {
            "security": {}, "nicTeaming": {"failureCriteria": {}, "rollingOrder": true,
              "nicOrder": {"activeNic": ["vmnic1"], "standbyNic": ["vmnic2"]}},
            "offloadPolicy": {}, "shapingPolicy": {}}});
        let (_, _, vlan, policy) = port_group_spec(&spec).unwrap();
        assert_eq!(vlan, 10);
        assert!(policy.security.is_empty() && policy.shaping.is_empty());
        assert_eq!(policy.teaming.failback, Some(false));
        assert_eq!(policy.teaming.beacon_probing, None);
        assert_eq!(
            policy.teaming.order,
            Some(Teaming {
                active: vec!["vmnic1".into()],
                standby: vec!["vmnic2".into()],
            })
        );
        let bad = serde_json::json!({"name": "x", "vswitchName": "vSwitch1",
            "policy": {"nicTeaming": {"policy": "loadbalance_nonsense"}}});
        assert_eq!(port_group_spec(&bad).unwrap_err().type_name, "InvalidArgument");
    }
}

//! Lowering `vim_rs` network info into esxnet's [`ObservedHost`]. Pure: no IO.
//!
//! Choices worth knowing:
//! - Stacks and adapters on custom (non-system) TCP/IP stacks are left out: esxnet manages the
//!   three system stacks only.
//! - Uplinks are a set, read from the bond bridge's `nicDevice` (or, failing that, the switch's
//!   `pnic` keys); teaming keeps ESXi's order.
//! - A switch's policy (security, teaming policy, shaping, beacon, link discovery, `numPorts`) and
//!   a port group's overrides are observed but not managed; a port group's empty sub-objects
//!   (how ESXi reports what it does not override) read as "inherit".
//! - A stack's `routes` hold its static routes only. ESXi lists its own routes in the same
//!   `routeTableConfig` (every entry with `changeOperation: "ignore"`, static or not), so an entry is
//!   a system route, and left out, when any of these holds ([`is_system_route`]):
//!   - its prefix length is 0 (`0.0.0.0/0`, `::/0`): a default route, managed as the stack's gateway
//!     (and learned from router advertisement for IPv6);
//!   - its gateway is unspecified (`0.0.0.0`, `::`): a connected subnet of an adapter;
//!   - its gateway is a loopback address (`::1`, `127.0.0.0/8`) or its device a loopback interface
//!     (`lo0`);
//!   - its destination is link-local (`fe80::/10`, `169.254.0.0/16`) or multicast (`ff00::/8`,
//!     `224.0.0.0/4`), such as `ff01::/32` and `ff02::/32` via an adapter's link-local address.
//!
//!   A declared route of one of these shapes would be stripped the same way and never converge;
//!   the simulator refuses to add one, and validation is the place to refuse it up front.
//! - The IPv6 default gateway counts as learned from router advertisement when it is link-local,
//!   the stack names its device (`ipV6GatewayDevice`) and an adapter on the stack has router
//!   advertisement on: the wire has no flag for it, and a static link-local gateway on such a
//!   stack is the one case read wrongly (it is then not sent back on an unrelated gateway edit).
//! - DNS learned through DHCP (`HostDnsConfig.dhcp`) is marked so; host and domain names are kept
//!   to be sent back unchanged.
//! - `ipV6Enabled` absent counts as enabled (ESXi 6.5+ default); adapters without `ipV6Config`
//!   (IPv6 off) observe no IPv6 settings.
//! - Services come from `HostVirtualNicManager.info`; a server without that manager (vcsim) yields
//!   the services implied by the vMotion and Provisioning stacks only. The implied service is
//!   always added, as ESXi selects it by itself.
//! - Migrations in flight are not observed (`activeMigrations` stays empty).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use esxnet_model::common::{CongestionControl, Dns, EsxiVersion, Route, Service, StackKind};
use esxnet_model::observed::{
    DistributedPortGroup, DistributedSwitchMembership, Ipv6Origin, LinkDiscovery, LinkDiscoveryOperation,
    LinkDiscoveryProtocol, LoadBalancing, ObservedAdapter, ObservedHost, ObservedIpv4, ObservedIpv6,
    ObservedIpv6Address, ObservedPortGroup, ObservedStack, ObservedSwitch, PhysicalNic, PortConnection,
    PortGroupPolicy, SecurityOverride, ShapingOverride, SwitchPolicy, Teaming, TeamingOverride,
};
use ipnet::{IpNet, Ipv6Net};
use vim_rs::types::structs::{
    HostIpRouteConfig, HostIpRouteEntry, HostNetworkInfo, HostNetworkPolicy, HostNicOrderPolicy,
    HostRuntimeInfoNetworkRuntimeInfo, HostVirtualNic, HostVirtualNicManagerInfo, HostVirtualSwitch,
    HostVirtualSwitchBondBridge, HostVirtualSwitchSpec,
};
use vim_rs::types::traits::HostIpRouteConfigTrait;

/// ESXi's MTU when a switch or adapter reports none.
pub const DEFAULT_MTU: u32 = 1500;

/// ESXi's default connection limit of a stack.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 11000;

/// A distributed port group as read from its `config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributedPortGroupInfo {
    /// The UUID of its distributed switch.
    pub switch_uuid: String,
    /// The port group.
    pub port_group: DistributedPortGroup,
}

/// What the property collector answered for one host.
#[derive(Debug)]
pub struct RawHost {
    /// The `HostSystem` managed object id.
    pub host_system: String,
    /// Whether `network` includes `HostSystem.config.network` (read only from servers whose
    /// `networkInfo` lacks sections).
    pub reads_config_network: bool,
    /// `name`.
    pub name: String,
    /// `summary.config.product.version`.
    pub version: Option<String>,
    /// `config.network`.
    pub network: Option<HostNetworkInfo>,
    /// `runtime.networkRuntimeInfo`.
    pub runtime: Option<HostRuntimeInfoNetworkRuntimeInfo>,
    /// `configManager.networkSystem` moref id.
    pub network_system: Option<String>,
    /// `configManager.virtualNicManager` moref id.
    pub virtual_nic_manager: Option<String>,
    /// `network`: ids of the `DistributedVirtualPortgroup` objects the host sees.
    pub distributed_port_group_ids: Vec<String>,
    /// `runtime.connectionState`, when the server reports it.
    pub connection_state: Option<String>,
}

/// Combines `HostNetworkSystem.networkInfo` (`primary`) with `HostSystem.config.network`.
///
/// On ESXi and vCenter both hold the same data. govmomi's vcsim applies changes to the network
/// system's copy only, and that copy has only switches and port groups: so each section is taken
/// from `primary` where it has one and from `config.network` otherwise.
pub fn merge_network_info(primary: HostNetworkInfo, config_network: Option<HostNetworkInfo>) -> HostNetworkInfo {
    let Some(fallback) = config_network else {
        return primary;
    };
    HostNetworkInfo {
        vswitch: primary.vswitch.or(fallback.vswitch),
        proxy_switch: primary.proxy_switch.or(fallback.proxy_switch),
        portgroup: primary.portgroup.or(fallback.portgroup),
        pnic: primary.pnic.or(fallback.pnic),
        rdma_device: primary.rdma_device.or(fallback.rdma_device),
        vnic: primary.vnic.or(fallback.vnic),
        console_vnic: primary.console_vnic.or(fallback.console_vnic),
        dns_config: primary.dns_config.or(fallback.dns_config),
        ip_route_config: primary.ip_route_config.or(fallback.ip_route_config),
        console_ip_route_config: primary.console_ip_route_config.or(fallback.console_ip_route_config),
        route_table_info: primary.route_table_info.or(fallback.route_table_info),
        dhcp: primary.dhcp.or(fallback.dhcp),
        nat: primary.nat.or(fallback.nat),
        ip_v_6_enabled: primary.ip_v_6_enabled.or(fallback.ip_v_6_enabled),
        at_boot_ip_v_6_enabled: primary.at_boot_ip_v_6_enabled.or(fallback.at_boot_ip_v_6_enabled),
        net_stack_instance: primary.net_stack_instance.or(fallback.net_stack_instance),
        opaque_switch: primary.opaque_switch.or(fallback.opaque_switch),
        opaque_network: primary.opaque_network.or(fallback.opaque_network),
        nsx_transport_node_id: primary.nsx_transport_node_id.or(fallback.nsx_transport_node_id),
        nvds_to_vds_migration_required: primary
            .nvds_to_vds_migration_required
            .or(fallback.nvds_to_vds_migration_required),
        migration_status: primary.migration_status.or(fallback.migration_status),
    }
}

/// Whether a host's network info has every section observation lowers (physical NICs,
/// adapters and stacks): ESXi and vCenter always report them; vcsim's `networkInfo` does not.
pub fn is_complete_network_info(network: Option<&HostNetworkInfo>) -> bool {
    network
        .is_some_and(|network| network.pnic.is_some() && network.vnic.is_some() && network.net_stack_instance.is_some())
}

/// Reads an ESXi version leniently: `8.0.3`, `8.0`, or `8.0.3.0` (the first three parts).
pub fn parse_version(text: &str) -> Option<EsxiVersion> {
    let parts: Vec<u16> = text
        .trim()
        .split('.')
        .take(3)
        .map(|part| part.parse().ok())
        .collect::<Option<Vec<u16>>>()?;
    match parts.as_slice() {
        [major, minor] => Some(EsxiVersion::new(*major, *minor, 0)),
        [major, minor, patch] => Some(EsxiVersion::new(*major, *minor, *patch)),
        _ => None,
    }
}

/// The prefix length of a dotted subnet mask, if the mask is contiguous.
pub fn prefix_from_mask(mask: &str) -> Option<u8> {
    let bits = u32::from(mask.parse::<Ipv4Addr>().ok()?);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// The dotted subnet mask of a prefix length.
pub fn mask_from_prefix(prefix_length: u8) -> String {
    let bits = u32::MAX.checked_shl(32 - u32::from(prefix_length.min(32))).unwrap_or(0);
    Ipv4Addr::from(bits).to_string()
}

fn non_empty(text: Option<&String>) -> Option<&str> {
    text.map(String::as_str).filter(|text| !text.is_empty())
}

fn ipv4_of(text: Option<&String>) -> Option<Ipv4Addr> {
    non_empty(text)
        .and_then(|text| text.parse().ok())
        .filter(|address: &Ipv4Addr| !address.is_unspecified())
}

fn ipv6_of(text: Option<&String>) -> Option<Ipv6Addr> {
    non_empty(text)
        .and_then(|text| text.parse().ok())
        .filter(|address: &Ipv6Addr| !address.is_unspecified())
}

fn route_config(config: Option<&dyn HostIpRouteConfigTrait>) -> Option<&HostIpRouteConfig> {
    config.map(|config| config.get_host_ip_route_config())
}

fn mtu_of(mtu: Option<i32>) -> u32 {
    mtu.and_then(|mtu| u32::try_from(mtu).ok())
        .filter(|mtu| *mtu > 0)
        .unwrap_or(DEFAULT_MTU)
}

fn ipv6_origin(origin: Option<&str>) -> Ipv6Origin {
    match origin {
        Some("manual") | None => Ipv6Origin::Manual,
        Some("dhcp") => Ipv6Origin::Dhcp,
        Some("linklayer") => Ipv6Origin::Linklayer,
        Some("random") => Ipv6Origin::Random,
        Some(_) => Ipv6Origin::Other,
    }
}

fn is_ipv6_link_local(address: Ipv6Addr) -> bool {
    (address.segments()[0] & 0xffc0) == 0xfe80
}

/// Whether a `routeTableConfig` entry is one ESXi computes rather than a static route (the rule is
/// in the module documentation).
pub fn is_system_route(destination: IpNet, gateway: IpAddr, device: Option<&str>) -> bool {
    let loopback_device = device.is_some_and(|device| device.starts_with("lo"));
    let computed_destination = match destination.network() {
        IpAddr::V4(network) => network.is_link_local() || network.is_multicast(),
        IpAddr::V6(network) => is_ipv6_link_local(network) || network.is_multicast(),
    };
    destination.prefix_len() == 0
        || gateway.is_unspecified()
        || gateway.is_loopback()
        || loopback_device
        || computed_destination
}

/// The static route a `routeTableConfig` entry stands for, or `None` for a system route or an
/// entry that does not parse.
fn static_route(route: &HostIpRouteEntry) -> Option<Route> {
    let network: IpAddr = route.network.parse().ok()?;
    let prefix = u8::try_from(route.prefix_length).ok()?;
    let gateway: IpAddr = route.gateway.parse().ok()?;
    let destination = IpNet::new(network, prefix).ok()?.trunc();
    if is_system_route(destination, gateway, route.device_name.as_deref()) {
        return None;
    }
    Some(Route { destination, gateway })
}

fn map_switch(switch: &HostVirtualSwitch, pnic_devices: &BTreeMap<String, String>) -> ObservedSwitch {
    let bond = switch
        .spec
        .bridge
        .as_deref()
        .and_then(|bridge| bridge.as_any_ref().downcast_ref::<HostVirtualSwitchBondBridge>());
    let uplinks: BTreeSet<String> = match bond {
        Some(bond) => bond.nic_device.iter().cloned().collect(),
        None => switch
            .pnic
            .iter()
            .flatten()
            .map(|key| pnic_devices.get(key).cloned().unwrap_or_else(|| key.clone()))
            .collect(),
    };
    let order = switch
        .spec
        .policy
        .as_ref()
        .and_then(|policy| policy.nic_teaming.as_ref())
        .and_then(|teaming| teaming.nic_order.as_ref());
    let teaming = Teaming {
        active: order.and_then(|order| order.active_nic.clone()).unwrap_or_default(),
        standby: order.and_then(|order| order.standby_nic.clone()).unwrap_or_default(),
    };
    ObservedSwitch {
        name: switch.name.clone(),
        mtu: mtu_of(switch.mtu.or(switch.spec.mtu)),
        uplinks,
        teaming,
        policy: switch_policy(&switch.spec, bond),
    }
}

fn bandwidth(value: Option<i64>) -> Option<u64> {
    value.and_then(|value| u64::try_from(value).ok())
}

fn nic_order(order: &HostNicOrderPolicy) -> Teaming {
    Teaming {
        active: order.active_nic.clone().unwrap_or_default(),
        standby: order.standby_nic.clone().unwrap_or_default(),
    }
}

/// A switch's policy as the host reports it in `spec`. What the host leaves out reads as
/// [`SwitchPolicy::default`]; the bridge's beacon and link discovery are absent without a bond
/// bridge (an unknown protocol or operation reads as none).
pub fn switch_policy(spec: &HostVirtualSwitchSpec, bond: Option<&HostVirtualSwitchBondBridge>) -> SwitchPolicy {
    let defaults = SwitchPolicy::default();
    let mut policy = SwitchPolicy {
        num_ports: u32::try_from(spec.num_ports).unwrap_or(defaults.num_ports),
        beacon_interval: bond
            .and_then(|bond| bond.beacon.as_ref())
            .and_then(|beacon| u32::try_from(beacon.interval).ok()),
        link_discovery: bond
            .and_then(|bond| bond.link_discovery_protocol_config.as_ref())
            .and_then(|config| {
                let protocol = match config.protocol.as_str() {
                    "cdp" => LinkDiscoveryProtocol::Cdp,
                    "lldp" => LinkDiscoveryProtocol::Lldp,
                    _ => return None,
                };
                let operation = match config.operation.as_str() {
                    "listen" => LinkDiscoveryOperation::Listen,
                    "advertise" => LinkDiscoveryOperation::Advertise,
                    "both" => LinkDiscoveryOperation::Both,
                    "none" => LinkDiscoveryOperation::None,
                    _ => return None,
                };
                Some(LinkDiscovery { protocol, operation })
            }),
        ..defaults
    };
    let Some(network_policy) = spec.policy.as_ref() else {
        return policy;
    };
    if let Some(security) = network_policy.security.as_ref() {
        policy.security.allow_promiscuous = security.allow_promiscuous.unwrap_or(false);
        policy.security.mac_changes = security.mac_changes.unwrap_or(false);
        policy.security.forged_transmits = security.forged_transmits.unwrap_or(false);
    }
    if let Some(teaming) = network_policy.nic_teaming.as_ref() {
        if let Some(load_balancing) = teaming.policy.as_deref().and_then(LoadBalancing::from_api_name) {
            policy.teaming.load_balancing = load_balancing;
        }
        policy.teaming.notify_switches = teaming.notify_switches.unwrap_or(defaults.teaming.notify_switches);
        policy.teaming.failback = teaming
            .rolling_order
            .map(|rolling| !rolling)
            .unwrap_or(defaults.teaming.failback);
        policy.teaming.beacon_probing = teaming
            .failure_criteria
            .as_ref()
            .and_then(|criteria| criteria.check_beacon)
            .unwrap_or(false);
    }
    if let Some(shaping) = network_policy.shaping_policy.as_ref() {
        policy.shaping.enabled = shaping.enabled.unwrap_or(false);
        policy.shaping.average_bandwidth = bandwidth(shaping.average_bandwidth);
        policy.shaping.peak_bandwidth = bandwidth(shaping.peak_bandwidth);
        policy.shaping.burst_size = bandwidth(shaping.burst_size);
    }
    policy
}

/// A port group's overrides: every field its `spec.policy` sets. ESXi reports the fields it does
/// not override as empty sub-objects, which read as "inherit" here.
pub fn port_group_policy(policy: &HostNetworkPolicy) -> PortGroupPolicy {
    let mut overrides = PortGroupPolicy::default();
    if let Some(security) = policy.security.as_ref() {
        overrides.security = SecurityOverride {
            allow_promiscuous: security.allow_promiscuous,
            mac_changes: security.mac_changes,
            forged_transmits: security.forged_transmits,
        };
    }
    if let Some(teaming) = policy.nic_teaming.as_ref() {
        overrides.teaming = TeamingOverride {
            load_balancing: teaming.policy.as_deref().and_then(LoadBalancing::from_api_name),
            notify_switches: teaming.notify_switches,
            failback: teaming.rolling_order.map(|rolling| !rolling),
            beacon_probing: teaming
                .failure_criteria
                .as_ref()
                .and_then(|criteria| criteria.check_beacon),
            order: teaming.nic_order.as_ref().map(nic_order),
        };
    }
    if let Some(shaping) = policy.shaping_policy.as_ref() {
        overrides.shaping = ShapingOverride {
            enabled: shaping.enabled,
            average_bandwidth: bandwidth(shaping.average_bandwidth),
            peak_bandwidth: bandwidth(shaping.peak_bandwidth),
            burst_size: bandwidth(shaping.burst_size),
        };
    }
    overrides
}

fn map_ipv4(adapter: &HostVirtualNic) -> ObservedIpv4 {
    let gateway_override = adapter
        .spec
        .ip_route_spec
        .as_ref()
        .and_then(|route_spec| route_config(route_spec.ip_route_config.as_deref()))
        .and_then(|config| ipv4_of(config.default_gateway.as_ref()));
    let Some(ip) = adapter.spec.ip.as_deref() else {
        return ObservedIpv4 {
            gateway_override,
            ..ObservedIpv4::default()
        };
    };
    let ip = ip.get_host_ip_config();
    let (address, prefix_length) = if ip.dhcp {
        (None, None)
    } else {
        (
            ipv4_of(ip.ip_address.as_ref()),
            non_empty(ip.subnet_mask.as_ref()).and_then(prefix_from_mask),
        )
    };
    ObservedIpv4 {
        dhcp: ip.dhcp,
        address,
        prefix_length,
        gateway_override,
    }
}

fn map_ipv6(adapter: &HostVirtualNic) -> ObservedIpv6 {
    let gateway_override = adapter
        .spec
        .ip_route_spec
        .as_ref()
        .and_then(|route_spec| route_config(route_spec.ip_route_config.as_deref()))
        .and_then(|config| ipv6_of(config.ip_v_6_default_gateway.as_ref()));
    let config = adapter
        .spec
        .ip
        .as_deref()
        .and_then(|ip| ip.get_host_ip_config().ip_v_6_config.as_ref());
    let Some(config) = config else {
        return ObservedIpv6 {
            gateway_override,
            ..ObservedIpv6::default()
        };
    };
    let mut addresses: Vec<ObservedIpv6Address> = config
        .ip_v_6_address
        .iter()
        .flatten()
        .filter_map(|address| {
            let ip: Ipv6Addr = address.ip_address.parse().ok()?;
            let prefix = u8::try_from(address.prefix_length).ok()?;
            Some(ObservedIpv6Address {
                address: Ipv6Net::new(ip, prefix).ok()?,
                origin: ipv6_origin(address.origin.as_deref()),
            })
        })
        .collect();
    addresses.sort();
    addresses.dedup();
    ObservedIpv6 {
        dhcp: config.dhcp_v_6_enabled.unwrap_or(false),
        router_advertisement: config.auto_configuration_enabled.unwrap_or(false),
        addresses,
        gateway_override,
    }
}

/// The services each adapter is selected for, by device, from `HostVirtualNicManager.info`.
fn selected_services(
    info: &HostVirtualNicManagerInfo,
    key_to_device: &BTreeMap<&str, &str>,
) -> BTreeMap<String, BTreeSet<Service>> {
    let mut services: BTreeMap<String, BTreeSet<Service>> = BTreeMap::new();
    for config in info.net_config.iter().flatten() {
        let Some(service) = Service::from_api_name(&config.nic_type) else {
            continue;
        };
        for selected in config.selected_vnic.iter().flatten() {
            // `management.key-vim.host.VirtualNic-vmk0`: the nicType, a dot, then the adapter's key.
            let key = selected
                .strip_prefix(config.nic_type.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .unwrap_or(selected);
            let device = key_to_device
                .get(key)
                .map(|device| device.to_string())
                .or_else(|| key.rsplit_once('-').map(|(_, device)| device.to_owned()));
            if let Some(device) = device {
                services.entry(device).or_default().insert(service);
            }
        }
    }
    services
}

/// Lowers one host's raw properties into an [`ObservedHost`].
///
/// `services` is `None` when the server has no `HostVirtualNicManager`; `distributed_port_groups`
/// lists the port groups of the distributed switches the host may be a member of.
pub fn observed_host(
    raw: &RawHost,
    services: Option<&HostVirtualNicManagerInfo>,
    distributed_port_groups: &[DistributedPortGroupInfo],
) -> Result<ObservedHost, String> {
    let version_text = raw.version.as_deref().unwrap_or_default();
    let version = parse_version(version_text).ok_or_else(|| {
        format!(
            "host {} reports the product version `{version_text}`, which is not an ESXi version",
            raw.name
        )
    })?;
    let network = raw
        .network
        .as_ref()
        .ok_or_else(|| format!("host {} reports no network configuration (config.network)", raw.name))?;

    let physical_nics: Vec<PhysicalNic> = network
        .pnic
        .iter()
        .flatten()
        .map(|nic| PhysicalNic {
            device: nic.device.clone(),
            mac: nic.mac.clone(),
            link_speed_mb: nic
                .link_speed
                .as_ref()
                .and_then(|link| u32::try_from(link.speed_mb).ok()),
        })
        .collect();
    let pnic_devices: BTreeMap<String, String> = network
        .pnic
        .iter()
        .flatten()
        .filter_map(|nic| Some((nic.key.clone()?, nic.device.clone())))
        .collect();

    let switches: Vec<ObservedSwitch> = network
        .vswitch
        .iter()
        .flatten()
        .map(|switch| map_switch(switch, &pnic_devices))
        .collect();

    let port_groups: Vec<ObservedPortGroup> = network
        .portgroup
        .iter()
        .flatten()
        .map(|port_group| ObservedPortGroup {
            name: port_group.spec.name.clone(),
            switch: port_group.spec.vswitch_name.clone(),
            vlan: u16::try_from(port_group.spec.vlan_id).unwrap_or(0),
            policy: port_group_policy(&port_group.spec.policy),
        })
        .collect();

    let distributed_switches: Vec<DistributedSwitchMembership> = network
        .proxy_switch
        .iter()
        .flatten()
        .map(|proxy| {
            let mut port_groups: Vec<DistributedPortGroup> = distributed_port_groups
                .iter()
                .filter(|info| info.switch_uuid == proxy.dvs_uuid)
                .map(|info| info.port_group.clone())
                .collect();
            port_groups.sort_by(|left, right| left.name.cmp(&right.name));
            port_groups.dedup();
            DistributedSwitchMembership {
                name: proxy.dvs_name.clone(),
                uuid: proxy.dvs_uuid.clone(),
                mtu: mtu_of(proxy.mtu),
                port_groups,
            }
        })
        .collect();

    let key_to_device: BTreeMap<&str, &str> = network
        .vnic
        .iter()
        .flatten()
        .map(|adapter| (adapter.key.as_str(), adapter.device.as_str()))
        .collect();
    let selected = services.map(|info| selected_services(info, &key_to_device));

    let mut adapters = Vec::new();
    for adapter in network.vnic.iter().flatten() {
        let stack_key = non_empty(adapter.spec.net_stack_instance_key.as_ref()).unwrap_or(StackKind::Default.api_key());
        let Some(stack) = StackKind::from_api_key(stack_key) else {
            continue;
        };
        let connection = if !adapter.portgroup.is_empty() {
            let switch = port_groups
                .iter()
                .find(|port_group| port_group.name == adapter.portgroup)
                .map(|port_group| port_group.switch.clone())
                .unwrap_or_default();
            PortConnection::Standard {
                switch,
                port_group: adapter.portgroup.clone(),
            }
        } else if let Some(port) = adapter.spec.distributed_virtual_port.as_ref() {
            let membership = distributed_switches
                .iter()
                .find(|membership| membership.uuid == port.switch_uuid);
            let port_group_key = port.portgroup_key.clone().unwrap_or_default();
            let port_group = membership
                .and_then(|membership| membership.port_groups.iter().find(|group| group.key == port_group_key))
                .map(|group| group.name.clone())
                .unwrap_or(port_group_key);
            PortConnection::Distributed {
                switch: membership
                    .map(|membership| membership.name.clone())
                    .unwrap_or_else(|| port.switch_uuid.clone()),
                port_group,
            }
        } else {
            // Neither a standard nor a distributed port (an NSX opaque network): not esxnet's.
            continue;
        };
        let mut adapter_services: BTreeSet<Service> = selected
            .as_ref()
            .and_then(|selected| selected.get(&adapter.device))
            .cloned()
            .unwrap_or_default();
        adapter_services.extend(stack.implied_service());
        adapters.push(ObservedAdapter {
            device: adapter.device.clone(),
            connection,
            stack,
            mac: adapter.spec.mac.clone().unwrap_or_default(),
            mtu: mtu_of(adapter.spec.mtu),
            ipv4: map_ipv4(adapter),
            ipv6: map_ipv6(adapter),
            services: adapter_services,
            system_owned: adapter.spec.system_owned.unwrap_or(false),
            storage_bindings: Default::default(),
        });
    }

    let runtime_stacks: Option<BTreeMap<&str, Option<i32>>> = raw.runtime.as_ref().map(|runtime| {
        runtime
            .net_stack_instance_runtime_info
            .iter()
            .flatten()
            .filter(|info| info.state.as_deref() != Some("inactive"))
            .map(|info| (info.net_stack_instance_key.as_str(), info.max_number_of_connections))
            .collect()
    });
    let mut stacks = Vec::new();
    for instance in network.net_stack_instance.iter().flatten() {
        let Some(stack) = instance.key.as_deref().and_then(StackKind::from_api_key) else {
            continue;
        };
        let requested = instance
            .requested_max_number_of_connections
            .and_then(|limit| u32::try_from(limit).ok())
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        let runtime_entry = runtime_stacks.as_ref().map(|stacks| stacks.get(stack.api_key()));
        let instantiated = stack == StackKind::Default
            || match runtime_entry {
                Some(entry) => entry.is_some(),
                None => adapters.iter().any(|adapter| adapter.stack == stack),
            };
        let max_connections = runtime_entry
            .flatten()
            .copied()
            .flatten()
            .and_then(|limit| u32::try_from(limit).ok())
            .unwrap_or(requested);
        let gateways = route_config(instance.ip_route_config.as_deref());
        let dns = instance.dns_config.as_deref().map(|dns| dns.get_host_dns_config());
        let mut routes: Vec<Route> = instance
            .route_table_config
            .iter()
            .flat_map(|table| {
                table
                    .ip_route
                    .iter()
                    .flatten()
                    .chain(table.ipv_6_route.iter().flatten())
            })
            .filter(|operation| operation.change_operation != "remove")
            .filter_map(|operation| static_route(&operation.route))
            .collect();
        routes.sort();
        routes.dedup();
        let ipv6_gateway = gateways.and_then(|config| ipv6_of(config.ip_v_6_default_gateway.as_ref()));
        let ipv6_gateway_from_router_advertisement = ipv6_gateway.is_some_and(|gateway| {
            is_ipv6_link_local(gateway)
                && gateways.is_some_and(|config| non_empty(config.ip_v_6_gateway_device.as_ref()).is_some())
                && adapters
                    .iter()
                    .any(|adapter| adapter.stack == stack && adapter.ipv6.router_advertisement)
        });
        stacks.push(ObservedStack {
            stack,
            instantiated,
            ipv4_gateway: gateways.and_then(|config| ipv4_of(config.default_gateway.as_ref())),
            ipv6_gateway,
            ipv6_gateway_from_router_advertisement,
            dns: Dns {
                servers: dns
                    .map(|dns| {
                        dns.address
                            .iter()
                            .flatten()
                            .filter_map(|server| server.parse().ok())
                            .collect()
                    })
                    .unwrap_or_default(),
                search_domains: dns.and_then(|dns| dns.search_domain.clone()).unwrap_or_default(),
            },
            routes,
            max_connections,
            requested_max_connections: requested,
            congestion_control: match instance.congestion_control_algorithm.as_deref() {
                Some("cubic") => CongestionControl::Cubic,
                _ => CongestionControl::Newreno,
            },
            dns_from_dhcp: dns.is_some_and(|dns| dns.dhcp),
            dns_host_name: dns.map(|dns| dns.host_name.clone()).unwrap_or_default(),
            dns_domain_name: dns.map(|dns| dns.domain_name.clone()).unwrap_or_default(),
        });
    }
    stacks.sort_by_key(|stack| stack.stack);

    Ok(ObservedHost {
        name: raw.name.clone(),
        version,
        physical_nics,
        switches,
        port_groups,
        adapters,
        stacks,
        distributed_switches,
        active_migrations: Vec::new(),
        ipv6_enabled: network.ip_v_6_enabled.unwrap_or(true),
    })
}

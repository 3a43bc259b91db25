//! One simulated ESXi host: its observed networking state plus the vSphere methods that change it.
//!
//! Every method here stands for one vSphere API call and raises the fault ESXi raises. Where ESXi
//! is lenient (or where the reference leaves the behaviour unverified) the simulator is stricter, so
//! that wrong assumptions in the planner or executor fail in tests instead of in a datacenter.
//!
//! Every mutating method is all-or-nothing: when it fails the host is left exactly as it was.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use esxnet_executor::backend::{Ipv4Settings, Ipv6Settings, StackSettings};
use esxnet_executor::{Operation, OperationOutcome};
use esxnet_model::common::{CongestionControl, Dns, EsxiVersion, Route, Service, StackKind};
use esxnet_model::observed::{
    ActiveMigration, DistributedSwitchMembership, MigrationKind, ObservedAdapter, ObservedHost, ObservedIpv4,
    ObservedIpv6, ObservedIpv6Address, ObservedPortGroup, ObservedStack, ObservedSwitch, PhysicalNic, PortConnection,
    PortGroupPolicy, SecurityPolicy, SwitchPolicy, Teaming, TeamingPolicy,
};
use esxnet_planner::esxi;
use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// The version of the host and lab file formats this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The smallest MTU the simulator accepts (esxnet policy, ESX012).
pub const MINIMUM_MTU: u32 = 1280;
/// The largest MTU ESXi supports (jumbo frames).
pub const MAXIMUM_MTU: u32 = 9000;
/// ESXi's default connection limit of a TCP/IP stack.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 11000;
/// The longest standard switch name ESXi accepts.
pub const MAXIMUM_SWITCH_NAME_LENGTH: usize = 32;
/// The trunk VLAN ID (guest tagging), which VMkernel adapters may not use.
pub const TRUNK_VLAN: u16 = 4095;
/// How many hosts a lab can hold: each needs a unique management address in 10.10.0.0/16.
pub const MAXIMUM_HOSTS: u32 = 65_000;

/// The management network every new host's vmk0 lives in.
const MANAGEMENT_NETWORK_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 1);
const MANAGEMENT_PREFIX_LENGTH: u8 = 16;
/// Host 1 gets 10.10.0.10, leaving .1–.9 for gateways and services of the simulated network.
const FIRST_MANAGEMENT_HOST_OFFSET: u32 = 10;
/// The DNS server of the simulated management network, static on a fresh host as on D67.
const MANAGEMENT_DNS_SERVER: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 2);
/// The link-local address of the simulated management router, whose router advertisements give
/// every fresh host with IPv6 on its IPv6 default gateway (EUI-64 of MAC 00:1c:73:00:00:01).
const MANAGEMENT_ROUTER_LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x021c, 0x73ff, 0xfe00, 0x0001);
const PHYSICAL_NIC_COUNT: u32 = 4;
const PHYSICAL_LINK_SPEED_MB: u32 = 10_000;

/// State the simulator keeps about a host beyond what ESXi reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimState {
    /// The host's 1-based position in its lab; seeds its MAC and management addresses.
    pub index: u32,
    /// Serial of the next VMkernel MAC address to hand out.
    pub next_mac_serial: u32,
    /// Serial of the next migration task id.
    pub next_task_serial: u32,
}

/// The specification of a standard switch (`HostVirtualSwitchSpec` as esxnet uses it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchSpec {
    /// Switch name such as `vSwitch1`.
    pub name: String,
    /// MTU in bytes.
    pub mtu: u32,
    /// Physical NICs to bridge (the whole set).
    pub uplinks: BTreeSet<String>,
    /// Teaming order; empty means every uplink active, as ESXi does.
    pub teaming: Teaming,
    /// The rest of the spec (security, teaming policy, shaping, bridge settings, port count).
    /// `None` keeps the switch's policy on an update and gives a new switch
    /// [`SwitchPolicy::default`]; either way a switch without uplinks has no bridge, so no beacon
    /// and no link discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<SwitchPolicy>,
    /// Teaming policy to set over `policy` (or the switch's), as esxnet's read-modify-write
    /// `UpdateVirtualSwitch` sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teaming_policy: Option<TeamingPolicy>,
    /// Security policy to set over `policy` (or the switch's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecurityPolicy>,
}

impl SwitchSpec {
    /// The policy `base` becomes under this spec.
    fn policy_over(&self, base: SwitchPolicy) -> SwitchPolicy {
        let mut policy = self.policy.unwrap_or(base);
        policy.teaming = self.teaming_policy.unwrap_or(policy.teaming);
        policy.security = self.security.unwrap_or(policy.security);
        policy
    }
}

/// A switch policy fitted to the uplinks: without uplinks there is no bridge to carry a beacon or
/// link discovery; a bridge made for uplinks where there was none gets ESXi's (beacon 1 s, CDP
/// listen), as esxnet's vSphere backend sends it.
fn fit_bridge(mut policy: SwitchPolicy, had_uplinks: bool, uplinks: &BTreeSet<String>) -> SwitchPolicy {
    policy.teaming = esxi::effective_teaming_policy(uplinks, policy.teaming);
    if uplinks.is_empty() {
        policy.beacon_interval = None;
        policy.link_discovery = None;
    } else if !had_uplinks {
        let defaults = SwitchPolicy::default();
        policy.beacon_interval = policy.beacon_interval.or(defaults.beacon_interval);
        policy.link_discovery = policy.link_discovery.or(defaults.link_discovery);
    }
    policy
}

/// What `AddVirtualNic` is asked to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAdapter {
    /// Where to connect it.
    pub connection: PortConnection,
    /// The TCP/IP stack, fixed from now on.
    pub stack: StackKind,
    /// MTU.
    pub mtu: u32,
    /// IPv4 settings.
    pub ipv4: Ipv4Settings,
    /// IPv6 settings; `None` leaves ESXi's defaults (router advertisement from ESXi 6.5).
    pub ipv6: Option<Ipv6Settings>,
}

/// What `UpdateVirtualNic` is asked to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdapterUpdate {
    /// MTU.
    pub mtu: u32,
    /// IPv4 settings.
    pub ipv4: Ipv4Settings,
    /// IPv6 settings; `None` leaves them as they are.
    pub ipv6: Option<Ipv6Settings>,
    /// A stack to move the adapter to. ESXi cannot change an adapter's stack in place, so any
    /// stack other than the adapter's own is refused; the field exists so that callers who try
    /// find out the way they would on a real host.
    pub stack: Option<StackKind>,
}

/// How a freshly installed host differs from the default one (`esxnet sim init` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreshHostOptions {
    /// The ESXi release.
    pub version: EsxiVersion,
    /// The default stack's DNS was learned through DHCP (`HostDnsConfig.dhcp`) instead of set.
    pub dns_from_dhcp: bool,
    /// IPv6 is enabled on the host (ESXi's default); without it adapters have no IPv6 at all.
    pub ipv6_enabled: bool,
}

impl FreshHostOptions {
    /// A host of `version` as ESXi installs it: static DNS, IPv6 on.
    pub fn new(version: EsxiVersion) -> FreshHostOptions {
        FreshHostOptions {
            version,
            dns_from_dhcp: false,
            ipv6_enabled: true,
        }
    }
}

/// The gateways of a stack edit (`ipRouteConfig`): the section replaces both gateways, except that
/// an IPv6 gateway learned from router advertisement stays when no IPv6 gateway is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackGateways {
    /// IPv4 default gateway; `None` removes it.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 default gateway; `None` removes a static one.
    pub ipv6: Option<Ipv6Addr>,
}

/// The DNS section of a stack edit (`dnsConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEdit {
    /// DNS learned through DHCP: the servers sent are ignored and the learned ones kept.
    pub dhcp: bool,
    /// The DNS host name; sent blank, it becomes blank.
    pub host_name: String,
    /// The DNS domain name; sent blank, it becomes blank.
    pub domain_name: String,
    /// Servers and search domains.
    pub dns: Dns,
}

/// One route operation of a stack edit (`routeTableConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteChange {
    /// Add a static route.
    Add(Route),
    /// Remove a static route; ESXi's own routes cannot be removed.
    Remove(Route),
}

/// `UpdateNetworkConfig`'s edit of one stack, section by section: a section that is `None` (or an
/// empty route list) is not sent and stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackEdit {
    /// `ipRouteConfig`.
    pub gateways: Option<StackGateways>,
    /// `dnsConfig`.
    pub dns: Option<DnsEdit>,
    /// `routeTableConfig`'s operations.
    pub routes: Vec<RouteChange>,
    /// `requestedMaxNumberOfConnections`.
    pub requested_max_connections: Option<u32>,
    /// `congestionControlAlgorithm`.
    pub congestion_control: Option<CongestionControl>,
}

/// One simulated host: what ESXi reports plus the simulator's own bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimHost {
    /// The file format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// The host's networking as ESXi would report it.
    pub observed: ObservedHost,
    /// Simulator-only state.
    pub sim: SimState,
}

/// Formats 24 bits as the host part of a VMware OUI MAC address.
fn vmware_mac(low_bits: u32) -> String {
    format!(
        "00:50:56:{:02x}:{:02x}:{:02x}",
        (low_bits >> 16) & 0xff,
        (low_bits >> 8) & 0xff,
        low_bits & 0xff
    )
}

/// The EUI-64 link-local address ESXi computes from an adapter's MAC address.
fn link_local_from_mac(mac: &str) -> Option<Ipv6Net> {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|part| u8::from_str_radix(part, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    if bytes.len() != 6 {
        return None;
    }
    let address = Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([bytes[0] ^ 0x02, bytes[1]]),
        u16::from_be_bytes([bytes[2], 0xff]),
        u16::from_be_bytes([0xfe, bytes[3]]),
        u16::from_be_bytes([bytes[4], bytes[5]]),
    );
    Ipv6Net::new(address, 64).ok()
}

fn is_ipv6_link_local(address: Ipv6Addr) -> bool {
    (address.segments()[0] & 0xffc0) == 0xfe80
}

/// Checks an MTU against esxnet's supported range.
fn validate_mtu(mtu: u32, what: &str) -> Result<(), SimError> {
    if !(MINIMUM_MTU..=MAXIMUM_MTU).contains(&mtu) {
        return Err(SimError::invalid_argument(format!(
            "MTU {mtu} of {what} is outside {MINIMUM_MTU}–{MAXIMUM_MTU}: choose an MTU in that range"
        )));
    }
    Ok(())
}

fn validate_vlan(vlan: u16, port_group: &str) -> Result<(), SimError> {
    if vlan > TRUNK_VLAN {
        return Err(SimError::invalid_argument(format!(
            "VLAN {vlan} of port group \"{port_group}\" is outside 0–4095: use 0 (untagged), 1–4094 or 4095 (trunk)"
        )));
    }
    Ok(())
}

/// Checks IPv4 settings the way ESXi checks `HostIpConfig`, stricter where ESXi is lenient.
/// The most ports `spec.numPorts` may ask for (vSphere API reference).
pub const MAXIMUM_SWITCH_PORTS: u32 = 1024;

fn validate_switch_policy(policy: &SwitchPolicy, switch: &str) -> Result<(), SimError> {
    if !(1..=MAXIMUM_SWITCH_PORTS).contains(&policy.num_ports) {
        return Err(SimError::invalid_argument(format!(
            "numPorts {} of standard switch \"{switch}\" is outside 1–{MAXIMUM_SWITCH_PORTS}: send the switch's current numPorts",
            policy.num_ports
        )));
    }
    if policy.beacon_interval == Some(0) {
        return Err(SimError::invalid_argument(format!(
            "beacon interval 0 of standard switch \"{switch}\" is not valid: use at least 1 second"
        )));
    }
    Ok(())
}

/// A port group's teaming-order override lists each uplink once.
fn validate_port_group_policy(policy: &PortGroupPolicy, port_group: &str) -> Result<(), SimError> {
    if let Some(order) = &policy.teaming.order {
        let mut seen = BTreeSet::new();
        for uplink in order.active.iter().chain(&order.standby) {
            if !seen.insert(uplink) {
                return Err(SimError::invalid_argument(format!(
                    "teaming override of port group \"{port_group}\" names {uplink} twice: list each uplink once, active or standby"
                )));
            }
        }
    }
    Ok(())
}

/// A port group's failover order names only uplinks its switch bridges (the reference does not
/// say whether ESXi refuses others; the simulator stays the stricter choice).
fn validate_port_group_order(
    policy: &PortGroupPolicy,
    port_group: &str,
    switch: &ObservedSwitch,
) -> Result<(), SimError> {
    let Some(order) = &policy.teaming.order else {
        return Ok(());
    };
    match order
        .active
        .iter()
        .chain(&order.standby)
        .find(|uplink| !switch.uplinks.contains(*uplink))
    {
        Some(uplink) => Err(SimError::invalid_argument(format!(
            "teaming override of port group \"{port_group}\" names {uplink}, which standard switch \"{}\" does not bridge: add it to the switch or drop it from the override",
            switch.name
        ))),
        None => Ok(()),
    }
}

fn validate_ipv4(settings: &Ipv4Settings, device: &str) -> Result<(), SimError> {
    if settings.dhcp {
        if settings.address.is_some() || settings.prefix_length.is_some() {
            return Err(SimError::invalid_argument(format!(
                "{device}: DHCP carries no static address or prefix: drop them or turn DHCP off"
            )));
        }
    } else {
        let (Some(address), Some(prefix_length)) = (settings.address, settings.prefix_length) else {
            return Err(SimError::invalid_argument(format!(
                "{device}: static IPv4 needs both an address and a prefix length: give both or use DHCP"
            )));
        };
        if prefix_length == 0 || prefix_length > 32 {
            return Err(SimError::invalid_argument(format!(
                "{device}: IPv4 prefix length {prefix_length} is outside 1–32: use a prefix such as 24"
            )));
        }
        if address.is_unspecified() || address.is_multicast() || address.is_broadcast() || address.is_loopback() {
            return Err(SimError::invalid_argument(format!(
                "{device}: {address} cannot be a host address: use a unicast address"
            )));
        }
        if let Some(gateway) = settings.gateway_override {
            let subnet = Ipv4Net::new(address, prefix_length)
                .expect("prefix length checked above")
                .trunc();
            if !subnet.contains(&gateway) {
                return Err(SimError::invalid_argument(format!(
                    "{device}: gateway override {gateway} is outside the adapter's subnet {subnet}: use a gateway in that subnet"
                )));
            }
        }
    }
    Ok(())
}

fn validate_ipv6(settings: &Ipv6Settings, device: &str) -> Result<(), SimError> {
    for address in &settings.addresses {
        if address.prefix_len() == 0 || address.prefix_len() > 128 {
            return Err(SimError::invalid_argument(format!(
                "{device}: IPv6 prefix length {} of {address} is outside 1–128: use a prefix such as 64",
                address.prefix_len()
            )));
        }
        let host = address.addr();
        if host.is_unspecified() || host.is_multicast() || host.is_loopback() {
            return Err(SimError::invalid_argument(format!(
                "{device}: {host} cannot be a host address: use a unicast IPv6 address"
            )));
        }
    }
    if let Some(gateway) = settings.gateway_override {
        let reachable = is_ipv6_link_local(gateway)
            || settings.addresses.is_empty()
            || settings
                .addresses
                .iter()
                .any(|address| address.trunc().contains(&gateway));
        if !reachable {
            return Err(SimError::invalid_argument(format!(
                "{device}: IPv6 gateway override {gateway} is outside every static IPv6 subnet of the adapter: use a gateway in one of them or a link-local one"
            )));
        }
    }
    Ok(())
}

impl SimHost {
    /// A freshly installed host as `esxnet sim init` creates it: vmnic0–vmnic3, vSwitch0 with the
    /// "Management Network" port group and vmk0 on the default stack carrying management.
    ///
    /// `index` is the host's 1-based position in its lab; it makes MAC and management addresses
    /// unique across the lab.
    pub fn new_installed(name: &str, index: u32, version: EsxiVersion) -> Result<SimHost, SimError> {
        SimHost::new_installed_with(name, index, &FreshHostOptions::new(version))
    }

    /// A freshly installed host as a real ESXi host reports it (the D67 capture in the reference):
    /// vmk0 with vmnic0's MAC and, with IPv6 on, a link-local address, router advertisement and an
    /// IPv6 default gateway learned from the management router; static DNS on the default stack
    /// (or learned through DHCP); the vMotion and Provisioning stacks present but not instantiated.
    pub fn new_installed_with(name: &str, index: u32, options: &FreshHostOptions) -> Result<SimHost, SimError> {
        let version = options.version;
        if index == 0 || index > MAXIMUM_HOSTS {
            return Err(SimError::InvalidOptions {
                message: format!(
                    "host index {index} is outside 1–{MAXIMUM_HOSTS}: a lab holds at most {MAXIMUM_HOSTS} hosts"
                ),
            });
        }
        let physical_nics = (0..PHYSICAL_NIC_COUNT)
            .map(|number| PhysicalNic {
                device: format!("vmnic{number}"),
                // Bit 23 set: physical NICs, 4 per host, never collide with VMkernel MACs below.
                mac: vmware_mac(0x80_0000 | ((index * PHYSICAL_NIC_COUNT + number) & 0x7f_ffff)),
                link_speed_mb: Some(PHYSICAL_LINK_SPEED_MB),
            })
            .collect();
        let management_address = u32::from(MANAGEMENT_NETWORK_GATEWAY) - 1 + FIRST_MANAGEMENT_HOST_OFFSET + index - 1;
        let mut stacks: Vec<ObservedStack> = StackKind::ALL
            .into_iter()
            .filter(|stack| *stack != StackKind::Provisioning || version >= EsxiVersion::PROVISIONING_STACK)
            .map(|stack| ObservedStack {
                stack,
                instantiated: stack == StackKind::Default,
                ipv4_gateway: None,
                ipv6_gateway: None,
                ipv6_gateway_from_router_advertisement: false,
                dns: Dns::default(),
                routes: Vec::new(),
                max_connections: DEFAULT_MAX_CONNECTIONS,
                requested_max_connections: DEFAULT_MAX_CONNECTIONS,
                congestion_control: CongestionControl::Newreno,
                dns_from_dhcp: false,
                dns_host_name: String::new(),
                dns_domain_name: String::new(),
            })
            .collect();
        let (host_name, domain_name) = name.split_once('.').unwrap_or((name, ""));
        let default_stack = &mut stacks[0];
        default_stack.ipv4_gateway = Some(MANAGEMENT_NETWORK_GATEWAY);
        default_stack.dns = Dns {
            servers: vec![IpAddr::V4(MANAGEMENT_DNS_SERVER)],
            search_domains: Vec::new(),
        };
        default_stack.dns_from_dhcp = options.dns_from_dhcp;
        default_stack.dns_host_name = host_name.to_owned();
        default_stack.dns_domain_name = domain_name.to_owned();
        let mut host = SimHost {
            format_version: FORMAT_VERSION,
            observed: ObservedHost {
                name: name.to_owned(),
                version,
                physical_nics,
                // vSwitch0 and the Management Network as the D67 capture reports them.
                switches: vec![ObservedSwitch {
                    name: "vSwitch0".to_owned(),
                    mtu: 1500,
                    uplinks: BTreeSet::from(["vmnic0".to_owned()]),
                    teaming: Teaming {
                        active: vec!["vmnic0".to_owned()],
                        standby: Vec::new(),
                    },
                    policy: SwitchPolicy::installed_vswitch0(),
                }],
                port_groups: vec![ObservedPortGroup {
                    name: "Management Network".to_owned(),
                    switch: "vSwitch0".to_owned(),
                    vlan: 0,
                    policy: PortGroupPolicy::installed_management_network(),
                }],
                adapters: Vec::new(),
                stacks,
                distributed_switches: Vec::new(),
                active_migrations: Vec::new(),
                ipv6_enabled: options.ipv6_enabled,
            },
            sim: SimState {
                index,
                next_mac_serial: 0,
                next_task_serial: 1,
            },
        };
        let device = host.add_virtual_nic(&NewAdapter {
            connection: PortConnection::Standard {
                switch: "vSwitch0".to_owned(),
                port_group: "Management Network".to_owned(),
            },
            stack: StackKind::Default,
            mtu: 1500,
            ipv4: Ipv4Settings {
                dhcp: false,
                address: Some(Ipv4Addr::from(management_address)),
                prefix_length: Some(MANAGEMENT_PREFIX_LENGTH),
                gateway_override: None,
            },
            ipv6: None,
        })?;
        host.select_service(&device, Service::Management)?;
        // vmk0 takes vmnic0's MAC (D67, G65); later adapters get 00:50:56:… addresses.
        let vmnic0_mac = host.observed.physical_nics[0].mac.clone();
        let vmk0 = &mut host.observed.adapters[0];
        vmk0.mac = vmnic0_mac;
        if options.ipv6_enabled {
            let settings = Ipv6Settings {
                dhcp: false,
                router_advertisement: version.router_advertisement_default(),
                addresses: BTreeSet::new(),
                gateway_override: None,
            };
            vmk0.ipv6 = Self::observed_ipv6(&settings, &vmk0.mac);
            if vmk0.ipv6.router_advertisement {
                let default_stack = host.stack_mut(StackKind::Default);
                default_stack.ipv6_gateway = Some(MANAGEMENT_ROUTER_LINK_LOCAL);
                default_stack.ipv6_gateway_from_router_advertisement = true;
            }
        }
        Ok(host)
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.observed.name
    }

    /// The host's networking as ESXi reports it.
    pub fn observed(&self) -> &ObservedHost {
        &self.observed
    }

    /// The observed state, consuming the simulator's bookkeeping.
    pub fn into_observed(self) -> ObservedHost {
        self.observed
    }

    /// Runs a change so that a failure leaves the host untouched.
    fn transact<T>(&mut self, change: impl FnOnce(&mut SimHost) -> Result<T, SimError>) -> Result<T, SimError> {
        let before = self.clone();
        let result = change(self);
        if result.is_err() {
            *self = before;
        }
        result
    }

    fn stack_exists(&self, stack: StackKind) -> Result<&ObservedStack, SimError> {
        self.observed.stack(stack).ok_or_else(|| {
            SimError::not_found(format!(
                "the {stack} TCP/IP stack ({}) does not exist on host {} running ESXi {}: it needs ESXi {} or later; upgrade the host or use the default stack",
                stack.api_key(),
                self.observed.name,
                self.observed.version,
                EsxiVersion::PROVISIONING_STACK
            ))
        })
    }

    fn stack_mut(&mut self, stack: StackKind) -> &mut ObservedStack {
        self.observed
            .stacks
            .iter_mut()
            .find(|observed| observed.stack == stack)
            .expect("callers check that the stack exists first")
    }

    fn adapter_index(&self, device: &str) -> Result<usize, SimError> {
        self.observed
            .adapters
            .iter()
            .position(|adapter| adapter.device == device)
            .ok_or_else(|| {
                SimError::not_found(format!(
                    "host {} has no VMkernel adapter {device}: observe the host to see its adapters",
                    self.observed.name
                ))
            })
    }

    fn switch_index(&self, name: &str) -> Result<usize, SimError> {
        self.observed
            .switches
            .iter()
            .position(|switch| switch.name == name)
            .ok_or_else(|| {
                SimError::not_found(format!(
                    "host {} has no standard switch \"{name}\": add it first or check the name",
                    self.observed.name
                ))
            })
    }

    fn port_group_index(&self, name: &str) -> Result<usize, SimError> {
        self.observed
            .port_groups
            .iter()
            .position(|port_group| port_group.name == name)
            .ok_or_else(|| {
                SimError::not_found(format!(
                    "host {} has no standard port group \"{name}\": add it first or check the name",
                    self.observed.name
                ))
            })
    }

    /// Adapters connected to a port group of the given standard switch.
    fn adapters_on_switch<'host>(&'host self, switch: &'host str) -> impl Iterator<Item = &'host ObservedAdapter> {
        self.observed.adapters.iter().filter(
            move |adapter| matches!(&adapter.connection, PortConnection::Standard { switch: on, .. } if on == switch),
        )
    }

    fn adapter_on_port_group(&self, port_group: &str) -> Option<&ObservedAdapter> {
        self.observed.adapters.iter().find(|adapter| {
            matches!(&adapter.connection, PortConnection::Standard { port_group: on, .. } if on == port_group)
        })
    }

    /// Checks a switch spec's uplinks and teaming against the host; `switch_name` may already own
    /// some of the uplinks.
    fn validate_switch_spec(&self, spec: &SwitchSpec) -> Result<Teaming, SimError> {
        let name = &spec.name;
        if name.is_empty() || name.chars().count() > MAXIMUM_SWITCH_NAME_LENGTH {
            return Err(SimError::invalid_argument(format!(
                "standard switch name \"{name}\" must have 1–{MAXIMUM_SWITCH_NAME_LENGTH} characters: choose a shorter name"
            )));
        }
        validate_mtu(spec.mtu, &format!("standard switch \"{name}\""))?;
        for uplink in &spec.uplinks {
            if self.observed.physical_nic(uplink).is_none() {
                return Err(SimError::not_found(format!(
                    "host {} has no physical NIC {uplink} for standard switch \"{name}\": use one of {}",
                    self.observed.name,
                    self.physical_nic_names()
                )));
            }
            if let Some(owner) = self
                .observed
                .switches
                .iter()
                .find(|switch| switch.name != *name && switch.uplinks.contains(uplink))
            {
                return Err(SimError::in_use(format!(
                    "physical NIC {uplink} is already bridged by standard switch \"{}\": remove it there first or choose another NIC",
                    owner.name
                )));
            }
        }
        let teaming = &spec.teaming;
        if teaming.active.is_empty() && teaming.standby.is_empty() {
            return Ok(esxi::effective_teaming(&spec.uplinks, teaming));
        }
        let mut seen = BTreeSet::new();
        for uplink in teaming.active.iter().chain(&teaming.standby) {
            if !spec.uplinks.contains(uplink) {
                return Err(SimError::invalid_argument(format!(
                    "teaming of standard switch \"{name}\" names {uplink}, which the switch does not bridge: add it to the uplinks or drop it from the teaming"
                )));
            }
            if !seen.insert(uplink) {
                return Err(SimError::invalid_argument(format!(
                    "teaming of standard switch \"{name}\" names {uplink} twice: list each uplink once, active or standby"
                )));
            }
        }
        Ok(teaming.clone())
    }

    fn physical_nic_names(&self) -> String {
        let names: Vec<&str> = self
            .observed
            .physical_nics
            .iter()
            .map(|nic| nic.device.as_str())
            .collect();
        names.join(", ")
    }

    /// `AddVirtualSwitch`.
    pub fn add_virtual_switch(&mut self, spec: &SwitchSpec) -> Result<(), SimError> {
        self.transact(|host| {
            if host.observed.switch(&spec.name).is_some() {
                return Err(SimError::already_exists(format!(
                    "host {} already has a standard switch \"{}\": update it instead",
                    host.observed.name, spec.name
                )));
            }
            let teaming = host.validate_switch_spec(spec)?;
            let policy = spec.policy_over(SwitchPolicy::default());
            validate_switch_policy(&policy, &spec.name)?;
            host.observed.switches.push(ObservedSwitch {
                name: spec.name.clone(),
                mtu: spec.mtu,
                uplinks: spec.uplinks.clone(),
                teaming,
                policy: fit_bridge(policy, true, &spec.uplinks),
            });
            Ok(())
        })
    }

    /// `UpdateVirtualSwitch` with the whole spec; a spec without a policy keeps the switch's.
    pub fn update_virtual_switch(&mut self, spec: &SwitchSpec) -> Result<(), SimError> {
        self.transact(|host| {
            let index = host.switch_index(&spec.name)?;
            let teaming = host.validate_switch_spec(spec)?;
            if let Some(adapter) = host.adapters_on_switch(&spec.name).find(|adapter| adapter.mtu > spec.mtu) {
                return Err(SimError::invalid_argument(format!(
                    "MTU {} of standard switch \"{}\" is below the MTU {} of adapter {} on it: lower the adapter's MTU first",
                    spec.mtu, spec.name, adapter.mtu, adapter.device
                )));
            }
            let switch = &mut host.observed.switches[index];
            // A bridge made where there was none gets ESXi's settings only when the caller
            // sent no policy; a sent bridge without a beacon has none.
            let had_uplinks = !switch.uplinks.is_empty() || spec.policy.is_some();
            let policy = spec.policy_over(switch.policy);
            validate_switch_policy(&policy, &spec.name)?;
            switch.policy = fit_bridge(policy, had_uplinks, &spec.uplinks);
            switch.mtu = spec.mtu;
            switch.uplinks = spec.uplinks.clone();
            switch.teaming = teaming;
            Ok(())
        })
    }

    /// `RemoveVirtualSwitch`; its port groups go with it, as on ESXi.
    pub fn remove_virtual_switch(&mut self, name: &str) -> Result<(), SimError> {
        self.transact(|host| {
            host.switch_index(name)?;
            if let Some(adapter) = host.adapters_on_switch(name).next() {
                return Err(SimError::in_use(format!(
                    "standard switch \"{name}\" carries VMkernel adapter {} on port group \"{}\": remove or move the adapter first",
                    adapter.device,
                    adapter.connection.port_group()
                )));
            }
            esxi::remove_switch(&mut host.observed, name);
            Ok(())
        })
    }

    /// `AddPortGroup` without overrides. Port group names are unique across the whole host.
    pub fn add_port_group(&mut self, name: &str, switch: &str, vlan: u16) -> Result<(), SimError> {
        self.add_port_group_with_policy(name, switch, vlan, &PortGroupPolicy::default())
    }

    /// `AddPortGroup` with the overrides `policy` sets (unset fields inherit from the switch).
    pub fn add_port_group_with_policy(
        &mut self,
        name: &str,
        switch: &str,
        vlan: u16,
        policy: &PortGroupPolicy,
    ) -> Result<(), SimError> {
        self.transact(|host| {
            validate_port_group_policy(policy, name)?;
            if name.is_empty() {
                return Err(SimError::invalid_argument("a port group needs a name: give it one"));
            }
            validate_vlan(vlan, name)?;
            if let Some(existing) = host.observed.port_group(name) {
                return Err(SimError::already_exists(format!(
                    "host {} already has a port group \"{name}\" on standard switch \"{}\": port group names are unique per host; choose another name",
                    host.observed.name, existing.switch
                )));
            }
            let switch_index = host.switch_index(switch)?;
            validate_port_group_order(policy, name, &host.observed.switches[switch_index])?;
            host.observed.port_groups.push(ObservedPortGroup {
                name: name.to_owned(),
                switch: switch.to_owned(),
                vlan,
                policy: policy.clone(),
            });
            Ok(())
        })
    }

    /// Changes a port group's VLAN or moves it to another standard switch, keeping every policy
    /// override (a simulator control; esxnet's own `UpdatePortGroup` also sets the teaming and
    /// security overrides, see [`SimHost::apply`]).
    pub fn update_port_group(&mut self, name: &str, switch: &str, vlan: u16) -> Result<(), SimError> {
        self.change_port_group(name, switch, vlan, None)
    }

    /// `UpdatePortGroup` as ESXi performs it: a full replace, so the overrides become exactly
    /// `policy` and every field it leaves unset inherits from the switch.
    pub fn replace_port_group(
        &mut self,
        name: &str,
        switch: &str,
        vlan: u16,
        policy: &PortGroupPolicy,
    ) -> Result<(), SimError> {
        self.change_port_group(name, switch, vlan, Some(policy))
    }

    fn change_port_group(
        &mut self,
        name: &str,
        switch: &str,
        vlan: u16,
        policy: Option<&PortGroupPolicy>,
    ) -> Result<(), SimError> {
        self.transact(|host| {
            validate_vlan(vlan, name)?;
            if let Some(policy) = policy {
                validate_port_group_policy(policy, name)?;
            }
            let index = host.port_group_index(name)?;
            let switch_index = host.switch_index(switch)?;
            if let Some(policy) = policy {
                validate_port_group_order(policy, name, &host.observed.switches[switch_index])?;
            }
            let switch_mtu = host.observed.switches[switch_index].mtu;
            if let Some(adapter) = host.adapter_on_port_group(name) {
                if vlan == TRUNK_VLAN {
                    return Err(SimError::invalid_argument(format!(
                        "port group \"{name}\" carries VMkernel adapter {}; VLAN 4095 (trunk) is for VM traffic only: use a VLAN in 0–4094",
                        adapter.device
                    )));
                }
                if adapter.mtu > switch_mtu {
                    return Err(SimError::invalid_argument(format!(
                        "adapter {} on port group \"{name}\" has MTU {}, above the MTU {switch_mtu} of standard switch \"{switch}\": raise the switch's MTU first",
                        adapter.device, adapter.mtu
                    )));
                }
            }
            if let Some(policy) = policy {
                host.observed.port_groups[index].policy = policy.clone();
            }
            esxi::put_port_group(&mut host.observed, name, switch, vlan);
            Ok(())
        })
    }

    /// `RemovePortGroup`.
    pub fn remove_port_group(&mut self, name: &str) -> Result<(), SimError> {
        self.transact(|host| {
            let index = host.port_group_index(name)?;
            if let Some(adapter) = host.adapter_on_port_group(name) {
                return Err(SimError::in_use(format!(
                    "port group \"{name}\" carries VMkernel adapter {}: remove the adapter first",
                    adapter.device
                )));
            }
            host.observed.port_groups.remove(index);
            Ok(())
        })
    }

    /// Records the membership of a distributed switch (what vCenter does when the host joins it);
    /// a simulator control, not a host API method.
    pub fn join_distributed_switch(&mut self, membership: DistributedSwitchMembership) -> Result<(), SimError> {
        self.transact(|host| {
            if host.observed.distributed_switch(&membership.name).is_some() {
                return Err(SimError::already_exists(format!(
                    "host {} is already a member of distributed switch \"{}\"",
                    host.observed.name, membership.name
                )));
            }
            validate_mtu(membership.mtu, &format!("distributed switch \"{}\"", membership.name))?;
            host.observed.distributed_switches.push(membership);
            Ok(())
        })
    }

    /// The MTU of the switch an adapter connection lands on, after checking the connection's target
    /// exists and may carry a VMkernel adapter.
    fn validate_connection(&self, connection: &PortConnection) -> Result<u32, SimError> {
        match connection {
            PortConnection::Standard { switch, port_group } => {
                let switch_mtu = self.observed.switches[self.switch_index(switch)?].mtu;
                let observed_port_group = &self.observed.port_groups[self.port_group_index(port_group)?];
                if observed_port_group.switch != *switch {
                    return Err(SimError::not_found(format!(
                        "port group \"{port_group}\" is on standard switch \"{}\", not \"{switch}\": connect to the switch it is on",
                        observed_port_group.switch
                    )));
                }
                if let Some(adapter) = self.adapter_on_port_group(port_group) {
                    return Err(SimError::already_exists(format!(
                        "port group \"{port_group}\" already carries VMkernel adapter {}: a standard port group holds one adapter; use another port group",
                        adapter.device
                    )));
                }
                if observed_port_group.vlan == TRUNK_VLAN {
                    return Err(SimError::invalid_argument(format!(
                        "port group \"{port_group}\" uses VLAN 4095 (trunk), which is for VM traffic only: give it a VLAN in 0–4094"
                    )));
                }
                Ok(switch_mtu)
            }
            PortConnection::Distributed { switch, port_group } => {
                let membership = self.observed.distributed_switch(switch).ok_or_else(|| {
                    SimError::not_found(format!(
                        "host {} is not a member of distributed switch \"{switch}\": add the host to the switch in vCenter first",
                        self.observed.name
                    ))
                })?;
                let distributed_port_group = membership
                    .port_groups
                    .iter()
                    .find(|candidate| candidate.name == *port_group)
                    .ok_or_else(|| {
                        SimError::not_found(format!(
                            "distributed switch \"{switch}\" has no port group \"{port_group}\": create it in vCenter first"
                        ))
                    })?;
                if distributed_port_group.vlan == TRUNK_VLAN {
                    return Err(SimError::invalid_argument(format!(
                        "distributed port group \"{port_group}\" uses VLAN 4095 (trunk), which is for VM traffic only: use another port group"
                    )));
                }
                Ok(membership.mtu)
            }
        }
    }

    fn next_adapter_mac(&mut self) -> String {
        // 15 bits of host index and 8 bits of serial: unique across labs up to 32767 hosts with
        // 256 adapters created each; beyond that MACs may repeat, which nothing in esxnet relies on.
        let serial = self.sim.next_mac_serial;
        self.sim.next_mac_serial = serial.wrapping_add(1);
        vmware_mac(((self.sim.index & 0x7fff) << 8) | (serial & 0xff))
    }

    fn observed_ipv4(settings: &Ipv4Settings) -> ObservedIpv4 {
        ObservedIpv4 {
            dhcp: settings.dhcp,
            address: settings.address,
            prefix_length: settings.prefix_length,
            gateway_override: settings.gateway_override,
        }
    }

    /// The IPv6 state ESXi reports for the given settings: the manual addresses, plus the EUI-64
    /// link-local address whenever IPv6 is in use on the adapter at all.
    fn observed_ipv6(settings: &Ipv6Settings, mac: &str) -> ObservedIpv6 {
        let in_use = settings.dhcp || settings.router_advertisement || !settings.addresses.is_empty();
        let mut addresses = Vec::new();
        if in_use {
            if let Some(link_local) = link_local_from_mac(mac) {
                if !settings.addresses.contains(&link_local) {
                    addresses.push(ObservedIpv6Address {
                        address: link_local,
                        origin: esxnet_model::observed::Ipv6Origin::Linklayer,
                    });
                }
            }
        }
        addresses.extend(settings.addresses.iter().map(|address| ObservedIpv6Address {
            address: *address,
            origin: esxnet_model::observed::Ipv6Origin::Manual,
        }));
        ObservedIpv6 {
            dhcp: settings.dhcp,
            router_advertisement: settings.router_advertisement,
            addresses,
            gateway_override: settings.gateway_override,
        }
    }

    /// IPv6 in use on an adapter of a host with IPv6 disabled is `InvalidState`, as ESXi answers
    /// for IPv6 on an IPv4-only host; settings with IPv6 entirely off are accepted.
    fn check_ipv6_enabled(&self, settings: &Ipv6Settings, device: &str) -> Result<(), SimError> {
        let in_use = settings.dhcp
            || settings.router_advertisement
            || !settings.addresses.is_empty()
            || settings.gateway_override.is_some();
        if in_use && !self.observed.ipv6_enabled {
            return Err(SimError::invalid_state(format!(
                "{device}: IPv6 is disabled on host {}: enable IPv6 on the host (it takes a reboot) or leave IPv6 off on the adapter",
                self.observed.name
            )));
        }
        Ok(())
    }

    /// `AddVirtualNic`: creates an adapter and answers with its device name, the lowest free `vmkN`.
    ///
    /// The first adapter on the vMotion or Provisioning stack instantiates that stack (it stays
    /// instantiated after its last adapter goes) and, as the seed's "Results" say, deactivates the
    /// stack's service on every default-stack adapter. Migrations in flight are left alone.
    pub fn add_virtual_nic(&mut self, spec: &NewAdapter) -> Result<String, SimError> {
        self.transact(|host| {
            host.stack_exists(spec.stack)?;
            let device = esxi::next_free_device(&host.observed);
            let switch_mtu = host.validate_connection(&spec.connection)?;
            validate_mtu(spec.mtu, &format!("new adapter {device}"))?;
            if spec.mtu > switch_mtu {
                return Err(SimError::invalid_argument(format!(
                    "adapter MTU {} is above the MTU {switch_mtu} of switch \"{}\": raise the switch's MTU first or lower the adapter's",
                    spec.mtu,
                    spec.connection.switch()
                )));
            }
            validate_ipv4(&spec.ipv4, &device)?;
            let ipv6_settings = match &spec.ipv6 {
                Some(settings) => {
                    host.check_ipv6_enabled(settings, &device)?;
                    validate_ipv6(settings, &device)?;
                    settings.clone()
                }
                None => Ipv6Settings {
                    dhcp: false,
                    router_advertisement: esxi::default_router_advertisement(&host.observed),
                    addresses: BTreeSet::new(),
                    gateway_override: None,
                },
            };
            let mac = host.next_adapter_mac();
            let adapter = ObservedAdapter {
                device: device.clone(),
                connection: spec.connection.clone(),
                stack: spec.stack,
                ipv6: Self::observed_ipv6(&ipv6_settings, &mac),
                mac,
                mtu: spec.mtu,
                ipv4: Self::observed_ipv4(&spec.ipv4),
                services: esxi::new_adapter_services(spec.stack),
                system_owned: false,
                storage_bindings: Default::default(),
            };
            esxi::add_adapter(&mut host.observed, adapter);
            Ok(device)
        })
    }

    /// `UpdateVirtualNic`. The stack cannot change in place: asking for another one is refused.
    pub fn update_virtual_nic(&mut self, device: &str, update: &AdapterUpdate) -> Result<(), SimError> {
        self.transact(|host| {
            let index = host.adapter_index(device)?;
            let current = &host.observed.adapters[index];
            if let Some(stack) = update.stack {
                if stack != current.stack {
                    return Err(SimError::invalid_argument(format!(
                        "adapter {device} is on the {} stack and an adapter's TCP/IP stack cannot change after creation: remove the adapter and add it again on the {stack} stack",
                        current.stack
                    )));
                }
            }
            validate_mtu(update.mtu, &format!("adapter {device}"))?;
            let connection = current.connection.clone();
            let switch_mtu = match &connection {
                PortConnection::Standard { switch, .. } => host.observed.switches[host.switch_index(switch)?].mtu,
                PortConnection::Distributed { switch, .. } => host
                    .observed
                    .distributed_switch(switch)
                    .map(|membership| membership.mtu)
                    .unwrap_or(MAXIMUM_MTU),
            };
            if update.mtu > switch_mtu {
                return Err(SimError::invalid_argument(format!(
                    "adapter MTU {} of {device} is above the MTU {switch_mtu} of switch \"{}\": raise the switch's MTU first",
                    update.mtu,
                    connection.switch()
                )));
            }
            validate_ipv4(&update.ipv4, device)?;
            if let Some(settings) = &update.ipv6 {
                host.check_ipv6_enabled(settings, device)?;
                validate_ipv6(settings, device)?;
            }
            let adapter = &mut host.observed.adapters[index];
            adapter.mtu = update.mtu;
            adapter.ipv4 = Self::observed_ipv4(&update.ipv4);
            if let Some(settings) = &update.ipv6 {
                adapter.ipv6 = Self::observed_ipv6(settings, &adapter.mac);
            }
            Ok(())
        })
    }

    /// `RemoveVirtualNic`. An adapter carrying a migration in flight is refused.
    pub fn remove_virtual_nic(&mut self, device: &str) -> Result<(), SimError> {
        self.transact(|host| {
            let index = host.adapter_index(device)?;
            if let Some(migration) = host
                .observed
                .active_migrations
                .iter()
                .find(|migration| migration.adapter == device)
            {
                return Err(SimError::in_use(format!(
                    "adapter {device} carries migration {} in flight: wait for it to complete, then remove the adapter",
                    migration.id
                )));
            }
            // The reference does not say which of these ESXi refuses itself (an iSCSI-bound vmknic
            // is known to be refused); the simulator stays the stricter choice and refuses all.
            let adapter = &host.observed.adapters[index];
            if adapter.system_owned {
                return Err(SimError::in_use(format!(
                    "adapter {device} is owned by the system: it cannot be removed through the network system"
                )));
            }
            if let Some(binding) = adapter.storage_bindings.iter().next() {
                return Err(SimError::in_use(format!(
                    "adapter {device} is {binding}: unbind it from the storage first, then remove it"
                )));
            }
            host.observed.adapters.remove(index);
            Ok(())
        })
    }

    /// An edit of one stack to the whole managed state `settings`, as the executor sends it
    /// through `sim:`: it becomes the [`StackEdit`] a careful vSphere client sends, only the
    /// sections that differ from the stack now. So DNS learned through DHCP stays learned unless the
    /// DNS servers or search domains change, and an IPv6 gateway learned from router advertisement
    /// stays learned unless the IPv6 gateway changes.
    pub fn edit_stack(&mut self, stack: StackKind, settings: &StackSettings) -> Result<(), SimError> {
        let current = self.stack_exists(stack)?;
        let sections = esxi::stack_sections(current, &esxnet_executor::operations::stack_state(settings));
        let (removed, added) = sections.routes;
        let edit = StackEdit {
            gateways: sections.gateways.map(|(ipv4, ipv6)| StackGateways { ipv4, ipv6 }),
            dns: sections.dns.map(|dns| DnsEdit {
                dhcp: false,
                host_name: current.dns_host_name.clone(),
                domain_name: current.dns_domain_name.clone(),
                dns,
            }),
            routes: removed
                .into_iter()
                .map(RouteChange::Remove)
                .chain(added.into_iter().map(RouteChange::Add))
                .collect(),
            requested_max_connections: sections.requested_max_connections,
            congestion_control: sections.congestion_control,
        };
        self.update_stack(stack, &edit)
    }

    /// `UpdateNetworkConfig` with a `netStackSpec` edit of one stack: each section sent replaces
    /// what it covers, each section left out stays as it is.
    ///
    /// - Gateways: both are replaced; a missing IPv6 gateway removes a static one and keeps one
    ///   learned from router advertisement; an IPv6 gateway sent is static from then on, even when
    ///   it equals the learned one.
    /// - DNS: `dhcp: false` makes DNS static with the servers, search domains, host name and
    ///   domain name sent (blank names blank them); `dhcp: true` keeps the learned servers.
    /// - Routes: removing a route that is not a static route of the stack is `NotFound`, or
    ///   `InvalidArgument` for one of ESXi's own routes (connected, default, link-local,
    ///   multicast); the resulting static routes are checked as a whole.
    /// - IPv6 gateways and routes on a host with IPv6 disabled are `InvalidState`.
    ///
    /// The connection limit is only requested here; it takes effect at [`SimHost::reboot`].
    pub fn update_stack(&mut self, stack: StackKind, edit: &StackEdit) -> Result<(), SimError> {
        self.transact(|host| {
            let observed = host.stack_exists(stack)?;
            if !observed.instantiated {
                return Err(SimError::invalid_state(format!(
                    "the {stack} TCP/IP stack of host {} is not instantiated: add its first VMkernel adapter, then edit the stack",
                    host.observed.name
                )));
            }
            if edit.requested_max_connections == Some(0) {
                return Err(SimError::invalid_argument(format!(
                    "the {stack} stack's connection limit must be above 0: ESXi's default is {DEFAULT_MAX_CONNECTIONS}"
                )));
            }
            let ipv6_used = edit.gateways.as_ref().is_some_and(|gateways| gateways.ipv6.is_some())
                || edit.routes.iter().any(|change| match change {
                    RouteChange::Add(route) | RouteChange::Remove(route) => route.gateway.is_ipv6(),
                });
            if ipv6_used && !host.observed.ipv6_enabled {
                return Err(SimError::invalid_state(format!(
                    "IPv6 is disabled on host {}: enable IPv6 on the host (it takes a reboot) or drop the {stack} stack's IPv6 gateway and routes",
                    host.observed.name
                )));
            }
            if let Some(gateways) = &edit.gateways {
                host.validate_gateway_distinct(stack, gateways.ipv4)?;
            }
            let mut routes = observed.routes.clone();
            for change in &edit.routes {
                match change {
                    RouteChange::Add(route) => routes.push(route.clone()),
                    RouteChange::Remove(route) => match routes.iter().position(|existing| existing == route) {
                        Some(position) => {
                            routes.remove(position);
                        }
                        None if crate::routing::is_system_route(&host.observed, observed, route) => {
                            return Err(SimError::invalid_argument(format!(
                                "the route to {} via {} is ESXi's own route on the {stack} stack, not a static route: it cannot be removed",
                                route.destination, route.gateway
                            )));
                        }
                        None => {
                            return Err(SimError::not_found(format!(
                                "the {stack} stack has no static route to {} via {}: observe the host to see its routes",
                                route.destination, route.gateway
                            )));
                        }
                    },
                }
            }
            let routes = if edit.routes.is_empty() {
                routes
            } else {
                host.validate_routes(stack, &routes)?
            };
            let observed = host.stack_mut(stack);
            if let Some(gateways) = &edit.gateways {
                esxi::replace_gateways(observed, gateways.ipv4, gateways.ipv6);
            }
            if let Some(dns) = &edit.dns {
                esxi::replace_dns(observed, dns.dhcp, &dns.dns, &dns.host_name, &dns.domain_name);
            }
            observed.routes = routes;
            if let Some(limit) = edit.requested_max_connections {
                esxi::request_max_connections(observed, limit);
            }
            if let Some(algorithm) = edit.congestion_control {
                observed.congestion_control = algorithm;
            }
            Ok(())
        })
    }

    /// The provisioning stack's gateway must differ from the default stack's (ESX002); ESXi accepts
    /// the same gateway, the simulator refuses it, whichever of the two stacks is edited.
    fn validate_gateway_distinct(&self, stack: StackKind, gateway: Option<Ipv4Addr>) -> Result<(), SimError> {
        let other = match stack {
            StackKind::Default => StackKind::Provisioning,
            StackKind::Provisioning => StackKind::Default,
            StackKind::Vmotion => return Ok(()),
        };
        let Some(gateway) = gateway else { return Ok(()) };
        if self.observed.stack(other).and_then(|observed| observed.ipv4_gateway) == Some(gateway) {
            return Err(SimError::invalid_argument(format!(
                "gateway {gateway} of the {stack} stack equals the {other} stack's gateway: the provisioning stack needs its own gateway; choose a different one"
            )));
        }
        Ok(())
    }

    /// Checks routes (ESX019) and answers them sorted.
    fn validate_routes(&self, stack: StackKind, routes: &[Route]) -> Result<Vec<Route>, SimError> {
        let adapters: Vec<&ObservedAdapter> = self
            .observed
            .adapters
            .iter()
            .filter(|adapter| adapter.stack == stack)
            .collect();
        // Reachability can only be judged when every adapter's subnet is known.
        let ipv4_subnets: Option<Vec<Ipv4Net>> = (!adapters.is_empty())
            .then(|| {
                adapters
                    .iter()
                    .map(
                        |adapter| match (adapter.ipv4.dhcp, adapter.ipv4.address, adapter.ipv4.prefix_length) {
                            (false, Some(address), Some(prefix)) => {
                                Ipv4Net::new(address, prefix).ok().map(|net| net.trunc())
                            }
                            _ => None,
                        },
                    )
                    .collect()
            })
            .flatten();
        let ipv6_subnets: Option<Vec<Ipv6Net>> = (!adapters.is_empty()
            && adapters
                .iter()
                .all(|adapter| !adapter.ipv6.dhcp && !adapter.ipv6.router_advertisement))
        .then(|| {
            adapters
                .iter()
                .flat_map(|adapter| adapter.ipv6.manual_addresses())
                .map(|address| address.trunc())
                .collect()
        });
        let mut destinations = BTreeSet::new();
        for route in routes {
            let destination = route.destination;
            if destination != destination.trunc() {
                return Err(SimError::invalid_argument(format!(
                    "route destination {destination} has host bits set: write it as {}",
                    destination.trunc()
                )));
            }
            // The routes ESXi computes by itself have these shapes (see `routing`): observing
            // strips them, so a static one would never be seen again. ESXi's answer is
            // unverified; the simulator refuses them.
            let computed_destination = match destination.network() {
                IpAddr::V4(network) => network.is_link_local() || network.is_multicast(),
                IpAddr::V6(network) => is_ipv6_link_local(network) || network.is_multicast(),
            };
            if destination.prefix_len() == 0
                || computed_destination
                || route.gateway.is_unspecified()
                || route.gateway.is_loopback()
            {
                return Err(SimError::invalid_argument(format!(
                    "a route to {destination} via {} is one ESXi computes itself (default, connected, loopback, link-local or multicast), not a static route: set the stack's gateway for a default route, and route only unicast networks via a unicast gateway",
                    route.gateway
                )));
            }
            if !destinations.insert(destination) {
                return Err(SimError::invalid_argument(format!(
                    "the {stack} stack has two routes to {destination}: keep one"
                )));
            }
            let reachable = match (destination, route.gateway) {
                (ipnet::IpNet::V4(_), IpAddr::V4(gateway)) => {
                    ipv4_subnets.as_ref().is_none_or(|subnets| subnets.iter().any(|subnet| subnet.contains(&gateway)))
                }
                (ipnet::IpNet::V6(_), IpAddr::V6(gateway)) => {
                    is_ipv6_link_local(gateway)
                        || ipv6_subnets
                            .as_ref()
                            .is_none_or(|subnets| subnets.iter().any(|subnet| subnet.contains(&gateway)))
                }
                _ => {
                    return Err(SimError::invalid_argument(format!(
                        "route to {destination} has gateway {} of the other address family: use a gateway of the destination's family",
                        route.gateway
                    )))
                }
            };
            if !reachable {
                return Err(SimError::invalid_argument(format!(
                    "route to {destination}: gateway {} is not in a subnet of any adapter on the {stack} stack: use a gateway those adapters can reach",
                    route.gateway
                )));
            }
        }
        let mut sorted = routes.to_vec();
        sorted.sort();
        Ok(sorted)
    }

    /// `HostVirtualNicManager.SelectVnicForNicType`. Selecting a service already selected is a no-op.
    pub fn select_service(&mut self, device: &str, service: Service) -> Result<(), SimError> {
        self.transact(|host| {
            let index = host.adapter_index(device)?;
            let stack = host.observed.adapters[index].stack;
            if let Some(implied) = stack.implied_service() {
                if service != implied {
                    return Err(SimError::invalid_argument(format!(
                        "adapter {device} is on the {stack} stack, which carries {implied} only: put {service} on a default-stack adapter"
                    )));
                }
                return Ok(());
            }
            if let Some(dedicated_stack) = esxi::dedicated_stack_in_use(&host.observed, service) {
                return Err(SimError::invalid_state(format!(
                    "host {} has an adapter on the {dedicated_stack} stack, so {service} traffic uses that stack only: default-stack adapters cannot carry {service} while it exists",
                    host.observed.name
                )));
            }
            host.observed.adapters[index].services.insert(service);
            Ok(())
        })
    }

    /// `HostVirtualNicManager.DeselectVnicForNicType`.
    pub fn deselect_service(&mut self, device: &str, service: Service) -> Result<(), SimError> {
        self.transact(|host| {
            let index = host.adapter_index(device)?;
            let adapter = &mut host.observed.adapters[index];
            if adapter.stack.implied_service() == Some(service) {
                return Err(SimError::invalid_argument(format!(
                    "adapter {device} is on the {} stack and always carries {service}: remove the adapter to stop that traffic",
                    adapter.stack
                )));
            }
            if !adapter.services.remove(&service) {
                return Err(SimError::invalid_argument(format!(
                    "adapter {device} is not selected for {service}: nothing to deselect"
                )));
            }
            Ok(())
        })
    }

    fn parse_service(name: &str) -> Result<Service, SimError> {
        Service::from_api_name(name).ok_or_else(|| {
            let known: Vec<&str> = Service::ALL.iter().map(|service| service.api_name()).collect();
            SimError::invalid_argument(format!("unknown service \"{name}\": use one of {}", known.join(", ")))
        })
    }

    /// [`SimHost::select_service`] with the vSphere nicType string, as the API takes it.
    pub fn select_service_named(&mut self, device: &str, nic_type: &str) -> Result<(), SimError> {
        let service = Self::parse_service(nic_type)?;
        self.select_service(device, service)
    }

    /// [`SimHost::deselect_service`] with the vSphere nicType string, as the API takes it.
    pub fn deselect_service_named(&mut self, device: &str, nic_type: &str) -> Result<(), SimError> {
        let service = Self::parse_service(nic_type)?;
        self.deselect_service(device, service)
    }

    /// Simulates a reboot: requested connection limits take effect. Refused while migrations are
    /// in flight, as a host would need maintenance mode (which waits for them) first.
    pub fn reboot(&mut self) -> Result<(), SimError> {
        if let Some(migration) = self.observed.active_migrations.first() {
            return Err(SimError::invalid_state(format!(
                "host {} has migration {} in flight: complete the migrations before rebooting",
                self.observed.name, migration.id
            )));
        }
        esxi::reboot(&mut self.observed);
        Ok(())
    }

    /// Starts a migration over an adapter and records it in `active_migrations`; answers its id.
    ///
    /// A live migration needs an adapter selected for vMotion. Once the host has a
    /// provisioning-stack adapter, provisioning traffic (cold migration, cloning, snapshots) may
    /// only start over such an adapter (seed "Results").
    pub fn start_migration(&mut self, kind: MigrationKind, device: &str) -> Result<String, SimError> {
        self.transact(|host| {
            let index = host.adapter_index(device)?;
            let adapter = &host.observed.adapters[index];
            let stack = adapter.stack;
            let (service, dedicated_stack) = match kind {
                MigrationKind::Live => (Service::Vmotion, StackKind::Vmotion),
                MigrationKind::Provisioning => (Service::Provisioning, StackKind::Provisioning),
            };
            if stack != dedicated_stack && host.observed.has_adapter_on_stack(dedicated_stack) {
                return Err(SimError::invalid_state(format!(
                    "host {} has an adapter on the {dedicated_stack} stack, which now carries all {service} traffic: start the migration over that adapter",
                    host.observed.name
                )));
            }
            if kind == MigrationKind::Live && !adapter.services.contains(&Service::Vmotion) {
                return Err(SimError::invalid_state(format!(
                    "adapter {device} is not selected for vmotion: select it first or use a vMotion adapter"
                )));
            }
            let id = format!("task-{}", host.sim.next_task_serial);
            host.sim.next_task_serial += 1;
            host.observed.active_migrations.push(ActiveMigration {
                id: id.clone(),
                kind,
                stack,
                adapter: device.to_owned(),
            });
            Ok(id)
        })
    }

    /// Completes one migration in flight.
    pub fn complete_migration(&mut self, id: &str) -> Result<(), SimError> {
        let before = self.observed.active_migrations.len();
        self.observed.active_migrations.retain(|migration| migration.id != id);
        if self.observed.active_migrations.len() == before {
            return Err(SimError::not_found(format!(
                "host {} has no migration {id} in flight",
                self.observed.name
            )));
        }
        Ok(())
    }

    /// Completes every migration in flight; answers how many there were.
    pub fn complete_migrations(&mut self) -> usize {
        let count = self.observed.active_migrations.len();
        self.observed.active_migrations.clear();
        count
    }

    /// Performs one executor [`Operation`] as the vSphere method it stands for.
    pub fn apply(&mut self, operation: &Operation) -> Result<OperationOutcome, SimError> {
        let mut outcome = OperationOutcome::default();
        match operation {
            Operation::AddSwitch {
                name,
                mtu,
                uplinks,
                teaming,
                teaming_policy,
                security,
            } => self.add_virtual_switch(&SwitchSpec {
                name: name.clone(),
                mtu: *mtu,
                uplinks: uplinks.clone(),
                teaming: teaming.clone(),
                policy: None,
                teaming_policy: Some(*teaming_policy),
                security: Some(*security),
            })?,
            Operation::UpdateSwitch {
                name,
                mtu,
                uplinks,
                teaming,
                teaming_policy,
                security,
            } => self.update_virtual_switch(&SwitchSpec {
                name: name.clone(),
                mtu: *mtu,
                uplinks: uplinks.clone(),
                teaming: teaming.clone(),
                policy: None,
                teaming_policy: Some(*teaming_policy),
                security: Some(*security),
            })?,
            Operation::RemoveSwitch { name } => self.remove_virtual_switch(name)?,
            Operation::AddPortGroup {
                name,
                switch,
                vlan,
                teaming,
                security,
            } => self.add_port_group_with_policy(
                name,
                switch,
                *vlan,
                &PortGroupPolicy {
                    teaming: teaming.clone(),
                    security: *security,
                    ..PortGroupPolicy::default()
                },
            )?,
            Operation::UpdatePortGroup {
                name,
                switch,
                vlan,
                teaming,
                security,
            } => {
                // esxnet's read-modify-write: the shaping overrides it does not manage go back as read.
                let shaping = self
                    .observed
                    .port_group(name)
                    .map(|port_group| port_group.policy.shaping)
                    .unwrap_or_default();
                let policy = PortGroupPolicy {
                    teaming: teaming.clone(),
                    security: *security,
                    shaping,
                };
                self.replace_port_group(name, switch, *vlan, &policy)?
            }
            Operation::RemovePortGroup { name } => self.remove_port_group(name)?,
            Operation::AddAdapter {
                connection,
                stack,
                mtu,
                ipv4,
                ipv6,
            } => {
                outcome.created_device = Some(self.add_virtual_nic(&NewAdapter {
                    connection: connection.clone(),
                    stack: *stack,
                    mtu: *mtu,
                    ipv4: ipv4.clone(),
                    ipv6: ipv6.clone(),
                })?);
            }
            Operation::UpdateAdapter {
                device,
                mtu,
                ipv4,
                ipv6,
            } => self.update_virtual_nic(
                device,
                &AdapterUpdate {
                    mtu: *mtu,
                    ipv4: ipv4.clone(),
                    ipv6: ipv6.clone(),
                    stack: None,
                },
            )?,
            Operation::RemoveAdapter { device } => self.remove_virtual_nic(device)?,
            Operation::EditStack { stack, settings } => self.edit_stack(*stack, settings)?,
            Operation::SelectService { device, service } => self.select_service(device, *service)?,
            Operation::DeselectService { device, service } => self.deselect_service(device, *service)?,
        }
        Ok(outcome)
    }
}

//! The routing table ESXi reports for a TCP/IP stack (`routeTableConfig`): the stack's static
//! routes plus the routes ESXi computes from its adapters. Pure: no IO.
//!
//! The computed ("system") routes follow a freshly installed ESXi host (the D67 capture in the
//! reference on real hosts), per stack:
//!
//! - a connected route for each static IPv4 subnet and each IPv6 subnet of a global address of an
//!   adapter, via `0.0.0.0` or `::`;
//! - `0.0.0.0/0` via the IPv4 gateway and `::/0` via the IPv6 gateway, when set;
//! - for each adapter with IPv6 in use: `fe80::/64` via `::`, and `ff01::/32` and `ff02::/32` via
//!   the adapter's link-local address;
//! - on the default stack only, the loopback rows: `fe80::/64` via `::` and `ff01::/32`, `ff02::/32`
//!   via `::1`, all on `lo0`.
//!
//! IPv6 rows are left out on a host with IPv6 disabled. These routes are never stored: they are
//! computed from the adapters each time, so they follow the adapters, and the simulator refuses
//! to remove them as a static route.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use esxnet_model::common::Route;
use esxnet_model::observed::{ObservedHost, ObservedStack};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The loopback interface ESXi's own routes use.
pub const LOOPBACK_DEVICE: &str = "lo0";

/// One row of a stack's routing table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteTableEntry {
    /// Destination network.
    pub destination: IpNet,
    /// Next hop; unspecified for a connected subnet.
    pub gateway: IpAddr,
    /// The interface (`vmk0`, `lo0`).
    pub device: String,
    /// Whether ESXi computes the route (`false` for a static route).
    pub system: bool,
}

fn ipv6_net(text: &str) -> Ipv6Net {
    text.parse().expect("a literal IPv6 network")
}

fn is_ipv6_link_local(address: Ipv6Addr) -> bool {
    (address.segments()[0] & 0xffc0) == 0xfe80
}

/// The adapter a gateway is reached through: the first on the stack with a subnet holding it, else
/// the stack's first adapter.
fn device_for(host: &ObservedHost, stack: &ObservedStack, gateway: IpAddr) -> Option<String> {
    let on_stack = || host.adapters.iter().filter(|adapter| adapter.stack == stack.stack);
    let holding =
        on_stack().find(|adapter| match gateway {
            IpAddr::V4(gateway) => match (adapter.ipv4.address, adapter.ipv4.prefix_length) {
                (Some(address), Some(prefix)) => Ipv4Net::new(address, prefix).is_ok_and(|net| net.contains(&gateway)),
                _ => false,
            },
            IpAddr::V6(gateway) => {
                (is_ipv6_link_local(gateway) && adapter.ipv6.router_advertisement)
                    || adapter.ipv6.addresses.iter().any(|address| {
                        !is_ipv6_link_local(address.address.addr()) && address.address.contains(&gateway)
                    })
            }
        });
    holding
        .or_else(|| on_stack().next())
        .map(|adapter| adapter.device.clone())
}

/// The routing table of `stack` on `host`: static routes first, then ESXi's own, each group in
/// order. A stack that is not instantiated has no table at all (`None`).
pub fn route_table(host: &ObservedHost, stack: &ObservedStack) -> Option<Vec<RouteTableEntry>> {
    if !stack.instantiated {
        return None;
    }
    let mut statics: Vec<RouteTableEntry> = stack
        .routes
        .iter()
        .filter(|route| host.ipv6_enabled || route.gateway.is_ipv4())
        .map(|route| RouteTableEntry {
            destination: route.destination,
            gateway: route.gateway,
            device: device_for(host, stack, route.gateway).unwrap_or_default(),
            system: false,
        })
        .collect();
    statics.sort();
    let mut system = Vec::new();
    let mut add = |destination: IpNet, gateway: IpAddr, device: &str| {
        let entry = RouteTableEntry {
            destination,
            gateway,
            device: device.to_owned(),
            system: true,
        };
        if !system.contains(&entry) {
            system.push(entry);
        }
    };
    let adapters = host.adapters.iter().filter(|adapter| adapter.stack == stack.stack);
    for adapter in adapters.clone() {
        if let (false, Some(address), Some(prefix)) =
            (adapter.ipv4.dhcp, adapter.ipv4.address, adapter.ipv4.prefix_length)
        {
            if let Ok(subnet) = Ipv4Net::new(address, prefix) {
                add(
                    IpNet::V4(subnet.trunc()),
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    &adapter.device,
                );
            }
        }
    }
    if let Some(gateway) = stack.ipv4_gateway {
        let device = device_for(host, stack, IpAddr::V4(gateway)).unwrap_or_default();
        add(IpNet::V4(Ipv4Net::default()), IpAddr::V4(gateway), &device);
    }
    if host.ipv6_enabled {
        if let Some(gateway) = stack.ipv6_gateway {
            let device = device_for(host, stack, IpAddr::V6(gateway)).unwrap_or_default();
            add(IpNet::V6(Ipv6Net::default()), IpAddr::V6(gateway), &device);
        }
        for adapter in adapters.clone() {
            for address in &adapter.ipv6.addresses {
                if !is_ipv6_link_local(address.address.addr()) {
                    add(
                        IpNet::V6(address.address.trunc()),
                        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                        &adapter.device,
                    );
                }
            }
        }
        if stack.stack == esxnet_model::common::StackKind::Default {
            add(
                IpNet::V6(ipv6_net("fe80::/64")),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                LOOPBACK_DEVICE,
            );
            for multicast in ["ff01::/32", "ff02::/32"] {
                add(
                    IpNet::V6(ipv6_net(multicast)),
                    IpAddr::V6(Ipv6Addr::LOCALHOST),
                    LOOPBACK_DEVICE,
                );
            }
        }
        for adapter in adapters {
            let Some(link_local) = adapter
                .ipv6
                .addresses
                .iter()
                .map(|address| address.address.addr())
                .find(|address| is_ipv6_link_local(*address))
            else {
                continue;
            };
            add(
                IpNet::V6(ipv6_net("fe80::/64")),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                &adapter.device,
            );
            for multicast in ["ff01::/32", "ff02::/32"] {
                add(IpNet::V6(ipv6_net(multicast)), IpAddr::V6(link_local), &adapter.device);
            }
        }
    }
    statics.extend(system);
    Some(statics)
}

/// Whether `route` is one of the routes ESXi computes for `stack` (and so not a static route).
pub fn is_system_route(host: &ObservedHost, stack: &ObservedStack, route: &Route) -> bool {
    route_table(host, stack)
        .into_iter()
        .flatten()
        .any(|entry| entry.system && entry.destination == route.destination && entry.gateway == route.gateway)
}

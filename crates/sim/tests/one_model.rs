//! One model of ESXi: for generated sequences of operations on a fresh simulated host, the
//! planner's `state::record` (which the executor uses to carry a host forward between steps) and
//! the executor's in-memory test backend end up where the simulator does, object by object.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use esxnet_executor::backend::{Ipv4Settings, Ipv6Settings, StackSettings};
use esxnet_executor::testing::MemoryBackend;
use esxnet_executor::Operation;
use esxnet_model::common::{CongestionControl, Dns, Route, Service, StackKind};
use esxnet_model::observed::{
    LoadBalancing, ObservedFleet, ObservedHost, ObservedIpv4, PortConnection, SecurityOverride, SecurityPolicy,
    Teaming, TeamingOverride, TeamingPolicy,
};
use esxnet_planner::state::{
    self, AdapterState, Identity, Ipv6State, ObjectState, PortGroupState, ServicesState, SwitchState,
};
use proptest::prelude::*;

const SWITCHES: [&str; 3] = ["vSwitch0", "vSwitch1", "vSwitch2"];
const PORT_GROUPS: [&str; 4] = ["Management Network", "PG-A", "PG-B", "PG-C"];
const DEVICES: [&str; 4] = ["vmk0", "vmk1", "vmk2", "vmk3"];
const SERVICES: [Service; 4] = [
    Service::Management,
    Service::Vmotion,
    Service::Provisioning,
    Service::Vsan,
];
/// The management router's link-local address, which a fresh host has learned as its IPv6 gateway.
const LEARNED_IPV6_GATEWAY: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x021c, 0x73ff, 0xfe00, 0x0001);

fn uplinks(mask: u8) -> BTreeSet<String> {
    (0..4)
        .filter(|bit| mask & (1 << bit) != 0)
        .map(|bit| format!("vmnic{bit}"))
        .collect()
}

/// No order (ESXi's default), every uplink active in reverse order, or the first active and the
/// rest standby.
fn teaming(uplinks: &BTreeSet<String>, choice: u8) -> Teaming {
    let names: Vec<String> = uplinks.iter().cloned().collect();
    match choice {
        0 => Teaming::default(),
        1 => Teaming {
            active: names.iter().rev().cloned().collect(),
            standby: Vec::new(),
        },
        _ => Teaming {
            active: names.iter().take(1).cloned().collect(),
            standby: names.iter().skip(1).cloned().collect(),
        },
    }
}

/// A switch's teaming policy and security from six bits.
fn switch_policy(bits: u8) -> (TeamingPolicy, SecurityPolicy) {
    let bit = |index: u8| bits & (1 << index) != 0;
    (
        TeamingPolicy {
            load_balancing: LoadBalancing::ALL[usize::from(bits % 4)],
            notify_switches: bit(2),
            failback: bit(3),
            beacon_probing: bit(4),
        },
        SecurityPolicy {
            allow_promiscuous: bit(5),
            ..SecurityPolicy::default()
        },
    )
}

/// A port group's overrides from six bits: none, or some of load balancing, beacon probing,
/// promiscuous mode and an order with vmnic1 active (which not every switch bridges).
fn port_group_overrides(bits: u8) -> (TeamingOverride, SecurityOverride) {
    let bit = |index: u8| bits & (1 << index) != 0;
    (
        TeamingOverride {
            load_balancing: bit(0).then_some(LoadBalancing::ExplicitFailover),
            beacon_probing: bit(1).then_some(bit(2)),
            order: bit(3).then(|| Teaming {
                active: vec!["vmnic1".to_owned()],
                standby: Vec::new(),
            }),
            ..TeamingOverride::default()
        },
        SecurityOverride {
            allow_promiscuous: bit(4).then_some(bit(5)),
            ..SecurityOverride::default()
        },
    )
}

fn ipv4(choice: u8, host_part: u8) -> Ipv4Settings {
    match choice {
        0 => dhcp_ipv4(),
        1 => static_ipv4([10, 10, 0, 20 + host_part], 16),
        _ => static_ipv4([192, 168, 50, 20 + host_part], 24),
    }
}

fn ipv6(choice: u8, host_part: u8) -> Ipv6Settings {
    let mut settings = no_ipv6();
    match choice {
        0 => {}
        1 => settings.router_advertisement = true,
        2 => settings.dhcp = true,
        _ => {
            settings.addresses = BTreeSet::from([format!("2001:db8::{}/64", 20 + host_part).parse().unwrap()]);
        }
    }
    settings
}

fn route(destination: &str, gateway: &str) -> Route {
    Route {
        destination: destination.parse().unwrap(),
        gateway: gateway.parse::<IpAddr>().unwrap(),
    }
}

fn stack_settings(choices: [u8; 7]) -> StackSettings {
    let [ipv4_gateway, ipv6_gateway, dns, routes, max_connections, congestion_control, _] = choices;
    StackSettings {
        ipv4_gateway: [
            None,
            Some(Ipv4Addr::new(10, 10, 0, 1)),
            Some(Ipv4Addr::new(10, 10, 0, 254)),
            Some(Ipv4Addr::new(192, 168, 50, 1)),
        ][usize::from(ipv4_gateway % 4)],
        ipv6_gateway: [None, Some(LEARNED_IPV6_GATEWAY), Some("fe80::1".parse().unwrap())]
            [usize::from(ipv6_gateway % 3)],
        dns: match dns % 3 {
            0 => Dns::default(),
            1 => Dns {
                servers: vec!["10.10.0.2".parse().unwrap()],
                search_domains: Vec::new(),
            },
            _ => Dns {
                servers: vec!["10.10.0.3".parse().unwrap()],
                search_domains: vec!["lab.example".to_owned()],
            },
        },
        routes: match routes % 3 {
            0 => Vec::new(),
            1 => vec![route("10.20.0.0/16", "10.10.0.254")],
            _ => vec![route("172.16.0.0/12", "192.168.50.254")],
        },
        requested_max_connections: [11_000, 20_000][usize::from(max_connections % 2)],
        congestion_control: [CongestionControl::Newreno, CongestionControl::Cubic][usize::from(congestion_control % 2)],
    }
}

/// One generated operation, as small numbers that pick from the vocabularies above.
fn operation() -> impl Strategy<Value = Operation> {
    let switch = 0..SWITCHES.len();
    let port_group = 0..PORT_GROUPS.len();
    let device = 0..DEVICES.len();
    let stack = 0..StackKind::ALL.len();
    let service = 0..SERVICES.len();
    let mtu = prop_oneof![Just(1500u32), Just(9000u32)];
    prop_oneof![
        (switch.clone(), mtu.clone(), 0u8..16, 0u8..3, 0u8..64, any::<bool>()).prop_map(
            |(switch, mtu, mask, order, policy, create)| {
                let name = SWITCHES[switch].to_owned();
                let uplinks = uplinks(mask);
                let teaming = teaming(&uplinks, order);
                let (teaming_policy, security) = switch_policy(policy);
                if create {
                    Operation::AddSwitch {
                        name,
                        mtu,
                        uplinks,
                        teaming,
                        teaming_policy,
                        security,
                    }
                } else {
                    Operation::UpdateSwitch {
                        name,
                        mtu,
                        uplinks,
                        teaming,
                        teaming_policy,
                        security,
                    }
                }
            }
        ),
        switch.clone().prop_map(|switch| Operation::RemoveSwitch {
            name: SWITCHES[switch].to_owned()
        }),
        (port_group.clone(), switch.clone(), 0u16..3, 0u8..64, any::<bool>()).prop_map(
            |(port_group, switch, vlan, overrides, create)| {
                let (name, switch, vlan) = (
                    PORT_GROUPS[port_group].to_owned(),
                    SWITCHES[switch].to_owned(),
                    [0, 10, 4095][usize::from(vlan)],
                );
                let (teaming, security) = port_group_overrides(overrides);
                if create {
                    Operation::AddPortGroup {
                        name,
                        switch,
                        vlan,
                        teaming,
                        security,
                    }
                } else {
                    Operation::UpdatePortGroup {
                        name,
                        switch,
                        vlan,
                        teaming,
                        security,
                    }
                }
            }
        ),
        port_group.clone().prop_map(|port_group| Operation::RemovePortGroup {
            name: PORT_GROUPS[port_group].to_owned()
        }),
        (
            port_group.clone(),
            switch,
            stack.clone(),
            mtu.clone(),
            0u8..3,
            0u8..4,
            0u8..8
        )
            .prop_map(
                |(port_group, switch, stack, mtu, ipv4_choice, ipv6_choice, host_part)| Operation::AddAdapter {
                    connection: PortConnection::Standard {
                        switch: SWITCHES[switch].to_owned(),
                        port_group: PORT_GROUPS[port_group].to_owned(),
                    },
                    stack: StackKind::ALL[stack],
                    mtu,
                    ipv4: ipv4(ipv4_choice, host_part),
                    ipv6: Some(ipv6(ipv6_choice, host_part)),
                }
            ),
        (device.clone(), mtu, 0u8..3, 0u8..4, 0u8..8).prop_map(|(device, mtu, ipv4_choice, ipv6_choice, host_part)| {
            Operation::UpdateAdapter {
                device: DEVICES[device].to_owned(),
                mtu,
                ipv4: ipv4(ipv4_choice, host_part),
                ipv6: Some(ipv6(ipv6_choice, host_part)),
            }
        }),
        device.clone().prop_map(|device| Operation::RemoveAdapter {
            device: DEVICES[device].to_owned()
        }),
        (stack, any::<[u8; 7]>()).prop_map(|(stack, choices)| Operation::EditStack {
            stack: StackKind::ALL[stack],
            settings: stack_settings(choices),
        }),
        (device, service, any::<bool>()).prop_map(|(device, service, select)| {
            let (device, service) = (DEVICES[device].to_owned(), SERVICES[service]);
            if select {
                Operation::SelectService { device, service }
            } else {
                Operation::DeselectService { device, service }
            }
        }),
    ]
}

fn ipv4_state(settings: &Ipv4Settings) -> ObservedIpv4 {
    ObservedIpv4 {
        dhcp: settings.dhcp,
        address: settings.address,
        prefix_length: settings.prefix_length,
        gateway_override: settings.gateway_override,
    }
}

fn ipv6_state(settings: &Ipv6Settings) -> Ipv6State {
    Ipv6State {
        dhcp: settings.dhcp,
        router_advertisement: settings.router_advertisement,
        addresses: settings.addresses.clone(),
        gateway_override: settings.gateway_override,
    }
}

fn adapter_identity(carried: &ObservedHost, device: &str) -> (Identity, AdapterState) {
    let adapter = carried
        .adapter(device)
        .unwrap_or_else(|| panic!("the simulator has {device} but the carried host does not"));
    (
        Identity::VmkernelAdapter {
            device: Some(device.to_owned()),
            connection: adapter.connection.clone(),
        },
        state::adapter_state(adapter),
    )
}

fn services_identity(carried: &ObservedHost, device: &str) -> (Identity, BTreeSet<Service>) {
    let adapter = carried
        .adapter(device)
        .unwrap_or_else(|| panic!("the simulator has {device} but the carried host does not"));
    (
        Identity::Services {
            device: Some(device.to_owned()),
            connection: adapter.connection.clone(),
        },
        adapter.services.clone(),
    )
}

/// What the executor records after the plan step an operation carries out: the step's identity and
/// its target state (the operation's, as `operations.rs` maps plan steps to operations).
fn record_operation(carried: &mut ObservedHost, operation: &Operation, created_device: Option<&str>) {
    let (identity, target) = match operation {
        Operation::AddSwitch {
            name,
            mtu,
            uplinks,
            teaming,
            teaming_policy,
            security,
        }
        | Operation::UpdateSwitch {
            name,
            mtu,
            uplinks,
            teaming,
            teaming_policy,
            security,
        } => (
            Identity::StandardSwitch { name: name.clone() },
            Some(ObjectState::StandardSwitch(SwitchState {
                mtu: *mtu,
                uplinks: uplinks.clone(),
                teaming: teaming.clone(),
                teaming_policy: *teaming_policy,
                security: *security,
            })),
        ),
        Operation::RemoveSwitch { name } => (Identity::StandardSwitch { name: name.clone() }, None),
        Operation::AddPortGroup {
            name,
            switch,
            vlan,
            teaming,
            security,
        }
        | Operation::UpdatePortGroup {
            name,
            switch,
            vlan,
            teaming,
            security,
        } => (
            Identity::PortGroup { name: name.clone() },
            Some(ObjectState::PortGroup(PortGroupState {
                switch: switch.clone(),
                vlan: *vlan,
                teaming: teaming.clone(),
                security: *security,
            })),
        ),
        Operation::RemovePortGroup { name } => (Identity::PortGroup { name: name.clone() }, None),
        Operation::AddAdapter {
            connection,
            stack,
            mtu,
            ipv4,
            ipv6,
        } => (
            Identity::VmkernelAdapter {
                device: None,
                connection: connection.clone(),
            },
            Some(ObjectState::VmkernelAdapter(AdapterState {
                device: None,
                connection: connection.clone(),
                stack: *stack,
                mtu: *mtu,
                ipv4: ipv4_state(ipv4),
                ipv6: ipv6_state(ipv6.as_ref().expect("the executor always sends IPv6 settings")),
            })),
        ),
        Operation::UpdateAdapter {
            device,
            mtu,
            ipv4,
            ipv6,
        } => {
            let (identity, current) = adapter_identity(carried, device);
            let target = AdapterState {
                mtu: *mtu,
                ipv4: ipv4_state(ipv4),
                ipv6: ipv6_state(ipv6.as_ref().expect("the executor always sends IPv6 settings")),
                ..current
            };
            (identity, Some(ObjectState::VmkernelAdapter(target)))
        }
        Operation::RemoveAdapter { device } => (adapter_identity(carried, device).0, None),
        Operation::EditStack { stack, settings } => {
            let mut wanted = esxnet_executor::operations::stack_state(settings);
            wanted.routes.sort();
            (
                Identity::NetStack { stack: *stack },
                Some(ObjectState::NetStack(wanted)),
            )
        }
        Operation::SelectService { device, service } => {
            let (identity, mut services) = services_identity(carried, device);
            services.insert(*service);
            (identity, Some(ObjectState::Services(ServicesState { services })))
        }
        Operation::DeselectService { device, service } => {
            let (identity, mut services) = services_identity(carried, device);
            services.remove(service);
            (identity, Some(ObjectState::Services(ServicesState { services })))
        }
    };
    state::record(carried, &identity, target.as_ref(), created_device);
}

/// Every object either host has, as the identities the planner finds them by.
fn identities(hosts: [&ObservedHost; 2]) -> BTreeSet<Identity> {
    let mut identities = BTreeSet::new();
    for host in hosts {
        for switch in &host.switches {
            identities.insert(Identity::StandardSwitch {
                name: switch.name.clone(),
            });
        }
        for port_group in &host.port_groups {
            identities.insert(Identity::PortGroup {
                name: port_group.name.clone(),
            });
        }
        for stack in &host.stacks {
            identities.insert(Identity::NetStack { stack: stack.stack });
        }
        for adapter in &host.adapters {
            let (device, connection) = (Some(adapter.device.clone()), adapter.connection.clone());
            identities.insert(Identity::VmkernelAdapter {
                device: device.clone(),
                connection: connection.clone(),
            });
            identities.insert(Identity::Services { device, connection });
        }
    }
    identities
}

/// Fails unless `predicted` has every object of `simulated` in the same managed state, and the
/// same stacks instantiated with the same connection limits in effect.
fn assert_same_managed_state(simulated: &ObservedHost, predicted: &ObservedHost, by: &str, after: &Operation) {
    for identity in identities([simulated, predicted]) {
        assert_eq!(
            state::current_state(predicted, &identity),
            state::current_state(simulated, &identity),
            "{by} disagrees with the simulator about {identity:?} after `{after}`"
        );
    }
    for stack in &simulated.stacks {
        let other = predicted.stack(stack.stack).expect("the same stacks");
        assert_eq!(
            (other.instantiated, other.max_connections),
            (stack.instantiated, stack.max_connections),
            "{by} disagrees with the simulator about the {} stack's instantiation or connection limit after `{after}`",
            stack.stack
        );
    }
}

/// Switches, port groups and services to start from, so that most generated adapters have
/// somewhere to go and something to take away.
fn furnishing() -> Vec<Operation> {
    let port_group = |name: &str, switch: &str| Operation::AddPortGroup {
        name: name.to_owned(),
        switch: switch.to_owned(),
        vlan: 0,
        teaming: Default::default(),
        security: Default::default(),
    };
    vec![
        Operation::AddSwitch {
            name: "vSwitch1".to_owned(),
            mtu: 9000,
            uplinks: uplinks(0b0110),
            teaming: Teaming::default(),
            teaming_policy: Default::default(),
            security: Default::default(),
        },
        port_group("PG-A", "vSwitch1"),
        port_group("PG-B", "vSwitch1"),
        port_group("PG-C", "vSwitch0"),
        // Services the first adapter on the vMotion or Provisioning stack takes away (ESX004).
        Operation::SelectService {
            device: "vmk0".to_owned(),
            service: Service::Vmotion,
        },
        Operation::SelectService {
            device: "vmk0".to_owned(),
            service: Service::Provisioning,
        },
    ]
}

/// A generated adapter names a port group; it is connected on the switch that port group is on
/// now, as a manifest would name it.
fn connected_where_the_port_group_is(operation: &Operation, host: &ObservedHost) -> Operation {
    let mut operation = operation.clone();
    if let Operation::AddAdapter {
        connection: PortConnection::Standard { switch, port_group },
        ..
    } = &mut operation
    {
        if let Some(existing) = host.port_group(port_group) {
            switch.clone_from(&existing.switch);
        }
    }
    operation
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn record_and_the_memory_backend_predict_what_the_simulator_does(
        operations in proptest::collection::vec(operation(), 1..20)
    ) {
        let mut simulated = fresh_host();
        let name = simulated.name().to_owned();
        let mut carried = simulated.observed().clone();
        let memory = MemoryBackend::new(ObservedFleet {
            hosts: [(name.clone(), carried.clone())].into(),
        });
        for generated in furnishing().iter().chain(&operations) {
            let operation = &connected_where_the_port_group_is(generated, simulated.observed());
            let Ok(outcome) = simulated.apply(operation) else {
                // Refused: nothing changed on the host, so nothing is recorded. The memory
                // backend checks less; it starts again from the simulated host.
                memory.modify(&name, |host| *host = simulated.observed().clone());
                continue;
            };
            record_operation(&mut carried, operation, outcome.created_device.as_deref());
            assert_same_managed_state(simulated.observed(), &carried, "record", operation);

            let remembered = memory.perform(&name, operation);
            let remembered = remembered.unwrap_or_else(|error| {
                panic!("the memory backend refused `{operation}`, which the simulator accepted: {error}")
            });
            prop_assert_eq!(&remembered.created_device, &outcome.created_device);
            let memory_host = memory.fleet().hosts[&name].clone();
            assert_same_managed_state(simulated.observed(), &memory_host, "the memory backend", operation);
        }
    }
}

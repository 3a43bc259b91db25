//! Property: for generated desired/observed pairs, the plan's order respects every dependency.
//!
//! The dependencies are checked from their meaning (a port group after its new switch, an adapter
//! after its new port group, stack settings after the adapter that instantiates the stack, deletes
//! before creates, adapter deletes before their port group's delete), not from the plan's own edge
//! list, so a graph that forgot an edge fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use esxnet_model::common::{CongestionControl, Dns, EsxiVersion, Service, StackKind};
use esxnet_model::desired::{
    DesiredAdapter, DesiredFleet, DesiredHost, DesiredIpv4, DesiredPortGroup, DesiredStack, DesiredSwitch,
};
use esxnet_model::observed::{
    ObservedAdapter, ObservedFleet, ObservedHost, ObservedIpv4, ObservedIpv6, ObservedPortGroup, ObservedStack,
    ObservedSwitch, PhysicalNic, PortConnection, Teaming,
};
use esxnet_model::source::{Source, SpanIndex};
use esxnet_planner::plan::{Phase, Plan, PlanOptions};
use esxnet_planner::state::{ObjectKind, ObjectState};
use esxnet_planner::{Action, Address};
use proptest::prelude::*;

fn source() -> Source {
    Source::new(PathBuf::from("generated.yaml"), 0, Arc::new(SpanIndex::default()))
}

fn base_host() -> ObservedHost {
    let stack = |stack: StackKind, instantiated: bool, gateway: Option<&str>| ObservedStack {
        stack,
        instantiated,
        ipv4_gateway: gateway.map(|gateway| gateway.parse().unwrap()),
        ipv6_gateway: None,
        dns: Dns::default(),
        routes: Vec::new(),
        max_connections: 11000,
        requested_max_connections: 11000,
        congestion_control: CongestionControl::Newreno,
        ipv6_gateway_from_router_advertisement: false,
        dns_from_dhcp: false,
        dns_host_name: String::new(),
        dns_domain_name: String::new(),
    };
    ObservedHost {
        name: "esx-01".to_owned(),
        version: EsxiVersion::new(8, 0, 3),
        physical_nics: (0..4)
            .map(|index| PhysicalNic {
                device: format!("vmnic{index}"),
                mac: format!("00:50:56:00:00:0{index}"),
                link_speed_mb: Some(10000),
            })
            .collect(),
        switches: vec![ObservedSwitch {
            name: "vSwitch0".to_owned(),
            mtu: 1500,
            uplinks: BTreeSet::from(["vmnic0".to_owned()]),
            teaming: Teaming {
                active: vec!["vmnic0".to_owned()],
                standby: Vec::new(),
            },
            ..Default::default()
        }],
        port_groups: vec![ObservedPortGroup {
            name: "Management Network".to_owned(),
            switch: "vSwitch0".to_owned(),
            vlan: 0,
            ..Default::default()
        }],
        adapters: vec![ObservedAdapter {
            device: "vmk0".to_owned(),
            connection: PortConnection::Standard {
                switch: "vSwitch0".to_owned(),
                port_group: "Management Network".to_owned(),
            },
            stack: StackKind::Default,
            mac: "00:50:56:00:01:00".to_owned(),
            mtu: 1500,
            ipv4: ObservedIpv4 {
                dhcp: false,
                address: Some("10.10.0.11".parse().unwrap()),
                prefix_length: Some(16),
                gateway_override: None,
            },
            ipv6: ObservedIpv6::default(),
            services: BTreeSet::from([Service::Management]),
            system_owned: false,
            storage_bindings: Default::default(),
        }],
        stacks: vec![
            stack(StackKind::Default, true, Some("10.10.0.1")),
            stack(StackKind::Vmotion, false, None),
            stack(StackKind::Provisioning, false, None),
        ],
        distributed_switches: Vec::new(),
        active_migrations: Vec::new(),
        ipv6_enabled: true,
    }
}

/// One generated object pair: what is declared and what already exists.
#[derive(Debug, Clone)]
struct GeneratedSwitch {
    name: String,
    declared: bool,
    observed: bool,
    declared_mtu: u32,
    observed_mtu: u32,
    uplink: String,
    port_groups: Vec<GeneratedPortGroup>,
}

#[derive(Debug, Clone)]
struct GeneratedPortGroup {
    name: String,
    declared: bool,
    observed: bool,
    vlan: u16,
    adapter: Option<GeneratedAdapter>,
}

#[derive(Debug, Clone)]
struct GeneratedAdapter {
    declared_stack: StackKind,
    observed_stack: Option<StackKind>,
    declared: bool,
    mtu: u32,
    host_octet: u8,
}

fn stack_strategy() -> impl Strategy<Value = StackKind> {
    prop_oneof![
        Just(StackKind::Default),
        Just(StackKind::Vmotion),
        Just(StackKind::Provisioning)
    ]
}

fn adapter_strategy() -> impl Strategy<Value = GeneratedAdapter> {
    (
        stack_strategy(),
        proptest::option::of(stack_strategy()),
        any::<bool>(),
        prop_oneof![Just(1500u32), Just(9000u32)],
        20u8..200,
    )
        .prop_map(
            |(declared_stack, observed_stack, declared, mtu, host_octet)| GeneratedAdapter {
                declared_stack,
                observed_stack,
                declared,
                mtu,
                host_octet,
            },
        )
}

fn port_group_strategy(index: usize) -> impl Strategy<Value = GeneratedPortGroup> {
    (
        any::<bool>(),
        any::<bool>(),
        0u16..10,
        proptest::option::of(adapter_strategy()),
    )
        .prop_map(move |(declared, observed, vlan, adapter)| GeneratedPortGroup {
            name: format!("pg{index}"),
            declared,
            observed,
            vlan,
            adapter,
        })
}

fn switch_strategy(index: usize) -> impl Strategy<Value = GeneratedSwitch> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(1500u32), Just(9000u32)],
        prop_oneof![Just(1500u32), Just(9000u32)],
        (0..3usize).prop_flat_map(move |count| {
            (0..count)
                .map(|offset| port_group_strategy(index * 10 + offset))
                .collect::<Vec<_>>()
        }),
    )
        .prop_map(
            move |(declared, observed, declared_mtu, observed_mtu, port_groups)| GeneratedSwitch {
                name: format!("vSwitch{}", index + 1),
                declared,
                observed,
                declared_mtu,
                observed_mtu,
                uplink: format!("vmnic{}", index + 1),
                port_groups,
            },
        )
}

fn scenario_strategy() -> impl Strategy<Value = (Vec<GeneratedSwitch>, bool, BTreeSet<StackKind>)> {
    (
        (switch_strategy(0), switch_strategy(1)).prop_map(|(first, second)| vec![first, second]),
        any::<bool>(),
        proptest::collection::btree_set(stack_strategy(), 0..3),
    )
}

fn build(switches: &[GeneratedSwitch], declared_stacks: &BTreeSet<StackKind>) -> (DesiredFleet, ObservedFleet) {
    let mut observed = base_host();
    let mut desired = DesiredHost::new("esx-01".to_owned(), BTreeMap::new(), source());
    for switch in switches {
        // A declared port group needs its switch declared (port groups live in StandardSwitch documents).
        let switch_declared = switch.declared || switch.port_groups.iter().any(|port_group| port_group.declared);
        if switch_declared {
            desired.switches.insert(
                switch.name.clone(),
                DesiredSwitch {
                    name: switch.name.clone(),
                    mtu: Some(switch.declared_mtu),
                    uplinks: Some(BTreeSet::from([switch.uplink.clone()])),
                    teaming: None,
                    policy: Default::default(),
                    source: source(),
                },
            );
        }
        if switch.observed {
            observed.switches.push(ObservedSwitch {
                name: switch.name.clone(),
                mtu: switch.observed_mtu,
                uplinks: BTreeSet::from([switch.uplink.clone()]),
                teaming: Teaming {
                    active: vec![switch.uplink.clone()],
                    standby: Vec::new(),
                },
                ..Default::default()
            });
        }
        for port_group in &switch.port_groups {
            let connection = PortConnection::Standard {
                switch: switch.name.clone(),
                port_group: port_group.name.clone(),
            };
            if port_group.declared {
                desired.port_groups.insert(
                    port_group.name.clone(),
                    DesiredPortGroup {
                        name: port_group.name.clone(),
                        switch: switch.name.clone(),
                        vlan: port_group.vlan,
                        policy: Default::default(),
                        source: source(),
                        field: "spec.portGroups[0]".to_owned(),
                    },
                );
            }
            let port_group_observed = port_group.observed && switch.observed;
            if port_group_observed {
                observed.port_groups.push(ObservedPortGroup {
                    name: port_group.name.clone(),
                    switch: switch.name.clone(),
                    vlan: 0,
                    ..Default::default()
                });
            }
            let Some(adapter) = &port_group.adapter else { continue };
            let address = format!("10.20.{}.{}", port_group.vlan, adapter.host_octet)
                .parse()
                .unwrap();
            if adapter.declared && port_group.declared {
                desired.adapters.insert(
                    format!("adapter-{}", port_group.name),
                    DesiredAdapter {
                        name: format!("adapter-{}", port_group.name),
                        stack: adapter.declared_stack,
                        device: None,
                        connection: connection.clone(),
                        ambiguous_switch: false,
                        mtu: Some(adapter.mtu.min(switch.declared_mtu)),
                        ipv4: DesiredIpv4::Static {
                            address: Some(address),
                            prefix_length: Some(24),
                            pool: None,
                            gateway_override: None,
                        },
                        ipv6: None,
                        services: None,
                        source: source(),
                    },
                );
            }
            if let (Some(stack), true) = (adapter.observed_stack, port_group_observed) {
                let device = format!("vmk{}", observed.adapters.len());
                observed.adapters.push(ObservedAdapter {
                    device,
                    connection,
                    stack,
                    mac: "00:50:56:00:02:00".to_owned(),
                    mtu: 1500,
                    ipv4: ObservedIpv4 {
                        dhcp: false,
                        address: Some(address),
                        prefix_length: Some(24),
                        gateway_override: None,
                    },
                    ipv6: ObservedIpv6::default(),
                    services: stack.implied_service().into_iter().collect(),
                    system_owned: false,
                    storage_bindings: Default::default(),
                });
                if let Some(observed_stack) = observed.stacks.iter_mut().find(|observed| observed.stack == stack) {
                    observed_stack.instantiated = true;
                }
            }
        }
    }
    for stack in declared_stacks {
        let instantiable = *stack == StackKind::Default
            || desired.has_adapter_on_stack(*stack)
            || observed.stack(*stack).is_some_and(|observed| observed.instantiated);
        if instantiable {
            desired.stacks.insert(
                *stack,
                DesiredStack {
                    stack: *stack,
                    name: stack.as_str().to_owned(),
                    ipv4_gateway: None,
                    ipv6_gateway: None,
                    dns: Some(Dns {
                        servers: vec!["10.0.0.53".parse().unwrap()],
                        search_domains: Vec::new(),
                    }),
                    routes: None,
                    max_connections: Some(12000),
                    congestion_control: None,
                    source: source(),
                },
            );
        }
    }
    let desired = DesiredFleet {
        hosts: BTreeMap::from([("esx-01".to_owned(), desired)]),
    };
    let observed = ObservedFleet {
        hosts: BTreeMap::from([("esx-01".to_owned(), observed)]),
    };
    (desired, observed)
}

/// The position of each step, by address and phase.
fn positions(plan: &Plan) -> BTreeMap<(Address, Phase), usize> {
    plan.hosts[0]
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| ((step.address.clone(), step.phase), index))
        .collect()
}

fn state_of(plan: &Plan, address: &Address, phase: Phase) -> Option<ObjectState> {
    let change = plan.change(address)?;
    match phase {
        Phase::Delete => change.before.clone(),
        _ => change.after.clone(),
    }
}

/// Whether the edge list leads from one step to another.
fn reachable(edges: &[[usize; 2]], from: usize, to: usize) -> bool {
    let mut stack = vec![from];
    let mut seen = BTreeSet::new();
    while let Some(current) = stack.pop() {
        if current == to {
            return true;
        }
        if seen.insert(current) {
            stack.extend(
                edges
                    .iter()
                    .filter(|[before, _]| *before == current)
                    .map(|[_, after]| *after),
            );
        }
    }
    false
}

/// The dependencies the steps must respect, derived from what the steps do: `(first, then, why)`.
fn required_dependencies(plan: &Plan) -> Vec<(usize, usize, String)> {
    let position = positions(plan);
    let steps = &plan.hosts[0].steps;
    let step_of = |kind: ObjectKind, name: &str, phase: Phase| {
        position.get(&(Address::name("esx-01", kind, name), phase)).copied()
    };
    let mut required = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let Some(state) = state_of(plan, &step.address, step.phase) else {
            continue;
        };
        if step.phase == Phase::Delete {
            for (other_index, other) in steps.iter().enumerate() {
                if other.phase != Phase::Delete {
                    required.push((
                        index,
                        other_index,
                        format!("{} is deleted before {} runs", step.address, other.address),
                    ));
                }
            }
            if let ObjectState::VmkernelAdapter(adapter) = &state {
                if let PortConnection::Standard { port_group, switch } = &adapter.connection {
                    for (kind, name) in [
                        (ObjectKind::PortGroup, port_group),
                        (ObjectKind::StandardSwitch, switch),
                    ] {
                        if let Some(later) = step_of(kind, name, Phase::Delete) {
                            required.push((
                                index,
                                later,
                                format!("{} goes before {kind}/{name} is deleted", step.address),
                            ));
                        }
                    }
                }
            }
            continue;
        }
        match &state {
            ObjectState::PortGroup(port_group) => {
                if let Some(switch_created) = step_of(ObjectKind::StandardSwitch, &port_group.switch, Phase::Create) {
                    required.push((
                        switch_created,
                        index,
                        format!("{} needs its switch created first", step.address),
                    ));
                }
            }
            ObjectState::VmkernelAdapter(adapter) => {
                if let PortConnection::Standard { port_group, switch } = &adapter.connection {
                    for phase in [Phase::Create, Phase::Update] {
                        if let Some(port_group_step) = step_of(ObjectKind::PortGroup, port_group, phase) {
                            required.push((
                                port_group_step,
                                index,
                                format!("{} needs {port_group} first", step.address),
                            ));
                        }
                    }
                    if let Some(switch_created) = step_of(ObjectKind::StandardSwitch, switch, Phase::Create) {
                        required.push((switch_created, index, format!("{} needs {switch} first", step.address)));
                    }
                }
                if let Some(stack_step) = step_of(ObjectKind::NetStack, adapter.stack.as_str(), Phase::Update) {
                    required.push((
                        index,
                        stack_step,
                        format!("{} exists before its stack is edited", step.address),
                    ));
                }
            }
            _ => {}
        }
    }
    required
}

fn check_order(plan: &Plan) -> Result<(), TestCaseError> {
    let host = &plan.hosts[0];
    for [before, after] in &host.edges {
        prop_assert!(
            before < after,
            "edge {} -> {} runs backwards in {:#?}",
            before,
            after,
            host.steps
        );
    }
    for (first, then, why) in required_dependencies(plan) {
        prop_assert!(first < then, "order broken: {}", why);
        // The executor blocks dependents of a failed step through the edges, so they must carry it.
        prop_assert!(reachable(&host.edges, first, then), "no edge path: {}", why);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn plan_order_respects_every_dependency((switches, prune, stacks) in scenario_strategy()) {
        let (desired, observed) = build(&switches, &stacks);
        let options = PlanOptions { prune, allow_management_changes: false };
        let plan = esxnet_planner::plan(&desired, &observed, Vec::new(), &options);
        prop_assert_eq!(plan.hosts.len(), 1);
        if plan.has_errors() {
            // Generated pairs may be invalid (a stack change of an adapter is fine; others are not);
            // only planned hosts have an order to check.
            return Ok(());
        }
        check_order(&plan)?;
        // Every non-noop change has its steps; a replace has a delete then a create.
        for change in plan.changes.iter().filter(|change| change.action != Action::Noop) {
            let phases: Vec<Phase> = plan.hosts[0].steps.iter().filter(|step| step.address == change.address).map(|step| step.phase).collect();
            let expected = match change.action {
                Action::Create => vec![Phase::Create],
                Action::Update => vec![Phase::Update],
                Action::Delete => vec![Phase::Delete],
                Action::Replace => vec![Phase::Delete, Phase::Create],
                Action::Noop => vec![],
            };
            prop_assert_eq!(phases, expected, "steps of {}", change.address);
        }
    }
}

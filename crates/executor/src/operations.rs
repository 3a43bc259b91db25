//! How one step of a plan becomes the backend operations that carry it out.

use esxnet_model::observed::{ObservedHost, ObservedIpv4};
use esxnet_planner::state::{self, AdapterState, Identity, Ipv6State, ObjectState, StackState};
use esxnet_planner::{Change, Phase};

use crate::backend::{Ipv4Settings, Ipv6Settings, Operation, StackSettings};
use crate::error::ExecutorError;

/// The operations that carry out one step of `change`, given the host as the executor sees it now.
///
/// Adapters are found through the change's identity in `current_host`, so an adapter created
/// earlier in the same run (recorded with its device) can be updated or given services.
/// Services steps compare the wanted set with the current one and select or deselect only the
/// difference; an empty list means there is nothing to send.
pub fn operations(change: &Change, phase: Phase, current_host: &ObservedHost) -> Result<Vec<Operation>, ExecutorError> {
    match phase {
        Phase::Delete => delete_operations(change, current_host),
        Phase::Create | Phase::Update => {
            let Some(target) = &change.after else {
                return Err(malformed(change, format!("a {phase} step has no target state")));
            };
            write_operations(change, phase, target, current_host)
        }
    }
}

fn write_operations(
    change: &Change,
    phase: Phase,
    target: &ObjectState,
    current_host: &ObservedHost,
) -> Result<Vec<Operation>, ExecutorError> {
    let operation = match (&change.identity, target, phase) {
        (Identity::StandardSwitch { name }, ObjectState::StandardSwitch(switch), Phase::Create) => {
            Operation::AddSwitch {
                name: name.clone(),
                mtu: switch.mtu,
                uplinks: switch.uplinks.clone(),
                teaming: switch.teaming.clone(),
                teaming_policy: switch.teaming_policy,
                security: switch.security,
            }
        }
        (Identity::StandardSwitch { name }, ObjectState::StandardSwitch(switch), _) => Operation::UpdateSwitch {
            name: name.clone(),
            mtu: switch.mtu,
            uplinks: switch.uplinks.clone(),
            teaming: switch.teaming.clone(),
            teaming_policy: switch.teaming_policy,
            security: switch.security,
        },
        (Identity::PortGroup { name }, ObjectState::PortGroup(port_group), Phase::Create) => Operation::AddPortGroup {
            name: name.clone(),
            switch: port_group.switch.clone(),
            vlan: port_group.vlan,
            teaming: port_group.teaming.clone(),
            security: port_group.security,
        },
        (Identity::PortGroup { name }, ObjectState::PortGroup(port_group), _) => Operation::UpdatePortGroup {
            name: name.clone(),
            switch: port_group.switch.clone(),
            vlan: port_group.vlan,
            teaming: port_group.teaming.clone(),
            security: port_group.security,
        },
        (Identity::VmkernelAdapter { .. }, ObjectState::VmkernelAdapter(adapter), Phase::Create) => {
            add_adapter(adapter)
        }
        (Identity::VmkernelAdapter { .. }, ObjectState::VmkernelAdapter(adapter), _) => Operation::UpdateAdapter {
            device: current_device(change, current_host)?,
            mtu: adapter.mtu,
            ipv4: ipv4_settings(&adapter.ipv4),
            ipv6: Some(ipv6_settings(&adapter.ipv6)),
        },
        (Identity::NetStack { stack }, ObjectState::NetStack(settings), _) => Operation::EditStack {
            stack: *stack,
            settings: stack_settings(settings),
        },
        (Identity::Services { .. }, ObjectState::Services(wanted), _) => {
            return services_operations(change, &wanted.services, current_host);
        }
        _ => {
            return Err(malformed(
                change,
                format!("its identity and target state are of different kinds ({phase} step)"),
            ))
        }
    };
    Ok(vec![operation])
}

fn delete_operations(change: &Change, current_host: &ObservedHost) -> Result<Vec<Operation>, ExecutorError> {
    let operation = match &change.identity {
        Identity::StandardSwitch { name } => Operation::RemoveSwitch { name: name.clone() },
        Identity::PortGroup { name } => Operation::RemovePortGroup { name: name.clone() },
        Identity::VmkernelAdapter { .. } => Operation::RemoveAdapter {
            device: current_device(change, current_host)?,
        },
        // A stack always exists and services belong to their adapter: neither is deleted on its own.
        Identity::NetStack { .. } | Identity::Services { .. } => {
            return Err(malformed(change, format!("a {} cannot be deleted", change.kind)));
        }
    };
    Ok(vec![operation])
}

fn services_operations(
    change: &Change,
    wanted: &std::collections::BTreeSet<esxnet_model::common::Service>,
    current_host: &ObservedHost,
) -> Result<Vec<Operation>, ExecutorError> {
    let device = current_device(change, current_host)?;
    let selected = current_host
        .adapter(&device)
        .map(|adapter| adapter.services.clone())
        .unwrap_or_default();
    let selections = wanted.difference(&selected).map(|service| Operation::SelectService {
        device: device.clone(),
        service: *service,
    });
    let deselections = selected.difference(wanted).map(|service| Operation::DeselectService {
        device: device.clone(),
        service: *service,
    });
    // Select first: a management adapter never passes through a moment without management.
    Ok(selections.chain(deselections).collect())
}

/// The device of the adapter the change's identity names, as the host has it now.
fn current_device(change: &Change, current_host: &ObservedHost) -> Result<String, ExecutorError> {
    let (device, connection) = match &change.identity {
        Identity::VmkernelAdapter { device, connection } | Identity::Services { device, connection } => {
            (device, connection)
        }
        _ => return Err(malformed(change, "it names no adapter".to_owned())),
    };
    state::find_adapter(current_host, device.as_deref(), connection)
        .map(|adapter| adapter.device.clone())
        .ok_or_else(|| ExecutorError::ObjectMissing {
            address: change.address.clone(),
        })
}

fn add_adapter(adapter: &AdapterState) -> Operation {
    Operation::AddAdapter {
        connection: adapter.connection.clone(),
        stack: adapter.stack,
        mtu: adapter.mtu,
        ipv4: ipv4_settings(&adapter.ipv4),
        ipv6: Some(ipv6_settings(&adapter.ipv6)),
    }
}

/// The IPv4 settings an adapter operation sends for a managed IPv4 state.
pub fn ipv4_settings(ipv4: &ObservedIpv4) -> Ipv4Settings {
    Ipv4Settings {
        dhcp: ipv4.dhcp,
        address: ipv4.address,
        prefix_length: ipv4.prefix_length,
        gateway_override: ipv4.gateway_override,
    }
}

/// The IPv6 settings an adapter operation sends for a managed IPv6 state.
pub fn ipv6_settings(ipv6: &Ipv6State) -> Ipv6Settings {
    Ipv6Settings {
        dhcp: ipv6.dhcp,
        router_advertisement: ipv6.router_advertisement,
        addresses: ipv6.addresses.clone(),
        gateway_override: ipv6.gateway_override,
    }
}

/// The settings [`Operation::EditStack`] sends for a managed stack state.
pub fn stack_settings(stack: &StackState) -> StackSettings {
    StackSettings {
        ipv4_gateway: stack.ipv4_gateway,
        ipv6_gateway: stack.ipv6_gateway,
        dns: stack.dns.clone(),
        routes: stack.routes.clone(),
        requested_max_connections: stack.max_connections,
        congestion_control: stack.congestion_control,
    }
}

/// The managed stack state an [`Operation::EditStack`] asks for: the inverse of [`stack_settings`].
pub fn stack_state(settings: &StackSettings) -> StackState {
    StackState {
        ipv4_gateway: settings.ipv4_gateway,
        ipv6_gateway: settings.ipv6_gateway,
        dns: settings.dns.clone(),
        routes: settings.routes.clone(),
        max_connections: settings.requested_max_connections,
        congestion_control: settings.congestion_control,
    }
}

fn malformed(change: &Change, problem: String) -> ExecutorError {
    ExecutorError::MalformedChange {
        address: change.address.clone(),
        problem,
    }
}

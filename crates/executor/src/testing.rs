//! An in-memory backend for tests: hosts held as [`ObservedHost`]s, calls counted per host, and
//! faults injected on chosen calls.
//!
//! It exists so that the walker's own promises (order, preconditions, retries, blocking, call
//! counts) are tested without another crate. What an operation does to a host, ESXi's side effects
//! included, comes from [`esxnet_planner::esxi`], the module the simulator and the planner's
//! `record` use too; only the checks are simpler than the simulator's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use esxnet_model::common::{CongestionControl, Dns, EsxiVersion, Service, StackKind};
use esxnet_model::observed::{
    Ipv6Origin, ObservedAdapter, ObservedFleet, ObservedHost, ObservedIpv4, ObservedIpv6, ObservedIpv6Address,
    ObservedPortGroup, ObservedStack, ObservedSwitch, PhysicalNic, PortConnection, SwitchPolicy, Teaming,
};
use esxnet_planner::esxi;
use esxnet_planner::state::Ipv6State;

use crate::backend::{Backend, BackendError, Fault, Operation, OperationOutcome};

/// Calls made to one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// `observe` calls (failed ones included).
    pub observe: usize,
    /// `execute` calls (failed ones included).
    pub execute: usize,
    /// Every operation that succeeded, in order, as sentences.
    pub performed: Vec<String>,
}

#[derive(Debug, Default)]
struct Inner {
    hosts: BTreeMap<String, ObservedHost>,
    calls: BTreeMap<String, CallCounts>,
    transient_execute_failures: BTreeMap<String, usize>,
    transient_observe_failures: BTreeMap<String, usize>,
    permanent_failures: Vec<(String, String, Fault)>,
}

/// The in-memory backend.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    inner: Mutex<Inner>,
    latency: Mutex<Duration>,
    calls_in_flight: AtomicUsize,
    most_calls_in_flight: AtomicUsize,
}

/// Counts a call as in flight while it lives, after the backend's latency.
struct InFlight<'backend>(&'backend MemoryBackend);

impl<'backend> InFlight<'backend> {
    fn start(backend: &'backend MemoryBackend) -> Self {
        let now = backend.calls_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        backend.most_calls_in_flight.fetch_max(now, Ordering::SeqCst);
        let latency = *backend.latency.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Outside the state lock, so that calls to different hosts overlap like real round trips.
        std::thread::sleep(latency);
        InFlight(backend)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.calls_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl MemoryBackend {
    /// A backend holding these hosts.
    pub fn new(fleet: ObservedFleet) -> Self {
        MemoryBackend {
            inner: Mutex::new(Inner {
                hosts: fleet.hosts,
                ..Inner::default()
            }),
            ..MemoryBackend::default()
        }
    }

    /// Every call takes this long, as a round trip to a server would.
    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = latency;
    }

    /// The most calls that were in flight at once.
    pub fn most_calls_in_flight(&self) -> usize {
        self.most_calls_in_flight.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every host as it is now.
    pub fn fleet(&self) -> ObservedFleet {
        ObservedFleet {
            hosts: self.lock().hosts.clone(),
        }
    }

    /// Changes a host behind the executor's back.
    pub fn modify(&self, host: &str, change: impl FnOnce(&mut ObservedHost)) {
        let mut inner = self.lock();
        change(inner.hosts.get_mut(host).expect("the host exists"));
    }

    /// The calls made to a host so far.
    pub fn calls(&self, host: &str) -> CallCounts {
        self.lock().calls.get(host).cloned().unwrap_or_default()
    }

    /// Forgets the calls counted so far.
    pub fn reset_calls(&self) {
        self.lock().calls.clear();
    }

    /// The next `count` `execute` calls on `host` fail with a transient `Timeout`.
    pub fn fail_executes_transiently(&self, host: &str, count: usize) {
        self.lock().transient_execute_failures.insert(host.to_owned(), count);
    }

    /// The next `count` `observe` calls on `host` fail with a transient `Connection` fault.
    pub fn fail_observes_transiently(&self, host: &str, count: usize) {
        self.lock().transient_observe_failures.insert(host.to_owned(), count);
    }

    /// Every `execute` on `host` of the operation whose sentence is `operation` (such as
    /// `add port group Storage`) fails with `fault`, as a permanent fault.
    pub fn fail_operation(&self, host: &str, operation: &str, fault: Fault) {
        self.lock()
            .permanent_failures
            .push((host.to_owned(), operation.to_owned(), fault));
    }

    /// Performs an operation directly, as another administrator would.
    pub fn perform(&self, host: &str, operation: &Operation) -> Result<OperationOutcome, BackendError> {
        let mut inner = self.lock();
        let observed = inner
            .hosts
            .get_mut(host)
            .ok_or_else(|| BackendError::new(Fault::UnknownHost, format!("no host {host}")))?;
        perform(observed, operation)
    }
}

impl Backend for MemoryBackend {
    fn describe(&self) -> String {
        "memory:test".to_owned()
    }

    fn host_names(&self) -> Result<Vec<String>, BackendError> {
        Ok(self.lock().hosts.keys().cloned().collect())
    }

    fn observe(&self, host: &str) -> Result<ObservedHost, BackendError> {
        let _in_flight = InFlight::start(self);
        let mut inner = self.lock();
        inner.calls.entry(host.to_owned()).or_default().observe += 1;
        if let Some(remaining) = inner.transient_observe_failures.get_mut(host).filter(|left| **left > 0) {
            *remaining -= 1;
            return Err(BackendError::new(Fault::Connection, "connection reset (injected)"));
        }
        inner
            .hosts
            .get(host)
            .cloned()
            .ok_or_else(|| BackendError::new(Fault::UnknownHost, format!("no host {host}")))
    }

    fn execute(&self, host: &str, operation: &Operation) -> Result<OperationOutcome, BackendError> {
        let _in_flight = InFlight::start(self);
        let mut inner = self.lock();
        inner.calls.entry(host.to_owned()).or_default().execute += 1;
        if let Some(remaining) = inner.transient_execute_failures.get_mut(host).filter(|left| **left > 0) {
            *remaining -= 1;
            return Err(BackendError::new(Fault::Timeout, "timed out (injected)"));
        }
        let sentence = operation.to_string();
        if let Some((_, _, fault)) = inner
            .permanent_failures
            .iter()
            .find(|(failing_host, failing, _)| failing_host == host && *failing == sentence)
        {
            let error = BackendError {
                fault: *fault,
                kind: crate::backend::FaultKind::Permanent,
                message: format!("{sentence} refused (injected)"),
            };
            return Err(error);
        }
        let observed = inner
            .hosts
            .get_mut(host)
            .ok_or_else(|| BackendError::new(Fault::UnknownHost, format!("no host {host}")))?;
        let outcome = perform(observed, operation)?;
        inner.calls.entry(host.to_owned()).or_default().performed.push(sentence);
        Ok(outcome)
    }
}

fn not_found(what: String) -> BackendError {
    BackendError::new(Fault::NotFound, format!("{what} not found"))
}

fn already_exists(what: String) -> BackendError {
    BackendError::new(Fault::AlreadyExists, format!("{what} already exists"))
}

fn perform(host: &mut ObservedHost, operation: &Operation) -> Result<OperationOutcome, BackendError> {
    match operation {
        Operation::AddSwitch {
            name,
            mtu,
            uplinks,
            teaming,
            teaming_policy,
            security,
        } => {
            if host.switch(name).is_some() {
                return Err(already_exists(format!("switch {name}")));
            }
            host.switches.push(ObservedSwitch {
                name: name.clone(),
                mtu: *mtu,
                uplinks: uplinks.clone(),
                teaming: esxi::effective_teaming(uplinks, teaming),
                policy: SwitchPolicy {
                    teaming: esxi::effective_teaming_policy(uplinks, *teaming_policy),
                    security: *security,
                    ..SwitchPolicy::default()
                },
            });
        }
        Operation::UpdateSwitch {
            name,
            mtu,
            uplinks,
            teaming,
            teaming_policy,
            security,
        } => {
            let switch = host
                .switches
                .iter_mut()
                .find(|switch| switch.name == *name)
                .ok_or_else(|| not_found(format!("switch {name}")))?;
            switch.mtu = *mtu;
            switch.uplinks = uplinks.clone();
            switch.teaming = esxi::effective_teaming(uplinks, teaming);
            switch.policy.teaming = esxi::effective_teaming_policy(uplinks, *teaming_policy);
            switch.policy.security = *security;
        }
        Operation::RemoveSwitch { name } => {
            if host.switch(name).is_none() {
                return Err(not_found(format!("switch {name}")));
            }
            if host
                .adapters
                .iter()
                .any(|adapter| matches!(&adapter.connection, PortConnection::Standard { switch, .. } if switch == name))
            {
                return Err(BackendError::new(
                    Fault::ResourceInUse,
                    format!("switch {name} carries an adapter"),
                ));
            }
            esxi::remove_switch(host, name);
        }
        Operation::AddPortGroup {
            name,
            switch,
            vlan,
            teaming,
            security,
        } => {
            if host.switch(switch).is_none() {
                return Err(not_found(format!("switch {switch}")));
            }
            if host.port_group(name).is_some() {
                return Err(already_exists(format!("port group {name}")));
            }
            esxi::put_port_group(host, name, switch, *vlan);
            esxi::set_port_group_overrides(host, name, teaming, *security);
        }
        Operation::UpdatePortGroup {
            name,
            switch,
            vlan,
            teaming,
            security,
        } => {
            if host.port_group(name).is_none() {
                return Err(not_found(format!("port group {name}")));
            }
            if host.switch(switch).is_none() {
                return Err(not_found(format!("switch {switch}")));
            }
            esxi::put_port_group(host, name, switch, *vlan);
            esxi::set_port_group_overrides(host, name, teaming, *security);
        }
        Operation::RemovePortGroup { name } => {
            if host.port_group(name).is_none() {
                return Err(not_found(format!("port group {name}")));
            }
            if host
                .adapters
                .iter()
                .any(|adapter| adapter.connection.port_group() == name)
            {
                return Err(BackendError::new(
                    Fault::ResourceInUse,
                    format!("port group {name} has an adapter"),
                ));
            }
            host.port_groups.retain(|port_group| port_group.name != *name);
        }
        Operation::AddAdapter {
            connection,
            stack,
            mtu,
            ipv4,
            ipv6,
        } => {
            if let PortConnection::Standard { port_group, .. } = connection {
                if host.port_group(port_group).is_none() {
                    return Err(not_found(format!("port group {port_group}")));
                }
            }
            if host.adapter_on(connection).is_some() {
                return Err(already_exists(format!("an adapter on {connection}")));
            }
            if host.stack(*stack).is_none() {
                return Err(not_found(format!("stack {stack}")));
            }
            let device = esxi::next_free_device(host);
            let ipv6 = ipv6.clone().unwrap_or(crate::backend::Ipv6Settings {
                dhcp: false,
                router_advertisement: esxi::default_router_advertisement(host),
                addresses: BTreeSet::new(),
                gateway_override: None,
            });
            let adapter = ObservedAdapter {
                device: device.clone(),
                connection: connection.clone(),
                stack: *stack,
                mac: format!("00:50:56:00:01:{:02x}", host.adapters.len()),
                mtu: *mtu,
                ipv4: ObservedIpv4 {
                    dhcp: ipv4.dhcp,
                    address: ipv4.address,
                    prefix_length: ipv4.prefix_length,
                    gateway_override: ipv4.gateway_override,
                },
                ipv6: ObservedIpv6 {
                    dhcp: ipv6.dhcp,
                    router_advertisement: ipv6.router_advertisement,
                    addresses: ipv6
                        .addresses
                        .iter()
                        .map(|address| ObservedIpv6Address {
                            address: *address,
                            origin: Ipv6Origin::Manual,
                        })
                        .collect(),
                    gateway_override: ipv6.gateway_override,
                },
                services: esxi::new_adapter_services(*stack),
                system_owned: false,
                storage_bindings: Default::default(),
            };
            esxi::add_adapter(host, adapter);
            return Ok(OperationOutcome {
                created_device: Some(device),
            });
        }
        Operation::UpdateAdapter {
            device,
            mtu,
            ipv4,
            ipv6,
        } => {
            let ipv6 = ipv6.as_ref().map(|ipv6| Ipv6State {
                dhcp: ipv6.dhcp,
                router_advertisement: ipv6.router_advertisement,
                addresses: ipv6.addresses.clone(),
                gateway_override: ipv6.gateway_override,
            });
            let ipv4 = ObservedIpv4 {
                dhcp: ipv4.dhcp,
                address: ipv4.address,
                prefix_length: ipv4.prefix_length,
                gateway_override: ipv4.gateway_override,
            };
            esxi::update_adapter(adapter_mut(host, device)?, *mtu, &ipv4, ipv6.as_ref());
        }
        Operation::RemoveAdapter { device } => {
            adapter_mut(host, device)?;
            host.adapters.retain(|adapter| adapter.device != *device);
        }
        Operation::EditStack { stack, settings } => {
            let observed = host
                .stacks
                .iter_mut()
                .find(|observed| observed.stack == *stack)
                .ok_or_else(|| not_found(format!("stack {stack}")))?;
            if !observed.instantiated {
                return Err(BackendError::new(
                    Fault::InvalidState,
                    format!("stack {stack} is not instantiated: add its first adapter, then edit it"),
                ));
            }
            let mut wanted = crate::operations::stack_state(settings);
            wanted.routes.sort();
            esxi::edit_stack(observed, &wanted);
        }
        Operation::SelectService { device, service } => {
            let stack = adapter_mut(host, device)?.stack;
            if stack != StackKind::Default && stack.implied_service() != Some(*service) {
                return Err(BackendError::new(
                    Fault::InvalidArgument,
                    format!("adapter {device} is on the {stack} stack, which carries its own service only"),
                ));
            }
            if let Some(dedicated_stack) = esxi::dedicated_stack_in_use(host, *service) {
                if stack != dedicated_stack {
                    return Err(BackendError::new(
                        Fault::InvalidState,
                        format!("the {dedicated_stack} stack has an adapter and carries all {service} traffic"),
                    ));
                }
            }
            adapter_mut(host, device)?.services.insert(*service);
        }
        Operation::DeselectService { device, service } => {
            let adapter = adapter_mut(host, device)?;
            if adapter.stack.implied_service() == Some(*service) {
                return Err(BackendError::new(
                    Fault::InvalidArgument,
                    format!("adapter {device} always carries {service}: remove the adapter instead"),
                ));
            }
            if !adapter.services.remove(service) {
                return Err(BackendError::new(
                    Fault::InvalidArgument,
                    format!("adapter {device} is not selected for {service}"),
                ));
            }
        }
    }
    Ok(OperationOutcome::default())
}

fn adapter_mut<'host>(host: &'host mut ObservedHost, device: &str) -> Result<&'host mut ObservedAdapter, BackendError> {
    host.adapters
        .iter_mut()
        .find(|adapter| adapter.device == device)
        .ok_or_else(|| not_found(format!("adapter {device}")))
}

/// A freshly installed host like `esxnet sim init` makes: vmnic0–3, vSwitch0 with
/// "Management Network" and vmk0 on the default stack carrying management, a default gateway.
pub fn fresh_host(name: &str, management_address: std::net::Ipv4Addr) -> ObservedHost {
    let stack = |stack: StackKind| ObservedStack {
        stack,
        instantiated: stack == StackKind::Default,
        ipv4_gateway: (stack == StackKind::Default).then(|| std::net::Ipv4Addr::new(192, 168, 1, 1)),
        ipv6_gateway: None,
        dns: Dns::default(),
        routes: Vec::new(),
        max_connections: 11_000,
        requested_max_connections: 11_000,
        congestion_control: CongestionControl::Newreno,
        ipv6_gateway_from_router_advertisement: false,
        dns_from_dhcp: false,
        dns_host_name: String::new(),
        dns_domain_name: String::new(),
    };
    ObservedHost {
        name: name.to_owned(),
        version: EsxiVersion::new(8, 0, 3),
        physical_nics: (0..4)
            .map(|number| PhysicalNic {
                device: format!("vmnic{number}"),
                mac: format!("00:50:56:00:00:{number:02x}"),
                link_speed_mb: Some(10_000),
            })
            .collect(),
        switches: vec![ObservedSwitch {
            name: "vSwitch0".to_owned(),
            mtu: 1500,
            uplinks: BTreeSet::from(["vmnic0".to_owned(), "vmnic1".to_owned()]),
            teaming: Teaming {
                active: vec!["vmnic0".to_owned(), "vmnic1".to_owned()],
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
            mac: "00:50:56:00:00:10".to_owned(),
            mtu: 1500,
            ipv4: ObservedIpv4 {
                dhcp: false,
                address: Some(management_address),
                prefix_length: Some(24),
                gateway_override: None,
            },
            ipv6: ObservedIpv6 {
                dhcp: false,
                router_advertisement: true,
                addresses: Vec::new(),
                gateway_override: None,
            },
            services: BTreeSet::from([Service::Management, Service::Provisioning]),
            system_owned: false,
            storage_bindings: Default::default(),
        }],
        stacks: StackKind::ALL.into_iter().map(stack).collect(),
        distributed_switches: Vec::new(),
        active_migrations: Vec::new(),
        ipv6_enabled: true,
    }
}

/// A fleet of fresh hosts `esx-01` … `esx-NN`.
pub fn fresh_fleet(count: usize) -> ObservedFleet {
    ObservedFleet {
        hosts: (1..=count)
            .map(|number| {
                let name = format!("esx-{number:02}");
                let host = fresh_host(&name, std::net::Ipv4Addr::new(192, 168, 1, 10 + number as u8));
                (name, host)
            })
            .collect(),
    }
}

//! The VI JSON API over a lab: sessions, views, the property collector and the networking
//! methods, each answered from or applied to the simulator.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use esxnet_model::observed::ObservedHost;
use esxnet_sim::{Lab, SimError, SimHost};
use serde_json::{json, Value};
use vim_rs::types::structs as vim;

use crate::fault::{check_parameter, through_vim, VimFault};
#[cfg(test)]
use crate::inventory;
use crate::inventory::{
    index_from_id, moref, Inventory, PROPERTY_COLLECTOR, ROOT_FOLDER, SERVICE_INSTANCE, SESSION_MANAGER, VIEW_MANAGER,
};
use crate::specs;

/// The API releases the server offers in release discovery, newest first.
pub(crate) const API_RELEASES: [&str; 5] = ["9.1.0.0", "9.0.0.0", "8.0.3.0", "8.0.2.0", "8.0.1.0"];

/// What the property collector answers per call when the client does not say.
const DEFAULT_MAX_OBJECTS: usize = 100;

/// One VI JSON call, as the HTTP layer hands it over.
pub(crate) struct VimRequest {
    /// `true` for a property read (`GET`), `false` for a method call (`POST`).
    pub(crate) is_property_read: bool,
    pub(crate) mo_type: String,
    pub(crate) mo_id: String,
    /// The method or the property path.
    pub(crate) name: String,
    /// The `vmware-api-session-id` header.
    pub(crate) session: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// The answer to one call.
pub(crate) struct VimReply {
    pub(crate) status: u16,
    /// JSON text; empty for a void method.
    pub(crate) body: String,
    /// A new session token, sent back in the `vmware-api-session-id` header.
    pub(crate) session: Option<String>,
}

impl VimReply {
    fn json(body: String) -> Self {
        VimReply {
            status: 200,
            body,
            session: None,
        }
    }

    fn void() -> Self {
        VimReply {
            status: 204,
            body: String::new(),
            session: None,
        }
    }

    fn fault(fault: &VimFault) -> Self {
        VimReply {
            status: 500,
            body: fault.to_wire(),
            session: None,
        }
    }
}

/// A container view: the container it looks into and the managed object types it shows.
#[derive(Clone)]
struct ContainerViewSpec {
    container_type: String,
    container_id: String,
    types: Vec<String>,
}

/// How deep the property collector follows traversal specs: far beyond the inventory's depth,
/// and a bound for specs that refer to themselves.
const MAX_TRAVERSAL_DEPTH: usize = 16;

#[derive(Default)]
struct State {
    /// Session token → user name.
    sessions: HashMap<String, String>,
    /// Container view id → what it shows.
    views: BTreeMap<String, ContainerViewSpec>,
    next_view: u64,
    /// Continuation token → the objects still to send.
    pending_results: HashMap<String, Vec<Value>>,
    next_token: u64,
    /// The fault-injection draws, seeded from the lab's settings on first use.
    fault_draws: Option<fastrand::Rng>,
}

/// The API calls a server answered: in all, by method, and per host.
///
/// A call counts for a host when it is addressed to one of the host's managed objects (its
/// `HostNetworkSystem` or `HostVirtualNicManager`), or when it is a property-collector
/// retrieval whose answer reads one of them (the host's own properties included). So a host's
/// count is its changes plus the round trips that observed it; a retrieval that reads the whole
/// inventory counts once for every host.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerCounters {
    /// Every call, including login, release discovery and property reads.
    pub total_calls: u64,
    /// Calls by method name (`GET` property reads count as `PropertyRead`).
    pub methods: BTreeMap<String, u64>,
    /// Calls per host name, by method name.
    pub hosts: BTreeMap<String, BTreeMap<String, u64>>,
}

impl ServerCounters {
    /// Calls that read or changed one host, by method; empty when the host was never touched.
    pub fn host(&self, name: &str) -> BTreeMap<String, u64> {
        self.hosts.get(name).cloned().unwrap_or_default()
    }

    /// How many times a method was called, over all hosts.
    pub fn method(&self, name: &str) -> u64 {
        self.methods.get(name).copied().unwrap_or(0)
    }
}

/// The lab behind the API, and the server's session state.
///
/// The server is the lab's only writer (it holds the writer lock), so it keeps every host in
/// memory and reads no file per call: a call costs the same with 10 hosts as with 10,000. Each
/// change goes through the simulator, is written to the host's file, and then replaces the
/// host's copy here.
pub(crate) struct Simulator {
    lab: Lab,
    user: String,
    password: String,
    state: Mutex<State>,
    /// Every host, in host-name order; a host's position is its managed object number.
    hosts: Mutex<Vec<Arc<ObservedHost>>>,
    /// The simulator's copy of every host, which changes work on (the lab's files are written,
    /// never read back, while the server runs).
    sim_hosts: BTreeMap<String, Arc<Mutex<SimHost>>>,
    counters: Mutex<ServerCounters>,
}

fn parse_body(body: &[u8]) -> Result<Value, VimFault> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|error| VimFault::invalid_request(format!("the request body is not JSON: {error}")))
}

/// RFC 3339 UTC time, as `UserSession.loginTime` carries it.
fn now_rfc3339() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    let days = (seconds / 86_400) as i64;
    let remainder = seconds % 86_400;
    // Howard Hinnant's civil-from-days: days since 1970-01-01 → year, month, day.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        remainder / 3600,
        remainder % 3600 / 60,
        remainder % 60
    )
}

impl Simulator {
    pub(crate) fn new(lab: Lab, user: String, password: String) -> Result<Self, SimError> {
        let mut names = lab.host_names()?;
        names.sort();
        let loaded = names
            .iter()
            .map(|name| lab.load_host(name))
            .collect::<Result<Vec<SimHost>, SimError>>()?;
        let hosts = loaded.iter().map(|host| Arc::new(host.observed().clone())).collect();
        let sim_hosts = loaded
            .into_iter()
            .map(|host| (host.name().to_owned(), Arc::new(Mutex::new(host))))
            .collect();
        Ok(Simulator {
            sim_hosts,
            lab,
            user,
            password,
            state: Mutex::new(State::default()),
            hosts: Mutex::new(hosts),
            counters: Mutex::new(ServerCounters::default()),
        })
    }

    /// The calls answered so far.
    pub(crate) fn counters(&self) -> ServerCounters {
        self.lock_counters().clone()
    }

    /// Forgets the calls counted so far.
    pub(crate) fn reset_counters(&self) {
        *self.lock_counters() = ServerCounters::default();
    }

    fn lock_counters(&self) -> std::sync::MutexGuard<'_, ServerCounters> {
        self.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn count_for_hosts<'a>(&self, method: &str, hosts: impl IntoIterator<Item = &'a str>) {
        let mut counters = self.lock_counters();
        for host in hosts {
            *counters
                .hosts
                .entry(host.to_owned())
                .or_default()
                .entry(method.to_owned())
                .or_insert(0) += 1;
        }
    }

    fn lock_hosts(&self) -> std::sync::MutexGuard<'_, Vec<Arc<ObservedHost>>> {
        self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The simulated latency per API call the lab asks for.
    pub(crate) fn latency_ms(&self) -> u64 {
        self.lab.settings().latency_ms
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Answers one call; never panics on bad input, every problem is a fault.
    pub(crate) fn handle(&self, request: &VimRequest) -> VimReply {
        {
            let method = if request.is_property_read {
                "PropertyRead"
            } else {
                request.name.as_str()
            };
            let mut counters = self.lock_counters();
            counters.total_calls += 1;
            *counters.methods.entry(method.to_owned()).or_insert(0) += 1;
        }
        match self.dispatch(request) {
            Ok(reply) => reply,
            Err(fault) => VimReply::fault(&fault),
        }
    }

    fn dispatch(&self, request: &VimRequest) -> Result<VimReply, VimFault> {
        let mo_type = request.mo_type.as_str();
        let mo_id = request.mo_id.as_str();
        let name = request.name.as_str();
        // The two calls a client makes before it has a session.
        if request.is_property_read && mo_type == "ServiceInstance" && mo_id == SERVICE_INSTANCE && name == "content" {
            return Ok(VimReply::json(through_vim::<vim::ServiceContent>(&service_content())?));
        }
        if !request.is_property_read && mo_type == "SessionManager" && mo_id == SESSION_MANAGER && name == "Login" {
            return self.login(&parse_body(&request.body)?);
        }
        self.require_session(request.session.as_deref())?;
        if let Some(reply) = self.injected_fault(request) {
            return Ok(reply);
        }
        if request.is_property_read {
            return self.read_property(mo_type, mo_id, name);
        }
        let body = parse_body(&request.body)?;
        match (mo_type, name) {
            ("SessionManager", "Logout") if mo_id == SESSION_MANAGER => {
                if let Some(session) = &request.session {
                    self.state().sessions.remove(session);
                }
                Ok(VimReply::void())
            }
            ("ViewManager", "CreateContainerView") if mo_id == VIEW_MANAGER => self.create_container_view(&body),
            ("ContainerView", "DestroyView") => {
                if self.state().views.remove(mo_id).is_none() {
                    return Err(VimFault::object_not_found(mo_type, mo_id));
                }
                Ok(VimReply::void())
            }
            ("PropertyCollector", "RetrievePropertiesEx") if mo_id == PROPERTY_COLLECTOR => {
                self.retrieve_properties(&body)
            }
            ("PropertyCollector", "ContinueRetrievePropertiesEx") if mo_id == PROPERTY_COLLECTOR => {
                let token = specs::required_string(&body, "token")?;
                let objects = self.state().pending_results.remove(token).ok_or_else(|| {
                    VimFault::invalid_argument(format!("token {token} is not a pending property collector result"))
                })?;
                self.retrieve_answer(objects, DEFAULT_MAX_OBJECTS)
            }
            ("HostNetworkSystem", _) => {
                let host_name = self.host_name(mo_type, mo_id, "networkSystem")?;
                self.count_for_hosts(name, [host_name.as_str()]);
                self.network_system_call(&host_name, name, &body)
            }
            ("HostVirtualNicManager", "SelectVnicForNicType" | "DeselectVnicForNicType") => {
                let host_name = self.host_name(mo_type, mo_id, "virtualNicManager")?;
                self.count_for_hosts(name, [host_name.as_str()]);
                let nic_type = specs::required_string(&body, "nicType")?;
                let device = specs::required_string(&body, "device")?;
                let select = name == "SelectVnicForNicType";
                self.modify(&host_name, |host| {
                    if select {
                        host.select_service_named(device, nic_type)
                    } else {
                        host.deselect_service_named(device, nic_type)
                    }
                    .map_err(|error| VimFault::from_sim(&error))
                })?;
                Ok(VimReply::void())
            }
            _ => Err(VimFault::method_not_found(mo_type, name)),
        }
    }

    /// The lab's transient-fault injection, for the calls the simulator backend draws for: reads
    /// and changes of hosts. A busy server answers HTTP 503 with a plain-text body, as a proxy in
    /// front of vCenter does; a timed-out call answers `RequestCanceled`. Both are transient for
    /// esxnet's vSphere backend, as the `sim:` target's injected faults are.
    fn injected_fault(&self, request: &VimRequest) -> Option<VimReply> {
        let settings = self.lab.settings();
        let drawn_for = matches!(
            (request.mo_type.as_str(), request.name.as_str()),
            ("PropertyCollector", "RetrievePropertiesEx") | ("HostNetworkSystem", _) | ("HostVirtualNicManager", _)
        );
        if settings.transient_fault_rate <= 0.0 || !drawn_for {
            return None;
        }
        let busy = {
            let mut state = self.state();
            let random = state
                .fault_draws
                .get_or_insert_with(|| fastrand::Rng::with_seed(settings.seed));
            if random.f64() >= settings.transient_fault_rate {
                return None;
            }
            random.bool()
        };
        let fault = if busy {
            esxnet_executor::Fault::Busy
        } else {
            esxnet_executor::Fault::Timeout
        };
        let error = SimError::Transient {
            fault,
            host: request.mo_id.clone(),
            method: request.name.clone(),
        };
        Some(if busy {
            VimReply {
                status: 503,
                body: format!("HTTP 503 Service Unavailable: {error}"),
                session: None,
            }
        } else {
            VimReply::fault(&VimFault::from_sim(&error))
        })
    }

    fn login(&self, body: &Value) -> Result<VimReply, VimFault> {
        let user = specs::required_string(body, "userName")?;
        let password = specs::required_string(body, "password")?;
        if user != self.user || password != self.password {
            return Err(VimFault::new(
                "InvalidLogin",
                "Cannot complete login due to an incorrect user name or password.",
            ));
        }
        let token: String = (0..40).map(|_| fastrand::alphanumeric()).collect();
        self.state().sessions.insert(token.clone(), user.to_owned());
        let now = now_rfc3339();
        let session = json!({
            "_typeName": "UserSession",
            "key": token,
            "userName": user,
            "fullName": user,
            "loginTime": now,
            "lastActiveTime": now,
            "locale": body.get("locale").and_then(Value::as_str).unwrap_or("en"),
            "messageLocale": "en",
            "extensionSession": false,
            "ipAddress": "127.0.0.1",
            "userAgent": "",
            "callCount": 0,
        });
        let mut reply = VimReply::json(through_vim::<vim::UserSession>(&session)?);
        reply.session = Some(token);
        Ok(reply)
    }

    fn require_session(&self, session: Option<&str>) -> Result<(), VimFault> {
        match session {
            Some(token) if self.state().sessions.contains_key(token) => Ok(()),
            _ => Err(VimFault::new(
                "NotAuthenticated",
                "the session is not authenticated: log in with SessionManager.Login first",
            )),
        }
    }

    /// A snapshot of every host, in host-name order (shared copies: no host is read or copied).
    fn inventory(&self) -> Result<Inventory, VimFault> {
        Ok(Inventory {
            hosts: self.lock_hosts().clone(),
        })
    }

    /// The host name behind a per-host managed object id.
    fn host_name(&self, mo_type: &str, mo_id: &str, prefix: &str) -> Result<String, VimFault> {
        index_from_id(mo_id, prefix)
            .and_then(|index| self.lock_hosts().get(index).map(|host| host.name.clone()))
            .ok_or_else(|| VimFault::object_not_found(mo_type, mo_id))
    }

    fn read_property(&self, mo_type: &str, mo_id: &str, path: &str) -> Result<VimReply, VimFault> {
        let inventory = self.inventory()?;
        let value = inventory
            .property(mo_type, mo_id, path)
            .map_err(|()| VimFault::object_not_found(mo_type, mo_id))?
            .ok_or_else(|| {
                VimFault::new(
                    "InvalidProperty",
                    format!("{mo_type} has no property {path} in esxnet's simulator"),
                )
            })?;
        // A property read answers the bare value: unwrap a boxed primitive.
        let value = match value.get("_value") {
            Some(inner) => inner.clone(),
            None => value,
        };
        let text = match (mo_type, path) {
            ("HostSystem", "config.network") | ("HostNetworkSystem", "networkInfo") => {
                through_vim::<vim::HostNetworkInfo>(&value)?
            }
            ("HostVirtualNicManager", "info") => through_vim::<vim::HostVirtualNicManagerInfo>(&value)?,
            ("HostSystem", "config") => through_vim::<vim::HostConfigInfo>(&value)?,
            ("HostSystem", "runtime") => through_vim::<vim::HostRuntimeInfo>(&value)?,
            ("HostSystem", "runtime.networkRuntimeInfo") => {
                through_vim::<vim::HostRuntimeInfoNetworkRuntimeInfo>(&value)?
            }
            _ => value.to_string(),
        };
        Ok(VimReply::json(text))
    }

    fn create_container_view(&self, body: &Value) -> Result<VimReply, VimFault> {
        let container = specs::required_object(body, "container")?;
        check_parameter::<vim::ManagedObjectReference>(container, "container")?;
        let container_type = specs::required_string(container, "type")?;
        let container_id = specs::required_string(container, "value")?;
        let types: Vec<String> = body
            .get("type")
            .and_then(Value::as_array)
            .map(|types| types.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        // The container must exist (a folder, the datacenter or a compute resource).
        crate::datacenter::members(&self.inventory()?, container_type, container_id, &types)
            .map_err(|()| VimFault::object_not_found(container_type, container_id))?;
        let mut state = self.state();
        state.next_view += 1;
        let view_id = format!("session[esxnet]containerView-{}", state.next_view);
        state.views.insert(
            view_id.clone(),
            ContainerViewSpec {
                container_type: container_type.to_owned(),
                container_id: container_id.to_owned(),
                types,
            },
        );
        drop(state);
        Ok(VimReply::json(through_vim::<vim::ManagedObjectReference>(&moref(
            "ContainerView",
            &view_id,
        ))?))
    }

    /// The objects a container view shows, in inventory order.
    fn view_members(&self, inventory: &Inventory, view_id: &str) -> Result<Vec<(String, String)>, VimFault> {
        let view = self
            .state()
            .views
            .get(view_id)
            .cloned()
            .ok_or_else(|| VimFault::object_not_found("ContainerView", view_id))?;
        crate::datacenter::members(inventory, &view.container_type, &view.container_id, &view.types)
            .map_err(|()| VimFault::object_not_found(&view.container_type, &view.container_id))
    }

    /// The managed objects a property holds (a reference or an array of them), for traversal.
    fn referenced_objects(
        &self,
        inventory: &Inventory,
        mo_type: &str,
        mo_id: &str,
        path: &str,
    ) -> Result<Vec<(String, String)>, VimFault> {
        if mo_type == "ContainerView" {
            return if path == "view" {
                self.view_members(inventory, mo_id)
            } else {
                Ok(Vec::new())
            };
        }
        let Ok(Some(value)) = inventory.property(mo_type, mo_id, path) else {
            return Ok(Vec::new());
        };
        let items = match value.get("_value").and_then(Value::as_array) {
            Some(items) => items.clone(),
            None => vec![value],
        };
        Ok(items
            .iter()
            .filter(|item| item.get("_typeName").and_then(Value::as_str) == Some("ManagedObjectReference"))
            .filter_map(|item| {
                Some((
                    item.get("type")?.as_str()?.to_owned(),
                    item.get("value")?.as_str()?.to_owned(),
                ))
            })
            .collect())
    }

    /// The objects one `ObjectSpec` selects: the object itself unless skipped, and every object
    /// its traversal specs reach (a `SelectionSpec` that only names a spec refers to a
    /// `TraversalSpec` of that name anywhere in the object spec, so specs may recurse).
    fn selected_objects(&self, inventory: &Inventory, object_spec: &Value) -> Result<Vec<(String, String)>, VimFault> {
        let object = specs::required_object(object_spec, "obj")?;
        let mo_type = specs::required_string(object, "type")?;
        let mo_id = specs::required_string(object, "value")?;
        let mut named = HashMap::new();
        collect_named_traversals(object_spec.get("selectSet"), &mut named, 0);
        let mut selected = Vec::new();
        if !object_spec.get("skip").and_then(Value::as_bool).unwrap_or(false) {
            selected.push((mo_type.to_owned(), mo_id.to_owned()));
        }
        if mo_type == "ContainerView" {
            // A view that does not exist fails the call, traversed or not.
            self.view_members(inventory, mo_id)?;
        }
        let selections: Vec<Value> = object_spec
            .get("selectSet")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut visited = BTreeSet::from([(mo_type.to_owned(), mo_id.to_owned())]);
        self.traverse(
            inventory,
            mo_type,
            mo_id,
            &selections,
            &named,
            &mut visited,
            &mut selected,
            0,
        )?;
        Ok(selected)
    }

    #[allow(clippy::too_many_arguments)]
    fn traverse(
        &self,
        inventory: &Inventory,
        mo_type: &str,
        mo_id: &str,
        selections: &[Value],
        named: &HashMap<String, Value>,
        visited: &mut BTreeSet<(String, String)>,
        selected: &mut Vec<(String, String)>,
        depth: usize,
    ) -> Result<(), VimFault> {
        if depth >= MAX_TRAVERSAL_DEPTH {
            return Ok(());
        }
        for selection in selections {
            let traversal = match selection.get("path") {
                Some(_) => selection,
                None => match selection
                    .get("name")
                    .and_then(Value::as_str)
                    .and_then(|name| named.get(name))
                {
                    Some(traversal) => traversal,
                    None => continue,
                },
            };
            let Some(traversal_type) = traversal.get("type").and_then(Value::as_str) else {
                continue;
            };
            if !crate::datacenter::is_a(mo_type, traversal_type) {
                continue;
            }
            let path = traversal.get("path").and_then(Value::as_str).unwrap_or_default();
            let skip = traversal.get("skip").and_then(Value::as_bool).unwrap_or(false);
            let next: Vec<Value> = traversal
                .get("selectSet")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (target_type, target_id) in self.referenced_objects(inventory, mo_type, mo_id, path)? {
                if !visited.insert((target_type.clone(), target_id.clone())) {
                    continue;
                }
                if !skip {
                    selected.push((target_type.clone(), target_id.clone()));
                }
                self.traverse(
                    inventory,
                    &target_type,
                    &target_id,
                    &next,
                    named,
                    visited,
                    selected,
                    depth + 1,
                )?;
            }
        }
        Ok(())
    }

    fn retrieve_properties(&self, body: &Value) -> Result<VimReply, VimFault> {
        let spec_set = body
            .get("specSet")
            .and_then(Value::as_array)
            .ok_or_else(|| VimFault::invalid_request("parameter specSet is missing"))?;
        for spec in spec_set {
            check_parameter::<vim::PropertyFilterSpec>(spec, "specSet")?;
        }
        let max_objects = body
            .get("options")
            .and_then(|options| options.get("maxObjects"))
            .and_then(Value::as_u64)
            .filter(|maximum| *maximum > 0)
            .map_or(DEFAULT_MAX_OBJECTS, |maximum| maximum as usize);
        let inventory = self.inventory()?;
        let mut objects = Vec::new();
        let mut hosts_read: BTreeSet<String> = BTreeSet::new();
        for spec in spec_set {
            let report_missing = spec
                .get("reportMissingObjectsInResults")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let property_specs = spec
                .get("propSet")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for object_spec in spec.get("objectSet").and_then(Value::as_array).into_iter().flatten() {
                for (mo_type, mo_id) in self.selected_objects(&inventory, object_spec)? {
                    let is_selected_type = property_specs.iter().any(|property_spec| {
                        property_spec
                            .get("type")
                            .and_then(Value::as_str)
                            .is_some_and(|wanted| crate::datacenter::is_a(&mo_type, wanted))
                    });
                    if !is_selected_type {
                        continue;
                    }
                    match self.object_content(&inventory, &property_specs, &mo_type, &mo_id) {
                        Ok(content) => {
                            if let Some(host) = inventory.host_of(&mo_type, &mo_id) {
                                hosts_read.insert(host.name.clone());
                            }
                            objects.push(content);
                        }
                        // With reportMissingObjectsInResults, an object that does not exist is
                        // reported in the answer instead of failing the whole call.
                        Err(_) if report_missing => objects.push(json!({
                            "_typeName": "ObjectContent",
                            "obj": moref(&mo_type, &mo_id),
                            "missingSet": [{
                                "_typeName": "MissingProperty",
                                "path": "",
                                "fault": {"_typeName": "ManagedObjectNotFound", "obj": moref(&mo_type, &mo_id)},
                            }],
                        })),
                        Err(fault) => return Err(fault),
                    }
                }
            }
        }
        self.count_for_hosts("RetrievePropertiesEx", hosts_read.iter().map(String::as_str));
        self.retrieve_answer(objects, max_objects)
    }

    /// The `ObjectContent` of one object with the paths its type's property specs ask for.
    fn object_content(
        &self,
        inventory: &Inventory,
        property_specs: &[Value],
        mo_type: &str,
        mo_id: &str,
    ) -> Result<Value, VimFault> {
        let mut properties = Vec::new();
        for property_spec in property_specs.iter().filter(|property_spec| {
            property_spec
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|wanted| crate::datacenter::is_a(mo_type, wanted))
        }) {
            let paths: Vec<String> = if property_spec.get("all").and_then(Value::as_bool) == Some(true) {
                Inventory::all_paths(mo_type)
                    .iter()
                    .map(|path| (*path).to_owned())
                    .collect()
            } else {
                property_spec
                    .get("pathSet")
                    .and_then(Value::as_array)
                    .map(|paths| paths.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default()
            };
            for path in paths {
                // A container view's one property: the objects it shows.
                if mo_type == "ContainerView" {
                    if path == "view" {
                        let members: Vec<Value> = self
                            .view_members(inventory, mo_id)?
                            .iter()
                            .map(|(member_type, member_id)| moref(member_type, member_id))
                            .collect();
                        properties.push(json!({
                            "_typeName": "DynamicProperty",
                            "name": path,
                            "val": {"_typeName": "ArrayOfManagedObjectReference", "_value": members},
                        }));
                    }
                    continue;
                }
                let value = inventory
                    .property(mo_type, mo_id, &path)
                    .map_err(|()| VimFault::object_not_found(mo_type, mo_id))?;
                // Paths the simulator does not model are left out, as vSphere leaves out unset
                // properties.
                if let Some(value) = value {
                    let mut property = json!({"_typeName": "DynamicProperty", "name": path});
                    property["val"] = value;
                    properties.push(property);
                }
            }
        }
        // An object that does not exist is missing even when no path was asked for.
        if mo_type == "ContainerView" {
            self.view_members(inventory, mo_id)?;
        } else if inventory.property(mo_type, mo_id, "").is_err() {
            return Err(VimFault::object_not_found(mo_type, mo_id));
        }
        let mut content = json!({"_typeName": "ObjectContent", "obj": moref(mo_type, mo_id)});
        content["propSet"] = Value::Array(properties);
        Ok(content)
    }

    /// A `RetrieveResult` with at most `max_objects` objects and a token for the rest.
    fn retrieve_answer(&self, mut objects: Vec<Value>, max_objects: usize) -> Result<VimReply, VimFault> {
        let mut token = None;
        if objects.len() > max_objects {
            let rest = objects.split_off(max_objects);
            let mut state = self.state();
            state.next_token += 1;
            let next = format!("esxnet-retrieve-{}", state.next_token);
            state.pending_results.insert(next.clone(), rest);
            token = Some(next);
        }
        Ok(VimReply::json(crate::fault::retrieve_result_text(token, &objects)?))
    }

    fn modify<T>(
        &self,
        host_name: &str,
        change: impl FnOnce(&mut SimHost) -> Result<T, VimFault>,
    ) -> Result<T, VimFault> {
        let Some(held) = self.sim_hosts.get(host_name) else {
            return Err(VimFault::from_sim(&SimError::UnknownHost {
                host: host_name.to_owned(),
                dir: self.lab.dir().to_owned(),
            }));
        };
        let mut host = held.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // The closure's spec errors travel inside the simulator's Ok, so the host file is
        // written only when the simulator accepted the change.
        let mut spec_fault = None;
        let outcome = self.lab.modify_held_host(&mut host, |host| match change(host) {
            Ok(value) => Ok(Some(value)),
            Err(fault) => {
                spec_fault = Some(fault);
                Ok(None)
            }
        });
        match outcome {
            Ok(Some(value)) => {
                let changed = Arc::new(host.observed().clone());
                drop(host);
                let mut hosts = self.lock_hosts();
                if let Some(slot) = hosts.iter_mut().find(|slot| slot.name == changed.name) {
                    *slot = changed;
                }
                Ok(value)
            }
            Ok(None) => Err(spec_fault.unwrap_or_else(|| VimFault::new("SystemError", "the change failed"))),
            Err(error) => Err(VimFault::from_sim(&error)),
        }
    }

    fn network_system_call(&self, host_name: &str, method: &str, body: &Value) -> Result<VimReply, VimFault> {
        let sim = |error: SimError| VimFault::from_sim(&error);
        match method {
            "AddVirtualSwitch" | "UpdateVirtualSwitch" => {
                let name = specs::required_string(body, "vswitchName")?;
                let spec = body.get("spec").filter(|spec| !spec.is_null());
                if let Some(spec) = spec {
                    check_parameter::<vim::HostVirtualSwitchSpec>(spec, "spec")?;
                } else if method == "UpdateVirtualSwitch" {
                    return Err(VimFault::invalid_request("parameter spec is missing"));
                }
                let adding = method == "AddVirtualSwitch";
                self.modify(host_name, |host| {
                    if adding {
                        let switch = specs::switch_spec(name, spec, None)?;
                        host.add_virtual_switch(&switch).map_err(sim)
                    } else {
                        // What the spec leaves out is read against the switch as it is.
                        let current = host.observed().switch(name).cloned();
                        let Some(current) = current else {
                            return host
                                .update_virtual_switch(&specs::switch_spec(name, spec, None)?)
                                .map_err(sim);
                        };
                        let switch = specs::switch_spec(name, spec, Some(&current))?;
                        host.update_virtual_switch(&switch).map_err(sim)
                    }
                })?;
                Ok(VimReply::void())
            }
            "RemoveVirtualSwitch" => {
                let name = specs::required_string(body, "vswitchName")?;
                self.modify(host_name, |host| host.remove_virtual_switch(name).map_err(sim))?;
                Ok(VimReply::void())
            }
            "AddPortGroup" => {
                let spec = specs::required_object(body, "portgrp")?;
                check_parameter::<vim::HostPortGroupSpec>(spec, "portgrp")?;
                let (name, switch, vlan, policy) = specs::port_group_spec(spec)?;
                self.modify(host_name, |host| {
                    host.add_port_group_with_policy(&name, &switch, vlan, &policy)
                        .map_err(sim)
                })?;
                Ok(VimReply::void())
            }
            "UpdatePortGroup" => {
                let current_name = specs::required_string(body, "pgName")?;
                let spec = specs::required_object(body, "portgrp")?;
                check_parameter::<vim::HostPortGroupSpec>(spec, "portgrp")?;
                let (name, switch, vlan, policy) = specs::port_group_spec(spec)?;
                if name != current_name {
                    return Err(VimFault::not_supported(format!(
                        "renaming port group {current_name} to {name} is not simulated"
                    )));
                }
                self.modify(host_name, |host| {
                    // A full replace: the overrides become exactly what was sent.
                    host.replace_port_group(&name, &switch, vlan, &policy).map_err(sim)
                })?;
                Ok(VimReply::void())
            }
            "RemovePortGroup" => {
                let name = specs::required_string(body, "pgName")?;
                self.modify(host_name, |host| host.remove_port_group(name).map_err(sim))?;
                Ok(VimReply::void())
            }
            "AddVirtualNic" => {
                let port_group = body.get("portgroup").and_then(Value::as_str).unwrap_or_default();
                let nic = specs::required_object(body, "nic")?;
                check_parameter::<vim::HostVirtualNicSpec>(nic, "nic")?;
                let device = self.modify(host_name, |host| {
                    let adapter = specs::new_adapter(host.observed(), port_group, nic)?;
                    host.add_virtual_nic(&adapter).map_err(sim)
                })?;
                Ok(VimReply::json(Value::String(device).to_string()))
            }
            "UpdateVirtualNic" => {
                let device = specs::required_string(body, "device")?;
                let nic = specs::required_object(body, "nic")?;
                check_parameter::<vim::HostVirtualNicSpec>(nic, "nic")?;
                self.modify(host_name, |host| {
                    let current = host
                        .observed()
                        .adapters
                        .iter()
                        .find(|adapter| adapter.device == device)
                        .cloned();
                    match current {
                        Some(adapter) => {
                            let update = specs::adapter_update(&adapter, nic)?;
                            host.update_virtual_nic(device, &update).map_err(sim)
                        }
                        // The simulator's own NotFound, with its message.
                        None => host.remove_virtual_nic(device).map_err(sim),
                    }
                })?;
                Ok(VimReply::void())
            }
            "RemoveVirtualNic" => {
                let device = specs::required_string(body, "device")?;
                self.modify(host_name, |host| host.remove_virtual_nic(device).map_err(sim))?;
                Ok(VimReply::void())
            }
            "UpdateNetworkConfig" => self.update_network_config(host_name, body),
            "QueryNetworkHint" => self.query_network_hint(host_name, body),
            _ => Err(VimFault::method_not_found("HostNetworkSystem", method)),
        }
    }

    /// What the host's NICs see, from the lab's fabric (`esxnet_sim::Fabric::hints`): for each
    /// NIC asked for (all when `device` is left out), the subnets per VLAN as ranges
    /// (`10.120.0.1-10.120.255.254`) and, for a switch port configured with a VLAN list, LLDP
    /// information whose `Vlan ID` parameter lists them. A lab without a fabric sees nothing: every
    /// NIC is answered with no subnet and no LLDP.
    fn query_network_hint(&self, host_name: &str, body: &Value) -> Result<VimReply, VimFault> {
        let Some(held) = self.sim_hosts.get(host_name) else {
            return Err(VimFault::from_sim(&SimError::UnknownHost {
                host: host_name.to_owned(),
                dir: self.lab.dir().to_owned(),
            }));
        };
        let observed = held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .observed()
            .clone();
        let asked: Option<Vec<&str>> = body
            .get("device")
            .and_then(Value::as_array)
            .map(|devices| devices.iter().filter_map(Value::as_str).collect());
        let hints = match &self.lab.settings().fabric {
            Some(fabric) => fabric.hints(&observed),
            None => observed
                .physical_nics
                .iter()
                .map(|nic| esxnet_model::hints::NicHint {
                    device: nic.device.clone(),
                    ..Default::default()
                })
                .collect(),
        };
        let answer: Vec<Value> = hints
            .iter()
            .filter(|hint| asked.as_ref().is_none_or(|asked| asked.contains(&hint.device.as_str())))
            .map(|hint| {
                let subnets: Vec<Value> = hint
                    .subnets
                    .iter()
                    .map(|subnet| {
                        json!({
                            "_typeName": "PhysicalNicIpHint",
                            "vlanId": subnet.vlan,
                            "ipSubnet": esxnet_model::hints::subnet_range(subnet.network),
                        })
                    })
                    .collect();
                let mut info = json!({"_typeName": "PhysicalNicHintInfo", "device": hint.device});
                if !subnets.is_empty() {
                    info["subnet"] = Value::Array(subnets);
                }
                if let Some(vlans) = &hint.port_vlans {
                    let listed: Vec<String> = vlans.iter().map(ToString::to_string).collect();
                    info["lldpInfo"] = json!({
                        "_typeName": "LinkLayerDiscoveryProtocolInfo",
                        "chassisId": "00:00:5e:00:53:01",
                        "portId": format!("{host_name}/{}", hint.device),
                        "timeToLive": 120,
                        "parameter": [{
                            "_typeName": "KeyAnyValue",
                            "key": "Vlan ID",
                            "value": {"_typeName": "string", "_value": listed.join(",")},
                        }],
                    });
                }
                info
            })
            .collect();
        Ok(VimReply::json(through_vim::<Vec<vim::PhysicalNicHintInfo>>(
            &Value::Array(answer),
        )?))
    }

    fn update_network_config(&self, host_name: &str, body: &Value) -> Result<VimReply, VimFault> {
        let config = specs::required_object(body, "config")?;
        check_parameter::<vim::HostNetworkConfig>(config, "config")?;
        let change_mode = specs::required_string(body, "changeMode")?;
        if change_mode != "modify" {
            return Err(VimFault::not_supported(format!(
                "changeMode {change_mode} is not simulated: use modify"
            )));
        }
        let unsupported: Vec<&String> = config
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, value)| *key != "_typeName" && *key != "netStackSpec" && !value.is_null())
            .map(|(key, _)| key)
            .collect();
        if !unsupported.is_empty() {
            return Err(VimFault::not_supported(format!(
                "UpdateNetworkConfig is simulated for netStackSpec edits only, not {}",
                unsupported
                    .iter()
                    .map(|key| key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for stack_spec in config
            .get("netStackSpec")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let operation = stack_spec.get("operation").and_then(Value::as_str).unwrap_or("edit");
            if operation != "edit" {
                return Err(VimFault::not_supported(format!(
                    "netStackSpec operation {operation} is not supported: only edit is"
                )));
            }
            let instance = specs::required_object(stack_spec, "netStackInstance")?;
            self.modify(host_name, |host| {
                let (stack, edit) = specs::stack_edit(instance)?;
                host.update_stack(stack, &edit)
                    .map_err(|error| VimFault::from_sim(&error))
            })?;
        }
        let result = json!({"_typeName": "HostNetworkConfigResult", "vnicDevice": [], "consoleVnicDevice": []});
        Ok(VimReply::json(through_vim::<vim::HostNetworkConfigResult>(&result)?))
    }
}

/// `ServiceInstance.content`: the roots a client starts from.
fn service_content() -> Value {
    json!({
        "_typeName": "ServiceContent",
        "rootFolder": moref("Folder", ROOT_FOLDER),
        "propertyCollector": moref("PropertyCollector", PROPERTY_COLLECTOR),
        "viewManager": moref("ViewManager", VIEW_MANAGER),
        "sessionManager": moref("SessionManager", SESSION_MANAGER),
        "about": {
            "_typeName": "AboutInfo",
            "name": "VMware vCenter Server",
            "fullName": "VMware vCenter Server 8.0.3 build-0 (esxnet simulator)",
            "vendor": "VMware, Inc.",
            "version": "8.0.3",
            "build": "0",
            "osType": "linux-x64",
            "productLineId": "vpx",
            "apiType": "VirtualCenter",
            "apiVersion": "8.0.3.0",
            "instanceUuid": "esxnet-sim",
        },
    })
}

/// Release discovery (`POST /api/vcenter/system?action=hello`): the first release the client
/// offers that the server speaks, or an empty string when there is none (vCenter's answer).
pub(crate) fn hello(body: &[u8]) -> String {
    let offered: Vec<String> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|body| body.get("api_releases").cloned())
        .and_then(|releases| serde_json::from_value(releases).ok())
        .unwrap_or_default();
    let chosen = offered
        .iter()
        .find(|release| API_RELEASES.contains(&release.as_str()))
        .cloned()
        .unwrap_or_default();
    json!({"api_release": chosen}).to_string()
}

/// Every named `TraversalSpec` in a select set, searched to a bounded depth.
fn collect_named_traversals(select_set: Option<&Value>, named: &mut HashMap<String, Value>, depth: usize) {
    if depth >= MAX_TRAVERSAL_DEPTH {
        return;
    }
    for selection in select_set.and_then(Value::as_array).into_iter().flatten() {
        if selection.get("path").is_some() {
            if let Some(name) = selection.get("name").and_then(Value::as_str) {
                named.entry(name.to_owned()).or_insert_with(|| selection.clone());
            }
            collect_named_traversals(selection.get("selectSet"), named, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_times_are_rfc3339() {
        let time = now_rfc3339();
        assert_eq!(time.len(), 20, "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
        assert!(time.as_str() > "2024-01-01T00:00:00Z", "{time}");
    }

    #[test]
    fn hello_picks_the_first_common_release() {
        assert_eq!(
            hello(br#"{"api_releases":["10.0.0.0","8.0.3.0"]}"#),
            r#"{"api_release":"8.0.3.0"}"#
        );
        assert_eq!(hello(br#"{"api_releases":["7.0.0.0"]}"#), r#"{"api_release":""}"#);
        assert_eq!(inventory::host_id(0), "host-1");
        assert_eq!(inventory::nic_manager_id(2), "virtualNicManager-3");
    }
}

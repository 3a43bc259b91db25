//! esxnet's vSphere backend: observes and changes ESXi host networking through the vSphere API
//! (`vim_rs`), over VI JSON (vCenter 8.0U1+, esxnet's `sim serve`) or SOAP (ESXi, vcsim).
//!
//! - [`VsphereTarget::parse`] reads `vsphere://USER@SERVER[:PORT][?insecure=true&transport=json|soap|auto]`.
//! - [`VsphereBackend::connect`] logs in once; the session ends at [`VsphereBackend::close`] or drop.
//! - [`VsphereBackend`] implements the executor's [`Backend`]: observation is batched (a property
//!   collector round trip for many hosts), each [`Operation`] is one API call.
//!
//! The calls made, and the properties read, are listed in `PROTOCOL.md` beside this crate: the
//! contract with every server esxnet talks to. Credentials never appear in errors or `Debug` output.

#![warn(missing_docs)]

pub mod error;
mod hints;
pub mod map;
pub mod spec;
pub mod target;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use esxnet_executor::backend::{Backend, BackendError, Fault, Operation, OperationOutcome};
use esxnet_model::hints::NicHint;
use esxnet_model::observed::{ObservedFleet, ObservedHost, PortConnection};
use vim_rs::core::client::{Client, ClientBuilder, TransportMode, VimClient};
use vim_rs::mo::{HostNetworkSystem, HostVirtualNicManager, PropertyCollector, ViewManager};
use vim_rs::types::boxed_types::ValueElements;
use vim_rs::types::structs::{
    HostNetworkInfo, HostPortGroupSpec, HostRuntimeInfoNetworkRuntimeInfo, HostVirtualNicManagerInfo,
    HostVirtualSwitchSpec, ManagedObjectReference, ObjectContent, ObjectSpec, PropertyFilterSpec, PropertySpec,
    RetrieveOptions, SelectionSpec, TraversalSpec, VMwareDvsPortSetting, VmwareDistributedVirtualSwitchVlanIdSpec,
};
use vim_rs::types::vim_any::VimAny;

pub use error::VsphereError;
pub use target::{Password, Transport, VsphereTarget};

use map::{DistributedPortGroupInfo, RawHost};
use spec::AdapterPort;

/// How many calls run against one server at once unless told otherwise.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 16;

/// The most calls esxnet runs against one server at once, whatever `--parallelism` asks for.
///
/// vCenter serves API calls from a bounded pool of worker threads and queues the rest; its
/// session limit (3,000 by default on 8.0U3, shared by SOAP and REST) is far away, but a client
/// that opens hundreds of connections slows every other user of the vCenter. 64 calls in flight
/// keeps 64 hosts changing at once, each host's calls in order. A standalone ESXi host is only
/// ever asked about itself, so it never sees more than one call at a time from an apply.
pub const MAX_CONCURRENT_CALLS_CEILING: usize = 64;

/// The host properties read in one property-collector round trip (see `PROTOCOL.md`).
const HOST_PROPERTIES: [&str; 7] = [
    "name",
    "summary.config.product.version",
    "configManager.networkSystem",
    "configManager.virtualNicManager",
    "runtime.networkRuntimeInfo",
    "network",
    // What verification asks after a host's changes, read with the host at no extra call.
    CONNECTION_STATE,
];

/// `HostSystem.runtime.connectionState`: `connected`, `disconnected` or `notResponding`.
const CONNECTION_STATE: &str = "runtime.connectionState";

/// What locates a host's objects: read for every host of the inventory once per run.
const LOCATING_PROPERTIES: [&str; 4] = [
    "name",
    "configManager.networkSystem",
    "configManager.virtualNicManager",
    "network",
];

/// Objects per property-collector page when reading many objects' networking.
const OBJECTS_PER_PAGE: i32 = 100;

/// Objects per page when finding hosts: a few hundred bytes each, so 2,500 hosts (one vCenter's
/// maximum) take three pages.
const DISCOVERY_OBJECTS_PER_PAGE: i32 = 1000;

/// Hosts read in one observation call; the calls of one observation run at once. Each host is
/// three objects (the host, its network system, its virtual NIC manager), so a call's answer fits
/// one page.
const HOSTS_PER_OBSERVATION_CALL: usize = 25;

/// `HostSystem.config.network`: the same `HostNetworkInfo` as `HostNetworkSystem.networkInfo` on
/// ESXi and vCenter, so it is read only from servers whose `networkInfo` lacks sections (vcsim).
const CONFIG_NETWORK: &str = "config.network";

/// Tuning for [`VsphereBackend::connect_with`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Calls in flight against the server at once (the CLI passes `--parallelism`), at most
    /// [`MAX_CONCURRENT_CALLS_CEILING`].
    pub max_concurrent_calls: usize,
    /// How long to wait for a TCP and TLS connection.
    pub connect_timeout: Duration,
    /// How long one call may take, from request to the end of the answer.
    pub call_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            connect_timeout: Duration::from_secs(15),
            call_timeout: Duration::from_secs(180),
        }
    }
}

/// The managed objects of one host, resolved once per run from the first observation.
#[derive(Debug, Clone)]
struct HostObjects {
    host_system: String,
    network_system: Option<String>,
    virtual_nic_manager: Option<String>,
    distributed_port_group_ids: Vec<String>,
    /// The server's `networkInfo` for this host lacks sections, so `config.network` is read too.
    reads_config_network: bool,
}

/// The switch and port-group specs a host reported, kept so that updates are read-modify-write:
/// every setting esxnet does not manage (security, teaming policy, beacon probing, link
/// discovery, shaping, offload, port-group overrides) is sent back exactly as it was read.
#[derive(Default)]
struct HostSpecs {
    switches: BTreeMap<String, HostVirtualSwitchSpec>,
    port_groups: BTreeMap<String, HostPortGroupSpec>,
}

/// Everything one observation read: the raw hosts, their service selections and distributed
/// port groups.
struct Observation {
    hosts: Vec<RawHost>,
    /// `HostVirtualNicManager.info` by manager id; a host whose manager is missing (vcsim has
    /// none) is observed with the services its stacks imply.
    nic_managers: BTreeMap<String, HostVirtualNicManagerInfo>,
    distributed_port_groups: Vec<DistributedPortGroupInfo>,
}

/// A `reqwest` client builder whose TLS runs on rustls with the ring provider, which this
/// installs as the process's default the first time (reqwest is built without a provider of its
/// own; see the workspace's Cargo.toml). Every HTTP client of esxnet and its tests starts here.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // Another provider installed first (by an embedding program) is as good: keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

/// The executor's [`Backend`] over a vSphere server (vCenter, ESXi, vcsim or `sim serve`).
///
/// One session per backend: login at [`VsphereBackend::connect`], logout at [`VsphereBackend::close`]
/// or drop. The [`Backend`] trait is synchronous, so the backend owns a multi-thread tokio runtime and
/// blocks on it per call; calls from many executor threads share it, at most
/// [`ConnectOptions::max_concurrent_calls`] at a time.
///
/// Servers without `HostVirtualNicManager` (vcsim answers `ManagedObjectNotFound`) are observed with
/// the services implied by the vMotion and Provisioning stacks only; selecting services on them
/// fails with [`Fault::NotImplemented`].
pub struct VsphereBackend {
    target: VsphereTarget,
    client: Arc<Client>,
    limit: Arc<tokio::sync::Semaphore>,
    hosts: Mutex<BTreeMap<String, HostObjects>>,
    /// `uuid` of each distributed switch by managed object id: it never changes.
    switch_uuids: Mutex<BTreeMap<String, String>>,
    specs: Mutex<BTreeMap<String, HostSpecs>>,
    closed: AtomicBool,
    // Last, so it is dropped after everything that may hold tasks on it.
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for VsphereBackend {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("VsphereBackend")
            .field("target", &self.target.to_string())
            .field("transport", &self.transport_name())
            .finish_non_exhaustive()
    }
}

impl VsphereBackend {
    /// Logs in to the target's server with default [`ConnectOptions`].
    pub fn connect(target: &VsphereTarget, password: &Password) -> Result<VsphereBackend, VsphereError> {
        VsphereBackend::connect_with(target, password, ConnectOptions::default())
    }

    /// Logs in to the target's server.
    ///
    /// TLS certificates are verified unless the target says `insecure=true`. `transport=auto` asks
    /// the VI JSON hello endpoint (`POST /api/vcenter/system?action=hello`) first and speaks SOAP
    /// when that does not answer with a release (ESXi, vcsim).
    pub fn connect_with(
        target: &VsphereTarget,
        password: &Password,
        options: ConnectOptions,
    ) -> Result<VsphereBackend, VsphereError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("esxnet-vsphere")
            .enable_all()
            .build()
            .map_err(|source| VsphereError::Setup {
                detail: "the async runtime did not start".to_owned(),
                source: Box::new(source),
            })?;
        // esxnet builds the HTTP client itself so TLS verification, timeouts and the cookie store
        // (SOAP keeps its session in a cookie) are decided here, not by vim_rs's defaults.
        let http_client = http_client_builder()
            .cookie_store(true)
            .tcp_nodelay(true)
            .danger_accept_invalid_certs(target.insecure)
            .danger_accept_invalid_hostnames(target.insecure)
            .connect_timeout(options.connect_timeout)
            .timeout(options.call_timeout)
            .build()
            .map_err(|source| VsphereError::Setup {
                detail: "the HTTP client could not be built".to_owned(),
                source: Box::new(source),
            })?;
        let mode = match target.transport {
            Transport::Json => TransportMode::Json,
            Transport::Soap => TransportMode::Soap,
            Transport::Auto => TransportMode::Auto,
        };
        let server = target.authority();
        let builder = ClientBuilder::new(&server, http_client)
            .transport(mode)
            .app_details("esxnet", env!("CARGO_PKG_VERSION"))
            .basic_authn(&target.user, password.expose());
        let client = runtime
            .block_on(builder.build())
            .map_err(|error| error::classify(error, "Login", &server))?;
        Ok(VsphereBackend {
            target: target.clone(),
            client,
            limit: Arc::new(tokio::sync::Semaphore::new(
                options.max_concurrent_calls.clamp(1, MAX_CONCURRENT_CALLS_CEILING),
            )),
            hosts: Mutex::new(BTreeMap::new()),
            switch_uuids: Mutex::new(BTreeMap::new()),
            specs: Mutex::new(BTreeMap::new()),
            closed: AtomicBool::new(false),
            runtime,
        })
    }

    /// The target this backend is connected to.
    pub fn target(&self) -> &VsphereTarget {
        &self.target
    }

    /// `json` or `soap`: the wire protocol in use (after `auto` chose).
    pub fn transport_name(&self) -> &'static str {
        match self.client.transport() {
            vim_rs::core::client::Transport::Json => "json",
            vim_rs::core::client::Transport::Soap => "soap",
        }
    }

    /// Logs out. Later calls fail; dropping the backend afterwards does nothing more.
    pub fn close(&self) -> Result<(), VsphereError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let server = self.server();
        self.runtime
            .block_on(self.client.close())
            .map_err(|error| error::classify(error, "Logout", &server))
    }

    fn server(&self) -> String {
        self.target.authority()
    }

    fn handle(&self) -> Arc<dyn VimClient> {
        self.client.clone()
    }

    /// Runs one call on the runtime, within the concurrency limit.
    fn run<T>(&self, call: impl Future<Output = T>) -> T {
        self.runtime.block_on(async {
            // The semaphore is never closed, so acquiring only waits.
            let _permit = self.limit.acquire().await;
            call.await
        })
    }

    fn property_collector(&self) -> PropertyCollector {
        let id = self.client.service_content().property_collector.value.clone();
        PropertyCollector::new(self.handle(), &id)
    }

    /// `RetrievePropertiesEx` and `ContinueRetrievePropertiesEx` until the last page, as one call
    /// within the concurrency limit.
    async fn retrieve(&self, specs: &[PropertyFilterSpec]) -> Result<Vec<ObjectContent>, VsphereError> {
        self.retrieve_pages(specs, OBJECTS_PER_PAGE).await
    }

    async fn retrieve_pages(
        &self,
        specs: &[PropertyFilterSpec],
        max_objects: i32,
    ) -> Result<Vec<ObjectContent>, VsphereError> {
        // The semaphore is never closed, so acquiring only waits.
        let _permit = self.limit.acquire().await;
        let server = self.server();
        let collector = self.property_collector();
        let options = RetrieveOptions {
            max_objects: Some(max_objects),
        };
        let mut objects = Vec::new();
        let Some(mut page) = collector
            .retrieve_properties_ex(specs, &options)
            .await
            .map_err(|error| error::classify(error, "RetrievePropertiesEx", &server))?
        else {
            return Ok(objects);
        };
        loop {
            objects.append(&mut page.objects);
            let Some(token) = page.token.take() else {
                return Ok(objects);
            };
            page = collector
                .continue_retrieve_properties_ex(&token)
                .await
                .map_err(|error| error::classify(error, "ContinueRetrievePropertiesEx", &server))?;
        }
    }

    /// Finds every host of the inventory through a container view over the root folder, reading
    /// only what locates its objects (a few hundred bytes a host, in pages of
    /// [`DISCOVERY_OBJECTS_PER_PAGE`]), and keeps them for the run. Returns the host names.
    async fn discover(&self) -> Result<Vec<String>, VsphereError> {
        let server = self.server();
        let content = self.client.service_content();
        let view_manager_ref = content.view_manager.as_ref().ok_or_else(|| {
            VsphereError::unexpected(
                "CreateContainerView",
                &server,
                Fault::NotImplemented,
                format!("CreateContainerView is not implemented by this server ({server}): it has no view manager"),
            )
        })?;
        let view_manager = ViewManager::new(self.handle(), &view_manager_ref.value);
        let view = {
            let _permit = self.limit.acquire().await;
            view_manager
                .create_container_view(&content.root_folder, Some(&["HostSystem".to_owned()]), true)
                .await
                .map_err(|error| error::classify(error, "CreateContainerView", &server))?
        };
        let specs = [PropertyFilterSpec {
            prop_set: vec![PropertySpec {
                r#type: "HostSystem".to_owned(),
                all: Some(false),
                path_set: Some(
                    LOCATING_PROPERTIES
                        .iter()
                        .map(|property| property.to_string())
                        .collect(),
                ),
            }],
            object_set: vec![ObjectSpec {
                obj: view.clone(),
                skip: Some(true),
                select_set: Some(vec![Box::new(TraversalSpec {
                    selection_spec_: SelectionSpec {
                        name: Some("traverseView".to_owned()),
                    },
                    r#type: "ContainerView".to_owned(),
                    path: "view".to_owned(),
                    skip: Some(false),
                    select_set: None,
                })]),
            }],
            report_missing_objects_in_results: None,
        }];
        let result = self.retrieve_pages(&specs, DISCOVERY_OBJECTS_PER_PAGE).await;
        // A view left behind costs the server a little memory until logout; not worth failing for,
        // nor worth waiting for: the view is destroyed while observation goes on.
        let client = self.client.clone();
        let (view_type, view_id) = (view.r#type.as_str().to_owned(), view.value.clone());
        self.runtime.spawn(async move {
            let _ = client.invoke_void("", &view_type, &view_id, "DestroyView", None).await;
        });
        let mut names = Vec::new();
        let mut cache = self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for object in result? {
            let raw = raw_host(object);
            if raw.name.is_empty() {
                continue;
            }
            let mut objects = host_objects(&raw);
            // What an earlier observation learned about the server stays.
            if let Some(known) = cache.get(&raw.name) {
                objects.reads_config_network = known.reads_config_network;
            }
            names.push(raw.name.clone());
            cache.insert(raw.name, objects);
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Reads the named hosts (all hosts when `names` is `None`) with everything observation needs.
    ///
    /// Hosts whose managed objects are known from an earlier observation of this run are read in
    /// one property-collector round trip, listed by reference: their properties, their network
    /// system's `networkInfo`, their virtual NIC manager's `info` and their distributed port
    /// groups together. Other hosts are found through a container view first (the first
    /// observation of a run), which costs a second round trip. Nothing reads the whole inventory
    /// once the hosts are known.
    async fn observe_raw(&self, names: Option<&BTreeSet<String>>) -> Result<Observation, VsphereError> {
        let server = self.server();
        let lookup = |names: &BTreeSet<String>| -> Result<Vec<HostObjects>, String> {
            let cache = self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            names
                .iter()
                .map(|name| cache.get(name).cloned().ok_or_else(|| name.clone()))
                .collect()
        };
        let known = match names {
            Some(names) => match lookup(names) {
                Ok(known) => known,
                Err(_) => {
                    self.discover().await?;
                    lookup(names).map_err(|missing| VsphereError::UnknownHost {
                        host: missing,
                        server: server.clone(),
                    })?
                }
            },
            None => {
                let all: BTreeSet<String> = self.discover().await?.into_iter().collect();
                lookup(&all).map_err(|missing| VsphereError::UnknownHost {
                    host: missing,
                    server: server.clone(),
                })?
            }
        };
        // Hosts are read in chunks at once (each one call within the concurrency limit), so the
        // server builds and the client reads them in parallel instead of page after page.
        let chunks: Vec<&[HostObjects]> = known.chunks(HOSTS_PER_OBSERVATION_CALL).collect();
        let answers = join_all(chunks.iter().map(|chunk| self.observe_chunk(chunk)).collect()).await;
        let mut hosts = Vec::new();
        let mut objects = Vec::new();
        for answer in answers {
            let (chunk_hosts, related) = answer?;
            hosts.extend(chunk_hosts);
            objects.extend(related);
        }
        hosts.retain(|raw| !raw.name.is_empty());
        if let Some(names) = names {
            if let Some(missing) = names.iter().find(|name| !hosts.iter().any(|host| &host.name == *name)) {
                // A host known earlier in the run may have been removed from the inventory.
                self.hosts
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .remove(missing);
                return Err(VsphereError::UnknownHost {
                    host: missing.clone(),
                    server,
                });
            }
        }
        {
            let mut cache = self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for host in &hosts {
                cache.insert(host.name.clone(), host_objects(host));
            }
        }

        let mut network_infos = BTreeMap::new();
        let mut managers = BTreeMap::new();
        let mut port_group_configs = Vec::new();
        for object in objects {
            let id = object.obj.value.clone();
            let kind = object.obj.r#type.as_str().to_owned();
            for property in object.prop_set.into_iter().flatten() {
                match (kind.as_str(), property.name.as_str()) {
                    ("HostNetworkSystem", "networkInfo") => {
                        if let Some(info) = take::<HostNetworkInfo>(property.val) {
                            network_infos.insert(id.clone(), info);
                        }
                    }
                    ("HostVirtualNicManager", "info") => {
                        if let Some(info) = take::<HostVirtualNicManagerInfo>(property.val) {
                            managers.insert(id.clone(), info);
                        }
                    }
                    ("DistributedVirtualPortgroup", "config") => {
                        if let Some(config) = take::<vim_rs::types::structs::DvPortgroupConfigInfo>(property.val) {
                            port_group_configs.push(config);
                        }
                    }
                    _ => {}
                }
            }
        }
        for host in &mut hosts {
            if let Some(info) = host.network_system.as_ref().and_then(|id| network_infos.remove(id)) {
                host.network = Some(map::merge_network_info(info, host.network.take()));
            }
        }
        self.complete_network_info(&mut hosts).await?;
        let distributed_port_groups = self.distributed_port_groups(port_group_configs).await?;
        Ok(Observation {
            hosts,
            nic_managers: managers,
            distributed_port_groups,
        })
    }

    /// Reads `config.network` for the hosts whose network system's `networkInfo` lacks adapters,
    /// stacks or physical NICs (vcsim keeps only switches and port groups there) and fills the
    /// gaps from it; such hosts read both from then on. One round trip, only on such servers.
    async fn complete_network_info(&self, hosts: &mut [RawHost]) -> Result<(), VsphereError> {
        let incomplete: BTreeSet<String> = hosts
            .iter()
            .filter(|host| !host.reads_config_network && !map::is_complete_network_info(host.network.as_ref()))
            .map(|host| host.host_system.clone())
            .collect();
        if incomplete.is_empty() {
            return Ok(());
        }
        let objects = self
            .retrieve(&[direct_spec("HostSystem", &incomplete, &[CONFIG_NETWORK])])
            .await?;
        let mut config_networks: BTreeMap<String, HostNetworkInfo> = BTreeMap::new();
        for object in objects {
            for property in object.prop_set.into_iter().flatten() {
                if property.name == CONFIG_NETWORK {
                    if let Some(info) = take::<HostNetworkInfo>(property.val) {
                        config_networks.insert(object.obj.value.clone(), info);
                    }
                }
            }
        }
        let mut cache = self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for host in hosts.iter_mut().filter(|host| incomplete.contains(&host.host_system)) {
            let fallback = config_networks.remove(&host.host_system);
            host.network = match host.network.take() {
                Some(primary) => Some(map::merge_network_info(primary, fallback)),
                None => fallback,
            };
            host.reads_config_network = true;
            if let Some(objects) = cache.get_mut(&host.name) {
                objects.reads_config_network = true;
            }
        }
        Ok(())
    }

    /// One round trip for known hosts: their own properties, their network system's
    /// `networkInfo`, their virtual NIC manager's `info` and their distributed port groups,
    /// listed by reference. Answers the hosts and the other objects apart.
    async fn observe_chunk(&self, known: &[HostObjects]) -> Result<(Vec<RawHost>, Vec<ObjectContent>), VsphereError> {
        let (with_config, without_config): (Vec<&HostObjects>, Vec<&HostObjects>) =
            known.iter().partition(|objects| objects.reads_config_network);
        let ids = |hosts: &[&HostObjects]| -> BTreeSet<String> {
            hosts.iter().map(|objects| objects.host_system.clone()).collect()
        };
        let mut specs = Vec::new();
        if !without_config.is_empty() {
            specs.push(direct_spec("HostSystem", &ids(&without_config), &HOST_PROPERTIES));
        }
        if !with_config.is_empty() {
            let mut properties = HOST_PROPERTIES.to_vec();
            properties.push(CONFIG_NETWORK);
            specs.push(direct_spec("HostSystem", &ids(&with_config), &properties));
        }
        specs.extend(related_specs(known));
        let objects = self.retrieve_tolerating_missing_managers(specs).await?;
        let (host_objects, related): (Vec<ObjectContent>, Vec<ObjectContent>) = objects
            .into_iter()
            .partition(|object| object.obj.r#type.as_str() == "HostSystem");
        Ok((host_objects.into_iter().map(raw_host).collect(), related))
    }

    /// One `RetrievePropertiesEx` (and its pages). vcsim has no `HostVirtualNicManager` and fails
    /// the whole call for it: then the call is made again without those objects, and the hosts
    /// are observed with the services their stacks imply. Objects that went missing meanwhile
    /// (a host removed mid-run) are left out of the answer by the server instead of failing it
    /// (`reportMissingObjectsInResults`), so one host never costs the others their services.
    async fn retrieve_tolerating_missing_managers(
        &self,
        mut specs: Vec<PropertyFilterSpec>,
    ) -> Result<Vec<ObjectContent>, VsphereError> {
        let answer = self.retrieve(&specs).await;
        let asks_for_managers = specs
            .iter()
            .any(|spec| spec.prop_set.iter().any(|set| set.r#type == "HostVirtualNicManager"));
        match answer {
            Err(error) if error.fault() == Fault::NotImplemented && asks_for_managers => {
                specs.retain(|spec| spec.prop_set.iter().all(|set| set.r#type != "HostVirtualNicManager"));
                if specs.is_empty() {
                    return Ok(Vec::new());
                }
                self.retrieve(&specs).await
            }
            answer => answer,
        }
    }

    /// Files each distributed port group under its switch's UUID. UUIDs are read once per switch
    /// and run (one more round trip, only for switches not seen before).
    async fn distributed_port_groups(
        &self,
        configs: Vec<vim_rs::types::structs::DvPortgroupConfigInfo>,
    ) -> Result<Vec<DistributedPortGroupInfo>, VsphereError> {
        if configs.is_empty() {
            return Ok(Vec::new());
        }
        let mut unknown_by_type: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        {
            let uuids = self
                .switch_uuids
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for switch in configs
                .iter()
                .filter_map(|config| config.distributed_virtual_switch.as_ref())
            {
                if !uuids.contains_key(&switch.value) {
                    unknown_by_type
                        .entry(switch.r#type.as_str().to_owned())
                        .or_default()
                        .insert(switch.value.clone());
                }
            }
        }
        if !unknown_by_type.is_empty() {
            let specs: Vec<PropertyFilterSpec> = unknown_by_type
                .iter()
                .map(|(kind, ids)| direct_spec(kind, ids, &["uuid"]))
                .collect();
            let objects = self.retrieve(&specs).await?;
            let mut uuids = self
                .switch_uuids
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for object in objects {
                for property in object.prop_set.into_iter().flatten() {
                    if property.name == "uuid" {
                        if let Some(uuid) = take::<String>(property.val) {
                            uuids.insert(object.obj.value.clone(), uuid);
                        }
                    }
                }
            }
        }
        let uuids = self
            .switch_uuids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(configs
            .into_iter()
            .filter_map(|config| {
                let uuid = uuids.get(&config.distributed_virtual_switch.as_ref()?.value)?.clone();
                Some(DistributedPortGroupInfo {
                    switch_uuid: uuid,
                    port_group: esxnet_model::observed::DistributedPortGroup {
                        vlan: port_group_vlan(&config),
                        name: config.name,
                        key: config.key,
                    },
                })
            })
            .collect())
    }

    /// Lowers an observation and keeps its switch and port-group specs for read-modify-write.
    fn lower(&self, mut observation: Observation) -> Result<ObservedFleet, VsphereError> {
        let server = self.server();
        let mut fleet = ObservedFleet::default();
        for raw in &observation.hosts {
            let services = raw
                .virtual_nic_manager
                .as_ref()
                .and_then(|id| observation.nic_managers.get(id));
            let host = map::observed_host(raw, services, &observation.distributed_port_groups).map_err(|message| {
                VsphereError::unexpected("RetrievePropertiesEx", &server, Fault::HostConfig, message)
            })?;
            fleet.hosts.insert(host.name.clone(), host);
        }
        let mut specs = self.specs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for raw in &mut observation.hosts {
            let Some(network) = raw.network.as_mut() else {
                continue;
            };
            let host_specs = HostSpecs {
                switches: network
                    .vswitch
                    .take()
                    .into_iter()
                    .flatten()
                    .map(|switch| (switch.name, switch.spec))
                    .collect(),
                port_groups: network
                    .portgroup
                    .take()
                    .into_iter()
                    .flatten()
                    .map(|port_group| (port_group.spec.name.clone(), port_group.spec))
                    .collect(),
            };
            specs.insert(raw.name.clone(), host_specs);
        }
        Ok(fleet)
    }

    fn observe_one(&self, host: &str) -> Result<ObservedHost, VsphereError> {
        Ok(self.observe_one_with_state(host)?.0)
    }

    /// One host and its `runtime.connectionState`, read in the same round trip.
    fn observe_one_with_state(&self, host: &str) -> Result<(ObservedHost, Option<String>), VsphereError> {
        let names = BTreeSet::from([host.to_owned()]);
        let observation = self.runtime.block_on(self.observe_raw(Some(&names)))?;
        let state = observation
            .hosts
            .iter()
            .find(|raw| raw.name == host)
            .and_then(|raw| raw.connection_state.clone());
        let mut fleet = self.lower(observation)?;
        let observed = fleet.hosts.remove(host).ok_or_else(|| VsphereError::UnknownHost {
            host: host.to_owned(),
            server: self.server(),
        })?;
        Ok((observed, state))
    }

    /// The host's managed objects, observing it first when this run has not seen it yet.
    fn objects_of(&self, host: &str) -> Result<HostObjects, VsphereError> {
        let cached = self
            .hosts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(host)
            .cloned();
        match cached {
            Some(objects) => Ok(objects),
            None => {
                self.observe_one(host)?;
                self.hosts
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .get(host)
                    .cloned()
                    .ok_or_else(|| VsphereError::UnknownHost {
                        host: host.to_owned(),
                        server: self.server(),
                    })
            }
        }
    }

    fn network_system(&self, host: &str, method: &str) -> Result<HostNetworkSystem, VsphereError> {
        let server = self.server();
        let id = self.objects_of(host)?.network_system.ok_or_else(|| {
            VsphereError::unexpected(
                method,
                &server,
                Fault::NotImplemented,
                format!("{method} is not implemented by this server ({server}): host {host} has no network system"),
            )
        })?;
        Ok(HostNetworkSystem::new(self.handle(), &id))
    }

    fn nic_manager(&self, host: &str, method: &str) -> Result<HostVirtualNicManager, VsphereError> {
        let server = self.server();
        let id = self.objects_of(host)?.virtual_nic_manager.ok_or_else(|| {
            VsphereError::unexpected(
                method,
                &server,
                Fault::NotImplemented,
                format!(
                    "{method} is not implemented by this server ({server}): host {host} has no virtual NIC manager"
                ),
            )
        })?;
        Ok(HostVirtualNicManager::new(self.handle(), &id))
    }

    /// The spec an update starts from: the one this run read or sent last, else read now (once).
    /// An object the host does not have is ESXi's `NotFound`.
    fn observed_spec<T>(
        &self,
        host: &str,
        method: &str,
        take: impl Fn(&VsphereBackend) -> Option<T>,
    ) -> Result<T, VsphereError> {
        if let Some(spec) = take(self) {
            return Ok(spec);
        }
        self.observe_one(host)?;
        take(self).ok_or_else(|| {
            let server = self.server();
            VsphereError::unexpected(
                method,
                &server,
                Fault::NotFound,
                format!("{method}: host {host} has no such object (read from {server})"),
            )
        })
    }

    /// The spec a switch was last read or written with on this host, taken out of the cache.
    fn take_switch_spec(&self, host: &str, switch: &str) -> Option<HostVirtualSwitchSpec> {
        self.specs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_mut(host)
            .and_then(|specs| specs.switches.remove(switch))
    }

    fn take_port_group_spec(&self, host: &str, port_group: &str) -> Option<HostPortGroupSpec> {
        self.specs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_mut(host)
            .and_then(|specs| specs.port_groups.remove(port_group))
    }

    /// Keeps a spec just sent, so the next update of the object starts from it.
    fn remember_switch_spec(&self, host: &str, switch: &str, spec: HostVirtualSwitchSpec) {
        self.specs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(host.to_owned())
            .or_default()
            .switches
            .insert(switch.to_owned(), spec);
    }

    fn remember_port_group_spec(&self, host: &str, spec: HostPortGroupSpec) {
        self.specs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(host.to_owned())
            .or_default()
            .port_groups
            .insert(spec.name.clone(), spec);
    }

    fn forget_specs(&self, host: &str, switch: Option<&str>, port_group: Option<&str>) {
        let mut specs = self.specs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(host_specs) = specs.get_mut(host) {
            if let Some(switch) = switch {
                host_specs.switches.remove(switch);
            }
            if let Some(port_group) = port_group {
                host_specs.port_groups.remove(port_group);
            }
        }
    }

    /// Performs one operation; see [`Backend::execute_with_state`].
    ///
    /// `current` is the host as the executor carries it. Every operation is one API call: what a
    /// call needs of the host's state (current IPv6 addresses and routes to diff against, the
    /// distributed switch's UUID, the switch and port-group specs to send back) comes from
    /// `current` and from this run's observations. Without `current` (a direct call), the host is
    /// observed first.
    pub fn execute_operation(
        &self,
        host: &str,
        current: Option<&ObservedHost>,
        operation: &Operation,
    ) -> Result<OperationOutcome, VsphereError> {
        let observed;
        let current = match current {
            Some(current) => current,
            None => {
                observed = self.observe_one(host)?;
                &observed
            }
        };
        let server = self.server();
        let method = operation.method_name();
        let classify = |error| error::classify(error, method, &server);
        match operation {
            Operation::AddSwitch {
                name,
                mtu,
                uplinks,
                teaming,
                teaming_policy,
                security,
            } => {
                let system = self.network_system(host, method)?;
                let spec = spec::new_switch_spec(*mtu, uplinks, teaming, teaming_policy, security);
                self.run(system.add_virtual_switch(name, Some(&spec)))
                    .map_err(classify)?;
                self.remember_switch_spec(host, name, spec);
            }
            Operation::UpdateSwitch {
                name,
                mtu,
                uplinks,
                teaming,
                teaming_policy,
                security,
            } => {
                let system = self.network_system(host, method)?;
                let observed = self.observed_spec(host, method, |backend| backend.take_switch_spec(host, name))?;
                let spec = spec::updated_switch_spec(observed, *mtu, uplinks, teaming, teaming_policy, security);
                let result = self.run(system.update_virtual_switch(name, &spec));
                // Kept either way: a failed update changed nothing esxnet does not manage.
                self.remember_switch_spec(host, name, spec);
                result.map_err(classify)?;
            }
            Operation::RemoveSwitch { name } => {
                let system = self.network_system(host, method)?;
                self.run(system.remove_virtual_switch(name)).map_err(classify)?;
                self.forget_specs(host, Some(name), None);
            }
            Operation::AddPortGroup {
                name,
                switch,
                vlan,
                teaming,
                security,
            } => {
                let system = self.network_system(host, method)?;
                let spec = spec::port_group_spec(name, switch, *vlan, teaming, security);
                self.run(system.add_port_group(&spec)).map_err(classify)?;
                self.remember_port_group_spec(host, spec);
            }
            Operation::UpdatePortGroup {
                name,
                switch,
                vlan,
                teaming,
                security,
            } => {
                let system = self.network_system(host, method)?;
                let observed = self.observed_spec(host, method, |backend| backend.take_port_group_spec(host, name))?;
                let spec = spec::updated_port_group_spec(observed, switch, *vlan, teaming, security);
                let result = self.run(system.update_port_group(name, &spec));
                self.remember_port_group_spec(host, spec);
                result.map_err(classify)?;
            }
            Operation::RemovePortGroup { name } => {
                let system = self.network_system(host, method)?;
                self.run(system.remove_port_group(name)).map_err(classify)?;
                self.forget_specs(host, None, Some(name));
            }
            Operation::AddAdapter {
                connection,
                stack,
                mtu,
                ipv4,
                ipv6,
            } => {
                let port = match connection {
                    PortConnection::Standard { port_group, .. } => AdapterPort::Standard {
                        port_group: port_group.clone(),
                    },
                    PortConnection::Distributed { switch, port_group } => {
                        let membership = current.distributed_switch(switch).ok_or_else(|| {
                            VsphereError::unexpected(
                                method,
                                &server,
                                Fault::NotFound,
                                format!("host {host} is not a member of distributed switch \"{switch}\": add the host to the switch in vCenter first"),
                            )
                        })?;
                        let group = membership
                            .port_groups
                            .iter()
                            .find(|group| &group.name == port_group)
                            .ok_or_else(|| {
                                VsphereError::unexpected(
                                    method,
                                    &server,
                                    Fault::NotFound,
                                    format!("distributed switch \"{switch}\" has no port group \"{port_group}\" that esxnet can see"),
                                )
                            })?;
                        AdapterPort::Distributed {
                            switch_uuid: membership.uuid.clone(),
                            port_group_key: group.key.clone(),
                        }
                    }
                };
                let system = self.network_system(host, method)?;
                let (port_group, spec) = spec::new_adapter_spec(&port, *stack, *mtu, ipv4, ipv6.as_ref());
                let device = self.run(system.add_virtual_nic(&port_group, &spec)).map_err(classify)?;
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
                let system = self.network_system(host, method)?;
                let spec = spec::update_adapter_spec(*mtu, ipv4, ipv6.as_ref(), current.adapter(device));
                self.run(system.update_virtual_nic(device, &spec)).map_err(classify)?;
            }
            Operation::RemoveAdapter { device } => {
                let system = self.network_system(host, method)?;
                self.run(system.remove_virtual_nic(device)).map_err(classify)?;
            }
            Operation::EditStack { stack, settings } => {
                let system = self.network_system(host, method)?;
                let config = spec::stack_config(*stack, settings, current.stack(*stack));
                self.run(system.update_network_config(&config, "modify"))
                    .map_err(classify)?;
            }
            Operation::SelectService { device, service } => {
                let manager = self.nic_manager(host, method)?;
                self.run(manager.select_vnic_for_nic_type(service.api_name(), device))
                    .map_err(classify)?;
            }
            Operation::DeselectService { device, service } => {
                let manager = self.nic_manager(host, method)?;
                self.run(manager.deselect_vnic_for_nic_type(service.api_name(), device))
                    .map_err(classify)?;
            }
        }
        Ok(OperationOutcome::default())
    }
}

impl Drop for VsphereBackend {
    fn drop(&mut self) {
        // Logging out frees the server's session now instead of at its idle timeout; a failure
        // here has nobody left to report to.
        let _ = self.close();
    }
}

impl Backend for VsphereBackend {
    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn host_names(&self) -> Result<Vec<String>, BackendError> {
        Ok(self.runtime.block_on(self.discover())?)
    }

    fn observe(&self, host: &str) -> Result<ObservedHost, BackendError> {
        Ok(self.observe_one(host)?)
    }

    fn observe_many(&self, hosts: &[String]) -> Result<ObservedFleet, BackendError> {
        let names: BTreeSet<String> = hosts.iter().cloned().collect();
        let observation = self.runtime.block_on(self.observe_raw(Some(&names)))?;
        Ok(self.lower(observation)?)
    }

    fn batches_observation(&self) -> bool {
        true
    }

    fn execute(&self, host: &str, operation: &Operation) -> Result<OperationOutcome, BackendError> {
        Ok(self.execute_operation(host, None, operation)?)
    }

    fn execute_with_state(
        &self,
        current: &ObservedHost,
        operation: &Operation,
    ) -> Result<OperationOutcome, BackendError> {
        Ok(self.execute_operation(&current.name, Some(current), operation)?)
    }

    /// One `RetrievePropertiesEx` of the host's `runtime.connectionState`.
    fn connection_state(&self, host: &str) -> Result<Option<String>, BackendError> {
        let objects = self.objects_of(host)?;
        let spec = direct_spec(
            "HostSystem",
            &BTreeSet::from([objects.host_system.clone()]),
            &[CONNECTION_STATE],
        );
        let contents = self.runtime.block_on(self.retrieve(&[spec]))?;
        let state = contents
            .into_iter()
            .flat_map(|object| object.prop_set.into_iter().flatten())
            .find(|property| property.name == CONNECTION_STATE)
            .and_then(|property| connection_state_of(property.val));
        Ok(state)
    }

    /// One observation: the host's properties include its connection state.
    fn observe_with_connection_state(
        &self,
        host: &str,
    ) -> Result<esxnet_executor::backend::ObservedWithState, BackendError> {
        let (observed, state) = self.observe_one_with_state(host)?;
        Ok((observed, Ok(state)))
    }

    /// One `QueryNetworkHint` call for every NIC of the host ([`hints`]).
    fn network_hints(&self, host: &str) -> Result<Option<Vec<NicHint>>, BackendError> {
        let method = "QueryNetworkHint";
        let server = self.server();
        let classify = |error| error::classify(error, method, &server);
        let system = self.network_system(host, method)?;
        let answered = self.run(system.query_network_hint(None)).map_err(classify)?;
        Ok(Some(
            answered.unwrap_or_default().into_iter().map(hints::nic_hint).collect(),
        ))
    }
}

/// `runtime.connectionState` as text (`connected`, `disconnected`, `notResponding`).
fn connection_state_of(value: VimAny) -> Option<String> {
    match value {
        VimAny::Value(ValueElements::HostSystemConnectionState(state)) => Some(state.as_ref().to_owned()),
        VimAny::Value(ValueElements::PrimitiveString(state)) => Some(state),
        _ => None,
    }
}

/// A property value as `T`, if it is one.
fn take<T: 'static>(value: VimAny) -> Option<T> {
    value.into_any().downcast::<T>().ok().map(|boxed| *boxed)
}

/// A filter over listed objects of one type, without traversal.
fn direct_spec(kind: &str, ids: &BTreeSet<String>, properties: &[&str]) -> PropertyFilterSpec {
    PropertyFilterSpec {
        prop_set: vec![PropertySpec {
            r#type: kind.to_owned(),
            all: Some(false),
            path_set: Some(properties.iter().map(|property| property.to_string()).collect()),
        }],
        object_set: ids
            .iter()
            .map(|id| ObjectSpec {
                obj: moref(kind, id),
                skip: Some(false),
                select_set: None,
            })
            .collect(),
        report_missing_objects_in_results: Some(true),
    }
}

/// The filters for what observation reads besides the hosts' own properties: each host's
/// network system, virtual NIC manager and distributed port groups.
fn related_specs(hosts: &[HostObjects]) -> Vec<PropertyFilterSpec> {
    let network_systems: BTreeSet<String> = hosts.iter().filter_map(|host| host.network_system.clone()).collect();
    let managers: BTreeSet<String> = hosts
        .iter()
        .filter_map(|host| host.virtual_nic_manager.clone())
        .collect();
    let port_groups: BTreeSet<String> = hosts
        .iter()
        .flat_map(|host| host.distributed_port_group_ids.iter().cloned())
        .collect();
    let mut specs = Vec::new();
    if !network_systems.is_empty() {
        specs.push(direct_spec("HostNetworkSystem", &network_systems, &["networkInfo"]));
    }
    if !managers.is_empty() {
        specs.push(direct_spec("HostVirtualNicManager", &managers, &["info"]));
    }
    if !port_groups.is_empty() {
        specs.push(direct_spec("DistributedVirtualPortgroup", &port_groups, &["config"]));
    }
    specs
}

/// A managed object reference from a type name and id.
fn moref(kind: &str, id: &str) -> ManagedObjectReference {
    use vim_rs::types::enums::MoTypesEnum;
    let kind = match kind {
        "HostSystem" => MoTypesEnum::HostSystem,
        "HostNetworkSystem" => MoTypesEnum::HostNetworkSystem,
        "HostVirtualNicManager" => MoTypesEnum::HostVirtualNicManager,
        "DistributedVirtualPortgroup" => MoTypesEnum::DistributedVirtualPortgroup,
        "VmwareDistributedVirtualSwitch" => MoTypesEnum::VmwareDistributedVirtualSwitch,
        _ => MoTypesEnum::DistributedVirtualSwitch,
    };
    ManagedObjectReference {
        r#type: kind,
        value: id.to_owned(),
    }
}

/// The managed objects a host's properties name.
fn host_objects(raw: &RawHost) -> HostObjects {
    HostObjects {
        host_system: raw.host_system.clone(),
        network_system: raw.network_system.clone(),
        virtual_nic_manager: raw.virtual_nic_manager.clone(),
        distributed_port_group_ids: raw.distributed_port_group_ids.clone(),
        reads_config_network: raw.reads_config_network,
    }
}

/// One host's properties from an `ObjectContent`.
fn raw_host(object: ObjectContent) -> RawHost {
    let mut raw = RawHost {
        host_system: object.obj.value.clone(),
        reads_config_network: false,
        name: String::new(),
        version: None,
        network: None,
        runtime: None,
        network_system: None,
        virtual_nic_manager: None,
        distributed_port_group_ids: Vec::new(),
        connection_state: None,
    };
    for property in object.prop_set.into_iter().flatten() {
        match property.name.as_str() {
            "name" => raw.name = take::<String>(property.val).unwrap_or_default(),
            "summary.config.product.version" => raw.version = take::<String>(property.val),
            CONFIG_NETWORK => {
                raw.network = take::<HostNetworkInfo>(property.val);
                raw.reads_config_network = true;
            }
            "runtime.networkRuntimeInfo" => raw.runtime = take::<HostRuntimeInfoNetworkRuntimeInfo>(property.val),
            CONNECTION_STATE => raw.connection_state = connection_state_of(property.val),
            "configManager.networkSystem" => {
                raw.network_system = take::<ManagedObjectReference>(property.val).map(|reference| reference.value)
            }
            "configManager.virtualNicManager" => {
                raw.virtual_nic_manager = take::<ManagedObjectReference>(property.val).map(|reference| reference.value)
            }
            "network" => {
                raw.distributed_port_group_ids = take::<Vec<ManagedObjectReference>>(property.val)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|reference| reference.r#type.as_str() == "DistributedVirtualPortgroup")
                    .map(|reference| reference.value)
                    .collect()
            }
            _ => {}
        }
    }
    raw
}

/// The VLAN of a distributed port group's default port config; 0 when it is not a plain VLAN ID.
fn port_group_vlan(config: &vim_rs::types::structs::DvPortgroupConfigInfo) -> u16 {
    config
        .default_port_config
        .as_deref()
        .and_then(|setting| setting.as_any_ref().downcast_ref::<VMwareDvsPortSetting>())
        .and_then(|setting| setting.vlan.as_deref())
        .and_then(|vlan| {
            vlan.as_any_ref()
                .downcast_ref::<VmwareDistributedVirtualSwitchVlanIdSpec>()
        })
        .and_then(|vlan| u16::try_from(vlan.vlan_id).ok())
        .unwrap_or(0)
}

/// Runs futures concurrently on the current task and returns their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(context) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

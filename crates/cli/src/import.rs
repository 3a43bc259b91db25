//! `esxnet import`: manifests for what the hosts already have, folded across the fleet.
//!
//! ```text
//! observed fleet ─▶ per host: one spec per object (the manifest's own wire types)
//!                ─▶ per group and object: hosts with identical specs share one document
//!                   (per-host addresses go into the per-host maps), the largest set of hosts
//!                   is the group's document, every other set an exception of its own;
//!                   a switch's port groups only some hosts have are declared apart, so that
//!                   the part every host shares keeps the group's label selector
//!                ─▶ files: hosts, standard switches, stacks, adapters
//! ```
//!
//! What a spec holds is what a plan compares, read the way the planner reads a host
//! ([`esxnet_planner::state`], [`esxnet_planner::esxi`]): only values someone set, never what
//! ESXi computes or learns (the uplink order of a switch without one, implied services, the
//! router-advertisement default, DNS learned through DHCP, a gateway learned from router
//! advertisement, connected and default routes). A field left out of a manifest keeps the host's
//! value, so leaving those out is what keeps a later plan empty.
//!
//! [`manifests_for`] is pure: observed state (and, for `--into`, the manifests already there)
//! in, file texts out. [`import`] observes, calls it and writes the files atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use esxnet_model::common::{CongestionControl, Service, StackKind};
use esxnet_model::desired::{DesiredFleet, DesiredHost, DesiredSwitch};
use esxnet_model::load::Loaded;
use esxnet_model::manifest::{
    ApiVersion, HostDocument, HostKindTag, HostSelector, HostSpec, Ipv4Mode, Ipv4Spec, Ipv6Spec, Metadata,
    NetStackDocument, NetStackKindTag, NetStackSpec, Overridable, PortGroupRef, PortGroupSpec, SecurityOverrideSpec,
    SecuritySpec, StandardSwitchDocument, StandardSwitchKindTag, StandardSwitchSpec, SwitchTeamingSpec,
    TeamingOverrideSpec, VmkernelAdapterDocument, VmkernelAdapterKindTag, VmkernelAdapterSpec,
};
use esxnet_model::observed::{
    ObservedAdapter, ObservedFleet, ObservedHost, ObservedPortGroup, ObservedSwitch, PortConnection, Teaming,
};
use esxnet_planner::{esxi, state};
use serde::Serialize;

/// The label that groups hosts when `--group-by` names none.
pub const DEFAULT_GROUP_LABEL: &str = "cluster";

/// The connection limit ESXi gives every stack; a stack that asks for it is not written.
const DEFAULT_MAX_CONNECTIONS: u32 = 11_000;

/// The schema every written file points at, from a directory that has none above it.
pub const SCHEMA_FILE: &str = "manifest.schema.json";

/// How [`manifests_for`] writes manifests.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The label key whose value groups hosts (`--group-by`, [`DEFAULT_GROUP_LABEL`] by default).
    /// A host gets the DNS domain of its name as the value (`esx-01.lab.example` → `lab.example`),
    /// the cluster `esxnet sim serve` puts it in; a host the manifests already declare keeps its
    /// own labels.
    pub group_by: String,
    /// What each file's schema line points at (relative to the files).
    pub schema: String,
    /// Prefix of every file name (`--into` writes next to files that exist).
    pub file_prefix: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            group_by: DEFAULT_GROUP_LABEL.to_owned(),
            schema: SCHEMA_FILE.to_owned(),
            file_prefix: String::new(),
        }
    }
}

/// One manifest file [`manifests_for`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    /// The file's name in the output directory.
    pub name: String,
    /// Its text, starting with the schema line.
    pub text: String,
    /// How many documents it holds.
    pub documents: usize,
}

/// What [`manifests_for`] made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportedManifests {
    /// The files, in name order; a family with nothing to write has no file.
    pub files: Vec<ManifestFile>,
    /// Hosts that differ from their group, and why; also written as comments above their documents.
    pub notes: Vec<String>,
    /// `Host` documents written.
    pub host_documents: usize,
    /// Other documents written (switches, stacks, adapters).
    pub object_documents: usize,
    /// Groups of hosts (label values, and the hosts without one).
    pub groups: usize,
}

/// Manifests for every object esxnet manages on the `observed` hosts, folded across hosts.
///
/// With `existing` (the manifests of `--into`, analyzed against `observed`), only what those do
/// not declare yet is written, and hosts they declare keep their labels.
pub fn manifests_for(
    observed: &ObservedFleet,
    existing: Option<&DesiredFleet>,
    options: &ImportOptions,
) -> ImportedManifests {
    let empty = DesiredFleet::default();
    let existing = existing.unwrap_or(&empty);
    let labels = host_labels(observed, existing, &options.group_by);
    // Every host the manifests will select by a label value: a matchLabels document would pick
    // them all, observed here or not.
    let mut members: BTreeMap<Option<String>, BTreeSet<String>> = BTreeMap::new();
    for (host, host_labels) in &labels {
        members
            .entry(host_labels.get(&options.group_by).cloned())
            .or_default()
            .insert(host.clone());
    }
    let group_of = |host: &str| {
        labels
            .get(host)
            .and_then(|labels| labels.get(&options.group_by))
            .cloned()
    };

    // Every object of every host, by family, group and identity.
    let mut objects: BTreeMap<(Family, Option<String>, String), Vec<HostObject>> = BTreeMap::new();
    for host in observed.hosts.values() {
        let declared = existing.hosts.get(&host.name);
        for object in host_objects(host, declared) {
            objects
                .entry((object.family, group_of(&host.name), object.identity.clone()))
                .or_default()
                .push(object);
        }
    }

    // An adapter's document is named after its port group; two port groups that name the same
    // (a standard and a distributed "vMotion") would make one host's adapters collide (ESX016),
    // so those are named after their whole identity.
    let mut identities_by_name: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for object in objects.values().flatten() {
        if object.family == Family::VmkernelAdapter {
            identities_by_name
                .entry(object.base_name.clone())
                .or_default()
                .insert(object.identity.clone());
        }
    }
    for object in objects.values_mut().flatten() {
        if object.family == Family::VmkernelAdapter && identities_by_name[&object.base_name].len() > 1 {
            object.base_name = slug(&object.identity);
        }
    }

    let mut documents: BTreeMap<Family, Vec<Rendered>> = BTreeMap::new();
    let mut notes = Vec::new();
    for ((family, group, _identity), host_objects) in objects {
        let group_members = &members[&group];
        let label = group.as_ref().map(|value| (options.group_by.as_str(), value.as_str()));
        let (shared, extra) = match family {
            Family::StandardSwitch => split_port_groups(host_objects),
            _ => (host_objects, Vec::new()),
        };
        for objects in [shared, extra] {
            if objects.is_empty() {
                continue;
            }
            for rendered in fold(objects, label, group_members, &mut notes) {
                documents.entry(family).or_default().push(rendered);
            }
        }
    }

    let mut hosts: Vec<Rendered> = Vec::new();
    for (host, host_labels) in &labels {
        if existing.hosts.contains_key(host) || !observed.hosts.contains_key(host) {
            continue;
        }
        let document = HostDocument {
            api_version: ApiVersion::V1,
            kind: HostKindTag::Tag,
            metadata: Metadata {
                name: host.clone(),
                labels: host_labels.clone(),
            },
            spec: HostSpec::default(),
        };
        hosts.push(Rendered {
            comments: Vec::new(),
            yaml: to_yaml(&document),
        });
    }
    let host_documents = hosts.len();
    let object_documents = documents.values().map(Vec::len).sum();
    let mut files = Vec::new();
    let group_description = format!(
        "Hosts are labelled `{}` with the DNS domain of their names (the clusters `esxnet sim serve` makes of them); hosts the manifests declared already keep their labels.",
        options.group_by
    );
    if !hosts.is_empty() {
        files.push(file(options, "00-hosts.yaml", &[&group_description], hosts));
    }
    for (family, rendered) in documents {
        files.push(file(options, family.file_name(), family.description(), rendered));
    }
    ImportedManifests {
        files,
        notes,
        host_documents,
        object_documents,
        groups: members.len(),
    }
}

/// The labels every host will carry: its own where the manifests declare it, else the group label
/// with the DNS domain of its name (none for a name without a domain).
fn host_labels(
    observed: &ObservedFleet,
    existing: &DesiredFleet,
    group_by: &str,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut labels: BTreeMap<String, BTreeMap<String, String>> = existing
        .hosts
        .iter()
        .map(|(name, host)| (name.clone(), host.labels.clone()))
        .collect();
    for name in observed.hosts.keys() {
        labels.entry(name.clone()).or_insert_with(|| {
            dns_domain(name)
                .map(|domain| BTreeMap::from([(group_by.to_owned(), domain.to_owned())]))
                .unwrap_or_default()
        });
    }
    labels
}

/// The DNS domain of a host name, as `esxnet sim serve` makes clusters of them.
fn dns_domain(host: &str) -> Option<&str> {
    host.split_once('.')
        .map(|(_, domain)| domain)
        .filter(|domain| !domain.is_empty())
}

/// The object families, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    StandardSwitch,
    NetStack,
    VmkernelAdapter,
}

impl Family {
    fn file_name(self) -> &'static str {
        match self {
            Family::StandardSwitch => "10-standard-switches.yaml",
            Family::NetStack => "20-netstacks.yaml",
            Family::VmkernelAdapter => "30-vmkernel-adapters.yaml",
        }
    }

    fn description(self) -> &'static [&'static str] {
        match self {
            Family::StandardSwitch => &[
                "Standard switches with their port groups, teaming and security as the hosts have them.",
                "A teaming order is written only where one was set (without one, ESXi keeps every uplink active).",
            ],
            Family::NetStack => &[
                "TCP/IP stack settings someone set: DNS learned through DHCP, gateways learned from router",
                "advertisement, the routes ESXi adds by itself and ESXi's defaults are left to the hosts.",
            ],
            Family::VmkernelAdapter => &[
                "VMkernel adapters: static addresses per host, DHCP addresses not pinned, services on the",
                "default stack only (the vMotion and Provisioning stacks imply theirs).",
            ],
        }
    }
}

/// One object of one host, as the document that would declare it for that host alone.
struct HostObject {
    family: Family,
    /// What names the object on every host (switch name, stack, adapter's port group).
    identity: String,
    host: String,
    /// The document's name before a group or host is added to it (not for switches).
    base_name: String,
    spec: Spec,
    /// Why the object is written as it is (protected objects).
    comments: Vec<String>,
    /// For a switch: why port groups are kept as they are, by port group (the adapters on them
    /// esxnet never deletes); said above the document that lists them.
    port_group_notes: BTreeMap<String, String>,
    /// For a switch: this object holds only the port groups some hosts of the group have beyond
    /// the ones they all share (see [`split_port_groups`]).
    extra_port_groups: bool,
}

/// A document's spec with its selector left default.
#[derive(Clone, Serialize)]
#[serde(untagged)]
enum Spec {
    Switch(String, StandardSwitchSpec),
    Stack(NetStackSpec),
    Adapter(VmkernelAdapterSpec),
}

impl Spec {
    /// What hosts must share to share a document: the spec without per-host values.
    fn fold_key(&self) -> String {
        let mut shared = self.clone();
        if let Spec::Adapter(adapter) = &mut shared {
            adapter.ipv4.addresses = None;
            if let Some(ipv6) = &mut adapter.ipv6 {
                ipv6.addresses = None;
            }
        }
        serde_json::to_string(&shared).unwrap_or_default()
    }

    /// Adds another host's per-host values (its addresses).
    fn merge_host_values(&mut self, other: &Spec) {
        if let (Spec::Adapter(adapter), Spec::Adapter(other)) = (self, other) {
            if let Some(addresses) = &other.ipv4.addresses {
                adapter
                    .ipv4
                    .addresses
                    .get_or_insert_with(BTreeMap::new)
                    .extend(addresses.clone());
            }
            if let (Some(ipv6), Some(other_ipv6)) = (&mut adapter.ipv6, &other.ipv6) {
                if let Some(addresses) = &other_ipv6.addresses {
                    ipv6.addresses
                        .get_or_insert_with(BTreeMap::new)
                        .extend(addresses.clone());
                }
            }
        }
    }

    /// The spec as JSON, for saying what differs.
    fn value(&self) -> serde_json::Value {
        match self {
            Spec::Switch(_, spec) => serde_json::to_value(spec),
            Spec::Stack(spec) => serde_json::to_value(spec),
            Spec::Adapter(spec) => serde_json::to_value(spec),
        }
        .unwrap_or_default()
    }

    fn set_hosts(&mut self, selector: HostSelector) {
        match self {
            Spec::Switch(_, spec) => spec.hosts = selector,
            Spec::Stack(spec) => spec.hosts = selector,
            Spec::Adapter(spec) => spec.hosts = selector,
        }
    }

    fn document(self, name: String) -> String {
        let metadata = Metadata {
            name,
            labels: BTreeMap::new(),
        };
        match self {
            Spec::Switch(switch, spec) => to_yaml(&StandardSwitchDocument {
                api_version: ApiVersion::V1,
                kind: StandardSwitchKindTag::Tag,
                metadata: Metadata {
                    name: switch,
                    ..metadata
                },
                spec,
            }),
            Spec::Stack(spec) => to_yaml(&NetStackDocument {
                api_version: ApiVersion::V1,
                kind: NetStackKindTag::Tag,
                metadata,
                spec,
            }),
            Spec::Adapter(spec) => to_yaml(&VmkernelAdapterDocument {
                api_version: ApiVersion::V1,
                kind: VmkernelAdapterKindTag::Tag,
                metadata,
                spec,
            }),
        }
    }
}

fn to_yaml<T: Serialize>(value: &T) -> String {
    // The wire types are plain data with string keys: serializing them cannot fail.
    serde_yaml::to_string(value).unwrap_or_default()
}

/// A document's text and the comments above it.
struct Rendered {
    comments: Vec<String>,
    yaml: String,
}

/// Splits one switch of one group into what every host that has it shares, and the port groups
/// only some of them have: those go into documents of their own that declare the switch again
/// with the same fields (port groups of one switch may come from several documents), so that one
/// host with an extra port group does not take the whole switch out of its group's document.
fn split_port_groups(objects: Vec<HostObject>) -> (Vec<HostObject>, Vec<HostObject>) {
    if objects.len() < 2 {
        return (objects, Vec::new());
    }
    let port_group_key = |object: &HostObject, port_group: &PortGroupSpec| {
        format!(
            "{}\n{:?}",
            serde_json::to_string(port_group).unwrap_or_default(),
            object.port_group_notes.get(&port_group.name)
        )
    };
    let mut hosts_with: BTreeMap<String, usize> = BTreeMap::new();
    for object in &objects {
        if let Spec::Switch(_, spec) = &object.spec {
            for port_group in &spec.port_groups {
                *hosts_with.entry(port_group_key(object, port_group)).or_default() += 1;
            }
        }
    }
    let total = objects.len();
    let mut shared = Vec::new();
    let mut extra = Vec::new();
    for mut object in objects {
        let Spec::Switch(name, spec) = &object.spec else {
            shared.push(object);
            continue;
        };
        let (common, own): (Vec<PortGroupSpec>, Vec<PortGroupSpec>) = spec
            .port_groups
            .iter()
            .cloned()
            .partition(|port_group| hosts_with.get(&port_group_key(&object, port_group)) == Some(&total));
        if !own.is_empty() {
            let mut own_spec = spec.clone();
            own_spec.port_groups = own;
            extra.push(HostObject {
                family: object.family,
                identity: object.identity.clone(),
                host: object.host.clone(),
                base_name: object.base_name.clone(),
                spec: Spec::Switch(name.clone(), own_spec),
                comments: Vec::new(),
                port_group_notes: object.port_group_notes.clone(),
                extra_port_groups: true,
            });
        }
        if let Spec::Switch(_, spec) = &mut object.spec {
            spec.port_groups = common;
        }
        shared.push(object);
    }
    (shared, extra)
}

/// Folds one object of one group: hosts with the same spec share a document. The largest set of
/// hosts (ties: the one with the first host) is the group's document, selected by the group label
/// when it is every host of the group, by name otherwise; every other set is an exception.
fn fold(
    objects: Vec<HostObject>,
    label: Option<(&str, &str)>,
    group_members: &BTreeSet<String>,
    notes: &mut Vec<String>,
) -> Vec<Rendered> {
    let mut sets: Vec<(String, Vec<HostObject>)> = Vec::new();
    let mut index_of: BTreeMap<String, usize> = BTreeMap::new();
    for mut object in objects {
        if let Spec::Switch(_, spec) = &object.spec {
            let protected: Vec<String> = spec
                .port_groups
                .iter()
                .filter_map(|port_group| {
                    let reasons = object.port_group_notes.get(&port_group.name)?;
                    Some(format!("\"{}\" ({reasons})", port_group.name))
                })
                .collect();
            if !protected.is_empty() {
                object.comments.push(format!(
                    "Port groups of adapters esxnet never deletes, kept as they are: {}.",
                    protected.join("; ")
                ));
            }
        }
        let key = format!("{}\n{}", object.spec.fold_key(), object.comments.join("\n"));
        match index_of.get(&key) {
            Some(&index) => sets[index].1.push(object),
            None => {
                index_of.insert(key.clone(), sets.len());
                sets.push((key, vec![object]));
            }
        }
    }
    // Hosts arrive in name order, so the first set holds the first host.
    let majority = sets
        .iter()
        .enumerate()
        .max_by_key(|(index, (_, objects))| (objects.len(), std::cmp::Reverse(*index)))
        .map(|(index, _)| index)
        .unwrap_or_default();
    let group_text = match label {
        Some((key, value)) => format!("{key} {value}"),
        None => "the hosts without a group label".to_owned(),
    };
    let majority_spec = sets[majority].1[0].spec.value();
    let mut rendered = Vec::new();
    for (index, (_, objects)) in sets.into_iter().enumerate() {
        let hosts: Vec<String> = objects.iter().map(|object| object.host.clone()).collect();
        let mut objects = objects.into_iter();
        let Some(first) = objects.next() else { continue };
        let HostObject {
            base_name,
            mut spec,
            mut comments,
            extra_port_groups,
            ..
        } = first;
        for other in objects {
            spec.merge_host_values(&other.spec);
        }
        let whole_group = hosts.len() == group_members.len() && hosts.iter().all(|host| group_members.contains(host));
        let selector = match label {
            Some((key, value)) if whole_group => HostSelector {
                names: None,
                match_labels: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
            },
            _ => HostSelector {
                names: Some(hosts.clone()),
                match_labels: None,
            },
        };
        let what = match &spec {
            Spec::Switch(switch, _) => format!("standard switch {switch}"),
            Spec::Stack(stack) => format!("the {} stack's settings", stack.stack),
            Spec::Adapter(_) => format!("adapter {base_name}"),
        };
        let suffix = if index == majority {
            match label {
                Some((_, value)) => slug(value),
                None => slug(short_name(&hosts[0])),
            }
        } else {
            slug(short_name(&hosts[0]))
        };
        let name = format!("{base_name}-{suffix}");
        if extra_port_groups {
            let port_groups: Vec<String> = match &spec {
                Spec::Switch(_, switch) => switch
                    .port_groups
                    .iter()
                    .map(|port_group| format!("\"{}\"", port_group.name))
                    .collect(),
                _ => Vec::new(),
            };
            let why = format!(
                "{} differ{} from the other hosts of {group_text} in {what}: port groups {} the others do not have like this",
                list_hosts(&hosts),
                if hosts.len() == 1 { "s" } else { "" },
                port_groups.join(", ")
            );
            comments.push(format!(
                "{why}. Written as a declaration of its own that repeats the switch's fields, so that the two agree."
            ));
            notes.push(why);
        } else if index == majority {
            if !whole_group && label.is_some() {
                comments.push(format!(
                    "Not every host of {group_text} has {what} like this: {} of {} do.",
                    hosts.len(),
                    group_members.len()
                ));
            }
        } else {
            let differing = differing_fields(&majority_spec, &spec.value());
            let why = format!(
                "{} differ{} from the other hosts of {group_text} in {what} ({})",
                list_hosts(&hosts),
                if hosts.len() == 1 { "s" } else { "" },
                differing.join(", ")
            );
            comments.push(format!("{why}: written as a document of its own."));
            notes.push(why);
        }
        spec.set_hosts(selector);
        rendered.push(Rendered {
            comments,
            yaml: spec.document(name),
        });
    }
    rendered
}

/// The top-level fields of a spec that differ, as `spec.FIELD` (the per-host maps compared too:
/// they never make an exception on their own).
fn differing_fields(majority: &serde_json::Value, exception: &serde_json::Value) -> Vec<String> {
    let (Some(majority), Some(exception)) = (majority.as_object(), exception.as_object()) else {
        return vec!["spec".to_owned()];
    };
    let keys: BTreeSet<&String> = majority.keys().chain(exception.keys()).collect();
    let mut fields: Vec<String> = keys
        .into_iter()
        .filter(|key| key.as_str() != "hosts")
        .filter(|key| {
            let strip = |value: Option<&serde_json::Value>| {
                let mut value = value.cloned();
                if let Some(serde_json::Value::Object(object)) = &mut value {
                    object.remove("addresses");
                }
                value
            };
            strip(majority.get(*key)) != strip(exception.get(*key))
        })
        .map(|key| match (key.as_str(), majority.get(key), exception.get(key)) {
            ("portGroups", Some(majority), Some(exception)) => {
                format!(
                    "spec.portGroups: {}",
                    differing_port_groups(majority, exception).join(", ")
                )
            }
            _ => format!("spec.{key}"),
        })
        .collect();
    if fields.is_empty() {
        fields.push("what makes it protected".to_owned());
    }
    fields
}

/// The names of the port groups two lists of port groups disagree on.
fn differing_port_groups(majority: &serde_json::Value, exception: &serde_json::Value) -> Vec<String> {
    let by_name = |list: &serde_json::Value| -> BTreeMap<String, serde_json::Value> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|port_group| {
                let name = port_group
                    .get("name")
                    .and_then(|name| name.as_str())
                    .unwrap_or_default();
                (name.to_owned(), port_group.clone())
            })
            .collect()
    };
    let (majority, exception) = (by_name(majority), by_name(exception));
    let names: BTreeSet<&String> = majority.keys().chain(exception.keys()).collect();
    names
        .into_iter()
        .filter(|name| majority.get(*name) != exception.get(*name))
        .map(|name| format!("\"{name}\""))
        .collect()
}

fn list_hosts(hosts: &[String]) -> String {
    const SHOWN: usize = 5;
    if hosts.len() > SHOWN {
        format!("{} and {} more", hosts[..SHOWN].join(", "), hosts.len() - SHOWN)
    } else {
        hosts.join(", ")
    }
}

fn short_name(host: &str) -> &str {
    host.split('.').next().unwrap_or(host)
}

/// A document-name fragment: lower-case letters, digits and dashes.
fn slug(text: &str) -> String {
    let mut slug = String::new();
    for character in text.chars() {
        if character.is_ascii_alphanumeric() {
            slug.push(character.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "object".to_owned()
    } else {
        slug
    }
}

/// Every object of `host` a manifest can declare, minus what `declared` declares already.
fn host_objects(host: &ObservedHost, declared: Option<&DesiredHost>) -> Vec<HostObject> {
    let mut objects = Vec::new();
    let management_switches: BTreeSet<&str> = host
        .management_adapters()
        .filter_map(|adapter| match &adapter.connection {
            PortConnection::Standard { switch, .. } => Some(switch.as_str()),
            PortConnection::Distributed { .. } => None,
        })
        .collect();
    for switch in &host.switches {
        if let Some(object) = switch_object(
            host,
            switch,
            declared,
            management_switches.contains(switch.name.as_str()),
        ) {
            objects.push(object);
        }
    }
    for stack in &host.stacks {
        if declared.is_some_and(|declared| declared.stacks.contains_key(&stack.stack)) || !stack.instantiated {
            continue;
        }
        let settings = state::stack_state(stack);
        let spec = NetStackSpec {
            hosts: HostSelector::default(),
            stack: stack.stack,
            ipv4_gateway: settings.ipv4_gateway,
            // Learned from router advertisement: the router's, kept by ESXi (see esxi::replace_gateways).
            ipv6_gateway: settings
                .ipv6_gateway
                .filter(|_| !stack.ipv6_gateway_from_router_advertisement),
            // Learned through DHCP: ESXi keeps it learned (see esxi::replace_dns).
            dns: Some(settings.dns)
                .filter(|dns| !stack.dns_from_dhcp && (!dns.servers.is_empty() || !dns.search_domains.is_empty())),
            routes: Some(settings.routes).filter(|routes| !routes.is_empty()),
            max_connections: Some(settings.max_connections).filter(|limit| *limit != DEFAULT_MAX_CONNECTIONS),
            congestion_control: Some(settings.congestion_control)
                .filter(|algorithm| *algorithm != CongestionControl::Newreno),
        };
        let nothing_set = spec.ipv4_gateway.is_none()
            && spec.ipv6_gateway.is_none()
            && spec.dns.is_none()
            && spec.routes.is_none()
            && spec.max_connections.is_none()
            && spec.congestion_control.is_none();
        if nothing_set {
            continue;
        }
        let mut comments = Vec::new();
        if stack.stack == StackKind::Default && host.management_adapters().next().is_some() {
            comments.push(
                "The management network routes through the default stack: its gateway is written as the host has it, and esxnet refuses to change it without --allow-management-changes.".to_owned(),
            );
        }
        objects.push(HostObject {
            family: Family::NetStack,
            identity: stack.stack.as_str().to_owned(),
            host: host.name.clone(),
            base_name: stack.stack.as_str().to_owned(),
            spec: Spec::Stack(spec),
            comments,
            port_group_notes: BTreeMap::new(),
            extra_port_groups: false,
        });
    }
    for adapter in &host.adapters {
        let already = declared.is_some_and(|declared| {
            declared.adapters.values().any(|wanted| {
                state::find_adapter(host, wanted.device.as_deref(), &wanted.connection)
                    .is_some_and(|found| found.device == adapter.device)
            })
        });
        if !already {
            objects.push(adapter_object(host, adapter));
        }
    }
    objects
}

fn switch_object(
    host: &ObservedHost,
    switch: &ObservedSwitch,
    declared: Option<&DesiredHost>,
    carries_management: bool,
) -> Option<HostObject> {
    let declared_switch = declared.and_then(|declared| declared.switches.get(&switch.name));
    let mut port_groups: Vec<&ObservedPortGroup> = host
        .port_groups
        .iter()
        .filter(|port_group| port_group.switch == switch.name)
        .filter(|port_group| !declared.is_some_and(|declared| declared.port_groups.contains_key(&port_group.name)))
        .collect();
    port_groups.sort_by(|left, right| left.name.cmp(&right.name));
    if declared_switch.is_some() && port_groups.is_empty() {
        return None;
    }
    let mut spec = match declared_switch {
        // Declared already: the new document adds port groups and repeats what the declaration
        // manages, so that the two agree (ESX016).
        Some(declared) => repeat_declared_switch(declared),
        None => StandardSwitchSpec {
            hosts: HostSelector::default(),
            mtu: Some(switch.mtu),
            uplinks: Some(switch.uplinks.iter().cloned().collect()),
            teaming: Some(switch_teaming(switch)),
            security: Some(SecuritySpec {
                allow_promiscuous: Some(switch.policy.security.allow_promiscuous),
                mac_changes: Some(switch.policy.security.mac_changes),
                forged_transmits: Some(switch.policy.security.forged_transmits),
            }),
            port_groups: Vec::new(),
        },
    };
    spec.port_groups = port_groups
        .iter()
        .map(|port_group| port_group_spec(port_group, switch))
        .collect();
    let mut comments = Vec::new();
    if carries_management {
        comments.push(format!(
            "{} carries the management network: written as the host has it; esxnet refuses changes to its MTU, uplinks and teaming without --allow-management-changes.",
            switch.name
        ));
    }
    let port_group_notes: BTreeMap<String, String> = host
        .adapters
        .iter()
        .filter(|adapter| {
            matches!(&adapter.connection, PortConnection::Standard { switch: on, port_group }
                if *on == switch.name && port_groups.iter().any(|listed| listed.name == *port_group))
        })
        .filter_map(|adapter| {
            let reasons = esxnet_planner::diff::deletion_protection(adapter);
            (!reasons.is_empty()).then(|| (adapter.connection.port_group().to_owned(), reasons.join(", ")))
        })
        .collect();
    Some(HostObject {
        family: Family::StandardSwitch,
        identity: switch.name.clone(),
        host: host.name.clone(),
        base_name: switch.name.clone(),
        spec: Spec::Switch(switch.name.clone(), spec),
        comments,
        port_group_notes,
        extra_port_groups: false,
    })
}

fn repeat_declared_switch(declared: &DesiredSwitch) -> StandardSwitchSpec {
    let policy = declared.policy;
    let teaming = SwitchTeamingSpec {
        active: declared.teaming.as_ref().map(|teaming| teaming.active.clone()),
        standby: declared
            .teaming
            .as_ref()
            .map(|teaming| teaming.standby.clone())
            .filter(|standby| !standby.is_empty()),
        unused: None,
        load_balancing: policy.load_balancing,
        failback: policy.failback,
        notify_switches: policy.notify_switches,
        beacon_probing: policy.beacon_probing,
    };
    let security = SecuritySpec {
        allow_promiscuous: policy.allow_promiscuous,
        mac_changes: policy.mac_changes,
        forged_transmits: policy.forged_transmits,
    };
    StandardSwitchSpec {
        hosts: HostSelector::default(),
        mtu: declared.mtu,
        uplinks: declared
            .uplinks
            .as_ref()
            .map(|uplinks| uplinks.iter().cloned().collect()),
        teaming: Some(teaming).filter(|teaming| *teaming != SwitchTeamingSpec::default()),
        security: Some(security).filter(|security| *security != SecuritySpec::default()),
        port_groups: Vec::new(),
    }
}

/// A switch's teaming: its policy, and its order unless it is the one ESXi computes for a switch
/// given none (every uplink active, in name order).
fn switch_teaming(switch: &ObservedSwitch) -> SwitchTeamingSpec {
    let policy = switch.policy.teaming;
    let computed = esxi::effective_teaming(&switch.uplinks, &Teaming::default());
    let mut teaming = SwitchTeamingSpec {
        load_balancing: Some(policy.load_balancing),
        failback: Some(policy.failback),
        notify_switches: Some(policy.notify_switches),
        beacon_probing: Some(policy.beacon_probing),
        ..SwitchTeamingSpec::default()
    };
    if switch.teaming != computed {
        teaming.active = Some(switch.teaming.active.clone());
        teaming.standby = Some(switch.teaming.standby.clone()).filter(|standby| !standby.is_empty());
        teaming.unused = Some(unused_uplinks(&switch.uplinks, &switch.teaming)).filter(|unused| !unused.is_empty());
    }
    teaming
}

fn unused_uplinks(uplinks: &BTreeSet<String>, order: &Teaming) -> Vec<String> {
    uplinks
        .iter()
        .filter(|uplink| !order.active.contains(uplink) && !order.standby.contains(uplink))
        .cloned()
        .collect()
}

/// A port group with the overrides it has (an override left out keeps the host's value).
fn port_group_spec(port_group: &ObservedPortGroup, switch: &ObservedSwitch) -> PortGroupSpec {
    let teaming = &port_group.policy.teaming;
    let security = &port_group.policy.security;
    let teaming_spec = TeamingOverrideSpec {
        active: teaming
            .order
            .as_ref()
            .map(|order| Overridable::Value(order.active.clone())),
        standby: teaming
            .order
            .as_ref()
            .map(|order| order.standby.clone())
            .filter(|standby| !standby.is_empty()),
        unused: teaming
            .order
            .as_ref()
            .map(|order| unused_uplinks(&switch.uplinks, order))
            .filter(|unused| !unused.is_empty()),
        load_balancing: teaming.load_balancing.map(Overridable::Value),
        failback: teaming.failback.map(Overridable::Value),
        notify_switches: teaming.notify_switches.map(Overridable::Value),
        beacon_probing: teaming.beacon_probing.map(Overridable::Value),
    };
    let security_spec = SecurityOverrideSpec {
        allow_promiscuous: security.allow_promiscuous.map(Overridable::Value),
        mac_changes: security.mac_changes.map(Overridable::Value),
        forged_transmits: security.forged_transmits.map(Overridable::Value),
    };
    PortGroupSpec {
        name: port_group.name.clone(),
        vlan: port_group.vlan,
        teaming: Some(teaming_spec).filter(|spec| *spec != TeamingOverrideSpec::default()),
        security: Some(security_spec).filter(|spec| *spec != SecurityOverrideSpec::default()),
    }
}

fn adapter_object(host: &ObservedHost, adapter: &ObservedAdapter) -> HostObject {
    let managed = state::adapter_state(adapter);
    // An adapter is found by its port group unless another adapter shares it (a distributed port
    // group holds many): then only its device tells them apart.
    let shared = host
        .adapters
        .iter()
        .filter(|other| other.connection == adapter.connection)
        .count()
        > 1;
    let device = shared.then(|| adapter.device.clone());
    let (port_group, identity) = match &adapter.connection {
        PortConnection::Standard { switch, port_group } => (
            PortGroupRef {
                standard_switch: Some(switch.clone()),
                distributed_switch: None,
                name: port_group.clone(),
            },
            format!("standard/{switch}/{port_group}"),
        ),
        PortConnection::Distributed { switch, port_group } => (
            PortGroupRef {
                standard_switch: None,
                distributed_switch: Some(switch.clone()),
                name: port_group.clone(),
            },
            format!("distributed/{switch}/{port_group}"),
        ),
    };
    let identity = match &device {
        Some(device) => format!("{identity}/{device}"),
        None => identity,
    };
    let base_name = match &device {
        Some(device) => format!("{}-{device}", slug(adapter.connection.port_group())),
        None => slug(adapter.connection.port_group()),
    };
    let ipv4 = if managed.ipv4.dhcp {
        Ipv4Spec {
            mode: Ipv4Mode::Dhcp,
            prefix_length: None,
            addresses: None,
            pool: None,
            gateway_override: managed.ipv4.gateway_override,
        }
    } else {
        Ipv4Spec {
            mode: Ipv4Mode::Static,
            prefix_length: managed.ipv4.prefix_length,
            addresses: managed
                .ipv4
                .address
                .map(|address| BTreeMap::from([(host.name.clone(), address)])),
            pool: None,
            gateway_override: managed.ipv4.gateway_override,
        }
    };
    let router_advertisement_default = esxi::default_router_advertisement(host);
    let ipv6_set = managed.ipv6.dhcp
        || !managed.ipv6.addresses.is_empty()
        || managed.ipv6.gateway_override.is_some()
        || managed.ipv6.router_advertisement != router_advertisement_default;
    let ipv6 = (host.ipv6_enabled && ipv6_set).then(|| Ipv6Spec {
        dhcp: managed.ipv6.dhcp,
        // ESXi's default is its own to decide: written only where someone changed it.
        router_advertisement: Some(managed.ipv6.router_advertisement)
            .filter(|enabled| *enabled != router_advertisement_default),
        addresses: Some(BTreeMap::from([(
            host.name.clone(),
            managed.ipv6.addresses.iter().copied().collect(),
        )]))
        .filter(|_| !managed.ipv6.addresses.is_empty()),
        gateway_override: managed.ipv6.gateway_override,
    });
    // The vMotion and Provisioning stacks imply their service (ESX003): services are written for
    // the default stack only.
    let services =
        (adapter.stack == StackKind::Default).then(|| adapter.services.iter().copied().collect::<Vec<Service>>());
    let spec = VmkernelAdapterSpec {
        hosts: HostSelector::default(),
        stack: adapter.stack,
        device,
        port_group,
        mtu: Some(managed.mtu),
        ipv4,
        ipv6,
        services,
    };
    let reasons = esxnet_planner::diff::deletion_protection(adapter);
    let mut comments = Vec::new();
    if !reasons.is_empty() {
        comments.push(format!(
            "esxnet never deletes this adapter ({}): it is written as the host has it so that plans keep it.",
            reasons.join(", ")
        ));
    }
    if adapter.services.contains(&Service::Management) {
        comments.push(
            "It carries the management network: esxnet refuses to re-address or re-create it without --allow-management-changes.".to_owned(),
        );
    }
    HostObject {
        family: Family::VmkernelAdapter,
        identity,
        host: host.name.clone(),
        base_name,
        spec: Spec::Adapter(spec),
        comments,
        port_group_notes: BTreeMap::new(),
        extra_port_groups: false,
    }
}

fn file(options: &ImportOptions, name: &str, description: &[&str], documents: Vec<Rendered>) -> ManifestFile {
    let mut text = format!("# yaml-language-server: $schema={}\n#\n", options.schema);
    let header = format!(
        "Written by `esxnet import` from what the hosts have. {}",
        description.join(" ")
    );
    for line in wrap(&header, 98) {
        text.push_str("# ");
        text.push_str(&line);
        text.push('\n');
    }
    text.push('\n');
    let count = documents.len();
    for (index, document) in documents.into_iter().enumerate() {
        if index > 0 {
            text.push_str("---\n");
        }
        for comment in &document.comments {
            for line in wrap(comment, 98) {
                text.push_str("# ");
                text.push_str(&line);
                text.push('\n');
            }
        }
        text.push_str(&document.yaml);
    }
    ManifestFile {
        name: format!("{}{name}", options.file_prefix),
        text,
        documents: count,
    }
}

/// Splits a comment into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// What `esxnet import` does: where the hosts are, which, and where the manifests go.
#[derive(Debug, Clone)]
pub struct ImportRequest<'a> {
    /// The `--target` text.
    pub target: &'a str,
    /// Only these hosts; every host of the target when empty.
    pub hosts: &'a [String],
    /// Where to write: a new directory (`--out`), or one with manifests to complete (`--into`).
    pub destination: Destination,
    /// The group label (`--group-by`).
    pub group_by: String,
    /// Hosts observed at once.
    pub parallelism: usize,
}

/// Where [`import`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `--out DIR`: every object, in files named after their family (replaced if they exist).
    Out(PathBuf),
    /// `--into DIR`: only what the manifests in DIR do not declare yet, in new files.
    Into(PathBuf),
}

/// What [`import`] wrote.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The manifests, as written.
    pub manifests: ImportedManifests,
    /// The paths written, in order.
    pub written: Vec<PathBuf>,
    /// Hosts observed.
    pub hosts: usize,
}

/// `esxnet import`: observes the hosts and writes the manifests [`manifests_for`] makes.
pub fn import(request: &ImportRequest<'_>) -> Result<ImportReport> {
    let timings = crate::timings::Timings::from_env();
    let (directory, existing) = match &request.destination {
        Destination::Out(directory) => {
            refuse_other_manifests(directory)?;
            (directory.clone(), None)
        }
        Destination::Into(directory) => {
            if !directory.is_dir() {
                bail!(
                    "{} is not a directory of manifests: give --into a directory that has some, or use --out",
                    directory.display()
                );
            }
            let loaded = esxnet_model::analysis::load(std::slice::from_ref(directory));
            if esxnet_model::diagnostic::has_errors(&loaded.diagnostics) {
                bail!(
                    "the manifests in {} cannot be read: run `esxnet validate {}` and fix them first",
                    directory.display(),
                    directory.display()
                );
            }
            (directory.clone(), Some(loaded))
        }
    };
    let observed = crate::ops::observe(request.target, request.hosts, request.parallelism)?;
    timings.lap("observe");
    let existing = match &existing {
        Some(loaded) => Some(existing_fleet(loaded, &observed, &directory)?),
        None => None,
    };
    std::fs::create_dir_all(&directory).with_context(|| format!("cannot create {}", directory.display()))?;
    let schema = schema_reference(&directory)?;
    let file_prefix = match &request.destination {
        Destination::Out(_) => String::new(),
        Destination::Into(_) => free_prefix(&directory),
    };
    let options = ImportOptions {
        group_by: request.group_by.clone(),
        schema: schema.clone(),
        file_prefix,
    };
    let manifests = manifests_for(&observed, existing.as_ref(), &options);
    timings.lap("fold");
    let mut written = Vec::new();
    if schema == SCHEMA_FILE && !manifests.files.is_empty() {
        let text = esxnet_model::schema::model_schemas()
            .into_iter()
            .find(|(name, _)| name == SCHEMA_FILE)
            .map(|(_, text)| text)
            .unwrap_or_default();
        written.push(write_atomically(&directory.join(SCHEMA_FILE), &text)?);
    }
    for file in &manifests.files {
        written.push(write_atomically(&directory.join(&file.name), &file.text)?);
    }
    timings.lap("write");
    Ok(ImportReport {
        manifests,
        written,
        hosts: observed.hosts.len(),
    })
}

/// `--out` replaces the files it writes; manifests of other names in the directory would declare
/// the same objects twice, so a directory that has some is refused.
fn refuse_other_manifests(directory: &Path) -> Result<()> {
    if !directory.exists() {
        return Ok(());
    }
    let ours: BTreeSet<&str> = [
        "00-hosts.yaml",
        Family::StandardSwitch.file_name(),
        Family::NetStack.file_name(),
        Family::VmkernelAdapter.file_name(),
    ]
    .into();
    let loaded = esxnet_model::analysis::load(&[directory.to_owned()]);
    let others: Vec<String> = loaded
        .files
        .iter()
        .filter(|file| {
            file.parent() != Some(directory)
                || !file
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| ours.contains(name))
        })
        .map(|file| file.display().to_string())
        .collect();
    if !others.is_empty() {
        bail!(
            "{} holds manifests already ({}): use --into {} to add only what they do not declare, or --out an empty directory",
            directory.display(),
            list_hosts(&others),
            directory.display()
        );
    }
    Ok(())
}

/// The desired state of the manifests `--into` completes; they must hold no errors.
fn existing_fleet(loaded: &Loaded, observed: &ObservedFleet, directory: &Path) -> Result<DesiredFleet> {
    let analysis = esxnet_model::analysis::analyze(loaded, Some(observed));
    let errors: Vec<String> = analysis
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
        .map(|diagnostic| diagnostic.render(false))
        .collect();
    if !errors.is_empty() {
        bail!(
            "the manifests in {} have errors, so import cannot tell what they declare: fix them first (`esxnet validate {} --target …`)\n{}",
            directory.display(),
            directory.display(),
            errors.join("\n")
        );
    }
    Ok(analysis.fleet)
}

/// The schema line's path: the repository's `schemas/manifest.schema.json` when the directory is
/// inside one, else a copy written next to the manifests ([`SCHEMA_FILE`]).
fn schema_reference(directory: &Path) -> Result<String> {
    let absolute = directory
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", directory.display()))?;
    for (depth, ancestor) in absolute.ancestors().enumerate() {
        if ancestor.join("schemas").join(SCHEMA_FILE).is_file() {
            return Ok(format!("{}schemas/{SCHEMA_FILE}", "../".repeat(depth)));
        }
    }
    Ok(SCHEMA_FILE.to_owned())
}

/// `imported-` or `imported-N-`: the first prefix none of the directory's files starts with.
fn free_prefix(directory: &Path) -> String {
    let names: Vec<String> = std::fs::read_dir(directory)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    (1..)
        .map(|number: u32| match number {
            1 => "imported-".to_owned(),
            number => format!("imported-{number}-"),
        })
        .find(|prefix| !names.iter().any(|name| name.starts_with(prefix.as_str())))
        .unwrap_or_default()
}

/// Writes `text` to `path` through a temporary file in the same directory renamed over it, so a
/// reader never sees half a file.
fn write_atomically(path: &Path, text: &str) -> Result<PathBuf> {
    let directory = path.parent().unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(directory)
        .with_context(|| format!("cannot create a temporary file in {}", directory.display()))?;
    temporary
        .write_all(text.as_bytes())
        .and_then(|()| temporary.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    temporary
        .persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use esxnet_executor::backend::Ipv4Settings;
    use esxnet_model::common::{EsxiVersion, StackKind};
    use esxnet_model::observed::{DistributedPortGroup, DistributedSwitchMembership, PortConnection};
    use esxnet_planner::{Action, PlanOptions};
    use esxnet_sim::{NewAdapter, SimHost};

    use super::*;

    fn static_ipv4(third: u8) -> Ipv4Settings {
        Ipv4Settings {
            dhcp: false,
            address: Some(Ipv4Addr::new(10, 77, third, 10)),
            prefix_length: Some(24),
            gateway_override: None,
        }
    }

    #[test]
    fn adapters_on_port_groups_of_one_name_get_documents_of_their_own() {
        let mut host = SimHost::new_installed("esx-1.lab.example", 1, EsxiVersion::new(8, 0, 3)).unwrap();
        host.add_port_group("vMotion", "vSwitch0", 130).unwrap();
        host.join_distributed_switch(DistributedSwitchMembership {
            name: "dvs".into(),
            uuid: "50 00".into(),
            mtu: 1500,
            port_groups: vec![DistributedPortGroup {
                name: "vMotion".into(),
                key: "dvportgroup-1".into(),
                vlan: 131,
            }],
        })
        .unwrap();
        for (third, connection) in [
            (
                1,
                PortConnection::Standard {
                    switch: "vSwitch0".into(),
                    port_group: "vMotion".into(),
                },
            ),
            (
                2,
                PortConnection::Distributed {
                    switch: "dvs".into(),
                    port_group: "vMotion".into(),
                },
            ),
        ] {
            host.add_virtual_nic(&NewAdapter {
                connection,
                stack: StackKind::Default,
                mtu: 1500,
                ipv4: static_ipv4(third),
                ipv6: None,
            })
            .unwrap();
        }
        let mut fleet = ObservedFleet::default();
        fleet.hosts.insert("esx-1.lab.example".into(), host.into_observed());
        let imported = manifests_for(&fleet, None, &ImportOptions::default());
        let scratch = tempfile::tempdir().unwrap();
        for file in &imported.files {
            std::fs::write(scratch.path().join(&file.name), &file.text).unwrap();
        }
        let adapters = &imported
            .files
            .iter()
            .find(|file| file.name.starts_with("30-"))
            .unwrap()
            .text;
        assert!(
            adapters.contains("name: standard-vswitch0-vmotion-lab-example"),
            "{adapters}"
        );
        assert!(
            adapters.contains("name: distributed-dvs-vmotion-lab-example"),
            "{adapters}"
        );
        let loaded = esxnet_model::analysis::load(&[scratch.path().to_owned()]);
        let plan = crate::ops::plan_observed(&loaded, &fleet, &PlanOptions::default());
        assert!(!plan.has_errors(), "{:#?}", plan.diagnostics);
        assert!(plan.changes.iter().all(|change| change.action == Action::Noop));
    }

    #[test]
    fn names_and_comments_read_well() {
        assert_eq!(slug("Management Network"), "management-network");
        assert_eq!(slug("lab.example"), "lab-example");
        assert_eq!(slug("--"), "object");
        assert_eq!(wrap("one two three", 7), ["one two", "three"]);
        assert_eq!(dns_domain("esx-1.lab.example"), Some("lab.example"));
        assert_eq!(dns_domain("esx-1"), None);
        assert_eq!(dns_domain("esx-1."), None);
    }
}

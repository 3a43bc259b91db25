//! The lab as a vCenter inventory: the root folder, one datacenter, its folders, and the compute
//! resources that hold the hosts, so clients that walk the inventory (pyVmomi, govc, Ansible)
//! find the hosts as they would in vCenter.
//!
//! The lab records no cluster membership, so clusters come from host names: hosts that share a
//! DNS domain (`esx-01.lab.example` → `lab.example`) form a cluster; a host whose name has no
//! domain is a standalone host in its own `ComputeResource`, as vCenter shows one.
//!
//! Ids: the datacenter `datacenter-1` with folders `group-h1` (hosts), `group-v1` (VMs),
//! `group-n1` (networks) and `group-s1` (datastores); clusters `domain-c<n>` in name order;
//! standalone compute resources `domain-s<n>` with the host's number.

use serde_json::{json, Value};

use crate::inventory::{host_id, moref, Inventory, ROOT_FOLDER};

/// The one datacenter.
pub(crate) const DATACENTER: &str = "datacenter-1";
/// The name the datacenter shows.
const DATACENTER_NAME: &str = "esxnet-lab";
/// The datacenter's host folder.
pub(crate) const HOST_FOLDER: &str = "group-h1";
const VM_FOLDER: &str = "group-v1";
const NETWORK_FOLDER: &str = "group-n1";
const DATASTORE_FOLDER: &str = "group-s1";

/// A compute resource: a cluster of hosts, or a standalone host.
pub(crate) struct ComputeResource {
    pub(crate) mo_type: &'static str,
    pub(crate) id: String,
    pub(crate) name: String,
    /// Indexes of its hosts in the inventory.
    pub(crate) hosts: Vec<usize>,
}

/// The cluster a host name belongs to: its DNS domain, if it has one.
fn cluster_of(host_name: &str) -> Option<&str> {
    host_name
        .split_once('.')
        .map(|(_, domain)| domain)
        .filter(|domain| !domain.is_empty())
}

/// Every compute resource: clusters in name order, then standalone hosts in host order.
pub(crate) fn compute_resources(inventory: &Inventory) -> Vec<ComputeResource> {
    let mut clusters: Vec<ComputeResource> = Vec::new();
    let mut standalone = Vec::new();
    for (index, host) in inventory.hosts.iter().enumerate() {
        match cluster_of(&host.name) {
            Some(cluster) => match clusters.iter_mut().find(|known| known.name == cluster) {
                Some(known) => known.hosts.push(index),
                None => clusters.push(ComputeResource {
                    mo_type: "ClusterComputeResource",
                    id: String::new(),
                    name: cluster.to_owned(),
                    hosts: vec![index],
                }),
            },
            None => standalone.push(ComputeResource {
                mo_type: "ComputeResource",
                id: format!("domain-s{}", index + 1),
                name: host.name.clone(),
                hosts: vec![index],
            }),
        }
    }
    clusters.sort_by(|left, right| left.name.cmp(&right.name));
    for (number, cluster) in clusters.iter_mut().enumerate() {
        cluster.id = format!("domain-c{}", number + 1);
    }
    clusters.extend(standalone);
    clusters
}

/// Whether an object of `actual` type is a `wanted` (its own type or a supertype).
pub(crate) fn is_a(actual: &str, wanted: &str) -> bool {
    actual == wanted
        || wanted == "ManagedEntity"
            && matches!(
                actual,
                "Folder" | "Datacenter" | "ComputeResource" | "ClusterComputeResource" | "HostSystem"
            )
        || (wanted == "ComputeResource" && actual == "ClusterComputeResource")
}

fn name_value(name: &str) -> Value {
    json!({"_typeName": "string", "_value": name})
}

fn references(objects: Vec<Value>) -> Value {
    json!({"_typeName": "ArrayOfManagedObjectReference", "_value": objects})
}

/// The compute resource a host is in: its `parent`.
pub(crate) fn host_parent(inventory: &Inventory, index: usize) -> Option<Value> {
    compute_resources(inventory)
        .into_iter()
        .find(|resource| resource.hosts.contains(&index))
        .map(|resource| moref(resource.mo_type, &resource.id))
}

/// A property of the root folder, the datacenter, its folders or a compute resource; `Err` when
/// no such object exists.
pub(crate) fn property(inventory: &Inventory, mo_type: &str, mo_id: &str, path: &str) -> Result<Option<Value>, ()> {
    match (mo_type, mo_id) {
        ("Folder", ROOT_FOLDER) => Ok(match path {
            "name" => Some(name_value("Datacenters")),
            "childEntity" => Some(references(vec![moref("Datacenter", DATACENTER)])),
            _ => None,
        }),
        ("Datacenter", DATACENTER) => Ok(match path {
            "name" => Some(name_value(DATACENTER_NAME)),
            "parent" => Some(moref("Folder", ROOT_FOLDER)),
            "hostFolder" => Some(moref("Folder", HOST_FOLDER)),
            "vmFolder" => Some(moref("Folder", VM_FOLDER)),
            "networkFolder" => Some(moref("Folder", NETWORK_FOLDER)),
            "datastoreFolder" => Some(moref("Folder", DATASTORE_FOLDER)),
            _ => None,
        }),
        ("Folder", HOST_FOLDER | VM_FOLDER | NETWORK_FOLDER | DATASTORE_FOLDER) => Ok(match path {
            "name" => Some(name_value(match mo_id {
                HOST_FOLDER => "host",
                VM_FOLDER => "vm",
                NETWORK_FOLDER => "network",
                _ => "datastore",
            })),
            "parent" => Some(moref("Datacenter", DATACENTER)),
            "childEntity" => Some(references(if mo_id == HOST_FOLDER {
                compute_resources(inventory)
                    .iter()
                    .map(|resource| moref(resource.mo_type, &resource.id))
                    .collect()
            } else {
                Vec::new()
            })),
            _ => None,
        }),
        ("ComputeResource" | "ClusterComputeResource", _) => {
            let resource = compute_resources(inventory)
                .into_iter()
                .find(|resource| resource.id == mo_id && is_a(resource.mo_type, mo_type))
                .ok_or(())?;
            Ok(match path {
                "name" => Some(name_value(&resource.name)),
                "parent" => Some(moref("Folder", HOST_FOLDER)),
                "host" => Some(references(
                    resource
                        .hosts
                        .iter()
                        .map(|index| moref("HostSystem", &host_id(*index)))
                        .collect(),
                )),
                _ => None,
            })
        }
        _ => Err(()),
    }
}

/// The property paths served for these types, for a `PropertySpec` with `all: true`.
pub(crate) fn all_paths(mo_type: &str) -> &'static [&'static str] {
    match mo_type {
        "Folder" => &["name", "parent", "childEntity"],
        "Datacenter" => &[
            "name",
            "parent",
            "hostFolder",
            "vmFolder",
            "networkFolder",
            "datastoreFolder",
        ],
        "ComputeResource" | "ClusterComputeResource" => &["name", "parent", "host"],
        _ => &[],
    }
}

/// The objects of the given types anywhere in the inventory, for a container view over a folder
/// or the datacenter; over a compute resource, its hosts.
pub(crate) fn members(
    inventory: &Inventory,
    container_type: &str,
    container_id: &str,
    types: &[String],
) -> Result<Vec<(String, String)>, ()> {
    let wanted = |mo_type: &str| types.is_empty() || types.iter().any(|wanted| is_a(mo_type, wanted));
    if matches!(container_type, "ComputeResource" | "ClusterComputeResource") {
        let resource = compute_resources(inventory)
            .into_iter()
            .find(|resource| resource.id == container_id)
            .ok_or(())?;
        return Ok(resource
            .hosts
            .iter()
            .filter(|_| wanted("HostSystem"))
            .map(|index| ("HostSystem".to_owned(), host_id(*index)))
            .collect());
    }
    let is_container = matches!(
        (container_type, container_id),
        ("Folder", ROOT_FOLDER) | ("Datacenter", DATACENTER) | ("Folder", HOST_FOLDER)
    );
    if !is_container {
        return Err(());
    }
    let mut objects = Vec::new();
    if container_id == ROOT_FOLDER && wanted("Datacenter") {
        objects.push(("Datacenter".to_owned(), DATACENTER.to_owned()));
    }
    if container_id != HOST_FOLDER && wanted("Folder") {
        for folder in [HOST_FOLDER, VM_FOLDER, NETWORK_FOLDER, DATASTORE_FOLDER] {
            objects.push(("Folder".to_owned(), folder.to_owned()));
        }
    }
    for resource in compute_resources(inventory) {
        if wanted(resource.mo_type) {
            objects.push((resource.mo_type.to_owned(), resource.id.clone()));
        }
    }
    if wanted("HostSystem") {
        objects.extend(inventory.host_objects());
    }
    Ok(objects)
}

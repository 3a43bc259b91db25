//! The plan: a value holding every change, its order, the diagnostics and the fingerprints of the
//! observed state it was computed from. Renderers and the executor consume it; nothing re-plans.

use std::collections::HashMap;
use std::fmt;

use esxnet_model::diagnostic::Diagnostic;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::state::{Identity, ObjectKind, ObjectState};

/// The version of the plan's JSON format. Consumers ignore fields they do not know.
pub const FORMAT_VERSION: u32 = 1;

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Nothing to do.
    Noop,
    /// Create the object.
    Create,
    /// Change some fields in place.
    Update,
    /// Delete then create, because a field cannot change in place.
    Replace,
    /// Delete the object.
    Delete,
}

impl Action {
    /// The Terraform-like symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Noop => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Action::Noop => "noop",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        })
    }
}

/// Why a change is planned as it is, where its action alone does not say: shown under the change
/// and kept in JSON as the sentence users read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeReason {
    /// Deleted: no manifest declares it and `--prune` is on.
    Pruned,
    /// A port group moves to another switch, which means removing it and adding it again.
    PortGroupMovesSwitch,
    /// An adapter is re-created: its TCP/IP stack changes (ESX009), its port group changes, or both.
    AdapterRecreated {
        /// The stack changes, which ESXi cannot do in place.
        stack: bool,
        /// The port group changes, which esxnet does by re-creating the adapter.
        port_group: bool,
    },
}

impl ChangeReason {
    const PRUNED: &'static str = "no manifest declares it (--prune)";
    const PORT_GROUP_MOVES_SWITCH: &'static str =
        "a port group cannot move to another switch: it is removed and added again";
    const STACK_CHANGES: &'static str = "an adapter's TCP/IP stack cannot change in place (ESX009)";
    const PORT_GROUP_CHANGES: &'static str = "esxnet moves an adapter to another port group by re-creating it";
}

impl fmt::Display for ChangeReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ChangeReason::Pruned => formatter.write_str(Self::PRUNED),
            ChangeReason::PortGroupMovesSwitch => formatter.write_str(Self::PORT_GROUP_MOVES_SWITCH),
            ChangeReason::AdapterRecreated { stack, port_group } => {
                let sentences: Vec<&str> = [(stack, Self::STACK_CHANGES), (port_group, Self::PORT_GROUP_CHANGES)]
                    .into_iter()
                    .filter_map(|(applies, sentence)| applies.then_some(sentence))
                    .collect();
                formatter.write_str(&sentences.join("; "))
            }
        }
    }
}

impl std::str::FromStr for ChangeReason {
    type Err = String;

    fn from_str(text: &str) -> Result<ChangeReason, String> {
        match text {
            Self::PRUNED => return Ok(ChangeReason::Pruned),
            Self::PORT_GROUP_MOVES_SWITCH => return Ok(ChangeReason::PortGroupMovesSwitch),
            _ => {}
        }
        let (mut stack, mut port_group) = (false, false);
        for sentence in text.split("; ") {
            match sentence {
                Self::STACK_CHANGES => stack = true,
                Self::PORT_GROUP_CHANGES => port_group = true,
                _ => {
                    return Err(format!(
                        "\"{text}\" is not a reason esxnet plans with; make the plan again"
                    ))
                }
            }
        }
        Ok(ChangeReason::AdapterRecreated { stack, port_group })
    }
}

impl Serialize for ChangeReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ChangeReason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ChangeReason, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ChangeReason {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ChangeReason".into()
    }

    fn json_schema(_generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Why the change is planned as it is, as the sentence the text plan shows",
            "type": "string",
        })
    }
}

/// How an object differs from the manifests, as `drift` reports it: the plan's action seen
/// from the host's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftKind {
    /// Declared, not on the host.
    Missing,
    /// On the host with fields that differ (or, without a manifest, to be deleted).
    Different,
    /// A field differs that cannot change in place.
    Replace,
}

impl DriftKind {
    /// The drift a change stands for; `None` for a noop.
    pub fn of(action: Action) -> Option<DriftKind> {
        match action {
            Action::Noop => None,
            Action::Create => Some(DriftKind::Missing),
            Action::Replace => Some(DriftKind::Replace),
            Action::Update | Action::Delete => Some(DriftKind::Different),
        }
    }
}

impl fmt::Display for DriftKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            DriftKind::Missing => "missing",
            DriftKind::Different => "different",
            DriftKind::Replace => "replace",
        })
    }
}

/// One field that differs between `before` and `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    /// Field path inside the object state, such as `ipv4.address`.
    pub path: String,
    /// The value before (JSON), absent when the field did not exist.
    pub before: Option<serde_json::Value>,
    /// The value after (JSON), absent when it will not exist; `"(known after apply)"` is never used:
    /// values ESXi chooses (a new adapter's device) are simply left out.
    pub after: Option<serde_json::Value>,
}

/// One change to one object on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// Which object: `esx-01/VmkernelAdapter/prov` by name, `esx-01/VmkernelAdapter[vmk1]` for
    /// an adapter no manifest declares.
    pub address: Address,
    /// The host.
    pub host: String,
    /// The object's kind.
    pub kind: ObjectKind,
    /// The object's name: the manifest name for declared adapters, the device for unmanaged ones.
    pub name: String,
    /// What to do.
    pub action: Action,
    /// How the executor finds the object on the host.
    pub identity: Identity,
    /// The managed state now, absent when the object does not exist.
    pub before: Option<ObjectState>,
    /// The managed state wanted, absent for a delete.
    pub after: Option<ObjectState>,
    /// The fields that differ (for updates and replaces).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Why, for replaces, deletes of unmanaged objects and predicted effects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ChangeReason>,
    /// The fields that force a replace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replace_paths: Vec<String>,
    /// Whether the change could cut the host off (ESX015, allowed with
    /// `--allow-management-changes`): it runs after the host's other changes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub touches_management: bool,
}

/// A half of a change as the executor runs it: a replace is a delete step then a create step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Remove the object.
    Delete,
    /// Create the object.
    Create,
    /// Change it in place.
    Update,
}

impl fmt::Display for Phase {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Phase::Delete => "delete",
            Phase::Create => "create",
            Phase::Update => "update",
        })
    }
}

/// One step of a host's execution order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Step {
    /// The change's address.
    pub address: Address,
    /// Which half.
    pub phase: Phase,
}

/// An object on a host that no manifest declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Unmanaged {
    /// Its address.
    pub address: Address,
    /// Its kind.
    pub kind: ObjectKind,
    /// Its name.
    pub name: String,
    /// Whether `--prune` leaves it alone, because deleting it could cut the host off or take
    /// storage down (see `reason`).
    pub protected: bool,
    /// Why it is protected: "carries management traffic", "bound to software iSCSI", "vmk1 is
    /// connected to it (…)", ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether a host was planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase", tag = "state")]
pub enum HostStatus {
    /// Planned.
    Planned,
    /// Not planned because of errors (see the diagnostics).
    Refused {
        /// Why, in a sentence.
        reason: String,
    },
}

/// The plan for one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostPlan {
    /// The host.
    pub host: String,
    /// Fingerprint of the observed state the plan was computed from.
    pub fingerprint: String,
    /// Planned or refused.
    pub status: HostStatus,
    /// Steps in execution order.
    pub steps: Vec<Step>,
    /// Dependencies between steps: `[before, after]` indices into `steps`.
    pub edges: Vec<[usize; 2]>,
    /// Objects no manifest declares (deleted by `--prune` unless protected).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged: Vec<Unmanaged>,
    /// What ESXi will do by itself, and other things worth knowing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Counts of the plan's changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Creates.
    pub create: usize,
    /// Updates.
    pub update: usize,
    /// Replaces.
    pub replace: usize,
    /// Deletes.
    pub delete: usize,
    /// Objects without changes.
    pub noop: usize,
    /// Unmanaged objects left alone.
    pub unmanaged: usize,
    /// Hosts planned.
    pub hosts_planned: usize,
    /// Hosts refused because of errors.
    pub hosts_refused: usize,
}

impl Summary {
    /// Whether the plan changes anything.
    pub fn has_changes(&self) -> bool {
        self.create + self.update + self.replace + self.delete > 0
    }
}

/// The options a plan was made with; `apply` of a saved plan honours them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanOptions {
    /// Delete unmanaged objects (except what management depends on).
    pub prune: bool,
    /// Allow changes that could cut the host off (ESX015).
    pub allow_management_changes: bool,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The options it was made with.
    pub options: PlanOptions,
    /// Every change of every planned host, noops included, grouped by host in execution order.
    pub changes: Vec<Change>,
    /// Per-host order, fingerprints, unmanaged objects and notes.
    pub hosts: Vec<HostPlan>,
    /// Every diagnostic: manifest rules and planning problems.
    pub diagnostics: Vec<Diagnostic>,
    /// Counts.
    pub summary: Summary,
}

impl Plan {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        esxnet_model::diagnostic::has_errors(&self.diagnostics)
    }

    /// The change at an address.
    pub fn change(&self, address: &Address) -> Option<&Change> {
        self.changes.iter().find(|change| change.address == *address)
    }

    /// The changes of one host.
    pub fn host_changes<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a Change> + 'a {
        self.changes.iter().filter(move |change| change.host == host)
    }

    /// An index of the changes by host and by address, for code that visits every host: the
    /// linear [`Plan::host_changes`] and [`Plan::change`] make such a visit quadratic in the fleet.
    pub fn change_index(&self) -> ChangeIndex<'_> {
        let mut by_host: HashMap<&str, Vec<&Change>> = HashMap::new();
        // A plan lists each host's changes together: one lookup per run of a host's changes.
        for run in self.changes.chunk_by(|one, other| one.host == other.host) {
            by_host.entry(run[0].host.as_str()).or_default().extend(run);
        }
        ChangeIndex { by_host }
    }
}

/// A plan's changes by host ([`Plan::change_index`]); each lookup answers what
/// [`Plan::host_changes`] and [`Plan::change`] would, in time linear in the host's changes only.
/// An index by address too would hash every change's address: on a 10,000-host plan that was most
/// of the index's cost, where a host has a few dozen changes at most.
#[derive(Debug)]
pub struct ChangeIndex<'a> {
    by_host: HashMap<&'a str, Vec<&'a Change>>,
}

impl<'a> ChangeIndex<'a> {
    /// The changes of one host, in the plan's order.
    pub fn host_changes(&self, host: &str) -> &[&'a Change] {
        self.by_host.get(host).map_or(&[], Vec::as_slice)
    }

    /// The change at an address; the first one, as with [`Plan::change`].
    pub fn change(&self, address: &Address) -> Option<&'a Change> {
        self.host_changes(&address.host)
            .iter()
            .find(|change| change.address == *address)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(host: &str, name: &str, action: Action) -> Change {
        Change {
            address: Address::name(host, ObjectKind::PortGroup, name),
            host: host.to_owned(),
            kind: ObjectKind::PortGroup,
            name: name.to_owned(),
            action,
            identity: Identity::PortGroup { name: name.to_owned() },
            before: None,
            after: None,
            fields: Vec::new(),
            reason: None,
            replace_paths: Vec::new(),
            touches_management: false,
        }
    }

    #[test]
    fn every_reason_reads_back_from_the_sentence_users_read() {
        for reason in [
            ChangeReason::Pruned,
            ChangeReason::PortGroupMovesSwitch,
            ChangeReason::AdapterRecreated {
                stack: true,
                port_group: false,
            },
            ChangeReason::AdapterRecreated {
                stack: false,
                port_group: true,
            },
            ChangeReason::AdapterRecreated {
                stack: true,
                port_group: true,
            },
        ] {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("{:?}", reason.to_string()));
            assert_eq!(serde_json::from_str::<ChangeReason>(&json).unwrap(), reason, "{json}");
        }
        assert!("something else".parse::<ChangeReason>().is_err());
    }

    #[test]
    fn the_change_index_answers_what_the_linear_lookups_answer() {
        let plan = Plan {
            format_version: FORMAT_VERSION,
            options: PlanOptions::default(),
            changes: vec![
                change("esx-01", "a", Action::Create),
                change("esx-02", "a", Action::Create),
                change("esx-01", "b", Action::Delete),
                // A second change at an address: both lookups keep the first.
                change("esx-01", "a", Action::Update),
            ],
            hosts: Vec::new(),
            diagnostics: Vec::new(),
            summary: Summary::default(),
        };
        let index = plan.change_index();
        for host in ["esx-01", "esx-02", "esx-03"] {
            assert_eq!(
                index.host_changes(host).to_vec(),
                plan.host_changes(host).collect::<Vec<_>>()
            );
        }
        for address in [
            "esx-01/PortGroup/a",
            "esx-02/PortGroup/a",
            "esx-01/PortGroup/b",
            "esx-02/PortGroup/b",
        ] {
            let address: Address = address.parse().unwrap();
            assert_eq!(index.change(&address), plan.change(&address));
        }
        assert_eq!(
            index
                .change(&Address::name("esx-01", ObjectKind::PortGroup, "a"))
                .map(|change| change.action),
            Some(Action::Create)
        );
    }
}

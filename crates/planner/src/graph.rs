//! The dependency graph of one host's steps, built in named passes with petgraph.
//!
//! An edge `a → b` means "b must happen after a". Creates run switch → port group → adapter →
//! stack settings and services; deletes run in reverse; every delete runs before the creates and
//! updates of its host so names, uplinks and addresses it frees are free again. Cycles are
//! reported with their members.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use esxnet_model::common::StackKind;
use esxnet_model::observed::PortConnection;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::plan::{Action, Change, Phase, Step};
use crate::state::{ObjectKind, ObjectState};

/// One node: a step of a change.
struct Node<'a> {
    change: &'a Change,
    phase: Phase,
}

impl Node<'_> {
    /// The state this step reads (before, for deletes) or produces (after).
    fn state(&self) -> Option<&ObjectState> {
        match self.phase {
            Phase::Delete => self.change.before.as_ref(),
            Phase::Create | Phase::Update => self.change.after.as_ref(),
        }
    }

    fn is_delete(&self) -> bool {
        self.phase == Phase::Delete
    }
}

/// A host's steps in order, with their edges as indices into the steps.
#[derive(Debug, Default)]
pub struct Ordered {
    /// Steps in execution order.
    pub steps: Vec<Step>,
    /// `[before, after]` pairs of indices into `steps`.
    pub edges: Vec<[usize; 2]>,
}

/// A cycle among steps: the addresses of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// Members, as `address (phase)`.
    pub members: Vec<String>,
}

/// Orders the steps of one host's changes.
pub fn order(changes: &[Change]) -> Result<Ordered, Cycle> {
    let mut graph: DiGraph<Node<'_>, ()> = DiGraph::new();
    add_nodes(&mut graph, changes);
    add_replace_edges(&mut graph);
    add_creation_edges(&mut graph);
    add_deletion_edges(&mut graph);
    add_deletes_first_edges(&mut graph);
    add_resource_move_edges(&mut graph);
    topological_order(&graph)
}

fn add_nodes<'a>(graph: &mut DiGraph<Node<'a>, ()>, changes: &'a [Change]) {
    // Insertion order is the tie-breaker of the order: deletes by reverse kind, then the rest by kind.
    let mut deletes: Vec<Node<'a>> = Vec::new();
    let mut others: Vec<Node<'a>> = Vec::new();
    for change in changes {
        match change.action {
            Action::Noop => {}
            Action::Create => others.push(Node {
                change,
                phase: Phase::Create,
            }),
            Action::Update => others.push(Node {
                change,
                phase: Phase::Update,
            }),
            Action::Delete => deletes.push(Node {
                change,
                phase: Phase::Delete,
            }),
            Action::Replace => {
                deletes.push(Node {
                    change,
                    phase: Phase::Delete,
                });
                others.push(Node {
                    change,
                    phase: Phase::Create,
                });
            }
        }
    }
    deletes.sort_by(|one, other| {
        (Reverse(kind_rank(one.change.kind)), &one.change.address)
            .cmp(&(Reverse(kind_rank(other.change.kind)), &other.change.address))
    });
    // What could cut the host off goes last, so that losing the host then loses nothing else.
    let others_key = |node: &Node<'a>| (node.change.touches_management, kind_rank(node.change.kind));
    others
        .sort_by(|one, other| (others_key(one), &one.change.address).cmp(&(others_key(other), &other.change.address)));
    for node in deletes.into_iter().chain(others) {
        graph.add_node(node);
    }
}

fn kind_rank(kind: ObjectKind) -> u8 {
    match kind {
        ObjectKind::StandardSwitch => 0,
        ObjectKind::PortGroup => 1,
        ObjectKind::VmkernelAdapter => 2,
        ObjectKind::NetStack => 3,
        ObjectKind::Services => 4,
    }
}

fn pairs(graph: &DiGraph<Node<'_>, ()>) -> Vec<(NodeIndex, NodeIndex)> {
    let indices: Vec<NodeIndex> = graph.node_indices().collect();
    indices
        .iter()
        .flat_map(|&left| indices.iter().map(move |&right| (left, right)))
        .filter(|(left, right)| left != right)
        .collect()
}

fn add_edges_where(graph: &mut DiGraph<Node<'_>, ()>, must_follow: impl Fn(&Node<'_>, &Node<'_>) -> bool) {
    let mut edges = Vec::new();
    for (first, second) in pairs(graph) {
        if must_follow(&graph[first], &graph[second]) {
            edges.push((first, second));
        }
    }
    for (first, second) in edges {
        if graph.find_edge(first, second).is_none() {
            graph.add_edge(first, second, ());
        }
    }
}

/// A replace deletes before it creates.
fn add_replace_edges(graph: &mut DiGraph<Node<'_>, ()>) {
    add_edges_where(graph, |first, second| {
        first.change.address == second.change.address && first.is_delete() && !second.is_delete()
    });
}

fn switch_of(node: &Node<'_>) -> Option<String> {
    match (node.change.kind, node.state()) {
        (ObjectKind::StandardSwitch, _) => Some(node.change.name.clone()),
        (_, Some(ObjectState::PortGroup(port_group))) => Some(port_group.switch.clone()),
        (_, Some(ObjectState::VmkernelAdapter(adapter))) => match &adapter.connection {
            PortConnection::Standard { switch, .. } => Some(switch.clone()),
            PortConnection::Distributed { .. } => None,
        },
        _ => None,
    }
}

fn port_group_of(node: &Node<'_>) -> Option<String> {
    match (node.change.kind, node.state()) {
        (ObjectKind::PortGroup, _) => Some(node.change.name.clone()),
        (_, Some(ObjectState::VmkernelAdapter(adapter))) => match &adapter.connection {
            PortConnection::Standard { port_group, .. } => Some(port_group.clone()),
            PortConnection::Distributed { .. } => None,
        },
        _ => None,
    }
}

fn adapter_stack(node: &Node<'_>) -> Option<StackKind> {
    match node.state() {
        Some(ObjectState::VmkernelAdapter(adapter)) => Some(adapter.stack),
        _ => None,
    }
}

fn switch_mtu_drops(node: &Node<'_>) -> bool {
    match (&node.change.before, &node.change.after) {
        (Some(ObjectState::StandardSwitch(before)), Some(ObjectState::StandardSwitch(after))) => after.mtu < before.mtu,
        _ => false,
    }
}

/// Creates and updates: switch → port group → adapter → stack settings and services.
fn add_creation_edges(graph: &mut DiGraph<Node<'_>, ()>) {
    add_edges_where(graph, |first, second| {
        if first.is_delete() || second.is_delete() {
            return false;
        }
        let (first_kind, second_kind) = (first.change.kind, second.change.kind);
        match (first_kind, second_kind) {
            // A port group needs its new switch.
            (ObjectKind::StandardSwitch, ObjectKind::PortGroup) => {
                first.phase == Phase::Create && switch_of(first) == switch_of(second)
            }
            // An adapter needs its switch (created, or with a raised MTU) ...
            (ObjectKind::StandardSwitch, ObjectKind::VmkernelAdapter) => {
                switch_of(first).is_some() && switch_of(first) == switch_of(second) && !switch_mtu_drops(first)
            }
            // ... but a switch's MTU drops only after its adapters' MTUs did.
            (ObjectKind::VmkernelAdapter, ObjectKind::StandardSwitch) => {
                switch_mtu_drops(second) && switch_of(first) == switch_of(second)
            }
            // An adapter needs its port group.
            (ObjectKind::PortGroup, ObjectKind::VmkernelAdapter) => {
                port_group_of(first).is_some() && port_group_of(first) == port_group_of(second)
            }
            // Stack settings need the adapter that instantiates the stack and the subnets routes use.
            (ObjectKind::VmkernelAdapter, ObjectKind::NetStack) => {
                adapter_stack(first).is_some_and(|stack| stack.as_str() == second.change.name)
            }
            // Services need their adapter, and come after first adapters on other stacks, whose
            // arrival takes services off default-stack adapters (ESX004).
            (ObjectKind::VmkernelAdapter, ObjectKind::Services) => {
                first.change.name == second.change.name
                    || (first.phase == Phase::Create
                        && adapter_stack(first).is_some_and(|stack| stack != StackKind::Default))
            }
            _ => false,
        }
    });
}

/// Deletes: adapters before their port groups, port groups before their switches.
fn add_deletion_edges(graph: &mut DiGraph<Node<'_>, ()>) {
    add_edges_where(graph, |first, second| {
        if !(first.is_delete() && second.is_delete()) {
            return false;
        }
        match (first.change.kind, second.change.kind) {
            (ObjectKind::VmkernelAdapter, ObjectKind::PortGroup) => {
                port_group_of(first).is_some() && port_group_of(first) == port_group_of(second)
            }
            (ObjectKind::VmkernelAdapter | ObjectKind::PortGroup, ObjectKind::StandardSwitch) => {
                switch_of(first).is_some() && switch_of(first) == switch_of(second)
            }
            _ => false,
        }
    });
}

/// Every delete before every create and update: what it frees is free again.
fn add_deletes_first_edges(graph: &mut DiGraph<Node<'_>, ()>) {
    add_edges_where(graph, |first, second| first.is_delete() && !second.is_delete());
}

fn uplinks(state: Option<&ObjectState>) -> BTreeSet<String> {
    match state {
        Some(ObjectState::StandardSwitch(switch)) => switch.uplinks.clone(),
        _ => BTreeSet::new(),
    }
}

fn ipv4_address(state: Option<&ObjectState>) -> Option<std::net::Ipv4Addr> {
    match state {
        Some(ObjectState::VmkernelAdapter(adapter)) => adapter.ipv4.address,
        _ => None,
    }
}

/// An uplink or address that one update frees and another change takes: the taker follows.
fn add_resource_move_edges(graph: &mut DiGraph<Node<'_>, ()>) {
    add_edges_where(graph, |first, second| {
        if first.is_delete() || second.is_delete() || first.phase != Phase::Update {
            return false;
        }
        let freed_uplinks: BTreeSet<String> = uplinks(first.change.before.as_ref())
            .difference(&uplinks(first.change.after.as_ref()))
            .cloned()
            .collect();
        let taken_uplinks: BTreeSet<String> = uplinks(second.change.after.as_ref())
            .difference(&uplinks(second.change.before.as_ref()))
            .cloned()
            .collect();
        let freed_address = ipv4_address(first.change.before.as_ref())
            .filter(|address| Some(*address) != ipv4_address(first.change.after.as_ref()));
        let taken_address = ipv4_address(second.change.after.as_ref());
        !freed_uplinks.is_disjoint(&taken_uplinks) || (freed_address.is_some() && freed_address == taken_address)
    });
}

fn topological_order(graph: &DiGraph<Node<'_>, ()>) -> Result<Ordered, Cycle> {
    for component in tarjan_scc(graph) {
        if component.len() > 1 {
            let mut members: Vec<String> = component
                .iter()
                .map(|&index| format!("{} ({})", graph[index].change.address, graph[index].phase))
                .collect();
            members.sort();
            return Err(Cycle { members });
        }
    }
    // Kahn's algorithm, always taking the ready node inserted first, so the order is stable.
    let mut remaining_inputs: Vec<usize> = graph
        .node_indices()
        .map(|index| graph.neighbors_directed(index, petgraph::Incoming).count())
        .collect();
    let mut ready: BinaryHeap<Reverse<usize>> = graph
        .node_indices()
        .filter(|index| remaining_inputs[index.index()] == 0)
        .map(|index| Reverse(index.index()))
        .collect();
    let mut position = vec![usize::MAX; graph.node_count()];
    let mut steps = Vec::with_capacity(graph.node_count());
    while let Some(Reverse(index)) = ready.pop() {
        position[index] = steps.len();
        let node = &graph[NodeIndex::new(index)];
        steps.push(Step {
            address: node.change.address.clone(),
            phase: node.phase,
        });
        for next in graph.neighbors_directed(NodeIndex::new(index), petgraph::Outgoing) {
            remaining_inputs[next.index()] -= 1;
            if remaining_inputs[next.index()] == 0 {
                ready.push(Reverse(next.index()));
            }
        }
    }
    let mut edges: Vec<[usize; 2]> = graph
        .edge_indices()
        .filter_map(|edge| graph.edge_endpoints(edge))
        .map(|(first, second)| [position[first.index()], position[second.index()]])
        .collect();
    edges.sort();
    Ok(Ordered { steps, edges })
}

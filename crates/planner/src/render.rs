//! Renderers: text for terminals, JSON for machines, Markdown for pull-request comments, DOT for
//! graphs. Each is a function of the plan alone.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use similar::ChangeTag;

use crate::plan::{Action, Change, DriftKind, FieldChange, HostPlan, HostStatus, Plan};
use crate::state::{ObjectKind, ObjectState};

/// How text output looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextStyle {
    /// ANSI colours (a TTY without `NO_COLOR`).
    pub color: bool,
}

/// Writes one line of `indent` and `text`, `text` in colour when the style has colour. It writes into
/// `out` directly: a text plan of a large fleet has millions of lines.
fn write_painted_line(out: &mut String, indent: &str, style: TextStyle, code: &str, text: std::fmt::Arguments<'_>) {
    out.push_str(indent);
    if style.color {
        let _ = write!(out, "\x1b[{code}m");
    }
    let _ = out.write_fmt(text);
    if style.color {
        out.push_str("\x1b[0m");
    }
    out.push('\n');
}

fn action_color(action: Action) -> &'static str {
    match action {
        Action::Create => "32",
        Action::Update => "33",
        Action::Replace => "35",
        Action::Delete => "31",
        Action::Noop => "0",
    }
}

/// A JSON value the way plans show it: `(none)` for absent, strings without quotes.
pub fn show_value(value: Option<&serde_json::Value>) -> String {
    let mut text = String::new();
    write_value(&mut text, value);
    text
}

/// Writes a value as [`show_value`] shows it.
fn write_value(out: &mut String, value: Option<&serde_json::Value>) {
    match value {
        None | Some(serde_json::Value::Null) => out.push_str("(none)"),
        Some(serde_json::Value::String(text)) => out.push_str(text),
        Some(serde_json::Value::Array(items)) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push_str(", ");
                }
                write_value(out, Some(item));
            }
            out.push(']');
        }
        Some(other) => {
            let _ = write!(out, "{other}");
        }
    }
}

/// The sign of a [`PlanLine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sign {
    /// A value that appears: every field of a create, a field that gets a value, a list item added.
    Add,
    /// A value that goes: a field left unset, a list item removed.
    Remove,
    /// A value that changes, or the heading of a list whose items change.
    Change,
    /// A list item that stays, shown for context.
    Same,
}

impl Sign {
    /// The Terraform-like character.
    pub fn character(self) -> char {
        match self {
            Sign::Add => '+',
            Sign::Remove => '-',
            Sign::Change => '~',
            Sign::Same => ' ',
        }
    }
}

/// One line of a change, in the manifest's vocabulary: the field path as a manifest writes it
/// (`portGroup.standardSwitch`, `ipv4.mode`), typed values (strings quoted, addresses and keywords
/// bare, routes as `10.220.0.0/16 via 10.120.0.254`), `before -> after` for a change. Absent
/// values are never printed: a field that gets a value is an [`Sign::Add`] line, one that loses it
/// a [`Sign::Remove`] line. The text, Markdown and drift renderers all print these lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanLine {
    /// Added, removed, changed or context.
    pub sign: Sign,
    /// The manifest's field path.
    pub path: String,
    /// The value, `before -> after`, or for a list's heading nothing; for an item, the item.
    pub value: String,
    /// Whether this line is an item of the list field whose heading precedes it.
    pub item: bool,
    /// Whether the field forces the object to be replaced.
    pub forces_replacement: bool,
}

impl std::fmt::Display for PlanLine {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = self.sign.character();
        if self.item {
            write!(formatter, "{sign}   {}", self.value)?;
        } else if self.value.is_empty() {
            write!(formatter, "{sign} {}:", self.path)?;
        } else {
            write!(formatter, "{sign} {}: {}", self.path, self.value)?;
        }
        if self.forces_replacement {
            formatter.write_str("   # forces replacement")?;
        }
        Ok(())
    }
}

/// The state fields whose string values are addresses, networks or keywords, printed bare; every
/// other string (names of switches, port groups, uplinks, search domains) is printed quoted.
const BARE_STRING_FIELDS: &[&str] = &[
    "stack",
    "congestionControl",
    "services",
    "connection.type",
    "ipv4.address",
    "ipv4.gatewayOverride",
    "ipv6.addresses",
    "ipv6.gatewayOverride",
    "ipv4Gateway",
    "ipv6Gateway",
    "dns.servers",
    "routes",
    "teamingPolicy.loadBalancing",
    "teaming.loadBalancing",
];

/// Where a state field of an object of `kind` is in a manifest, `None` for fields a manifest does
/// not write (an adapter's device, shown next to its name instead). `distributed` says whether the
/// adapter is on a distributed port group.
fn manifest_path(kind: ObjectKind, state_path: &str, distributed: bool) -> Option<&str> {
    let switch = if distributed {
        "portGroup.distributedSwitch"
    } else {
        "portGroup.standardSwitch"
    };
    Some(match (kind, state_path) {
        (ObjectKind::VmkernelAdapter, "device") => return None,
        (ObjectKind::VmkernelAdapter, "connection.type") => "portGroup",
        (ObjectKind::VmkernelAdapter, "connection.switch") => switch,
        (ObjectKind::VmkernelAdapter, "connection.portGroup") => "portGroup.name",
        (ObjectKind::VmkernelAdapter, "ipv4.dhcp") => "ipv4.mode",
        (ObjectKind::PortGroup, "switch") => "standardSwitch",
        (ObjectKind::PortGroup, "teaming.order.active") => "teaming.active",
        (ObjectKind::PortGroup, "teaming.order.standby") => "teaming.standby",
        (ObjectKind::StandardSwitch, "teamingPolicy.loadBalancing") => "teaming.loadBalancing",
        (ObjectKind::StandardSwitch, "teamingPolicy.failback") => "teaming.failback",
        (ObjectKind::StandardSwitch, "teamingPolicy.notifySwitches") => "teaming.notifySwitches",
        (ObjectKind::StandardSwitch, "teamingPolicy.beaconProbing") => "teaming.beaconProbing",
        _ => state_path,
    })
}

/// The order of an adapter's fields in a manifest, so a plan reads like the manifest it came from.
fn field_rank(state_path: &str) -> u8 {
    match state_path {
        "stack" => 0,
        "connection.type" => 1,
        "connection.switch" => 2,
        "connection.portGroup" => 3,
        "mtu" => 4,
        "ipv4.dhcp" => 5,
        "ipv4.address" => 6,
        "ipv4.prefixLength" => 7,
        "ipv4.gatewayOverride" => 8,
        _ => 9,
    }
}

/// Writes a value as the manifest's vocabulary types it (see [`PlanLine`]).
fn write_typed(out: &mut String, kind: ObjectKind, state_path: &str, value: &serde_json::Value) {
    use serde_json::Value;
    match (kind, state_path, value) {
        (ObjectKind::VmkernelAdapter, "ipv4.dhcp", Value::Bool(dhcp)) => {
            out.push_str(if *dhcp { "dhcp" } else { "static" });
        }
        (ObjectKind::VmkernelAdapter, "connection.type", Value::String(kind)) => {
            out.push_str(if kind == "distributed" {
                "distributedSwitch"
            } else {
                "standardSwitch"
            });
        }
        (_, _, Value::String(text)) if BARE_STRING_FIELDS.contains(&state_path) => out.push_str(&escape_control(text)),
        (_, _, Value::String(text)) => {
            let _ = write!(out, "{}", Value::String(text.clone()));
        }
        (_, _, Value::Array(items)) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push_str(", ");
                }
                write_typed(out, kind, state_path, item);
            }
            out.push(']');
        }
        (_, _, Value::Object(map)) => match (map.get("destination"), map.get("gateway")) {
            (Some(Value::String(destination)), Some(Value::String(gateway))) if map.len() == 2 => {
                let _ = write!(out, "{} via {}", escape_control(destination), escape_control(gateway));
            }
            _ => {
                let _ = write!(out, "{value}");
            }
        },
        (_, _, other) => {
            let _ = write!(out, "{other}");
        }
    }
}

fn typed(kind: ObjectKind, state_path: &str, value: &serde_json::Value) -> String {
    let mut text = String::new();
    write_typed(&mut text, kind, state_path, value);
    text
}

/// A name as printed: control characters (a newline in an observed name) escaped, so that a name
/// can never start a line of its own (see [`esxnet_model::diagnostic::escape_control`]).
pub fn escape_control(name: &str) -> std::borrow::Cow<'_, str> {
    esxnet_model::diagnostic::escape_control(name)
}

/// Whether an adapter state (as JSON) is on a distributed port group.
fn is_distributed(state: Option<&ObjectState>) -> bool {
    matches!(
        state,
        Some(ObjectState::VmkernelAdapter(adapter))
            if matches!(adapter.connection, esxnet_model::observed::PortConnection::Distributed { .. })
    )
}

/// The lines of one field change: `path: before -> after`, `+ path: value` when the field gets a
/// value, `- path: value` when it loses it, and for lists a heading and an item-level diff.
fn push_field_lines(lines: &mut Vec<PlanLine>, kind: ObjectKind, distributed: bool, field: &FieldChange, forces: bool) {
    let Some(path) = manifest_path(kind, &field.path, distributed) else {
        return;
    };
    let list = |value: Option<&serde_json::Value>| match value {
        Some(serde_json::Value::Array(items)) => Some(items.clone()),
        None | Some(serde_json::Value::Null) => Some(Vec::new()),
        _ => None,
    };
    let is_list = matches!(field.before, Some(serde_json::Value::Array(_)))
        || matches!(field.after, Some(serde_json::Value::Array(_)));
    if let (true, Some(before), Some(after)) = (is_list, list(field.before.as_ref()), list(field.after.as_ref())) {
        lines.push(PlanLine {
            sign: Sign::Change,
            path: path.to_owned(),
            value: String::new(),
            item: false,
            forces_replacement: forces,
        });
        let before: Vec<String> = before.iter().map(|item| typed(kind, &field.path, item)).collect();
        let after: Vec<String> = after.iter().map(|item| typed(kind, &field.path, item)).collect();
        for operation in similar::capture_diff_slices(similar::Algorithm::Myers, &before, &after) {
            for change in operation.iter_changes(&before, &after) {
                let sign = match change.tag() {
                    ChangeTag::Delete => Sign::Remove,
                    ChangeTag::Insert => Sign::Add,
                    ChangeTag::Equal => Sign::Same,
                };
                lines.push(PlanLine {
                    sign,
                    path: path.to_owned(),
                    value: change.value(),
                    item: true,
                    forces_replacement: false,
                });
            }
        }
        return;
    }
    let present = |value: Option<&serde_json::Value>| value.filter(|value| !value.is_null()).cloned();
    let (sign, value) = match (present(field.before.as_ref()), present(field.after.as_ref())) {
        (Some(before), Some(after)) => (
            Sign::Change,
            format!(
                "{} -> {}",
                typed(kind, &field.path, &before),
                typed(kind, &field.path, &after)
            ),
        ),
        (None, Some(after)) => (Sign::Add, typed(kind, &field.path, &after)),
        (Some(before), None) => (Sign::Remove, typed(kind, &field.path, &before)),
        (None, None) => return,
    };
    lines.push(PlanLine {
        sign,
        path: path.to_owned(),
        value,
        item: false,
        forces_replacement: forces,
    });
}

/// The leaf fields of a state as `(state path, value)`, in the manifest's order.
fn state_fields(state: Option<&ObjectState>) -> Vec<(String, serde_json::Value)> {
    fn flatten(path: &mut String, value: &serde_json::Value, fields: &mut Vec<(String, serde_json::Value)>) {
        match value {
            serde_json::Value::Object(map) if !is_route(value) => {
                for (key, child) in map {
                    if key == "kind" && path.is_empty() {
                        continue;
                    }
                    let parent_length = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    flatten(path, child, fields);
                    path.truncate(parent_length);
                }
            }
            serde_json::Value::Null => {}
            serde_json::Value::Array(items) if items.is_empty() => {}
            other => fields.push((path.clone(), other.clone())),
        }
    }
    let mut fields = Vec::new();
    if let Some(value) = state.and_then(|state| serde_json::to_value(state).ok()) {
        flatten(&mut String::new(), &value, &mut fields);
    }
    fields.sort_by_key(|(path, _)| field_rank(path));
    fields
}

fn is_route(value: &serde_json::Value) -> bool {
    matches!(value, serde_json::Value::Object(map) if map.len() == 2 && map.contains_key("destination") && map.contains_key("gateway"))
}

/// The lines of one change in the manifest's vocabulary (see [`PlanLine`]): every field of a
/// create, the fields that differ for an update or replace, nothing for a delete.
pub fn change_lines(change: &Change) -> Vec<PlanLine> {
    let distributed = is_distributed(change.after.as_ref().or(change.before.as_ref()));
    let mut lines = Vec::new();
    match change.action {
        Action::Create => {
            for (state_path, value) in state_fields(change.after.as_ref()) {
                if state_path == "connection.type" {
                    // Said by the switch's field name: `portGroup.standardSwitch`.
                    continue;
                }
                if let Some(path) = manifest_path(change.kind, &state_path, distributed) {
                    lines.push(PlanLine {
                        sign: Sign::Add,
                        path: path.to_owned(),
                        value: typed(change.kind, &state_path, &value),
                        item: false,
                        forces_replacement: false,
                    });
                }
            }
        }
        Action::Update | Action::Replace => {
            let mut fields: Vec<&FieldChange> = change.fields.iter().collect();
            fields.sort_by_key(|field| field_rank(&field.path));
            for field in fields {
                let forces = change.replace_paths.iter().any(|path| {
                    field.path == *path
                        || (field.path.starts_with(path.as_str())
                            && field.path.as_bytes().get(path.len()) == Some(&b'.'))
                });
                push_field_lines(&mut lines, change.kind, distributed, field, forces);
            }
        }
        Action::Delete | Action::Noop => {}
    }
    lines
}

/// The device an existing adapter has, when it is not already the change's name.
fn device_of(change: &Change) -> Option<&str> {
    let device = match change.before.as_ref() {
        Some(ObjectState::VmkernelAdapter(adapter)) => adapter.device.as_deref(),
        _ => None,
    }
    .or(match &change.identity {
        crate::state::Identity::VmkernelAdapter { device, .. } | crate::state::Identity::Services { device, .. } => {
            device.as_deref()
        }
        _ => None,
    });
    device.filter(|device| *device != change.name)
}

/// A change's heading without its sign: `VmkernelAdapter/vmotion (vmk2)`.
struct ChangeTitle<'a>(&'a Change);

impl std::fmt::Display for ChangeTitle<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let change = self.0;
        write!(formatter, "{}/{}", change.kind, escape_control(&change.name))?;
        if let Some(device) = device_of(change) {
            write!(formatter, " ({})", escape_control(device))?;
        }
        Ok(())
    }
}

/// The comment lines under a change's heading, the way Terraform prints "# … must be replaced":
/// why it is replaced or deleted, and that management traffic depends on it.
pub fn change_comments(change: &Change) -> Vec<String> {
    let mut comments = Vec::new();
    match (&change.reason, change.action) {
        // esxnet's own sentences: nothing from a host or a manifest to escape.
        (Some(reason), Action::Replace) => comments.push(format!("# must be replaced: {reason}")),
        (Some(reason), _) => comments.push(format!("# {reason}")),
        (None, _) => {}
    }
    if change.touches_management {
        comments.push("# management traffic depends on this: it runs last on its host".to_owned());
    }
    comments
}

/// Whether a reviewer must look at a change first: a replace, a delete, or anything on the
/// management path (ESX015, allowed with `--allow-management-changes`).
pub fn is_risky(change: &Change) -> bool {
    matches!(change.action, Action::Replace | Action::Delete) || change.touches_management
}

fn sign_color(sign: Sign) -> &'static str {
    match sign {
        Sign::Add => "32",
        Sign::Remove => "31",
        Sign::Change => "33",
        Sign::Same => "0",
    }
}

/// The Terraform-like text plan: changes grouped by host, field diffs, notes and a summary line.
///
/// Hosts render independently, in parallel, and are joined in plan order.
pub fn text(plan: &Plan, style: TextStyle) -> String {
    let (blocks, ending) = text_parts(plan, style);
    let mut out = String::with_capacity(blocks.iter().map(|block| block.text.len()).sum::<usize>() + ending.len());
    for block in &blocks {
        out.push_str(&block.text);
    }
    out.push_str(&ending);
    out
}

/// [`text`] written to `out` host by host, without first joining the hosts' text into one string
/// (13 MB of fresh memory for a 10,000-host plan).
pub fn write_text(plan: &Plan, style: TextStyle, mut out: impl std::io::Write) -> std::io::Result<()> {
    let (blocks, ending) = text_parts(plan, style);
    for block in &blocks {
        out.write_all(block.text.as_bytes())?;
    }
    out.write_all(ending.as_bytes())
}

/// The text plan's hosts, rendered in parallel in plan order, and what follows them: the
/// sentence for a plan without changes and the summary line.
fn text_parts(plan: &Plan, style: TextStyle) -> (Vec<HostText>, String) {
    let index = plan.change_index();
    let hosts: Vec<&HostPlan> = plan.hosts.iter().collect();
    let blocks = esxnet_model::parallel::map_in_order(&hosts, |host| host_text(plan, &index, host, style));
    let unchanged_hosts = blocks.iter().filter(|block| block.unchanged).count();
    let summary = &plan.summary;
    let mut ending = String::new();
    if !summary.has_changes() {
        ending.push_str(no_changes_sentence(summary));
    }
    let _ = writeln!(
        ending,
        "Plan: {} to create, {} to update, {} to replace, {} to delete; {} host{} planned ({} unchanged), {} refused.",
        summary.create,
        summary.update,
        summary.replace,
        summary.delete,
        summary.hosts_planned,
        if summary.hosts_planned == 1 { "" } else { "s" },
        unchanged_hosts,
        summary.hosts_refused
    );
    (blocks, ending)
}

/// One host's part of the text plan.
struct HostText {
    text: String,
    /// Nothing changes on the host (it counts as unchanged in the summary line).
    unchanged: bool,
}

fn host_text(plan: &Plan, index: &crate::plan::ChangeIndex<'_>, host: &HostPlan, style: TextStyle) -> HostText {
    let mut out = String::new();
    let changes: Vec<&Change> = index
        .host_changes(&host.host)
        .iter()
        .copied()
        .filter(|change| change.action != Action::Noop)
        .collect();
    if let HostStatus::Refused { reason } = &host.status {
        write_painted_line(
            &mut out,
            "",
            style,
            "1;31",
            format_args!("{}: not planned: {reason}", host.host),
        );
        out.push('\n');
        return HostText {
            text: out,
            unchanged: false,
        };
    }
    // A prune plan also says what it keeps and why, so that a reviewer sees nothing was missed.
    let shows_protected = plan.options.prune && host.unmanaged.iter().any(|object| object.protected);
    let unchanged = changes.is_empty() && host.notes.is_empty() && host.unmanaged.iter().all(|object| object.protected);
    if unchanged && !shows_protected {
        return HostText { text: out, unchanged };
    }
    write_painted_line(&mut out, "", style, "1", format_args!("{}", host.host));
    for change in changes {
        write_painted_line(
            &mut out,
            "  ",
            style,
            action_color(change.action),
            format_args!("{} {}", change.action.symbol(), ChangeTitle(change)),
        );
        for comment in change_comments(change) {
            write_painted_line(&mut out, "      ", style, "2", format_args!("{comment}"));
        }
        for line in change_lines(change) {
            write_painted_line(&mut out, "      ", style, sign_color(line.sign), format_args!("{line}"));
        }
    }
    write_unmanaged(&mut out, host);
    if shows_protected {
        write_protected(&mut out, host);
    }
    for note in &host.notes {
        let _ = writeln!(out, "  note: {}", escape_control(note));
    }
    out.push('\n');
    HostText { text: out, unchanged }
}

/// What to say when nothing changes: refused hosts were not compared, so they cannot be called in sync.
fn no_changes_sentence(summary: &crate::plan::Summary) -> &'static str {
    if summary.hosts_refused == 0 {
        "No changes. The hosts match the manifests.\n"
    } else {
        "No changes on the hosts that were planned; the refused hosts were not compared (see the errors).\n"
    }
}

fn write_unmanaged(out: &mut String, host: &HostPlan) {
    let unprotected: Vec<String> = host
        .unmanaged
        .iter()
        .filter(|object| !object.protected)
        .map(|object| format!("{}/{}", object.kind, escape_control(&object.name)))
        .collect();
    if !unprotected.is_empty() {
        let _ = writeln!(
            out,
            "  unmanaged (no manifest declares them; --prune deletes them): {}",
            unprotected.join(", ")
        );
    }
}

fn write_protected(out: &mut String, host: &HostPlan) {
    let _ = writeln!(out, "  protected (--prune never deletes them):");
    for object in host.unmanaged.iter().filter(|object| object.protected) {
        let _ = writeln!(
            out,
            "      {}/{}: {}",
            object.kind,
            escape_control(&object.name),
            escape_control(object.reason.as_deref().unwrap_or("protected"))
        );
    }
}

/// How a drift report counts what differs; `drift` exits 2 exactly when it is not in sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriftCounts {
    /// Declared objects the hosts do not have.
    pub missing: usize,
    /// Objects whose fields differ.
    pub different: usize,
    /// Objects that differ in a field that cannot change in place.
    pub replace: usize,
    /// Objects no manifest declares that `--prune` would delete.
    pub unmanaged: usize,
    /// Whether the manifests have errors: then there is no verdict (some hosts were not compared).
    pub errors: bool,
}

impl DriftCounts {
    /// Counts a plan made for drift (no prune, management changes allowed).
    pub fn of(plan: &Plan) -> Self {
        let mut counts = DriftCounts {
            errors: plan.has_errors(),
            ..DriftCounts::default()
        };
        for change in &plan.changes {
            match DriftKind::of(change.action) {
                Some(DriftKind::Missing) => counts.missing += 1,
                Some(DriftKind::Replace) => counts.replace += 1,
                Some(DriftKind::Different) => counts.different += 1,
                None => {}
            }
        }
        counts.unmanaged = plan
            .hosts
            .iter()
            .flat_map(|host| &host.unmanaged)
            .filter(|object| !object.protected)
            .count();
        counts
    }

    /// Whether the hosts match the manifests.
    pub fn in_sync(&self) -> bool {
        self.missing + self.different + self.replace + self.unmanaged == 0
    }

    fn drifted_objects(&self) -> usize {
        self.missing + self.different + self.replace
    }

    fn sentence(&self) -> String {
        if self.errors {
            "No verdict: the manifests have errors (see the diagnostics), so not every host was compared; fix them and run drift again.".to_owned()
        } else if self.in_sync() {
            "In sync: the hosts match the manifests.".to_owned()
        } else {
            let drifted = self.drifted_objects();
            format!(
                "Drift: {drifted} object{} differ{} from the manifests, {} unmanaged.",
                if drifted == 1 { "" } else { "s" },
                if drifted == 1 { "s" } else { "" },
                self.unmanaged
            )
        }
    }
}

/// The drift report as text: one line per object that differs, the fields that differ in the
/// plan's line model (read `host -> manifests`), the unmanaged objects and a summary sentence.
pub fn drift_text(plan: &Plan) -> String {
    let mut out = String::new();
    for change in &plan.changes {
        let Some(drift) = DriftKind::of(change.action) else {
            continue;
        };
        let address = format_args!("{}/{}", escape_control(&change.host), ChangeTitle(change));
        match drift {
            DriftKind::Missing => {
                let _ = writeln!(out, "missing    {address}  (declared, not on the host)");
                continue;
            }
            DriftKind::Replace => {
                let _ = writeln!(out, "replace    {address}  (host -> manifests)");
            }
            DriftKind::Different => {
                let _ = writeln!(out, "drifted    {address}  (host -> manifests)");
            }
        }
        for comment in change_comments(change) {
            let _ = writeln!(out, "    {comment}");
        }
        for line in change_lines(change) {
            let _ = writeln!(out, "    {line}");
        }
    }
    for host in &plan.hosts {
        for object in host.unmanaged.iter().filter(|object| !object.protected) {
            let _ = writeln!(
                out,
                "unmanaged  {}/{}/{}  (no manifest declares it)",
                escape_control(&host.host),
                object.kind,
                escape_control(&object.name)
            );
        }
    }
    out.push_str(&DriftCounts::of(plan).sentence());
    out.push('\n');
    out
}

/// Writes the plan as pretty JSON, as [`json`] renders it, without holding the text in memory (a
/// 10,000-host plan is tens of megabytes).
///
/// The bytes are serde_json's pretty printing of the plan (as [`json`]), but the changes and hosts,
/// nearly all of a large plan, are printed in parallel, a window of items at a time, and written
/// in order.
pub fn write_json(plan: &Plan, writer: impl std::io::Write) -> std::io::Result<()> {
    use std::io::Write as _;
    // Naming every field here makes a new field of `Plan` a compile error until it is written.
    let Plan {
        format_version,
        options,
        changes,
        hosts,
        diagnostics,
        summary,
    } = plan;
    let mut writer = std::io::BufWriter::with_capacity(1 << 16, writer);
    writer.write_all(b"{\n  \"format_version\": ")?;
    write_pretty_member(&mut writer, format_version)?;
    writer.write_all(b",\n  \"options\": ")?;
    write_pretty_member(&mut writer, options)?;
    writer.write_all(b",\n  \"changes\": ")?;
    write_pretty_array(&mut writer, changes)?;
    writer.write_all(b",\n  \"hosts\": ")?;
    write_pretty_array(&mut writer, hosts)?;
    writer.write_all(b",\n  \"diagnostics\": ")?;
    write_pretty_array(&mut writer, diagnostics)?;
    writer.write_all(b",\n  \"summary\": ")?;
    write_pretty_member(&mut writer, summary)?;
    writer.write_all(b"\n}\n")?;
    writer.flush()
}

/// Items printed by one thread at a time in [`write_pretty_array`].
const JSON_CHUNK_ITEMS: usize = 32;

/// How far printing may run ahead of writing, in chunks: bounds the text held in memory to a few
/// thousand items.
const JSON_CHUNKS_AHEAD: usize = 64;

/// `value` pretty-printed as a member of the top-level object: every line after the first
/// indented by two spaces.
fn write_pretty_member(writer: &mut impl std::io::Write, value: &impl Serialize) -> std::io::Result<()> {
    write_nested_pretty(writer, value, b"  ")
}

/// `value` pretty-printed as serde_json prints it, with `base` after every newline: the value
/// nested in an outer pretty-printed document without scanning or copying its text again.
fn write_nested_pretty(
    writer: &mut impl std::io::Write,
    value: &impl Serialize,
    base: &'static [u8],
) -> std::io::Result<()> {
    let formatter = NestedPretty {
        base,
        depth: 0,
        has_value: false,
    };
    value
        .serialize(&mut serde_json::Serializer::with_formatter(writer, formatter))
        .map_err(std::io::Error::from)
}

/// serde_json's `PrettyFormatter` (two spaces a level) inside an outer document: every newline is
/// followed by `base`, then the value's own indentation.
struct NestedPretty {
    base: &'static [u8],
    depth: usize,
    has_value: bool,
}

impl NestedPretty {
    fn newline<W: ?Sized + std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(b"\n")?;
        writer.write_all(self.base)?;
        for _ in 0..self.depth {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }

    fn open<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.newline(writer)?;
        }
        writer.write_all(bracket)
    }

    fn item<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, first: bool) -> std::io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        self.newline(writer)
    }
}

impl serde_json::ser::Formatter for NestedPretty {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, first: bool) -> std::io::Result<()> {
        self.item(writer, first)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _writer: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, first: bool) -> std::io::Result<()> {
        self.item(writer, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _writer: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// `items` as a pretty array in a member of the top-level object. Every thread prints chunks of
/// items while this one writes the printed chunks in order, so writing overlaps printing; the
/// buffers written go back to the printers, so a large plan reuses a few megabytes instead of
/// asking the system for fresh memory for every chunk.
fn write_pretty_array<T: Serialize + Sync>(writer: &mut impl std::io::Write, items: &[T]) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Mutex, PoisonError};
    if items.is_empty() {
        return writer.write_all(b"[]");
    }
    let chunks: Vec<&[T]> = items.chunks(JSON_CHUNK_ITEMS).collect();
    let printers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(chunks.len());
    let next_chunk = AtomicUsize::new(0);
    let spare_buffers: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    let print_chunk = |chunk: &[T]| -> std::io::Result<Vec<u8>> {
        let mut out = spare_buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        out.clear();
        for (position, item) in chunk.iter().enumerate() {
            if position > 0 {
                out.extend_from_slice(b",\n");
            }
            out.extend_from_slice(b"    ");
            write_nested_pretty(&mut out, item, b"    ")?;
        }
        Ok(out)
    };
    writer.write_all(b"[\n")?;
    std::thread::scope(|scope| {
        let (printed, received) = mpsc::sync_channel::<(usize, std::io::Result<Vec<u8>>)>(JSON_CHUNKS_AHEAD);
        for _ in 0..printers {
            let printed = printed.clone();
            let (chunks, next_chunk, print_chunk) = (&chunks, &next_chunk, &print_chunk);
            scope.spawn(move || {
                loop {
                    let index = next_chunk.fetch_add(1, Ordering::Relaxed);
                    let Some(chunk) = chunks.get(index) else {
                        break;
                    };
                    // The writer stopped (it failed): nothing more to print.
                    if printed.send((index, print_chunk(chunk))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(printed);
        // Chunks arrive in the order they were printed; they are written in the items' order.
        let mut waiting = std::collections::BTreeMap::new();
        let mut next_to_write = 0;
        for (index, text) in received {
            waiting.insert(index, text);
            while let Some(text) = waiting.remove(&next_to_write) {
                let text = text?;
                if next_to_write > 0 {
                    writer.write_all(b",\n")?;
                }
                writer.write_all(&text)?;
                spare_buffers.lock().unwrap_or_else(PoisonError::into_inner).push(text);
                next_to_write += 1;
            }
        }
        Ok::<(), std::io::Error>(())
    })?;
    writer.write_all(b"\n  ]")
}

/// The plan as pretty JSON (`format_version`, `changes`, `hosts`, `diagnostics`, `summary`).
pub fn json(plan: &Plan) -> String {
    let mut text = serde_json::to_string_pretty(plan).unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    text.push('\n');
    text
}

/// GitHub's limit on a comment; a Markdown plan never exceeds it (counted in bytes, so in
/// characters too).
pub const MARKDOWN_LIMIT: usize = 65_536;
/// Room kept for the line that says what was left out.
const MARKDOWN_RESERVE: usize = 512;
/// How many host names a Markdown group names in its title.
const MARKDOWN_NAMES_SHOWN: usize = 5;
/// How many rows the table of risky changes shows.
const MARKDOWN_RISKY_ROWS: usize = 50;

/// Text for a Markdown table cell or HTML summary: HTML and Markdown punctuation escaped, line
/// breaks and other control characters escaped, so a name cannot open a tag, a code span, a table
/// column or a line of its own.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("&#124;"),
            '`' => out.push_str("&#96;"),
            '\\' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(character);
            }
            control if control.is_control() => out.extend(control.escape_default()),
            other => out.push(other),
        }
    }
    out
}

/// A fenced code block around `content` whose fence is longer than any run of backticks in it, so
/// nothing inside can close it.
fn write_fenced(out: &mut String, info: &str, content: &str) {
    let mut longest = 0;
    let mut run = 0;
    for byte in content.bytes() {
        if byte == b'`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat((longest + 1).max(3));
    let _ = writeln!(out, "{fence}{info}");
    out.push_str(content);
    if !content.ends_with('\n') {
        out.push('\n');
    }
    let _ = writeln!(out, "{fence}");
}

/// Host names for a title: the first few and how many more.
fn host_names(hosts: &[&str]) -> String {
    let mut names = hosts
        .iter()
        .take(MARKDOWN_NAMES_SHOWN)
        .map(|host| escape_markdown(host))
        .collect::<Vec<_>>()
        .join(", ");
    if hosts.len() > MARKDOWN_NAMES_SHOWN {
        let _ = write!(names, " and {} more", hosts.len() - MARKDOWN_NAMES_SHOWN);
    }
    names
}

/// One host's changes, rendered once: the group key and the values a folded group compares.
struct HostLines<'a> {
    host: &'a HostPlan,
    changes: Vec<(&'a Change, Vec<PlanLine>)>,
}

impl HostLines<'_> {
    /// What hosts share to be folded: actions, objects and field paths, not values.
    fn shape(&self) -> String {
        let mut shape = String::new();
        for (change, lines) in &self.changes {
            let _ = write!(shape, "{} {}|", change.action, ChangeTitle(change));
            for comment in change_comments(change) {
                shape.push_str(&comment);
                shape.push('|');
            }
            for line in lines {
                let _ = write!(shape, "{}{}{}|", line.sign.character(), line.item, line.path);
            }
            shape.push('\n');
        }
        shape
    }

    fn risky(&self) -> bool {
        self.changes.iter().any(|(change, _)| is_risky(change))
    }
}

/// Which of the Markdown renderings: a plan for review, or a drift report.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MarkdownKind {
    Plan,
    Drift,
}

/// Markdown for a pull-request comment: a summary table, the risky changes first, then one
/// section per group of hosts with the same changes, the values that differ per host in a table,
/// every note, and never more than [`MARKDOWN_LIMIT`] characters.
pub fn markdown(plan: &Plan) -> String {
    markdown_of(plan, MarkdownKind::Plan)
}

/// The drift report as Markdown: its own heading and summary, what differs (read
/// `host -> manifests`) folded like a plan, and the unmanaged objects. It says "in sync" exactly
/// when `esxnet drift` exits 0.
pub fn drift_markdown(plan: &Plan) -> String {
    markdown_of(plan, MarkdownKind::Drift)
}

fn markdown_of(plan: &Plan, kind: MarkdownKind) -> String {
    let summary = &plan.summary;
    let mut out = String::new();
    match kind {
        MarkdownKind::Plan => {
            out.push_str("### esxnet plan\n\n");
            out.push_str(
                "| hosts planned | refused | create | update | replace | delete |\n|---:|---:|---:|---:|---:|---:|\n",
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |\n",
                summary.hosts_planned,
                summary.hosts_refused,
                summary.create,
                summary.update,
                summary.replace,
                summary.delete
            );
        }
        MarkdownKind::Drift => {
            let counts = DriftCounts::of(plan);
            out.push_str("### esxnet drift\n\n");
            out.push_str("| hosts compared | refused | missing | different | replace | unmanaged |\n|---:|---:|---:|---:|---:|---:|\n");
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |\n",
                summary.hosts_planned,
                summary.hosts_refused,
                counts.missing,
                counts.different,
                counts.replace,
                counts.unmanaged
            );
            let _ = writeln!(out, "**{}**\n", counts.sentence());
        }
    }
    let index = plan.change_index();
    let mut hidden_hosts = 0usize;
    let mut truncated = false;

    if !plan.diagnostics.is_empty() {
        let mut rendered = String::new();
        for diagnostic in &plan.diagnostics {
            rendered.push_str(&diagnostic.render(false));
        }
        let mut section = String::from("<details open><summary><b>Diagnostics</b></summary>\n\n");
        write_fenced(&mut section, "", &rendered);
        section.push_str("</details>\n\n");
        if !append_within_limit(&mut out, &section) {
            let _ = writeln!(
                out,
                "{} diagnostics are too long for this comment; see the JSON artifact.\n",
                plan.diagnostics.len()
            );
        }
    }

    // Every planned host's lines, computed once; hosts with the same shape fold into one group.
    let mut groups: Vec<Vec<HostLines<'_>>> = Vec::new();
    let mut group_of_shape: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // The lines and shapes are computed in parallel; the folding itself is in plan order.
    let planned: Vec<&HostPlan> = plan
        .hosts
        .iter()
        .filter(|host| host.status == HostStatus::Planned)
        .collect();
    let shaped = esxnet_model::parallel::map_in_order(&planned, |host| {
        let changes: Vec<(&Change, Vec<PlanLine>)> = index
            .host_changes(&host.host)
            .iter()
            .copied()
            .filter(|change| change.action != Action::Noop)
            .map(|change| (change, change_lines(change)))
            .collect();
        if changes.is_empty() && host.notes.is_empty() {
            return None;
        }
        let lines = HostLines { host, changes };
        let shape = lines.shape();
        Some((lines, shape))
    });
    for (lines, shape) in shaped.into_iter().flatten() {
        let next = groups.len();
        let group = *group_of_shape.entry(shape).or_insert(next);
        if group == next {
            groups.push(Vec::new());
        }
        groups[group].push(lines);
    }
    // Risky groups first; otherwise the plan's host order.
    groups.sort_by_key(|group| !group[0].risky());

    if kind == MarkdownKind::Plan {
        write_risky_table(&mut out, &groups);
        if !summary.has_changes() {
            out.push_str(no_changes_sentence(summary));
            out.push('\n');
        }
    } else if !groups.is_empty() {
        out.push_str("Fields read `host -> manifests`: what the host has, then what the manifests say.\n\n");
    }
    if kind == MarkdownKind::Drift || !plan.options.prune {
        write_markdown_unmanaged(&mut out, plan, kind);
    }
    if plan.options.prune {
        write_markdown_protected(&mut out, plan);
    }
    for group in &groups {
        if truncated {
            hidden_hosts += group.len();
            continue;
        }
        match write_markdown_group(&mut out, group, kind) {
            Some(hidden) => hidden_hosts += hidden,
            None => {
                truncated = true;
                hidden_hosts += group.len();
            }
        }
    }
    if hidden_hosts > 0 {
        let _ = writeln!(
            out,
            "**{hidden_hosts} more host{} not shown** to keep this comment under {MARKDOWN_LIMIT} characters; see the JSON artifact (`esxnet {} --output json`).",
            if hidden_hosts == 1 { " is" } else { "s are" },
            if kind == MarkdownKind::Plan { "plan" } else { "drift" },
        );
    }
    out
}

/// Appends `section` when the comment stays within its limit (with room for the closing line).
fn append_within_limit(out: &mut String, section: &str) -> bool {
    if out.len() + section.len() + MARKDOWN_RESERVE > MARKDOWN_LIMIT {
        return false;
    }
    out.push_str(section);
    true
}

/// The changes a reviewer must look at first, one row per change and reason with its hosts.
fn write_risky_table(out: &mut String, groups: &[Vec<HostLines<'_>>]) {
    let mut rows: Vec<(String, String, Vec<&str>)> = Vec::new();
    let mut row_of: std::collections::HashMap<(String, String), usize> = std::collections::HashMap::new();
    for host in groups.iter().flatten() {
        for (change, _) in host.changes.iter().filter(|(change, _)| is_risky(change)) {
            let title = format!("{} {}", change.action.symbol(), ChangeTitle(change));
            let why = change_comments(change)
                .iter()
                .map(|comment| comment.trim_start_matches("# ").to_owned())
                .collect::<Vec<_>>()
                .join("; ");
            let next = rows.len();
            let row = *row_of.entry((title.clone(), why.clone())).or_insert(next);
            if row == next {
                rows.push((title, why, Vec::new()));
            }
            rows[row].2.push(&host.host.host);
        }
    }
    if rows.is_empty() {
        return;
    }
    let mut section = String::from(
        "#### Review first: replaces, deletes and the management path\n\n| change | why | hosts |\n|---|---|---|\n",
    );
    let total = rows.len();
    for (shown, (title, why, hosts)) in rows.iter().enumerate() {
        let row = format!(
            "| {} | {} | {} |\n",
            escape_markdown(title),
            escape_markdown(why),
            host_names(hosts)
        );
        if shown == MARKDOWN_RISKY_ROWS || out.len() + section.len() + row.len() + 2 * MARKDOWN_RESERVE > MARKDOWN_LIMIT
        {
            let _ = writeln!(section, "| … and {} more | see the JSON artifact | |", total - shown);
            break;
        }
        section.push_str(&row);
    }
    section.push('\n');
    out.push_str(&section);
}

/// One group of hosts with the same changes: the diff once, the values that differ per host in a
/// table, every note with the hosts it is about. `None` when not even the diff fits; otherwise
/// how many hosts' rows were left out of the table.
fn write_markdown_group(out: &mut String, group: &[HostLines<'_>], kind: MarkdownKind) -> Option<usize> {
    let first = &group[0];
    let names: Vec<&str> = group.iter().map(|host| host.host.host.as_str()).collect();
    // A line varies when any host of the group has another value for it.
    let mut varying: Vec<(usize, usize)> = Vec::new();
    for (change_index, (_, lines)) in first.changes.iter().enumerate() {
        for (line_index, line) in lines.iter().enumerate() {
            if group
                .iter()
                .skip(1)
                .any(|host| host.changes[change_index].1[line_index].value != line.value)
            {
                varying.push((change_index, line_index));
            }
        }
    }
    let mut diff = String::new();
    for (change_index, (change, lines)) in first.changes.iter().enumerate() {
        let sign = match change.action {
            Action::Create => '+',
            Action::Delete => '-',
            _ => '!',
        };
        // The action in words: a diff block has no room for `-/+`, and replace must not read as update.
        let word = match (kind, DriftKind::of(change.action)) {
            (MarkdownKind::Plan, _) | (MarkdownKind::Drift, None) => change.action.to_string(),
            (MarkdownKind::Drift, Some(DriftKind::Missing)) => "missing".to_owned(),
            (MarkdownKind::Drift, Some(DriftKind::Replace)) => "replace".to_owned(),
            (MarkdownKind::Drift, Some(DriftKind::Different)) => "drifted".to_owned(),
        };
        let _ = writeln!(diff, "{sign} {word} {}", ChangeTitle(change));
        for comment in change_comments(change) {
            let _ = writeln!(diff, "      {comment}");
        }
        for (line_index, line) in lines.iter().enumerate() {
            let line_sign = match line.sign {
                Sign::Change => '!',
                other => other.character(),
            };
            let mut line = line.clone();
            if varying.contains(&(change_index, line_index)) {
                line.value = "(per host, see the table)".to_owned();
            }
            let text = line.to_string();
            let _ = writeln!(
                diff,
                "{line_sign}     {}",
                &text[text.char_indices().nth(2).map_or(0, |(at, _)| at)..]
            );
        }
    }
    let changes = first.changes.len();
    let mut section = format!(
        "<details{}><summary><b>{}</b>: {changes} {}{} on {} host{}</summary>\n\n",
        if first.risky() { " open" } else { "" },
        host_names(&names),
        if kind == MarkdownKind::Plan {
            "change"
        } else {
            "difference"
        },
        if changes == 1 { "" } else { "s" },
        group.len(),
        if group.len() == 1 { "" } else { "s" }
    );
    if changes > 0 {
        write_fenced(&mut section, "diff", &diff);
        section.push('\n');
    }
    // Every note, once, with the hosts it is about when not all of the group.
    let mut notes: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut note_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for host in group {
        for note in &host.host.notes {
            let next = notes.len();
            let position = *note_of.entry(note.as_str()).or_insert(next);
            if position == next {
                notes.push((note.as_str(), Vec::new()));
            }
            notes[position].1.push(&host.host.host);
        }
    }
    let mut notes_text = String::new();
    for (note, hosts) in &notes {
        if hosts.len() == group.len() {
            let _ = writeln!(notes_text, "> **note:** {}\n", escape_markdown(note));
        } else {
            let _ = writeln!(
                notes_text,
                "> **note** ({}): {}\n",
                host_names(hosts),
                escape_markdown(note)
            );
        }
    }
    let closing = "</details>\n\n";
    // The diff and the notes must fit whole; the table's rows as many as fit.
    if out.len() + section.len() + notes_text.len() + closing.len() + MARKDOWN_RESERVE > MARKDOWN_LIMIT {
        return None;
    }
    let mut hidden = 0;
    if !varying.is_empty() {
        section.push_str("| host |");
        for (change_index, line_index) in &varying {
            let (change, lines) = &first.changes[*change_index];
            let line = &lines[*line_index];
            let _ = write!(
                section,
                " {} {}{} |",
                escape_markdown(&ChangeTitle(change).to_string()),
                escape_markdown(&line.path),
                if line.item { " (item)" } else { "" }
            );
        }
        section.push_str("\n|---|");
        section.push_str(&"---|".repeat(varying.len()));
        section.push('\n');
        for (shown, host) in group.iter().enumerate() {
            let mut row = format!("| {} |", escape_markdown(&host.host.host));
            for (change_index, line_index) in &varying {
                let _ = write!(
                    row,
                    " {} |",
                    escape_markdown(&host.changes[*change_index].1[*line_index].value)
                );
            }
            row.push('\n');
            if out.len() + section.len() + row.len() + notes_text.len() + closing.len() + 2 * MARKDOWN_RESERVE
                > MARKDOWN_LIMIT
            {
                hidden = group.len() - shown;
                let _ = writeln!(section, "| … {hidden} more hosts, see the JSON artifact |");
                break;
            }
            section.push_str(&row);
        }
        section.push('\n');
    }
    section.push_str(&notes_text);
    section.push_str(closing);
    out.push_str(&section);
    Some(hidden)
}

/// Objects no manifest declares, one line per object with the hosts that have it.
fn write_markdown_unmanaged(out: &mut String, plan: &Plan, kind: MarkdownKind) {
    let mut objects: Vec<(String, Vec<&str>)> = Vec::new();
    let mut object_of: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for host in &plan.hosts {
        for object in host.unmanaged.iter().filter(|object| !object.protected) {
            let line = format!("{}/{}", object.kind, object.name);
            let next = objects.len();
            let position = *object_of.entry(line.clone()).or_insert(next);
            if position == next {
                objects.push((line, Vec::new()));
            }
            objects[position].1.push(host.host.as_str());
        }
    }
    if objects.is_empty() {
        return;
    }
    let mut section = format!(
        "<details{}><summary><b>Unmanaged</b>: {} object{} no manifest declares{}</summary>\n\n",
        if kind == MarkdownKind::Drift { " open" } else { "" },
        objects.len(),
        if objects.len() == 1 { "" } else { "s" },
        if kind == MarkdownKind::Plan {
            " (left alone; `--prune` deletes them)"
        } else {
            ""
        }
    );
    let total = objects.len();
    for (shown, (object, hosts)) in objects.iter().enumerate() {
        let line = format!("- {} ({})\n", escape_markdown(object), host_names(hosts));
        if out.len() + section.len() + line.len() + 2 * MARKDOWN_RESERVE > MARKDOWN_LIMIT {
            let _ = writeln!(section, "- … and {} more, see the JSON artifact", total - shown);
            break;
        }
        section.push_str(&line);
    }
    section.push_str("</details>\n\n");
    out.push_str(&section);
}

/// What `--prune` keeps and why, one line per object and reason with the hosts it applies to.
fn write_markdown_protected(out: &mut String, plan: &Plan) {
    let mut protected: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for host in &plan.hosts {
        for object in host.unmanaged.iter().filter(|object| object.protected) {
            let line = format!(
                "`{}/{}`: {}",
                object.kind,
                object.name.replace('`', "'"),
                escape_markdown(object.reason.as_deref().unwrap_or("protected"))
            );
            protected.entry(line).or_default().push(host.host.as_str());
        }
    }
    if protected.is_empty() {
        return;
    }
    let mut section = String::from("<details><summary><b>Protected from --prune</b></summary>\n\n");
    for (line, hosts) in protected {
        let _ = writeln!(section, "- {} ({})", escape_control(&line), host_names(&hosts));
    }
    section.push_str("</details>\n\n");
    if !append_within_limit(out, &section) {
        out.push_str("What `--prune` keeps is too long for this comment; see the JSON artifact.\n\n");
    }
}

/// The dependency graph as DOT: one cluster per host, one node per step.
pub fn dot(plan: &Plan) -> String {
    let mut out = String::from("digraph esxnet {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (host_index, host) in plan.hosts.iter().enumerate() {
        if host.steps.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  subgraph cluster_{host_index} {{\n    label={:?};", host.host);
        for (step_index, step) in host.steps.iter().enumerate() {
            let address = step.address.to_string();
            let short = address.strip_prefix(&format!("{}/", host.host)).unwrap_or(&address);
            let _ = writeln!(
                out,
                "    h{host_index}s{step_index} [label={:?}];",
                format!("{} {short}", step.phase)
            );
        }
        for [before, after] in &host.edges {
            let _ = writeln!(out, "    h{host_index}s{before} -> h{host_index}s{after};");
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanOptions, Summary, FORMAT_VERSION};
    use crate::state::Identity;

    fn delete(host: &str, name: &str) -> Change {
        Change {
            address: crate::Address::name(host, ObjectKind::PortGroup, name),
            host: host.to_owned(),
            kind: ObjectKind::PortGroup,
            name: name.to_owned(),
            action: Action::Delete,
            identity: Identity::PortGroup { name: name.to_owned() },
            before: None,
            after: None,
            fields: Vec::new(),
            reason: Some(crate::ChangeReason::Pruned),
            replace_paths: Vec::new(),
            touches_management: false,
        }
    }

    fn host(name: &str, notes: &[&str]) -> HostPlan {
        HostPlan {
            host: name.to_owned(),
            fingerprint: String::new(),
            status: HostStatus::Planned,
            steps: Vec::new(),
            edges: Vec::new(),
            unmanaged: Vec::new(),
            notes: notes.iter().map(|note| (*note).to_owned()).collect(),
        }
    }

    fn plan(changes: Vec<Change>, hosts: Vec<HostPlan>) -> Plan {
        Plan {
            format_version: FORMAT_VERSION,
            options: PlanOptions::default(),
            summary: Summary {
                delete: changes.len(),
                hosts_planned: hosts.len(),
                ..Summary::default()
            },
            changes,
            hosts,
            diagnostics: Vec::new(),
        }
    }

    /// The parallel JSON writer prints exactly what serde_json prints, for empty, small and
    /// windowed lists.
    #[test]
    fn the_json_written_in_parallel_is_serde_jsons_pretty_printing() {
        for count in [0, 1, 31, 33, 2_047, 2_049, 5_000] {
            let changes: Vec<Change> = (0..count)
                .map(|index| delete("esx-01", &format!("pg-{index}")))
                .collect();
            let mut written = plan(changes, vec![host("esx-01", &["a note"]), host("esx-02", &[])]);
            written.diagnostics.push(esxnet_model::Diagnostic::error(
                esxnet_model::diagnostic::RuleId::Esx000,
                "a \"quoted\"\nmessage",
            ));
            let mut bytes = Vec::new();
            write_json(&written, &mut bytes).expect("written");
            assert_eq!(
                String::from_utf8(bytes).expect("UTF-8"),
                json(&written),
                "{count} changes"
            );
        }
    }

    #[test]
    fn a_json_writer_that_fails_stops_the_printing_and_reports_the_error() {
        /// Takes `room` bytes, then refuses every write, as a closed pipe does.
        struct Closing {
            room: usize,
        }
        impl std::io::Write for Closing {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                if self.room == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
                }
                let taken = bytes.len().min(self.room);
                self.room -= taken;
                Ok(taken)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let changes: Vec<Change> = (0..20_000)
            .map(|index| delete("esx-01", &format!("pg-{index}")))
            .collect();
        let written = plan(changes, vec![host("esx-01", &[])]);
        for room in [0, 100, 1 << 20] {
            let error = write_json(&written, Closing { room }).expect_err("the writer fails");
            assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "after {room} bytes");
        }
    }

    #[test]
    fn a_name_cannot_break_out_of_its_line_or_code_block() {
        let name = "pg````\n+ create StandardSwitch/evil\n<b>";
        let plan = plan(vec![delete("esx-01", name)], vec![host("esx-01", &[])]);
        let markdown = markdown(&plan);
        assert!(
            !markdown
                .lines()
                .any(|line| line.starts_with("+ create StandardSwitch/evil")),
            "{markdown}"
        );
        // The diff block's fence is longer than the name's run of four backticks.
        assert!(markdown.contains("\n`````diff\n"), "{markdown}");
        // Outside code blocks, HTML and table punctuation are escaped.
        assert!(
            markdown.contains("| - PortGroup/pg&#96;&#96;&#96;&#96;\\\\n+ create StandardSwitch/evil\\\\n&lt;b&gt; |"),
            "{markdown}"
        );
        let text = text(&plan, TextStyle::default());
        assert!(!text.lines().any(|line| line.starts_with("+ create")), "{text}");
    }

    #[test]
    fn every_note_of_a_folded_group_is_printed_with_its_hosts() {
        let plan = plan(
            vec![delete("esx-01", "a"), delete("esx-02", "a")],
            vec![
                host("esx-01", &["shared note", "only on esx-01"]),
                host("esx-02", &["shared note", "only on esx-02"]),
            ],
        );
        let markdown = markdown(&plan);
        assert_eq!(markdown.matches("<details").count(), 1, "{markdown}");
        assert!(markdown.contains("> **note:** shared note\n"), "{markdown}");
        assert!(markdown.contains("> **note** (esx-01): only on esx-01\n"), "{markdown}");
        assert!(markdown.contains("> **note** (esx-02): only on esx-02\n"), "{markdown}");
    }

    #[test]
    fn drift_markdown_never_says_in_sync_when_there_is_unmanaged_drift() {
        let mut with_unmanaged = host("esx-01", &[]);
        with_unmanaged.unmanaged.push(crate::plan::Unmanaged {
            address: crate::Address::name("esx-01", ObjectKind::PortGroup, "VM Network"),
            kind: ObjectKind::PortGroup,
            name: "VM Network".to_owned(),
            protected: false,
            reason: None,
        });
        let plan = plan(Vec::new(), vec![with_unmanaged]);
        assert!(!DriftCounts::of(&plan).in_sync());
        let markdown = drift_markdown(&plan);
        assert!(markdown.starts_with("### esxnet drift\n"), "{markdown}");
        assert!(
            !markdown.contains("No changes") && !markdown.contains("In sync"),
            "{markdown}"
        );
        assert!(markdown.contains("- PortGroup/VM Network (esx-01)"), "{markdown}");
    }
}

//! Renderers: text for terminals, JSON for machines, Markdown for pull-request comments, DOT for
//! graphs. Each is a function of the plan alone.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use similar::{ChangeTag, TextDiff};

use crate::plan::{Action, Change, ChangeIndex, FieldChange, HostPlan, HostStatus, Plan};

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

fn list_items(value: Option<&serde_json::Value>) -> Option<Vec<String>> {
    match value {
        Some(serde_json::Value::Array(items)) => Some(items.iter().map(|item| show_value(Some(item))).collect()),
        None | Some(serde_json::Value::Null) => Some(Vec::new()),
        _ => None,
    }
}

/// Lines describing one field change: `path: before → after`, or for lists an item-level diff.
pub fn field_lines(field: &FieldChange, replace_paths: &[String]) -> Vec<(char, String)> {
    let forces = replace_paths
        .iter()
        .any(|path| field.path == *path || field.path.starts_with(&format!("{path}.")));
    let suffix = if forces { "   # forces replacement" } else { "" };
    let is_list = matches!(field.before, Some(serde_json::Value::Array(_)))
        || matches!(field.after, Some(serde_json::Value::Array(_)));
    if let (true, Some(before), Some(after)) = (
        is_list,
        list_items(field.before.as_ref()),
        list_items(field.after.as_ref()),
    ) {
        let before_text = before.iter().map(|item| format!("{item}\n")).collect::<String>();
        let after_text = after.iter().map(|item| format!("{item}\n")).collect::<String>();
        let mut lines = vec![('~', format!("{}:{suffix}", field.path))];
        for change in TextDiff::from_lines(&before_text, &after_text).iter_all_changes() {
            let sign = match change.tag() {
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
                ChangeTag::Equal => ' ',
            };
            lines.push((sign, format!("  {}", change.value().trim_end())));
        }
        return lines;
    }
    vec![(
        '~',
        format!(
            "{}: {} → {}{suffix}",
            field.path,
            show_value(field.before.as_ref()),
            show_value(field.after.as_ref())
        ),
    )]
}

/// Calls `line` with each leaf field of a state, for creates: `path: value`.
fn visit_state_lines(state: Option<&impl serde::Serialize>, line: &mut dyn FnMut(char, &str)) {
    let value = state
        .and_then(|state| serde_json::to_value(state).ok())
        .unwrap_or(serde_json::Value::Null);
    flatten(&mut String::new(), &value, &mut String::new(), line);
}

/// `path` is the field path so far and `text` a buffer for the line, both reused across the
/// recursion so a line costs no allocation of its own.
fn flatten(path: &mut String, value: &serde_json::Value, text: &mut String, line: &mut dyn FnMut(char, &str)) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                if key == "kind" && path.is_empty() {
                    continue;
                }
                let parent_length = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                flatten(path, child, text, line);
                path.truncate(parent_length);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::Array(items) if items.is_empty() => {}
        other => {
            text.clear();
            text.push_str(path);
            text.push_str(": ");
            write_value(text, Some(other));
            line('+', text);
        }
    }
}

/// Calls `line` with each line of one change and its sign, in the order of [`change_lines`].
fn visit_change_lines(change: &Change, line: &mut dyn FnMut(char, &str)) {
    match change.action {
        Action::Create => visit_state_lines(change.after.as_ref(), line),
        Action::Update | Action::Replace => {
            for field in &change.fields {
                for (sign, text) in field_lines(field, &change.replace_paths) {
                    line(sign, &text);
                }
            }
        }
        Action::Delete | Action::Noop => {}
    }
}

/// The lines of one change, each with its sign.
pub fn change_lines(change: &Change) -> Vec<(char, String)> {
    let mut lines = Vec::new();
    visit_change_lines(change, &mut |sign, text| lines.push((sign, text.to_owned())));
    lines
}

fn change_heading(change: &Change) -> String {
    ChangeHeading(change).to_string()
}

/// A change's heading, `+ Kind/name` with its reason, written without a `String` of its own.
struct ChangeHeading<'a>(&'a Change);

impl std::fmt::Display for ChangeHeading<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let change = self.0;
        write!(formatter, "{} {}/{}", change.action.symbol(), change.kind, change.name)?;
        if let Some(reason) = &change.reason {
            write!(formatter, "  ({reason})")?;
        }
        if change.touches_management {
            formatter.write_str("  (management traffic depends on this: it runs last on its host)")?;
        }
        Ok(())
    }
}

/// The Terraform-like text plan: changes grouped by host, field diffs, notes and a summary line.
pub fn text(plan: &Plan, style: TextStyle) -> String {
    let mut out = String::new();
    let mut unchanged_hosts = 0usize;
    let index = plan.change_index();
    for host in &plan.hosts {
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
            continue;
        }
        // A prune plan also says what it keeps and why, so that a reviewer sees nothing was missed.
        let shows_protected = plan.options.prune && host.unmanaged.iter().any(|object| object.protected);
        if changes.is_empty() && host.notes.is_empty() && host.unmanaged.iter().all(|object| object.protected) {
            unchanged_hosts += 1;
            if !shows_protected {
                continue;
            }
        }
        write_painted_line(&mut out, "", style, "1", format_args!("{}", host.host));
        for change in changes {
            write_painted_line(
                &mut out,
                "  ",
                style,
                action_color(change.action),
                format_args!("{}", ChangeHeading(change)),
            );
            visit_change_lines(change, &mut |sign, line| {
                let color = match sign {
                    '+' => "32",
                    '-' => "31",
                    '~' => "33",
                    _ => "0",
                };
                write_painted_line(&mut out, "      ", style, color, format_args!("{sign} {line}"));
            });
        }
        write_unmanaged(&mut out, host);
        if shows_protected {
            write_protected(&mut out, host);
        }
        for note in &host.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        out.push('\n');
    }
    let summary = &plan.summary;
    if !summary.has_changes() {
        out.push_str(no_changes_sentence(summary));
    }
    let _ = writeln!(
        out,
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
    out
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
        .map(|object| format!("{}/{}", object.kind, object.name))
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
            object.name,
            object.reason.as_deref().unwrap_or("protected")
        );
    }
}

/// Writes the plan as pretty JSON, as [`json`] renders it, without holding the text in memory (a
/// 10,000-host plan is tens of megabytes).
pub fn write_json(plan: &Plan, writer: impl std::io::Write) -> std::io::Result<()> {
    let mut writer = std::io::BufWriter::with_capacity(1 << 16, writer);
    serde_json::to_writer_pretty(&mut writer, plan)?;
    std::io::Write::write_all(&mut writer, b"\n")?;
    std::io::Write::flush(&mut writer)
}

/// The plan as pretty JSON (`format_version`, `changes`, `hosts`, `diagnostics`, `summary`).
pub fn json(plan: &Plan) -> String {
    let mut text = serde_json::to_string_pretty(plan).unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    text.push('\n');
    text
}

/// How many host groups a Markdown comment shows before it stops listing.
const MARKDOWN_GROUP_LIMIT: usize = 40;
/// How many host names a Markdown group names.
const MARKDOWN_NAMES_SHOWN: usize = 5;

/// The shape of a change, which hosts share when only per-host values differ.
fn change_shape(change: &Change) -> String {
    let paths: Vec<&str> = change.fields.iter().map(|field| field.path.as_str()).collect();
    format!("{} {}/{} {}", change.action, change.kind, change.name, paths.join(","))
}

/// Markdown for a pull-request comment: a summary table and one collapsible section per group of
/// hosts with the same changes, so a large fleet stays short.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::from("### esxnet plan\n\n");
    let summary = &plan.summary;
    out.push_str("| hosts planned | refused | create | update | replace | delete |\n|---:|---:|---:|---:|---:|---:|\n");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |\n",
        summary.hosts_planned, summary.hosts_refused, summary.create, summary.update, summary.replace, summary.delete
    );
    let errors: Vec<_> = plan.diagnostics.iter().collect();
    if !errors.is_empty() {
        out.push_str("<details open><summary><b>Diagnostics</b></summary>\n\n```\n");
        for diagnostic in errors {
            out.push_str(&diagnostic.render(false));
        }
        out.push_str("```\n</details>\n\n");
    }
    // Group hosts by the shape of their change lists.
    let index = plan.change_index();
    let mut groups: BTreeMap<Vec<String>, Vec<&HostPlan>> = BTreeMap::new();
    for host in plan.hosts.iter().filter(|host| host.status == HostStatus::Planned) {
        let shapes: Vec<String> = index
            .host_changes(&host.host)
            .iter()
            .copied()
            .filter(|change| change.action != Action::Noop)
            .map(change_shape)
            .collect();
        if shapes.is_empty() {
            continue;
        }
        groups.entry(shapes).or_default().push(host);
    }
    if groups.is_empty() {
        out.push_str(no_changes_sentence(summary));
    }
    if plan.options.prune {
        write_markdown_protected(&mut out, plan);
    }
    let group_count = groups.len();
    for (shown, (_, hosts)) in groups.into_iter().enumerate() {
        if shown == MARKDOWN_GROUP_LIMIT {
            let _ = writeln!(
                out,
                "… and {} more groups of hosts; see the JSON plan for all.",
                group_count - shown
            );
            break;
        }
        write_markdown_group(&mut out, &index, &hosts);
    }
    out
}

fn write_markdown_group(out: &mut String, index: &ChangeIndex<'_>, hosts: &[&HostPlan]) {
    let names: Vec<&str> = hosts
        .iter()
        .take(MARKDOWN_NAMES_SHOWN)
        .map(|host| host.host.as_str())
        .collect();
    let more = hosts.len().saturating_sub(MARKDOWN_NAMES_SHOWN);
    let title = if more > 0 {
        format!("{} and {more} more hosts", names.join(", "))
    } else {
        names.join(", ")
    };
    let first = hosts[0];
    let changes: Vec<&Change> = index
        .host_changes(&first.host)
        .iter()
        .copied()
        .filter(|change| change.action != Action::Noop)
        .collect();
    let _ = writeln!(
        out,
        "<details><summary><b>{title}</b>: {} change{} on {} host{}</summary>\n\n```diff",
        changes.len(),
        if changes.len() == 1 { "" } else { "s" },
        hosts.len(),
        if hosts.len() == 1 { "" } else { "s" }
    );
    for change in changes {
        let sign = match change.action {
            Action::Create => '+',
            Action::Delete => '-',
            _ => '!',
        };
        let _ = writeln!(
            out,
            "{sign} {}",
            change_heading(change)
                .trim_start_matches(|character: char| character != ' ')
                .trim()
        );
        // The same change on the group's other hosts, found once per change rather than per line.
        let mut address = String::new();
        let others: Vec<Option<&Change>> = if hosts.len() > 1 {
            hosts
                .iter()
                .skip(1)
                .map(|host| {
                    address.clear();
                    let _ = write!(address, "{}/{}/{}", host.host, change.kind, change.name);
                    index.change(&address)
                })
                .collect()
        } else {
            Vec::new()
        };
        let varies = |path: &str| {
            others.iter().any(|other| {
                other.is_none_or(|other| {
                    other.fields.iter().find(|field| field.path == path)
                        != change.fields.iter().find(|field| field.path == path)
                        || (change.action == Action::Create && other.after != change.after)
                })
            })
        };
        for (line_sign, line) in change_lines(change) {
            let path = line.split(':').next().unwrap_or_default().trim();
            let marker = if hosts.len() > 1 && varies(path) {
                "   (differs per host)"
            } else {
                ""
            };
            let line_sign = if line_sign == '~' { '!' } else { line_sign };
            let _ = writeln!(out, "{line_sign}     {line}{marker}");
        }
    }
    out.push_str("```\n");
    for note in &first.notes {
        let _ = writeln!(out, "\n> {note}");
    }
    out.push_str("</details>\n\n");
}

/// What `--prune` keeps and why, one line per object and reason with the hosts it applies to.
fn write_markdown_protected(out: &mut String, plan: &Plan) {
    let mut protected: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for host in &plan.hosts {
        for object in host.unmanaged.iter().filter(|object| object.protected) {
            let line = format!(
                "`{}/{}`: {}",
                object.kind,
                object.name,
                object.reason.as_deref().unwrap_or("protected")
            );
            protected.entry(line).or_default().push(host.host.as_str());
        }
    }
    if protected.is_empty() {
        return;
    }
    out.push_str("<details><summary><b>Protected from --prune</b></summary>\n\n");
    for (line, hosts) in protected {
        let mut names = hosts
            .iter()
            .take(MARKDOWN_NAMES_SHOWN)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if hosts.len() > MARKDOWN_NAMES_SHOWN {
            let _ = write!(names, " and {} more", hosts.len() - MARKDOWN_NAMES_SHOWN);
        }
        let _ = writeln!(out, "- {line} ({names})");
    }
    out.push_str("</details>\n\n");
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
            let short = step
                .address
                .strip_prefix(&format!("{}/", host.host))
                .unwrap_or(&step.address);
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

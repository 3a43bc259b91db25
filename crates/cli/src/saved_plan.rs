//! Saved plans: what `esxnet plan --out` writes and `esxnet apply PLAN.json` reads.
//!
//! A saved plan is the plan's JSON with what it was made from beside it (`made_from`): the
//! target (without user or password) and every manifest file's path, SHA-256 and content. A
//! plan is an artifact one CI job hands another, so nothing in it is trusted as written:
//! `apply` plans the recorded manifests again, with the recorded options, against the hosts as
//! they are now, and applies that plan (the re-derivation) only when it is the saved one. The
//! lockout guard and every rule run again because planning does; the saved file never reaches
//! the backend. [`first_difference`] states the rule.
//!
//! With `ESXNET_PLAN_KEY` set, `plan --out` signs the plan (HMAC-SHA256 over the plan's JSON
//! without its `signature`), and `apply` refuses a plan that is unsigned or whose signature does
//! not match. Without the key, a signed plan is applied after the same re-derivation (its
//! signature unchecked): the re-derivation alone already refuses a plan its manifests do not
//! make; the signature adds that nobody changed the manifests or options it records.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use esxnet_model::load::{ManifestFiles, ManifestText};
use esxnet_model::observed::ObservedFleet;
use esxnet_planner::{state, Action, Change, HostPlan, Plan, PlanOptions};
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::target::Target;

/// The JSON Schema of a saved plan (`plan --out`), as `(file name, text)`.
pub fn schema() -> (String, String) {
    let schema = schemars::schema_for!(SavedPlan);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    ("saved-plan.schema.json".to_owned(), text)
}

/// The environment variable holding the key saved plans are signed and checked with.
pub const KEY_VARIABLE: &str = "ESXNET_PLAN_KEY";

/// A plan saved by `esxnet plan --out`: the plan's own fields, what it was made from and,
/// with a key, its signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SavedPlan {
    /// The plan, its fields at the top level as `plan --output json` prints them.
    #[serde(flatten)]
    pub plan: Plan,
    /// What the plan was made from; absent in plans saved before esxnet recorded it, which are
    /// refused.
    #[serde(default)]
    pub made_from: Option<MadeFrom>,
    /// HMAC-SHA256 (hex) of the saved plan's JSON without this field, with the key in
    /// `ESXNET_PLAN_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// What a plan was made from: enough to make it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MadeFrom {
    /// Where the hosts were observed, without user or password ([`recorded_target`]).
    pub target: String,
    /// Every manifest file read, in the order it was read.
    pub manifests: Vec<RecordedManifest>,
}

/// One manifest file of a saved plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecordedManifest {
    /// The file as diagnostics name it.
    pub path: String,
    /// SHA-256 of `content` (hex).
    pub sha256: String,
    /// The file's text.
    pub content: String,
}

impl MadeFrom {
    /// What a plan of `texts` against `target` is made from.
    pub fn new(target: String, texts: Vec<ManifestText>) -> MadeFrom {
        MadeFrom {
            target,
            manifests: texts
                .into_iter()
                .map(|text| RecordedManifest {
                    path: text.path.to_string_lossy().into_owned(),
                    sha256: hex(&Sha256::digest(text.text.as_bytes())),
                    content: text.text,
                })
                .collect(),
        }
    }

    /// The recorded manifests, to load as if read from their files.
    pub fn manifest_files(&self) -> ManifestFiles {
        let texts: Vec<ManifestText> = self
            .manifests
            .iter()
            .map(|manifest| ManifestText {
                path: PathBuf::from(&manifest.path),
                text: manifest.content.clone(),
            })
            .collect();
        ManifestFiles {
            files: texts.iter().map(|text| text.path.clone()).collect(),
            texts,
            diagnostics: Vec::new(),
        }
    }

    /// Refuses a manifest whose content does not match its recorded digest.
    fn check_digests(&self, file: &Path) -> Result<()> {
        for manifest in &self.manifests {
            if hex(&Sha256::digest(manifest.content.as_bytes())) != manifest.sha256 {
                bail!(
                    "{}: the content recorded for manifest {} does not match its sha256: the plan was changed after it was made; make it again with `esxnet plan --out`",
                    file.display(),
                    manifest.path.escape_debug()
                );
            }
        }
        Ok(())
    }
}

/// The key saved plans are signed with (`ESXNET_PLAN_KEY`).
#[derive(Clone)]
pub struct PlanKey(Vec<u8>);

impl std::fmt::Debug for PlanKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("PlanKey(…)")
    }
}

impl PlanKey {
    /// A key of these bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> PlanKey {
        PlanKey(bytes.into())
    }

    /// The key in `ESXNET_PLAN_KEY`, if it is set; an empty value is a mistake, not "no key".
    pub fn from_env() -> Result<Option<PlanKey>> {
        match std::env::var_os(KEY_VARIABLE) {
            None => Ok(None),
            Some(value) if value.is_empty() => {
                bail!("{KEY_VARIABLE} is set but empty: set it to the key plans are signed with, or unset it")
            }
            Some(value) => Ok(Some(PlanKey(value.into_encoded_bytes()))),
        }
    }

    fn mac(&self, bytes: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(bytes);
        mac
    }

    /// The signature of `bytes` (hex).
    fn sign(&self, bytes: &[u8]) -> String {
        hex(&self.mac(bytes).finalize().into_bytes())
    }

    /// Whether `signature` (hex) is the signature of `bytes`, compared in constant time.
    fn verifies(&self, bytes: &[u8], signature: &str) -> bool {
        unhex(signature).is_some_and(|signature| self.mac(bytes).verify_slice(&signature).is_ok())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).ok())
        .collect()
}

/// The target as a saved plan records it and `apply` compares it: `sim:` and `snapshot:` with
/// the absolute, canonical path; `vsphere://SERVER[:PORT]` without user, password or options
/// (a plan made with a read-only account may be applied with another).
pub fn recorded_target(target: &Target) -> String {
    let real = |path: &Path| {
        std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    match target {
        Target::Sim(dir) => format!("sim:{}", real(dir).display()),
        Target::Snapshot(file) => format!("snapshot:{}", real(file).display()),
        Target::Vsphere(vsphere) => match vsphere.port {
            Some(port) => format!("vsphere://{}:{port}", vsphere.server),
            None => format!("vsphere://{}", vsphere.server),
        },
    }
}

/// The bytes a signature covers: the saved plan's JSON without its signature, as this esxnet
/// writes it (so a plan read back and written again signs the same).
fn signed_bytes(plan: &Plan, made_from: &MadeFrom) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Unsigned<'a> {
        #[serde(flatten)]
        plan: &'a Plan,
        made_from: &'a MadeFrom,
    }
    Ok(serde_json::to_vec(&Unsigned { plan, made_from })?)
}

/// Writes `plan` and what it was made from to `path`, signed when there is a key.
pub fn write(plan: &Plan, made_from: &MadeFrom, key: Option<&PlanKey>, path: &Path) -> Result<()> {
    let signature = match key {
        None => None,
        // Signed as `apply` will check it: read back first, so the bytes are those of the plan
        // as any reader of the file sees it.
        Some(key) => {
            let bytes = signed_bytes(plan, made_from)?;
            let read_back: SavedPlan = serde_json::from_slice(&bytes).context("the plan does not read back")?;
            let made_from_read = read_back.made_from.as_ref().unwrap_or(made_from);
            Some(key.sign(&signed_bytes(&read_back.plan, made_from_read)?))
        }
    };
    #[derive(Serialize)]
    struct Saved<'a> {
        #[serde(flatten)]
        plan: &'a Plan,
        made_from: &'a MadeFrom,
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    }
    let write = || -> std::io::Result<()> {
        let file = std::fs::File::create(path)?;
        let mut writer = std::io::BufWriter::with_capacity(1 << 16, file);
        serde_json::to_writer_pretty(
            &mut writer,
            &Saved {
                plan,
                made_from,
                signature,
            },
        )?;
        std::io::Write::write_all(&mut writer, b"\n")?;
        std::io::Write::flush(&mut writer)?;
        writer.into_inner().map_err(|error| error.into_error())?.sync_all()
    };
    write().with_context(|| format!("cannot write the plan to {}", path.display()))
}

/// Reads a saved plan and checks what can be checked without the hosts: its format, that it
/// records what it was made from, its digests, and its signature when there is a key.
pub fn read(path: &Path, key: Option<&PlanKey>) -> Result<(Plan, MadeFrom)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let saved: SavedPlan = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a plan saved by `esxnet plan --out`", path.display()))?;
    if saved.plan.format_version != esxnet_planner::plan::FORMAT_VERSION {
        bail!(
            "{} has plan format {}, this esxnet reads format {}: make the plan again",
            path.display(),
            saved.plan.format_version,
            esxnet_planner::plan::FORMAT_VERSION
        );
    }
    let Some(made_from) = saved.made_from else {
        bail!(
            "{} does not record the manifests it was made from, so it cannot be checked before it is applied: make the plan again with `esxnet plan --out`",
            path.display()
        );
    };
    made_from.check_digests(path)?;
    if let Some(key) = key {
        let Some(signature) = &saved.signature else {
            bail!(
                "{} is not signed and {KEY_VARIABLE} is set: make the plan with the same {KEY_VARIABLE}, or unset it to apply an unsigned plan",
                path.display()
            );
        };
        if !key.verifies(&signed_bytes(&saved.plan, &made_from)?, signature) {
            bail!(
                "{}: the signature does not match: the plan was changed after it was made, or made with another {KEY_VARIABLE}; nothing was applied",
                path.display()
            );
        }
    }
    Ok((saved.plan, made_from))
}

/// Refuses planning flags given with a saved plan that differ from the options it was made
/// with: a saved plan is applied as it was made, never with options it was not planned with.
pub fn check_flags(saved: &PlanOptions, flags: &PlanOptions, path: &Path) -> Result<()> {
    let contradicted: Vec<&str> = [
        (flags.prune && !saved.prune, "--prune"),
        (
            flags.allow_management_changes && !saved.allow_management_changes,
            "--allow-management-changes",
        ),
    ]
    .into_iter()
    .filter_map(|(contradicts, flag)| contradicts.then_some(flag))
    .collect();
    if !contradicted.is_empty() {
        bail!(
            "{} was planned without {}: a saved plan is applied with the options it was made with; make the plan again with `esxnet plan {} --out {}`",
            path.display(),
            contradicted.join(" and "),
            contradicted.join(" "),
            path.display()
        );
    }
    Ok(())
}

/// Refuses applying a plan through another target than the one it was made against.
pub fn check_target(made_from: &MadeFrom, target: &Target, path: &Path) -> Result<()> {
    let now = recorded_target(target);
    if now != made_from.target {
        bail!(
            "{} was made against {}, not {now}: apply it with `--target` naming where it was made, or make a plan for {now}",
            path.display(),
            made_from.target.escape_debug()
        );
    }
    Ok(())
}

/// The first way `saved` differs from `replanned`, the plan its recorded manifests and options
/// make against the hosts as observed now; `None` when the saved plan may be applied.
///
/// The rule, per host:
/// - A host whose fingerprint is the saved one has not changed since the plan was made:
///   planning again must give exactly the saved changes, steps, edges, unmanaged objects and
///   notes.
/// - A host that changed (a partly applied run, or changes the plan does not touch) may have
///   done some of the saved steps: every change planning again still makes must be a saved
///   change at the same address with the same target state and action (a replace whose delete
///   is done may remain a create), and every other saved change must be done (the host already
///   has its target state).
///
/// Across hosts: the same hosts in the same order, every change under a planned host, a summary
/// that counts the saved changes, and, when no host changed, the whole plan (diagnostics too)
/// equal. What [`ensure_plan_is_fresh`](esxnet_executor::ensure_plan_is_fresh) refuses (an
/// object the plan names that moved on) is checked before this.
pub fn first_difference(saved: &Plan, replanned: &Plan, observed: &ObservedFleet) -> Option<String> {
    let saved_hosts: Vec<&str> = saved.hosts.iter().map(|host| host.host.as_str()).collect();
    let replanned_hosts: Vec<&str> = replanned.hosts.iter().map(|host| host.host.as_str()).collect();
    if let Some(host) = saved_hosts.iter().find(|host| !replanned_hosts.contains(host)) {
        return Some(format!(
            "it plans host {}, which its manifests do not plan",
            host.escape_debug()
        ));
    }
    if let Some(host) = replanned_hosts.iter().find(|host| !saved_hosts.contains(host)) {
        return Some(format!(
            "its manifests plan host {}, which it leaves out",
            host.escape_debug()
        ));
    }
    if saved_hosts != replanned_hosts {
        return Some("its hosts are not in the order planning puts them".to_owned());
    }
    if let Some(change) = saved
        .changes
        .iter()
        .find(|change| change.address.host != change.host || !saved_hosts.contains(&change.host.as_str()))
    {
        return Some(format!(
            "{}: the change is filed under host {}",
            change.address,
            change.host.escape_debug()
        ));
    }
    let counted = esxnet_planner::summarize(&saved.changes, &saved.hosts);
    if counted != saved.summary {
        let (field, said, counts) = json_difference(&to_value(&saved.summary), &to_value(&counted))
            .unwrap_or_else(|| (String::new(), String::new(), String::new()));
        return Some(format!(
            "its summary does not count its changes: summary.{field} is {said}, its changes make it {counts}"
        ));
    }
    let saved_index = saved.change_index();
    let replanned_index = replanned.change_index();
    let mut every_host_unchanged = true;
    for (saved_host, replanned_host) in saved.hosts.iter().zip(&replanned.hosts) {
        let saved_changes = saved_index.host_changes(&saved_host.host);
        let replanned_changes = replanned_index.host_changes(&replanned_host.host);
        let difference = if saved_host.fingerprint == replanned_host.fingerprint {
            same_host(saved_host, replanned_host, saved_changes, replanned_changes)
        } else {
            every_host_unchanged = false;
            let observed_host = observed.hosts.get(&saved_host.host);
            remaining_part(saved_changes, replanned_changes, &saved_index, observed_host)
        };
        if difference.is_some() {
            return difference;
        }
    }
    if every_host_unchanged && saved != replanned {
        let (field, said, planned) = json_difference(&to_value(saved), &to_value(replanned))
            .unwrap_or_else(|| (String::new(), String::new(), String::new()));
        return Some(format!("{field} is {said} in the plan, {planned} when planned again"));
    }
    None
}

/// The first difference of a host that did not change since the plan was made.
fn same_host(
    saved_host: &HostPlan,
    replanned_host: &HostPlan,
    saved: &[&Change],
    replanned: &[&Change],
) -> Option<String> {
    for saved_change in saved {
        let Some(replanned_change) = replanned.iter().find(|change| change.address == saved_change.address) else {
            return Some(format!(
                "{}: the plan has {} that planning again does not",
                saved_change.address,
                an(saved_change.action)
            ));
        };
        if let Some((field, said, planned)) = json_difference(&to_value(saved_change), &to_value(replanned_change)) {
            return Some(format!(
                "{}: {field} is {said} in the plan, {planned} when planned again",
                saved_change.address
            ));
        }
    }
    for replanned_change in replanned {
        if !saved.iter().any(|change| change.address == replanned_change.address) {
            return Some(format!(
                "{}: planning again makes {} that the plan does not",
                replanned_change.address,
                an(replanned_change.action)
            ));
        }
    }
    let saved_order: Vec<_> = saved.iter().map(|change| &change.address).collect();
    let replanned_order: Vec<_> = replanned.iter().map(|change| &change.address).collect();
    if saved_order != replanned_order {
        return Some(format!(
            "host {}: its changes are not in the order planning puts them",
            saved_host.host
        ));
    }
    json_difference(&to_value(saved_host), &to_value(replanned_host)).map(|(field, said, planned)| {
        format!(
            "host {}: {field} is {said} in the plan, {planned} when planned again",
            saved_host.host
        )
    })
}

/// The first difference of a host that changed since the plan was made: what planning again
/// still does must be part of the saved plan, and the rest of the saved plan must be done.
fn remaining_part(
    saved: &[&Change],
    replanned: &[&Change],
    saved_index: &esxnet_planner::plan::ChangeIndex<'_>,
    observed_host: Option<&esxnet_model::observed::ObservedHost>,
) -> Option<String> {
    for replanned_change in replanned.iter().filter(|change| change.action != Action::Noop) {
        let address = &replanned_change.address;
        let Some(saved_change) = saved_index.change(address).filter(|change| change.host == address.host) else {
            return Some(format!(
                "{address}: planning again makes {} that the plan does not (the host changed since the plan was made)",
                an(replanned_change.action)
            ));
        };
        let remains = saved_change.action == replanned_change.action
            || (saved_change.action == Action::Replace && replanned_change.action == Action::Create);
        if !remains {
            return Some(format!(
                "{address}: the plan has {}, planning again {}",
                an(saved_change.action),
                an(replanned_change.action)
            ));
        }
        let compared = |change: &Change| {
            serde_json::json!({
                "after": change.after,
                "identity": change.identity,
                "kind": change.kind,
                "name": change.name,
                "touches_management": change.touches_management,
            })
        };
        if let Some((field, said, planned)) = json_difference(&compared(saved_change), &compared(replanned_change)) {
            return Some(format!(
                "{address}: {field} is {said} in the plan, {planned} when planned again"
            ));
        }
    }
    for saved_change in saved.iter().filter(|change| change.action != Action::Noop) {
        let replanned_change = replanned.iter().find(|change| change.address == saved_change.address);
        let current = match replanned_change {
            Some(change) if change.action != Action::Noop => continue,
            Some(change) => change.before.clone(),
            None => observed_host.and_then(|host| state::current_state(host, &saved_change.identity)),
        };
        let done = match (&current, &saved_change.after) {
            (None, None) => true,
            (Some(current), Some(after)) => current.satisfies(after),
            _ => false,
        };
        if !done {
            return Some(format!(
                "{}: the plan has {} that planning again does not, and the host is not where it leads",
                saved_change.address,
                an(saved_change.action)
            ));
        }
    }
    None
}

/// "a create", "an update".
fn an(action: Action) -> String {
    match action {
        Action::Update => "an update".to_owned(),
        action => format!("a {action}"),
    }
}

fn to_value(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The first place two JSON values differ: its path and both values, each shown as compact JSON
/// (control characters escaped) and cut to a readable length.
pub fn json_difference(left: &Value, right: &Value) -> Option<(String, String, String)> {
    fn walk(left: Option<&Value>, right: Option<&Value>, path: &mut String) -> Option<(String, String, String)> {
        match (left, right) {
            (Some(Value::Object(left)), Some(Value::Object(right))) => {
                let mut keys: Vec<&String> = left.keys().chain(right.keys()).collect();
                keys.sort();
                keys.dedup();
                for key in keys {
                    let length = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    if let Some(found) = walk(left.get(key), right.get(key), path) {
                        return Some(found);
                    }
                    path.truncate(length);
                }
                None
            }
            (Some(Value::Array(left)), Some(Value::Array(right))) => {
                for index in 0..left.len().max(right.len()) {
                    let length = path.len();
                    path.push_str(&format!("[{index}]"));
                    if let Some(found) = walk(left.get(index), right.get(index), path) {
                        return Some(found);
                    }
                    path.truncate(length);
                }
                None
            }
            (left, right) if left == right => None,
            (left, right) => Some((path.clone(), show(left), show(right))),
        }
    }
    walk(Some(left), Some(right), &mut String::new())
}

fn show(value: Option<&Value>) -> String {
    const LIMIT: usize = 80;
    let text = match value {
        None | Some(Value::Null) => "absent".to_owned(),
        Some(value) => value.to_string(),
    };
    if text.chars().count() > LIMIT {
        format!("{}…", text.chars().take(LIMIT).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_key_and_bytes() {
        let key = PlanKey::new("k1");
        let signature = key.sign(b"plan");
        assert!(key.verifies(b"plan", &signature));
        assert!(!key.verifies(b"plan!", &signature));
        assert!(!PlanKey::new("k2").verifies(b"plan", &signature));
        assert!(!key.verifies(b"plan", "zz"));
        assert!(!key.verifies(b"plan", ""));
    }

    #[test]
    fn json_differences_name_the_first_path() {
        let left = serde_json::json!({"a": {"b": [1, 2]}, "c": "x"});
        let right = serde_json::json!({"a": {"b": [1, 3]}, "c": "x"});
        assert_eq!(
            json_difference(&left, &right),
            Some(("a.b[1]".to_owned(), "2".to_owned(), "3".to_owned()))
        );
        assert_eq!(json_difference(&left, &left), None);
        let missing = serde_json::json!({"a": {"b": [1, 2]}});
        assert_eq!(
            json_difference(&left, &missing),
            Some(("c".to_owned(), "\"x\"".to_owned(), "absent".to_owned()))
        );
    }
}

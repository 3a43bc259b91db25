//! The lockout guard (ESX015) over the whole management path, as a table: every line of
//! `tests/management-path/cases.txt` patches the manifests of `base.yaml`, which declare the lab
//! host of `observed.json` exactly as it is, and plans them twice, without and with
//! `--allow-management-changes`.
//!
//! A `refused` case must be refused with ESX015 (and nothing else) without the option, and planned
//! with it, with its change marked as touching management; a `planned` case must be planned without
//! the option. These checks hold whatever `expected.txt` says; `expected.txt` records the messages
//! and the allowed plan for review. Refresh it with
//! `UPDATE_EXPECT=1 cargo test -p esxnet-planner --test management_path`, then read the diff.

use std::path::{Path, PathBuf};

use esxnet_model::analysis;
use esxnet_model::diagnostic::RuleId;
use esxnet_model::load::{self, Loaded};
use esxnet_model::observed::ObservedFleet;
use esxnet_planner::plan::{Action, HostStatus, Plan, PlanOptions};
use esxnet_planner::render::{self, TextStyle};
use serde::Deserialize as _;
use serde_yaml::{Mapping, Value};

const HOST: &str = "esx-01";

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("management-path")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// Whether a case is on the management path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Refused,
    Planned,
}

/// One line of `cases.txt`.
#[derive(Debug)]
struct Case {
    name: String,
    expect: Expect,
    /// `(Kind, name, patch)`; a `None` patch drops the document.
    patches: Vec<(String, String, Option<Value>)>,
}

fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let columns: Vec<&str> = line.splitn(3, '|').map(str::trim).collect();
        let [name, expect, patches] = columns[..] else {
            panic!("cases.txt:{line_number}: expected `case | expect | patches`");
        };
        let expect = match expect {
            "refused" => Expect::Refused,
            "planned" => Expect::Planned,
            other => panic!("cases.txt:{line_number}: expect is `refused` or `planned`, not `{other}`"),
        };
        let patches = patches
            .split(';')
            .map(|patch| {
                let patch = patch.trim();
                let (target, body) = patch
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("cases.txt:{line_number}: `{patch}` is not `Kind/name {{…}}`"));
                let (kind, document_name) = target
                    .split_once('/')
                    .unwrap_or_else(|| panic!("cases.txt:{line_number}: `{target}` is not `Kind/name`"));
                let body = body.trim();
                let value = if body == "~" {
                    None
                } else {
                    Some(
                        serde_yaml::from_str::<Value>(body)
                            .unwrap_or_else(|error| panic!("cases.txt:{line_number}: `{body}`: {error}")),
                    )
                };
                (kind.to_owned(), document_name.to_owned(), value)
            })
            .collect();
        cases.push(Case {
            name: name.to_owned(),
            expect,
            patches,
        });
    }
    cases
}

/// Mappings merge key by key (`null` removes a key); anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Mapping(target), Value::Mapping(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else if let Some(existing) = target.get_mut(key) {
                    merge(existing, value);
                } else {
                    target.insert(key.clone(), value.clone());
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn document_key(document: &Value) -> (String, String) {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
    (
        text(document.get("kind")),
        text(document.get("metadata").and_then(|metadata| metadata.get("name"))),
    )
}

/// The manifests of a case as one multi-document YAML text.
fn case_manifests(base: &[Value], case: &Case) -> String {
    let mut documents = base.to_vec();
    for (kind, name, patch) in &case.patches {
        let position = documents
            .iter()
            .position(|document| document_key(document) == (kind.clone(), name.clone()));
        match (position, patch) {
            (Some(position), None) => {
                documents.remove(position);
            }
            (Some(position), Some(patch)) => {
                let spec = documents[position]
                    .get_mut("spec")
                    .unwrap_or_else(|| panic!("case {}: {kind}/{name} has no spec", case.name));
                merge(spec, patch);
            }
            (None, Some(patch)) => {
                let mut spec = Mapping::new();
                spec.insert(
                    "hosts".into(),
                    serde_yaml::from_str(&format!("{{names: [{HOST}]}}")).unwrap(),
                );
                let mut spec = Value::Mapping(spec);
                merge(&mut spec, patch);
                let mut document = Mapping::new();
                document.insert("apiVersion".into(), "esxnet/v1".into());
                document.insert("kind".into(), kind.as_str().into());
                document.insert(
                    "metadata".into(),
                    serde_yaml::from_str(&format!("{{name: {name}}}")).unwrap(),
                );
                document.insert("spec".into(), spec);
                documents.push(Value::Mapping(document));
            }
            (None, None) => panic!("case {}: there is no {kind}/{name} to drop", case.name),
        }
    }
    documents
        .iter()
        .map(|document| serde_yaml::to_string(document).expect("a YAML value serializes"))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn plan(manifests: &str, file_name: &str, observed: &ObservedFleet, allow_management_changes: bool) -> Plan {
    let (documents, diagnostics) = load::load_str(Path::new(file_name), manifests);
    let loaded = Loaded {
        documents,
        diagnostics,
        files: Vec::new(),
    };
    let analysis = analysis::analyze(&loaded, Some(observed));
    let options = PlanOptions {
        prune: false,
        allow_management_changes,
    };
    esxnet_planner::plan(&analysis.fleet, observed, analysis.diagnostics, &options)
}

fn host_planned(plan: &Plan) -> bool {
    plan.hosts
        .iter()
        .any(|host| host.host == HOST && host.status == HostStatus::Planned)
}

/// `rule field: message`, one line per diagnostic.
fn diagnostic_lines(plan: &Plan) -> Vec<String> {
    plan.diagnostics
        .iter()
        .map(|diagnostic| {
            format!(
                "{}[{}] {}: {}",
                if diagnostic.is_error() { "error" } else { "warning" },
                diagnostic.rule,
                diagnostic.field.as_deref().unwrap_or(""),
                diagnostic.message
            )
        })
        .collect()
}

/// Checks one case; returns its part of `expected.txt`, or what is wrong with it.
fn run_case(base: &[Value], observed: &ObservedFleet, case: &Case) -> Result<String, String> {
    let manifests = case_manifests(base, case);
    let file_name = format!("{}.yaml", case.name);
    let guarded = plan(&manifests, &file_name, observed, false);
    let allowed = plan(&manifests, &file_name, observed, true);
    let mut problems = Vec::new();
    let guarded_errors: Vec<_> = guarded
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
        .collect();
    let changes = |plan: &Plan| {
        plan.changes
            .iter()
            .filter(|change| change.action != Action::Noop)
            .count()
    };
    let touching = |plan: &Plan| plan.changes.iter().filter(|change| change.touches_management).count();
    match case.expect {
        Expect::Refused => {
            if guarded_errors.is_empty() || guarded_errors.iter().any(|error| error.rule != RuleId::Esx015) {
                problems.push(format!(
                    "without --allow-management-changes it must be refused by ESX015 alone, got {:?}",
                    diagnostic_lines(&guarded)
                ));
            }
            if host_planned(&guarded) {
                problems.push("without --allow-management-changes the host was planned".to_owned());
            }
            if allowed.has_errors() || !host_planned(&allowed) {
                problems.push(format!(
                    "with --allow-management-changes it must be planned, got {:?}",
                    diagnostic_lines(&allowed)
                ));
            }
            if touching(&allowed) == 0 {
                problems.push("with --allow-management-changes no change is marked as touching management".to_owned());
            }
        }
        Expect::Planned => {
            if guarded.has_errors() || !host_planned(&guarded) {
                problems.push(format!(
                    "it must be planned without --allow-management-changes, got {:?}",
                    diagnostic_lines(&guarded)
                ));
            }
            if touching(&guarded) > 0 {
                problems.push("a change is marked as touching management".to_owned());
            }
        }
    }
    if changes(&allowed) == 0 {
        problems.push("the patch plans no change: the case tests nothing".to_owned());
    }
    if !problems.is_empty() {
        return Err(format!("case {}:\n  {}", case.name, problems.join("\n  ")));
    }
    let mut out = format!(
        "== {} ({})\n",
        case.name,
        match case.expect {
            Expect::Refused => "refused",
            Expect::Planned => "planned",
        }
    );
    for line in diagnostic_lines(&guarded) {
        out.push_str(&format!("{line}\n"));
    }
    if case.expect == Expect::Refused {
        out.push_str("with --allow-management-changes:\n");
    }
    let text = render::text(&allowed, TextStyle { color: false });
    for line in text.lines().filter(|line| !line.is_empty() && *line != HOST) {
        out.push_str(&format!("{line}\n"));
    }
    out.push('\n');
    Ok(out)
}

#[test]
fn management_path_changes_are_refused_unless_allowed() {
    let folder = folder();
    let observed: ObservedFleet =
        serde_json::from_str(&read(&folder.join("observed.json"))).expect("observed.json is an observed fleet");
    let base: Vec<Value> = serde_yaml::Deserializer::from_str(&read(&folder.join("base.yaml")))
        .map(|document| Value::deserialize(document).expect("base.yaml is YAML"))
        .collect();
    let cases = parse_cases(&read(&folder.join("cases.txt")));
    assert!(cases.len() >= 20, "cases.txt has only {} cases", cases.len());

    // The base alone is the lab as it is: any refusal or change in a case comes from its patch.
    let base_text = base
        .iter()
        .map(|document| serde_yaml::to_string(document).unwrap())
        .collect::<Vec<_>>()
        .join("---\n");
    let base_plan = plan(&base_text, "base.yaml", &observed, false);
    assert!(
        base_plan.diagnostics.is_empty() && !base_plan.summary.has_changes() && host_planned(&base_plan),
        "base.yaml must plan no change and no diagnostic on observed.json: {:?}\n{}",
        diagnostic_lines(&base_plan),
        render::text(&base_plan, TextStyle { color: false })
    );

    let mut actual = String::from(
        "# Generated by ../management_path.rs from cases.txt: per case, the diagnostics without\n# --allow-management-changes, then the text plan with it.\n\n",
    );
    let mut failures = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for case in &cases {
        assert!(names.insert(case.name.as_str()), "case {} appears twice", case.name);
        match run_case(&base, &observed, case) {
            Ok(text) => actual.push_str(&text),
            Err(problem) => failures.push(problem),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    let expected_path = folder.join("expected.txt");
    if std::env::var_os("UPDATE_EXPECT").is_some_and(|value| value == "1") {
        std::fs::write(&expected_path, &actual).expect("expected.txt is writable");
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    assert!(
        expected == actual,
        "management-path/expected.txt differs; if the change is intended, rerun with UPDATE_EXPECT=1 and read the diff\n{}",
        similar::TextDiff::from_lines(&expected, &actual)
            .unified_diff()
            .context_radius(3)
    );
}

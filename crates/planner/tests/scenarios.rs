//! Data-driven planner scenarios: one folder per scenario under `tests/scenarios/`.
//!
//! A folder holds `manifests/*.yaml`, `observed.json` (the starting lab, an `ObservedFleet` as
//! `esxnet observe --output json` prints it), optionally `options.json`
//! (`{"prune": true, "allow_management_changes": false}`), and the expected outputs:
//! `expected.txt` (the rendered diagnostics, then the text plan) and `expected.json` (the JSON plan).
//! File paths in diagnostics are made relative to the scenario folder so the expected files are
//! the same on every machine.
//!
//! Refresh the expected files with `UPDATE_EXPECT=1 cargo test -p esxnet-planner --test scenarios`,
//! then read every changed file before committing it: the harness only guards what was approved.

use std::path::{Path, PathBuf};

use esxnet_model::analysis;
use esxnet_model::diagnostic::Location;
use esxnet_model::observed::ObservedFleet;
use esxnet_planner::plan::{Action, Plan, PlanOptions};
use esxnet_planner::render::{self, TextStyle};
use serde::Deserialize;

/// One test per scenario folder, so a failure names its scenario and the others still run.
macro_rules! scenarios {
    ($($test_name:ident => $folder:literal,)*) => {
        $(
            #[test]
            fn $test_name() {
                check_scenario($folder);
            }
        )*

        /// Every folder on disk has a test, so a new scenario cannot be forgotten.
        const LISTED_SCENARIOS: &[&str] = &[$($folder),*];
    };
}

scenarios! {
    fresh_lab => "fresh-lab",
    converged_lab => "converged-lab",
    field_update => "field-update",
    stack_change_replace => "stack-change-replace",
    stack_change_replace_with_services => "stack-change-replace-with-services",
    prune_protects_management => "prune-protects-management",
    lockout_guard => "lockout-guard",
    lockout_guard_allowed => "lockout-guard-allowed",
    esx004_predicted_deactivation => "esx004-predicted-deactivation",
    pools_keep_addresses => "pools-keep-addresses",
    ipv6_router_advertisement_default => "ipv6-router-advertisement-default",
    uplink_order_is_not_drift => "uplink-order-is-not-drift",
    stack_settings_without_adapter => "stack-settings-without-adapter",
    uplink_swap_cycle => "uplink-swap-cycle",
    refused_host_others_plan => "refused-host-others-plan",
    prune_protects_storage => "prune-protects-storage",
    replace_of_protected_adapter_refused => "replace-of-protected-adapter-refused",
    learned_values_are_not_drift => "learned-values-are-not-drift",
}

/// `options.json`, strictly: a misspelt option must not silently fall back to its default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioOptions {
    #[serde(default)]
    prune: bool,
    #[serde(default)]
    allow_management_changes: bool,
}

fn scenarios_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("scenarios")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// The plan of one scenario folder, with diagnostic paths relative to the folder.
fn plan_scenario(folder: &Path) -> Plan {
    let loaded = analysis::load(&[folder.join("manifests")]);
    let observed_path = folder.join("observed.json");
    let observed: ObservedFleet = serde_json::from_str(&read(&observed_path))
        .unwrap_or_else(|error| panic!("{} is not an observed fleet: {error}", observed_path.display()));
    let options_path = folder.join("options.json");
    let options = if options_path.exists() {
        let options: ScenarioOptions = serde_json::from_str(&read(&options_path))
            .unwrap_or_else(|error| panic!("{} is not valid: {error}", options_path.display()));
        PlanOptions {
            prune: options.prune,
            allow_management_changes: options.allow_management_changes,
        }
    } else {
        PlanOptions::default()
    };
    let analysis = analysis::analyze(&loaded, Some(&observed));
    let mut plan = esxnet_planner::plan(&analysis.fleet, &observed, analysis.diagnostics, &options);
    for diagnostic in &mut plan.diagnostics {
        if let Some(location) = &mut diagnostic.location {
            make_relative(location, folder);
        }
        for related in &mut diagnostic.related {
            make_relative(&mut related.location, folder);
        }
    }
    plan
}

/// `manifests/x.yaml` instead of the absolute path, with `/` on every platform.
fn make_relative(location: &mut Location, folder: &Path) {
    if let Ok(relative) = location.file.strip_prefix(folder) {
        let parts: Vec<String> = relative
            .components()
            .map(|component| component.as_os_str().to_string_lossy().into_owned())
            .collect();
        location.file = PathBuf::from(parts.join("/"));
    }
}

/// What `expected.txt` holds: every diagnostic as the CLI prints it (each followed by a blank
/// line), then the text plan.
fn expected_text(plan: &Plan) -> String {
    let mut text: String = plan
        .diagnostics
        .iter()
        .map(|diagnostic| format!("{}\n", diagnostic.render(false)))
        .collect();
    text.push_str(&render::text(plan, TextStyle { color: false }));
    text
}

fn check_scenario(name: &str) {
    let folder = scenarios_root().join(name);
    assert!(folder.is_dir(), "scenario folder {} is missing", folder.display());
    let plan = plan_scenario(&folder);
    // `esxnet plan` writes the text plan host by host; other commands build it as one string.
    let mut written = Vec::new();
    render::write_text(&plan, TextStyle { color: false }, &mut written).expect("writing to memory");
    assert_eq!(
        String::from_utf8(written).ok(),
        Some(render::text(&plan, TextStyle { color: false })),
        "{name}: the text plan written differs from the text plan built"
    );
    let outputs = [
        ("expected.txt", expected_text(&plan)),
        ("expected.json", render::json(&plan)),
    ];
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|value| value == "1");
    let mut mismatches = Vec::new();
    for (file_name, actual) in &outputs {
        let folder_text = folder.display().to_string();
        assert!(
            !actual.contains(&folder_text),
            "scenario {name}: {file_name} would hold this machine's path {folder_text}; make the path relative in the harness"
        );
        let path = folder.join(file_name);
        if update {
            std::fs::write(&path, actual).unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != *actual {
            mismatches.push(format!(
                "--- {name}/{file_name} (expected)\n+++ actual\n{}",
                similar::TextDiff::from_lines(&expected, actual)
                    .unified_diff()
                    .context_radius(3)
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "scenario {name} differs from its expected files; if the change is intended, rerun with UPDATE_EXPECT=1 and read the new files before committing\n\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn every_scenario_folder_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(scenarios_root())
        .expect("tests/scenarios exists")
        .map(|entry| entry.expect("readable scenarios folder"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = LISTED_SCENARIOS.iter().map(|name| (*name).to_owned()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every folder under tests/scenarios needs a line in the scenarios! list of tests/scenarios.rs"
    );
}

/// The promise behind `prune-protects-storage`, stated outright rather than only through its
/// expected files: prune deletes no adapter that is system-owned or carries storage, and says why.
#[test]
fn prune_never_deletes_storage_or_system_adapters() {
    let plan = plan_scenario(&scenarios_root().join("prune-protects-storage"));
    let protected = [
        ("vmk1", "bound to software iSCSI"),
        ("vmk2", "selected for vsan"),
        ("vmk3", "selected for vsanWitness"),
        ("vmk4", "selected for nvmeTcp"),
        ("vmk5", "carries an NFS datastore"),
        ("vmk6", "carries vSAN traffic"),
        ("vmk7", "owned by the system"),
    ];
    let host = &plan.hosts[0];
    for (device, reason) in protected {
        assert!(
            !plan
                .changes
                .iter()
                .any(|change| change.name == device && change.action != Action::Noop),
            "prune changes {device}"
        );
        let listed = host
            .unmanaged
            .iter()
            .find(|object| object.name == device)
            .unwrap_or_else(|| panic!("{device} is not listed"));
        assert!(listed.protected, "{device} is not protected");
        assert_eq!(listed.reason.as_deref(), Some(reason), "{device}");
    }
    // Prune still prunes: the adapter that carries nothing goes.
    assert!(plan
        .changes
        .iter()
        .any(|change| change.name == "vmk8" && change.action == Action::Delete));
}

/// The pull-request comment of a prune plan says what prune keeps and why, like the text plan.
#[test]
fn markdown_lists_what_prune_protects_with_the_reason() {
    let plan = plan_scenario(&scenarios_root().join("prune-protects-storage"));
    let markdown = render::markdown(&plan);
    for line in [
        "<summary><b>Protected from --prune</b></summary>",
        "- `VmkernelAdapter/vmk1`: bound to software iSCSI (esx-01)",
        "- `VmkernelAdapter/vmk7`: owned by the system (esx-01)",
        "- `PortGroup/vSAN`: vmk2 is connected to it (selected for vsan) (esx-01)",
    ] {
        assert!(markdown.contains(line), "no `{line}` in:\n{markdown}");
    }
}

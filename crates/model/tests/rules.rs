//! Data-driven rule tests: every folder under `tests/rules/` is one case.
//!
//! A case holds `manifests/*.yaml`, optionally `observed.json` (an `ObservedFleet` as JSON: the
//! hosts as a target reports them), and `expected.txt`: every diagnostic that loading, lowering and
//! the rules report, rendered without colour, or `no diagnostics`. File paths are shown relative to
//! the case folder so expected files do not depend on where the repository lives.
//!
//! Run with `UPDATE_EXPECT=1` to rewrite the expected files after a deliberate change, then read
//! the diff: the harness only guards what a person checked once.

use std::fs;
use std::path::{Path, PathBuf};

use esxnet_model::analysis;
use esxnet_model::ObservedFleet;

const NO_DIAGNOSTICS: &str = "no diagnostics\n";

fn cases_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("rules")
}

/// Loads, lowers and checks one case and renders what it reports.
fn render_case(case: &Path) -> String {
    let loaded = analysis::load(&[case.join("manifests")]);
    let observed_path = case.join("observed.json");
    let observed: Option<ObservedFleet> = observed_path.exists().then(|| {
        let text = fs::read_to_string(&observed_path).expect("observed.json is readable");
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", observed_path.display()))
    });
    let analysis = analysis::analyze(&loaded, observed.as_ref());
    if analysis.diagnostics.is_empty() {
        return NO_DIAGNOSTICS.to_owned();
    }
    let case_prefix = format!("{}/", case.display());
    analysis
        .diagnostics
        .iter()
        .map(|diagnostic| diagnostic.render(false).replace(&case_prefix, ""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_rule_case_reports_what_its_expected_file_says() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|value| value == "1");
    let mut cases: Vec<PathBuf> = fs::read_dir(cases_folder())
        .expect("tests/rules exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases under {}", cases_folder().display());
    let mut failures = Vec::new();
    for case in &cases {
        let actual = render_case(case);
        let expected_path = case.join("expected.txt");
        if update {
            fs::write(&expected_path, &actual).expect("expected.txt is writable");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "--- {} expected:\n{expected}\n--- actual:\n{actual}",
                case.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ (refresh with UPDATE_EXPECT=1 after checking):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every case named `*-fails` breaks its rule and every `*-passes` case is clean of it, so the
/// expected files cannot silently drift into proving nothing.
#[test]
fn failing_cases_report_their_rule_and_passing_cases_do_not() {
    for entry in fs::read_dir(cases_folder()).expect("tests/rules exists") {
        let case = entry.expect("readable entry").path();
        let name = case.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let rule = name.split('-').next().unwrap_or_default().to_uppercase();
        let rendered = render_case(&case);
        let marker = format!("[{rule}]");
        if name.ends_with("-fails") {
            assert!(rendered.contains(&marker), "{name} should report {rule}:\n{rendered}");
        } else if name.ends_with("-passes") {
            assert!(
                !rendered.contains(&marker),
                "{name} should not report {rule}:\n{rendered}"
            );
        }
    }
}

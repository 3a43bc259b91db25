//! The library operations the commands wrap (`esxnet::ops`), without the binary: plan, apply,
//! drift and a saved plan's checks on a simulated lab of the examples.

use std::path::{Path, PathBuf};

use esxnet::ops::{self, ApplyRequest, DriftReport, DriftRequest, PlanRequest, SavedPlanRequest};

fn examples() -> Vec<PathBuf> {
    vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/examples")]
}

fn lab_target(scratch: &Path) -> String {
    format!("sim:{}", scratch.join("lab").display())
}

fn plan_to_apply<'a>(paths: &'a [PathBuf], target: &'a str) -> ops::Planned {
    ops::plan(&PlanRequest {
        writable: true,
        ..PlanRequest::new(paths, target)
    })
    .expect("the examples plan")
    .planned()
    .expect("the examples are readable")
}

#[test]
fn plan_apply_then_drift_reports_the_hosts_in_sync() {
    let scratch = tempfile::tempdir().unwrap();
    let target = lab_target(scratch.path());
    let paths = examples();
    let drift_request = DriftRequest {
        paths: &paths,
        target: Some(&target),
        shard: None,
        parallelism: 4,
        reclaim_at_exit: false,
    };

    let planned = plan_to_apply(&paths, &target);
    assert!(!planned.plan.has_errors(), "{:#?}", planned.plan.diagnostics);
    assert!(
        planned.plan.summary.has_changes(),
        "fresh hosts need the examples' changes"
    );
    let report = ops::apply(
        planned,
        ApplyRequest {
            journal: Some(scratch.path().join("lab").join("journal.jsonl")),
            reuse_observation: true,
            ..ApplyRequest::default()
        },
    )
    .unwrap();
    assert!(report.succeeded(), "{report:?}");
    assert!(
        scratch.path().join("lab").join("journal.jsonl").is_file(),
        "the run is journaled"
    );

    let drifted = ops::drift(&drift_request).unwrap().planned().unwrap();
    let report = DriftReport::of(&drifted.plan);
    assert!(report.in_sync, "{report:#?}");
    assert!(report.drift.is_empty());
}

#[test]
fn a_saved_plan_is_refused_when_a_host_moved_on_or_its_format_is_another() {
    let scratch = tempfile::tempdir().unwrap();
    let target = lab_target(scratch.path());
    let paths = examples();
    let saved = scratch.path().join("plan.json");
    let planned = ops::plan(&PlanRequest::new(&paths, &target))
        .unwrap()
        .planned()
        .unwrap();
    ops::save_plan(&planned.plan, &planned.made_from, None, &saved).unwrap();
    drop(planned);
    assert_eq!(
        ops::saved_plan_path(std::slice::from_ref(&saved)),
        Some(saved.as_path())
    );
    assert_eq!(
        ops::saved_plan_path(&paths),
        None,
        "a manifest directory is not a saved plan"
    );

    // The saved plan still fits the hosts it was made from.
    let request = SavedPlanRequest::new(&saved, &target);
    ops::load_saved_plan(&request).expect("a fresh saved plan passes its checks");

    // Someone else makes vSwitch1 differently before the saved plan is applied: it is stale now.
    let other = vec![scratch.path().join("other.yaml")];
    std::fs::write(
        &other[0],
        "apiVersion: esxnet/v1\nkind: Host\nmetadata: {name: esx-01.lab.example}\n---\napiVersion: esxnet/v1\nkind: StandardSwitch\nmetadata: {name: vSwitch1}\nspec:\n  hosts: {names: [esx-01.lab.example]}\n  mtu: 1600\n  uplinks: [vmnic2]\n",
    )
    .unwrap();
    let report = ops::apply(plan_to_apply(&other, &target), ApplyRequest::default()).unwrap();
    assert!(report.succeeded(), "{report:?}");
    let stale = ops::load_saved_plan(&request)
        .err()
        .expect("a stale saved plan is refused");
    assert!(
        format!("{stale:#}").contains("esx-01.lab.example/StandardSwitch/vSwitch1"),
        "{stale:#}"
    );

    // A plan in another format is refused before any host is read.
    let mut other_format: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    other_format["format_version"] = serde_json::json!(esxnet_planner::plan::FORMAT_VERSION + 1);
    std::fs::write(&saved, other_format.to_string()).unwrap();
    let error = ops::read_saved_plan(&saved, None).expect_err("another format is refused");
    assert!(error.to_string().contains("make the plan again"), "{error}");
}

#[test]
fn a_signed_saved_plan_applies_with_its_key_only_and_is_made_again_before() {
    let scratch = tempfile::tempdir().unwrap();
    let target = lab_target(scratch.path());
    let paths = examples();
    let saved = scratch.path().join("plan.json");
    let key = esxnet::saved_plan::PlanKey::new("correct-horse");
    let planned = plan_to_apply(&paths, &target);
    ops::save_plan(&planned.plan, &planned.made_from, Some(&key), &saved).unwrap();
    let made = planned.plan.clone();
    drop(planned);

    let with = |key: Option<&str>| SavedPlanRequest {
        key: key.map(esxnet::saved_plan::PlanKey::new),
        ..SavedPlanRequest::new(&saved, &target)
    };
    let error = ops::load_saved_plan(&with(Some("battery-staple")))
        .err()
        .expect("another key is refused");
    assert!(format!("{error:#}").contains("signature does not match"), "{error:#}");
    // Without a key the signature is not checked; the plan is still made again.
    let again = ops::load_saved_plan(&with(None)).expect("a signed plan applies without the key");
    assert_eq!(again.plan, made, "unchanged hosts plan again to the saved plan");
    drop(again);
    let checked = ops::load_saved_plan(&with(Some("correct-horse"))).expect("its own key verifies");
    let report = ops::apply(checked, ApplyRequest::default()).unwrap();
    assert!(report.succeeded(), "{report:?}");
    // The saved plan is done now: applying it again changes nothing and is still accepted.
    let done = ops::load_saved_plan(&with(Some("correct-horse"))).expect("a done plan is accepted");
    assert!(!done.plan.summary.has_changes(), "{:?}", done.plan.summary);
}

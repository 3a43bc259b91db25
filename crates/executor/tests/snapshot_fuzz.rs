//! Snapshot files as a hostile peer hands them over: a saved fleet in JSON or YAML, cut, spliced
//! with YAML and JSON punctuation, or wrapped in deep nesting. `SnapshotBackend::open` never
//! panics and never takes long: it reads a fleet or says why not. A bounded number of cases runs
//! in the suite; `PROPTEST_CASES=2000` runs more.

use std::time::{Duration, Instant};

use esxnet_executor::testing::fresh_fleet;
use esxnet_executor::SnapshotBackend;
use proptest::prelude::*;

/// Text spliced into a snapshot: punctuation of both formats, anchors, tags, control characters.
fn splice() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[".repeat(5000)),
        Just("{a: ".repeat(2000)),
        Just("&a [*a]".to_owned()),
        Just("!!binary AAAA".to_owned()),
        Just("\t".to_owned()),
        Just("\u{1b}[2J".to_owned()),
        Just("---\n".to_owned()),
        Just("\"".to_owned()),
        Just("}".to_owned()),
        Just(": ".to_owned()),
        Just("- ".to_owned()),
        "[ -~]{0,12}",
    ]
}

fn check(text: &str, extension: &str) -> Result<(), TestCaseError> {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join(format!("fleet.{extension}"));
    std::fs::write(&path, text).unwrap();
    let started = Instant::now();
    let _ = SnapshotBackend::open(&path);
    // Generous for a loaded machine; a deep file took minutes before it was bounded.
    prop_assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_mutated_snapshot_is_read_or_refused_quickly(
        yaml in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        inserted in splice(),
        wrap in 0usize..200_000,
    ) {
        let fleet = fresh_fleet(2);
        let mut text = if yaml {
            serde_yaml::to_string(&fleet).unwrap()
        } else {
            serde_json::to_string_pretty(&fleet).unwrap()
        };
        let boundaries: Vec<usize> = (0..=text.len()).filter(|index| text.is_char_boundary(*index)).collect();
        let at = *at.get(&boundaries);
        text.insert_str(at, &inserted);
        // Cut somewhere in the second half, so most of the fleet is still there.
        let boundaries: Vec<usize> = (text.len() / 2..=text.len())
            .filter(|index| text.is_char_boundary(*index))
            .collect();
        text.truncate(*cut.get(&boundaries));
        if wrap > 100_000 {
            text = format!("{}{text}{}", "[".repeat(wrap), "]".repeat(wrap));
        }
        check(&text, if yaml { "yaml" } else { "json" })?;
    }
}

#[test]
fn a_400_kilobyte_nested_yaml_snapshot_is_refused_at_once() {
    let text = format!("hosts:\n  esx-01: {}{}\n", "[".repeat(200_000), "]".repeat(200_000));
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("deep.yaml");
    std::fs::write(&path, text).unwrap();
    let started = Instant::now();
    let error = SnapshotBackend::open(&path).expect_err("refused").to_string();
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert!(error.contains("deep.yaml") && error.contains("line 2"), "{error}");
}

//! Saved plans as a hostile peer hands them over: one honest plan of the examples, saved, then
//! mutated anywhere in its JSON (a value replaced by another of any type, a field removed, an
//! item repeated). Reading and checking the mutated file never panics, and it is either refused
//! or accepted as exactly the plan the manifests make: nothing but the honest plan can reach
//! apply. A bounded number of cases runs in the suite; `PROPTEST_CASES=2000` runs more.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use esxnet::ops::{self, PlanRequest, SavedPlanRequest};
use esxnet_planner::Plan;
use proptest::prelude::*;
use serde_json::Value;

/// The lab, the honest plan and its saved JSON, made once for every case.
struct Fixture {
    _scratch: tempfile::TempDir,
    target: String,
    directory: PathBuf,
    honest: Plan,
    saved: Value,
    /// The lab has one writer at a time: the tests take turns.
    turn: std::sync::Mutex<()>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let scratch = tempfile::tempdir().unwrap();
        let directory = scratch.path().to_path_buf();
        let target = format!("sim:{}", directory.join("lab").display());
        let paths = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests/examples")];
        let planned = ops::plan(&PlanRequest::new(&paths, &target))
            .unwrap()
            .planned()
            .unwrap();
        let path = directory.join("honest.json");
        ops::save_plan(&planned.plan, &planned.made_from, None, &path).unwrap();
        let saved = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        Fixture {
            target,
            honest: planned.plan.clone(),
            directory,
            saved,
            turn: std::sync::Mutex::new(()),
            _scratch: scratch,
        }
    })
}

/// JSON pointers to every value of a document, the root left out.
fn pointers(value: &Value, at: String, into: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                let pointer = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                into.push(pointer.clone());
                pointers(field, pointer, into);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let pointer = format!("{at}/{index}");
                into.push(pointer.clone());
                pointers(item, pointer, into);
            }
        }
        _ => {}
    }
}

/// Values a mutation puts in place: each JSON type, and values esxnet gives meaning to.
fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(4095),
            Just(9000),
            Just(99999),
            Just(i64::MAX)
        ]
        .prop_map(Value::from),
        prop_oneof![
            Just(""),
            Just("vmk0"),
            Just("esx-02.lab.example"),
            Just("delete"),
            Just("create"),
            Just("10.99.99.99"),
            Just("sim:elsewhere"),
            Just("\u{1b}[2J"),
        ]
        .prop_map(Value::from),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!(["vmnic0"])),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    Remove,
    Repeat,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => replacement().prop_map(Mutation::Replace),
        1 => Just(Mutation::Remove),
        1 => Just(Mutation::Repeat),
    ]
}

/// Applies a mutation at a pointer; `false` when it does not apply there.
fn mutate(document: &mut Value, pointer: &str, mutation: &Mutation) -> bool {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return false;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    let Some(parent) = document.pointer_mut(parent) else {
        return false;
    };
    match (parent, mutation) {
        (Value::Object(fields), Mutation::Replace(value)) => {
            fields.insert(key, value.clone());
        }
        (Value::Object(fields), Mutation::Remove) => {
            fields.remove(&key);
        }
        (Value::Array(items), mutation) => {
            let Ok(index) = key.parse::<usize>() else { return false };
            match mutation {
                Mutation::Replace(value) => items[index] = value.clone(),
                Mutation::Remove => {
                    items.remove(index);
                }
                Mutation::Repeat => {
                    let item = items[index].clone();
                    items.insert(index, item);
                }
            }
        }
        _ => return false,
    }
    true
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_mutated_saved_plan_is_refused_or_is_the_honest_plan(
        choices in prop::collection::vec((any::<prop::sample::Index>(), mutation()), 1..4),
    ) {
        let fixture = fixture();
        let mut document = fixture.saved.clone();
        let mut applied = 0;
        for (index, mutation) in &choices {
            let mut all = Vec::new();
            pointers(&document, String::new(), &mut all);
            if all.is_empty() {
                break;
            }
            let pointer = index.get(&all).clone();
            applied += usize::from(mutate(&mut document, &pointer, mutation));
        }
        prop_assume!(applied > 0);
        let path = fixture.directory.join(format!("mutated-{}.json", std::process::id()));
        std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
        let _turn = fixture.turn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let outcome = ops::load_saved_plan(&SavedPlanRequest::new(&path, &fixture.target));
        if let Ok(planned) = outcome {
            prop_assert_eq!(&planned.plan, &fixture.honest, "an accepted plan is the honest one");
        }
    }
}

#[test]
fn the_honest_saved_plan_is_accepted_as_itself() {
    let fixture = fixture();
    let path = fixture.directory.join("unmutated.json");
    std::fs::write(&path, serde_json::to_vec(&fixture.saved).unwrap()).unwrap();
    let _turn = fixture.turn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let planned = ops::load_saved_plan(&SavedPlanRequest::new(&path, &fixture.target)).unwrap();
    assert_eq!(planned.plan, fixture.honest);
}

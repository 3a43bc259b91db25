//! Hostile input as data: every `tests/hostile/<case>/case.cmd` is run with the real binary, like
//! the CLI transcripts (`tests/transcripts.rs`), and its last command's exit code, standard output
//! and standard error are compared with `expected.out` beside it.
//!
//! A case runs in a fresh scratch directory holding `manifests/` (a copy of the example
//! manifests) and every other file of the case's folder. `case.cmd` has one instruction a line:
//!
//! - `# …` — a comment: say what the case shows;
//! - `env NAME=VALUE` — set a variable for the commands after it;
//! - `esxnet ARGUMENTS…` — a command, arguments separated by spaces (no quoting). Every command
//!   but the last is a setup step that must exit 0; the last one is the case;
//! - `edit FILE POINTER = JSON` — set the value at a JSON pointer of a JSON file (`-` as the last
//!   token appends to an array); `= @NAME` takes the value from the case's file NAME;
//!   `[SCRATCH]` in the value is the scratch directory;
//! - `edit FILE POINTER delete` — remove the value at a pointer;
//! - `swap FILE POINTER POINTER` — exchange two values of a JSON file;
//! - `symlink LINK TARGET` — make a symbolic link;
//! - `append FILE TEXT` — append TEXT to a file (made if missing); `\n`, `\t` and `\s` (a space)
//!   are escapes;
//! - `repeat FILE TEXT COUNT` — append TEXT COUNT times (large inputs need not be checked in);
//! - `applies` — the case's last command may change the lab (by default it must not).
//!
//! Whatever the case, the last command must not panic and must exit 0 or 1 (2 means only
//! "changes" or "drift"); and unless the case says `applies`, when a lab `lab/` existed before it, its host
//! files must be byte for byte as before the last command and the simulator's call counters must
//! show no call but observations: nothing hostile input asks for reaches the backend.
//!
//! What differs between runs is normalised: the scratch directory is written `[SCRATCH]`.
//! Refresh with `UPDATE_EXPECT=1 cargo test -p esxnet --test hostile`, then read the diff.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use esxnet_sim::backend::OBSERVE_METHOD;
use esxnet_sim::SimBackend;
use serde_json::Value;
use snapbox::assert::Action;

/// One step of a case.
#[derive(Debug)]
enum Step {
    Environment(String, String),
    Esxnet(Vec<String>),
    Set {
        file: String,
        pointer: String,
        value: String,
    },
    Delete {
        file: String,
        pointer: String,
    },
    Swap {
        file: String,
        first: String,
        second: String,
    },
    Symlink {
        link: String,
        target: String,
    },
    Append {
        file: String,
        text: String,
        count: usize,
    },
}

#[derive(Debug, Default)]
struct Case {
    steps: Vec<Step>,
    applies: bool,
}

fn parse(path: &Path, text: &str) -> Result<Case, String> {
    let mut case = Case::default();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        let at = || format!("{}:{}", path.display(), number + 1);
        let words: Vec<&str> = line.split_whitespace().collect();
        let step = match words.as_slice() {
            [] => continue,
            [first, ..] if first.starts_with('#') => continue,
            ["applies"] => {
                case.applies = true;
                continue;
            }
            ["env", assignment] => {
                let (name, value) = assignment
                    .split_once('=')
                    .ok_or_else(|| format!("{}: `env` needs NAME=VALUE", at()))?;
                Step::Environment(name.to_owned(), value.to_owned())
            }
            ["esxnet", arguments @ ..] => Step::Esxnet(arguments.iter().map(|word| (*word).to_owned()).collect()),
            ["edit", file, pointer, "delete"] => Step::Delete {
                file: (*file).to_owned(),
                pointer: (*pointer).to_owned(),
            },
            ["edit", file, pointer, "=", ..] => {
                let value = line.split_once(" = ").map(|(_, value)| value).unwrap_or_default();
                Step::Set {
                    file: (*file).to_owned(),
                    pointer: (*pointer).to_owned(),
                    value: value.to_owned(),
                }
            }
            ["swap", file, first, second] => Step::Swap {
                file: (*file).to_owned(),
                first: (*first).to_owned(),
                second: (*second).to_owned(),
            },
            ["append", file, text @ ..] if !text.is_empty() => Step::Append {
                file: (*file).to_owned(),
                text: unescape(&text.join(" ")),
                count: 1,
            },
            ["repeat", file, text, count] => Step::Append {
                file: (*file).to_owned(),
                text: unescape(text),
                count: count.parse().map_err(|_| format!("{}: `repeat` needs a count", at()))?,
            },
            ["symlink", link, target] => Step::Symlink {
                link: (*link).to_owned(),
                target: (*target).to_owned(),
            },
            _ => return Err(format!("{}: not an instruction of case.cmd: {line:?}", at())),
        };
        case.steps.push(step);
    }
    if !case.steps.iter().any(|step| matches!(step, Step::Esxnet(_))) {
        return Err(format!("{}: no `esxnet …` command", path.display()));
    }
    Ok(case)
}

fn unescape(text: &str) -> String {
    text.replace("\\n", "\n").replace("\\t", "\t").replace("\\s", " ")
}

fn copy_folder(from: &Path, into: &Path, skip: &[&str]) {
    std::fs::create_dir_all(into).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if skip.contains(&name.as_str()) {
            continue;
        }
        if path.is_dir() {
            copy_folder(&path, &into.join(&name), &[]);
        } else {
            std::fs::copy(&path, into.join(&name)).unwrap();
        }
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}

fn write_json(path: &Path, value: &Value) -> Result<(), String> {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap())
        .map_err(|error| format!("{}: {error}", path.display()))
}

/// Sets the value at `pointer`; a last token `-` appends to an array.
fn set(document: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let (parent, last) = pointer
        .rsplit_once('/')
        .ok_or_else(|| format!("{pointer}: a JSON pointer starts with /"))?;
    let parent = document
        .pointer_mut(parent)
        .ok_or_else(|| format!("{pointer}: no value at {parent}"))?;
    match parent {
        Value::Array(items) if last == "-" => items.push(value),
        Value::Array(items) => {
            let index: usize = last.parse().map_err(|_| format!("{pointer}: {last} is not an index"))?;
            *items
                .get_mut(index)
                .ok_or_else(|| format!("{pointer}: no item {index}"))? = value;
        }
        Value::Object(fields) => {
            fields.insert(last.replace("~1", "/").replace("~0", "~"), value);
        }
        _ => return Err(format!("{pointer}: {parent} holds no fields")),
    }
    Ok(())
}

fn delete(document: &mut Value, pointer: &str) -> Result<(), String> {
    let (parent, last) = pointer
        .rsplit_once('/')
        .ok_or_else(|| format!("{pointer}: a JSON pointer starts with /"))?;
    match document.pointer_mut(parent) {
        Some(Value::Array(items)) => {
            let index: usize = last.parse().map_err(|_| format!("{pointer}: {last} is not an index"))?;
            if index >= items.len() {
                return Err(format!("{pointer}: no item {index}"));
            }
            items.remove(index);
        }
        Some(Value::Object(fields)) => {
            fields
                .remove(&last.replace("~1", "/").replace("~0", "~"))
                .ok_or_else(|| format!("{pointer}: no field {last}"))?;
        }
        _ => return Err(format!("{pointer}: no array or object at {parent}")),
    }
    Ok(())
}

/// Every file below `directory`, by path, with its bytes.
fn files_below(directory: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(directory) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_below(&path));
        } else {
            files.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    files
}

/// Calls other than observations that the lab's last writer session made, as `host: method ×n`.
fn mutating_calls(lab: &Path) -> Vec<String> {
    let Ok(counters) = SimBackend::read_counters(lab) else {
        // No writer opened the lab: nothing could be applied.
        return Vec::new();
    };
    counters
        .hosts
        .iter()
        .flat_map(|(host, calls)| {
            calls
                .calls
                .iter()
                .filter(|(method, _)| method.as_str() != OBSERVE_METHOD)
                .map(move |(method, count)| format!("{host}: {method} ×{count}"))
        })
        .collect()
}

fn run_step(step: &Step, case_folder: &Path, scratch: &Path) -> Result<(), String> {
    let in_scratch = |name: &str| scratch.join(name);
    match step {
        Step::Set { file, pointer, value } => {
            let text = match value.strip_prefix('@') {
                Some(name) => {
                    std::fs::read_to_string(case_folder.join(name)).map_err(|error| format!("{name}: {error}"))?
                }
                None => value.clone(),
            };
            let text = text.replace("[SCRATCH]", &scratch.display().to_string());
            let value: Value = serde_json::from_str(&text).map_err(|error| format!("{value}: {error}"))?;
            let mut document = read_json(&in_scratch(file))?;
            set(&mut document, pointer, value)?;
            write_json(&in_scratch(file), &document)
        }
        Step::Delete { file, pointer } => {
            let mut document = read_json(&in_scratch(file))?;
            delete(&mut document, pointer)?;
            write_json(&in_scratch(file), &document)
        }
        Step::Swap { file, first, second } => {
            let mut document = read_json(&in_scratch(file))?;
            let first_value = document.pointer(first).cloned().ok_or(format!("no value at {first}"))?;
            let second_value = document
                .pointer(second)
                .cloned()
                .ok_or(format!("no value at {second}"))?;
            set(&mut document, first, second_value)?;
            set(&mut document, second, first_value)?;
            write_json(&in_scratch(file), &document)
        }
        Step::Symlink { link, target } => {
            std::os::unix::fs::symlink(target, in_scratch(link)).map_err(|error| format!("symlink {link}: {error}"))
        }
        Step::Append { file, text, count } => {
            use std::io::Write;
            let mut handle = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(in_scratch(file))
                .map_err(|error| format!("{file}: {error}"))?;
            handle
                .write_all(text.repeat(*count).as_bytes())
                .map_err(|error| format!("{file}: {error}"))
        }
        Step::Environment(..) | Step::Esxnet(_) => Ok(()),
    }
}

fn hostile_case(path: &Path, text: String) -> datatest_stable::Result<()> {
    let case = parse(path, &text)?;
    let case_folder = path.parent().expect("a case's folder");
    let scratch = tempfile::tempdir()?;
    let scratch_path = scratch.path().canonicalize()?;
    copy_folder(&support::examples(), &scratch_path.join("manifests"), &[]);
    copy_folder(case_folder, &scratch_path, &["case.cmd", "expected.out"]);
    let last = case
        .steps
        .iter()
        .rposition(|step| matches!(step, Step::Esxnet(_)))
        .expect("parse checked");
    let mut environment: Vec<(String, String)> = Vec::new();
    let mut transcript = String::new();
    let mut problems: Vec<String> = Vec::new();
    for (index, step) in case.steps.iter().enumerate() {
        let Step::Esxnet(arguments) = step else {
            if let Step::Environment(name, value) = step {
                environment.push((name.clone(), value.clone()));
            }
            run_step(step, case_folder, &scratch_path).map_err(|error| format!("{}: {error}", path.display()))?;
            continue;
        };
        let lab = scratch_path.join("lab");
        let lab_before = lab.is_dir();
        let hosts_before = files_below(&lab.join("hosts"));
        if index == last {
            // The counters then hold the last command's writer session only, if it had one.
            let _ = std::fs::remove_file(lab.join("counters.json"));
        }
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let mut command = support::command(&scratch_path, &arguments);
        command.env_remove("ESXNET_PLAN_KEY");
        for (name, value) in &environment {
            command.env(name, value);
        }
        let output = command.output()?;
        let code = output.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if index < last {
            if code != 0 {
                return Err(format!(
                    "{}: setup step `esxnet {}` exited {code}:\n{stdout}{stderr}",
                    path.display(),
                    arguments.join(" ")
                )
                .into());
            }
            continue;
        }
        if code != 0 && code != 1 {
            problems.push(format!(
                "exited {code}: hostile input ends in 0 or 1, never 2 or a signal"
            ));
        }
        if stderr.contains("panicked") {
            problems.push("panicked".to_owned());
        }
        // A lab the last command made (on first use) was not there to be changed.
        if !case.applies && lab_before {
            if files_below(&lab.join("hosts")) != hosts_before {
                problems.push("the lab's host files changed".to_owned());
            }
            let calls = mutating_calls(&lab);
            if !calls.is_empty() {
                problems.push(format!("the backend got calls that change hosts: {}", calls.join(", ")));
            }
        }
        transcript = format!(
            "$ esxnet {}\nexit: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}",
            arguments.join(" ")
        );
    }
    if !problems.is_empty() {
        return Err(format!("{}: {}\n{transcript}", path.display(), problems.join("; ")).into());
    }
    let actual = transcript.replace(&scratch_path.display().to_string(), "[SCRATCH]");
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|value| !value.is_empty() && value != "0");
    snapbox::Assert::new()
        .action(if update { Action::Overwrite } else { Action::Verify })
        .eq(
            actual,
            snapbox::Data::read_from(&case_folder.join("expected.out"), None).raw(),
        );
    Ok(())
}

datatest_stable::harness! {
    { test = hostile_case, root = "../../tests/hostile", pattern = r"case\.cmd$" },
}

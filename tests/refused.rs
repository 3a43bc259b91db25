//! Values a host would refuse are refused before anything is applied: a table of bad manifests
//! (`tests/refused/cases.txt`), each validated and applied with the real binary on a fresh lab.
//! Every case must exit with its code, name its rule, file, line, column and field, and leave the
//! lab's host files byte for byte as they were with no mutating call counted by the simulator.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use esxnet_sim::backend::OBSERVE_METHOD;
use esxnet_sim::SimBackend;
use support::{esxnet, repository};

/// The hosts every case's lab has (common.yaml declares them).
const HOSTS: &str = "esx-01.lab.example,esx-02.lab.example";

/// One line of `cases.txt`.
#[derive(Debug)]
struct Case {
    file: String,
    init_options: Vec<String>,
    exit_code: i32,
    rule: String,
    location: String,
    field: String,
}

fn cases_folder() -> PathBuf {
    repository().join("tests/refused")
}

fn read_cases() -> Vec<Case> {
    let table = std::fs::read_to_string(cases_folder().join("cases.txt")).expect("tests/refused/cases.txt");
    table
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|line| {
            let columns: Vec<&str> = line.split('|').map(str::trim).collect();
            let [file, init_options, exit_code, rule, location, field] = columns[..] else {
                panic!("cases.txt: a case has six columns separated by '|': {line}");
            };
            Case {
                file: file.to_owned(),
                init_options: init_options.split_whitespace().map(str::to_owned).collect(),
                exit_code: exit_code
                    .parse()
                    .unwrap_or_else(|_| panic!("cases.txt: bad exit code in {line}")),
                rule: rule.to_owned(),
                location: location.to_owned(),
                field: field.to_owned(),
            }
        })
        .collect()
}

/// Every file below `directory`, by path, with its bytes.
fn files_below(directory: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(directory).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_below(&path));
        } else {
            files.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    files
}

/// What went wrong with one case; empty when it passed.
fn check(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let scratch = tempfile::tempdir().unwrap();
    let directory = scratch.path();
    let mut init = vec!["sim", "init", "lab", "--hosts", HOSTS];
    init.extend(case.init_options.iter().map(String::as_str));
    let made = esxnet(directory, &init);
    assert_eq!(made.code, 0, "{}: {}", case.file, made.all());
    for file in ["common.yaml", case.file.as_str()] {
        std::fs::copy(cases_folder().join(file), directory.join(file))
            .unwrap_or_else(|error| panic!("tests/refused/{file}: {error}"));
    }
    let hosts_before = files_below(&directory.join("lab/hosts"));

    let expectations = [
        format!("error[{}]", case.rule),
        format!("--> {}", case.location),
        format!("= field: {}", case.field),
    ];
    for command in ["validate", "apply"] {
        let mut arguments = vec![command, "common.yaml", case.file.as_str(), "--target", "sim:lab"];
        if command == "apply" {
            arguments.push("--auto-approve");
        }
        let run = esxnet(directory, &arguments);
        if run.code != case.exit_code {
            problems.push(format!(
                "`esxnet {}` exited {} instead of {}:\n{}",
                arguments.join(" "),
                run.code,
                case.exit_code,
                run.all()
            ));
        }
        for expected in &expectations {
            if !run.stderr.contains(expected.as_str()) {
                problems.push(format!(
                    "`esxnet {}` does not say `{expected}`:\n{}",
                    arguments.join(" "),
                    run.stderr
                ));
            }
        }
        if command == "apply" && !run.stderr.contains("nothing was applied") {
            problems.push(format!("apply does not say that nothing was applied:\n{}", run.stderr));
        }
    }

    if files_below(&directory.join("lab/hosts")) != hosts_before {
        problems.push("the lab's host files changed".to_owned());
    }
    // The apply's writer session saved its calls: it observed the hosts and changed nothing.
    match SimBackend::read_counters(directory.join("lab")) {
        Ok(counters) => {
            let mut observed = 0;
            for (host, calls) in &counters.hosts {
                for (method, count) in &calls.calls {
                    if method == OBSERVE_METHOD {
                        observed += count;
                    } else {
                        problems.push(format!("{host} got {count} {method} call(s)"));
                    }
                }
            }
            if observed == 0 {
                problems.push("apply never observed the lab, so the case proves nothing about it".to_owned());
            }
        }
        Err(error) => problems.push(format!("the apply left no call counters: {error}")),
    }
    problems
}

#[test]
fn host_refused_values_are_diagnostics_and_nothing_is_applied() {
    let cases = read_cases();
    assert!(!cases.is_empty(), "cases.txt lists no case");
    // Every case file is in the table, so none is silently skipped.
    let mut listed: Vec<&str> = cases.iter().map(|case| case.file.as_str()).collect();
    listed.push("common.yaml");
    for entry in std::fs::read_dir(cases_folder()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") {
            assert!(
                listed.contains(&name.as_str()),
                "tests/refused/{name} is not in cases.txt"
            );
        }
    }
    let failures: Vec<String> = cases
        .iter()
        .flat_map(|case| {
            check(case)
                .into_iter()
                .map(move |problem| format!("{}: {problem}", case.file))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

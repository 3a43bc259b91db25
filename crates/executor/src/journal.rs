//! The journal: an append-only JSON-lines file saying what every run attempted and how it ended.
//!
//! It explains a run, it does not drive one: a killed apply is resumed by applying again, and the
//! preconditions skip what is already done. Each line is written whole with one `write` call and
//! the file is synced at the end of a run, so a killed run leaves at most one torn last line,
//! which [`read_journal`] tolerates. Lines never hold credentials: only hosts, addresses and
//! operations as sentences.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use esxnet_model::observed::{ObservedFleet, ObservedHost};
use esxnet_planner::{Address, Phase};
use serde::{Deserialize, Serialize};

use crate::error::ExecutorError;
use crate::report::{Counts, StepOutcome};

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// When, in RFC 3339 UTC with milliseconds.
    pub time: String,
    /// The run it belongs to.
    pub run_id: String,
    /// What happened.
    #[serde(flatten)]
    pub record: JournalRecord,
}

/// A server a run reached some of its hosts through: a manifest `Target` document as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournaledTarget {
    /// The document's name.
    pub name: String,
    /// `spec.server` as written: a user name at most, never a password.
    pub server: String,
    /// Where its password is read (a variable's or file's name, never the password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<esxnet_model::manifest::PasswordFrom>,
    /// The run's hosts on this server.
    pub hosts: Vec<String>,
}

/// What a journal line records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "entry")]
pub enum JournalRecord {
    /// A run began.
    RunStarted {
        /// The target's description (never credentials).
        target: String,
        /// The hosts of the plan.
        hosts: Vec<String>,
        /// The servers of a run over several (the manifests' `Target` documents), so that
        /// `esxnet rollback` and `esxnet confirm` find its hosts from the journal alone; empty
        /// for a run through one target.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        targets: Vec<JournaledTarget>,
    },
    /// A step's operations are about to be sent.
    StepStarted {
        /// The host.
        host: String,
        /// The change's address.
        address: Address,
        /// Which half of the change.
        phase: Phase,
        /// The operations, as sentences.
        operations: Vec<String>,
    },
    /// A step ended: applied, already in target, failed, blocked, stale or not run.
    StepFinished {
        /// The host.
        host: String,
        /// The change's address.
        address: Address,
        /// Which half of the change.
        phase: Phase,
        /// How it ended.
        result: StepOutcome,
    },
    /// A host's state before the run changed it: what a rollback puts back. Written once per
    /// host with steps, before its first step.
    HostBefore {
        /// The host.
        host: String,
        /// Its observed state.
        state: Box<ObservedHost>,
    },
    /// A host's state once every step of the run succeeded on it: what the run changed is what
    /// differs from its before-state, and a rollback puts back only that. Written after its last
    /// step (or its verification); a host the run did not finish has none.
    HostAfter {
        /// The host.
        host: String,
        /// Its state after the run: as verification read it, or as the executor recorded each
        /// step when the run did not verify.
        state: Box<ObservedHost>,
    },
    /// This run puts hosts back to their state before another run.
    Rollback {
        /// The run it undoes.
        of_run: String,
        /// Why.
        reason: String,
    },
    /// The run's changes stay only if `esxnet confirm` arrives before the deadline.
    ConfirmationPending {
        /// The deadline, RFC 3339 UTC.
        deadline: String,
        /// The deadline in milliseconds since the Unix epoch, for comparisons.
        deadline_unix_ms: u64,
    },
    /// `esxnet confirm` kept the run's changes.
    Confirmed,
    /// A run ended.
    RunFinished {
        /// Whether every host converged.
        succeeded: bool,
        /// The run's counts.
        counts: Counts,
    },
}

/// An open journal file, shared by the walker's threads.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

impl Journal {
    /// Opens (or creates) a journal for appending. A torn last line left by a killed run is
    /// closed with a newline first, so the new lines stay readable.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, ExecutorError> {
        let path = path.as_ref().to_path_buf();
        let write_error = |source| ExecutorError::JournalWrite {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(write_error)?;
        let length = file.metadata().map_err(write_error)?.len();
        if length > 0 {
            let mut last_byte = [0u8; 1];
            file.seek(SeekFrom::End(-1)).map_err(write_error)?;
            file.read_exact(&mut last_byte).map_err(write_error)?;
            if last_byte[0] != b'\n' {
                file.write_all(b"\n").map_err(write_error)?;
            }
        }
        Ok(Journal {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line, written whole and flushed to the operating system before returning.
    pub fn append(&self, run_id: &str, record: JournalRecord) -> Result<(), ExecutorError> {
        let entry = JournalEntry {
            time: now_rfc3339(),
            run_id: run_id.to_owned(),
            record,
        };
        let mut line = serde_json::to_string(&entry).map_err(|error| ExecutorError::JournalWrite {
            path: self.path.clone(),
            source: std::io::Error::other(error),
        })?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let length_before = file.metadata().map(|metadata| metadata.len()).ok();
        let written = file.write_all(line.as_bytes()).and_then(|()| file.flush());
        if written.is_err() {
            // A line cut short (a full disk) is taken back, so that it cannot sit in the middle
            // of the file once later lines fit again; best effort, the error is what counts.
            if let Some(length) = length_before {
                let _ = file.set_len(length);
            }
        }
        written.map_err(|source| ExecutorError::JournalWrite {
            path: self.path.clone(),
            source,
        })
    }

    /// Forces the journal to disk (fsync).
    pub fn sync(&self) -> Result<(), ExecutorError> {
        let file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        file.sync_all().map_err(|source| ExecutorError::JournalWrite {
            path: self.path.clone(),
            source,
        })
    }
}

/// A journal read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalContents {
    /// Every readable line, in file order.
    pub entries: Vec<JournalEntry>,
    /// Line numbers (from 1) that could not be read: lines torn by a killed run.
    pub damaged_lines: Vec<usize>,
}

/// What the last run in a journal did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LastRun {
    /// Its id.
    pub run_id: String,
    /// Its target.
    pub target: Option<String>,
    /// Whether it ended (false: killed or still running).
    pub finished: bool,
    /// Whether every host converged, when it ended.
    pub succeeded: Option<bool>,
    /// Steps by outcome label (`applied`, `failed`, …).
    pub outcomes: std::collections::BTreeMap<String, usize>,
    /// Steps that failed, with why.
    pub failures: Vec<(Address, String)>,
    /// Steps that started and never finished: where a killed run stopped.
    pub interrupted: Vec<String>,
}

impl JournalContents {
    /// A summary of the last run in the journal, if there is one.
    pub fn last_run(&self) -> Option<LastRun> {
        let run_id = self.entries.last()?.run_id.clone();
        let mut last_run = LastRun {
            run_id: run_id.clone(),
            ..LastRun::default()
        };
        let mut started: Vec<(Address, Phase)> = Vec::new();
        for entry in self.entries.iter().filter(|entry| entry.run_id == run_id) {
            match &entry.record {
                JournalRecord::RunStarted { target, .. } => last_run.target = Some(target.clone()),
                JournalRecord::StepStarted { address, phase, .. } => started.push((address.clone(), *phase)),
                JournalRecord::StepFinished {
                    address, phase, result, ..
                } => {
                    started.retain(|(started_address, started_phase)| {
                        (started_address, started_phase) != (address, phase)
                    });
                    *last_run.outcomes.entry(result.label().to_owned()).or_default() += 1;
                    if let StepOutcome::Failed { message, .. } | StepOutcome::Stale { message } = result {
                        last_run.failures.push((address.clone(), message.clone()));
                    }
                }
                JournalRecord::RunFinished { succeeded, .. } => {
                    last_run.finished = true;
                    last_run.succeeded = Some(*succeeded);
                }
                JournalRecord::HostBefore { .. }
                | JournalRecord::HostAfter { .. }
                | JournalRecord::Rollback { .. }
                | JournalRecord::ConfirmationPending { .. }
                | JournalRecord::Confirmed => {}
            }
        }
        last_run.interrupted = started
            .into_iter()
            .map(|(address, phase)| format!("{address} ({phase})"))
            .collect();
        Some(last_run)
    }
}

impl JournalContents {
    /// The entries of one run, in file order.
    pub fn run(&self, run_id: &str) -> impl Iterator<Item = &JournalEntry> + '_ {
        let run_id = run_id.to_owned();
        self.entries.iter().filter(move |entry| entry.run_id == run_id)
    }

    /// Whether the journal has the run at all.
    pub fn has_run(&self, run_id: &str) -> bool {
        self.run(run_id).next().is_some()
    }

    /// The state each host of a run had before the run changed it ([`JournalRecord::HostBefore`];
    /// the first one of a host counts).
    pub fn before_states(&self, run_id: &str) -> ObservedFleet {
        let mut fleet = ObservedFleet::default();
        for entry in self.run(run_id) {
            if let JournalRecord::HostBefore { host, state } = &entry.record {
                fleet.hosts.entry(host.clone()).or_insert_with(|| (**state).clone());
            }
        }
        fleet
    }

    /// The servers a run over several `Target` documents reached its hosts through; empty for a
    /// run through one target.
    pub fn targets(&self, run_id: &str) -> Vec<JournaledTarget> {
        self.run(run_id)
            .find_map(|entry| match &entry.record {
                JournalRecord::RunStarted { targets, .. } => Some(targets.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The time of the run's first line, RFC 3339 UTC (they sort as text).
    pub fn started(&self, run_id: &str) -> Option<&str> {
        self.run(run_id).next().map(|entry| entry.time.as_str())
    }

    /// The state each host of a run was left in, for the hosts the run finished
    /// ([`JournalRecord::HostAfter`]; the last one of a host counts).
    pub fn after_states(&self, run_id: &str) -> ObservedFleet {
        let mut fleet = ObservedFleet::default();
        for entry in self.run(run_id) {
            if let JournalRecord::HostAfter { host, state } = &entry.record {
                fleet.hosts.insert(host.clone(), (**state).clone());
            }
        }
        fleet
    }

    /// The run's confirmation deadline, if it asked for confirmation, and whether it was confirmed.
    pub fn confirmation(&self, run_id: &str) -> Option<(u64, bool)> {
        let mut deadline = None;
        let mut confirmed = false;
        for entry in self.run(run_id) {
            match &entry.record {
                JournalRecord::ConfirmationPending { deadline_unix_ms, .. } => deadline = Some(*deadline_unix_ms),
                JournalRecord::Confirmed => confirmed = true,
                _ => {}
            }
        }
        deadline.map(|deadline| (deadline, confirmed))
    }
}

/// Reads a journal. Lines that cannot be read (torn by a killed run) are skipped and listed.
pub fn read_journal(path: impl AsRef<Path>) -> Result<JournalContents, ExecutorError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| ExecutorError::JournalRead {
        path: path.to_path_buf(),
        source,
    })?;
    // A torn line may end inside a multi-byte character, so read bytes leniently.
    let text = String::from_utf8_lossy(&bytes);
    let mut contents = JournalContents::default();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<JournalEntry>(line) {
            Ok(entry) => contents.entries.push(entry),
            Err(_) => contents.damaged_lines.push(index + 1),
        }
    }
    Ok(contents)
}

/// The current time in RFC 3339 UTC with milliseconds, such as `2026-01-31T12:00:00.123Z`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let stamp = now_rfc3339();
        assert_eq!(stamp.len(), "2026-01-31T12:00:00.123Z".len(), "{stamp}");
        assert!(stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T', "{stamp}");
    }
}

//! `snapshot:FILE`: a read-only backend over observed state saved by `esxnet observe`.

use std::path::{Path, PathBuf};

use esxnet_model::observed::{ObservedFleet, ObservedHost};

use crate::backend::{Backend, BackendError, Fault, Operation, OperationOutcome};
use crate::error::ExecutorError;

/// Observed state read from a JSON or YAML file; plan and drift work without credentials, apply
/// is refused.
#[derive(Debug, Clone)]
pub struct SnapshotBackend {
    path: PathBuf,
    fleet: ObservedFleet,
}

impl SnapshotBackend {
    /// Reads a snapshot. `.json` files are read as JSON, `.yaml`/`.yml` as YAML, anything else as
    /// JSON when it starts with `{` and YAML otherwise.
    pub fn open(path: impl AsRef<Path>) -> Result<SnapshotBackend, ExecutorError> {
        let path = path.as_ref().to_path_buf();
        let text = std::fs::read_to_string(&path).map_err(|source| ExecutorError::SnapshotRead {
            path: path.clone(),
            source,
        })?;
        let extension = path
            .extension()
            .and_then(|extension| extension.to_str())
            .map(str::to_ascii_lowercase);
        let is_json = match extension.as_deref() {
            Some("json") => true,
            Some("yaml" | "yml") => false,
            _ => text.trim_start().starts_with('{'),
        };
        let fleet = if is_json {
            serde_json::from_str::<ObservedFleet>(&text).map_err(|error| ExecutorError::SnapshotParse {
                path: path.clone(),
                format: "JSON",
                problem: error.to_string(),
            })?
        } else {
            // serde_json stops at 128 levels by itself; serde_yaml would take minutes first.
            esxnet_model::source::check_yaml_depth(&text).map_err(|error| ExecutorError::SnapshotParse {
                path: path.clone(),
                format: "YAML",
                problem: format!("{} at line {} column {}", error.message, error.line, error.column),
            })?;
            serde_yaml::from_str::<ObservedFleet>(&text).map_err(|error| ExecutorError::SnapshotParse {
                path: path.clone(),
                format: "YAML",
                problem: error.to_string(),
            })?
        };
        Ok(SnapshotBackend { path, fleet })
    }

    /// A snapshot over a fleet already in memory (the path is only for messages).
    pub fn from_fleet(path: impl AsRef<Path>, fleet: ObservedFleet) -> SnapshotBackend {
        SnapshotBackend {
            path: path.as_ref().to_path_buf(),
            fleet,
        }
    }

    /// The observed state it holds.
    pub fn fleet(&self) -> &ObservedFleet {
        &self.fleet
    }
}

impl Backend for SnapshotBackend {
    fn describe(&self) -> String {
        format!("snapshot:{}", self.path.display())
    }

    fn host_names(&self) -> Result<Vec<String>, BackendError> {
        Ok(self.fleet.hosts.keys().cloned().collect())
    }

    fn observe(&self, host: &str) -> Result<ObservedHost, BackendError> {
        self.fleet.hosts.get(host).cloned().ok_or_else(|| {
            BackendError::new(
                Fault::UnknownHost,
                format!(
                    "host {host} is not in snapshot {}; observe it again with `esxnet observe`",
                    self.path.display()
                ),
            )
        })
    }

    fn observe_many(&self, hosts: &[String]) -> Result<ObservedFleet, BackendError> {
        let mut fleet = ObservedFleet::default();
        for host in hosts {
            if let Some(observed) = self.fleet.hosts.get(host) {
                fleet.hosts.insert(host.clone(), observed.clone());
            }
        }
        Ok(fleet)
    }

    fn batches_observation(&self) -> bool {
        true
    }

    fn execute(&self, _host: &str, _operation: &Operation) -> Result<OperationOutcome, BackendError> {
        Err(BackendError::new(
            Fault::NotImplemented,
            "snapshot targets are read-only; apply against sim: or vsphere:",
        ))
    }

    fn is_writable(&self) -> bool {
        false
    }
}

//! The simulator's one error type and how it maps onto the executor's faults.

use std::path::PathBuf;
use std::time::Duration;

use esxnet_executor::{BackendError, Fault};

/// Everything that can go wrong in the simulator: faults a simulated host raises the way ESXi
/// would, and failures of the lab directory itself.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The object to create exists already (vSphere `AlreadyExists`).
    #[error("{message}")]
    AlreadyExists {
        /// What exists and what to do about it.
        message: String,
    },
    /// The object named does not exist (vSphere `NotFound`).
    #[error("{message}")]
    NotFound {
        /// What is missing and what to do about it.
        message: String,
    },
    /// The object is in use by another one (vSphere `ResourceInUse`).
    #[error("{message}")]
    ResourceInUse {
        /// What uses it and what to do about it.
        message: String,
    },
    /// An argument is invalid (vSphere `InvalidArgument`).
    #[error("{message}")]
    InvalidArgument {
        /// What is wrong and what to do about it.
        message: String,
    },
    /// The host is not in a state that allows the call (vSphere `InvalidState`).
    #[error("{message}")]
    InvalidState {
        /// What state is wrong and what to do about it.
        message: String,
    },
    /// A transient fault injected by the lab settings, before the call took effect.
    #[error("simulated transient fault ({fault:?}) on host {host} during {method}: retry the call")]
    Transient {
        /// [`Fault::Busy`] or [`Fault::Timeout`].
        fault: Fault,
        /// The host called.
        host: String,
        /// The vSphere method called.
        method: String,
    },
    /// The lab has no host by that name.
    #[error("the lab at {} has no host named {host}: list its hosts with `esxnet observe`", dir.display())]
    UnknownHost {
        /// The host asked for.
        host: String,
        /// The lab directory.
        dir: PathBuf,
    },
    /// A file or directory of the lab could not be read or written.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done, such as `read host file`.
        action: String,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A lab file is not valid JSON of the expected shape.
    #[error("{} is not a valid lab file: {source}; restore it or create the lab again with `esxnet sim init`", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A lab file parses but contradicts itself or the lab (another host's name, a reference to
    /// an object the host does not have, settings outside their bounds).
    #[error("{} is not a consistent lab file: {message}; restore it or create the lab again with `esxnet sim init`", path.display())]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A lab file was written by a newer or older, incompatible format.
    #[error("{} has lab format version {found}, this esxnet reads version {expected}: create the lab again with `esxnet sim init`", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The version this build reads and writes.
        expected: u32,
    },
    /// `init` was asked to create a lab where one exists already.
    #[error("{} already holds a lab: remove the directory or choose another one", dir.display())]
    LabExists {
        /// The directory.
        dir: PathBuf,
    },
    /// The directory is not a lab.
    #[error("{} is not a simulator lab (no lab.json): create one with `esxnet sim init`", dir.display())]
    NotALab {
        /// The directory.
        dir: PathBuf,
    },
    /// Another writer holds the lab's lock.
    #[error("the lab at {} is locked by another writer ({holder}); waited {waited:?}: wait for it to finish or stop it", dir.display())]
    LockHeld {
        /// The lab directory.
        dir: PathBuf,
        /// Who holds the lock, as the holder wrote it into the lock file.
        holder: String,
        /// How long this writer waited.
        waited: Duration,
    },
    /// A change was asked of a lab opened read-only.
    #[error("the lab at {} was opened read-only: open it for writing to change hosts", dir.display())]
    ReadOnly {
        /// The lab directory.
        dir: PathBuf,
    },
    /// Options given to create a lab are invalid.
    #[error("{message}")]
    InvalidOptions {
        /// What is wrong and what to do about it.
        message: String,
    },
}

impl SimError {
    /// The vSphere-style fault this error stands for.
    pub fn fault(&self) -> Fault {
        match self {
            SimError::AlreadyExists { .. } => Fault::AlreadyExists,
            SimError::NotFound { .. } => Fault::NotFound,
            SimError::ResourceInUse { .. } => Fault::ResourceInUse,
            SimError::InvalidArgument { .. } | SimError::InvalidOptions { .. } => Fault::InvalidArgument,
            SimError::InvalidState { .. } | SimError::ReadOnly { .. } => Fault::InvalidState,
            SimError::Transient { fault, .. } => *fault,
            SimError::UnknownHost { .. } => Fault::UnknownHost,
            SimError::Io { .. }
            | SimError::Corrupt { .. }
            | SimError::Inconsistent { .. }
            | SimError::UnsupportedFormat { .. }
            | SimError::LabExists { .. }
            | SimError::NotALab { .. } => Fault::Storage,
            // Another writer may finish soon: retrying later can succeed.
            SimError::LockHeld { .. } => Fault::Busy,
        }
    }

    pub(crate) fn already_exists(message: impl Into<String>) -> Self {
        SimError::AlreadyExists {
            message: message.into(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        SimError::NotFound {
            message: message.into(),
        }
    }

    pub(crate) fn in_use(message: impl Into<String>) -> Self {
        SimError::ResourceInUse {
            message: message.into(),
        }
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        SimError::InvalidArgument {
            message: message.into(),
        }
    }

    pub(crate) fn invalid_state(message: impl Into<String>) -> Self {
        SimError::InvalidState {
            message: message.into(),
        }
    }

    pub(crate) fn io(action: impl Into<String>, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SimError::Io {
            action: action.into(),
            path: path.into(),
            source,
        }
    }
}

impl From<SimError> for BackendError {
    fn from(error: SimError) -> Self {
        BackendError::new(error.fault(), error.to_string())
    }
}

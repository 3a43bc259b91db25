//! Progress events: how the walker tells a caller what it is doing, without printing.

use std::time::Duration;

use esxnet_planner::{Address, Phase};
use serde::Serialize;

use crate::report::{HostOutcome, StepOutcome};

/// Something the walker did. Events of different hosts interleave; events of one host come in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// The run began.
    RunStarted {
        /// The run's id.
        run_id: String,
        /// Hosts to apply (refused hosts included).
        hosts: usize,
        /// Steps over all hosts.
        steps: usize,
    },
    /// A host's chain began.
    HostStarted {
        /// The host.
        host: String,
        /// Its steps.
        steps: usize,
    },
    /// A step began.
    StepStarted {
        /// The host.
        host: String,
        /// The change's address.
        address: Address,
        /// Which half of the change.
        phase: Phase,
        /// Its position in the host's steps, from 0.
        index: usize,
    },
    /// A backend call failed transiently and will be retried.
    Retrying {
        /// The host.
        host: String,
        /// The change's address, or `None` while observing.
        address: Option<Address>,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// The pause before the next attempt.
        delay: Duration,
        /// The fault's message.
        message: String,
    },
    /// A step ended (blocked and not-run steps included).
    StepFinished {
        /// The host.
        host: String,
        /// The change's address.
        address: Address,
        /// Which half of the change.
        phase: Phase,
        /// Its position in the host's steps, from 0.
        index: usize,
        /// How it ended.
        outcome: StepOutcome,
    },
    /// A host was verified after its changes.
    Verified {
        /// The host.
        host: String,
        /// Whether every check held.
        passed: bool,
    },
    /// A host is being put back to its state before the run.
    RollingBack {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// Every host is done; the changes stay only if `esxnet confirm RUN_ID` arrives by the deadline.
    AwaitingConfirmation {
        /// The run to confirm.
        run_id: String,
        /// The deadline, RFC 3339 UTC.
        deadline: String,
    },
    /// A host's chain ended.
    HostFinished {
        /// The host.
        host: String,
        /// How it ended.
        outcome: HostOutcome,
    },
}

/// Hears the walker's events. Called from worker threads, so it must be `Sync`; keep it quick.
pub trait Observer: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
}

impl<Function> Observer for Function
where
    Function: Fn(&Event) + Send + Sync,
{
    fn event(&self, event: &Event) {
        self(event)
    }
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct IgnoreEvents;

impl Observer for IgnoreEvents {
    fn event(&self, _event: &Event) {}
}

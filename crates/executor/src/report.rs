//! What an apply did: per step, per change, per host, and in counts.

use esxnet_planner::state::ObjectKind;
use esxnet_planner::{Action, Address, Phase};
use serde::{Deserialize, Serialize};

use crate::backend::Fault;

/// The version of the report's JSON format. Consumers ignore fields they do not know.
pub const REPORT_FORMAT_VERSION: u32 = 1;

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum StepOutcome {
    /// The operations were sent and succeeded.
    Applied {
        /// The operations, as sentences.
        operations: Vec<String>,
    },
    /// The object was already in its target state; nothing was sent.
    AlreadyInTarget,
    /// The step failed: a permanent fault, retries ran out, or the plan did not fit.
    Failed {
        /// The backend's fault, when a backend call failed.
        fault: Option<Fault>,
        /// What went wrong.
        message: String,
    },
    /// Not run because a step it depends on failed.
    Blocked {
        /// The address of the failed step's change.
        by: Address,
    },
    /// The object is neither in its planned before state nor in its target: the host stopped here.
    Stale {
        /// The sentence naming the host and address.
        message: String,
    },
    /// Not run because the host stopped (stale plan, or it could not be observed).
    NotRun {
        /// Why.
        reason: String,
    },
}

impl StepOutcome {
    /// Whether the step's target state is reached.
    pub fn is_success(&self) -> bool {
        matches!(self, StepOutcome::Applied { .. } | StepOutcome::AlreadyInTarget)
    }

    /// A short word for progress lines and the journal.
    pub fn label(&self) -> &'static str {
        match self {
            StepOutcome::Applied { .. } => "applied",
            StepOutcome::AlreadyInTarget => "already in target",
            StepOutcome::Failed { .. } => "failed",
            StepOutcome::Blocked { .. } => "blocked",
            StepOutcome::Stale { .. } => "stale",
            StepOutcome::NotRun { .. } => "not run",
        }
    }
}

/// One step of one host's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    /// The change's address.
    pub address: Address,
    /// The object's kind.
    pub kind: ObjectKind,
    /// Which half of the change.
    pub phase: Phase,
    /// How it ended.
    pub outcome: StepOutcome,
    /// Backend calls made for its operations, retries included (0 when nothing was sent).
    pub attempts: u32,
}

/// One change, its steps taken together (a replace has two).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeReport {
    /// The change's address.
    pub address: Address,
    /// What the plan said to do.
    pub action: Action,
    /// The first unsuccessful step's outcome, else `Applied` if anything was sent, else
    /// `AlreadyInTarget`.
    pub outcome: StepOutcome,
}

/// How a host ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostOutcome {
    /// Every step reached its target.
    Ok,
    /// A step failed (its dependents were blocked), or the host could not be observed.
    Failed,
    /// The host changed since the plan was made; it stopped at the first such object.
    Stale,
    /// The plan refused this host (its manifests have errors); nothing was attempted.
    Refused,
    /// Its changes were made, then undone: verification failed, or the run was not confirmed in
    /// time. The host is back in its state before the run (see `rollback`).
    RolledBack,
    /// Not started: the run's failure budget was spent (`--max-failures`, `--canary`).
    NotStarted,
}

impl HostOutcome {
    /// How reports name the outcome to people: `ok`, `failed`, `stale plan`, `not planned`,
    /// `rolled back`, `not started`.
    pub fn label(self) -> &'static str {
        match self {
            HostOutcome::Ok => "ok",
            HostOutcome::Failed => "failed",
            HostOutcome::Stale => "stale plan",
            HostOutcome::Refused => "not planned",
            HostOutcome::RolledBack => "rolled back",
            HostOutcome::NotStarted => "not started",
        }
    }
}

/// One host's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReport {
    /// The host.
    pub host: String,
    /// How it ended.
    pub outcome: HostOutcome,
    /// Why, when it did not end `Ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Every step in execution order.
    pub steps: Vec<StepReport>,
    /// Every change with steps, in execution order of its first step.
    pub changes: Vec<ChangeReport>,
    /// How many times the host was observed during the run.
    pub observations: u32,
    /// What was checked after its changes, when the run verifies hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<crate::verify::Verification>,
    /// How it was put back, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackReport>,
}

/// How a host was put back to its state before the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackReport {
    /// The rollback's own run id in the journal.
    pub run_id: String,
    /// Why it was rolled back.
    pub reason: String,
    /// Whether the host is back in its before-state (observed again and compared).
    pub restored: bool,
    /// The rollback's steps.
    pub steps: Vec<StepReport>,
    /// What went wrong, when it is not restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Counts over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Steps whose operations were sent.
    pub applied: usize,
    /// Steps already in their target state.
    pub already_in_target: usize,
    /// Steps that failed.
    pub failed: usize,
    /// Steps blocked by a failed step.
    pub blocked: usize,
    /// Steps that found a stale object.
    pub stale: usize,
    /// Steps not run because their host stopped.
    pub not_run: usize,
    /// Hosts that converged.
    pub hosts_ok: usize,
    /// Hosts with a failure.
    pub hosts_failed: usize,
    /// Hosts stopped by a stale plan.
    pub hosts_stale: usize,
    /// Hosts the plan refused.
    pub hosts_refused: usize,
    /// Hosts changed, then put back.
    #[serde(default)]
    pub hosts_rolled_back: usize,
    /// Hosts not started because the failure budget was spent.
    #[serde(default)]
    pub hosts_not_started: usize,
}

impl Counts {
    /// The steps and hosts in one line, as the apply and merge reports print them:
    /// `7 steps applied, 0 already done, 0 failed, 0 blocked; 1 hosts ok, 0 failed, 0 stale`.
    pub fn line(&self) -> String {
        format!(
            "{} steps applied, {} already done, {} failed, {} blocked; {} hosts ok, {} failed, {} stale",
            self.applied,
            self.already_in_target,
            self.failed,
            self.blocked,
            self.hosts_ok,
            self.hosts_failed,
            self.hosts_stale
        )
    }
}

/// The result of [`crate::apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// [`REPORT_FORMAT_VERSION`].
    pub format_version: u32,
    /// The run's id, as written in the journal.
    pub run_id: String,
    /// The target's description.
    pub target: String,
    /// Every host of the plan, in the plan's order.
    pub hosts: Vec<HostReport>,
    /// Counts.
    pub counts: Counts,
    /// The first problem writing the journal, if any: the run went on without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_problem: Option<String>,
}

impl ApplyReport {
    /// Whether every host converged (refused hosts count as not converged).
    pub fn succeeded(&self) -> bool {
        self.hosts.iter().all(|host| host.outcome == HostOutcome::Ok)
    }

    /// A host's report.
    pub fn host(&self, host: &str) -> Option<&HostReport> {
        self.hosts.iter().find(|report| report.host == host)
    }

    /// Builds a report and its counts.
    pub(crate) fn new(run_id: String, target: String, hosts: Vec<HostReport>, journal_problem: Option<String>) -> Self {
        let mut counts = Counts::default();
        for host in &hosts {
            match host.outcome {
                HostOutcome::Ok => counts.hosts_ok += 1,
                HostOutcome::Failed => counts.hosts_failed += 1,
                HostOutcome::Stale => counts.hosts_stale += 1,
                HostOutcome::Refused => counts.hosts_refused += 1,
                HostOutcome::RolledBack => counts.hosts_rolled_back += 1,
                HostOutcome::NotStarted => counts.hosts_not_started += 1,
            }
            for step in &host.steps {
                match step.outcome {
                    StepOutcome::Applied { .. } => counts.applied += 1,
                    StepOutcome::AlreadyInTarget => counts.already_in_target += 1,
                    StepOutcome::Failed { .. } => counts.failed += 1,
                    StepOutcome::Blocked { .. } => counts.blocked += 1,
                    StepOutcome::Stale { .. } => counts.stale += 1,
                    StepOutcome::NotRun { .. } => counts.not_run += 1,
                }
            }
        }
        ApplyReport {
            format_version: REPORT_FORMAT_VERSION,
            run_id,
            target,
            hosts,
            counts,
            journal_problem,
        }
    }
}

impl HostReport {
    /// The step report of a change's phase.
    pub fn step(&self, address: &Address, phase: Phase) -> Option<&StepReport> {
        self.steps
            .iter()
            .find(|step| step.address == *address && step.phase == phase)
    }

    /// The report of a change.
    pub fn change(&self, address: &Address) -> Option<&ChangeReport> {
        self.changes.iter().find(|change| change.address == *address)
    }
}

/// Rolls a host's steps up into one outcome per change.
pub(crate) fn change_reports(steps: &[StepReport], actions: impl Fn(&Address) -> Action) -> Vec<ChangeReport> {
    let mut changes: Vec<ChangeReport> = Vec::new();
    for step in steps {
        match changes.iter_mut().find(|change| change.address == step.address) {
            None => changes.push(ChangeReport {
                address: step.address.clone(),
                action: actions(&step.address),
                outcome: step.outcome.clone(),
            }),
            Some(change) => {
                change.outcome = match (&change.outcome, &step.outcome) {
                    (earlier, _) if !earlier.is_success() => earlier.clone(),
                    (_, later) if !later.is_success() => later.clone(),
                    (StepOutcome::Applied { operations: first }, StepOutcome::Applied { operations: second }) => {
                        StepOutcome::Applied {
                            operations: first.iter().chain(second).cloned().collect(),
                        }
                    }
                    (applied @ StepOutcome::Applied { .. }, _) | (_, applied @ StepOutcome::Applied { .. }) => {
                        applied.clone()
                    }
                    _ => StepOutcome::AlreadyInTarget,
                }
            }
        }
    }
    changes
}

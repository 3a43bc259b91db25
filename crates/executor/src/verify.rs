//! Verification of a host after its changes: is it still there, is it what the plan said, and
//! can each changed adapter reach its network.
//!
//! - **connected**: the host is read again through the target, and its connection state is
//!   asked where the target has one ([`Backend::connection_state`], vCenter's
//!   `runtime.connectionState`); a host that cannot be read, or is not `connected`, may be cut off.
//! - **state**: every change's object is in the plan's after-state
//!   ([`esxnet_planner::state::ObjectState::satisfies`], as the preconditions compare).
//! - **reachability**: every adapter the plan created, updated or replaced, judged by what its
//!   active uplinks see ([`Backend::network_hints`], [`esxnet_planner::reach`]): its VLAN not
//!   carried by the switch ports, or its address or gateway outside every subnet seen on its
//!   VLAN, fails; silence (no traffic seen yet, no hints at all) is reported as unverified.

use esxnet_model::observed::ObservedHost;
use esxnet_planner::reach::{self, Finding};
use esxnet_planner::state::{self, Identity, ObjectKind};
use esxnet_planner::{Action, Change};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::retry::RetryPolicy;

/// What verifying one host found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Whether no check failed.
    pub passed: bool,
    /// Every check, in the order made.
    pub checks: Vec<Check>,
}

impl Verification {
    /// The first failed check.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|check| check.outcome == CheckOutcome::Failed)
    }
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// `connected`, `state` or `reachability`.
    pub check: String,
    /// What was checked: the host, an address, an adapter.
    pub subject: String,
    /// How it came out.
    pub outcome: CheckOutcome,
    /// What was found.
    pub message: String,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// It holds.
    Passed,
    /// It does not: the host is rolled back.
    Failed,
    /// Nothing to judge by.
    Unverified,
}

/// Verifies `host` after its `changes` were applied. Answers the host as observed, when it
/// could be read.
pub(crate) fn verify_host(
    backend: &dyn Backend,
    host: &str,
    changes: &[&Change],
    known_hints: Option<&[esxnet_model::hints::NicHint]>,
    retry: &RetryPolicy,
) -> (Verification, Option<ObservedHost>) {
    let mut checks = Vec::new();
    // One read where the backend can: the host and its connection state at the same moment.
    let (observed, _) = retry.run(|| backend.observe_with_connection_state(host), |_, _, _| {});
    let observed = match observed {
        Ok((observed, state)) => {
            let (outcome, message) = match state {
                Ok(None) => (
                    CheckOutcome::Passed,
                    format!("host {host} answers through {}", backend.describe()),
                ),
                Ok(Some(state)) if state == "connected" => (
                    CheckOutcome::Passed,
                    format!("host {host} is connected to {}", backend.describe()),
                ),
                Ok(Some(state)) => (
                    CheckOutcome::Failed,
                    format!(
                        "host {host} is {state} in {}: it may be cut off by its changes",
                        backend.describe()
                    ),
                ),
                Err(error) => (
                    CheckOutcome::Unverified,
                    format!("the connection state of {host} could not be read: {error}"),
                ),
            };
            checks.push(Check {
                check: "connected".to_owned(),
                subject: host.to_owned(),
                outcome,
                message,
            });
            if outcome == CheckOutcome::Failed {
                return (finish(checks), Some(observed));
            }
            observed
        }
        Err(error) => {
            checks.push(Check {
                check: "connected".to_owned(),
                subject: host.to_owned(),
                outcome: CheckOutcome::Failed,
                message: format!(
                    "host {host} could not be read after its changes: {error}; it may be cut off from {}",
                    backend.describe()
                ),
            });
            return (finish(checks), None);
        }
    };

    for change in changes.iter().filter(|change| change.action != Action::Noop) {
        let current = state::current_state(&observed, &change.identity);
        let in_target = match (&current, &change.after) {
            (None, None) => true,
            (Some(current), Some(after)) => current.satisfies(after),
            // A deleted adapter's device may be taken by an adapter this plan created: then the
            // identity finds that one, in its own target state.
            (Some(current), None) => changes.iter().any(|other| {
                other.address != change.address && other.after.as_ref().is_some_and(|after| current.satisfies(after))
            }),
            (None, Some(_)) => false,
        };
        if !in_target {
            let fields = esxnet_planner::diff::field_changes(change.after.as_ref(), current.as_ref());
            let differing: Vec<&str> = fields.iter().map(|field| field.path.as_str()).collect();
            let what = if current.is_none() {
                "it is missing".to_owned()
            } else if change.after.is_none() {
                "it is still there".to_owned()
            } else {
                format!("{} differ", differing.join(", "))
            };
            checks.push(Check {
                check: "state".to_owned(),
                subject: change.address.to_string(),
                outcome: CheckOutcome::Failed,
                message: format!("{} is not in its planned state after apply: {what}", change.address),
            });
        }
    }
    if !checks.iter().any(|check| check.check == "state") {
        checks.push(Check {
            check: "state".to_owned(),
            subject: host.to_owned(),
            outcome: CheckOutcome::Passed,
            message: format!("every change of {host} is in its planned state"),
        });
    }

    let adapters: Vec<&&Change> = changes
        .iter()
        .filter(|change| {
            change.kind == ObjectKind::VmkernelAdapter
                && matches!(change.action, Action::Create | Action::Update | Action::Replace)
        })
        .collect();
    if !adapters.is_empty() {
        // The run's pre-flight answer where there is one; the question otherwise.
        let hints = match known_hints {
            Some(known) => Ok(Some(known.to_vec())),
            None => retry.run(|| backend.network_hints(host), |_, _, _| {}).0,
        };
        match hints {
            Err(error) => checks.push(Check {
                check: "reachability".to_owned(),
                subject: host.to_owned(),
                outcome: CheckOutcome::Unverified,
                message: format!("the network hints of {host} could not be read: {error}"),
            }),
            Ok(None) => checks.push(Check {
                check: "reachability".to_owned(),
                subject: host.to_owned(),
                outcome: CheckOutcome::Unverified,
                message: format!(
                    "{} reports no network hints: reachability not checked",
                    backend.describe()
                ),
            }),
            Ok(Some(hints)) => {
                for change in adapters {
                    let Identity::VmkernelAdapter { device, connection } = &change.identity else {
                        continue;
                    };
                    let Some(adapter) = state::find_adapter(&observed, device.as_deref(), connection) else {
                        continue;
                    };
                    let Some(path) = reach::adapter_path(&observed, adapter) else {
                        checks.push(Check {
                            check: "reachability".to_owned(),
                            subject: change.address.to_string(),
                            outcome: CheckOutcome::Unverified,
                            message: format!(
                                "{} is on a distributed port group: its uplinks are vCenter's",
                                adapter.device
                            ),
                        });
                        continue;
                    };
                    let finding = reach::judge(&path, &hints);
                    let outcome = match finding {
                        Finding::Seen => CheckOutcome::Passed,
                        Finding::Silent | Finding::NoHints => CheckOutcome::Unverified,
                        Finding::NotCarried | Finding::OutsideSubnets { .. } => CheckOutcome::Failed,
                    };
                    checks.push(Check {
                        check: "reachability".to_owned(),
                        subject: change.address.to_string(),
                        outcome,
                        message: reach::describe(host, &path, &finding, &hints),
                    });
                }
            }
        }
    }
    (finish(checks), Some(observed))
}

fn finish(checks: Vec<Check>) -> Verification {
    Verification {
        passed: !checks.iter().any(|check| check.outcome == CheckOutcome::Failed),
        checks,
    }
}

//! Whether a saved plan still fits the hosts it was made for.

use esxnet_model::observed::ObservedFleet;
use esxnet_planner::{state, Address, HostStatus, Plan};
use serde::Serialize;

use crate::error::ExecutorError;
use crate::precondition;

/// A host whose observed state no longer fits a saved plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleHost {
    /// The host.
    pub host: String,
    /// The addresses of the objects that changed; empty when the host itself is gone.
    pub changed: Vec<Address>,
}

impl StaleHost {
    /// One sentence naming the host and what changed.
    pub fn describe(&self) -> String {
        if self.changed.is_empty() {
            format!("host {} is no longer reported by the target", self.host)
        } else {
            format!(
                "host {} changed since the plan was made ({})",
                self.host,
                self.changed
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

impl std::fmt::Display for StaleHost {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.describe())
    }
}

/// The planned hosts whose state no longer fits a saved plan.
///
/// A host fits when its fingerprint is unchanged, or else when every object the plan mentions is
/// still in its planned before state, already in its target state, or at a point a partly
/// applied run leaves it (so a saved plan resumes after a killed apply). Refused hosts are not
/// checked: they are not applied.
pub fn check_fingerprints(plan: &Plan, observed: &ObservedFleet) -> Vec<StaleHost> {
    let mut stale = Vec::new();
    // Built once: after a killed apply every host's fingerprint has changed, and looking up each
    // host's changes by a scan of the whole plan made that check quadratic in the fleet.
    let mut index = None;
    for host_plan in plan.hosts.iter().filter(|host| host.status == HostStatus::Planned) {
        let Some(observed_host) = observed.hosts.get(&host_plan.host) else {
            stale.push(StaleHost {
                host: host_plan.host.clone(),
                changed: Vec::new(),
            });
            continue;
        };
        if esxnet_planner::fingerprint(observed_host) == host_plan.fingerprint {
            continue;
        }
        let changed: Vec<Address> = index
            .get_or_insert_with(|| plan.change_index())
            .host_changes(&host_plan.host)
            .iter()
            .filter(|change| {
                let current = state::current_state(observed_host, &change.identity);
                !precondition::accounted_for(change, current.as_ref())
            })
            .map(|change| change.address.clone())
            .collect();
        if !changed.is_empty() {
            stale.push(StaleHost {
                host: host_plan.host.clone(),
                changed,
            });
        }
    }
    stale
}

/// [`check_fingerprints`] as a result: `Err` names every stale host and object.
pub fn ensure_plan_is_fresh(plan: &Plan, observed: &ObservedFleet) -> Result<(), ExecutorError> {
    let hosts = check_fingerprints(plan, observed);
    if hosts.is_empty() {
        Ok(())
    } else {
        Err(ExecutorError::StaleSavedPlan { hosts })
    }
}

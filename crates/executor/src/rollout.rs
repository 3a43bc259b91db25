//! How a run goes through the fleet safely: which hosts go first, when to stop, and whether the
//! changes stay without a confirmation.
//!
//! - [`Safety::verify`]: every host whose steps all succeeded is verified ([`crate::verify`]);
//!   one that fails is put back to its state before the run, by a plan made from that state
//!   ([`esxnet_planner::restore`]) and applied like any other, journaled under its own run id.
//! - [`Safety::canary`]: the first N hosts with changes, in plan order, run alone; the others
//!   start once they are done, at most `parallelism` at a time.
//! - [`Safety::max_failures`]: once that many hosts failed or were rolled back, no further host
//!   starts; hosts in flight finish (or roll back). With a canary and no budget, one failure
//!   stops the run.
//! - [`Safety::confirm`]: after every host is done, the run waits for a confirmation; without one
//!   in time, every host it changed is rolled back.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How many failed hosts stop a run: a count, or a percentage of the hosts with changes
/// (rounded up, at least one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureBudget {
    /// This many hosts.
    Hosts(usize),
    /// This percentage of the hosts with changes.
    Percent(u8),
}

impl FailureBudget {
    /// The number of failed hosts that stops a run of `hosts` hosts with changes.
    pub fn limit(self, hosts: usize) -> usize {
        match self {
            FailureBudget::Hosts(count) => count,
            FailureBudget::Percent(percent) => (hosts * usize::from(percent)).div_ceil(100).max(1),
        }
    }
}

impl FromStr for FailureBudget {
    type Err = String;

    fn from_str(text: &str) -> Result<FailureBudget, String> {
        let invalid = || {
            format!("\"{text}\" is not a failure budget: give a number of hosts such as 1, or a percentage such as 10%")
        };
        match text.trim().strip_suffix('%') {
            Some(percent) => match percent.trim().parse::<u8>() {
                Ok(percent) if (1..=100).contains(&percent) => Ok(FailureBudget::Percent(percent)),
                _ => Err(invalid()),
            },
            None => match text.trim().parse::<usize>() {
                Ok(count) if count >= 1 => Ok(FailureBudget::Hosts(count)),
                _ => Err(invalid()),
            },
        }
    }
}

impl fmt::Display for FailureBudget {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureBudget::Hosts(count) => write!(formatter, "{count}"),
            FailureBudget::Percent(percent) => write!(formatter, "{percent}%"),
        }
    }
}

/// Asks whether a run was confirmed (`esxnet confirm` writes the journal; the caller reads it).
pub trait ConfirmationSource: Send + Sync {
    /// Whether the run is confirmed now.
    fn is_confirmed(&self) -> bool;
}

impl<Function> ConfirmationSource for Function
where
    Function: Fn() -> bool + Send + Sync,
{
    fn is_confirmed(&self) -> bool {
        self()
    }
}

/// A confirmed apply: the window, and where the confirmation comes from.
#[derive(Clone)]
pub struct Confirmation {
    /// How long the changes wait for a confirmation.
    pub within: Duration,
    /// Where it comes from.
    pub source: Arc<dyn ConfirmationSource>,
    /// How often to look (the window's end is always looked at too).
    pub poll_interval: Duration,
}

impl fmt::Debug for Confirmation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Confirmation")
            .field("within", &self.within)
            .finish_non_exhaustive()
    }
}

/// What makes a run safe; the default is none of it (every host at once, no verification).
#[derive(Debug, Clone, Default)]
pub struct Safety {
    /// Verify each host after its changes and roll back one that fails.
    pub verify: bool,
    /// How many hosts with changes run first, alone.
    pub canary: usize,
    /// How many failed hosts stop the run.
    pub max_failures: Option<FailureBudget>,
    /// Keep the changes only when confirmed in time.
    pub confirm: Option<Confirmation>,
}

impl Safety {
    /// The number of failed hosts that stops a run with `hosts` hosts with changes, if any does.
    pub fn failure_limit(&self, hosts: usize) -> Option<usize> {
        match (self.max_failures, self.canary) {
            (Some(budget), _) => Some(budget.limit(hosts)),
            (None, 0) => None,
            (None, _) => Some(1),
        }
    }
}

/// Parses a duration such as `5m`, `90s`, `1h30m` or `500ms` (`--confirm-within`).
pub fn parse_window(text: &str) -> Result<Duration, String> {
    let window = humantime::parse_duration(text.trim())
        .map_err(|error| format!("\"{text}\" is not a duration ({error}): give one such as 5m or 90s"))?;
    if window.is_zero() {
        return Err(format!(
            "\"{text}\" leaves no time to confirm: give a duration such as 5m"
        ));
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_is_a_count_or_a_percentage_of_the_hosts_with_changes() {
        assert_eq!("1".parse::<FailureBudget>(), Ok(FailureBudget::Hosts(1)));
        assert_eq!("10%".parse::<FailureBudget>(), Ok(FailureBudget::Percent(10)));
        assert_eq!(FailureBudget::Percent(10).limit(4), 1);
        assert_eq!(FailureBudget::Percent(10).limit(25), 3);
        assert_eq!(FailureBudget::Percent(50).limit(4), 2);
        for bad in ["0", "0%", "101%", "-1", "x", ""] {
            assert!(bad.parse::<FailureBudget>().is_err(), "{bad}");
        }
        let canary_only = Safety {
            canary: 1,
            ..Safety::default()
        };
        assert_eq!(canary_only.failure_limit(10), Some(1));
        assert_eq!(Safety::default().failure_limit(10), None);
    }

    #[test]
    fn a_window_is_a_human_duration() {
        assert_eq!(parse_window("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_window("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_window("0s").is_err());
        assert!(parse_window("soon").is_err());
    }
}

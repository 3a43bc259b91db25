//! Retrying transient faults with capped exponential backoff and jitter.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::BackendError;

/// How transient faults are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// The delay before the first retry; it doubles with every further retry.
    pub base_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
    /// Attempts in all, the first included (1 means no retry).
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            max_attempts: 6,
        }
    }
}

impl RetryPolicy {
    /// A policy with short delays, for tests.
    pub fn fast() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_attempts: 6,
        }
    }

    /// The delay after the `failed_attempts`-th failure: doubling from `base_delay`, capped at
    /// `max_delay`, with "equal jitter" (half fixed, half random) so that many hosts retrying at
    /// once do not hit the server in step.
    pub fn delay_after(&self, failed_attempts: u32) -> Duration {
        let exponent = failed_attempts.saturating_sub(1).min(20);
        let uncapped = self.base_delay.saturating_mul(1u32 << exponent);
        let capped = uncapped.min(self.max_delay);
        let half = capped / 2;
        let jitter_nanos = fastrand::u64(0..=half.as_nanos().min(u128::from(u64::MAX)) as u64);
        half + Duration::from_nanos(jitter_nanos)
    }

    /// Runs `call` until it succeeds, fails permanently, or the attempts run out. `on_retry` hears
    /// of every retry (attempt number that failed, delay, error) before the pause.
    pub fn run<T>(
        &self,
        mut call: impl FnMut() -> Result<T, BackendError>,
        mut on_retry: impl FnMut(u32, Duration, &BackendError),
    ) -> (Result<T, BackendError>, u32) {
        let mut attempt = 1;
        loop {
            match call() {
                Err(error) if error.is_transient() && attempt < self.max_attempts.max(1) => {
                    let delay = self.delay_after(attempt);
                    on_retry(attempt, delay, &error);
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                result => return (result, attempt),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Fault;

    #[test]
    fn delays_double_and_stay_under_the_cap() {
        let policy = RetryPolicy::default();
        for _ in 0..50 {
            let first = policy.delay_after(1);
            assert!(first >= Duration::from_millis(25) && first <= Duration::from_millis(50));
            let third = policy.delay_after(3);
            assert!(third >= Duration::from_millis(100) && third <= Duration::from_millis(200));
            let late = policy.delay_after(30);
            assert!(late >= Duration::from_secs(1) && late <= Duration::from_secs(2));
        }
    }

    #[test]
    fn permanent_faults_are_not_retried_and_attempts_are_capped() {
        let policy = RetryPolicy::fast();
        let mut calls = 0;
        let (result, attempts) = policy.run(
            || -> Result<(), _> {
                calls += 1;
                Err(BackendError::new(Fault::InvalidArgument, "no"))
            },
            |_, _, _| {},
        );
        assert!(result.is_err());
        assert_eq!((calls, attempts), (1, 1));

        let mut calls = 0;
        let (result, attempts) = policy.run(
            || -> Result<(), _> {
                calls += 1;
                Err(BackendError::new(Fault::Timeout, "slow"))
            },
            |_, _, _| {},
        );
        assert!(result.is_err());
        assert_eq!((calls, attempts), (6, 6));
    }
}

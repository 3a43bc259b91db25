//! `ESXNET_TIMINGS=1`: how long each phase of a command took, on stderr, for profiling the whole
//! process the way users run it (the benchmarks print the totals).

use std::cell::Cell;
use std::time::Instant;

/// Phase timings, printed only when `ESXNET_TIMINGS` is set to something other than `0`.
pub struct Timings {
    enabled: bool,
    last: Cell<Instant>,
}

impl Timings {
    /// Reads `ESXNET_TIMINGS`.
    pub fn from_env() -> Timings {
        Timings {
            enabled: std::env::var_os("ESXNET_TIMINGS").is_some_and(|value| !value.is_empty() && value != "0"),
            last: Cell::new(Instant::now()),
        }
    }

    /// Prints how long the phase that just ended took.
    pub fn lap(&self, phase: &str) {
        if self.enabled {
            let now = Instant::now();
            eprintln!(
                "timing: {phase}: {:.0} ms",
                (now - self.last.get()).as_secs_f64() * 1000.0
            );
            self.last.set(now);
        }
    }
}

//! `ESXNET_TIMINGS=1`: how long each phase of a command took, and how much memory the process
//! held after it, on stderr, for profiling the whole process the way users run it (the benchmarks
//! print the totals). Memory matters to time: every new page is zeroed by the kernel first.

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

    /// Prints how long the phase that just ended took, and the resident memory after it.
    pub fn lap(&self, phase: &str) {
        if self.enabled {
            let now = Instant::now();
            let resident =
                resident_megabytes().map_or_else(String::new, |megabytes| format!(", {megabytes} MB resident"));
            eprintln!(
                "timing: {phase}: {:.0} ms{resident}",
                (now - self.last.get()).as_secs_f64() * 1000.0
            );
            self.last.set(now);
        }
    }
}

/// The process's resident memory, where `/proc` tells it (Linux).
fn resident_megabytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // 4 KiB pages: the size on every platform with this file that esxnet is built for.
    Some(pages * 4096 / (1024 * 1024))
}

//! Planning a large fleet in process: time and peak memory of `esxnet::ops::plan`, the function
//! `esxnet plan` calls, without the process, argument parsing and rendering to the terminal
//! (`--bench cli` times the whole process).
//!
//! `cargo bench -p esxnet --bench plan [-- HOSTS ROUNDS]` (defaults 10000 3). Each host gets a
//! switch, two port groups, two stacks' settings and two adapters, against a simulated lab of
//! fresh hosts. Set `ESXNET_TIMINGS=1` for the time of each phase (load, open the target,
//! observe, analyze, plan), as the command prints them.

#[path = "../../../tests/support/fleet.rs"]
mod fleet;

use std::time::Instant;

use esxnet::ops::{self, PlanRequest};
use esxnet_sim::{HostNames, InitOptions, Lab};

fn main() {
    let hosts = fleet::argument(1, 10_000);
    let rounds = fleet::argument(2, 3);
    let scratch = tempfile::tempdir().expect("scratch directory");
    let (manifests, names) = fleet::write_fleet(scratch.path(), hosts);
    let lab_dir = scratch.path().join("lab");
    drop(
        Lab::init(
            &lab_dir,
            &InitOptions {
                hosts: HostNames::Names(names),
                ..InitOptions::default()
            },
        )
        .expect("lab"),
    );
    let target = format!("sim:{}", lab_dir.display());
    let paths = [manifests];
    println!(
        "plan benchmark: {hosts} hosts, {rounds} rounds; before planning, peak memory {:.0} MiB",
        fleet::peak_memory_mib().unwrap_or(f64::NAN)
    );
    for round in 1..=rounds {
        let started = Instant::now();
        // As the command plans: the manifests and desired state are left for the exit to reclaim,
        // so the peak memory below grows by one round's worth each round.
        let request = PlanRequest {
            reclaim_at_exit: true,
            ..PlanRequest::new(&paths, &target)
        };
        let planned = ops::plan(&request)
            .expect("the benchmark fleet plans")
            .planned()
            .expect("the benchmark manifests are readable");
        let planned_at = started.elapsed();
        assert!(!planned.plan.has_errors(), "the benchmark fleet plans cleanly");
        let rendered = esxnet_planner::render::json(&planned.plan);
        let rendered_at = started.elapsed();
        println!(
            "round {round}: plan {:.0} ms (load, observe, analyze, plan); JSON render {:.0} ms ({:.1} MiB); {} changes; peak memory so far {:.0} MiB",
            planned_at.as_secs_f64() * 1000.0,
            (rendered_at - planned_at).as_secs_f64() * 1000.0,
            rendered.len() as f64 / 1_048_576.0,
            planned.plan.changes.len(),
            fleet::peak_memory_mib().unwrap_or(f64::NAN)
        );
    }
}

//! Apply's wall time against its lower bound on the simulator.
//!
//! `cargo bench -p esxnet --bench apply [-- HOSTS PARALLELISM LATENCY_MS ROUNDS]` (defaults 200 20 10 3).
//! The lower bound is hosts ÷ parallelism (rounded up) × (changes per host + one observe) × latency:
//! every host needs one fresh observation and one call per change, and calls of one host are
//! sequential. The figure to watch is the ratio; the target is at most 1.3.

#[path = "../../../tests/support/fleet.rs"]
mod fleet;

use std::time::Instant;

use esxnet_executor::{ApplyOptions, Backend};
use esxnet_model::analysis;
use esxnet_planner::PlanOptions;
use esxnet_sim::{HostNames, InitOptions, Lab, SimBackend};

fn main() {
    let hosts = fleet::argument(1, 200);
    let parallelism = fleet::argument(2, 20);
    let latency_ms = fleet::argument(3, 10) as u64;
    let rounds = fleet::argument(4, 3);
    println!(
        "apply benchmark: {hosts} hosts, parallelism {parallelism}, {latency_ms} ms per API call, {rounds} rounds"
    );
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let scratch = tempfile::tempdir().expect("scratch directory");
        let (manifests, names) = fleet::write_fleet(scratch.path(), hosts);
        let lab_dir = scratch.path().join("lab");
        let options = InitOptions {
            hosts: HostNames::Names(names.clone()),
            latency_ms,
            ..InitOptions::default()
        };
        drop(Lab::init(&lab_dir, &options).expect("lab"));
        let backend = SimBackend::open_writer(&lab_dir).expect("lab writer");
        let loaded = analysis::load(&[manifests]);
        let observed = esxnet_executor::observe_fleet(&backend, &names, parallelism).expect("observe");
        let analysis = analysis::analyze(&loaded, Some(&observed));
        let plan = esxnet_planner::plan(
            &analysis.fleet,
            &observed,
            analysis.diagnostics,
            &PlanOptions::default(),
        );
        assert!(!plan.has_errors(), "the benchmark fleet plans cleanly");
        let changes_per_host = plan.hosts.iter().map(|host| host.steps.len()).max().unwrap_or(0);
        backend.reset_counters();
        let started = Instant::now();
        let report = esxnet_executor::apply(
            &plan,
            &backend,
            &ApplyOptions {
                parallelism,
                ..ApplyOptions::default()
            },
        )
        .expect("apply runs");
        let wall = started.elapsed();
        assert!(report.succeeded(), "the benchmark apply converges");
        let waves = hosts.div_ceil(parallelism);
        let lower_bound_ms = (waves * (changes_per_host + 1)) as f64 * latency_ms as f64;
        let ratio = wall.as_secs_f64() * 1000.0 / lower_bound_ms;
        let counters = backend.counters();
        let calls_per_host = counters.total_calls as f64 / hosts as f64;
        let observes: u64 = counters
            .hosts
            .values()
            .map(|host| {
                host.calls
                    .get(esxnet_sim::backend::OBSERVE_METHOD)
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        println!(
            "round {round}: wall {:.0} ms, lower bound {lower_bound_ms:.0} ms ({waves} waves × ({changes_per_host} changes + 1 observe) × {latency_ms} ms), ratio {ratio:.3}; {calls_per_host:.1} API calls per host, {:.2} observes per host",
            wall.as_secs_f64() * 1000.0,
            observes as f64 / hosts as f64
        );
        ratios.push(ratio);
        let _ = backend.describe();
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "ratio best {:.3}, median {:.3}, worst {:.3} (target ≤ 1.3)",
        ratios[0],
        ratios[ratios.len() / 2],
        ratios[ratios.len() - 1]
    );
}

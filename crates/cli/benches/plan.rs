//! Planning a large fleet: time and peak memory.
//!
//! `cargo bench -p esxnet --bench plan [-- HOSTS ROUNDS]` (defaults 10000 3). Each host gets a
//! switch, two port groups, two stacks' settings and two adapters. Observed state comes from the
//! simulator's fresh hosts, built in memory so that reading a lab is not part of the figure.

#[path = "../../../tests/support/fleet.rs"]
mod fleet;

use std::collections::BTreeMap;
use std::time::Instant;

use esxnet_model::analysis;
use esxnet_model::observed::ObservedFleet;
use esxnet_model::EsxiVersion;
use esxnet_planner::PlanOptions;
use esxnet_sim::SimHost;

fn main() {
    let hosts = fleet::argument(1, 10_000);
    let rounds = fleet::argument(2, 3);
    let scratch = tempfile::tempdir().expect("scratch directory");
    let (manifests, names) = fleet::write_fleet(scratch.path(), hosts);
    let observed = ObservedFleet {
        hosts: names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let host = SimHost::new_installed(name, index as u32 + 1, EsxiVersion::new(8, 0, 3)).expect("sim host");
                (name.clone(), host.into_observed())
            })
            .collect::<BTreeMap<_, _>>(),
    };
    println!(
        "plan benchmark: {hosts} hosts, {rounds} rounds; before planning, peak memory {:.0} MiB",
        fleet::peak_memory_mib().unwrap_or(f64::NAN)
    );
    for round in 1..=rounds {
        let started = Instant::now();
        let loaded = analysis::load(std::slice::from_ref(&manifests));
        let loaded_at = started.elapsed();
        let lowered = esxnet_model::lower::lower(&loaded.documents, Some(&observed));
        let lowered_at = started.elapsed();
        let mut diagnostics = lowered.diagnostics;
        diagnostics.extend(esxnet_model::rules::check(&lowered.fleet, Some(&observed)));
        let checked_at = started.elapsed();
        let plan = esxnet_planner::plan(&lowered.fleet, &observed, diagnostics, &PlanOptions::default());
        let planned_at = started.elapsed();
        assert!(!plan.has_errors(), "the benchmark fleet plans cleanly");
        let rendered = esxnet_planner::render::json(&plan);
        let rendered_at = started.elapsed();
        println!(
            "round {round}: load {:.0} ms, lower {:.0} ms, rules {:.0} ms, plan {:.0} ms (total {:.0} ms); JSON render {:.0} ms ({:.1} MiB); {} changes; peak memory {:.0} MiB",
            loaded_at.as_secs_f64() * 1000.0,
            (lowered_at - loaded_at).as_secs_f64() * 1000.0,
            (checked_at - lowered_at).as_secs_f64() * 1000.0,
            (planned_at - checked_at).as_secs_f64() * 1000.0,
            planned_at.as_secs_f64() * 1000.0,
            (rendered_at - planned_at).as_secs_f64() * 1000.0,
            rendered.len() as f64 / 1_048_576.0,
            plan.changes.len(),
            fleet::peak_memory_mib().unwrap_or(f64::NAN)
        );
    }
}

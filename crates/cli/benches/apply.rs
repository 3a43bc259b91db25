//! Apply's wall time against its lower bound, as the whole `esxnet apply` process, over both
//! paths users take: the simulated lab (`sim:DIR`) and the vSphere backend against `sim serve`.
//!
//! `cargo bench -p esxnet --bench apply [-- HOSTS PARALLELISM LATENCY_MS ROUNDS]` (defaults 200 20 10 3).
//! Set `ESXNET_BENCH_PATHS=sim` or `=vsphere` to run one path only. Each path is measured as
//! `apply --no-verify` (the apply the lower bound describes) and as the default apply, which also
//! reads each changed host again to verify it (and, on vSphere, asks each host with adapter
//! changes for its network hints once): its floor is (changes + 2 observations + hints) calls a
//! host, so its ratio to the bound below cannot go under about 1.25 on this fleet.
//!
//! The lower bound is hosts ÷ parallelism (rounded up) × (changes per host + one observation) ×
//! latency: every host needs one observation and one call per change, and calls of one host are
//! sequential. The figure to watch is the ratio; the target is at most 1.3. The server of
//! the vSphere path runs in this process (so its call counters can be read); the apply is the real
//! binary, started, planning and applying as a user's pipeline would.

#[path = "../../../tests/support/fleet.rs"]
mod fleet;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use esxnet_sim::{HostNames, InitOptions, Lab, SimBackend};
use esxnet_sim_server::{ServeOptions, ServerHandle};

/// The server runs in this process, so it gets the allocator `esxnet sim serve` has (glibc's
/// malloc and free were a fifth of its CPU here): the figures are the server users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PASSWORD: &str = "bench-password";

/// The benchmark fleet's changes on a fresh host: a switch, two port groups, two stacks, two
/// adapters.
const CHANGES_PER_HOST: usize = 7;

/// What one round measured.
struct Round {
    wall: Duration,
    /// Calls that read or changed one host, on average.
    calls_per_host: f64,
    /// Of those, observations (property-collector round trips or observe calls).
    observations_per_host: f64,
    /// Calls that are no one host's change, in all: session, views and property-collector reads
    /// (one may list many hosts, as observation's do, or one, as verification's does).
    shared_calls: u64,
    /// The round's fleet and lab, removed only when the benchmark ends: on ext4 without a
    /// journal, creating files right after removing thousands of others costs a search past every
    /// inode removed in the last few seconds, so one round's cleanup would slow the next one's
    /// first writes (no user's apply follows removing a lab).
    scratch: tempfile::TempDir,
}

fn main() {
    let hosts = fleet::argument(1, 200);
    let parallelism = fleet::argument(2, 20);
    let latency_ms = fleet::argument(3, 10) as u64;
    let rounds = fleet::argument(4, 3);
    let paths = std::env::var("ESXNET_BENCH_PATHS").unwrap_or_else(|_| "sim,vsphere".to_owned());
    println!("apply benchmark: {hosts} hosts, parallelism {parallelism}, {latency_ms} ms per API call, {rounds} rounds, the whole esxnet process");
    let waves = hosts.div_ceil(parallelism);
    let lower_bound_ms = (waves * (CHANGES_PER_HOST + 1)) as f64 * latency_ms as f64;
    println!("lower bound {lower_bound_ms:.0} ms ({waves} waves × ({CHANGES_PER_HOST} changes + 1 observation) × {latency_ms} ms)");
    let mut scratches = Vec::new();
    for path in paths.split(',') {
        for no_verify in [true, false] {
            scratches.extend(measure(
                path,
                no_verify,
                hosts,
                parallelism,
                latency_ms,
                rounds,
                lower_bound_ms,
            ));
        }
    }
}

/// Rounds of one path, `--no-verify` or verified: each round's figures, then the ratios. Returns
/// the rounds' scratch directories, for the caller to remove at the end.
fn measure(
    path: &str,
    no_verify: bool,
    hosts: usize,
    parallelism: usize,
    latency_ms: u64,
    rounds: usize,
    lower_bound_ms: f64,
) -> Vec<tempfile::TempDir> {
    let label = if no_verify {
        format!("{path} --no-verify")
    } else {
        format!("{path} (verified)")
    };
    let mut ratios = Vec::new();
    let mut scratches = Vec::new();
    for round in 1..=rounds {
        let measured = match path {
            "sim" => sim_round(hosts, parallelism, latency_ms, no_verify),
            "vsphere" => vsphere_round(hosts, parallelism, latency_ms, no_verify, round == 1),
            other => panic!("unknown path {other}: use sim or vsphere"),
        };
        let ratio = measured.wall.as_secs_f64() * 1000.0 / lower_bound_ms;
        println!(
            "{label} round {round}: wall {:.0} ms, ratio {ratio:.3}; {:.2} calls per host ({:.2} observations, {CHANGES_PER_HOST} changes), {} session and property-collector calls",
            measured.wall.as_secs_f64() * 1000.0,
            measured.calls_per_host,
            measured.observations_per_host,
            measured.shared_calls,
        );
        ratios.push(ratio);
        scratches.push(measured.scratch);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "{label}: ratio best {:.3}, median {:.3}, worst {:.3} (target ≤ 1.3)",
        ratios[0],
        ratios[ratios.len() / 2],
        ratios[ratios.len() - 1]
    );
    scratches
}

/// A lab for the benchmark fleet with the given latency, and the fleet's manifests.
fn prepare(scratch: &Path, hosts: usize, latency_ms: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    let (manifests, names) = fleet::write_fleet(scratch, hosts);
    let lab_dir = scratch.join("lab");
    let options = InitOptions {
        hosts: HostNames::Names(names),
        latency_ms,
        // The network behind the hosts that `esxnet sim init` gives a lab by default: the sim
        // path asks for network hints (pre-flight, verification) as it does on a user's lab.
        fabric: Some(esxnet_sim::fabric::Fabric::examples()),
        ..InitOptions::default()
    };
    drop(Lab::init(&lab_dir, &options).expect("lab"));
    (manifests, lab_dir)
}

/// Runs `esxnet apply` to completion and returns its wall time.
fn apply(manifests: &Path, target: &str, parallelism: usize, workdir: &Path, no_verify: bool) -> Duration {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_esxnet"))
        .arg("apply")
        .arg(manifests)
        .args([
            "--target",
            target,
            "--auto-approve",
            "--parallelism",
            &parallelism.to_string(),
        ])
        .args(no_verify.then_some("--no-verify"))
        .env("ESXNET_PASSWORD", PASSWORD)
        .env("NO_COLOR", "1")
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("esxnet runs");
    let wall = started.elapsed();
    assert!(
        output.status.success(),
        "the benchmark apply converges: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    wall
}

fn sim_round(hosts: usize, parallelism: usize, latency_ms: u64, no_verify: bool) -> Round {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let (manifests, lab_dir) = prepare(scratch.path(), hosts, latency_ms);
    let wall = apply(
        &manifests,
        &format!("sim:{}", lab_dir.display()),
        parallelism,
        scratch.path(),
        no_verify,
    );
    let counters = SimBackend::read_counters(&lab_dir).expect("the apply left its call counters");
    let observations: u64 = counters
        .hosts
        .values()
        .map(|host| {
            host.calls
                .get(esxnet_sim::backend::OBSERVE_METHOD)
                .copied()
                .unwrap_or(0)
        })
        .sum();
    Round {
        wall,
        calls_per_host: counters.total_calls as f64 / hosts as f64,
        observations_per_host: observations as f64 / hosts as f64,
        shared_calls: counters.batched_observations,
        scratch,
    }
}

fn vsphere_round(hosts: usize, parallelism: usize, latency_ms: u64, no_verify: bool, show_methods: bool) -> Round {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let (manifests, lab_dir) = prepare(scratch.path(), hosts, latency_ms);
    let server: ServerHandle =
        esxnet_sim_server::serve(ServeOptions::new(&lab_dir, "root", PASSWORD)).expect("sim serve");
    let target = format!("vsphere://root@{}?insecure=true", server.server_address());
    let wall = apply(&manifests, &target, parallelism, scratch.path(), no_verify);
    let counters = server.counters();
    let per_host: u64 = counters.hosts.values().flat_map(|methods| methods.values()).sum();
    let observations: u64 = counters
        .hosts
        .values()
        .map(|methods| methods.get("RetrievePropertiesEx").copied().unwrap_or(0))
        .sum();
    let host_calls: u64 = counters
        .hosts
        .values()
        .map(|methods| {
            methods
                .iter()
                .filter(|(method, _)| method.as_str() != "RetrievePropertiesEx")
                .map(|(_, count)| count)
                .sum::<u64>()
        })
        .sum();
    let shared_calls = counters.total_calls - host_calls;
    // Every method once, so a new call on the path shows where it comes from.
    let by_method: Vec<String> = counters
        .methods
        .iter()
        .map(|(method, count)| format!("{method} {:.2}", *count as f64 / hosts as f64))
        .collect();
    if show_methods {
        println!("  vsphere calls per host by method: {}", by_method.join(", "));
    }
    server.stop().expect("the server stops");
    Round {
        wall,
        calls_per_host: per_host as f64 / hosts as f64,
        observations_per_host: observations as f64 / hosts as f64,
        shared_calls,
        scratch,
    }
}

//! Creates a lab of N hosts (default 10,000) in a temporary directory and prints how long
//! creating it and observing the whole lab take.
//!
//! `cargo run --release -p esxnet-sim --example observe_bench -- 10000`

use std::time::Instant;

use esxnet_executor::Backend;
use esxnet_sim::{HostNames, InitOptions, Lab, SimBackend};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host_count: u32 = match std::env::args().nth(1) {
        Some(argument) => argument.parse()?,
        None => 10_000,
    };
    let rounds: u32 = match std::env::args().nth(2) {
        Some(argument) => argument.parse()?,
        None => 5,
    };
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    drop(Lab::init(
        dir.path(),
        &InitOptions {
            hosts: HostNames::Count(host_count),
            ..InitOptions::default()
        },
    )?);
    println!("created a lab of {host_count} hosts in {:.3?}", started.elapsed());

    let backend = SimBackend::open(dir.path())?;
    let started = Instant::now();
    let names = backend.host_names()?;
    println!("listed {} hosts in {:.3?}", names.len(), started.elapsed());
    let mut timings = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let fleet = backend.observe_many(&names)?;
        timings.push(started.elapsed());
        assert_eq!(fleet.hosts.len(), names.len());
    }
    timings.sort();
    println!(
        "whole-lab observe of {} hosts ({} rounds, {} threads available): best {:.3?}, median {:.3?}, worst {:.3?}",
        names.len(),
        rounds,
        std::thread::available_parallelism().map_or(1, |count| count.get()),
        timings[0],
        timings[timings.len() / 2],
        timings[timings.len() - 1]
    );
    let started = Instant::now();
    for name in names.iter().take(1000) {
        backend.observe(name)?;
    }
    println!(
        "1000 single-host observes: {:.3?} ({:.1?} each)",
        started.elapsed(),
        started.elapsed() / 1000
    );
    Ok(())
}

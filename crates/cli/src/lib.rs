//! The `esxnet` library: the commands' operations, the way cargo's commands wrap `cargo::ops`.
//!
//! [`ops`] holds what each command does, as functions the binary, the tests and the benchmarks
//! all call: plan, drift and its report, validate, observe, reading and checking a saved plan,
//! and apply. [`import`] writes manifests for what the hosts have. [`target`] turns `--target` and the manifests' `Target` documents into a backend. [`shard`] is
//! `--shard I/N`; [`report`] merges the shards' results. The binary (`src/main.rs`) adds clap,
//! prompts, rendering to the terminal and exit codes; nothing here parses a command line.
//!
//! Like cargo's own library, this crate reports errors with `anyhow`: its callers are the binary,
//! tests and benchmarks, which print or assert on them, and never match on a variant.

#![warn(missing_docs)]

pub mod import;
pub mod ops;
pub mod output;
pub mod report;
pub mod saved_plan;
pub mod shard;
pub mod target;
pub mod timings;

//! # amirange: the assembly layer
//!
//! The `amirange` package puts the pieces together: it loads and validates scenario files
//! ([`scenario`]), builds the topology and the engine and runs them ([`run`]), computes the
//! measures for a scenario and its defender ([`metrics`], [`detection`]; the measures
//! themselves are `amirange-measures`', re-exported here), pairs a run with its no-attack twin
//! ([`paired`]), writes result folders ([`results`]) with the blast-radius map's files
//! ([`blast`]) and prints a run's summary ([`summary`]); [`outdir`] checks, creates and
//! replaces every output folder; [`live`] is a live exercise's engine. The binary
//! (`src/main.rs`, with `src/commands/`) is a thin command line over these modules.
//!
//! Files, the wall clock and the terminal live here and in the binary, never in `sim` or
//! `topologies`.

pub use amirange_measures::attack_metrics;
pub mod blast;
pub mod capture;
pub mod cosem;
pub mod dataset;
pub mod detection;
pub mod face;
pub mod field;
pub mod flows;
pub mod gateway;
pub mod image_transfer;
pub mod live;
pub mod live_text;
pub mod metrics;
pub mod outdir;
pub mod outside_alerts;
pub mod paired;
pub mod readings;
pub mod results;
pub mod run;
pub mod scenario;
pub mod summary;
pub mod sweep;

/// The quickstart scenario, built in so that `amirange run` works from any directory.
pub const QUICKSTART: &str = include_str!("../scenarios/quickstart.ron");

//! # amirange: the assembly layer
//!
//! The `amirange` package puts the pieces together: it loads and validates scenario files
//! ([`scenario`]), builds the topology and the engine and runs them ([`run`]), computes the
//! measures ([`metrics`]), pairs a run with its no-attack twin ([`paired`]) and writes result
//! folders ([`results`]) with the blast-radius map's data ([`blast`]); [`outdir`] checks,
//! creates and replaces every output folder; [`map`] draws a network as SVG for
//! `amirange topo map`. The binary (`src/main.rs`) is a thin command line over these modules.
//!
//! Files, the wall clock and the terminal live here and in the binary, never in `sim` or
//! `topologies`.

pub mod attack_metrics;
pub mod blast;
pub mod detection;
pub mod live;
pub mod map;
pub mod metrics;
pub mod outdir;
pub mod paired;
pub mod results;
pub mod run;
pub mod scenario;
pub mod sweep;

/// The quickstart scenario, built in so that `amirange run` works from any directory.
pub const QUICKSTART: &str = include_str!("../scenarios/quickstart.ron");

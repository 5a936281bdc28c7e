//! Shared set-up for the criterion benchmarks: seeded, realistic worlds built outside the timed
//! routines.

use amirange_sim::prelude::*;
use amirange_topologies::{AreaKind, AreaSpec};

/// Meter counts every scale-parameterised benchmark runs at.
pub const SCALES: [u64; 3] = [10_000, 100_000, 1_000_000];

/// An urban network of `meters` meters with every default, for seed 1.
pub fn build_network(meters: u64) -> Network {
    let config = SimConfig::with_defaults(1, start(), SimDuration::from_days(1));
    AreaSpec::new(AreaKind::Urban, meters)
        .resolve()
        .expect("valid spec")
        .generate(1, config.classes.map(|c| c.mean_annual_kwh))
        .expect("generates")
}

fn start() -> CivilDateTime {
    CivilDateTime::parse("2026-01-15T00:00").expect("valid literal")
}

/// A simulation of an urban area of `meters` meters with the default mix, prepared for `days`
/// days from a winter Thursday.
pub fn build_sim(meters: u64, days: u64) -> Sim {
    let config = SimConfig::with_defaults(1, start(), SimDuration::from_days(days));
    Sim::new(config, build_network(meters)).expect("valid world")
}

/// Uses every core for the data plane, as `amirange run` does by default.
pub fn init_threads() -> usize {
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    bevy_tasks::ComputeTaskPool::get_or_init(|| bevy_tasks::TaskPoolBuilder::new().num_threads(n).build()).thread_num()
}

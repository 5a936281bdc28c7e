//! Shared set-up for the criterion benchmarks: seeded, realistic worlds built outside the timed
//! routines.

use amirange_sim::prelude::*;
use amirange_topologies::SimpleSpec;

/// Meter counts every scale-parameterised benchmark runs at.
pub const SCALES: [u64; 3] = [10_000, 100_000, 1_000_000];

/// A simulation of `meters` meters with the default mix, prepared for `days` days from a
/// winter Thursday.
pub fn build_sim(meters: u64, days: u64) -> Sim {
    let start = CivilDateTime::parse("2026-01-15T00:00").expect("valid literal");
    let config = SimConfig::with_defaults(1, start, SimDuration::from_days(days));
    let topology = SimpleSpec::with_meters(meters).generate(1).expect("valid spec");
    Sim::new(config, topology.collectors().to_vec(), topology.meters()).expect("valid world")
}

/// Uses every core for the data plane, as `amirange run` does by default.
pub fn init_threads() -> usize {
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    bevy_tasks::ComputeTaskPool::get_or_init(|| bevy_tasks::TaskPoolBuilder::new().num_threads(n).build()).thread_num()
}

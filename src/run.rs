//! Run orchestration: build the topology and the engine from a validated scenario, step it to
//! the end while reporting progress, and collect what the result files need.

use std::time::{Duration, Instant};

use amirange_sim::config::INTERVAL;
use amirange_sim::engine::Sim;
use amirange_sim::time::SimTime;
use anyhow::{Context, Result};

use crate::metrics::{self, Metrics};
use crate::scenario::Scenario;

/// A finished run.
pub struct Finished {
    /// The engine at the end of the run, holding its records.
    pub sim: Sim,
    /// The measures.
    pub metrics: Metrics,
    /// Wall time spent generating the topology and spawning the world.
    pub build_time: Duration,
    /// Wall time spent stepping the simulation.
    pub step_time: Duration,
}

/// Runs `scenario` to the end. `progress(done, total)` is called after every interval.
pub fn execute(scenario: &Scenario, mut progress: impl FnMut(u32, u32)) -> Result<Finished> {
    let started = Instant::now();
    let network = scenario
        .topology
        .generate(scenario.seed(), scenario.class_kwh())
        .context("generating the topology")?;
    let mut sim = Sim::new(scenario.sim.clone(), network).context("building the simulation")?;
    let planned = match &scenario.operations {
        Some(ops) => Some(amirange_sim::operations::plan(&mut sim, ops).context("planning legitimate operations")?),
        None => None,
    };
    let mut campaign = scenario.campaign().context("building the attacks")?;
    campaign.prepare(&mut sim).context("preparing the attacks")?;
    let build_time = started.elapsed();
    let stepping = Instant::now();
    let total = scenario.n_intervals();
    for done in 1..=total {
        campaign
            .run_until(&mut sim, SimTime(u64::from(done) * INTERVAL.as_micros()))
            .context("stepping the simulation")?;
        progress(done, total);
    }
    campaign.finish(&mut sim);
    let reports = campaign.reports(&sim);
    let step_time = stepping.elapsed();
    let metrics = metrics::compute(scenario, &sim, planned.as_ref(), &reports);
    Ok(Finished {
        sim,
        metrics,
        build_time,
        step_time,
    })
}

/// Peak resident memory of this process in bytes, from `/proc/self/status` (`VmHWM`), where
/// the platform has it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

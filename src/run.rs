//! Run orchestration: build the topology and the engine from a validated scenario, step it to
//! the end while reporting progress, and collect what the result files need.

use std::time::{Duration, Instant};

use amirange_defenses::Defender;
use amirange_sim::config::INTERVAL;
use amirange_sim::engine::Sim;
use amirange_sim::network::Network;
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
    /// The blast-radius map's files (`map.csv`, `map.json`), at the run's worst moment.
    pub map: Option<(String, Vec<u8>)>,
    /// Wall time spent generating the topology and spawning the world.
    pub build_time: Duration,
    /// Wall time spent stepping the simulation.
    pub step_time: Duration,
}

/// Generates the scenario's topology.
pub fn generate(scenario: &Scenario) -> Result<Network> {
    scenario
        .topology
        .generate(scenario.seed(), scenario.class_kwh())
        .context("generating the topology")
}

/// Runs `scenario` to the end, with the blast-radius map. `progress(done, total)` is called
/// after every interval.
pub fn execute(scenario: &Scenario, progress: impl FnMut(u32, u32)) -> Result<Finished> {
    let started = Instant::now();
    let network = generate(scenario)?;
    execute_on(scenario, network, started, true, progress)
}

/// Runs `scenario` on `network`, generated from it already (a paired run's twin reuses the
/// attack run's); `started` is when the work began, for the build time. With `map`, the run
/// keeps its worst moment for the blast-radius map (runs whose map nobody draws, a sweep's or
/// a twin's, skip it).
pub fn execute_on(
    scenario: &Scenario,
    network: Network,
    started: Instant,
    map: bool,
    mut progress: impl FnMut(u32, u32),
) -> Result<Finished> {
    let mut sim = Sim::new(scenario.sim.clone(), network).context("building the simulation")?;
    if map {
        sim.watch_worst_moment();
    }
    let planned = match &scenario.operations {
        Some(ops) => Some(amirange_sim::operations::plan(&mut sim, ops).context("planning legitimate operations")?),
        None => None,
    };
    let mut campaign = scenario.campaign().context("building the attacks")?;
    campaign.prepare(&mut sim).context("preparing the attacks")?;
    let detection = scenario
        .detection()
        .map_err(|(field, message)| anyhow::anyhow!("{field}: {message}"))?;
    let work = planned.as_ref().map(|p| p.work.clone()).unwrap_or_default();
    let mut defender = detection.map(|d| Defender::new(d, &sim, &work));
    let build_time = started.elapsed();
    let stepping = Instant::now();
    let total = scenario.n_intervals();
    let interval = INTERVAL.as_micros();
    for done in 1..=total {
        let end = u64::from(done) * interval;
        match defender.as_mut() {
            None => campaign
                .run_until(&mut sim, SimTime(end))
                .context("stepping the simulation")?,
            Some(d) => {
                // The defender looks every `every` and at the interval's end.
                let every = d.every().as_micros();
                let mut t = (end - interval) / every * every + every;
                while t < end {
                    campaign
                        .run_until(&mut sim, SimTime(t))
                        .context("stepping the simulation")?;
                    d.observe(&mut sim).context("running the defenses")?;
                    t += every;
                }
                campaign
                    .run_until(&mut sim, SimTime(end))
                    .context("stepping the simulation")?;
                d.observe(&mut sim).context("running the defenses")?;
            }
        }
        progress(done, total);
    }
    campaign.finish(&mut sim);
    let reports = campaign.reports(&sim);
    let step_time = stepping.elapsed();
    let mut metrics = metrics::compute(scenario, &sim, planned.as_ref(), &reports);
    metrics.score(crate::detection::score(
        &sim,
        &reports,
        defender.as_ref(),
        scenario.preset.as_deref(),
    ));
    let map = crate::blast::files(scenario, &sim);
    Ok(Finished {
        sim,
        metrics,
        map,
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

//! Run orchestration: build the topology and the engine from a validated scenario, step it to
//! the end while reporting progress, and collect what the result files need.

use std::time::{Duration, Instant};

use amirange_defenses::Defender;
use amirange_sim::config::INTERVAL;
use amirange_sim::drive::{self, Actor};
use amirange_sim::engine::{Sim, SimError};
use amirange_sim::network::Network;
use amirange_sim::time::{SimDuration, SimTime};

use crate::metrics::{self, Metrics};
use crate::scenario::Scenario;

/// Why a run could not be built or stepped. Each variant's text is the step that failed; the
/// cause is its [`source`](std::error::Error::source), so a chain printed with its sources
/// reads `generating the topology: CAUSE`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The topology generator refused the scenario's topology.
    #[error("generating the topology")]
    Topology(#[source] amirange_topologies::TopologyError),
    /// The engine refused the scenario's configuration or network.
    #[error("building the simulation")]
    Simulation(#[source] SimError),
    /// The utility's operations could not be planned.
    #[error("planning legitimate operations")]
    Operations(#[source] amirange_sim::operations::PlanError),
    /// An attack spec could not be built.
    #[error("building the attacks")]
    BuildingAttacks(#[source] amirange_attackers::AttackError),
    /// An attack could not be prepared on the built engine.
    #[error("preparing the attacks")]
    PreparingAttacks(#[source] amirange_attackers::AttackError),
    /// The scenario's detection section does not hold.
    #[error("{field}: {message}")]
    Detection {
        /// The field at fault (e.g. `detection.detectors[0]`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The engine failed while stepping.
    #[error("stepping the simulation")]
    Stepping(#[source] SimError),
}

impl RunError {
    /// The attack error behind this one, if building or preparing the attacks failed.
    pub fn attack_error(&self) -> Option<&amirange_attackers::AttackError> {
        match self {
            RunError::BuildingAttacks(e) | RunError::PreparingAttacks(e) => Some(e),
            _ => None,
        }
    }
}

/// Wall time per phase of a run, in the order the phases first ended; for `amirange bench`.
#[derive(Clone, Debug, Default)]
pub struct PhaseTimes(pub Vec<(&'static str, Duration)>);

impl PhaseTimes {
    /// Adds `time` to `phase`.
    pub fn add(&mut self, phase: &'static str, time: Duration) {
        match self.0.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, t)) => *t += time,
            None => self.0.push((phase, time)),
        }
    }
}

/// A clock shared by the run's builder and the engine's [`PhaseProbe`]: the time since the
/// last lap goes to the phase that ended (a build step) or that was current (stepping).
#[derive(Clone, Default)]
struct PhaseClock(std::sync::Arc<std::sync::Mutex<ClockState>>);

#[derive(Default)]
struct ClockState {
    /// The stepping phase under way, if stepping.
    current: Option<amirange_sim::probe::Phase>,
    since: Option<Instant>,
    times: PhaseTimes,
}

impl ClockState {
    /// The time since the last lap, and a new lap from now.
    fn lap(&mut self) -> Duration {
        let now = Instant::now();
        let lap = self.since.map_or(Duration::ZERO, |since| now - since);
        self.since = Some(now);
        lap
    }
}

impl PhaseClock {
    fn with<T>(&self, f: impl FnOnce(&mut ClockState) -> T) -> T {
        // A poisoned clock only means a panicking thread held it; the times stay usable.
        let mut state = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.since.is_none() {
            state.since = Some(Instant::now());
        }
        f(&mut state)
    }

    /// Build phase `phase` ended now.
    fn done(&self, phase: &'static str) {
        self.with(|s| {
            let lap = s.lap();
            s.times.add(phase, lap);
        });
    }

    /// Starts a new lap now, charging the time since the last to nothing.
    fn restart(&self) {
        self.with(|s| {
            s.lap();
        });
    }

    /// Stepping ended now.
    fn stop(&self) {
        self.with(|s| {
            let lap = s.lap();
            if let Some(phase) = s.current.take() {
                s.times.add(phase.label(), lap);
            }
        });
    }

    fn times(&self) -> PhaseTimes {
        self.with(|s| s.times.clone())
    }
}

impl amirange_sim::probe::PhaseProbe for PhaseClock {
    fn enter(&mut self, phase: amirange_sim::probe::Phase) {
        self.with(|s| {
            let lap = s.lap();
            if let Some(current) = s.current.replace(phase) {
                s.times.add(current.label(), lap);
            }
        });
    }
}

/// A finished run.
pub struct Finished {
    /// The engine at the end of the run, holding its records.
    pub sim: Sim,
    /// The measures.
    pub metrics: Metrics,
    /// The blast-radius map's files (`map.csv`, `map.json`), at the run's worst moment.
    pub map: Option<(String, Vec<u8>)>,
    /// What each attack did, in the scenario's order (what detection is judged against).
    pub reports: Vec<amirange_attackers::Report>,
    /// Wall time spent generating the topology and spawning the world.
    pub build_time: Duration,
    /// Wall time spent stepping the simulation.
    pub step_time: Duration,
    /// How far the network sensor read the wire: the end of `traffic.pcapng`
    /// ([`crate::capture`]).
    pub sensor_horizon: SimTime,
}

/// Generates the scenario's topology.
pub fn generate(scenario: &Scenario) -> Result<Network, RunError> {
    scenario
        .topology
        .generate_for(scenario.seed(), &scenario.sim.classes)
        .map_err(RunError::Topology)
}

/// Runs `scenario` to the end, with the blast-radius map. `progress(done, total)` is called
/// after every interval.
pub fn execute(scenario: &Scenario, progress: impl FnMut(u32, u32)) -> Result<Finished, RunError> {
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
    progress: impl FnMut(u32, u32),
) -> Result<Finished, RunError> {
    execute_observed(scenario, network, started, map, Vec::new(), progress)
}

/// Interval observers a run adds to the engine (the readings export, the field capture).
pub type Observers = Vec<Box<dyn amirange_sim::engine::IntervalObserver>>;

/// [`execute_on`], with `observers` told of every interval close (the readings export,
/// [`crate::readings::ReadingsExport`], and the field capture, [`crate::field::FieldCapture`]),
/// in order, after the engine's own.
pub fn execute_observed(
    scenario: &Scenario,
    network: Network,
    started: Instant,
    map: bool,
    observers: Observers,
    progress: impl FnMut(u32, u32),
) -> Result<Finished, RunError> {
    execute_clocked(scenario, network, started, map, observers, None, progress)
}

/// Why a benchmark run ([`bench`]) failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The run itself failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The result files could not be rendered.
    #[error("rendering the result files")]
    Render(#[source] crate::results::ResultsError),
    /// No temporary folder could be made for the result files.
    #[error("creating a temporary folder for the result files")]
    Scratch(#[source] std::io::Error),
    /// The result files could not be written.
    #[error("writing the result files")]
    Write(#[source] crate::outdir::FolderError),
    /// The traffic capture or flow table could not be written.
    #[error(transparent)]
    Export(#[from] crate::capture::CaptureError),
    /// The field capture could not be written.
    #[error(transparent)]
    Field(#[from] crate::field::FieldError),
}

impl BenchError {
    /// The attack error behind this one, if building or preparing the attacks failed.
    pub fn attack_error(&self) -> Option<&amirange_attackers::AttackError> {
        match self {
            BenchError::Run(e) => e.attack_error(),
            _ => None,
        }
    }
}

/// A benchmark run of a scenario: the run, the wall time of each of its phases, the size of
/// its result files and the wall time of the whole.
pub struct BenchRun {
    /// The finished run.
    pub finished: Finished,
    /// Wall time per phase: the build's, the stepping's by kind of work, the measures',
    /// rendering and writing the result files.
    pub phases: PhaseTimes,
    /// Bytes of result files written.
    pub result_bytes: usize,
    /// Wall time from start to the result files written.
    pub wall: Duration,
    /// The field capture's counts and the bytes of its two files, when it was measured.
    pub field: Option<(crate::field::FieldStats, u64)>,
}

/// Runs `scenario` (from `label`, on `threads` threads) as `amirange run` does, timing every
/// phase, and renders and writes its result files into a temporary folder that is removed
/// afterwards: `amirange bench` and the criterion phase benchmarks both measure through this.
pub fn bench(
    scenario: &Scenario,
    label: &str,
    threads: usize,
    exports: crate::capture::Wanted,
    progress: impl FnMut(u32, u32),
) -> Result<BenchRun, BenchError> {
    let started = Instant::now();
    let scratch = tempfile::tempdir().map_err(BenchError::Scratch)?;
    let dir = scratch.path().join("results");
    // The field capture streams into a folder of its own while the run goes.
    let field_dir = scratch.path().join("field");
    let mut observers: Observers = Vec::new();
    if exports.field {
        std::fs::create_dir_all(&field_dir).map_err(BenchError::Scratch)?;
        // An area's collectors are known once the network is: it is generated once more for them.
        let collectors = match scenario.field_capture.area {
            Some(_) => crate::field::resolve_collectors(scenario, &generate(scenario)?)?,
            None => scenario.field_capture.collectors.clone(),
        };
        observers.push(Box::new(crate::field::FieldCapture::create(
            &field_dir,
            scenario,
            &collectors,
        )?));
    }
    let (finished, mut phases) = execute_timed(scenario, observers, progress)?;
    let mut result_bytes = 0;
    let mut field = None;
    if let Some(capture) = finished.sim.interval_observer::<crate::field::FieldCapture>() {
        // Its rendering during the run is in the step's interval observers; what is left to
        // write at the end is a phase of its own.
        let finishing = Instant::now();
        let stats = capture.finish()?;
        phases.add("results: field capture's last packets", finishing.elapsed());
        let bytes = [crate::field::FILE, crate::field::KEYS_FILE]
            .iter()
            .map(|file| std::fs::metadata(field_dir.join(file)).map_or(0, |m| m.len()))
            .sum::<u64>();
        result_bytes += usize::try_from(bytes).unwrap_or(usize::MAX);
        field = Some((stats, bytes));
    }
    let rendering = Instant::now();
    let manifest = crate::results::Manifest::for_run(scenario, label, threads, started.elapsed());
    let files = crate::results::render(
        scenario,
        &finished.sim,
        &finished.metrics,
        &manifest,
        finished.map.as_ref(),
    )
    .map_err(BenchError::Render)?;
    phases.add("results: render files", rendering.elapsed());
    let writing = Instant::now();
    crate::results::write_all(&dir, &files, false).map_err(BenchError::Write)?;
    phases.add("results: write files", writing.elapsed());
    result_bytes += files.iter().map(|(_, b)| b.len()).sum::<usize>();
    if exports.capture || exports.flows {
        let exporting = Instant::now();
        crate::capture::export(&dir, scenario, &finished.sim, finished.sensor_horizon, exports)?;
        for (wanted, file) in [
            (exports.capture, crate::capture::FILE),
            (exports.flows, crate::flows::FILE),
        ] {
            if wanted {
                let bytes = std::fs::metadata(dir.join(file)).map(|m| m.len()).unwrap_or(0);
                result_bytes += usize::try_from(bytes).unwrap_or(usize::MAX);
            }
        }
        phases.add("results: export traffic and flows", exporting.elapsed());
    }
    drop(files);
    drop(scratch);
    Ok(BenchRun {
        finished,
        phases,
        result_bytes,
        wall: started.elapsed(),
        field,
    })
}

/// Runs `scenario` as [`execute`] does, with the wall time of every phase of the build, the
/// stepping and the measures (for `amirange bench`).
pub fn execute_timed(
    scenario: &Scenario,
    observers: Observers,
    progress: impl FnMut(u32, u32),
) -> Result<(Finished, PhaseTimes), RunError> {
    let started = Instant::now();
    let clock = PhaseClock::default();
    clock.restart();
    let network = {
        let mut done = |phase| clock.done(phase);
        scenario
            .topology
            .generate_observed(scenario.seed(), &scenario.sim.classes, &mut done)
            .map_err(RunError::Topology)?
    };
    let finished = execute_clocked(scenario, network, started, true, observers, Some(&clock), progress)?;
    Ok((finished, clock.times()))
}

/// [`execute_observed`], telling `clock` (if any) of every phase.
fn execute_clocked(
    scenario: &Scenario,
    network: Network,
    started: Instant,
    map: bool,
    observers: Observers,
    clock: Option<&PhaseClock>,
    mut progress: impl FnMut(u32, u32),
) -> Result<Finished, RunError> {
    let mut done = |phase| {
        if let Some(clock) = clock {
            clock.done(phase);
        }
    };
    let mut stepper = Stepper::new_observed(scenario, network, map, &mut done)?;
    for observer in observers {
        stepper.sim.add_interval_observer(observer);
    }
    if let Some(clock) = clock {
        clock.restart();
        stepper.sim.set_probe(Box::new(clock.clone()));
    }
    let build_time = started.elapsed();
    let stepping = Instant::now();
    let total = scenario.n_intervals();
    let interval = INTERVAL.as_micros();
    for done in 1..=total {
        stepper.step_to(SimTime(u64::from(done) * interval))?;
        progress(done, total);
    }
    let step_time = stepping.elapsed();
    if let Some(clock) = clock {
        clock.stop();
    }
    let sensor_horizon = stepper.sensor_horizon();
    let (sim, metrics, map, reports) = stepper.finish_reporting(scenario);
    done("results: measures and map");
    Ok(Finished {
        sensor_horizon,
        sim,
        metrics,
        map,
        reports,
        build_time,
        step_time,
    })
}

/// A run being stepped: the engine with the utility's operations, the attacks and the
/// defenses, moved forward to any instant (a batch run's interval ends, a live exercise's
/// ticks). The campaign and the defender are actors of the one loop that owns time
/// ([`drive::step_to`]); the defender looks at every multiple of its `every` and at every
/// interval end.
pub struct Stepper {
    /// The engine.
    pub sim: Sim,
    /// The attacks (a live exercise adds its red team's).
    pub campaign: amirange_attackers::Campaign,
    /// The detection and response, if the scenario has them.
    pub defender: Option<Defender>,
    planned: Option<amirange_sim::operations::PlanCounts>,
}

impl Stepper {
    /// Builds the engine for `scenario` on `network` and plans its operations and attacks;
    /// with `map`, the run keeps its worst moment.
    pub fn new(scenario: &Scenario, network: Network, map: bool) -> Result<Stepper, RunError> {
        Stepper::new_observed(scenario, network, map, &mut |_| {})
    }

    /// [`Stepper::new`], calling `done(phase)` as each phase of the build ends (the world with
    /// its routes and paths, the operations' plan, the attacks and defenses).
    pub fn new_observed(
        scenario: &Scenario,
        network: Network,
        map: bool,
        done: &mut dyn FnMut(&'static str),
    ) -> Result<Stepper, RunError> {
        let mut sim = Sim::new(scenario.sim.clone(), network).map_err(RunError::Simulation)?;
        if map {
            sim.watch_worst_moment();
        }
        done("world: meters, routes and paths");
        let planned = match &scenario.operations {
            Some(ops) => Some(amirange_sim::operations::plan(&mut sim, ops).map_err(RunError::Operations)?),
            None => None,
        };
        done("world: operations' plan");
        let mut campaign = scenario.campaign().map_err(RunError::BuildingAttacks)?;
        campaign.prepare(&mut sim).map_err(RunError::PreparingAttacks)?;
        let detection = scenario.detection().map_err(|e| RunError::Detection {
            field: e.field,
            message: e.message,
        })?;
        let work = planned.as_ref().map(|p| p.work.clone()).unwrap_or_default();
        let defender = detection.map(|d| Defender::new(d, &sim, &work));
        done("world: attacks and defenses");
        Ok(Stepper {
            sim,
            campaign,
            defender,
            planned,
        })
    }

    /// Steps to `to` through the one loop that owns time ([`drive::step_to`]): the attacks
    /// act at their wakes and the defender looks on its grid (every `every`, and at interval
    /// ends), in the order of that loop's ordering contract. A look at `to` itself comes last:
    /// what it schedules for that instant runs with the next call.
    pub fn step_to(&mut self, to: SimTime) -> Result<(), RunError> {
        // Earlier calls took every look up to the engine's present, so the next comes after it.
        let mut looks = self.defender.as_mut().map(|defender| Looks {
            defender,
            after: self.sim.now(),
        });
        drive::step_to(
            &mut self.sim,
            to,
            &mut self.campaign,
            looks.as_mut().map(|looks| looks as &mut dyn Actor),
        )
        .map_err(RunError::Stepping)
    }

    /// Ends the run: the attacks' last look, the measures scored against the defenses, and
    /// the blast-radius map's files.
    pub fn finish(self, scenario: &Scenario) -> (Sim, Metrics, Option<(String, Vec<u8>)>) {
        let (sim, metrics, map, _) = self.finish_reporting(scenario);
        (sim, metrics, map)
    }

    /// How far the network sensor has read the wire: its IDS's horizon when the defenses run
    /// IDS rules, else the engine's.
    pub fn sensor_horizon(&self) -> SimTime {
        self.defender
            .as_ref()
            .and_then(Defender::sensor_horizon)
            .unwrap_or_else(|| self.sim.sensor_horizon())
    }

    /// [`Stepper::finish`], with the attacks' reports.
    #[allow(clippy::type_complexity, reason = "the four results of a run, named in the doc")]
    pub fn finish_reporting(
        mut self,
        scenario: &Scenario,
    ) -> (Sim, Metrics, Option<(String, Vec<u8>)>, Vec<amirange_attackers::Report>) {
        self.campaign.finish(&mut self.sim);
        let reports = self.campaign.reports(&self.sim);
        let sim = self.sim;
        let mut metrics = metrics::compute(scenario, &sim, self.planned.as_ref(), &reports);
        metrics.score(crate::detection::score(
            &sim,
            &reports,
            self.defender.as_ref(),
            scenario.preset.as_deref(),
        ));
        let map = crate::blast::files(scenario, &sim);
        (sim, metrics, map, reports)
    }
}

/// The defender as an actor of the loop that owns time: it is due at the first instant after
/// `after` that is a multiple of its `every` or an interval end, and looks when woken.
struct Looks<'a> {
    /// The defender.
    defender: &'a mut Defender,
    /// Its last look, or the instant the current step began at: the next look comes after it.
    after: SimTime,
}

impl Actor for Looks<'_> {
    fn next_wake(&self) -> Option<SimTime> {
        Some(next_look(self.after, self.defender.every()))
    }

    fn wake(&mut self, sim: &mut Sim, at: SimTime) -> Result<(), SimError> {
        self.after = at;
        self.defender.observe(sim)
    }
}

/// The defender's first look after `after`: the next multiple of `every` or interval end,
/// whichever comes first.
fn next_look(after: SimTime, every: SimDuration) -> SimTime {
    let next_multiple = |step: u64| after.0 / step * step + step;
    SimTime(next_multiple(every.as_micros()).min(next_multiple(INTERVAL.as_micros())))
}

/// Peak resident memory of this process in bytes, from `/proc/self/status` (`VmHWM`), where
/// the platform has it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(m: u64) -> SimTime {
        SimTime(SimDuration::from_minutes(m).as_micros())
    }

    /// The defender looks at every multiple of its `every` and at every interval end, whichever
    /// comes first after its last look.
    #[test]
    fn the_defender_looks_on_its_grid_and_at_interval_ends() {
        let every = SimDuration::from_minutes(20);
        let mut after = SimTime::ZERO;
        let mut looks = Vec::new();
        while after < minutes(60) {
            after = next_look(after, every);
            looks.push(after.0 / SimDuration::from_minutes(1).as_micros());
        }
        assert_eq!(looks, [15, 20, 30, 40, 45, 60]);
        assert_eq!(next_look(minutes(1), SimDuration::from_minutes(1)), minutes(2));
    }
}

//! The commands' implementations, one module per command (or family), and what they share:
//! loading a scenario from the common flags, sizing the compute pool, running with a progress
//! bar, and reading result files back.

pub(crate) mod dataset;
pub(crate) mod gateway;
pub(crate) mod matrix;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod score;
pub(crate) mod sweep;
pub(crate) mod topo;
pub(crate) mod validate;

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use amirange::scenario::{self, Overrides, Scenario};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{CommonArgs, ThreadArgs};

impl CommonArgs {
    /// The scenario and its label.
    fn load(&self) -> Result<(Scenario, String)> {
        self.load_with_source().map(|(s, label, _)| (s, label))
    }

    /// The scenario, its label and its text (to locate errors found later, in the run).
    fn load_with_source(&self) -> Result<(Scenario, String, String)> {
        let overrides = Overrides {
            seed: self.seed,
            meters: self.meters,
            duration: self.duration.clone(),
        };
        let (label, source) = match &self.scenario {
            Some(path) => {
                let text = scenario::read_source(path)?;
                (path.display().to_string(), text)
            }
            None => ("<built-in quickstart>".to_owned(), amirange::QUICKSTART.to_owned()),
        };
        let mut scenario = scenario::load(&label, &source, &overrides)?;
        if let Some(name) = &self.preset {
            scenario
                .apply_preset(name)
                .map_err(|e| anyhow::anyhow!("--preset: {}", e.message))?;
        }
        Ok((scenario, label, source))
    }
}

impl ThreadArgs {
    /// Initialises the global compute pool with the requested thread count; returns it.
    fn init_threads(&self) -> usize {
        let n = match self.threads {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        };
        let pool =
            bevy_tasks::ComputeTaskPool::get_or_init(|| bevy_tasks::TaskPoolBuilder::new().num_threads(n).build());
        pool.thread_num()
    }
}

/// A progress bar over `total` intervals, hidden when `quiet` or when stderr is not a terminal.
pub(crate) fn progress_bar(total: u32, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new(u64::from(total));
    if quiet || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} intervals (eta {eta})")
    {
        bar.set_style(style);
    }
    bar
}

// Runs through these wrappers draw the blast-radius map (a run, a bench that measures what a
// run costs, the matrix's runs); a paired run's twin and a sweep's runs do not.

/// Runs the scenario; an attack error found while preparing it (a target the generated network
/// lacks) is located in the scenario file like any validation error.
pub(crate) fn execute(
    scenario: &Scenario,
    label: &str,
    source: &str,
    bar: &ProgressBar,
) -> Result<amirange::run::Finished> {
    execute_on(scenario, None, label, source, bar)
}

/// As [`execute`], on a network generated already when one is given.
pub(crate) fn execute_on(
    scenario: &Scenario,
    network: Option<amirange_sim::network::Network>,
    label: &str,
    source: &str,
    bar: &ProgressBar,
) -> Result<amirange::run::Finished> {
    execute_observed(scenario, network, Vec::new(), label, source, bar)
}

/// As [`execute_on`], with interval observers (the readings export, the field capture).
pub(crate) fn execute_observed(
    scenario: &Scenario,
    network: Option<amirange_sim::network::Network>,
    observers: amirange::run::Observers,
    label: &str,
    source: &str,
    bar: &ProgressBar,
) -> Result<amirange::run::Finished> {
    let started = Instant::now();
    let network = match network {
        Some(n) => n,
        None => amirange::run::generate(scenario)?,
    };
    amirange::run::execute_observed(scenario, network, started, true, observers, |_, _| bar.inc(1)).map_err(|e| match e
        .attack_error()
    {
        Some(attack) => scenario::attack_error(label, source, attack).into(),
        None => e.into(),
    })
}

/// Reads a file of a result or sweep folder back, refusing anything but a regular file and
/// files over [`amirange_files::MAX_RESULT_FILE_BYTES`].
pub(crate) fn read_result(path: &Path) -> Result<String> {
    Ok(amirange_files::read_text(
        path,
        "result file",
        amirange_files::MAX_RESULT_FILE_BYTES,
    )?)
}

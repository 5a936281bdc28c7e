//! `amirange run` and `amirange bench`.

use std::path::Path;
use std::time::Instant;

use amirange::results::{self, Manifest};
use amirange::run::peak_rss_bytes;
use amirange::summary;
use amirange_viz::numbers::group;
use anyhow::{Context, Result};

use amirange::outdir::{self, FolderKind};
use amirange::readings::{self, ReadingsExport};
use amirange::scenario::Scenario;

use super::{execute_observed, progress_bar};
use crate::{CommonArgs, ThreadArgs};

/// `amirange run`: the scenario (and, paired, its baseline twin) run, its result folder
/// written and its summary printed.
pub(crate) fn cmd_run(
    common: &CommonArgs,
    thread_args: &ThreadArgs,
    out: Option<&Path>,
    force: bool,
    quiet: bool,
    paired: bool,
    exports: Exports<'_>,
) -> Result<()> {
    let (mut scenario, label, source) = common.load_with_source()?;
    let field = exports.field || scenario.export.contains(&amirange::scenario::Export::Field);
    choose_field_collectors(&mut scenario, field, exports.field_collectors)?;
    let paired = paired || scenario.paired;
    let readings = exports.readings || scenario.export.contains(&amirange::scenario::Export::Readings);
    let traffic = exports.traffic || scenario.export.contains(&amirange::scenario::Export::Traffic);
    let flows = exports.flows || scenario.export.contains(&amirange::scenario::Export::Flows);
    let out_dir = results::choose_out_dir(out, &scenario, force)?;
    let threads = thread_args.init_threads();
    // The readings file is streamed into the result folder's temporary copy while the run goes
    // (and the capture written there after it); the folder is moved into place only when every
    // file is complete.
    let staged = if readings || traffic || flows || field {
        Some(outdir::begin(&out_dir, FolderKind::Run, force)?)
    } else {
        None
    };
    let exports = Exports {
        readings,
        traffic,
        flows,
        field,
        field_collectors: &[],
    };
    let produced = produce(
        &scenario,
        (&label, &source),
        paired,
        quiet,
        threads,
        staged.as_ref(),
        exports,
    );
    let (files, metrics, wall, baseline) = match (produced, staged) {
        (Ok(produced), Some(staged)) => {
            outdir::complete(&out_dir, FolderKind::Run, staged, &produced.0, force)?;
            produced
        }
        (Ok(produced), None) => {
            results::write_all(&out_dir, &produced.0, force)?;
            produced
        }
        (Err(e), Some(staged)) => {
            outdir::abandon(staged);
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    drop(files);
    if !quiet {
        // The wall time is the attack run's (the twin's is not included).
        print!(
            "{}",
            summary::run_summary(&scenario, &metrics, threads, wall.as_secs_f64())
        );
        if let Some(base) = &baseline {
            print!("{}", summary::paired_summary(&metrics, base));
        }
        println!("results: {}/", out_dir.display());
        println!("report:  {}", out_dir.join("report.html").display());
    }
    Ok(())
}

/// What a run produced: its files, its measures, its wall time and its baseline twin's
/// measures when paired.
type Produced = (
    Vec<(&'static str, Vec<u8>)>,
    amirange::metrics::Metrics,
    std::time::Duration,
    Option<amirange::metrics::Metrics>,
);

/// The extra files a run writes into its staged folder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exports<'a> {
    /// `readings.parquet`.
    pub(crate) readings: bool,
    /// `traffic.pcapng`.
    pub(crate) traffic: bool,
    /// `flows.csv`.
    pub(crate) flows: bool,
    /// `field.pcapng` and `field-keys.csv`.
    pub(crate) field: bool,
    /// The collectors `--field-collectors` names (empty: the scenario's).
    pub(crate) field_collectors: &'a [u32],
}

/// Sets the collectors a field capture covers: those given on the command line, else the
/// scenario's; with a field capture wanted and none named, an error that says how to name
/// them.
fn choose_field_collectors(scenario: &mut amirange::scenario::Scenario, field: bool, given: &[u32]) -> Result<()> {
    if !given.is_empty() {
        let mut given = given.to_vec();
        given.sort_unstable();
        given.dedup();
        scenario.field_capture.collectors = given;
    }
    if field && scenario.field_capture.is_empty() {
        anyhow::bail!(
            "a field capture needs the collectors whose field networks it covers: add \
             --field-collectors 0 (indices as `amirange topo describe` lists them) or \
             `field_capture: (collectors: [0])` to the scenario; a 1M-meter day of every field \
             network would be tens of GB"
        );
    }
    Ok(())
}

/// Runs the scenario (and, paired, its twin) and renders its files; with `staged`, streams the
/// readings export into that folder and writes the capture there.
fn produce(
    scenario: &Scenario,
    (label, source): (&str, &str),
    paired: bool,
    quiet: bool,
    threads: usize,
    staged: Option<&outdir::Staged>,
    exports: Exports<'_>,
) -> Result<Produced> {
    let (label, source) = (label.to_owned(), source.to_owned());
    let n = scenario.n_intervals();
    let bar = progress_bar(if paired { 2 * n } else { n }, quiet);
    let started = Instant::now();
    // The twin runs on the same network (generated once) beside the attack run, on a thread of
    // its own: their serial parts overlap, and the data-plane passes share the compute pool.
    let network = amirange::run::generate(scenario)?;
    let twin_network = paired.then(|| network.clone());
    let twin = amirange::paired::twin(scenario);
    let manifest = |wall: std::time::Duration| Manifest::for_run(scenario, &label, threads, wall);
    let (mut files, mut metrics, wall, baseline) = std::thread::scope(|s| -> Result<_> {
        let twin_run = twin_network.map(|network| {
            let (twin, bar) = (&twin, &bar);
            s.spawn(move || amirange::run::execute_on(twin, network, Instant::now(), false, |_, _| bar.inc(1)))
        });
        // The readings are streamed into the staged folder as the attack run goes.
        let export = match staged.filter(|_| exports.readings) {
            Some(staged) => Some(ReadingsExport::create(
                &staged.path().join(readings::FILE),
                scenario,
                &network,
            )?),
            None => None,
        };
        let mut observers: amirange::run::Observers = Vec::new();
        observers.extend(export.map(|e| Box::new(e) as Box<dyn amirange_sim::engine::IntervalObserver>));
        if let Some(staged) = staged.filter(|_| exports.field) {
            let collectors = amirange::field::resolve_collectors(scenario, &network)?;
            observers.push(Box::new(amirange::field::FieldCapture::create(
                staged.path(),
                scenario,
                &collectors,
            )?));
        }
        // The attack run's files are rendered (and its world freed) while the twin may still run.
        let rendered =
            execute_observed(scenario, Some(network), observers, &label, &source, &bar).and_then(|finished| {
                if let Some(export) = finished.sim.interval_observer::<ReadingsExport>() {
                    export.finish(&finished.sim)?;
                }
                if let Some(capture) = finished.sim.interval_observer::<amirange::field::FieldCapture>() {
                    capture.finish()?;
                }
                if let Some(staged) = staged.filter(|_| exports.traffic || exports.flows) {
                    let wanted = amirange::capture::Wanted {
                        capture: exports.traffic,
                        flows: exports.flows,
                        field: false,
                    };
                    amirange::capture::export(staged.path(), scenario, &finished.sim, finished.sensor_horizon, wanted)?;
                }
                let wall = started.elapsed();
                let files = results::render(
                    scenario,
                    &finished.sim,
                    &finished.metrics,
                    &manifest(wall),
                    finished.map.as_ref(),
                )?;
                Ok((files, finished.metrics, wall))
            });
        let baseline = match twin_run {
            Some(handle) => Some(
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("the baseline twin's thread panicked"))?
                    .context("running the baseline twin (the scenario without its attacks)")?
                    .metrics,
            ),
            None => None,
        };
        let (files, metrics, wall) = rendered?;
        Ok((files, metrics, wall, baseline))
    })?;
    bar.finish_and_clear();
    if let Some(base) = &baseline {
        // False positives per day are the twin's: every alert there is false.
        metrics.false_positives_from(base);
        let mut json = serde_json::to_vec_pretty(&metrics)?;
        json.push(b'\n');
        if let Some(f) = files.iter_mut().find(|(name, _)| *name == "metrics.json") {
            f.1 = json;
        }
        files.push(("paired.csv", amirange::paired::paired_csv(&metrics, base).into_bytes()));
        // The report shows the twin's false positives too.
        files.retain(|(name, _)| !name.starts_with("plots/") && *name != "report.html");
        let report = results::report_files(&files)?;
        files.extend(report);
        let mut json = serde_json::to_vec_pretty(base)?;
        json.push(b'\n');
        files.push(("baseline-metrics.json", json));
    }
    Ok((files, metrics, wall, baseline))
}

/// `amirange bench`: the scenario run with the wall time of every phase (the topology, the
/// world, the stepping by kind of work, the measures, rendering and writing the result files
/// into a temporary folder that is removed afterwards), its speed and its memory.
pub(crate) fn cmd_bench(common: &CommonArgs, thread_args: &ThreadArgs, exports: Exports<'_>) -> Result<()> {
    if exports.readings {
        anyhow::bail!(
            "bench measures the traffic, flows and field exports, not readings (run `amirange run --export readings` and time it)"
        );
    }
    let wanted = amirange::capture::Wanted {
        capture: exports.traffic,
        flows: exports.flows,
        field: exports.field,
    };
    let (mut scenario, label, source) = common.load_with_source()?;
    choose_field_collectors(&mut scenario, exports.field, exports.field_collectors)?;
    let threads = thread_args.init_threads();
    let bar = progress_bar(scenario.n_intervals(), false);
    let amirange::run::BenchRun {
        finished,
        phases,
        result_bytes: bytes,
        wall,
        field,
    } = amirange::run::bench(&scenario, &label, threads, wanted, |_, _| bar.inc(1)).map_err(|e| -> anyhow::Error {
        match e.attack_error() {
            Some(attack) => amirange::scenario::attack_error(&label, &source, attack).into(),
            None => e.into(),
        }
    })?;
    bar.finish_and_clear();
    let meter_intervals = finished.metrics.meter_intervals as f64;
    let intervals = f64::from(scenario.n_intervals().max(1));
    println!("amirange bench: {} ({label})", scenario.name);
    println!("  meters                 {:>14}", group(scenario.meters()));
    println!("  intervals              {:>14}", scenario.n_intervals());
    println!("  threads                {:>14}", threads);
    let line = |name: &str, secs: f64| {
        println!(
            "    {name:<44} {secs:>8.3} s {:>5.1}%",
            100.0 * secs / wall.as_secs_f64()
        )
    };
    println!("  build (topology+world) {:>12.3} s", finished.build_time.as_secs_f64());
    for (phase, time) in phases
        .0
        .iter()
        .filter(|(p, _)| p.starts_with("topology") || p.starts_with("world"))
    {
        line(phase, time.as_secs_f64());
    }
    println!("  step (all intervals)   {:>12.3} s", finished.step_time.as_secs_f64());
    for phase in amirange_sim::probe::Phase::ALL {
        if let Some((_, time)) = phases.0.iter().find(|(p, _)| *p == phase.label()) {
            line(phase.label(), time.as_secs_f64());
        }
    }
    if let Some((_, time)) = phases
        .0
        .iter()
        .find(|(p, _)| *p == amirange_sim::probe::Phase::DataPlane.label())
    {
        println!(
            "    {:<44} {:>8.1} ms",
            "data plane per interval",
            1e3 * time.as_secs_f64() / intervals
        );
    }
    let results_time: f64 = phases
        .0
        .iter()
        .filter(|(p, _)| p.starts_with("results"))
        .map(|(_, t)| t.as_secs_f64())
        .sum();
    println!("  results                {:>12.3} s", results_time);
    for (phase, time) in phases.0.iter().filter(|(p, _)| p.starts_with("results")) {
        line(phase, time.as_secs_f64());
    }
    println!(
        "    {:<44} {:>10}",
        "result files' size",
        format!("{:.1} MB", bytes as f64 / 1e6)
    );
    if let Some((stats, field_bytes)) = field {
        println!(
            "  field capture          {} packets, {} exchanges, {} meters keyed, {:.1} MB; {:.3} s (in the step's interval observers and the last packets)",
            group(stats.packets),
            group(stats.exchanges),
            group(stats.keyed_meters),
            field_bytes as f64 / 1e6,
            stats.render.as_secs_f64()
        );
    }
    println!("  wall total             {:>12.3} s", wall.as_secs_f64());
    println!(
        "  meter-intervals/s      {:>14}",
        group((meter_intervals / finished.step_time.as_secs_f64().max(1e-9)) as u64)
    );
    println!(
        "  control events/s       {:>14}",
        group((finished.metrics.control_plane.events as f64 / finished.step_time.as_secs_f64().max(1e-9)) as u64)
    );
    match peak_rss_bytes() {
        Some(b) => {
            println!("  peak memory (VmHWM)    {:>11.1} MB", b as f64 / 1e6);
            println!("  bytes per meter        {:>14}", b / scenario.meters().max(1));
        }
        None => println!("  peak memory            {:>14}", "unavailable on this platform"),
    }
    println!("  world state per meter  {:>14} B", finished.sim.bytes_per_meter());
    Ok(())
}

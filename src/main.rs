//! The `amirange` command line.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

mod range_cli;

use amirange::metrics::Metrics;
use amirange::outdir::{self, FolderKind};
use amirange::results::{self, Manifest, ResolvedScenario};
use amirange::run::{self, peak_rss_bytes};
use amirange::scenario::{self, Overrides, Scenario};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// amirange: a cyber range for advanced metering infrastructure.
///
/// Simulates smart meters, their field networks, collectors, the head-end system and meter data
/// management, from a RON scenario file. Same scenario and seed, same result bytes, whatever the
/// thread count.
#[derive(Parser, Debug)]
#[command(name = "amirange", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario and write a result folder (the built-in quickstart when no file is given).
    ///
    /// Writes manifest.json, metrics.json, timeseries.csv, truth.csv and alerts.csv to
    /// results/<name>-seed<seed>/ (or --out), atomically: a failed run leaves nothing behind.
    Run {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        threads: ThreadArgs,
        /// Result folder to create (default: results/<name>-seed<seed>, suffixed -2, -3, ...
        /// when it exists).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replace the --out folder if it exists, only if amirange wrote it (nothing else in
        /// it) and only once the new results are complete.
        #[arg(long)]
        force: bool,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Also run the baseline twin (the same scenario and seed without its attacks) and
        /// write every measure as attack, baseline and difference (paired.csv), with the twin's
        /// metrics (baseline-metrics.json). The scenario field `paired: true` does the same.
        #[arg(long)]
        paired: bool,
    },
    /// Run a scenario without writing results and report speed and memory: wall time,
    /// meter-intervals per second and peak resident memory.
    Bench {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        threads: ThreadArgs,
    },
    /// Run every attack file against every defense preset and print one table of time to
    /// detect and blast radius (also written as CSV).
    ///
    /// Each file runs as written but for the preset, which replaces its crypto posture, MFA,
    /// command policy, detection and response. False positives per day are the run's own
    /// (unmatched alerts); `amirange run --paired --preset P` gives the baseline twin's.
    Matrix {
        /// Folder of attack scenario files.
        #[arg(value_name = "DIR", default_value = "scenarios/attacks")]
        dir: PathBuf,
        /// Presets to compare, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "none,typical-utility,hardened")]
        presets: Vec<String>,
        /// Override every file's number of meters.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        meters: Option<i64>,
        /// Override every file's duration.
        #[arg(long, value_name = "D")]
        duration: Option<String>,
        /// CSV file to write.
        #[arg(long, value_name = "FILE", default_value = "results/matrix.csv")]
        out: PathBuf,
        #[command(flatten)]
        threads: ThreadArgs,
    },
    /// Run a sweep plan: a scenario over a grid of field values times N seeds, in parallel on
    /// the cores; writes runs.csv (each run's measures), summary.csv (mean, standard deviation
    /// and 95% confidence interval per grid point and measure) and each run's metrics.json.
    ///
    /// Every grid point is built and validated before the first run. With --shard I/N only
    /// every N-th run is done (the I-th of N disjoint parts); `amirange merge` combines shards
    /// into the same files an unsharded sweep writes.
    Sweep {
        /// The sweep plan (RON, `Sweep(...)`; see scenarios/sweeps/).
        #[arg(value_name = "PLAN")]
        plan: PathBuf,
        /// Do only part I of N (1-based), e.g. 2/8 or "$SLURM_ARRAY_TASK_ID/8".
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<(usize, usize)>,
        /// Folder to create (default: results/sweep-<name>, or results/sweep-<name>-shard-I-of-N).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replace the --out folder if it exists, only if amirange wrote it (nothing else in
        /// it) and only once the new results are complete.
        #[arg(long)]
        force: bool,
        /// Runs at once (default: as many as --threads).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
        jobs: Option<u16>,
        /// Threads the sweep may keep busy in all (default: the cores amirange may use), e.g.
        /// "$SLURM_CPUS_PER_TASK"; the runs at once share them (each run's data plane gets
        /// threads / jobs of them, at least one). Results do not depend on it.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Option<u16>,
        /// Print nothing but errors. Without it, when stderr is not a terminal (a batch job's
        /// log), one line per finished run is written there instead of a progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Draw a result folder's charts and report.html again from its files (manifest.json,
    /// metrics.json, timeseries.csv, truth.csv, alerts.csv, map.csv, map.json), or a sweep
    /// folder's from sweep.json and summary.csv.
    Report {
        /// The result folder.
        #[arg(value_name = "RESULT_DIR")]
        dir: PathBuf,
    },
    /// Merge the folders of a sweep's shards into one, with the summary of the whole sweep
    /// (byte for byte what the unsharded sweep writes).
    Merge {
        /// The shards' folders.
        #[arg(value_name = "DIR", required = true)]
        dirs: Vec<PathBuf>,
        /// Folder to create.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace the --out folder if it exists, only if amirange wrote it as a sweep folder
        /// (nothing else in it) and only once the merged folder is complete.
        #[arg(long)]
        force: bool,
    },
    /// Check a scenario, exercise or sweep plan file without running it, and print a summary
    /// of it. The kind is told by how the file opens: `Scenario(`, `Exercise(` or `Sweep(`.
    /// An exercise's scenario and a sweep's every run are checked too.
    Validate {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Serve a live exercise: the scenario paced by the wall clock, red, blue and white teams
    /// over QUIC, a dashboard on loopback.
    ///
    /// Prints each team's generated token, the certificate's fingerprint (clients pin it) and
    /// the dashboard's address. The journal (every request, accepted or refused) grows in
    /// results/exercise-<name>/journal.jsonl; metrics.json is written there when the run
    /// reaches its end. Exercises for a class are in scenarios/exercises/.
    Serve {
        /// The exercise file (RON).
        exercise: PathBuf,
        /// Result folder (default: results/exercise-<name>, suffixed -2, -3, ... when it
        /// exists).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The operator's certificate (PEM) instead of one generated at start; needs --key.
        #[arg(long, value_name = "PEM", requires = "key")]
        cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, value_name = "PEM", requires = "cert")]
        key: Option<PathBuf>,
        /// Scale the fleet to this many meters.
        #[arg(long)]
        meters: Option<u64>,
        /// The pace at start (simulated seconds per wall second), instead of the file's.
        #[arg(long)]
        pace: Option<f64>,
        /// Stop when the run reaches its end (by default the final state stays served until
        /// Ctrl-C).
        #[arg(long)]
        exit_at_end: bool,
    },
    /// Re-run an exercise from its journal, without the network, and write its metrics.json
    /// (replay-metrics.json beside the journal unless --out); exits 1 when it differs from the
    /// metrics.json beside the journal.
    Replay {
        /// The journal (journal.jsonl in the exercise's result folder).
        journal: PathBuf,
        /// Where to write the replay's metrics.json.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Play on the red team of a live exercise.
    Red {
        #[command(flatten)]
        connect: range_cli::Connect,
        #[command(subcommand)]
        command: range_cli::RedCommand,
    },
    /// Play on the blue team of a live exercise.
    Blue {
        #[command(flatten)]
        connect: range_cli::Connect,
        #[command(subcommand)]
        command: range_cli::BlueCommand,
    },
    /// Run a live exercise as its instructor (white team): the clock, injects, ground truth.
    White {
        #[command(flatten)]
        connect: range_cli::Connect,
        #[command(subcommand)]
        command: range_cli::WhiteCommand,
    },
    /// Inspect topologies: list the presets, describe a network's structure, draw its map.
    Topo {
        #[command(subcommand)]
        command: TopoCommand,
    },
}

#[derive(Subcommand, Debug)]
enum TopoCommand {
    /// List the built-in presets.
    List,
    /// Generate a topology and print its structure: meters per link kind, collectors, meters
    /// per collector, mesh hop counts, grid, critical facilities, orphans and why.
    Describe {
        #[command(flatten)]
        topo: TopoArgs,
    },
    /// Generate a topology and draw it as SVG: meters coloured by link kind, mesh routes,
    /// collectors, transformers along their feeders, substations, critical facilities, orphans.
    Map {
        #[command(flatten)]
        topo: TopoArgs,
        /// SVG file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Width of the drawing in pixels.
        #[arg(long, default_value_t = 1400, value_parser = clap::value_parser!(u32).range(200..=20_000))]
        width: u32,
    },
}

#[derive(Args, Debug)]
struct TopoArgs {
    /// A preset name (see `amirange topo list`) or a topology file (RON, `Area(...)`).
    #[arg(value_name = "PRESET_OR_FILE")]
    topology: String,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Override the number of meters.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    meters: Option<i64>,
}

impl TopoArgs {
    /// Loads, resolves and generates the topology; returns it with its label.
    fn generate(&self) -> Result<(amirange_topologies::Network, String)> {
        let path = Path::new(&self.topology);
        let (label, text) = if path.is_file() {
            let text = amirange_files::read_text(path, "topology file", amirange_files::MAX_SOURCE_BYTES)?;
            (path.display().to_string(), text)
        } else if let Some(text) = amirange_topologies::preset(&self.topology) {
            (format!("topologies/presets/{}.ron", self.topology), text.to_owned())
        } else {
            let names: Vec<&str> = amirange_topologies::PRESETS.iter().map(|(n, _)| *n).collect();
            anyhow::bail!(
                "{:?} is neither a file nor a preset; built-in presets: {}",
                self.topology,
                names.join(", ")
            );
        };
        let area = scenario::load_area(&label, &text, self.meters)?;
        let defaults = amirange_sim::config::SimConfig::default_class;
        let class_kwh = amirange_sim::model::CustomerClass::ALL.map(|c| defaults(c).mean_annual_kwh);
        let network = area.generate(self.seed, class_kwh).context("generating the topology")?;
        Ok((network, label))
    }
}

#[derive(Args, Debug)]
struct CommonArgs {
    /// Scenario file (RON). Without it, the built-in quickstart (scenarios/quickstart.ron).
    #[arg(value_name = "SCENARIO")]
    scenario: Option<PathBuf>,
    /// Override the scenario's seed.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Override the number of meters.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    meters: Option<i64>,
    /// Override the simulated duration, e.g. 6h, 2d, "1d 12h".
    #[arg(long, value_name = "D")]
    duration: Option<String>,
    /// Apply a defense preset, replacing the scenario's posture, policy, detection and
    /// response: none, typical-utility or hardened.
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
}

#[derive(Args, Debug)]
struct ThreadArgs {
    /// Worker threads for the data plane (default: all cores). Results do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
}

impl CommonArgs {
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
                .map_err(|(_, message)| anyhow::anyhow!("--preset: {message}"))?;
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run {
            common,
            threads,
            out,
            force,
            quiet,
            paired,
        } => cmd_run(&common, &threads, out.as_deref(), force, quiet, paired),
        Command::Bench { common, threads } => cmd_bench(&common, &threads),
        Command::Validate { common } => cmd_validate(&common),
        Command::Sweep {
            plan,
            shard,
            out,
            force,
            jobs,
            threads,
            quiet,
        } => cmd_sweep(&plan, shard, out, force, jobs, threads, quiet),
        Command::Merge { dirs, out, force } => cmd_merge(&dirs, &out, force),
        Command::Report { dir } => cmd_report(&dir),
        Command::Matrix {
            dir,
            presets,
            meters,
            duration,
            out,
            threads,
        } => cmd_matrix(&dir, &presets, meters, duration, &out, &threads),
        Command::Topo { command } => cmd_topo(command),
        Command::Serve {
            exercise,
            out,
            cert,
            key,
            meters,
            pace,
            exit_at_end,
        } => range_cli::serve(range_cli::ServeArgs {
            exercise,
            out,
            cert: cert.zip(key),
            meters,
            pace,
            exit_at_end,
        }),
        Command::Replay { journal, out } => {
            if range_cli::replay_journal(&journal, out.as_deref())? {
                Ok(())
            } else {
                anyhow::bail!("the replay's metrics.json differs from the exercise's")
            }
        }
        Command::Red { connect, command } => range_cli::red(&connect, command),
        Command::Blue { connect, command } => range_cli::blue(&connect, command),
        Command::White { connect, command } => range_cli::white(&connect, command),
    }
}

fn cmd_topo(command: TopoCommand) -> Result<()> {
    match command {
        TopoCommand::List => {
            for (name, text) in amirange_topologies::PRESETS {
                let about = text
                    .lines()
                    .take_while(|l| l.starts_with("//"))
                    .map(|l| l.trim_start_matches("//").trim())
                    .collect::<Vec<_>>()
                    .join(" ");
                println!("{name:<12} {about}");
            }
            Ok(())
        }
        TopoCommand::Describe { topo } => {
            let started = Instant::now();
            let (network, label) = topo.generate()?;
            let generated = started.elapsed();
            let state = amirange_sim::network::NetState::new(&network);
            let routed = started.elapsed() - generated;
            println!("{label} · seed {}", topo.seed);
            print!("{}", amirange_topologies::describe::Summary::of(&network, &state));
            println!(
                "built in      {:.2} s (placement, grid, radio graph) + {:.2} s (routes and paths)",
                generated.as_secs_f64(),
                routed.as_secs_f64()
            );
            Ok(())
        }
        TopoCommand::Map { topo, out, width } => {
            let (network, label) = topo.generate()?;
            let state = amirange_sim::network::NetState::new(&network);
            let svg = amirange::map::svg(
                &network,
                &state,
                &format!("{label} · seed {}", topo.seed),
                f64::from(width),
            );
            // Written beside the target and renamed, so a failure never leaves half a map.
            let partial = out.with_extension("svg.partial");
            std::fs::write(&partial, svg).with_context(|| format!("cannot write {}", partial.display()))?;
            std::fs::rename(&partial, &out).with_context(|| format!("cannot write {}", out.display()))?;
            println!("map: {}", out.display());
            Ok(())
        }
    }
}

fn progress_bar(total: u32, quiet: bool) -> ProgressBar {
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

/// Runs the scenario; an attack error found while preparing it (a target the generated network
/// lacks) is located in the scenario file like any validation error.
fn execute(scenario: &Scenario, label: &str, source: &str, bar: &ProgressBar) -> Result<run::Finished> {
    execute_on(scenario, None, label, source, bar)
}

// Runs through these wrappers draw the blast-radius map (a run, a bench that measures what a
// run costs, the matrix's runs); a paired run's twin and a sweep's runs do not.

/// As [`execute`], on a network generated already when one is given.
fn execute_on(
    scenario: &Scenario,
    network: Option<amirange_sim::network::Network>,
    label: &str,
    source: &str,
    bar: &ProgressBar,
) -> Result<run::Finished> {
    let started = Instant::now();
    let network = match network {
        Some(n) => n,
        None => run::generate(scenario)?,
    };
    run::execute_on(scenario, network, started, true, |_, _| bar.inc(1)).map_err(|e| {
        match e.downcast_ref::<amirange_attackers::AttackError>() {
            Some(attack) => scenario::attack_error(label, source, attack).into(),
            None => e,
        }
    })
}

fn cmd_run(
    common: &CommonArgs,
    thread_args: &ThreadArgs,
    out: Option<&Path>,
    force: bool,
    quiet: bool,
    paired: bool,
) -> Result<()> {
    let (scenario, label, source) = common.load_with_source()?;
    let paired = paired || scenario.paired;
    let out_dir = results::choose_out_dir(out, &scenario, force)?;
    let threads = thread_args.init_threads();
    let n = scenario.n_intervals();
    let bar = progress_bar(if paired { 2 * n } else { n }, quiet);
    let started = Instant::now();
    // The twin runs on the same network (generated once) beside the attack run, on a thread of
    // its own: their serial parts overlap, and the data-plane passes share the compute pool.
    let network = run::generate(&scenario)?;
    let twin_network = paired.then(|| network.clone());
    let twin = amirange::paired::twin(&scenario);
    let manifest = |wall: std::time::Duration| Manifest {
        amirange_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario: scenario.name.clone(),
        scenario_source: label.clone(),
        seed: scenario.seed(),
        meters: scenario.meters(),
        start: scenario.sim.start.to_string(),
        duration: scenario.duration.to_string(),
        intervals: scenario.n_intervals(),
        threads,
        wall_time_s: (wall.as_secs_f64() * 1000.0).round() / 1000.0,
        resolved: ResolvedScenario {
            sim: scenario.sim.clone(),
            topology: scenario.topology.clone(),
            operations: scenario.operations.clone(),
            topology_source: scenario.topology_source.clone(),
            attacks: scenario.attacks.clone(),
            preset: scenario.preset.clone(),
            detection: scenario.detection.clone(),
        },
    };
    let (mut files, mut metrics, wall, baseline) = std::thread::scope(|s| -> Result<_> {
        let twin_run = twin_network.map(|network| {
            let (twin, bar) = (&twin, &bar);
            s.spawn(move || amirange::run::execute_on(twin, network, Instant::now(), false, |_, _| bar.inc(1)))
        });
        // The attack run's files are rendered (and its world freed) while the twin may still run.
        let rendered = execute_on(&scenario, Some(network), &label, &source, &bar).and_then(|finished| {
            let wall = started.elapsed();
            let files = results::render(
                &scenario,
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
    results::write_all(&out_dir, &files, force)?;
    if !quiet {
        // The wall time is the attack run's (the twin's is not included).
        print_summary(&scenario, &metrics, threads, wall.as_secs_f64());
        if let Some(base) = &baseline {
            print_paired(&metrics, base);
        }
        println!("results: {}/", out_dir.display());
        println!("report:  {}", out_dir.join("report.html").display());
    }
    Ok(())
}

/// The paired run's headline differences: what the attacks changed against the twin.
fn print_paired(attack: &amirange::metrics::Metrics, baseline: &amirange::metrics::Metrics) {
    let rows = amirange::paired::rows(attack, baseline);
    let wanted = [
        ("supply.customer_minutes_interrupted", "customer-minutes interrupted"),
        ("supply.kwh_not_served", "kWh not served"),
        ("reads.on_time", "interval reads on time"),
        ("reads.estimated", "intervals estimated"),
        ("energy.reported_kwh", "energy reported at first read, kWh"),
        ("control_plane.alerts", "alerts"),
        ("frequency.min_hz", "lowest frequency, Hz"),
    ];
    println!();
    println!("  paired with its baseline twin (same seed, no attacks)");
    println!(
        "  {:<36} {:>14} {:>14} {:>14}",
        "measure", "attack", "baseline", "difference"
    );
    for (path, name) in wanted {
        if let Some((_, a, b)) = rows.iter().find(|r| r.0 == path) {
            let difference = a - b;
            let sign = if difference > 0.0 && human(difference) != "0" {
                "+"
            } else {
                ""
            };
            println!(
                "  {name:<36} {:>14} {:>14} {:>14}",
                human(*a),
                human(*b),
                format!("{sign}{}", human(difference))
            );
        }
    }
    println!("  every measure: paired.csv");
}

/// Reads a file of a result or sweep folder back, refusing anything but a regular file and
/// files over [`amirange_files::MAX_RESULT_FILE_BYTES`].
fn read_result(path: &Path) -> Result<String> {
    Ok(amirange_files::read_text(
        path,
        "result file",
        amirange_files::MAX_RESULT_FILE_BYTES,
    )?)
}

fn cmd_report(dir: &Path) -> Result<()> {
    let sweep = dir.join("sweep.json");
    if sweep.is_file() {
        let text = read_result(&sweep)?;
        let info: SweepInfo =
            serde_json::from_str(&text).with_context(|| format!("{}: not a sweep.json", sweep.display()))?;
        let summary = read_result(&dir.join("summary.csv")).with_context(|| {
            format!(
                "{} has no readable summary.csv (a shard: merge the shards first)",
                dir.display()
            )
        })?;
        let out = amirange::sweep::report_files(&info.layout, &summary);
        // A measure that has no chart now loses the one drawn before.
        for k in 0..info.layout.plan.measures.len() {
            let name = format!("plots/measure-{k}.svg");
            if !out.iter().any(|(n, _)| *n == name) {
                let _ = std::fs::remove_file(dir.join(&name));
            }
        }
        return write_beside(dir, out.iter().map(|(n, b)| (n.as_str(), b)));
    }
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    for name in results::REPORT_SOURCES {
        let path = dir.join(name);
        let text = read_result(&path)
            .with_context(|| format!("{} is not a result folder: cannot read {name}", dir.display()))?;
        files.push((name, text.into_bytes()));
    }
    // Folders written before the map existed have no map files; the report is drawn without it.
    for name in results::MAP_SOURCES {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_ok() {
            files.push((name, read_result(&path)?.into_bytes()));
        }
    }
    let out = results::report_files(&files)?;
    if !out.iter().any(|(n, _)| *n == "plots/map.svg") {
        let _ = std::fs::remove_file(dir.join("plots/map.svg"));
    }
    write_beside(dir, out.iter().map(|(n, b)| (*n, b)))
}

/// Writes report files into `dir`, each beside itself and renamed, so that a reader never sees
/// half of one.
fn write_beside<'a>(dir: &Path, files: impl Iterator<Item = (&'a str, &'a Vec<u8>)>) -> Result<()> {
    std::fs::create_dir_all(dir.join("plots")).with_context(|| format!("cannot create {}/plots", dir.display()))?;
    for (name, bytes) in files {
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.partial"));
        std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("wrote {}", dir.join("report.html").display());
    Ok(())
}

/// Parses `I/N` with 1 <= I <= N.
fn parse_shard(text: &str) -> std::result::Result<(usize, usize), String> {
    let (i, n) = text.split_once('/').ok_or("expected I/N, e.g. 2/8")?;
    let i: usize = i.trim().parse().map_err(|_| format!("{i:?} is not a number"))?;
    let n: usize = n.trim().parse().map_err(|_| format!("{n:?} is not a number"))?;
    if n == 0 || i == 0 || i > n {
        return Err(format!("need 1 <= I <= N, got {i}/{n}"));
    }
    Ok((i, n))
}

/// What a sweep folder says about itself (`sweep.json`).
#[derive(serde::Serialize, serde::Deserialize)]
struct SweepInfo {
    /// The plan, grid points and seeds.
    layout: amirange::sweep::Layout,
    /// The shard, `[I, N]`, if it is one.
    shard: Option<(usize, usize)>,
    /// Runs in this folder.
    runs: Vec<usize>,
}

fn cmd_sweep(
    plan_path: &Path,
    shard: Option<(usize, usize)>,
    out: Option<PathBuf>,
    force: bool,
    jobs: Option<u16>,
    threads: Option<u16>,
    quiet: bool,
) -> Result<()> {
    let started = Instant::now();
    let prepared = amirange::sweep::prepare(plan_path)?;
    let layout = &prepared.layout;
    let out = out.unwrap_or_else(|| {
        let mut name = format!("sweep-{}", layout.plan.name);
        if let Some((i, n)) = shard {
            name.push_str(&format!("-shard-{i}-of-{n}"));
        }
        PathBuf::from("results").join(name)
    });
    outdir::check_target(&out, FolderKind::Sweep, force)?;
    let runs = amirange::sweep::shard_runs(layout.total(), shard);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let budget = threads.map_or(cores, usize::from);
    let workers = jobs.map_or(budget, usize::from).min(runs.len().max(1));
    // Runs at once each work on their own thread and share the data-plane pool: with as many
    // runs as threads, one pool thread (measured fastest on 2 cores); with fewer runs, the
    // threads left over go to the pool.
    let pool_threads = (budget / workers).max(1);
    bevy_tasks::ComputeTaskPool::get_or_init(|| bevy_tasks::TaskPoolBuilder::new().num_threads(pool_threads).build());
    if !quiet {
        println!(
            "amirange sweep: {} ({} grid points x {} seeds = {} runs{}; {} at once)",
            layout.plan.name,
            layout.points.len(),
            layout.seeds.len(),
            layout.total(),
            shard.map_or(String::new(), |(i, n)| format!(", shard {i}/{n}: {} runs", runs.len())),
            workers
        );
    }
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(runs.len() as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {elapsed} elapsed, about {eta} left")
        {
            bar.set_style(style);
        }
        bar
    };
    // In a batch job's log (stderr not a terminal) the bar is not drawn: one line per run instead.
    let log_runs = !quiet && !std::io::stderr().is_terminal();
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let seeds = layout.seeds.len().max(1);
    let done = amirange::sweep::execute(&prepared, &runs, workers, |run| {
        bar.inc(1);
        if log_runs {
            let k = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            eprintln!(
                "run {run} done (grid point {}, seed {}): {k} of {} runs, {:.1} s elapsed",
                run / seeds,
                layout.seeds.get(run % seeds).copied().unwrap_or_default(),
                runs.len(),
                started.elapsed().as_secs_f64()
            );
        }
    })?;
    bar.finish_and_clear();
    let rows: Vec<amirange::sweep::RunRow> = done.iter().map(|(r, _)| r.clone()).collect();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    files.push(("runs.csv".into(), amirange::sweep::runs_csv(layout, &rows).into_bytes()));
    if shard.is_none() {
        let summary = amirange::sweep::summary_csv(layout, &rows);
        files.extend(amirange::sweep::report_files(layout, &summary));
        files.push(("summary.csv".into(), summary.into_bytes()));
    }
    let info = SweepInfo {
        layout: layout.clone(),
        shard,
        runs: runs.clone(),
    };
    let mut json = serde_json::to_vec_pretty(&info)?;
    json.push(b'\n');
    files.push(("sweep.json".into(), json));
    for ((run, _), metrics) in &done {
        files.push((format!("runs/{run:05}/metrics.json"), metrics.clone()));
    }
    amirange::outdir::write(&out, FolderKind::Sweep, &files, force)?;
    if !quiet {
        println!(
            "  {} runs in {:.1} s; {}",
            runs.len(),
            started.elapsed().as_secs_f64(),
            if shard.is_some() {
                format!(
                    "merge the shards with `amirange merge <dirs> --out DIR`; written to {}",
                    out.display()
                )
            } else {
                format!("summary: {}", out.join("summary.csv").display())
            }
        );
    }
    Ok(())
}

/// The first ten items joined with commas, and how many more there are.
fn first_few(items: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut text = items.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    text
}

/// Refuses a set of shards that mixes shard counts, holds a shard twice or lacks one, naming
/// the folders and the missing shards. Folders that are not shards (a whole sweep) are left to
/// the per-run checks.
fn check_shard_set(infos: &[(&PathBuf, SweepInfo)]) -> Result<()> {
    let shards: Vec<(&PathBuf, usize, usize)> = infos
        .iter()
        .filter_map(|(dir, info)| info.shard.map(|(i, n)| (*dir, i, n)))
        .collect();
    let Some(&(first_dir, _, count)) = shards.first() else {
        return Ok(());
    };
    if let Some((dir, i, n)) = shards.iter().find(|(_, _, n)| *n != count) {
        anyhow::bail!(
            "the folders mix shard counts: {} is a shard of {count}, but {} is shard {i} of {n}; \
             merge the shards of one submission",
            first_dir.display(),
            dir.display()
        );
    }
    if let Some(whole) = infos.iter().find(|(_, info)| info.shard.is_none()) {
        anyhow::bail!(
            "{} is a whole sweep, not a shard like {}: merge shards only",
            whole.0.display(),
            first_dir.display()
        );
    }
    let mut by_index: Vec<Option<&PathBuf>> = vec![None; count + 1];
    for (dir, i, _) in &shards {
        if let Some(slot) = by_index.get_mut(*i) {
            if let Some(other) = slot {
                anyhow::bail!(
                    "shard {i} of {count} appears in both {} and {}: merge each shard once",
                    other.display(),
                    dir.display()
                );
            }
            *slot = Some(dir);
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| by_index.get(*i).is_none_or(Option::is_none))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "missing shard{} {} of {count} (given: {}); merge every shard of the submission",
            if missing.len() == 1 { "" } else { "s" },
            first_few(&missing),
            first_few(
                &shards
                    .iter()
                    .map(|(dir, i, _)| format!("{} (shard {i})", dir.display()))
                    .collect::<Vec<_>>()
            )
        );
    }
    Ok(())
}

fn cmd_merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<()> {
    outdir::check_target(out, FolderKind::Sweep, force)?;
    let mut infos: Vec<(&PathBuf, SweepInfo)> = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let info_path = dir.join("sweep.json");
        let text = read_result(&info_path)
            .with_context(|| format!("{} is not a sweep folder (no readable sweep.json)", dir.display()))?;
        let info: SweepInfo =
            serde_json::from_str(&text).with_context(|| format!("{}: not a sweep.json", info_path.display()))?;
        if let Some((first, first_info)) = infos.first()
            && first_info.layout != info.layout
        {
            anyhow::bail!("{} belongs to another sweep than {}", dir.display(), first.display())
        }
        infos.push((dir, info));
    }
    check_shard_set(&infos)?;
    let mut layout: Option<amirange::sweep::Layout> = None;
    let mut rows: Vec<amirange::sweep::RunRow> = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    // Which folder each run came from, to name both when one appears twice.
    let mut source: std::collections::BTreeMap<usize, &PathBuf> = std::collections::BTreeMap::new();
    for (dir, info) in &infos {
        if layout.is_none() {
            layout = Some(info.layout.clone());
        }
        let label = dir.join("runs.csv").display().to_string();
        let runs = read_result(&dir.join("runs.csv"))?;
        for row in amirange::sweep::parse_runs(&info.layout, &runs, &label)? {
            if let Some(other) = source.insert(row.0, dir) {
                anyhow::bail!(
                    "run {} appears in both {} and {}: merge each shard once",
                    row.0,
                    other.display(),
                    dir.display()
                );
            }
            let metrics = dir.join(format!("runs/{:05}/metrics.json", row.0));
            let text = read_result(&metrics)?;
            files.push((format!("runs/{:05}/metrics.json", row.0), text.into_bytes()));
            rows.push(row);
        }
    }
    let layout = layout.context("no folders given")?;
    rows.sort_by_key(|(run, _)| *run);
    let total = layout.total();
    let have: Vec<usize> = rows.iter().map(|(r, _)| *r).collect();
    let missing: Vec<usize> = (0..total).filter(|r| have.binary_search(r).is_err()).collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "{} of {total} runs are missing (e.g. run {}): merge every shard",
            missing.len(),
            missing[0]
        );
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.insert(
        0,
        (
            "runs.csv".into(),
            amirange::sweep::runs_csv(&layout, &rows).into_bytes(),
        ),
    );
    let summary = amirange::sweep::summary_csv(&layout, &rows);
    files.extend(amirange::sweep::report_files(&layout, &summary));
    files.insert(1, ("summary.csv".into(), summary.into_bytes()));
    let info = SweepInfo {
        layout,
        shard: None,
        runs: (0..total).collect(),
    };
    let mut json = serde_json::to_vec_pretty(&info)?;
    json.push(b'\n');
    files.insert(2, ("sweep.json".into(), json));
    amirange::outdir::write(out, FolderKind::Sweep, &files, force)?;
    println!(
        "merged {} runs from {} folders into {}",
        total,
        dirs.len(),
        out.display()
    );
    Ok(())
}

/// One attack under one preset in the matrix: (file/attack, preset, worked, detected, blast
/// measures, why it did not work).
type Outcome = (String, String, bool, bool, [f64; 7], Option<String>);

/// The header of the attack x preset matrix.
const MATRIX_HEADER: &str = "file,attack,kind,preset,succeeded,detected,time_to_detect_s,first_detector,\
peak_customers_disconnected,customer_minutes_interrupted,kwh_not_served,kwh_falsified,kwh_stolen,readings_lost,\
meters_compromised,customers_exposed,ufls_shed_mw,time_to_restore_s,alerts,false_positives_per_day";

fn cmd_matrix(
    dir: &Path,
    presets: &[String],
    meters: Option<i64>,
    duration: Option<String>,
    out: &Path,
    thread_args: &ThreadArgs,
) -> Result<()> {
    for p in presets {
        if amirange_defenses::presets::preset(p).is_none() {
            anyhow::bail!(
                "--presets: unknown preset {p:?}: one of {}",
                amirange_defenses::presets::NAMES.join(", ")
            );
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("{} holds no scenario files (*.ron)", dir.display());
    }
    thread_args.init_threads();
    let overrides = Overrides {
        seed: None,
        meters,
        duration,
    };
    // Load everything first: a bad file stops the matrix before the first run.
    let mut scenarios = Vec::new();
    for path in &files {
        let text = scenario::read_source(path)?;
        let label = path.display().to_string();
        let scenario = scenario::load(&label, &text, &overrides)?;
        scenarios.push((label, text, scenario));
    }
    let total = scenarios.len() * presets.len();
    let mut csv = amirange::results::CsvText::with_header(MATRIX_HEADER);
    let mut table: Vec<[String; 9]> = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let started = Instant::now();
    let mut done = 0;
    for (label, text, base) in &scenarios {
        let name = Path::new(label)
            .file_stem()
            .map_or_else(|| label.clone(), |s| s.to_string_lossy().into_owned());
        for preset in presets {
            let mut scenario = base.clone();
            scenario
                .apply_preset(preset)
                .map_err(|(f, m)| anyhow::anyhow!("{label}: {f}: {m}"))?;
            done += 1;
            if std::io::stderr().is_terminal() {
                eprint!("\r[{done}/{total}] {name} / {preset}{:30}", "");
            }
            let finished = execute(&scenario, label, text, &ProgressBar::hidden())?;
            let m = &finished.metrics;
            let fp = m.defense.false_positives_per_day;
            for a in &m.attacks {
                let b = &a.blast_radius;
                outcomes.push((
                    format!("{name}/{}", a.id),
                    preset.clone(),
                    a.succeeded,
                    a.detected,
                    [
                        b.peak_customers_disconnected as f64,
                        b.customer_minutes_interrupted,
                        b.kwh_falsified + b.kwh_stolen,
                        b.readings_lost as f64,
                        b.meters_compromised as f64,
                        b.customers_exposed as f64,
                        b.ufls_shed_mw,
                    ],
                    a.failure_reason.clone(),
                ));
                let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
                // A file name or an attack id may hold a comma: the CSV writer quotes it.
                csv.row([
                    name.clone(),
                    a.id.clone(),
                    a.kind.clone(),
                    preset.clone(),
                    a.succeeded.to_string(),
                    a.detected.to_string(),
                    opt(a.time_to_detect_s),
                    a.first_detector.clone().unwrap_or_default(),
                    b.peak_customers_disconnected.to_string(),
                    b.customer_minutes_interrupted.to_string(),
                    b.kwh_not_served.to_string(),
                    b.kwh_falsified.to_string(),
                    b.kwh_stolen.to_string(),
                    b.readings_lost.to_string(),
                    b.meters_compromised.to_string(),
                    b.customers_exposed.to_string(),
                    b.ufls_shed_mw.to_string(),
                    opt(b.time_to_restore_s),
                    m.defense.alerts.to_string(),
                    fp.to_string(),
                ]);
                table.push([
                    name.clone(),
                    preset.clone(),
                    if a.succeeded { "yes" } else { "no" }.to_owned(),
                    match (a.time_to_detect_s, &a.first_detector) {
                        (Some(t), Some(d)) => format!("{} by {d}", human_secs(t)),
                        _ => "not detected".to_owned(),
                    },
                    group(b.peak_customers_disconnected),
                    format!("{:.0}", b.customer_minutes_interrupted),
                    format!("{:.0}", b.kwh_falsified + b.kwh_stolen),
                    group(b.readings_lost),
                    b.time_to_restore_s.map_or_else(|| "not in run".to_owned(), human_secs),
                ]);
            }
        }
    }
    if std::io::stderr().is_terminal() {
        eprint!("\r{:80}\r", "");
    }
    let head = [
        "attack file",
        "preset",
        "worked",
        "detected",
        "peak off",
        "cust-min",
        "kWh fals+stolen",
        "reads lost",
        "restored after",
    ];
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].len())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i < 2 || i == 3 {
                let _ = write!(s, "{c:<w$}  ", w = widths[i]);
            } else {
                let _ = write!(s, "{c:>w$}  ", w = widths[i]);
            }
        }
        s.trim_end().to_owned()
    };
    println!("{}", line(&head));
    let mut last = String::new();
    for r in &table {
        if !last.is_empty() && r[0] != last {
            println!();
        }
        last = r[0].clone();
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        println!("{}", line(&cells));
    }
    // The strongest preset (the last) against the weakest (the first).
    if let (Some(weak), Some(strong)) = (presets.first(), presets.last())
        && weak != strong
    {
        let of = |p: &str| outcomes.iter().filter(|o| o.1 == p).collect::<Vec<_>>();
        let undetected: Vec<String> = of(strong)
            .into_iter()
            .filter(|o| !o.3)
            .map(|o| match (o.2, &o.5) {
                (true, _) => format!("{} (it worked)", o.0),
                (false, Some(why)) => format!("{} (it did not work: {why})", o.0),
                (false, None) => format!("{} (it did not work)", o.0),
            })
            .collect();
        let weak_rows = of(weak);
        let not_cut: Vec<String> = of(strong)
            .into_iter()
            .filter_map(|s| {
                let w = weak_rows.iter().find(|w| w.0 == s.0)?;
                let harmed = w.4.iter().any(|&x| x > 0.0);
                let cut = s.4.iter().zip(&w.4).any(|(a, b)| a < b) && s.4.iter().zip(&w.4).all(|(a, b)| a <= b);
                (harmed && !cut).then(|| s.0.clone())
            })
            .collect();
        println!("\n{strong} against {weak}:");
        println!(
            "  not detected under {strong}: {}",
            if undetected.is_empty() {
                "none".to_owned()
            } else {
                undetected.join("; ")
            }
        );
        println!(
            "  blast radius not cut: {}",
            if not_cut.is_empty() {
                "none".to_owned()
            } else {
                not_cut.join("; ")
            }
        );
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let tmp = out.with_extension("csv.partial");
    std::fs::write(&tmp, csv.finish()).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "\n{} runs in {:.1} s; table written to {}",
        total,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

/// Seconds as a person reads them: 45 s, 12 min, 3.5 h.
fn human_secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

fn cmd_bench(common: &CommonArgs, thread_args: &ThreadArgs) -> Result<()> {
    let (scenario, label, source) = common.load_with_source()?;
    let threads = thread_args.init_threads();
    let bar = progress_bar(scenario.n_intervals(), false);
    let finished = execute(&scenario, &label, &source, &bar)?;
    bar.finish_and_clear();
    let meter_intervals = finished.metrics.meter_intervals as f64;
    let total = finished.build_time + finished.step_time;
    println!("amirange bench: {} ({label})", scenario.name);
    println!("  meters                 {:>14}", group(scenario.meters()));
    println!("  intervals              {:>14}", scenario.n_intervals());
    println!("  threads                {:>14}", threads);
    println!("  build (topology+world) {:>12.3} s", finished.build_time.as_secs_f64());
    println!("  step (all intervals)   {:>12.3} s", finished.step_time.as_secs_f64());
    println!("  wall total             {:>12.3} s", total.as_secs_f64());
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

fn cmd_validate(common: &CommonArgs) -> Result<()> {
    // An exercise or a sweep plan is told by its opening struct name; anything else is read as
    // a scenario (whose loader refuses a file that is not one).
    if let Some(path) = &common.scenario {
        let text = amirange_files::read_text(path, "file", amirange_files::MAX_SOURCE_BYTES)?;
        let kind = match amirange_files::opening(&text) {
            amirange_files::Opening::Named(name) if name == "Exercise" => Some("an exercise file"),
            amirange_files::Opening::Named(name) if name == "Sweep" => Some("a sweep plan"),
            _ => None,
        };
        if let Some(kind) = kind {
            if common.seed.is_some() || common.meters.is_some() || common.duration.is_some() || common.preset.is_some()
            {
                anyhow::bail!(
                    "--seed, --meters, --duration and --preset apply to scenario files; {} is {kind}",
                    path.display()
                );
            }
            return if kind == "a sweep plan" {
                validate_sweep(path, &text)
            } else {
                validate_exercise(path, &text)
            };
        }
    }
    let (scenario, label) = common.load()?;
    println!("{label}: ok");
    print_scenario_summary(&scenario);
    Ok(())
}

/// The summary `validate` prints of a scenario: name, seed, size, time, attacks.
fn print_scenario_summary(scenario: &Scenario) {
    println!(
        "  {} · seed {} · {} meters · {} from {} ({} intervals)",
        scenario.name,
        scenario.seed(),
        group(scenario.meters()),
        scenario.duration,
        scenario.sim.start,
        scenario.n_intervals()
    );
    for a in &scenario.attacks {
        let tags = a.tags();
        println!(
            "  attack {}: {} ({} {}, {}) at {:?}",
            a.id(),
            tags.kind,
            tags.technique.id,
            tags.technique.name,
            tags.stride.name(),
            a.at()
        );
    }
}

/// `validate` of an exercise file: the file, then its scenario (scaled to the exercise's
/// `meters`). A token read from an environment variable that is not set here is checked with a
/// stand-in and reported, since `serve` may run where it is set.
fn validate_exercise(path: &Path, text: &str) -> Result<()> {
    let unset = std::cell::RefCell::new(Vec::<String>::new());
    let exercise = amirange_range::exercise::Exercise::load(path, text, |var| {
        std::env::var(var).ok().or_else(|| {
            let mut unset = unset.borrow_mut();
            unset.push(var.to_owned());
            Some(format!("validate-stand-in-token-{}", unset.len()))
        })
    })?;
    let label = path.display().to_string();
    let scenario_label = exercise.scenario.display().to_string();
    let source = scenario::read_source(&exercise.scenario)
        .map_err(|e| amirange_files::field_error(&label, text, "scenario", e.to_string()))?;
    let overrides = Overrides {
        seed: None,
        meters: exercise.meters.and_then(|m| i64::try_from(m).ok()),
        duration: None,
    };
    let scenario = scenario::load(&scenario_label, &source, &overrides)
        .map_err(|e| scenario::blame_on_file(e, "--meters", &label, text, "meters"))?;
    println!("{label}: ok (exercise)");
    println!(
        "  {} · pace {} simulated seconds per second · listens on {} · dashboard on {}",
        exercise.name, exercise.pace, exercise.listen, exercise.dashboard
    );
    if let Some(description) = exercise.description.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        println!("  {description}");
    }
    let unset = unset.into_inner();
    for team in &exercise.teams {
        let token = if team.generated {
            "token generated at start".to_owned()
        } else {
            "token given".to_owned()
        };
        println!("  team {}: {} · {token}", team.name, team.role.name());
    }
    for var in &unset {
        println!("  note: ${var} is not set here; `serve` needs it");
    }
    println!("  scenario {scenario_label}:");
    print_scenario_summary(&scenario);
    Ok(())
}

/// `validate` of a sweep plan: the plan and every run's scenario, built as `sweep` would.
fn validate_sweep(path: &Path, text: &str) -> Result<()> {
    let prepared = amirange::sweep::prepare_source(path, text)?;
    let layout = &prepared.layout;
    let plan = &layout.plan;
    println!("{}: ok (sweep plan)", path.display());
    println!(
        "  {} · scenario {} · {} grid points x {} seeds = {} runs",
        plan.name,
        plan.scenario,
        group(layout.points.len() as u64),
        group(layout.seeds.len() as u64),
        group(layout.total() as u64)
    );
    for axis in &plan.grid {
        let n = axis.values.len();
        println!("  axis {}: {n} value{}", axis.path, if n == 1 { "" } else { "s" });
    }
    println!("  measures: {}", plan.measures.join(", "));
    Ok(())
}

/// 1234567 -> "1,234,567".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number for people: `places` decimals, thousands grouped, e.g. `(12345.678, 1)` ->
/// `"12,345.7"`. Only the printed summary uses it; the result files keep full precision.
fn decimal(x: f64, places: usize) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let text = format!("{:.*}", places, x.abs());
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut out = String::new();
    if x < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// A measure of any size for people: three significant digits below 100, whole numbers
/// (grouped) above, e.g. `95.764583` -> `"95.8"`, `0.012345` -> `"0.0123"`, `123456.7` ->
/// `"123,457"`.
fn human(x: f64) -> String {
    let a = x.abs();
    let places = if a >= 100.0 || a == 0.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        // Three significant digits below 1, at most six decimals.
        (2 - a.log10().floor() as i64).clamp(3, 6) as usize
    };
    decimal(x, places)
}

/// Seconds for people: `"45 s"`, `"12 min"`, `"2.5 h"`.
fn duration_words(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("{seconds:.0} s")
    } else if seconds < 5400.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

fn print_summary(scenario: &Scenario, m: &Metrics, threads: usize, wall_s: f64) {
    println!(
        "amirange run: {} · seed {} · {} meters · {} from {} · {} threads · {:.2} s wall",
        scenario.name,
        scenario.seed(),
        group(m.meters),
        scenario.duration,
        scenario.sim.start,
        threads,
        wall_s
    );
    let e = &m.energy;
    let r = &m.reads;
    let rows: Vec<(&str, String)> = vec![
        ("true energy", format!("{} MWh", decimal(e.true_kwh / 1000.0, 1))),
        (
            "reported at first read (MDM)",
            format!(
                "{} MWh ({:+.2}%)",
                decimal(e.reported_kwh / 1000.0, 1),
                e.reported_error_pct
            ),
        ),
        (
            "settled after backfill (MDM)",
            format!(
                "{} MWh ({:+.2}%)",
                decimal(e.settled_kwh / 1000.0, 1),
                e.settled_error_pct
            ),
        ),
        (
            "feeder-head SCADA",
            format!(
                "{} MWh ({:.1}% technical losses)",
                decimal(e.scada_kwh / 1000.0, 1),
                e.losses_pct
            ),
        ),
        (
            "peak true load",
            format!("{} MW at {}", decimal(e.peak_true_kw / 1000.0, 1), e.peak_true_at),
        ),
        (
            "interval reads on time",
            format!(
                "{} of {} ({:.1}%)",
                group(r.on_time),
                group(m.meter_intervals),
                r.on_time_pct
            ),
        ),
        ("intervals estimated", group(r.estimated)),
        ("  of which backfilled later", group(r.backfilled)),
        (
            "estimation error (backfilled)",
            format!("{:.1}%", r.estimation_error_pct),
        ),
        ("validation flags", group(r.validation_flags)),
        (
            "customers connected (min)",
            format!(
                "{} of {}",
                group(m.supply.min_customers_connected),
                group(m.supply.customers)
            ),
        ),
        (
            "grid frequency",
            format!(
                "{:.3} to {:.3} Hz ({} disturbances, {} UFLS stage trips, system {} MW)",
                m.frequency.min_hz,
                m.frequency.max_hz,
                group(m.frequency.disturbances),
                m.frequency.ufls_stage_trips,
                decimal(m.frequency.system_mw, 0)
            ),
        ),
        (
            "alerts / truth records",
            format!(
                "{} / {}",
                group(m.control_plane.alerts),
                group(m.control_plane.truth_records)
            ),
        ),
    ];
    println!();
    for (k, v) in &rows {
        println!("  {k:<32} {v}");
    }
    println!();
    println!(
        "  {:<10} {:>14} {:>14} {:>14} {:>10}",
        "supply", "peak off", "cust-minutes", "kWh not srvd", "critical"
    );
    for (cause, c) in &m.supply.by_cause {
        println!(
            "  {:<10} {:>14} {:>14} {:>14} {:>10}",
            cause,
            group(c.peak_customers_off),
            decimal(c.customer_minutes_interrupted, 0),
            decimal(c.kwh_not_served, 0),
            c.critical_facilities_hit
        );
    }
    let cs = &m.supply.critical_facilities;
    if cs.hit > 0 {
        println!(
            "  critical facilities without supply: {} of {} (longest {})",
            cs.hit,
            cs.facilities,
            duration_words(cs.longest_minutes * 60.0)
        );
    }
    if m.supply.dr_curtailed_kwh > 0.0 {
        println!(
            "  demand response curtailed {} MWh",
            decimal(m.supply.dr_curtailed_kwh / 1000.0, 1)
        );
    }
    let cp = &m.control_plane;
    if cp.requests > 0 {
        println!();
        println!(
            "  HES: {} requests ({} refused), {} messages",
            group(cp.requests),
            group(cp.refused),
            group(cp.messages)
        );
        println!(
            "  {:<16} {:>9} {:>10} {:>10} {:>8} {:>8}",
            "command", "requests", "targets", "executed", "failed", "retries"
        );
        for (kind, k) in &cp.by_kind {
            println!(
                "  {:<16} {:>9} {:>10} {:>10} {:>8} {:>8}",
                kind,
                group(k.requests),
                group(k.targets),
                group(k.executed),
                group(k.failed),
                group(k.retries)
            );
        }
        let t = &cp.execute_seconds_by_link;
        let spread = |k: &str| {
            t.get(k)
                .map_or("-".to_owned(), |s| format!("{}/{}", human(s.median), human(s.p95)))
        };
        println!(
            "  command to execution, median/p95 s: mesh {}, plc {}, cellular {}",
            spread("mesh"),
            spread("plc"),
            spread("cellular")
        );
    }
    if let Some(ops) = &m.operations {
        let p = &ops.planned;
        println!();
        println!(
            "  operations: {} non-payment disconnects, {} reconnects, {} move-outs ({} vacant), {} move-ins",
            p.nonpayment_disconnects, p.reconnects, p.move_outs, p.vacant, p.move_ins
        );
        println!(
            "              {} firmware updates, {} key rotations, {} demand-response events, {} meter failures",
            group(p.firmware_updates),
            group(p.key_rotations),
            p.demand_response_events,
            p.meter_failures
        );
    }
    let o = &m.outages;
    if o.outages > 0 {
        println!(
            "  outages: {} feeders ({} customers), {} restored (mean {}), {} detected (median {})",
            o.outages,
            group(o.customers_affected),
            o.restored,
            duration_words(o.mean_duration_minutes * 60.0),
            o.detected,
            duration_words(o.detection_seconds.median)
        );
    }
    println!();
    println!(
        "  {:<10} {:>10} {:>10} {:>12}",
        "link", "meters", "read ok", "mean latency"
    );
    for (name, l) in &m.reads.by_link {
        println!(
            "  {:<10} {:>10} {:>9.1}% {:>10.1} s",
            name,
            group(l.meters),
            l.success_pct,
            l.mean_latency_ms / 1000.0
        );
    }
    println!();
    let d = &m.defense;
    if let Some(preset) = &d.preset {
        let responses = if d.responses.is_empty() {
            "no playbook responded".to_owned()
        } else {
            format!("responses: {}", d.responses.join(", "))
        };
        println!(
            "  defenses: {preset} preset, {} alert{}, {responses}, {} meters reconnected",
            group(d.alerts),
            if d.alerts == 1 { "" } else { "s" },
            group(d.reconnected)
        );
        println!();
    }
    print_attacks(&m.attacks);
}

/// What each attack did, in words and in its blast radius.
fn print_attacks(attacks: &[amirange::attack_metrics::AttackMetrics]) {
    for a in attacks {
        let verdict = if a.succeeded { "succeeded" } else { "FAILED" };
        println!(
            "  attack {} ({}, {} {}, {}) at {}: {verdict}",
            a.id, a.kind, a.technique, a.technique_name, a.stride, a.start
        );
        println!("    {}", a.summary);
        match (a.detected, a.time_to_detect_s, a.first_detector.as_deref()) {
            (true, Some(s), Some(by)) => println!("    detected by {by}, {} after it began", duration_words(s)),
            (true, Some(s), None) => println!("    detected {} after it began", duration_words(s)),
            (true, None, _) => println!("    detected"),
            (false, ..) => println!("    not detected"),
        }
        let b = &a.blast_radius;
        let mut parts = Vec::new();
        if b.peak_customers_disconnected > 0 || b.customer_minutes_interrupted > 0.0 {
            parts.push(format!(
                "{} customers off at peak, {} customer-minutes, {} kW shed at peak, {} kWh not served",
                group(b.peak_customers_disconnected),
                decimal(b.customer_minutes_interrupted, 0),
                decimal(b.peak_kw_shed, 0),
                decimal(b.kwh_not_served, 0)
            ));
        }
        if b.critical_facilities_hit > 0 {
            parts.push(format!(
                "{} critical facilities hit ({} without supply)",
                b.critical_facilities_hit,
                duration_words(b.critical_facility_minutes * 60.0)
            ));
        }
        if b.meters_compromised > 0 {
            parts.push(format!("{} meters compromised", group(b.meters_compromised)));
        }
        if b.kwh_falsified > 0.0 {
            parts.push(format!("{} kWh falsified", decimal(b.kwh_falsified, 0)));
        }
        if b.kwh_stolen > 0.0 {
            parts.push(format!("{} kWh stolen", decimal(b.kwh_stolen, 0)));
        }
        if b.kwh_curtailed > 0.0 {
            parts.push(format!("{} kWh of load curtailed", decimal(b.kwh_curtailed, 0)));
        }
        if b.readings_lost > 0 {
            parts.push(format!("{} readings lost", group(b.readings_lost)));
        }
        if b.customers_exposed > 0 {
            parts.push(format!(
                "interval data of {} customers exposed ({} households)",
                group(b.customers_exposed),
                group(b.households_exposed)
            ));
        }
        if let (Some(lo), Some(hi)) = (b.frequency_nadir_hz, b.frequency_peak_hz)
            && (hi - lo) >= 0.001
        {
            let shed = if b.ufls_shed_mw > 0.0 {
                format!(", {} MW shed by under-frequency relays", decimal(b.ufls_shed_mw, 0))
            } else {
                String::new()
            };
            parts.push(format!("frequency {lo:.3} to {hi:.3} Hz{shed}"));
        }
        if b.legitimate_jobs_queued_behind > 0 {
            parts.push(format!(
                "{} legitimate commands waited {} on average in the HES queue",
                group(b.legitimate_jobs_queued_behind),
                duration_words(b.legitimate_queue_wait_s)
            ));
        }
        parts.push(match b.time_to_restore_s {
            Some(s) if s > 0.0 => format!("effects over after {}", duration_words(s)),
            Some(_) if parts.is_empty() => "no effect".to_owned(),
            Some(_) => "nothing to restore".to_owned(),
            None => "not restored by the end of the run".to_owned(),
        });
        println!("    blast radius: {}", parts.join("; "));
    }
    if !attacks.is_empty() {
        println!();
    }
}

#[cfg(test)]
mod tests {
    use super::{decimal, duration_words, human};

    #[test]
    fn summary_numbers_are_formatted_for_people() {
        assert_eq!(human(95.764583), "95.8");
        assert_eq!(human(0.012345), "0.0123");
        assert_eq!(human(123456.7), "123,457");
        assert_eq!(human(-1234.6), "-1,235");
        assert_eq!(human(0.0), "0");
        assert_eq!(decimal(12345.678, 1), "12,345.7");
        assert_eq!(decimal(-0.01, 1), "0.0");
        assert_eq!(decimal(999.96, 1), "1,000.0");
        assert_eq!(duration_words(45.0), "45 s");
        assert_eq!(duration_words(720.0), "12 min");
        assert_eq!(duration_words(9000.0), "2.5 h");
    }
}

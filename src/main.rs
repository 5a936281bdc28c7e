//! The `amirange` command line: the commands and their flags, and the dispatch to their
//! implementations in `commands/` (the live range's in `range_cli.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

mod commands;
mod range_cli;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use commands::{dataset, gateway, matrix, report, run, score, sweep, topo, validate};

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
        /// Also write per-meter data or traffic into the result folder; `readings` writes
        /// readings.parquet, every meter's 15-minute true and reported energy with its place
        /// in the grid and what attacks did to it (see docs/results.md); `traffic` writes
        /// traffic.pcapng, the packets the network sensor behind the firewall saw, exactly what
        /// the built-in IDS observed (see docs/traffic.md); `flows` writes flows.csv, one row
        /// per flow of those packets with its features and ground-truth label; `field` writes
        /// field.pcapng and field-keys.csv, the DLMS/COSEM exchanges on the field networks of
        /// the collectors --field-collectors (or the scenario's `field_capture`) names, and the
        /// keys that decrypt them. Repeat or separate with commas for more than one.
        #[arg(long, value_name = "NAME", value_enum, value_delimiter = ',')]
        export: Vec<Export>,
        /// Collectors (or cellular towers) whose field networks `--export field` captures, by
        /// index as `amirange topo describe` lists them, e.g. `0,5`; replaces the scenario's
        /// `field_capture`.
        #[arg(long, value_name = "LIST", value_delimiter = ',')]
        field_collectors: Vec<u32>,
    },
    /// Run a scenario and report speed and memory: wall time per phase (topology, world,
    /// data plane, control plane, attacks, detectors, writing results into a temporary
    /// folder), meter-intervals per second and peak resident memory.
    Bench {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        threads: ThreadArgs,
        /// Also measure writing the traffic capture, the flow table and the field capture
        /// (`traffic`, `flows`, `field`, as `run --export` writes them), into the temporary
        /// folder.
        #[arg(long, value_name = "NAME", value_enum, value_delimiter = ',')]
        export: Vec<Export>,
        /// Collectors whose field networks `--export field` captures (as `run` takes them).
        #[arg(long, value_name = "LIST", value_delimiter = ',')]
        field_collectors: Vec<u32>,
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
        #[arg(long, value_name = "I/N", value_parser = sweep::parse_shard)]
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
    /// Make a labelled dataset from a plan (RON, `Dataset(...)`; see scenarios/datasets/): each
    /// part's scenario (with the plan's settings) under each preset for each seed, every run's
    /// result files with its packet capture, labelled flows and per-meter readings, a
    /// dataset.md card (how it was made, per run, class balance, limits) and a manifest.json of
    /// SHA-256 checksums, in one folder written atomically. See docs/traffic.md.
    Dataset {
        /// The dataset plan.
        #[arg(value_name = "PLAN")]
        plan: PathBuf,
        /// Folder to create (default: results/dataset-<name>, or
        /// results/dataset-<name>-shard-I-of-N).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Make only shard I of N (every N-th run, from run I - 1), for N machines or jobs;
        /// `amirange merge` joins the shards' folders into the dataset the whole plan makes.
        #[arg(long, value_name = "I/N", value_parser = sweep::parse_shard)]
        shard: Option<(usize, usize)>,
        /// Replace the --out folder if it exists, only if amirange wrote it (nothing else in
        /// it) and only once the new dataset is complete.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        threads: ThreadArgs,
        /// Print nothing but errors.
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
    /// (byte for byte what the unsharded sweep writes), or a dataset's shards into the
    /// dataset (the same card; a manifest of the files as merged).
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
    /// Judge alerts from a detector that is not amirange's against a run's ground truth, with
    /// the measures the built-in detectors get, and print both side by side.
    ///
    /// Runs the scenario with the same flags as `run` (the same scenario, seed and flags give
    /// the same run, so the ground truth is the one the detector's training data came from)
    /// and reads each --alerts file: CSV with the columns `time` (seconds since the start, or
    /// local time as alerts.csv writes it), `detector`, `subject` (`meter N`, `transformer N`,
    /// `feeder N`, `collector N`, or anything else, which matches by time alone) and, if
    /// given, `meters` (`0-4999;5003`); or Suricata's eve.json from a run on the run's
    /// traffic.pcapng (`run --export traffic`), each rule a detector `suricata:<sid>`. A run's
    /// own alerts.csv scores as its metrics.json says. See docs/results.md.
    Score {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        threads: ThreadArgs,
        /// An alerts file (CSV, or Suricata's eve.json); may be given more than once.
        #[arg(long, required = true, value_name = "FILE")]
        alerts: Vec<std::path::PathBuf>,
        /// The same detector's alerts on the run's baseline twin (the scenario without its
        /// attacks, as `run --paired` runs it): the twin is run too, and every detector's false
        /// positives per day on it are shown beside the run's. May be given more than once.
        #[arg(long, value_name = "FILE")]
        twin_alerts: Vec<std::path::PathBuf>,
        /// Print the scores as JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// The result folder of the same run (from `amirange run` with the same scenario and
        /// flags): write the scores there as outside.json and draw its report.html again with
        /// the outside detectors beside the built-in ones.
        #[arg(long, value_name = "RESULT_DIR")]
        into: Option<std::path::PathBuf>,
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
    /// Run a scenario paced by the wall clock with its meters answering DLMS/COSEM on a
    /// loopback port, for testing head-end or MDM software and DLMS tools against it.
    ///
    /// One port serves up to 65,535 meters by the wrapper's destination wPort, as a data
    /// concentrator does (wPort w is the port's first meter + w - 1), and the gateway listens on
    /// as many consecutive ports from --listen as it takes to expose every meter from
    /// --first-meter on; --port-per-meter N gives N meters a port each instead (wPort 1).
    /// Clients: 16 public (read), 17 with --password (read and operate the relay), 1 HLS-GMAC
    /// with suite 0 under the meter's keys (see --keys). What a client reads is the engine's
    /// state now; a remote_disconnect opens the relay in the run. See docs/dlms.md.
    Gateway {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        threads: ThreadArgs,
        /// Address of the first port (loopback only; 4059 is DLMS/COSEM's registered port);
        /// further ports follow it.
        #[arg(long, default_value = "127.0.0.1:4059")]
        listen: std::net::SocketAddr,
        /// Give each of N meters from --first-meter a port of its own (the meter at wPort 1),
        /// as separate meters on a lab's network would be; at most 1,024.
        #[arg(long, value_name = "N")]
        port_per_meter: Option<u32>,
        /// A connection's chunks of bytes handed to the meters per second at most; past it
        /// the gateway stops reading that connection for a while.
        #[arg(long, default_value_t = amirange::gateway::DEFAULT_FRAMES_PER_S)]
        max_frames_per_s: u32,
        /// Answer every exchange with a reachable meter (by default an exchange is lost as the
        /// meter's path would lose it, and the client's timeout and retry take over).
        #[arg(long)]
        lossless: bool,
        /// Simulated seconds per wall second (0.1 to 3,600).
        #[arg(long, default_value_t = 1.0)]
        pace: f64,
        /// The password of client 17 (lowest-level security), 8 to 64 bytes.
        #[arg(long, default_value = "00000000")]
        password: String,
        /// The first meter exposed (at wPort 1 of the first port).
        #[arg(long, default_value_t = 0)]
        first_meter: u32,
        /// Run the scenario up to this simulated time as fast as it goes before serving, e.g.
        /// 17h or "1d 6h" (the pace applies from there).
        #[arg(long, value_name = "D")]
        from: Option<String>,
        /// Connections open at once; more are closed on accept.
        #[arg(long, default_value_t = 1024)]
        max_connections: usize,
        /// Stop when the run reaches its end (by default the final state stays served until
        /// Ctrl-C).
        #[arg(long)]
        exit_at_end: bool,
        /// Print meter N's system title and HLS keys (derived from the scenario and seed) and
        /// exit.
        #[arg(long, value_name = "N")]
        keys: Option<u32>,
    },
    /// Inspect topologies: list the presets, describe a network's structure, draw its map.
    Topo {
        #[command(subcommand)]
        command: TopoCommand,
    },
}

/// Extra files `amirange run --export` writes into the result folder.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Export {
    /// `readings.parquet`: every meter's 15-minute readings.
    Readings,
    /// `traffic.pcapng`: the packets the network sensor behind the firewall saw.
    Traffic,
    /// `flows.csv`: those packets' flows, with features and ground-truth labels.
    Flows,
    /// `field.pcapng` and `field-keys.csv`: chosen collectors' field networks (DLMS/COSEM).
    Field,
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

/// What `--export` and `--field-collectors` ask a run or a benchmark to write.
fn exports<'a>(export: &[Export], field_collectors: &'a [u32]) -> run::Exports<'a> {
    run::Exports {
        readings: export.contains(&Export::Readings),
        traffic: export.contains(&Export::Traffic),
        flows: export.contains(&Export::Flows),
        field: export.contains(&Export::Field),
        field_collectors,
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
            export,
            field_collectors,
        } => run::cmd_run(
            &common,
            &threads,
            out.as_deref(),
            force,
            quiet,
            paired,
            exports(&export, &field_collectors),
        ),
        Command::Bench {
            common,
            threads,
            export,
            field_collectors,
        } => run::cmd_bench(&common, &threads, exports(&export, &field_collectors)),
        Command::Validate { common } => validate::cmd_validate(&common),
        Command::Score {
            common,
            threads,
            alerts,
            twin_alerts,
            json,
            quiet,
            into,
        } => score::cmd_score(&common, &threads, &alerts, &twin_alerts, json, quiet, into.as_deref()),
        Command::Sweep {
            plan,
            shard,
            out,
            force,
            jobs,
            threads,
            quiet,
        } => sweep::cmd_sweep(&plan, shard, out, force, jobs, threads, quiet),
        Command::Merge { dirs, out, force } => match dirs.first() {
            Some(first) if dataset::is_shard(first) => dataset::cmd_merge_dataset(&dirs, &out, force),
            _ => sweep::cmd_merge(&dirs, &out, force),
        },
        Command::Dataset {
            plan,
            out,
            force,
            threads,
            quiet,
            shard,
        } => dataset::cmd_dataset(&plan, out, force, quiet, &threads, shard),
        Command::Report { dir } => report::cmd_report(&dir),
        Command::Matrix {
            dir,
            presets,
            meters,
            duration,
            out,
            threads,
        } => matrix::cmd_matrix(&dir, &presets, meters, duration, &out, &threads),
        Command::Topo { command } => topo::cmd_topo(command),
        Command::Gateway {
            common,
            threads,
            listen,
            port_per_meter,
            max_frames_per_s,
            lossless,
            pace,
            password,
            first_meter,
            from,
            max_connections,
            exit_at_end,
            keys,
        } => gateway::cmd_gateway(
            &common,
            &threads,
            gateway::GatewayArgs {
                listen,
                port_per_meter,
                max_frames_per_s,
                lossless,
                pace,
                password,
                first_meter,
                from,
                max_connections,
                exit_at_end,
                keys,
            },
        ),
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

//! Labelled datasets: `amirange dataset PLAN` runs a plan's scenarios (each attack file with its
//! settings, under each preset, for each seed) and writes one folder with every run's result
//! files and exports (`traffic.pcapng`, `flows.csv`, `readings.parquet`), a `dataset.md` card
//! and a `manifest.json` of checksums.
//!
//! ```text
//!  plan.ron ──► Plan { parts: [(scenario, set)], presets, seeds, meters, duration, export }
//!                 every run's scenario built and validated before the first run
//!  runs, one after the other (each on all cores) ──► parts/NNN/ (a run's folder and exports)
//!  ──► dataset.md (how it was made, per part, class balance, limits) and manifest.json
//! ```
//!
//! A part's `set` changes scenario fields by path before it runs, as a sweep's grid does
//! (`attacks[0].connections_per_s`), so a plan can scale an attack file down to a dataset's
//! size.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use amirange_files::SourceError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::scenario::{self, Overrides, Scenario};

/// A dataset plan (`scenarios/datasets/*.ron`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename = "Dataset")]
pub struct Plan {
    /// Short name (the default output folder is `results/dataset-<name>`).
    pub name: String,
    /// What it holds.
    #[serde(default)]
    pub description: Option<String>,
    /// Seeds per part and preset: `first_seed`, `first_seed + 1`, ... (the scenario's own seed
    /// first by default).
    #[serde(default = "one")]
    pub seeds: u32,
    /// The first seed.
    #[serde(default)]
    pub first_seed: Option<u64>,
    /// Meters, overriding every scenario's.
    #[serde(default)]
    pub meters: Option<i64>,
    /// Duration, overriding every scenario's.
    #[serde(default)]
    pub duration: Option<String>,
    /// Defense presets each part runs under (`none`, `typical-utility`, `hardened`); empty: each
    /// scenario's own defenses.
    #[serde(default)]
    pub presets: Vec<String>,
    /// What each run exports beside its result files: `Traffic`, `Flows`, `Readings`, and `Field` (each scenario
    /// then names its collectors in `field_capture`). Default: the first three.
    #[serde(default = "all_exports")]
    pub export: Vec<scenario::Export>,
    /// The scenarios.
    pub parts: Vec<Part>,
}

fn one() -> u32 {
    1
}

fn all_exports() -> Vec<scenario::Export> {
    vec![
        scenario::Export::Readings,
        scenario::Export::Traffic,
        scenario::Export::Flows,
    ]
}

/// One scenario of a plan.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// The scenario file, relative to the plan.
    pub scenario: String,
    /// Fields set before it runs.
    #[serde(default)]
    pub set: Vec<Setting>,
}

/// A scenario field set to a value.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// The field's path, as a sweep's grid names it.
    pub path: String,
    /// Its value.
    pub value: Value,
}

/// One run of the dataset.
#[derive(Debug, Clone)]
pub struct Run {
    /// Its part's index in the plan.
    pub part: usize,
    /// The scenario file, as the plan names it.
    pub source: String,
    /// The preset, if the plan names presets.
    pub preset: Option<String>,
    /// The scenario, ready.
    pub scenario: Scenario,
}

/// Why a dataset could not be prepared or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The plan file could not be read.
    #[error(transparent)]
    Read(#[from] amirange_files::ReadError),
    /// The plan or a scenario does not hold (the text says where).
    #[error(transparent)]
    Source(#[from] Box<SourceError>),
    /// A scenario could not be turned into JSON to set its fields.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A run failed.
    #[error("part {part} ({source_file}), run {run}")]
    Run {
        /// The run's index.
        run: usize,
        /// Its part.
        part: usize,
        /// Its scenario file.
        source_file: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file could not be written.
    #[error("writing {path}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl From<SourceError> for DatasetError {
    fn from(e: SourceError) -> DatasetError {
        DatasetError::Source(Box::new(e))
    }
}

/// Parses a plan's text (`label` names it in errors).
pub fn parse_plan(label: &str, text: &str) -> Result<Plan, SourceError> {
    amirange_files::check_opening(text, "Dataset", "dataset plan").map_err(|message| SourceError {
        file: label.to_owned(),
        position: None,
        field: None,
        message,
    })?;
    let plan: Plan = amirange_files::parse_ron(
        label,
        text,
        ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME),
    )?;
    if plan.name.trim().is_empty() {
        return Err(amirange_files::field_error(
            label,
            text,
            "name",
            "give the dataset a name",
        ));
    }
    if plan.parts.is_empty() {
        return Err(amirange_files::field_error(
            label,
            text,
            "parts",
            "a dataset needs at least one part",
        ));
    }
    if plan.seeds == 0 {
        return Err(amirange_files::field_error(label, text, "seeds", "at least 1"));
    }
    for (i, p) in plan.presets.iter().enumerate() {
        if !amirange_defenses::presets::NAMES.contains(&p.as_str()) {
            return Err(amirange_files::field_error(
                label,
                text,
                &format!("presets[{i}]"),
                format!(
                    "unknown preset {p:?}: one of {}",
                    amirange_defenses::presets::NAMES.join(", ")
                ),
            ));
        }
    }
    Ok(plan)
}

/// Reads and checks the plan at `path` and builds every run's scenario, before anything runs.
pub fn prepare(path: &Path) -> Result<(Plan, String, Vec<Run>), DatasetError> {
    let text = amirange_files::read_text(path, "dataset plan", amirange_files::MAX_SOURCE_BYTES)?;
    let label = path.display().to_string();
    let plan = parse_plan(&label, &text)?;
    let mut runs = Vec::new();
    let overrides = Overrides {
        seed: None,
        meters: plan.meters,
        duration: plan.duration.clone(),
    };
    let presets: Vec<Option<String>> = if plan.presets.is_empty() {
        vec![None]
    } else {
        plan.presets.iter().cloned().map(Some).collect()
    };
    for (i, part) in plan.parts.iter().enumerate() {
        let at = |field: &str, message: String| {
            amirange_files::field_error(&label, &text, &format!("parts[{i}].{field}"), message)
        };
        let scenario_path: PathBuf = path.parent().unwrap_or(Path::new("")).join(&part.scenario);
        let scenario_label = scenario_path.display().to_string();
        let source = scenario::read_source(&scenario_path).map_err(|e| at("scenario", e.to_string()))?;
        let raw = scenario::parse_raw(&scenario_label, &source)?;
        let mut json = serde_json::to_value(&raw)?;
        for (j, s) in part.set.iter().enumerate() {
            crate::sweep::set_path(&mut json, &s.path, s.value.clone())
                .map_err(|m| at(&format!("set[{j}].path"), m))?;
        }
        let raw: scenario::RawScenario = serde_json::from_value(json)
            .map_err(|e| at("set", format!("the scenario does not take these values: {e}")))?;
        let first_seed = plan.first_seed.unwrap_or(raw.seed);
        for preset in &presets {
            for k in 0..u64::from(plan.seeds) {
                let mut raw = raw.clone();
                raw.seed = first_seed.saturating_add(k);
                let mut s = scenario::load_raw(&scenario_label, &source, raw, &overrides)
                    .map_err(|e| at("scenario", e.to_string()))?;
                if let Some(p) = preset {
                    s.apply_preset(p)
                        .map_err(|e| at("scenario", format!("{}: {}", e.field, e.message)))?;
                }
                runs.push(Run {
                    part: i,
                    source: part.scenario.clone(),
                    preset: preset.clone(),
                    scenario: s,
                });
            }
        }
    }
    Ok((plan, text, runs))
}

/// What one run gave the dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Flows per (label, attack kind) (`benign` for benign flows).
    pub flows: BTreeMap<String, u64>,
    /// Packets in its capture.
    pub packets: u64,
    /// Packets in its field capture.
    pub field_packets: u64,
    /// The collectors its field capture covered.
    pub field_collectors: Vec<u32>,
    /// Its attacks: id and kind, and whether each succeeded and was detected.
    pub attacks: Vec<(String, String, bool, bool)>,
    /// Wall time.
    pub seconds: f64,
}

/// Runs `run` into `dir` (created): its result files and the plan's exports.
pub fn make_run(
    dir: &Path,
    run: &Run,
    index: usize,
    exports: &[scenario::Export],
    threads: usize,
) -> Result<RunSummary, DatasetError> {
    let started = Instant::now();
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| DatasetError::Run {
        run: index,
        part: run.part,
        source_file: run.source.clone(),
        source: e,
    };
    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source: std::io::Error| DatasetError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let scenario = &run.scenario;
    let network = crate::run::generate(scenario).map_err(|e| fail(Box::new(e)))?;
    let mut observers: crate::run::Observers = Vec::new();
    let mut field_collectors = Vec::new();
    if exports.contains(&scenario::Export::Readings) {
        let export = crate::readings::ReadingsExport::create(&dir.join(crate::readings::FILE), scenario, &network)
            .map_err(|e| fail(Box::new(e)))?;
        observers.push(Box::new(export));
    }
    if exports.contains(&scenario::Export::Field) {
        if scenario.field_capture.is_empty() {
            return Err(fail(
                "the plan exports `Field`, but the scenario names no collectors: add e.g. \
                 `field_capture: (collectors: [0])` to it"
                    .into(),
            ));
        }
        field_collectors = crate::field::resolve_collectors(scenario, &network).map_err(|e| fail(Box::new(e)))?;
        let capture =
            crate::field::FieldCapture::create(dir, scenario, &field_collectors).map_err(|e| fail(Box::new(e)))?;
        observers.push(Box::new(capture));
    }
    let finished = crate::run::execute_observed(scenario, network, started, true, observers, |_, _| {})
        .map_err(|e| fail(Box::new(e)))?;
    if let Some(export) = finished.sim.interval_observer::<crate::readings::ReadingsExport>() {
        export.finish(&finished.sim).map_err(|e| fail(Box::new(e)))?;
    }
    let mut field_packets = 0;
    if let Some(capture) = finished.sim.interval_observer::<crate::field::FieldCapture>() {
        field_packets = capture.finish().map_err(|e| fail(Box::new(e)))?.packets;
    }
    let manifest = crate::results::Manifest::for_run(scenario, &run.source, threads, started.elapsed());
    let files = crate::results::render(
        scenario,
        &finished.sim,
        &finished.metrics,
        &manifest,
        finished.map.as_ref(),
    )
    .map_err(|e| fail(Box::new(e)))?;
    for (name, bytes) in &files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_err(parent))?;
        }
        write_synced(&path, bytes).map_err(write_err(&path))?;
    }
    let wanted = crate::capture::Wanted {
        capture: exports.contains(&scenario::Export::Traffic),
        flows: exports.contains(&scenario::Export::Flows),
        field: false,
    };
    let mut summary = RunSummary {
        field_packets,
        field_collectors,
        ..RunSummary::default()
    };
    if wanted.capture || wanted.flows {
        let stats = crate::capture::export(dir, scenario, &finished.sim, finished.sensor_horizon, wanted)
            .map_err(|e| fail(Box::new(e)))?;
        summary.packets = stats.packets;
        summary.flows = stats.classes;
    }
    summary.attacks = finished
        .metrics
        .attacks
        .iter()
        .map(|a| (a.id.clone(), a.kind.clone(), a.succeeded, a.detected))
        .collect();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The folder of run `index` inside a dataset.
pub fn run_dir(index: usize) -> String {
    format!("parts/{index:03}")
}

/// What the card says of one run: which it is, what ran and what it gave. A shard keeps its
/// runs' rows in `shard.json`, so that merged shards write the card the whole dataset writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardRow {
    /// The run's index in the plan (its folder is [`run_dir`] of it).
    pub run: usize,
    /// The scenario file, as the plan names it.
    pub source: String,
    /// The preset, if the plan names presets.
    pub preset: Option<String>,
    /// The seed.
    pub seed: u64,
    /// Meters.
    pub meters: u64,
    /// First and last instant of the run, civil time.
    pub start: String,
    /// See `start`.
    pub end: String,
    /// What it gave.
    pub summary: RunSummary,
}

impl CardRow {
    /// The row of run `k`, `run`, which gave `summary`.
    pub fn new(k: usize, run: &Run, summary: RunSummary) -> CardRow {
        let sc = &run.scenario;
        CardRow {
            run: k,
            source: run.source.clone(),
            preset: run.preset.clone(),
            seed: sc.seed(),
            meters: sc.meters(),
            start: sc.sim.start.to_string(),
            end: sc.sim.start.plus(sc.duration).to_string(),
            summary,
        }
    }
}

/// The file a dataset shard's folder holds its identity and its runs' card rows in.
pub const SHARD_FILE: &str = "shard.json";

/// `shard.json`: which plan a shard belongs to, which shard it is, and its runs' rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// The dataset's name.
    pub dataset: String,
    /// The plan file as `amirange dataset` was given it (the card names it).
    pub plan_file: String,
    /// SHA-256 of the plan's text: shards of one plan carry the same.
    pub plan_sha256: String,
    /// Shard `i` of `n`, 1-based.
    pub shard: (usize, usize),
    /// Runs in the whole plan.
    pub total_runs: usize,
    /// The shard's runs, by run index.
    pub rows: Vec<CardRow>,
}

/// SHA-256 of a plan's text, hex.
pub fn plan_digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `dataset.md`: how the dataset was made, what each run holds, the class balance, the limits.
pub fn card(plan: &Plan, plan_file: &str, rows: &[CardRow]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "# Dataset `{}`\n", plan.name);
    if let Some(d) = &plan.description {
        let _ = writeln!(s, "{d}\n");
    }
    let _ = writeln!(
        s,
        "Generated by amirange {} with `amirange dataset {plan_file}` (a copy of the plan is `plan.ron`): {} run(s) of {} part(s), {} seed(s) each{}. Every run is deterministic: the same plan and amirange version give the same files, byte for byte, whatever the thread count, but for each run's wall time and thread count in its `manifest.json` (and so those files' checksums in this folder's `manifest.json`).\n",
        env!("CARGO_PKG_VERSION"),
        rows.len(),
        plan.parts.len(),
        plan.seeds,
        if plan.presets.is_empty() {
            ", under each scenario's own defenses".to_owned()
        } else {
            format!(", under the presets {}", plan.presets.join(", "))
        }
    );
    let _ = writeln!(s, "## Runs\n");
    let _ = writeln!(
        s,
        "| folder | scenario | preset | seed | meters | time span | attacks (succeeded, detected) | packets |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        let sum = &row.summary;
        let attacks: Vec<String> = sum
            .attacks
            .iter()
            .map(|(id, kind, ok, seen)| format!("{id} ({kind}; {}, {})", yes(*ok), yes(*seen)))
            .collect();
        let _ = writeln!(
            s,
            "| `{}` | `{}` | {} | {} | {} | {} to {} | {} | {} |",
            run_dir(row.run),
            row.source,
            row.preset.as_deref().unwrap_or("(its own)"),
            row.seed,
            amirange_viz::numbers::group(row.meters),
            row.start,
            row.end,
            if attacks.is_empty() {
                "none".to_owned()
            } else {
                attacks.join("; ")
            },
            if plan.export.contains(&scenario::Export::Field) {
                format!(
                    "{} ({} on the field networks of collectors {})",
                    amirange_viz::numbers::group(sum.packets),
                    amirange_viz::numbers::group(sum.field_packets),
                    row.summary
                        .field_collectors
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                amirange_viz::numbers::group(sum.packets)
            },
        );
    }
    let mut balance: BTreeMap<&str, u64> = BTreeMap::new();
    for row in rows {
        for (class, n) in &row.summary.flows {
            *balance.entry(class.as_str()).or_default() += n;
        }
    }
    let total: u64 = balance.values().sum();
    if total > 0 {
        let _ = writeln!(s, "\n## Class balance of `flows.csv` (all runs)\n");
        let _ = writeln!(s, "| specific_class | flows | share |");
        let _ = writeln!(s, "| --- | --- | --- |");
        for (class, n) in &balance {
            let _ = writeln!(
                s,
                "| {class} | {} | {:.2}% |",
                amirange_viz::numbers::group(*n),
                100.0 * *n as f64 / total as f64
            );
        }
    }
    let _ = writeln!(
        s,
        "\n## Files\n\nEach run's folder is a run's result folder (`metrics.json`, `truth.csv`, `alerts.csv`, ...: see the \
         amirange docs, docs/results.md) with the plan's exports: `traffic.pcapng` (the packets the network sensor behind \
         the utility's firewall saw), `flows.csv` (one labelled row per flow of them) and `readings.parquet` (every \
         meter's 15-minute readings with their labels), and with `Field`, `field.pcapng` and `field-keys.csv` (the \
         DLMS/COSEM exchanges on chosen collectors' field networks, labelled per packet, and the keys that decrypt \
         them), as docs/traffic.md and docs/results.md describe them. \
         `manifest.json` lists every file with its size and SHA-256.\n"
    );
    let _ = writeln!(
        s,
        "## Known limits\n\n- `traffic.pcapng` and `flows.csv` are captured behind the utility's firewall (HES, MDM, SCADA): attacks on the field networks (jamming, rogue firmware, replays, rogue concentrators, cloning, theft) leave no flow there; their ground truth is in `truth.csv` and `readings.parquet`, and, for the collectors a `Field` export names, in `field.pcapng`'s per-packet labels.\n- Payload lengths follow the engine, their content does not (zeros, or pseudo-random bytes standing for ciphertext).\n- The readings and the grid are simulated: see the model's sources and assumptions in the amirange docs (docs/model.md, docs/parameters.md)."
    );
    s
}

/// Writes `bytes` to `path` and flushes them to the disk, so that a folder moved into place
/// after a crash holds what its manifest lists.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `manifest.json`: every file of `dir` but the manifest itself, with its size and SHA-256, in
/// path order; `extra` are files still to be written (name and bytes).
pub fn manifest(dir: &Path, plan: &Plan, extra: &[(&str, &[u8])]) -> Result<Vec<u8>, DatasetError> {
    let mut files: Vec<(String, u64, String)> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let read = std::fs::read_dir(&d).map_err(|source| DatasetError::Write {
            path: d.display().to_string(),
            source,
        })?;
        for entry in read {
            let entry = entry.map_err(|source| DatasetError::Write {
                path: d.display().to_string(),
                source,
            })?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if rel.starts_with(".amirange") || rel == "manifest.json" {
                continue;
            }
            let (bytes, digest) = hash_file(&path).map_err(|source| DatasetError::Write {
                path: path.display().to_string(),
                source,
            })?;
            files.push((rel, bytes, digest));
        }
    }
    for (name, bytes) in extra {
        files.push((
            (*name).to_owned(),
            bytes.len() as u64,
            hex::encode(Sha256::digest(bytes)),
        ));
    }
    files.sort();
    let json = serde_json::json!({
        "amirange_version": env!("CARGO_PKG_VERSION"),
        "dataset": plan.name,
        "files": files.iter().map(|(p, b, h)| serde_json::json!({"path": p, "bytes": b, "sha256": h})).collect::<Vec<_>>(),
    });
    let mut out = serde_json::to_vec_pretty(&json)?;
    out.push(b'\n');
    Ok(out)
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((total, hex::encode(hasher.finalize())))
}

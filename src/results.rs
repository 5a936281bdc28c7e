//! Result folders: `manifest.json`, `metrics.json`, `timeseries.csv`, `feeders.csv`, `truth.csv`,
//! `alerts.csv`.
//!
//! A folder is written under a temporary name beside its destination and renamed into place
//! only when every file is complete, so a failed or interrupted run leaves no half-written
//! result folder behind. An existing folder is never overwritten unless asked (`--force`), and
//! then only after its replacement is complete.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use amirange_sim::records::RunRecords;
use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::metrics::{Metrics, interval_offset, round6, wh_to_kw};
use crate::scenario::Scenario;

/// What `manifest.json` records about a run.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// amirange version.
    pub amirange_version: String,
    /// Scenario name.
    pub scenario: String,
    /// Where the scenario came from (a path, or the built-in quickstart).
    pub scenario_source: String,
    /// The seed.
    pub seed: u64,
    /// Meters.
    pub meters: u64,
    /// Calendar start.
    pub start: String,
    /// Simulated duration.
    pub duration: String,
    /// Intervals.
    pub intervals: u32,
    /// Worker threads of the data plane. Results do not depend on it.
    pub threads: usize,
    /// Wall time of the simulation, seconds. Results do not depend on it.
    pub wall_time_s: f64,
    /// The validated scenario the run used, defaults filled in.
    pub resolved: ResolvedScenario,
}

/// The validated scenario as recorded in the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedScenario {
    /// Engine configuration.
    pub sim: amirange_sim::config::SimConfig,
    /// Topology generator parameters, resolved.
    pub topology: amirange_topologies::Area,
    /// Where they came from (preset file, topology file, or `inline`).
    pub topology_source: String,
}

/// The header of `timeseries.csv`.
pub const TIMESERIES_HEADER: &str = "time,slot,true_kw,reported_kw,settled_kw,scada_kw,true_kw_residential,true_kw_commercial,\
true_kw_industrial,true_kw_critical,reads_on_time,reads_missing,intervals_estimated,intervals_backfilled,\
validation_flags,customers_connected,customer_minutes_interrupted,read_cycle,events,alerts";

/// Renders `timeseries.csv`.
pub fn timeseries_csv(scenario: &Scenario, records: &RunRecords) -> String {
    let mut out = String::with_capacity(records.intervals.len() * 160);
    out.push_str(TIMESERIES_HEADER);
    out.push('\n');
    for (i, r) in records.intervals.iter().enumerate() {
        let time = scenario.sim.start.plus(interval_offset(i));
        let kw = |mwh: u64| round6(wh_to_kw(mwh as f64 / 1000.0));
        let _ = write!(
            out,
            "{time},{},{:.3},{:.3},{:.3},{:.3}",
            r.slot,
            kw(r.true_mwh),
            wh_to_kw(r.reported_wh as f64),
            wh_to_kw(r.settled_wh as f64),
            kw(r.scada_mwh)
        );
        for v in r.true_mwh_by_class {
            let _ = write!(out, ",{:.3}", kw(v));
        }
        let _ = writeln!(
            out,
            ",{},{},{},{},{},{},{:.3},{},{},{}",
            r.reads_on_time,
            r.reads_missing,
            r.intervals_estimated,
            r.intervals_backfilled,
            r.validation_flags,
            r.customers_connected,
            r.interrupted_us as f64 / 60e6,
            u8::from(r.read_cycle),
            r.events,
            r.alerts
        );
    }
    out
}

/// The header of `feeders.csv`.
pub const FEEDERS_HEADER: &str = "time,slot,feeder,substation,rating_kw,scada_kw";

/// Renders `feeders.csv`: what the feeder-head SCADA measured on every feeder in every
/// interval (true load plus technical losses, independent of what the meters report).
pub fn feeders_csv(scenario: &Scenario, records: &RunRecords, network: &amirange_sim::network::Network) -> String {
    let n = network.feeders.len().max(1);
    let mut out = String::with_capacity(records.scada_kw.len() * 48 + 64);
    out.push_str(FEEDERS_HEADER);
    out.push('\n');
    for (slot, row) in records.scada_kw.chunks(n).enumerate() {
        let time = scenario.sim.start.plus(interval_offset(slot));
        for (f, (kw, feeder)) in row.iter().zip(&network.feeders).enumerate() {
            let _ = writeln!(
                out,
                "{time},{slot},{f},{},{:.0},{:.3}",
                feeder.substation, feeder.rating_kw, kw
            );
        }
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn meters_field(meters: &[u32]) -> String {
    meters.iter().map(u32::to_string).collect::<Vec<_>>().join(";")
}

/// Renders `truth.csv`.
pub fn truth_csv(scenario: &Scenario, records: &RunRecords) -> String {
    let mut out = String::from("time,source,kind,meters\n");
    for t in &records.truth {
        let time = scenario.sim.start.plus(t.time.since_start());
        let _ = writeln!(
            out,
            "{time},{},{},{}",
            csv_field(&t.source),
            csv_field(&t.kind),
            meters_field(&t.meters)
        );
    }
    out
}

/// Renders `alerts.csv`.
pub fn alerts_csv(scenario: &Scenario, records: &RunRecords) -> String {
    let mut out = String::from("time,detector,message,meters\n");
    for a in &records.alerts {
        let time = scenario.sim.start.plus(a.time.since_start());
        let _ = writeln!(
            out,
            "{time},{},{},{}",
            csv_field(&a.detector),
            csv_field(&a.message),
            meters_field(&a.meters)
        );
    }
    out
}

/// Picks the folder a run writes to: `--out` as given, or `results/<name>-seed<seed>` with a
/// numeric suffix when that exists already.
pub fn choose_out_dir(explicit: Option<&Path>, scenario: &Scenario, force: bool) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        if dir.exists() && !force {
            bail!(
                "result folder {} already exists; choose another --out or pass --force to replace it",
                dir.display()
            );
        }
        return Ok(dir.to_path_buf());
    }
    let base = PathBuf::from("results").join(format!("{}-seed{}", scenario.name, scenario.seed()));
    if !base.exists() || force {
        return Ok(base);
    }
    for n in 2.. {
        let candidate = PathBuf::from(format!("{}-{n}", base.display()));
        if !candidate.exists() {
            return Ok(candidate);
        }
    }
    unreachable!("an unbounded range always yields a free name")
}

/// Writes a complete result folder at `dir` atomically (temporary folder, then rename).
pub fn write_all(dir: &Path, files: &[(&str, Vec<u8>)], force: bool) -> Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".to_owned());
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let result = (|| -> Result<()> {
        if tmp.exists() {
            fs::remove_dir_all(&tmp).with_context(|| format!("removing stale {}", tmp.display()))?;
        }
        fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        for (file, bytes) in files {
            let path = tmp.join(file);
            if let Some(p) = path.parent() {
                fs::create_dir_all(p)?;
            }
            let mut f = fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            f.write_all(bytes)
                .with_context(|| format!("writing {}", path.display()))?;
            f.sync_all().ok();
        }
        if dir.exists() {
            if !force {
                bail!(
                    "result folder {} appeared while the run was going; not replacing it",
                    dir.display()
                );
            }
            fs::remove_dir_all(dir).with_context(|| format!("replacing {}", dir.display()))?;
        }
        fs::rename(&tmp, dir).with_context(|| format!("moving results into {}", dir.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Renders every file of a result folder.
pub fn render(
    scenario: &Scenario,
    sim: &amirange_sim::engine::Sim,
    metrics: &Metrics,
    manifest: &Manifest,
) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let records = sim.records();
    let mut manifest_json = serde_json::to_vec_pretty(manifest)?;
    manifest_json.push(b'\n');
    let mut metrics_json = serde_json::to_vec_pretty(metrics)?;
    metrics_json.push(b'\n');
    Ok(vec![
        ("manifest.json", manifest_json),
        ("metrics.json", metrics_json),
        ("timeseries.csv", timeseries_csv(scenario, records).into_bytes()),
        (
            "feeders.csv",
            feeders_csv(scenario, records, sim.network()).into_bytes(),
        ),
        ("truth.csv", truth_csv(scenario, records).into_bytes()),
        ("alerts.csv", alerts_csv(scenario, records).into_bytes()),
    ])
}

//! Result folders: `manifest.json`, `metrics.json`, `timeseries.csv`, `feeders.csv`,
//! `transformers.csv`, `audit.csv`,
//! `outages.csv`, `truth.csv`, `alerts.csv`.
//!
//! Folders are written through [`crate::outdir`]: under a temporary name beside their
//! destination, renamed (or swapped) into place only when every file is complete, with
//! amirange's marker file. An existing folder is never overwritten unless asked (`--force`),
//! then only when amirange wrote it, and only after its replacement is complete.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use amirange_measures::round_to;
use amirange_sim::records::RunRecords;
use serde::Serialize;

use crate::metrics::{Metrics, interval_offset, wh_to_kw};
use crate::outdir::{self, FolderKind};
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
    /// Legitimate operations, when on.
    pub operations: Option<amirange_sim::operations::OperationsConfig>,
    /// Where they came from (preset file, topology file, or `inline`).
    pub topology_source: String,
    /// The scripted attacks, as given.
    pub attacks: Vec<amirange_attackers::AttackSpec>,
    /// The defense preset applied, if one was.
    pub preset: Option<String>,
    /// Detection and response: detectors, IDS rules, playbooks, restoration.
    pub detection: amirange_defenses::DetectionSpec,
}

/// The header of `timeseries.csv`.
pub const TIMESERIES_HEADER: &str = "time,slot,true_kw,reported_kw,settled_kw,scada_kw,true_kw_residential,true_kw_commercial,\
true_kw_industrial,true_kw_critical,reads_on_time,reads_missing,intervals_estimated,intervals_backfilled,\
validation_flags,customers_connected,customers_off_operation,customers_off_outage,customers_off_attack,\
critical_off,customer_minutes_interrupted,cmi_operation,cmi_outage,cmi_attack,kwh_not_served,dr_curtailed_kw,\
meters_gone_silent,read_cycle,commands,events,alerts,frequency_min_hz,frequency_max_hz";

/// Renders `timeseries.csv`.
pub fn timeseries_csv(scenario: &Scenario, records: &RunRecords) -> String {
    let mut out = String::with_capacity(records.intervals.len() * 160);
    out.push_str(TIMESERIES_HEADER);
    out.push('\n');
    for (i, r) in records.intervals.iter().enumerate() {
        let time = scenario.sim.start.plus(interval_offset(i));
        let kw = |mwh: u64| round_to(wh_to_kw(mwh as f64 / 1000.0), 6);
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
        let _ = write!(
            out,
            ",{},{},{},{},{},{}",
            r.reads_on_time,
            r.reads_missing,
            r.intervals_estimated,
            r.intervals_backfilled,
            r.validation_flags,
            r.customers_connected,
        );
        for v in r.customers_off_by_cause {
            let _ = write!(out, ",{v}");
        }
        let _ = write!(out, ",{},{:.3}", r.critical_off, r.interrupted_us as f64 / 60e6);
        for v in r.interrupted_us_by_cause {
            let _ = write!(out, ",{:.3}", v as f64 / 60e6);
        }
        let _ = writeln!(
            out,
            ",{:.3},{:.3},{},{},{},{},{},{:.3},{:.3}",
            r.not_served_mwh_by_cause.iter().sum::<u64>() as f64 / 1e6,
            kw(r.dr_curtailed_mwh),
            r.meters_gone_silent,
            u8::from(r.read_cycle),
            r.commands,
            r.events,
            r.alerts,
            f64::from(r.frequency_min_mhz) / 1000.0,
            f64::from(r.frequency_max_mhz) / 1000.0
        );
    }
    out
}

/// The header of `feeders.csv`.
pub const FEEDERS_HEADER: &str = "time,slot,feeder,substation,rating_kw,scada_kw,mdm_kw";

/// Renders `feeders.csv`: what the feeder-head SCADA measured on every feeder in every
/// interval (true load plus technical losses, independent of what the meters report), and what
/// the MDM held for the feeder's meters at first read: the two sides of an energy balance.
pub fn feeders_csv(scenario: &Scenario, records: &RunRecords, network: &amirange_sim::network::Network) -> String {
    let n = network.feeders.len().max(1);
    let mut out = String::with_capacity(records.scada_kw.len() * 48 + 64);
    out.push_str(FEEDERS_HEADER);
    out.push('\n');
    for (slot, row) in records.scada_kw.chunks(n).enumerate() {
        let time = scenario.sim.start.plus(interval_offset(slot));
        let reported = records.feeder_reported_wh.get(slot * n..(slot + 1) * n).unwrap_or(&[]);
        for (f, (kw, feeder)) in row.iter().zip(&network.feeders).enumerate() {
            let mdm_kw = reported.get(f).map_or(0.0, |&wh| wh_to_kw(wh as f64));
            let _ = writeln!(
                out,
                "{time},{slot},{f},{},{:.0},{:.3},{:.3}",
                feeder.substation, feeder.rating_kw, kw, mdm_kw
            );
        }
    }
    out
}

/// The header of `transformers.csv`.
pub const TRANSFORMERS_HEADER: &str = "transformer,feeder,meters,true_kwh,registered_kwh,gap_kwh,gap_pct";

/// Renders `transformers.csv`: per distribution transformer over the whole run, the energy its
/// premises really took and the energy its meters' registers recorded (forged reports
/// included). The gap is what bypasses, tampering and false readings hid: transformer energy
/// balance, the check a utility makes with a meter on the transformer.
pub fn transformers_csv(records: &RunRecords, network: &amirange_sim::network::Network) -> String {
    let mut meters = vec![0u32; network.transformers.len()];
    for m in &network.meters {
        meters[m.transformer as usize] += 1;
    }
    let mut out = String::with_capacity(network.transformers.len() * 48 + 64);
    out.push_str(TRANSFORMERS_HEADER);
    out.push('\n');
    for (t, (tr, n)) in network.transformers.iter().zip(&meters).enumerate() {
        let e = records.transformer_mwh.get(t).copied().unwrap_or_default();
        let (true_kwh, registered_kwh) = (e.true_mwh as f64 / 1e6, e.registered_mwh as f64 / 1e6);
        let gap = true_kwh - registered_kwh;
        let pct = if true_kwh > 0.0 { 100.0 * gap / true_kwh } else { 0.0 };
        let _ = writeln!(
            out,
            "{t},{},{n},{true_kwh:.3},{registered_kwh:.3},{gap:.3},{pct:.2}",
            tr.feeder
        );
    }
    out
}

/// CSV text built in memory by the `csv` crate: RFC 4180 quoting (a field holding a comma, a
/// quote, a carriage return or a line feed is put in quotes, its quotes doubled), every row
/// ending in `\n`.
pub struct CsvText {
    writer: csv::Writer<Vec<u8>>,
}

impl CsvText {
    /// Starts a file whose first row is `header`, a comma-separated list of column names.
    pub fn with_header(header: &str) -> CsvText {
        let mut text = CsvText::new();
        text.row(header.split(','));
        text
    }

    /// Starts an empty file.
    pub fn new() -> CsvText {
        CsvText {
            // Flexible: the writer does not hold rows to the first one's length (each file's
            // rows are built to its header by the code that writes them), so writing into
            // memory cannot fail.
            writer: csv::WriterBuilder::new().flexible(true).from_writer(Vec::new()),
        }
    }

    /// Appends one row of fields.
    pub fn row<I, T>(&mut self, fields: I)
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        // Writing into a `Vec` has no I/O error, and the writer is flexible: nothing to report
        // (as with `write!` into a `String`).
        let _ = self.writer.write_record(fields);
    }

    /// The text written.
    pub fn finish(self) -> String {
        let bytes = match self.writer.into_inner() {
            Ok(bytes) => bytes,
            // Flushing into a `Vec` does not fail; were it to, keep what was written.
            Err(e) => e.into_inner().get_ref().clone(),
        };
        // Every field came in as `&str`, so the bytes are UTF-8.
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl Default for CsvText {
    fn default() -> CsvText {
        CsvText::new()
    }
}

fn meters_field(meters: &[u32]) -> String {
    meters.iter().map(u32::to_string).collect::<Vec<_>>().join(";")
}

/// The header of `truth.csv`.
pub const TRUTH_HEADER: &str = "time,time_s,attack,attack_kind,technique,step,detail,n_meters,meters";

/// Renders `truth.csv`: every attack step in time order (steps at the same time in the order
/// they were recorded), with its attack's kind and technique, and the meters it touched as
/// ranges of indices (`0-4999;5003`).
pub fn truth_csv(scenario: &Scenario, records: &RunRecords) -> String {
    let mut out = CsvText::with_header(TRUTH_HEADER);
    let mut order: Vec<usize> = (0..records.truth.len()).collect();
    order.sort_by_key(|&i| (records.truth[i].time, i));
    for i in order {
        let t = &records.truth[i];
        let time = scenario.sim.start.plus(t.time.since_start());
        let spec = scenario.attacks.iter().find(|a| a.id() == t.source);
        let (kind, technique) = spec.map_or(("", ""), |a| {
            let tags = a.tags();
            (tags.kind, tags.technique.id)
        });
        let mut meters = t.meters.clone();
        meters.sort_unstable();
        meters.dedup();
        out.row([
            time.to_string().as_str(),
            &format!("{:.3}", t.time.0 as f64 / 1e6),
            &t.source,
            kind,
            technique,
            &t.kind,
            &t.detail,
            &meters.len().to_string(),
            &amirange_attackers::targets::ranges(&meters),
        ]);
    }
    out.finish()
}

/// Renders `alerts.csv`.
pub fn alerts_csv(scenario: &Scenario, records: &RunRecords, metrics: &Metrics) -> String {
    let mut out = CsvText::with_header(ALERTS_HEADER);
    let mut order: Vec<usize> = (0..records.alerts.len()).collect();
    order.sort_by_key(|&i| (records.alerts[i].time, i));
    for i in order {
        let a = &records.alerts[i];
        let time = scenario.sim.start.plus(a.time.since_start());
        let attack = metrics
            .defense
            .matches
            .get(i)
            .copied()
            .flatten()
            .and_then(|k| metrics.attacks.get(k))
            .map_or("", |m| m.id.as_str());
        out.row([
            time.to_string().as_str(),
            &a.detector,
            a.severity.name(),
            &a.subject.to_string(),
            &a.count.to_string(),
            &(!attack.is_empty()).to_string(),
            attack,
            &a.message,
            &meters_field(&a.meters),
        ]);
    }
    out.finish()
}

/// The header of `alerts.csv`: one row per alert, in time order, with the attack it matches
/// (empty for a false positive).
pub const ALERTS_HEADER: &str = "time,detector,severity,subject,count,true_positive,attack,message,meters";

/// The header of `audit.csv`.
pub const AUDIT_HEADER: &str = "id,time,account,role,command,purpose,cause,targets,refused,executed,acked,rejected,\
failed,retries,finished,approver,protected,signed";

/// Renders `audit.csv`: the HES's audit log, one line per request, with how its fan-out went.
/// `cause` is ground truth (why the request was made), which the HES itself does not know.
pub fn audit_csv(scenario: &Scenario, sim: &amirange_sim::engine::Sim) -> String {
    let audit = &sim.hes().audit;
    let mut out = CsvText::with_header(AUDIT_HEADER);
    let time = |t: amirange_sim::time::SimTime| scenario.sim.start.plus(t.since_start()).to_string();
    for a in audit {
        out.row([
            a.id.to_string().as_str(),
            &time(a.time),
            &a.account,
            a.role.map_or("", |r| r.name()),
            a.kind.name(),
            &a.purpose,
            a.cause.name(),
            &a.targets.to_string(),
            a.refused.map_or("", |r| r.name()),
            &a.executed.to_string(),
            &a.acked.to_string(),
            &a.rejected.to_string(),
            &a.failed.to_string(),
            &a.retries.to_string(),
            &a.finished.map(time).unwrap_or_default(),
            a.approver.as_deref().unwrap_or_default(),
            &a.protected.to_string(),
            &u8::from(a.signed).to_string(),
        ]);
    }
    out.finish()
}

/// The header of `outages.csv`.
pub const OUTAGES_HEADER: &str = "feeder,cause,start,end,customers,critical,last_gasps,detected_at,detected_by";

/// Renders `outages.csv`: every feeder outage, its ground truth and when the MDM noticed.
pub fn outages_csv(scenario: &Scenario, records: &RunRecords) -> String {
    let mut out = String::from(OUTAGES_HEADER);
    out.push('\n');
    let time = |t: amirange_sim::time::SimTime| scenario.sim.start.plus(t.since_start()).to_string();
    for o in &records.outages {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            o.feeder,
            o.cause.name(),
            time(o.start),
            o.end.map(time).unwrap_or_default(),
            o.customers,
            o.critical,
            o.last_gasps,
            o.detected_at.map(time).unwrap_or_default(),
            o.detected_by.map_or("", |d| d.name())
        );
    }
    out
}

/// Why a result folder's files could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResultsError {
    /// `manifest.json` or `metrics.json` could not be serialised.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A file the report is drawn from is not UTF-8.
    #[error("{name} is not UTF-8")]
    NotUtf8 {
        /// The file's name in the folder (e.g. `truth.csv`).
        name: String,
        /// Where the bytes stop being UTF-8.
        #[source]
        source: std::string::FromUtf8Error,
    },
    /// A file the report is drawn from is not among the folder's files.
    #[error("{name} is missing")]
    Missing {
        /// The file's name in the folder.
        name: String,
    },
    /// A JSON file the report is drawn from does not parse.
    #[error("reading {name}")]
    ReadingJson {
        /// The file's name in the folder (e.g. `manifest.json`).
        name: &'static str,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A chart could not be drawn from the folder's files.
    #[error(transparent)]
    Viz(#[from] amirange_viz::VizError),
}

/// Picks the folder a run writes to: `--out` as given, or `results/<name>-seed<seed>` with a
/// numeric suffix when that exists already. Checked before the run ([`outdir::check_target`]):
/// a path amirange never writes to is refused, and an existing folder is refused unless
/// `force` is given and it is a run folder amirange wrote.
pub fn choose_out_dir(
    explicit: Option<&Path>,
    scenario: &Scenario,
    force: bool,
) -> Result<PathBuf, outdir::FolderError> {
    if let Some(dir) = explicit {
        outdir::check_target(dir, FolderKind::Run, force)?;
        return Ok(dir.to_path_buf());
    }
    let base = PathBuf::from("results").join(format!("{}-seed{}", scenario.name, scenario.seed()));
    if force {
        outdir::check_target(&base, FolderKind::Run, force)?;
        return Ok(base);
    }
    Ok(free_dir(base))
}

/// `base` if nothing is there, else the first of `base-2`, `base-3`, ... that is free.
pub fn free_dir(base: PathBuf) -> PathBuf {
    if !base.exists() {
        return base;
    }
    (2..)
        .map(|n| PathBuf::from(format!("{}-{n}", base.display())))
        .find(|candidate| !candidate.exists())
        .unwrap_or(base)
}

impl Manifest {
    /// The manifest of a run of `scenario` (from `label`) on `threads` threads that took `wall`.
    pub fn for_run(scenario: &Scenario, label: &str, threads: usize, wall: std::time::Duration) -> Manifest {
        Manifest {
            amirange_version: env!("CARGO_PKG_VERSION").to_owned(),
            scenario: scenario.name.clone(),
            scenario_source: label.to_owned(),
            seed: scenario.seed(),
            meters: scenario.meters(),
            start: scenario.sim.start.to_string(),
            duration: scenario.duration.to_string(),
            intervals: scenario.n_intervals(),
            threads,
            wall_time_s: round_to(wall.as_secs_f64(), 3),
            resolved: ResolvedScenario {
                sim: scenario.sim.clone(),
                topology: scenario.topology.clone(),
                operations: scenario.operations.clone(),
                topology_source: scenario.topology_source.clone(),
                attacks: scenario.attacks.clone(),
                preset: scenario.preset.clone(),
                detection: scenario.detection.clone(),
            },
        }
    }
}

/// Writes a complete result folder at `dir` atomically, with amirange's marker
/// ([`outdir::write`]): an existing folder is replaced only with `force`, only when it is a
/// run folder amirange wrote, and only once the new one is complete.
pub fn write_all(dir: &Path, files: &[(&str, Vec<u8>)], force: bool) -> Result<(), outdir::FolderError> {
    outdir::write(dir, FolderKind::Run, files, force)
}

/// Renders every file of a result folder.
pub fn render(
    scenario: &Scenario,
    sim: &amirange_sim::engine::Sim,
    metrics: &Metrics,
    manifest: &Manifest,
    map: Option<&(String, Vec<u8>)>,
) -> Result<Vec<(&'static str, Vec<u8>)>, ResultsError> {
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
        (
            "transformers.csv",
            transformers_csv(records, sim.network()).into_bytes(),
        ),
        ("audit.csv", audit_csv(scenario, sim).into_bytes()),
        ("outages.csv", outages_csv(scenario, records).into_bytes()),
        ("truth.csv", truth_csv(scenario, records).into_bytes()),
        ("alerts.csv", alerts_csv(scenario, records, metrics).into_bytes()),
    ])
    .map(|mut files| {
        if let Some((csv, json)) = map {
            files.push(("map.csv", csv.clone().into_bytes()));
            files.push(("map.json", json.clone()));
        }
        files
    })
    .and_then(|mut files| {
        let more = report_files(&files)?;
        files.extend(more);
        Ok(files)
    })
}

/// The files the report is drawn from (all in a result folder).
pub const REPORT_SOURCES: [&str; 5] = [
    "manifest.json",
    "metrics.json",
    "timeseries.csv",
    "truth.csv",
    "alerts.csv",
];

/// The files the blast-radius map is drawn from, when the run wrote them.
pub const MAP_SOURCES: [&str; 2] = ["map.csv", "map.json"];

/// Outside detectors judged against the run (`amirange score --into`), drawn beside the
/// built-in ones when the folder holds it.
pub const OUTSIDE_SOURCE: &str = "outside.json";

/// The charts (`plots/timeline.svg`, `plots/map.svg` when the folder has the map's files,
/// `plots/detection.svg` when the run had attacks) and `report.html`, drawn from a result
/// folder's files alone (`amirange-viz`).
pub fn report_files(files: &[(&str, Vec<u8>)]) -> Result<Vec<(&'static str, Vec<u8>)>, ResultsError> {
    let find = |name: &str| -> Option<Result<String, ResultsError>> {
        let bytes = files.iter().find(|(n, _)| *n == name).map(|(_, b)| b.clone())?;
        Some(String::from_utf8(bytes).map_err(|source| ResultsError::NotUtf8 {
            name: name.to_string(),
            source,
        }))
    };
    let get = |name: &str| -> Result<String, ResultsError> {
        find(name).ok_or_else(|| ResultsError::Missing { name: name.to_string() })?
    };
    let json = |name: &'static str, text: &str| -> Result<serde_json::Value, ResultsError> {
        serde_json::from_str(text).map_err(|source| ResultsError::ReadingJson { name, source })
    };
    let map = match (find("map.csv"), find("map.json")) {
        (Some(csv), Some(map_json)) => {
            let map_json = json("map.json", &map_json?)?;
            Some(amirange_viz::blast_map_svg(&csv?, &map_json)?)
        }
        _ => None,
    };
    let manifest = json("manifest.json", &get("manifest.json")?)?;
    let metrics = json("metrics.json", &get("metrics.json")?)?;
    let timeline = amirange_viz::timeline_svg(&get("timeseries.csv")?, &get("truth.csv")?, &get("alerts.csv")?)?;
    let detection = amirange_viz::detection_svg(&metrics, &get("alerts.csv")?)?;
    let outside = match find(OUTSIDE_SOURCE) {
        Some(text) => Some(json(OUTSIDE_SOURCE, &text?)?),
        None => None,
    };
    let html = amirange_viz::report_html(
        &manifest,
        &metrics,
        &timeline,
        map.as_deref(),
        detection.as_deref(),
        outside.as_ref(),
    );
    let mut out = vec![("plots/timeline.svg", timeline.into_bytes())];
    if let Some(svg) = map {
        out.push(("plots/map.svg", svg.into_bytes()));
    }
    if let Some(svg) = detection {
        out.push(("plots/detection.svg", svg.into_bytes()));
    }
    out.push(("report.html", html.into_bytes()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::CsvText;

    /// The csv crate quotes what the hand-written quoting quoted (a comma, a quote, a line
    /// feed), and also a carriage return, which the old code left bare (a reader takes a bare
    /// carriage return for the end of the row); anything else is written as it is.
    #[test]
    fn csv_text_quotes_commas_quotes_and_both_line_breaks() {
        let mut out = CsvText::with_header("a,b,c,d,e");
        out.row(["plain", "x, y", "say \"hi\"", "one\ntwo", "cr\rhere"]);
        out.row(["", "ids:1001", "0-4999;5003", "2025-01-06 10:00", "-1.5"]);
        assert_eq!(
            out.finish(),
            "a,b,c,d,e\nplain,\"x, y\",\"say \"\"hi\"\"\",\"one\ntwo\",\"cr\rhere\"\n,ids:1001,0-4999;5003,2025-01-06 10:00,-1.5\n"
        );
    }
}

//! `amirange matrix`: every attack file against every defense preset, in one table.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use amirange::scenario::{self, Overrides};
use amirange_viz::numbers::{duration_column, group};
use anyhow::{Context, Result};
use indicatif::ProgressBar;

use super::execute;
use crate::ThreadArgs;

/// One attack under one preset in the matrix: (file/attack, preset, worked, detected, blast
/// measures, why it did not work).
type Outcome = (String, String, bool, bool, [f64; 7], Option<String>);

/// The header of the attack x preset matrix.
const MATRIX_HEADER: &str = "file,attack,kind,preset,succeeded,detected,time_to_detect_s,first_detector,\
peak_customers_disconnected,customer_minutes_interrupted,kwh_not_served,kwh_falsified,kwh_stolen,readings_lost,\
meters_compromised,customers_exposed,ufls_shed_mw,time_to_restore_s,alerts,false_positives_per_day";

/// `amirange matrix`: every attack file in `dir` under every preset, printed as one table and
/// written as CSV to `out`.
pub(crate) fn cmd_matrix(
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
                .map_err(|e| anyhow::anyhow!("{label}: {}: {}", e.field, e.message))?;
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
                        (Some(t), Some(d)) => format!("{} by {d}", duration_column(t)),
                        _ => "not detected".to_owned(),
                    },
                    group(b.peak_customers_disconnected),
                    format!("{:.0}", b.customer_minutes_interrupted),
                    format!("{:.0}", b.kwh_falsified + b.kwh_stolen),
                    group(b.readings_lost),
                    b.time_to_restore_s
                        .map_or_else(|| "not in run".to_owned(), duration_column),
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

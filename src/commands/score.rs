//! `amirange score`: alerts from a detector that is not amirange's, judged against a run's
//! ground truth with exactly the measures the built-in detectors get, beside them.

use std::path::{Path, PathBuf};

use amirange::detection::judge;
use amirange_viz::numbers::group;
use anyhow::{Context, Result};
use serde_json::json;

use super::{execute, progress_bar};
use crate::{CommonArgs, ThreadArgs};

/// `amirange score SCENARIO --alerts FILE...`.
pub(crate) fn cmd_score(
    common: &CommonArgs,
    threads: &ThreadArgs,
    alerts: &[PathBuf],
    twin_alerts: &[PathBuf],
    as_json: bool,
    quiet: bool,
    into: Option<&Path>,
) -> Result<()> {
    threads.init_threads();
    let (scenario, label, source) = common.load_with_source()?;
    if let Some(dir) = into {
        check_same_run(dir, &scenario)?;
    }
    let paired = !twin_alerts.is_empty();
    let bar = progress_bar(scenario.n_intervals() * if paired { 2 } else { 1 }, quiet);
    let finished = execute(&scenario, &label, &source, &bar)?;
    let rules = scenario.detection()?.map(|d| d.rules.rules).unwrap_or_default();
    let mut outside = Vec::new();
    for path in alerts {
        outside.extend(amirange::outside_alerts::read(path, &finished.sim, &rules)?);
    }
    let judged = judge(&finished.sim, &finished.reports, &outside, Vec::new());
    let metrics = &finished.metrics;
    // The baseline twin: the same detectors' false positives per day where no attack runs.
    let twin = if paired {
        let twin_scenario = amirange::paired::twin(&scenario);
        let twin_run = execute(&twin_scenario, &label, &source, &bar)?;
        let mut theirs = Vec::new();
        for path in twin_alerts {
            theirs.extend(amirange::outside_alerts::read(path, &twin_run.sim, &rules)?);
        }
        let names: Vec<String> = judged.detectors.iter().map(|d| d.name.clone()).collect();
        let twin_judged = judge(&twin_run.sim, &twin_run.reports, &theirs, names);
        let mut per_day: std::collections::BTreeMap<(&'static str, String), f64> = Default::default();
        for d in &twin_judged.detectors {
            per_day.insert(("outside", d.name.clone()), d.false_positives_per_day);
        }
        for d in &twin_run.metrics.detectors {
            per_day.insert(("built-in", d.name.clone()), d.false_positives_per_day);
        }
        Some((per_day, theirs.len()))
    } else {
        None
    };
    bar.finish_and_clear();
    let twin_rate = |whose: &'static str, name: &str| {
        twin.as_ref()
            .and_then(|(per_day, _)| per_day.get(&(whose, name.to_owned())).copied())
    };
    let scores = {
        let attacks: Vec<_> = metrics
            .attacks
            .iter()
            .zip(&judged.attacks)
            .map(|(a, yours)| {
                json!({
                    "id": a.id,
                    "kind": a.kind,
                    "start_s": a.start_s,
                    "built_in": {"detected": a.detected, "time_to_detect_s": a.time_to_detect_s, "first_detector": a.first_detector},
                    "outside": yours,
                })
            })
            .collect();
        let twin_json = |whose: &'static str, names: Vec<&str>| {
            names
                .into_iter()
                .map(|n| json!({"name": n, "false_positives_per_day": twin_rate(whose, n)}))
                .collect::<Vec<_>>()
        };
        let out = json!({
            "scenario": scenario.name,
            "seed": scenario.seed(),
            "meters": scenario.meters(),
            "outside": {"alerts": outside.len(), "detectors": judged.detectors},
            "built_in": {"detectors": metrics.detectors},
            "attacks": attacks,
            "twin": twin.as_ref().map(|(_, n)| json!({
                "outside_alerts": n,
                "outside": twin_json("outside", judged.detectors.iter().map(|d| d.name.as_str()).collect()),
                "built_in": twin_json("built-in", metrics.detectors.iter().map(|d| d.name.as_str()).collect()),
            })),
        });
        out
    };
    if let Some(dir) = into {
        let mut bytes = serde_json::to_vec_pretty(&scores)?;
        bytes.push(b'\n');
        super::report::write_beside(dir, [(amirange::results::OUTSIDE_SOURCE, &bytes)].into_iter())?;
        super::report::cmd_report(dir)?;
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&scores)?);
        return Ok(());
    }
    println!(
        "{label}: seed {} · {} meters · {} · {} attack(s); {} outside alert(s) from {} file(s)",
        scenario.seed(),
        group(scenario.meters()),
        scenario.duration,
        metrics.attacks.len(),
        group(outside.len() as u64),
        alerts.len()
    );
    if let Some((_, n)) = &twin {
        println!(
            "baseline twin (no attacks): {} outside alert(s) from {} file(s)",
            group(*n as u64),
            twin_alerts.len()
        );
    }
    println!();
    println!(
        "  {:<28} {:>8} {:>8} {:>8} {:>9} {:>7} {:>11} {:>11}",
        "detector", "alerts", "true+", "false+", "precision", "recall", "false+/day", "twin f+/day"
    );
    let rate = |v: Option<f64>| v.map_or("-".to_owned(), |x| format!("{x:.2}"));
    for (whose, scores) in [("outside", &judged.detectors), ("built-in", &metrics.detectors)] {
        for d in scores.iter() {
            let twin_day = twin_rate(whose, &d.name).map_or("-".to_owned(), |v| format!("{v:.2}"));
            println!(
                "  {:<28} {:>8} {:>8} {:>8} {:>9} {:>7} {:>11.2} {twin_day:>11}   {whose}",
                d.name,
                group(d.alerts),
                group(d.true_positives),
                group(d.false_positives),
                rate(d.precision),
                rate(d.recall),
                d.false_positives_per_day
            );
        }
    }
    if !metrics.attacks.is_empty() {
        println!();
        println!("  {:<24} {:<22} {:<30} outside", "attack", "kind", "built-in");
        let found = |detected: bool, after: Option<f64>, by: Option<&str>| {
            if detected {
                format!("{} after {:.0} s", by.unwrap_or("?"), after.unwrap_or(0.0))
            } else {
                "not detected".to_owned()
            }
        };
        for (a, yours) in metrics.attacks.iter().zip(&judged.attacks) {
            println!(
                "  {:<24} {:<22} {:<30} {}",
                a.id,
                a.kind,
                found(a.detected, a.time_to_detect_s, a.first_detector.as_deref()),
                found(yours.detected, yours.time_to_detect_s, yours.first_detector.as_deref())
            );
        }
    }
    if let Some(dir) = into {
        println!();
        println!(
            "report: {} (outside detectors beside the built-in; the scores in {})",
            dir.join("report.html").display(),
            amirange::results::OUTSIDE_SOURCE
        );
    }
    Ok(())
}

/// Refuses a folder that is not the result folder of `scenario`'s run as loaded (its name,
/// seed and meters), before anything is written into it.
fn check_same_run(dir: &Path, scenario: &amirange::scenario::Scenario) -> Result<()> {
    let path = dir.join("manifest.json");
    let text = super::read_result(&path)
        .with_context(|| format!("--into {}: not a result folder of `amirange run`", dir.display()))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not a manifest", path.display()))?;
    let theirs = (
        manifest.get("scenario").and_then(serde_json::Value::as_str),
        manifest.get("seed").and_then(serde_json::Value::as_u64),
        manifest.get("meters").and_then(serde_json::Value::as_u64),
    );
    let ours = (
        Some(scenario.name.as_str()),
        Some(scenario.seed()),
        Some(scenario.meters()),
    );
    if theirs != ours {
        anyhow::bail!(
            "--into {}: that folder holds the run of {} seed {} with {} meters, but score ran {} seed {} with {} \
             meters; give score the folder's own scenario and flags",
            dir.display(),
            theirs.0.unwrap_or("?"),
            theirs.1.map_or("?".to_owned(), |s| s.to_string()),
            theirs.2.map_or("?".to_owned(), group),
            scenario.name,
            scenario.seed(),
            group(scenario.meters())
        );
    }
    Ok(())
}

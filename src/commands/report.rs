//! `amirange report`: a result or sweep folder's charts and report drawn again from its files.

use std::path::Path;

use amirange::results;
use anyhow::{Context, Result};

use super::read_result;
use super::sweep::SweepInfo;

/// `amirange report`: a result or sweep folder's charts and `report.html` drawn again.
pub(crate) fn cmd_report(dir: &Path) -> Result<()> {
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
    // Folders written before the map existed have no map files, and only folders `score --into`
    // wrote to have outside detectors; the report is drawn without what is missing.
    for name in results::MAP_SOURCES.into_iter().chain([results::OUTSIDE_SOURCE]) {
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
pub(crate) fn write_beside<'a>(dir: &Path, files: impl Iterator<Item = (&'a str, &'a Vec<u8>)>) -> Result<()> {
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

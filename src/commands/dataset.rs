//! `amirange dataset`: a plan's runs and exports in one labelled dataset folder.

use std::path::{Path, PathBuf};

use amirange::dataset::{self, RunSummary};
use amirange::outdir::{self, FolderKind};
use amirange_viz::numbers::group;
use anyhow::{Context, Result};

use super::progress_bar;
use crate::ThreadArgs;

/// The files written last: the plan's copy, the card, the manifest.
type Files = Vec<(&'static str, Vec<u8>)>;

/// `amirange dataset PLAN`: every run of the plan into a staged folder, then its card and
/// manifest, the folder moved into place only when complete.
pub(crate) fn cmd_dataset(
    plan_path: &Path,
    out: Option<PathBuf>,
    force: bool,
    quiet: bool,
    thread_args: &ThreadArgs,
) -> Result<()> {
    let (plan, text, runs) = dataset::prepare(plan_path)?;
    let threads = thread_args.init_threads();
    let out_dir = out.unwrap_or_else(|| PathBuf::from("results").join(format!("dataset-{}", plan.name)));
    let staged = outdir::begin(&out_dir, FolderKind::Dataset, force)?;
    let bar = progress_bar(u32::try_from(runs.len()).unwrap_or(u32::MAX), quiet);
    let made = (|| -> Result<(Vec<RunSummary>, Files)> {
        let mut summaries = Vec::with_capacity(runs.len());
        for (k, run) in runs.iter().enumerate() {
            let dir = staged.path().join(dataset::run_dir(k));
            summaries.push(dataset::make_run(&dir, run, k, &plan.export, threads)?);
            bar.inc(1);
        }
        let card = dataset::card(&plan, &plan_path.display().to_string(), &runs, &summaries);
        let manifest = dataset::manifest(
            staged.path(),
            &plan,
            &[("plan.ron", text.as_bytes()), ("dataset.md", card.as_bytes())],
        )?;
        let files = vec![
            ("plan.ron", text.clone().into_bytes()),
            ("dataset.md", card.into_bytes()),
            ("manifest.json", manifest),
        ];
        Ok((summaries, files))
    })();
    bar.finish_and_clear();
    let (summaries, files) = match made {
        Ok(made) => made,
        Err(e) => {
            outdir::abandon(staged);
            return Err(e).with_context(|| format!("making the dataset of {}", plan_path.display()));
        }
    };
    outdir::complete(&out_dir, FolderKind::Dataset, staged, &files, force)?;
    if !quiet {
        let packets: u64 = summaries.iter().map(|s| s.packets).sum();
        let mut flows: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
        for s in &summaries {
            for (class, n) in &s.flows {
                *flows.entry(class.as_str()).or_default() += n;
            }
        }
        let seconds: f64 = summaries.iter().map(|s| s.seconds).sum();
        println!(
            "dataset {}: {} run(s) in {seconds:.1} s on {threads} thread(s); {} packets, {} flows",
            plan.name,
            runs.len(),
            group(packets),
            group(flows.values().sum())
        );
        for (class, n) in &flows {
            println!("  {class:<28} {:>12} flows", group(*n));
        }
        println!("dataset: {}/ (card: dataset.md)", out_dir.display());
    }
    Ok(())
}

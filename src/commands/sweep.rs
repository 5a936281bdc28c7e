//! `amirange sweep` and `amirange merge`: a sweep plan run (or one shard of it), and shards
//! merged into the folder the whole sweep writes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use amirange::outdir::{self, FolderKind};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::read_result;

/// Parses `I/N` with 1 <= I <= N.
pub(crate) fn parse_shard(text: &str) -> std::result::Result<(usize, usize), String> {
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
pub(crate) struct SweepInfo {
    /// The plan, grid points and seeds.
    pub(crate) layout: amirange::sweep::Layout,
    /// The shard, `[I, N]`, if it is one.
    pub(crate) shard: Option<(usize, usize)>,
    /// Runs in this folder.
    pub(crate) runs: Vec<usize>,
}

/// `amirange sweep`: the plan's runs (or one shard's) and the sweep folder.
pub(crate) fn cmd_sweep(
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

/// `amirange merge`: shards' folders merged into the folder the whole sweep writes.
pub(crate) fn cmd_merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<()> {
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

//! `amirange dataset`: a plan's runs and exports in one labelled dataset folder, whole or in
//! shards that `amirange merge` joins into the same folder.

use std::path::{Path, PathBuf};

use amirange::dataset::{self, CardRow, ShardInfo};
use amirange::outdir::{self, FolderKind};
use amirange_viz::numbers::group;
use anyhow::{Context, Result};

use super::{progress_bar, read_result};
use crate::ThreadArgs;

/// The files written last: the plan's copy, the card, the manifest (or, for a shard,
/// `shard.json`).
type Files = Vec<(&'static str, Vec<u8>)>;

/// `amirange dataset PLAN`: every run of the plan (or of shard `I/N`: every N-th) into a
/// staged folder, then its card and manifest (a shard: `shard.json`), the folder moved into
/// place only when complete.
pub(crate) fn cmd_dataset(
    plan_path: &Path,
    out: Option<PathBuf>,
    force: bool,
    quiet: bool,
    thread_args: &ThreadArgs,
    shard: Option<(usize, usize)>,
) -> Result<()> {
    let (plan, text, runs) = dataset::prepare(plan_path)?;
    let threads = thread_args.init_threads();
    let out_dir = out.unwrap_or_else(|| {
        PathBuf::from("results").join(match shard {
            Some((i, n)) => format!("dataset-{}-shard-{i}-of-{n}", plan.name),
            None => format!("dataset-{}", plan.name),
        })
    });
    let mine = amirange::sweep::shard_runs(runs.len(), shard);
    let staged = outdir::begin(&out_dir, FolderKind::Dataset, force)?;
    let bar = progress_bar(u32::try_from(mine.len()).unwrap_or(u32::MAX), quiet);
    let plan_file = plan_path.display().to_string();
    let made = (|| -> Result<(Vec<CardRow>, Files)> {
        let mut rows = Vec::with_capacity(mine.len());
        for &k in &mine {
            let dir = staged.path().join(dataset::run_dir(k));
            let summary = dataset::make_run(&dir, &runs[k], k, &plan.export, threads)?;
            rows.push(CardRow::new(k, &runs[k], summary));
            bar.inc(1);
        }
        let files = match shard {
            Some(shard) => {
                let info = ShardInfo {
                    dataset: plan.name.clone(),
                    plan_file: plan_file.clone(),
                    plan_sha256: dataset::plan_digest(&text),
                    shard,
                    total_runs: runs.len(),
                    rows: rows.clone(),
                };
                let mut json = serde_json::to_vec_pretty(&info)?;
                json.push(b'\n');
                vec![("plan.ron", text.clone().into_bytes()), (dataset::SHARD_FILE, json)]
            }
            None => finish_files(staged.path(), &plan, &plan_file, &text, &rows)?,
        };
        Ok((rows, files))
    })();
    bar.finish_and_clear();
    let (rows, files) = match made {
        Ok(made) => made,
        Err(e) => {
            outdir::abandon(staged);
            return Err(e).with_context(|| format!("making the dataset of {}", plan_path.display()));
        }
    };
    outdir::complete(&out_dir, FolderKind::Dataset, staged, &files, force)?;
    if !quiet {
        let packets: u64 = rows.iter().map(|r| r.summary.packets).sum();
        let mut flows: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
        for r in &rows {
            for (class, n) in &r.summary.flows {
                *flows.entry(class.as_str()).or_default() += n;
            }
        }
        let seconds: f64 = rows.iter().map(|r| r.summary.seconds).sum();
        let which = match shard {
            Some((i, n)) => format!(" (shard {i} of {n}: {} of {} runs)", rows.len(), runs.len()),
            None => String::new(),
        };
        println!(
            "dataset {}{which}: {} run(s) in {seconds:.1} s on {threads} thread(s); {} packets, {} flows",
            plan.name,
            rows.len(),
            group(packets),
            group(flows.values().sum())
        );
        for (class, n) in &flows {
            println!("  {class:<28} {:>12} flows", group(*n));
        }
        match shard {
            Some(_) => println!(
                "shard: {}/ (join every shard with `amirange merge DIR... --out DIR`)",
                out_dir.display()
            ),
            None => println!("dataset: {}/ (card: dataset.md)", out_dir.display()),
        }
    }
    Ok(())
}

/// The whole dataset's last files: the plan's copy, the card of `rows` and the manifest of
/// everything in `dir` with them.
fn finish_files(dir: &Path, plan: &dataset::Plan, plan_file: &str, text: &str, rows: &[CardRow]) -> Result<Files> {
    let card = dataset::card(plan, plan_file, rows);
    let manifest = dataset::manifest(
        dir,
        plan,
        &[("plan.ron", text.as_bytes()), ("dataset.md", card.as_bytes())],
    )?;
    Ok(vec![
        ("plan.ron", text.as_bytes().to_vec()),
        ("dataset.md", card.into_bytes()),
        ("manifest.json", manifest),
    ])
}

/// Whether `dir` is a dataset shard's folder.
pub(crate) fn is_shard(dir: &Path) -> bool {
    dir.join(dataset::SHARD_FILE).is_file()
}

/// `amirange merge` of dataset shards: every shard of one plan, each once, into one dataset
/// folder with the card the whole dataset writes and a manifest of everything in it.
pub(crate) fn cmd_merge_dataset(dirs: &[PathBuf], out: &Path, force: bool) -> Result<()> {
    outdir::check_target(out, FolderKind::Dataset, force)?;
    let mut shards: Vec<(&PathBuf, ShardInfo)> = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let path = dir.join(dataset::SHARD_FILE);
        let text = read_result(&path).with_context(|| {
            format!(
                "{} is not a dataset shard (no readable {}): merge the shards of one dataset",
                dir.display(),
                dataset::SHARD_FILE
            )
        })?;
        let info: ShardInfo =
            serde_json::from_str(&text).with_context(|| format!("{}: not a dataset shard's file", path.display()))?;
        if let Some((first, f)) = shards.first() {
            if f.plan_sha256 != info.plan_sha256 {
                anyhow::bail!("{} is a shard of another plan than {}", dir.display(), first.display());
            }
            if f.shard.1 != info.shard.1 {
                anyhow::bail!(
                    "the folders mix shard counts: {} is a shard of {}, {} of {}; merge the shards of one submission",
                    first.display(),
                    f.shard.1,
                    dir.display(),
                    info.shard.1
                );
            }
        }
        shards.push((dir, info));
    }
    let (first_dir, first) = shards.first().context("no folders given")?;
    let count = first.shard.1;
    let mut seen: Vec<Option<&PathBuf>> = vec![None; count + 1];
    for (dir, info) in &shards {
        let i = info.shard.0;
        match seen.get_mut(i) {
            Some(Some(other)) => anyhow::bail!(
                "shard {i} of {count} appears in both {} and {}: merge each shard once",
                other.display(),
                dir.display()
            ),
            Some(slot) => *slot = Some(dir),
            None => anyhow::bail!("{}: shard {i} of {count} is out of range", dir.display()),
        }
    }
    if let Some(i) = (1..=count).find(|&i| seen[i].is_none()) {
        anyhow::bail!("shard {i} of {count} is missing: merge every shard");
    }
    let mut rows: Vec<CardRow> = shards.iter().flat_map(|(_, info)| info.rows.iter().cloned()).collect();
    rows.sort_by_key(|r| r.run);
    let total = first.total_runs;
    if rows.len() != total || rows.iter().enumerate().any(|(k, r)| r.run != k) {
        anyhow::bail!("the shards hold {} runs, not the plan's {total} once each", rows.len());
    }
    let text = read_result(&first_dir.join("plan.ron"))?;
    if dataset::plan_digest(&text) != first.plan_sha256 {
        anyhow::bail!(
            "{}: plan.ron is not the plan the shard was made from",
            first_dir.display()
        );
    }
    let plan = dataset::parse_plan(&first_dir.join("plan.ron").display().to_string(), &text)?;
    let staged = outdir::begin(out, FolderKind::Dataset, force)?;
    let made = (|| -> Result<Files> {
        for (dir, info) in &shards {
            for row in &info.rows {
                let part = dataset::run_dir(row.run);
                copy_tree(&dir.join(&part), &staged.path().join(&part))?;
            }
        }
        finish_files(staged.path(), &plan, &first.plan_file, &text, &rows)
    })();
    let files = match made {
        Ok(files) => files,
        Err(e) => {
            outdir::abandon(staged);
            return Err(e).context("merging the dataset's shards");
        }
    };
    outdir::complete(out, FolderKind::Dataset, staged, &files, force)?;
    println!(
        "dataset {}: {} shard(s), {total} run(s) merged into {}/ (card: dataset.md)",
        plan.name,
        shards.len(),
        out.display()
    );
    Ok(())
}

/// Copies the files under `from` into `to` (created), folders included; refuses anything but
/// plain files and folders.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .with_context(|| format!("reading {}", from.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", from.display()))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let kind = entry
            .file_type()
            .with_context(|| format!("reading {}", entry.path().display()))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {} to {}", entry.path().display(), target.display()))?;
        } else {
            anyhow::bail!("{} is neither a file nor a folder", entry.path().display());
        }
    }
    Ok(())
}

//! The Slurm scripts without Slurm: `scenarios/sweeps/slurm-array.sh` run by bash with the
//! variables Slurm sets for an array task, then `slurm-merge.sh`; the merged folder equals the
//! unsharded sweep's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{amirange, read};

/// A tiny sweep plan: the quickstart at 200 meters for a day, two read deadlines, two seeds.
fn tiny_plan(dir: &Path) -> String {
    let scenario = format!("{}/scenarios/quickstart.ron", env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        r#"Sweep(
    name: "tiny",
    scenario: "{scenario}",
    seeds: 2,
    meters: 200,
    duration: "1d",
    grid: [(path: "metering.read_deadline", values: ["5m", "10m"])],
    measures: ["reads.on_time", "reads.missing"],
)"#
    );
    std::fs::write(dir.join("tiny.ron"), text).expect("write plan");
    "tiny.ron".to_owned()
}

fn script(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "scenarios/sweeps", name].iter().collect()
}

/// Runs `slurm-array.sh PLAN` as array task `task` of an array numbered `min..=max` with
/// `count` tasks and `step`, job 4242, in `cwd`, with `AMIRANGE` set unless `binary` is None.
fn array_task(
    cwd: &Path,
    plan: &str,
    task: u32,
    (min, max, count, step): (u32, u32, u32, u32),
    binary: Option<&str>,
) -> Output {
    let mut command = Command::new("bash");
    command
        .arg(script("slurm-array.sh"))
        .arg(plan)
        .current_dir(cwd)
        .env("SLURM_ARRAY_JOB_ID", "4242")
        .env("SLURM_ARRAY_TASK_ID", task.to_string())
        .env("SLURM_ARRAY_TASK_MIN", min.to_string())
        .env("SLURM_ARRAY_TASK_MAX", max.to_string())
        .env("SLURM_ARRAY_TASK_COUNT", count.to_string())
        .env("SLURM_ARRAY_TASK_STEP", step.to_string())
        .env("SLURM_CPUS_PER_TASK", "1")
        .env("SLURM_SUBMIT_DIR", cwd);
    match binary {
        Some(b) => command.env("AMIRANGE", b),
        None => command.env_remove("AMIRANGE"),
    };
    command.output().expect("bash runs")
}

fn merge_script(cwd: &Path, plan: &str) -> Output {
    Command::new("bash")
        .arg(script("slurm-merge.sh"))
        .args([plan, "4242"])
        .current_dir(cwd)
        .env("AMIRANGE", env!("CARGO_BIN_EXE_amirange"))
        .env("SLURM_SUBMIT_DIR", cwd)
        .output()
        .expect("bash runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Finding 9: an array of two tasks and the merge job, run by hand as Slurm would, rebuild the
/// unsharded sweep's folder; each task logs one line per run; shard folders carry the job id and
/// the shard count; merge refuses a missing shard and mixed shard counts, naming the folders.
#[test]
fn slurm_array_and_merge_scripts_rebuild_the_unsharded_sweep() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    let plan = tiny_plan(t);
    let bin = env!("CARGO_BIN_EXE_amirange");
    for task in 1..=2 {
        let o = array_task(t, &plan, task, (1, 2, 2, 1), Some(bin));
        assert!(o.status.success(), "task {task}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.matches(" done (grid point ").count(), 2, "one line per run: {err}");
        assert!(
            t.join(format!("results/shards/tiny-4242/shard-{task}-of-2/runs.csv"))
                .is_file(),
            "{err}"
        );
    }
    // Only the first shard: the merge names what is missing.
    std::fs::rename(
        t.join("results/shards/tiny-4242/shard-2-of-2"),
        t.join("results/shard-2-aside"),
    )
    .expect("mv");
    let o = merge_script(t, &plan);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing shard 2 of 2"), "{}", stderr(&o));
    std::fs::rename(
        t.join("results/shard-2-aside"),
        t.join("results/shards/tiny-4242/shard-2-of-2"),
    )
    .expect("mv");
    // A shard of an array of another size in the same folder: refused, both named.
    let o = array_task(t, &plan, 1, (1, 3, 3, 1), Some(bin));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = merge_script(t, &plan);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("mix shard counts") && err.contains("shard-1-of-2") && err.contains("shard-1-of-3"),
        "{err}"
    );
    std::fs::remove_dir_all(t.join("results/shards/tiny-4242/shard-1-of-3")).expect("rm");
    let o = merge_script(t, &plan);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = amirange(&["sweep", &plan, "--out", "whole", "-q"], t);
    assert!(o.status.success(), "{}", stderr(&o));
    for file in ["summary.csv", "runs.csv", "report.html", "runs/00003/metrics.json"] {
        assert!(
            read(&t.join("results/sweep-tiny-4242").join(file)) == read(&t.join("whole").join(file)),
            "{file}: the merged sweep differs from the unsharded one"
        );
    }
}

/// Finding 9: an array numbered from 0, with a step or with gaps would lose a shard, and is
/// refused before anything runs; so is a missing binary, with what to do.
#[test]
fn slurm_array_refuses_a_bad_numbering_and_a_missing_binary() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    let plan = tiny_plan(t);
    let bin = env!("CARGO_BIN_EXE_amirange");
    for (task, numbering) in [(0, (0, 1, 2, 1)), (1, (1, 3, 2, 2)), (1, (1, 4, 3, 1))] {
        let o = array_task(t, &plan, task, numbering, Some(bin));
        assert!(!o.status.success(), "{numbering:?}");
        assert!(
            stderr(&o).contains("it must be --array=1-N with no step and no gaps"),
            "{numbering:?}: {}",
            stderr(&o)
        );
    }
    let o = array_task(t, &plan, 1, (1, 2, 2, 1), Some("/nonexistent/amirange"));
    assert!(stderr(&o).contains("AMIRANGE=/nonexistent/amirange is not an executable file"));
    let o = array_task(t, &plan, 1, (1, 2, 2, 1), None);
    let err = stderr(&o);
    // Unless an amirange is installed on this machine's PATH, the script says how to get one.
    assert!(
        err.contains("no amirange binary: run cargo build --release") || o.status.success(),
        "{err}"
    );
    assert!(!t.join("results/shards").exists() || o.status.success());
}

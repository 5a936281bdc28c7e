//! Output folders (`run`, `sweep`, `merge`, `serve`): `--force` replaces only a folder amirange
//! wrote, never `.`, `..`, an ancestor or a repository, and a dead process's leftovers are
//! cleaned. The replacement's atomicity at every step is tested in `src/outdir.rs`.

use std::path::{Path, PathBuf};

use crate::common::{amirange, read};

/// A small run: 200 meters for two hours.
const SMALL: [&str; 5] = ["run", "--meters", "200", "--duration", "1d"];

fn run_into(out: &str, extra: &[&str], cwd: &Path) -> std::process::Output {
    let mut args: Vec<&str> = SMALL.to_vec();
    args.extend(["--out", out]);
    args.extend(extra);
    amirange(&args, cwd)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

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
    let path = dir.join("tiny.ron");
    std::fs::write(&path, text).expect("write plan");
    path.to_str().expect("utf-8").to_owned()
}

/// Finding 1: `run --out DIR --force` on a folder holding a user's file refuses, names the
/// file, and leaves the folder as it was.
#[test]
fn force_keeps_a_folder_holding_a_users_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    std::fs::create_dir(t.join("mine")).expect("mkdir");
    std::fs::write(t.join("mine/notes.txt"), "my notes").expect("write");
    std::fs::write(t.join("mine/data.csv"), "1,2").expect("write");
    let o = run_into("mine", &["--force"], t);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("refusing to replace mine: it holds 2 entries that amirange did not write, such as data.csv"),
        "{err}"
    );
    assert_eq!(read(&t.join("mine/notes.txt")), b"my notes");
    assert_eq!(read(&t.join("mine/data.csv")), b"1,2");
    assert_eq!(std::fs::read_dir(t.join("mine")).expect("ls").count(), 2);
    // A result folder a user added a file to is not replaced either.
    let o = run_into("r", &[], t);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(t.join("r/analysis.ipynb"), "{}").expect("write");
    let o = run_into("r", &["--force"], t);
    assert!(stderr(&o).contains("such as analysis.ipynb"), "{}", stderr(&o));
    assert!(t.join("r/analysis.ipynb").is_file());
}

/// Finding 1: `--out .`, `--out ..`, `--out DIR/.`, an ancestor of the current folder, a
/// symbolic link to one, a repository's root and `/` are refused, with or without `--force`,
/// and nothing in them is touched.
#[test]
fn force_refuses_the_current_folder_its_ancestors_and_a_repository() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let top = tmp.path().canonicalize().expect("canonical");
    let cwd = top.join("work/sub");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    std::fs::create_dir_all(top.join("repo/.git")).expect("mkdir");
    std::fs::create_dir_all(cwd.join("x")).expect("mkdir");
    for dir in [&top, &top.join("work"), &cwd, &cwd.join("x"), &top.join("repo")] {
        std::fs::write(dir.join("keep.txt"), "keep").expect("write");
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(top.join("work"), cwd.join("up")).expect("symlink");
    let top_text = top.to_str().expect("utf-8").to_owned();
    let cases: Vec<(String, &str)> = vec![
        (".".into(), "ends in `.`"),
        ("..".into(), "ends in `..`"),
        ("x/.".into(), "ends in `.`"),
        ("x/..".into(), "ends in `..`"),
        ("./".into(), "ends in `.`"),
        (top_text.clone(), "an ancestor of the current folder"),
        (format!("{top_text}/work/sub"), "the current folder"),
        ("x/../../sub".into(), "the current folder"),
        ("../../repo".into(), "a repository's root"),
        ("/".into(), "the file system's root"),
        #[cfg(unix)]
        ("up".into(), "an ancestor of the current folder"),
    ];
    for (out, expected) in &cases {
        for force in [true, false] {
            let o = run_into(out, if force { &["--force"] } else { &[] }, &cwd);
            let err = stderr(&o);
            assert!(!o.status.success(), "{out}");
            assert!(
                err.contains("refusing to use") && err.contains(expected),
                "--out {out} (force {force}): {err}"
            );
        }
    }
    for dir in [&top, &top.join("work"), &cwd, &cwd.join("x"), &top.join("repo")] {
        assert_eq!(read(&dir.join("keep.txt")), b"keep", "{}", dir.display());
    }
    assert!(top.join("repo/.git").is_dir());
    assert!(cwd.join("x").is_dir());
}

/// Finding 1: a folder amirange wrote (with its marker) is replaced by `--force`, once the new
/// one is complete; the marker is the only file beside the results.
#[test]
fn force_replaces_a_folder_amirange_wrote() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    let o = run_into("r", &[], t);
    assert!(o.status.success(), "{}", stderr(&o));
    let marker: serde_json::Value = serde_json::from_slice(&read(&t.join("r/.amirange-folder"))).expect("json");
    assert_eq!(marker["kind"], "run");
    let o = run_into("r", &["--force", "--seed", "8"], t);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest: serde_json::Value = serde_json::from_slice(&read(&t.join("r/manifest.json"))).expect("json");
    assert_eq!(manifest["seed"], 8, "the new results");
    let hidden: Vec<String> = std::fs::read_dir(t)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "nothing left beside it: {hidden:?}");
    // A folder written before the marker existed (the same files, no marker) is recognised.
    std::fs::remove_file(t.join("r/.amirange-folder")).expect("rm");
    let o = run_into("r", &["--force"], t);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(t.join("r/.amirange-folder").is_file());
    // Every file a paired attack run writes (the map, the detection chart, paired.csv, the
    // twin's metrics) is one amirange knows as its own.
    let scenario = format!("{}/scenarios/attacks/jamming-constant.ron", env!("CARGO_MANIFEST_DIR"));
    for force in [false, true] {
        let mut args = vec![
            "run",
            scenario.as_str(),
            "--meters",
            "300",
            "--duration",
            "17h",
            "--paired",
            "--out",
            "p",
            "-q",
        ];
        if force {
            args.push("--force");
        }
        let o = amirange(&args, t);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    for file in [
        "plots/detection.svg",
        "plots/map.svg",
        "paired.csv",
        "baseline-metrics.json",
    ] {
        assert!(t.join("p").join(file).is_file(), "{file}");
    }
}

/// Finding 2: the hidden folder a killed run left (`.NAME.partial-PID`, PID gone) is removed by
/// the next write in the same folder, which says so; one holding a user's file is only listed.
#[test]
fn a_stale_partial_of_a_dead_process_is_cleaned() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    // No process has an id above 2^22 on Linux.
    let stale = t.join("results/.r.partial-4000000005");
    std::fs::create_dir_all(stale.join("plots")).expect("mkdir");
    std::fs::write(stale.join(".amirange-folder"), r#"{"kind":"run"}"#).expect("write");
    std::fs::write(stale.join("metrics.json"), "{}").expect("write");
    let foreign = t.join("results/.q.partial-4000000006");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(foreign.join("notes.txt"), "mine").expect("write");
    let o = run_into("results/r2", &["-q"], t);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    if cfg!(target_os = "linux") {
        assert!(!stale.exists(), "{err}");
        assert!(
            err.contains("removed") && err.contains(".r.partial-4000000005"),
            "{err}"
        );
    }
    assert!(foreign.join("notes.txt").is_file(), "a user's file is never deleted");
    assert!(err.contains(".q.partial-4000000006"), "{err}");
    assert!(t.join("results/r2/metrics.json").is_file());
}

/// Finding 1, for `sweep` and `merge`: `--force` keeps a folder holding a user's file, `.` is
/// refused, and a sweep folder amirange wrote is replaced; `serve` refuses `.` too.
#[test]
fn sweep_and_merge_force_replace_only_sweep_folders() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    let plan = tiny_plan(t);
    std::fs::create_dir(t.join("mine")).expect("mkdir");
    std::fs::write(t.join("mine/notes.txt"), "mine").expect("write");
    for args in [
        vec!["sweep", plan.as_str(), "--out", "mine", "--force", "-q"],
        vec!["sweep", plan.as_str(), "--out", ".", "--force", "-q"],
        vec!["merge", "mine", "--out", "mine", "--force"],
        vec!["merge", "mine", "--out", "..", "--force"],
    ] {
        let o = amirange(&args, t);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            err.contains("notes.txt") || err.contains("refusing to use"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(read(&t.join("mine/notes.txt")), b"mine");
    let o = amirange(&["sweep", &plan, "--shard", "1/1", "--out", "s", "-q"], t);
    assert!(o.status.success(), "{}", stderr(&o));
    for _ in 0..2 {
        let o = amirange(&["merge", "s", "--out", "m", "--force"], t);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = amirange(&["sweep", &plan, "--shard", "1/1", "--out", "s", "--force", "-q"], t);
    assert!(o.status.success(), "{}", stderr(&o));
    // A run's folder is not a sweep's.
    let o = run_into("r", &["-q"], t);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = amirange(&["merge", "s", "--out", "r", "--force"], t);
    assert!(
        stderr(&o).contains("it is an amirange run folder, not a sweep folder"),
        "{}",
        stderr(&o)
    );
    // serve's exercise folder: checked where it is chosen (on ports of the system's choosing).
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "scenarios/exercises"].iter().collect();
    let text = std::fs::read_to_string(dir.join("mass-disconnect.ron")).expect("exercise");
    let scenario = dir.join("mass-disconnect.scenario.ron");
    let text = text.replace(
        "scenario: \"mass-disconnect.scenario.ron\",",
        &format!(
            "scenario: {:?},\n    listen: \"127.0.0.1:0\",\n    dashboard: \"127.0.0.1:0\",",
            scenario.to_str().expect("utf-8")
        ),
    );
    std::fs::write(t.join("exercise.ron"), text).expect("write");
    let o = amirange(&["serve", "exercise.ron", "--out", ".", "--meters", "200"], t);
    assert!(stderr(&o).contains("refusing to use ."), "{}", stderr(&o));
    let o = amirange(&["serve", "exercise.ron", "--out", "mine", "--meters", "200"], t);
    assert!(
        stderr(&o).contains(
            "refusing to use mine for an exercise: it holds 1 entry that amirange did not write, such as notes.txt"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(read(&t.join("mine/notes.txt")), b"mine");
}

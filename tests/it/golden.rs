//! Results that must not move: golden summaries of the shipped scenario files, and common
//! random numbers between a run and its baseline twin.
//!
//! Golden summaries: every shipped scenario file small enough for a debug test runs through the
//! real `amirange` executable, and a compact summary of its result folder must equal the one
//! committed under `tests/golden/`. A refactor that changes any result, in any file, fails
//! here and names the run and the file.
//!
//! A summary holds every file of the result folder by size and FNV-1a 64 digest (the manifest
//! without `wall_time_s` and `threads`, the only fields that depend on the machine), then every
//! leaf of `metrics.json` as `path = value`, one a line, so a diff shows which measure moved.
//! Nothing in it depends on the thread count or the wall time.
//!
//! After a change that moves results on purpose, `AMIRANGE_BLESS=1 cargo test --test it golden::`
//! rewrites the summaries (and removes those of runs that no longer exist); review the diff.
//!
//! The runs: `scenarios/quickstart.ron` and every `scenarios/attacks/*.ron` as shipped; every
//! attack file again with `--preset hardened` (all ten detectors and the responses against
//! each attack) scaled down to 2,000 meters; `mass-disconnect-peak.ron` with `--preset none`,
//! `--preset typical-utility` and `--preset hardened --paired` (the twin, `paired.csv` and
//! `baseline-metrics.json`). The
//! typical week (100,000 meters for 7 days, about 9 s alone in a debug build) and the 1M
//! benchmark run scaled down to 2,000 meters for a day. The exercises' scenarios are the live
//! range's and are left to its tests.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// One run: its golden file's name, the scenario file (relative to the package root) and the
/// extra arguments.
struct Case {
    golden: String,
    scenario: String,
    args: Vec<&'static str>,
}

fn cases() -> Vec<Case> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut attacks: Vec<String> = std::fs::read_dir(format!("{root}/scenarios/attacks"))
        .expect("scenarios/attacks")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ron"))
        .collect();
    attacks.sort();
    assert!(attacks.len() >= 27, "the shipped attack files: {attacks:?}");
    let case = |golden: &str, scenario: &str, args: &[&'static str]| Case {
        golden: golden.to_owned(),
        scenario: scenario.to_owned(),
        args: args.to_vec(),
    };
    let mut cases = vec![
        case("quickstart", "scenarios/quickstart.ron", &[]),
        case(
            "typical-week-2000-meters-1d",
            "scenarios/typical-week.ron",
            &["--meters", "2000", "--duration", "1d"],
        ),
        case("bench-1m-2000-meters", "scenarios/bench-1m.ron", &["--meters", "2000"]),
    ];
    for name in &attacks {
        let stem = name.trim_end_matches(".ron");
        let scenario = format!("scenarios/attacks/{name}");
        cases.push(case(&format!("attacks-{stem}"), &scenario, &[]));
        cases.push(case(
            &format!("attacks-{stem}-hardened-2000-meters"),
            &scenario,
            &["--preset", "hardened", "--meters", "2000"],
        ));
    }
    for preset in ["none", "typical-utility"] {
        cases.push(case(
            &format!("attacks-mass-disconnect-peak-{preset}"),
            "scenarios/attacks/mass-disconnect-peak.ron",
            &["--preset", preset],
        ));
    }
    cases.push(case(
        "attacks-mass-disconnect-peak-hardened-paired",
        "scenarios/attacks/mass-disconnect-peak.ron",
        &["--preset", "hardened", "--paired"],
    ));
    cases
}

/// FNV-1a, 64 bits: enough to see that a file changed (nothing here is adversarial).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Every file under `dir`, as paths relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).expect("under dir").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Lists longer than this are summarised as their length and digest.
const LONGEST_LIST: usize = 8;

/// Every leaf of `value` that is not zero, false, null or empty, as `path = value` lines, in
/// key order; a list longer than [`LONGEST_LIST`] as its length and digest. (The digest of the
/// whole `metrics.json` above catches what this leaves out.)
fn leaves(value: &Value, path: &str, out: &mut String) {
    match value {
        Value::Null | Value::Bool(false) => {}
        Value::Number(n) if n.as_f64() == Some(0.0) => {}
        Value::String(s) if s.is_empty() => {}
        Value::Array(list) if list.len() > LONGEST_LIST => {
            let text = serde_json::to_vec(list).expect("json");
            let _ = writeln!(out, "{path} = {} entries {:016x}", list.len(), fnv1a64(&text));
        }
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(v, &p, out);
            }
        }
        Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                leaves(v, &format!("{path}[{i}]"), out);
            }
        }
        leaf => {
            let _ = writeln!(out, "{path} = {leaf}");
        }
    }
}

/// The summary of the result folder `dir`.
fn summary(case: &Case, dir: &Path) -> String {
    let mut out = format!(
        "# golden summary: amirange run {}{} (on one thread)\n\
         # AMIRANGE_BLESS=1 cargo test --test it golden:: rewrites it\n\
         # file bytes fnv1a64 (manifest.json without wall_time_s and threads)\n",
        case.scenario,
        case.args.iter().map(|a| format!(" {a}")).collect::<String>()
    );
    for file in files_under(dir) {
        let name = file.to_string_lossy().replace('\\', "/");
        let mut bytes = crate::common::read(&dir.join(&file));
        if name == "manifest.json" {
            let mut v: Value = serde_json::from_slice(&bytes).expect("manifest.json");
            let map = v.as_object_mut().expect("an object");
            assert!(map.remove("wall_time_s").is_some() && map.remove("threads").is_some());
            bytes = serde_json::to_vec_pretty(&v).expect("json");
        }
        let _ = writeln!(out, "{name} {} {:016x}", bytes.len(), fnv1a64(&bytes));
    }
    out.push_str("# metrics.json: every leaf but zeros, nulls and empties; long lists by digest\n");
    let metrics: Value = serde_json::from_slice(&crate::common::read(&dir.join("metrics.json"))).expect("metrics.json");
    leaves(&metrics, "", &mut out);
    out
}

/// The first line where `a` and `b` differ, for the failure message.
fn first_difference(a: &str, b: &str) -> String {
    let (mut al, mut bl) = (a.lines(), b.lines());
    for n in 1.. {
        match (al.next(), bl.next()) {
            (None, None) => break,
            (x, y) if x == y => {}
            (x, y) => {
                return format!(
                    "line {n}: committed {:?}, now {:?}",
                    x.unwrap_or("<end>"),
                    y.unwrap_or("<end>")
                );
            }
        }
    }
    "no line differs".to_owned()
}

#[test]
fn every_scenario_file_matches_its_golden_summary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let golden_dir = root.join("tests/golden");
    let bless = std::env::var_os("AMIRANGE_BLESS").is_some();
    let cases = cases();
    let tmp = tempfile::tempdir().expect("temp dir");
    // The runs are separate processes on one thread each, as many at once as there are cores.
    let next = AtomicUsize::new(0);
    let summaries: Mutex<Vec<(usize, Result<String, String>)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(cases.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let out = tmp.path().join(&case.golden);
                    let out_arg = out.to_str().expect("utf-8").to_owned();
                    let mut args = vec!["run", case.scenario.as_str(), "--threads", "1", "--quiet"];
                    args.extend(case.args.iter().copied());
                    args.extend(["--out", out_arg.as_str()]);
                    let o = crate::common::amirange(&args, root);
                    let result = if o.status.success() {
                        Ok(summary(case, &out))
                    } else {
                        Err(format!("{}: {}", case.golden, String::from_utf8_lossy(&o.stderr)))
                    };
                    summaries.lock().expect("not poisoned").push((i, result));
                }
            });
        }
    });
    let mut summaries = summaries.into_inner().expect("not poisoned");
    summaries.sort_by_key(|(i, _)| *i);
    let mut failures = Vec::new();
    if bless {
        std::fs::create_dir_all(&golden_dir).expect("tests/golden");
        for entry in std::fs::read_dir(&golden_dir).expect("tests/golden") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "txt") {
                std::fs::remove_file(&path).expect("remove a stale summary");
            }
        }
    }
    let mut expected = Vec::new();
    for (i, result) in summaries {
        let case = &cases[i];
        let name = format!("{}.txt", case.golden);
        let now = match result {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("the run failed: {e}"));
                continue;
            }
        };
        let path = golden_dir.join(&name);
        if bless {
            std::fs::write(&path, &now).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        expected.push(name.clone());
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == now => {}
            Ok(committed) => failures.push(format!(
                "tests/golden/{name} differs ({})",
                first_difference(&committed, &now)
            )),
            Err(e) => failures.push(format!("tests/golden/{name}: {e}")),
        }
    }
    for entry in std::fs::read_dir(&golden_dir).expect("tests/golden") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        if !expected.contains(&name) {
            failures.push(format!("tests/golden/{name} belongs to no run"));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nif the change is meant, run `AMIRANGE_BLESS=1 cargo test --test it golden::` and review the diff",
        failures.join("\n")
    );
}

/// Runs the attack file `name` and its baseline twin (the same scenario without its attacks)
/// on the same network through the library, as `--paired` does.
fn attack_and_twin(name: &str) -> (amirange::run::Finished, amirange::run::Finished) {
    let path = format!("{}/scenarios/attacks/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let scenario = amirange::scenario::load(&path, &text, &amirange::scenario::Overrides::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let network = amirange::run::generate(&scenario).expect("topology");
    let run = |s: &amirange::scenario::Scenario, n| {
        amirange::run::execute_on(s, n, std::time::Instant::now(), false, |_, _| {}).expect("runs")
    };
    let attack = run(&scenario, network.clone());
    let twin = run(&amirange::paired::twin(&scenario), network);
    (attack, twin)
}

/// Common random numbers: a run and its baseline twin draw the same numbers for everything the
/// attack never touches. A mass disconnect of feeders 0 and 1 leaves every other feeder's
/// premises consuming exactly what they consume in the twin (true energy per transformer, to
/// the milliwatt-hour, and the feeder-head SCADA load in every interval), while the two target
/// feeders do differ, so the comparison is not empty.
#[test]
fn a_run_and_its_twin_draw_the_same_numbers_where_the_attack_never_reaches() {
    let (attack, twin) = attack_and_twin("mass-disconnect-peak.ron");
    let targets = [0u32, 1];
    let network = attack.sim.network();
    let (a, b) = (attack.sim.records(), twin.sim.records());
    assert_eq!(a.transformer_mwh.len(), network.transformers.len());
    assert_eq!(b.transformer_mwh.len(), network.transformers.len());
    let mut outside = 0;
    let mut target_gap = 0u64;
    for (t, tr) in network.transformers.iter().enumerate() {
        let (x, y) = (a.transformer_mwh[t].true_mwh, b.transformer_mwh[t].true_mwh);
        if targets.contains(&tr.feeder) {
            target_gap += y.abs_diff(x);
        } else {
            assert_eq!(
                x, y,
                "transformer {t} on feeder {}: true energy differs from the twin's",
                tr.feeder
            );
            outside += 1;
        }
    }
    assert!(outside > 50, "{outside} transformers outside the attack's reach");
    assert!(target_gap > 0, "the disconnect changed the target feeders' consumption");
    let n = network.feeders.len();
    assert!(n > targets.len() + 2, "{n} feeders");
    assert_eq!(a.scada_kw.len(), b.scada_kw.len());
    let mut target_differs = false;
    for (i, (x, y)) in a.scada_kw.iter().zip(&b.scada_kw).enumerate() {
        let (slot, feeder) = (i / n, (i % n) as u32);
        if targets.contains(&feeder) {
            target_differs |= x != y;
        } else {
            assert!(
                x == y,
                "feeder {feeder}, interval {slot}: SCADA load {x} kW, the twin's {y} kW"
            );
        }
    }
    assert!(target_differs, "the target feeders' SCADA load moved");
}

/// An attack that touches no meter's supply (data exfiltration from the MDM) leaves every
/// transformer's true energy exactly the twin's.
#[test]
fn an_attack_on_data_alone_leaves_every_meter_drawing_the_twins_numbers() {
    let (attack, twin) = attack_and_twin("data-exfiltration.ron");
    let (a, b) = (attack.sim.records(), twin.sim.records());
    assert!(!a.transformer_mwh.is_empty());
    assert_eq!(a.transformer_mwh.len(), b.transformer_mwh.len());
    for (t, (x, y)) in a.transformer_mwh.iter().zip(&b.transformer_mwh).enumerate() {
        assert_eq!(x, y, "transformer {t}: energy differs from the twin's");
    }
    assert!(a.scada_kw == b.scada_kw, "the feeder-head SCADA load is the twin's");
}

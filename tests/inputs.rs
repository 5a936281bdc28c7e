//! Every file a user gives amirange is bounded, and every fault in one is located: scenario,
//! topology, exercise and sweep plan files are read only when they are regular files within
//! the size limit, a sweep's seeds and runs are limited before anything is built, errors name
//! file, line, column and field, and no mutation of a shipped file panics the loaders or makes
//! them allocate without bound.
//!
//! This binary's allocator has a limit ([`ALLOCATION_LIMIT`]): an enormous allocation aborts the
//! test binary instead of taking the machine's memory. That is why these tests are not a module
//! of the one integration-test binary (`tests/it/`): a `#[global_allocator]` holds for the whole
//! binary, so there it would cap every other test (the golden runs, the live range) as well.

// The helpers the integration tests share.
#[path = "it/common.rs"]
mod common;

use std::path::{Path, PathBuf};

use amirange::scenario::{self, Overrides};
use amirange::sweep;
use amirange_range::exercise::Exercise;
use common::amirange;

/// The most bytes this test binary may hold allocated at once: 1 GiB.
const ALLOCATION_LIMIT: usize = 1 << 30;

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, ALLOCATION_LIMIT);

const GOOD: &str = r#"// a comment with meters: in it
Scenario(
    name: "t",
    seed: 1,
    start: "2026-01-15T00:00:00",
    duration: "1d",
    topology: Area(
        kind: Suburban,
        meters: 100,
    ),
    metering: (read_deadline: "4m"),
)
"#;

const INLINE_AREA: &str = "Area(\n        kind: Suburban,\n        meters: 100,\n    )";

fn load(file: &str, text: &str) -> Result<scenario::Scenario, scenario::ScenarioError> {
    scenario::load(file, text, &Overrides::default())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A sweep plan over the scenario file `s.ron` beside it, with `fields` added.
fn plan(fields: &str) -> String {
    format!(
        "Sweep(\n    name: \"p\",\n    scenario: \"s.ron\",\n{fields}\n    grid: [\n        (path: \"seed\", values: [1]),\n    ],\n    measures: [\"energy.true_kwh\"],\n)\n"
    )
}

#[test]
fn sweep_plan_refuses_a_hundred_million_seeds() {
    let err = sweep::parse_plan("plan.ron", &plan("    seeds: 100000000,")).expect_err("too many seeds");
    assert_eq!(
        err.to_string(),
        "plan.ron:4:5: field `seeds`: 100000000 seeds per grid point is over the limit of 10000"
    );
    let err = sweep::parse_plan("plan.ron", &plan("    seeds: 2147483648,")).expect_err("too many seeds");
    assert!(err.to_string().contains("2147483648 seeds per grid point"), "{err}");
}

#[test]
fn grid_points_times_seeds_are_limited_before_anything_is_built() {
    let values = (0..100).map(|v| v.to_string()).collect::<Vec<_>>().join(", ");
    let text = format!(
        "Sweep(name: \"p\", scenario: \"s.ron\", seeds: 1000,\n  grid: [\n    (path: \"a\", values: [{values}]),\n    (path: \"b\", values: [{values}]),\n  ],\n  measures: [\"m\"])"
    );
    let err = sweep::parse_plan("plan.ron", &text).expect_err("too many runs");
    assert_eq!(
        err.to_string(),
        "plan.ron:2:3: field `grid`: 100 x 100 grid points times 1000 seeds is 10000000 runs, over the limit of 100000 runs per plan"
    );
    // A product past u64 is refused the same way, without overflowing.
    let axis = format!("(path: \"a\", values: [{values}]),");
    let text = format!(
        "Sweep(name: \"p\", scenario: \"s.ron\", seeds: 1, grid: [{}], measures: [\"m\"])",
        axis.repeat(12)
    );
    let err = sweep::parse_plan("plan.ron", &text).expect_err("too many runs");
    assert!(
        err.to_string().contains("is more than 18446744073709551615 runs"),
        "{err}"
    );
}

#[test]
fn first_seed_overflow_is_refused() {
    let err = sweep::parse_plan(
        "plan.ron",
        &plan("    seeds: 2,\n    first_seed: 18446744073709551615,"),
    )
    .expect_err("overflow");
    assert_eq!(
        err.to_string(),
        "plan.ron:5:5: field `first_seed`: 2 seeds from 18446744073709551615 pass the largest seed, 18446744073709551615: start at 18446744073709551614 or below"
    );
    let ok = sweep::parse_plan(
        "plan.ron",
        &plan("    seeds: 2,\n    first_seed: 18446744073709551614,"),
    );
    assert!(ok.is_ok(), "{ok:?}");
    // Without `first_seed`, the scenario's own seed is checked the same way.
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        tmp.path().join("s.ron"),
        GOOD.replace("seed: 1,", "seed: 18446744073709551615,"),
    )
    .expect("write");
    let path = tmp.path().join("plan.ron");
    let err = sweep::prepare_source(&path, &plan("    seeds: 3,"))
        .err()
        .expect("overflow");
    assert!(
        err.to_string()
            .contains(":4:5: field `seeds`: from the scenario's seed: 3 seeds from 18446744073709551615"),
        "{err}"
    );
}

#[test]
fn sweep_plan_meters_is_blamed_on_the_plan_field() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::write(tmp.path().join("s.ron"), GOOD).expect("write");
    let path = tmp.path().join("plan.ron");
    let err = sweep::prepare_source(&path, &plan("    seeds: 1,\n    meters: 0,"))
        .err()
        .expect("no meters");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "{}:5:5: field `meters`: must be 1 to 100000000, not 0",
            path.display()
        )),
        "{text}"
    );
    assert!(!text.contains("command line"), "{text}");
    let err = sweep::prepare_source(&path, &plan("    seeds: 1,\n    duration: \"0s\","))
        .err()
        .expect("no duration");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "{}:5:5: field `duration`: must be longer than zero",
            path.display()
        )),
        "{text}"
    );
    let ok = sweep::prepare_source(&path, &plan("    seeds: 2,\n    meters: 50,")).expect("a good plan");
    assert_eq!(ok.scenarios.len(), 2);
}

#[test]
fn sweep_plan_errors_name_line_and_column() {
    let text = "Sweep(\n  name: \"p\",\n  scenario: \"s.ron\",\n  seeds: 1,\n  grid: [\n    (path: \"seed\", values: [1]),\n    (path: \"a,b\", values: [1]),\n  ],\n  measures: [\"m\"],\n)";
    let err = sweep::parse_plan("plan.ron", text).expect_err("a comma in a path");
    assert_eq!(
        err.to_string(),
        "plan.ron:7:6: field `grid[1].path`: axis path \"a,b\" is empty or holds a comma, quote or line break"
    );
    let err = sweep::parse_plan("plan.ron", &text.replace("values: [1]),\n  ]", "values: []),\n  ]"))
        .expect_err("an empty axis");
    assert_eq!(
        err.to_string(),
        "plan.ron:7:19: field `grid[1].values`: give the axis at least one value"
    );
    let err = sweep::parse_plan("plan.ron", &text.replace("seeds: 1,", "seeds: 1,\n  sedes: 2,")).expect_err("unknown");
    assert_eq!(err.position, Some((5, 3)), "{err}");
    let err = sweep::parse_plan("plan.ron", "Exercise(name: \"x\")").expect_err("an exercise");
    assert_eq!(
        err.to_string(),
        "plan.ron: not a sweep plan: it opens with `Exercise(`, where a sweep plan opens with `Sweep(`"
    );
}

#[test]
fn dev_zero_topology_is_refused_with_the_limit() {
    let err = load("s.ron", &GOOD.replace(INLINE_AREA, "File(\"/dev/zero\")")).expect_err("a device");
    assert_eq!(
        err.to_string(),
        "s.ron:7:5: field `topology`: topology file /dev/zero is not a regular file (it is a character device); amirange reads only regular files"
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    // A file over the limit is refused naming the limit, having read at most the limit and a byte.
    let big = tmp.path().join("big.ron");
    let file = std::fs::File::create(&big).expect("create");
    file.set_len(amirange_files::MAX_SOURCE_BYTES + 1)
        .expect("a sparse file");
    let scenario = tmp.path().join("s.ron");
    let err = load(
        &scenario.display().to_string(),
        &GOOD.replace(INLINE_AREA, "File(\"big.ron\")"),
    )
    .expect_err("too large");
    assert!(
        err.to_string().ends_with(&format!(
            "field `topology`: topology file {} is larger than the limit of 4 MiB (4194304 bytes) for a topology file",
            big.display()
        )),
        "{err}"
    );
    // A FIFO is refused without being opened (opening one waits for a writer).
    let fifo = tmp.path().join("fifo.ron");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let err = load(
        &scenario.display().to_string(),
        &GOOD.replace(INLINE_AREA, "File(\"fifo.ron\")"),
    )
    .expect_err("a FIFO");
    assert!(err.to_string().contains("(it is a named pipe (FIFO))"), "{err}");
    // The command line reads through the same limit.
    let o = amirange(&["validate", "/dev/zero"], tmp.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("/dev/zero is not a regular file"),
        "{stderr}"
    );
}

#[test]
fn non_topology_file_is_not_echoed() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        tmp.path().join("passwd"),
        "root:x:0:0:root:/root:/bin/bash\nsecret-word:x:1000:1000::/home/s:/bin/sh\n",
    )
    .expect("write");
    let scenario = tmp.path().join("s.ron");
    let err = load(
        &scenario.display().to_string(),
        &GOOD.replace(INLINE_AREA, "File(\"passwd\")"),
    )
    .expect_err("not a topology");
    let text = err.to_string();
    assert!(
        text.ends_with("is not a topology file: a topology file opens with `Area(`"),
        "{text}"
    );
    assert!(!text.contains("root") && !text.contains("secret"), "{text}");
    let err = load("s.ron", "root:x:0:0:root:/root:/bin/bash\n").expect_err("not a scenario");
    assert_eq!(
        err.to_string(),
        "s.ron: not a scenario file: a scenario file opens with `Scenario(`"
    );
}

#[test]
fn trailing_characters_are_blamed_on_their_position() {
    let err = load("s.ron", &format!("{GOOD})\n")).expect_err("trailing");
    assert_eq!(err.position, Some((13, 1)), "{err}");
    assert_eq!(err.field, None, "{err}");
    assert!(!err.to_string().contains("read_deadline"), "{err}");
    assert!(err.message.starts_with("unexpected text after the end"), "{err}");
}

#[test]
fn deep_nesting_names_the_limit() {
    // A sweep axis takes any value, sections within sections: only the limit stops the depth.
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    let text = plan("    seeds: 1,").replace("values: [1]", &format!("values: [{deep}]"));
    let err = sweep::parse_plan("plan.ron", &text).expect_err("too deep");
    assert!(err.to_string().starts_with("plan.ron:6:"), "{err}");
    assert!(err.message.starts_with("nested too deeply (limit 128 levels)"), "{err}");
    assert!(
        !err.message.contains("serde_stacker") && !err.message.contains("recursion_limit"),
        "{err}"
    );
}

#[test]
fn byte_order_mark_is_accepted() {
    let with_bom = format!("\u{feff}{GOOD}");
    assert!(load("s.ron", &with_bom).is_ok());
    // Positions are those an editor shows: the mark takes no column.
    let err = load("s.ron", &with_bom.replace("meters: 100", "meters: -5")).expect_err("bad meters");
    assert_eq!(err.position, Some((9, 9)), "{err}");
    let plan = format!("\u{feff}{}", plan("    seeds: 1,"));
    assert!(sweep::parse_plan("plan.ron", &plan).is_ok());
}

#[test]
fn validate_accepts_exercises_and_sweep_plans() {
    let dir = root().join("scenarios");
    let exercise = amirange(&["validate", "exercises/mass-disconnect.ron"], &dir);
    let out = String::from_utf8_lossy(&exercise.stdout);
    assert!(
        exercise.status.success(),
        "{}",
        String::from_utf8_lossy(&exercise.stderr)
    );
    assert!(out.starts_with("exercises/mass-disconnect.ron: ok (exercise)"), "{out}");
    // The exercise's description, which the file's author wrote for the teams, is shown.
    assert!(
        out.contains("Red steals an HES credential and disconnects feeders"),
        "{out}"
    );
    assert!(out.contains("  team ") && out.contains("  scenario "), "{out}");
    let sweep = amirange(&["validate", "sweeps/jammer-radius.ron"], &dir);
    let out = String::from_utf8_lossy(&sweep.stdout);
    assert!(sweep.status.success(), "{}", String::from_utf8_lossy(&sweep.stderr));
    assert!(out.starts_with("sweeps/jammer-radius.ron: ok (sweep plan)"), "{out}");
    assert!(out.contains("4 grid points x 5 seeds = 20 runs"), "{out}");
    // Scenario overrides make no sense for the other kinds.
    let o = amirange(&["validate", "sweeps/jammer-radius.ron", "--meters", "5"], &dir);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("apply to scenario files"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // An exercise's fault is located in the exercise file.
    let tmp = tempfile::tempdir().expect("temp dir");
    let text = String::from_utf8(common::read(&dir.join("exercises/mass-disconnect.ron")))
        .expect("utf-8")
        .replace("success: 0.9", "success: 2.0")
        .replace(
            "\"mass-disconnect.scenario.ron\"",
            &format!("{:?}", dir.join("exercises/mass-disconnect.scenario.ron")),
        );
    std::fs::write(tmp.path().join("x.ron"), text).expect("write");
    let o = amirange(&["validate", "x.ron"], tmp.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("x.ron:") && stderr.contains(": field `phishing.success`: a probability"),
        "{stderr}"
    );
}

#[test]
fn exercise_meters_limit_is_the_topology_generators() {
    assert_eq!(
        amirange_range::exercise::MAX_METERS,
        amirange_topologies::spec::MAX_METERS
    );
}

/// Every numeric threshold of every detector has a `set-threshold` range, and each default lies
/// in it.
#[test]
fn every_detector_threshold_has_a_range_and_unit() {
    use amirange_defenses::spec::DetectorSpec;
    let names = [
        "CommandRate",
        "ConsumptionBaseline",
        "ZeroAtPeak",
        "EnergyBalance",
        "MissingReadCluster",
        "FirmwareDrift",
        "FrameCounter",
        "UnknownDevice",
        "InventoryDrift",
        "FrequencyExcursion",
    ];
    let mut seen = 0;
    for name in names {
        let d: DetectorSpec = ron::from_str(&format!("{name}()")).expect("a default detector");
        let json = serde_json::to_value(&d).expect("json");
        let fields = json
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.as_object());
        for (field, value) in fields.into_iter().flatten() {
            let Some(x) = value.as_f64() else { continue };
            let tunable = amirange_range::messages::Tunable::find(d.name(), field)
                .unwrap_or_else(|| panic!("{}.{field} has no range", d.name()));
            assert!(
                tunable.check(x).is_ok(),
                "{}.{field}: default {x} out of its range",
                d.name()
            );
            seen += 1;
        }
    }
    assert_eq!(
        seen,
        amirange_range::messages::TUNABLES.len(),
        "no range for a field that is gone"
    );
}

// ---------------------------------------------------------------------------------------------
// Seeded mutations of every shipped file.

/// SplitMix64: a small seeded generator, so the mutations are the same on every run.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const HUGE: [&str; 12] = [
    "18446744073709551615",
    "18446744073709551616",
    "4294967295",
    "2147483648",
    "100000000",
    "99999999999999999999999999",
    "1e308",
    "-1e308",
    "1e-308",
    "-1",
    "0",
    "NaN",
];

const TOKENS: [&str; 14] = [
    "(", ")", "[", "]", ",", ":", "\"", "//", "/*", "Some(", "None", "\u{feff}", "\\", "r#\"",
];

/// One random change to `bytes`: a byte flipped, a span deleted or duplicated, a number made
/// huge, deep nesting, or a stray token.
fn mutate(bytes: &mut Vec<u8>, rng: &mut Mix) {
    let len = bytes.len().max(1);
    match rng.below(7) {
        0 => {
            let i = rng.below(len).min(bytes.len().saturating_sub(1));
            if let Some(b) = bytes.get_mut(i) {
                *b ^= 1 << rng.below(8);
            }
        }
        1 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(64)).min(bytes.len());
            if at < end {
                bytes.drain(at..end);
            }
        }
        2 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(256)).min(bytes.len());
            if at < end {
                let span: Vec<u8> = bytes[at..end].to_vec();
                let to = rng.below(bytes.len() + 1);
                bytes.splice(to..to, span);
            }
        }
        3 => {
            // Replace a run of digits with a huge (or otherwise hostile) number.
            let starts: Vec<usize> = (0..bytes.len())
                .filter(|&i| bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()))
                .collect();
            if starts.is_empty() {
                return;
            }
            let at = starts[rng.below(starts.len())];
            let end = (at..bytes.len())
                .find(|&i| !bytes[i].is_ascii_digit())
                .unwrap_or(bytes.len());
            let number = HUGE[rng.below(HUGE.len())].as_bytes().to_vec();
            bytes.splice(at..end, number);
        }
        4 => {
            let depth = [2, 64, 127, 129, 1000, 20_000][rng.below(6)];
            let (open, close) = [("[", "]"), ("(", ")"), ("Some(", ")")][rng.below(3)];
            let to = rng.below(bytes.len() + 1);
            let nest = format!("{}{}", open.repeat(depth), close.repeat(depth));
            bytes.splice(to..to, nest.into_bytes());
        }
        5 => {
            let to = rng.below(bytes.len() + 1);
            bytes.splice(to..to, TOKENS[rng.below(TOKENS.len())].bytes());
        }
        _ => {
            // A long string or a long list of one value: large but bounded inputs.
            let to = rng.below(bytes.len() + 1);
            let long = if rng.below(2) == 0 {
                format!("\"{}\"", "x".repeat(100_000))
            } else {
                format!("[{}1]", "1, ".repeat(50_000))
            };
            bytes.splice(to..to, long.into_bytes());
        }
    }
}

/// Every `.ron` file under `scenarios/` and `topologies/presets/`, with its text.
fn shipped_files() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut folders = vec![root().join("scenarios"), root().join("topologies/presets")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|x| x == "ron") {
                let text = std::fs::read_to_string(&path).expect("a shipped file");
                out.push((path, text));
            }
        }
    }
    out.sort();
    out
}

/// Feeds `text` (as if read from `path`) to the loader of its kind: parse and validate only.
fn feed(path: &Path, text: &str) {
    let label = path.display().to_string();
    match amirange_files::opening(text) {
        amirange_files::Opening::Named(n) if n == "Exercise" => {
            let _ = Exercise::load(path, text, |_| Some("fuzz-token-0123456789".to_owned()));
        }
        amirange_files::Opening::Named(n) if n == "Area" => {
            let _ = scenario::load_area(&label, text, None);
        }
        amirange_files::Opening::Named(n) if n == "Sweep" => {
            // The plan's checks always; its runs' scenarios when there are few (a plan within
            // the limits may still build 100,000 scenarios: bounded, but not fast).
            if let Ok(plan) = sweep::parse_plan(&label, text)
                && sweep::planned_runs(&plan).is_some_and(|n| n <= 40)
            {
                let _ = sweep::prepare_source(path, text);
            }
        }
        _ => {
            if let Ok(s) = scenario::load(&label, text, &Overrides::default()) {
                let _ = s.detection();
            }
        }
    }
}

/// Iterations per shipped file; with about 45 files, a few thousand inputs in all.
const MUTANTS_PER_FILE: usize = 80;

#[test]
fn shipped_files_survive_seeded_mutations() {
    let files = shipped_files();
    assert!(files.len() >= 30, "{} files", files.len());
    let mut failures: Vec<String> = Vec::new();
    let mut fed = 0usize;
    for (k, (path, text)) in files.iter().enumerate() {
        for i in 0..MUTANTS_PER_FILE {
            let seed = ((k as u64) << 32) | i as u64;
            let mut rng = Mix(seed);
            let mut bytes = text.clone().into_bytes();
            for _ in 0..1 + rng.below(3) {
                mutate(&mut bytes, &mut rng);
            }
            let mutant = String::from_utf8_lossy(&bytes).into_owned();
            let outcome = std::panic::catch_unwind(|| feed(path, &mutant));
            if outcome.is_err() {
                failures.push(format!("{} with mutation seed {seed}", path.display()));
            }
            fed += 1;
        }
    }
    assert!(failures.is_empty(), "{} panics: {failures:#?}", failures.len());
    assert!(fed >= 3000, "{fed} inputs");
    // Every input was loaded within the binary's allocation limit (past it, the binary aborts);
    // the peak says how far from it.
    let peak = ALLOCATOR.max_allocated();
    eprintln!(
        "{fed} mutated inputs; peak allocated {:.1} MiB",
        peak as f64 / f64::from(1 << 20)
    );
    assert!(peak < ALLOCATION_LIMIT / 4, "peak {peak} bytes");
}

#[test]
fn report_and_merge_refuse_oversized_result_files() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // A result folder whose manifest.json has been replaced by something enormous (sparse, so
    // the test writes nothing): `report` names the file and the limit instead of reading it.
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).expect("a folder");
    std::fs::File::create(run.join("manifest.json"))
        .expect("create")
        .set_len(amirange_files::MAX_RESULT_FILE_BYTES + 1)
        .expect("a sparse file");
    let out = amirange(&["report", "run"], tmp.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("run/manifest.json is larger than the limit of 256 MiB"),
        "{err}"
    );
    // The same for a sweep folder given to `merge`.
    let sweep = tmp.path().join("shard");
    std::fs::create_dir(&sweep).expect("a folder");
    std::fs::File::create(sweep.join("sweep.json"))
        .expect("create")
        .set_len(amirange_files::MAX_RESULT_FILE_BYTES + 1)
        .expect("a sparse file");
    let out = amirange(&["merge", "shard", "--out", "merged"], tmp.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("shard/sweep.json is larger than the limit of 256 MiB"),
        "{err}"
    );
    assert!(!tmp.path().join("merged").exists(), "nothing written");
}

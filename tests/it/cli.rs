//! The command line end to end: determinism across thread counts, result folders, bad input.
//! One integration-test binary; every test runs the real `amirange` executable.

use std::path::Path;

use crate::common::{amirange, read};

fn scenario_path(name: &str) -> String {
    format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Every file of two result folders, by path relative to the folder, with the manifest's
/// `wall_time_s` and `threads` (the only fields a machine may change) taken out.
fn folder_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .into_owned();
            let mut bytes = read(&path);
            if name == "manifest.json" {
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
                let threads = v["threads"].take();
                let wall = v["wall_time_s"].take();
                assert!(threads.is_u64() && wall.is_f64());
                bytes = serde_json::to_vec(&v).expect("json");
            }
            out.push((name, bytes));
        }
    }
    out.sort();
    out
}

/// Runs `args` (a run without `--threads` and `--out`) on 1, 2 and 3 threads and requires
/// every file of the three result folders to be byte-identical (the manifest but for wall time
/// and thread count). Returns the first folder.
fn identical_on_one_two_and_three_threads(tmp: &Path, label: &str, args: &[&str]) -> std::path::PathBuf {
    let folders: Vec<_> = ["1", "2", "3"]
        .iter()
        .map(|threads| {
            let out = tmp.join(format!("{label}-t{threads}"));
            let mut all = args.to_vec();
            all.extend(["--threads", threads, "--quiet", "--out", out.to_str().expect("utf-8")]);
            let o = amirange(&all, tmp);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            out
        })
        .collect();
    let first = folder_files(&folders[0]);
    assert!(
        first.len() >= 12,
        "{label}: {:?}",
        first.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (folder, threads) in folders[1..].iter().zip([2, 3]) {
        let other = folder_files(folder);
        assert_eq!(
            first.iter().map(|f| &f.0).collect::<Vec<_>>(),
            other.iter().map(|f| &f.0).collect::<Vec<_>>(),
            "{label}: the same files on 1 and {threads} threads"
        );
        for ((name, a), (_, b)) in first.iter().zip(&other) {
            assert!(a == b, "{label}: {name} differs between 1 and {threads} threads");
        }
    }
    folders[0].clone()
}

/// The quickstart on 1, 2 and 3 threads writes byte-identical result folders; the manifests
/// differ only in wall time and thread count.
#[test]
fn quickstart_is_identical_on_one_two_and_three_threads() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let a = identical_on_one_two_and_three_threads(tmp.path(), "quickstart", &["run"]);
    for f in [
        "manifest.json",
        "metrics.json",
        "timeseries.csv",
        "feeders.csv",
        "truth.csv",
        "alerts.csv",
        "map.csv",
        "map.json",
        "plots/map.svg",
        "report.html",
    ] {
        assert!(a.join(f).is_file(), "{f} written");
    }
    let m: serde_json::Value = serde_json::from_slice(&read(&a.join("metrics.json"))).expect("json");
    assert_eq!(m["meters"], 10_000);
    assert_eq!(m["intervals"], 96);
    let rows = String::from_utf8(read(&a.join("timeseries.csv"))).expect("utf-8");
    assert_eq!(rows.lines().count(), 97, "header plus one row per interval");
}

/// A mass disconnect against the hardened preset, with its baseline twin, writes
/// byte-identical result folders on 1, 2 and 3 threads: the attack, the detectors' alerts, the
/// responses, the twin and the paired measures do not depend on the thread count.
#[test]
fn hardened_mass_disconnect_is_identical_on_one_two_and_three_threads() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let scenario = scenario_path("attacks/mass-disconnect-peak.ron");
    let a = identical_on_one_two_and_three_threads(
        tmp.path(),
        "hardened",
        &["run", &scenario, "--preset", "hardened", "--paired"],
    );
    for f in ["paired.csv", "baseline-metrics.json", "plots/detection.svg"] {
        assert!(a.join(f).is_file(), "{f} written");
    }
    let m: serde_json::Value = serde_json::from_slice(&read(&a.join("metrics.json"))).expect("json");
    assert_eq!(m["defense"]["preset"], "hardened");
    assert_eq!(m["attacks"][0]["detected"], true, "{}", m["attacks"][0]);
    let alerts = String::from_utf8(read(&a.join("alerts.csv"))).expect("utf-8");
    assert!(alerts.lines().count() > 1, "the detectors raised alerts: {alerts}");
    let responses = m["defense"]["responses"].as_array().map_or(0, Vec::len);
    assert!(responses >= 2, "the playbook responded: {}", m["defense"]);
}

/// The quickstart's summary shows what amirange is for: the headline attack, when and by
/// which detector it was caught, its blast radius, the defenses, and ends with report.html.
#[test]
fn quickstart_summary_shows_the_attack_its_detection_and_the_report() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let o = amirange(&["run", "--threads", "1", "--out", "q"], tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "attack peak-disconnect (mass-disconnect",
        "at 2026-01-15T18:00:00: succeeded",
        "detected by command-rate",
        "blast radius: 1,770 customers off at peak",
        "defenses: typical-utility preset",
        "operations:",
    ] {
        assert!(stdout.contains(needle), "summary lacks {needle:?}:\n{stdout}");
    }
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.starts_with("report:") && last.ends_with("report.html"),
        "the summary ends with the report's path: {last:?}"
    );
    assert!(tmp.path().join("q/report.html").is_file());
}

/// The summary names the key measures, and without --out the run goes to
/// results/<name>-seed<seed>, then -2 when that is taken.
#[test]
fn default_result_folders_never_overwrite() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let args = ["run", "--meters", "200", "--duration", "1d"];
    let first = amirange(&args, tmp.path());
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let stdout = String::from_utf8_lossy(&first.stdout);
    for needle in ["true energy", "interval reads on time", "results/quickstart-seed7/"] {
        assert!(stdout.contains(needle), "summary lacks {needle:?}:\n{stdout}");
    }
    let second = amirange(&args, tmp.path());
    assert!(second.status.success());
    assert!(tmp.path().join("results/quickstart-seed7/metrics.json").is_file());
    assert!(tmp.path().join("results/quickstart-seed7-2/metrics.json").is_file());
    // An explicit --out that exists is refused without --force, and kept intact.
    let out = tmp.path().join("results/quickstart-seed7");
    let again = amirange(
        &[
            "run",
            "--meters",
            "200",
            "--duration",
            "1d",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        tmp.path(),
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert!(out.join("metrics.json").is_file());
}

/// Bad scenarios exit non-zero with file, line and field, never panic, and leave no result
/// folder (not even a partial one).
#[test]
fn bad_scenarios_fail_cleanly() {
    let good = std::fs::read_to_string(scenario_path("quickstart.ron")).expect("quickstart");
    let cases: [(&str, String, &str, &str); 4] = [
        ("syntax", good.replace("seed: 7,", "seed: 7,,"), ":21:", "seed"),
        (
            "unknown-field",
            good.replace("seed: 7,", "seed: 7,\n    colour: 3,"),
            ":22:",
            "colour",
        ),
        (
            "negative-meters",
            good.replace("Preset(\"town-10k\")", "Area(kind: Suburban, meters: -10)"),
            ":24:",
            "topology.meters",
        ),
        (
            "zero-duration",
            good.replace("duration: \"1d\"", "duration: \"0s\""),
            ":23:",
            "duration",
        ),
    ];
    for (name, source, line, field) in cases {
        let tmp = tempfile::tempdir().expect("temp dir");
        let file = tmp.path().join(format!("{name}.ron"));
        std::fs::write(&file, source).expect("write");
        let out = tmp.path().join("results/out");
        let o = amirange(
            &[
                "run",
                file.to_str().expect("utf-8"),
                "--out",
                out.to_str().expect("utf-8"),
            ],
            tmp.path(),
        );
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{name}: should fail");
        assert!(!stderr.contains("panicked"), "{name}: panicked: {stderr}");
        assert!(
            stderr.contains(&format!("{name}.ron{line}")),
            "{name}: no line {line} in: {stderr}"
        );
        assert!(stderr.contains(field), "{name}: no field {field} in: {stderr}");
        assert!(
            !tmp.path().join("results").exists(),
            "{name}: left a result folder behind"
        );
    }
    // A missing file and a bad override are errors too.
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = amirange(&["run", "nope.ron"], tmp.path());
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.ron"));
    let zero = amirange(&["run", "--meters", "0"], tmp.path());
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--meters"));
    assert!(!tmp.path().join("results").exists());
}

/// Every scenario file and dataset plan in the repository validates.
#[test]
fn shipped_scenarios_validate() {
    let dir = format!("{}/scenarios", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .map(|e| e.expect("entry").path())
        .collect();
    for sub in ["attacks", "datasets"] {
        paths.extend(
            std::fs::read_dir(format!("{dir}/{sub}"))
                .expect("scenarios/attacks/, scenarios/datasets/")
                .map(|e| e.expect("entry").path()),
        );
    }
    for path in paths {
        if path.extension().is_some_and(|e| e == "ron") {
            let o = amirange(&["validate", path.to_str().expect("utf-8")], Path::new(&dir));
            assert!(
                o.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            let stdout = String::from_utf8_lossy(&o.stdout);
            if path.parent().is_some_and(|p| p.ends_with("attacks")) {
                assert!(stdout.contains("  attack "), "validate lists the attacks: {stdout}");
            }
            n += 1;
        }
    }
    assert!(n >= 12);
}

/// An attack run is byte-identical on one and two threads, and its summary says what each
/// attack did.
#[test]
fn attack_runs_are_deterministic_and_summarised() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (file, ids) in [
        ("attacks/rogue-firmware-worm.ron", &["fw-worm"][..]),
        (
            "attacks/mass-disconnect-hes-exploit.ron",
            &["md-critical", "md-residential"][..],
        ),
        ("attacks/load-switching-ev.ron", &["botnet-ev"][..]),
        ("attacks/downgrade-rogue-forge.ron", &["downgrade", "rogue-forge"][..]),
        ("attacks/connection-flood.ron", &["conn-flood"][..]),
    ] {
        let scenario = scenario_path(file);
        let mut stdout = String::new();
        for threads in ["1", "2"] {
            let out = tmp.path().join(format!("{}-t{threads}", ids[0]));
            let o = amirange(
                &[
                    "run",
                    &scenario,
                    "--meters",
                    "3000",
                    "--threads",
                    threads,
                    "--out",
                    out.to_str().expect("utf-8"),
                ],
                tmp.path(),
            );
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        }
        let (a, b) = (
            tmp.path().join(format!("{}-t1", ids[0])),
            tmp.path().join(format!("{}-t2", ids[0])),
        );
        for f in [
            "metrics.json",
            "timeseries.csv",
            "feeders.csv",
            "audit.csv",
            "truth.csv",
        ] {
            assert!(
                read(&a.join(f)) == read(&b.join(f)),
                "{file}: {f} differs between 1 and 2 threads"
            );
        }
        for id in ids {
            assert!(
                stdout.contains(&format!("attack {id} (")),
                "summary lacks {id}:\n{stdout}"
            );
        }
        assert!(stdout.contains("blast radius:"), "{stdout}");
        let m: serde_json::Value = serde_json::from_slice(&read(&a.join("metrics.json"))).expect("json");
        for key in [
            "id",
            "kind",
            "technique",
            "stride",
            "start",
            "succeeded",
            "failure_reason",
            "blast_radius",
        ] {
            assert!(
                m["attacks"][0].get(key).is_some(),
                "metrics.json attacks[0] lacks {key}"
            );
        }
        for key in [
            "peak_customers_disconnected",
            "customer_minutes_interrupted",
            "peak_kw_shed",
            "kwh_not_served",
            "critical_facilities_hit",
            "critical_facility_minutes",
            "meters_compromised",
            "kwh_falsified",
            "kwh_stolen",
            "readings_lost",
            "customers_exposed",
            "kwh_curtailed",
            "frequency_nadir_hz",
            "frequency_peak_hz",
            "ufls_shed_mw",
            "time_to_restore_s",
        ] {
            assert!(
                m["attacks"][0]["blast_radius"].get(key).is_some(),
                "blast_radius lacks {key}"
            );
        }
        for key in ["min_hz", "max_hz", "system_mw", "disturbances", "ufls_shed_mw"] {
            assert!(m["frequency"].get(key).is_some(), "metrics.json frequency lacks {key}");
        }
        let truth = String::from_utf8(read(&a.join("truth.csv"))).expect("utf-8");
        assert!(truth.lines().count() > 2, "{truth}");
    }
}

/// `topo describe` prints the structure of a preset; `topo map` writes an SVG; a name that is
/// neither a file nor a preset is a clear error.
#[test]
fn topo_describe_and_map() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let o = amirange(&["topo", "describe", "town-10k", "--meters", "2000"], tmp.path());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for needle in [
        "2000 meters",
        "mesh collectors",
        "PLC concentrators",
        "cellular towers",
        "mesh hops",
        "orphans",
        "feeders",
    ] {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}");
    }
    let map = tmp.path().join("town.svg");
    let o = amirange(
        &[
            "topo",
            "map",
            "town-10k",
            "--meters",
            "2000",
            "--out",
            map.to_str().expect("utf-8"),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(&map).expect("map written");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("mesh collector") && svg.matches("<circle").count() > 1_000);
    let o = amirange(&["topo", "describe", "atlantis"], tmp.path());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("neither a file nor a preset"));
}

/// `bench` prints the wall time of every phase (topology, world, stepping by kind of work,
/// results), and the phases add up to no more than the wall total; nothing is left on disk.
#[test]
fn bench_shows_every_phase_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let o = amirange(
        &[
            "bench",
            &scenario_path("bench-1m.ron"),
            "--preset",
            "hardened",
            "--meters",
            "1000",
            "--duration",
            "8h",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let mut phases = 0.0;
    for phase in [
        "topology: radio neighbour graph",
        "world: meters, routes and paths",
        "data plane (all intervals)",
        "control plane and grid events",
        "detectors and responses",
        "results: write files",
    ] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(phase))
            .unwrap_or_else(|| panic!("no {phase:?} in:\n{out}"));
        let secs: f64 = line[line.find(phase).expect("phase") + phase.len()..]
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no seconds in {line:?}"));
        phases += secs;
    }
    let total: f64 = out
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("wall total"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no wall total in:\n{out}"));
    assert!(
        phases > 0.0 && phases <= total + 0.002,
        "{phases} s of phases in {total} s:\n{out}"
    );
    assert!(
        out.contains("data plane per interval") && out.contains("result files' size"),
        "{out}"
    );
    assert!(
        std::fs::read_dir(tmp.path()).expect("dir").next().is_none(),
        "bench leaves nothing behind"
    );
}

/// The typical week, scaled down, is byte-identical on 1 and 2 threads, with the background in
/// every result file: audit log, outages, supply by cause in the time series and metrics, and
/// the summary reports it.
#[test]
fn typical_operations_are_deterministic_and_reported() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let scenario = scenario_path("typical-week.ron");
    let mut stdout = String::new();
    for threads in ["1", "2"] {
        let out = tmp.path().join(format!("t{threads}"));
        let o = amirange(
            &[
                "run",
                &scenario,
                "--meters",
                "3000",
                "--duration",
                "3d",
                "--threads",
                threads,
                "--out",
                out.to_str().expect("utf-8"),
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    }
    let (a, b) = (tmp.path().join("t1"), tmp.path().join("t2"));
    for f in [
        "metrics.json",
        "timeseries.csv",
        "feeders.csv",
        "audit.csv",
        "outages.csv",
        "truth.csv",
        "alerts.csv",
        "map.csv",
        "map.json",
        "plots/map.svg",
        "report.html",
    ] {
        assert!(
            read(&a.join(f)) == read(&b.join(f)),
            "{f} differs between 1 and 2 threads"
        );
    }
    for needle in ["supply", "operation", "HES:", "operations:", "firmware updates"] {
        assert!(stdout.contains(needle), "summary lacks {needle:?}:\n{stdout}");
    }
    let m: serde_json::Value = serde_json::from_slice(&read(&a.join("metrics.json"))).expect("json");
    let planned = &m["operations"]["planned"];
    assert!(planned["firmware_updates"].as_u64() == Some(300), "{planned}");
    assert!(planned["key_rotations"].as_u64() == Some(90), "{planned}");
    assert!(m["control_plane"]["by_kind"]["firmware-update"]["executed"].as_u64() > Some(280));
    assert!(m["supply"]["by_cause"]["operation"]["customer_minutes_interrupted"].as_f64() > Some(0.0));
    let audit = String::from_utf8(read(&a.join("audit.csv"))).expect("utf-8");
    assert!(audit.lines().count() > 5 && audit.contains(",admin-carol,administrator,firmware-update,"));
    let rows = String::from_utf8(read(&a.join("timeseries.csv"))).expect("utf-8");
    assert!(
        rows.lines()
            .next()
            .expect("header")
            .contains("customers_off_operation,customers_off_outage")
    );
}

/// Errors in the control-plane sections name the file, line and field.
#[test]
fn bad_control_plane_sections_are_located() {
    let good = std::fs::read_to_string(scenario_path("typical-week.ron")).expect("scenario");
    let cases = [
        (
            good.replace("customers_per_crew: 15000,", "customers_per_crew: 0,"),
            "operation_rates.customers_per_crew",
        ),
        (
            good.replace("keys: PerDevice,", "keys: SharedGroup(size: 1),"),
            "security.keys.size",
        ),
        (
            good.replace("reconnect_median: \"2d\"", "reconnect_median: \"soon\""),
            "operation_rates.reconnect_median",
        ),
        (
            good.replace("operations: Typical,", "operations: Off,"),
            "operation_rates",
        ),
    ];
    for (source, field) in cases {
        let tmp = tempfile::tempdir().expect("temp dir");
        let file = tmp.path().join("s.ron");
        std::fs::write(&file, source).expect("write");
        let o = amirange(&["validate", file.to_str().expect("utf-8")], tmp.path());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{field}: should fail");
        assert!(stderr.contains(&format!("field `{field}`")), "{field}: {stderr}");
        assert!(stderr.contains("s.ron:"), "{field}: no position in {stderr}");
    }
}

/// A target the generated network does not have is found when the run is prepared, and still
/// named by file, line and field; no result folder is left behind.
#[test]
fn attack_targets_missing_from_the_network_are_located() {
    let good = std::fs::read_to_string(scenario_path("attacks/mass-disconnect-peak.ron")).expect("scenario");
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("s.ron");
    std::fs::write(&file, good.replace("Feeders([0, 1])", "Feeders([0, 99])")).expect("write");
    let out = tmp.path().join("out");
    let o = amirange(
        &[
            "run",
            file.to_str().expect("utf-8"),
            "--meters",
            "500",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        tmp.path(),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(stderr.contains("field `attacks[0].targets`"), "{stderr}");
    assert!(stderr.contains("there is no feeder 99"), "{stderr}");
    let line = good.lines().position(|l| l.contains("Feeders(")).expect("line") + 1;
    assert!(stderr.contains(&format!("s.ron:{line}:")), "{stderr}");
    assert!(!out.exists(), "no result folder on failure");
}

/// `--paired` runs the baseline twin: its metrics equal those of the same scenario written
/// without attacks, byte for byte, and `paired.csv` gives attack, baseline and difference.
#[test]
fn paired_runs_report_attack_baseline_and_difference() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let scenario = scenario_path("attacks/mass-disconnect-peak.ron");
    let text = std::fs::read_to_string(&scenario).expect("scenario");
    let start = text.find("    attacks: [").expect("attacks list");
    let end = text.rfind("    ],").expect("end of the list") + "    ],".len();
    let quiet = tmp.path().join("no-attacks.ron");
    std::fs::write(&quiet, format!("{}    attacks: [],{}", &text[..start], &text[end..])).expect("write");
    let (a, b) = (tmp.path().join("paired"), tmp.path().join("plain"));
    for (file, out, extra) in [
        (scenario.as_str(), &a, Some("--paired")),
        (quiet.to_str().expect("utf-8"), &b, None),
    ] {
        let mut args = vec!["run", file, "--meters", "2000", "--out", out.to_str().expect("utf-8")];
        args.extend(extra);
        let o = amirange(&args, tmp.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        if extra.is_some() {
            let stdout = String::from_utf8_lossy(&o.stdout);
            assert!(stdout.contains("paired with its baseline twin"), "{stdout}");
        }
    }
    assert!(
        read(&a.join("baseline-metrics.json")) == read(&b.join("metrics.json")),
        "the twin is the scenario without its attacks"
    );
    let csv = String::from_utf8(read(&a.join("paired.csv"))).expect("utf-8");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("measure,attack,baseline,difference"));
    let row = |name: &str| -> Vec<f64> {
        let line = csv
            .lines()
            .find(|l| l.starts_with(&format!("{name},")))
            .unwrap_or_else(|| panic!("{name} in paired.csv"));
        line.split(',').skip(1).map(|x| x.parse().expect("number")).collect()
    };
    let cmi = row("supply.customer_minutes_interrupted");
    assert!(cmi[0] > cmi[1] && (cmi[2] - (cmi[0] - cmi[1])).abs() < 1e-6, "{cmi:?}");
    let meters = row("meters");
    assert_eq!((meters[0], meters[2]), (2000.0, 0.0));
}

/// Runs with the hardened preset are byte-identical on 1 and 2 threads, alerts included; a
/// paired run takes false positives per day from its twin; the matrix runs every file against
/// every preset and prints one table with the strongest preset's gaps.
#[test]
fn defended_runs_are_deterministic_and_the_matrix_prints_a_table() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let scenario = scenario_path("attacks/connection-flood.ron");
    for threads in ["1", "2"] {
        let out = tmp.path().join(format!("hardened-t{threads}"));
        let o = amirange(
            &[
                "run",
                &scenario,
                "--meters",
                "2000",
                "--preset",
                "hardened",
                "--paired",
                "--threads",
                threads,
                "--out",
                out.to_str().expect("utf-8"),
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (a, b) = (tmp.path().join("hardened-t1"), tmp.path().join("hardened-t2"));
    for f in ["metrics.json", "alerts.csv", "audit.csv", "paired.csv"] {
        assert!(
            read(&a.join(f)) == read(&b.join(f)),
            "{f} differs between 1 and 2 threads"
        );
    }
    let alerts = String::from_utf8(read(&a.join("alerts.csv"))).expect("utf-8");
    assert!(alerts.starts_with("time,detector,severity,subject,count,true_positive,attack,message,meters\n"));
    assert!(
        alerts.lines().skip(1).all(|l| l.contains(",true,conn-flood,")),
        "{alerts}"
    );
    let m: serde_json::Value = serde_json::from_slice(&read(&a.join("metrics.json"))).expect("json");
    assert_eq!(m["defense"]["preset"], "hardened");
    assert_eq!(m["attacks"][0]["first_detector"], "ids:1000002");
    assert_eq!(m["defense"]["false_positives_per_day"], 0.0, "the twin raised none");

    // The matrix, on two files and two presets, small.
    let dir = tmp.path().join("few");
    std::fs::create_dir(&dir).expect("mkdir");
    for f in ["mass-disconnect-mfa.ron", "replay-no-counters.ron"] {
        std::fs::copy(scenario_path(&format!("attacks/{f}")), dir.join(f)).expect("copy");
    }
    let csv = tmp.path().join("m.csv");
    let o = amirange(
        &[
            "matrix",
            dir.to_str().expect("utf-8"),
            "--presets",
            "none,hardened",
            "--meters",
            "1500",
            "--out",
            csv.to_str().expect("utf-8"),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("attack file") && table.contains("hardened against none"),
        "{table}"
    );
    let csv = String::from_utf8(read(&csv)).expect("utf-8");
    assert_eq!(csv.lines().count(), 1 + 2 * 2, "{csv}");
    for line in csv.lines().skip(1).filter(|l| l.contains(",none,")) {
        assert!(
            line.contains(",true,false,"),
            "none detects nothing and the attack works: {line}"
        );
    }
    for line in csv.lines().skip(1).filter(|l| l.contains(",hardened,")) {
        assert!(line.contains(",false,true,"), "hardened stops and detects it: {line}");
    }
    let bad = amirange(
        &["matrix", dir.to_str().expect("utf-8"), "--presets", "none,tinfoil"],
        tmp.path(),
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown preset \"tinfoil\""));
}

/// Every run writes its charts and a self-contained report.html; `amirange report` draws them
/// again from the result files alone, byte for byte.
#[test]
fn runs_write_a_self_contained_report_that_report_redraws() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("r");
    let o = amirange(
        &[
            "run",
            &scenario_path("attacks/replay-no-counters.ron"),
            "--meters",
            "1500",
            "--preset",
            "hardened",
            "--out",
            out.to_str().expect("utf-8"),
            "-q",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = String::from_utf8(read(&out.join("report.html"))).expect("utf-8");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no URL in the report"
    );
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("<img"));
    assert_eq!(html.matches("<svg").count(), 3, "timeline, map and detection inline");
    assert!(html.contains("<h2>Attacks</h2>") && html.contains("<h2>Detectors</h2>"));
    let charts = [
        "report.html",
        "plots/timeline.svg",
        "plots/map.svg",
        "plots/detection.svg",
    ];
    let before: Vec<Vec<u8>> = charts.iter().map(|f| read(&out.join(f))).collect();
    std::fs::remove_file(out.join("report.html")).expect("remove");
    let o = amirange(&["report", out.to_str().expect("utf-8")], tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (f, b) in charts.iter().zip(&before) {
        assert!(read(&out.join(f)) == *b, "{f} drawn again differs");
    }
    let o = amirange(&["report", tmp.path().to_str().expect("utf-8")], tmp.path());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a result folder"));
}

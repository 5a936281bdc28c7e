//! Sweeps end to end: the same plan twice gives the same bytes; shards merged give what the
//! unsharded sweep gives; bad plans fail before the first run and name what is wrong.

use std::path::Path;

use crate::common::{amirange, read};

/// A small plan: the constant jammer at two radii, two seeds, 1,500 meters for 6 hours.
fn plan(dir: &Path, grid: &str) -> String {
    let scenario = format!("{}/scenarios/attacks/jamming-constant.ron", env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        r#"Sweep(
    name: "small",
    scenario: "{scenario}",
    seeds: 2,
    meters: 1500,
    duration: "17h",
    grid: [{grid}],
    measures: ["attacks[0].blast_radius.readings_lost", "reads.missing", "attacks[0].blast_radius.frequency_nadir_hz"],
)"#
    );
    let path = dir.join("plan.ron");
    std::fs::write(&path, text).expect("write plan");
    path.to_str().expect("utf-8").to_owned()
}

#[test]
fn sweeps_repeat_byte_for_byte_and_shards_merge_into_the_whole() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    let plan = plan(t, r#"(path: "attacks[0].radius_m", values: [300, 900])"#);
    let out = |name: &str| t.join(name).to_str().expect("utf-8").to_owned();
    for name in ["a", "b"] {
        let o = amirange(&["sweep", &plan, "--out", &out(name), "-q"], t);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let summary = read(&t.join("a/summary.csv"));
    assert_eq!(summary, read(&t.join("b/summary.csv")), "the same sweep twice");
    assert_eq!(read(&t.join("a/runs.csv")), read(&t.join("b/runs.csv")));
    let text = String::from_utf8(summary.clone()).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "point,attacks[0].radius_m,measure,n,mean,sd,ci95_low,ci95_high"
    );
    // 2 points x 3 measures; a measure that is null in every run (a jammer causes no
    // frequency disturbance) has no values.
    assert_eq!(lines.len(), 1 + 2 * 3, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("attacks[0].blast_radius.frequency_nadir_hz,0,,,,")),
        "{text}"
    );
    // Point 0 is the 300 m jammer, point 1 the 900 m one.
    let lost = |point: &str| -> f64 {
        let line = lines
            .iter()
            .find(|l| l.starts_with(point) && l.contains("readings_lost"))
            .expect("a row");
        line.split(',').nth(4).expect("mean").parse().expect("a number")
    };
    assert!(lost("1,") > lost("0,"), "a wider jammer costs more reads: {text}");
    // Four runs: each has its metrics.json.
    for run in 0..4 {
        assert!(t.join(format!("a/runs/{run:05}/metrics.json")).is_file());
    }
    // Three shards of four runs, merged.
    for i in 1..=3 {
        let o = amirange(
            &[
                "sweep",
                &plan,
                "--shard",
                &format!("{i}/3"),
                "--out",
                &out(&format!("s{i}")),
                "-q",
            ],
            t,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            !t.join(format!("s{i}/summary.csv")).exists(),
            "a shard has no summary of its own"
        );
    }
    let o = amirange(&["merge", &out("s1"), &out("s2"), &out("s3"), "--out", &out("m")], t);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read(&t.join("m/summary.csv")), summary, "merged shards equal the whole");
    assert_eq!(read(&t.join("m/runs.csv")), read(&t.join("a/runs.csv")));
    assert_eq!(
        read(&t.join("m/runs/00003/metrics.json")),
        read(&t.join("a/runs/00003/metrics.json"))
    );
    // A missing shard, or one twice, is refused.
    let o = amirange(&["merge", &out("s1"), &out("s2"), "--out", &out("m2")], t);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("missing"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!t.join("m2").exists(), "nothing half-written");
    let o = amirange(
        &[
            "merge",
            &out("s1"),
            &out("s1"),
            &out("s2"),
            &out("s3"),
            "--out",
            &out("m3"),
        ],
        t,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("shard 1 of 3 appears in both") && err.contains("s1"),
        "{err}"
    );
}

#[test]
fn bad_plans_fail_before_the_first_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    let cases = [
        (r#"(path: "attacks[0].radius_m", values: ["wide"])"#, "grid point 0"),
        (
            r#"(path: "attacks[3].radius_m", values: [300])"#,
            "has 1 entries, no [3]",
        ),
        (r#"(path: "attacks[0].radius_m", values: [300, -5])"#, "radius"),
        (r#"(path: "no_such_field", values: [1])"#, "no_such_field"),
    ];
    for (grid, expected) in cases {
        let plan = plan(t, grid);
        let o = amirange(&["sweep", &plan, "--out", t.join("x").to_str().expect("utf-8")], t);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{grid}");
        assert!(err.contains(expected), "{grid}: {err}");
        assert!(!t.join("x").exists(), "{grid}: nothing written");
    }
    let o = amirange(&["sweep", "plan.ron", "--shard", "4/3"], t);
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 <= I <= N"));
}

/// Every shipped sweep plan builds and validates all its runs.
#[test]
fn shipped_sweep_plans_prepare() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sweeps");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/sweeps") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "ron") {
            let p = amirange::sweep::prepare(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            assert!(p.layout.total() >= 20, "{}", path.display());
            n += 1;
        }
    }
    assert!(n >= 2, "at least the rate-limit and jammer-radius plans");
}

/// A grid of a section-valued axis and a numeric one: the sections are quoted in the CSV files
/// and survive sharding and merging; the chart draws against the number inside the sections
/// that varies, one line per radius; report.html shows every chart and the summary.
#[test]
fn section_axes_are_quoted_merged_and_drawn() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    let plan = plan(
        t,
        r#"(path: "defenses.command_policy.disconnect_limit_per_account", values: [{"meters": 50, "per": "1h"}, {"meters": 400, "per": "1h"}]),
           (path: "attacks[0].radius_m", values: [300, 900])"#,
    );
    let out = |name: &str| t.join(name).to_str().expect("utf-8").to_owned();
    let o = amirange(&["sweep", &plan, "--out", &out("a"), "-q"], t);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for i in 1..=2 {
        let shard = format!("{i}/2");
        let o = amirange(
            &["sweep", &plan, "--shard", &shard, "--out", &out(&format!("s{i}")), "-q"],
            t,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = amirange(&["merge", &out("s1"), &out("s2"), "--out", &out("m")], t);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["summary.csv", "runs.csv", "plots/measure-0.svg", "report.html"] {
        assert!(
            read(&t.join("m").join(f)) == read(&t.join("a").join(f)),
            "{f}: merged differs"
        );
    }
    let summary = String::from_utf8(read(&t.join("a/summary.csv"))).expect("utf-8");
    let row = summary.lines().nth(1).expect("a row");
    assert!(row.starts_with(r#"0,"{""meters"":50,""per"":""1h""}",300,"#), "{row}");
    let table = amirange_viz::Table::parse(&summary);
    assert!(table.rows.iter().all(|r| r.len() == table.header.len()), "{summary}");
    let svg = String::from_utf8(read(&t.join("a/plots/measure-0.svg"))).expect("utf-8");
    assert!(
        svg.contains("disconnect_limit_per_account.meters")
            && svg.contains("attacks[0].radius_m = 300")
            && svg.contains("attacks[0].radius_m = 900"),
        "the section's number is the axis, each radius a line"
    );
    // Two points per line.
    assert_eq!(svg.matches("<circle").count(), 4, "{svg}");
    let html = String::from_utf8(read(&t.join("a/report.html"))).expect("utf-8");
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "readings lost and reads missing are drawn"
    );
    assert!(html.contains("No chart: summary.csv: no mean for `attacks[0].blast_radius.frequency_nadir_hz`"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    // amirange report draws a sweep's charts and report again, byte for byte.
    std::fs::remove_file(t.join("a/report.html")).expect("remove");
    std::fs::remove_file(t.join("a/plots/measure-1.svg")).expect("remove");
    let o = amirange(&["report", &out("a")], t);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read(&t.join("a/report.html")), html.into_bytes());
    assert_eq!(
        read(&t.join("a/plots/measure-1.svg")),
        read(&t.join("m/plots/measure-1.svg"))
    );
}

/// A hand-edited or truncated runs.csv is refused by merge with the line, not a panic.
#[test]
fn merge_refuses_a_damaged_runs_csv() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    let plan = plan(t, r#"(path: "attacks[0].radius_m", values: [300])"#);
    let out = |name: &str| t.join(name).to_str().expect("utf-8").to_owned();
    let o = amirange(&["sweep", &plan, "--shard", "1/1", "--out", &out("s"), "-q"], t);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let runs = t.join("s/runs.csv");
    let text = String::from_utf8(read(&runs)).expect("utf-8");
    for (damaged, expected) in [
        (
            text.replacen(",\n", "\n", 1).trim_end_matches(',').to_owned(),
            "cells, where the header has",
        ),
        (text.replacen("\n1,", "\n9,", 1), "run 9 is not in this plan"),
    ] {
        std::fs::write(&runs, &damaged).expect("write");
        let o = amirange(&["merge", &out("s"), "--out", &out("m")], t);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(expected), "{err}");
        assert!(!t.join("m").exists(), "nothing written");
    }
}

/// A misspelt measure (or a path into metrics.json that names no number) is refused before
/// the first run, naming the plan's line, column and field and the nearest valid name; it
/// used to run the whole sweep and write blank cells.
#[test]
fn a_misspelt_measure_is_refused_before_the_first_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    let path = plan(t, r#"(path: "attacks[0].radius_m", values: [300])"#);
    let text = std::fs::read_to_string(&path).expect("plan");
    let cases = [
        (
            "attacks[0].blast_radius.readings_lsot",
            "`attacks[0].blast_radius` has no `readings_lsot` (did you mean `attacks[0].blast_radius.readings_lost`?)",
        ),
        (
            "supply.by_cause.atack.kwh_not_served",
            "`supply.by_cause` has no `atack` (did you mean `supply.by_cause.attack`?)",
        ),
        ("attacks[0].kind", "`attacks[0].kind` is text, not a number"),
        ("reads", "`reads` is a section, not a number"),
        (
            "attacks[1].start_s",
            "grid point 0 (attacks[0].radius_m = 300) has 1 attack, no attacks[1]",
        ),
    ];
    for (wrong, expected) in cases {
        let bad = text.replace("reads.missing", wrong);
        std::fs::write(&path, &bad).expect("write plan");
        // The wrong measure is the second of the list: its line and column in the file.
        let (line, column) = bad
            .lines()
            .enumerate()
            .find_map(|(i, l)| l.find(&format!("\"{wrong}\"")).map(|c| (i + 1, c + 1)))
            .expect("the measure is in the plan");
        let out = t.join("x");
        let o = amirange(&["sweep", &path, "--out", out.to_str().expect("utf-8"), "-q"], t);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{wrong}");
        assert!(
            err.contains(&format!(
                "plan.ron:{line}:{column}: field `measures[1]`: no measure `{wrong}` in metrics.json: {expected}"
            )),
            "{wrong}: {err}"
        );
        assert!(!out.exists(), "{wrong}: nothing run or written");
    }
}

/// Grid values holding quotes, commas and line breaks are quoted in runs.csv and summary.csv
/// (by the csv crate), read back by merge cell for cell, and merged shards equal the whole.
#[test]
fn runs_csv_round_trips_quotes_commas_and_line_breaks_through_merge() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    let scenario = format!("{}/scenarios/attacks/jamming-constant.ron", env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        r#"Sweep(
    name: "quoting",
    scenario: "{scenario}",
    seeds: 1,
    meters: 1000,
    duration: "17h",
    grid: [(path: "description", values: ["say \"hi\", then\nleave\r\nnow", "plain"])],
    measures: ["reads.missing"],
)"#
    );
    let plan = t.join("plan.ron");
    std::fs::write(&plan, text).expect("write plan");
    let plan = plan.to_str().expect("utf-8");
    let out = |name: &str| t.join(name).to_str().expect("utf-8").to_owned();
    let o = amirange(&["sweep", plan, "--out", &out("a"), "-q"], t);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for i in 1..=2 {
        let shard = format!("{i}/2");
        let o = amirange(
            &["sweep", plan, "--shard", &shard, "--out", &out(&format!("s{i}")), "-q"],
            t,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = amirange(&["merge", &out("s1"), &out("s2"), "--out", &out("m")], t);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["runs.csv", "summary.csv", "report.html"] {
        assert!(
            read(&t.join("m").join(f)) == read(&t.join("a").join(f)),
            "{f}: merged differs"
        );
    }
    let runs = String::from_utf8(read(&t.join("a/runs.csv"))).expect("utf-8");
    assert!(
        runs.contains("\n0,0,7,\"say \"\"hi\"\", then\nleave\r\nnow\","),
        "quoted, quotes doubled, line breaks kept: {runs:?}"
    );
    let table = amirange_viz::Table::parse(&runs);
    assert_eq!(table.header, ["run", "point", "seed", "description", "reads.missing"]);
    assert_eq!(table.rows.len(), 2, "{runs:?}");
    assert_eq!(table.rows[0][3], "say \"hi\", then\nleave\r\nnow");
    assert_eq!(table.rows[1][3], "plain");
    let summary = amirange_viz::Table::parse(&String::from_utf8(read(&t.join("m/summary.csv"))).expect("utf-8"));
    assert_eq!(summary.rows[0][1], "say \"hi\", then\nleave\r\nnow");
    assert!(summary.rows.iter().all(|r| r.len() == summary.header.len()));
}

/// The shape a sweep checks measures against is generated from the metrics type, and agrees
/// with a real run's metrics.json (with operations, detectors, an attack and responses): every
/// number in it is a valid measure and every text is refused as text.
#[test]
fn every_number_in_a_real_metrics_json_is_a_valid_measure() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let t = tmp.path();
    let scenario = format!("{}/scenarios/attacks/command-flood.ron", env!("CARGO_MANIFEST_DIR"));
    let out = t.join("run");
    let o = amirange(
        &[
            "run",
            &scenario,
            "--preset",
            "typical-utility",
            "--meters",
            "1000",
            "--out",
            out.to_str().expect("utf-8"),
            "--quiet",
        ],
        t,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let metrics: serde_json::Value = serde_json::from_slice(&read(&out.join("metrics.json"))).expect("json");
    fn leaves(v: &serde_json::Value, path: String, out: &mut Vec<(String, serde_json::Value)>) {
        let join = |k: &str| {
            if path.is_empty() {
                k.to_owned()
            } else {
                format!("{path}.{k}")
            }
        };
        match v {
            serde_json::Value::Object(map) => {
                // A key with a dot in it (a firmware version) cannot be named in a path.
                for (k, x) in map.iter().filter(|(k, _)| !k.contains('.')) {
                    leaves(x, join(k), out);
                }
            }
            serde_json::Value::Array(list) => {
                for (i, x) in list.iter().enumerate() {
                    leaves(x, format!("{path}[{i}]"), out);
                }
            }
            other => out.push((path, other.clone())),
        }
    }
    let mut all = Vec::new();
    leaves(&metrics, String::new(), &mut all);
    assert!(all.len() > 200, "{}", all.len());
    for key in [
        "operations.planned.reconnects",
        "control_plane.by_kind.disconnect.acked",
        "detectors[0].alerts",
    ] {
        assert!(all.iter().any(|(p, _)| p == key), "{key} in the run");
    }
    let schema = amirange::sweep::metrics_schema();
    for (path, value) in &all {
        let checked = amirange::sweep::check_measure(&schema, path);
        match value {
            serde_json::Value::String(_) => {
                let err = checked.expect_err(path);
                assert!(err.ends_with("is text, not a number"), "{path}: {err}");
            }
            // A null is an optional number (valid) or an optional text (refused as text).
            serde_json::Value::Null => assert!(
                checked
                    .as_ref()
                    .map_or_else(|e| e.ends_with("is text, not a number"), |()| true),
                "{path}: {checked:?}"
            ),
            _ => assert!(checked.is_ok(), "{path}: {checked:?}"),
        }
    }
}

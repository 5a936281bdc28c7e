//! `amirange score`: an outside detector's alerts judged against a run's ground truth. A run's
//! own alerts.csv, fed back, scores exactly as its metrics.json says; a toy detector's alerts
//! are judged by the same rules; a bad file is refused naming its line and field.

use serde_json::Value;

use crate::common::{amirange, read};

/// `amirange score` on the quickstart cut to 2,000 meters with `alerts`, as JSON.
fn score(alerts: &std::path::Path, cwd: &std::path::Path) -> Value {
    let path = alerts.to_string_lossy().into_owned();
    let out = amirange(
        &["score", "--meters", "2000", "--alerts", &path, "--json", "--quiet"],
        cwd,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn outside_alerts_are_judged_as_the_built_in_detectors_are() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let run = dir.path().join("run");
    let out = amirange(
        &["run", "--meters", "2000", "--quiet", "--out", &run.to_string_lossy()],
        dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metrics: Value = serde_json::from_slice(&read(&run.join("metrics.json"))).expect("metrics");

    // The run's own alerts, fed back: the same scores, detector by detector, and per attack.
    let scored = score(&run.join("alerts.csv"), dir.path());
    let outside = scored["outside"]["detectors"].as_array().expect("detectors");
    assert!(!outside.is_empty(), "the quickstart's detectors raise alerts: {scored}");
    for d in outside {
        let built_in = metrics["detectors"]
            .as_array()
            .and_then(|all| all.iter().find(|b| b["name"] == d["name"]))
            .unwrap_or_else(|| panic!("no built-in detector {}", d["name"]));
        assert_eq!(d, built_in, "scored again from alerts.csv");
    }
    for a in scored["attacks"].as_array().expect("attacks") {
        assert_eq!(a["outside"], a["built_in"], "{a}");
    }

    // A toy detector: the attacked feeder at the attack's start (a hit), the fleet at 01:00
    // (before any attack: a false positive).
    let toy = dir.path().join("toy.csv");
    std::fs::write(&toy, "time,detector,subject\n64800,toy,feeder 0\n3600,toy,fleet\n").expect("writes");
    let scored = score(&toy, dir.path());
    let d = &scored["outside"]["detectors"][0];
    assert_eq!(
        (&d["name"], &d["alerts"], &d["true_positives"], &d["false_positives"]),
        (&Value::from("toy"), &Value::from(2), &Value::from(1), &Value::from(1)),
        "{scored}"
    );
    let attack = &scored["attacks"][0]["outside"];
    assert_eq!(
        (&attack["detected"], &attack["first_detector"]),
        (&Value::from(true), &Value::from("toy"))
    );

    // Into the run's own folder: outside.json, and the report with the toy beside the built-in
    // detectors; `amirange report` draws it again the same.
    let into = |extra: &[&str]| {
        let mut args = vec![
            "score",
            "--meters",
            "2000",
            "--alerts",
            toy.to_str().expect("UTF-8"),
            "--quiet",
            "--into",
            run.to_str().expect("UTF-8"),
        ];
        args.extend_from_slice(extra);
        amirange(&args, dir.path())
    };
    let out = into(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written: Value = serde_json::from_slice(&read(&run.join("outside.json"))).expect("outside.json");
    assert_eq!(written["outside"], scored["outside"]);
    let report = String::from_utf8(read(&run.join("report.html"))).expect("UTF-8");
    let section = &report[report
        .find("<h2 id=\"outside\">Outside detectors</h2>")
        .expect("the section")..];
    assert!(
        section.contains("<td>toy</td>") && section.contains("<td>built-in</td>"),
        "{section}"
    );
    assert!(
        section.contains("not detected") || section.contains("<td>toy</td><td>"),
        "{section}"
    );
    let out = amirange(&["report", run.to_str().expect("UTF-8")], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(read(&run.join("report.html"))).expect("UTF-8"),
        report
    );
    // Another run's folder is refused before anything is written into it.
    std::fs::remove_file(run.join("outside.json")).expect("rm");
    let out = into(&["--seed", "99"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("seed 99"), "{stderr}");
    assert!(!run.join("outside.json").exists());

    // Bad input is refused with the file, line and field.
    let bad = dir.path().join("bad.csv");
    for (text, expected) in [
        (
            "time,detector,subject\n100,toy,meter 99999\n",
            "bad.csv:2: field `subject`: there is no meter 99999",
        ),
        (
            "time,detector,subject\nsoon,toy,fleet\n",
            "bad.csv:2: field `time`: \"soon\" is neither seconds",
        ),
        ("when,detector,subject\n100,toy,fleet\n", "bad.csv:1: the header names"),
        (
            "time,detector,subject\n999999999,toy,fleet\n",
            "bad.csv:2: field `time`: 999999999 is after the run's end",
        ),
    ] {
        std::fs::write(&bad, text).expect("writes");
        let out = amirange(
            &[
                "score",
                "--meters",
                "2000",
                "--alerts",
                &bad.to_string_lossy(),
                "--quiet",
            ],
            dir.path(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(expected),
            "{expected}: {stderr}"
        );
    }
}

/// `--twin-alerts`: the baseline twin runs too, and every detector's false positives per day on
/// it are reported: the outside detector's from its twin file (every alert there is false, no
/// attack runs), the built-in ones' as `run --paired` writes them in `baseline-metrics.json`.
#[test]
fn twin_alerts_give_false_positives_per_day_on_the_baseline() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let run = dir.path().join("run");
    let out = amirange(
        &[
            "run",
            "--meters",
            "2000",
            "--paired",
            "--quiet",
            "--out",
            &run.to_string_lossy(),
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let baseline: Value = serde_json::from_slice(&read(&run.join("baseline-metrics.json"))).expect("metrics");
    let toy = dir.path().join("toy.csv");
    std::fs::write(&toy, "time,detector,subject\n64800,toy,feeder 0\n").expect("writes");
    let twin = dir.path().join("twin.csv");
    std::fs::write(
        &twin,
        "time,detector,subject\n3600,toy,fleet\n7200,toy,fleet\n80000,toy,feeder 1\n",
    )
    .expect("writes");
    let (toy, twin) = (toy.to_string_lossy(), twin.to_string_lossy());
    let score = |json: bool| {
        let mut args = vec![
            "score",
            "--meters",
            "2000",
            "--alerts",
            &toy,
            "--twin-alerts",
            &twin,
            "--quiet",
        ];
        if json {
            args.push("--json");
        }
        let out = amirange(&args, dir.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out
    };
    let out = score(true);
    let scored: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let t = &scored["twin"];
    assert_eq!(t["outside_alerts"], 3, "{scored}");
    assert_eq!(t["outside"][0]["name"], "toy");
    assert_eq!(
        t["outside"][0]["false_positives_per_day"], 3.0,
        "a one-day twin: {scored}"
    );
    for d in t["built_in"].as_array().expect("built-in") {
        let expected = baseline["detectors"]
            .as_array()
            .and_then(|all| all.iter().find(|b| b["name"] == d["name"]))
            .map(|b| b["false_positives_per_day"].clone());
        assert_eq!(Some(d["false_positives_per_day"].clone()), expected, "{d}");
    }
    // The table names the column.
    let out = score(false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("twin f+/day") && text.contains("baseline twin (no attacks): 3 outside alert(s)"),
        "{text}"
    );
}

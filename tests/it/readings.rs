//! The per-meter readings export (`amirange run --export readings`): `readings.parquet` read
//! back with the `parquet` crate.

use std::collections::BTreeSet;
use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;

use crate::common::{amirange, read};

/// One row of `readings.parquet`.
#[derive(Debug, Clone, PartialEq)]
struct Reading {
    meter: u32,
    time_ms: i64,
    true_kwh: f64,
    reported_kwh: f64,
    estimated: bool,
    class: String,
    link: String,
    attack_labels: u8,
    labels: String,
}

/// Every row of the folder's `readings.parquet`, in file order.
fn readings(folder: &Path) -> Vec<Reading> {
    let path = folder.join("readings.parquet");
    let reader = SerializedFileReader::try_from(path.as_path()).expect("a Parquet file");
    let created_by = reader.metadata().file_metadata().created_by().map(str::to_owned);
    assert_eq!(created_by, Some(format!("amirange {}", env!("CARGO_PKG_VERSION"))));
    reader
        .get_row_iter(None)
        .expect("rows")
        .map(|row| {
            let row = row.expect("a row");
            Reading {
                meter: row.get_uint(0).expect("meter"),
                time_ms: row.get_timestamp_millis(1).expect("time"),
                true_kwh: row.get_double(2).expect("true_kwh"),
                reported_kwh: row.get_double(3).expect("reported_kwh"),
                estimated: row.get_bool(4).expect("estimated"),
                class: row.get_string(5).expect("class").clone(),
                link: row.get_string(8).expect("link").clone(),
                attack_labels: row.get_ubyte(9).expect("attack_labels"),
                labels: row.get_string(10).expect("labels").clone(),
            }
        })
        .collect()
}

/// Every meter `truth.csv` names (its last field: ranges of meter indices).
fn truth_meters(folder: &Path) -> BTreeSet<u32> {
    let truth = String::from_utf8(read(&folder.join("truth.csv"))).expect("UTF-8");
    let mut named = BTreeSet::new();
    for line in truth.lines().skip(1) {
        let meters = line.rsplit(',').next().unwrap_or_default();
        for part in meters.split(';').filter(|p| !p.is_empty()) {
            match part.split_once('-') {
                Some((a, b)) => named.extend(a.parse::<u32>().expect("n")..=b.parse::<u32>().expect("n")),
                None => {
                    named.insert(part.parse::<u32>().expect("n"));
                }
            }
        }
    }
    named
}

fn metrics(folder: &Path) -> serde_json::Value {
    serde_json::from_slice(&read(&folder.join("metrics.json"))).expect("metrics.json")
}

fn run(args: &[&str], cwd: &Path) {
    let o = amirange(args, cwd);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A day of 300 meters: one row per meter and interval, in (time, meter) order from the
/// scenario's start; the true energy sums to `energy.true_kwh` of `metrics.json` and the
/// reported energy to `energy.settled_kwh` (what the MDM holds after backfill and estimation);
/// the same bytes on 1, 2 and 3 threads; and every other file as without the export.
#[test]
fn readings_have_a_row_per_meter_and_interval_with_the_run_totals_on_any_thread_count() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let base = ["run", "--meters", "300", "--duration", "1d", "-q"];
    for threads in ["1", "2", "3"] {
        let out = format!("t{threads}");
        let mut args = base.to_vec();
        args.extend(["--threads", threads, "--out", &out, "--export", "readings"]);
        run(&args, tmp.path());
    }
    let mut plain = base.to_vec();
    plain.extend(["--threads", "2", "--out", "plain"]);
    run(&plain, tmp.path());
    let folder = tmp.path().join("t1");
    let bytes = read(&folder.join("readings.parquet"));
    for threads in ["2", "3"] {
        let other = read(&tmp.path().join(format!("t{threads}")).join("readings.parquet"));
        assert!(
            bytes == other,
            "readings.parquet differs between 1 and {threads} threads"
        );
    }
    for file in ["metrics.json", "timeseries.csv", "truth.csv", "transformers.csv"] {
        assert!(
            read(&folder.join(file)) == read(&tmp.path().join("plain").join(file)),
            "{file} is the same with and without the export"
        );
    }
    assert!(!tmp.path().join("plain").join("readings.parquet").exists());

    let rows = readings(&folder);
    let m = metrics(&folder);
    let (n_meters, n_intervals) = (300usize, 96usize);
    assert_eq!(m["meters"], 300);
    assert_eq!(rows.len(), n_meters * n_intervals, "one row per meter and interval");
    // The quickstart starts at 2026-01-15T00:00 (UTC): 20,468 days after 1970-01-01.
    let start_ms = 20_468i64 * 86_400_000;
    let mut seen = BTreeSet::new();
    for (k, r) in rows.iter().enumerate() {
        assert_eq!(r.meter as usize, k % n_meters, "row {k}: meters in order");
        assert_eq!(
            r.time_ms,
            start_ms + (k / n_meters) as i64 * 900_000,
            "row {k}: interval start"
        );
        assert!(seen.insert((r.meter, r.time_ms)));
        assert!(r.true_kwh >= 0.0 && r.reported_kwh >= 0.0);
        assert!(["residential", "commercial", "industrial", "critical"].contains(&r.class.as_str()));
        assert!(["mesh", "plc", "cellular"].contains(&r.link.as_str()));
        // The quickstart's one attack opens relays; the utility's own disconnections are not
        // labelled.
        assert!(
            [(0, ""), (8, "disconnected")].contains(&(r.attack_labels, r.labels.as_str())),
            "{r:?}"
        );
    }
    let disconnected: BTreeSet<u32> = rows.iter().filter(|r| r.attack_labels == 8).map(|r| r.meter).collect();
    let named = truth_meters(&folder);
    assert!(!disconnected.is_empty());
    assert!(disconnected.is_subset(&named), "disconnected meters are in truth.csv");
    let true_kwh: f64 = rows.iter().map(|r| r.true_kwh).sum();
    let reported_kwh: f64 = rows.iter().map(|r| r.reported_kwh).sum();
    let want_true = m["energy"]["true_kwh"].as_f64().expect("true_kwh");
    let want_settled = m["energy"]["settled_kwh"].as_f64().expect("settled_kwh");
    // Each row's true energy is rounded to 1 Wh/1000 as the engine's sums are; allow one mWh
    // per row.
    assert!(
        (true_kwh - want_true).abs() <= rows.len() as f64 * 1e-6,
        "true energy {true_kwh} kWh against metrics.json's {want_true}"
    );
    assert!(
        (reported_kwh - want_settled).abs() < 1e-6,
        "reported energy {reported_kwh} kWh against metrics.json's settled {want_settled}"
    );
}

/// The meters whose rows carry the theft label are exactly those `truth.csv` names for the
/// theft; with a full bypass the register shows nothing, and the true energy still adds up to
/// `metrics.json`'s (taken from the transformer's balance).
#[test]
fn theft_labels_agree_with_truth_csv() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(format!(
        "{}/scenarios/attacks/theft-bypass.ron",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("theft-bypass.ron");
    assert!(text.contains("stolen: 0.7"));
    std::fs::write(tmp.path().join("theft.ron"), text.replace("stolen: 0.7", "stolen: 1.0")).expect("write");
    run(
        &[
            "run",
            "theft.ron",
            "--meters",
            "1500",
            "-q",
            "--out",
            "r",
            "--export",
            "readings",
        ],
        tmp.path(),
    );
    let folder = tmp.path().join("r");
    let rows = readings(&folder);
    let labelled: BTreeSet<u32> = rows
        .iter()
        .filter(|r| r.attack_labels & 1 != 0)
        .map(|r| r.meter)
        .collect();
    assert!(
        rows.iter()
            .filter(|r| r.attack_labels != 0)
            .all(|r| r.labels == "theft")
    );
    let named = truth_meters(&folder);
    assert!(labelled.len() >= 10, "{} meters stolen through", labelled.len());
    assert_eq!(labelled, named, "theft labels against truth.csv");
    // Before 10:00 nothing was stolen; after, the bypassed meters report nothing.
    let first = rows.first().map_or(0, |r| r.time_ms);
    for r in &rows {
        let hour = (r.time_ms - first) / 3_600_000;
        assert_eq!(r.attack_labels != 0, hour >= 10 && labelled.contains(&r.meter), "{r:?}");
        if r.attack_labels != 0 {
            assert!(r.reported_kwh == 0.0 || r.estimated, "{r:?}");
        }
    }
    let m = metrics(&folder);
    let true_kwh: f64 = rows.iter().map(|r| r.true_kwh).sum();
    let want = m["energy"]["true_kwh"].as_f64().expect("true_kwh");
    assert!(
        (true_kwh - want).abs() <= rows.len() as f64 * 1e-6,
        "true energy {true_kwh} kWh against metrics.json's {want}"
    );
}

/// An unknown export name is refused before anything runs, naming the ones there are; the
/// flag belongs to `run` alone.
#[test]
fn an_unknown_export_is_refused_with_the_names_there_are() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let o = amirange(&["run", "--meters", "50", "--export", "readigns"], tmp.path());
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("invalid value 'readigns' for '--export <NAME>'"), "{err}");
    assert!(err.contains("readings"), "{err}");
    assert!(
        std::fs::read_dir(tmp.path()).expect("dir").next().is_none(),
        "nothing written"
    );
    let o = amirange(&["bench", "--meters", "50", "--export", "readings"], tmp.path());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--export"));
}

/// A scenario asks for the export with `export: [Readings]`: the same file as `--export
/// readings` writes, without the flag; an unknown name is refused, naming the field.
#[test]
fn a_scenario_field_asks_for_the_export_as_the_flag_does() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(format!("{}/scenarios/quickstart.ron", env!("CARGO_MANIFEST_DIR")))
        .expect("quickstart.ron");
    assert!(text.contains("    seed: 7,\n"));
    let asking = text.replace("    seed: 7,\n", "    seed: 7,\n    export: [Readings],\n");
    std::fs::write(tmp.path().join("asking.ron"), &asking).expect("write");
    let base = ["--meters", "200", "--duration", "1d", "-q"];
    let mut by_field = vec!["run", "asking.ron", "--out", "field"];
    by_field.extend(base);
    run(&by_field, tmp.path());
    let mut by_flag = vec!["run", "--out", "flag", "--export", "readings"];
    by_flag.extend(base);
    run(&by_flag, tmp.path());
    let field = read(&tmp.path().join("field").join("readings.parquet"));
    assert!(!field.is_empty());
    assert!(
        field == read(&tmp.path().join("flag").join("readings.parquet")),
        "the scenario field and the flag write the same file"
    );

    let unknown = text.replace("    seed: 7,\n", "    seed: 7,\n    export: [Meters],\n");
    std::fs::write(tmp.path().join("unknown.ron"), unknown).expect("write");
    let o = amirange(&["validate", "unknown.ron"], tmp.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && stderr.contains("Meters"), "{stderr}");
}

//! The attack library through the whole system: every file of `scenarios/attacks/` runs
//! (scaled down) and hurts what it targets; attacks interact with the model (signatures,
//! radio range, link kinds, mesh reach); ground truth names every meter an attack affected.

use std::collections::{BTreeSet, HashSet};

use amirange::attack_metrics::AttackMetrics;
use amirange::metrics::Metrics;
use amirange::run::Finished;
use amirange::scenario::{Overrides, Scenario};
use amirange_sim::model::{Cause, LinkKind, Relay};

const METERS: i64 = 2_000;

fn load_text(label: &str, text: &str, meters: i64) -> Scenario {
    let overrides = Overrides {
        meters: Some(meters),
        ..Overrides::default()
    };
    amirange::scenario::load(label, text, &overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn file(name: &str) -> (String, String) {
    let path = format!("{}/scenarios/attacks/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (path, text)
}

fn run(scenario: &Scenario) -> Finished {
    amirange::run::execute(scenario, |_, _| {}).expect("runs")
}

fn attack<'a>(m: &'a Metrics, id: &str) -> &'a AttackMetrics {
    m.attacks
        .iter()
        .find(|a| a.id == id)
        .unwrap_or_else(|| panic!("attack {id} in metrics"))
}

/// The run's charts, drawn from its result files alone, carry its data: the timeline's first
/// line has a point per interval; the blast-radius map's meters off supply are the
/// timeseries' customers off at its moment, each drawn in its condition's colour, with every
/// jammer; the detection chart names every attack.
fn charts_carry_the_run(name: &str, scenario: &Scenario, finished: &Finished) {
    let records = finished.sim.records();
    let timeline = amirange_viz::timeline_svg(
        &amirange::results::timeseries_csv(scenario, records),
        &amirange::results::truth_csv(scenario, records),
        &amirange::results::alerts_csv(scenario, records, &finished.metrics),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    // The customers-connected line is the first blue one.
    let points = timeline
        .split("<polyline")
        .find(|p| p.contains("stroke=\"#0000FF\""))
        .and_then(|p| p.split("points=\"").nth(1))
        .and_then(|p| p.split('"').next())
        .map(|p| p.split_whitespace().count())
        .unwrap_or(0);
    assert_eq!(points, records.intervals.len(), "{name}: one point per interval");
    map_carries_the_worst_moment(name, finished);
    let metrics = serde_json::to_value(&finished.metrics).expect("json");
    let alerts = amirange::results::alerts_csv(scenario, records, &finished.metrics);
    let detection = amirange_viz::detection_svg(&metrics, &alerts).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(detection.is_some(), !finished.metrics.attacks.is_empty(), "{name}");
    let chart = detection.as_deref().unwrap_or_default();
    for a in &finished.metrics.attacks {
        assert!(
            chart.contains(&format!("{}: ", a.id)),
            "{name}: {} in the detection chart",
            a.id
        );
    }
    // Every detector that raised a true alert about an attack has its bar.
    let table = amirange_viz::Table::parse(&alerts);
    let (d, t) = (
        table.column("detector").expect("detector"),
        table.column("true_positive").expect("tp"),
    );
    for r in table.rows.iter().filter(|r| r[t] == "true") {
        assert!(
            chart.contains(&format!("by {}\n", r[d])) || chart.contains(&format!("also {}:", r[d])),
            "{name}: {} in the detection chart",
            r[d]
        );
    }
}

fn map_carries_the_worst_moment(name: &str, finished: &Finished) {
    let (csv, json) = finished.map.as_ref().expect("the map's files");
    let json: serde_json::Value = serde_json::from_slice(json).expect("map.json");
    let table = amirange_viz::Table::parse(csv);
    let cond = table.column("condition").expect("condition column");
    let facility = table.column("facility").expect("facility column");
    let n = finished.sim.n_meters();
    assert_eq!(json["stride"], 1, "{name}: small fleets are drawn whole");
    assert_eq!(table.rows.len(), n, "{name}");
    let slot = json["moment"]["slot"].as_u64().expect("slot") as usize;
    let row = &finished.sim.records().intervals[slot];
    let count = |c: &str| table.rows.iter().filter(|r| r[cond] == c).count() as u64;
    let off = count("off-attack") + count("off-outage") + count("off-operation");
    assert_eq!(
        off,
        n as u64 - row.customers_connected,
        "{name}: customers off at the moment"
    );
    assert_eq!(
        count("off-attack"),
        row.customers_off_by_cause[2],
        "{name}: off by attacks"
    );
    let critical_off = table
        .rows
        .iter()
        .filter(|r| !r[facility].is_empty() && r[cond].starts_with("off-"))
        .count();
    assert_eq!(json["critical_off"], critical_off, "{name}");
    assert_eq!(critical_off as u64, row.critical_off, "{name}: critical facilities off");
    // No interval scored higher, and none before the moment as high (the score's held meters
    // are not in the rows, so they bound it from below).
    let score = json["moment"]["score"].as_u64().expect("score");
    let rows = &finished.sim.records().intervals;
    let seen = |r: &amirange_sim::records::IntervalRow| {
        n as u64 - r.customers_connected + if r.read_cycle { r.reads_missing } else { 0 }
    };
    assert!(seen(row) <= score, "{name}: the moment's own score");
    assert!(
        rows[..slot].iter().all(|r| seen(r) < score),
        "{name}: an earlier interval scored as high"
    );
    assert!(
        rows.iter().all(|r| seen(r) <= score),
        "{name}: a later interval scored higher"
    );
    let svg = amirange_viz::blast_map_svg(csv, &json).unwrap_or_else(|e| panic!("{name}: {e}"));
    for (condition, _, colour) in amirange_viz::CONDITION_COLOURS {
        let drawn = svg
            .matches(&format!("fill=\"#{:02X}{:02X}{:02X}\"/>", colour.0, colour.1, colour.2))
            .count();
        let meters = table
            .rows
            .iter()
            .filter(|r| r[cond] == condition && r[facility].is_empty())
            .count();
        // Each meter is a circle of its colour; the legend adds one more.
        assert_eq!(drawn, meters + 1, "{name}: {condition} meters drawn");
    }
    let areas = finished.sim.net_state().interference.len();
    assert_eq!(json["areas"].as_array().map(Vec::len), Some(areas), "{name}: jammers");
    // Circles: a meter each (critical facilities are triangles), a jammer each, and eight in
    // the legend.
    let dots = table.rows.iter().filter(|r| r[facility].is_empty()).count();
    assert_eq!(
        svg.matches("<circle").count(),
        dots + areas + 8,
        "{name}: jammers drawn"
    );
}

/// Parses `truth.csv` into (attack, step, meters).
fn truth_rows(scenario: &Scenario, finished: &Finished) -> Vec<(String, String, Vec<u32>)> {
    let csv = amirange::results::truth_csv(scenario, finished.sim.records());
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(amirange::results::TRUTH_HEADER));
    lines
        .map(|line| {
            // The detail may hold commas (quoted); the meters are the last field, the attack the
            // third and the step the sixth.
            let fields: Vec<&str> = line.split(',').collect();
            let meters = fields[fields.len() - 1];
            let mut list = Vec::new();
            for part in meters.split(';').filter(|p| !p.is_empty()) {
                match part.split_once('-') {
                    Some((a, b)) => {
                        let (a, b): (u32, u32) = (a.parse().expect("number"), b.parse().expect("number"));
                        list.extend(a..=b);
                    }
                    None => list.push(part.parse().expect("number")),
                }
            }
            (fields[2].to_owned(), fields[5].to_owned(), list)
        })
        .collect()
}

fn truth_meters(rows: &[(String, String, Vec<u32>)], id: &str) -> HashSet<u32> {
    rows.iter()
        .filter(|r| r.0 == id)
        .flat_map(|r| r.2.iter().copied())
        .collect()
}

/// The scenario files that are not attacks (quickstart, the typical week, the 1M benchmark)
/// draw their charts too, scaled down to a day of 2,000 meters.
#[test]
fn every_other_scenario_file_draws_its_charts() {
    let dir = format!("{}/scenarios", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("scenarios")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ron"))
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    for name in &names {
        let path = format!("{dir}/{name}");
        let text = std::fs::read_to_string(&path).expect("scenario");
        let overrides = Overrides {
            meters: Some(METERS),
            duration: Some("1d".into()),
            ..Overrides::default()
        };
        let scenario = amirange::scenario::load(&path, &text, &overrides).unwrap_or_else(|e| panic!("{e}"));
        charts_carry_the_run(name, &scenario, &run(&scenario));
    }
}

/// Every shipped attack file runs scaled down, and each hurts what it targets (or, for the
/// files that show a defense, fails for the reason the defense gives).
#[test]
fn every_attack_file_runs_and_hits_what_it_targets() {
    let dir = format!("{}/scenarios/attacks", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("scenarios/attacks")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ron"))
        .collect();
    names.sort();
    assert!(names.len() >= 27, "the shipped attack files: {names:?}");
    let mut checked = BTreeSet::new();
    for name in &names {
        let (path, text) = file(name);
        let scenario = load_text(&path, &text, METERS);
        let finished = run(&scenario);
        let m = &finished.metrics;
        assert_eq!(m.attacks.len(), scenario.attacks.len(), "{name}");
        charts_carry_the_run(name, &scenario, &finished);
        for a in &m.attacks {
            let b = &a.blast_radius;
            assert!(!a.summary.is_empty());
            match a.id.as_str() {
                "md-peak" | "md-residential" => {
                    assert!(a.succeeded, "{name}: {a:?}");
                    assert!(
                        b.peak_customers_disconnected > 0 && b.kwh_not_served > 0.0,
                        "{name}: {b:?}"
                    );
                    assert!(b.peak_kw_shed > 0.0 && b.customer_minutes_interrupted > 0.0);
                }
                "md-critical" => {
                    assert!(a.succeeded, "{name}: {a:?}");
                    assert!(
                        b.critical_facilities_hit > 0 && b.critical_facility_minutes > 0.0,
                        "{b:?}"
                    );
                    assert_eq!(b.critical_facilities_hit, b.peak_customers_disconnected);
                }
                "md-mfa" => {
                    assert!(!a.succeeded);
                    let why = a.failure_reason.as_deref().unwrap_or("");
                    assert!(why.contains("second-factor-missing"), "{why}");
                    assert_eq!(b.peak_customers_disconnected, 0);
                }
                "jam-collector" | "jam-reactive" => {
                    assert!(a.succeeded && b.readings_lost > 0, "{name}: {a:?}");
                    assert_eq!(b.peak_customers_disconnected, 0, "jamming cuts data, not supply");
                }
                "jam-theft" => {
                    assert!(b.readings_lost > 0 && b.kwh_stolen > 0.0, "{name}: {b:?}");
                    assert!(b.meters_compromised > 0);
                }
                "jam-far" => {
                    assert!(!a.succeeded);
                    assert_eq!(b.readings_lost, 0);
                }
                "fw-unsigned" => {
                    assert!(!a.succeeded);
                    assert_eq!(b.meters_compromised, 0);
                    let why = a.failure_reason.as_deref().unwrap_or("");
                    assert!(why.contains("signature did not verify"), "{why}");
                }
                "fw-supply-chain" => {
                    assert!(a.succeeded && b.meters_compromised > 0, "{a:?}");
                    assert!(b.peak_customers_disconnected > 0 && b.kwh_not_served > 0.0, "{b:?}");
                }
                "fw-worm" => {
                    assert!(a.succeeded && b.meters_compromised > 0, "{a:?}");
                    assert!(b.kwh_falsified > 0.0, "{b:?}");
                    assert_eq!(b.time_to_restore_s, None, "the rogue image is still running");
                }
                "fw-flood" => {
                    assert!(a.succeeded && b.readings_lost > 0, "{a:?}");
                }
                "fw-brick" => {
                    assert!(a.succeeded && b.meters_compromised > 0, "{a:?}");
                    assert!(b.readings_lost > 0, "{b:?}");
                    assert_eq!(b.peak_customers_disconnected, 0, "bricking leaves relays alone");
                    let bricked = finished.sim.fleet().failed.iter().filter(|&&f| f).count() as u64;
                    assert_eq!(bricked, b.meters_compromised);
                }
                "clone-one" => {
                    assert!(a.succeeded && b.meters_compromised == 1, "{a:?}");
                    assert!(b.kwh_stolen > 0.0 && b.kwh_falsified == 0.0, "{b:?}");
                }
                "clone-group" => {
                    assert!(a.succeeded && b.meters_compromised > 1, "{a:?}");
                    assert!(b.kwh_falsified > 0.0 && b.kwh_stolen == 0.0, "{b:?}");
                    assert!(b.time_to_restore_s.is_some(), "the forgery ends at 18:00");
                }
                "theft-bypass" | "theft-magnet" | "theft-quiet" => {
                    assert!(a.succeeded && b.kwh_stolen > 0.0, "{name}: {a:?}");
                    assert_eq!(b.peak_customers_disconnected, 0);
                }
                "replay-counters" => {
                    assert!(!a.succeeded && a.meters_targeted > 0, "{a:?}");
                    let why = a.failure_reason.as_deref().unwrap_or("");
                    assert!(why.contains("frame counters"), "{why}");
                    assert_eq!(b.peak_customers_disconnected, 0);
                }
                "replay-open" => {
                    assert!(a.succeeded, "{a:?}");
                    assert!(
                        b.peak_customers_disconnected > 0 && b.customer_minutes_interrupted > 0.0,
                        "{b:?}"
                    );
                }
                "flood" => {
                    assert!(a.succeeded && a.summary.contains("junk requests accepted"), "{a:?}");
                    assert_eq!(b.peak_customers_disconnected, 0);
                }
                "pivot" => {
                    assert!(a.succeeded, "{a:?}");
                    // Critical facilities whose backup carried them stay supplied.
                    let on_backup = finished.sim.records().critical_on_backup_us.len() as u64;
                    assert_eq!(
                        b.peak_customers_disconnected + on_backup,
                        a.meters_targeted,
                        "every premise on the feeders but those on a backup"
                    );
                    assert!(b.time_to_restore_s.is_some(), "the breakers close after 2h");
                }
                "exfil" => {
                    assert!(a.succeeded && b.customers_exposed > 0, "{a:?}");
                    assert_eq!(b.households_exposed, b.customers_exposed, "residential targets");
                    assert_eq!(b.exposed_resolution_min, Some(15.0));
                    assert_eq!(b.peak_customers_disconnected, 0);
                }
                "botnet-ev" => {
                    assert!(a.succeeded, "{a:?}");
                    let nadir = b.frequency_nadir_hz.expect("a disturbance");
                    assert!(nadir < 49.0 && b.ufls_shed_mw > 0.0, "{b:?}");
                    assert!(b.peak_customers_disconnected > 0, "UFLS opened feeders: {b:?}");
                    assert!(b.time_to_restore_s.is_some(), "operators restore the feeders");
                }
                "rogue-drop" => {
                    assert!(a.succeeded && b.readings_lost > 0 && b.meters_compromised > 0, "{a:?}");
                    assert_eq!(
                        b.peak_customers_disconnected, 0,
                        "dropping traffic cuts data, not supply"
                    );
                }
                "downgrade" | "downgrade-for-replay" => {
                    assert!(a.succeeded && b.meters_compromised > 0, "{a:?}");
                    assert!(
                        b.meters_compromised < a.meters_targeted,
                        "only legacy-capable meters fall back"
                    );
                    assert_eq!(b.time_to_restore_s, None, "the downgrade lasts");
                }
                "rogue-forge" => {
                    assert!(a.succeeded && b.peak_customers_disconnected > 0, "{a:?}");
                    assert_eq!(b.peak_customers_disconnected, b.meters_compromised);
                }
                "replay-downgraded" => {
                    assert!(a.succeeded && b.customer_minutes_interrupted > 0.0, "{a:?}");
                }
                "conn-flood" => {
                    assert!(a.succeeded && b.readings_lost > 0, "{a:?}");
                    assert_eq!(b.peak_customers_disconnected, 0);
                    assert!(b.time_to_restore_s.is_some(), "the flood stops at 14:00");
                }
                "dr-forgery" => {
                    assert!(a.succeeded && b.kwh_curtailed > 0.0, "{a:?}");
                    let (lo, hi) = (
                        b.frequency_nadir_hz.unwrap_or(50.0),
                        b.frequency_peak_hz.unwrap_or(50.0),
                    );
                    assert!(
                        lo < 50.0 && hi > 50.0,
                        "shedding raises frequency, the rebound lowers it: {b:?}"
                    );
                    // On the island, the rebound may trip under-frequency shedding, which is
                    // then the only way customers lose supply.
                    assert!(b.peak_customers_disconnected == 0 || b.ufls_shed_mw > 0.0, "{b:?}");
                }
                other => panic!("{name}: attack {other} has no expectation here; add one"),
            }
            // Technique and STRIDE come from the tags, checked against the matrix elsewhere.
            assert!(a.technique.starts_with('T') && !a.stride.is_empty());
            checked.insert(a.id.clone());
        }
    }
    assert!(checked.len() >= 31, "{checked:?}");
}

/// Ground truth is complete: every meter an attack left with its relay open, running its
/// image, bypassed or inside its jammer's radius appears in `truth.csv` under that attack.
#[test]
fn ground_truth_names_every_affected_meter() {
    for name in [
        "mass-disconnect-hes-exploit.ron",
        "rogue-firmware-supply-chain.ron",
        "rogue-firmware-worm.ron",
        "jamming-periodic-theft.ron",
    ] {
        let (path, text) = file(name);
        let scenario = load_text(&path, &text, METERS);
        let finished = run(&scenario);
        let rows = truth_rows(&scenario, &finished);
        let sim = &finished.sim;
        for (k, spec) in scenario.attacks.iter().enumerate() {
            let id = spec.id();
            let named = truth_meters(&rows, id);
            let code = k as u8 + 1;
            let mut affected = 0;
            for m in 0..sim.n_meters() as u32 {
                let meter = sim.meter(m).expect("meter");
                let opened = meter.relay == Relay::Open && meter.relay_cause == Cause::Attack(k as u8);
                let compromised = sim.fleet().compromised_by[m as usize] == code;
                let skewed = meter.skew_by == code;
                if opened || compromised || skewed {
                    affected += 1;
                    assert!(
                        named.contains(&m),
                        "{name}: meter {m} affected by {id} but not in truth.csv"
                    );
                }
            }
            assert!(affected > 0 || id == "jam-theft", "{name}: {id} affected nothing");
        }
        // Every attack step has a row, preconditions included.
        assert!(rows.len() >= scenario.attacks.len());
        let steps: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        let expected: &[&str] = match name {
            "mass-disconnect-hes-exploit.ron" => &["hes-exploit", "disconnect-request", "relays-opened"],
            "rogue-firmware-supply-chain.ron" => {
                &["vendor-release", "vendor-signed-image", "firmware-push", "installed"]
            }
            "rogue-firmware-worm.ron" => &["signing-key-leaked", "local-flash", "infected"],
            _ => &["jammer-on", "jammer-off", "bypass-on", "bypass-off"],
        };
        for step in expected {
            assert!(steps.contains(step), "{name}: no {step} in truth.csv: {steps:?}");
        }
    }
}

/// Signed firmware with verification stops an unsigned push; a vendor-signed image passes.
/// Over the same fleet, the same push with verification off compromises meters.
#[test]
fn verification_at_the_meter_stops_unsigned_images_only() {
    let (path, text) = file("rogue-firmware-unsigned-push.ron");
    let verified = run(&load_text(&path, &text, METERS));
    let a = attack(&verified.metrics, "fw-unsigned");
    assert_eq!(a.blast_radius.meters_compromised, 0);
    assert!(!verified.sim.fleet().refused_images.is_empty());
    let legacy_text = text.replace(
        "topology: Preset(\"town-10k\"),",
        "topology: Preset(\"town-10k\"),\n    security: (verify_firmware: false),",
    );
    let legacy = run(&load_text(&path, &legacy_text, METERS));
    let a = attack(&legacy.metrics, "fw-unsigned");
    assert!(a.succeeded && a.blast_radius.meters_compromised > 0, "{a:?}");
    assert!(a.blast_radius.kwh_falsified > 0.0);
}

/// A jammer out of range of every meter changes nothing: the run reads exactly what the same
/// scenario without the attack reads.
#[test]
fn a_jammer_far_from_every_meter_loses_no_reading() {
    let (path, text) = file("jamming-far.ron");
    let jammed = run(&load_text(&path, &text, METERS));
    let start = text.find("    attacks: [").expect("attacks section");
    let end = text[start..].find("\n    ],\n").expect("end of attacks") + start + "\n    ],\n".len();
    let quiet_text = format!("{}{}", &text[..start], &text[end..]);
    let quiet = run(&load_text(&path, &quiet_text, METERS));
    assert_eq!(jammed.metrics.reads, quiet.metrics.reads);
    assert_eq!(jammed.metrics.energy, quiet.metrics.energy);
    assert_eq!(attack(&jammed.metrics, "jam-far").blast_radius.readings_lost, 0);
}

/// The same mass disconnect reaches PLC meters later than cellular ones: it goes through the
/// real fan-out, queues and links.
#[test]
fn a_mass_disconnect_over_plc_is_slower_than_over_cellular() {
    let (path, text) = file("mass-disconnect-peak.ron");
    let text = text.replace("targets: Feeders([0, 1]),", "targets: All,");
    let finished = run(&load_text(&path, &text, METERS));
    let by_link = &finished.metrics.control_plane.execute_seconds_by_link;
    let (plc, cell) = (&by_link["plc"], &by_link["cellular"]);
    assert!(plc.median > cell.median, "plc {plc:?} vs cellular {cell:?}");
    assert!(plc.p95 > cell.p95);
}

/// A worm that infects on every contact takes exactly the mesh component of its entry meter:
/// it never reaches a PLC or cellular-only meter, nor a mesh meter with no mesh path to it.
#[test]
fn a_worm_stops_at_the_edge_of_the_mesh_it_can_reach() {
    let (path, text) = file("rogue-firmware-worm.ron");
    let text = text
        .replace(
            "entry: Area(center: Collector(0), radius_m: 150), infection: 0.3",
            "entry: Meters([ENTRY]), infection: 1.0",
        )
        // No chronic non-communicators: a dark meter neither takes the worm nor passes it on.
        .replace(
            "duration: \"1d\"",
            "duration: \"2d\", metering: (chronic_share: (mesh: 0.0, plc: 0.0, cellular: 0.0))",
        );
    // The entry: the first mesh meter of the generated network.
    let probe = load_text(&path, &text.replace("ENTRY", "0"), METERS);
    let net = probe
        .topology
        .generate(probe.seed(), probe.class_kwh())
        .expect("generates");
    let entry = (0..net.meters.len() as u32)
        .find(|&m| net.meters[m as usize].link == LinkKind::Mesh)
        .expect("a mesh meter");
    let scenario = load_text(&path, &text.replace("ENTRY", &entry.to_string()), METERS);
    let finished = run(&scenario);
    // The mesh component of the entry, over meters with a mesh radio.
    let n = net.meters.len() as u32;
    let mut seen = vec![false; n as usize];
    let mut stack = vec![entry];
    seen[entry as usize] = true;
    while let Some(v) = stack.pop() {
        for (u, _) in net.mesh.edges(v) {
            if u < n && !seen[u as usize] && net.meters[u as usize].link == LinkKind::Mesh {
                seen[u as usize] = true;
                stack.push(u);
            }
        }
    }
    let fleet = finished.sim.fleet();
    let infected: Vec<bool> = fleet.compromised_by.iter().map(|&c| c == 1).collect();
    assert_eq!(infected, seen, "the worm takes exactly the reachable mesh");
    assert!(
        (0..n as usize).any(|m| !seen[m] && net.meters[m].link == LinkKind::Mesh)
            || (0..n as usize).any(|m| net.meters[m].link != LinkKind::Mesh),
        "the test needs meters outside the component"
    );
    assert!(
        !infected
            .iter()
            .zip(&net.meters)
            .any(|(&i, s)| i && s.link != LinkKind::Mesh)
    );
}

/// Errors in an attack name the file, line and field.
#[test]
fn attack_errors_name_file_line_and_field() {
    let (path, text) = file("mass-disconnect-hes-exploit.ron");
    let bad = text.replace("spacing: \"1m\"", "spacing: \"soon\"");
    let e = amirange::scenario::load(&path, &bad, &Overrides::default()).expect_err("invalid");
    assert_eq!(e.field.as_deref(), Some("attacks[1].spacing"), "{e}");
    let line = bad.lines().position(|l| l.contains("\"soon\"")).expect("line") + 1;
    assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
    let (path2, text2) = file("mass-disconnect-mfa.ron");
    let bad2 = text2.replace("account: \"ops-alice\"", "account: \"nobody\"");
    let e = amirange::scenario::load(&path2, &bad2, &Overrides::default()).expect_err("invalid");
    assert_eq!(e.field.as_deref(), Some("attacks[0].access.account"), "{e}");
    assert!(e.message.contains("ops-alice"), "lists the accounts: {e}");
    // A misspelt field inside a nested variant is an error, not a silent default.
    let typo = text2.replace("mfa_bypass: 0.0", "mfa_bypas: 0.5");
    let e = amirange::scenario::load(&path2, &typo, &Overrides::default()).expect_err("invalid");
    assert!(e.message.contains("mfa_bypas"), "{e}");
    let late = text2.replace("at: \"0d 18:00\"", "at: \"3d 18:00\"");
    let e = amirange::scenario::load(&path2, &late, &Overrides::default()).expect_err("invalid");
    assert_eq!(e.field.as_deref(), Some("attacks[0].at"), "{e}");
}

/// The header (`id`, `at`) is shared by every attack kind in code but stays flat in the file:
/// a misspelt field beside it is refused by name at its line, and a missing `id` is named.
#[test]
fn a_misspelt_field_beside_the_header_is_refused_at_its_line() {
    let (path, text) = file("mass-disconnect-hes-exploit.ron");
    let bad = text.replacen("targets: Critical,", "targets: Critical,\n            batches: 3,", 1);
    let e = amirange::scenario::load(&path, &bad, &Overrides::default()).expect_err("invalid");
    assert!(e.message.contains("batches"), "{e}");
    let line = bad.lines().position(|l| l.contains("batches: 3")).expect("line") + 1;
    assert_eq!(e.position.map(|p| p.0), Some(line), "{e}");
    let no_id = text.replacen("id: \"md-critical\",", "", 1);
    let e = amirange::scenario::load(&path, &no_id, &Overrides::default()).expect_err("invalid");
    assert!(e.message.contains("`id`"), "{e}");
}

/// A jammer blocks the utility's own commands to the meters it covers: the same reads, sent
/// during the jam, are acknowledged without it and mostly fail with it.
#[test]
fn a_jammer_blocks_commands_to_the_meters_it_covers() {
    use amirange_sim::engine::{Input, Sim};
    use amirange_sim::hes::{CommandKind, CommandRequest};
    use amirange_sim::time::{SimDuration, SimTime};
    let (path, text) = file("jamming-constant.ron");
    let scenario = load_text(&path, &text, METERS);
    let hours = |h: u64| SimTime(SimDuration::from_hours(h).as_micros());
    let mut outcomes = Vec::new();
    for jammer in [false, true] {
        let net = scenario
            .topology
            .generate(scenario.seed(), scenario.class_kwh())
            .expect("generates");
        let centre = net.collectors[0].pos;
        let covered: Vec<u32> = (0..net.meters.len() as u32)
            .filter(|&m| {
                let site = &net.meters[m as usize];
                site.link == LinkKind::Mesh && site.pos.dist2(centre) <= 400.0 * 400.0
            })
            .collect();
        assert!(covered.len() >= 20, "the jammer covers mesh meters: {}", covered.len());
        let mut sim = Sim::new(scenario.sim.clone(), net).expect("builds");
        let mut campaign = if jammer {
            scenario.campaign().expect("valid")
        } else {
            amirange_attackers::Campaign::none()
        };
        campaign.prepare(&mut sim).expect("prepares");
        let credential = sim.credential("ops-alice").expect("account");
        let request = CommandRequest {
            credential,
            kind: CommandKind::Read,
            meters: covered.clone(),
            cause: Cause::Operation,
            purpose: "blue-team check".into(),
            approver: None,
        };
        sim.schedule(hours(12), Input::Command(request)).expect("valid");
        campaign.run_until(&mut sim, hours(14)).expect("runs");
        let audit = &sim.hes().audit[0];
        outcomes.push((audit.acked, audit.failed, covered.len() as u32));
    }
    let ((clear_acked, _, n), (jammed_acked, jammed_failed, _)) = (outcomes[0], outcomes[1]);
    assert!(
        clear_acked * 10 >= n * 9,
        "without the jammer the reads get through: {outcomes:?}"
    );
    assert!(jammed_acked * 4 <= n, "the jammer blocks most of them: {outcomes:?}");
    assert!(jammed_failed > 0, "{outcomes:?}");
}

/// A key extracted from one meter unlocks what shares it: under per-device keys that meter
/// alone, under a shared group key exactly the meters of its group.
#[test]
fn cloning_unlocks_exactly_the_meters_that_share_the_key() {
    for (name, group) in [("cloning-per-device.ron", 1u32), ("cloning-shared-key.ron", 250)] {
        let (path, text) = file(name);
        // Let the forgery run to the end, so that its reach shows in the final state.
        let text = text.replace("until: \"0d 18:00\",", "");
        let scenario = load_text(&path, &text, METERS);
        let finished = run(&scenario);
        let sim = &finished.sim;
        let skewed: Vec<u32> = (0..sim.n_meters() as u32)
            .filter(|&m| sim.meter(m).expect("meter").skew_by == 1)
            .collect();
        let first = 500 / group * group;
        let expected: Vec<u32> = (first..(first + group).min(METERS as u32)).collect();
        assert_eq!(skewed, expected, "{name}");
        assert_eq!(sim.fleet().meters_sharing_key(500), expected, "{name}");
        let rows = truth_rows(&scenario, &finished);
        let named = truth_meters(&rows, scenario.attacks[0].id());
        assert!(
            expected.iter().all(|m| named.contains(m)),
            "{name}: truth names them all"
        );
    }
}

/// Theft shows in the gap between what a transformer carried and what its meters recorded: on
/// the thieves' transformers the gap is the stolen energy, elsewhere it is nil. A magnet raises
/// the meter's tamper flag; a thief who defeats the sensor leaves none.
#[test]
fn theft_shows_in_the_transformer_energy_balance() {
    use amirange_sim::security::tamper;
    let (path, text) = file("theft-magnet.ron");
    // Let the magnets stay to the end, so that the flags show in the final state.
    let text = text.replace("until: \"0d 20:00\",", "");
    let scenario = load_text(&path, &text, METERS);
    let finished = run(&scenario);
    let sim = &finished.sim;
    let net = sim.network();
    let records = sim.records();
    let mut thieves_of = vec![0u32; net.transformers.len()];
    let mut flagged = 0;
    for m in 0..sim.n_meters() as u32 {
        let meter = sim.meter(m).expect("meter");
        if meter.skew_theft {
            thieves_of[net.meters[m as usize].transformer as usize] += 1;
            let flags = sim.fleet().tamper[m as usize];
            match meter.skew_by {
                1 => {
                    assert_eq!(flags & tamper::MAGNETIC, tamper::MAGNETIC, "a magnet raises the flag");
                    flagged += 1;
                }
                2 => assert_eq!(flags & tamper::COVER_OPEN, 0, "a defeated cover switch raises nothing"),
                other => panic!("meter {m} skewed by {other}"),
            }
        }
    }
    assert!(flagged > 0);
    let mut gap_total_mwh = 0u64;
    for (t, e) in records.transformer_mwh.iter().enumerate() {
        if thieves_of[t] == 0 {
            assert_eq!(e.true_mwh, e.registered_mwh, "transformer {t} has no thief and no gap");
        } else {
            assert!(
                e.true_mwh > e.registered_mwh,
                "transformer {t} carries more than its meters record"
            );
            gap_total_mwh += e.true_mwh - e.registered_mwh;
        }
    }
    let stolen: f64 = finished.metrics.attacks.iter().map(|a| a.blast_radius.kwh_stolen).sum();
    let gap = gap_total_mwh as f64 / 1e6;
    assert!(
        (gap - stolen).abs() <= 0.01 * stolen + 1.0,
        "gap {gap} kWh against stolen {stolen} kWh"
    );
    let csv = amirange::results::transformers_csv(records, net);
    assert_eq!(csv.lines().count(), net.transformers.len() + 1);
}

/// A replayed command executes nothing on meters that check frame counters, and acts on meters
/// that do not: the same captured frames, the same meters.
#[test]
fn replay_is_stopped_by_frame_counters_only() {
    let mut captured = Vec::new();
    for (name, counters) in [("replay-disconnect.ron", true), ("replay-no-counters.ron", false)] {
        let (path, text) = file(name);
        let scenario = load_text(&path, &text, METERS);
        let finished = run(&scenario);
        let sim = &finished.sim;
        let rows = truth_rows(&scenario, &finished);
        let mut heard: Vec<u32> = rows
            .iter()
            .filter(|r| r.1 == "capture")
            .flat_map(|r| r.2.iter().copied())
            .collect();
        heard.sort_unstable();
        assert!(!heard.is_empty(), "{name}: the radio hears disconnects");
        let opened_by_replay = (0..sim.n_meters() as u32)
            .filter(|&m| {
                let meter = sim.meter(m).expect("meter");
                meter.relay == Relay::Open && meter.relay_cause == Cause::Attack(0)
            })
            .count();
        let refused = sim.fleet().refused_frames.len();
        let step = if counters { "replay-refused" } else { "replay-accepted" };
        assert!(rows.iter().any(|r| r.1 == step), "{name}: truth has {step}");
        if counters {
            assert_eq!(refused, heard.len(), "{name}: every replayed frame refused");
            assert_eq!(opened_by_replay, 0, "{name}: nothing executed");
        } else {
            assert_eq!(refused, 0, "{name}");
            assert!(opened_by_replay > 0, "{name}: reconnected customers cut off again");
        }
        captured.push(heard);
    }
    assert_eq!(captured[0], captured[1], "the same frames were captured in both runs");
}

/// A command flood fills the HES's send queue: the utility's own commands requested during it
/// wait behind the junk far longer than the send rate alone would make them.
#[test]
fn a_command_flood_delays_legitimate_commands() {
    let (path, text) = file("command-flood.ron");
    let scenario = load_text(&path, &text, 10_000);
    let finished = run(&scenario);
    let b = &attack(&finished.metrics, "flood").blast_radius;
    assert!(b.legitimate_jobs_queued_behind > 0, "{b:?}");
    assert!(
        b.legitimate_queue_wait_s > 600.0,
        "legitimate commands wait minutes: {b:?}"
    );
    // 60 requests of 10,000 reads drain at 100 a second: the queue empties after 6,000 s.
    let restore = b.time_to_restore_s.expect("the queue drains within the day");
    assert!((5_900.0..=6_300.0).contains(&restore), "{restore}");
}

/// Lateral movement reaches the feeder breakers only where the HES's network is not segmented
/// from SCADA; the outage it causes counts toward it, not toward storms.
#[test]
fn segmentation_stops_lateral_movement_into_scada() {
    let (path, text) = file("lateral-movement.ron");
    for segmented in [false, true] {
        let text = text.replace(
            "security: (segmentation: false)",
            &format!("security: (segmentation: {segmented})"),
        );
        let scenario = load_text(&path, &text, METERS);
        let finished = run(&scenario);
        let a = attack(&finished.metrics, "pivot");
        let outages = &finished.sim.records().outages;
        if segmented {
            assert!(!a.succeeded && outages.is_empty(), "{a:?}");
            assert!(a.failure_reason.as_deref().unwrap_or("").contains("segmented"));
        } else {
            assert!(a.succeeded && outages.len() == 2, "{a:?}");
            assert!(outages.iter().all(|o| o.cause == Cause::Attack(0) && o.end.is_some()));
            let by_cause = &finished.metrics.supply.by_cause;
            assert_eq!(by_cause["outage"].customer_minutes_interrupted, 0.0, "not a storm");
            assert!(by_cause["attack"].customer_minutes_interrupted > 0.0);
        }
    }
}

/// A synchronised switch of enough load lowers the frequency in proportion to the swing, less
/// with more inertia and more with weaker governors (more droop), and trips under-frequency
/// load shedding past its threshold; a small swing does not.
#[test]
fn load_switching_moves_frequency_by_swing_inertia_and_droop() {
    let (path, text) = file("load-switching-ev.ron");
    let swing = |infected: &str, frequency: &str| {
        let text = text
            .replace("infected: 0.3,", &format!("infected: {infected},"))
            .replace(
                "inertia_s: 5.0,\n        droop: 0.05,\n        // An island grid holds a larger reserve for its size than an interconnection.\n        fcr_share: 0.1,",
                frequency,
            );
        let scenario = load_text(&path, &text, METERS);
        let finished = run(&scenario);
        let events = &finished.sim.frequency().events;
        let first = events
            .iter()
            .find(|e| e.cause == Cause::Attack(0).code())
            .expect("a disturbance")
            .clone();
        (first, finished.metrics.attacks[0].blast_radius.clone())
    };
    // A reserve as large as the load, so that it never runs out and the response stays linear.
    let typical = "inertia_s: 5.0, droop: 0.05, fcr_share: 1.0,";
    let (small, small_b) = swing("0.01", typical);
    let (double, _) = swing("0.02", typical);
    // Below the first stage: no load shed, nobody cut off.
    assert!(small.nadir_hz < 50.0 && small.nadir_hz > 49.0, "{small:?}");
    assert!(small.stages.is_empty() && small_b.ufls_shed_mw == 0.0 && small_b.peak_customers_disconnected == 0);
    // The deviation per MW of swing is the same for both swings (the model is linear).
    let per_mw = |e: &amirange_sim::frequency::FrequencyEvent| (50.0 - e.nadir_hz) / e.largest_step_mw;
    assert!(double.largest_step_mw > 1.5 * small.largest_step_mw);
    assert!(
        (per_mw(&double) / per_mw(&small) - 1.0).abs() < 0.01,
        "{small:?} {double:?}"
    );
    // Twice the inertia: a shallower dip; twice the droop: a deeper one.
    let (heavy, _) = swing("0.01", "inertia_s: 10.0, droop: 0.05, fcr_share: 1.0,");
    let (soft, _) = swing("0.01", "inertia_s: 5.0, droop: 0.1, fcr_share: 1.0,");
    assert!(per_mw(&heavy) < 0.9 * per_mw(&small), "{heavy:?}");
    assert!(per_mw(&soft) > 1.1 * per_mw(&small), "{soft:?}");
    // The file's swing trips the first stages and cuts customers off.
    let (large, large_b) = swing("0.3", "inertia_s: 5.0, droop: 0.05, fcr_share: 0.1,");
    assert!(
        large.nadir_hz < 49.0 && !large.stages.is_empty() && large.stages[0] == 0,
        "{large:?}"
    );
    assert!(large_b.ufls_shed_mw > 0.0 && large_b.peak_customers_disconnected > 0);
}

/// A rogue concentrator captures only radio meters in its range (and mesh meters routed through
/// them), none at all when meters authenticate the network, and with a downgrade first, exactly
/// the meters the downgrade reached.
#[test]
fn rogue_concentrator_captures_only_meters_in_range_and_none_with_mutual_auth() {
    let (path, text) = file("rogue-concentrator-drop.ron");
    let scenario = load_text(&path, &text, METERS);
    let finished = run(&scenario);
    let sim = &finished.sim;
    let net = sim.network();
    let center = net.collectors[0].pos;
    let in_range: HashSet<u32> = (0..net.meters.len() as u32)
        .filter(|&m| {
            let site = &net.meters[m as usize];
            site.link != LinkKind::Plc && site.pos.dist2(center) <= 300.0 * 300.0
        })
        .collect();
    let attached: Vec<u32> = sim.fleet().attached.iter().map(|a| a.0).collect();
    assert!(!attached.is_empty(), "some meters are in range");
    assert!(
        attached.iter().all(|m| in_range.contains(m)),
        "only meters in radio range attach"
    );
    let a = attack(&finished.metrics, "rogue-drop");
    assert!(a.succeeded && a.blast_radius.readings_lost > 0, "{a:?}");
    assert_eq!(a.blast_radius.meters_compromised, attached.len() as u64);
    // Ground truth names every attached meter.
    let rows = truth_rows(&scenario, &finished);
    let named = truth_meters(&rows, "rogue-drop");
    assert!(attached.iter().all(|m| named.contains(m)));

    // Mutual authentication on: nobody attaches, nothing is lost to the rogue.
    let text_auth = text.replace("security: (mutual_auth: false),", "security: (mutual_auth: true),");
    assert_ne!(text, text_auth);
    let finished = run(&load_text(&path, &text_auth, METERS));
    assert!(finished.sim.fleet().attached.is_empty());
    assert_eq!(finished.sim.fleet().refused_attach.len(), attached.len());
    let a = attack(&finished.metrics, "rogue-drop");
    assert!(!a.succeeded && a.blast_radius.readings_lost == 0, "{a:?}");
    assert!(
        a.failure_reason
            .as_deref()
            .unwrap_or("")
            .contains("mutual authentication")
    );

    // Downgrade first: exactly the downgraded meters attach, and only they obey forged commands.
    let (path, text) = file("downgrade-rogue-forge.ron");
    let finished = run(&load_text(&path, &text, METERS));
    let fleet = finished.sim.fleet();
    let downgraded: Vec<u32> = (0..fleet.downgraded_by.len() as u32)
        .filter(|&m| fleet.downgraded_by[m as usize] != 0)
        .collect();
    let mut attached: Vec<u32> = fleet.attached.iter().map(|a| a.0).collect();
    attached.sort_unstable();
    assert!(!downgraded.is_empty());
    assert_eq!(attached, downgraded);
    assert!(downgraded.iter().all(|&m| fleet.legacy[m as usize]));
    let forged = attack(&finished.metrics, "rogue-forge");
    assert_eq!(forged.blast_radius.peak_customers_disconnected, downgraded.len() as u64);
    assert_eq!(forged.blast_radius.readings_lost, 0, "a forging rogue passes reads on");
}

/// A downgrade defeats frame counters: the replay succeeds exactly on downgraded meters.
#[test]
fn downgraded_meters_accept_replays_that_others_refuse() {
    let (path, text) = file("downgrade-replay.ron");
    let finished = run(&load_text(&path, &text, METERS));
    let fleet = finished.sim.fleet();
    assert!(!fleet.accepted_frames.is_empty() && !fleet.refused_frames.is_empty());
    assert!(
        fleet
            .accepted_frames
            .iter()
            .all(|accepted| fleet.downgraded_by[accepted.meter_idx as usize] != 0)
    );
    assert!(
        fleet
            .refused_frames
            .iter()
            .all(|refused| fleet.downgraded_by[refused.meter_idx as usize] == 0)
    );
    // Without legacy-capable meters the downgrade fails, and so does the replay.
    let none = text.replace("security: (legacy_share: 0.4),", "security: (legacy_share: 0.0),");
    let finished = run(&load_text(&path, &none, METERS));
    assert!(!attack(&finished.metrics, "downgrade-for-replay").succeeded);
    assert!(!attack(&finished.metrics, "replay-downgraded").succeeded);
}

/// A connection flood beyond the front end's capacity costs readings and legitimate commands
/// while it lasts, and none after; one within capacity costs nothing.
#[test]
fn a_connection_flood_costs_reads_and_commands_only_beyond_capacity() {
    let (path, text) = file("connection-flood.ron");
    let finished = run(&load_text(&path, &text, METERS));
    let a = attack(&finished.metrics, "conn-flood");
    assert!(a.succeeded && a.blast_radius.readings_lost > 0, "{a:?}");
    // Reads are missing only in read cycles during the flood (12:00 to 14:00, slots 48 to 55)
    // or just after it (a cycle's upload happens when it closes).
    let rows = &finished.sim.records().intervals;
    let missing = |r: &amirange_sim::records::IntervalRow| r.reads_missing as f64 / METERS as f64;
    for r in rows {
        if (48..56).contains(&r.slot) {
            assert!(missing(r) > 0.3, "slot {}: {}", r.slot, missing(r));
        } else if r.slot < 47 || r.slot > 57 {
            assert!(missing(r) < 0.1, "slot {}: {}", r.slot, missing(r));
        }
    }
    let quiet = text.replace("connections_per_s: 20000,", "connections_per_s: 1500,");
    let finished = run(&load_text(&path, &quiet, METERS));
    let a = attack(&finished.metrics, "conn-flood");
    assert!(!a.succeeded && a.blast_radius.readings_lost == 0, "{a:?}");
    assert!(
        a.failure_reason
            .as_deref()
            .unwrap_or("")
            .contains("nothing was refused")
    );
}

/// Above 12,000 meters the map draws every `stride`-th meter and every critical facility; its
/// counts stay over the whole fleet.
#[test]
fn large_fleets_are_thinned_evenly_and_keep_every_critical_facility() {
    let overrides = Overrides {
        meters: Some(13_000),
        duration: Some("1d".into()),
        ..Overrides::default()
    };
    let scenario = amirange::scenario::load("<built-in quickstart>", amirange::QUICKSTART, &overrides)
        .unwrap_or_else(|e| panic!("{e}"));
    let finished = run(&scenario);
    let (csv, json) = finished.map.as_ref().expect("the map's files");
    let json: serde_json::Value = serde_json::from_slice(json).expect("map.json");
    assert_eq!(json["stride"], 2);
    let table = amirange_viz::Table::parse(csv);
    let (meter, facility) = (
        table.column("meter").expect("meter"),
        table.column("facility").expect("facility"),
    );
    let net = finished.sim.network();
    let critical: Vec<usize> = (0..net.meters.len())
        .filter(|&i| net.meters[i].facility.is_some())
        .collect();
    let drawn: Vec<usize> = table.rows.iter().map(|r| r[meter].parse().expect("a meter")).collect();
    let expected: Vec<usize> = (0..net.meters.len())
        .filter(|i| i % 2 == 0 || critical.contains(i))
        .collect();
    assert_eq!(drawn, expected, "every other meter, and every critical facility");
    assert_eq!(json["drawn"], drawn.len());
    assert_eq!(
        table.rows.iter().filter(|r| !r[facility].is_empty()).count(),
        critical.len()
    );
    let total: u64 = json["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .map(|c| c["meters"].as_u64().expect("a count"))
        .sum();
    assert_eq!(total, 13_000, "counts over the whole fleet");
    let svg = amirange_viz::blast_map_svg(csv, &json).expect("draws");
    assert!(svg.contains("one meter in 2 drawn, every critical facility"));
}

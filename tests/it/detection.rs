//! Detection and response against ground truth: a rate limit plus detection and response
//! bounds a mass disconnect to what the limit lets through until the response; the seed's MQTT
//! rule fires on a connection flood and stays silent on its baseline twin; every detector of the
//! hardened preset is quiet on a typical week; bad defense settings are located.

use amirange::run::Finished;
use amirange::scenario::{Overrides, Scenario};

fn load(text: &str, meters: i64) -> Scenario {
    let overrides = Overrides {
        meters: Some(meters),
        ..Overrides::default()
    };
    amirange::scenario::load("detection.ron", text, &overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn run(scenario: &Scenario) -> Finished {
    amirange::run::execute(scenario, |_, _| {}).expect("runs")
}

/// A mass disconnect of every residential customer at 17:30 with a phished operator account,
/// 50 meters every five minutes (hours of requests), against a per-account limit of 100 disconnects an hour; `defenses` adds
/// detection and response.
fn limited_mass_disconnect(detection: &str) -> String {
    format!(
        r#"Scenario(
    name: "limited",
    seed: 7,
    start: "2026-01-15T00:00:00",
    duration: "1d",
    topology: Preset("town-10k"),
    defenses: (
        command_policy: (disconnect_limit_per_account: (meters: 100, per: "1h")),
        {detection}
    ),
    attacks: [
        MassDisconnect(
            id: "md",
            at: "0d 17:30",
            access: Phishing(account: "ops-alice", success: 1.0, mfa_bypass: 1.0, at: "0d 09:00"),
            targets: Class(Residential),
            batch: 50,
            spacing: "5m",
        ),
    ],
)"#
    )
}

/// With only the rate limit, the attacker gets 100 meters an hour until the run ends. With the
/// command-rate detector and a playbook that freezes bulk commands and revokes the account 10
/// minutes after the alert, the attack gets no more than the limit allows in the time until the
/// response: one hour's window, 100 meters; and restoration reconnects them.
#[test]
fn a_rate_limit_bounds_a_mass_disconnect_until_detection_and_response() {
    let limit_only = run(&load(&limited_mass_disconnect(""), 2_000));
    let unanswered = limit_only.metrics.attacks[0].blast_radius.peak_customers_disconnected;
    assert!(
        unanswered > 100,
        "without a response the limit lets 100 an hour through: {unanswered}"
    );
    let answered = run(&load(
        &limited_mass_disconnect(
            r#"detectors: [CommandRate(window: "1h", account_meters: 40)],
        playbooks: [(on: ["command-rate"], severity: Medium, delay: "10m", actions: [FreezeBulk(10), RevokeAccount, Reconnect])],"#,
        ),
        2_000,
    ));
    let a = &answered.metrics.attacks[0];
    assert!(a.detected, "{a:?}");
    assert_eq!(a.first_detector.as_deref(), Some("command-rate"));
    let ttd = a.time_to_detect_s.expect("detected");
    // Detection plus the playbook's delay fall within the limit's first window: at most one
    // window's worth of meters.
    let windows = ((ttd + 600.0) / 3600.0).floor() as u64 + 1;
    let b = &a.blast_radius;
    assert!(
        b.peak_customers_disconnected <= windows * 100,
        "{} > {windows} x 100",
        b.peak_customers_disconnected
    );
    assert!(b.peak_customers_disconnected < unanswered);
    let d = &answered.metrics.defense;
    assert!(
        d.responses.iter().any(|r| r.ends_with("revoke-account ops-alice")),
        "{:?}",
        d.responses
    );
    assert!(d.reconnected > 0, "restoration reconnects the customers: {d:?}");
    assert!(
        b.time_to_restore_s.is_some(),
        "every customer is back before the run ends: {b:?}"
    );
    // Every alert is about the attack.
    let det = &answered.metrics.detectors[0];
    assert_eq!((det.name.as_str(), det.false_positives), ("command-rate", 0));
    assert!(det.true_positives >= 1 && det.recall == Some(1.0));
}

const FLOOD: &str = r#"Scenario(
    name: "flood",
    seed: 7,
    start: "2026-01-15T00:00:00",
    duration: "1d",
    topology: Preset("town-10k"),
    operations: Typical,
    defenses: (
        ids_rules: [
            "alert tcp any any -> $HES_NET 1883 (msg:\"MQTT excessive connection attempts\"; flow:to_server,not_established; threshold:type threshold, track by_src, count 10, seconds 60; sid:1000002; rev:2;)",
        ],
    ),
    attacks: [
        ConnectionFlood(id: "flood", at: "0d 12:00", until: "0d 14:00", target: HesFrontEnd, connections_per_s: 20000),
    ],
)"#;

/// The seed's MQTT rule, as written, fires on a connection flood from a botnet (true positives
/// only) and stays silent on the paired baseline twin, where collectors upload once a cycle.
#[test]
fn the_mqtt_rule_fires_on_a_connection_flood_and_not_on_its_baseline() {
    let scenario = load(FLOOD, 2_000);
    let attack = run(&scenario);
    let alerts = &attack.sim.records().alerts;
    assert!(!alerts.is_empty());
    assert!(alerts.iter().all(|a| a.detector == "ids:1000002"));
    // One alert per botnet host (200 by default), each counting the rule's many firings.
    assert_eq!(alerts.len(), 200, "{}", alerts.len());
    assert!(alerts.iter().all(|a| a.count > 100), "{:?}", &alerts[0]);
    let m = &attack.metrics;
    assert!(m.attacks[0].detected);
    assert_eq!(
        m.attacks[0].time_to_detect_s,
        Some(0.0),
        "ten connections within the first second"
    );
    assert_eq!(m.detectors[0].false_positives, 0);
    // The twin: the same uploads, no flood, no alert.
    let twin = run(&amirange::paired::twin(&scenario));
    assert!(!twin.sim.records().flows.is_empty(), "the sensor sees the uploads");
    assert!(
        twin.sim.records().alerts.is_empty(),
        "{:?}",
        twin.sim.records().alerts.first()
    );
    assert_eq!(twin.metrics.detectors[0].false_positives_per_day, 0.0);
}

/// The hardened preset's ten detectors and three IDS rules over a typical week of utility work
/// (non-payment disconnects and reconnects, moves, a firmware campaign, key rotations, demand
/// response, meter failures, storms) with no attack: each stays within its documented budget of
/// false positives (`amirange_defenses::spec::FALSE_POSITIVES_PER_DAY`).
#[test]
fn every_detector_is_quiet_on_a_typical_week() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/typical-week.ron"))
        .expect("the typical week ships");
    let mut scenario = load(&text, 3_000);
    scenario.apply_preset("hardened").expect("a preset");
    let done = run(&scenario);
    let m = &done.metrics;
    assert_eq!(m.detectors.len(), 13, "ten detectors and three rules");
    assert!(m.operations.as_ref().is_some_and(|o| o.planned.firmware_updates > 0));
    for d in &m.detectors {
        assert!(
            d.false_positives_per_day <= amirange_defenses::spec::FALSE_POSITIVES_PER_DAY,
            "{} raised {} false alerts in a week: {:?}",
            d.name,
            d.false_positives,
            done.sim
                .records()
                .alerts
                .iter()
                .filter(|a| a.detector == d.name)
                .take(3)
                .collect::<Vec<_>>()
        );
    }
    assert_eq!(
        m.defense.legitimate_refused, 0,
        "the hardened policy refuses no planned work"
    );
}

/// Bad defense settings name their field.
#[test]
fn bad_defense_settings_are_located() {
    let with = |defenses: &str| {
        format!(
            r#"Scenario(name: "bad", seed: 1, start: "2026-01-15T00:00:00", duration: "1h", topology: Preset("town-10k"), defenses: ({defenses}))"#
        )
    };
    let overrides = Overrides::default();
    let error = |defenses: &str| {
        amirange::scenario::load("bad.ron", &with(defenses), &overrides)
            .expect_err("refused")
            .to_string()
    };
    let e = error(r#"preset: "paranoid""#);
    assert!(e.contains("defenses.preset") && e.contains("typical-utility"), "{e}");
    let e = error(r#"preset: "hardened", detectors: [FrameCounter()]"#);
    assert!(e.contains("defenses.detectors") && e.contains("preset"), "{e}");
    let e = error(r#"ids_rules: ["alert tcp any any -> any 80 (content:\"GET\"; sid:1;)"]"#);
    assert!(e.contains("defenses.ids_rules[0]") && e.contains("content"), "{e}");
    let e = error(r#"detectors: [ZeroAtPeak(share: 2.0)]"#);
    assert!(e.contains("defenses.detectors[0].share"), "{e}");
    let e = error(r#"playbooks: [(on: ["nothing"], actions: [Reconnect])]"#);
    assert!(e.contains("defenses.playbooks[0].on[0]"), "{e}");
    let e = error(
        r#"detectors: [FrameCounter()], restoration: (account: "nobody"), playbooks: [(on: ["frame-counter"], actions: [Reconnect])]"#,
    );
    assert!(e.contains("defenses.restoration.account"), "{e}");
}

/// The hardened preset's responses put right what its detectors find: the firewall blocks the
/// flooding hosts the IDS names, a crew with a direction finder switches off the jammer near
/// the collector with a missing-read cluster, a crew inspects the meters of a transformer
/// whose balance is off and ends the bypasses; each cuts the attack's blast radius against the
/// `none` preset.
#[test]
fn hardened_responses_cut_what_the_detectors_find() {
    let file = |name: &str| {
        std::fs::read_to_string(format!("{}/scenarios/attacks/{name}", env!("CARGO_MANIFEST_DIR"))).expect("ships")
    };
    let under = |text: &str, preset: &str| {
        let mut s = load(text, 3_000);
        s.apply_preset(preset).expect("a preset");
        run(&s)
    };
    for (name, measure) in [
        ("connection-flood.ron", "readings_lost"),
        ("jamming-constant.ron", "readings_lost"),
        ("theft-bypass.ron", "kwh_stolen"),
    ] {
        let text = file(name);
        let open = under(&text, "none");
        let hard = under(&text, "hardened");
        let value = |f: &Finished| {
            let b = serde_json::to_value(&f.metrics.attacks[0].blast_radius).expect("json");
            b[measure].as_f64().expect("a number")
        };
        let (before, after) = (value(&open), value(&hard));
        assert!(before > 0.0, "{name}: the attack works without defenses");
        assert!(after < before, "{name}: {measure} {after} not below {before}");
        assert!(hard.metrics.attacks[0].detected, "{name}");
        let responses = &hard.metrics.defense.responses;
        let expected = match name {
            "connection-flood.ron" => "block-source",
            "jamming-constant.ron" => "hunt-jammer",
            _ => "inspect-meters",
        };
        assert!(responses.iter().any(|r| r.contains(expected)), "{name}: {responses:?}");
    }
}

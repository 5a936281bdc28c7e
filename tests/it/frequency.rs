//! The bulk system's frequency through the scenario: the defaults are Continental Europe's (a
//! loss of the reference incident stays within the system's limits), another interconnection
//! is one field away, the area's share follows from its own load, and LFSM-O limits an
//! over-frequency excursion.

use amirange::scenario::{Overrides, Scenario};
use amirange_sim::frequency::{Frequency, FrequencyConfig, Interconnection, TICK_US};
use amirange_sim::time::SimTime;

/// A scenario of a small town for an hour, with `frequency` as its frequency section (empty:
/// none).
fn scenario(frequency: &str) -> Result<Scenario, String> {
    let text = format!(
        r#"Scenario(
    name: "frequency",
    seed: 7,
    start: "2026-01-15T17:00:00",
    duration: "1h",
    topology: Preset("town-10k"),
    {frequency}
)"#
    );
    let overrides = Overrides {
        meters: Some(200),
        ..Overrides::default()
    };
    amirange::scenario::load("frequency.ron", &text, &overrides).map_err(|e| e.to_string())
}

/// The frequency configuration a scenario with `frequency` as its section runs with.
fn config(frequency: &str) -> FrequencyConfig {
    scenario(frequency).unwrap_or_else(|e| panic!("{e}")).sim.frequency
}

/// Frequency each second for `seconds` after a load step of `mw` (positive: more load) on the
/// system `config` describes, at its configured size.
fn trace(config: &FrequencyConfig, mw: f64, seconds: u64) -> (Vec<f64>, Frequency) {
    let system_mw = config.system_mw.expect("a sized system");
    let mut f = Frequency::new(config.clone(), system_mw);
    f.step(mw * 1000.0, 2);
    let hz = (1..=seconds)
        .map(|s| {
            f.tick(SimTime(s * TICK_US));
            f.hz()
        })
        .collect();
    (hz, f)
}

/// The loss of Continental Europe's 3,000 MW reference incident on the defaults: the nadir
/// stays above 49.2 Hz (SO GL's 800 mHz maximum instantaneous deviation) and no UFLS stage
/// trips; frequency then sits near the UCTE handbook's 180 mHz quasi-steady deviation. That
/// deviation is what the FCR and load self-regulation hold before frequency restoration, so it
/// is measured with AGC slowed to an hour: at 60 s it must lie within 5 mHz of the model's
/// 3,000 / (15,000 + 1,500) MW/Hz = 182 mHz (the handbook rounds to 180; the 5 mHz cover the
/// 1.7% of the imbalance the slowed AGC takes over in the minute and the FCR's last 0.25%).
/// With the default AGC (time constant 5 minutes) frequency is already on its way back at
/// 60 s, so there the deviation is smaller but of the same order.
#[test]
fn continental_europe_reference_incident_stays_above_49_2_hz_and_settles_near_180_mhz() {
    let defaults = config("");
    assert_eq!(defaults, FrequencyConfig::continental_europe());
    assert_eq!(defaults.interconnection, Interconnection::ContinentalEurope);
    let (hz, f) = trace(&defaults, 3_000.0, 120);
    let event = &f.events[0];
    assert!(event.nadir_hz > 49.2, "nadir {}", event.nadir_hz);
    assert!(event.stages.is_empty() && event.shed_mw == 0.0, "{event:?}");
    let at_60 = 50.0 - hz[59];
    assert!(at_60 > 0.100 && at_60 < 0.185, "deviation at 60 s with AGC: {at_60}");
    let no_agc = FrequencyConfig {
        agc_s: 3_600.0,
        ..defaults.clone()
    };
    let (hz, _) = trace(&no_agc, 3_000.0, 60);
    let quasi_steady = 50.0 - hz[59];
    assert!(
        (quasi_steady - 3_000.0 / 16_500.0).abs() < 0.005,
        "quasi-steady deviation {quasi_steady}"
    );
}

/// LFSM-O limits an over-frequency excursion: a sudden drop of 6,000 MW of load (twice the
/// reference incident, as when a system split leaves an area with surplus generation) takes
/// frequency past 51 Hz (where the time-limited band of the demand connection code begins)
/// with the FCR alone, and LFSM-O on its default settings (50.2 Hz, 5% droop) keeps it below
/// 50.6 Hz.
#[test]
fn lfsm_o_caps_an_over_frequency_overshoot() {
    let with = config("");
    let without = config("frequency: (lfsm_o_share: 0.0),");
    let peak = |c: &FrequencyConfig| trace(c, -6_000.0, 120).1.events[0].peak_hz;
    let (capped, unchecked) = (peak(&with), peak(&without));
    assert!(capped < 50.6, "with LFSM-O: {capped}");
    assert!(unchecked > 51.0, "without LFSM-O: {unchecked}");
}

/// One field picks another interconnection's defaults; single fields still override them;
/// a nominal frequency of 60 Hz moves the UFLS stages and the LFSM-O threshold with it.
#[test]
fn another_interconnection_is_one_field_away_and_fields_still_override() {
    assert_eq!(
        config("frequency: (interconnection: GreatBritain),"),
        FrequencyConfig::great_britain()
    );
    let ercot = config("frequency: (interconnection: Ercot, inertia_s: 3.0),");
    assert_eq!(
        ercot,
        FrequencyConfig {
            inertia_s: 3.0,
            ..FrequencyConfig::ercot()
        }
    );
    assert_eq!(ercot.nominal_hz, 60.0);
    let sixty = config("frequency: (nominal_hz: 60.0),");
    assert_eq!(sixty.ufls[0].below_hz, 59.3);
    assert!((sixty.lfsm_o_hz - 60.2).abs() < 1e-9);
    assert!((sixty.damping - 0.6).abs() < 1e-9, "1%/Hz at 60 Hz");
}

/// By default the system is the interconnection (150 GW), whatever the area, so the area's
/// share is its own peak over that; `area_share` sizes the system from the area instead
/// (an island grid); giving both is refused, naming the field.
#[test]
fn the_area_share_follows_from_the_area_and_the_interconnection() {
    let run = |frequency: &str| {
        let scenario = scenario(frequency).unwrap_or_else(|e| panic!("{e}"));
        amirange::run::execute(&scenario, |_, _| {}).expect("runs")
    };
    let default = run("");
    assert_eq!(default.sim.frequency().system_mw, 150_000.0);
    assert_eq!(default.metrics.frequency.system_mw, 150_000.0);
    let island = run("frequency: (area_share: 0.4),");
    let system_mw = island.sim.frequency().system_mw;
    // 200 meters of the town at its winter peak: well under a megawatt, over 0.4.
    assert!(system_mw > 0.1 && system_mw < 5.0, "{system_mw}");
    let both = scenario("frequency: (area_share: 0.4, system_mw: 1000.0),").expect_err("both");
    assert!(both.contains("frequency.area_share"), "{both}");
}

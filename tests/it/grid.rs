//! The grid: technical losses of the distribution network, protection against overload, and
//! the rate of equipment faults and storms per customer whatever the area's size.

use amirange::run::Finished;
use amirange::scenario::{Overrides, Scenario};

fn load(text: &str, meters: i64) -> Scenario {
    let overrides = Overrides {
        meters: Some(meters),
        ..Overrides::default()
    };
    amirange::scenario::load("grid.ron", text, &overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn run(scenario: &Scenario) -> Finished {
    amirange::run::execute(scenario, |_, _| {}).expect("runs")
}

/// A winter weekday of a small town with no operations or attacks.
fn quiet_day(extra: &str) -> String {
    format!(
        r#"Scenario(
    name: "grid",
    seed: 11,
    start: "2026-01-15T00:00:00",
    duration: "1d",
    topology: Preset("town-10k"),
    {extra}
)"#
    )
}

/// Technical losses (MV lines, MV/LV transformers' no-load and load losses, LV networks) over
/// a winter day of a small area are 4-6% of the energy delivered into MV, the range of
/// well-meshed western European distribution grids (CEER, 3rd Report on Power Losses).
#[test]
fn typical_day_of_a_small_area_loses_four_to_six_percent() {
    let done = run(&load(&quiet_day(""), 2_000));
    let losses = done.metrics.energy.losses_pct;
    assert!((4.0..=6.0).contains(&losses), "technical losses {losses:.2}%");
}

/// Normal load never trips anything; an overload does. Here a botnet switches on the 22 kW
/// wallboxes of every household at the evening peak for two hours: the feeders' overcurrent
/// relays trip them, each trip is recorded with its cause ("protection trip: overload") and
/// the feeder, it starts an outage, and a crew recloses the feeder an hour later.
#[test]
fn an_overload_trips_the_feeder_with_its_cause_and_normal_load_does_not() {
    use amirange_sim::records::{Equipment, GridEventKind};
    let quiet = run(&load(&quiet_day(""), 2_000));
    assert!(quiet.sim.records().grid_events.is_empty(), "normal load trips nothing");
    let attack = r#"attacks: [
        LoadSwitching(
            id: "botnet-ev",
            at: "0d 18:00",
            targets: Class(Residential),
            device: EvCharger,
            infected: 1.0,
            kw: 22.0,
            on_for: "2h",
            off_for: "15m",
            cycles: 1,
        ),
    ],"#;
    let overload = run(&load(&quiet_day(attack), 2_000));
    let records = overload.sim.records();
    let trip = records.grid_events.first().expect("the overload trips a feeder");
    assert_eq!(trip.kind, GridEventKind::OverloadTrip);
    assert_eq!(trip.kind.describe(), "protection trip: overload");
    assert!(trip.load_share > 1.5, "tripped at {} x rating", trip.load_share);
    let Equipment::Feeder(feeder) = trip.equipment else {
        panic!("a feeder trips, not {:?}", trip.equipment)
    };
    let outage = &records.outages[trip.outage.expect("the trip starts an outage") as usize];
    assert_eq!((outage.feeder, outage.start), (feeder, trip.time));
    let back = outage.end.expect("reclosed within the day");
    assert_eq!(back.0 - outage.start.0, 3_600_000_000, "a crew recloses an hour later");
}

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

/// Every home's EV charger switched on at 22 kW at 18:00 for two hours: enough to overload
/// feeders and transformers.
const EV_BOTNET: &str = r#"attacks: [
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
/// relays trip them, each trip is recorded with why ("protection trip: overload"), the feeder
/// and what it is booked to (the botnet's attack, whose load pushed the feeder over), it starts
/// an outage of that cause, and a crew recloses the feeder an hour later.
#[test]
fn an_overload_trips_the_feeder_with_its_cause_and_normal_load_does_not() {
    use amirange_sim::records::{Equipment, GridEventKind};
    let quiet = run(&load(&quiet_day(""), 2_000));
    assert!(quiet.sim.records().grid_events.is_empty(), "normal load trips nothing");
    let attack = EV_BOTNET;
    let overload = run(&load(&quiet_day(attack), 2_000));
    let records = overload.sim.records();
    // Transformers' thermal protection may trip some of them as well, in the same instant.
    let trip = records
        .grid_events
        .iter()
        .find(|e| matches!(e.equipment, Equipment::Feeder(_)))
        .expect("the overload trips a feeder");
    assert_eq!(trip.kind, GridEventKind::OverloadTrip);
    assert_eq!(trip.kind.describe(), "protection trip: overload");
    assert!(trip.load_share > 1.5, "tripped at {} x rating", trip.load_share);
    let Equipment::Feeder(feeder) = trip.equipment else {
        panic!("a feeder trips, not {:?}", trip.equipment)
    };
    let outage = &records.outages[trip.outage.expect("the trip starts an outage") as usize];
    assert_eq!((outage.feeder, outage.start), (feeder, trip.time));
    assert_eq!(
        trip.cause,
        amirange_sim::model::Cause::Attack(0),
        "booked to the botnet"
    );
    assert_eq!(outage.cause, trip.cause);
    let back = outage.end.expect("reclosed within the day");
    assert_eq!(back.0 - outage.start.0, 3_600_000_000, "a crew recloses an hour later");
}

/// Per-customer exposure to faults and storms does not depend on the area's size: the planner's
/// customer interruptions per customer (SAIFI, storms included, ten times the default rates so
/// that the counts are large) over a year, averaged over three seeds, of a 5,000-meter and a
/// 20,000-meter area of the same kind differ by less than a factor of two
/// (the 10k town's SAIFI differed about 50-fold from the 1M city's when storms came at a fixed
/// rate per area). The crews scale with the customers, and in a storm they queue.
#[test]
fn outage_exposure_per_customer_does_not_depend_on_the_areas_size() {
    use amirange_sim::config::SimConfig;
    use amirange_sim::engine::Sim;
    use amirange_sim::model::CustomerClass;
    use amirange_sim::operations::{OperationsConfig, plan};
    use amirange_sim::time::{CivilDateTime, SimDuration};
    let text = amirange_topologies::preset("town-10k").expect("preset");
    let kwh = CustomerClass::ALL.map(|c| SimConfig::default_class(c).mean_annual_kwh);
    let start = CivilDateTime::parse("2026-01-01T00:00").expect("valid");
    let mut ops = OperationsConfig::typical();
    // Ten times the faults and storms, so that 90 days give enough of them to compare.
    ops.mv_faults_per_100km_per_year *= 10.0;
    ops.transformer_failures_per_1000_per_year *= 10.0;
    ops.storms_per_year_at_a_place *= 10.0;
    let saifi = |meters: i64, seed: u64| {
        let area = amirange::scenario::load_area("town-10k", text, Some(meters)).expect("valid preset");
        let net = area.generate(seed, kwh).expect("generates");
        let n = net.meters.len() as u64;
        let mut sim = Sim::new(SimConfig::with_defaults(seed, start, SimDuration::from_days(365)), net).expect("valid");
        let counts = plan(&mut sim, &ops).expect("plans");
        let interrupted: u64 = counts.interruptions.iter().map(|i| u64::from(i.customers)).sum();
        eprintln!(
            "{meters} meters: {:?}",
            (counts.storms, counts.feeder_outages, counts.transformer_outages)
        );
        (
            interrupted as f64 / n as f64,
            counts.crews,
            counts.longest_crew_wait_minutes,
        )
    };
    let mean = |meters: i64| {
        let runs: Vec<(f64, u64, u64)> = (1..=3).map(|seed| saifi(meters, seed)).collect();
        let wait = runs.iter().map(|r| r.2).max().unwrap_or(0);
        (runs.iter().map(|r| r.0).sum::<f64>() / 3.0, runs[0].1, wait)
    };
    let (small, small_crews, _) = mean(5_000);
    let (large, large_crews, large_wait) = mean(20_000);
    assert!(large_wait > 0, "in a storm, faults wait for a free crew");
    assert!(small > 0.0 && large > 0.0, "{small} {large}");
    let ratio = large / small;
    assert!((0.5..=2.0).contains(&ratio), "SAIFI {small:.3} vs {large:.3}");
    assert_eq!((small_crews, large_crews), (1, 2));
}

/// With transformer thermal protection on by default (1.5 x rating) and every transformer rated
/// from its premises' planned peak (an interval-metered premise's from its own consumption), a
/// normal weekday of 3,000 meters of every preset trips nothing, in January's cold and in
/// July (with class-mean ratings, seed 1 tripped 2 to 8 transformers a day in each preset).
/// `a_transformer_overload_trips_its_thermal_protection_by_default`, among the engine's tests,
/// trips one.
#[test]
fn a_normal_day_of_every_preset_trips_nothing() {
    for (name, _) in amirange_topologies::PRESETS {
        for (date, seed) in [("2026-01-15", 1), ("2026-01-15", 5), ("2026-07-16", 1)] {
            let text = format!(
                r#"Scenario(name: "quiet", seed: {seed}, start: "{date}T00:00:00", duration: "1d", topology: Preset("{name}"))"#
            );
            let done = run(&load(&text, 3_000));
            let events = &done.sim.records().grid_events;
            assert!(events.is_empty(), "{name} on {date}, seed {seed}: {:?}", events.first());
        }
    }
}

/// The grid's losses and protection are scenario fields: doubling the LV networks' losses at
/// rating raises the day's losses; with feeder and transformer protection turned off (`inf`),
/// the EV botnet that trips feeders trips nothing; and a pickup below the rating is refused,
/// naming the field.
#[test]
fn losses_and_protection_are_scenario_fields() {
    let base = run(&load(&quiet_day(""), 2_000)).metrics.energy.losses_pct;
    let lossy = run(&load(
        &quiet_day("grid: (losses: (lv_load_loss_at_rating: 0.14)),"),
        2_000,
    ))
    .metrics
    .energy
    .losses_pct;
    assert!(lossy > base + 0.5, "losses {base}% and {lossy}%");
    let botnet = EV_BOTNET;
    let protected = run(&load(&quiet_day(botnet), 2_000));
    assert!(
        !protected.sim.records().grid_events.is_empty(),
        "the botnet trips equipment"
    );
    let off = format!("grid: (protection: (feeder_pickup: inf, transformer_trip_loading: inf)), {botnet}");
    let unprotected = run(&load(&quiet_day(&off), 2_000));
    assert!(unprotected.sim.records().grid_events.is_empty(), "nothing left to trip");
    let err = amirange::scenario::load(
        "grid.ron",
        &quiet_day("grid: (protection: (feeder_pickup: 0.5)),"),
        &Overrides::default(),
    )
    .expect_err("a pickup below the rating");
    assert_eq!(err.field.as_deref(), Some("grid.protection.feeder_pickup"), "{err}");
    let err = amirange::scenario::load(
        "grid.ron",
        &quiet_day("grid: (losses: (power_factor: 1.2)),"),
        &Overrides::default(),
    )
    .expect_err("a power factor above one");
    assert_eq!(err.field.as_deref(), Some("grid.losses.power_factor"), "{err}");
}

//! Communications as a utility sees them: daily read rates per link kind with chronic
//! non-communicators dark for days.

use amirange::run::Finished;
use amirange::scenario::{Overrides, Scenario};
use amirange_sim::model::LinkKind;
use amirange_sim::network::Orphan;

/// A town of 3,000 meters over three winter days, without operations or attacks (so that
/// nothing but communication faults keeps meters from being read).
fn quiet_town(days: u32) -> Scenario {
    let text = format!(
        r#"Scenario(
    name: "comms",
    description: "daily read rate",
    seed: 7,
    start: "2026-01-15T00:00:00",
    duration: "{days}d",
    topology: Preset("town-10k"),
    operations: None,
    attacks: [],
)"#
    );
    let overrides = Overrides {
        meters: Some(3_000),
        ..Overrides::default()
    };
    amirange::scenario::load("comms.ron", &text, &overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn run(scenario: &Scenario) -> Finished {
    amirange::run::execute(scenario, |_, _| {}).expect("runs")
}

/// By default the daily read rate of every link kind (meter-days whose register reached the
/// HES that day) lies between 98 % and 99.5 %, as in deployed AMI fleets, and the misses come
/// from chronic non-communicators: a few per cent of meters, each dark for days on end, some
/// dark now.
#[test]
fn the_daily_read_rate_of_every_link_kind_is_between_98_and_99_5_percent_with_chronic_non_communicators() {
    let scenario = quiet_town(3);
    let finished = run(&scenario);
    let reads = &finished.metrics.reads;
    for kind in LinkKind::ALL {
        let l = &reads.by_link[kind.name()];
        assert_eq!(
            l.meter_days,
            l.meters * 3,
            "{}: three whole days per meter",
            kind.name()
        );
        assert!(
            (98.0..=99.5).contains(&l.daily_read_pct),
            "{}: daily read rate {}%",
            kind.name(),
            l.daily_read_pct
        );
    }
    let state = finished.sim.net_state();
    let n = finished.sim.network().meters.len();
    let chronic = state.chronic.len();
    assert!(
        (n / 100..=n * 3 / 100).contains(&chronic),
        "{chronic} chronic non-communicators among {n} meters"
    );
    // Dark ones now are unreachable with their radio down, and nothing else is.
    let dark = state.dark.iter().filter(|&&d| d).count();
    assert!(dark > 0 && dark < chronic, "{dark} of {chronic} dark at the end");
    let orphans = state.reach_summary().orphans;
    let radio_down = orphans[Orphan::ALL
        .iter()
        .position(|&o| o == Orphan::RadioDown)
        .expect("listed")];
    assert_eq!(radio_down, dark as u64);
    // Their intervals were estimated; those still in memory when a meter came back were
    // backfilled, the rest reconciled from its register.
    assert!(reads.unrecoverable > 0 && reads.backfilled > 0);
}

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

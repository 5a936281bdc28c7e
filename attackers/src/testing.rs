//! Helpers for the attack modules' unit tests: a small world, a context, and a whole run.

use amirange_sim::config::SimConfig;
use amirange_sim::engine::Sim;
use amirange_sim::model::{CustomerClass, LinkKind};
use amirange_sim::network::{LinkParams, Network};
use amirange_sim::time::{CivilDateTime, SimDuration, SimTime};

use crate::{AttackSpec, Campaign, Context, FieldError, Header, Report};

/// The run's length in the tests: six hours from midnight.
pub(crate) const HOURS: u64 = 6;

/// The engine configuration of the tests' world (seed 7, 15 January 2026, six hours).
pub(crate) fn config() -> SimConfig {
    let start = CivilDateTime::parse("2026-01-15T00:00").expect("valid date");
    SimConfig::with_defaults(7, start, SimDuration::from_hours(HOURS))
}

/// What validation knows of the tests' world.
pub(crate) fn context() -> Context {
    let config = config();
    Context {
        start: config.start,
        horizon: SimTime(SimDuration::from_hours(HOURS).as_micros()),
        accounts: config.hes.accounts.clone(),
    }
}

/// A world of `meters` residential mesh meters within 100 m of one collector.
pub(crate) fn sim(meters: u32) -> Sim {
    sim_with(meters, |_| {})
}

/// A header with `id` starting `at`.
pub(crate) fn header(id: &str, at: &str) -> Header {
    Header {
        id: id.to_owned(),
        at: at.to_owned(),
    }
}

/// The field error `spec` fails validation with, as a result.
pub(crate) fn check(spec: &AttackSpec) -> Result<(), FieldError> {
    spec.build(0, &context()).map(|_| ())
}

/// A world of `meters` meters like [`sim`]'s, with its configuration changed by `configure`
/// first (a fleet with legacy meters, shared keys, no frame counters).
pub(crate) fn sim_with(meters: u32, configure: impl FnOnce(&mut SimConfig)) -> Sim {
    let network = Network::small(
        LinkParams::typical(),
        (0..meters).map(|_| (CustomerClass::Residential, LinkKind::Mesh)),
    );
    let mut config = config();
    configure(&mut config);
    Sim::new(config, network).expect("valid world")
}

/// Runs `spec` alone over a world of `meters` meters to the end: the world and its report.
pub(crate) fn run(spec: AttackSpec, meters: u32) -> (Sim, Report) {
    run_in(spec, sim(meters))
}

/// Runs `spec` alone over `sim` to the end: the world and its report.
pub(crate) fn run_in(spec: AttackSpec, mut sim: Sim) -> (Sim, Report) {
    let mut campaign = Campaign::new(&[spec], &context()).expect("valid attack");
    campaign.prepare(&mut sim).expect("prepares");
    let end = sim.horizon();
    campaign.run_until(&mut sim, end).expect("runs");
    campaign.finish(&mut sim);
    let mut reports = campaign.reports(&sim);
    let report = reports.pop().expect("one report");
    (sim, report)
}

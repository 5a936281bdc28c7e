//! # amirange-measures: what a run measured, from the engine's records
//!
//! Pure functions from a finished (or running) [`Sim`](amirange_sim::engine::Sim) and the
//! attacks' reports to the measures a run writes and shows:
//!
//! - [`metrics`]: every measure of `metrics.json` (energy, reads, supply, control plane,
//!   operations, outages, fleet, frequency), computed from the engine's records and counters.
//! - [`attack_metrics`]: each attack's blast radius, from the engine's per-attack records
//!   joined with the attack's own report.
//! - [`detection`]: alerts scored against ground truth: which attack each alert matches, each
//!   detector's precision, recall and false positives, each attack's time to detect.
//! - [`blast`]: the blast-radius map's data at the run's worst moment (every meter's condition,
//!   the affected feeders, the jammer areas).
//! - [`scoreboard`]: a live exercise's points, by the exercise's rules.
//!
//! This crate reads no file, clock or terminal and knows no scenario format, command line or
//! result-file layout: the root package (`src/`) gives it the engine and what it needs of the
//! scenario, and writes what it returns. It does not depend on the defense library either:
//! what scoring needs of the defender comes in as [`detection::DefenseLog`].

pub mod attack_metrics;
pub mod blast;
pub mod detection;
pub mod metrics;
pub mod scoreboard;

/// Powers of ten, exact, for [`round_to`].
const POWERS_OF_TEN: [f64; 10] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Rounds `x` to `decimals` decimal places (at most 9), so that result files carry no noise
/// digits: `round_to(95.7645831, 6)` is `95.764583`. Halves round away from zero.
pub fn round_to(x: f64, decimals: usize) -> f64 {
    let scale = POWERS_OF_TEN[decimals.min(POWERS_OF_TEN.len() - 1)];
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::round_to;

    #[test]
    fn rounding_keeps_the_asked_decimals_and_is_what_the_division_gives() {
        assert_eq!(round_to(95.7645831, 6), 95.764583);
        assert_eq!(round_to(2.5, 0), 3.0);
        assert_eq!(round_to(-2.5, 0), -3.0);
        assert_eq!(round_to(0.125, 2), 0.13);
        assert_eq!(round_to(1.0 / 3.0, 9), 0.333333333);
        // Beyond nine decimals is nine decimals.
        assert_eq!(round_to(1.0 / 3.0, 12), round_to(1.0 / 3.0, 9));
        for x in [0.1, 12345.678901, -7.77777, 1e-7] {
            assert_eq!(round_to(x, 4), (x * 1e4).round() / 1e4);
            assert_eq!(round_to(x, 6), (x * 1e6).round() / 1e6);
        }
    }
}

/// Small worlds and reports the unit tests measure.
#[cfg(test)]
pub(crate) mod testing {
    use amirange_attackers::{Outcome, Report};
    use amirange_sim::config::SimConfig;
    use amirange_sim::engine::{Input, Sim};
    use amirange_sim::model::{Cause, CustomerClass, LinkKind, Relay};
    use amirange_sim::network::{LinkParams, Network};
    use amirange_sim::time::{CivilDateTime, SimDuration, SimTime};

    /// The configuration of a world of `hours` from 2026-01-15.
    pub fn config(hours: u64) -> SimConfig {
        let start = CivilDateTime::parse("2026-01-15").expect("a date");
        SimConfig::with_defaults(7, start, SimDuration::from_hours(hours))
    }

    /// A world of `n` residential cellular meters on one transformer and feeder, `hours` long.
    pub fn world(n: u32, hours: u64) -> Sim {
        let network = Network::small(
            LinkParams::typical(),
            (0..n).map(|_| (CustomerClass::Residential, LinkKind::Cellular)),
        );
        Sim::new(config(hours), network).expect("a valid world")
    }

    /// Seconds from the start as a time.
    pub fn at_s(seconds: u64) -> SimTime {
        SimTime(seconds * 1_000_000)
    }

    /// Opens `meter`'s relay at `open_s` for `cause`, and closes it at `close_s` if given.
    pub fn cut(sim: &mut Sim, meter: u32, cause: Cause, open_s: u64, close_s: Option<u64>) {
        let input = |relay| Input::SetRelay { meter, relay, cause };
        sim.schedule(at_s(open_s), input(Relay::Open)).expect("in the run");
        if let Some(close) = close_s {
            sim.schedule(at_s(close), input(Relay::Closed)).expect("in the run");
        }
    }

    /// A mass disconnect's report: `id`, started at `start_s`, successful.
    pub fn report(id: &str, start_s: u64) -> Report {
        let outcome = Outcome::new(at_s(start_s), 1, Ok(format!("{id} did it")));
        Report::new(id, &amirange_attackers::mass_disconnect::TAGS, outcome)
    }
}

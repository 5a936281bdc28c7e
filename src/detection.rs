//! Detection scored against ground truth: [`amirange_measures::detection`], given what the
//! defender did.

use amirange_attackers::Report;
use amirange_defenses::Defender;
pub use amirange_measures::detection::*;
use amirange_sim::engine::Sim;

/// Scores the run's alerts against its attacks' ground truth, with `defender`'s detectors and
/// responses (see [`amirange_measures::detection::score`]).
pub fn score(sim: &Sim, reports: &[Report], defender: Option<&Defender>, preset: Option<&str>) -> Scored {
    let names = defender.map(Defender::detector_names).unwrap_or_default();
    let log = defender.map(|d| {
        let log = d.log();
        DefenseLog {
            detector_names: &names,
            actions: &log.actions,
            reconnected: log.reconnected,
            rolled_back: log.rolled_back,
            truck_rolls: log.truck_rolls,
        }
    });
    amirange_measures::detection::score(sim, reports, log.as_ref(), preset)
}

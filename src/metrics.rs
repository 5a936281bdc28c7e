//! The measures of a run (`metrics.json`): [`amirange_measures::metrics`], computed for a
//! scenario.

pub use amirange_measures::metrics::*;
use amirange_sim::engine::Sim;
use amirange_sim::operations::PlanCounts;

use crate::scenario::Scenario;

/// Computes the metrics of a finished run of `scenario` (see
/// [`amirange_measures::metrics::compute`]).
pub fn compute(
    scenario: &Scenario,
    sim: &Sim,
    planned: Option<&PlanCounts>,
    attacks: &[amirange_attackers::Report],
) -> Metrics {
    amirange_measures::metrics::compute(sim, &scenario.sim, scenario.meters(), planned, attacks)
}

//! The blast-radius map's files, `map.csv` and `map.json`, written from the map data
//! [`amirange_measures::blast`] takes from the run's worst moment.

use std::fmt::Write as _;

use amirange_measures::blast::{BlastMap, MAX_DRAWN};
use amirange_sim::engine::Sim;

use crate::scenario::Scenario;

pub use amirange_measures::blast::{MapMeter, MapSummary};

/// The header of `map.csv`.
pub const MAP_HEADER: &str = "meter,x_m,y_m,feeder,transformer,class,facility,condition";

/// The map's files, `map.csv` and `map.json`, from the worst moment the engine kept (see
/// [`Sim::watch_worst_moment`]); `None` when it kept none.
pub fn files(scenario: &Scenario, sim: &Sim) -> Option<(String, Vec<u8>)> {
    let ids: Vec<&str> = scenario.attacks.iter().map(|a| a.id()).collect();
    let map = amirange_measures::blast::worst_moment_map(sim, scenario.sim.start, &ids)?;
    Some(render(&map))
}

/// `map.csv`'s text and `map.json`'s bytes.
fn render(map: &BlastMap) -> (String, Vec<u8>) {
    let mut csv = String::with_capacity(map.meters.len().min(MAX_DRAWN + 1000) * 48 + 100);
    csv.push_str(MAP_HEADER);
    csv.push('\n');
    for m in &map.meters {
        let _ = writeln!(
            csv,
            "{},{:.1},{:.1},{},{},{},{},{}",
            m.meter,
            m.x_m,
            m.y_m,
            m.feeder,
            m.transformer,
            m.class,
            m.facility,
            m.condition.name()
        );
    }
    let mut bytes = serde_json::to_vec_pretty(&map.summary).unwrap_or_default();
    bytes.push(b'\n');
    (csv, bytes)
}

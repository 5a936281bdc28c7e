//! The blast-radius map's data: every meter's condition at the run's worst moment, with the
//! jammer areas, the affected feeders and the critical facilities, written as `map.csv` and
//! `map.json` so that the map is drawn from result files alone (`amirange-viz`).
//!
//! The worst moment is kept by the engine when asked ([`Sim::watch_worst_moment`]): at each
//! interval close, before anything dated at that instant happens, it scores the damage —
//! customers off supply (every cause), plus the interval reads missing when a read cycle closes
//! with the interval (0 between cycle closes), plus meters held by attacks (running an attack's
//! firmware or downgraded) — and takes every meter's condition on a new high; the earliest
//! wins a tie. The score comes from the interval's row and two dense fleet arrays; the pass
//! over the meters happens only on a new high.

use std::fmt::Write as _;

use amirange_sim::config::INTERVAL;
use amirange_sim::engine::{Sim, WorstMoment};
use amirange_sim::model::MeterCondition;
use amirange_sim::network::Network;
use amirange_sim::time::SimDuration;
use serde::Serialize;

use crate::scenario::Scenario;

/// Meters drawn at most; larger fleets are thinned evenly (every `stride`-th meter) and every
/// critical facility is kept. The counts in `map.json` are over the whole fleet.
pub const MAX_DRAWN: usize = 12_000;

/// The header of `map.csv`.
pub const MAP_HEADER: &str = "meter,x_m,y_m,feeder,transformer,class,facility,condition";

/// The map's files, `map.csv` and `map.json`, from the worst moment the engine kept (see
/// [`Sim::watch_worst_moment`]); `None` when it kept none.
pub fn files(scenario: &Scenario, sim: &Sim) -> Option<(String, Vec<u8>)> {
    let moment = sim.worst_moment()?;
    Some(render(scenario, sim.network(), sim, moment))
}

/// `map.json`.
#[derive(Serialize)]
struct MapJson {
    /// When the map is.
    moment: MomentJson,
    /// Meters in the fleet.
    meters: usize,
    /// Meters in `map.csv`: every `stride`-th, and every critical facility.
    drawn: usize,
    stride: usize,
    /// Meters per condition, over the whole fleet.
    conditions: Vec<Count>,
    /// Critical facilities, and how many were off supply.
    critical: usize,
    critical_off: usize,
    /// The service area, metres.
    bounds: [f32; 4],
    substations: Vec<[f32; 2]>,
    /// Feeders with a meter off supply or held by an attack, each drawn as the substation then
    /// its transformers in order.
    feeders: Vec<FeederJson>,
    /// Radio interference areas (jammers) placed in the run.
    areas: Vec<AreaJson>,
}

#[derive(Serialize)]
struct MomentJson {
    /// The interval that had just closed.
    slot: u32,
    /// The end of that interval.
    time: String,
    time_s: f64,
    score: u64,
    why: &'static str,
}

#[derive(Serialize)]
struct Count {
    condition: &'static str,
    meters: u64,
}

#[derive(Serialize)]
struct FeederJson {
    id: u32,
    substation: u32,
    meters: u64,
    off_attack: u64,
    off_outage: u64,
    off_operation: u64,
    compromised: u64,
    unread: u64,
    path: Vec<[f32; 2]>,
}

#[derive(Serialize)]
struct AreaJson {
    kind: &'static str,
    attack: Option<String>,
    x: f32,
    y: f32,
    radius_m: f32,
    strength: f32,
    reactive: bool,
    start: String,
    end: String,
    /// Whether it was transmitting at the moment.
    on: bool,
}

const WHY: &str = "the interval close with the most customers off supply, plus reads missing at a read-cycle close, plus meters held by attacks";

fn render(scenario: &Scenario, net: &Network, sim: &Sim, moment: &WorstMoment) -> (String, Vec<u8>) {
    let n = net.meters.len();
    let stride = n.div_ceil(MAX_DRAWN).max(1);
    let at = |t: amirange_sim::time::SimTime| scenario.sim.start.plus(t.since_start()).to_string();
    let end = SimDuration(u64::from(moment.slot + 1) * INTERVAL.as_micros());
    // One pass: map.csv's drawn meters in meter order, and the counts over the whole fleet,
    // per condition and per feeder.
    let mut csv = String::with_capacity(n.min(MAX_DRAWN + 1000) * 48 + 100);
    csv.push_str(MAP_HEADER);
    csv.push('\n');
    let mut drawn = 0;
    let mut counts = [0u64; 6];
    let mut per_feeder = vec![[0u64; 6]; net.feeders.len()];
    let (mut critical, mut critical_off) = (0, 0);
    for (i, m) in net.meters.iter().enumerate() {
        let condition = moment.conditions[i];
        let feeder = net.transformers[m.transformer as usize].feeder;
        counts[condition as usize] += 1;
        per_feeder[feeder as usize][condition as usize] += 1;
        if m.facility.is_some() {
            critical += 1;
            critical_off += usize::from(condition <= MeterCondition::OffOperation);
        }
        if i % stride != 0 && m.facility.is_none() {
            continue;
        }
        drawn += 1;
        let _ = writeln!(
            csv,
            "{i},{:.1},{:.1},{feeder},{},{},{},{}",
            m.pos.x,
            m.pos.y,
            m.transformer,
            m.class.name(),
            m.facility.map_or("", |f| f.name()),
            condition.name()
        );
    }
    let mut paths: Vec<Vec<[f32; 2]>> = net
        .feeders
        .iter()
        .map(|f| {
            let s = net.substations[f.substation as usize].pos;
            vec![[s.x, s.y]]
        })
        .collect();
    for t in &net.transformers {
        paths[t.feeder as usize].push([t.pos.x, t.pos.y]);
    }
    let affected = |c: &[u64; 6]| {
        c[MeterCondition::OffAttack as usize]
            + c[MeterCondition::OffOutage as usize]
            + c[MeterCondition::Compromised as usize]
            > 0
    };
    let feeders = per_feeder
        .iter()
        .zip(paths)
        .enumerate()
        .filter(|(_, (c, _))| affected(c))
        .map(|(id, (c, path))| FeederJson {
            id: id as u32,
            substation: net.feeders[id].substation,
            meters: c.iter().sum(),
            off_attack: c[MeterCondition::OffAttack as usize],
            off_outage: c[MeterCondition::OffOutage as usize],
            off_operation: c[MeterCondition::OffOperation as usize],
            compromised: c[MeterCondition::Compromised as usize],
            unread: c[MeterCondition::Unread as usize],
            path,
        })
        .collect();
    let mut bounds = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    let points = net
        .meters
        .iter()
        .map(|m| m.pos)
        .chain(net.substations.iter().map(|s| s.pos));
    for p in points {
        bounds = [
            bounds[0].min(p.x),
            bounds[1].min(p.y),
            bounds[2].max(p.x),
            bounds[3].max(p.y),
        ];
    }
    if bounds[0] > bounds[2] {
        bounds = [0.0; 4];
    }
    let areas = sim
        .net_state()
        .interference
        .iter()
        .map(|placed| &placed.area)
        .enumerate()
        .map(|(k, a)| AreaJson {
            kind: "jammer",
            attack: a
                .owner
                .and_then(|o| scenario.attacks.get(usize::from(o)))
                .map(|s| s.id().to_owned()),
            x: a.center.x,
            y: a.center.y,
            radius_m: a.radius_m,
            strength: a.strength,
            reactive: a.reactive,
            start: at(a.start),
            end: at(a.end),
            on: moment.areas_on.get(k).copied().unwrap_or(false),
        })
        .collect();
    let json = MapJson {
        moment: MomentJson {
            slot: moment.slot,
            time: scenario.sim.start.plus(end).to_string(),
            time_s: end.as_micros() as f64 / 1e6,
            score: moment.score,
            why: WHY,
        },
        meters: n,
        drawn,
        stride,
        conditions: MeterCondition::ALL
            .iter()
            .map(|c| Count {
                condition: c.name(),
                meters: counts[*c as usize],
            })
            .collect(),
        critical,
        critical_off,
        bounds,
        substations: net.substations.iter().map(|s| [s.pos.x, s.pos.y]).collect(),
        feeders,
        areas,
    };
    let mut bytes = serde_json::to_vec_pretty(&json).unwrap_or_default();
    bytes.push(b'\n');
    (csv, bytes)
}

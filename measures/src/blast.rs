//! The blast-radius map's data: every meter's condition at the run's worst moment, with the
//! jammer areas, the affected feeders and the critical facilities. The root package writes it
//! as `map.csv` (the [`MapMeter`] rows) and `map.json` (the [`MapSummary`]), so that the map is
//! drawn from result files alone (`amirange-viz`).
//!
//! The worst moment is kept by the engine when asked ([`Sim::watch_worst_moment`]): at each
//! interval close, before anything dated at that instant happens, it scores the damage —
//! customers off supply (every cause), plus the interval reads missing when a read cycle closes
//! with the interval (0 between cycle closes), plus meters held by attacks (running an attack's
//! firmware or downgraded) — and takes every meter's condition on a new high; the earliest
//! wins a tie. The score comes from the interval's row and two dense fleet arrays; the pass
//! over the meters happens only on a new high.

use amirange_sim::config::INTERVAL;
use amirange_sim::engine::{Sim, WorstMoment};
use amirange_sim::model::MeterCondition;
use amirange_sim::network::Network;
use amirange_sim::time::{CivilDateTime, SimDuration, SimTime};
use serde::Serialize;

/// Meters drawn at most; larger fleets are thinned evenly (every `stride`-th meter) and every
/// critical facility is kept. The counts in the summary are over the whole fleet.
pub const MAX_DRAWN: usize = 12_000;

/// The map at the run's worst moment: the meters drawn, and the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct BlastMap {
    /// The meters drawn, in meter order (`map.csv`'s rows).
    pub meters: Vec<MapMeter>,
    /// Counts, feeders, areas and the moment (`map.json`).
    pub summary: MapSummary,
}

/// One meter drawn on the map (a row of `map.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct MapMeter {
    /// Meter number.
    pub meter: u32,
    /// East, metres.
    pub x_m: f32,
    /// North, metres.
    pub y_m: f32,
    /// Its feeder.
    pub feeder: u32,
    /// Its distribution transformer.
    pub transformer: u32,
    /// Its customer class's name.
    pub class: &'static str,
    /// Its critical facility's kind, empty for none.
    pub facility: &'static str,
    /// Its condition at the moment.
    pub condition: MeterCondition,
}

/// The map's summary at the worst moment (`map.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapSummary {
    /// When the map is.
    pub moment: MapMoment,
    /// Meters in the fleet.
    pub meters: usize,
    /// Meters drawn: every `stride`-th, and every critical facility.
    pub drawn: usize,
    /// One meter in `stride` is drawn (besides every critical facility).
    pub stride: usize,
    /// Meters per condition, over the whole fleet, in [`MeterCondition::ALL`]'s order.
    pub conditions: Vec<ConditionCount>,
    /// Critical facilities.
    pub critical: usize,
    /// Critical facilities off supply at the moment (any cause).
    pub critical_off: usize,
    /// The service area, metres: `[x_min, y_min, x_max, y_max]` over meters and substations.
    pub bounds: [f32; 4],
    /// Substations, `[x, y]` in metres.
    pub substations: Vec<[f32; 2]>,
    /// Feeders with a meter off supply or held by an attack, each drawn as the substation then
    /// its transformers in order.
    pub feeders: Vec<MapFeeder>,
    /// Radio interference areas (jammers) placed in the run.
    pub areas: Vec<MapArea>,
}

/// The worst moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapMoment {
    /// The interval that had just closed.
    pub slot: u32,
    /// The end of that interval (calendar time).
    pub time: String,
    /// The end of that interval, seconds from the start.
    pub time_s: f64,
    /// The damage score that made it the worst.
    pub score: u64,
    /// How the score is made, in words.
    pub why: &'static str,
}

/// Meters in one condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionCount {
    /// The condition's name.
    pub condition: &'static str,
    /// Meters in it.
    pub meters: u64,
}

/// A feeder with a meter off supply or held by an attack, with its meters per condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapFeeder {
    /// The feeder.
    pub id: u32,
    /// Its substation.
    pub substation: u32,
    /// Its meters.
    pub meters: u64,
    /// Off supply because of an attack.
    pub off_attack: u64,
    /// Off supply because of an outage.
    pub off_outage: u64,
    /// Off supply because of the utility's operations.
    pub off_operation: u64,
    /// Held by an attack (its firmware, or downgraded).
    pub compromised: u64,
    /// Not read at the moment.
    pub unread: u64,
    /// The substation, then the feeder's transformers in order, `[x, y]` in metres.
    pub path: Vec<[f32; 2]>,
}

/// A radio interference area (a jammer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapArea {
    /// What it is (`jammer`).
    pub kind: &'static str,
    /// The id of the attack that placed it, if an attack did.
    pub attack: Option<String>,
    /// Centre, east, metres.
    pub x: f32,
    /// Centre, north, metres.
    pub y: f32,
    /// Radius, metres.
    pub radius_m: f32,
    /// Strength (the engine's interference units).
    pub strength: f32,
    /// Whether it transmits only when it hears traffic.
    pub reactive: bool,
    /// When it starts (calendar time).
    pub start: String,
    /// When it ends (calendar time).
    pub end: String,
    /// Whether it was transmitting at the moment.
    pub on: bool,
}

/// How the worst moment is chosen, in words (`map.json`'s `moment.why`).
pub const WHY: &str = "the interval close with the most customers off supply, plus reads missing at a read-cycle close, plus meters held by attacks";

/// The map at the worst moment the engine kept (see [`Sim::watch_worst_moment`]); `None` when
/// it kept none. `start` is the scenario's calendar start; `attack_ids[k]` names attack `k`
/// (the owner of a jammer).
pub fn worst_moment_map(sim: &Sim, start: CivilDateTime, attack_ids: &[&str]) -> Option<BlastMap> {
    let moment = sim.worst_moment()?;
    Some(map_at(sim.network(), sim, moment, start, attack_ids))
}

/// The map of `moment` on `net`.
fn map_at(net: &Network, sim: &Sim, moment: &WorstMoment, start: CivilDateTime, attack_ids: &[&str]) -> BlastMap {
    let n = net.meters.len();
    let stride = n.div_ceil(MAX_DRAWN).max(1);
    let at = |t: SimTime| start.plus(t.since_start()).to_string();
    let end = SimDuration(u64::from(moment.slot + 1) * INTERVAL.as_micros());
    // One pass: the drawn meters in meter order, and the counts over the whole fleet, per
    // condition and per feeder.
    let mut meters = Vec::with_capacity(n.min(MAX_DRAWN + 1000));
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
        meters.push(MapMeter {
            meter: i as u32,
            x_m: m.pos.x,
            y_m: m.pos.y,
            feeder,
            transformer: m.transformer,
            class: m.class.name(),
            facility: m.facility.map_or("", |f| f.name()),
            condition,
        });
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
        .map(|(id, (c, path))| MapFeeder {
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
        .map(|(k, a)| MapArea {
            kind: "jammer",
            attack: a
                .owner
                .and_then(|o| attack_ids.get(usize::from(o)))
                .map(|id| (*id).to_owned()),
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
    let summary = MapSummary {
        moment: MapMoment {
            slot: moment.slot,
            time: start.plus(end).to_string(),
            time_s: end.as_micros() as f64 / 1e6,
            score: moment.score,
            why: WHY,
        },
        meters: n,
        drawn: meters.len(),
        stride,
        conditions: MeterCondition::ALL
            .iter()
            .map(|c| ConditionCount {
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
    BlastMap { meters, summary }
}

#[cfg(test)]
mod tests {
    use amirange_sim::model::Cause;

    use super::*;
    use crate::testing::{config, cut, world};

    /// Two meters of six cut off by an attack (at minutes 10 and 20): the worst moment has both
    /// off, every meter is drawn in its condition, and the feeder is listed as hit.
    #[test]
    fn the_worst_moment_map_draws_every_meter_in_its_condition_and_the_hit_feeder() {
        let mut sim = world(6, 1);
        sim.watch_worst_moment();
        cut(&mut sim, 0, Cause::Attack(0), 600, None);
        cut(&mut sim, 1, Cause::Attack(0), 1200, None);
        sim.run_to_end().expect("runs");
        let map = worst_moment_map(&sim, config(1).start, &["a"]).expect("the moment was watched");
        let numbers: Vec<u32> = map.meters.iter().map(|m| m.meter).collect();
        assert_eq!(numbers, [0, 1, 2, 3, 4, 5], "a small fleet is drawn whole, in order");
        assert_eq!(map.meters[0].condition, MeterCondition::OffAttack);
        assert_eq!(map.meters[1].condition, MeterCondition::OffAttack);
        assert!(
            map.meters[2..]
                .iter()
                .all(|m| m.condition > MeterCondition::OffOperation)
        );
        assert!(
            map.meters
                .iter()
                .all(|m| m.class == "residential" && m.facility.is_empty())
        );
        let s = &map.summary;
        assert_eq!(
            (s.meters, s.drawn, s.stride, s.critical, s.critical_off),
            (6, 6, 1, 0, 0)
        );
        let off_attack = &s.conditions[0];
        assert_eq!((off_attack.condition, off_attack.meters), ("off-attack", 2));
        assert_eq!(s.conditions.iter().map(|c| c.meters).sum::<u64>(), 6);
        assert_eq!(s.feeders.len(), 1);
        let feeder = &s.feeders[0];
        assert_eq!((feeder.id, feeder.meters, feeder.off_attack), (0, 6, 2));
        assert_eq!(
            feeder.path.len(),
            1 + sim.network().transformers.len(),
            "substation first"
        );
        assert!(s.areas.is_empty(), "no jammer");
        assert!(s.moment.slot >= 1, "both were off only from the second interval on");
        assert_eq!(s.moment.time_s, f64::from(s.moment.slot + 1) * 900.0);
        assert_eq!(s.moment.why, WHY);
        assert!(s.bounds[0] <= s.bounds[2] && s.bounds[1] <= s.bounds[3]);
    }

    #[test]
    fn an_unwatched_run_has_no_map() {
        let mut sim = world(2, 1);
        sim.run_to_end().expect("runs");
        assert!(worst_moment_map(&sim, config(1).start, &[]).is_none());
    }
}

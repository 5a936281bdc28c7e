//! Which meters an attack aims at, and places on the map.

use crate::FieldError;
use amirange_sim::model::CustomerClass;
use amirange_sim::network::{Network, Point};
use amirange_sim::rng::{Purpose, Stream};
use serde::{Deserialize, Serialize};

/// Slot namespaces of an attack's random streams (the attack's index is the entity), so that
/// no two kinds of draw share a stream: target samples and theft choices per meter, worm offers
/// per (sender, receiver) with 28 bits per meter; kill-chain steps and image hashes use the top
/// slots.
pub const STREAM_SHARE: u64 = 1 << 60;
/// See [`STREAM_SHARE`].
pub const STREAM_THEFT: u64 = 2 << 60;
/// See [`STREAM_SHARE`].
pub const STREAM_WORM: u64 = 3 << 60;

/// A place on the map.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum Place {
    /// Coordinates in metres, in the topology's frame (see `amirange topo describe`).
    Point(f32, f32),
    /// Where collector `n` stands.
    Collector(u32),
    /// Where meter `n` is.
    Meter(u32),
}

impl Place {
    /// [`Place::resolve`], with an error blamed on `field`.
    pub fn resolve_field(&self, net: &Network, field: &str) -> Result<Point, FieldError> {
        self.resolve(net).map_err(|e| FieldError::new(field, e))
    }

    /// The coordinates, or an error naming what does not exist.
    pub fn resolve(&self, net: &Network) -> Result<Point, String> {
        match *self {
            Place::Point(x, y) if x.is_finite() && y.is_finite() => Ok(Point { x, y }),
            Place::Point(..) => Err("coordinates must be finite numbers".into()),
            Place::Collector(c) => net
                .collectors
                .get(c as usize)
                .map(|s| s.pos)
                .ok_or_else(|| format!("there is no collector {c}: the network has {}", net.collectors.len())),
            Place::Meter(m) => net
                .meters
                .get(m as usize)
                .map(|s| s.pos)
                .ok_or_else(|| format!("there is no meter {m}: the network has {}", net.meters.len())),
        }
    }
}

/// Which meters an attack aims at.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum Targets {
    /// Every meter.
    All,
    /// Every meter on these feeders (indices, as `feeders.csv` numbers them).
    Feeders(Vec<u32>),
    /// Every meter within `radius_m` metres of `center`.
    Area {
        /// The centre.
        center: Place,
        /// Radius, metres.
        radius_m: f32,
    },
    /// Every critical facility (hospitals, water, emergency services).
    Critical,
    /// Every meter of one customer class.
    Class(CustomerClass),
    /// These meters (indices).
    Meters(Vec<u32>),
    /// A share (0 to 1) of all meters, drawn from the seed.
    Share(f64),
}

impl Targets {
    /// Checks what can be checked without the network.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Targets::Share(s) if !(s.is_finite() && *s > 0.0 && *s <= 1.0) => {
                Err(format!("a share must be above 0 and at most 1, not {s}"))
            }
            Targets::Area { radius_m, .. } if !(radius_m.is_finite() && *radius_m > 0.0) => {
                Err(format!("radius_m must be a positive number of metres, not {radius_m}"))
            }
            Targets::Feeders(f) if f.is_empty() => Err("name at least one feeder".into()),
            Targets::Meters(m) if m.is_empty() => Err("name at least one meter".into()),
            _ => Ok(()),
        }
    }

    /// The meters, ascending, or an error naming what does not exist. `seed` and `attack` key
    /// the draw of a [`Targets::Share`].
    pub fn resolve(&self, net: &Network, seed: u64, attack: u8) -> Result<Vec<u32>, String> {
        let n = net.meters.len() as u32;
        let all = 0..n;
        Ok(match self {
            Targets::All => all.collect(),
            Targets::Feeders(feeders) => {
                if let Some(&f) = feeders.iter().find(|&&f| f as usize >= net.feeders.len()) {
                    return Err(format!("there is no feeder {f}: the network has {}", net.feeders.len()));
                }
                let mut wanted = vec![false; net.feeders.len()];
                for &f in feeders {
                    wanted[f as usize] = true;
                }
                all.filter(|&m| {
                    let feeder = net.transformers[net.meters[m as usize].transformer as usize].feeder;
                    wanted[feeder as usize]
                })
                .collect()
            }
            Targets::Area { center, radius_m } => {
                let c = center.resolve(net)?;
                within(net, c, *radius_m)
            }
            Targets::Critical => all
                .filter(|&m| net.meters[m as usize].class == CustomerClass::Critical)
                .collect(),
            Targets::Class(class) => all.filter(|&m| net.meters[m as usize].class == *class).collect(),
            Targets::Meters(list) => {
                if let Some(&m) = list.iter().find(|&&m| m >= n) {
                    return Err(format!("there is no meter {m}: the network has {n}"));
                }
                let mut v = list.clone();
                v.sort_unstable();
                v.dedup();
                v
            }
            Targets::Share(share) => all
                .filter(|&m| {
                    Stream::new(seed, Purpose::Attack, u64::from(attack), STREAM_SHARE | u64::from(m)).bernoulli(*share)
                })
                .collect(),
        })
    }
}

impl Targets {
    /// [`Targets::resolve`] for attack `attack` in the built world, with errors blamed on
    /// `field`.
    pub fn meters(&self, sim: &amirange_sim::engine::Sim, attack: u8, field: &str) -> Result<Vec<u32>, FieldError> {
        self.resolve(sim.network(), sim.config().seed, attack)
            .map_err(|e| FieldError::new(field, e))
    }
}

/// Checks a radio's reach (a jammer's, a listening or transmitting radio's): a positive number
/// of metres up to 100 km.
pub fn check_radius(field: &str, r: f32) -> Result<(), FieldError> {
    if r.is_finite() && r > 0.0 && r <= 100_000.0 {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be a positive number of metres up to 100 km, not {r}"),
        ))
    }
}

/// The meters of an engine log of (meter, attack code) entries logged under `code`, ascending
/// and unique.
pub fn logged(list: &[(u32, u8)], code: u8) -> Vec<u32> {
    let mut v: Vec<u32> = list.iter().filter(|r| r.1 == code).map(|r| r.0).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Meters within `radius_m` of `center`, ascending.
pub fn within(net: &Network, center: Point, radius_m: f32) -> Vec<u32> {
    let r2 = radius_m * radius_m;
    (0..net.meters.len() as u32)
        .filter(|&m| net.meters[m as usize].pos.dist2(center) <= r2)
        .collect()
}

/// Meters with a radio (RF mesh or cellular; PLC meters have none to reach) within `radius_m`
/// of `center`, ascending.
pub fn radios_within(net: &Network, center: Point, radius_m: f32) -> Vec<u32> {
    within(net, center, radius_m)
        .into_iter()
        .filter(|&m| net.meters[m as usize].link != amirange_sim::model::LinkKind::Plc)
        .collect()
}

/// Writes a sorted list of meter indices compactly, as ranges: `"0-4999;5003;7000-7010"`.
pub fn ranges(meters: &[u32]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut i = 0;
    while i < meters.len() {
        let first = meters[i];
        let mut last = first;
        while i + 1 < meters.len() && meters[i + 1] == last + 1 {
            i += 1;
            last = meters[i];
        }
        if !out.is_empty() {
            out.push(';');
        }
        if first == last {
            let _ = write!(out, "{first}");
        } else {
            let _ = write!(out, "{first}-{last}");
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_compact_and_complete() {
        assert_eq!(ranges(&[]), "");
        assert_eq!(ranges(&[3]), "3");
        assert_eq!(ranges(&[0, 1, 2, 5, 7, 8]), "0-2;5;7-8");
    }

    #[test]
    fn bad_targets_are_named() {
        assert!(Targets::Share(1.5).check().is_err());
        assert!(Targets::Feeders(vec![]).check().is_err());
        assert!(Targets::All.check().is_ok());
    }
}

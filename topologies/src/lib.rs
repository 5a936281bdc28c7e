//! # amirange-topologies: who is connected to what
//!
//! Generators that build the premises, meters and field network of a scenario from a seed. Today
//! there is one: [`SimpleSpec`], a seeded generator that draws each premise's customer class,
//! splits meters between RF mesh, PLC and cellular by share, and attaches them to collectors in
//! blocks. It has no positions, feeders or routes yet; the grid-and-networks work replaces it
//! with placement, feeders and real mesh/PLC/cellular structures.
//!
//! This crate must never do I/O or read the wall clock; it knows `sim`'s vocabulary
//! ([`MeterSpec`], [`CollectorSpec`]) and nothing of scenario files or the command line.
//! Meters are produced by an iterator, so a 10-million-meter topology never exists as one
//! vector.

use amirange_sim::model::{CollectorSpec, CustomerClass, LinkKind, MeterSpec};
use amirange_sim::rng::{Purpose, Stream};

/// A simple generated topology: counts and shares, no geometry.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SimpleSpec {
    /// Number of meters (one per premise).
    pub meters: u64,
    /// Share of premises per class, in [`CustomerClass::ALL`] order; sums to 1.
    pub class_mix: [f64; 4],
    /// Share of meters per link kind, in [`LinkKind::ALL`] order; sums to 1.
    pub link_shares: [f64; 3],
    /// Meters read by one collector, per link kind (a mesh collector, a PLC concentrator at a
    /// transformer, a cellular gateway).
    pub meters_per_collector: [u32; 3],
}

/// A problem with a topology specification.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// A value out of range.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, e.g. `"meters"`.
        field: &'static str,
        /// Why it is wrong.
        reason: String,
    },
}

/// Largest meter count a single run accepts (the meter index is 32 bits).
pub const MAX_METERS: u64 = u32::MAX as u64;

impl SimpleSpec {
    /// The default mix and shares for `meters` meters.
    pub fn with_meters(meters: u64) -> SimpleSpec {
        SimpleSpec {
            meters,
            class_mix: [0.9, 0.08, 0.015, 0.005],
            link_shares: [0.7, 0.2, 0.1],
            meters_per_collector: [500, 150, 5_000],
        }
    }

    /// Checks counts, shares and block sizes.
    pub fn check(&self) -> Result<(), TopologyError> {
        let invalid = |field, reason: &str| {
            Err(TopologyError::Invalid {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.meters == 0 {
            return invalid("meters", "must be at least 1");
        }
        if self.meters > MAX_METERS {
            return invalid("meters", "at most 4,294,967,295");
        }
        for (field, shares) in [
            ("class_mix", &self.class_mix[..]),
            ("link_shares", &self.link_shares[..]),
        ] {
            if shares.iter().any(|s| !s.is_finite() || *s < 0.0) {
                return invalid(field, "shares must be non-negative numbers");
            }
            let sum: f64 = shares.iter().sum();
            if (sum - 1.0).abs() > 1e-6 {
                return invalid(field, &format!("shares must sum to 1, not {sum}"));
            }
        }
        if self.meters_per_collector.contains(&0) {
            return invalid("meters_per_collector", "must be at least 1");
        }
        Ok(())
    }

    /// Generates the topology for `seed`.
    pub fn generate(&self, seed: u64) -> Result<Topology, TopologyError> {
        self.check()?;
        let mut counts = [0u64; 3];
        counts[0] = (self.meters as f64 * self.link_shares[0]).round() as u64;
        counts[1] = ((self.meters as f64 * self.link_shares[1]).round() as u64).min(self.meters - counts[0]);
        counts[2] = self.meters - counts[0] - counts[1];
        let mut collectors = Vec::new();
        let mut blocks = [(0u64, 0u32); 3];
        for kind in LinkKind::ALL {
            let k = kind.index();
            let per = u64::from(self.meters_per_collector[k]);
            let n_collectors = counts[k].div_ceil(per);
            blocks[k] = (counts[k], collectors.len() as u32);
            collectors.extend((0..n_collectors).map(|_| CollectorSpec { kind }));
        }
        let mut cumulative = [0.0; 4];
        let mut acc = 0.0;
        for (c, share) in self.class_mix.iter().enumerate() {
            acc += share;
            cumulative[c] = acc;
        }
        Ok(Topology {
            seed,
            n_meters: self.meters,
            collectors,
            blocks,
            per_collector: self.meters_per_collector,
            cumulative_mix: cumulative,
        })
    }
}

/// A generated topology: its collectors, and its meters on demand.
#[derive(Clone, Debug)]
pub struct Topology {
    seed: u64,
    n_meters: u64,
    collectors: Vec<CollectorSpec>,
    /// Per link kind: (meters of that kind, index of its first collector).
    blocks: [(u64, u32); 3],
    per_collector: [u32; 3],
    cumulative_mix: [f64; 4],
}

impl Topology {
    /// Number of meters.
    pub fn n_meters(&self) -> u64 {
        self.n_meters
    }

    /// The collectors, by index.
    pub fn collectors(&self) -> &[CollectorSpec] {
        &self.collectors
    }

    /// The meters in index order: mesh meters first, then PLC, then cellular, each block
    /// attached to consecutive collectors.
    pub fn meters(&self) -> impl Iterator<Item = MeterSpec> + '_ {
        LinkKind::ALL.into_iter().flat_map(move |kind| {
            let (count, first_collector) = self.blocks[kind.index()];
            let offset: u64 = self.blocks[..kind.index()].iter().map(|b| b.0).sum();
            let per = u64::from(self.per_collector[kind.index()]);
            (0..count).map(move |i| {
                let idx = offset + i;
                let u = Stream::new(self.seed, Purpose::TopologyClass, idx, 0).uniform();
                let class_index = self.cumulative_mix.iter().position(|&c| u < c).unwrap_or(3);
                MeterSpec {
                    class: CustomerClass::ALL[class_index],
                    link: kind,
                    collector: first_collector + (i / per) as u32,
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_blocks_follow_the_spec() {
        let spec = SimpleSpec::with_meters(20_000);
        let topo = spec.generate(11).expect("valid");
        let meters: Vec<MeterSpec> = topo.meters().collect();
        assert_eq!(meters.len(), 20_000);
        let mut by_link = [0u64; 3];
        let mut by_class = [0u64; 4];
        for m in &meters {
            by_link[m.link.index()] += 1;
            by_class[m.class.index()] += 1;
            assert_eq!(topo.collectors()[m.collector as usize].kind, m.link);
        }
        assert_eq!(by_link, [14_000, 4_000, 2_000]);
        assert_eq!(topo.collectors().len(), 28 + 27 + 1);
        let residential = by_class[0] as f64 / 20_000.0;
        assert!((residential - 0.9).abs() < 0.01, "{residential}");
        assert!(by_class[3] > 50, "critical facilities present: {}", by_class[3]);
        // Same seed, same topology; another seed, another class draw.
        let again: Vec<MeterSpec> = spec.generate(11).expect("valid").meters().collect();
        assert_eq!(meters, again);
        let other: Vec<MeterSpec> = spec.generate(12).expect("valid").meters().collect();
        assert_ne!(meters, other);
    }

    #[test]
    fn bad_specs_are_rejected_with_the_field() {
        let mut spec = SimpleSpec::with_meters(0);
        assert!(matches!(
            spec.check(),
            Err(TopologyError::Invalid { field: "meters", .. })
        ));
        spec.meters = 10;
        spec.link_shares = [0.5, 0.2, 0.2];
        assert!(matches!(
            spec.check(),
            Err(TopologyError::Invalid {
                field: "link_shares",
                ..
            })
        ));
        spec.link_shares = [1.0, 0.0, 0.0];
        spec.meters_per_collector[1] = 0;
        assert!(matches!(
            spec.check(),
            Err(TopologyError::Invalid {
                field: "meters_per_collector",
                ..
            })
        ));
    }
}

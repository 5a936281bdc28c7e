//! Building a [`Network`] from an [`Area`]: settlements, transformers and premises along streets,
//! feeders and substations, link technologies, PLC concentrators, mesh collectors, cellular
//! towers and the RF neighbour graph. Every random choice comes from a stream keyed by the
//! entity it belongs to, so the same seed gives the same network.

use std::collections::BTreeMap;

use amirange_sim::interval_metering::INTERVAL_METERING_THRESHOLD_KWH;
use amirange_sim::model::{ClassConsumption, CustomerClass, LinkKind};
use amirange_sim::network::{
    BackupSupply, CollectorSite, FacilityKind, Feeder, MeshGraph, MeterSite, NONE, Network, Point, Substation,
    Transformer,
};
use amirange_sim::rng::{Purpose, Stream};

use crate::TopologyError;
use crate::radio::{MeshNode, build_graph};
use crate::spec::Area;

/// Planned peak demand per MWh of annual consumption, kW, per class: the winter peaks of the
/// class shapes (H0 about 0.23, G0 0.24, the shift-operation day level 0.17 raised by a
/// factory's own weights up to about 0.27, G3 0.15 kW per MWh/a) with an allowance for less
/// diversity on one transformer (assumption).
pub const PEAK_KW_PER_MWH: [f64; 4] = [0.35, 0.35, 0.3, 0.2];

/// A transformer's rating over its planned peak: a growth margin of 1.25 (planning practice
/// sizes to the diversified peak times 1.15 to 1.25), at a power factor of 0.95 (assumption).
pub const TRANSFORMER_HEADROOM: f64 = 1.25 / 0.95;

/// Share of the sum of its transformers' planned peaks that a feeder carries at its own peak:
/// the transformers' planned peaks allow for little diversity among a few dozen premises and do
/// not coincide across a feeder (assumption).
pub const FEEDER_COINCIDENCE: f64 = 0.7;

/// A feeder's rating over its planned peak (its transformers' planned peaks times
/// [`FEEDER_COINCIDENCE`]): 1.5, so the planned peak loads it to two thirds (planning targets a
/// normal peak loading of 60 to 80% of rating, leaving room to pick up a neighbouring feeder's
/// load), rounded up to 0.5 MW.
pub const FEEDER_HEADROOM: f64 = 1.5;

/// Standard distribution transformer ratings, kVA (IEC 60076 preferred sizes).
const STANDARD_KVA: [f32; 12] = [
    50.0, 100.0, 160.0, 250.0, 400.0, 630.0, 800.0, 1_000.0, 1_250.0, 1_600.0, 2_000.0, 2_500.0,
];

/// No-load (iron) losses of a distribution transformer as a share of its rating (assumption in
/// line with EU Ecodesign Tier 2 limits of about 0.1% to 0.2%).
const NO_LOAD_LOSS_SHARE: f32 = 0.0015;

/// How many standard deviations of a class's log-normal spread of consumption a premise may
/// lie above the class mean before the sizing below ignores the chance: a class whose mean
/// times `exp(6 sigma)` stays at or below the interval-metering threshold has no premise above
/// it (one in a billion), so its premises' consumption is not drawn (households, whose
/// consumption the topology build would otherwise draw a million times).
const SIGMAS_TO_THE_THRESHOLD: f64 = 6.0;

/// The annual consumption, kWh, the grid is planned for at premise `idx` of a class with
/// consumption parameters `params`, whose facility weight is `weight` (1 for all but critical
/// facilities): the class mean times the weight for a standard-profile premise, and for an
/// interval-metered one (above the threshold as the engine draws it, weight included) its own
/// consumption.
fn planned_annual_kwh(seed: u64, idx: u32, params: &ClassConsumption, weight: f64) -> f64 {
    let mean = params.mean_annual_kwh * weight;
    let threshold = f64::from(INTERVAL_METERING_THRESHOLD_KWH);
    if mean * (SIGMAS_TO_THE_THRESHOLD * params.annual_sigma).exp() <= threshold {
        return mean;
    }
    // As the engine stores it (f32), so that both sides agree on the threshold.
    let drawn = f64::from(amirange_sim::engine::draw_annual_kwh(seed, idx, params) as f32);
    let drawn = f64::from((drawn * weight) as f32);
    if drawn > threshold { drawn } else { mean }
}

/// Square spiral: the `k`-th cell around the origin, rings outward.
fn spiral(k: u64) -> (i64, i64) {
    if k == 0 {
        return (0, 0);
    }
    // Ring r holds 8r cells, starting after (2r - 1)² cells.
    let r = ((((k as f64).sqrt() + 1.0) / 2.0).floor() as i64).max(1);
    let r = if (2 * r - 1) * (2 * r - 1) > k as i64 { r - 1 } else { r };
    let r = r.max(1);
    let first = (2 * r - 1) * (2 * r - 1);
    let i = k as i64 - first;
    let side = 2 * r;
    match i / side {
        0 => (r, -r + 1 + i),
        1 => (r - 1 - (i - side), r),
        2 => (-r, r - 1 - (i - 2 * side)),
        _ => (-r + 1 + (i - 3 * side), -r),
    }
}

/// Position of `p` along a Z-order (Morton) curve over a square region of side `region` m.
fn morton(p: Point, region: f64) -> u64 {
    let q = |v: f32| ((f64::from(v) / region.max(1.0)).clamp(0.0, 1.0) * 65_535.0) as u64;
    let spread = |mut v: u64| {
        v &= 0xFFFF;
        v = (v | (v << 8)) & 0x00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333;
        (v | (v << 1)) & 0x5555_5555
    };
    spread(q(p.x)) | (spread(q(p.y)) << 1)
}

fn centroid(points: impl Iterator<Item = Point>) -> Point {
    let (mut x, mut y, mut n) = (0.0f64, 0.0f64, 0u64);
    for p in points {
        x += f64::from(p.x);
        y += f64::from(p.y);
        n += 1;
    }
    let n = n.max(1) as f64;
    Point {
        x: (x / n) as f32,
        y: (y / n) as f32,
    }
}

/// Splits `total` into parts proportional to `weights`, each at least one (`total >= len`),
/// by largest remainder.
fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let n = weights.len() as u64;
    let spare = total - n;
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| spare as f64 * w / sum).collect();
    let mut parts: Vec<u64> = exact.iter().map(|e| 1 + e.floor() as u64).collect();
    let mut left = total - parts.iter().sum::<u64>();
    let mut by_remainder: Vec<usize> = (0..weights.len()).collect();
    by_remainder.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    for i in by_remainder {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// The sizes every phase of [`Area::generate`] shares, worked out once from the area.
struct Sizes {
    /// Meters in the area.
    n_meters: u64,
    /// Distribution transformers: one per `meters_per_transformer` meters, rounded up.
    n_transformers: u64,
    /// Per transformer, its first meter; one more entry, the number of meters.
    first_meter_of_transformer: Vec<u64>,
    /// Per feeder, its first transformer; one more entry, the number of transformers.
    first_transformer_of_feeder: Vec<u64>,
    /// Settlements: as many as the area asks for, at most one per transformer.
    n_settlements: u64,
    /// The side of one transformer's square block, m (from the settlements' density).
    block_side_m: f64,
    /// The side of the square region the settlements are spread over, m.
    region_side_m: f64,
}

impl Sizes {
    fn of(area: &Area, seed: u64) -> Sizes {
        let n_meters = area.meters;
        let n_transformers = n_meters.div_ceil(u64::from(area.meters_per_transformer));
        // A factor uniform in 1 ± spread, drawn per transformer or feeder.
        let factor = |spread: f64, entity: u64, slot: u64| {
            1.0 + spread * (2.0 * Stream::new(seed, Purpose::Placement, entity, slot).uniform() - 1.0)
        };
        let weights: Vec<f64> = (0..n_transformers)
            .map(|t| factor(area.meters_per_transformer_spread, t, 5))
            .collect();
        let mut first_meter_of_transformer = Vec::with_capacity(n_transformers as usize + 1);
        first_meter_of_transformer.push(0);
        for n in apportion(n_meters, &weights) {
            let last = first_meter_of_transformer.last().copied().unwrap_or(0);
            first_meter_of_transformer.push(last + n);
        }
        // Feeders take runs of consecutive transformers of drawn lengths; a short remainder
        // shares the last full feeder's transformers with it evenly.
        let per_feeder = f64::from(area.transformers_per_feeder);
        let shortest = ((per_feeder * (1.0 - area.transformers_per_feeder_spread)).round() as u64).max(1);
        let mut first_transformer_of_feeder = vec![0u64];
        let mut next = 0u64;
        while next < n_transformers {
            let feeder = first_transformer_of_feeder.len() as u64 - 1;
            let take = ((per_feeder * factor(area.transformers_per_feeder_spread, feeder, 6)).round() as u64).max(1);
            next = (next + take).min(n_transformers);
            first_transformer_of_feeder.push(next);
        }
        let n = first_transformer_of_feeder.len();
        if n > 2 && first_transformer_of_feeder[n - 1] - first_transformer_of_feeder[n - 2] < shortest {
            let (from, to) = (first_transformer_of_feeder[n - 3], first_transformer_of_feeder[n - 1]);
            first_transformer_of_feeder[n - 2] = from + (to - from).div_ceil(2);
        }
        Sizes {
            n_meters,
            n_transformers,
            first_meter_of_transformer,
            first_transformer_of_feeder,
            n_settlements: u64::from(area.settlements).min(n_transformers),
            block_side_m: (f64::from(area.meters_per_transformer) / area.density_per_km2).sqrt() * 1_000.0,
            region_side_m: (n_meters as f64 / area.region_density_per_km2).sqrt() * 1_000.0,
        }
    }

    /// Meters on transformer `transformer`: its drawn share of the meters.
    fn meters_on_transformer(&self, transformer: u64) -> u64 {
        let t = transformer as usize;
        self.first_meter_of_transformer[t + 1] - self.first_meter_of_transformer[t]
    }

    /// Feeders.
    fn n_feeders(&self) -> u64 {
        self.first_transformer_of_feeder.len() as u64 - 1
    }
}

/// Transformers placed around their settlements, before feeders are strung.
struct PlacedTransformers {
    /// The transformers, with feeder and rating still to be set.
    transformers: Vec<Transformer>,
    /// Per transformer: its settlement.
    settlement_of_transformer: Vec<u32>,
}

/// Premises placed along the streets, with what sizing the grid needs from them.
struct PlacedPremises {
    /// The meters, with concentrators and towers still to be attached.
    meters: Vec<MeterSite>,
    /// Per transformer: the coincident peak demand of its premises, kW.
    peak_kw_per_transformer: Vec<f64>,
    /// Critical facilities with a backup supply, by meter index.
    backup_supplies: Vec<(u32, BackupSupply)>,
}

impl Area {
    /// Builds the network for `seed`. `class_kwh` is the mean annual consumption per class in
    /// kWh (in `CustomerClass::ALL` order), which sizes transformers and feeders; the other
    /// consumption parameters (the spread of premises' consumption, which sizes the transformers
    /// of interval-metered premises) are the defaults. [`Area::generate_for`] takes them all.
    pub fn generate(&self, seed: u64, class_kwh: [f64; 4]) -> Result<Network, TopologyError> {
        let classes = CustomerClass::ALL.map(|c| ClassConsumption {
            mean_annual_kwh: class_kwh[c.index()],
            ..amirange_sim::config::SimConfig::default_class(c)
        });
        self.generate_for(seed, &classes)
    }

    /// Builds the network for `seed`, for premises whose consumption the run's `classes`
    /// describe (in `CustomerClass::ALL` order): their means size transformers and feeders, and
    /// a premise that draws more than the interval-metering threshold (what the engine draws
    /// for it from the same seed) is planned for from its own consumption.
    ///
    /// Every phase draws from streams keyed by its own purpose, entity and slot, so the phases'
    /// order does not change what any of them draws.
    pub fn generate_for(&self, seed: u64, classes: &[ClassConsumption; 4]) -> Result<Network, TopologyError> {
        self.generate_observed(seed, classes, &mut |_| {})
    }

    /// [`Area::generate_for`], calling `done(phase)` as each phase of the build ends (placement
    /// and grid, collectors and towers, the radio neighbour graph, the checks), so that a caller
    /// with a clock can say where the time went.
    pub fn generate_observed(
        &self,
        seed: u64,
        classes: &[ClassConsumption; 4],
        done: &mut dyn FnMut(&'static str),
    ) -> Result<Network, TopologyError> {
        let sizes = Sizes::of(self, seed);
        let settlement_centres = self.place_settlement_centres(seed, &sizes);
        let PlacedTransformers {
            mut transformers,
            settlement_of_transformer,
        } = self.place_transformers_around_settlements(seed, &sizes, &settlement_centres);
        let plc_at_transformer = self.choose_plc_transformers(seed, &sizes);
        let PlacedPremises {
            mut meters,
            peak_kw_per_transformer,
            backup_supplies,
        } = self.place_premises_along_streets(seed, classes, &sizes, &transformers, &plc_at_transformer);
        let feeders = self.string_feeders_and_rate_transformers(&sizes, &mut transformers, &peak_kw_per_transformer);
        let substations = self.place_substations(&sizes, &transformers);
        done("topology: placement and grid");
        let mut collectors = self.place_mesh_collectors(&sizes, &meters, &settlement_of_transformer);
        let n_mesh_collectors = collectors.len() as u32;
        self.place_plc_concentrators(
            seed,
            &sizes,
            &transformers,
            &plc_at_transformer,
            &mut collectors,
            &mut meters,
        );
        self.attach_modems_to_cellular_towers(seed, &mut meters, &mut collectors);
        done("topology: collectors, concentrators, towers");
        let mesh = self.build_rf_neighbour_graph(seed, &meters, &collectors, n_mesh_collectors);
        done("topology: radio neighbour graph");
        let network = Network {
            params: self.links,
            meters,
            collectors,
            transformers,
            feeders,
            substations,
            mesh,
            backup_supplies,
        };
        network.check().map_err(|e| TopologyError::Invalid {
            field: e.field,
            reason: e.reason,
        })?;
        done("topology: checks");
        Ok(network)
    }

    /// Settlements' centres: the first at the centre of the region, the others spread over it
    /// at random.
    fn place_settlement_centres(&self, seed: u64, sizes: &Sizes) -> Vec<Point> {
        let region = sizes.region_side_m;
        (0..sizes.n_settlements)
            .map(|settlement| {
                if settlement == 0 {
                    return Point {
                        x: (region / 2.0) as f32,
                        y: (region / 2.0) as f32,
                    };
                }
                let mut stream = Stream::new(seed, Purpose::Placement, settlement, 1);
                Point {
                    x: (stream.uniform() * region) as f32,
                    y: (stream.uniform() * region) as f32,
                }
            })
            .collect()
    }

    /// Transformers, Zipf-shared among the settlements, on a jittered square spiral around
    /// their settlement's centre; settlements visited along a Z-order curve, so that feeders
    /// (runs of consecutive transformers) string neighbouring villages together rather than
    /// crossing the region.
    fn place_transformers_around_settlements(
        &self,
        seed: u64,
        sizes: &Sizes,
        settlement_centres: &[Point],
    ) -> PlacedTransformers {
        let zipf_weights: Vec<f64> = (0..sizes.n_settlements).map(|s| 1.0 / (s + 1) as f64).collect();
        let transformers_per_settlement = apportion(sizes.n_transformers, &zipf_weights);
        let mut visit: Vec<usize> = (0..settlement_centres.len()).collect();
        visit.sort_by_key(|&s| (morton(settlement_centres[s], sizes.region_side_m), s));
        let spacing = sizes.block_side_m;
        let mut transformers = Vec::with_capacity(sizes.n_transformers as usize);
        let mut settlement_of_transformer = Vec::with_capacity(sizes.n_transformers as usize);
        for settlement in visit {
            let centre = settlement_centres[settlement];
            for k in 0..transformers_per_settlement[settlement] {
                let transformer = transformers.len() as u64;
                let (i, j) = spiral(k);
                let mut stream = Stream::new(seed, Purpose::Placement, transformer, 2);
                let jitter = |u: f64| (u - 0.5) * 0.5 * spacing;
                transformers.push(Transformer {
                    pos: Point {
                        x: (f64::from(centre.x) + i as f64 * spacing + jitter(stream.uniform())) as f32,
                        y: (f64::from(centre.y) + j as f64 * spacing + jitter(stream.uniform())) as f32,
                    },
                    feeder: 0,
                    rating_kva: 0.0,
                });
                settlement_of_transformer.push(settlement as u32);
            }
        }
        PlacedTransformers {
            transformers,
            settlement_of_transformer,
        }
    }

    /// Per transformer: whether its meters talk PLC (a per-transformer decision: the
    /// concentrator sits in the substation).
    fn choose_plc_transformers(&self, seed: u64, sizes: &Sizes) -> Vec<bool> {
        let plc_share = self.link_shares[1];
        (0..sizes.n_transformers)
            .map(|t| plc_share >= 1.0 || Stream::new(seed, Purpose::LinkAssignment, t, 0).uniform() < plc_share)
            .collect()
    }

    /// Premises along the streets of their transformer's block, each with its class, link
    /// kind, cellular fallback and critical facility kind, and every transformer's coincident
    /// peak: a standard-profile premise counts with its class mean, an interval-metered one
    /// (above 100,000 kWh/a as the engine draws it) with its own consumption, so that a large
    /// factory's transformer is sized for that factory.
    fn place_premises_along_streets(
        &self,
        seed: u64,
        classes: &[ClassConsumption; 4],
        sizes: &Sizes,
        transformers: &[Transformer],
        plc_at_transformer: &[bool],
    ) -> PlacedPremises {
        let mut class_cdf = [0.0; 4];
        let mut cumulative_share = 0.0;
        for (c, share) in self.class_mix.iter().enumerate() {
            cumulative_share += share;
            class_cdf[c] = cumulative_share;
        }
        let mut meters = Vec::with_capacity(sizes.n_meters as usize);
        let mut peak_kw_per_transformer = vec![0.0f64; sizes.n_transformers as usize];
        let mut backup_supplies = Vec::new();
        for t in 0..sizes.n_transformers {
            for _ in 0..sizes.meters_on_transformer(t) {
                let idx = meters.len() as u64;
                let u = Stream::new(seed, Purpose::TopologyClass, idx, 0).uniform();
                let c = class_cdf.iter().position(|&edge| u < edge).unwrap_or(0);
                let class = CustomerClass::ALL[c];
                let pos = self.place_premise_by_a_street(seed, idx, transformers[t as usize].pos, sizes.block_side_m);
                let (link, fallback, facility) =
                    self.draw_link_fallback_and_facility(seed, idx, plc_at_transformer[t as usize], class);
                // A critical facility is sized as what it is (see `FacilityKind::consumption_weight`).
                let weight = facility.map_or(1.0, |kind| kind.consumption_weight());
                let planned_kwh = planned_annual_kwh(seed, idx as u32, &classes[c], weight);
                peak_kw_per_transformer[t as usize] += planned_kwh / 1_000.0 * PEAK_KW_PER_MWH[c];
                if let Some(kind) = facility {
                    let (second_feed, generator) = kind.backup_shares();
                    let u = Stream::new(seed, Purpose::LinkAssignment, idx, 2).uniform();
                    if u < second_feed {
                        backup_supplies.push((idx as u32, BackupSupply::SecondFeed));
                    } else if u < second_feed + generator {
                        backup_supplies.push((idx as u32, BackupSupply::StandbyGenerator));
                    }
                }
                meters.push(MeterSite {
                    class,
                    link,
                    facility,
                    fallback,
                    pos,
                    transformer: t as u32,
                    concentrator: NONE,
                    plc_quality: 0.0,
                    tower: NONE,
                    tower_quality: 0.0,
                });
            }
        }
        PlacedPremises {
            meters,
            peak_kw_per_transformer,
            backup_supplies,
        }
    }

    /// Where premise `idx` stands in the square block of side `block_side_m` around its
    /// transformer at `transformer_pos`: on a street running along x or y, snapped to the
    /// nearest street line and set back from it to one side.
    fn place_premise_by_a_street(&self, seed: u64, idx: u64, transformer_pos: Point, block_side_m: f64) -> Point {
        let street = self.street_spacing_m;
        let mut placement = Stream::new(seed, Purpose::Placement, idx, 3);
        let along = (placement.uniform() - 0.5) * block_side_m;
        let across = (placement.uniform() - 0.5) * block_side_m;
        let horizontal = placement.bernoulli(0.5);
        let (transformer_along, transformer_across) = if horizontal {
            (f64::from(transformer_pos.x), f64::from(transformer_pos.y))
        } else {
            (f64::from(transformer_pos.y), f64::from(transformer_pos.x))
        };
        let line = ((transformer_across + across) / street).round() * street - transformer_across;
        let line = line.clamp(-block_side_m, block_side_m);
        let setback = (8.0 + 12.0 * placement.uniform()) * if placement.bernoulli(0.5) { 1.0 } else { -1.0 };
        let (a, b) = (transformer_along + along, transformer_across + line + setback);
        if horizontal {
            Point {
                x: a as f32,
                y: b as f32,
            }
        } else {
            Point {
                x: b as f32,
                y: a as f32,
            }
        }
    }

    /// Premise `idx`'s link kind (PLC where its transformer is, else cellular or mesh by their
    /// shares), whether a mesh meter has a cellular fallback, and a critical premise's facility
    /// kind, drawn in that order from one stream.
    fn draw_link_fallback_and_facility(
        &self,
        seed: u64,
        idx: u64,
        plc_at_its_transformer: bool,
        class: CustomerClass,
    ) -> (LinkKind, bool, Option<FacilityKind>) {
        let [mesh_share, _, cell_share] = self.link_shares;
        let cellular_share_of_radio = if mesh_share + cell_share > 0.0 {
            cell_share / (mesh_share + cell_share)
        } else {
            1.0
        };
        let mut link_stream = Stream::new(seed, Purpose::LinkAssignment, idx, 1);
        let link = if plc_at_its_transformer {
            LinkKind::Plc
        } else if link_stream.uniform() < cellular_share_of_radio {
            LinkKind::Cellular
        } else {
            LinkKind::Mesh
        };
        let fallback = link == LinkKind::Mesh && link_stream.uniform() < self.cellular_fallback;
        let facility = (class == CustomerClass::Critical).then(|| {
            let v = link_stream.uniform();
            let [hospital, water, _] = self.facility_mix;
            if v < hospital {
                FacilityKind::Hospital
            } else if v < hospital + water {
                FacilityKind::Water
            } else {
                FacilityKind::Emergency
            }
        });
        (link, fallback, facility)
    }

    /// Feeders of consecutive transformers (which lie next to each other on the spiral), each
    /// transformer rated at the next standard size above its peak with headroom, and each
    /// feeder rated from its transformers' peaks.
    fn string_feeders_and_rate_transformers(
        &self,
        sizes: &Sizes,
        transformers: &mut [Transformer],
        peak_kw_per_transformer: &[f64],
    ) -> Vec<Feeder> {
        let feeders_per_substation = u64::from(self.feeders_per_substation);
        let n_feeders = sizes.n_feeders();
        let mut feeders = Vec::with_capacity(n_feeders as usize);
        for f in 0..n_feeders {
            let first = sizes.first_transformer_of_feeder[f as usize] as usize;
            let end = sizes.first_transformer_of_feeder[f as usize + 1] as usize;
            let mut rated_kva = 0.0f32;
            let mut peak_kw = 0.0f64;
            for t in first..end {
                let want_kva = (peak_kw_per_transformer[t] * TRANSFORMER_HEADROOM) as f32;
                let rating = STANDARD_KVA
                    .iter()
                    .copied()
                    .find(|&r| r >= want_kva)
                    .unwrap_or_else(|| (want_kva / 500.0).ceil() * 500.0);
                transformers[t].rating_kva = rating;
                transformers[t].feeder = f as u32;
                rated_kva += rating;
                peak_kw += peak_kw_per_transformer[t];
            }
            feeders.push(Feeder {
                substation: (f / feeders_per_substation) as u32,
                rating_kw: ((peak_kw * FEEDER_COINCIDENCE * FEEDER_HEADROOM / 500.0).ceil() * 500.0) as f32,
                no_load_loss_kw: rated_kva * NO_LOAD_LOSS_SHARE,
            });
        }
        feeders
    }

    /// Substations of consecutive feeders, each at the centroid of its transformers.
    fn place_substations(&self, sizes: &Sizes, transformers: &[Transformer]) -> Vec<Substation> {
        let feeders_per_substation = u64::from(self.feeders_per_substation);
        let n_feeders = sizes.n_feeders();
        let n_substations = n_feeders.div_ceil(feeders_per_substation);
        (0..n_substations)
            .map(|s| {
                let first_feeder = s * feeders_per_substation;
                let end_feeder = ((s + 1) * feeders_per_substation).min(n_feeders);
                let first = sizes.first_transformer_of_feeder[first_feeder as usize] as usize;
                let end = sizes.first_transformer_of_feeder[end_feeder as usize] as usize;
                Substation {
                    pos: centroid(transformers[first..end].iter().map(|t| t.pos)),
                }
            })
            .collect()
    }

    /// Mesh collectors: groups of consecutive transformers within a settlement, each with
    /// about `meters_per_collector` mesh meters; the collector at their centroid. They come
    /// first among the collectors.
    fn place_mesh_collectors(
        &self,
        sizes: &Sizes,
        meters: &[MeterSite],
        settlement_of_transformer: &[u32],
    ) -> Vec<CollectorSite> {
        let meters_per_collector = u64::from(self.meters_per_collector);
        let n_transformers = sizes.n_transformers as usize;
        let mut collectors = Vec::new();
        let mut group: Vec<Point> = Vec::new();
        let mut first_meter = 0usize;
        for t in 0..n_transformers {
            let end = first_meter + sizes.meters_on_transformer(t as u64) as usize;
            group.extend(
                meters[first_meter..end]
                    .iter()
                    .filter(|s| s.link == LinkKind::Mesh)
                    .map(|s| s.pos),
            );
            first_meter = end;
            let settlement_ends =
                t + 1 == n_transformers || settlement_of_transformer[t + 1] != settlement_of_transformer[t];
            if !group.is_empty() && (group.len() as u64 >= meters_per_collector || settlement_ends) {
                collectors.push(CollectorSite {
                    kind: LinkKind::Mesh,
                    pos: centroid(group.drain(..)),
                    transformer: NONE,
                });
            }
        }
        collectors
    }

    /// PLC concentrators, one per PLC transformer after the mesh collectors, and every PLC
    /// meter's line quality to its concentrator (the line's noise, halving every `reach` m).
    fn place_plc_concentrators(
        &self,
        seed: u64,
        sizes: &Sizes,
        transformers: &[Transformer],
        plc_at_transformer: &[bool],
        collectors: &mut Vec<CollectorSite>,
        meters: &mut [MeterSite],
    ) {
        let (quality_min, quality_max, reach_m) = self.plc_quality;
        let n_transformers = sizes.n_transformers as usize;
        let mut concentrator_of_transformer = vec![NONE; n_transformers];
        let mut line_quality = vec![0.0f64; n_transformers];
        for t in 0..n_transformers {
            if plc_at_transformer[t] {
                concentrator_of_transformer[t] = collectors.len() as u32;
                collectors.push(CollectorSite {
                    kind: LinkKind::Plc,
                    pos: transformers[t].pos,
                    transformer: t as u32,
                });
                let noise = Stream::new(seed, Purpose::PlcNoise, t as u64, 0).uniform();
                line_quality[t] = quality_min + (quality_max - quality_min) * noise;
            }
        }
        for site in meters.iter_mut().filter(|site| site.link == LinkKind::Plc) {
            let t = site.transformer as usize;
            let distance_m = f64::from(site.pos.dist(transformers[t].pos));
            site.concentrator = concentrator_of_transformer[t];
            site.plc_quality = (line_quality[t] * 0.5f64.powf(distance_m / reach_m)) as f32;
        }
    }

    /// Cellular towers on a jittered grid, after the other collectors, in grid-cell order:
    /// a meter with a modem (cellular, or mesh with a cellular fallback) attaches to the
    /// nearest tower of its own and the eight neighbouring cells, if its signal is usable.
    fn attach_modems_to_cellular_towers(
        &self,
        seed: u64,
        meters: &mut [MeterSite],
        collectors: &mut Vec<CollectorSite>,
    ) {
        let (tower_spacing, tower_range) = self.towers;
        let tower_at = |cx: i64, cy: i64| -> Point {
            let key = ((cx as u64) << 32) ^ (cy as u64 & 0xFFFF_FFFF);
            let mut stream = Stream::new(seed, Purpose::Placement, key, 4);
            Point {
                x: ((cx as f64 + 0.5 + (stream.uniform() - 0.5) * 0.4) * tower_spacing) as f32,
                y: ((cy as f64 + 0.5 + (stream.uniform() - 0.5) * 0.4) * tower_spacing) as f32,
            }
        };
        let mut tower_of_cell: BTreeMap<(i64, i64), u32> = BTreeMap::new();
        let mut attachments: Vec<(u32, (i64, i64), f32)> = Vec::new();
        for (i, site) in meters.iter().enumerate() {
            if site.link != LinkKind::Cellular && !site.fallback {
                continue;
            }
            let (cx, cy) = (
                (f64::from(site.pos.x) / tower_spacing).floor() as i64,
                (f64::from(site.pos.y) / tower_spacing).floor() as i64,
            );
            let mut nearest = ((cx, cy), f32::INFINITY);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let d2 = site.pos.dist2(tower_at(cx + dx, cy + dy));
                    if d2 < nearest.1 {
                        nearest = ((cx + dx, cy + dy), d2);
                    }
                }
            }
            let distance_m = f64::from(nearest.1.sqrt());
            let quality = 0.998 / (1.0 + (distance_m / tower_range).powi(4));
            if quality >= 0.05 {
                tower_of_cell.insert(nearest.0, 0);
                attachments.push((i as u32, nearest.0, quality as f32));
            }
        }
        for (cell, collector) in tower_of_cell.iter_mut() {
            *collector = collectors.len() as u32;
            collectors.push(CollectorSite {
                kind: LinkKind::Cellular,
                pos: tower_at(cell.0, cell.1),
                transformer: NONE,
            });
        }
        for (meter, cell, quality) in attachments {
            let site = &mut meters[meter as usize];
            site.tower = tower_of_cell[&cell];
            site.tower_quality = quality;
        }
    }

    /// The RF neighbour graph over mesh meters and the mesh collectors (the first
    /// `n_mesh_collectors` collectors).
    fn build_rf_neighbour_graph(
        &self,
        seed: u64,
        meters: &[MeterSite],
        collectors: &[CollectorSite],
        n_mesh_collectors: u32,
    ) -> MeshGraph {
        let n_nodes = meters.len() + collectors.len();
        let nodes: Vec<MeshNode> = meters
            .iter()
            .enumerate()
            .filter(|(_, s)| s.link == LinkKind::Mesh)
            .map(|(i, s)| MeshNode {
                id: i as u32,
                pos: s.pos,
                collector: false,
            })
            .chain((0..n_mesh_collectors).map(|c| MeshNode {
                id: meters.len() as u32 + c,
                pos: collectors[c as usize].pos,
                collector: true,
            }))
            .collect();
        build_graph(seed, &self.radio, self.links.mesh.min_link_quality, &nodes, n_nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spiral_visits_every_cell_of_a_square_once() {
        let cells: std::collections::BTreeSet<(i64, i64)> = (0..49).map(spiral).collect();
        assert_eq!(cells.len(), 49);
        assert!(cells.iter().all(|&(x, y)| x.abs() <= 3 && y.abs() <= 3));
        // Consecutive cells are neighbours.
        for k in 1..200 {
            let (a, b) = (spiral(k - 1), spiral(k));
            assert!((a.0 - b.0).abs().max((a.1 - b.1).abs()) <= 1, "{k}: {a:?} {b:?}");
        }
    }

    #[test]
    fn transformers_and_feeders_vary_in_size_within_their_spreads_and_share_everything_out() {
        let mut spec = crate::AreaSpec::new(crate::AreaKind::Suburban, 20_000);
        spec.meters_per_transformer = Some(80);
        spec.transformers_per_feeder = Some(20);
        let area = spec.resolve().expect("valid");
        let sizes = Sizes::of(&area, 4);
        let per_transformer: Vec<u64> = (0..sizes.n_transformers)
            .map(|t| sizes.meters_on_transformer(t))
            .collect();
        assert_eq!(per_transformer.iter().sum::<u64>(), 20_000);
        assert_eq!(
            *sizes.first_transformer_of_feeder.last().expect("one"),
            sizes.n_transformers
        );
        // Uniform in 1 ± 0.3 around 80 meters (a little more or less after sharing out).
        let (lo, hi) = (
            per_transformer.iter().min().copied().unwrap_or(0),
            per_transformer.iter().max().copied().unwrap_or(0),
        );
        assert!(
            lo >= 50 && hi <= 110 && hi - lo >= 30,
            "{lo}..{hi} meters per transformer"
        );
        let per_feeder: Vec<u64> = sizes
            .first_transformer_of_feeder
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect();
        let (lo, hi) = (
            per_feeder.iter().min().copied().unwrap_or(0),
            per_feeder.iter().max().copied().unwrap_or(0),
        );
        assert!(lo >= 5 && hi <= 30 && hi > lo, "{lo}..{hi} transformers per feeder");
    }

    #[test]
    fn apportion_gives_everyone_at_least_one_and_sums() {
        let parts = apportion(10, &[1.0, 0.5, 0.333, 0.25]);
        assert_eq!(parts.iter().sum::<u64>(), 10);
        assert!(parts.iter().all(|&p| p >= 1));
        assert!(parts[0] >= parts[3]);
    }
}

//! Building a [`Network`] from an [`Area`]: settlements, transformers and premises along streets,
//! feeders and substations, link technologies, PLC concentrators, mesh collectors, cellular
//! towers and the RF neighbour graph. Every random choice comes from a stream keyed by the
//! entity it belongs to, so the same seed gives the same network.

use std::collections::BTreeMap;

use amirange_sim::model::{CustomerClass, LinkKind};
use amirange_sim::network::{
    CollectorSite, FacilityKind, Feeder, MeterSite, NONE, Network, Point, Substation, Transformer,
};
use amirange_sim::rng::{Purpose, Stream};

use crate::TopologyError;
use crate::radio::{MeshNode, build_graph};
use crate::spec::Area;

/// Coincident peak demand per MWh of annual consumption, kW, per class (assumption, from the
/// peaks of the BDEW profiles with some allowance for less diversity on one transformer).
const PEAK_KW_PER_MWH: [f64; 4] = [0.35, 0.35, 0.25, 0.2];

/// Standard distribution transformer ratings, kVA (IEC 60076 preferred sizes).
const STANDARD_KVA: [f32; 12] = [
    50.0, 100.0, 160.0, 250.0, 400.0, 630.0, 800.0, 1_000.0, 1_250.0, 1_600.0, 2_000.0, 2_500.0,
];

/// No-load (iron) losses of a distribution transformer as a share of its rating (assumption in
/// line with EU Ecodesign Tier 2 limits of about 0.1% to 0.2%).
const NO_LOAD_LOSS_SHARE: f32 = 0.0015;

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

impl Area {
    /// Builds the network for `seed`. `class_kwh` is the mean annual consumption per class in
    /// kWh (in `CustomerClass::ALL` order), which sizes transformers and feeders.
    pub fn generate(&self, seed: u64, class_kwh: [f64; 4]) -> Result<Network, TopologyError> {
        let n = self.meters;
        let mpt = u64::from(self.meters_per_transformer);
        let n_tr = n.div_ceil(mpt);
        let spacing = (f64::from(self.meters_per_transformer) / self.density_per_km2).sqrt() * 1_000.0;
        // Settlements: Zipf-sized, the first at the centre of the region, the others spread
        // over it.
        let n_set = u64::from(self.settlements).min(n_tr);
        let weights: Vec<f64> = (0..n_set).map(|s| 1.0 / (s + 1) as f64).collect();
        let per_settlement = apportion(n_tr, &weights);
        let region = (n as f64 / self.region_density_per_km2).sqrt() * 1_000.0;
        let centres: Vec<Point> = (0..n_set)
            .map(|s| {
                if s == 0 {
                    return Point {
                        x: (region / 2.0) as f32,
                        y: (region / 2.0) as f32,
                    };
                }
                let mut st = Stream::new(seed, Purpose::Placement, s, 1);
                Point {
                    x: (st.uniform() * region) as f32,
                    y: (st.uniform() * region) as f32,
                }
            })
            .collect();
        // Transformers on a jittered square spiral around their settlement's centre; settlements
        // visited along a Z-order curve, so that feeders (runs of consecutive transformers)
        // string neighbouring villages together rather than crossing the region.
        let mut visit: Vec<usize> = (0..centres.len()).collect();
        visit.sort_by_key(|&s| (morton(centres[s], region), s));
        let mut transformers = Vec::with_capacity(n_tr as usize);
        let mut settlement_of = Vec::with_capacity(n_tr as usize);
        for s in visit {
            let count = per_settlement[s];
            for k in 0..count {
                let t = transformers.len() as u64;
                let (i, j) = spiral(k);
                let mut st = Stream::new(seed, Purpose::Placement, t, 2);
                let jitter = |u: f64| (u - 0.5) * 0.5 * spacing;
                transformers.push(Transformer {
                    pos: Point {
                        x: (f64::from(centres[s].x) + i as f64 * spacing + jitter(st.uniform())) as f32,
                        y: (f64::from(centres[s].y) + j as f64 * spacing + jitter(st.uniform())) as f32,
                    },
                    feeder: 0,
                    rating_kva: 0.0,
                });
                settlement_of.push(s as u32);
            }
        }
        // PLC is a per-transformer decision: the concentrator sits in the substation.
        let [mesh_share, plc_share, cell_share] = self.link_shares;
        let plc_at: Vec<bool> = (0..n_tr)
            .map(|t| plc_share >= 1.0 || Stream::new(seed, Purpose::LinkAssignment, t, 0).uniform() < plc_share)
            .collect();
        let cell_given_not_plc = if mesh_share + cell_share > 0.0 {
            cell_share / (mesh_share + cell_share)
        } else {
            1.0
        };
        // Premises along the streets of their transformer's block.
        let mut class_cdf = [0.0; 4];
        let mut acc = 0.0;
        for (c, share) in self.class_mix.iter().enumerate() {
            acc += share;
            class_cdf[c] = acc;
        }
        let base = n / n_tr;
        let extra = n % n_tr;
        let street = self.street_spacing_m;
        let mut meters = Vec::with_capacity(n as usize);
        let mut peak_kw = vec![0.0f64; n_tr as usize];
        for t in 0..n_tr {
            let tr = transformers[t as usize].pos;
            let count = base + u64::from(t < extra);
            for _ in 0..count {
                let idx = meters.len() as u64;
                let u = Stream::new(seed, Purpose::TopologyClass, idx, 0).uniform();
                let c = class_cdf.iter().position(|&edge| u < edge).unwrap_or(0);
                let class = CustomerClass::ALL[c];
                let mut st = Stream::new(seed, Purpose::Placement, idx, 3);
                let along = (st.uniform() - 0.5) * spacing;
                let across = (st.uniform() - 0.5) * spacing;
                let horizontal = st.bernoulli(0.5);
                let (tr_along, tr_across) = if horizontal {
                    (f64::from(tr.x), f64::from(tr.y))
                } else {
                    (f64::from(tr.y), f64::from(tr.x))
                };
                // Snap to the nearest street line, then step back from it to one side.
                let line = ((tr_across + across) / street).round() * street - tr_across;
                let line = line.clamp(-spacing, spacing);
                let setback = (8.0 + 12.0 * st.uniform()) * if st.bernoulli(0.5) { 1.0 } else { -1.0 };
                let (a, b) = (tr_along + along, tr_across + line + setback);
                let pos = if horizontal {
                    Point {
                        x: a as f32,
                        y: b as f32,
                    }
                } else {
                    Point {
                        x: b as f32,
                        y: a as f32,
                    }
                };
                let mut la = Stream::new(seed, Purpose::LinkAssignment, idx, 1);
                let link = if plc_at[t as usize] {
                    LinkKind::Plc
                } else if la.uniform() < cell_given_not_plc {
                    LinkKind::Cellular
                } else {
                    LinkKind::Mesh
                };
                let fallback = link == LinkKind::Mesh && la.uniform() < self.cellular_fallback;
                let facility = (class == CustomerClass::Critical).then(|| {
                    let v = la.uniform();
                    let [h, w, _] = self.facility_mix;
                    if v < h {
                        FacilityKind::Hospital
                    } else if v < h + w {
                        FacilityKind::Water
                    } else {
                        FacilityKind::Emergency
                    }
                });
                peak_kw[t as usize] += class_kwh[c] / 1_000.0 * PEAK_KW_PER_MWH[c];
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
        // Feeders: consecutive transformers (which lie next to each other on the spiral);
        // substations: consecutive feeders.
        let tpf = u64::from(self.transformers_per_feeder);
        let n_feeders = n_tr.div_ceil(tpf);
        let fps = u64::from(self.feeders_per_substation);
        let n_subs = n_feeders.div_ceil(fps);
        let mut feeders = Vec::with_capacity(n_feeders as usize);
        for f in 0..n_feeders {
            let (a, b) = ((f * tpf) as usize, ((f + 1) * tpf).min(n_tr) as usize);
            let mut kva = 0.0f32;
            let mut peak = 0.0f64;
            for t in a..b {
                let want = (peak_kw[t] * 1.25) as f32;
                let rating = STANDARD_KVA
                    .iter()
                    .copied()
                    .find(|&r| r >= want)
                    .unwrap_or_else(|| (want / 500.0).ceil() * 500.0);
                transformers[t].rating_kva = rating;
                transformers[t].feeder = f as u32;
                kva += rating;
                peak += peak_kw[t];
            }
            feeders.push(Feeder {
                substation: (f / fps) as u32,
                // Diversity between transformers and headroom for restoration (assumption).
                rating_kw: ((peak * 1.5 / 1_000.0).ceil() * 1_000.0) as f32,
                no_load_loss_kw: kva * NO_LOAD_LOSS_SHARE,
            });
        }
        let substations: Vec<Substation> = (0..n_subs)
            .map(|s| {
                let a = (s * fps * tpf) as usize;
                let b = (((s + 1) * fps * tpf).min(n_tr)) as usize;
                Substation {
                    pos: centroid(transformers[a..b].iter().map(|t| t.pos)),
                }
            })
            .collect();
        // Mesh collectors: groups of consecutive transformers within a settlement, each with
        // about `meters_per_collector` mesh meters; the collector at their centroid.
        let mut mesh_collectors: Vec<Point> = Vec::new();
        let mpc = u64::from(self.meters_per_collector);
        let mut first_meter_of = Vec::with_capacity(n_tr as usize + 1);
        let mut m = 0u64;
        for t in 0..n_tr {
            first_meter_of.push(m);
            m += base + u64::from(t < extra);
        }
        first_meter_of.push(m);
        let mut group: Vec<Point> = Vec::new();
        for t in 0..n_tr as usize {
            let range = first_meter_of[t] as usize..first_meter_of[t + 1] as usize;
            group.extend(meters[range].iter().filter(|s| s.link == LinkKind::Mesh).map(|s| s.pos));
            let settlement_ends = t + 1 == n_tr as usize || settlement_of[t + 1] != settlement_of[t];
            if !group.is_empty() && (group.len() as u64 >= mpc || settlement_ends) {
                mesh_collectors.push(centroid(group.drain(..)));
            }
        }
        let n_mesh_c = mesh_collectors.len() as u32;
        // PLC concentrators, one per PLC transformer, and the quality of every PLC line.
        let (q_min, q_max, reach) = self.plc_quality;
        let mut collectors: Vec<CollectorSite> = mesh_collectors
            .iter()
            .map(|&pos| CollectorSite {
                kind: LinkKind::Mesh,
                pos,
                transformer: NONE,
            })
            .collect();
        let mut concentrator_of = vec![NONE; n_tr as usize];
        let mut line_quality = vec![0.0f64; n_tr as usize];
        for t in 0..n_tr as usize {
            if plc_at[t] {
                concentrator_of[t] = collectors.len() as u32;
                collectors.push(CollectorSite {
                    kind: LinkKind::Plc,
                    pos: transformers[t].pos,
                    transformer: t as u32,
                });
                line_quality[t] = q_min + (q_max - q_min) * Stream::new(seed, Purpose::PlcNoise, t as u64, 0).uniform();
            }
        }
        for site in &mut meters {
            let t = site.transformer as usize;
            if site.link == LinkKind::Plc {
                let d = f64::from(site.pos.dist(transformers[t].pos));
                site.concentrator = concentrator_of[t];
                site.plc_quality = (line_quality[t] * 0.5f64.powf(d / reach)) as f32;
            }
        }
        // Cellular towers on a jittered grid; a meter with a modem attaches to the nearest.
        let (tower_spacing, tower_range) = self.towers;
        let tower_at = |cx: i64, cy: i64| -> Point {
            let key = ((cx as u64) << 32) ^ (cy as u64 & 0xFFFF_FFFF);
            let mut st = Stream::new(seed, Purpose::Placement, key, 4);
            Point {
                x: ((cx as f64 + 0.5 + (st.uniform() - 0.5) * 0.4) * tower_spacing) as f32,
                y: ((cy as f64 + 0.5 + (st.uniform() - 0.5) * 0.4) * tower_spacing) as f32,
            }
        };
        let mut towers: BTreeMap<(i64, i64), u32> = BTreeMap::new();
        let mut choice: Vec<(u32, (i64, i64), f32)> = Vec::new();
        for (i, site) in meters.iter().enumerate() {
            if site.link != LinkKind::Cellular && !site.fallback {
                continue;
            }
            let (cx, cy) = (
                (f64::from(site.pos.x) / tower_spacing).floor() as i64,
                (f64::from(site.pos.y) / tower_spacing).floor() as i64,
            );
            let mut best = ((cx, cy), f32::INFINITY);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let d2 = site.pos.dist2(tower_at(cx + dx, cy + dy));
                    if d2 < best.1 {
                        best = ((cx + dx, cy + dy), d2);
                    }
                }
            }
            let d = f64::from(best.1.sqrt());
            let q = 0.998 / (1.0 + (d / tower_range).powi(4));
            if q >= 0.05 {
                towers.insert(best.0, 0);
                choice.push((i as u32, best.0, q as f32));
            }
        }
        for (k, slot) in towers.iter_mut() {
            *slot = collectors.len() as u32;
            collectors.push(CollectorSite {
                kind: LinkKind::Cellular,
                pos: tower_at(k.0, k.1),
                transformer: NONE,
            });
        }
        for (i, cell, q) in choice {
            let site = &mut meters[i as usize];
            site.tower = towers[&cell];
            site.tower_quality = q;
        }
        // The RF neighbour graph over mesh meters and mesh collectors.
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
            .chain((0..n_mesh_c).map(|c| MeshNode {
                id: meters.len() as u32 + c,
                pos: collectors[c as usize].pos,
                collector: true,
            }))
            .collect();
        let mesh = build_graph(seed, &self.radio, self.links.mesh.min_link_quality, &nodes, n_nodes);
        drop(nodes);
        let network = Network {
            params: self.links,
            meters,
            collectors,
            transformers,
            feeders,
            substations,
            mesh,
        };
        network.check().map_err(|e| TopologyError::Invalid {
            field: e.field,
            reason: e.reason,
        })?;
        Ok(network)
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
    fn apportion_gives_everyone_at_least_one_and_sums() {
        let parts = apportion(10, &[1.0, 0.5, 0.333, 0.25]);
        assert_eq!(parts.iter().sum::<u64>(), 10);
        assert!(parts.iter().all(|&p| p >= 1));
        assert!(parts[0] >= parts[3]);
    }
}

//! The RF mesh neighbour graph: log-distance path loss with log-normal shadowing per link,
//! found with a spatial hash (never O(n²)), each node keeping its best neighbours.

use std::collections::HashMap; // tidy: CellIndex::sparse is looked up by cell, never iterated

use amirange_sim::network::{MeshGraph, Point, encode_quality};
use amirange_sim::rng::{Purpose, QuantileTable, StreamFamily};

use crate::spec::Radio;

/// Free-space path loss at 1 m for 915 MHz, dB (20 log10(4π/λ), λ = 0.328 m).
pub const PATH_LOSS_1M_DB: f64 = 31.7;

/// A node of the mesh: its graph id, position, and whether it is a collector.
#[derive(Clone, Copy, Debug)]
pub struct MeshNode {
    /// Node id in the graph (meter index, or meters + collector index).
    pub id: u32,
    /// Position.
    pub pos: Point,
    /// A collector on a pole (antenna gain, bigger neighbour table).
    pub collector: bool,
}

/// Frame success of a link of length `d` metres with shadowing `shadow_db`.
pub fn link_quality(radio: &Radio, d: f64, shadow_db: f64, to_collector: bool) -> f64 {
    let gain = if to_collector { radio.collector_gain_db } else { 0.0 };
    let path_loss = PATH_LOSS_1M_DB + 10.0 * radio.path_loss_exponent * d.max(1.0).log10();
    let margin = radio.tx_power_dbm + gain - radio.building_loss_db - path_loss - shadow_db - radio.sensitivity_dbm;
    // A 2 dB logistic slope from 50% at the sensitivity level (assumption).
    1.0 / (1.0 + (-margin / 2.0).exp())
}

/// Distance considered for links (with `gain_db` of extra antenna gain): where the median link
/// just reaches `min_quality`, plus one shadowing sigma of luck.
pub fn max_range_m(radio: &Radio, min_quality: f64, gain_db: f64) -> f64 {
    let needed = -2.0 * (1.0 / min_quality.clamp(1e-6, 1.0 - 1e-6) - 1.0).ln();
    let budget = radio.tx_power_dbm + gain_db - radio.building_loss_db - radio.sensitivity_dbm + radio.shadowing_db
        - needed
        - PATH_LOSS_1M_DB;
    10f64
        .powf(budget / (10.0 * radio.path_loss_exponent))
        .clamp(1.0, 100_000.0)
}

/// Builds the neighbour graph of `nodes` (graph size `n_nodes`): each node considers the
/// candidates within radio range (the nearest, every collector, and an even sample of the
/// farther ones), draws each link's shadowing from the seed (the same value from both ends),
/// and keeps `max_neighbours` links above `min_quality` (collectors eight times as many): half
/// the most reliable, half the most progress per transmission. The graph is the union of
/// everyone's choices.
pub fn build_graph(seed: u64, radio: &Radio, min_quality: f64, nodes: &[MeshNode], n_nodes: usize) -> MeshGraph {
    if nodes.is_empty() {
        return MeshGraph::from_edges(n_nodes, Vec::new());
    }
    let range = max_range_m(radio, min_quality, radio.collector_gain_db) as f32;
    let meter_range = max_range_m(radio, min_quality, 0.0) as f32;
    // Cell size: about four nodes per cell on average over the occupied area.
    let (mut lo, mut hi) = (nodes[0].pos, nodes[0].pos);
    for n in nodes {
        lo = Point {
            x: lo.x.min(n.pos.x),
            y: lo.y.min(n.pos.y),
        };
        hi = Point {
            x: hi.x.max(n.pos.x),
            y: hi.y.max(n.pos.y),
        };
    }
    let cell = cell_size(nodes, lo, hi).min(range).max(5.0);
    let index = CellIndex::new(nodes, lo, hi, cell);
    let normal = QuantileTable::standard_normal();
    let shadow = StreamFamily::new(seed, Purpose::Shadowing);
    let k = radio.max_neighbours as usize;
    // One bit per node: whether it is a collector (small enough to stay in cache).
    let mut collector_bits = vec![0u64; nodes.len().div_ceil(64)];
    for (i, n) in nodes.iter().enumerate() {
        if n.collector {
            collector_bits[i / 64] |= 1 << (i % 64);
        }
    }
    let is_collector = |i: u32| collector_bits[i as usize / 64] & (1 << (i % 64)) != 0;
    let first_collector = nodes
        .iter()
        .filter(|n| n.collector)
        .map(|n| n.id)
        .min()
        .unwrap_or(u32::MAX);
    // Every node chooses its links independently: chunks run on the compute pool and their
    // edges are concatenated in chunk order, so the graph does not depend on the thread count.
    let choose = |chunk: &[MeshNode]| -> Vec<(u32, u32, u8)> {
        let mut edges: Vec<(u32, u32, u8)> = Vec::with_capacity(chunk.len() * k);
        // (squared distance, node) packed in one integer: squared distances are non-negative,
        // so their bit patterns order like the numbers, and ties fall to the node id.
        let mut candidates: Vec<u64> = Vec::new();
        let mut scored: Vec<(f64, f64, u32)> = Vec::new();
        for me in chunk {
            let keep = if me.collector { 8 * k } else { k };
            candidates.clear();
            let (cx, cy) = index.key(me.pos);
            let reach = if me.collector { range } else { meter_range };
            let max_ring = (reach / cell).ceil() as i32;
            for r in 0..=max_ring {
                for dy in -r..=r {
                    let step = if dy == -r || dy == r { 1 } else { 2 * r.max(1) };
                    let mut dx = -r;
                    while dx <= r {
                        for other in index.cell(cx + dx, cy + dy) {
                            let d2 = me.pos.dist2(other.pos);
                            if other.id != me.id && d2 <= reach * reach && !(me.collector && other.collector) {
                                candidates.push((u64::from(d2.to_bits()) << 32) | u64::from(other.index));
                            }
                        }
                        dx += step;
                    }
                }
            }
            // Score the nearest candidates, every collector in range, and an even sample of the
            // farther ones (long links make short routes).
            let budget = 4 * keep;
            // Everyone when there are few; else the nearest half of the budget, then every
            // `stride`-th of the rest and every collector (picked in place, nothing moved).
            let (near, stride) = if candidates.len() > budget {
                let near = budget / 2;
                candidates.select_nth_unstable(near);
                (near, (candidates.len() - near).div_ceil(budget - near))
            } else {
                (candidates.len(), 1)
            };
            scored.clear();
            for (at, &key) in candidates.iter().enumerate() {
                let kept = at + 1;
                if !(kept <= near || (kept - near).is_multiple_of(stride) || is_collector(key as u32)) {
                    continue;
                }
                let (d2, i) = (f32::from_bits((key >> 32) as u32), key as u32);
                let other = &nodes[i as usize];
                let (a, b) = (me.id.min(other.id), me.id.max(other.id));
                let z = normal.sample(shadow.stream((u64::from(a) << 32) | u64::from(b), 0).next_u64());
                let d = f64::from(d2.sqrt());
                let q = link_quality(
                    radio,
                    d,
                    f64::from(z) * radio.shadowing_db,
                    me.collector || other.collector,
                );
                if q >= min_quality {
                    scored.push((q, d, other.id));
                }
            }
            // Half the table: the most reliable links; the other half: the most progress per
            // expected transmission (distance x quality); collectors always win a place.
            scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)));
            let reliable = (keep / 2).max(1).min(scored.len());
            let (best, rest) = scored.split_at_mut(reliable);
            rest.sort_unstable_by(|a, b| {
                let collector = |x: &(f64, f64, u32)| x.2 >= first_collector;
                collector(b)
                    .cmp(&collector(a))
                    .then((b.0 * b.1).total_cmp(&(a.0 * a.1)))
                    .then(a.2.cmp(&b.2))
            });
            for &(q, _, other) in best.iter().chain(rest.iter().take(keep - reliable)) {
                edges.push((me.id, other, encode_quality(q)));
            }
        }
        edges
    };
    let pool = bevy_tasks::ComputeTaskPool::get_or_init(bevy_tasks::TaskPool::default);
    let parts = pool.scope(|scope| {
        for chunk in nodes.chunks(4_096) {
            let choose = &choose;
            scope.spawn(async move { choose(chunk) });
        }
    });
    MeshGraph::from_edges(n_nodes, parts.concat())
}

/// A node as the cell index keeps it.
#[derive(Clone, Copy, Debug)]
struct Entry {
    pos: Point,
    /// Position in `nodes`.
    index: u32,
    id: u32,
    collector: bool,
}

/// Nodes bucketed by square cell: a dense table where the occupied cells are a fair share of
/// the bounding box, a hash map for sparse regions of scattered villages.
struct CellIndex {
    lo: Point,
    cell: f32,
    nx: i32,
    ny: i32,
    /// The nodes sorted by cell, with what the neighbour search reads of them, so that a
    /// cell's nodes lie side by side in memory.
    order: Vec<Entry>,
    dense: Vec<u32>,
    sparse: HashMap<(i32, i32), (u32, u32)>, // tidy: looked up by cell, never iterated
}

impl CellIndex {
    fn new(nodes: &[MeshNode], lo: Point, hi: Point, cell: f32) -> CellIndex {
        let nx = ((hi.x - lo.x) / cell) as i32 + 1;
        let ny = ((hi.y - lo.y) / cell) as i32 + 1;
        let mut index = CellIndex {
            lo,
            cell,
            nx,
            ny,
            order: Vec::new(),
            dense: Vec::new(),
            sparse: HashMap::new(), // tidy: looked up by cell, never iterated
        };
        let mut sorted: Vec<(i32, i32, u32)> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (cx, cy) = index.key(n.pos);
                (cy, cx, i as u32)
            })
            .collect();
        sorted.sort_unstable();
        let cells = i64::from(nx) * i64::from(ny);
        if cells <= 16 * nodes.len() as i64 + 1_000_000 {
            // dense[c]..dense[c + 1] are the nodes of cell c = cy * nx + cx.
            index.dense = vec![0; cells as usize + 1];
            for &(cy, cx, _) in &sorted {
                index.dense[(cy * nx + cx) as usize + 1] += 1;
            }
            for c in 0..cells as usize {
                index.dense[c + 1] += index.dense[c];
            }
        } else {
            for (at, &(cy, cx, _)) in sorted.iter().enumerate() {
                index.sparse.entry((cx, cy)).or_insert((at as u32, 0)).1 += 1;
            }
        }
        index.order = sorted
            .iter()
            .map(|&(_, _, i)| {
                let n = &nodes[i as usize];
                Entry {
                    pos: n.pos,
                    index: i,
                    id: n.id,
                    collector: n.collector,
                }
            })
            .collect();
        index
    }

    fn key(&self, p: Point) -> (i32, i32) {
        (
            ((p.x - self.lo.x) / self.cell) as i32,
            ((p.y - self.lo.y) / self.cell) as i32,
        )
    }

    /// The nodes in cell `(cx, cy)` (none outside the box).
    fn cell(&self, cx: i32, cy: i32) -> &[Entry] {
        if cx < 0 || cy < 0 || cx >= self.nx || cy >= self.ny {
            return &[];
        }
        if self.dense.is_empty() {
            return self
                .sparse
                .get(&(cx, cy))
                .map_or(&[], |&(start, len)| &self.order[start as usize..(start + len) as usize]);
        }
        let c = (cy * self.nx + cx) as usize;
        &self.order[self.dense[c] as usize..self.dense[c + 1] as usize]
    }
}

fn cell_size(nodes: &[MeshNode], lo: Point, hi: Point) -> f32 {
    // Occupied area estimated on a coarse 256 x 256 grid, so that sparse regions of scattered
    // villages do not make the cells huge.
    let w = (hi.x - lo.x).max(1.0);
    let h = (hi.y - lo.y).max(1.0);
    let mut occupied = vec![false; 256 * 256];
    for n in nodes {
        let i = (((n.pos.x - lo.x) / w * 255.0) as usize).min(255);
        let j = (((n.pos.y - lo.y) / h * 255.0) as usize).min(255);
        occupied[j * 256 + i] = true;
    }
    let area = occupied.iter().filter(|o| **o).count() as f32 * (w / 256.0) * (h / 256.0);
    (4.0 * area / nodes.len() as f32).sqrt()
}

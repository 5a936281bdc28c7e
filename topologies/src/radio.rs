//! The RF mesh neighbour graph: log-distance path loss with log-normal shadowing per link,
//! found with a spatial hash (never O(n²)), each node keeping its best neighbours.

use std::collections::HashMap; // tidy: CellIndex::sparse is looked up by cell, never iterated

use amirange_sim::network::{MeshGraph, Point, encode_quality};
use amirange_sim::rng::{Purpose, QuantileTable, StreamFamily, exp_f32, log10_f32};

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

/// Frame success of a link of length `d` metres with shadowing `shadow_db`. Computed in single
/// precision: the graph keeps a byte of it, and the topology build evaluates tens of millions.
pub fn link_quality(radio: &Radio, d: f64, shadow_db: f64, to_collector: bool) -> f64 {
    f64::from(quality(
        link_budget_db(radio, to_collector),
        path_loss_factor(radio),
        d as f32,
        shadow_db as f32,
    ))
}

/// What a link has to spend on path loss and shadowing before its margin is zero, dB.
fn link_budget_db(radio: &Radio, to_collector: bool) -> f32 {
    let gain = if to_collector { radio.collector_gain_db } else { 0.0 };
    (radio.tx_power_dbm + gain - radio.building_loss_db - PATH_LOSS_1M_DB - radio.sensitivity_dbm) as f32
}

/// Path loss per decade of distance, dB.
fn path_loss_factor(radio: &Radio) -> f32 {
    10.0 * radio.path_loss_exponent as f32
}

/// [`link_quality`] from its parts, in arithmetic that vectorises (see
/// [`amirange_sim::rng::exp_f32`]).
#[inline(always)]
fn quality(budget_db: f32, path_loss_factor: f32, d: f32, shadow_db: f32) -> f32 {
    let path_loss = path_loss_factor * log10_f32(d.max(1.0));
    let margin = budget_db - path_loss - shadow_db;
    // A 2 dB logistic slope from 50% at the sensitivity level (assumption).
    1.0 / (1.0 + exp_f32(-margin / 2.0))
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

/// Thinned copies of the node set for the far part of the neighbour search: a node belongs to
/// level `l` with probability `2^-l` (drawn once per node), and level `l` keeps its own cell
/// index with cells `2^(l/2)` times as wide, so every level holds about as many nodes per cell.
const MAX_SAMPLE_LEVEL: usize = 16;

/// Builds the neighbour graph of `nodes` (graph size `n_nodes`). Each node considers, among the
/// candidates within radio range, the nearest `2 x max_neighbours`, every collector, and a
/// random sample of the farther ones of about as many again (the nodes of the thinnest sample
/// level that still holds that many, judged from the local density the nearest ones show);
/// it draws each link's shadowing from the seed (the same value from both ends) and keeps
/// `max_neighbours` links above `min_quality` (collectors eight times as many): half the most
/// reliable, half the most progress per transmission. The graph is the union of everyone's
/// choices. The work per node does not grow with the density, so the build is linear in the
/// nodes.
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
    let all: Vec<u32> = (0..nodes.len() as u32).collect();
    let cell = cell_size(nodes, &all, lo, hi).min(range).max(5.0);
    let sample = StreamFamily::new(seed, Purpose::MeshSample);
    let level_of: Vec<u8> = nodes
        .iter()
        .map(|n| (sample.stream(u64::from(n.id), 0).next_u64().trailing_zeros() as usize).min(MAX_SAMPLE_LEVEL) as u8)
        .collect();
    let n_levels = (1..=MAX_SAMPLE_LEVEL)
        .take_while(|&l| (nodes.len() >> l) >= 16)
        .last()
        .unwrap_or(0);
    let levels: Vec<CellIndex> = (0..=n_levels)
        .map(|l| {
            let members: Vec<u32> = if l == 0 {
                all.clone()
            } else {
                all.iter()
                    .copied()
                    .filter(|&i| usize::from(level_of[i as usize]) >= l)
                    .collect()
            };
            CellIndex::new(nodes, &members, lo, hi, cell * (l as f32 / 2.0).exp2())
        })
        .collect();
    drop(all);
    let collector_members: Vec<u32> = (0..nodes.len() as u32)
        .filter(|&i| nodes[i as usize].collector)
        .collect();
    let collectors = CellIndex::new(
        nodes,
        &collector_members,
        lo,
        hi,
        cell_size(nodes, &collector_members, lo, hi).max(cell),
    );
    let base = &levels[0];
    let normal = QuantileTable::standard_normal();
    let shadow = StreamFamily::new(seed, Purpose::Shadowing);
    let k = radio.max_neighbours as usize;
    let first_collector = nodes
        .iter()
        .filter(|n| n.collector)
        .map(|n| n.id)
        .min()
        .unwrap_or(u32::MAX);
    let (budget_meter, budget_collector) = (link_budget_db(radio, false), link_budget_db(radio, true));
    let loss_factor = path_loss_factor(radio);
    // Every node chooses its links independently: chunks run on the compute pool, and the
    // graph is built from their edges in chunk order (the same whatever the thread count).
    let choose = |chunk: &[MeshNode]| -> Vec<(u32, u32, u8)> {
        let mut edges: Vec<(u32, u32, u8)> = Vec::with_capacity(chunk.len() * k);
        // (squared distance, node) packed in one integer: squared distances are non-negative,
        // so their bit patterns order like the numbers, and ties fall to the node id.
        let mut candidates: Vec<u64> = Vec::new();
        let mut scored: Vec<(f64, f64, u32)> = Vec::new();
        // The candidates' lengths, shadowing, budgets, ids and qualities, scored in passes.
        let mut lengths: Vec<f32> = Vec::new();
        let mut shadows: Vec<f32> = Vec::new();
        let mut budgets: Vec<f32> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        let mut qualities: Vec<f32> = Vec::new();
        for me in chunk {
            let keep = if me.collector { 8 * k } else { k };
            let reach = if me.collector { range } else { meter_range };
            let reach2 = reach * reach;
            let usable =
                |other: &Entry, d2: f32| other.id != me.id && d2 <= reach2 && !(me.collector && other.collector);
            let pack = |other: &Entry, d2: f32| (u64::from(d2.to_bits()) << 32) | u64::from(other.index);
            // The nearest: rings of cells outwards until `near` candidates lie closer than any
            // cell not yet visited, or the range is covered.
            let budget = 4 * keep;
            let near = budget / 2;
            candidates.clear();
            let (cx, cy) = base.key(me.pos);
            let max_ring = (reach / cell).ceil() as i32;
            let mut covered = false;
            for r in 0..=max_ring {
                let mut visit = |other: &Entry| {
                    let d2 = me.pos.dist2(other.pos);
                    if usable(other, d2) {
                        candidates.push(pack(other, d2));
                    }
                };
                for dy in -r..=r {
                    if dy == -r || dy == r {
                        // The ring's top and bottom rows: whole runs of cells.
                        base.row(cy + dy, cx - r, cx + r, &mut visit);
                    } else {
                        // Its sides: the first and the last cell of the row.
                        base.row(cy + dy, cx - r, cx - r, &mut visit);
                        base.row(cy + dy, cx + r, cx + r, &mut visit);
                    }
                }
                // Every node not visited yet is farther than `r` cells.
                let seen = r as f32 * cell;
                if r == max_ring || seen >= reach {
                    covered = true;
                    break;
                }
                if candidates.len() >= near {
                    let inside = (u64::from((seen * seen).to_bits()) << 32) | u64::from(u32::MAX);
                    if candidates.iter().filter(|&&key| key <= inside).count() >= near {
                        break;
                    }
                }
            }
            if candidates.len() > near {
                candidates.select_nth_unstable(near - 1);
                candidates.truncate(near);
            }
            if !(covered && candidates.len() < near) {
                // Candidates beyond the nearest: every collector, and the sample level whose
                // expected share of the farther nodes is about `budget - near`.
                let threshold = candidates.iter().copied().max().unwrap_or(0);
                let d_near2 = f64::from(f32::from_bits((threshold >> 32) as u32)).max(1.0);
                let farther = near as f64 * (f64::from(reach2) / d_near2) - near as f64;
                let ratio = farther / (budget - near) as f64;
                let level = if ratio <= 1.5 {
                    0
                } else {
                    (ratio.log2().round() as usize).min(n_levels)
                };
                let mut far = |index: &CellIndex, collectors_only: bool| {
                    index.for_each_within(me.pos, reach, |other| {
                        if other.collector != collectors_only {
                            return;
                        }
                        let d2 = me.pos.dist2(other.pos);
                        let key = pack(other, d2);
                        if key > threshold && usable(other, d2) {
                            candidates.push(key);
                        }
                    });
                };
                far(&levels[level], false);
                if !me.collector {
                    far(&collectors, true);
                }
            }
            // Each candidate's shadowing (the same from both ends) and length; then every
            // quality in a loop of plain arithmetic, which vectorises; then those good enough.
            lengths.clear();
            shadows.clear();
            budgets.clear();
            ids.clear();
            for &key in &candidates {
                let (d2, i) = (f32::from_bits((key >> 32) as u32), key as u32);
                let other = &nodes[i as usize];
                let (a, b) = (me.id.min(other.id), me.id.max(other.id));
                let z = normal.sample(shadow.stream((u64::from(a) << 32) | u64::from(b), 0).next_u64());
                lengths.push(d2.sqrt());
                shadows.push((f64::from(z) * radio.shadowing_db) as f32);
                budgets.push(if me.collector || other.collector {
                    budget_collector
                } else {
                    budget_meter
                });
                ids.push(other.id);
            }
            qualities.clear();
            qualities.extend(
                lengths
                    .iter()
                    .zip(&shadows)
                    .zip(&budgets)
                    .map(|((&d, &shadow_db), &budget_db)| quality(budget_db, loss_factor, d, shadow_db)),
            );
            scored.clear();
            for ((&q, &d), &id) in qualities.iter().zip(&lengths).zip(&ids) {
                let q = f64::from(q);
                if q >= min_quality {
                    scored.push((q, f64::from(d), id));
                }
            }
            // Half the table: the most reliable links; the other half: the most progress per
            // expected transmission (distance x quality); collectors always win a place. Both
            // orders are total, so picking each half in place chooses what sorting would.
            let reliable = (keep / 2).max(1).min(scored.len());
            if reliable > 0 && reliable < scored.len() {
                scored.select_nth_unstable_by(reliable - 1, |a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)));
            }
            let (best, rest) = scored.split_at_mut(reliable);
            let wanted = (keep - reliable).min(rest.len());
            if wanted > 0 && wanted < rest.len() {
                rest.select_nth_unstable_by(wanted - 1, |a, b| {
                    let collector = |x: &(f64, f64, u32)| x.2 >= first_collector;
                    collector(b)
                        .cmp(&collector(a))
                        .then((b.0 * b.1).total_cmp(&(a.0 * a.1)))
                        .then(a.2.cmp(&b.2))
                });
            }
            for &(q, _, other) in best.iter().chain(rest.iter().take(wanted)) {
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
    MeshGraph::from_edge_parts(n_nodes, parts)
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
    /// Indexes the nodes of `members` (positions in `nodes`) in cells `cell` metres wide.
    fn new(nodes: &[MeshNode], members: &[u32], lo: Point, hi: Point, cell: f32) -> CellIndex {
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
        let mut sorted: Vec<(i32, i32, u32)> = members
            .iter()
            .map(|&i| {
                let (cx, cy) = index.key(nodes[i as usize].pos);
                (cy, cx, i)
            })
            .collect();
        sorted.sort_unstable();
        let cells = i64::from(nx) * i64::from(ny);
        if cells <= 16 * members.len() as i64 + 1_000_000 {
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

    /// The nodes in cells `x0..=x1` of row `cy`, in cell order (none outside the box). The
    /// nodes are sorted by (row, column), so in the dense table a run of cells in one row is
    /// one slice: one lookup instead of one per cell.
    fn row(&self, cy: i32, x0: i32, x1: i32, mut f: impl FnMut(&Entry)) {
        if cy < 0 || cy >= self.ny {
            return;
        }
        let (x0, x1) = (x0.max(0), x1.min(self.nx - 1));
        if x0 > x1 {
            return;
        }
        if self.dense.is_empty() {
            for x in x0..=x1 {
                self.cell(x, cy).iter().for_each(&mut f);
            }
            return;
        }
        let base = (cy * self.nx) as usize;
        let (a, b) = (self.dense[base + x0 as usize], self.dense[base + x1 as usize + 1]);
        self.order[a as usize..b as usize].iter().for_each(f);
    }

    /// Calls `f` with every node in a cell that reaches within `reach` metres of `p` (a
    /// square of cells around it, row by row; the caller checks the distance).
    fn for_each_within(&self, p: Point, reach: f32, mut f: impl FnMut(&Entry)) {
        let (cx, cy) = self.key(p);
        let r = (reach / self.cell).ceil() as i32;
        for y in (cy - r).max(0)..=(cy + r).min(self.ny - 1) {
            self.row(y, cx - r, cx + r, &mut f);
        }
    }
}

/// Cells for about four of `members` each over the area they occupy.
fn cell_size(nodes: &[MeshNode], members: &[u32], lo: Point, hi: Point) -> f32 {
    // Occupied area estimated on a coarse 256 x 256 grid, so that sparse regions of scattered
    // villages do not make the cells huge.
    let w = (hi.x - lo.x).max(1.0);
    let h = (hi.y - lo.y).max(1.0);
    let mut occupied = vec![false; 256 * 256];
    for &m in members {
        let n = &nodes[m as usize];
        let i = (((n.pos.x - lo.x) / w * 255.0) as usize).min(255);
        let j = (((n.pos.y - lo.y) / h * 255.0) as usize).min(255);
        occupied[j * 256 + i] = true;
    }
    let area = occupied.iter().filter(|o| **o).count() as f32 * (w / 256.0) * (h / 256.0);
    (4.0 * area / members.len().max(1) as f32).sqrt()
}

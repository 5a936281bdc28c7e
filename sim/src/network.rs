//! The grid and the field networks as structures, and how messages move through them.
//!
//! ```text
//!  substation ─► feeder ─► transformer ─► meter ──(RF mesh hops)──► mesh collector ─┐
//!                              │            └──(PLC, shared channel)──► concentrator ─┤ backhaul
//!                              │            └──(cellular)─────────────► tower ────────┴────────► HES
//!                              └─ feeder-head SCADA sees the true load plus losses
//! ```
//!
//! A [`Network`] is what a topology generator builds: where every meter, collector,
//! transformer, feeder and substation is, the RF neighbour graph with a link quality per edge,
//! and the link parameters ([`LinkParams`]). [`NetState`] is what the network is doing now: the
//! routing tree of the mesh (ETX-shortest paths to a collector, hop-limited), the radio condition
//! of every node (interference, dead radios), and per meter a [`MeterPath`]: the probability that
//! a read round trip succeeds, and its latency as a fixed part (queueing at the shared channel,
//! transfer time) plus a log-normal random part.
//!
//! Reads are batched per read cycle (one draw per meter against its path, see `dataplane`);
//! commands and firmware images are messages that travel as events, each with its own queueing at
//! the collector's shared channel, so a fan-out to every meter of one transformer or tower takes
//! measurably longer than one command.
//!
//! Latency of a path of several hops: the sum of independent log-normal hop latencies is
//! approximated by one log-normal with the same mean and variance (Fenton–Wilkinson), so a read
//! costs one draw whatever its hop count.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use bevy_ecs::prelude::Resource;
use serde::Serialize;

use crate::model::{CustomerClass, LinkKind};
use crate::time::{SimDuration, SimTime};

/// "No such entity" in index fields.
pub const NONE: u32 = u32::MAX;

/// Entity keys of [`crate::rng::Purpose::CommsFaults`] streams above the link kinds': a
/// collector's outages (plus its index) and the area's weather.
const COLLECTOR_ENTITY: u64 = 1 << 32;
const WEATHER_ENTITY: u64 = 1 << 33;

/// A position in metres, in the service area's own plane.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize)]
pub struct Point {
    /// East, metres.
    pub x: f32,
    /// North, metres.
    pub y: f32,
}

impl Point {
    /// Squared distance, m².
    #[inline]
    pub fn dist2(self, other: Point) -> f32 {
        let (dx, dy) = (self.x - other.x, self.y - other.y);
        dx * dx + dy * dy
    }
    /// Distance, m.
    #[inline]
    pub fn dist(self, other: Point) -> f32 {
        self.dist2(other).sqrt()
    }
}

/// What kind of critical facility a critical-class premise is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum FacilityKind {
    /// Hospitals and clinics.
    Hospital,
    /// Water and wastewater pumping and treatment.
    Water,
    /// Police, fire, ambulance, emergency coordination.
    Emergency,
}

/// Default share of critical premises per facility kind, in [`FacilityKind::ALL`] order: per
/// 100,000 meters 5 hospitals (Germany has about 1,900 hospitals for about 50 million meters,
/// one per 26,000), 45 water and wastewater sites and 50 police, fire and ambulance stations
/// (assumption).
pub const DEFAULT_FACILITY_MIX: [f64; 3] = [0.05, 0.45, 0.5];

/// Mean annual consumption of a critical premise over [`DEFAULT_FACILITY_MIX`], kWh/a (the
/// critical class's default mean; each facility's drawn consumption is scaled by
/// [`FacilityKind::consumption_weight`] around it).
pub const CRITICAL_MEAN_ANNUAL_KWH: f64 = 327_500.0;

/// What keeps a critical facility supplied while its own feeder is out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum BackupSupply {
    /// A second MV feed from the neighbouring feeder of its pair (feeders 0 and 1, 2 and 3, and
    /// so on): supplied while either feeder is in.
    SecondFeed,
    /// A standby generator: supplied whatever the grid does (its start-up of seconds is not
    /// modelled).
    StandbyGenerator,
}

impl BackupSupply {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            BackupSupply::SecondFeed => "second-feed",
            BackupSupply::StandbyGenerator => "standby-generator",
        }
    }

    /// Whether the backup carries a facility on `feeder` (of `n_feeders`) while that feeder is
    /// out, given which feeders are energized: a generator always, a second feed while the
    /// other feeder of its pair is in. The data plane and the blast-radius map decide supply by
    /// it alike.
    #[inline]
    pub fn carries(self, feeder: usize, n_feeders: usize, energized: impl Fn(usize) -> bool) -> bool {
        match self {
            BackupSupply::StandbyGenerator => true,
            BackupSupply::SecondFeed => BackupSupply::second_feeder(feeder, n_feeders).is_some_and(energized),
        }
    }

    /// The feeder a second feed comes from for a facility on `feeder`, of `n_feeders`: the
    /// other feeder of its pair, if there is one.
    #[inline]
    pub fn second_feeder(feeder: usize, n_feeders: usize) -> Option<usize> {
        let other = feeder ^ 1;
        (other < n_feeders).then_some(other)
    }
}

impl FacilityKind {
    /// Every kind, in index order.
    pub const ALL: [FacilityKind; 3] = [FacilityKind::Hospital, FacilityKind::Water, FacilityKind::Emergency];

    /// Typical annual consumption of a facility of this kind, kWh/a. A hospital: a general
    /// hospital of 250 beds at 7,000 kWh per bed and year (German hospitals use 3,000 to
    /// 23,000 kWh per bed, about 7,000 on average: management-krankenhaus.de, 2025; Stiftung
    /// viamedica/klinergie2020: 5,800), 1.75 GWh/a. A water site: waterworks, wastewater
    /// treatment and their many small pumping stations on average, 400 MWh/a (assumption). An
    /// emergency station (police, fire, ambulance): 120 MWh/a (assumption).
    pub fn typical_annual_kwh(self) -> f64 {
        match self {
            FacilityKind::Hospital => 1_750_000.0,
            FacilityKind::Water => 400_000.0,
            FacilityKind::Emergency => 120_000.0,
        }
    }

    /// The factor by which a facility's drawn consumption is scaled from the critical class's
    /// mean: its typical consumption over [`CRITICAL_MEAN_ANNUAL_KWH`], so that the class keeps
    /// its mean over the default facility mix.
    pub fn consumption_weight(self) -> f64 {
        self.typical_annual_kwh() / CRITICAL_MEAN_ANNUAL_KWH
    }

    /// Share of facilities of this kind with a second feed and with a standby generator
    /// (assumption: hospitals must have emergency power, DIN VDE 0100-710 and NFPA 99/110, and
    /// large ones often take a second MV feed; water sites and emergency stations keep
    /// generators less often).
    pub fn backup_shares(self) -> (f64, f64) {
        match self {
            FacilityKind::Hospital => (0.3, 0.7),
            FacilityKind::Water => (0.2, 0.3),
            FacilityKind::Emergency => (0.1, 0.5),
        }
    }
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            FacilityKind::Hospital => "hospital",
            FacilityKind::Water => "water",
            FacilityKind::Emergency => "emergency",
        }
    }
}

/// A meter as placed by the generator: premise class, position, grid place and field link.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeterSite {
    /// Customer class of the premise.
    pub class: CustomerClass,
    /// The meter's primary field link.
    pub link: LinkKind,
    /// For critical-class premises, which kind of facility.
    pub facility: Option<FacilityKind>,
    /// Whether a mesh meter has a cellular modem to fall back on.
    pub fallback: bool,
    /// Position.
    pub pos: Point,
    /// The distribution transformer that supplies it.
    pub transformer: u32,
    /// PLC meters: the concentrator (collector index) at their transformer; otherwise [`NONE`].
    pub concentrator: u32,
    /// Per-frame success of the PLC link to the concentrator (PLC meters).
    pub plc_quality: f32,
    /// The cellular tower (collector index) the meter attaches to, if it has cellular (primary
    /// or fallback) and a tower in range; otherwise [`NONE`].
    pub tower: u32,
    /// Per-exchange success of the cellular link to `tower`.
    pub tower_quality: f32,
}

/// A collector: an RF mesh collector (on a pole), a PLC data concentrator (at a transformer), or
/// a cellular tower (which reads the cellular meters attached to it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CollectorSite {
    /// The kind of meters it reads.
    pub kind: LinkKind,
    /// Position.
    pub pos: Point,
    /// PLC concentrators: the transformer whose channel it shares; otherwise [`NONE`].
    pub transformer: u32,
}

/// A distribution transformer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Transformer {
    /// Position.
    pub pos: Point,
    /// The feeder it hangs on.
    pub feeder: u32,
    /// Rating, kVA.
    pub rating_kva: f32,
}

/// A medium-voltage feeder leaving a substation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Feeder {
    /// The substation it leaves from.
    pub substation: u32,
    /// Rating, kW.
    pub rating_kw: f32,
    /// Transformer no-load (iron) losses along the feeder, kW, present whenever it is energised.
    pub no_load_loss_kw: f32,
}

/// A substation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Substation {
    /// Position.
    pub pos: Point,
}

/// The RF neighbour graph in compressed-sparse-row form. Nodes are meters (`0..n_meters`) and
/// collectors (`n_meters + collector index`); edges are symmetric, each with the per-frame
/// success of the link quantised to a byte.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeshGraph {
    /// `offsets[v]..offsets[v + 1]` are node `v`'s edges; length = nodes + 1.
    pub offsets: Vec<u32>,
    /// Neighbour node of each edge.
    pub targets: Vec<u32>,
    /// Link quality of each edge, `q = (code + 0.5) / 256`.
    pub quality: Vec<u8>,
}

/// The edges `(a, b, quality code)` packed as `(low end, high end, 255 - quality)` words (self
/// loops dropped) and sorted, on the compute pool: a counting pass places each word in the
/// range of its low end (one of a few dozen ranges of node ids), and each range is sorted on
/// its own. The ranges follow each other in order, so the result is what one sort of every
/// word gives, whatever the thread count, and no more memory than one copy of the words. The
/// edges come in parts (as the threads that found them left them), each freed once its words
/// are placed: joining them first would touch another copy of every edge.
fn sorted_edge_keys(n_nodes: usize, parts: Vec<Vec<(u32, u32, u8)>>) -> Vec<u64> {
    const RANGES: usize = 32;
    let key =
        |&(a, b, q): &(u32, u32, u8)| (u64::from(a.min(b)) << 36) | (u64::from(a.max(b)) << 8) | u64::from(255 - q);
    let range = |w: u64| (((w >> 36) as usize).saturating_mul(RANGES) / n_nodes.max(1)).min(RANGES - 1);
    let mut starts = [0usize; RANGES + 1];
    for e in parts.iter().flatten().filter(|e| e.0 != e.1) {
        starts[range(key(e)) + 1] += 1;
    }
    for r in 0..RANGES {
        starts[r + 1] += starts[r];
    }
    let mut keys = vec![0u64; starts[RANGES]];
    let mut fill = starts;
    for part in parts {
        for e in part.iter().filter(|e| e.0 != e.1) {
            let w = key(e);
            let r = range(w);
            keys[fill[r]] = w;
            fill[r] += 1;
        }
    }
    let pool = bevy_tasks::ComputeTaskPool::get_or_init(bevy_tasks::TaskPool::default);
    pool.scope(|scope| {
        let mut rest = keys.as_mut_slice();
        for r in 0..RANGES {
            let (part, tail) = rest.split_at_mut(starts[r + 1] - starts[r]);
            rest = tail;
            scope.spawn(async move { part.sort_unstable() });
        }
    });
    keys
}

impl MeshGraph {
    /// Builds the graph from undirected edges `(a, b, quality code)`, any order, duplicates
    /// allowed (the best quality wins).
    pub fn from_edges(n_nodes: usize, edges: Vec<(u32, u32, u8)>) -> MeshGraph {
        MeshGraph::from_edge_parts(n_nodes, vec![edges])
    }

    /// [`MeshGraph::from_edges`] with the edges in parts, as found in parallel; each part is
    /// freed once read.
    pub fn from_edge_parts(n_nodes: usize, parts: Vec<Vec<(u32, u32, u8)>>) -> MeshGraph {
        // Pack each undirected edge as (low end, high end, 255 - quality): one word, so that a
        // plain sort puts every pair together with its best quality first (28 bits per end is
        // 268M nodes).
        let mut keys = sorted_edge_keys(n_nodes, parts);
        keys.dedup_by_key(|w| *w >> 8);
        // Counting placement: scanning pairs in (low, high) order, every node first receives its
        // lower neighbours (in ascending order, while the scan is at them) and then its higher
        // ones (ascending, while the scan is at the node itself), so each node's targets come
        // out sorted without a second sort.
        let mut offsets = vec![0u32; n_nodes + 1];
        for &w in &keys {
            offsets[(w >> 36) as usize + 1] += 1;
            offsets[((w >> 8) & 0x0FFF_FFFF) as usize + 1] += 1;
        }
        for v in 0..n_nodes {
            offsets[v + 1] += offsets[v];
        }
        let total = offsets[n_nodes] as usize;
        let mut fill: Vec<u32> = offsets[..n_nodes].to_vec();
        let mut targets = vec![0u32; total];
        let mut quality = vec![0u8; total];
        for &w in &keys {
            let (a, b, q) = (
                (w >> 36) as u32,
                ((w >> 8) & 0x0FFF_FFFF) as u32,
                255 - (w & 0xFF) as u8,
            );
            for (from, to) in [(a, b), (b, a)] {
                let at = fill[from as usize] as usize;
                targets[at] = to;
                quality[at] = q;
                fill[from as usize] += 1;
            }
        }
        MeshGraph {
            offsets,
            targets,
            quality,
        }
    }

    /// Largest node count [`MeshGraph::from_edges`] can pack.
    pub const MAX_NODES: usize = 1 << 28;

    /// Node `v`'s edges as (neighbour, quality).
    #[inline]
    pub fn edges(&self, v: u32) -> impl Iterator<Item = (u32, f32)> + '_ {
        let (a, b) = (self.offsets[v as usize] as usize, self.offsets[v as usize + 1] as usize);
        self.targets[a..b]
            .iter()
            .zip(&self.quality[a..b])
            .map(|(&t, &q)| (t, decode_quality(q)))
    }

    /// Number of edges of node `v`.
    pub fn degree(&self, v: u32) -> usize {
        (self.offsets[v as usize + 1] - self.offsets[v as usize]) as usize
    }

    /// Number of undirected edges.
    pub fn n_edges(&self) -> usize {
        self.targets.len() / 2
    }
}

/// Quantises a link success probability to a byte.
pub fn encode_quality(q: f64) -> u8 {
    (q.clamp(0.0, 1.0) * 256.0).floor().min(255.0) as u8
}

/// The success probability a quality byte stands for.
#[inline]
pub fn decode_quality(code: u8) -> f32 {
    (f32::from(code) + 0.5) / 256.0
}

/// RF mesh link behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeshLinkParams {
    /// Median latency of one frame over one hop (channel access, airtime, processing).
    pub hop_latency_median: SimDuration,
    /// Log-normal sigma of one hop's latency.
    pub hop_latency_sigma: f64,
    /// Radio data rate, bit/s (sets transfer time of reads, commands and firmware images).
    pub bandwidth_bps: f64,
    /// Link-layer retransmissions per hop after a lost frame.
    pub mac_retries: u32,
    /// Links whose frame success falls below this are not used for routing.
    pub min_link_quality: f64,
    /// Longest route, in hops; meters further out are orphans.
    pub max_hops: u32,
    /// How long the mesh takes to notice a dead or jammed parent and re-form routes.
    pub route_repair_delay: SimDuration,
}

/// PLC link behaviour (one shared channel per transformer).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PlcLinkParams {
    /// Channel data rate, bit/s.
    pub bandwidth_bps: f64,
    /// Fixed time per polled exchange (turnaround, channel access), median.
    pub turnaround: SimDuration,
    /// Retransmissions after a lost frame.
    pub mac_retries: u32,
}

/// Cellular link behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CellularLinkParams {
    /// Median one-way latency of an exchange through an idle tower.
    pub latency_median: SimDuration,
    /// Log-normal sigma of that latency.
    pub latency_sigma: f64,
    /// Metering messages per second one tower carries (the utility's share of the cell).
    pub capacity_msgs_per_s: f64,
    /// Data rate of one meter's session, bit/s.
    pub bandwidth_bps: f64,
}

/// Backhaul from collectors to the HES.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BackhaulParams {
    /// Probability that a collector's backhaul is up in a read cycle (and that a message crosses
    /// it).
    pub success: f64,
    /// Median one-way latency.
    pub latency_median: SimDuration,
    /// Log-normal sigma of the latency.
    pub latency_sigma: f64,
}

/// How every kind of link behaves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LinkParams {
    /// RF mesh.
    pub mesh: MeshLinkParams,
    /// Powerline.
    pub plc: PlcLinkParams,
    /// Cellular.
    pub cellular: CellularLinkParams,
    /// Collector to HES.
    pub backhaul: BackhaulParams,
    /// Bytes of a read request.
    pub request_bytes: u32,
    /// Bytes of one read response (the interval values of a cycle and the register).
    pub read_bytes: u32,
}

/// Communication failures outside the radio physics of [`LinkParams`]: meters that go dark
/// for days (chronic non-communicators). Part of the engine's configuration
/// ([`crate::config::SimConfig::comms`]), since it does not change the network's structure.
///
/// Each chronic meter alternates between `dark_days` dark and `lit_days` communicating, with
/// its own phase; while dark its module answers nothing (reads, commands, firmware) and relays
/// nothing, so the mesh meters routed through it lose their route until the next route repair.
/// At any moment `chronic_share × dark_days / (dark_days + lit_days)` of a link kind's meters
/// are dark.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CommsFaults {
    /// Share of meters that are chronic non-communicators, per link kind in
    /// [`LinkKind::ALL`] order (mesh, PLC, cellular), 0 to 1.
    pub chronic_share: [f64; 3],
    /// Days a chronic meter stays dark in each spell (1 to 60).
    pub dark_days: u32,
    /// Days a chronic meter communicates between its dark spells (0 to 60; 0: dark for good).
    pub lit_days: u32,
    /// Outages of a collector (its power, radio or backhaul), per collector and year: while
    /// one lasts, none of its meters' reads or messages get through (0 to 365).
    pub collector_outages_per_year: f64,
    /// Mean length of a collector outage, hours (exponential, at most 48 h; 0.25 to 48).
    pub collector_outage_mean_h: f64,
    /// Share of days with weather that degrades radio over the whole area (0 to 1).
    pub weather_day_share: f64,
    /// On such a day, the share of their success that RF reads and messages (mesh, cellular,
    /// a mesh meter's cellular fallback) keep; PLC is wired and unaffected (0 to 1).
    pub weather_success: f64,
}

/// A collector outage: from when to when (seconds since the run's start; the start may be
/// before it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectorOutage {
    /// The collector.
    pub collector: u32,
    /// Start, seconds since the run's start (negative: before it).
    pub from_s: i64,
    /// End, seconds since the run's start.
    pub until_s: i64,
}

impl CommsFaults {
    /// Defaults, all assumptions (no utility or regulator report of daily read rates was
    /// found): 2 % of mesh and cellular meters and 2.5 % of PLC meters (noisier lines) are
    /// chronic non-communicators, dark 4 days out of 8, so about 1 % (PLC 1.25 %) of meters
    /// are dark at any time and the daily read rate lands near 99 % (PLC 98.75 %), inside the
    /// 98-99.5 % usually quoted for AMI. Related evidence: PG&E reported a 1.14 % billing
    /// data-collection failure rate for 1.08 M SmartMeters (CPUC figures quoted at a California
    /// Senate hearing, 2009/2010). Collector outages (4 a year of 4 hours on average, an
    /// availability of about 99.8 %) and weather (3 % of days, RF reads keeping 85 % of their
    /// success) are assumptions too.
    pub fn typical() -> CommsFaults {
        CommsFaults {
            chronic_share: [0.02, 0.025, 0.02],
            dark_days: 4,
            lit_days: 4,
            collector_outages_per_year: 4.0,
            collector_outage_mean_h: 4.0,
            weather_day_share: 0.03,
            weather_success: 0.85,
        }
    }

    /// No communication faults: every meter communicates every day.
    pub fn none() -> CommsFaults {
        CommsFaults {
            chronic_share: [0.0; 3],
            dark_days: 1,
            lit_days: 0,
            collector_outages_per_year: 0.0,
            collector_outage_mean_h: 4.0,
            weather_day_share: 0.0,
            weather_success: 1.0,
        }
    }

    /// Checks every value; field names are relative to this struct.
    pub fn check(&self) -> Result<(), crate::field::FieldError> {
        for (kind, share) in LinkKind::ALL.iter().zip(self.chronic_share) {
            if !(0.0..=1.0).contains(&share) {
                return Err(crate::field::FieldError::new(
                    format!("chronic_share.{}", kind.name()),
                    format!("must be between 0 and 1, not {share}"),
                ));
            }
        }
        if !(1..=60).contains(&self.dark_days) {
            return Err(crate::field::FieldError::new("dark_days", "must be 1 to 60 days"));
        }
        if self.lit_days > 60 {
            return Err(crate::field::FieldError::new("lit_days", "must be 0 to 60 days"));
        }
        let within = |field: &str, v: f64, lo: f64, hi: f64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(crate::field::FieldError::new(
                    field,
                    format!("must be between {lo} and {hi}, not {v}"),
                ))
            }
        };
        within(
            "collector_outages_per_year",
            self.collector_outages_per_year,
            0.0,
            365.0,
        )?;
        within("collector_outage_mean_h", self.collector_outage_mean_h, 0.25, 48.0)?;
        within("weather_day_share", self.weather_day_share, 0.0, 1.0)?;
        within("weather_success", self.weather_success, 0.0, 1.0)?;
        Ok(())
    }
}

/// A value of a [`Network`] that is out of range or inconsistent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct NetworkError {
    /// Path of the field, such as `mesh.max_hops` or `meters[12].transformer`.
    pub field: String,
    /// Why it is wrong.
    pub reason: String,
}

fn net_err<T>(field: impl Into<String>, reason: impl Into<String>) -> Result<T, NetworkError> {
    Err(NetworkError {
        field: field.into(),
        reason: reason.into(),
    })
}

impl LinkParams {
    /// Typical values. Sources, where published figures exist: IEEE 802.15.4g SUN FSK runs at
    /// 50 kbit/s in its base mode and 802.15.4 retries a frame 3 times (`macMaxFrameRetries`);
    /// G3-PLC in the CENELEC-A band carries up to 33.4 kbit/s raw (20 kbit/s effective assumed);
    /// LTE-M (Cat-M1) carries about 375 kbit/s half-duplex. Assumptions: hop latency, PLC
    /// turnaround, cellular latency, a tower's capacity for metering traffic, message sizes,
    /// the routing thresholds and the route repair delay.
    pub fn typical() -> LinkParams {
        LinkParams {
            mesh: MeshLinkParams {
                hop_latency_median: SimDuration::from_millis(80),
                hop_latency_sigma: 0.6,
                bandwidth_bps: 50_000.0,
                mac_retries: 3,
                min_link_quality: 0.3,
                max_hops: 12,
                route_repair_delay: SimDuration::from_minutes(10),
            },
            plc: PlcLinkParams {
                bandwidth_bps: 20_000.0,
                turnaround: SimDuration::from_millis(400),
                mac_retries: 2,
            },
            cellular: CellularLinkParams {
                latency_median: SimDuration::from_millis(600),
                latency_sigma: 0.5,
                capacity_msgs_per_s: 50.0,
                bandwidth_bps: 375_000.0,
            },
            backhaul: BackhaulParams {
                success: 0.999,
                latency_median: SimDuration::from_millis(80),
                latency_sigma: 0.4,
            },
            request_bytes: 64,
            read_bytes: 512,
        }
    }

    /// Checks every value; field paths are relative to the topology (`mesh.max_hops`).
    pub fn check(&self) -> Result<(), NetworkError> {
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= 1e12 {
                Ok(())
            } else {
                net_err(field, format!("must be a positive number, not {v}"))
            }
        };
        let sigma = |field: &str, v: f64| {
            if (0.0..=3.0).contains(&v) {
                Ok(())
            } else {
                net_err(field, format!("must be between 0 and 3, not {v}"))
            }
        };
        let nonzero = |field: &str, d: SimDuration| {
            if d == SimDuration::ZERO || d > SimDuration::from_days(1) {
                net_err(field, "must be longer than zero and at most 1d")
            } else {
                Ok(())
            }
        };
        let m = &self.mesh;
        nonzero("mesh.hop_latency_median", m.hop_latency_median)?;
        sigma("mesh.hop_latency_sigma", m.hop_latency_sigma)?;
        positive("mesh.bandwidth_bps", m.bandwidth_bps)?;
        if m.mac_retries > 15 {
            return net_err("mesh.mac_retries", "at most 15");
        }
        if !(0.0..1.0).contains(&m.min_link_quality) {
            return net_err("mesh.min_link_quality", "must be at least 0 and below 1");
        }
        if !(1..=64).contains(&m.max_hops) {
            return net_err("mesh.max_hops", "must be 1 to 64");
        }
        nonzero("mesh.route_repair_delay", m.route_repair_delay)?;
        positive("plc.bandwidth_bps", self.plc.bandwidth_bps)?;
        nonzero("plc.turnaround", self.plc.turnaround)?;
        if self.plc.mac_retries > 15 {
            return net_err("plc.mac_retries", "at most 15");
        }
        nonzero("cellular.latency_median", self.cellular.latency_median)?;
        sigma("cellular.latency_sigma", self.cellular.latency_sigma)?;
        positive("cellular.capacity_msgs_per_s", self.cellular.capacity_msgs_per_s)?;
        positive("cellular.bandwidth_bps", self.cellular.bandwidth_bps)?;
        if !(0.0..=1.0).contains(&self.backhaul.success) {
            return net_err(
                "backhaul.success",
                format!("must be a probability between 0 and 1, not {}", self.backhaul.success),
            );
        }
        nonzero("backhaul.latency_median", self.backhaul.latency_median)?;
        sigma("backhaul.latency_sigma", self.backhaul.latency_sigma)?;
        if self.request_bytes == 0 || self.read_bytes == 0 {
            return net_err("read_bytes", "message sizes must be at least one byte");
        }
        Ok(())
    }
}

/// The grid and the field network of a run, as a generator built it.
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct Network {
    /// Link behaviour.
    pub params: LinkParams,
    /// Meters, by meter index.
    pub meters: Vec<MeterSite>,
    /// Collectors, by collector index.
    pub collectors: Vec<CollectorSite>,
    /// Distribution transformers.
    pub transformers: Vec<Transformer>,
    /// Feeders.
    pub feeders: Vec<Feeder>,
    /// Substations.
    pub substations: Vec<Substation>,
    /// RF neighbour graph over mesh meters and mesh collectors.
    pub mesh: MeshGraph,
    /// Critical facilities with a backup supply: meter index and backup, by meter index (a
    /// short list, so no meter carries it).
    pub backup_supplies: Vec<(u32, BackupSupply)>,
}

impl Network {
    /// The backup supply of meter `meter`'s premise, if it is a critical facility with one
    /// (a binary search of the short list; asked only while a feeder is out).
    pub fn backup_of(&self, meter: u32) -> Option<BackupSupply> {
        self.backup_supplies
            .binary_search_by_key(&meter, |&(m, _)| m)
            .ok()
            .map(|i| self.backup_supplies[i].1)
    }

    /// Number of nodes of the mesh graph (meters, then collectors).
    pub fn n_nodes(&self) -> usize {
        self.meters.len() + self.collectors.len()
    }

    /// Node id of collector `c` in the mesh graph.
    pub fn collector_node(&self, c: u32) -> u32 {
        self.meters.len() as u32 + c
    }

    /// Position of a mesh graph node.
    pub fn node_pos(&self, node: u32) -> Point {
        let n = self.meters.len() as u32;
        if node < n {
            self.meters[node as usize].pos
        } else {
            self.collectors[(node - n) as usize].pos
        }
    }

    /// A one-transformer network for examples and tests: every mesh meter one good hop from a
    /// mesh collector, PLC meters on the transformer's concentrator, cellular meters on one
    /// tower, all within 100 m.
    pub fn small(params: LinkParams, meters: impl IntoIterator<Item = (CustomerClass, LinkKind)>) -> Network {
        let origin = Point::default();
        let collectors = vec![
            CollectorSite {
                kind: LinkKind::Mesh,
                pos: origin,
                transformer: NONE,
            },
            CollectorSite {
                kind: LinkKind::Plc,
                pos: origin,
                transformer: 0,
            },
            CollectorSite {
                kind: LinkKind::Cellular,
                pos: origin,
                transformer: NONE,
            },
        ];
        let meters: Vec<MeterSite> = meters
            .into_iter()
            .enumerate()
            .map(|(i, (class, link))| MeterSite {
                class,
                link,
                facility: (class == CustomerClass::Critical).then_some(FacilityKind::Hospital),
                fallback: false,
                pos: Point {
                    x: (i % 100) as f32,
                    y: (i / 100 % 100) as f32,
                },
                transformer: 0,
                concentrator: if link == LinkKind::Plc { 1 } else { NONE },
                plc_quality: 0.97,
                tower: if link == LinkKind::Cellular { 2 } else { NONE },
                tower_quality: 0.998,
            })
            .collect();
        let n = meters.len() as u32;
        let edges = (0..n)
            .filter(|&i| meters[i as usize].link == LinkKind::Mesh)
            .map(|i| (i, n, encode_quality(0.95)))
            .collect();
        Network {
            params,
            mesh: MeshGraph::from_edges(meters.len() + collectors.len(), edges),
            meters,
            collectors,
            transformers: vec![Transformer {
                pos: origin,
                feeder: 0,
                rating_kva: 630.0,
            }],
            feeders: vec![Feeder {
                substation: 0,
                rating_kw: 8_000.0,
                no_load_loss_kw: 1.0,
            }],
            substations: vec![Substation { pos: origin }],
            backup_supplies: Vec::new(),
        }
    }

    /// Bytes held on the heap by the network's tables.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.meters.capacity() * size_of::<MeterSite>()
            + self.collectors.capacity() * size_of::<CollectorSite>()
            + self.transformers.capacity() * size_of::<Transformer>()
            + self.feeders.capacity() * size_of::<Feeder>()
            + self.substations.capacity() * size_of::<Substation>()
            + self.mesh.offsets.capacity() * 4
            + self.mesh.targets.capacity() * 4
            + self.mesh.quality.capacity()
            + self.backup_supplies.capacity() * size_of::<(u32, BackupSupply)>()
    }

    /// Checks that every index points somewhere and the parameters are in range.
    pub fn check(&self) -> Result<(), NetworkError> {
        self.params.check()?;
        if self.meters.is_empty() {
            return net_err("meters", "the topology has no meters");
        }
        if self.n_nodes() >= MeshGraph::MAX_NODES {
            return net_err(
                "meters",
                "too many meters and collectors for one run (at most 268 million)",
            );
        }
        let (nc, nt, nf) = (
            self.collectors.len() as u32,
            self.transformers.len() as u32,
            self.feeders.len() as u32,
        );
        for (i, t) in self.transformers.iter().enumerate() {
            if t.feeder >= nf {
                return net_err(format!("transformers[{i}].feeder"), "no such feeder");
            }
        }
        for (i, f) in self.feeders.iter().enumerate() {
            if f.substation as usize >= self.substations.len() {
                return net_err(format!("feeders[{i}].substation"), "no such substation");
            }
        }
        for (i, c) in self.collectors.iter().enumerate() {
            if c.kind == LinkKind::Plc && c.transformer >= nt {
                return net_err(
                    format!("collectors[{i}].transformer"),
                    "a PLC concentrator needs a transformer",
                );
            }
        }
        let kind_of = |c: u32, kind: LinkKind| c < nc && self.collectors[c as usize].kind == kind;
        for (i, m) in self.meters.iter().enumerate() {
            if m.transformer >= nt {
                return net_err(format!("meters[{i}].transformer"), "no such transformer");
            }
            if m.link == LinkKind::Plc && !kind_of(m.concentrator, LinkKind::Plc) {
                return net_err(
                    format!("meters[{i}].concentrator"),
                    "a PLC meter needs a PLC concentrator",
                );
            }
            if m.tower != NONE && !kind_of(m.tower, LinkKind::Cellular) {
                return net_err(format!("meters[{i}].tower"), "not a cellular tower");
            }
        }
        for (i, pair) in self.backup_supplies.windows(2).enumerate() {
            if pair[0].0 >= pair[1].0 {
                return net_err(format!("backup_supplies[{}]", i + 1), "not in meter order");
            }
        }
        if let Some(&(m, _)) = self.backup_supplies.last()
            && m as usize >= self.meters.len()
        {
            return net_err("backup_supplies", "no such meter");
        }
        if self.mesh.offsets.len() != self.n_nodes() + 1
            || self.mesh.offsets.last().copied().unwrap_or(0) as usize != self.mesh.targets.len()
            || self.mesh.targets.len() != self.mesh.quality.len()
            || self.mesh.targets.iter().any(|&t| t as usize >= self.n_nodes())
        {
            return net_err("mesh", "the neighbour graph does not match the meters and collectors");
        }
        Ok(())
    }
}

/// How a meter is reached at present.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Via {
    /// Over RF mesh hops to a collector.
    Mesh,
    /// Over the PLC channel of its transformer.
    Plc,
    /// Over cellular.
    Cellular,
    /// A mesh meter without a mesh route, over its cellular fallback.
    Fallback,
    /// Not reachable.
    Orphan(Orphan),
}

/// Why a meter cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Orphan {
    /// A mesh meter with no usable radio link at all.
    NoMeshNeighbour,
    /// A mesh meter whose neighbours lead to no collector within the hop limit.
    NoRouteToCollector,
    /// A cellular meter with no tower in range.
    NoTower,
    /// The meter's radio or modem is down.
    RadioDown,
    /// The meter has no supply (its feeder is out), so neither has its radio.
    NoSupply,
}

impl Orphan {
    /// Every reason, in order.
    pub const ALL: [Orphan; 5] = [
        Orphan::NoMeshNeighbour,
        Orphan::NoRouteToCollector,
        Orphan::NoTower,
        Orphan::RadioDown,
        Orphan::NoSupply,
    ];
    /// Human-readable reason.
    pub fn describe(self) -> &'static str {
        match self {
            Orphan::NoMeshNeighbour => "mesh meter with no usable radio link",
            Orphan::NoRouteToCollector => "no mesh route to a collector within the hop limit",
            Orphan::NoTower => "no cellular tower in range",
            Orphan::RadioDown => "radio down",
            Orphan::NoSupply => "no supply (feeder out)",
        }
    }
}

/// One meter's path to the HES as it stands.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeterPath {
    /// Probability that a read round trip over the field network succeeds (backhaul excluded).
    pub success: f32,
    /// Deterministic part of the read latency, µs: transfer times and the meter's place in its
    /// collector's queue within a read cycle.
    pub fixed_us: f32,
    /// Log-normal random part of the latency: `exp(mu + sigma z)` µs.
    pub mu: f32,
    /// See `mu`.
    pub sigma: f32,
    /// The collector that reads it, or [`NONE`] for an orphan.
    pub collector: u32,
    /// How it is reached.
    pub via: Via,
    /// Mesh hops to the collector (1 for PLC and cellular, 0 for orphans).
    pub hops: u8,
}

impl MeterPath {
    /// The path of a meter that cannot be reached, and why.
    pub fn orphan(why: Orphan) -> MeterPath {
        MeterPath {
            success: 0.0,
            fixed_us: 0.0,
            mu: 0.0,
            sigma: 0.0,
            collector: NONE,
            via: Via::Orphan(why),
            hops: 0,
        }
    }
}

/// A connection flood in progress, as it weighs on the endpoint it targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionFloodLoad {
    /// The collector whose backhaul endpoint is flooded, or `None` for the HES front end.
    pub target: Option<u32>,
    /// Connection attempts per second that reach the endpoint (those the firewall does not
    /// block).
    pub connections_per_s: f64,
    /// The attack code of the flood (`k + 1` for attack `k`, at least 1).
    pub attack_code: u8,
}

/// An area of radio interference: a jammer, or any other source of RF noise. Every RF link
/// (mesh or cellular) with an end inside the circle keeps `1 - strength` of its success while it
/// is active; PLC is wired and unaffected.
///
/// A constant source raises the noise floor: the mesh sees its links degrade and re-forms its
/// routes around the area after the repair delay. A *reactive* jammer transmits only when it
/// hears a data frame start: the links look clear to the routing layer (beacons and probes get
/// through), so routes stay, while the frames of reads and commands are destroyed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interference {
    /// Centre.
    pub center: Point,
    /// Radius, metres.
    pub radius_m: f32,
    /// Share of link success lost inside the circle, 0 to 1.
    pub strength: f32,
    /// When it starts.
    pub start: SimTime,
    /// When it ends.
    pub end: SimTime,
    /// Reactive (jams data frames only; routes do not re-form) rather than constant.
    pub reactive: bool,
    /// The attack that placed it, if one did (ground truth for the measures).
    pub owner: Option<u8>,
}

/// An interference area placed in the run ([`crate::engine::Sim::add_interference`]), and
/// whether it is transmitting now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlacedInterference {
    /// The area, with its times as they stand (a crew that finds it ends it early).
    pub area: Interference,
    /// Whether it is transmitting now.
    pub on: bool,
}

/// The mesh routing tree.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    /// Next hop of every node toward its collector, or [`NONE`].
    pub parent: Vec<u32>,
    /// Hops to the collector.
    pub hops: Vec<u8>,
    /// The collector (index) each node routes to, or [`NONE`].
    pub gateway: Vec<u32>,
    /// Routed mesh meters, parents before children (meters unrouted since the last full
    /// re-route may remain; their `gateway` is [`NONE`]).
    pub order: Vec<u32>,
    /// ETX routing cost to the collector (fixed-point, 256 per transmission), or `u32::MAX`.
    pub dist: Vec<u32>,
}

/// What the field network is doing now: routes, radio conditions, paths, channel queues.
#[derive(Resource, Debug, Clone)]
pub struct NetState {
    /// The mesh routing tree.
    pub routes: Routes,
    /// Every meter's collector when the network formed (its home, as the HES's inventory
    /// records it; `NONE` for meters that never had a path).
    pub home_collector: Vec<u32>,
    /// Radio condition of every mesh-graph node (meters, then collectors): the share of link
    /// success left by interference, 1 when clear.
    pub rf_factor: Vec<f32>,
    /// Per mesh-graph node: the share of data-frame success left by reactive jammers (which the
    /// routing layer does not see), 1 when clear.
    pub data_factor: Vec<f32>,
    /// Per mesh-graph node (meters, then collectors): the attack code (0 none, `k + 1` attack
    /// `k`) of an active attack-owned interference area covering it (0 for PLC meters).
    pub jammed_by: Vec<u8>,
    /// Per collector: the attack code of the flood that last occupied its channel (0 none),
    /// set while the flood lasts.
    pub flooded_by: Vec<u8>,
    /// Per meter: messages sent to it so far (keys each message's random stream).
    pub messages_to: Vec<u32>,
    /// Per meter: the attack code of the rogue concentrator its traffic passes through (0 for
    /// none): attached to it, or routed through a mesh meter that is.
    pub intercepted_by: Vec<u8>,
    /// Per attack code less one: what that attack's rogue concentrator does, while it runs.
    pub intercepts: Vec<Option<Intercept>>,
    /// Connection floods in progress, each with the load the firewall lets through.
    pub connection_floods: Vec<ConnectionFloodLoad>,
    /// Per attack code less one: collector uploads its connection flood made fail, uploads it
    /// delayed, and commands it made fail.
    pub flood_effects: Vec<[u64; 3]>,
    /// Meters whose radio or modem is down.
    pub radio_down: Vec<bool>,
    /// Meters without supply (their feeder is out): their radios are down too.
    pub unpowered: Vec<bool>,
    /// Meters whose communication module is dark now: chronic non-communicators in a dark
    /// spell ([`CommsFaults`]). They answer nothing and relay nothing.
    pub dark: Vec<bool>,
    /// The chronic non-communicators, ascending: (meter, its phase in days within its cycle of
    /// dark and lit days).
    pub chronic: Vec<(u32, u8)>,
    /// Collector outages of the current day and those from earlier days still running.
    pub collector_outages: Vec<CollectorOutage>,
    /// The share of their success RF reads and messages keep today (weather), 1 on a clear day.
    pub weather: f32,
    /// Per collector: until when its channel is busy with priority traffic (commands), which
    /// goes ahead of read cycles and bulk transfers.
    pub priority_busy_until: Vec<SimTime>,
    /// Every meter's current path.
    pub paths: Vec<MeterPath>,
    /// Per collector: channel time a full read cycle of its meters takes, µs.
    pub read_load_us: Vec<u64>,
    /// Per collector: until when its shared channel (radio, PLC line, tower) is busy.
    pub busy_until: Vec<SimTime>,
    /// Interference areas placed so far, by id, with whether each is transmitting.
    pub interference: Vec<PlacedInterference>,
    /// When a route repair is scheduled, if one is.
    pub repair_at: Option<SimTime>,
    /// Whether the scheduled repair must re-form every route (radio conditions or supply
    /// changed over an area) rather than only those through meters that went down.
    pub repair_full: bool,
    /// Route repairs done so far.
    pub repairs: u64,
}

/// A path's accumulated success and latency moments from a meter up to its collector.
#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    success: f64,
    mean: f64,
    var: f64,
    fixed: f64,
}

impl Acc {
    /// At the collector: nothing lost, no latency yet.
    const COLLECTOR: Acc = Acc {
        success: 1.0,
        mean: 0.0,
        var: 0.0,
        fixed: 0.0,
    };
}

/// Per-link constants of path computation.
struct PathConsts {
    hop_mean: f64,
    hop_var: f64,
    mesh_transfer_us: f64,
    cell_mu: f32,
    cell_sigma: f32,
    cell_transfer_us: f64,
    cell_service_us: f64,
    turnaround_us: f64,
    plc_mu: f32,
    plc_sigma: f32,
    plc_transfer_us: f64,
}

impl PathConsts {
    fn new(p: &LinkParams) -> PathConsts {
        let request_response_bits = f64::from(p.request_bytes + p.read_bytes) * 8.0;
        let (hop_mean, hop_var) =
            lognormal_moments(p.mesh.hop_latency_median.as_micros() as f64, p.mesh.hop_latency_sigma);
        let (cell_mu, cell_sigma) = cellular_round_trip(p);
        let turnaround_us = p.plc.turnaround.as_micros() as f64;
        let (plc_mu, plc_sigma) = lognormal_from_moments(turnaround_us, turnaround_us * turnaround_us * 0.25);
        PathConsts {
            hop_mean,
            hop_var,
            mesh_transfer_us: request_response_bits / p.mesh.bandwidth_bps * 1e6,
            cell_mu,
            cell_sigma,
            cell_transfer_us: request_response_bits / p.cellular.bandwidth_bps * 1e6,
            cell_service_us: 1e6 / p.cellular.capacity_msgs_per_s,
            turnaround_us,
            plc_mu,
            plc_sigma,
            plc_transfer_us: request_response_bits / p.plc.bandwidth_bps * 1e6,
        }
    }
}

/// Mean and variance of one hop's latency in µs for the given log-normal parameters.
fn lognormal_moments(median_us: f64, sigma: f64) -> (f64, f64) {
    let mean = median_us * (0.5 * sigma * sigma).exp();
    (mean, mean * mean * ((sigma * sigma).exp() - 1.0))
}

/// Log-normal `(mu, sigma)` with the given mean and variance (Fenton–Wilkinson matching).
fn lognormal_from_moments(mean: f64, var: f64) -> (f32, f32) {
    if mean <= 0.0 {
        return (f32::NEG_INFINITY, 0.0);
    }
    let s2 = (1.0 + var / (mean * mean)).ln();
    ((mean.ln() - 0.5 * s2) as f32, s2.sqrt() as f32)
}

/// Log-normal `(mu, sigma)` of a cellular round trip (request and response), µs.
pub fn cellular_round_trip(p: &LinkParams) -> (f32, f32) {
    let (mean, var) = lognormal_moments(p.cellular.latency_median.as_micros() as f64, p.cellular.latency_sigma);
    lognormal_from_moments(2.0 * mean, 2.0 * var)
}

/// One draw of a path's one-way field latency, µs: a path's latency parameters describe a read
/// (a request down and a response up), so one way carries half its mean and half its variance.
fn one_way_us(path: &MeterPath, stream: &mut crate::rng::Stream) -> f64 {
    use rand_distr::{Distribution, StandardNormal};
    let (mu, sigma) = (f64::from(path.mu), f64::from(path.sigma));
    let mean = (mu + 0.5 * sigma * sigma).exp();
    let var = mean * mean * ((sigma * sigma).exp() - 1.0);
    let (mu, sigma) = lognormal_from_moments(0.5 * mean, 0.5 * var);
    let z: f64 = StandardNormal.sample(stream);
    (f64::from(mu) + f64::from(sigma) * z).exp()
}

/// Probability that a frame gets through with `retries` retransmissions, and the expected number
/// of transmissions it takes.
fn with_retries(q: f64, retries: u32) -> (f64, f64) {
    if q <= 0.0 {
        return (0.0, f64::from(retries + 1));
    }
    let success = 1.0 - (1.0 - q).powi(retries as i32 + 1);
    (success, success / q)
}

/// ETX routing cost of a link with frame success `q`, fixed-point (256 = one transmission).
fn etx_cost(q: f32) -> u32 {
    (256.0 / q.max(1e-3)).round() as u32
}

impl NetState {
    /// The rogue concentrator meter `m`'s traffic passes through, as (attack code, what it
    /// does), if any.
    #[inline]
    pub fn interception(&self, m: usize) -> Option<(u8, Intercept)> {
        let by = self.intercepted_by[m];
        if by == 0 {
            return None;
        }
        self.intercepts
            .get(usize::from(by - 1))
            .copied()
            .flatten()
            .map(|i| (by, i))
    }

    /// Whether a new connection from `collector` to the HES gets through the connection floods
    /// in progress: each try is accepted with the share of the front end's (and the
    /// collector's own endpoint's) capacity left by the floods, up to `limits.tries` tries.
    /// Returns the number of refused tries before one got through (`None`: every try was
    /// refused) and the code of the flood that weighed most (0 when none is on). Draws nothing
    /// when no flood is on.
    pub fn connect(&self, collector: u32, limits: ConnectLimits, stream: &mut crate::rng::Stream) -> (Option<u32>, u8) {
        if self.connection_floods.is_empty() || collector == NONE {
            return (Some(0), 0);
        }
        let (mut front, mut own, mut by, mut most) = (0.0, 0.0, 0u8, 0.0);
        for &ConnectionFloodLoad {
            target,
            connections_per_s: rate,
            attack_code: code,
        } in &self.connection_floods
        {
            match target {
                None => front += rate,
                Some(c) if c == collector => own += rate,
                Some(_) => continue,
            }
            if rate > most {
                most = rate;
                by = code;
            }
        }
        if by == 0 {
            return (Some(0), 0);
        }
        // The share of attempts accepted when offered load exceeds capacity; the collectors'
        // own reconnections are negligible beside a flood.
        let accept = |cap: f64, flood: f64| if flood <= cap { 1.0 } else { cap / flood };
        let p = accept(limits.front_per_s, front) * accept(limits.collector_per_s, own);
        if p >= 1.0 {
            return (Some(0), 0);
        }
        for refused in 0..limits.tries {
            if stream.bernoulli(p) {
                return (Some(refused), by);
            }
        }
        (None, by)
    }

    /// Books what connection flood `by` did: `k` 0 upload refused, 1 upload delayed, 2 command
    /// refused.
    pub fn book_flood(&mut self, by: u8, k: usize) {
        let i = usize::from(by.max(1) - 1);
        if self.flood_effects.len() <= i {
            self.flood_effects.resize(i + 1, [0; 3]);
        }
        self.flood_effects[i][k] += 1;
    }

    /// The network at rest: no interference, every radio up, routes formed.
    pub fn new(net: &Network) -> NetState {
        NetState::with_comms(net, &CommsFaults::none(), 0, 0, 0)
    }

    /// The network as it forms on `day` (days since the calendar's epoch, starting
    /// `day_start_s` seconds after the run's start, so 0 or less) under `faults`: no
    /// interference, the chronic non-communicators placed (drawn under `seed`) and those dark
    /// that day left out of the routes, which form around them; the day's collector outages
    /// (and the day before's still running) and weather. A dark meter's home collector is where
    /// it would be read: its concentrator or tower, or a routed mesh neighbour's collector.
    pub fn with_comms(net: &Network, faults: &CommsFaults, seed: u64, day: u64, day_start_s: i64) -> NetState {
        let mut state = NetState {
            routes: Routes::default(),
            home_collector: Vec::new(),
            rf_factor: vec![1.0; net.n_nodes()],
            data_factor: vec![1.0; net.n_nodes()],
            jammed_by: vec![0; net.n_nodes()],
            flooded_by: vec![0; net.collectors.len()],
            messages_to: vec![0; net.meters.len()],
            intercepted_by: vec![0; net.meters.len()],
            intercepts: Vec::new(),
            connection_floods: Vec::new(),
            flood_effects: Vec::new(),
            radio_down: vec![false; net.meters.len()],
            unpowered: vec![false; net.meters.len()],
            dark: vec![false; net.meters.len()],
            chronic: Vec::new(),
            collector_outages: Vec::new(),
            weather: 1.0,
            priority_busy_until: vec![SimTime::ZERO; net.collectors.len()],
            paths: Vec::new(),
            read_load_us: vec![0; net.collectors.len()],
            busy_until: vec![SimTime::ZERO; net.collectors.len()],
            interference: Vec::new(),
            repair_at: None,
            repair_full: false,
            repairs: 0,
        };
        state.place_chronic(net, faults, seed);
        if let Some(before) = day.checked_sub(1) {
            state.draw_day(net, faults, seed, before, day_start_s - 86_400);
        }
        state.draw_day(net, faults, seed, day, day_start_s);
        let cycle = u64::from(faults.dark_days + faults.lit_days).max(1);
        for &(m, phase) in &state.chronic {
            state.dark[m as usize] = (day + u64::from(phase)) % cycle < u64::from(faults.dark_days);
        }
        state.reroute(net);
        state.home_collector = state.paths.iter().map(|p| p.collector).collect();
        for &(m, _) in &state.chronic {
            let i = m as usize;
            if state.dark[i] {
                let site = &net.meters[i];
                state.home_collector[i] = match site.link {
                    LinkKind::Plc => site.concentrator,
                    LinkKind::Cellular => site.tower,
                    LinkKind::Mesh => net
                        .mesh
                        .edges(m)
                        .map(|(u, _)| state.routes.gateway[u as usize])
                        .find(|&g| g != NONE)
                        .unwrap_or(NONE),
                };
            }
        }
        state
    }

    /// Bytes held on the heap by routes, radio conditions, paths and queues.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let r = &self.routes;
        r.parent.capacity() * 4
            + r.hops.capacity()
            + r.gateway.capacity() * 4
            + r.order.capacity() * 4
            + r.dist.capacity() * 4
            + self.rf_factor.capacity() * 4
            + self.data_factor.capacity() * 4
            + self.jammed_by.capacity()
            + self.messages_to.capacity() * 4
            + self.intercepted_by.capacity()
            + self.radio_down.capacity()
            + self.unpowered.capacity()
            + self.dark.capacity()
            + self.chronic.capacity() * 8
            + self.priority_busy_until.capacity() * 8
            + self.paths.capacity() * size_of::<MeterPath>()
            + self.read_load_us.capacity() * 8
            + self.busy_until.capacity() * 8
    }

    /// Effective frame success of the mesh link between nodes `a` and `b` of base quality `q`,
    /// as the routing layer measures it.
    #[inline]
    fn link_q(&self, a: u32, b: u32, q: f32) -> f32 {
        q * self.rf_factor[a as usize].min(self.rf_factor[b as usize])
    }

    /// Frame success of data on the mesh link between `a` and `b`: what routing sees, less
    /// what reactive jammers take.
    #[inline]
    fn data_q(&self, a: u32, b: u32, q: f32) -> f32 {
        self.link_q(a, b, q) * self.data_factor[a as usize].min(self.data_factor[b as usize])
    }

    /// Re-forms the mesh routing tree from current radio conditions (ETX-shortest paths to any
    /// collector, hop-limited, ties broken by node id), then recomputes every path.
    pub fn reroute(&mut self, net: &Network) {
        let n = net.n_nodes();
        let params = &net.params.mesh;
        let min_q = params.min_link_quality as f32;
        let max_hops = params.max_hops.min(255) as u8;
        let mut dist = vec![u32::MAX; n];
        let mut parent = vec![NONE; n];
        let mut hops = vec![0u8; n];
        let mut gateway = vec![NONE; n];
        let mut order = Vec::new();
        // Dial's algorithm: ETX costs are whole numbers of at least 256 and at most the cost of
        // the weakest usable link, so a ring of buckets that wide holds every pending distance.
        // Each bucket is taken in ascending node order, which is the order a binary heap of
        // (distance, node) would pop: the tree is the same, for less work.
        let width = etx_cost(min_q.max(1e-3)) as usize + 1;
        let mut ring: Vec<Vec<u32>> = vec![Vec::new(); width];
        let mut pending = 0usize;
        for (c, site) in net.collectors.iter().enumerate() {
            if site.kind == LinkKind::Mesh {
                let v = net.collector_node(c as u32);
                dist[v as usize] = 0;
                gateway[v as usize] = c as u32;
                ring[0].push(v);
                pending += 1;
            }
        }
        let n_meters = net.meters.len() as u32;
        // Which meters may join the mesh now: one dense flag per meter, not a look at each
        // meter's site on every edge.
        let relays: Vec<bool> = (0..n_meters)
            .map(|u| net.meters[u as usize].link == LinkKind::Mesh && self.is_up(u))
            .collect();
        let mut d: u64 = 0;
        while pending > 0 {
            let slot = (d % width as u64) as usize;
            if ring[slot].is_empty() {
                d += 1;
                continue;
            }
            let mut bucket = std::mem::take(&mut ring[slot]);
            pending -= bucket.len();
            bucket.sort_unstable();
            for &v in &bucket {
                if u64::from(dist[v as usize]) != d {
                    continue;
                }
                if v < n_meters {
                    gateway[v as usize] = gateway[parent[v as usize] as usize];
                    order.push(v);
                }
                if hops[v as usize] >= max_hops {
                    continue;
                }
                for (u, q) in net.mesh.edges(v) {
                    if u >= n_meters || !relays[u as usize] {
                        continue;
                    }
                    let q = self.link_q(v, u, q);
                    if q < min_q {
                        continue;
                    }
                    let cost = etx_cost(q);
                    let nd = dist[v as usize].saturating_add(cost);
                    if nd < dist[u as usize] {
                        dist[u as usize] = nd;
                        parent[u as usize] = v;
                        hops[u as usize] = hops[v as usize] + 1;
                        ring[(u64::from(nd) % width as u64) as usize].push(u);
                        pending += 1;
                    }
                }
            }
            bucket.clear();
            ring[slot] = bucket;
            d += 1;
        }
        self.routes = Routes {
            parent,
            hops,
            gateway,
            order,
            dist,
        };
        self.repairs += 1;
        self.recompute_paths(net);
    }

    /// Recomputes every meter's path over the current routes and radio conditions (routes are
    /// kept: a jammed parent degrades its children's paths until the next route repair).
    pub fn recompute_paths(&mut self, net: &Network) {
        let k = PathConsts::new(&net.params);
        let n_meters = net.meters.len();
        // Mesh: accumulate success and latency moments down the tree, parents first.
        let mut acc = vec![Acc::default(); n_meters];
        for &v in &self.routes.order {
            if self.routes.gateway[v as usize] == NONE {
                continue;
            }
            let par = self.routes.parent[v as usize];
            let up = if (par as usize) < n_meters {
                acc[par as usize]
            } else {
                Acc::COLLECTOR
            };
            acc[v as usize] = self.hop_acc(net, &k, v, up);
        }
        let mut queue_us = vec![0.0f64; net.collectors.len()];
        let paths = (0..n_meters)
            .map(|i| self.build_path(net, &k, i, acc[i], &mut queue_us))
            .collect();
        self.read_load_us = queue_us.iter().map(|&q| q as u64).collect();
        self.paths = paths;
    }

    /// Recomputes the paths of `meters` only, walking each one's route up to its collector; each
    /// joins the end of its collector's polling queue.
    fn update_paths(&mut self, net: &Network, meters: &[u32]) {
        let k = PathConsts::new(&net.params);
        let mut queue_us: Vec<f64> = self.read_load_us.iter().map(|&q| q as f64).collect();
        let mut chain = Vec::new();
        for &m in meters {
            // The meter leaves its old place in its collector's polling queue.
            let old = self.paths[m as usize];
            if old.collector != NONE {
                let share = self.queue_share(net, &k, m as usize, old.via);
                let q = &mut queue_us[old.collector as usize];
                *q = (*q - share).max(0.0);
            }
            chain.clear();
            let mut v = m;
            while (v as usize) < net.meters.len() && self.routes.gateway[v as usize] != NONE {
                chain.push(v);
                v = self.routes.parent[v as usize];
            }
            let mut a = Acc::COLLECTOR;
            for &v in chain.iter().rev() {
                a = self.hop_acc(net, &k, v, a);
            }
            let path = self.build_path(net, &k, m as usize, a, &mut queue_us);
            self.paths[m as usize] = path;
        }
        self.read_load_us = queue_us.iter().map(|&q| q as u64).collect();
    }

    /// Channel time meter `i` adds to its collector's polling queue when reached `via`.
    fn queue_share(&self, net: &Network, k: &PathConsts, i: usize, via: Via) -> f64 {
        match via {
            Via::Mesh => k.mesh_transfer_us,
            Via::Plc => {
                let (_, attempts) = with_retries(f64::from(net.meters[i].plc_quality), net.params.plc.mac_retries);
                attempts * k.plc_transfer_us + k.turnaround_us
            }
            Via::Cellular | Via::Fallback => k.cell_service_us,
            Via::Orphan(_) => 0.0,
        }
    }

    /// Accumulates one mesh hop, from node `v` to its parent whose accumulator is `up`.
    #[inline]
    fn hop_acc(&self, net: &Network, k: &PathConsts, v: u32, up: Acc) -> Acc {
        let par = self.routes.parent[v as usize];
        // A parent whose radio went down passes nothing on until the route repair.
        let q = if self.is_up(par) {
            net.mesh
                .edges(v)
                .find(|&(u, _)| u == par)
                .map_or(0.0, |(u, q)| self.data_q(v, u, q))
        } else {
            0.0
        };
        let (hop_success, attempts) = with_retries(f64::from(q), net.params.mesh.mac_retries);
        // A read is a request down and a response up: two traversals of every hop.
        Acc {
            success: up.success * hop_success * hop_success,
            mean: up.mean + 2.0 * attempts * k.hop_mean,
            var: up.var + 2.0 * attempts * attempts * k.hop_var,
            fixed: up.fixed + attempts * k.mesh_transfer_us,
        }
    }

    /// Meter `i`'s path given its mesh accumulator (ignored for other links), queueing it at
    /// the end of its collector's polling queue.
    fn build_path(&self, net: &Network, k: &PathConsts, i: usize, acc: Acc, queue_us: &mut [f64]) -> MeterPath {
        let p = &net.params;
        let site = &net.meters[i];
        if self.unpowered[i] {
            return MeterPath::orphan(Orphan::NoSupply);
        }
        if self.radio_down[i] || self.dark[i] {
            return MeterPath::orphan(Orphan::RadioDown);
        }
        let cellular = |via: Via, queue_us: &mut [f64]| {
            if site.tower == NONE {
                return MeterPath::orphan(Orphan::NoTower);
            }
            let q = f64::from(site.tower_quality * self.rf_factor[i] * self.data_factor[i]);
            let queue = &mut queue_us[site.tower as usize];
            *queue += self.queue_share(net, k, i, via);
            MeterPath {
                success: (q * q) as f32,
                fixed_us: (*queue + k.cell_transfer_us) as f32,
                mu: k.cell_mu,
                sigma: k.cell_sigma,
                collector: site.tower,
                via,
                hops: 1,
            }
        };
        match site.link {
            LinkKind::Mesh => {
                let gw = self.routes.gateway[i];
                if gw == NONE {
                    if site.fallback && site.tower != NONE {
                        cellular(Via::Fallback, queue_us)
                    } else if net.mesh.degree(i as u32) == 0
                        || net
                            .mesh
                            .edges(i as u32)
                            .all(|(u, q)| self.link_q(i as u32, u, q) < p.mesh.min_link_quality as f32)
                    {
                        MeterPath::orphan(Orphan::NoMeshNeighbour)
                    } else {
                        MeterPath::orphan(Orphan::NoRouteToCollector)
                    }
                } else {
                    let (mu, sigma) = lognormal_from_moments(acc.mean, acc.var);
                    let queue = &mut queue_us[gw as usize];
                    *queue += self.queue_share(net, k, i, Via::Mesh);
                    MeterPath {
                        success: acc.success as f32,
                        fixed_us: (acc.fixed + *queue) as f32,
                        mu,
                        sigma,
                        collector: gw,
                        via: Via::Mesh,
                        hops: self.routes.hops[i],
                    }
                }
            }
            LinkKind::Plc => {
                let (s, _) = with_retries(f64::from(site.plc_quality), p.plc.mac_retries);
                // The concentrator polls its meters one after another on the shared line.
                let queue = &mut queue_us[site.concentrator as usize];
                *queue += self.queue_share(net, k, i, Via::Plc);
                MeterPath {
                    success: (s * s) as f32,
                    fixed_us: *queue as f32,
                    mu: k.plc_mu,
                    sigma: k.plc_sigma,
                    collector: site.concentrator,
                    via: Via::Plc,
                    hops: 1,
                }
            }
            LinkKind::Cellular => cellular(Via::Cellular, queue_us),
        }
    }

    /// Recomputes the interference factors of every node from the active areas, and which
    /// attack jams each meter.
    fn refresh_rf_factor(&mut self, net: &Network) {
        let active: Vec<&Interference> = self
            .interference
            .iter()
            .filter(|placed| placed.on)
            .map(|placed| &placed.area)
            .collect();
        let n_meters = net.meters.len();
        for v in 0..net.n_nodes() as u32 {
            let pos = net.node_pos(v);
            let (mut f, mut d, mut by) = (1.0f32, 1.0f32, 0u8);
            for area in &active {
                if pos.dist2(area.center) <= area.radius_m * area.radius_m {
                    if area.reactive {
                        d *= 1.0 - area.strength;
                    } else {
                        f *= 1.0 - area.strength;
                    }
                    if by == 0 {
                        by = crate::model::attack_code(area.owner);
                    }
                }
            }
            self.rf_factor[v as usize] = f;
            self.data_factor[v as usize] = d;
            // PLC is wired: a PLC meter inside the circle is not jammed (collectors are marked
            // too, so that the meters routed through a jammed collector are attributed).
            let wired = (v as usize) < n_meters && net.meters[v as usize].link == LinkKind::Plc;
            self.jammed_by[v as usize] = if wired { 0 } else { by };
        }
    }

    /// Switches interference area `id` on or off at `now`; paths degrade at once. A constant
    /// source makes a route repair due after the mesh's repair delay (returned); a reactive
    /// jammer does not, because the routing layer does not see it.
    pub fn set_interference(&mut self, net: &Network, id: usize, on: bool, now: SimTime) -> Option<SimTime> {
        let reactive = match self.interference.get_mut(id) {
            Some(placed) => {
                placed.on = on;
                placed.area.reactive
            }
            None => return None,
        };
        self.refresh_rf_factor(net);
        self.recompute_paths(net);
        if reactive {
            return None;
        }
        self.request_repair(net, now, true)
    }

    /// Books a bulk transfer of `us` microseconds of airtime on collector `c`'s shared channel
    /// at `now`: it starts when the channel is free of what was queued before it (read cycles,
    /// messages, other transfers) and holds it meanwhile. Returns when it ends (`now + us` when
    /// `c` is [`NONE`]: no shared channel to wait for).
    pub fn book_transfer(&mut self, c: u32, us: u64, now: SimTime) -> SimTime {
        match self.busy_until.get_mut(c as usize) {
            Some(busy) => {
                *busy = SimTime(busy.0.max(now.0) + us);
                *busy
            }
            None => SimTime(now.0 + us),
        }
    }

    /// Occupies collector `c`'s shared channel with `us` microseconds of junk traffic sent at
    /// `now` (a flood), ahead of the next read cycle; `by` is the flooding attack's code.
    pub fn occupy(&mut self, c: u32, us: u64, now: SimTime, by: u8) {
        if let Some(busy) = self.busy_until.get_mut(c as usize) {
            *busy = SimTime(busy.0.max(now.0) + us);
            self.flooded_by[c as usize] = by;
        }
    }

    /// Takes a meter's radio down or brings it back. Going down, it is unreachable at once;
    /// if other meters route through it, a local repair of their routes is due after the
    /// mesh's repair delay. Coming back, a mesh meter joins through its best routed neighbour
    /// at once (as a node that rejoins a mesh does).
    pub fn set_radio(&mut self, net: &Network, meter: u32, up: bool, now: SimTime) -> Option<SimTime> {
        let m = meter as usize;
        if m >= self.radio_down.len() {
            return None;
        }
        self.radio_down[m] = !up;
        if up {
            return self.modules_changed(net, &[], &[meter], now);
        }
        let has_children = net
            .mesh
            .edges(meter)
            .any(|(u, _)| (u as usize) < net.meters.len() && self.routes.parent[u as usize] == meter);
        if has_children {
            // A dead relay: every meter routed through it loses its route at once, until the
            // repair.
            let mut changed = self.routed_below(net, &[meter]);
            changed.push(meter);
            changed.sort_unstable();
            self.update_paths(net, &changed);
            return self.request_repair(net, now, false);
        }
        self.update_paths(net, &[meter]);
        // A leaf leaves the tree without disturbing anyone.
        if self.routes.gateway[m] != NONE {
            self.unroute(meter);
            self.routes.order.retain(|&v| v != meter);
        }
        None
    }

    fn unroute(&mut self, v: u32) {
        let r = &mut self.routes;
        let v = v as usize;
        r.gateway[v] = NONE;
        r.parent[v] = NONE;
        r.dist[v] = u32::MAX;
        r.hops[v] = 0;
    }

    /// The cheapest usable link from mesh meter `v` to a routed neighbour that is not in
    /// `excluded`: (cost, neighbour).
    fn best_parent(&self, net: &Network, v: u32, excluded: &[bool]) -> Option<(u32, u32)> {
        let p = &net.params.mesh;
        let max_hops = p.max_hops.min(255) as u8;
        net.mesh
            .edges(v)
            .filter(|&(u, _)| {
                let i = u as usize;
                self.routes.gateway[i] != NONE
                    && self.is_up(u)
                    && self.routes.hops[i] < max_hops
                    && !excluded.get(i).copied().unwrap_or(false)
            })
            .filter_map(|(u, q)| {
                let q = self.link_q(v, u, q);
                (q >= p.min_link_quality as f32).then(|| (self.routes.dist[u as usize].saturating_add(etx_cost(q)), u))
            })
            .min()
    }

    /// Routes the mesh meters of `meters` that work and have no route through their best
    /// routed neighbours, where they have one, and then every unrouted meter that can now
    /// reach a collector through them (a subtree cut off while they were down): ETX-shortest
    /// paths among the unrouted meters, from the routed ones around them. Returns the meters
    /// routed.
    fn join_all(&mut self, net: &Network, meters: &[u32]) -> Vec<u32> {
        let mut heap = BinaryHeap::new();
        for &v in meters {
            let i = v as usize;
            if net.meters[i].link != LinkKind::Mesh || self.routes.gateway[i] != NONE || !self.is_up(v) {
                continue;
            }
            if let Some((d, u)) = self.best_parent(net, v, &[]) {
                let r = &mut self.routes;
                r.parent[i] = u;
                r.dist[i] = d;
                r.hops[i] = r.hops[u as usize] + 1;
                heap.push(Reverse((d, v)));
            }
        }
        if heap.is_empty() {
            return Vec::new();
        }
        let joined = self.grow(net, heap);
        self.routes.order.extend_from_slice(&joined);
        joined
    }

    /// Dijkstra from the tentatively placed meters in `heap` (their `dist`, `parent` and `hops`
    /// set, not yet routed) into unrouted mesh meters whose radios work. Returns the meters
    /// routed, parents before children.
    fn grow(&mut self, net: &Network, mut heap: BinaryHeap<Reverse<(u32, u32)>>) -> Vec<u32> {
        let n_meters = net.meters.len();
        let max_hops = net.params.mesh.max_hops.min(255) as u8;
        let min_q = net.params.mesh.min_link_quality as f32;
        let mut joined = Vec::new();
        while let Some(Reverse((d, v))) = heap.pop() {
            let i = v as usize;
            if d > self.routes.dist[i] || self.routes.gateway[i] != NONE {
                continue;
            }
            self.routes.gateway[i] = self.routes.gateway[self.routes.parent[i] as usize];
            joined.push(v);
            if self.routes.hops[i] >= max_hops {
                continue;
            }
            for (u, q) in net.mesh.edges(v) {
                let j = u as usize;
                if j >= n_meters
                    || net.meters[j].link != LinkKind::Mesh
                    || !self.is_up(u)
                    || self.routes.gateway[j] != NONE
                {
                    continue;
                }
                let q = self.link_q(v, u, q);
                if q < min_q {
                    continue;
                }
                let nd = d.saturating_add(etx_cost(q));
                if nd < self.routes.dist[j] {
                    self.routes.dist[j] = nd;
                    self.routes.parent[j] = v;
                    self.routes.hops[j] = self.routes.hops[i] + 1;
                    heap.push(Reverse((nd, u)));
                }
            }
        }
        joined
    }

    /// Re-forms the routes of every meter whose route passes through a meter that is down:
    /// ETX-shortest paths again, among the affected meters only, from the routed meters
    /// around them. Costs only ever rise when meters go down, so the result is what a full
    /// re-route would find for them (ties aside).
    fn local_repair(&mut self, net: &Network) {
        let n_meters = net.meters.len();
        let mut bad = vec![false; n_meters];
        let mut affected = Vec::new();
        for &v in &self.routes.order {
            let i = v as usize;
            if self.routes.gateway[i] == NONE {
                continue;
            }
            let par = self.routes.parent[i] as usize;
            if !self.is_up(v) || (par < n_meters && bad[par]) {
                bad[i] = true;
                affected.push(v);
            }
        }
        if affected.is_empty() {
            return;
        }
        for &v in &affected {
            self.unroute(v);
        }
        let mut heap = BinaryHeap::new();
        for &v in &affected {
            if self.is_up(v)
                && let Some((d, u)) = self.best_parent(net, v, &bad)
            {
                let i = v as usize;
                self.routes.dist[i] = d;
                self.routes.parent[i] = u;
                self.routes.hops[i] = self.routes.hops[u as usize] + 1;
                heap.push(Reverse((d, v)));
            }
        }
        let joined = self.grow(net, heap);
        self.routes.order.retain(|&v| !bad[v as usize]);
        self.routes.order.extend_from_slice(&joined);
        self.repairs += 1;
        // The affected meters, and any earlier orphan that found a route through them.
        let mut changed = affected;
        changed.extend_from_slice(&joined);
        changed.sort_unstable();
        changed.dedup();
        self.update_paths(net, &changed);
    }

    /// Takes the supply of `meters` away (their feeder went out) or gives it back; their
    /// radios go down or come back with it, as dark modules do in [`NetState::set_dark`]: the
    /// meters and everything routed through them are cut off at once and a local route repair
    /// is due after the mesh's repair delay (returned); meters that come back rejoin at once.
    pub fn set_power(&mut self, net: &Network, meters: &[u32], on: bool, now: SimTime) -> Option<SimTime> {
        let meters: Vec<u32> = meters
            .iter()
            .copied()
            .filter(|&m| (m as usize) < self.unpowered.len())
            .collect();
        for &m in &meters {
            self.unpowered[m as usize] = !on;
        }
        if on {
            self.modules_changed(net, &[], &meters, now)
        } else {
            self.modules_changed(net, &meters, &[], now)
        }
    }

    /// Chooses the chronic non-communicators of `faults` and their phases, drawn from
    /// [`crate::rng::Purpose::CommsFaults`]. Stratified per link kind, so that each kind gets
    /// its share to within one meter however small the area: its meters, in index order, are
    /// cut into as many runs as it has chronic meters, and one meter at a random place in each
    /// run is chronic. Phases follow a golden-ratio sequence from a random start, so the dark
    /// share stays even from day to day.
    pub fn place_chronic(&mut self, net: &Network, faults: &CommsFaults, seed: u64) {
        let family = crate::rng::StreamFamily::new(seed, crate::rng::Purpose::CommsFaults);
        let cycle = f64::from((faults.dark_days + faults.lit_days).clamp(1, 255));
        self.chronic.clear();
        for kind in LinkKind::ALL {
            let share = faults.chronic_share[kind.index()];
            if share <= 0.0 {
                continue;
            }
            let of_kind: Vec<u32> = (0..net.meters.len() as u32)
                .filter(|&m| net.meters[m as usize].link == kind)
                .collect();
            let n = of_kind.len();
            let mut start = family.stream(kind.index() as u64, u64::MAX);
            let m = ((n as f64 * share + start.uniform()).floor() as usize).min(n);
            let phase0 = start.uniform();
            for i in 0..m {
                let (lo, hi) = (i * n / m, (i + 1) * n / m);
                let at = lo + family.stream(kind.index() as u64, i as u64).below((hi - lo) as u64) as usize;
                let phase = ((phase0 + i as f64 * 0.618_033_988_749_895).fract() * cycle) as u8;
                self.chronic.push((of_kind[at], phase));
            }
        }
        self.chronic.sort_unstable();
    }

    /// Draws `day`'s collector outages (dropping those over before it starts) and weather, from
    /// [`crate::rng::Purpose::CommsFaults`] keyed by collector and day.
    fn draw_day(&mut self, net: &Network, faults: &CommsFaults, seed: u64, day: u64, day_start_s: i64) {
        let family = crate::rng::StreamFamily::new(seed, crate::rng::Purpose::CommsFaults);
        self.collector_outages.retain(|o| o.until_s > day_start_s);
        if faults.collector_outages_per_year > 0.0 {
            let p = (faults.collector_outages_per_year / 365.0).min(1.0);
            for c in 0..net.collectors.len() as u32 {
                let mut stream = family.stream(COLLECTOR_ENTITY + u64::from(c), day);
                if !stream.bernoulli(p) {
                    continue;
                }
                let from_s = day_start_s + stream.below(86_400) as i64;
                let hours = (-faults.collector_outage_mean_h * (1.0 - stream.uniform()).ln()).min(48.0);
                self.collector_outages.push(CollectorOutage {
                    collector: c,
                    from_s,
                    until_s: from_s + (hours * 3_600.0).round() as i64,
                });
            }
        }
        let bad = family.stream(WEATHER_ENTITY, day).bernoulli(faults.weather_day_share);
        self.weather = if bad { faults.weather_success as f32 } else { 1.0 };
    }

    /// Whether collector `c` is out at `t_s` seconds since the run's start.
    #[inline]
    pub fn collector_out(&self, c: u32, t_s: i64) -> bool {
        self.collector_outages
            .iter()
            .any(|o| o.collector == c && o.from_s <= t_s && t_s < o.until_s)
    }

    /// Puts the network into its state for `day` (days since the epoch of the run's calendar),
    /// which starts at `now`: every chronic non-communicator dark during the first `dark_days`
    /// of its cycle, the day's collector outages and weather drawn under `seed`. Returns when a
    /// route repair is due, if one is.
    pub fn set_comms_day(
        &mut self,
        net: &Network,
        faults: &CommsFaults,
        seed: u64,
        day: u64,
        now: SimTime,
    ) -> Option<SimTime> {
        self.draw_day(net, faults, seed, day, (now.0 / 1_000_000) as i64);
        let cycle = u64::from(faults.dark_days + faults.lit_days).max(1);
        let mut down = Vec::new();
        let mut up = Vec::new();
        for &(m, phase) in &self.chronic {
            let dark = (day + u64::from(phase)) % cycle < u64::from(faults.dark_days);
            if dark != self.dark[m as usize] {
                if dark {
                    down.push(m);
                } else {
                    up.push(m);
                }
            }
        }
        self.set_dark(net, &down, &up, now)
    }

    /// The modules of `down` go dark and those of `up` come back at `now`. A dark meter is
    /// unreachable at once, and so is every mesh meter routed through it, until the route repair
    /// (due after the mesh's repair delay, returned) re-forms their routes; a meter that comes
    /// back joins the mesh through its best routed neighbour at once.
    pub fn set_dark(&mut self, net: &Network, down: &[u32], up: &[u32], now: SimTime) -> Option<SimTime> {
        if down.is_empty() && up.is_empty() {
            return None;
        }
        for &m in down {
            self.dark[m as usize] = true;
        }
        for &m in up {
            self.dark[m as usize] = false;
        }
        self.modules_changed(net, down, up, now)
    }

    /// The radios of `down` stopped working and those of `up` may work again (their flags
    /// already set): every meter routed through a meter of `down` is cut off at once and a
    /// local route repair is due (returned); the mesh meters of `up` that work and have no
    /// route join through their best routed neighbours at once, and so does every unrouted
    /// meter that can now reach a collector through them. Only the paths of the meters
    /// concerned are recomputed, so the cost follows the meters switched, not the fleet.
    fn modules_changed(&mut self, net: &Network, down: &[u32], up: &[u32], now: SimTime) -> Option<SimTime> {
        if down.is_empty() && up.is_empty() {
            return None;
        }
        let mut changed: Vec<u32> = down.iter().chain(up).copied().collect();
        let mut repair = None;
        if down.iter().any(|&m| self.routes.gateway[m as usize] != NONE) {
            changed.extend(self.routed_below(net, down));
            repair = self.request_repair(net, now, false);
        }
        // A meter that comes back before the repair still has its route: the meters below
        // it get theirs back with it.
        let still_routed: Vec<u32> = up
            .iter()
            .copied()
            .filter(|&m| self.routes.gateway[m as usize] != NONE)
            .collect();
        if !still_routed.is_empty() {
            changed.extend(self.routed_below(net, &still_routed));
        }
        changed.extend(self.join_all(net, up));
        changed.sort_unstable();
        changed.dedup();
        self.update_paths(net, &changed);
        repair
    }

    /// The meters routed through any of `down` (their subtrees, `down` excluded), parents
    /// before children: a walk down the routing tree over the mesh's links, so the cost follows
    /// the subtrees, not the fleet (a node's children are among its mesh neighbours).
    fn routed_below(&self, net: &Network, down: &[u32]) -> Vec<u32> {
        let n = net.meters.len();
        let mut roots = down.to_vec();
        roots.sort_unstable();
        roots.dedup();
        let mut below = Vec::new();
        let mut at = 0;
        let walk = |v: u32, below: &mut Vec<u32>| {
            for (u, _) in net.mesh.edges(v) {
                let i = u as usize;
                if i < n
                    && self.routes.gateway[i] != NONE
                    && self.routes.parent[i] == v
                    && roots.binary_search(&u).is_err()
                {
                    below.push(u);
                }
            }
        };
        for &v in &roots {
            walk(v, &mut below);
        }
        while at < below.len() {
            let v = below[at];
            at += 1;
            walk(v, &mut below);
        }
        below
    }

    /// Whether node `v`'s radio works (collectors always do: they have battery backup).
    #[inline]
    fn is_up(&self, v: u32) -> bool {
        let i = v as usize;
        i >= self.radio_down.len() || !(self.radio_down[i] || self.unpowered[i] || self.dark[i])
    }

    fn request_repair(&mut self, net: &Network, now: SimTime, full: bool) -> Option<SimTime> {
        self.repair_full |= full;
        if self.repair_at.is_some() {
            return None;
        }
        let at = SimTime(now.0 + net.params.mesh.route_repair_delay.as_micros());
        self.repair_at = Some(at);
        Some(at)
    }

    /// Performs the scheduled route repair.
    pub fn repair(&mut self, net: &Network) {
        self.repair_at = None;
        if std::mem::take(&mut self.repair_full) {
            self.reroute(net);
        } else {
            self.local_repair(net);
        }
    }

    /// How many meters are reached over each kind of path, and the orphans by reason.
    pub fn reach_summary(&self) -> ReachSummary {
        let mut s = ReachSummary::default();
        for p in &self.paths {
            match p.via {
                Via::Mesh => s.mesh += 1,
                Via::Plc => s.plc += 1,
                Via::Cellular => s.cellular += 1,
                Via::Fallback => s.fallback += 1,
                Via::Orphan(o) => s.orphans[Orphan::ALL.iter().position(|x| *x == o).unwrap_or(0)] += 1,
            }
        }
        s
    }

    /// Histogram of mesh hop counts: `h[k]` meters at `k` hops.
    pub fn hop_histogram(&self) -> Vec<u64> {
        let mut h = Vec::new();
        for p in &self.paths {
            if p.via == Via::Mesh {
                let k = usize::from(p.hops);
                if h.len() <= k {
                    h.resize(k + 1, 0);
                }
                h[k] += 1;
            }
        }
        h
    }
}

/// How many meters are reached how.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReachSummary {
    /// Over the mesh.
    pub mesh: u64,
    /// Over PLC.
    pub plc: u64,
    /// Over cellular.
    pub cellular: u64,
    /// Mesh meters over their cellular fallback.
    pub fallback: u64,
    /// Unreachable, per reason in [`Orphan::ALL`] order.
    pub orphans: [u64; 5],
}

impl ReachSummary {
    /// Every orphan.
    pub fn n_orphans(&self) -> u64 {
        self.orphans.iter().sum()
    }
}

/// What became of a message sent to a meter.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Fate {
    /// It arrives (and is acknowledged) at this time.
    Delivered {
        /// Arrival at the meter.
        at: SimTime,
        /// The path it took.
        via: Via,
    },
    /// It is lost.
    Lost(LossReason),
}

/// Why a message was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LossReason {
    /// The meter has no path.
    Unreachable,
    /// The collector's backhaul dropped it.
    Backhaul,
    /// A field link dropped it (after link-layer retries).
    Link,
    /// A rogue concentrator the meter attached to dropped it (or altered it and the meter's
    /// message authentication refused it).
    Intercepted,
}

/// The limits a connection to the HES meets (from the HES's configuration).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnectLimits {
    /// New connections per second the front end accepts.
    pub front_per_s: f64,
    /// New connections per second a collector's endpoint accepts.
    pub collector_per_s: f64,
    /// Tries before giving up.
    pub tries: u32,
}

/// What a rogue concentrator does with the traffic of the meters attached to it (and of the
/// mesh meters that route through them).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Intercept {
    /// Drops every read and command: a black hole.
    Drop,
    /// Holds every read and command back this long before passing it on.
    Delay(SimDuration),
    /// Alters readings: downgraded meters' reports (no message authentication) carry
    /// `reported_share` of the true consumption; other meters' altered reports fail
    /// authentication at the HES and are lost. Commands to meters that authenticate messages
    /// are altered too and refused (lost); downgraded meters get them unaltered.
    Alter {
        /// Share of the true consumption the altered reports carry.
        reported_share: f32,
    },
    /// Passes traffic on and forges disconnect commands to the meters attached to it, which
    /// only downgraded meters (no message authentication) act on.
    Forge,
}

impl NetState {
    /// Sends a message of `bytes` from the HES to `meter` at `now`: it crosses the backhaul,
    /// waits for the collector's shared channel (radio, PLC line or tower), occupies it for its
    /// transfer time, then travels the rest of the path. Draws from `stream`; updates the
    /// channel's queue.
    pub fn transmit(
        &mut self,
        net: &Network,
        meter: u32,
        bytes: u32,
        priority: bool,
        now: SimTime,
        stream: &mut crate::rng::Stream,
    ) -> Fate {
        use rand_distr::{Distribution, StandardNormal};
        let Some(&path) = self.paths.get(meter as usize) else {
            return Fate::Lost(LossReason::Unreachable);
        };
        if path.collector == NONE {
            return Fate::Lost(LossReason::Unreachable);
        }
        let p = &net.params;
        if !stream.bernoulli(p.backhaul.success) {
            return Fate::Lost(LossReason::Backhaul);
        }
        let z: f64 = StandardNormal.sample(stream);
        let backhaul_us = p.backhaul.latency_median.as_micros() as f64 * (p.backhaul.latency_sigma * z).exp();
        let bits = f64::from(bytes) * 8.0;
        let site = &net.meters[meter as usize];
        let (channel_us, after_us) = match path.via {
            // Every hop's transmission is on the air in the collector's cell, one after another
            // (store and forward): the message holds the shared channel for all of them.
            Via::Mesh => (bits / p.mesh.bandwidth_bps * 1e6 * f64::from(path.hops.max(1)), 0.0),
            Via::Plc => {
                let (_, attempts) = with_retries(f64::from(site.plc_quality), p.plc.mac_retries);
                (
                    attempts * bits / p.plc.bandwidth_bps * 1e6 + p.plc.turnaround.as_micros() as f64,
                    0.0,
                )
            }
            Via::Cellular | Via::Fallback => (
                1e6 / p.cellular.capacity_msgs_per_s,
                bits / p.cellular.bandwidth_bps * 1e6,
            ),
            Via::Orphan(_) => return Fate::Lost(LossReason::Unreachable),
        };
        let arrival = now.0 + backhaul_us as u64;
        let c = path.collector as usize;
        if self.collector_out(path.collector, (now.0 / 1_000_000) as i64) {
            return Fate::Lost(LossReason::Backhaul);
        }
        let channel_us = channel_us.ceil() as u64;
        let channel_done = if priority {
            // Commands go ahead of polling and bulk transfers, but take the channel from them.
            let start = arrival.max(self.priority_busy_until[c].0);
            self.priority_busy_until[c] = SimTime(start + channel_us);
            self.busy_until[c] = SimTime(self.busy_until[c].0.max(start) + channel_us);
            start + channel_us
        } else {
            let busy = &mut self.busy_until[c];
            let start = arrival.max(busy.0);
            *busy = SimTime(start + channel_us);
            start + channel_us
        };
        let field_us = one_way_us(&path, stream) + after_us;
        let weather = if path.via == Via::Plc { 1.0 } else { self.weather };
        if !stream.bernoulli(f64::from(path.success * weather)) {
            return Fate::Lost(LossReason::Link);
        }
        Fate::Delivered {
            at: SimTime(channel_done + field_us as u64),
            via: path.via,
        }
    }

    /// Time an acknowledgement from `meter` takes back to the HES over its current path (field
    /// latency one way, then the backhaul), µs; `None` when the meter has no path.
    pub fn ack_latency_us(&self, net: &Network, meter: u32, stream: &mut crate::rng::Stream) -> Option<u64> {
        use rand_distr::{Distribution, StandardNormal};
        let path = self.paths.get(meter as usize)?;
        if path.collector == NONE {
            return None;
        }
        let p = &net.params.backhaul;
        let z: f64 = StandardNormal.sample(stream);
        let backhaul_us = p.latency_median.as_micros() as f64 * (p.latency_sigma * z).exp();
        Some((one_way_us(path, stream) + backhaul_us) as u64)
    }

    /// A read cycle starts polling at `now`: returns per collector how long its channel is
    /// still busy with earlier traffic (commands, firmware), and books the cycle's reads on it.
    pub fn begin_read_cycle(&mut self, now: SimTime, wait_us: &mut Vec<u64>) {
        wait_us.clear();
        for (busy, load) in self.busy_until.iter_mut().zip(&self.read_load_us) {
            wait_us.push(busy.0.saturating_sub(now.0));
            *busy = SimTime(busy.0.max(now.0) + load);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection flood weighs only on the endpoint it targets: a flood on another
    /// collector's endpoint leaves a connection alone (and draws nothing), while one on the
    /// connecting collector's own endpoint refuses tries and is named as the flood that weighed.
    #[test]
    fn a_connection_flood_weighs_only_on_the_endpoint_it_targets() {
        let net = Network::small(LinkParams::typical(), [(CustomerClass::Residential, LinkKind::Mesh)]);
        let mut state = NetState::new(&net);
        let limits = ConnectLimits {
            front_per_s: 100.0,
            collector_per_s: 10.0,
            tries: 3,
        };
        state.connection_floods.push(ConnectionFloodLoad {
            target: Some(1),
            connections_per_s: 1e6,
            attack_code: 4,
        });
        let mut stream = crate::rng::Stream::new(1, crate::rng::Purpose::Test, 0, 0);
        assert_eq!(state.connect(0, limits, &mut stream), (Some(0), 0));
        assert_eq!(state.connect(1, limits, &mut stream), (None, 4));
    }

    /// Chronic non-communicators: each link kind gets its share to within one meter, and on
    /// every day about `dark_days / (dark_days + lit_days)` of them are dark.
    #[test]
    fn chronic_meters_are_stratified_per_link_kind_and_evenly_dark() {
        let kinds = (0..1_000).map(|i| {
            let link = if i % 4 == 0 { LinkKind::Plc } else { LinkKind::Mesh };
            (CustomerClass::Residential, link)
        });
        let net = Network::small(LinkParams::typical(), kinds);
        let mut state = NetState::new(&net);
        let faults = CommsFaults::typical();
        state.place_chronic(&net, &faults, 3);
        let count = |kind: LinkKind| {
            state
                .chronic
                .iter()
                .filter(|&&(m, _)| net.meters[m as usize].link == kind)
                .count() as f64
        };
        assert!((count(LinkKind::Mesh) - 750.0 * 0.02).abs() <= 1.0);
        assert!((count(LinkKind::Plc) - 250.0 * 0.025).abs() <= 1.0);
        let half = state.chronic.len() as f64 / 2.0;
        for day in 0..16 {
            state.set_comms_day(&net, &faults, 3, day, SimTime::ZERO);
            let dark = state.dark.iter().filter(|&&d| d).count() as f64;
            assert!((dark - half).abs() <= 2.0, "day {day}: {dark} dark, {half} expected");
        }
    }

    /// Three mesh meters in a chain: meter 0 hears the collector well; 1 hears 0 well and the
    /// collector poorly; 2 hears only 1. Returns the network and the collector's node.
    fn relay_chain() -> (Network, u32) {
        let mesh = (CustomerClass::Residential, LinkKind::Mesh);
        let mut net = Network::small(LinkParams::typical(), [mesh; 3]);
        let c = net.collector_node(0);
        net.mesh = MeshGraph::from_edges(
            net.n_nodes(),
            vec![
                (0, c, encode_quality(0.95)),
                (1, 0, encode_quality(0.95)),
                (2, 1, encode_quality(0.95)),
                (1, c, encode_quality(0.4)),
            ],
        );
        (net, c)
    }

    /// A relay whose module goes dark cuts its whole subtree off at once; the route repair
    /// re-forms the subtree's routes around it, and it rejoins when it comes back.
    #[test]
    fn a_dark_relay_cuts_off_its_subtree_until_the_route_repair() {
        let (net, c) = relay_chain();
        let mut state = NetState::new(&net);
        assert_eq!(state.routes.parent[1..3], [0, 1]);
        assert!(state.set_dark(&net, &[0], &[], SimTime::ZERO).is_some());
        assert_eq!(state.paths[0].via, Via::Orphan(Orphan::RadioDown));
        assert_eq!((state.paths[1].success, state.paths[2].success), (0.0, 0.0));
        state.repair(&net);
        assert_eq!(state.routes.parent[1..3], [c, 1]);
        assert!(state.paths[2].success > 0.5);
        assert_eq!(state.set_dark(&net, &[], &[0], SimTime::ZERO), None);
        assert_eq!((state.paths[0].via, state.routes.parent[0]), (Via::Mesh, c));
    }

    /// A relay whose radio dies (a meter failure) cuts its subtree off at once, as a dark one
    /// does, until the route repair.
    #[test]
    fn a_dead_relay_cuts_off_its_subtree_until_the_route_repair() {
        let (net, c) = relay_chain();
        let mut state = NetState::new(&net);
        assert!(state.set_radio(&net, 0, false, SimTime::ZERO).is_some());
        assert_eq!((state.paths[1].success, state.paths[2].success), (0.0, 0.0));
        state.repair(&net);
        assert_eq!(state.routes.parent[1..3], [c, 1]);
        assert!(state.paths[2].success > 0.5);
    }

    /// The edge words sorted range by range on the compute pool are the plain sort of every
    /// word, self loops dropped, for any spread of node ids (and for a graph of one node),
    /// whether the edges come in one part or in several of uneven size.
    #[test]
    fn edge_keys_sorted_by_ranges_are_the_plain_sort() {
        let mut stream = crate::rng::Stream::new(3, crate::rng::Purpose::Test, 0, 0);
        for n_nodes in [1usize, 7, 1_000, 100_000] {
            let edges: Vec<(u32, u32, u8)> = (0..20_000)
                .map(|_| {
                    let a = stream.below(n_nodes as u64) as u32;
                    let b = stream.below(n_nodes as u64) as u32;
                    (a, b, stream.below(256) as u8)
                })
                .collect();
            let mut plain: Vec<u64> = edges
                .iter()
                .filter(|e| e.0 != e.1)
                .map(|&(a, b, q)| (u64::from(a.min(b)) << 36) | (u64::from(a.max(b)) << 8) | u64::from(255 - q))
                .collect();
            plain.sort_unstable();
            let parts: Vec<Vec<(u32, u32, u8)>> = edges.chunks(3_001).map(<[_]>::to_vec).collect();
            assert_eq!(sorted_edge_keys(n_nodes, parts), plain, "{n_nodes} nodes in parts");
            assert_eq!(sorted_edge_keys(n_nodes, vec![edges]), plain, "{n_nodes} nodes");
        }
    }

    /// A relay whose supply goes out cuts its subtree off at once, without touching meters
    /// elsewhere; the local repair routes the subtree around it, and it rejoins when its supply
    /// returns. Supply that returns before the repair gives the subtree its routes back.
    #[test]
    fn a_relay_without_supply_cuts_off_its_subtree_and_rejoins_when_supply_returns() {
        let (net, c) = relay_chain();
        let mut state = NetState::new(&net);
        let repairs = state.repairs;
        assert!(state.set_power(&net, &[0], false, SimTime::ZERO).is_some());
        assert_eq!(state.paths[0].via, Via::Orphan(Orphan::NoSupply));
        assert_eq!((state.paths[1].success, state.paths[2].success), (0.0, 0.0));
        state.repair(&net);
        assert_eq!(state.repairs, repairs + 1);
        assert_eq!(state.routes.parent[1..3], [c, 1]);
        assert!(state.paths[2].success > 0.5);
        assert_eq!(state.set_power(&net, &[0], true, SimTime::ZERO), None);
        assert_eq!((state.paths[0].via, state.routes.parent[0]), (Via::Mesh, c));

        let mut state = NetState::new(&net);
        let before = state.paths.clone();
        assert!(state.set_power(&net, &[0], false, SimTime::ZERO).is_some());
        assert_eq!(state.set_power(&net, &[0], true, SimTime::ZERO), None);
        assert_eq!(state.routes.parent[1..3], [0, 1]);
        assert!(state.paths[2].success > 0.5);
        assert_eq!(state.paths[2].success, before[2].success);
        state.repair(&net);
        assert_eq!(state.routes.parent[1..3], [0, 1]);
    }

    /// Collector outages come at their yearly rate per collector with their mean length, and
    /// bad-weather days at their share; a collector is out from the start of each outage.
    #[test]
    fn collector_outages_and_weather_days_come_at_their_rates() {
        let net = Network::small(LinkParams::typical(), [(CustomerClass::Residential, LinkKind::Mesh)]);
        let faults = CommsFaults {
            collector_outages_per_year: 36.5,
            weather_day_share: 0.2,
            ..CommsFaults::typical()
        };
        let mut state = NetState::new(&net);
        let (mut outages, mut hours, mut bad_days) = (0usize, 0.0, 0);
        let days = 3_650u64;
        for day in 0..days {
            let start = SimTime(day * 86_400_000_000);
            let before = state.collector_outages.len();
            state.set_comms_day(&net, &faults, 5, day, start);
            let kept = state
                .collector_outages
                .iter()
                .filter(|o| o.from_s < (day * 86_400) as i64)
                .count();
            assert!(kept <= before);
            for o in &state.collector_outages[kept..] {
                outages += 1;
                hours += (o.until_s - o.from_s) as f64 / 3_600.0;
                assert!(o.until_s == o.from_s || state.collector_out(o.collector, o.from_s));
            }
            bad_days += usize::from(state.weather < 1.0);
        }
        // 3 collectors, 10 years, 36.5 a year: 1,095 expected.
        assert!((1_000..1_190).contains(&outages), "{outages}");
        let mean = hours / outages as f64;
        assert!((3.6..4.4).contains(&mean), "mean {mean} h");
        assert!((650..810).contains(&bad_days), "{bad_days}");
    }

    /// The CSR graph equals a straightforward construction: both directions of every edge,
    /// the best quality of duplicates, no self-loops, targets ascending per node.
    #[test]
    fn graph_from_edges_matches_a_reference() {
        let mut stream = crate::rng::Stream::new(1, crate::rng::Purpose::Test, 0, 0);
        let n = 300u32;
        let edges: Vec<(u32, u32, u8)> = (0..5_000)
            .map(|_| {
                (
                    stream.below(u64::from(n)) as u32,
                    stream.below(u64::from(n)) as u32,
                    stream.below(256) as u8,
                )
            })
            .collect();
        let mut reference = std::collections::BTreeMap::<(u32, u32), u8>::new();
        for &(a, b, q) in &edges {
            if a != b {
                for key in [(a, b), (b, a)] {
                    let e = reference.entry(key).or_insert(q);
                    *e = (*e).max(q);
                }
            }
        }
        let g = &MeshGraph::from_edges(n as usize, edges);
        let built: Vec<((u32, u32), u8)> = (0..n)
            .flat_map(|v| {
                let (a, b) = (g.offsets[v as usize] as usize, g.offsets[v as usize + 1] as usize);
                (a..b).map(move |i| ((v, g.targets[i]), g.quality[i]))
            })
            .collect();
        let expected: Vec<((u32, u32), u8)> = reference.into_iter().collect();
        assert_eq!(built, expected);
    }
}

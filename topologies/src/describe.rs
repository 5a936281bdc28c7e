//! A network's structure in numbers: what `amirange topo describe` prints.

use std::fmt;

use amirange_sim::model::{CustomerClass, LinkKind};
use amirange_sim::network::{FacilityKind, NONE, NetState, Network, Orphan, ReachSummary};
use serde::Serialize;

/// Minimum, mean and maximum of a count over a set of entities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    /// Smallest.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Largest.
    pub max: u64,
}

impl Spread {
    fn of(values: impl Iterator<Item = u64>) -> Spread {
        let (mut min, mut max, mut sum, mut n) = (u64::MAX, 0, 0u64, 0u64);
        for v in values {
            min = min.min(v);
            max = max.max(v);
            sum += v;
            n += 1;
        }
        if n == 0 {
            return Spread::default();
        }
        Spread {
            min,
            mean: sum as f64 / n as f64,
            max,
        }
    }
}

/// The structure of a network with its routes formed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Meters.
    pub meters: u64,
    /// Meters per primary link kind, in `LinkKind::ALL` order.
    pub by_link: [u64; 3],
    /// Meters per customer class.
    pub by_class: [u64; 4],
    /// Critical facilities per kind, in `FacilityKind::ALL` order.
    pub facilities: [u64; 3],
    /// Mesh meters with a cellular fallback modem.
    pub with_fallback: u64,
    /// Collectors per kind (mesh collectors, PLC concentrators, cellular towers).
    pub collectors: [u64; 3],
    /// Meters read per collector, per kind, over collectors of that kind.
    pub meters_per_collector: [Spread; 3],
    /// How meters are reached now, and the orphans by reason.
    pub reach: ReachSummary,
    /// Mesh meters per hop count (index = hops).
    pub hops: Vec<u64>,
    /// Distribution transformers.
    pub transformers: u64,
    /// Meters per transformer.
    pub meters_per_transformer: Spread,
    /// Feeders.
    pub feeders: u64,
    /// Substations.
    pub substations: u64,
    /// Feeders with at least one critical facility.
    pub feeders_with_critical: u64,
    /// Critical facilities with a backup supply (a second feed or a standby generator).
    pub with_backup: u64,
    /// Meters per feeder.
    pub meters_per_feeder: Spread,
    /// Sum of feeder ratings, MW.
    pub feeder_mw: f64,
    /// Sum of transformer ratings, MVA.
    pub transformer_mva: f64,
    /// Undirected RF links.
    pub mesh_links: u64,
    /// Mean RF neighbours of a mesh meter.
    pub mesh_degree: f64,
    /// Extent of the area (bounding box of the meters), km.
    pub extent_km: (f64, f64),
}

impl Summary {
    /// Summarises `net` with the routes and paths of `state`.
    pub fn of(net: &Network, state: &NetState) -> Summary {
        let mut by_link = [0u64; 3];
        let mut by_class = [0u64; 4];
        let mut facilities = [0u64; 3];
        let mut with_fallback = 0;
        let mut per_transformer = vec![0u64; net.transformers.len()];
        let mut per_feeder = vec![0u64; net.feeders.len()];
        let mut critical_feeder = vec![false; net.feeders.len()];
        let (mut lo, mut hi) = ((f32::MAX, f32::MAX), (f32::MIN, f32::MIN));
        let mut mesh_meters = 0u64;
        let mut mesh_degree = 0u64;
        for (i, m) in net.meters.iter().enumerate() {
            by_link[m.link.index()] += 1;
            by_class[m.class.index()] += 1;
            if let Some(f) = m.facility {
                facilities[FacilityKind::ALL.iter().position(|k| *k == f).unwrap_or(0)] += 1;
            }
            if m.class == CustomerClass::Critical {
                critical_feeder[net.transformers[m.transformer as usize].feeder as usize] = true;
            }
            with_fallback += u64::from(m.fallback);
            per_transformer[m.transformer as usize] += 1;
            per_feeder[net.transformers[m.transformer as usize].feeder as usize] += 1;
            lo = (lo.0.min(m.pos.x), lo.1.min(m.pos.y));
            hi = (hi.0.max(m.pos.x), hi.1.max(m.pos.y));
            if m.link == LinkKind::Mesh {
                mesh_meters += 1;
                mesh_degree += net.mesh.degree(i as u32) as u64;
            }
        }
        let mut collectors = [0u64; 3];
        for c in &net.collectors {
            collectors[c.kind.index()] += 1;
        }
        let mut read_by = vec![0u64; net.collectors.len()];
        for p in &state.paths {
            if p.collector != NONE {
                read_by[p.collector as usize] += 1;
            }
        }
        let meters_per_collector = LinkKind::ALL.map(|k| {
            Spread::of(
                net.collectors
                    .iter()
                    .zip(&read_by)
                    .filter(|(c, _)| c.kind == k)
                    .map(|(_, &n)| n),
            )
        });
        Summary {
            meters: net.meters.len() as u64,
            by_link,
            by_class,
            facilities,
            with_fallback,
            collectors,
            meters_per_collector,
            reach: state.reach_summary(),
            hops: state.hop_histogram(),
            transformers: net.transformers.len() as u64,
            meters_per_transformer: Spread::of(per_transformer.into_iter()),
            feeders: net.feeders.len() as u64,
            substations: net.substations.len() as u64,
            feeders_with_critical: critical_feeder.iter().filter(|c| **c).count() as u64,
            with_backup: net.backup_supplies.len() as u64,
            meters_per_feeder: Spread::of(per_feeder.into_iter()),
            feeder_mw: net.feeders.iter().map(|f| f64::from(f.rating_kw)).sum::<f64>() / 1_000.0,
            transformer_mva: net.transformers.iter().map(|t| f64::from(t.rating_kva)).sum::<f64>() / 1_000.0,
            mesh_links: net.mesh.n_edges() as u64,
            mesh_degree: mesh_degree as f64 / mesh_meters.max(1) as f64,
            extent_km: (
                f64::from((hi.0 - lo.0).max(0.0)) / 1_000.0,
                f64::from((hi.1 - lo.1).max(0.0)) / 1_000.0,
            ),
        }
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.meters;
        writeln!(
            f,
            "area            {:.1} km x {:.1} km, {} meters",
            self.extent_km.0, self.extent_km.1, n
        )?;
        writeln!(f, "customers       {}", {
            let parts: Vec<String> = CustomerClass::ALL
                .iter()
                .map(|c| format!("{} {}", self.by_class[c.index()], c.name()))
                .collect();
            parts.join(", ")
        })?;
        writeln!(
            f,
            "critical        {} hospitals, {} water, {} emergency services, on {} of {} feeders; {} with a backup supply",
            self.facilities[0],
            self.facilities[1],
            self.facilities[2],
            self.feeders_with_critical,
            self.feeders,
            self.with_backup
        )?;
        writeln!(
            f,
            "grid            {} substations, {} feeders, {} transformers ({:.0} MVA), meters per transformer {} / {:.0} / {} (min/mean/max)",
            self.substations,
            self.feeders,
            self.transformers,
            self.transformer_mva,
            self.meters_per_transformer.min,
            self.meters_per_transformer.mean,
            self.meters_per_transformer.max
        )?;
        writeln!(
            f,
            "feeders         {:.0} MW rated, meters per feeder {} / {:.0} / {} (min/mean/max)",
            self.feeder_mw, self.meters_per_feeder.min, self.meters_per_feeder.mean, self.meters_per_feeder.max
        )?;
        writeln!(
            f,
            "field links     kind        meters  share   collectors  meters per collector (min/mean/max)"
        )?;
        let names = ["mesh collectors", "PLC concentrators", "cellular towers"];
        for k in LinkKind::ALL {
            let s = &self.meters_per_collector[k.index()];
            writeln!(
                f,
                "                {:<9} {:>8} {:>5.1}%  {:>6} {:<18} {} / {:.0} / {}",
                k.name(),
                self.by_link[k.index()],
                pct(self.by_link[k.index()], n),
                self.collectors[k.index()],
                names[k.index()],
                s.min,
                s.mean,
                s.max
            )?;
        }
        writeln!(
            f,
            "fallback        {} mesh meters have a cellular modem; {} use it now",
            self.with_fallback, self.reach.fallback
        )?;
        writeln!(
            f,
            "RF mesh         {} links, {:.1} neighbours per mesh meter",
            self.mesh_links, self.mesh_degree
        )?;
        let routed: u64 = self.hops.iter().sum();
        let mean_hops =
            self.hops.iter().enumerate().map(|(h, c)| h as u64 * c).sum::<u64>() as f64 / routed.max(1) as f64;
        writeln!(
            f,
            "mesh hops       {} routed, mean {:.2}, max {}",
            routed,
            mean_hops,
            self.hops.len().saturating_sub(1)
        )?;
        let peak = self.hops.iter().copied().max().unwrap_or(0).max(1);
        for (h, &c) in self.hops.iter().enumerate().skip(1) {
            let bar = "#".repeat(((c as f64 / peak as f64) * 40.0).ceil() as usize);
            writeln!(f, "                {h:>3} {c:>9} {bar}")?;
        }
        let orphans = self.reach.n_orphans();
        writeln!(f, "orphans         {} ({:.2}%)", orphans, pct(orphans, n))?;
        for (reason, &count) in Orphan::ALL.iter().zip(&self.reach.orphans) {
            if count > 0 {
                writeln!(f, "                {count:>9}  {}", reason.describe())?;
            }
        }
        Ok(())
    }
}

//! Collectors whose uploads arrive with many of their meters' reads missing while the rest of
//! the fleet reads normally (collectors busy with firmware the HES sent, or serving feeders out
//! in a storm the MDM detected, are not counted).

use std::collections::BTreeSet;

use amirange_sim::config::INTERVAL;
use amirange_sim::hes::CommandKind;
use amirange_sim::records::{AlertSubject, Severity};
use amirange_sim::time::SimTime;

use super::{Alert, Detector, Look, ReadCycle, Setting, setting};
use crate::spec::DetectorKind;

/// The missing-read-cluster detector: its thresholds and the firmware jobs that may keep
/// collectors busy.
#[derive(Debug)]
pub struct MissingReadCluster {
    /// Share of a collector's reads missing.
    share: f64,
    /// And at least this many reads attempted.
    min_reads: u32,
    /// The fleet-wide share of missing reads above which it is no cluster.
    fleet_share: f64,
    /// Jobs of the HES already read.
    jobs_seen: usize,
    /// Firmware jobs of the HES that may still be transferring (their collectors' channels are
    /// busy: missing reads there are the campaign's, not an attack's).
    firmware_jobs: Vec<u32>,
}

impl MissingReadCluster {
    /// A missing-read-cluster detector with its thresholds, having seen nothing.
    pub fn new(share: f64, min_reads: u32, fleet_share: f64) -> MissingReadCluster {
        MissingReadCluster {
            share,
            min_reads,
            fleet_share,
            jobs_seen: 0,
            firmware_jobs: Vec::new(),
        }
    }

    /// Weighs one read cycle closed at `end`: per collector, the reads attempted and those
    /// missing, and the collectors known to be busy. An alert per collector in a cluster, none
    /// while the whole fleet is losing reads.
    pub fn cycle(&self, end: SimTime, reads: &[u32], missing: &[u32], busy: &BTreeSet<u32>) -> Vec<Alert> {
        let total: u64 = reads.iter().map(|&x| u64::from(x)).sum();
        let lost: u64 = missing.iter().map(|&x| u64::from(x)).sum();
        let fleet = lost as f64 / total.max(1) as f64;
        let clustered = fleet < self.fleet_share;
        if !clustered {
            return Vec::new();
        }
        reads
            .iter()
            .zip(missing)
            .enumerate()
            .filter(|&(k, (&r, &m))| {
                r >= self.min_reads && f64::from(m) >= self.share * f64::from(r) && !busy.contains(&(k as u32))
            })
            .map(|(k, (&r, &m))| {
                Alert::once(
                    end,
                    Self::KIND,
                    Severity::Medium,
                    AlertSubject::Collector(k as u32),
                    format!(
                        "collector {k}: {m} of {r} reads missing while the fleet lost {:.1}%",
                        fleet * 100.0
                    ),
                )
            })
            .collect()
    }

    /// The collectors busy at a cycle's `end`: carrying firmware the HES sent (jobs not yet
    /// done two intervals before), or serving feeders out in a storm the MDM detected (or back
    /// within two hours), where meshes re-form around the meters without supply.
    fn busy(&mut self, look: &Look<'_>, end: SimTime) -> BTreeSet<u32> {
        let sim = look.sim;
        let hes = sim.hes();
        for (i, j) in hes.jobs.iter().enumerate().skip(self.jobs_seen) {
            if let Some(CommandKind::FirmwareUpdate { .. }) = hes.audit.get(j.command as usize).map(|a| &a.kind) {
                self.firmware_jobs.push(i as u32);
            }
        }
        self.jobs_seen = hes.jobs.len();
        let since = end.0.saturating_sub(2 * INTERVAL.as_micros());
        self.firmware_jobs.retain(|&j| {
            hes.jobs
                .get(j as usize)
                .is_some_and(|job| !(job.failed || job.rejected || job.acked.is_some_and(|t| t.0 < since)))
        });
        let paths = &sim.net_state().paths;
        let mut busy: BTreeSet<u32> = self
            .firmware_jobs
            .iter()
            .filter_map(|&j| hes.jobs.get(j as usize))
            .filter_map(|job| paths.get(job.meter as usize).map(|p| p.collector))
            .collect();
        let home = &sim.net_state().home_collector;
        let grid = sim.grid();
        let recent = end.0.saturating_sub(2 * 3_600_000_000);
        for o in sim.records().outages.iter().filter(|o| o.detected_at.is_some()) {
            if o.end.is_none_or(|e| e.0 >= recent) {
                for &m in grid.meters_of(o.feeder) {
                    if let Some(&c) = home.get(m as usize) {
                        busy.insert(c);
                    }
                }
            }
        }
        busy
    }
}

impl Detector for MissingReadCluster {
    const KIND: DetectorKind = DetectorKind::MissingReadCluster;
    const TUNABLES: &'static [Setting<Self>] = &[
        setting!(share, 0.001, 1.0, whole: false, "a share of a collector's reads"),
        setting!(min_reads, 1.0, 100_000.0, whole: true, "a whole number of reads"),
        setting!(fleet_share, 0.001, 1.0, whole: false, "a share of the fleet's reads"),
    ];

    fn read_cycle_closed(&mut self, look: &Look<'_>, cycle: &ReadCycle, alerts: &mut Vec<Alert>) {
        let busy = self.busy(look, cycle.end);
        let records = look.sim.records();
        let n = look.sim.network().collectors.len();
        let span = cycle.index * n..(cycle.index + 1) * n;
        let (Some(reads), Some(missing)) = (
            records.collector_reads.get(span.clone()),
            records.collector_missing.get(span),
        ) else {
            return;
        };
        alerts.extend(self.cycle(cycle.end, reads, missing, &busy));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::Running;

    const END: SimTime = SimTime(3_600_000_000);

    #[test]
    fn raises_on_a_collector_losing_its_reads_while_the_fleet_reads() {
        let d = MissingReadCluster::new(0.4, 20, 0.3);
        let reads = [100, 100, 100, 100, 30];
        let missing = [2, 60, 1, 0, 20];
        let alerts = d.cycle(END, &reads, &missing, &BTreeSet::new());
        let subjects: Vec<&AlertSubject> = alerts.iter().map(|a| &a.subject).collect();
        assert_eq!(subjects, [&AlertSubject::Collector(1), &AlertSubject::Collector(4)]);
        assert_eq!(
            alerts[0].message,
            "collector 1: 60 of 100 reads missing while the fleet lost 19.3%"
        );
    }

    #[test]
    fn stays_quiet_below_threshold_when_busy_or_when_the_whole_fleet_loses_reads() {
        let d = MissingReadCluster::new(0.4, 20, 0.3);
        let reads = [100, 100, 100, 19];
        assert!(
            d.cycle(END, &reads, &[1, 39, 0, 19], &BTreeSet::new()).is_empty(),
            "39% and 19 reads"
        );
        assert!(
            d.cycle(END, &reads, &[1, 60, 0, 0], &BTreeSet::from([1])).is_empty(),
            "busy"
        );
        assert!(
            d.cycle(END, &reads, &[40, 60, 40, 0], &BTreeSet::new()).is_empty(),
            "the fleet lost 45%"
        );
    }

    #[test]
    fn its_thresholds_are_tunable_within_their_ranges_only() {
        let mut d = MissingReadCluster::new(0.4, 20, 0.3);
        d.set_threshold("min_reads", 200.0).expect("a count");
        let (reads, missing) = ([100, 100, 100, 100], [0, 100, 0, 0]);
        assert!(d.cycle(END, &reads, &missing, &BTreeSet::new()).is_empty());
        d.set_threshold("min_reads", 100.0).expect("a count");
        assert_eq!(d.cycle(END, &reads, &missing, &BTreeSet::new()).len(), 1);
        for (field, value) in [
            ("share", 0.0),
            ("min_reads", 0.0),
            ("fleet_share", 1.01),
            ("min_reads", f64::INFINITY),
        ] {
            assert!(d.set_threshold(field, value).is_err(), "{field} = {value}");
        }
    }
}

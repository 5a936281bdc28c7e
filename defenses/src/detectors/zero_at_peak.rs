//! Reads of zero consumption at the day's peak beyond the premises the utility itself
//! disconnected.

use amirange_sim::records::{AlertSubject, Severity};
use amirange_sim::time::SimTime;

use super::{Alert, Detector, Look, ReadCycle, Setting, setting};
use crate::spec::DetectorKind;

/// Intervals in a day.
const SLOTS_PER_DAY: usize = 96;

/// The zero-at-peak detector: its thresholds.
#[derive(Debug)]
pub struct ZeroAtPeak {
    /// Share of the fleet.
    share: f64,
    /// And at least this many meters.
    min_meters: u32,
    /// Meters in the fleet.
    n_meters: usize,
}

/// One interval of a read cycle as the detector weighs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakSlot {
    /// The load the class profiles expect, kW.
    pub expected_kw: f64,
    /// Meters that read zero in it.
    pub zero_reads: u64,
}

impl ZeroAtPeak {
    /// A zero-at-peak detector with its thresholds.
    pub fn new(share: f64, min_meters: u32, n_meters: usize) -> ZeroAtPeak {
        ZeroAtPeak {
            share,
            min_meters,
            n_meters,
        }
    }

    /// Weighs a read cycle's intervals (`slots`) of a day whose highest expected load is
    /// `day_max_kw`, with `cis_off` meters the utility disconnected: an alert at `end` for the
    /// first peak interval (within 80% of the day's highest) with too many zero reads.
    pub fn cycle(&self, end: SimTime, slots: &[PeakSlot], day_max_kw: f64, cis_off: u64) -> Option<Alert> {
        let limit = ((self.share * self.n_meters as f64) as u64).max(u64::from(self.min_meters));
        let hit = slots
            .iter()
            .filter(|s| {
                let off_peak = s.expected_kw < 0.8 * day_max_kw;
                !off_peak
            })
            .find(|s| s.zero_reads.saturating_sub(cis_off) > limit)?;
        let zeros = hit.zero_reads;
        let beyond = zeros.saturating_sub(cis_off);
        Some(Alert::once(
            end,
            Self::KIND,
            Severity::Medium,
            AlertSubject::Fleet,
            format!("{zeros} meters read zero at peak, {beyond} beyond the {cis_off} the utility disconnected"),
        ))
    }
}

impl Detector for ZeroAtPeak {
    const KIND: DetectorKind = DetectorKind::ZeroAtPeak;
    const TUNABLES: &'static [Setting<Self>] = &[
        setting!(share, 0.001, 1.0, whole: false, "a share of the fleet"),
        setting!(min_meters, 1.0, 100_000.0, whole: true, "a whole number of meters"),
    ];

    fn read_cycle_closed(&mut self, look: &Look<'_>, cycle: &ReadCycle, alerts: &mut Vec<Alert>) {
        let sim = look.sim;
        let day = cycle.last / SLOTS_PER_DAY;
        let day_max = (day * SLOTS_PER_DAY..(day + 1) * SLOTS_PER_DAY)
            .map(|s| sim.expected_kw(s as u32))
            .fold(0.0, f64::max);
        let intervals = &sim.records().intervals;
        let slots: Vec<PeakSlot> = (cycle.first..=cycle.last)
            .map(|s| PeakSlot {
                expected_kw: sim.expected_kw(s as u32),
                zero_reads: intervals.get(s).map_or(0, |r| r.zero_reads),
            })
            .collect();
        alerts.extend(self.cycle(cycle.end, &slots, day_max, look.context.cis_off()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::Running;

    const END: SimTime = SimTime(3_600_000_000);

    fn slots(zeros: u64) -> [PeakSlot; 2] {
        [
            PeakSlot {
                expected_kw: 50.0,
                zero_reads: 900,
            },
            PeakSlot {
                expected_kw: 95.0,
                zero_reads: zeros,
            },
        ]
    }

    #[test]
    fn raises_on_zero_reads_at_peak_beyond_the_utilitys_disconnects() {
        let d = ZeroAtPeak::new(0.005, 10, 1000);
        let alert = d.cycle(END, &slots(30), 100.0, 5).expect("25 beyond a limit of 10");
        assert_eq!(alert.time, END);
        assert_eq!(alert.subject, AlertSubject::Fleet);
        assert_eq!(
            alert.message,
            "30 meters read zero at peak, 25 beyond the 5 the utility disconnected"
        );
    }

    #[test]
    fn stays_quiet_below_the_limit_and_off_peak() {
        let d = ZeroAtPeak::new(0.005, 10, 1000);
        assert_eq!(d.cycle(END, &slots(15), 100.0, 5), None, "10 beyond is not past 10");
        // The off-peak interval's 900 zeros do not count.
        assert_eq!(d.cycle(END, &slots(0), 100.0, 0), None);
        // A share of a large fleet lifts the limit above min_meters.
        let big = ZeroAtPeak::new(0.005, 10, 100_000);
        assert_eq!(big.cycle(END, &slots(400), 100.0, 0), None, "500 is the limit");
    }

    #[test]
    fn its_thresholds_are_tunable_within_their_ranges_only() {
        let mut d = ZeroAtPeak::new(0.005, 10, 1000);
        d.set_threshold("share", 0.5).expect("a share");
        d.set_threshold("min_meters", 25.0).expect("a count");
        assert_eq!(
            (d.threshold("share"), d.threshold("min_meters")),
            (Some(0.5), Some(25.0))
        );
        let errors: Vec<String> = [
            ("shares", 0.5),
            ("share", 1.5),
            ("min_meters", 2.5),
            ("share", f64::NAN),
        ]
        .iter()
        .map(|&(field, value)| d.set_threshold(field, value).expect_err("refused").to_string())
        .collect();
        assert_eq!(
            errors,
            [
                "`zero-at-peak` has no tunable field `shares` (it has: share, min_meters)",
                "`share` of `zero-at-peak` is a share of the fleet, at least 0.001 and at most 1, not 1.5",
                "`min_meters` of `zero-at-peak` is a whole number of meters, at least 1 and at most 100000, not 2.5",
                "`share` of `zero-at-peak` is a share of the fleet, at least 0.001 and at most 1, not NaN",
            ]
        );
        assert_eq!(d.threshold("share"), Some(0.5), "nothing changed");
    }
}

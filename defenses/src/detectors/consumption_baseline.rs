//! The fleet's load as feeder-head SCADA measures it against the load the class profiles expect
//! for the season and hour, outside demand-response events and storm restoration.

use amirange_sim::config::INTERVAL;
use amirange_sim::records::{AlertSubject, Severity};
use amirange_sim::time::SimTime;

use super::{Alert, Detector, INTERVALS, Look, Setting, setting};
use crate::spec::DetectorKind;

/// The consumption-baseline detector: its thresholds and what it has learnt.
#[derive(Debug)]
pub struct ConsumptionBaseline {
    /// Largest relative deviation from the learnt ratio.
    deviation: f64,
    /// Intervals in a row beyond it before the alert.
    intervals: u32,
    /// Meters in the fleet.
    n_meters: usize,
    /// The fleet's load over the profiles' expectation, learnt slowly (none before the first
    /// interval that counts).
    ratio: Option<f64>,
    /// Intervals in a row beyond the deviation.
    run: u32,
}

/// One closed interval as the detector weighs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetLoad {
    /// When the interval ended.
    pub end: SimTime,
    /// What feeder-head SCADA measured on the energized feeders, kW.
    pub kw: f64,
    /// What the class profiles expect of the whole fleet, kW.
    pub expected_kw: f64,
    /// Share of the fleet's meters on energized feeders.
    pub share_on: f64,
    /// Whether a demand-response event or storm restoration explains any deviation.
    pub excused: bool,
}

impl ConsumptionBaseline {
    /// A consumption-baseline detector with its thresholds, having learnt nothing.
    pub fn new(deviation: f64, intervals: u32, n_meters: usize) -> ConsumptionBaseline {
        ConsumptionBaseline {
            deviation,
            intervals,
            n_meters,
            ratio: None,
            run: 0,
        }
    }

    /// Weighs one closed interval: the alert it raises, if any. The ratio of measured to
    /// expected load is learnt slowly from intervals within the deviation.
    pub fn interval(&mut self, load: &FleetLoad) -> Option<Alert> {
        let counts = load.expected_kw > 0.0 && !load.excused && load.share_on >= 0.5;
        if !counts {
            self.run = 0;
            return None;
        }
        let r = load.kw / (load.expected_kw * load.share_on);
        let Some(base) = self.ratio else {
            self.ratio = Some(r);
            return None;
        };
        let off = (r / base - 1.0).abs();
        let beyond = off > self.deviation;
        if !beyond {
            self.run = 0;
            self.ratio = Some(base + 0.05 * (r - base));
            return None;
        }
        self.run += 1;
        if self.run < self.intervals {
            return None;
        }
        let dir = if r > base { "above" } else { "below" };
        Some(Alert::once(
            load.end,
            Self::KIND,
            Severity::Medium,
            AlertSubject::Fleet,
            format!(
                "fleet load {:.0}% {dir} the baseline for {} intervals",
                off * 100.0,
                self.run
            ),
        ))
    }
}

impl Detector for ConsumptionBaseline {
    const KIND: DetectorKind = DetectorKind::ConsumptionBaseline;
    const TUNABLES: &'static [Setting<Self>] = &[
        setting!(deviation, 0.001, 1.0, whole: false, "a share of the expected load"),
        setting!(intervals, 1.0, 96.0, whole: true, INTERVALS),
    ];

    fn interval_closed(&mut self, look: &Look<'_>, slot: usize, alerts: &mut Vec<Alert>) {
        let sim = look.sim;
        let start = SimTime(slot as u64 * INTERVAL.as_micros());
        let end = SimTime(start.0 + INTERVAL.as_micros());
        let grid = sim.grid();
        let scada = &sim.records().scada_kw;
        let nf = grid.feeders.len();
        let mut kw = 0.0;
        let mut meters_on = 0usize;
        for f in 0..nf {
            if grid.feeders[f].energized {
                kw += f64::from(scada.get(slot * nf + f).copied().unwrap_or(0.0));
                meters_on += (grid.offsets[f + 1] - grid.offsets[f]) as usize;
            }
        }
        let load = FleetLoad {
            end,
            kw,
            expected_kw: sim.expected_kw(slot as u32),
            share_on: meters_on as f64 / self.n_meters.max(1) as f64,
            excused: look.context.in_demand_response(start, end) || end <= look.context.storm_until(),
        };
        alerts.extend(self.interval(&load));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::Running;

    fn load(slot: u64, kw: f64) -> FleetLoad {
        FleetLoad {
            end: SimTime((slot + 1) * INTERVAL.as_micros()),
            kw,
            expected_kw: 100.0,
            share_on: 1.0,
            excused: false,
        }
    }

    #[test]
    fn raises_after_enough_intervals_beyond_the_baseline() {
        let mut d = ConsumptionBaseline::new(0.25, 2, 10);
        assert_eq!(
            d.interval(&load(0, 100.0)),
            None,
            "the first interval sets the baseline"
        );
        assert_eq!(d.interval(&load(1, 110.0)), None, "within the deviation");
        assert_eq!(
            d.interval(&load(2, 160.0)),
            None,
            "one interval beyond is not yet enough"
        );
        let alert = d.interval(&load(3, 160.0)).expect("two in a row");
        assert_eq!(alert.subject, AlertSubject::Fleet);
        assert_eq!(alert.time, SimTime(4 * INTERVAL.as_micros()));
        assert!(
            alert.message.contains("above the baseline for 2 intervals"),
            "{}",
            alert.message
        );
    }

    #[test]
    fn stays_quiet_when_excused_or_most_of_the_fleet_is_off() {
        let mut d = ConsumptionBaseline::new(0.25, 1, 10);
        assert_eq!(d.interval(&load(0, 100.0)), None);
        let mut storm = load(1, 10.0);
        storm.excused = true;
        assert_eq!(d.interval(&storm), None);
        let mut dark = load(2, 10.0);
        dark.share_on = 0.4;
        assert_eq!(d.interval(&dark), None);
        assert!(d.interval(&load(3, 10.0)).is_some(), "the same load unexcused");
    }

    #[test]
    fn its_thresholds_are_tunable_within_their_ranges_only() {
        let mut d = ConsumptionBaseline::new(0.25, 2, 10);
        d.set_threshold("deviation", 0.5).expect("in range");
        d.set_threshold("intervals", 96.0).expect("a day");
        assert_eq!(
            (d.threshold("deviation"), d.threshold("intervals")),
            (Some(0.5), Some(96.0))
        );
        for (field, value) in [
            ("deviation", 0.0),
            ("deviation", 1.5),
            ("intervals", 97.0),
            ("intervals", 1.5),
        ] {
            assert!(d.set_threshold(field, value).is_err(), "{field} = {value}");
        }
        assert!(
            d.set_threshold("ratio", 1.0).is_err(),
            "learnt state is not a threshold"
        );
    }
}

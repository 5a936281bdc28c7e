//! The bulk system's frequency beyond a band around nominal.

use amirange_sim::config::INTERVAL;
use amirange_sim::records::{AlertSubject, IntervalRow, Severity};
use amirange_sim::time::SimTime;

use super::{Alert, Detector, Look, Setting, setting};
use crate::spec::DetectorKind;

/// The frequency-excursion detector: its band.
#[derive(Debug)]
pub struct FrequencyExcursion {
    /// Half-width of the band, Hz.
    deviation_hz: f64,
    /// The bulk system's nominal frequency, Hz.
    nominal_hz: f64,
}

impl FrequencyExcursion {
    /// A frequency-excursion detector with its band around `nominal_hz`.
    pub fn new(deviation_hz: f64, nominal_hz: f64) -> FrequencyExcursion {
        FrequencyExcursion {
            deviation_hz,
            nominal_hz,
        }
    }

    /// Weighs one closed interval (`row`, ended at `end`): an alert when its frequency left
    /// the band (an interval without a frequency record, 0 mHz, does not count).
    pub fn interval(&self, end: SimTime, row: &IntervalRow) -> Option<Alert> {
        let lo = f64::from(row.frequency_min_mhz) / 1000.0;
        let hi = f64::from(row.frequency_max_mhz) / 1000.0;
        let dev = (self.nominal_hz - lo).max(hi - self.nominal_hz);
        let beyond = dev > self.deviation_hz;
        if row.frequency_min_mhz == 0 || !beyond {
            return None;
        }
        Some(Alert::once(
            end,
            Self::KIND,
            Severity::High,
            AlertSubject::BulkSystem,
            format!(
                "frequency between {lo:.3} and {hi:.3} Hz, beyond ±{} Hz",
                self.deviation_hz
            ),
        ))
    }
}

impl Detector for FrequencyExcursion {
    const KIND: DetectorKind = DetectorKind::FrequencyExcursion;
    const TUNABLES: &'static [Setting<Self>] = &[setting!(
        deviation_hz,
        0.05,
        2.5,
        whole: false,
        "a deviation from nominal in Hz"
    )];

    fn interval_closed(&mut self, look: &Look<'_>, slot: usize, alerts: &mut Vec<Alert>) {
        let end = SimTime((slot as u64 + 1) * INTERVAL.as_micros());
        if let Some(row) = look.sim.records().intervals.get(slot) {
            alerts.extend(self.interval(end, row));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::Running;

    fn row(min_mhz: u32, max_mhz: u32) -> IntervalRow {
        IntervalRow {
            frequency_min_mhz: min_mhz,
            frequency_max_mhz: max_mhz,
            ..IntervalRow::default()
        }
    }

    #[test]
    fn raises_beyond_the_band_and_stays_quiet_within() {
        let d = FrequencyExcursion::new(0.2, 50.0);
        assert_eq!(d.interval(SimTime(9), &row(49_850, 50_100)), None);
        assert_eq!(d.interval(SimTime(9), &row(0, 0)), None, "no frequency recorded");
        let alert = d.interval(SimTime(9), &row(49_700, 50_010)).expect("0.3 Hz low");
        assert_eq!((alert.time, alert.subject), (SimTime(9), AlertSubject::BulkSystem));
        assert_eq!(alert.message, "frequency between 49.700 and 50.010 Hz, beyond ±0.2 Hz");
    }

    #[test]
    fn its_band_is_tunable_within_its_range_only() {
        let mut d = FrequencyExcursion::new(0.2, 50.0);
        d.set_threshold("deviation_hz", 0.5).expect("in range");
        assert_eq!(d.interval(SimTime(9), &row(49_700, 50_010)), None);
        for value in [0.01, 2.6, f64::NAN] {
            assert!(d.set_threshold("deviation_hz", value).is_err(), "{value}");
        }
        assert!(d.set_threshold("nominal_hz", 60.0).is_err(), "not a threshold");
    }
}

//! Frames meters refused because their counter was stale (a replay).

use amirange_sim::records::MeterSet;
use amirange_sim::time::SimTime;

use super::{Alert, Detector, Look, Setting};
use crate::spec::DetectorKind;

/// The frame-counter detector: how far it has read the meters' refusals.
#[derive(Debug, Default)]
pub struct FrameCounter {
    /// Refused frames already read.
    frames_seen: usize,
}

impl FrameCounter {
    /// The alert at `now` about the `meters` that refused a frame (one entry per frame), if
    /// any did.
    pub fn refused(now: SimTime, meters: Vec<u32>) -> Option<Alert> {
        Alert::refusals(now, Self::KIND, MeterSet::Field, meters, |n| {
            format!("{n} frame(s) refused with a stale counter (a replay)")
        })
    }
}

impl Detector for FrameCounter {
    const KIND: DetectorKind = DetectorKind::FrameCounter;
    const TUNABLES: &'static [Setting<Self>] = &[];

    fn look(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>) {
        let refused = &look.sim.fleet().refused_frames;
        let meters = refused
            .get(self.frames_seen..)
            .unwrap_or_default()
            .iter()
            .map(|refused_frame| refused_frame.meter_idx)
            .collect();
        self.frames_seen = refused.len();
        alerts.extend(Self::refused(look.now, meters));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::Running;
    use amirange_sim::records::Severity;

    #[test]
    fn raises_on_every_refused_frame_and_stays_quiet_without() {
        assert_eq!(FrameCounter::refused(SimTime(5), Vec::new()), None);
        let alert = FrameCounter::refused(SimTime(5), vec![3, 3, 9]).expect("three refusals");
        assert_eq!(
            (alert.count, alert.meters, alert.severity),
            (3, vec![3, 3, 9], Severity::High)
        );
        assert_eq!(alert.message, "3 frame(s) refused with a stale counter (a replay)");
    }

    #[test]
    fn it_has_no_tunable_threshold() {
        let e = FrameCounter::default().set_threshold("count", 1.0).expect_err("none");
        assert_eq!(
            e.to_string(),
            "`frame-counter` has no tunable field `count` (it has: none)"
        );
    }
}

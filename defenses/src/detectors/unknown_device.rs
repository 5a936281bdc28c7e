//! Meters reporting an unknown network or base station, failed network authentication,
//! unauthenticated commands, or requests for the legacy security level.

use amirange_sim::records::MeterSet;
use amirange_sim::time::SimTime;

use super::{Alert, Detector, Look, Setting};
use crate::spec::DetectorKind;

/// The unknown-device detector: how far it has read the meters' refusals.
#[derive(Debug, Default)]
pub struct UnknownDevice {
    /// Refused attachments already read.
    attach_seen: usize,
    /// Refused forged commands already read.
    forgeries_seen: usize,
    /// Refused downgrade requests already read.
    downgrades_seen: usize,
}

impl UnknownDevice {
    /// The alert at `now` about the `meters` that reported a refusal (one entry per event), if
    /// any did.
    pub fn refused(now: SimTime, meters: Vec<u32>) -> Option<Alert> {
        Alert::refusals(now, Self::KIND, MeterSet::Field, meters, |n| {
            format!("{n} meter event(s): unknown network, failed authentication or legacy request")
        })
    }
}

impl Detector for UnknownDevice {
    const KIND: DetectorKind = DetectorKind::UnknownDevice;
    const TUNABLES: &'static [Setting<Self>] = &[];

    /// Meters that attached to a rogue network believe it genuine and report nothing; those
    /// that refused it, refused a forged command or a legacy request report it.
    fn look(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>) {
        let fleet = look.sim.fleet();
        let mut meters: Vec<u32> = Vec::new();
        for (events, seen) in [
            (&fleet.refused_attach, &mut self.attach_seen),
            (&fleet.refused_forgeries, &mut self.forgeries_seen),
            (&fleet.refused_downgrades, &mut self.downgrades_seen),
        ] {
            meters.extend(events.get(*seen..).unwrap_or_default().iter().map(|x| x.0));
            *seen = events.len();
        }
        alerts.extend(Self::refused(look.now, meters));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::Running;
    use amirange_sim::records::AlertSubject;

    #[test]
    fn raises_on_every_refusal_and_stays_quiet_without() {
        assert_eq!(UnknownDevice::refused(SimTime(5), Vec::new()), None);
        let alert = UnknownDevice::refused(SimTime(5), vec![1, 2]).expect("two refusals");
        assert_eq!((alert.count, alert.subject), (2, AlertSubject::Meters(MeterSet::Field)));
    }

    #[test]
    fn it_has_no_tunable_threshold() {
        assert!(UnknownDevice::default().set_threshold("share", 0.5).is_err());
    }
}

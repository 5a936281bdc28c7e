//! Meters running firmware the utility never released (by the firmware census inventory reads
//! report), and the signature failures meters report.

use std::collections::BTreeSet;

use amirange_sim::records::{AlertSubject, MeterSet, Severity};
use amirange_sim::time::SimTime;

use super::{Alert, Detector, Look, Setting};
use crate::spec::{AlertSource, DetectorKind};

/// The firmware-drift detector: how far it has read the meters' refusals, and the unreleased
/// images it already reported.
#[derive(Debug, Default)]
pub struct FirmwareDrift {
    /// Refused images already read.
    images_seen: usize,
    /// Unreleased images already reported.
    reported: BTreeSet<u16>,
    /// The last census: the fleet's census version, how many images, and meters per image; a
    /// fleet that has not changed is not counted again.
    counted: Option<(u64, usize, Vec<u64>)>,
}

impl FirmwareDrift {
    /// The alert at `now` about the `meters` that refused an image whose signature did not
    /// verify (one entry per refusal), if any did.
    pub fn refused(now: SimTime, meters: Vec<u32>) -> Option<Alert> {
        Alert::refusals(now, Self::KIND, MeterSet::Signature, meters, |n| {
            format!("{n} firmware image(s) refused: the signature did not verify")
        })
    }

    /// Weighs the census at `now`: meters per image (`census[i]` run image `i`, named
    /// `versions[i]`), whether the utility released each (`approved`). An alert per unreleased
    /// image the first time meters report it.
    pub fn census_alerts(
        &mut self,
        now: SimTime,
        census: &[u64],
        versions: &[&str],
        approved: impl Fn(u16) -> bool,
    ) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for (image, &n) in census.iter().enumerate() {
            let image = image as u16;
            if n == 0 || approved(image) || !self.reported.insert(image) {
                continue;
            }
            let version = versions.get(usize::from(image)).copied().unwrap_or("?");
            alerts.push(Alert {
                time: now,
                source: AlertSource::Detector(Self::KIND),
                severity: Severity::High,
                subject: AlertSubject::FirmwareImage(version.to_owned()),
                message: format!("{n} meter(s) run firmware {version}, which the utility never released"),
                meters: Vec::new(),
                count: n,
            });
        }
        alerts
    }
}

impl Detector for FirmwareDrift {
    const KIND: DetectorKind = DetectorKind::FirmwareDrift;
    const TUNABLES: &'static [Setting<Self>] = &[];

    /// Signature failures meters reported.
    fn look(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>) {
        let refused = &look.sim.fleet().refused_images;
        let meters = refused
            .get(self.images_seen..)
            .unwrap_or_default()
            .iter()
            .map(|x| x.0)
            .collect();
        self.images_seen = refused.len();
        alerts.extend(Self::refused(look.now, meters));
    }

    /// The firmware census: working meters report their image (a failed one reports nothing).
    fn census(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>) {
        let fleet = look.sim.fleet();
        let key = (fleet.census_version, fleet.images.len());
        let census = match self.counted.take() {
            Some((version, images, census)) if (version, images) == key => census,
            _ => {
                let mut census = vec![0u64; fleet.images.len()];
                for (&image, &failed) in fleet.firmware.iter().zip(&fleet.failed) {
                    if !failed && let Some(n) = census.get_mut(usize::from(image)) {
                        *n += 1;
                    }
                }
                census
            }
        };
        let versions: Vec<&str> = fleet.images.iter().map(|i| i.version.as_str()).collect();
        // Approvals change over time: the counts are judged again at every census.
        alerts.extend(self.census_alerts(look.now, &census, &versions, |i| look.context.approved(i)));
        self.counted = Some((key.0, key.1, census));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::Running;

    #[test]
    fn raises_once_per_unreleased_image_and_stays_quiet_on_released_ones() {
        let mut d = FirmwareDrift::default();
        let versions = ["1.0", "1.1", "6.6.6"];
        let released = |i: u16| i <= 1;
        let alerts = d.census_alerts(SimTime(7), &[90, 5, 5], &versions, released);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].subject, AlertSubject::FirmwareImage("6.6.6".into()));
        assert_eq!(alerts[0].count, 5);
        assert_eq!(
            alerts[0].message,
            "5 meter(s) run firmware 6.6.6, which the utility never released"
        );
        assert!(
            d.census_alerts(SimTime(8), &[90, 5, 6], &versions, released).is_empty(),
            "reported already"
        );
        let mut fresh = FirmwareDrift::default();
        assert!(
            fresh
                .census_alerts(SimTime(8), &[100, 0, 0], &versions, |i| i == 0)
                .is_empty(),
            "no meters"
        );
    }

    #[test]
    fn raises_on_signature_failures() {
        assert_eq!(FirmwareDrift::refused(SimTime(1), Vec::new()), None);
        let alert = FirmwareDrift::refused(SimTime(1), vec![4]).expect("one refusal");
        assert_eq!(alert.subject, AlertSubject::Meters(MeterSet::Signature));
    }

    #[test]
    fn it_has_no_tunable_threshold() {
        assert!(FirmwareDrift::default().set_threshold("images", 1.0).is_err());
    }
}

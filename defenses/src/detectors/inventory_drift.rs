//! What meters report against what the HES believes: relays that changed position without a
//! command from the HES, meters that fell back to the legacy security level.

use amirange_sim::hes::CommandKind;
use amirange_sim::records::{AlertSubject, MeterSet, RelayEvent, Severity};

use super::{Alert, Detector, Look, Setting};
use crate::spec::DetectorKind;

/// The relay position the HES last commanded a meter to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commanded {
    /// It never commanded one (any relay event is then news to it).
    Nothing,
    /// Closed (a connect).
    Closed,
    /// Open (a disconnect).
    Open,
}

impl Commanded {
    /// The position a relay event reports.
    fn reported(open: bool) -> Commanded {
        if open { Commanded::Open } else { Commanded::Closed }
    }
}

/// The inventory-drift detector: what the HES commanded each relay, and the meters already
/// reported at the legacy level.
#[derive(Debug)]
pub struct InventoryDrift {
    /// Jobs of the HES already read.
    jobs_seen: usize,
    /// Relay events already read.
    relays_seen: usize,
    /// Per meter: the relay position the HES last commanded.
    hes_relay: Vec<Commanded>,
    /// Per meter: whether it was already reported at the legacy level.
    legacy_seen: Vec<bool>,
    /// The fleet's census version at the last census: an unchanged fleet has no meter newly at
    /// the legacy level.
    census_version: Option<u64>,
}

impl InventoryDrift {
    /// An inventory-drift detector for `n_meters` meters, having seen nothing.
    pub fn new(n_meters: usize) -> InventoryDrift {
        InventoryDrift {
            jobs_seen: 0,
            relays_seen: 0,
            hes_relay: vec![Commanded::Nothing; n_meters],
            legacy_seen: vec![false; n_meters],
            census_version: None,
        }
    }

    /// Notes that the HES commanded meter `meter`'s relay to `commanded`.
    pub fn commanded(&mut self, meter: u32, commanded: Commanded) {
        if let Some(s) = self.hes_relay.get_mut(meter as usize) {
            *s = commanded;
        }
    }

    /// Weighs relay events meters pushed: an alert, at the first, about those that changed
    /// position without a command.
    pub fn relay_events(&self, events: &[RelayEvent]) -> Option<Alert> {
        let drift: Vec<&RelayEvent> = events
            .iter()
            .filter(|e| {
                self.hes_relay
                    .get(e.meter as usize)
                    .is_some_and(|&c| c != Commanded::reported(e.open))
            })
            .collect();
        let first = drift.first()?.time;
        let n = drift.len();
        let severity = if n >= 10 { Severity::High } else { Severity::Medium };
        Some(Alert::about_meters(
            first,
            Self::KIND,
            severity,
            AlertSubject::Meters(MeterSet::Relays),
            format!("{n} relay(s) changed position without a command from the HES"),
            drift.iter().map(|e| e.meter).collect(),
        ))
    }

    /// Weighs the security levels inventory reads report (`legacy[m]`: meter `m` runs the
    /// legacy level and answers): an alert about the meters newly at the legacy level.
    pub fn legacy_levels(&mut self, now: amirange_sim::time::SimTime, legacy: &[bool]) -> Option<Alert> {
        let mut down = Vec::new();
        for (m, (&at_legacy, seen)) in legacy.iter().zip(&mut self.legacy_seen).enumerate() {
            if at_legacy && !*seen {
                *seen = true;
                down.push(m as u32);
            }
        }
        if down.is_empty() {
            return None;
        }
        let n = down.len();
        Some(Alert::about_meters(
            now,
            Self::KIND,
            Severity::High,
            AlertSubject::Meters(MeterSet::SecurityLevel),
            format!("{n} meter(s) now report the legacy security level"),
            down,
        ))
    }
}

impl Detector for InventoryDrift {
    const KIND: DetectorKind = DetectorKind::InventoryDrift;
    const TUNABLES: &'static [Setting<Self>] = &[];

    /// The relay positions the HES's new jobs commanded, then the relay events meters pushed.
    fn look(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>) {
        let hes = look.sim.hes();
        for j in hes.jobs.get(self.jobs_seen..).unwrap_or_default() {
            let commanded = match hes.audit.get(j.command as usize).map(|a| &a.kind) {
                Some(CommandKind::Disconnect) => Commanded::Open,
                Some(CommandKind::Connect) => Commanded::Closed,
                _ => continue,
            };
            self.commanded(j.meter, commanded);
        }
        self.jobs_seen = hes.jobs.len();
        let events = &look.sim.records().relay_events;
        let fresh = events.get(self.relays_seen..).unwrap_or_default();
        self.relays_seen = events.len();
        alerts.extend(self.relay_events(fresh));
    }

    /// Only whether a meter runs the legacy level is reported, not who asked.
    fn census(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>) {
        let fleet = look.sim.fleet();
        if self.census_version.replace(fleet.census_version) == Some(fleet.census_version) {
            return;
        }
        let legacy: Vec<bool> = fleet
            .downgraded_by
            .iter()
            .zip(&fleet.failed)
            .map(|(&by, &failed)| by > 0 && !failed)
            .collect();
        alerts.extend(self.legacy_levels(look.now, &legacy));
    }
}

#[cfg(test)]
mod tests {
    use amirange_sim::time::SimTime;

    use super::*;
    use crate::detectors::Running;

    fn event(second: u64, meter: u32, open: bool) -> RelayEvent {
        RelayEvent {
            time: SimTime(second * 1_000_000),
            meter,
            open,
        }
    }

    #[test]
    fn raises_on_relays_the_hes_did_not_command_and_stays_quiet_on_those_it_did() {
        let mut d = InventoryDrift::new(20);
        d.commanded(1, Commanded::Open);
        assert_eq!(d.relay_events(&[event(5, 1, true)]), None, "commanded");
        let alert = d
            .relay_events(&[
                event(5, 1, true),
                event(6, 2, true),
                event(7, 1, false),
                event(8, 99, true),
            ])
            .expect("two uncommanded changes");
        assert_eq!(
            (alert.time, alert.meters.clone(), alert.severity),
            (SimTime(6_000_000), vec![2, 1], Severity::Medium)
        );
        let many: Vec<RelayEvent> = (10..20).map(|m| event(1, m, true)).collect();
        assert_eq!(d.relay_events(&many).map(|a| a.severity), Some(Severity::High));
    }

    #[test]
    fn raises_once_per_meter_at_the_legacy_level() {
        let mut d = InventoryDrift::new(3);
        assert_eq!(d.legacy_levels(SimTime(1), &[false, false, false]), None);
        let alert = d.legacy_levels(SimTime(2), &[false, true, true]).expect("two meters");
        assert_eq!(alert.meters, [1, 2]);
        assert_eq!(
            d.legacy_levels(SimTime(3), &[false, true, true]),
            None,
            "reported already"
        );
    }

    #[test]
    fn it_has_no_tunable_threshold() {
        assert!(InventoryDrift::new(1).set_threshold("meters", 1.0).is_err());
    }
}

//! The network sensor behind the utility's firewall: the flow records the engine logs, as
//! packets on the wire ([`crate::wire`]), and the IDS's alerts about them.

use amirange_sim::engine::Sim;
use amirange_sim::records::{AlertSubject, Severity};
use amirange_sim::time::SimTime;

use crate::detectors::Alert;
use crate::ids::{Ids, IdsAlert, Track};
use crate::spec::AlertSource;
use crate::wire::Tap;

/// The IDS over the packets the sensor saw.
pub struct NetworkSensor {
    /// The IDS.
    ids: Ids,
    /// The flow records as packets.
    tap: Tap,
    /// The horizon read up to so far.
    horizon: SimTime,
}

impl NetworkSensor {
    /// A sensor running `ids`, having seen nothing.
    pub fn new(ids: Ids) -> NetworkSensor {
        NetworkSensor {
            ids,
            tap: Tap::headers(),
            horizon: SimTime::ZERO,
        }
    }

    /// The time up to which the sensor has looked (its packets before it are all observed).
    pub fn horizon(&self) -> SimTime {
        self.horizon
    }

    /// The packets before the engine's sensor horizon not yet seen, through the IDS: the alerts
    /// its rules raise. The firewall in front of the sensor drops the outside hosts it blocked.
    pub fn look(&mut self, sim: &Sim, alerts: &mut Vec<Alert>) {
        let horizon = sim.sensor_horizon().max(self.horizon);
        self.horizon = horizon;
        let blocked = |host: u32, at: u64| sim.outside_blocked(host, SimTime(at));
        let mut out: Vec<IdsAlert> = Vec::new();
        let ids = &mut self.ids;
        self.tap.read(&sim.records().flows, &blocked, horizon.0, &mut |seg| {
            ids.observe(&seg.flow, &mut out)
        });
        let rules = self.ids.rules();
        for a in out {
            let Some(rule) = rules.get(a.rule) else {
                continue;
            };
            // The alert is about what the rule tracks.
            let subject = match rule.threshold.as_ref().map(|t| t.track) {
                Some(Track::ByDst) => AlertSubject::Host(a.dst),
                Some(Track::ByBoth) => AlertSubject::HostPair { src: a.src, dst: a.dst },
                Some(Track::ByRule) => AlertSubject::Rule(rule.sid),
                Some(Track::BySrc) | None => AlertSubject::Host(a.src),
            };
            let severity = match rule.priority.map_or(2, u32::from) {
                1 => Severity::High,
                2 => Severity::Medium,
                _ => Severity::Low,
            };
            alerts.push(Alert {
                time: SimTime(a.time_s * 1_000_000),
                source: AlertSource::IdsRule(rule.sid),
                severity,
                subject,
                message: format!("{} ({}:{} -> {}:{})", rule.msg, a.src, a.src_port, a.dst, a.dst_port),
                meters: Vec::new(),
                count: u64::from(a.fired),
            });
        }
    }
}

//! The network sensor behind the utility's firewall: the flow records the engine logs, as the
//! IDS sees them, and the IDS's alerts about them.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use amirange_sim::engine::Sim;
use amirange_sim::records::{AlertSubject, Endpoint, FlowRecord, Severity};
use amirange_sim::time::SimTime;

use crate::addresses;
use crate::detectors::Alert;
use crate::ids::{Flow, Ids, IdsAlert, Proto, Track};
use crate::spec::AlertSource;

/// The IDS over the flows the sensor saw.
pub struct NetworkSensor {
    /// The IDS.
    ids: Ids,
    /// Flow records already read.
    flows_seen: usize,
}

impl NetworkSensor {
    /// A sensor running `ids`, having seen nothing.
    pub fn new(ids: Ids) -> NetworkSensor {
        NetworkSensor { ids, flows_seen: 0 }
    }

    /// The flows that arrived since the last look through the IDS, without those from the
    /// outside hosts the firewall blocks: the alerts its rules raise.
    pub fn look(&mut self, sim: &Sim, blocked: &BTreeSet<u32>, alerts: &mut Vec<Alert>) {
        let flows = &sim.records().flows;
        let fresh = flows.get(self.flows_seen..).unwrap_or_default();
        self.flows_seen = flows.len();
        let mut expanded: Vec<Flow> = Vec::new();
        for f in fresh {
            expand(f, blocked, &mut expanded);
        }
        // The sensor's spans overlap in time (a flood's minute is recorded after the uploads of
        // its read cycle): the IDS sees them in time order.
        expanded.sort_by_key(|f| f.time_s);
        let mut out: Vec<IdsAlert> = Vec::new();
        for f in &expanded {
            self.ids.observe(f, &mut out);
        }
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

/// Where an endpoint lives in the address plan.
fn address(e: Endpoint) -> Ipv4Addr {
    match e {
        Endpoint::HesFrontEnd => addresses::HES_FRONT_END,
        Endpoint::HesCommands => addresses::HES_COMMANDS,
        Endpoint::Mdm => addresses::MDM,
        Endpoint::Cis => addresses::CIS,
        Endpoint::ScadaMaster => addresses::SCADA_MASTER,
        Endpoint::Rtu(f) => addresses::rtu(f),
        Endpoint::Collector(c) => addresses::collector(c),
        Endpoint::Meter(m) => addresses::meter(m),
        Endpoint::Workstation(a) => addresses::workstation(a),
        Endpoint::Outside(n) => addresses::outside(n),
    }
}

/// A flow record as the IDS sees it: one observation per second and source host, the
/// connections spread evenly (the remainder to the first hosts and seconds).
fn expand(f: &FlowRecord, blocked: &BTreeSet<u32>, out: &mut Vec<Flow>) {
    let t0 = f.time.0 / 1_000_000;
    let seconds = u64::from(f.seconds.max(1));
    let sources = u64::from(f.sources.max(1));
    let cells = seconds * sources;
    let base = f.connections / cells;
    let extra = f.connections % cells;
    let src0 = match f.src {
        Endpoint::Outside(n) => Some(n),
        _ => None,
    };
    for s in 0..seconds {
        for h in 0..sources {
            let cell = s * sources + h;
            let count = base + u64::from(cell < extra);
            if count == 0 {
                continue;
            }
            // The firewall in front of the sensor drops blocked hosts.
            let src = match src0 {
                Some(n) if blocked.contains(&(n + h as u32)) => continue,
                Some(n) => address(Endpoint::Outside(n + h as u32)),
                None => address(f.src),
            };
            out.push(Flow {
                time_s: t0 + s,
                proto: if f.udp { Proto::Udp } else { Proto::Tcp },
                src,
                src_port: 49152 + (cell % 16384) as u16,
                dst: address(f.dst),
                dst_port: f.port,
                established: f.established,
                count: count.min(u64::from(u32::MAX)) as u32,
            });
        }
    }
}

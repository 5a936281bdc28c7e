//! What the utility knows about its own work, which detectors weigh what they see against:
//! the work calendar (planned requests, released firmware images, the customers the CIS has
//! disconnected, demand-response events) and the storms the MDM detected.

use std::collections::{BTreeMap, BTreeSet};

use amirange_sim::engine::Sim;
use amirange_sim::hes::CommandKind;
use amirange_sim::operations::WorkOrder;
use amirange_sim::time::{SimDuration, SimTime};

/// The work calendar names its commands by [`CommandKind::index`].
const CONNECT: usize = CommandKind::Connect.index();
/// See [`CONNECT`].
const DISCONNECT: usize = CommandKind::Disconnect.index();
/// See [`CONNECT`].
const DEMAND_RESPONSE: usize = CommandKind::DemandResponse {
    reduction: 0.0,
    duration: SimDuration::ZERO,
}
.index();

/// A request on the calendar: (time, account index, [`CommandKind::index`], meters named).
pub type PlannedRequest = (SimTime, u16, usize, u32);

/// The utility's operational context, brought up to date at every look before any detector
/// runs.
#[derive(Debug, Clone)]
pub struct OperationalContext {
    /// The work calendar, in time order.
    work: Vec<WorkOrder>,
    /// Orders of `work` already taken into account.
    work_seen: usize,
    /// Requests the utility planned, counted (the calendar's and the defender's own
    /// restoration): a request at the HES that matches one is no anomaly.
    planned: BTreeMap<PlannedRequest, u32>,
    /// Firmware images the utility released (image 0, the installed one, always).
    approved: BTreeSet<u16>,
    /// Per meter: whether the CIS has it disconnected (the utility's own say).
    cis_open: Vec<bool>,
    /// Meters the CIS has disconnected, counted.
    cis_off: u64,
    /// Until when storm restoration (cold-load pickup) excuses the fleet's load.
    storm_until: SimTime,
}

impl OperationalContext {
    /// The context of a fleet of `n_meters` with the work calendar `work`, before its first
    /// order.
    pub fn new(work: &[WorkOrder], n_meters: usize) -> OperationalContext {
        let mut planned = BTreeMap::new();
        for w in work {
            *planned.entry((w.time, w.account, w.kind, w.meters)).or_insert(0) += 1;
        }
        OperationalContext {
            work: work.to_vec(),
            work_seen: 0,
            planned,
            approved: BTreeSet::from([0]),
            cis_open: vec![false; n_meters],
            cis_off: 0,
            storm_until: SimTime::ZERO,
        }
    }

    /// Takes the calendar's orders up to `now`: images released, customers the CIS
    /// disconnected or connected.
    pub fn advance(&mut self, now: SimTime) {
        while let Some(w) = self.work.get(self.work_seen)
            && w.time <= now
        {
            if let Some(image) = w.image {
                self.approved.insert(image);
            }
            if w.meters == 1 && (w.kind == DISCONNECT || w.kind == CONNECT) {
                let m = w.first_meter as usize;
                if let Some(state) = self.cis_open.get_mut(m) {
                    let open = w.kind == DISCONNECT;
                    if *state != open {
                        *state = open;
                        if open {
                            self.cis_off += 1;
                        } else {
                            self.cis_off -= 1;
                        }
                    }
                }
            }
            self.work_seen += 1;
        }
    }

    /// Storms: outages the MDM detected excuse the fleet's load until two hours after they
    /// end (cold-load pickup). Taken when intervals or read cycles closed.
    pub fn take_storms(&mut self, sim: &Sim) {
        let outages = &sim.records().outages;
        let open_outage = outages.iter().any(|o| o.detected_at.is_some() && o.end.is_none());
        let last_end = outages
            .iter()
            .filter(|o| o.detected_at.is_some())
            .filter_map(|o| o.end)
            .max();
        if open_outage {
            self.storm_until = SimTime(u64::MAX);
        } else if let Some(end) = last_end {
            self.storm_until = end + SimDuration::from_hours(2);
        }
    }

    /// Puts one of the defender's own requests on the calendar: it is no anomaly.
    pub fn plan(&mut self, request: PlannedRequest) {
        *self.planned.entry(request).or_insert(0) += 1;
    }

    /// How many requests like `request` the utility planned (matched ones included).
    pub fn planned(&self, request: &PlannedRequest) -> u32 {
        self.planned.get(request).copied().unwrap_or(0)
    }

    /// Whether the utility released firmware image `image`.
    pub fn approved(&self, image: u16) -> bool {
        self.approved.contains(&image)
    }

    /// Whether the CIS has meter `meter` disconnected.
    pub fn cis_open(&self, meter: usize) -> bool {
        self.cis_open.get(meter).copied().unwrap_or(false)
    }

    /// Meters the CIS has disconnected.
    pub fn cis_off(&self) -> u64 {
        self.cis_off
    }

    /// Until when storm restoration excuses the fleet's load.
    pub fn storm_until(&self) -> SimTime {
        self.storm_until
    }

    /// Whether a demand-response event (or the hour of rebound after it) overlaps `from..to`.
    pub fn in_demand_response(&self, from: SimTime, to: SimTime) -> bool {
        let rebound = SimDuration::from_hours(1).as_micros();
        self.work
            .iter()
            .any(|w| w.kind == DEMAND_RESPONSE && w.time < to && from.0 < w.until.0 + rebound)
    }
}

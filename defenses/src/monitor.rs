//! The utility's security operations, stepped beside the engine: every `every` (a minute by
//! default) the [`Defender`] reads what arrived since it last looked — the HES's audit log and
//! jobs, the relay events and security events meters pushed, the flows the network sensor saw,
//! the intervals and read cycles the data plane closed — runs its detectors and IDS over it,
//! raises alerts, and carries out the playbooks those alerts trigger.
//!
//! ```text
//!  sim.records() / hes() / fleet()  ──►  detectors, IDS  ──►  sim.raise_alert
//!                                             │
//!                                             └─► playbooks ──► sim.schedule(FreezeBulk, RevokeCredential,
//!                                                               IsolateHes, Command(reconnect, rollback),
//!                                                               LocalFirmware + MeterFailure (truck rolls))
//! ```
//!
//! What the defender may look at is what a utility sees: telemetry, logs and its own work
//! calendar, never ground truth (attack codes in the engine's logs are ignored; nothing reads
//! `Cause`). Operational context comes from the work calendar (planned firmware waves, key
//! rotations, demand-response events, customers' disconnects) and from the outages the MDM
//! detected (storms).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;

use amirange_sim::config::INTERVAL;
use amirange_sim::engine::{Input, Sim, SimError};
use amirange_sim::hes::{CommandKind, CommandRequest, Credential, Role};
use amirange_sim::model::Cause;
use amirange_sim::operations::WorkOrder;
use amirange_sim::records::{AlertRecord, AlertSubject, Endpoint, FlowRecord, MeterSet, Severity};
use amirange_sim::time::{SimDuration, SimTime};

use crate::addresses;
use crate::ids::{Flow, Ids, IdsAlert, Proto, Track};
use crate::spec::{AlertSource, Detection, DetectorKind, DetectorSpec, Response, ThresholdError};

/// Alerts of one detector about one subject this close to the last one are the same alert.
const COALESCE: SimDuration = SimDuration::from_hours(1);
/// The longest one alert stays open.
const EPISODE_MAX: SimDuration = SimDuration::from_hours(6);
/// How long restoration waits for a reconnected meter's relay event before asking again.
const RECONNECT_RETRY: SimDuration = SimDuration::from_minutes(30);
/// How long a rollback may take before a meter still on the image is sent one again.
const ROLLBACK_RETRY: SimDuration = SimDuration::from_hours(6);
/// How far around a collector a crew with a direction finder searches for a jammer, metres.
const JAMMER_SEARCH_M: f32 = 3000.0;
/// Meters an alert lists at most.
const ALERT_METERS: usize = 20;
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

/// The response a playbook scheduled and that still has to be carried out.
#[derive(Debug, Clone)]
struct Pending {
    at: SimTime,
    response: Response,
    /// What it is aimed at: the subject of the alert that triggered it, or what a person named.
    subject: Option<AlertSubject>,
}

/// What the defender did, for the result files.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResponseLog {
    /// Responses carried out: (time, response, what it was aimed at: the subject of the alert
    /// that triggered it, or what a person named).
    pub actions: Vec<(SimTime, String, Option<AlertSubject>)>,
    /// Meters reconnected through the HES.
    pub reconnected: u64,
    /// Meters put back on the installed image through the HES.
    pub rolled_back: u64,
    /// Truck rolls.
    pub truck_rolls: u64,
}

/// Detection and response over a run.
pub struct Defender {
    d: Detection,
    ids: Option<Ids>,
    work: Vec<WorkOrder>,
    work_seen: usize,
    /// Planned requests not yet matched to the audit log: (time, account, kind, meters).
    planned: BTreeMap<(SimTime, u16, usize, u32), u32>,
    approved: BTreeSet<u16>,
    n_meters: usize,
    nominal_hz: f64,
    // Cursors into what the engine logs.
    flows_seen: usize,
    audit_seen: usize,
    jobs_seen: usize,
    relays_seen: usize,
    rows_seen: usize,
    cycles_seen: usize,
    frames_seen: usize,
    refused_attach_seen: usize,
    forgeries_seen: usize,
    downgrades_seen: usize,
    images_seen: usize,
    // Detector state.
    command_rate: CommandRateState,
    /// Per meter: the relay position the HES last commanded.
    hes_relay: Vec<Commanded>,
    /// Per meter: whether the CIS has it disconnected (the utility's own say).
    cis_open: Vec<bool>,
    /// Meters whose relay is open without the utility's say.
    unplanned_open: BTreeSet<u32>,
    /// Firmware jobs of the HES that may still be transferring (their collectors' channels are
    /// busy: missing reads there are the campaign's, not an attack's).
    firmware_jobs: Vec<u32>,
    baseline: BaselineState,
    balance: BalanceState,
    /// Until when storm restoration (cold-load pickup) excuses the fleet's load.
    storm_until: SimTime,
    /// Per meter: whether it was already reported at the legacy level.
    legacy_seen: Vec<bool>,
    /// Per meter: the firmware image it last reported (a failed meter reports nothing new).
    last_firmware: Vec<u16>,
    unapproved_seen: BTreeSet<u16>,
    /// Open alerts per (detector, subject): index, first and last firing, severity.
    episodes: BTreeMap<(AlertSource, AlertSubject), (usize, SimTime, SimTime, Severity)>,
    /// Responses scheduled per (playbook, response, subject; none for responses that act once).
    fired: BTreeSet<(usize, usize, Option<AlertSubject>)>,
    /// Meters the CIS has disconnected, counted.
    cis_off: u64,
    /// Meters restoration asked to reconnect, and when it may ask again.
    reconnect_sent: BTreeMap<u32, SimTime>,
    /// When restoration last ran.
    restored_until: SimTime,
    /// Outside hosts the firewall blocks (the sensor behind it no longer sees them).
    blocked: BTreeSet<u32>,
    pending: Vec<Pending>,
    reconnecting: bool,
    rolling_back: bool,
    crews_out: bool,
    crews_free: Vec<SimTime>,
    /// Meters sent a rollback, and when to send one again if they still run the image.
    rolled: BTreeMap<u32, SimTime>,
    /// Meters a crew visited.
    visited: BTreeSet<u32>,
    isolated_until: Option<SimTime>,
    log: ResponseLog,
}

/// What the command-rate detector remembers: unplanned requests within its window.
#[derive(Debug, Default)]
struct CommandRateState {
    /// Per account: (time, meters named) of its unplanned requests.
    by_account: BTreeMap<u16, VecDeque<(SimTime, u32)>>,
    /// The same for all accounts together.
    fleet_window: VecDeque<(SimTime, u32)>,
}

/// What the consumption-baseline detector has learnt.
#[derive(Debug, Default)]
struct BaselineState {
    /// The fleet's load over the profiles' expectation, learnt slowly (none before the first
    /// interval that counts).
    ratio: Option<f64>,
    /// Intervals in a row beyond the deviation.
    run: u32,
}

/// What the energy-balance detector has learnt, per feeder and transformer.
#[derive(Debug)]
struct BalanceState {
    /// Per feeder: its usual unaccounted share (technical losses), learnt slowly.
    feeder_gap: Vec<Option<f64>>,
    /// Per feeder: intervals in a row beyond the gap.
    feeder_run: Vec<u32>,
    /// Per transformer: true and registered energy at the last read cycle, mWh.
    transformer_last: Vec<(u64, u64)>,
}

/// The relay position the HES last commanded a meter to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Commanded {
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

impl Defender {
    /// A defender for `sim` with the checked `detection` and the utility's work calendar.
    pub fn new(detection: Detection, sim: &Sim, work: &[WorkOrder]) -> Defender {
        let n_meters = sim.n_meters();
        let n_feeders = sim.network().feeders.len();
        let n_transformers = sim.network().transformers.len();
        let mut planned = BTreeMap::new();
        for w in work {
            *planned.entry((w.time, w.account, w.kind, w.meters)).or_insert(0) += 1;
        }
        let ids = (!detection.rules.rules.is_empty()).then(|| Ids::new(detection.rules.clone()));
        let crews = detection.restoration.crews as usize;
        Defender {
            ids,
            work: work.to_vec(),
            work_seen: 0,
            planned,
            approved: BTreeSet::from([0]),
            n_meters,
            nominal_hz: sim.config().frequency.nominal_hz,
            flows_seen: 0,
            audit_seen: 0,
            jobs_seen: 0,
            relays_seen: 0,
            rows_seen: 0,
            cycles_seen: 0,
            frames_seen: 0,
            refused_attach_seen: 0,
            forgeries_seen: 0,
            downgrades_seen: 0,
            images_seen: 0,
            command_rate: CommandRateState::default(),
            hes_relay: vec![Commanded::Nothing; n_meters],
            cis_open: vec![false; n_meters],
            unplanned_open: BTreeSet::new(),
            firmware_jobs: Vec::new(),
            baseline: BaselineState::default(),
            balance: BalanceState {
                feeder_gap: vec![None; n_feeders],
                feeder_run: vec![0; n_feeders],
                transformer_last: vec![(0, 0); n_transformers],
            },
            storm_until: SimTime::ZERO,
            legacy_seen: vec![false; n_meters],
            last_firmware: vec![0; n_meters],
            unapproved_seen: BTreeSet::new(),
            episodes: BTreeMap::new(),
            fired: BTreeSet::new(),
            cis_off: 0,
            reconnect_sent: BTreeMap::new(),
            restored_until: SimTime::ZERO,
            blocked: BTreeSet::new(),
            pending: Vec::new(),
            reconnecting: false,
            rolling_back: false,
            crews_out: false,
            crews_free: vec![SimTime::ZERO; crews],
            rolled: BTreeMap::new(),
            visited: BTreeSet::new(),
            isolated_until: None,
            log: ResponseLog::default(),
            d: detection,
        }
    }

    /// How often it looks.
    pub fn every(&self) -> SimDuration {
        self.d.every
    }

    /// What it did.
    pub fn log(&self) -> &ResponseLog {
        &self.log
    }

    /// Names of its detectors, IDS rules as `ids:<sid>`, in the order `metrics.json` lists them.
    pub fn detector_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.d.detectors.iter().map(|d| d.name().to_owned()).collect();
        names.extend(
            self.d
                .rules
                .rules
                .iter()
                .map(|r| AlertSource::IdsRule(r.sid).to_string()),
        );
        names
    }

    /// Whether the detector of `kind` is in force.
    fn runs(&self, kind: DetectorKind) -> bool {
        self.d.detectors.iter().any(|d| d.kind() == kind)
    }

    /// The thresholds of the detector in force that `fields` picks out by its variant.
    fn thresholds<T>(&self, fields: impl Fn(&DetectorSpec) -> Option<T>) -> Option<T> {
        self.d.detectors.iter().find_map(fields)
    }

    /// Raises an alert, or counts it into an open one of the same detector and subject.
    #[expect(clippy::too_many_arguments, reason = "an alert's fields, each named at the call")]
    fn alert(
        &mut self,
        sim: &mut Sim,
        time: SimTime,
        source: AlertSource,
        severity: Severity,
        subject: AlertSubject,
        message: String,
        meters: Vec<u32>,
        times: u64,
    ) {
        let key = (source, subject.clone());
        // An alert stays open while it keeps firing within the hour, for at most six hours;
        // firing again at a higher severity raises it (and may trigger playbooks).
        if let Some((index, first, last, level)) = self.episodes.get_mut(&key)
            && time.0 <= last.0 + COALESCE.as_micros()
            && time.0 <= first.0 + EPISODE_MAX.as_micros()
        {
            *last = (*last).max(time);
            let index = *index;
            let raised = severity > *level;
            if raised {
                *level = severity;
            }
            sim.alert_again(index, times, severity);
            if raised {
                self.trigger(time, source, severity, &subject);
            }
            return;
        }
        let mut meters = meters;
        meters.truncate(ALERT_METERS);
        let index = sim.raise_alert(AlertRecord {
            time,
            detector: source.to_string(),
            severity,
            message,
            subject: subject.clone(),
            count: times,
            meters,
        });
        self.episodes.insert(key, (index, time, time, severity));
        self.trigger(time, source, severity, &subject);
    }

    /// Schedules the responses of every playbook the alert triggers (once per playbook and
    /// subject).
    fn trigger(&mut self, time: SimTime, source: AlertSource, severity: Severity, subject: &AlertSubject) {
        for (i, p) in self.d.playbooks.iter().enumerate() {
            let hit = p.on.iter().any(|on| on.fires_on(source));
            if !hit || severity < p.severity {
                continue;
            }
            // Responses aimed at what the alert names (an account, a host, a transformer, a
            // collector) fire once per subject; the others once.
            for (j, a) in p.actions.iter().enumerate() {
                let key = a.per_subject().then(|| subject.clone());
                if !self.fired.insert((i, j, key)) {
                    continue;
                }
                self.pending.push(Pending {
                    at: time + p.delay,
                    response: a.clone(),
                    subject: Some(subject.clone()),
                });
            }
        }
    }

    /// A response a person orders now (a live exercise's blue team), outside any playbook:
    /// carried out at `sim.now()` as a playbook's would be, aimed at `subject` (an account, a
    /// transformer, a collector, a host) where the response needs one. Logged in
    /// [`ResponseLog`] like the playbooks' responses.
    pub fn respond_now(
        &mut self,
        sim: &mut Sim,
        response: Response,
        subject: Option<AlertSubject>,
    ) -> Result<(), SimError> {
        let now = sim.now();
        self.pending.push(Pending {
            at: now,
            response,
            subject,
        });
        // Only what is due: restoration, rollbacks and crews keep their own pace.
        self.carry_out_due(sim, now)
    }

    /// Changes a numeric threshold of a detector in force (a live exercise's blue team):
    /// `field` as the scenario's `defenses` section names it (e.g. `account_meters` of
    /// `command-rate`), within the range the detector declares for it ([`TUNABLES`]). Refused,
    /// with the reason and nothing changed, for a detector not in force or a field or value
    /// it does not allow.
    ///
    /// [`TUNABLES`]: crate::spec::TUNABLES
    pub fn set_threshold(&mut self, detector: &str, field: &str, value: f64) -> Result<(), ThresholdError> {
        let kind = DetectorKind::from_name(detector);
        let Some(spec) = self.d.detectors.iter_mut().find(|d| Some(d.kind()) == kind) else {
            let names: Vec<&str> = self.d.detectors.iter().map(|d| d.name()).collect();
            return Err(ThresholdError::NotInForce {
                detector: detector.to_owned(),
                in_force: if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                },
            });
        };
        spec.set_threshold(field, value)
    }

    /// Looks at everything that arrived up to the present and acts on it.
    pub fn observe(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        let now = sim.now();
        self.calendar(now);
        self.commands(sim, now);
        self.relays(sim);
        self.flows(sim);
        self.security_events(sim, now);
        self.intervals(sim);
        self.respond(sim, now)
    }

    /// The work calendar up to `now`: what the CIS has disconnected, which images are released.
    fn calendar(&mut self, now: SimTime) {
        while let Some(w) = self.work.get(self.work_seen)
            && w.time <= now
        {
            if let Some(image) = w.image {
                self.approved.insert(image);
            }
            if w.meters == 1 && (w.kind == DISCONNECT || w.kind == CONNECT) {
                let m = w.first_meter as usize;
                if m < self.n_meters {
                    let open = w.kind == DISCONNECT;
                    if self.cis_open[m] != open {
                        self.cis_open[m] = open;
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

    fn in_demand_response(&self, from: SimTime, to: SimTime) -> bool {
        let rebound = SimDuration::from_hours(1).as_micros();
        self.work
            .iter()
            .any(|w| w.kind == DEMAND_RESPONSE && w.time < to && from.0 < w.until.0 + rebound)
    }

    /// New requests at the HES: the command-rate detector; new jobs: what the HES commanded.
    fn commands(&mut self, sim: &mut Sim, now: SimTime) {
        let rate = self.thresholds(|d| match *d {
            DetectorSpec::CommandRate {
                account_meters,
                account_requests,
                fleet_meters,
                ..
            } => Some((account_meters, account_requests, fleet_meters)),
            _ => None,
        });
        let window = self.d.command_window.as_micros();
        let hes = sim.hes();
        let accounts: Vec<String> = hes.config.accounts.iter().map(|a| a.name.clone()).collect();
        let new: Vec<(SimTime, String, usize, u32)> = hes.audit[self.audit_seen..]
            .iter()
            .map(|a| (a.time, a.account.clone(), a.kind.index(), a.targets + a.protected))
            .collect();
        self.audit_seen = hes.audit.len();
        for (i, j) in hes.jobs.iter().enumerate().skip(self.jobs_seen) {
            let commanded = match hes.audit.get(j.command as usize).map(|a| &a.kind) {
                Some(CommandKind::FirmwareUpdate { .. }) => {
                    self.firmware_jobs.push(i as u32);
                    None
                }
                Some(CommandKind::Disconnect) => Some(Commanded::Open),
                Some(CommandKind::Connect) => Some(Commanded::Closed),
                _ => None,
            };
            if let (Some(s), Some(commanded)) = (self.hes_relay.get_mut(j.meter as usize), commanded) {
                *s = commanded;
            }
        }
        self.jobs_seen = hes.jobs.len();
        let Some((account_meters, account_requests, fleet_meters)) = rate else {
            return;
        };
        let mut alerts = Vec::new();
        for (time, account, kind, meters) in new {
            let index = accounts.iter().position(|a| *a == account).map(|i| i as u16);
            let key = (time, index.unwrap_or(Credential::HES_PROCESS), kind, meters);
            if let Some(n) = self.planned.get_mut(&key)
                && *n > 0
            {
                *n -= 1;
                continue;
            }
            let a = index.unwrap_or(Credential::HES_PROCESS);
            let q = self.command_rate.by_account.entry(a).or_default();
            q.push_back((time, meters));
            while q.front().is_some_and(|&(t, _)| t.0 + window < now.0) {
                q.pop_front();
            }
            self.command_rate.fleet_window.push_back((time, meters));
            while self
                .command_rate
                .fleet_window
                .front()
                .is_some_and(|&(t, _)| t.0 + window < now.0)
            {
                self.command_rate.fleet_window.pop_front();
            }
            let named: u64 = q.iter().map(|&(_, m)| u64::from(m)).sum();
            let requests = q.len() as u64;
            let fleet: u64 = self.command_rate.fleet_window.iter().map(|&(_, m)| u64::from(m)).sum();
            let what = CommandKind::NAMES.get(kind).copied().unwrap_or("?");
            if named > u64::from(account_meters) || requests > u64::from(account_requests) {
                let severity =
                    if named >= 10 * u64::from(account_meters) || requests >= 10 * u64::from(account_requests) {
                        Severity::High
                    } else {
                        Severity::Medium
                    };
                alerts.push((
                    time,
                    severity,
                    AlertSubject::Account(account.clone()),
                    format!(
                        "{account}: {requests} unplanned request(s) naming {named} meter(s) within the window (last: {what})"
                    ),
                ));
            } else if fleet > u64::from(fleet_meters) {
                alerts.push((
                    time,
                    Severity::Medium,
                    AlertSubject::Fleet,
                    format!("{fleet} meters named in unplanned requests within the window (last: {what} by {account})"),
                ));
            }
        }
        for (time, severity, subject, message) in alerts {
            self.alert(
                sim,
                time,
                AlertSource::Detector(DetectorKind::CommandRate),
                severity,
                subject,
                message,
                Vec::new(),
                1,
            );
        }
    }

    /// Relay events meters pushed: inventory drift when the HES did not command them, and the
    /// set of customers off without the utility's say.
    fn relays(&mut self, sim: &mut Sim) {
        let events = sim.records().relay_events[self.relays_seen..].to_vec();
        self.relays_seen += events.len();
        let watch = self.runs(DetectorKind::InventoryDrift);
        let mut drift: Vec<u32> = Vec::new();
        let mut first = None;
        for e in events {
            let m = e.meter as usize;
            if m >= self.n_meters {
                continue;
            }
            if watch && self.hes_relay[m] != Commanded::reported(e.open) {
                first.get_or_insert(e.time);
                drift.push(e.meter);
            }
            if e.open && !self.cis_open[m] {
                self.unplanned_open.insert(e.meter);
            } else if !e.open {
                self.unplanned_open.remove(&e.meter);
                if self.reconnect_sent.remove(&e.meter).is_some() {
                    self.log.reconnected += 1;
                }
            }
        }
        if let Some(time) = first {
            let n = drift.len() as u64;
            let severity = if n >= 10 { Severity::High } else { Severity::Medium };
            self.alert(
                sim,
                time,
                AlertSource::Detector(DetectorKind::InventoryDrift),
                severity,
                AlertSubject::Meters(MeterSet::Relays),
                format!("{n} relay(s) changed position without a command from the HES"),
                drift,
                n,
            );
        }
    }

    /// Flows the sensor saw, through the IDS.
    fn flows(&mut self, sim: &mut Sim) {
        let flows: Vec<FlowRecord> = sim.records().flows[self.flows_seen..].to_vec();
        self.flows_seen += flows.len();
        let Some(ids) = self.ids.as_mut() else {
            return;
        };
        let mut out: Vec<IdsAlert> = Vec::new();
        let mut expanded: Vec<Flow> = Vec::new();
        for f in &flows {
            expand(f, &self.blocked, &mut expanded);
        }
        // The sensor's spans overlap in time (a flood's minute is recorded after the uploads of
        // its read cycle): the IDS sees them in time order.
        expanded.sort_by_key(|f| f.time_s);
        for f in &expanded {
            ids.observe(f, &mut out);
        }
        let rules: Vec<(u32, String, u32, Option<Track>)> = ids
            .rules()
            .iter()
            .map(|r| {
                (
                    r.sid,
                    r.msg.clone(),
                    r.priority.map_or(2, u32::from),
                    r.threshold.as_ref().map(|t| t.track),
                )
            })
            .collect();
        for a in out {
            let (sid, msg, priority, track) = &rules[a.rule];
            // The alert is about what the rule tracks.
            let subject = match track {
                Some(Track::ByDst) => AlertSubject::Host(a.dst),
                Some(Track::ByBoth) => AlertSubject::HostPair { src: a.src, dst: a.dst },
                Some(Track::ByRule) => AlertSubject::Rule(*sid),
                Some(Track::BySrc) | None => AlertSubject::Host(a.src),
            };
            let severity = match priority {
                1 => Severity::High,
                2 => Severity::Medium,
                _ => Severity::Low,
            };
            self.alert(
                sim,
                SimTime(a.time_s * 1_000_000),
                AlertSource::IdsRule(*sid),
                severity,
                subject,
                format!("{msg} ({}:{} -> {}:{})", a.src, a.src_port, a.dst, a.dst_port),
                Vec::new(),
                u64::from(a.fired),
            );
        }
    }

    /// Security events meters pushed: stale frame counters, unknown networks, failed
    /// authentication, legacy requests, signature failures.
    fn security_events(&mut self, sim: &mut Sim, now: SimTime) {
        let fleet = sim.fleet();
        let frames: Vec<u32> = fleet.refused_frames[self.frames_seen..].iter().map(|x| x.0).collect();
        // Meters that attached to a rogue network believe it genuine and report nothing; those
        // that refused it, refused a forged command or a legacy request report it.
        let mut unknown: Vec<u32> = fleet.refused_attach[self.refused_attach_seen..]
            .iter()
            .map(|x| x.0)
            .collect();
        unknown.extend(fleet.refused_forgeries[self.forgeries_seen..].iter().map(|x| x.0));
        unknown.extend(fleet.refused_downgrades[self.downgrades_seen..].iter().map(|x| x.0));
        let images: Vec<u32> = fleet.refused_images[self.images_seen..].iter().map(|x| x.0).collect();
        self.frames_seen = fleet.refused_frames.len();
        self.refused_attach_seen = fleet.refused_attach.len();
        self.forgeries_seen = fleet.refused_forgeries.len();
        self.downgrades_seen = fleet.refused_downgrades.len();
        self.images_seen = fleet.refused_images.len();
        if !frames.is_empty() && self.runs(DetectorKind::FrameCounter) {
            let n = frames.len() as u64;
            self.alert(
                sim,
                now,
                AlertSource::Detector(DetectorKind::FrameCounter),
                Severity::High,
                AlertSubject::Meters(MeterSet::Field),
                format!("{n} frame(s) refused with a stale counter (a replay)"),
                frames,
                n,
            );
        }
        if !unknown.is_empty() && self.runs(DetectorKind::UnknownDevice) {
            let n = unknown.len() as u64;
            self.alert(
                sim,
                now,
                AlertSource::Detector(DetectorKind::UnknownDevice),
                Severity::High,
                AlertSubject::Meters(MeterSet::Field),
                format!("{n} meter event(s): unknown network, failed authentication or legacy request"),
                unknown,
                n,
            );
        }
        if !images.is_empty() && self.runs(DetectorKind::FirmwareDrift) {
            let n = images.len() as u64;
            self.alert(
                sim,
                now,
                AlertSource::Detector(DetectorKind::FirmwareDrift),
                Severity::High,
                AlertSubject::Meters(MeterSet::Signature),
                format!("{n} firmware image(s) refused: the signature did not verify"),
                images,
                n,
            );
        }
    }

    /// Intervals and read cycles the data plane closed.
    fn intervals(&mut self, sim: &mut Sim) {
        let records = sim.records();
        let rows = records.intervals.len();
        let n_collectors = sim.network().collectors.len().max(1);
        let cycles = records.collector_reads.len() / n_collectors;
        let fresh_rows = self.rows_seen..rows;
        if fresh_rows.is_empty() && cycles == self.cycles_seen {
            return;
        }
        // Storms: outages the MDM detected excuse the fleet's load until two hours after they
        // end (cold-load pickup).
        let open_outage = records
            .outages
            .iter()
            .any(|o| o.detected_at.is_some() && o.end.is_none());
        let last_end = records
            .outages
            .iter()
            .filter(|o| o.detected_at.is_some())
            .filter_map(|o| o.end)
            .max();
        if open_outage {
            self.storm_until = SimTime(u64::MAX);
        } else if let Some(end) = last_end {
            self.storm_until = end + SimDuration::from_hours(2);
        }
        for slot in fresh_rows.clone() {
            self.interval(sim, slot);
        }
        self.rows_seen = rows;
        for c in self.cycles_seen..cycles {
            self.cycle(sim, c);
        }
        self.cycles_seen = cycles;
        self.census(sim);
    }

    /// One closed interval: consumption baseline, frequency.
    fn interval(&mut self, sim: &mut Sim, slot: usize) {
        let start = SimTime(slot as u64 * INTERVAL.as_micros());
        let end = SimTime(start.0 + INTERVAL.as_micros());
        let row = sim.records().intervals[slot].clone();
        if let Some(deviation_hz) = self.thresholds(|d| match *d {
            DetectorSpec::FrequencyExcursion { deviation_hz } => Some(deviation_hz),
            _ => None,
        }) {
            let lo = f64::from(row.frequency_min_mhz) / 1000.0;
            let hi = f64::from(row.frequency_max_mhz) / 1000.0;
            let dev = (self.nominal_hz - lo).max(hi - self.nominal_hz);
            if row.frequency_min_mhz > 0 && dev > deviation_hz {
                self.alert(
                    sim,
                    end,
                    AlertSource::Detector(DetectorKind::FrequencyExcursion),
                    Severity::High,
                    AlertSubject::BulkSystem,
                    format!("frequency between {lo:.3} and {hi:.3} Hz, beyond ±{deviation_hz} Hz"),
                    Vec::new(),
                    1,
                );
            }
        }
        if let Some((deviation, intervals)) = self.thresholds(|d| match *d {
            DetectorSpec::ConsumptionBaseline { deviation, intervals } => Some((deviation, intervals)),
            _ => None,
        }) {
            let expected = sim.expected_kw(slot as u32);
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
            let share_on = meters_on as f64 / self.n_meters.max(1) as f64;
            let excused = self.in_demand_response(start, end) || end <= self.storm_until || share_on < 0.5;
            if expected > 0.0 && !excused {
                let r = kw / (expected * share_on);
                match self.baseline.ratio {
                    None => self.baseline.ratio = Some(r),
                    Some(base) => {
                        let off = (r / base - 1.0).abs();
                        if off > deviation {
                            self.baseline.run += 1;
                            if self.baseline.run >= intervals {
                                let dir = if r > base { "above" } else { "below" };
                                self.alert(
                                    sim,
                                    end,
                                    AlertSource::Detector(DetectorKind::ConsumptionBaseline),
                                    Severity::Medium,
                                    AlertSubject::Fleet,
                                    format!(
                                        "fleet load {:.0}% {dir} the baseline for {} intervals",
                                        off * 100.0,
                                        self.baseline.run
                                    ),
                                    Vec::new(),
                                    1,
                                );
                            }
                        } else {
                            self.baseline.run = 0;
                            self.baseline.ratio = Some(base + 0.05 * (r - base));
                        }
                    }
                }
            } else {
                self.baseline.run = 0;
            }
        }
    }

    /// One closed read cycle: zero reads at peak, energy balance, missing-read clusters.
    fn cycle(&mut self, sim: &mut Sim, c: usize) {
        let records = sim.records();
        let n_collectors = sim.network().collectors.len();
        // The cycle's intervals: those up to the c-th row that closed a cycle.
        let closes: Vec<usize> = records
            .intervals
            .iter()
            .enumerate()
            .filter(|(_, r)| r.read_cycle)
            .map(|(i, _)| i)
            .skip(c)
            .take(1)
            .collect();
        let Some(&last) = closes.first() else {
            return;
        };
        let first = records.intervals[..last]
            .iter()
            .rposition(|r| r.read_cycle)
            .map_or(0, |i| i + 1);
        let end = SimTime((last as u64 + 1) * INTERVAL.as_micros());
        if let Some((share, min_meters)) = self.thresholds(|d| match *d {
            DetectorSpec::ZeroAtPeak { share, min_meters } => Some((share, min_meters)),
            _ => None,
        }) {
            // The cycle's interval with the highest expected load, if it is a peak hour (within
            // 80% of the day's highest).
            let day = last / 96;
            let day_max = (day * 96..day * 96 + 96)
                .map(|s| sim.expected_kw(s as u32))
                .fold(0.0, f64::max);
            let cis_off = self.cis_off;
            for s in first..=last {
                if sim.expected_kw(s as u32) < 0.8 * day_max {
                    continue;
                }
                let zeros = sim.records().intervals[s].zero_reads;
                let beyond = zeros.saturating_sub(cis_off);
                let limit = ((share * self.n_meters as f64) as u64).max(u64::from(min_meters));
                if beyond > limit {
                    self.alert(
                        sim,
                        end,
                        AlertSource::Detector(DetectorKind::ZeroAtPeak),
                        Severity::Medium,
                        AlertSubject::Fleet,
                        format!(
                            "{zeros} meters read zero at peak, {beyond} beyond the {cis_off} the utility disconnected"
                        ),
                        Vec::new(),
                        1,
                    );
                    break;
                }
            }
        }
        if let Some((gap, intervals, transformer_meters, transformer_gap)) = self.thresholds(|d| match *d {
            DetectorSpec::EnergyBalance {
                gap,
                intervals,
                transformer_meters,
                transformer_gap,
            } => Some((gap, intervals, transformer_meters, transformer_gap)),
            _ => None,
        }) {
            self.energy_balance(sim, first, last, end, gap, intervals);
            if transformer_meters {
                self.transformer_balance(sim, end, transformer_gap);
            }
        }
        if let Some((share, min_reads, fleet_share)) = self.thresholds(|d| match *d {
            DetectorSpec::MissingReadCluster {
                share,
                min_reads,
                fleet_share,
            } => Some((share, min_reads, fleet_share)),
            _ => None,
        }) {
            let records = sim.records();
            let reads = &records.collector_reads[c * n_collectors..(c + 1) * n_collectors];
            let missing = &records.collector_missing[c * n_collectors..(c + 1) * n_collectors];
            let total: u64 = reads.iter().map(|&x| u64::from(x)).sum();
            let lost: u64 = missing.iter().map(|&x| u64::from(x)).sum();
            let fleet = lost as f64 / total.max(1) as f64;
            // Collectors still carrying firmware the HES sent are busy with it.
            let since = end.0.saturating_sub(2 * INTERVAL.as_micros());
            let hes = sim.hes();
            self.firmware_jobs.retain(|&j| {
                let job = &hes.jobs[j as usize];
                !(job.failed || job.rejected || job.acked.is_some_and(|t| t.0 < since))
            });
            let paths = &sim.net_state().paths;
            let mut busy: BTreeSet<u32> = self
                .firmware_jobs
                .iter()
                .filter_map(|&j| paths.get(hes.jobs[j as usize].meter as usize).map(|p| p.collector))
                .collect();
            // Collectors serving feeders out in a storm the MDM detected (or back within two
            // hours): meshes re-form around the meters without supply.
            let home = &sim.net_state().home_collector;
            let grid = sim.grid();
            let recent = end.0.saturating_sub(2 * 3_600_000_000);
            for o in sim.records().outages.iter().filter(|o| o.detected_at.is_some()) {
                if o.end.is_none_or(|e| e.0 >= recent) {
                    for &m in grid.meters_of(o.feeder) {
                        if let Some(&c) = home.get(m as usize) {
                            busy.insert(c);
                        }
                    }
                }
            }
            if fleet < fleet_share {
                let hit: Vec<(usize, u32, u32)> = (0..n_collectors)
                    .filter(|&k| {
                        reads[k] >= min_reads
                            && f64::from(missing[k]) >= share * f64::from(reads[k])
                            && !busy.contains(&(k as u32))
                    })
                    .map(|k| (k, missing[k], reads[k]))
                    .collect();
                for (k, m, r) in hit {
                    self.alert(
                        sim,
                        end,
                        AlertSource::Detector(DetectorKind::MissingReadCluster),
                        Severity::Medium,
                        AlertSubject::Collector(k as u32),
                        format!(
                            "collector {k}: {m} of {r} reads missing while the fleet lost {:.1}%",
                            fleet * 100.0
                        ),
                        Vec::new(),
                        1,
                    );
                }
            }
        }
    }

    fn energy_balance(&mut self, sim: &mut Sim, first: usize, last: usize, end: SimTime, gap: f64, intervals: u32) {
        let nf = sim.network().feeders.len();
        let mut hits = Vec::new();
        {
            let records = sim.records();
            let grid = sim.grid();
            for s in first..=last {
                let excused = self.in_demand_response(
                    SimTime(s as u64 * INTERVAL.as_micros()),
                    SimTime((s as u64 + 1) * INTERVAL.as_micros()),
                );
                for f in 0..nf {
                    let scada_wh = f64::from(records.scada_kw.get(s * nf + f).copied().unwrap_or(0.0)) * 250.0;
                    let reported = records.feeder_reported_wh.get(s * nf + f).copied().unwrap_or(0) as f64;
                    if !grid.feeders[f].energized || scada_wh < 1000.0 || excused {
                        self.balance.feeder_run[f] = 0;
                        continue;
                    }
                    let g = 1.0 - reported / scada_wh;
                    match self.balance.feeder_gap[f] {
                        None => self.balance.feeder_gap[f] = Some(g),
                        Some(base) if (g - base).abs() > gap => {
                            self.balance.feeder_run[f] += 1;
                            if self.balance.feeder_run[f] == intervals {
                                hits.push((f, g, base));
                            }
                        }
                        Some(base) => {
                            self.balance.feeder_run[f] = 0;
                            self.balance.feeder_gap[f] = Some(base + 0.05 * (g - base));
                        }
                    }
                }
            }
        }
        for (f, g, base) in hits {
            self.alert(
                sim,
                end,
                AlertSource::Detector(DetectorKind::EnergyBalance),
                Severity::Medium,
                AlertSubject::Feeder(f as u32),
                format!(
                    "feeder {f}: {:.1}% of the energy SCADA measured is unaccounted for, against {:.1}% usually",
                    g * 100.0,
                    base * 100.0
                ),
                Vec::new(),
                1,
            );
        }
    }

    fn transformer_balance(&mut self, sim: &mut Sim, end: SimTime, max_gap: f64) {
        let now: Vec<(u64, u64)> = sim
            .records()
            .transformer_mwh
            .iter()
            .map(|t| (t.true_mwh, t.registered_mwh))
            .collect();
        let mut hits = Vec::new();
        for (t, &(tru, reg)) in now.iter().enumerate() {
            let (t0, r0) = self.balance.transformer_last.get(t).copied().unwrap_or((0, 0));
            let (dt, dr) = (tru.saturating_sub(t0), reg.saturating_sub(r0));
            // At least 1 kWh through the transformer over the cycle.
            if dt >= 1_000_000 && (dt as f64 - dr as f64).abs() / dt as f64 > max_gap {
                hits.push((t, 1.0 - dr as f64 / dt as f64));
            }
        }
        self.balance.transformer_last = now;
        for (t, g) in hits {
            self.alert(
                sim,
                end,
                AlertSource::Detector(DetectorKind::EnergyBalance),
                Severity::Medium,
                AlertSubject::Transformer(t as u32),
                format!(
                    "transformer {t}: its customers' meters recorded {:+.0}% against its own meter",
                    -g * 100.0
                ),
                Vec::new(),
                1,
            );
        }
    }

    /// The fleet's firmware census and security levels, as inventory reads report them.
    fn census(&mut self, sim: &mut Sim) {
        let end = sim.now();
        if self.runs(DetectorKind::FirmwareDrift) {
            // Working meters report their image; a failed one keeps its last report.
            let fleet = sim.fleet();
            let mut census = vec![0u64; fleet.images.len()];
            for (m, (&image, &failed)) in fleet.firmware.iter().zip(&fleet.failed).enumerate() {
                if !failed {
                    self.last_firmware[m] = image;
                    census[usize::from(image)] += 1;
                }
            }
            let fresh: Vec<(u16, u64)> = census
                .iter()
                .enumerate()
                .filter(|&(i, &n)| n > 0 && !self.approved.contains(&(i as u16)))
                .map(|(i, &n)| (i as u16, n))
                .filter(|(i, _)| !self.unapproved_seen.contains(i))
                .collect();
            for (image, n) in fresh {
                self.unapproved_seen.insert(image);
                let version = sim.fleet().images[usize::from(image)].version.clone();
                self.alert(
                    sim,
                    end,
                    AlertSource::Detector(DetectorKind::FirmwareDrift),
                    Severity::High,
                    AlertSubject::FirmwareImage(version.clone()),
                    format!("{n} meter(s) run firmware {version}, which the utility never released"),
                    Vec::new(),
                    n,
                );
            }
        }
        if self.runs(DetectorKind::InventoryDrift) {
            // Only whether a meter runs the legacy level is reported, not who asked.
            let fleet = sim.fleet();
            let down: Vec<u32> = (0..fleet.downgraded_by.len())
                .filter(|&m| fleet.downgraded_by[m] > 0 && !fleet.failed[m] && !self.legacy_seen[m])
                .map(|m| m as u32)
                .collect();
            for &m in &down {
                self.legacy_seen[m as usize] = true;
            }
            if !down.is_empty() {
                let n = down.len() as u64;
                self.alert(
                    sim,
                    end,
                    AlertSource::Detector(DetectorKind::InventoryDrift),
                    Severity::High,
                    AlertSubject::Meters(MeterSet::SecurityLevel),
                    format!("{n} meter(s) now report the legacy security level"),
                    down,
                    n,
                );
            }
        }
    }

    /// Carries out the responses that are due, and restoration under way.
    fn respond(&mut self, sim: &mut Sim, now: SimTime) -> Result<(), SimError> {
        self.carry_out_due(sim, now)?;
        self.restore(sim, now)
    }

    /// Carries out the responses that are due.
    fn carry_out_due(&mut self, sim: &mut Sim, now: SimTime) -> Result<(), SimError> {
        let (due, later): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| p.at <= now);
        self.pending = later;
        for p in due {
            let name = match &p.response {
                Response::FreezeBulk(n) => {
                    sim.schedule(now, Input::FreezeBulk { above: Some(*n) })?;
                    format!("freeze-bulk above {n}")
                }
                Response::RevokeAccount => {
                    let Some(AlertSubject::Account(account)) = &p.subject else {
                        continue;
                    };
                    if !sim.hes().config.accounts.iter().any(|a| a.name == *account) {
                        continue;
                    }
                    sim.schedule(
                        now,
                        Input::RevokeCredential {
                            account: account.clone(),
                            revoked: true,
                        },
                    )?;
                    "revoke-account".to_owned()
                }
                Response::IsolateHes(rebuild) => {
                    if self.isolated_until.is_some() {
                        continue;
                    }
                    let back = now + *rebuild;
                    self.isolated_until = Some(back);
                    sim.schedule(now, Input::IsolateHes { isolated: true })?;
                    if back < sim.horizon() {
                        sim.schedule(back, Input::IsolateHes { isolated: false })?;
                    }
                    format!("isolate-hes for {rebuild}")
                }
                Response::RollbackFirmware => {
                    self.rolling_back = true;
                    "rollback-firmware".to_owned()
                }
                Response::Reconnect => {
                    self.reconnecting = true;
                    "reconnect".to_owned()
                }
                Response::DispatchCrews => {
                    self.crews_out = true;
                    "dispatch-crews".to_owned()
                }
                Response::BlockSource => {
                    let Some(AlertSubject::Host(address)) = p.subject else {
                        continue;
                    };
                    let Some(first) = addresses::outside_host(address) else {
                        continue;
                    };
                    self.blocked.insert(first);
                    sim.schedule(now, Input::BlockHosts { first, count: 1 })?;
                    "block-source".to_owned()
                }
                Response::InspectMeters => {
                    let Some(AlertSubject::Transformer(t)) = p.subject else {
                        continue;
                    };
                    let meters: Vec<u32> = (0..sim.n_meters() as u32)
                        .filter(|&m| sim.network().meters[m as usize].transformer == t)
                        .collect();
                    let Some(done) = self.truck_roll(now, sim.horizon()) else {
                        continue;
                    };
                    for m in meters {
                        sim.schedule(done, Input::Inspect { meter: m })?;
                    }
                    "inspect-meters".to_owned()
                }
                Response::HuntJammer => {
                    let Some(AlertSubject::Collector(c)) = p.subject else {
                        continue;
                    };
                    let Some(site) = sim.network().collectors.get(c as usize) else {
                        continue;
                    };
                    let center = site.pos;
                    let Some(done) = self.truck_roll(now, sim.horizon()) else {
                        continue;
                    };
                    sim.schedule(
                        done,
                        Input::ClearInterference {
                            center,
                            radius_m: JAMMER_SEARCH_M,
                        },
                    )?;
                    "hunt-jammer".to_owned()
                }
            };
            self.log.actions.push((now, name, p.subject));
        }
        Ok(())
    }

    /// Restoration under way: reconnections, rollbacks and truck rolls, at their rates.
    fn restore(&mut self, sim: &mut Sim, now: SimTime) -> Result<(), SimError> {
        let hes_trusted = self.isolated_until.is_none_or(|t| t <= now) && !sim.hes().isolated;
        // The restoration rate over the time since restoration last ran.
        let elapsed = now
            .0
            .saturating_sub(self.restored_until.0)
            .min(self.d.every.as_micros().max(INTERVAL.as_micros()));
        self.restored_until = now;
        let budget = (u64::from(self.d.restoration.per_minute) * elapsed / 60_000_000).max(1) as usize;
        if self.reconnecting && hes_trusted && !self.unplanned_open.is_empty() {
            // Meters asked before are asked again once their relay event is overdue.
            let take: Vec<u32> = self
                .unplanned_open
                .iter()
                .filter(|m| self.reconnect_sent.get(m).is_none_or(|&again| again <= now))
                .take(budget)
                .copied()
                .collect();
            for &m in &take {
                self.reconnect_sent.insert(m, now + RECONNECT_RETRY);
            }
            self.restore_requests(sim, now, CommandKind::Connect, take, "restoration")?;
        }
        // Rollbacks and truck rolls work from the census, taken at interval ends.
        let interval_end = now.0.is_multiple_of(INTERVAL.as_micros());
        if self.rolling_back && hes_trusted && interval_end {
            let fleet = sim.fleet();
            let take: Vec<u32> = (0..self.n_meters)
                .filter(|&m| {
                    !self.approved.contains(&self.last_firmware[m])
                        && !fleet.failed[m]
                        && self.rolled.get(&(m as u32)).is_none_or(|&again| again <= now)
                })
                .take(budget * INTERVAL.as_micros() as usize / elapsed.max(1) as usize)
                .map(|m| m as u32)
                .collect();
            for &m in &take {
                if self.rolled.insert(m, now + ROLLBACK_RETRY).is_none() {
                    self.log.rolled_back += 1;
                }
            }
            self.restore_requests(sim, now, CommandKind::FirmwareUpdate { image: 0 }, take, "rollback")?;
        }
        if self.crews_out && interval_end {
            self.truck_rolls(sim, now)?;
        }
        Ok(())
    }

    /// Requests through the restoration account, in batches, with a colleague's approval.
    fn restore_requests(
        &mut self,
        sim: &mut Sim,
        now: SimTime,
        kind: CommandKind,
        meters: Vec<u32>,
        purpose: &str,
    ) -> Result<(), SimError> {
        if meters.is_empty() {
            return Ok(());
        }
        let r = &self.d.restoration;
        let Some(credential) = sim.credential(&r.account) else {
            return Ok(());
        };
        let approver = sim
            .hes()
            .config
            .accounts
            .iter()
            .filter(|a| a.name != r.account && matches!(a.role, Role::Supervisor | Role::Administrator))
            .find_map(|a| sim.credential(&a.name));
        let account = credential.account;
        // Batches stay within a bulk freeze.
        let size = match sim.hes().frozen_above {
            Some(0) => return Ok(()),
            Some(n) => r.batch.min(n),
            None => r.batch,
        };
        for batch in meters.chunks(size as usize) {
            // The defender's own work goes on the calendar: it is no anomaly.
            *self
                .planned
                .entry((now, account, kind.index(), batch.len() as u32))
                .or_insert(0) += 1;
            sim.schedule(
                now,
                Input::Command(CommandRequest {
                    credential,
                    kind,
                    meters: batch.to_vec(),
                    cause: Cause::Operation,
                    purpose: purpose.into(),
                    approver,
                }),
            )?;
        }
        Ok(())
    }

    /// Books the first free crew from `now` for one truck roll; when it is done, if before the
    /// run ends.
    fn truck_roll(&mut self, now: SimTime, horizon: SimTime) -> Option<SimTime> {
        let (i, free) = self
            .crews_free
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(i, t)| (t, i))?;
        let done = free.max(now) + self.d.restoration.truck_roll;
        if done >= horizon {
            return None;
        }
        self.crews_free[i] = done;
        self.log.truck_rolls += 1;
        Some(done)
    }

    /// Crews visit meters that run firmware the utility never released and no longer answer
    /// (bricked): each visit reflashes the installed image and brings the meter back.
    fn truck_rolls(&mut self, sim: &mut Sim, now: SimTime) -> Result<(), SimError> {
        // Failed meters whose last report was an image the utility never released.
        let fleet = sim.fleet();
        let mut todo: Vec<u32> = (0..self.n_meters)
            .filter(|&m| {
                fleet.failed[m]
                    && !self.approved.contains(&self.last_firmware[m])
                    && !self.visited.contains(&(m as u32))
            })
            .map(|m| m as u32)
            .collect();
        todo.truncate(4096);
        for m in todo {
            let Some(done) = self.truck_roll(now, sim.horizon()) else {
                break;
            };
            self.visited.insert(m);
            sim.schedule(done, Input::LocalFirmware { meter: m, image: 0 })?;
            sim.schedule(
                done,
                Input::MeterFailure {
                    meter: m,
                    failed: false,
                },
            )?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use amirange_sim::config::SimConfig;
    use amirange_sim::model::{CustomerClass, LinkKind};
    use amirange_sim::network::{LinkParams, Network};
    use amirange_sim::time::CivilDateTime;

    use super::*;
    use crate::spec::DetectionSpec;

    /// A day of 40 cellular meters and a defender without detectors.
    fn small_world() -> (Sim, Defender) {
        let start = CivilDateTime::parse("2026-01-15").expect("a date");
        let config = SimConfig::with_defaults(7, start, SimDuration::from_days(1));
        let network = Network::small(
            LinkParams::typical(),
            (0..40).map(|_| (CustomerClass::Residential, LinkKind::Cellular)),
        );
        let sim = Sim::new(config, network).expect("a valid world");
        let accounts: Vec<String> = sim.hes().config.accounts.iter().map(|a| a.name.clone()).collect();
        let detection = DetectionSpec::default().check(&accounts).expect("no defenses is valid");
        let defender = Defender::new(detection, &sim, &[]);
        (sim, defender)
    }

    /// Changing thresholds is typed: the field is one the detector declares, written through
    /// its own setter (no JSON round trip, no guessing a share from the field's name), and
    /// anything else is refused by name with nothing changed.
    #[test]
    fn set_threshold_refuses_unknown_fields_by_name() {
        let (sim, _) = small_world();
        let accounts: Vec<String> = sim.hes().config.accounts.iter().map(|a| a.name.clone()).collect();
        let spec = DetectionSpec {
            detectors: vec![serde_json::from_str(r#"{"ZeroAtPeak": {}}"#).expect("a detector")],
            ..DetectionSpec::default()
        };
        let mut defender = Defender::new(spec.check(&accounts).expect("valid"), &sim, &[]);
        defender.set_threshold("zero-at-peak", "share", 0.5).expect("a share");
        defender
            .set_threshold("zero-at-peak", "min_meters", 25.0)
            .expect("a count");
        assert_eq!(
            defender.d.detectors,
            [DetectorSpec::ZeroAtPeak {
                share: 0.5,
                min_meters: 25
            }]
        );
        let refusals = [
            ("zero-at-peak", "shares", 0.5),
            ("zero-at-peak", "share", 1.5),
            ("zero-at-peak", "min_meters", 2.5),
            ("zero-at-peak", "share", f64::NAN),
            ("command-rate", "account_meters", 10.0),
            ("zero-at-pek", "share", 0.5),
        ];
        let errors: Vec<String> = refusals
            .iter()
            .map(|&(detector, field, value)| {
                defender
                    .set_threshold(detector, field, value)
                    .expect_err("refused")
                    .to_string()
            })
            .collect();
        assert_eq!(
            errors,
            [
                "`zero-at-peak` has no tunable field `shares` (it has: share, min_meters)",
                "`share` of `zero-at-peak` is a share of the fleet, at least 0.001 and at most 1, not 1.5",
                "`min_meters` of `zero-at-peak` is a whole number of meters, at least 1 and at most 100000, not 2.5",
                "`share` of `zero-at-peak` is a share of the fleet, at least 0.001 and at most 1, not NaN",
                "no detector `command-rate` is in force (in force: zero-at-peak)",
                "no detector `zero-at-pek` is in force (in force: zero-at-peak)",
            ]
        );
        assert_eq!(
            defender.d.detectors,
            [DetectorSpec::ZeroAtPeak {
                share: 0.5,
                min_meters: 25
            }]
        );
        // Every declared field can be set to its bounds.
        for tunable in crate::spec::TUNABLES {
            let mut spec: DetectorSpec =
                serde_json::from_str(&format!("{{\"{:?}\": {{}}}}", tunable.detector)).expect("defaults");
            spec.set_threshold(tunable.field, tunable.min).expect("the least value");
            spec.set_threshold(tunable.field, tunable.max)
                .expect("the greatest value");
        }
    }

    fn responses(defender: &Defender) -> Vec<String> {
        defender.log().actions.iter().map(|(_, name, _)| name.clone()).collect()
    }

    /// Responses aim at the kind of subject they need and skip any other: an account named
    /// like a place, or a place where an account is needed, no longer passes through a string
    /// that happens to parse.
    #[test]
    fn responses_act_only_on_the_subject_kind_they_need() {
        let (mut sim, mut defender) = small_world();
        let wrong = [
            (Response::RevokeAccount, AlertSubject::Fleet),
            (Response::RevokeAccount, AlertSubject::Account("transformer 0".into())),
            (Response::InspectMeters, AlertSubject::Account("transformer 0".into())),
            (Response::InspectMeters, AlertSubject::Collector(0)),
            (Response::HuntJammer, AlertSubject::Transformer(0)),
            (Response::BlockSource, AlertSubject::Rule(1_000_001)),
            // An address inside the utility is no outside host to block.
            (Response::BlockSource, AlertSubject::Host(addresses::HES_FRONT_END)),
        ];
        for (response, subject) in wrong {
            defender
                .respond_now(&mut sim, response, Some(subject))
                .expect("nothing to schedule");
        }
        assert!(responses(&defender).is_empty(), "{:?}", defender.log().actions);
        let right = [
            (Response::RevokeAccount, AlertSubject::Account("ops-alice".into())),
            (Response::InspectMeters, AlertSubject::Transformer(0)),
            (Response::HuntJammer, AlertSubject::Collector(0)),
            (Response::BlockSource, AlertSubject::Host(addresses::outside(3))),
        ];
        for (response, subject) in right {
            defender
                .respond_now(&mut sim, response, Some(subject))
                .expect("scheduled");
        }
        assert_eq!(
            responses(&defender),
            ["revoke-account", "inspect-meters", "hunt-jammer", "block-source"]
        );
        assert_eq!(
            defender.log().actions[0].2,
            Some(AlertSubject::Account("ops-alice".into()))
        );
        assert_eq!(defender.log().truck_rolls, 2);
    }
}

//! The utility's security operations, stepped beside the engine: every `every` (a minute by
//! default) the [`Defender`] looks at what arrived since it last looked, runs its detectors
//! and the IDS over it in a fixed order, raises alerts, and carries out the responses the
//! playbooks order.
//!
//! ```text
//!  sim (read-only) ──► detectors (crate::detectors), IDS (crate::sensor) ──► alerts ──► sim.raise_alert
//!                                                                             │
//!        sim.schedule(inputs) ◄── responses, restoration (crate::responses) ◄─┘ playbooks
//! ```
//!
//! What the defender may look at is what a utility sees: telemetry, logs and its own work
//! calendar, never ground truth (attack codes in the engine's logs are ignored; nothing reads
//! `Cause`). Operational context comes from the work calendar (planned firmware waves, key
//! rotations, demand-response events, customers' disconnects) and from the outages the MDM
//! detected (storms): see [`OperationalContext`].

use std::collections::BTreeMap;

use amirange_sim::config::INTERVAL;
use amirange_sim::engine::{Sim, SimError};
use amirange_sim::operations::WorkOrder;
use amirange_sim::records::{AlertRecord, AlertSubject, Severity};
use amirange_sim::time::{SimDuration, SimTime};

use crate::context::OperationalContext;
use crate::detectors::{
    self, AT_CENSUS, AT_EVERY_LOOK, AT_INTERVAL_CLOSE, AT_READ_CYCLE_CLOSE, Alert, Look, LookStep, ReadCycle, Running,
    Setup,
};
use crate::ids::Ids;
use crate::responses::Responses;
use crate::restoration::Restoration;
use crate::sensor::NetworkSensor;
use crate::spec::{AlertSource, Detection, DetectorKind, Response, ThresholdError};

/// Alerts of one detector about one subject this close to the last one are the same alert.
pub const COALESCE: SimDuration = SimDuration::from_hours(1);
/// The longest one alert stays open.
pub const EPISODE_MAX: SimDuration = SimDuration::from_hours(6);
/// Meters an alert lists at most.
const ALERT_METERS: usize = 20;

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

/// An alert still open: further firings of its detector about its subject count into it.
#[derive(Debug, Clone, Copy)]
struct Episode {
    /// Its index among the engine's alerts.
    index: usize,
    /// When it was raised.
    first: SimTime,
    /// When it last fired.
    last: SimTime,
    /// Its severity so far.
    severity: Severity,
}

/// Detection and response over a run: a loop over the detectors in force and the IDS, then
/// the responses (see the [module documentation](self)).
pub struct Defender {
    /// How often it looks.
    every: SimDuration,
    /// What the utility knows of its own work.
    context: OperationalContext,
    /// The detectors in force, in the scenario's order.
    detectors: Vec<Box<dyn Running>>,
    /// The IDS over the network sensor's flows, if there are rules.
    sensor: Option<NetworkSensor>,
    /// The IDS rules' sids, in the scenario's order.
    sids: Vec<u32>,
    /// Intervals whose close the detectors have seen.
    intervals_seen: usize,
    /// Read cycles whose close the detectors have seen.
    cycles_seen: usize,
    /// Open alerts per (source, subject).
    episodes: BTreeMap<(AlertSource, AlertSubject), Episode>,
    /// The playbooks and the responses they ordered.
    responses: Responses,
    /// What it did.
    log: ResponseLog,
}

impl Defender {
    /// A defender for `sim` with the checked `detection` and the utility's work calendar.
    pub fn new(detection: Detection, sim: &Sim, work: &[WorkOrder]) -> Defender {
        let n_meters = sim.n_meters();
        let setup = Setup {
            n_meters,
            n_feeders: sim.network().feeders.len(),
            n_transformers: sim.network().transformers.len(),
            nominal_hz: sim.config().frequency.nominal_hz,
            command_window: detection.command_window,
        };
        let detectors: Vec<Box<dyn Running>> = detection
            .detectors
            .iter()
            .map(|spec| detectors::build(spec, &setup))
            .collect();
        let reads_census = detectors.iter().any(|d| d.kind() == DetectorKind::FirmwareDrift);
        let sids = detection.rules.rules.iter().map(|r| r.sid).collect();
        let sensor = (!detection.rules.rules.is_empty()).then(|| NetworkSensor::new(Ids::new(detection.rules)));
        let restoration = Restoration::new(detection.restoration, detection.every, n_meters, reads_census);
        Defender {
            every: detection.every,
            context: OperationalContext::new(work, n_meters),
            detectors,
            sensor,
            sids,
            intervals_seen: 0,
            cycles_seen: 0,
            episodes: BTreeMap::new(),
            responses: Responses::new(detection.playbooks, restoration),
            log: ResponseLog::default(),
        }
    }

    /// How far its network sensor has read the wire, when it runs IDS rules: the capture of
    /// what it observed ends there.
    pub fn sensor_horizon(&self) -> Option<SimTime> {
        self.sensor.as_ref().map(NetworkSensor::horizon)
    }

    /// How often it looks.
    pub fn every(&self) -> SimDuration {
        self.every
    }

    /// What it did.
    pub fn log(&self) -> &ResponseLog {
        &self.log
    }

    /// Names of its detectors, IDS rules as `ids:<sid>`, in the order `metrics.json` lists them.
    pub fn detector_names(&self) -> Vec<String> {
        let detectors = self.detectors.iter().map(|d| d.kind().name().to_owned());
        let rules = self.sids.iter().map(|&sid| AlertSource::IdsRule(sid).to_string());
        detectors.chain(rules).collect()
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
        self.responses.order(now, response, subject);
        // Only what is due: restoration, rollbacks and crews keep their own pace.
        self.responses.carry_out_due(sim, now, &mut self.log)
    }

    /// Changes a numeric threshold of a detector in force (a live exercise's blue team):
    /// `field` as the scenario's `defenses` section names it (e.g. `account_meters` of
    /// `command-rate`), within the range the detector declares for it ([`TUNABLES`]). Refused,
    /// with the reason and nothing changed, for a detector not in force or a field or value
    /// it does not allow.
    ///
    /// [`TUNABLES`]: crate::detectors::TUNABLES
    pub fn set_threshold(&mut self, detector: &str, field: &str, value: f64) -> Result<(), ThresholdError> {
        let kind = DetectorKind::from_name(detector);
        match self.detectors.iter_mut().find(|d| Some(d.kind()) == kind) {
            Some(d) => d.set_threshold(field, value),
            None => Err(self.not_in_force(detector)),
        }
    }

    /// The current value of threshold `field` of the detector in force named `detector`
    /// (none for a field it does not declare).
    pub fn threshold(&self, detector: &str, field: &str) -> Result<Option<f64>, ThresholdError> {
        let kind = DetectorKind::from_name(detector);
        match self.detectors.iter().find(|d| Some(d.kind()) == kind) {
            Some(d) => Ok(d.threshold(field)),
            None => Err(self.not_in_force(detector)),
        }
    }

    /// The refusal for a detector named `detector` that is not in force.
    fn not_in_force(&self, detector: &str) -> ThresholdError {
        let names: Vec<&str> = self.detectors.iter().map(|d| d.kind().name()).collect();
        ThresholdError::NotInForce {
            detector: detector.to_owned(),
            in_force: if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            },
        }
    }

    /// Looks at everything that arrived up to the present and acts on it: the operational
    /// context, then [`AT_EVERY_LOOK`], then what closed (intervals, read cycles, the census),
    /// then the responses due and restoration.
    pub fn observe(&mut self, sim: &mut Sim) -> Result<(), SimError> {
        let now = sim.now();
        self.context.advance(now);
        for step in AT_EVERY_LOOK {
            match step {
                LookStep::Detector(kind) => self.run(sim, now, kind, |d, look, alerts| d.look(look, alerts)),
                LookStep::Ids => {
                    let mut alerts = Vec::new();
                    if let Some(sensor) = self.sensor.as_mut() {
                        sensor.look(sim, &mut alerts);
                    }
                    self.raise_all(sim, alerts);
                }
            }
        }
        self.closes(sim, now);
        self.respond(sim, now)
    }

    /// Intervals and read cycles the data plane closed since the last look, then the census.
    fn closes(&mut self, sim: &mut Sim, now: SimTime) {
        let records = sim.records();
        let intervals = records.intervals.len();
        let cycles = records.collector_reads.len() / sim.network().collectors.len().max(1);
        let (intervals_seen, cycles_seen) = (self.intervals_seen, self.cycles_seen);
        if intervals == intervals_seen && cycles == cycles_seen {
            return;
        }
        self.context.take_storms(sim);
        for slot in intervals_seen..intervals {
            for kind in AT_INTERVAL_CLOSE {
                self.run(sim, now, kind, |d, look, alerts| d.interval_closed(look, slot, alerts));
            }
        }
        for index in cycles_seen..cycles {
            let Some(cycle) = read_cycle(sim, index) else {
                continue;
            };
            for kind in AT_READ_CYCLE_CLOSE {
                self.run(sim, now, kind, |d, look, alerts| {
                    d.read_cycle_closed(look, &cycle, alerts)
                });
            }
        }
        self.intervals_seen = intervals;
        self.cycles_seen = cycles;
        self.responses.restoration.take_census(sim.fleet());
        for kind in AT_CENSUS {
            self.run(sim, now, kind, |d, look, alerts| d.census(look, alerts));
        }
    }

    /// Runs `hook` of the detector of `kind`, if in force, and raises its alerts.
    fn run(
        &mut self,
        sim: &mut Sim,
        now: SimTime,
        kind: DetectorKind,
        hook: impl FnOnce(&mut dyn Running, &Look<'_>, &mut Vec<Alert>),
    ) {
        let Some(detector) = self.detectors.iter_mut().find(|d| d.kind() == kind) else {
            return;
        };
        let mut alerts = Vec::new();
        let look = Look {
            sim,
            now,
            context: &self.context,
        };
        hook(detector.as_mut(), &look, &mut alerts);
        self.raise_all(sim, alerts);
    }

    /// Raises `alerts` in order.
    fn raise_all(&mut self, sim: &mut Sim, alerts: Vec<Alert>) {
        for alert in alerts {
            self.raise(sim, alert);
        }
    }

    /// Raises an alert, or counts it into an open one of the same source and subject; an alert
    /// raised, or raised to a higher severity, triggers the playbooks.
    fn raise(&mut self, sim: &mut Sim, alert: Alert) {
        let Alert {
            time,
            source,
            severity,
            subject,
            message,
            mut meters,
            count,
        } = alert;
        let key = (source, subject);
        // An alert stays open while it keeps firing within the hour, for at most six hours;
        // firing again at a higher severity raises it (and may trigger playbooks).
        if let Some(open) = self.episodes.get_mut(&key)
            && time.0 <= open.last.0 + COALESCE.as_micros()
            && time.0 <= open.first.0 + EPISODE_MAX.as_micros()
        {
            open.last = open.last.max(time);
            let raised = severity > open.severity;
            if raised {
                open.severity = severity;
            }
            sim.alert_again(open.index, count, severity);
            if raised {
                self.responses.trigger(time, source, severity, &key.1);
            }
            return;
        }
        meters.truncate(ALERT_METERS);
        let index = sim.raise_alert(AlertRecord {
            time,
            detector: source.to_string(),
            severity,
            message,
            subject: key.1.clone(),
            count,
            meters,
        });
        self.responses.trigger(time, source, severity, &key.1);
        self.episodes.insert(
            key,
            Episode {
                index,
                first: time,
                last: time,
                severity,
            },
        );
    }

    /// Carries out the responses that are due, and restoration under way.
    fn respond(&mut self, sim: &mut Sim, now: SimTime) -> Result<(), SimError> {
        self.responses
            .restoration
            .take_relay_events(sim, &self.context, &mut self.log);
        self.responses.carry_out_due(sim, now, &mut self.log)?;
        self.responses.restore(sim, now, &mut self.context, &mut self.log)
    }
}

/// A live exercise's engine runs on its own thread, with the defender.
const _: () = {
    const fn sendable<T: Send>() {}
    sendable::<Defender>();
};

/// The read cycle `index` (counting from 0): the intervals since the previous one up to the
/// `index`-th interval that closed a cycle; none if that interval has not closed yet.
fn read_cycle(sim: &Sim, index: usize) -> Option<ReadCycle> {
    let intervals = &sim.records().intervals;
    let last = intervals
        .iter()
        .enumerate()
        .filter(|(_, r)| r.read_cycle)
        .map(|(i, _)| i)
        .nth(index)?;
    let first = intervals[..last]
        .iter()
        .rposition(|r| r.read_cycle)
        .map_or(0, |i| i + 1);
    Some(ReadCycle {
        index,
        first,
        last,
        end: SimTime((last as u64 + 1) * INTERVAL.as_micros()),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use amirange_sim::config::SimConfig;
    use amirange_sim::model::{CustomerClass, LinkKind};
    use amirange_sim::network::{LinkParams, Network};
    use amirange_sim::time::CivilDateTime;

    use super::*;
    use crate::addresses;
    use crate::spec::{DetectionSpec, DetectorSpec};

    /// A day of 40 cellular meters.
    pub(crate) fn small_sim() -> Sim {
        let start = CivilDateTime::parse("2026-01-15").expect("a date");
        let config = SimConfig::with_defaults(7, start, SimDuration::from_days(1));
        let network = Network::small(
            LinkParams::typical(),
            (0..40).map(|_| (CustomerClass::Residential, LinkKind::Cellular)),
        );
        Sim::new(config, network).expect("a valid world")
    }

    /// The HES's account names.
    pub(crate) fn accounts(sim: &Sim) -> Vec<String> {
        sim.hes().config.accounts.iter().map(|a| a.name.clone()).collect()
    }

    /// A day of 40 cellular meters and a defender without detectors.
    fn small_world() -> (Sim, Defender) {
        let sim = small_sim();
        let detection = DetectionSpec::default()
            .check(&accounts(&sim))
            .expect("no defenses is valid");
        let defender = Defender::new(detection, &sim, &[]);
        (sim, defender)
    }

    /// Changing thresholds is typed: the field is one the detector declares, written through
    /// its own setter, and anything else is refused by name with nothing changed.
    #[test]
    fn set_threshold_refuses_unknown_fields_by_name() {
        let sim = small_sim();
        let spec = DetectionSpec {
            detectors: vec![serde_json::from_str(r#"{"ZeroAtPeak": {}}"#).expect("a detector")],
            ..DetectionSpec::default()
        };
        let mut defender = Defender::new(spec.check(&accounts(&sim)).expect("valid"), &sim, &[]);
        defender.set_threshold("zero-at-peak", "share", 0.5).expect("a share");
        defender
            .set_threshold("zero-at-peak", "min_meters", 25.0)
            .expect("a count");
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
        let now = |field| defender.threshold("zero-at-peak", field).expect("in force");
        assert_eq!((now("share"), now("min_meters")), (Some(0.5), Some(25.0)));
        let (_, mut none) = small_world();
        assert_eq!(
            none.set_threshold("zero-at-peak", "share", 0.5)
                .expect_err("none in force")
                .to_string(),
            "no detector `zero-at-peak` is in force (in force: none)"
        );
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

    /// The defender names its detectors in the scenario's order, then its IDS rules.
    #[test]
    fn detector_names_follow_the_scenario_then_the_rules() {
        let sim = small_sim();
        let spec = DetectionSpec {
            detectors: vec![
                DetectorSpec::FrameCounter {},
                serde_json::from_str(r#"{"CommandRate": {}}"#).expect("a detector"),
            ],
            ids_rules: vec![r#"alert tcp any any -> $HES_NET any (msg:"x"; sid:1000001;)"#.into()],
            ..DetectionSpec::default()
        };
        let defender = Defender::new(spec.check(&accounts(&sim)).expect("valid"), &sim, &[]);
        assert_eq!(
            defender.detector_names(),
            ["frame-counter", "command-rate", "ids:1000001"]
        );
    }

    /// Alerts of one source about one subject coalesce within the hour into one record, and
    /// a playbook fires on the first and again only when the severity rises.
    #[test]
    fn alerts_coalesce_and_trigger_playbooks_once_per_rise() {
        let mut sim = small_sim();
        let spec = DetectionSpec {
            playbooks: vec![crate::spec::PlaybookSpec {
                on: vec!["frame-counter".into()],
                severity: Severity::Medium,
                delay: "0s".into(),
                actions: vec![crate::spec::ResponseSpec::FreezeBulk(5)],
            }],
            ..DetectionSpec::default()
        };
        let mut defender = Defender::new(spec.check(&accounts(&sim)).expect("valid"), &sim, &[]);
        let alert = |minute: u64, severity| {
            Alert::about_meters(
                SimTime(minute * 60_000_000),
                DetectorKind::FrameCounter,
                severity,
                AlertSubject::Fleet,
                "x".into(),
                (0..30).collect(),
            )
        };
        defender.raise(&mut sim, alert(0, Severity::Medium));
        defender.raise(&mut sim, alert(30, Severity::Medium));
        defender.raise(&mut sim, alert(90, Severity::Medium));
        defender.raise(&mut sim, alert(200, Severity::Medium));
        let records = &sim.records().alerts;
        assert_eq!(records.len(), 2, "the fourth is more than an hour after the third");
        assert_eq!((records[0].count, records[0].meters.len()), (90, ALERT_METERS));
        defender
            .responses
            .carry_out_due(&mut sim, SimTime::ZERO, &mut defender.log)
            .expect("scheduled");
        assert_eq!(
            responses(&defender),
            ["freeze-bulk above 5"],
            "once per playbook and response"
        );
    }

    /// A stand-in detector of kind `KIND` that raises one alert at every hook, naming the hook.
    macro_rules! stand_in {
        ($name:ident, $kind:ident) => {
            struct $name;
            impl crate::detectors::Detector for $name {
                const KIND: DetectorKind = DetectorKind::$kind;
                const TUNABLES: &'static [crate::detectors::Setting<Self>] = &[];
                fn look(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>) {
                    alerts.push(stand_in_alert(look, Self::KIND, "look"));
                }
                fn interval_closed(&mut self, look: &Look<'_>, slot: usize, alerts: &mut Vec<Alert>) {
                    alerts.push(stand_in_alert(look, Self::KIND, &format!("interval {slot}")));
                }
                fn read_cycle_closed(&mut self, look: &Look<'_>, cycle: &ReadCycle, alerts: &mut Vec<Alert>) {
                    alerts.push(stand_in_alert(
                        look,
                        Self::KIND,
                        &format!("cycle {}", cycle.index),
                    ));
                }
                fn census(&mut self, look: &Look<'_>, alerts: &mut Vec<Alert>) {
                    alerts.push(stand_in_alert(look, Self::KIND, "census"));
                }
            }
        };
    }

    fn stand_in_alert(look: &Look<'_>, kind: DetectorKind, what: &str) -> Alert {
        // Each on its own subject, so none coalesces into another.
        let subject = AlertSubject::Account(format!("{what} {}", look.now.0));
        Alert::once(look.now, kind, Severity::Low, subject, what.to_owned())
    }

    stand_in!(StandInFrequency, FrequencyExcursion);
    stand_in!(StandInBaseline, ConsumptionBaseline);
    stand_in!(StandInFrames, FrameCounter);
    stand_in!(StandInCommands, CommandRate);
    stand_in!(StandInZeros, ZeroAtPeak);

    /// Within a look the defender runs its detectors in the phase orders the detectors module
    /// writes down (each phase over the kinds it lists, in that order), not in the order the
    /// scenario lists them, and a hook runs only in the phases that list its kind.
    #[test]
    fn detectors_run_in_the_written_phase_order_whatever_the_scenarios_order() {
        let mut sim = small_sim();
        let detection = DetectionSpec::default().check(&accounts(&sim)).expect("valid");
        let mut defender = Defender::new(detection, &sim, &[]);
        defender.detectors = vec![
            Box::new(StandInZeros),
            Box::new(StandInBaseline),
            Box::new(StandInFrames),
            Box::new(StandInFrequency),
            Box::new(StandInCommands),
        ];
        let end = SimTime(INTERVAL.as_micros());
        sim.step_until(end).expect("a quarter hour");
        defender.observe(&mut sim).expect("a look");
        let raised: Vec<String> = sim
            .records()
            .alerts
            .iter()
            .map(|a| format!("{} {}", a.detector, a.message))
            .collect();
        let mut expected = vec![
            "command-rate look".to_owned(),
            "frame-counter look".to_owned(),
            "frequency-excursion interval 0".to_owned(),
            "consumption-baseline interval 0".to_owned(),
        ];
        if sim.records().intervals.first().is_some_and(|r| r.read_cycle) {
            expected.push("zero-at-peak cycle 0".to_owned());
        }
        assert_eq!(raised, expected);
    }
}
